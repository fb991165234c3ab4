"""Storing messages holds no write transaction while their texts are encoded (the first encode waits for the model
to load, an import's batch encodes for seconds): other writes go through meanwhile, where SQLite's single writer
made them wait out busy_timeout and fail with "database is locked". What changes meanwhile (the same message
stored by a retry, a deletion, an opt-out) is respected. On SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bot import events as ev
from bot.db.models import Message, MessageVector, Reaction
from bot.repo import claim_event, ensure_channel, ensure_community, ensure_member
from bot.services.ingest import IncomingMessage

START = datetime(2026, 3, 2, 9, tzinfo=UTC)
PROMPTLY = 5.0  # seconds: well under SQLite's busy_timeout (10 s), which a write waiting on the lock ran into
QUESTION = "How do I tune postgres autovacuum for very large tables that bloat?"


class HeldEncodes:
    """Stores started through `start` wait in their encode, once there, until the test releases them: a model
    still loading, or a long batch. Other encodes go through."""

    def __init__(self, app, monkeypatch) -> None:
        self.entered: dict[asyncio.Task, asyncio.Event] = {}
        self.go: dict[asyncio.Task, asyncio.Event] = {}
        real = app.expertise.encode

        async def encode(texts):
            task = asyncio.current_task()
            if task in self.go:
                self.entered[task].set()
                await self.go[task].wait()
            return await real(texts)

        monkeypatch.setattr(app.expertise, "encode", encode)

    def start(self, store) -> asyncio.Task:
        task = asyncio.create_task(store)
        self.entered[task], self.go[task] = asyncio.Event(), asyncio.Event()
        return task

    async def encoding(self, *tasks: asyncio.Task) -> None:
        await asyncio.wait_for(asyncio.gather(*(self.entered[t].wait() for t in tasks)), 60)

    def release(self, *tasks: asyncio.Task) -> None:
        for task in tasks or list(self.go):
            self.go[task].set()


async def _setup(app) -> tuple[int, int, int]:
    async with app.db.sessions.begin() as s:
        community = await ensure_community(s, "slack", "TLOCK")
        member = await ensure_member(s, community.id, "U1", name="Petra")
        channel = await ensure_channel(s, community.id, "C1")
        return community.id, channel.id, member.id


def _message(channel_id: int, author_id: int, ext: str, text: str, **kw) -> IncomingMessage:
    return IncomingMessage(channel_id=channel_id, external_id=ext, author_id=author_id, text=text,
                           created_at=START + timedelta(minutes=int(ext)), **kw)


async def _stored(app, cid: int) -> tuple[list[tuple[str, str]], int]:
    async with app.db.sessions() as s:
        rows = (await s.execute(select(Message.external_id, Message.text)
                                .where(Message.community_id == cid).order_by(Message.external_id))).all()
        vectors = await s.scalar(select(func.count()).select_from(MessageVector)
                                 .where(MessageVector.community_id == cid))
    return [tuple(r) for r in rows], vectors


async def test_other_writes_go_through_while_a_store_encodes(app, monkeypatch):
    cid, channel, author = await _setup(app)
    held = HeldEncodes(app, monkeypatch)
    first = held.start(app.ingest.store(cid, [_message(channel, author, "1", QUESTION)]))
    try:
        await held.encoding(first)

        async def claim() -> bool:  # what every event does first
            async with app.db.sessions.begin() as s:
                return await claim_event(s, cid, "Ev-during-encode")

        assert await asyncio.wait_for(claim(), PROMPTLY)
        other = await asyncio.wait_for(app.ingest.store(cid, [_message(
            channel, author, "2", "kubectl rollout undo deployment/web rolls a deployment back")]), PROMPTLY)
        assert (other.added, other.embedded) == (1, 1)
        # An event handled in full (claimed, its member and channel written, its message stored).
        await asyncio.wait_for(app.core.handle(ev.MessagePosted(
            community="TLOCK", platform="slack", user="U2", channel="C1", message_id="3", event_id="Ev-3",
            text="set autovacuum_vacuum_scale_factor per table", time=START + timedelta(minutes=3))), PROMPTLY)
    finally:
        held.release()
        stored = await first
    assert (stored.added, stored.embedded) == (1, 1) and len(stored.message_ids) == 1
    rows, vectors = await _stored(app, cid)
    assert [ext for ext, _ in rows] == ["1", "2", "3"] and vectors == 3


async def test_the_same_message_stored_twice_at_once_is_stored_once(app, monkeypatch):
    """A platform's retry racing the original, each order of finishing: stored once, embedded once, no error."""
    cid, channel, author = await _setup(app)
    reacted = _message(channel, author, "1", QUESTION, reactions=[("+1", "U7")])
    held = HeldEncodes(app, monkeypatch)

    # The retry reads and writes while the original encodes: the retry stores it, the original adds nothing.
    original = held.start(app.ingest.store(cid, [reacted]))
    try:
        await held.encoding(original)
        retry = await asyncio.wait_for(app.ingest.store(cid, [reacted]), PROMPTLY)
    finally:
        held.release()
        first = await original
    assert (retry.added, retry.embedded, first.added, first.embedded) == (1, 1, 0, 0)
    assert first.message_ids == [] and retry.message_ids

    # Both read it as new, the original writes first: the retry adds nothing (and no second vector).
    other = _message(channel, author, "2", "kubectl rollout undo deployment/web rolls it back",
                     reactions=[("eyes", "U8")])
    original = held.start(app.ingest.store(cid, [other]))
    retry = held.start(app.ingest.store(cid, [other]))
    try:
        await held.encoding(original, retry)
        held.release(original)
        first = await asyncio.wait_for(original, PROMPTLY)
    finally:
        held.release()
        second = await retry
    assert (first.added, first.embedded, second.added, second.embedded) == (1, 1, 0, 0)

    rows, vectors = await _stored(app, cid)
    assert [ext for ext, _ in rows] == ["1", "2"] and vectors == 2
    async with app.db.sessions() as s:
        assert sorted(await s.scalars(select(Reaction.name).where(Reaction.community_id == cid))) == ["+1", "eyes"]
    assert (await app.ingest.store(cid, [reacted, other])).added == 0  # and again later: nothing


