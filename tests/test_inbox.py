"""The inbox: a Slack event acknowledged and then lost with its process (SIGKILL, an OOM kill, a lost node) is handled
by the next start or the next sweep, once. The real bolt app in HTTP mode against the fake Slack (as in
test_slack_app.py), on SQLite and PostgreSQL; a process "dies" where its listener is cancelled."""
from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from adapters.slack.listeners import SlackAdapter
from adapters.slack.runner import web_client
from bot import inbox, metrics
from bot.app import App, build_app
from bot.db.models import InboxEvent, Member, Message, ProcessedEvent
from bot.events import utcnow
from bot.settings import Settings
from tests.test_slack_app import SECRET, TOKEN, fresh, slack  # noqa: F401  (fixture)

PETRAS = "1700000100.000200"  # event_message.json: Petra's message in #general


async def _rows(app: App) -> list[InboxEvent]:
    async with app.db.sessions() as s:
        return list(await s.scalars(select(InboxEvent).order_by(InboxEvent.id)))


async def _stored(app: App, external_id: str = PETRAS) -> int:
    async with app.db.sessions() as s:
        return await s.scalar(select(func.count()).select_from(Message).where(Message.external_id == external_id))


async def _later(app: App, by: timedelta) -> None:
    """Time passes: what the inbox and the claims remember happened `by` earlier."""
    async with app.db.sessions.begin() as s:
        for row in await s.scalars(select(InboxEvent)):
            row.received_at -= by
            row.leased_until = row.leased_until and row.leased_until - by
            row.set_aside_at = row.set_aside_at and row.set_aside_at - by
        for claim in await s.scalars(select(ProcessedEvent)):
            claim.created_at -= by


