"""What changed in a community's messages, for every process that keeps its corpus in memory.

Each replica (and each CLI import) writes a corpus_change row, in the same transaction, for every message it
stores, edits or deletes, and one without a message for a member's messages removed. Before a replica uses
its corpus it reads the rows it has not seen (ChangeLog.pending; an ask reads them with its other reads and
ranks again when something changed): without them, a message deleted through
one replica would still be quoted by the others, and none would know what the others stored.

A row may commit after a row with a higher id (transactions overlap), so rows created in the last LATE
seconds are read again, and those already seen are skipped.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import ColumnElement, and_, delete, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import CorpusChange
from bot.events import utcnow

LATE = 120.0  # seconds from a row's insert to its commit, and between replicas' clocks, at most
KEPT = timedelta(days=1)  # rows are deleted after this; a replica that has not looked for as long reloads
RELOAD_AT = 5000  # more changed messages than this (an import elsewhere): reloading is quicker


@dataclass
class _Followed:
    cursor: int  # the highest change id seen
    seen: dict[int, float] = field(default_factory=dict)  # ids read again for LATE seconds -> when first seen
    own: dict[int, float] = field(default_factory=dict)  # ids this process wrote (and followed in memory)
    looked: float = field(default_factory=time.monotonic)


class ChangeLog:
    def __init__(self) -> None:
        self._followed: dict[int, _Followed] = {}

    async def note(self, session: AsyncSession, community_id: int, message_ids: list[int] | None, *,
                   own: bool) -> None:
        """Record changed messages (None: a member's messages removed) in the caller's transaction. `own`: this
        process follows them in its loaded corpus itself (otherwise its next load holds them anyway)."""
        rows = [{"community_id": community_id, "message_id": mid} for mid in message_ids] if message_ids is not None \
            else [{"community_id": community_id, "message_id": None}]
        state = self._followed.get(community_id) if own else None
        for start in range(0, len(rows), 2000):
            if state is None:  # an import, or a community not loaded here: nothing to remember
                await session.execute(insert(CorpusChange), rows[start : start + 2000])
                continue
            ids = await session.scalars(insert(CorpusChange).returning(CorpusChange.id), rows[start : start + 2000])
            state.own.update(dict.fromkeys(ids, time.monotonic()))

    async def start(self, session: AsyncSession, community_id: int) -> None:
        """Before a corpus is loaded: what it will already hold."""
        recent = (await session.execute(
            select(CorpusChange.id).where(CorpusChange.community_id == community_id,
                                          CorpusChange.created_at > utcnow() - timedelta(seconds=LATE)))).scalars()
        cursor = await session.scalar(select(func.max(CorpusChange.id))
                                      .where(CorpusChange.community_id == community_id))
        now = time.monotonic()
        self._followed[community_id] = _Followed(cursor or 0, dict.fromkeys(recent, now))

    def stop(self, community_id: int | None = None) -> None:
        if community_id is None:
            self._followed.clear()
        else:
            self._followed.pop(community_id, None)

    def unseen(self, community_id: int) -> ColumnElement[bool] | None:
        """Which corpus_change rows to read (id, message id) for `take`; None when the corpus is not followed
        here."""
        state = self._followed.get(community_id)
        if state is None:
            return None
        return and_(CorpusChange.community_id == community_id,
                    or_(CorpusChange.id > state.cursor, CorpusChange.created_at > utcnow() - timedelta(seconds=LATE)))

    def take(self, community_id: int, rows: list[tuple[int, int | None]]) -> list[int] | None:
        """Of the rows `unseen` named: messages changed elsewhere since the last look (to read again, or drop if
        gone), or None when the corpus should be loaded again (a member's messages removed, many changes, or
        too long unseen)."""
        state = self._followed.get(community_id)
        if state is None:
            return []
        now = time.monotonic()
        if now - state.looked > KEPT.total_seconds() / 2:
            return None
        state.looked = now
        fresh = [mid for cid, mid in rows if cid not in state.seen and cid not in state.own]
        for cid, _ in rows:
            state.seen.setdefault(cid, now)
            state.cursor = max(state.cursor, cid)
        for ids in (state.seen, state.own):  # what the query can no longer return
            for cid in [c for c, at in ids.items() if c <= state.cursor and now - at > 2 * LATE]:
                del ids[cid]
        if None in fresh or len(fresh) > RELOAD_AT:
            return None
        return sorted(set(fresh))

    async def pending(self, session: AsyncSession, community_id: int) -> list[int] | None:
        """`take` of the rows `unseen` now."""
        unseen = self.unseen(community_id)
        if unseen is None:
            return []
        rows = (await session.execute(select(CorpusChange.id, CorpusChange.message_id).where(unseen))).all()
        return self.take(community_id, rows)

    @staticmethod
    async def prune(session: AsyncSession) -> int:
        result = await session.execute(delete(CorpusChange).where(CorpusChange.created_at < utcnow() - KEPT))
        return result.rowcount or 0