async def test_deleted_or_withheld_while_encoding_is_not_stored(app, monkeypatch):
    """A message deleted on the platform, or whose author opted out, while its text was encoded; a stored one
    deleted meanwhile gets no reaction (there is nothing to attach it to)."""
    cid, channel, author = await _setup(app)
    async with app.db.sessions.begin() as s:
        leaving = (await ensure_member(s, cid, "U9", name="Ola")).id
    earlier = _message(channel, author, "4", "pg_stat_user_tables shows n_dead_tup per table")
    assert (await app.ingest.store(cid, [earlier])).added == 1
    held = HeldEncodes(app, monkeypatch)
    batch = [_message(channel, author, "1", QUESTION),
             _message(channel, author, "2", "kubectl rollout undo deployment/web rolls a deployment back"),
             _message(channel, leaving, "3", "VACUUM FULL rewrites the table; pg_repack does it online"),
             _message(channel, author, "4", earlier.text, reactions=[("+1", "U7")])]
    storing = held.start(app.ingest.store(cid, batch))
    try:
        await held.encoding(storing)
        await asyncio.wait_for(app.core.handle(ev.MessageDeleted(
            community="TLOCK", platform="slack", user="U1", channel="C1", message_id="2")), PROMPTLY)
        await asyncio.wait_for(app.core.handle(ev.MessageDeleted(
            community="TLOCK", platform="slack", user="U1", channel="C1", message_id="4")), PROMPTLY)
        await asyncio.wait_for(app.core.handle(ev.CommandInvoked(
            community="TLOCK", platform="slack", user="U9", channel="C1", name="optout")), PROMPTLY)
    finally:
        held.release()
        stored = await storing
    assert (stored.added, stored.skipped, stored.embedded) == (1, 2, 1)
    rows, vectors = await _stored(app, cid)
    assert [ext for ext, _ in rows] == ["1"] and vectors == 1
    async with app.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Reaction).where(Reaction.community_id == cid)) == 0


async def test_a_newer_edit_racing_the_original_is_kept(app, monkeypatch):
    """The original message and its edit (Slack's message and message_changed) stored at once: the edit reads the
    message as new (not stored yet), the original commits first, and the edit's insert was ignored, its text lost."""
    cid, channel, author = await _setup(app)
    original = _message(channel, author, "1", "use pg_repack to rebuild bloated tables online")
    edit = _message(channel, author, "1", "use pg_repack (not VACUUM FULL) to rebuild bloated tables online",
                    edited_at=START + timedelta(minutes=30))
    held = HeldEncodes(app, monkeypatch)
    a = held.start(app.ingest.store(cid, [original]))
    b = held.start(app.ingest.store(cid, [edit]))
    try:
        await held.encoding(a, b)
        held.release(a)
        await asyncio.wait_for(a, 30)
    finally:
        held.release()
        rb = await b
    rows, _ = await _stored(app, cid)
    assert rows == [("1", edit.text)], (rows, rb)
