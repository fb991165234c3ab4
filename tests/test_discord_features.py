"""Digest, /save and mentoring on Discord end to end: the real discord.py client against the fake Discord,
asserting on the REST calls it makes, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import logging
from datetime import datetime, timedelta
from typing import Any

import discord
import pytest
from sqlalchemy import select

from adapters.discord.sender import nonce_of
from bot.actions import Document, PostToChannel
from bot.db.resources import Digest, DigestRun
from bot.events import utcnow
from bot.repo import get_community
from bot.services import digest_runs as runs
from bot.services.mentoring import MentoringService
from bot.services.mentoring_cadence import Cadence
from tests.discord_fixtures import ASHA, BOT, FORUM, GENERAL, GUILD, HELP, PETRA, load
from tests.discord_harness import running_bot, send, started_fake_discord
from tests.fake_platform import Clock, run_killed_while_posting

NO_PINGS = {"parse": []}
_interaction_ids = itertools.count(1100000000000000800)
ARCHIVED_POST = "1100000000000000499"  # a forum post of q-and-a, archived: not in the gateway's cache
CHANNEL_FACTS = {  # what Discord puts in `resolved` for a picked channel
    HELP: {"name": "help", "type": 0},
    FORUM: {"name": "q-and-a", "type": 15},
    ARCHIVED_POST: {"name": "weekly links", "type": 11, "parent_id": FORUM, "owner_id": ASHA, "member_count": 1,
                    "message_count": 3, "thread_metadata": {"archived": True, "auto_archive_duration": 10080,
                                                            "archive_timestamp": "2024-05-02T10:00:00.000000+00:00",
                                                            "locked": False}},
}


@pytest.fixture
async def fake_discord():
    async for fake in started_fake_discord():
        yield fake


def command(
    name: str, options: list[dict[str, Any]], *, user: str = ASHA, user_name: str = "Asha Rao",
    manage_server: bool = False,
) -> dict:
    """An INTERACTION_CREATE of a slash command, as Discord sends it (from the recorded /whoknows)."""
    payload = load("interaction_whoknows")
    interaction_id = str(next(_interaction_ids))
    payload.update(id=interaction_id, token=f"token-{interaction_id}")
    payload["data"] = {"id": "1100000000000000799", "name": name, "type": 1, "options": options}
    channels = {
        str(o["value"]): {
            "id": str(o["value"]),
            "flags": 0,
            "parent_id": None,
            "permissions": "0",
            **CHANNEL_FACTS[str(o["value"])],
        }
        for sub in options
        for o in [sub, *sub.get("options", [])]
        if o.get("type") == 7
    }
    if channels:
        payload["data"]["resolved"] = {"channels": channels}
    payload["member"]["user"].update(id=user, username=user_name.split()[0].lower(), global_name=user_name)
    if manage_server:
        payload["member"]["permissions"] = str(1 << 5)
    return payload


def sub(name: str, **values: Any) -> dict[str, Any]:
    types = {"channel": 7, "capacity": 4}
    options = [{"name": k, "type": types.get(k, 3), "value": v} for k, v in values.items()]
    return {"name": name, "type": 1, "options": options}


async def answer(fake, bot, payload: dict[str, Any]) -> dict[str, Any]:  # noqa: ANN001
    """Send a slash command and return the body of its answer (the edited "thinking…" response)."""
    await send(fake, bot, "INTERACTION_CREATE", payload)
    [edited] = await fake.wait_for("PATCH", rf"/webhooks/{BOT}/{payload['token']}/messages/@original")
    return edited.json


async def test_command_tree_includes_digest_save_and_mentoring(app, fake_discord):
    async with running_bot(app, fake_discord):
        [sync] = fake_discord.find("PUT", rf"/applications/{BOT}/commands")
    commands = {c["name"]: c for c in sync.json}
    digest = {o["name"]: o for o in commands["digest"]["options"]}
    assert set(digest) == {"subscribe", "unsubscribe", "list", "preview"}
    subscribe = {o["name"]: o for o in digest["subscribe"]["options"]}
    assert subscribe["channel"]["type"] == 7 and subscribe["channel"]["required"] is True
    assert {0, 15, 11}.issubset(subscribe["channel"]["channel_types"])  # text, forum, thread
    assert not subscribe["schedule"].get("required") and not subscribe["timezone"].get("required")
    assert [(o["name"], o["type"], o.get("required", False)) for o in commands["save"]["options"]] == [
        ("url", 3, True),
        ("note", 3, False),
    ]
    mentoring = {o["name"]: o for o in commands["mentoring"]["options"]}
    assert {"join", "status", "skip", "leave"}.issubset(mentoring)
    join = {o["name"]: o for o in mentoring["join"]["options"]}
    assert [c["value"] for c in join["role"]["choices"]] == ["mentor", "mentee", "both"]
    assert join["capacity"]["type"] == 4 and (
        join["capacity"]["min_value"],
        join["capacity"]["max_value"],
    ) == (1, 10)
    assert all(c["contexts"] == [0] for c in sync.json)


async def test_save_then_preview_answers_with_resource_embeds(app, fake_discord):
    url = "https://www.postgresql.org/docs/current/brin-intro.html"
    async with running_bot(app, fake_discord) as bot:
        saved = await answer(
            fake_discord,
            bot,
            command(
                "save",
                [
                    {"name": "url", "type": 3, "value": url},
                    {"name": "note", "type": 3, "value": "BRIN for time series @everyone"},
                ],
            ),
        )
        assert saved["content"].startswith("Saved") and saved["allowed_mentions"] == NO_PINGS
        preview = await answer(fake_discord, bot, command("digest", [sub("preview")]))
        # Without a link, the usage is shown as Discord's /save takes it (it was Slack's form).
        usage = await answer(fake_discord, bot, command("save", [{"name": "url", "type": 3, "value": "not a url"}]))
    assert "`/save url:https://example.com/article note:a note for others`" in usage["content"]
    assert preview["allowed_mentions"] == NO_PINGS
    descriptions = "\n".join(e.get("description") or "" for e in preview["embeds"])
    assert f"]({url})" in descriptions  # the resource as a link
    assert "BRIN for time series" in descriptions and "@everyone" not in descriptions
    assert not fake_discord.find("POST", r"/channels/\d+/(messages|threads)")  # a preview posts nothing


async def test_a_digest_of_ten_long_links_shows_each_link_whole(app, fake_discord):
    """Ten links (long addresses, notes) went into one embed whose description was cut at Discord's 4096 characters:
    the last links were lost and one was cut in two (Discord walk-through). They now fill as many embeds as they
    need, each line whole."""
    urls = [f"https://github.com/racket/racket/blob/master/collects/topic-{n}/" + "nested/" * 20 + f"file-{n}.rkt"
            for n in range(10)]
    note = "worked examples, benchmarks and the pitfalls of each approach, " * 3
    async with running_bot(app, fake_discord) as bot:
        for url in urls:
            await answer(fake_discord, bot, command("save", [{"name": "url", "type": 3, "value": url},
                                                             {"name": "note", "type": 3, "value": note}]))
        preview = await answer(fake_discord, bot, command("digest", [sub("preview")]))
    descriptions = [e.get("description") or "" for e in preview["embeds"]]
    lines = [line for d in descriptions for line in d.splitlines() if line.startswith("• [")]
    assert sorted(url for url in urls if any(f"]({url})" in line for line in lines)) == sorted(urls)
    assert not any(line.endswith("…") for line in lines)
    assert all(len(d) <= 4096 for d in descriptions) and sum(len(e) for e in descriptions) > 4096


async def test_a_digest_past_one_messages_limits_goes_on_in_the_next_message(app, fake_discord):
    """Ten links with long notes are more than one Discord message holds (6000 characters of embeds): the embeds past
    it were left out, with a log line, so the digest lost its last links or its waiting questions (Discord
    walk-through). They now follow in the next message, the posted digest's and the preview's alike."""
    urls = [f"https://example.org/racket/{n}/" + "deep/" * 30 for n in range(10)]
    note = "why it is worth reading: " + "worked examples and the pitfalls of each approach; " * 9
    async with running_bot(app, fake_discord) as bot:
        for url in urls:
            await answer(fake_discord, bot, command("save", [{"name": "url", "type": 3, "value": url},
                                                             {"name": "note", "type": 3, "value": note[:500]}]))
        preview = await answer(fake_discord, bot, command("digest", [sub("preview")]))
        [more] = await fake_discord.wait_for("POST", rf"/webhooks/{BOT}/{preview_token(fake_discord)}")
        app.digests.clock = clock = Clock(utcnow())
        await answer(fake_discord, bot, command("digest", [sub("subscribe", channel=HELP, schedule="0 9 * * mon",
                                                               timezone="UTC")], manage_server=True))
        async with app.db.sessions() as s:
            digest = await s.scalar(select(Digest))
        clock.now += timedelta(days=7, minutes=1)
        assert await app.digests.run_due(digest.id) == "posted"
        posts = fake_discord.find("POST", rf"/channels/{HELP}/messages")
    for messages in ([preview, more.json], [p.json for p in posts]):
        assert len(messages) == 2 and all(sum(len(e.get("description") or "") for e in m["embeds"]) <= 6000
                                          for m in messages)
        shown = "\n".join(e.get("description") or "" for m in messages for e in m["embeds"])
        assert all(f"]({url})" in shown for url in urls)
        assert messages[1]["allowed_mentions"]["parse"] == []


def preview_token(fake) -> str:  # noqa: ANN001
    [edited] = fake.find("PATCH", rf"/webhooks/{BOT}/[^/]+/messages/@original")[-1:]
    return edited.path.split("/")[3]


async def test_setting_the_digest_channel_schedules_the_digest_there(app, fake_discord):
    """`/connective digest-channel #help` answered "Digest channel: #help." and stored a setting nothing read: no
    digest was ever posted there (Discord walk-through). It now schedules the weekly digest in that channel (the
    default schedule), as `/digest subscribe #help` does, and keeps the schedule of one already there."""
    async with running_bot(app, fake_discord) as bot:
        placed = await answer(fake_discord, bot, command("connective", [sub("digest-channel", channel=HELP)],
                                                         manage_server=True))
        again = await answer(fake_discord, bot, command("connective", [sub("digest-channel", channel=HELP)],
                                                        manage_server=True))
        listed = await answer(fake_discord, bot, command("digest", [sub("list")]))
    async with app.db.sessions() as s:
        [digest] = list(await s.scalars(select(Digest)))
    assert (digest.channel_external_id, digest.cron) == (HELP, "0 9 * * mon")
    assert "#help" in placed["content"] and "0 9 * * mon" in placed["content"]
    assert "0 9 * * mon" in again["content"] and "#help" in listed["content"]


async def test_the_digest_channel_may_be_a_forum_as_with_digest_subscribe(app, fake_discord):
    """`/connective digest-channel` offered text channels only, where `/digest subscribe` takes a forum or a thread too:
    a server whose resources go to a forum could not pick it there (and one picked anyway failed unanswered)."""
    async with running_bot(app, fake_discord) as bot:
        placed = await answer(fake_discord, bot, command("connective", [sub("digest-channel", channel=FORUM)],
                                                         manage_server=True))
    assert "#q-and-a" in placed["content"]
    async with app.db.sessions() as s:
        assert (await s.scalar(select(Digest))).channel_external_id == FORUM
    [sync] = fake_discord.find("PUT", rf"/applications/{BOT}/commands")
    [settings] = [c for c in sync.json if c["name"] == "connective"]
    [chosen] = [o for o in settings["options"] if o["name"] == "digest-channel"]
    assert {0, 15, 11}.issubset(chosen["options"][0]["channel_types"])  # text, forum, thread


async def test_a_digest_into_an_archived_forum_post_is_subscribed_and_unsubscribed(app, fake_discord):
    """A forum post archived (a week without a message) is not in discord.py's cache: /digest subscribe and
    unsubscribe of it failed in discord.py before they ran, and the admin got no answer at all."""
    async with running_bot(app, fake_discord) as bot:
        subscribed = await answer(fake_discord, bot, command(
            "digest", [sub("subscribe", channel=ARCHIVED_POST, schedule="0 9 * * mon")], manage_server=True))
        assert "#weekly links" in subscribed["content"] and "`0 9 * * mon`" in subscribed["content"]
        async with app.db.sessions() as s:
            assert (await s.scalar(select(Digest))).channel_external_id == ARCHIVED_POST
        gone = await answer(fake_discord, bot, command("digest", [sub("unsubscribe", channel=ARCHIVED_POST)],
                                                       manage_server=True))
        assert gone["content"] == "No more digests in #weekly links."


async def test_a_scheduled_digest_to_a_forum_creates_one_post(app, fake_discord):
    clock = Clock(utcnow())
    app.digests.clock = clock
    url = "https://www.postgresql.org/docs/current/indexes-types.html"
    async with running_bot(app, fake_discord) as bot:
        await answer(fake_discord, bot, command("save", [{"name": "url", "type": 3, "value": url}]))
        subscribed = await answer(
            fake_discord,
            bot,
            command(
                "digest", [sub("subscribe", channel=FORUM, schedule="0 9 * * mon", timezone="Europe/Berlin")],
                manage_server=True,
            ),
        )
        assert "#q-and-a" in subscribed["content"] and "Europe/Berlin" in subscribed["content"]
        async with app.db.sessions() as s:
            digest = await s.scalar(select(Digest))
        assert (digest.channel_external_id, digest.cron, digest.timezone) == (
            FORUM,
            "0 9 * * mon",
            "Europe/Berlin",
        )

        clock.now += timedelta(days=7, minutes=1)  # past the next Monday 09:00
        assert await app.digests.run_due(digest.id) == "posted"
        assert await app.digests.run_due(digest.id) == "skipped"  # the job ran again: nothing more
    [post] = fake_discord.find("POST", rf"/channels/{FORUM}/threads")
    assert post.json["name"].startswith("Community digest") and len(post.json["name"]) <= 100
    message = post.json["message"]
    assert message["allowed_mentions"] == NO_PINGS
    assert any(f"]({url})" in (e.get("description") or "") for e in message["embeds"])
    assert not fake_discord.find("POST", rf"/channels/{FORUM}/messages")  # a forum takes posts, not messages


async def test_joining_the_rounds_says_when_the_warning_comes_as_the_community_set_it(app, fake_discord):
    """A community whose warning comes 2 hours before a round (`connective pairs schedule --warn-hours 2`) told each
    member who joined "I'll warn you the day before", and they waited a day for a warning that came 2 hours before
    (Discord walk-through)."""
    join = [sub("join", role="mentee", learn="postgres", timezone="Europe/Berlin")]
    async with running_bot(app, fake_discord) as bot:
        default = await answer(fake_discord, bot, command("mentoring", join))
        async with app.db.sessions.begin() as s:
            community = await get_community(s, "discord", GUILD)
            community.settings = {**(community.settings or {}), "mentoring": {"warn_hours": 2}}
        joined = await answer(fake_discord, bot, command("mentoring", join))
    assert "I'll warn you the day before" in default["content"]
    assert "I'll warn you 2 hours before" in joined["content"]


async def test_mentoring_join_then_a_round_opens_a_private_thread_with_both(app, fake_discord):
    service = MentoringService(db=app.db, core=app.core, expertise=app.expertise)
    period = Cadence().next_round(utcnow())
    async with running_bot(app, fake_discord) as bot:
        joined = await answer(
            fake_discord,
            bot,
            command(
                "mentoring",
                [
                    sub(
                        "join",
                        role="mentor",
                        teach="postgres query tuning, indexes",
                        timezone="Europe/Berlin",
                        capacity=2,
                    )
                ],
                user=PETRA,
                user_name="Petra Kowalski",
            ),
        )
        assert "You're in the mentoring rounds as mentor" in joined["content"]
        joined = await answer(
            fake_discord,
            bot,
            command(
                "mentoring",
                [sub("join", role="mentee", learn="postgres performance", timezone="Europe/London")],
            ),
        )
        assert "as mentee" in joined["content"]
        status = await answer(fake_discord, bot, command("mentoring", [sub("status")]))
        assert "Mentoring: mentee." in status["content"]

        await service.tick(period.warn_at + timedelta(minutes=1))  # each is told, with a Skip button, by DM
        warned = fake_discord.find("POST", "/users/@me/channels")
        assert {str(c.json["recipient_id"]) for c in warned} == {PETRA, ASHA}
        warnings = fake_discord.find("POST", r"/channels/9\d+/messages")
        skips = {c["custom_id"] for w in warnings for row in w.json["components"] for c in row["components"]}
        assert skips == {f"mentoring.skip|{period.key}|{GUILD}"}  # a DM button names its server
        await service.tick(period.round_at + timedelta(minutes=2))
        await service.tick(period.round_at + timedelta(minutes=3))  # the round runs once
    [thread] = fake_discord.find("POST", r"/channels/\d+/threads")
    assert thread.path == f"/channels/{GENERAL}/threads"  # the system channel hosts it
    assert thread.json["type"] == 12 and thread.json["invitable"] is False
    assert thread.json["name"].startswith("Mentoring pair ")
    added = fake_discord.find("PUT", r"/channels/\d+/thread-members/\d+")
    thread_id = added[0].path.split("/")[2]
    assert {c.path.rsplit("/", 1)[1] for c in added} == {PETRA, ASHA}
    [hello] = fake_discord.find("POST", rf"/channels/{thread_id}/messages")
    assert "Petra Kowalski (mentor) and Asha Rao (mentee)" in hello.json["content"]
    assert hello.json["allowed_mentions"] == NO_PINGS
    assert hello.json["embeds"][0]["title"] == "Conversation starters"


async def digest_due_in(app, fake_discord, bot, channel: str) -> tuple[Clock, int]:  # noqa: ANN001
    """A link saved, a digest subscribed in `channel`, and the clock past its tick; what the bot posts is kept in the
    fake's history from then on (its ids of that time)."""
    clock = Clock(utcnow())
    app.digests.clock = clock
    url = "https://www.postgresql.org/docs/current/indexes-types.html"
    await answer(fake_discord, bot, command("save", [{"name": "url", "type": 3, "value": url}]))
    await answer(fake_discord, bot, command(
        "digest", [sub("subscribe", channel=channel, schedule="0 9 * * mon", timezone="UTC")], manage_server=True))
    async with app.db.sessions() as s:
        digest = await s.scalar(select(Digest))
    clock.now += timedelta(days=7, minutes=1)
    fake_discord.keeps_posts = True
    fake_discord._ids = itertools.count(discord.utils.time_snowflake(clock.now))
    return clock, digest.id


