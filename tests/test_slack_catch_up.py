"""What was said while the bot was away, on Slack: Socket Mode delivers nothing while no socket is connected, and in
HTTP mode Slack gives up on an event after its retries. The real slack_sdk client against the fake Slack Web API
(users.conversations, conversations.history, conversations.replies), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from adapters.slack.listeners import SlackAdapter
from adapters.slack.runner import web_client
from bot.app import App
from bot.db.models import Message
from bot.services import catch_up_marks
from tests.exports import TEAM, THREADS, USERS, write_slack_export
from tests.slack_fake import FakeSlack

TOKEN = "xoxb-test-token"
GENERAL, RANDOM, LEFT, SECRET = "C0GENERAL", "C0RANDOM", "C0LEFT", "G0SECRET"
DAY = 86_400.0


@dataclass
class Away:
    app: App
    fake: FakeSlack
    adapter: SlackAdapter
    history_start: float  # the first imported message's time (seconds)

    def ts(self, seconds_ago: float) -> str:
        return f"{time.time() - seconds_ago:.6f}"

    def said(self, channel: str, text: str, *, by: str = "UASK1", ago: float, thread: str | None = None,
             **extra: Any) -> str:
        """A message said on Slack (while the bot was away, unless older than what is stored); returns its ts."""
        ts = self.ts(ago)
        message = {"type": "message", "user": by, "text": text, "ts": ts, **extra}
        if thread:
            message["thread_ts"] = thread
        self.fake.history.setdefault(channel, []).append(message)
        return ts

    async def restart(self) -> None:
        """The bot starts again: it catches up up to now."""
        await self.adapter.catch_up(datetime.now(UTC))
        await self.adapter.idle()

    def posts(self) -> list[dict[str, Any]]:
        """What the bot said (an answer to a mention is ephemeral, to the asker)."""
        return self.fake.of("chat.postMessage") + self.fake.of("chat.postEphemeral")


def _people() -> dict[str, dict[str, Any]]:
    return {uid: {"id": uid, "name": name.lower(), "real_name": name, "tz": "Europe/Berlin", "is_bot": False,
                  "profile": {"display_name": name}} for uid, name in USERS.items()}


@pytest.fixture
async def away(app, tmp_path, monkeypatch) -> AsyncIterator[Away]:
    """A workspace whose history up to about two days ago is stored (an import), with the bot in #general and
    #random (where nothing is stored yet) and in a private channel no admin turned on. A connected replica says so
    every 50 ms (catch_up_marks.BEAT)."""
    monkeypatch.setattr(catch_up_marks, "BEAT", timedelta(milliseconds=50))
    monkeypatch.setattr(catch_up_marks, "POLL", timedelta(milliseconds=10))
    start = time.time() - 2 * DAY
    await app.importer.import_slack(write_slack_export(tmp_path / "export", USERS, THREADS, start=start))
    fake = await FakeSlack(team_id=TEAM, people=_people(), channels={GENERAL: "general", RANDOM: "random"},
                           member_of=[{"id": GENERAL, "name": "general", "is_channel": True, "is_private": False},
                                      {"id": RANDOM, "name": "random", "is_channel": True, "is_private": False},
                                      {"id": SECRET, "name": "secret", "is_group": True, "is_private": True}],
                           retry_after=1).start()
    # What Slack lists of the imported history (the bot stored it): the catch-up looks it through for threads.
    for n, thread in enumerate(THREADS):
        root = f"{start + n * 3600:.6f}"
        for i, (user, text) in enumerate(thread):
            fake.history.setdefault(GENERAL, []).append(
                {"type": "message", "user": user, "text": text, "ts": f"{start + n * 3600 + i * 60:.6f}",
                 **({"thread_ts": root} if len(thread) > 1 else {})})
    fake.history.setdefault(RANDOM, [])
    adapter = await SlackAdapter.connect(app, web_client(TOKEN, f"{fake.url}/api"), signing_secret="secret")
    app.core.senders["slack"] = adapter.sender
    yield Away(app, fake, adapter, start)
    await adapter.idle()
    await fake.stop()


async def _stored(app: App) -> list[Message]:
    async with app.db.sessions() as s:
        return list(await s.scalars(select(Message).order_by(Message.id)))


def _texts(messages: list[Message]) -> list[str]:
    return [m.text for m in messages]


async def test_what_was_said_while_the_bot_was_away_is_stored_once_in_order(away, caplog):
    caplog.set_level(logging.INFO)
    before = len(await _stored(away.app))
    vacuum = away.fake.history[GENERAL][3]["ts"]  # a thread of the imported history, two days old
    away.said(GENERAL, "has anyone tried pg_repack instead of VACUUM FULL?", ago=3000)
    away.said(GENERAL, "pg_repack works online, it needs a primary key", by="UPG", ago=2900,
              thread=away.fake.history[GENERAL][-1]["ts"])
    away.said(GENERAL, "and autovacuum_naptime helps too", by="UPG", ago=2800, thread=vacuum)  # an older thread
    away.said(GENERAL, "the bot's own answer", by="UBOT", ago=2700, bot_id="BBOT")
    away.said(GENERAL, "<@UASK1> has joined the channel", by="UASK1", ago=2600, subtype="channel_join")
    away.said(RANDOM, "Welcome to the new members!", by="UREG", ago=2500)
    away.said(SECRET, "private plans", ago=2400)
    away.said(LEFT, "said where the bot is not", ago=2300)

    await away.restart()

    stored = await _stored(away.app)
    assert _texts(stored[before:]) == [
        "has anyone tried pg_repack instead of VACUUM FULL?",  # #general, oldest first
        "and autovacuum_naptime helps too",  # then its threads, by their start: a reply to a two-day-old one
        "pg_repack works online, it needs a primary key",  # and the new one's
        "Welcome to the new members!",  # #random: nothing stored there before; after the newest stored anywhere
    ]
    by_text = {m.text: m for m in stored}
    assert by_text["and autovacuum_naptime helps too"].thread_external_id == vacuum
    assert by_text["pg_repack works online, it needs a primary key"].permalink.startswith(
        "https://acme.slack.com/archives/C0GENERAL/p")
    read = [c["channel"] for c in away.fake.of("conversations.history")]
    assert read == [GENERAL, RANDOM]  # not the private channel, not the channel the bot is not in
    assert not away.posts()
    assert f"Slack workspace {TEAM}: caught up 4 message(s) said while the bot was away, in 2 channel(s)" \
        in caplog.text
    assert "left:" not in caplog.text

    await away.restart()  # a second start adds nothing
    assert len(await _stored(away.app)) == len(stored)
    assert not away.posts()


async def test_a_question_asked_minutes_before_the_restart_is_answered_once_an_older_one_not(away, caplog):
    caplog.set_level(logging.INFO)
    away.said(GENERAL, "<@UBOT> who knows about css grid?", by="UASK2", ago=3600)  # an hour before
    away.said(GENERAL, "<@UBOT> help", by="UASK2", ago=3500)
    recent = away.said(GENERAL, "<@UBOT> who knows kubernetes rollouts?", ago=120)
    await away.restart()
    [answer] = away.posts()
    assert answer["channel"] == GENERAL and answer["user"] == "UASK1"
    assert "<@UK8S>" in json.dumps(answer)
    assert "was asked while the bot was away" in caplog.text

    await away.restart()  # fetched again: not answered again
    assert len(away.posts()) == 1
    # Slack's late retry of the same question (HTTP mode) answers nothing more either.
    body = {"type": "event_callback", "team_id": TEAM, "event_id": "Ev0LATERETRY",
            "event": {"type": "app_mention", "user": "UASK1", "channel": GENERAL, "ts": recent,
                      "text": "<@UBOT> who knows kubernetes rollouts?"}}
    await away.adapter.on_event(body)
    assert len(away.posts()) == 1
    assert not [m for m in await _stored(away.app) if "who knows" in m.text]  # questions are not stored


async def test_a_question_answered_live_before_the_restart_is_not_answered_again(away):
    """A question is not stored, so the fetch after the restart starts before it."""
    asked = away.said(GENERAL, "<@UBOT> who knows kubernetes rollouts?", ago=60)
    body = {"type": "event_callback", "team_id": TEAM, "event_id": "Ev0LIVEASK",
            "event": {"type": "app_mention", "user": "UASK1", "channel": GENERAL, "ts": asked,
                      "text": "<@UBOT> who knows kubernetes rollouts?"}}
    await away.adapter.on_event(body)
    assert len(away.posts()) == 1
    await away.restart()
    assert len(away.posts()) == 1


async def test_a_rate_limited_read_is_retried_and_a_failing_channel_is_one_warning(away, caplog):
    caplog.set_level(logging.INFO)
    away.fake.member_of.insert(1, {"id": LEFT, "name": "archive", "is_channel": True, "is_private": False})
    away.fake.unreadable[LEFT] = "not_in_channel"
    away.fake.rate_limited["conversations.history"] = 1
    away.said(GENERAL, "pg_repack works online", by="UPG", ago=300)
    away.said(RANDOM, "Welcome to the new members!", by="UREG", ago=200)
    await away.restart()
    assert _texts(await _stored(away.app))[-2:] == ["pg_repack works online", "Welcome to the new members!"]
    assert [c.method for c in away.fake.calls if "conversations.history" in c.method][:2] == [
        "429:conversations.history", "conversations.history"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        f"catching up #archive ({LEFT}) in Slack workspace {TEAM} failed after 0 message(s): not_in_channel"]
    assert f"left: #archive ({LEFT}) failed (`connective import slack` brings the rest)" in caplog.text


async def test_a_private_channel_an_admin_turned_on_is_read(away):
    admin = "UADMIN"
    away.fake.people[admin] = {"id": admin, "name": "admin", "is_admin": True, "profile": {"display_name": "Ad"}}
    from bot import events as ev

    turned_on = ev.CommandInvoked(community=TEAM, platform="slack", user=admin, channel=GENERAL, name="settings",
                                  args=f"ingest <#{SECRET}|secret> on", is_admin=True)
    await away.app.core.handle(turned_on)
    away.said(SECRET, "private plans, read by consent", ago=300)
    await away.restart()
    assert "private plans, read by consent" in _texts(await _stored(away.app))


async def test_a_first_run_fetches_nothing(app):
    """A workspace with nothing stored: its past comes from an import, not from a restart."""
    fake = await FakeSlack(team_id=TEAM, member_of=[{"id": GENERAL, "name": "general", "is_private": False}],
                           history={GENERAL: [{"type": "message", "user": "UASK1", "text": "hello",
                                               "ts": f"{time.time() - 60:.6f}"}]}).start()
    try:
        adapter = await SlackAdapter.connect(app, web_client(TOKEN, f"{fake.url}/api"), signing_secret="secret")
        await adapter.catch_up(datetime.now(UTC))
        assert not fake.of("conversations.history")
        assert await _stored(app) == []
    finally:
        await fake.stop()


async def test_socket_mode_catches_up_once_connected(away):
    """`run(app)` in Socket Mode: once the socket says hello, what was said while away is fetched, in the
    background; and again after a reconnect."""
    from adapters.slack.runner import run

    away.app.settings = away.app.settings.model_copy(update={
        "slack_bot_token": SecretStr(TOKEN), "slack_app_token": SecretStr("xapp-test"),
        "slack_api_url": f"{away.fake.url}/api/"})
    away.said(GENERAL, "said while no socket was connected", by="UPG", ago=30)
    running = asyncio.ensure_future(run(away.app))
    try:
        await away.fake.wait_for("conversations.history")
        for _ in range(1000):
            if "said while no socket was connected" in _texts(await _stored(away.app)):
                break
            await asyncio.sleep(0.02)
        assert _texts(await _stored(away.app))[-1] == "said while no socket was connected"
        # Slack drops the socket; what is said before slack_sdk has connected again is fetched once it has.
        await away.fake.close_sockets()
        away.said(GENERAL, "said while the socket was reconnecting", by="UPG", ago=0)
        await away.fake.wait_for("conversations.history", count=2)
        for _ in range(1000):
            if "said while the socket was reconnecting" in _texts(await _stored(away.app)):
                break
            await asyncio.sleep(0.02)
        assert _texts(await _stored(away.app))[-2:] == ["said while no socket was connected",
                                                        "said while the socket was reconnecting"]
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_http_mode_catches_up_once_listening(away):
    """`run(app)` in HTTP mode: Slack gave up on the events it could not deliver; they are fetched once the bot
    listens, in the background."""
    import socket

    from adapters.slack.runner import run

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    away.app.settings = away.app.settings.model_copy(update={
        "slack_bot_token": SecretStr(TOKEN), "slack_signing_secret": SecretStr("secret"), "http_port": port,
        "slack_api_url": f"{away.fake.url}/api/"})
    away.said(GENERAL, "said while Slack could not reach the bot", by="UPG", ago=30)
    running = asyncio.ensure_future(run(away.app))
    try:
        await away.fake.wait_for("conversations.history")
        for _ in range(1000):
            if "said while Slack could not reach the bot" in _texts(await _stored(away.app)):
                break
            await asyncio.sleep(0.02)
        assert _texts(await _stored(away.app))[-1] == "said while Slack could not reach the bot"
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_the_bounds_read_the_newest_and_one_line_says_what_was_left(away, caplog, monkeypatch):
    """At most PER_CHANNEL messages a channel (Slack lists the newest first: those are read) and PER_WORKSPACE in
    all; what was left is named in the log line, and an import brings it."""
    from adapters.slack import catch_up

    caplog.set_level(logging.INFO)
    monkeypatch.setattr(catch_up, "PER_CHANNEL", 2)
    monkeypatch.setattr(catch_up, "PER_WORKSPACE", 3)
    monkeypatch.setattr(catch_up, "PAGE", 2)
    away.fake.member_of.append({"id": "C0THIRD", "name": "third", "is_channel": True, "is_private": False})
    for n in range(3):
        away.said(GENERAL, f"general {n}", ago=600 - n)
    away.said(RANDOM, "random 0", ago=500)
    away.said(RANDOM, "random 1", ago=499)
    away.said("C0THIRD", "third 0", ago=400)
    await away.restart()
    assert _texts(await _stored(away.app))[-3:] == ["general 1", "general 2", "random 1"]
    assert f"Slack workspace {TEAM}: caught up 3 message(s) said while the bot was away, in 2 channel(s); left: " \
        f"the earlier messages or threads of #general ({GENERAL}), #random ({RANDOM}) (at most 2 a channel are " \
        "read, the newest, with the replies of 50 threads); #third (C0THIRD) not read (3 in all were) " \
        "(`connective import slack` brings the rest)" in caplog.text
    assert "C0THIRD" not in [c["channel"] for c in away.fake.of("conversations.history")]


async def test_channels_slack_will_not_list_are_one_warning(away, caplog):
    """An app made without a scope users.conversations needs: one line, no traceback, and the bot runs on."""
    away.fake.refused["users.conversations"] = "missing_scope"
    away.said(GENERAL, "pg_repack works online", by="UPG", ago=300)
    await away.restart()
    assert [(r.levelno, r.getMessage(), r.exc_info) for r in caplog.records if r.levelno >= logging.WARNING] == [
        (logging.WARNING, f"catching up Slack workspace {TEAM} failed: listing the channels the bot is in "
         "(users.conversations) answered missing_scope", None)]


async def test_reactions_given_while_away_to_a_message_said_then_are_kept(away):
    """They weigh the answer and its links: the history lists who gave each."""
    from bot.db.models import Reaction

    away.said(GENERAL, "pg_repack works online: https://reorg.github.io/pg_repack/", by="UPG", ago=300,
              reactions=[{"name": "+1", "users": ["UASK1", "UK8S"], "count": 2},
                         {"name": "bookmark", "users": ["UASK2"], "count": 1}])
    await away.restart()
    await away.restart()
    async with away.app.db.sessions() as s:
        message = await s.scalar(select(Message).where(Message.text.like("pg_repack works online%")))
        given = sorted((r.name, r.user_external_id) for r in await s.scalars(
            select(Reaction).where(Reaction.message_id == message.id)))
    assert given == [("+1", "UASK1"), ("+1", "UK8S"), ("bookmark", "UASK2")]


async def test_a_question_cut_off_while_being_answered_is_answered_when_its_event_comes_again(away, monkeypatch):
    """A process that dies while ranking (SIGKILL; here the handling cancelled) answered nothing: the inbox's replay
    of the event, or the history after a restart, still answers it. Only an answer ready counts as given."""
    from bot import events as ev

    asked = away.said(GENERAL, "<@UBOT> who knows kubernetes rollouts?", ago=60)
    question = ev.MessagePosted(community=TEAM, platform="slack", user="UASK1", channel=GENERAL, event_id="Ev0CUT",
                                message_id=asked, text="<@UBOT> who knows kubernetes rollouts?", mentions_bot=True,
                                time=datetime.fromtimestamp(float(asked), UTC))
    rank, ranking = away.app.expertise.rank, asyncio.Event()

    async def cut_off(*args: Any, **kwargs: Any) -> Any:
        ranking.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(away.app.expertise, "rank", cut_off)
    handling = asyncio.ensure_future(away.app.core.handle(question))
    await ranking.wait()
    handling.cancel()
    await asyncio.gather(handling, return_exceptions=True)
    monkeypatch.setattr(away.app.expertise, "rank", rank)
    await away.restart()
    [answer] = away.posts()
    assert "<@UK8S>" in json.dumps(answer)


async def test_a_thread_that_cannot_be_read_is_one_warning_and_the_other_threads_are_read(away, caplog, monkeypatch):
    """conversations.replies refused for one thread (its parent deleted meanwhile): the channel's other threads go
    on."""
    first = away.said(GENERAL, "thread one", ago=900)
    second = away.said(GENERAL, "thread two", ago=800)
    away.said(GENERAL, "a reply to one", by="UPG", ago=700, thread=first)
    away.said(GENERAL, "a reply to two", by="UPG", ago=600, thread=second)
    real = away.fake._read

    def refusing(method: str, body: dict[str, Any]) -> dict[str, Any]:
        if method == "conversations.replies" and body.get("ts") == first:
            return {"ok": False, "error": "thread_not_found"}
        return real(method, body)

    monkeypatch.setattr(away.fake, "_read", refusing)
    await away.restart()
    assert _texts(await _stored(away.app))[-3:] == ["thread one", "thread two", "a reply to two"]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        f"catching up the thread {first} of #general ({GENERAL}) in Slack workspace {TEAM} failed: thread_not_found"]


async def test_a_stop_during_a_catch_up_ends_it(away):
    """A stop (SIGTERM) while the catch-up waits out Slack's Retry-After: `run` ends and leaves no catch-up running
    on, sending requests and writing to a database being closed."""
    from adapters.slack.runner import run

    away.app.settings = away.app.settings.model_copy(update={
        "slack_bot_token": SecretStr(TOKEN), "slack_app_token": SecretStr("xapp-test"),
        "slack_api_url": f"{away.fake.url}/api/"})
    away.fake.rate_limited["conversations.history"] = 1
    away.fake.retry_after = 30
    running = asyncio.ensure_future(run(away.app))
    try:
        await away.fake.wait_for("429:conversations.history")
    finally:
        running.cancel()
        await asyncio.wait_for(asyncio.gather(running, return_exceptions=True), 10)
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "connective-slack-catch-up" and not t.done()]


async def test_a_channel_is_stored_in_one_batch_its_texts_encoded_together(away, monkeypatch):
    """Handed to the core one at a time, each message of the gap was a transaction, an encode and a write of its own:
    2,000 messages took 49 s on SQLite and 105 s on PostgreSQL, against 18 s and 38 s in one batch
    (tests/benchmarks/bench_catch_up.py)."""
    stores: list[int] = []
    store = away.app.ingest.store

    async def counted(community_id: int, messages: list, **kwargs: Any) -> Any:
        stores.append(len(messages))
        return await store(community_id, messages, **kwargs)

    monkeypatch.setattr(away.app.ingest, "store", counted)
    before = len(await _stored(away.app))
    root = away.said(GENERAL, "which postgres extension repacks a table online?", ago=900)
    for n in range(12):
        away.said(GENERAL, f"answer {n}: pg_repack rebuilds table {n} without an exclusive lock", by="UPG",
                  ago=800 - n)
    away.said(GENERAL, "pg_repack needs a primary key on the table", by="UPG", ago=700, thread=root)
    await away.restart()
    assert len(await _stored(away.app)) == before + 14
    assert stores == [14]  # #general's messages and its thread's reply in one write (#random said nothing)


async def test_members_who_opted_out_or_were_forgotten_are_not_caught_up(away):
    """Consent is read where the batch is stored: nothing said or given while away by a member who opted out, or who
    was forgotten, is stored; their reaction to another's message neither."""
    from bot import events as ev
    from bot.db.models import Reaction

    for user, command in (("UASK2", "optout"), ("UCSS", "forget-me")):
        await away.app.core.handle(ev.CommandInvoked(community=TEAM, platform="slack", user=user, channel=GENERAL,
                                                     name=command, args=""))
    before = len(await _stored(away.app))
    away.said(GENERAL, "my pods restart every night, any idea why?", by="UASK2", ago=600)
    away.said(GENERAL, "grid-template-areas makes this layout easy", by="UCSS", ago=500)
    away.said(GENERAL, "kubectl describe pod shows the last state: OOMKilled", by="UK8S", ago=400,
              reactions=[{"name": "+1", "users": ["UASK2", "UCSS", "UASK1"], "count": 3}])
    await away.restart()
    stored = await _stored(away.app)
    assert _texts(stored[before:]) == ["kubectl describe pod shows the last state: OOMKilled"]
    async with away.app.db.sessions() as s:
        given = [(r.name, r.user_external_id) for r in await s.scalars(
            select(Reaction).where(Reaction.message_id == stored[-1].id))]
    assert given == [("+1", "UASK1")]


