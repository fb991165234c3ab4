"""What was said while the bot was away: after a restart discord.py IDENTIFYs anew and Discord replays nothing, so
those messages were never stored. The real discord.py client against the fake Discord (gateway and REST history), on
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import discord
import pytest
from sqlalchemy import select

from adapters.discord import catch_up
from adapters.discord.client import ConnectiveMixin
from bot.db.models import Channel, Community, Message
from bot.events import utcnow
from bot.repo import ensure_channel, ensure_community
from tests.discord_fixtures import ASHA, BOT, FORUM, GENERAL, GUILD, HELP, KENJI, PETRA, PRIVATE, THREAD, load
from tests.discord_harness import running_bot, send, started_fake_discord

MESSAGES = r"/channels/(\d+)/messages"
USERS = {
    ASHA: {"id": ASHA, "username": "asha_r", "global_name": "Asha Rao", "discriminator": "0", "avatar": None},
    PETRA: {"id": PETRA, "username": "petra.k", "global_name": "Petra Kowalski", "discriminator": "0",
            "avatar": None},
    KENJI: {"id": KENJI, "username": "kenji", "global_name": "Kenji Sato", "discriminator": "0", "avatar": None},
}
NEW_POST = "1100000000000000520"  # a forum post made while the bot was away


@pytest.fixture
async def fake_discord():
    async for fake in started_fake_discord():
        yield fake


def said(message_id: str, channel: str, text: str, *, by: str = ASHA, at: str = "2024-05-02T11:00:00+00:00",
         reply_to: str | None = None) -> dict:
    """A message as Discord's REST API lists it (no guild_id: the bot adds it)."""
    message = load("message_create") | {"id": message_id, "channel_id": channel, "content": text, "timestamp": at,
                                        "author": USERS[by]}
    if reply_to:
        message |= {"type": 19, "message_reference": {"type": 0, "channel_id": channel, "message_id": reply_to,
                                                      "guild_id": GUILD}}
    return message


def forum_post(thread_id: str, name: str) -> dict:
    """An active thread in the forum, as GUILD_CREATE lists it."""
    return {**load("guild_create")["threads"][2], "id": thread_id, "name": name}


async def _stored(app) -> list[Message]:
    async with app.db.sessions() as s:
        return list(await s.scalars(select(Message).order_by(Message.id)))


async def _before_the_restart(app, fake) -> None:
    """The bot ran and stored a question and its answer in #help, and a reply in its thread."""
    async with running_bot(app, fake) as bot:
        for fixture in ("message_create", "message_create_reply", "message_create_thread"):
            await send(fake, bot, "MESSAGE_CREATE", fixture)


def _fetched(fake) -> dict[str, list[str | None]]:
    """The channels whose history the bot asked for, with the `after` of each request (not those listed again up to
    where it picks up, `before`, for the messages deleted meanwhile: catch_up.vanished)."""
    out: dict[str, list[str | None]] = {}
    for call in fake.find("GET", MESSAGES):
        if "before" in call.query:
            continue
        out.setdefault(call.path.split("/")[2], []).append(call.query.get("after"))
    return out