async def digest_naming_asha(app, fake_discord, bot, channel: str) -> tuple[Clock, int]:  # noqa: ANN001
    """digest_due_in's digest posted in `channel`, its kept copy naming Asha (as a note she saved the link with
    would): what /forget-me of hers edits."""
    clock, digest_id = await digest_due_in(app, fake_discord, bot, channel)  # Asha saved a link
    assert await app.digests.run_due(digest_id) == "posted"
    async with app.db.sessions.begin() as s:
        run = await s.scalar(select(DigestRun))
        run.posted = {**run.posted, "named": [[[ASHA]]]}
    return clock, digest_id


@pytest.mark.parametrize("channel", [HELP, FORUM])
async def test_a_digest_discord_took_before_the_process_was_killed_is_not_posted_again(app, fake_discord, channel):
    """Killed between Discord's 200 for the digest and the database's record of it, the period stayed claimed; after
    the restart (or on another replica) the claim was taken over once old and the digest posted a second time. Its
    first message carries its period in its footer now (and as its nonce), and whoever takes over a period that may
    have been posted looks in the channel, or the forum's posts, first: one post."""
    async with running_bot(app, fake_discord) as bot:
        clock, digest_id = await digest_due_in(app, fake_discord, bot, channel)
        await run_killed_while_posting(app, "discord", digest_id, after=True)
        assert await app.digests.run_due(digest_id) == "skipped"  # the claim is recent: its process may be alive
        clock.now += runs.CLAIM_TIMEOUT + timedelta(minutes=1)
        assert await app.digests.run_due(digest_id) == "posted"
        assert await app.digests.run_due(digest_id) == "skipped"
    async with app.db.sessions() as s:
        [run] = list(await s.scalars(select(DigestRun)))
    assert (run.state, run.attempts, len(run.resource_ids)) == ("posted", 2, 1)
    key = f"digest:{digest_id}:{run.period_key}"
    if channel == FORUM:
        [post] = fake_discord.find("POST", rf"/channels/{FORUM}/threads")
        first = post.json["message"]
    else:
        [post] = fake_discord.find("POST", rf"/channels/{HELP}/messages")
        first = post.json
        assert (first["nonce"], first["enforce_nonce"]) == (nonce_of(key), True)
    due = datetime.fromisoformat(run.period_key)
    assert first["embeds"][-1]["footer"]["text"] == f"connective digest · {due:%b} {due.day}, {due.year}, 09:00"