async def _replica(away: Away, db_url: str, embedder: Any) -> SlackAdapter:
    """Another replica of the bot, on the same database, against the same Slack."""
    from bot.app import build_app
    from bot.settings import Settings

    other = build_app(Settings(database_url=db_url), embedder=embedder)
    adapter = await SlackAdapter.connect(other, web_client(TOKEN, f"{away.fake.url}/api"), signing_secret="secret")
    other.core.senders["slack"] = adapter.sender
    return adapter


async def _beating(adapter: SlackAdapter, connection: object) -> None:
    """The runner's job while the connection is up."""
    while True:
        await adapter.beat(connection, datetime.now(UTC))
        await asyncio.sleep(catch_up_marks.BEAT.total_seconds())


async def test_two_replicas_connecting_after_a_downtime_fetch_the_history_once(away, db_url, embedder, caplog):
    """A deploy: both replicas connect at once. One catches up; the other waits for it and then finds the time it
    connected covered. Each fetched every channel (conversations.history, Tier 3) at every connection."""
    caplog.set_level(logging.INFO)
    other = await _replica(away, db_url, embedder)
    before = len(await _stored(away.app))
    away.said(GENERAL, "pg_repack works online, it needs a primary key", by="UPG", ago=600)
    away.said(RANDOM, "Welcome to the new members!", by="UREG", ago=500)
    beats = []
    try:
        for adapter in (away.adapter, other):
            connection = object()
            adapter.connected(connection)
            beats.append(asyncio.ensure_future(_beating(adapter, connection)))
        await asyncio.gather(away.adapter.catch_ups.done(), other.catch_ups.done())
        await asyncio.gather(away.adapter.idle(), other.idle())
    finally:
        for beat in beats:
            beat.cancel()
        await asyncio.gather(*beats, return_exceptions=True)
        await other.app.close()
    assert [c["channel"] for c in away.fake.of("conversations.history")] == [GENERAL, RANDOM]
    assert _texts((await _stored(away.app))[before:]) == ["pg_repack works online, it needs a primary key",
                                                          "Welcome to the new members!"]
    assert f"slack {TEAM}: waiting for the catch-up under way in another process" in caplog.text