async def test_what_was_said_while_the_bot_was_away_is_stored_once_in_order(app, fake_discord, caplog):
    caplog.set_level(logging.INFO)
    await _before_the_restart(app, fake_discord)
    fake_discord.guild["threads"].append(forum_post(NEW_POST, "Why is my VACUUM slow?"))
    fake_discord.said_while_away(
        said("1100000000000000499", GENERAL, "an old message from before the bot's time", at="2024-05-01T09:00:00Z"),
        said("1100000000000000510", HELP, "How do I tune autovacuum for a table with heavy updates?"),
        said("1100000000000000511", HELP, "Lower autovacuum_vacuum_scale_factor on that table", by=PETRA,
             reply_to="1100000000000000510"),
        said("1100000000000000512", HELP, f"<@{BOT}> who knows about vacuum tuning?"),  # asked hours ago
        said("1100000000000000513", THREAD, "BRIN indexes suit append-only tables too", by=KENJI),
        said("1100000000000000514", GENERAL, "Welcome to the new members!", by=KENJI),
        said("1100000000000000515", PRIVATE, "private plans"),  # a private channel no admin turned on
        said(NEW_POST, NEW_POST, "Why is my VACUUM slow? It runs for hours."),
        said("1100000000000000521", NEW_POST, "Check for long-running transactions holding the xmin", by=PETRA),
    )
    async with running_bot(app, fake_discord) as bot:
        await asyncio.wait_for(bot.caught_up(), 60)
        stored = await _stored(app)
        in_order = [m.external_id for m in stored]
        assert in_order == [
            "1100000000000000501", "1100000000000000502", "1100000000000000503",  # before the restart
            "1100000000000000510", "1100000000000000511",  # #help, oldest first
            "1100000000000000514",  # #general, never stored in before: after the newest stored anywhere
            "1100000000000000513",  # #help's thread after its channel
            NEW_POST, "1100000000000000521",  # the new forum post
        ]
        by_id = {m.external_id: m for m in stored}
        assert by_id["1100000000000000511"].reply_to_external_id == "1100000000000000510"
        assert by_id["1100000000000000513"].thread_external_id == THREAD
        assert by_id["1100000000000000521"].thread_external_id == NEW_POST
        async with app.db.sessions() as s:
            forum = await s.scalar(select(Channel).where(Channel.external_id == FORUM))
        assert by_id["1100000000000000521"].channel_id == forum.id  # a forum post belongs to its forum
        assert _fetched(fake_discord) == {
            HELP: ["1100000000000000502"],  # the newest of #help's own messages (503 is in its thread)
            THREAD: ["1100000000000000503"],
            GENERAL: ["1100000000000000503"],
            NEW_POST: ["1100000000000000503"],
        }
        assert all(c.query["limit"] == "100" for c in fake_discord.find("GET", MESSAGES))
        # The question asked hours ago is neither answered nor stored.
        assert not fake_discord.find("POST", MESSAGES)
        assert "Discord server 1100000000000000001: caught up 7 message(s) said while the bot was away, " \
               "in 4 channel(s) and thread(s)" in caplog.text
        assert "left:" not in caplog.text

        # A RESUME replays what the session missed itself: nothing is fetched.
        await send(fake_discord, bot, "MESSAGE_CREATE", said("1100000000000000540", HELP, "live again", by=KENJI))
        await fake_discord.drop_connection()
        await fake_discord.connected()
        await send(fake_discord, bot, "MESSAGE_CREATE", said("1100000000000000541", HELP, "and again", by=KENJI))
        await asyncio.wait_for(bot.caught_up(), 60)
        assert fake_discord.resumes and len(_fetched(fake_discord)[HELP]) == 1
        in_order += ["1100000000000000540", "1100000000000000541"]

    fake_discord.calls.clear()
    async with running_bot(app, fake_discord) as bot:  # a second restart stores nothing more
        await asyncio.wait_for(bot.caught_up(), 60)
    assert [m.external_id for m in await _stored(app)] == in_order
    assert not _fetched(fake_discord)  # no channel has a message after its newest stored one
    assert not fake_discord.find("POST", MESSAGES)


async def test_a_question_asked_moments_ago_is_answered_and_channels_not_read_are_not_fetched(app, fake_discord):
    """A restart (a deploy) takes a minute: a question asked meanwhile is answered as a slow bot would. A channel an
    admin turned off, and a private channel not turned on, are not read, so not fetched."""
    await _before_the_restart(app, fake_discord)
    async with app.db.sessions.begin() as s:
        community = await s.scalar(select(Community).where(Community.external_id == GUILD))
        (await ensure_channel(s, community.id, GENERAL, name="general")).ingest = False
    now = utcnow().isoformat()
    fake_discord.said_while_away(
        said("1100000000000000510", HELP, f"<@{BOT}> who knows about postgres index tuning?", at=now),
        said("1100000000000000511", GENERAL, "off-topic chatter", at=now),
        said("1100000000000000512", PRIVATE, "private plans", at=now),
    )
    async with running_bot(app, fake_discord) as bot:
        await asyncio.wait_for(bot.caught_up(), 60)
        [answer] = await fake_discord.wait_for("POST", rf"/channels/{HELP}/messages")
    assert str(answer.json["message_reference"]["message_id"]) == "1100000000000000510"
    assert answer.json["embeds"][0]["title"].startswith("1. Petra")
    assert set(_fetched(fake_discord)) == {HELP}
    assert [m.external_id for m in await _stored(app)][3:] == []  # a question is not stored