async def test_a_digests_footer_says_what_it_is_and_a_post_marked_as_before_is_still_found(app, fake_discord):
    """Members saw the machinery under each Discord digest: "connective · digest:1:2026-12-14T09:00", its key. The
    footer says what the post is and when it was due; a digest posted by the release before, marked with its key, is
    still found by whoever takes its period over, and not posted again."""
    async with running_bot(app, fake_discord) as bot:
        clock, digest_id = await digest_due_in(app, fake_discord, bot, HELP)
        await run_killed_while_posting(app, "discord", digest_id, after=True)
        [first] = fake_discord.messages[HELP]
        async with app.db.sessions() as s:
            period = await s.scalar(select(DigestRun.period_key))
        shown = first["embeds"][-1]["footer"]["text"]
        assert "digest:" not in shown and shown.startswith("connective digest · "), shown
        first["embeds"][-1]["footer"]["text"] = f"connective · digest:{digest_id}:{period}"  # as the release before
        clock.now += runs.CLAIM_TIMEOUT + timedelta(minutes=1)
        assert await app.digests.run_due(digest_id) == "posted"
    assert len(fake_discord.find("POST", rf"/channels/{HELP}/messages")) == 1


@pytest.mark.parametrize("channel", [HELP, FORUM])
async def test_a_digest_whose_process_was_killed_before_it_reached_discord_is_posted(app, fake_discord, channel):
    async with running_bot(app, fake_discord) as bot:
        clock, digest_id = await digest_due_in(app, fake_discord, bot, channel)
        await run_killed_while_posting(app, "discord", digest_id, after=False)
        clock.now += runs.CLAIM_TIMEOUT + timedelta(minutes=1)
        assert await app.digests.run_due(digest_id) == "posted"
    path = rf"/channels/{FORUM}/threads" if channel == FORUM else rf"/channels/{HELP}/messages"
    assert len(fake_discord.find("POST", path)) == 1
    looked = fake_discord.find("GET", rf"/guilds/{GUILD}/threads/active" if channel == FORUM
                               else rf"/channels/{HELP}/messages")
    assert len(looked) == 1


