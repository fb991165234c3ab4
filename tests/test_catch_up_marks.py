"""One catch-up per downtime across replicas (bot.services.catch_up_marks), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.services import catch_up_marks
from bot.services.catch_up_marks import CatchUpMarks

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


async def test_a_catch_up_whose_process_died_is_taken_over_once_its_lease_has_passed(app, monkeypatch):
    monkeypatch.setattr(catch_up_marks, "POLL", timedelta(milliseconds=10))
    clock = Clock()
    dead, alive = CatchUpMarks(app.db, holder="a:1", clock=clock), CatchUpMarks(app.db, holder="b:2", clock=clock)
    assert await dead.turn("slack", "T1", T0) is not None  # and then its process is killed
    waiting = asyncio.ensure_future(alive.turn("slack", "T1", T0))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    clock.now = T0 + catch_up_marks.LEASE + timedelta(seconds=1)
    taken = await asyncio.wait_for(waiting, 5)
    assert taken is not None and taken.held_by == "b:2"


async def test_a_connection_moves_the_mark_only_from_where_it_reached_when_it_connected(app):
    """What was said before a connection is its catch-up's to fetch: until then, that connection's beats say
    nothing (the time between the mark and it was nobody's)."""
    marks = CatchUpMarks(app.db, holder="a:1")
    await marks.release("slack", "T1", covered=T0)
    assert not await marks.beat("slack", "T1", since=T0 + timedelta(minutes=5), now=T0 + timedelta(minutes=6))
    assert (await marks.read("slack", "T1")).covered_until == T0
    assert await marks.beat("slack", "T1", since=T0 - timedelta(hours=1), now=T0 + timedelta(minutes=6))
    assert (await marks.read("slack", "T1")).covered_until == T0 + timedelta(minutes=6)
    await marks.release("slack", "T1", covered=T0)  # an older catch-up ending late moves nothing back
    assert (await marks.read("slack", "T1")).covered_until == T0 + timedelta(minutes=6)
    assert await marks.turn("slack", "T1", T0 + timedelta(minutes=5)) is None  # covered: nothing to fetch