async def test_a_failing_fetch_is_one_log_line_and_the_rest_goes_on(app, fake_discord, caplog):
    caplog.set_level(logging.INFO)
    await _before_the_restart(app, fake_discord)
    fake_discord.guild["threads"].append(forum_post(NEW_POST, "Why is my VACUUM slow?"))
    fake_discord.said_while_away(
        said("1100000000000000510", HELP, "How do I tune autovacuum?"),
        said("1100000000000000513", THREAD, "BRIN indexes suit append-only tables too", by=KENJI),
        said("1100000000000000514", GENERAL, "Welcome!", by=KENJI),
        said(NEW_POST, NEW_POST, "Why is my VACUUM slow? It runs for hours."),
    )
    fake_discord.refused.append(("GET", rf"/channels/{HELP}/messages"))  # no access any more
    fake_discord.failing += [("GET", rf"/channels/{THREAD}/messages", 500, 1),  # retried by discord.py
                             ("GET", rf"/channels/{GENERAL}/messages", 503, 1)]
    async with running_bot(app, fake_discord) as bot:
        await asyncio.wait_for(bot.caught_up(), 60)
    stored = [m.external_id for m in await _stored(app)]
    assert stored[3:] == ["1100000000000000513", NEW_POST]
    ours = [r for r in caplog.records if r.name.startswith(("bot", "adapters")) and r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in ours] == [
        f"catching up #help ({HELP}) in Discord server {GUILD} failed after 0 message(s): 403 Missing Permissions",
        f"catching up #general ({GENERAL}) in Discord server {GUILD} failed after 0 message(s): 503 Discord is "
        "having a moment",
    ]
    assert not [r for r in ours if r.exc_info]
    assert f"left: #help ({HELP}), #general ({GENERAL}) failed" in caplog.text


