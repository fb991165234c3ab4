"""A message deleted or edited on Slack while the bot was away: nothing tells the bot (the catch-up reads what is
new), so it stays stored until an answer is about to quote or link it, when Slack is asked whether it is still there
(conversations.history for a channel's message, conversations.replies for a reply). The real slack_sdk client against
the fake Slack, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from adapters.slack import still_there
from adapters.slack.listeners import SlackAdapter
from adapters.slack.runner import web_client
from adapters.slack.still_there import StillThere
from bot.app import App
from bot.db.models import Community, DeletedMessage, Message
from tests.exports import TEAM, THREADS, USERS, write_slack_export
from tests.slack_fake import FakeSlack

TOKEN = "xoxb-test-token"
GENERAL = "C0GENERAL"
QUESTION = "the postgres planner ignores my index on created_at"
PETRAS = "Run EXPLAIN ANALYZE; a btree index on created_at is skipped when the predicate casts the column"


@dataclass
class Away:
    app: App
    fake: FakeSlack
    adapter: SlackAdapter
    community_id: int

    def said(self, text: str) -> dict[str, Any]:
        [message] = [m for m in self.fake.history[GENERAL] if m["text"] == text]
        return message

    async def ask(self) -> list:
        return await self.app.expertise.rank(self.community_id, QUESTION, asker="UASK2", top=3)

    def looked_up(self) -> list[dict[str, Any]]:
        return [c.body for c in self.fake.calls if c.method in ("conversations.history", "conversations.replies")]


def _people() -> dict[str, dict[str, Any]]:
    return {uid: {"id": uid, "name": name.lower(), "real_name": name, "tz": "Europe/Berlin", "is_bot": False,
                  "profile": {"display_name": name}} for uid, name in USERS.items()}


@pytest.fixture
async def away(app, tmp_path) -> AsyncIterator[Away]:
    """A workspace whose history up to two days ago is stored (an import) and listed by Slack, and the bot started
    since."""
    start = time.time() - 2 * 86_400
    await app.importer.import_slack(write_slack_export(tmp_path / "export", USERS, THREADS, start=start))
    fake = await FakeSlack(team_id=TEAM, people=_people(), channels={GENERAL: "general"}, retry_after=1).start()
    for n, thread in enumerate(THREADS):
        root = f"{start + n * 3600:.6f}"
        for i, (user, text) in enumerate(thread):
            fake.history.setdefault(GENERAL, []).append(
                {"type": "message", "user": user, "text": text, "ts": f"{start + n * 3600 + i * 60:.6f}",
                 **({"thread_ts": root} if len(thread) > 1 else {})})
    adapter = await SlackAdapter.connect(app, web_client(TOKEN, f"{fake.url}/api"), signing_secret="secret")
    app.core.senders["slack"] = adapter.sender
    async with app.db.sessions() as s:
        community_id = await s.scalar(select(Community.id).where(Community.external_id == TEAM))
    yield Away(app, fake, adapter, community_id)
    await adapter.idle()
    await fake.stop()


def _quoted(found: list) -> list[str]:
    return [link for f in found for link in f.permalinks if link]


async def _link_of(app: App, text: str) -> str:
    async with app.db.sessions() as s:
        return await s.scalar(select(Message.permalink).where(Message.text == text))


async def test_a_reply_deleted_while_the_bot_was_away_is_not_quoted_and_goes(away):
    petras = away.said(PETRAS)
    link = await _link_of(away.app, PETRAS)
    away.fake.history[GENERAL].remove(petras)
    found = await away.ask()
    assert link not in _quoted(found)
    assert all(PETRAS[:30] not in why for f in found for why in f.why)
    asked = [c for c in away.looked_up() if c.get("latest") == petras["ts"]]
    assert asked and asked[0]["ts"] == petras["thread_ts"]  # conversations.replies of its thread
    async with away.app.db.sessions() as s:
        assert not await s.scalar(select(Message.id).where(Message.text == PETRAS))
        # Remembered as deleted: an export made before does not bring it back.
        assert await s.scalar(select(DeletedMessage.id).where(DeletedMessage.external_id == petras["ts"]))


async def test_a_reply_edited_while_the_bot_was_away_is_stored_as_edited_and_looked_up_once(away):
    petras = away.said(PETRAS)
    now = "Run EXPLAIN (ANALYZE, BUFFERS): the index on created_at is skipped when the predicate casts the column"
    petras |= {"text": now, "edited": {"user": "UPG", "ts": f"{time.time() - 600:.6f}"}}
    await away.ask()
    async with away.app.db.sessions() as s:
        stored = await s.scalar(select(Message).where(Message.external_id == petras["ts"]))
    assert stored.text == now and stored.edited_at is not None
    before = len(away.looked_up())
    await away.ask()  # looked up once a process
    assert len(away.looked_up()) == before


async def test_a_channel_refused_is_quoted_as_before(away, caplog):
    away.fake.unreadable[GENERAL] = "not_in_channel"
    link = await _link_of(away.app, PETRAS)
    found = await away.ask()
    assert link in _quoted(found) and away.looked_up()
    assert "Slack did not say: not_in_channel" in caplog.text
    async with away.app.db.sessions() as s:
        assert await s.scalar(select(Message.id).where(Message.text == PETRAS))


async def test_a_channel_message_is_looked_up_in_the_channel_and_one_seen_live_not_at_all(away):
    """conversations.history with the message's ts as both bounds, inclusive: one message."""
    looking = StillThere(away.adapter.client, TEAM)
    there = away.said("Anyone going to the meetup on Friday?")  # a thread's first message
    gone = {"type": "message", "user": "UREG", "text": "a top-level message deleted since", "ts": "1700000000.000100"}
    base = "https://acme.slack.com/archives/C0GENERAL/p"
    links = [base + there["ts"].replace(".", ""), base + gone["ts"].replace(".", ""),
             base + f"{time.time():.6f}".replace(".", "")]  # said since the process began: seen live
    found = await looking.look_up(TEAM, links)
    assert found.gone == {links[1]} and not found.edited
    calls = away.looked_up()
    assert [(c["latest"], c["oldest"], c["inclusive"], c["limit"]) for c in calls] == [
        (there["ts"], there["ts"], "1", "1"), (gone["ts"], gone["ts"], "1", "1")]
    assert await looking.look_up("T0OTHER", links) == still_there.LookedUp()  # another workspace's: not asked
    assert len(away.looked_up()) == 2


