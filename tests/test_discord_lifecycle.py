"""The server changing under the running Discord bot: its token reset. `connective run` (adapters.discord.runner.run)
against the fake Discord, with the real discord.py client."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from adapters.discord.runner import run
from bot.actions import Document, PostToChannel
from bot.errors import Unavailable, UserError
from tests.discord_fixtures import ASHA, GUILD, HELP
from tests.discord_harness import running_bot, send, started_fake_discord
from tests.test_discord_features import answer, command, digest_due_in

# What connective logs (a discord.py task of an earlier test, cut off by its close, may log at any time).
OURS = ("bot", "adapters", "slack_bolt", "slack_sdk")


@pytest.fixture
async def fake_discord():
    async for fake in started_fake_discord():
        yield fake


async def test_a_token_reset_while_running_stops_the_bot_in_one_line(app, fake_discord, caplog):
    """The bot's token reset in the Developer Portal (or the bot deleted) while it ran: the gateway's 4004 on the
    resume came out of `connective run` as a traceback and exit 1 ('try again later'), and the digests and DMs sent
    meanwhile (REST 401) had a traceback each. It stops now with one line saying what to do, exit 2 as for a token
    refused at start; the post meanwhile is one line, not delivered (tried again after the restart)."""
    app.settings = app.settings.model_copy(
        update={"discord_token": SecretStr("fake-token"), "discord_api_url": fake_discord.api_url})
    running = asyncio.create_task(run(app))
    try:
        await fake_discord.connected()
        for _ in range(200):
            if "discord" in app.core.senders:
                break
            await asyncio.sleep(0.05)
        fake_discord.token_reset = True
        action = PostToChannel(community=GUILD, channel="111", doc=Document(text="the digest"))
        assert await app.core.deliver("discord", [action]) == [action]
        await fake_discord.drop_connection()  # Discord ends the session; the client's RESUME is refused (4004)
        with pytest.raises(UserError) as ended:
            await asyncio.wait_for(running, 30)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        app.scheduler.shutdown()  # run() starts it
    assert not isinstance(ended.value, Unavailable)  # exit 2
    assert "Discord refused the bot token (DISCORD_TOKEN) while running" in str(ended.value)
    assert "fake-token" not in str(ended.value)
    assert not [r.getMessage() for r in caplog.records if r.name.startswith(OURS) and r.exc_info]


async def test_a_digests_channel_deleted_pauses_it_and_tells_its_admin_once(app, fake_discord, caplog):
    """A digest's channel deleted: each period was refused (Unknown Channel), 20 times every 10 minutes, and the admin
    who set it up was told again every week. CHANNEL_DELETE pauses it now, the admin told once (a redelivery, or
    another replica's, tells nobody again), and `/digest list` says so."""
    async with running_bot(app, fake_discord) as bot:
        clock, digest_id = await digest_due_in(app, fake_discord, bot, HELP)
        dms_before = len(fake_discord.find("POST", "/users/@me/channels"))
        await send(fake_discord, bot, "CHANNEL_DELETE", "channel_delete")
        await send(fake_discord, bot, "CHANNEL_DELETE", "channel_delete")
        assert await app.digests.run_due(digest_id) == "paused"
        clock.now += timedelta(minutes=10)
        assert await app.digests.run_due(digest_id) == "paused"
        listed = await answer(fake_discord, bot, command("digest", [{"name": "list", "type": 1, "options": []}]))
    opened = fake_discord.find("POST", "/users/@me/channels")[dms_before:]
    assert [str(c.json["recipient_id"]) for c in opened] == [ASHA]
    told = [c.json for c in fake_discord.find("POST", r"/channels/\d+/messages") if HELP in str(c.json)
            and "deleted" in str(c.json)]
    assert len(told) == 1 and "/digest unsubscribe" in str(told[0]), told
    assert "paused: its channel was deleted" in str(listed)
    assert not fake_discord.find("POST", rf"/channels/{HELP}/messages")
    assert not [r for r in caplog.records if r.name.startswith(OURS) and r.levelno >= logging.ERROR], caplog.text


async def test_the_bot_removed_from_a_server_pauses_its_digests_until_it_is_back(app, fake_discord, caplog):
    """Kicked from a server (or the server deleted), the bot went on trying its digests there every period, 20 times
    each (Missing Access), and its admins, whom it can no longer write to, never heard why. GUILD_DELETE pauses them
    with one log line (Discord's outage, `unavailable`, does not); invited again (GUILD_CREATE), they go on."""
    async with running_bot(app, fake_discord) as bot:
        _, digest_id = await digest_due_in(app, fake_discord, bot, HELP)
        await send(fake_discord, bot, "GUILD_DELETE", {"id": GUILD})
        assert await app.digests.run_due(digest_id) == "paused"
        assert not fake_discord.find("POST", rf"/channels/{HELP}/messages")
        assert f"Discord server {GUILD} removed the bot" in caplog.text
        await send(fake_discord, bot, "GUILD_CREATE", fake_discord._guild_create())
        assert await app.digests.run_due(digest_id) == "posted"
    assert len(fake_discord.find("POST", rf"/channels/{HELP}/messages")) == 1


async def test_an_outage_of_a_server_pauses_nothing(app, fake_discord):
    async with running_bot(app, fake_discord) as bot:
        _, digest_id = await digest_due_in(app, fake_discord, bot, HELP)
        await send(fake_discord, bot, "GUILD_DELETE", {"id": GUILD, "unavailable": True})
        assert await app.digests.run_due(digest_id) == "posted"


async def test_a_thread_or_channel_deleted_takes_its_messages_with_it(app, fake_discord, caplog):
    """A thread, forum post or channel deleted on Discord: their messages stayed stored, quoted as evidence of "who
    knows X?" with dead links and in digests. THREAD_DELETE deletes the thread's messages here too (the message in
    its channel it hangs from stays, as on Discord; a forum post's opening message is the post's and goes with it),
    CHANNEL_DELETE the channel's; neither pauses anything of the channel it was in."""
    from sqlalchemy import select

    from bot.db.models import Message
    from tests.discord_fixtures import FORUM, FORUM_POST, THREAD

    async def stored() -> set[str]:
        async with app.db.sessions() as session:
            return set(await session.scalars(select(Message.external_id)))

    async with running_bot(app, fake_discord) as bot:
        for fixture in ("message_create", "message_create_thread", "message_create_forum_post"):
            await send(fake_discord, bot, "MESSAGE_CREATE", fixture)
        said = await stored()
        assert {"1100000000000000501", "1100000000000000503", FORUM_POST} <= said
        await send(fake_discord, bot, "THREAD_DELETE",
                   {"id": THREAD, "guild_id": GUILD, "parent_id": HELP, "type": 11})
        assert await stored() == said - {"1100000000000000503"}
        await send(fake_discord, bot, "THREAD_DELETE",
                   {"id": FORUM_POST, "guild_id": GUILD, "parent_id": FORUM, "type": 11})
        assert await stored() == said - {"1100000000000000503", FORUM_POST}
        await send(fake_discord, bot, "CHANNEL_DELETE", "channel_delete")
        assert await stored() == said - {"1100000000000000503", FORUM_POST, "1100000000000000501"}
    assert not [r for r in caplog.records if r.name.startswith(OURS) and r.levelno >= logging.ERROR], caplog.text


async def test_a_channel_deleted_takes_the_messages_of_its_private_threads_with_it(app, fake_discord, caplog):
    """A private thread's messages are stored as a channel of their own (read where an admin turned it on): #help
    deleted (CHANNEL_DELETE, which names none of its threads, and Discord sends no THREAD_DELETE for them) took its own
    messages and left those of its private thread stored, quoted as evidence with dead links. They go with it now;
    a thread deleted on its own (its channel still there) is its own THREAD_DELETE, handled once."""
    from sqlalchemy import select

    from bot.db.models import Community, Message
    from bot.repo import ensure_channel
    from tests.discord_fixtures import PRIVATE_THREAD
    from tests.test_discord_catch_up import said

    async def stored() -> set[str]:
        async with app.db.sessions() as session:
            return set(await session.scalars(select(Message.external_id)))

    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create")
        async with app.db.sessions.begin() as s:
            community = await s.scalar(select(Community).where(Community.external_id == GUILD))
            channel = await ensure_channel(s, community.id, PRIVATE_THREAD, name="secret plans")
            channel.is_private, channel.ingest = True, True
        plans = said("1100000000000000530", PRIVATE_THREAD, "We ship the pg 16 upgrade on Friday")
        await send(fake_discord, bot, "MESSAGE_CREATE", plans | {"guild_id": GUILD})
        assert {"1100000000000000501", "1100000000000000530"} <= await stored()
        await send(fake_discord, bot, "CHANNEL_DELETE", "channel_delete")
        await send(fake_discord, bot, "CHANNEL_DELETE", "channel_delete")  # (what was queued before it is handled)
        assert not {"1100000000000000501", "1100000000000000530"} & await stored()
    assert not [r for r in caplog.records if r.name.startswith(OURS) and r.levelno >= logging.ERROR], caplog.text


async def test_mentoring_waits_while_the_bot_is_out_of_its_server_and_goes_on_when_it_is_back(app, fake_discord):
    """Removed from a server (GUILD_DELETE), the bot no longer serves it (bot.serving): its mentoring round is neither
    warned nor run, no DM tried. Back (GUILD_CREATE) within the first half of the round's period, the round missed is
    warned then and run a warning period later, as one missed while the bot was down."""
    from bot.events import utcnow
    from bot.services.mentoring import MentoringService
    from bot.services.mentoring_cadence import Cadence
    from tests.discord_fixtures import PETRA
    from tests.test_discord_features import sub

    service = MentoringService(db=app.db, core=app.core, expertise=app.expertise)
    period = Cadence().next_round(utcnow())
    async with running_bot(app, fake_discord) as bot:
        await answer(fake_discord, bot, command("mentoring", [sub("join", role="mentor", teach="postgres indexes",
                                                                  timezone="UTC", capacity=2)], user=PETRA))
        await answer(fake_discord, bot, command("mentoring", [sub("join", role="mentee", learn="postgres",
                                                                  timezone="UTC")]))
        await send(fake_discord, bot, "GUILD_DELETE", {"id": GUILD})
        await service.tick(period.warn_at + timedelta(minutes=1))
        await service.tick(period.round_at + timedelta(minutes=2))
        assert not fake_discord.find("POST", "/users/@me/channels")
        assert not fake_discord.find("POST", r"/channels/\d+/threads")

        await send(fake_discord, bot, "GUILD_CREATE", fake_discord._guild_create())
        back = period.round_at + timedelta(hours=1)
        await service.tick(back)
        assert {str(c.json["recipient_id"]) for c in fake_discord.find("POST", "/users/@me/channels")} == {PETRA, ASHA}
        assert not fake_discord.find("POST", r"/channels/\d+/threads")  # warned first, run later
        await service.tick(back + (period.round_at - period.warn_at) + timedelta(minutes=1))
    assert len(fake_discord.find("POST", r"/channels/\d+/threads")) == 1


async def test_a_round_warned_before_the_server_removed_the_bot_is_told_missed_once_it_is_back_too_late(
        app, fake_discord):
    """Warned of a round, then the server removed the bot (GUILD_DELETE); it was invited again (GUILD_CREATE) only
    after the next round was due. The warned round never ran and its members never heard of it again. Now each is
    told by DM that it did not run and when the next one is (warned then too), and the round is closed as missed."""
    from bot.db.mentoring import PairingRound
    from bot.events import utcnow
    from bot.services.mentoring import MentoringService
    from bot.services.mentoring_cadence import Cadence
    from tests.discord_fixtures import PETRA
    from tests.test_discord_features import sub

    service = MentoringService(db=app.db, core=app.core, expertise=app.expertise)
    period = Cadence().next_round(utcnow())
    following = Cadence().period(period.index + 1)
    async with running_bot(app, fake_discord) as bot:
        await answer(fake_discord, bot, command("mentoring", [sub("join", role="mentor", teach="postgres indexes",
                                                                  timezone="UTC", capacity=2)], user=PETRA))
        await answer(fake_discord, bot, command("mentoring", [sub("join", role="mentee", learn="postgres",
                                                                  timezone="UTC")]))
        await service.tick(period.warn_at + timedelta(minutes=1))
        assert len(fake_discord.find("POST", r"/channels/9\d+/messages")) == 2  # both warned
        await send(fake_discord, bot, "GUILD_DELETE", {"id": GUILD})
        await service.tick(period.round_at + timedelta(minutes=2))
        await service.tick(following.round_at + timedelta(minutes=2))
        assert len(fake_discord.find("POST", r"/channels/9\d+/messages")) == 2  # nothing tried while out

        await send(fake_discord, bot, "GUILD_CREATE", fake_discord._guild_create())
        await service.tick(following.round_at + timedelta(hours=1))
        said = [c.json["content"] for c in fake_discord.find("POST", r"/channels/9\d+/messages")[2:]]
    missed = [text for text in said if "did not run" in text]
    assert len(missed) == 2, said
    assert f"round of {period.round_at:%a} {period.round_at.day} {period.round_at:%b}, 10:00 UTC" in missed[0]
    assert len([text for text in said if "Heads up" in text]) == 2, said  # and the next round warned
    assert not fake_discord.find("POST", r"/channels/\d+/threads")
    async with app.db.sessions() as s:
        closed = await s.scalar(select(PairingRound).where(PairingRound.period_key == period.key))
    assert closed.ran_at is None and closed.cancel_reason == "missed"