async def test_the_work_is_bounded_per_channel_and_in_all(app, fake_discord, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(catch_up, "PAGE", 2)
    monkeypatch.setattr(catch_up, "PER_CHANNEL", 3)
    monkeypatch.setattr(catch_up, "PER_SERVER", 4)
    await _before_the_restart(app, fake_discord)
    fake_discord.said_while_away(
        *[said(f"11000000000000005{i}", HELP, f"message {i} about postgres") for i in range(10, 15)],
        said("1100000000000000530", GENERAL, "Welcome!", by=KENJI),
        said("1100000000000000531", THREAD, "BRIN indexes suit append-only tables too", by=KENJI),
    )
    async with running_bot(app, fake_discord) as bot:
        await asyncio.wait_for(bot.caught_up(), 60)
    assert [m.external_id for m in await _stored(app)][3:] == [
        "1100000000000000510", "1100000000000000511", "1100000000000000512",  # #help: the oldest 3
        "1100000000000000530",  # #general: what was left of the 4 in all
    ]
    assert _fetched(fake_discord) == {HELP: ["1100000000000000502", "1100000000000000511"],
                                      GENERAL: ["1100000000000000503"]}
    assert (f"caught up 4 message(s) said while the bot was away, in 2 channel(s) and thread(s); left: the later "
            f"messages of #help ({HELP}) (at most 3 a channel are read, oldest first); "
            f"#index troubles ({THREAD}) not read (4 in all were)") in caplog.text


async def test_two_replicas_catching_up_at_once_store_each_message_once(app, fake_discord, monkeypatch):
    await _before_the_restart(app, fake_discord)
    fake_discord.said_while_away(*[said(f"11000000000000005{i}", HELP, f"message {i} about postgres")
                                   for i in range(10, 30)])

    async def not_now(self, data) -> None:  # noqa: ANN001
        pass

    monkeypatch.setattr(ConnectiveMixin, "_start_catch_up", not_now)
    async with running_bot(app, fake_discord) as bot:
        guild, started = bot.get_guild(int(GUILD)), utcnow()
        gaps = (await catch_up.plan(guild, bot, bot.resume_points, started)).gaps
        reports = await asyncio.gather(*[catch_up.catch_up(guild, gaps, http=bot.http, ctx=bot, started=started,
                                                           handle=bot._handle_caught_up) for _ in range(2)])
    assert [r.fetched for r in reports] == [20, 20]
    # Once each; the two interleave, so not necessarily in the order of their ids (each one's own order is).
    assert sorted(m.external_id for m in await _stored(app)) == sorted(
        ["1100000000000000501", "1100000000000000502", "1100000000000000503"]
        + [f"11000000000000005{i}" for i in range(10, 30)])


async def test_a_first_run_fetches_nothing(app, fake_discord, caplog):
    """With nothing stored, the community's past is an import's (connective import discord), not a restart's: the
    log says so at the install, where it said nothing."""
    caplog.set_level(logging.INFO)
    fake_discord.said_while_away(said("1100000000000000510", HELP, "How do I tune autovacuum?"))
    async with app.db.sessions.begin() as s:
        await ensure_community(s, "discord", GUILD)
    async with running_bot(app, fake_discord) as bot:
        await asyncio.wait_for(bot.caught_up(), 60)
    assert not fake_discord.find("GET", MESSAGES)
    assert await _stored(app) == []
    assert (f"Discord server {GUILD} (Lantern Commons): nothing stored yet from the channels the bot reads, so what "
            "was said there before it came is not read; `connective import discord` brings that history") in caplog.text



async def test_a_history_entry_that_is_no_message_is_skipped():
    class Http:
        async def logs_from(self, channel_id, limit, after=None):  # noqa: ANN001, ANN202
            return [{"content": "no id"}, "junk", said("1100000000000000511", HELP, "b"),
                    said("1100000000000000510", HELP, "a")]

    gap = catch_up.Gap(int(HELP), "help", 1100000000000000502)
    got = [page async for page in catch_up.pages(Http(), gap, 1 << 62)]
    assert [[m["id"] for m in page] for page in got] == [["1100000000000000510", "1100000000000000511"]]


def _held(app, monkeypatch, until) -> asyncio.Event:  # noqa: ANN001
    """Each caught-up page handled waits until `until()` is true; the event is set once one is handled. (A fixed
    pause there ordered the test's step and the catch-up's next page: on a busy machine the catch-up had ended.)"""
    real, handled = app.core.handle_history, asyncio.Event()

    async def held(events):  # noqa: ANN001, ANN202
        actions = await real(events)
        handled.set()
        while not until():
            await asyncio.sleep(0.01)
        return actions

    monkeypatch.setattr(app.core, "handle_history", held)
    return handled


async def test_a_catch_up_stopped_by_a_close_goes_on_at_the_next_start(app, fake_discord, monkeypatch, caplog):
    """It stops between two pages (each stored whole: none is claimed and left unstored), and the next start picks up
    from the newest stored."""
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(catch_up, "PAGE", 2)
    await _before_the_restart(app, fake_discord)
    away = [f"11000000000000005{i}" for i in range(10, 16)]
    fake_discord.said_while_away(*[said(ext, HELP, f"message {ext[-2:]} about postgres") for ext in away])
    real, bots = app.core.handle_history, []
    handled = _held(app, monkeypatch, until=lambda: bots and bots[0]._stopping)  # the next page after the close
    async with running_bot(app, fake_discord) as bot:
        bots.append(bot)
        await asyncio.wait_for(handled.wait(), 30)
    assert "catching up Discord server 1100000000000000001 stopped with the bot; the next start goes on" in caplog.text
    first = [m.external_id for m in await _stored(app)][3:]
    assert first and first == away[: len(first)] and len(first) < len(away) and len(first) % 2 == 0
    monkeypatch.setattr(app.core, "handle_history", real)
    asked_before = len(_fetched(fake_discord)[HELP])
    async with running_bot(app, fake_discord) as bot:
        await asyncio.wait_for(bot.caught_up(), 60)
    assert [m.external_id for m in await _stored(app)][3:] == away
    assert _fetched(fake_discord)[HELP][asked_before] == first[-1]  # the next start reads on from there


def archived_thread(thread_id: str, parent: str, name: str, archived_at: str) -> dict:
    """A public thread as Discord lists it among a channel's archived ones."""
    thread = forum_post(thread_id, name) | {"parent_id": parent}
    thread["thread_metadata"] = {**thread["thread_metadata"], "archived": True, "archive_timestamp": archived_at}
    return thread


async def test_threads_archived_while_the_bot_was_away_are_read_too(app, fake_discord, caplog):
    """A thread is listed as active until an hour to a week without a message: one that went quiet and was archived
    while the bot was away is in no GUILD_CREATE. Those archived since the bot went away (the time of the newest
    message stored) are looked up in the channels read; those archived before are not read. A channel whose list is
    refused is one log line."""
    await _before_the_restart(app, fake_discord)
    fake_discord.refused.append(("GET", rf"/channels/{GENERAL}/threads/archived/public"))
    fake_discord.archived_threads += [
        archived_thread("1100000000000000450", HELP, "autovacuum woes", "2024-05-03T00:00:00+00:00"),
        archived_thread("1100000000000000522", FORUM, "Is BRIN worth it?", "2024-05-03T01:00:00+00:00"),
        archived_thread("1100000000000000470", HELP, "long ago", "2015-01-02T00:00:00+00:00"),
        archived_thread("1100000000000000480", PRIVATE, "private matters", "2024-05-03T00:00:00+00:00"),
    ]
    fake_discord.said_while_away(
        said("1100000000000000516", "1100000000000000450", "Set autovacuum_naptime lower", by=KENJI),
        said("1100000000000000522", "1100000000000000522", "Is BRIN worth it for time series?"),
        said("1100000000000000523", "1100000000000000522", "Yes, when rows arrive in time order", by=PETRA),
        said("1100000000000000517", "1100000000000000470", "a thread archived before the bot went away"),
        said("1100000000000000518", "1100000000000000480", "private plans"),
    )
    async with running_bot(app, fake_discord) as bot:
        await asyncio.wait_for(bot.caught_up(), 60)
    stored = await _stored(app)
    assert [m.external_id for m in stored][3:] == ["1100000000000000516", "1100000000000000522",
                                                   "1100000000000000523"]
    async with app.db.sessions() as s:
        channels = {c.id: c.external_id for c in await s.scalars(select(Channel))}
    assert [(channels[m.channel_id], m.thread_external_id) for m in stored[3:]] == [
        (HELP, "1100000000000000450"), (FORUM, "1100000000000000522"), (FORUM, "1100000000000000522")]
    listed = {c.path.split("/")[2] for c in fake_discord.find("GET", r"/channels/\d+/threads/archived/public")}
    assert listed == {HELP, GENERAL, FORUM}  # not the private channel, which is not read
    assert set(_fetched(fake_discord)) == {"1100000000000000450", "1100000000000000522"}
    ours = [r.getMessage() for r in caplog.records if r.name.startswith(("bot", "adapters")) and r.levelno >= 30]
    assert ours == [f"listing the archived threads of #general ({GENERAL}) in Discord server {GUILD} failed: "
                    "403 Missing Permissions"]


async def test_private_threads_archived_while_the_bot_was_away_are_read_where_turned_on(app, fake_discord):
    """A private thread the bot is in (an admin added it, and turned its reading on) that went quiet and was archived
    while the bot was away is read as a public one is; one not turned on is not fetched."""
    await _before_the_restart(app, fake_discord)
    turned_on, left_off = "1100000000000000460", "1100000000000000461"
    async with app.db.sessions.begin() as s:
        community = await s.scalar(select(Community).where(Community.external_id == GUILD))
        channel = await ensure_channel(s, community.id, turned_on, name="release plans")
        channel.is_private, channel.ingest = True, True
    fake_discord.archived_threads += [
        archived_thread(turned_on, HELP, "release plans", "2024-05-03T00:00:00+00:00") | {"type": 12},
        archived_thread(left_off, HELP, "someone's secrets", "2024-05-03T00:00:00+00:00") | {"type": 12},
    ]
    fake_discord.said_while_away(
        said("1100000000000000524", turned_on, "We ship the pg 16 upgrade on Friday", by=KENJI),
        said("1100000000000000525", left_off, "private plans"),
    )
    async with running_bot(app, fake_discord) as bot:
        await asyncio.wait_for(bot.caught_up(), 60)
    stored = await _stored(app)
    assert [m.external_id for m in stored][3:] == ["1100000000000000524"]
    async with app.db.sessions() as s:
        channels = {c.id: c.external_id for c in await s.scalars(select(Channel))}
    assert (channels[stored[3].channel_id], stored[3].thread_external_id) == (turned_on, turned_on)
    assert set(_fetched(fake_discord)) == {turned_on}


async def test_a_quick_restart_looks_up_no_archived_thread(app, fake_discord):
    """No thread is archived within an hour of its last message: after a shorter absence none can have been."""
    def snowflake(minutes_ago: int) -> str:
        return str(discord.utils.time_snowflake(utcnow() - timedelta(minutes=minutes_ago)))

    before, meanwhile = snowflake(3), snowflake(2)
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", said(before, HELP, "Stored before the restart") | {
            "guild_id": GUILD})
    fake_discord.said_while_away(said(meanwhile, HELP, "Said during the restart", by=PETRA))
    fake_discord.calls.clear()
    async with running_bot(app, fake_discord) as bot:
        await asyncio.wait_for(bot.caught_up(), 60)
    assert [m.external_id for m in await _stored(app)] == [before, meanwhile]
    assert _fetched(fake_discord) == {HELP: [before]}
    assert not fake_discord.find("GET", r"/channels/\d+/threads/archived/public")