def _killed(monkeypatch: pytest.MonkeyPatch, target: object, name: str) -> list[int]:
    """`target.name` cancels its task (the process dies there) the first time; later calls run it."""
    calls: list[int] = []
    real = getattr(target, name)

    async def dies(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            raise asyncio.CancelledError
        return await real(*args, **kwargs)

    monkeypatch.setattr(target, name, dies)
    return calls


async def _restart(slack) -> SlackAdapter:  # noqa: ANN001, F811
    """Another process starts on the same database (its adapter registers with the inbox) and sweeps."""
    adapter = await SlackAdapter.connect(slack.app, web_client(TOKEN, f"{slack.fake.url}/api"), signing_secret=SECRET)
    slack.app.core.senders["slack"] = adapter.sender
    return adapter


@pytest.mark.parametrize("dies_in", ["before its claim", "after its claim, before the store"])
async def test_an_event_acknowledged_and_lost_with_its_process_is_handled_by_the_next_start_once(
        slack, monkeypatch, dies_in):  # noqa: F811
    if dies_in == "before its claim":
        calls = _killed(monkeypatch, slack.app.core, "handle")
    else:
        calls = _killed(monkeypatch, slack.app.ingest, "store")
    assert await slack.event(fresh("event_message.json")) == 200  # acknowledged
    await slack.adapter.idle()
    assert calls == [1] and await _stored(slack.app) == 0
    [row] = await _rows(slack.app)
    assert row.platform == "slack" and row.community == "TTEST0001" and row.attempts == 0

    adapter = await _restart(slack)
    assert await slack.app.core.inbox.sweep() == 0  # within the grace: its listener may be at it still
    await _later(slack.app, inbox.GRACE + timedelta(seconds=1))
    handled = await slack.app.core.inbox.sweep()
    if dies_in == "after its claim, before the store":
        # Claimed by the process that died: taken over only once the claim is stale (a live one may be slow).
        assert handled == 0 and await _stored(slack.app) == 0
        await _later(slack.app, inbox.LEASE + timedelta(seconds=1))
        handled = await slack.app.core.inbox.sweep()
    await adapter.idle()
    assert handled == 1 and await _stored(slack.app) == 1 and await _rows(slack.app) == []
    await _later(slack.app, inbox.LEASE + timedelta(seconds=1))
    assert await slack.app.core.inbox.sweep() == 0 and await _stored(slack.app) == 1


async def test_a_question_to_the_bot_lost_after_its_ack_is_answered_once(slack, monkeypatch):  # noqa: F811
    _killed(monkeypatch, slack.app.core, "handle")
    assert await slack.event(fresh("event_message_im.json")) == 200
    await slack.adapter.idle()
    assert slack.fake.of("chat.postMessage") == []
    await _later(slack.app, inbox.GRACE + timedelta(seconds=1))
    adapters = [await _restart(slack), await _restart(slack)]
    assert sum(await asyncio.gather(slack.app.core.inbox.sweep(), slack.app.core.inbox.sweep())) == 1
    for adapter in adapters:
        await adapter.idle()
    [answer] = slack.fake.of("chat.postMessage")
    assert answer["channel"] == "D0ASK1" and "<@UPG>" in str(answer)


async def test_an_event_handled_live_leaves_the_inbox_and_its_secret_is_never_stored(slack, monkeypatch):  # noqa: F811
    seen: list[str] = []
    keep = slack.app.core.inbox.keep

    async def watched(kept, body):  # noqa: ANN001, ANN202
        await keep(kept, body)
        seen.extend(row.body for row in await _rows(slack.app))

    monkeypatch.setattr(slack.app.core.inbox, "keep", watched)
    for fixture in ("event_message.json", "event_message_changed.json", "event_reaction_added.json",
                    "event_app_home_opened.json"):
        assert await slack.event(fresh(fixture)) == 200
    await slack.adapter.idle()
    assert len(seen) >= 3 and all("EXPLAIN" in body or "reaction" in body for body in seen)
    assert not any("verification-token" in body for body in seen)  # the fixtures carry the old token
    assert await _rows(slack.app) == [] and await _stored(slack.app) == 1


async def test_an_event_that_cannot_be_kept_is_not_acknowledged(slack, monkeypatch):  # noqa: F811
    """The database down: Slack is told to send the event again (a 5xx), and it is not handled from memory."""
    async def down(kept, body):  # noqa: ANN001, ANN202
        raise OSError("database unreachable")

    monkeypatch.setattr(slack.app.core.inbox, "keep", down)
    assert await slack.event(fresh("event_message.json")) == 503
    await slack.adapter.idle()
    assert await _stored(slack.app) == 0


async def test_a_replayed_message_of_a_member_forgotten_since_is_not_stored(slack, monkeypatch):  # noqa: F811
    _killed(monkeypatch, slack.app.core, "handle")
    assert await slack.event(fresh("event_message.json")) == 200  # Petra's message, lost with its process
    await slack.adapter.idle()
    adapter = await _restart(slack)
    await slack.command("UPG", "/connective", "forget-me")  # handled by another replica meanwhile
    await _later(slack.app, inbox.GRACE + timedelta(seconds=1))
    assert await slack.app.core.inbox.sweep() == 1
    await adapter.idle()
    assert await _stored(slack.app) == 0 and await _rows(slack.app) == []
    async with slack.app.db.sessions() as s:
        assert await s.scalar(select(Member.profiling_consent).where(Member.external_id == "UPG")) is False


async def test_a_poison_event_is_tried_a_bounded_number_of_times_then_set_aside(slack, monkeypatch, caplog):  # noqa: F811
    tries: list[int] = []
    reaction = slack.app.core._on_reaction

    async def fails(event, community_id):  # noqa: ANN001, ANN202
        if event.channel == "C0POISON":
            tries.append(1)
            raise RuntimeError("a handler that fails every time")
        return await reaction(event, community_id)

    monkeypatch.setattr(slack.app.core, "_on_reaction", fails)
    poison = fresh("event_reaction_added.json")
    poison["event"]["item"]["channel"] = "C0POISON"
    assert await slack.event(poison) == 200
    assert await slack.event(fresh("event_message.json")) == 200
    await slack.adapter.idle()
    assert tries == [1] and await _stored(slack.app) == 1  # the live try failed: kept for the sweep
    async with slack.app.db.sessions.begin() as s:  # and a row nobody can read, from an older version
        s.add(InboxEvent(platform="slack", community="TTEST0001", event_id="EvBROKEN", body="{not json",
                         received_at=utcnow(), attempts=0))
    caplog.set_level(logging.WARNING, logger="bot.inbox")
    set_aside = metrics.INBOX.labels("slack", "set_aside")._value.get()
    for _ in range(inbox.MAX_ATTEMPTS + 3):
        await _later(slack.app, inbox.LEASE + timedelta(seconds=1))
        await slack.app.core.inbox.sweep()
        await slack.adapter.idle()
    assert len(tries) == 1 + inbox.MAX_ATTEMPTS
    rows = await _rows(slack.app)
    assert sorted(r.event_id for r in rows) == sorted(["EvBROKEN", poison["event_id"]])
    assert all(r.set_aside_at is not None and r.attempts == inbox.MAX_ATTEMPTS for r in rows)
    assert len([r for r in caplog.records if "set aside" in r.getMessage()]) == 2  # one line each
    assert metrics.INBOX.labels("slack", "set_aside")._value.get() == set_aside + 2
    # A good event behind them is not held up.
    assert await slack.event(fresh("event_reaction_added.json")) == 200
    await slack.adapter.idle()
    assert len(await _rows(slack.app)) == 2
    await slack.command("UASK1", "/connective", "forget-me")  # the poison is Asha's reaction: it goes with her data
    assert [r.event_id for r in await _rows(slack.app)] == ["EvBROKEN"]
    await _later(slack.app, inbox.SET_ASIDE_KEPT + timedelta(seconds=1))
    await slack.app.core.inbox.sweep()
    assert await _rows(slack.app) == []  # members' words are not kept for ever


async def test_two_replicas_sweeping_one_database_handle_a_leftover_once(slack, db_url, embedder):  # noqa: F811
    """Two processes on one database (PostgreSQL, and a SQLite file two processes open) sweep the same events at the
    same time: each is handled by one of them."""
    payloads = [fresh("event_message_im.json", ts=f"17000007{n:02d}.000100") for n in range(5)]
    for payload in payloads:
        async with slack.app.db.sessions.begin() as s:
            s.add(InboxEvent(platform="slack", community="TTEST0001", event_id=payload["event_id"],
                             body=inbox.storable_body(payload), received_at=utcnow() - timedelta(minutes=2),
                             attempts=0))
    other = build_app(Settings(database_url=db_url), embedder=embedder)
    try:
        adapters = [await _restart(slack)]
        adapters.append(await SlackAdapter.connect(other, web_client(TOKEN, f"{slack.fake.url}/api"),
                                                   signing_secret=SECRET))
        other.core.senders["slack"] = adapters[1].sender
        counts = await asyncio.gather(slack.app.core.inbox.sweep(), other.core.inbox.sweep())
        for adapter in adapters:
            await adapter.idle()
    finally:
        await other.close()
    assert sum(counts) == 5 and await _rows(slack.app) == []
    assert len(slack.fake.of("chat.postMessage")) == 5  # each question answered once


def _discord_row(event_id: str, user: str, age: timedelta) -> InboxEvent:
    body = {"t": "MESSAGE_CREATE", "d": {"id": event_id, "guild_id": "G1", "channel_id": "C1",
                                         "author": {"id": user}, "content": "my words about postgres"}}
    return InboxEvent(platform="discord", community="G1", event_id=event_id, body=inbox.storable_body(body),
                      received_at=utcnow() - age, attempts=0)


async def test_events_of_a_platform_nobody_replays_go_after_a_week(slack, caplog):  # noqa: F811
    """A Discord deployment switched off (this process runs Slack only) left its members' words in the inbox for ever:
    only platforms with a replayer here were swept. They wait a week for it (a running one replays them within a
    minute or two), then go, in one log line."""
    async with slack.app.db.sessions.begin() as s:
        s.add(_discord_row("m-old", "D1", inbox.UNREPLAYED_KEPT + timedelta(minutes=1)))
        s.add(_discord_row("m-recent", "D1", timedelta(days=1)))
    caplog.set_level(logging.INFO, logger="bot.inbox")
    assert "discord" not in slack.app.core.inbox.replayers
    await slack.app.core.inbox.sweep()
    assert [r.event_id for r in await _rows(slack.app)] == ["m-recent"]
    assert [r.getMessage() for r in caplog.records if "removed" in r.getMessage()] == [
        "inbox: 1 discord event(s) waited 7 days with no discord adapter running to handle them: removed"]


async def test_events_left_behind_go_when_the_member_they_name_is_forgotten(slack):  # noqa: F811
    """A member forgotten (their /forget-me, or `connective forget` by a community manager) while their Discord
    messages wait in the inbox with no Discord adapter to replay them: their words stayed there, as only events set
    aside went with the member's data. Left behind (waiting over LEFT_BEHIND), they go at once; one a running sweep
    will replay soon is left (it stores nothing of theirs)."""
    from bot import events as ev

    async with slack.app.db.sessions.begin() as s:
        s.add(_discord_row("m-left", "D1", inbox.LEFT_BEHIND + timedelta(minutes=1)))
        s.add(_discord_row("m-other", "D2", inbox.LEFT_BEHIND + timedelta(minutes=1)))
        s.add(_discord_row("m-new", "D1", timedelta(seconds=30)))
    await slack.app.core.handle(ev.CommandInvoked(community="G1", platform="discord", user="D1", channel="C1",
                                                  name="forget-me", args="", event_id="forget-D1"))
    assert [r.event_id for r in await _rows(slack.app)] == ["m-other", "m-new"]