async def test_a_retried_digest_message_is_one_message(app, fake_discord):
    """The same keyed post sent twice within minutes (a request retried after its answer was lost) is one message:
    its nonce is the same on every replica, and Discord enforces it."""
    async with running_bot(app, fake_discord):
        fake_discord.keeps_posts = True
        action = PostToChannel(community=GUILD, channel=HELP, doc=Document(text="Community digest"), key="digest:1:x")
        await app.core.senders["discord"].send(action)
        await app.core.senders["discord"].send(action)
    assert len(fake_discord.find("POST", rf"/channels/{HELP}/messages")) == 2
    assert len(fake_discord.messages[HELP]) == 1


def errors_of_ours(caplog) -> list[logging.LogRecord]:  # noqa: ANN001
    """The ERROR lines of the test, whoever logged them: connective, discord.py or asyncio (a client an earlier test
    closed no longer leaves an error behind it: a3effe2)."""
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("channel", [HELP, FORUM])
async def test_a_digest_discord_refuses_to_post_tells_the_admin_who_chose_the_channel(app, fake_discord, channel,
                                                                                     caplog):
    """A digest in a channel where the bot may not post (no Send Messages there) was retried every 10 minutes with an
    ERROR and a traceback each time, and the admin who subscribed it never heard why no digest came, as they do on
    Slack. Now each attempt is one log line, the admin is told once by DM with what to give the bot, and the digest
    goes out once it may post."""
    path = rf"/channels/{FORUM}/threads" if channel == FORUM else rf"/channels/{HELP}/messages"
    async with running_bot(app, fake_discord) as bot:
        clock, digest_id = await digest_due_in(app, fake_discord, bot, channel)
        fake_discord.refused.append(("POST", path))
        assert await app.digests.run_due(digest_id) == "failed"
        clock.now += timedelta(minutes=10)
        assert await app.digests.run_due(digest_id) == "failed"  # tried again, not told again
        fake_discord.refused.clear()  # the permission given
        clock.now += timedelta(minutes=10)
        assert await app.digests.run_due(digest_id) == "posted"
    [told] = fake_discord.find("POST", rf"/channels/9{ASHA[1:]}/messages")
    assert f"<#{channel}>" in told.json["content"] and "Send Messages" in told.json["content"], told.json
    assert not errors_of_ours(caplog), caplog.text
    assert len(fake_discord.find("POST", path)) == 3