async def test_a_channel_whose_newest_stored_message_is_old_is_read_from_when_the_bot_went_away(app, fake_discord):
    """In a channel where people mostly ask the bot (questions are not stored), its newest stored message is old: read
    from it, each start fetched the questions since all over again, up to the cap, and never reached what was said
    while the bot was away. What was said before the newest message stored anywhere (less a margin) was seen live."""
    def snowflake(minutes_ago: int) -> str:
        return str(discord.utils.time_snowflake(utcnow() - timedelta(minutes=minutes_ago)))

    def at(minutes_ago: int) -> str:
        return (utcnow() - timedelta(minutes=minutes_ago)).isoformat()

    old, newest = snowflake(600), snowflake(120)
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", said(old, GENERAL, "Hello all", at=at(600)) | {
            "guild_id": GUILD})
        await send(fake_discord, bot, "MESSAGE_CREATE", said(newest, HELP, "Anyone tried pg_repack?", at=at(120)) | {
            "guild_id": GUILD})
    asked = [said(snowflake(minutes), GENERAL, f"<@{BOT}> who knows about topic {minutes}?", at=at(minutes))
             for minutes in (500, 400, 300)]  # seen live, answered, not stored
    meanwhile = said(snowflake(30), GENERAL, "pg_repack worked for us", by=PETRA, at=at(30))
    fake_discord.said_while_away(*asked, meanwhile)
    fake_discord.calls.clear()
    async with running_bot(app, fake_discord) as bot:
        await asyncio.wait_for(bot.caught_up(), 60)
    assert [m.external_id for m in await _stored(app)] == [old, newest, meanwhile["id"]]
    [after] = _fetched(fake_discord)[GENERAL]
    assert int(asked[-1]["id"]) < int(after) < int(newest)