async def test_a_replica_reconnecting_while_another_is_connected_fetches_nothing(away, db_url, embedder, caplog,
                                                                                   monkeypatch):
    """Socket Mode reconnects every few hours: what was said meanwhile came to the replica still connected."""
    # The reconnecting replica waits two beats for the mark to move past its connection: at 50 ms a beat, a beat's
    # write 60 ms slower (a busy machine) was past that, and it fetched the history.
    monkeypatch.setattr(catch_up_marks, "BEAT", timedelta(milliseconds=250))
    caplog.set_level(logging.INFO)
    other = await _replica(away, db_url, embedder)
    connection = object()
    beat = None
    try:
        away.adapter.connected(connection)
        beat = asyncio.ensure_future(_beating(away.adapter, connection))
        await away.adapter.catch_ups.done()
        read = len(away.fake.of("conversations.history"))
        await asyncio.sleep(catch_up_marks.BEAT.total_seconds() * 3)
        other.connected(object())  # its socket dropped and came back
        await other.catch_ups.done()
    finally:
        if beat is not None:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)
        await other.app.close()
    assert read == 2 and len(away.fake.of("conversations.history")) == read
    assert f"Slack workspace {TEAM}: nothing to catch up, what was said before this connection is in hand" \
        in caplog.text


async def test_a_reconnect_reads_from_when_the_last_connection_was_up_not_a_day_before_the_newest_message(
        away, monkeypatch):
    """A quiet workspace: its newest message is two days old. Each connection looked a day before it through for
    threads (up to 1,000 messages a channel), at every reconnect; once caught up, a reconnect reads minutes."""
    from adapters.slack import catch_up

    monkeypatch.setattr(catch_up, "PAGE", 2)
    await away.restart()
    first = len(away.fake.of("conversations.history"))
    assert first > 2  # the day before the newest message of #general, two messages a page
    away.said(GENERAL, "pg_repack works online", by="UPG", ago=0)
    await away.restart()
    assert len(away.fake.of("conversations.history")) == first + 2  # a page a channel
    assert _texts(await _stored(away.app))[-1] == "pg_repack works online"