async def test_a_digest_whose_channel_the_bot_may_no_longer_read_is_not_posted_blind(app, fake_discord, caplog):
    """Killed after Discord took the digest, and the bot's Read Message History taken away before the restart: the
    period is tried again every few minutes, one log line each saying what to give the bot, never posted blind; once
    it may read the channel, the digest is found there."""
    async with running_bot(app, fake_discord) as bot:
        clock, digest_id = await digest_due_in(app, fake_discord, bot, HELP)
        await run_killed_while_posting(app, "discord", digest_id, after=True)
        fake_discord.refused.append(("GET", rf"/channels/{HELP}/messages"))
        clock.now += runs.CLAIM_TIMEOUT + timedelta(minutes=1)
        assert await app.digests.run_due(digest_id) == "failed"
        fake_discord.refused.clear()
        clock.now += runs.RETRY_AFTER + timedelta(minutes=1)
        assert await app.digests.run_due(digest_id) == "posted"
    assert len(fake_discord.find("POST", rf"/channels/{HELP}/messages")) == 1
    assert "discord did not let me read the channel: I may not read that channel's history" in caplog.text
    assert not errors_of_ours(caplog), caplog.text


LONG_READS = {who: [f"https://example.org/{who}/{n}/" + "deep/" * 30 for n in range(5)] for who in ("asha", "petra")}