async def test_a_session_begun_anew_during_a_catch_up_is_caught_up_after_it(app, fake_discord, monkeypatch):
    """A session lost and begun anew (GUILD_CREATE again) while the server is still being caught up: what was said in
    between is read by a second catch-up once the first ends, not dropped."""
    await _before_the_restart(app, fake_discord)
    first = [said(f"11000000000000005{i}", HELP, f"message {i} about postgres") for i in range(10, 13)]
    fake_discord.said_while_away(*first)
    session_begun = asyncio.Event()
    handled = _held(app, monkeypatch, until=session_begun.is_set)  # the first catch-up still going on
    async with running_bot(app, fake_discord) as bot:
        await asyncio.wait_for(handled.wait(), 30)
        between = said(str(discord.utils.time_snowflake(utcnow())), HELP, "said while the session was lost", by=PETRA)
        fake_discord.said_while_away(between)
        await send(fake_discord, bot, "GUILD_CREATE", fake_discord._guild_create())  # as a new session's
        session_begun.set()
        await asyncio.wait_for(bot.caught_up(), 60)
    assert [m.external_id for m in await _stored(app)][3:] == [m["id"] for m in first] + [between["id"]]
    assert _fetched(fake_discord)[HELP] == ["1100000000000000502", "1100000000000000512"]