async def test_a_channel_that_failed_is_read_again_at_the_next_connection(away):
    """What a catch-up could not fetch is not taken as in hand: the next connection reads from where it was."""
    away.fake.unreadable[GENERAL] = "internal_error"
    away.said(GENERAL, "pg_repack works online", by="UPG", ago=300)
    await away.restart()
    assert "pg_repack works online" not in _texts(await _stored(away.app))
    del away.fake.unreadable[GENERAL]
    await asyncio.sleep(0.2)  # later than the two beats the next connection waits for
    await away.restart()
    assert _texts(await _stored(away.app))[-1] == "pg_repack works online"


async def test_what_was_said_while_the_database_did_not_answer_is_caught_up_once_it_does(away, monkeypatch, caplog):
    """Slack was answered 503 meanwhile and gave up after its retries: the connection stayed up, but what came
    through it was not kept. It is fetched once the database answers, without a reconnect."""
    connection = object()
    away.adapter.connected(connection)
    await away.adapter.catch_ups.done()
    beat = away.adapter.marks.beat

    async def unreachable(*args: Any, **kwargs: Any) -> bool:
        raise ConnectionRefusedError(111, "Connect call failed")

    monkeypatch.setattr(away.adapter.marks, "beat", unreachable)
    await away.adapter.beat(connection, datetime.now(UTC))
    away.said(GENERAL, "pg_repack works online", by="UPG", ago=0)  # Slack gave up on its event
    await asyncio.sleep(0.2)
    monkeypatch.setattr(away.adapter.marks, "beat", beat)
    await away.adapter.beat(connection, datetime.now(UTC))  # the database answers again
    await away.adapter.catch_ups.done()
    await away.adapter.idle()
    assert _texts(await _stored(away.app))[-1] == "pg_repack works online"
    assert "the catch-up mark could not be kept (ConnectionRefusedError)" in caplog.text