async def long_digest_due(app, fake_discord, bot, channel: str = HELP) -> tuple[Clock, int]:  # noqa: ANN001
    """Asha and Petra each saved five links with long notes, a digest subscribed in `channel`, and the clock past its
    tick: its digest runs over two messages."""
    note = "worked examples and the pitfalls of each approach; " * 9
    app.digests.clock = clock = Clock(utcnow())
    for who, user, name in (("asha", ASHA, "Asha Rao"), ("petra", PETRA, "Petra Kowalski")):
        for url in LONG_READS[who]:
            await answer(fake_discord, bot, command(
                "save", [{"name": "url", "type": 3, "value": url},
                         {"name": "note", "type": 3, "value": f"{who}'s reading: {note}"[:500]}],
                user=user, user_name=name))
    await answer(fake_discord, bot, command("digest", [sub("subscribe", channel=channel, schedule="0 9 * * mon",
                                                           timezone="UTC")], manage_server=True))
    async with app.db.sessions() as s:
        digest = await s.scalar(select(Digest))
    clock.now += timedelta(days=7, minutes=1)
    fake_discord.keeps_posts = True
    fake_discord._ids = itertools.count(discord.utils.time_snowflake(clock.now))
    return clock, digest.id


def shown_in(messages: list[dict]) -> str:
    return "\n".join(e.get("description") or "" for m in messages for e in m["embeds"])


async def killed_after_the_first_message(app, digest_id: int, monkeypatch) -> None:  # noqa: ANN001
    """The digest's run, the process killed after Discord took its first message; then the process restarted."""
    from adapters.discord import sender as discord_sender
    from tests.fake_platform import Killed

    sending_more = discord_sender._send_more

    async def killed(*args, **kwargs) -> None:  # noqa: ANN002, ANN003
        raise Killed

    monkeypatch.setattr(discord_sender, "_send_more", killed)
    with pytest.raises(Killed):
        await app.digests.run_due(digest_id)
    monkeypatch.setattr(discord_sender, "_send_more", sending_more)


async def test_a_digest_over_two_messages_killed_after_the_first_is_completed_once(app, fake_discord, monkeypatch):
    """A digest over two messages (its embeds past one message's limits), the process killed after Discord took the
    first: whoever took the period over found the first message in the channel and recorded the digest posted, and
    the second, with half its links, never went out. The take-over sends the part missing, once, marked as the post's
    second part; a forget-me later edits both, the part sent later too, and nothing is posted anew."""
    async with running_bot(app, fake_discord) as bot:
        clock, digest_id = await long_digest_due(app, fake_discord, bot)
        await killed_after_the_first_message(app, digest_id, monkeypatch)
        [first] = fake_discord.messages[HELP]
        clock.now += runs.CLAIM_TIMEOUT + timedelta(minutes=1)
        fake_discord._ids = itertools.count(discord.utils.time_snowflake(clock.now))
        fake_discord.said_while_away({**first, "id": str(next(fake_discord._ids)), "content": "morning all",
                                      "embeds": [], "author": {**first["author"], "id": PETRA, "bot": False}})
        assert await app.digests.run_due(digest_id) == "posted"
        assert await app.digests.run_due(digest_id) == "skipped"
        posted = [m for m in fake_discord.messages[HELP] if m["embeds"]]
        assert [m["id"] for m in posted][0] == first["id"] and len(posted) == 2
        shown = shown_in(posted)
        assert all(shown.count(f"]({url})") == 1 for url in LONG_READS["asha"] + LONG_READS["petra"]), shown
        async with app.db.sessions() as s:
            key = f"digest:{digest_id}:{await s.scalar(select(DigestRun.period_key))}"
        assert posted[1]["embeds"][-1]["footer"]["text"] == first["embeds"][-1]["footer"]["text"] + " · part 2"
        assert posted[1]["nonce"] == nonce_of(f"{key}#2")

        async with app.db.sessions.begin() as s:  # Asha's notes named her, as the digest's kept copy says
            run = await s.scalar(select(DigestRun))
            assert (run.state, run.attempts) == ("posted", 2)
            run.posted = {**run.posted, "named": [[[ASHA if "/asha/" in line else PETRA
                                                    for line in [r["url"]]] for r in section["resources"]]
                                                  for section in run.posted["doc"]["sections"]]}
        await answer(fake_discord, bot, command("forget-me", [], user=ASHA, user_name="Asha Rao"))
        [edited] = await fake_discord.wait_for("PATCH", rf"/channels/{HELP}/messages/{first['id']}")
        await fake_discord.wait_for("DELETE", rf"/channels/{HELP}/messages/{posted[1]['id']}")  # what is left fits one
    assert len(fake_discord.find("POST", rf"/channels/{HELP}/messages")) == 2
    assert "asha" not in shown_in([edited.json]) and all(f"]({url})" in shown_in([edited.json])
                                                         for url in LONG_READS["petra"])