async def test_a_page_is_stored_in_one_batch_its_texts_encoded_together(app, fake_discord, monkeypatch):
    """Handed to the core one at a time, each message of the gap was a transaction, an encode and a write of its own
    (on Slack, 2,000 messages of a channel took 2.1x and 4.9x as long as in one batch: bench_catch_up.py). A page's
    messages are one write now; a question to the bot among them is answered beside it, and a member who opted out
    has nothing stored."""
    from bot import events as ev

    await _before_the_restart(app, fake_discord)
    await app.core.handle(ev.CommandInvoked(community=GUILD, platform="discord", user=KENJI, channel=HELP,
                                            name="optout", args=""))
    stores: list[int] = []
    store = app.ingest.store

    async def counted(community_id: int, messages: list, **kwargs):  # noqa: ANN003, ANN202
        stores.append(len(messages))
        return await store(community_id, messages, **kwargs)

    monkeypatch.setattr(app.ingest, "store", counted)
    now = utcnow()
    fake_discord.said_while_away(
        *[said(f"11000000000000005{i}", HELP, f"answer {i}: pg_repack rebuilds table {i} without a lock", by=PETRA,
               at=(now - timedelta(minutes=30 - i)).isoformat()) for i in range(10, 22)],
        said("1100000000000000522", HELP, "my own notes on vacuum", by=KENJI, at=now.isoformat()),
        said("1100000000000000523", HELP, f"<@{BOT}> who knows about pg_repack?", at=now.isoformat()),
        said("1100000000000000524", THREAD, "BRIN indexes suit append-only tables too", by=PETRA,
             at=now.isoformat()),
    )
    async with running_bot(app, fake_discord) as bot:
        await asyncio.wait_for(bot.caught_up(), 60)
        [answer] = await fake_discord.wait_for("POST", rf"/channels/{HELP}/messages")
    assert str(answer.json["message_reference"]["message_id"]) == "1100000000000000523"
    assert [m.external_id for m in await _stored(app)][3:] == [
        f"11000000000000005{i}" for i in range(10, 22)] + ["1100000000000000524"]
    assert stores == [12, 1]  # #help's page in one write (not the opted-out member's, not the question), its thread's


async def test_a_page_whose_store_fails_is_one_log_line_and_is_read_again_at_the_next_start(app, fake_discord,
                                                                                            monkeypatch, caplog):
    """The database failed while a page was stored: nothing of it is stored (one transaction), the channel is named as
    failed, its later pages are not stored past the gap, and the next start reads it from the newest stored."""
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(catch_up, "PAGE", 2)
    await _before_the_restart(app, fake_discord)
    away = [f"11000000000000005{i}" for i in range(10, 16)]
    fake_discord.said_while_away(*[said(ext, HELP, f"message {ext[-2:]} about postgres") for ext in away])
    real, pages = app.core.handle_history, []

    async def failing_second(events):  # noqa: ANN001, ANN202
        pages.append(len(events))
        if len(pages) == 2:
            raise RuntimeError("the database went away")
        return await real(events)

    monkeypatch.setattr(app.core, "handle_history", failing_second)
    async with running_bot(app, fake_discord) as bot:
        await asyncio.wait_for(bot.caught_up(), 60)
    assert [m.external_id for m in await _stored(app)][3:] == away[:2]
    assert pages == [2, 2]  # the third page is not stored after the gap the second left
    assert "storing 2 caught-up event(s) failed" in caplog.text
    assert f"left: #help ({HELP}) failed" in caplog.text
    monkeypatch.setattr(app.core, "handle_history", real)
    async with running_bot(app, fake_discord) as bot:
        await asyncio.wait_for(bot.caught_up(), 60)
    assert [m.external_id for m in await _stored(app)][3:] == away