async def test_a_reply_while_away_to_a_thread_older_than_a_day_still_going_on_is_caught_up(away):
    """Slack lists a thread's latest reply only with its first message, and the catch-up looked through the day
    before the gap: a conversation started two days ago that goes on was cut off at every restart."""
    vacuum = away.fake.history[GENERAL][3]["ts"]  # a thread of the imported history, two days old
    away.said(GENERAL, "anyone at the meetup tonight?", by="UREG", ago=900)
    await away.restart()  # the channel's newest stored message is now minutes old
    away.said(GENERAL, "and autovacuum_naptime helps too", by="UPG", ago=0, thread=vacuum)
    await asyncio.sleep(0.2)
    await away.restart()
    stored = await _stored(away.app)
    assert _texts(stored)[-1] == "and autovacuum_naptime helps too"
    assert stored[-1].thread_external_id == vacuum


async def test_a_message_edited_while_the_bot_was_away_is_stored_as_edited(away):
    """Slack told the edit (message_changed) to nobody: the stored text stayed the one its author corrected. The
    messages looked through before the gap carry when they were last edited."""
    edited = away.fake.history[GENERAL][3]  # a question of the imported history, stored two days ago
    edited["text"] = "Vacuum never finishes on a big postgres table (40 GB), autovacuum seems stuck"
    edited["edited"] = {"user": edited["user"], "ts": away.ts(300)}
    said_to_the_bot = away.fake.history[GENERAL][5]
    said_to_the_bot["text"] = "<@UBOT> who knows kubernetes rollouts?"
    said_to_the_bot["edited"] = {"user": said_to_the_bot["user"], "ts": away.ts(200)}
    await away.restart()
    async with away.app.db.sessions() as s:
        stored = await s.scalar(select(Message).where(Message.external_id == edited["ts"]))
        asked = await s.scalar(select(Message).where(Message.external_id == said_to_the_bot["ts"]))
    assert stored.text == edited["text"] and stored.edited_at is not None
    assert "who knows" not in asked.text and not away.posts()  # an edit into a question is not answered