async def test_a_forum_digest_over_two_messages_killed_after_its_post_was_made_is_completed(app, fake_discord,
                                                                                            monkeypatch):
    """As in a channel, in a forum: the post (a thread) made with the digest's first message, the process killed before
    the second; the take-over finds the post among the forum's and sends the second message in it, once."""
    async with running_bot(app, fake_discord) as bot:
        clock, digest_id = await long_digest_due(app, fake_discord, bot, FORUM)
        await killed_after_the_first_message(app, digest_id, monkeypatch)
        [made] = fake_discord.find("POST", rf"/channels/{FORUM}/threads")
        thread = made.answer["id"]
        clock.now += runs.CLAIM_TIMEOUT + timedelta(minutes=1)
        assert await app.digests.run_due(digest_id) == "posted"
        assert await app.digests.run_due(digest_id) == "skipped"
    assert len(fake_discord.find("POST", rf"/channels/{FORUM}/threads")) == 1
    posted = fake_discord.messages[thread]
    assert len(posted) == 2 and posted[1]["embeds"][-1]["footer"]["text"].endswith(" · part 2")
    shown = shown_in(posted)
    assert all(shown.count(f"]({url})") == 1 for url in LONG_READS["asha"] + LONG_READS["petra"]), shown


async def test_a_posted_digest_over_two_messages_is_edited_without_a_forgotten_member(app, fake_discord):
    """A digest posted over two messages (its embeds past one message's limits) went on quoting a member after
    /forget-me: the notes she wrote on the links she saved. Its first message, found by the mark in its footer, is
    edited without her entries, mark kept; the message after it, which the rest ran over, is deleted (what is left fits
    one message): Petra's links stay, whole, and nothing of Asha's is shown."""
    ours = LONG_READS
    async with running_bot(app, fake_discord) as bot:
        clock, digest_id = await long_digest_due(app, fake_discord, bot)
        assert await app.digests.run_due(digest_id) == "posted"
        first, second = [m["id"] for m in fake_discord.messages[HELP]]
        shown = "\n".join(e.get("description") or "" for m in fake_discord.messages[HELP] for e in m["embeds"])
        assert "asha's reading" in shown and all(f"]({url})" in shown for url in ours["asha"] + ours["petra"])
        mark = fake_discord.messages[HELP][0]["embeds"][-1]["footer"]["text"]

        await answer(fake_discord, bot, command("forget-me", [], user=ASHA, user_name="Asha Rao"))
        [edited] = await fake_discord.wait_for("PATCH", rf"/channels/{HELP}/messages/{first}")
        await fake_discord.wait_for("DELETE", rf"/channels/{HELP}/messages/{second}")
    assert not fake_discord.find("PATCH", rf"/channels/{HELP}/messages/{second}")
    assert not fake_discord.find("POST", rf"/channels/{HELP}/messages")[2:]  # nothing posted anew
    shown = "\n".join(e.get("description") or "" for e in edited.json["embeds"])
    assert all(f"]({url})" in shown for url in ours["petra"])
    assert "asha" not in shown.lower() and "Asha" not in edited.json["content"]
    assert edited.json["embeds"][-1]["footer"]["text"] == mark
    assert edited.json["allowed_mentions"]["parse"] == []


async def test_a_digest_to_edit_in_a_channel_the_bot_may_no_longer_read_is_one_log_line(app, fake_discord, caplog):
    """/forget-me of a member a posted digest names, in a channel whose history the bot may no longer read: the edit
    cannot find the post. It is one log line saying what to give the bot, the member is answered, and nothing fails
    with a traceback."""
    async with running_bot(app, fake_discord) as bot:
        clock, digest_id = await digest_naming_asha(app, fake_discord, bot, HELP)
        fake_discord.refused.append(("GET", rf"/channels/{HELP}/messages"))
        with caplog.at_level(logging.WARNING):
            answered = await answer(fake_discord, bot, command("forget-me", [], user=ASHA))
            await fake_discord.wait_for("GET", rf"/channels/{HELP}/messages")
            for _ in range(100):  # what became of the edit is logged once Discord's answer is read
                if "EditPost" in caplog.text or errors_of_ours(caplog):
                    break
                await asyncio.sleep(0.05)
    assert "deleted" in answered["content"]
    assert "EditPost not delivered: I may not read that channel's history" in caplog.text, caplog.text
    assert not errors_of_ours(caplog), caplog.text
    assert not fake_discord.find("PATCH", rf"/channels/{HELP}/messages/\d+")


@pytest.mark.parametrize("channel", [HELP, FORUM])
async def test_a_posted_digest_is_edited_in_its_channel_or_forum_post(app, fake_discord, channel):
    """The edit after /forget-me finds the digest where it went: a text channel's message, or a forum's post (a thread
    whose first message carries the mark), and edits that message, mark kept."""
    async with running_bot(app, fake_discord) as bot:
        clock, digest_id = await digest_naming_asha(app, fake_discord, bot, channel)
        where = fake_discord.made_threads[0]["id"] if channel == FORUM else channel
        [first] = fake_discord.messages[where]
        await answer(fake_discord, bot, command("forget-me", [], user=ASHA))
        [edited] = await fake_discord.wait_for("PATCH", rf"/channels/{where}/messages/{first['id']}")
    assert "indexes-types" not in str(edited.json) and "taken out" in edited.json["content"]
    assert edited.json["embeds"][-1]["footer"] == first["embeds"][-1]["footer"]