async def test_a_channel_deleted_while_the_bot_was_away_takes_its_messages_and_private_threads_with_it(
        app, fake_discord, caplog):
    """#help deleted while the bot was down: no CHANNEL_DELETE ever came, and its messages (its threads' with them)
    and those of a private thread of it an admin had turned on stayed stored, quoted as evidence with dead links.
    At the next start, the stored channels the gateway no longer lists are asked for, and those Discord answers
    Unknown Channel go as at a live deletion; #general, still there, is not asked for, and keeps its messages."""
    from tests.discord_fixtures import PRIVATE_THREAD

    caplog.set_level(logging.INFO)
    await _before_the_restart(app, fake_discord)
    async with app.db.sessions.begin() as s:
        community = await s.scalar(select(Community).where(Community.external_id == GUILD))
        channel = await ensure_channel(s, community.id, PRIVATE_THREAD, name="secret plans")
        channel.is_private, channel.ingest = True, True
    async with running_bot(app, fake_discord) as bot:
        await asyncio.wait_for(bot.caught_up(), 60)
        for message in (said("1100000000000000530", PRIVATE_THREAD, "We ship the pg 16 upgrade on Friday", by=KENJI),
                        said("1100000000000000531", GENERAL, "Postgres 16 is out", by=PETRA)):
            await send(fake_discord, bot, "MESSAGE_CREATE", message | {"guild_id": GUILD})
    stored = {m.external_id for m in await _stored(app)}
    assert {"1100000000000000501", "1100000000000000502", "1100000000000000503", "1100000000000000530",
            "1100000000000000531"} <= stored

    fake_discord.channel_deleted_while_away(HELP)
    fake_discord.calls.clear()
    async with running_bot(app, fake_discord) as bot:
        await asyncio.wait_for(bot.caught_up(), 60)
    assert {m.external_id for m in await _stored(app)} == stored - {
        "1100000000000000501", "1100000000000000502", "1100000000000000503", "1100000000000000530"}
    assert sorted(c.path for c in fake_discord.find("GET", r"/channels/\d+")) == sorted(
        [f"/channels/{HELP}", f"/channels/{PRIVATE_THREAD}"])
    assert "2 channel(s) or thread(s) deleted while the bot was away" in caplog.text

    fake_discord.calls.clear()
    async with running_bot(app, fake_discord) as bot:  # found once: not asked for again
        await asyncio.wait_for(bot.caught_up(), 60)
    assert not fake_discord.find("GET", r"/channels/\d+")


async def test_a_message_deleted_while_the_bot_was_away_is_deleted_at_the_next_start(app, fake_discord, monkeypatch):
    """Discord replays no MESSAGE_DELETE to a new session: Petra's answer, deleted while the bot was down, stayed
    stored as her evidence until an answer was about to show it. At the next start the newest messages of #help up to
    where the catch-up picks up are listed again, and a stored one not among them is deleted as at a live deletion;
    one older than what was listed is left (not known either way)."""
    from bot.db.models import DeletedMessage

    question, answer, thanks = "1100000000000000501", "1100000000000000502", "1100000000000000504"
    await _before_the_restart(app, fake_discord)
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", said(thanks, HELP, "Thanks, that was it") | {"guild_id": GUILD})
    fake_discord.deleted_while_away(HELP, question)
    monkeypatch.setattr(catch_up, "CHECK_PAGE", 1)  # the thanks alone is listed: the question is before it
    async with running_bot(app, fake_discord) as bot:
        await asyncio.wait_for(bot.caught_up(), 60)
    assert {question, answer} <= {m.external_id for m in await _stored(app)}

    monkeypatch.setattr(catch_up, "CHECK_PAGE", 100)
    fake_discord.deleted_while_away(HELP, answer)
    async with running_bot(app, fake_discord) as bot:
        await asyncio.wait_for(bot.caught_up(), 60)
    stored = {m.external_id for m in await _stored(app)}
    assert not {question, answer} & stored and {thanks, "1100000000000000503"} <= stored  # (503: in the thread)
    async with app.db.sessions() as s:
        assert {question, answer} <= set(await s.scalars(select(DeletedMessage.external_id)))
    listed = [c.query for c in fake_discord.find("GET", rf"/channels/{HELP}/messages") if "before" in c.query]
    assert listed and all(int(q["limit"]) == 100 for q in listed[-1:])