async def test_a_channel_slack_refuses_does_not_make_every_connection_read_the_rest_again(away, monkeypatch):
    """Refused (not_in_channel, a thread gone), it would be refused again: the others are in hand all the same."""
    from adapters.slack import catch_up

    monkeypatch.setattr(catch_up, "PAGE", 2)
    away.fake.member_of.insert(1, {"id": LEFT, "name": "archive", "is_channel": True, "is_private": False})
    away.fake.unreadable[LEFT] = "not_in_channel"
    await away.restart()
    first = len(away.fake.of("conversations.history"))
    await asyncio.sleep(0.2)
    await away.restart()
    assert len(away.fake.of("conversations.history")) == first + 3  # a page a channel


async def test_a_public_channel_slack_no_longer_shows_the_bot_is_hidden_with_its_messages_kept(away, caplog):
    """A public channel deleted, or made private without the bot, while it was down (Slack answers the same
    channel_not_found for both): no event came, and its messages stayed stored, quoted as evidence with dead links.
    The catch-up finds it (not listed by conversations.list, channel_not_found) and stores it private: its messages
    kept (deleted, those of a channel made private were lost for good) and no longer shown outside it, its digest
    paused as at the bot's removal. An archived channel, a public one the bot was removed from, and a private one Slack
    no longer shows the bot keep theirs as they were. Only the channel not listed is asked for."""
    from bot import events as ev
    from bot.db.models import Channel
    from bot.db.resources import Digest

    caplog.set_level(logging.INFO)
    admin = "UADMIN"
    away.fake.people[admin] = {"id": admin, "name": "admin", "is_admin": True, "profile": {"display_name": "Ad"}}
    gone, archived, out = "C0GONE", "C0ARCHIVED", "C0OUT"
    for channel in (gone, archived, out):
        away.fake.member_of.append({"id": channel, "name": channel.lower(), "is_channel": True, "is_private": False})
        away.fake.channels[channel] = channel.lower()
        away.said(channel, f"postgres vacuum tuning notes kept in {channel}", ago=600)
    await away.app.core.handle(ev.CommandInvoked(
        community=TEAM, platform="slack", user=admin, channel=GENERAL, name="settings",
        args=f"ingest <#{SECRET}|secret> on", is_admin=True))
    away.said(SECRET, "postgres vacuum tuning notes kept in private", ago=600)
    await away.app.core.handle(ev.CommandInvoked(
        community=TEAM, platform="slack", user=admin, channel=GENERAL, name="digest",
        args=f"subscribe <#{gone}|gone> 0 9 * * mon tz=UTC", is_admin=True))
    await away.restart()
    kept = [t for t in _texts(await _stored(away.app)) if "vacuum tuning notes kept" in t]
    assert len(kept) == 4

    # While the bot was away: one deleted, one archived, the bot removed from one; the private one the bot no
    # longer sees.
    del away.fake.channels[gone]
    away.fake.member_of = away.fake.member_of[:2]
    away.fake.listed_channels = [{"id": GENERAL, "name": "general"}, {"id": RANDOM, "name": "random"},
                                 {"id": archived, "name": "c0archived", "is_archived": True},
                                 {"id": out, "name": "c0out"}]
    away.fake.calls.clear()
    await away.restart()

    left = [t for t in _texts(await _stored(away.app)) if "vacuum tuning notes kept" in t]
    assert sorted(left) == sorted(kept)
    async with away.app.db.sessions() as session:
        assert await session.scalar(select(Digest.paused)) == ev.LEFT
        private = dict((await session.execute(select(Channel.external_id, Channel.is_private))).all())
    assert private[gone] and not private[archived] and not private[out]
    assert [c["channel"] for c in away.fake.of("conversations.info")] == [gone]
    assert len(away.fake.of("conversations.list")) == 1
    assert f"made private without it, while it was away: {gone}); stored as private" in caplog.text

    away.fake.calls.clear()
    await away.restart()  # found once: nothing of it is asked for again
    assert not away.fake.of("conversations.info")