async def test_messages_said_before_a_disconnect_nobody_covered_are_looked_up_again(away, monkeypatch):
    """Socket Mode dropped and no other replica was connected: a message deleted meanwhile came to nobody, and the
    catch-up at the reconnection reads only what is new. What was said since the process connected counted as seen
    live, and what was found there as there, for the whole process: Slack was never asked again, and the words taken
    back were quoted. After a reconnection nobody covered, each is looked up again before it is first shown."""
    from datetime import UTC, datetime

    monkeypatch.setattr(still_there, "LIVE_MARGIN", 0.0)  # the clocks agree
    await away.adapter.catch_up(datetime.now(UTC))  # connected
    base = "https://acme.slack.com/archives/C0GENERAL/p"
    live = {"type": "message", "user": "UPG", "text": "said live, deleted while no socket was connected",
            "ts": f"{time.time() + 0.01:.6f}"}
    away.fake.history[GENERAL].append(live)
    found_there = away.said("Anyone going to the meetup on Friday?")
    links = [base + live["ts"].replace(".", ""), base + found_there["ts"].replace(".", "")]
    assert await away.adapter.sender.look_up(TEAM, links) == still_there.LookedUp()  # both there
    assert len(away.looked_up()) == 1  # the one said before the process connected
    away.fake.history[GENERAL].remove(live)
    away.fake.history[GENERAL].remove(found_there)

    await asyncio.sleep(0.02)
    await away.adapter.catch_up(datetime.now(UTC))  # connected again
    asked = len(away.looked_up())
    found = await away.adapter.sender.look_up(TEAM, links)
    assert found.gone == set(links)
    assert len(away.looked_up()) == asked + 2


async def test_a_reconnection_another_replica_covered_looks_nothing_up_again(away, monkeypatch):
    """Another replica was connected while this one's socket was down: the deletions came to it. What this process
    saw live stays seen live (no look-ups spent on it)."""
    from datetime import UTC, datetime, timedelta

    from bot.services.catch_up_marks import CatchUpMarks

    monkeypatch.setattr(still_there, "LIVE_MARGIN", 0.0)  # the clocks agree
    await away.adapter.catch_up(datetime.now(UTC))  # connected
    live = {"type": "message", "user": "UPG", "text": "said live", "ts": f"{time.time() + 0.01:.6f}"}
    away.fake.history[GENERAL].append(live)
    link = "https://acme.slack.com/archives/C0GENERAL/p" + live["ts"].replace(".", "")
    await asyncio.sleep(0.02)
    reconnected = datetime.now(UTC)
    await CatchUpMarks(away.app.db).release("slack", TEAM, covered=reconnected + timedelta(seconds=1))  # the other
    await away.adapter.catch_up(reconnected)
    asked = len(away.looked_up())
    assert await away.adapter.sender.look_up(TEAM, [link]) == still_there.LookedUp()
    assert len(away.looked_up()) == asked


async def test_a_public_channel_slack_no_longer_shows_the_bot_is_not_quoted_and_keeps_its_messages(away):
    """#general deleted, or made private without the bot, while it was away, and no catch-up has found it since: Slack
    answers channel_not_found for the messages an answer is about to quote, and conversations.info too, alike for
    both. None of its messages is quoted; it is stored private, its messages kept (taken for deleted, a channel made
    private lost its history for good)."""
    from bot.db.models import Channel

    link = await _link_of(away.app, PETRAS)
    away.fake.unreadable[GENERAL] = "channel_not_found"
    del away.fake.channels[GENERAL]  # conversations.info does not find it either
    found = await away.ask()
    assert link not in _quoted(found)
    async with away.app.db.sessions() as s:
        assert await s.scalar(select(Channel.is_private).where(Channel.external_id == GENERAL))
        assert await s.scalar(select(Message.id).where(Message.text == PETRAS))
        assert not await s.scalar(select(DeletedMessage.id))


async def test_a_private_channel_slack_no_longer_shows_the_bot_is_quoted_as_before(away):
    """Slack answers channel_not_found alike for a private channel deleted and one the bot was removed from (its
    members still read it): its messages are kept, as stored."""
    from sqlalchemy import update

    from bot.db.models import Channel

    async with away.app.db.sessions.begin() as s:
        await s.execute(update(Channel).where(Channel.external_id == GENERAL).values(is_private=True, ingest=True))
    away.fake.unreadable[GENERAL] = "channel_not_found"
    found = await away.ask()
    assert "Petra" in [f.name for f in found] and away.looked_up()
    async with away.app.db.sessions() as s:
        assert await s.scalar(select(Message.id).where(Message.text == PETRAS))
        assert not await s.scalar(select(DeletedMessage.id))