async def test_the_bots_own_message_right_after_a_digest_is_not_taken_for_part_of_it(app, fake_discord):
    """The edit after /forget-me took the bot's own messages posted within a minute after a digest's first (another
    post of the bot's there) for the messages its embeds ran over: it wrote the digest's rest over them, or deleted
    them. The parts of a digest carry their mark now, and a message without one is none of them: it is left alone."""
    async with running_bot(app, fake_discord) as bot:
        clock, digest_id = await digest_naming_asha(app, fake_discord, bot, HELP)
        [first] = fake_discord.messages[HELP]
        other = {**first, "id": str(int(first["id"]) + 1), "content": "Mentoring round 3 starts Monday",
                 "embeds": [{"description": "Join with /mentoring join"}]}
        fake_discord.said_while_away(other)
        await answer(fake_discord, bot, command("forget-me", [], user=ASHA))
        await fake_discord.wait_for("PATCH", rf"/channels/{HELP}/messages/{first['id']}")
    assert not fake_discord.find("PATCH", rf"/channels/{HELP}/messages/{other['id']}")
    assert not fake_discord.find("DELETE", rf"/channels/{HELP}/messages/{other['id']}")


async def test_a_digest_edit_discord_fails_after_forget_me_is_kept_and_sent_by_the_outbox(app, fake_discord, caplog):
    """Discord failed the edit of the digest that named Asha when she asked to be forgotten (a 503): it was logged and
    never tried again, and what named her stayed posted. It is kept in the outbox, its live attempt the first, and the
    sweep five minutes later makes it."""
    from bot.db.models import OutboxAction
    from bot.outbox import RETRY_AFTER

    async with running_bot(app, fake_discord) as bot:
        clock, digest_id = await digest_naming_asha(app, fake_discord, bot, HELP)
        [first] = fake_discord.messages[HELP]
        edit = rf"/channels/{HELP}/messages/{first['id']}"
        fake_discord.failing.append(("PATCH", edit, 503, 1))
        with caplog.at_level(logging.WARNING):
            answered = await answer(fake_discord, bot, command("forget-me", [], user=ASHA))
            await fake_discord.wait_for("PATCH", edit)
            for _ in range(100):  # kept once Discord's answer is read
                if "outbox: EditPost on discord failed; kept" in caplog.text:
                    break
                await asyncio.sleep(0.05)
        assert "deleted" in answered["content"]
        assert "outbox: EditPost on discord failed; kept" in caplog.text, caplog.text
        async with app.db.sessions() as s:
            assert await s.scalar(select(OutboxAction.attempts)) == 1
        assert await app.outbox.send_due() == 0  # not due before its pause
        assert await app.outbox.send_due(utcnow() + RETRY_AFTER[0] + timedelta(minutes=1)) == 1
        _, edited = fake_discord.find("PATCH", edit)
    assert "indexes-types" not in str(edited.json) and "taken out" in edited.json["content"]
    async with app.db.sessions() as s:
        assert await s.scalar(select(OutboxAction.id)) is None


async def test_a_digest_edit_after_forget_me_of_a_post_or_channel_deleted_since_is_done(app, fake_discord, caplog):
    """The digest's first message deleted between finding it and editing it, or its channel deleted: Discord's 404 was
    taken as a failure, the edit kept and tried again for hours. There is nothing left to edit: it is done, one log
    line, nothing kept."""
    from bot.actions import EditPost
    from bot.db.models import OutboxAction
    from bot.outbox import MAX_ATTEMPTS, keep

    async with running_bot(app, fake_discord) as bot:
        clock, digest_id = await digest_naming_asha(app, fake_discord, bot, HELP)
        [first] = fake_discord.messages[HELP]
        edit = rf"/channels/{HELP}/messages/{first['id']}"
        fake_discord.failing.append(("PATCH", edit, 404, 1))  # deleted as it was found
        with caplog.at_level(logging.WARNING):
            await answer(fake_discord, bot, command("forget-me", [], user=ASHA))
            await fake_discord.wait_for("PATCH", edit)
            for _ in range(100):
                if "EditPost not delivered" in caplog.text:
                    break
                await asyncio.sleep(0.05)
        assert "EditPost not delivered: Discord message" in caplog.text, caplog.text
        async with app.db.sessions() as s:
            assert await s.scalar(select(OutboxAction.id)) is None

        # Kept by `connective forget` without the token, the channel deleted before the running bot sent it.
        async with app.db.sessions() as s:
            community_id = (await get_community(s, "discord", GUILD)).id
        now = utcnow()
        await keep(app.db, community_id, "discord", [EditPost(
            community=GUILD, channel=HELP, key=f"digest:{digest_id}:x", doc=Document(text="without Petra"),
            since=now - timedelta(days=1), until=now)], now)
        fake_discord.failing.append(("GET", rf"/channels/{HELP}/messages", 404, 2 * MAX_ATTEMPTS))
        read = len(fake_discord.find("GET", rf"/channels/{HELP}/messages"))
        for minutes in range(0, 60 * 6, 5):
            await app.outbox.send_due(now + timedelta(minutes=minutes))
    assert len(fake_discord.find("GET", rf"/channels/{HELP}/messages")) == read + 1
    async with app.db.sessions() as s:
        assert await s.scalar(select(OutboxAction.id)) is None
    assert "given up" not in caplog.text