async def test_a_channel_archived_while_the_bot_was_away_pauses_its_digest(away):
    """A channel archived while the bot was down (no channel_archive came) kept its digest going: each period was
    refused (is_archived), tried again for hours and its admin told every period, where a live archive pauses it and
    tells them once. The catch-up finds it archived (the bot no longer lists it among its channels; conversations.info
    says so) and pauses it as the live event does, once; unarchived while away, it goes on."""
    from bot import events as ev
    from bot.db.resources import Digest

    admin, archived = "UADMIN", "C0ARCHIVED"
    away.fake.people[admin] = {"id": admin, "name": "admin", "is_admin": True, "profile": {"display_name": "Ad"}}
    away.fake.member_of.append({"id": archived, "name": "c0archived", "is_channel": True, "is_private": False})
    away.fake.channels[archived] = "c0archived"
    away.said(archived, "postgres vacuum tuning notes kept in the archive", ago=600)
    await away.app.core.handle(ev.CommandInvoked(
        community=TEAM, platform="slack", user=admin, channel=GENERAL, name="digest",
        args=f"subscribe <#{archived}|c0archived> 0 9 * * mon tz=UTC", is_admin=True))
    await away.restart()

    async def paused() -> str:
        async with away.app.db.sessions() as session:
            return await session.scalar(select(Digest.paused))

    def told() -> list[str]:
        return [str(m) for m in away.fake.of("chat.postMessage") if m.get("channel") in (admin, f"D{admin}")]

    assert await paused() == ""
    # While the bot was away: archived (users.conversations leaves it out).
    away.fake.member_of = [c for c in away.fake.member_of if c["id"] != archived]
    away.fake.archived.add(archived)
    await away.restart()
    assert await paused() == ev.ARCHIVED
    assert [m for m in told() if "archived" in m], told()
    before = len(told())
    await away.restart()  # still archived: not told again, not asked again
    assert await paused() == ev.ARCHIVED and len(told()) == before

    away.fake.member_of.append({"id": archived, "name": "c0archived", "is_channel": True, "is_private": False})
    away.fake.archived.clear()
    await away.restart()
    assert await paused() == ""


async def test_a_message_deleted_while_the_bot_was_away_in_the_stretch_read_again_is_deleted(away):
    """The catch-up looks the day before each channel's gap through again (for threads and edits): a message stored
    there that Slack no longer lists, or lists as a tombstone (deleted with replies left), was deleted while the bot was
    away, and is deleted here as at a live message_deleted. One older than that stretch is left (not known either
    way); one still listed stays."""
    from bot.db.models import DeletedMessage

    kept = away.said(GENERAL, "postgres vacuum tuning: keep this one", ago=3 * 3600)
    gone = away.said(GENERAL, "postgres vacuum tuning: I take this back", ago=2 * 3600)
    parent = away.said(GENERAL, "postgres vacuum tuning: a question with a reply", ago=3600)
    away.said(GENERAL, "the reply", by="UPG", ago=3500, thread=parent)
    await away.restart()
    before = {m.external_id for m in await _stored(away.app)}
    assert {kept, gone, parent} <= before
    oldest = min(before)  # the import's first message, two days old: before the stretch looked through

    away.fake.history[GENERAL] = [m for m in away.fake.history[GENERAL] if m["ts"] not in (gone, oldest)]
    for m in away.fake.history[GENERAL]:
        if m["ts"] == parent:
            m.update(subtype="tombstone", text="This message was deleted.")
    away.said(GENERAL, "something new", ago=60)
    await away.restart()

    after = {m.external_id for m in await _stored(away.app)}
    assert before - after == {gone, parent}
    assert kept in after and oldest in after
    async with away.app.db.sessions() as session:
        assert {gone, parent} <= set(await session.scalars(select(DeletedMessage.external_id)))


async def test_a_stretch_slack_lists_nothing_of_deletes_nothing(away):
    """A free workspace shows 90 days of history: after a long downtime Slack lists none of what is stored before
    the gap, hidden, not deleted. Nothing listed in the stretch looked through: nothing is taken for deleted."""
    away.said(GENERAL, "postgres vacuum tuning: keep this one", ago=3 * 3600)
    await away.restart()
    before = {m.external_id for m in await _stored(away.app)}
    away.fake.history[GENERAL] = []
    away.said(GENERAL, "something new", ago=60)
    await away.restart()
    assert before <= {m.external_id for m in await _stored(away.app)}


async def test_a_thread_older_than_a_day_whose_question_was_deleted_while_away_loses_it_and_keeps_its_replies(away):
    """Slack keeps a tombstone in place of a thread's first message deleted while replies are left, and the catch-up
    looks for one only in the day before the gap: an older thread read for its new replies kept its deleted question
    stored (shown as asked until an answer looked it up). It goes as at its live tombstone; the replies stay."""
    from bot.db.models import DeletedMessage

    vacuum = away.fake.history[GENERAL][3]  # a thread of the imported history, two days old
    away.said(GENERAL, "anyone at the meetup tonight?", by="UREG", ago=900)
    await away.restart()  # the channel's newest stored message is now minutes old
    replies_before = [m.external_id for m in await _stored(away.app) if m.thread_external_id == vacuum["ts"]
                      and m.external_id != vacuum["ts"]]
    assert replies_before
    vacuum.update(subtype="tombstone", text="This message was deleted.", user="USLACKBOT")
    away.said(GENERAL, "and autovacuum_naptime helps too", by="UPG", ago=0, thread=vacuum["ts"])
    await asyncio.sleep(0.2)
    await away.restart()
    stored = await _stored(away.app)
    assert vacuum["ts"] not in {m.external_id for m in stored}
    assert set(replies_before) <= {m.external_id for m in stored}
    assert _texts(stored)[-1] == "and autovacuum_naptime helps too"
    async with away.app.db.sessions() as session:
        assert vacuum["ts"] in set(await session.scalars(select(DeletedMessage.external_id)))
