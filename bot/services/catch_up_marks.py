"""One catch-up per downtime, whichever process connects. A platform that delivers nothing while no process is
connected (Slack's Socket Mode) is caught up at every connection; with several replicas, and Socket Mode reconnecting
every few hours, each fetched the same history again (Slack's conversations.history is rate-limited, Tier 3), and a
reconnect after minutes read from the newest message stored, a day back in a quiet workspace. A row a community
(CatchUpMark) keeps:

- `covered_until`: everything said before it was delivered live to a connected process or fetched by a finished
  catch-up. A connected process moves it to now every BEAT (`beat`), where it reached the time that process connected
  (what was said before that is its catch-up's); a finished catch-up moves it to its connection's time.
- a lease (`held_by`, `held_until`): the catch-up under way. The others wait for it (`turn`), then find the time
  they connected covered, and fetch nothing; one whose holder died takes it over once LEASE has passed.

A process connecting while another is connected finds the time covered within a BEAT or two and fetches nothing."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, literal, or_, select, update

from bot.db.engine import Database
from bot.db.models import CatchUpMark
from bot.db.types import UTCDateTime
from bot.events import utcnow
from bot.repo import insert_ignore

log = logging.getLogger(__name__)

BEAT = timedelta(seconds=10)  # how often a connected process says it is (the runner's job)
LEASE = timedelta(minutes=2)  # a catch-up holds its community this long, renewed every LEASE / 4 while it runs
POLL = timedelta(seconds=3)  # how often a process waiting for another's catch-up, or for a beat, looks again


@dataclass(frozen=True)
class Mark:
    covered_until: datetime | None = None
    held_by: str | None = None
    held_until: datetime | None = None


def _holder() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


class CatchUpMarks:
    def __init__(self, db: Database, *, holder: str | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.holder = holder or _holder()  # this process, in the lease
        self.clock = clock

    async def read(self, platform: str, community: str) -> Mark:
        async with self.db.sessions() as session:
            row = await session.scalar(_of(platform, community))
        return Mark() if row is None else Mark(row.covered_until, row.held_by, row.held_until)

    async def turn(self, platform: str, community: str, started: datetime) -> Mark | None:
        """Wait until this process is to catch up what was said before `started` (its connection), and hold the lease:
        the mark as it is then; or None: nothing to catch up, as it is covered (another process was connected, or
        caught up since). While another process catches up, it is waited for; where the mark moves (a process
        beating, a catch-up ending), for up to two BEATs after each move for it to pass `started`."""
        moved: datetime | None = None  # when the mark was last seen to move
        seen: datetime | None = None
        first, told = True, False
        while True:
            now = self.clock()
            mark = await self.read(platform, community)
            if mark.covered_until is not None and mark.covered_until >= started:
                return None
            if first:  # a mark that reached nearly to `started` was moved by a beat lately, and may be again
                if mark.covered_until is not None and started - mark.covered_until <= 2 * BEAT:
                    moved = started
            elif mark.covered_until != seen:
                moved = now
            first, seen = False, mark.covered_until
            held = mark.held_until is not None and mark.held_until > now and mark.held_by != self.holder
            if held and not told:
                log.info("%s %s: waiting for the catch-up under way in another process (%s)", platform, community,
                         mark.held_by)
                told = True
            beating = moved is not None and now < moved + 2 * BEAT
            if not held and not beating:
                taken = await self._take(platform, community, now)
                if taken is not None:
                    if taken.covered_until is not None and taken.covered_until >= started:
                        await self.release(platform, community)
                        return None
                    return taken
            await asyncio.sleep(POLL.total_seconds())

    async def _take(self, platform: str, community: str, now: datetime) -> Mark | None:
        async with self.db.sessions.begin() as session:
            await session.execute(insert_ignore(session, CatchUpMark).values(platform=platform, community=community))
            taken = await session.execute(update(CatchUpMark).where(
                CatchUpMark.platform == platform, CatchUpMark.community == community,
                or_(CatchUpMark.held_until.is_(None), CatchUpMark.held_until < now,
                    CatchUpMark.held_by == self.holder))
                .values(held_by=self.holder, held_until=now + LEASE).execution_options(synchronize_session=False))
            if taken.rowcount != 1:
                return None
            row = await session.scalar(_of(platform, community))
            return Mark(row.covered_until, row.held_by, row.held_until)

    @contextlib.asynccontextmanager
    async def holding(self, platform: str, community: str) -> AsyncIterator[None]:
        """The lease taken by `turn`, renewed while the body runs."""
        async def renew() -> None:
            while True:
                await asyncio.sleep(LEASE.total_seconds() / 4)
                try:
                    async with self.db.sessions.begin() as session:
                        await session.execute(update(CatchUpMark).where(
                            CatchUpMark.platform == platform, CatchUpMark.community == community,
                            CatchUpMark.held_by == self.holder).values(held_until=self.clock() + LEASE)
                            .execution_options(synchronize_session=False))
                except Exception:  # noqa: BLE001 - the lease lapses; another process may then catch up too
                    log.warning("renewing the catch-up lease of %s %s failed", platform, community, exc_info=True)

        renewing = asyncio.create_task(renew())
        try:
            yield
        finally:
            renewing.cancel()
            await asyncio.gather(renewing, return_exceptions=True)

    async def release(self, platform: str, community: str, *, covered: datetime | None = None) -> None:
        """The catch-up ended; `covered`: what was said before then is in hand (it did not fail)."""
        async with self.db.sessions.begin() as session:
            if covered is not None:
                await self._cover(session, platform, community, covered)
            await session.execute(update(CatchUpMark).where(
                CatchUpMark.platform == platform, CatchUpMark.community == community,
                CatchUpMark.held_by == self.holder).values(held_by=None, held_until=None)
                .execution_options(synchronize_session=False))

    async def beat(self, platform: str, community: str, *, since: datetime, now: datetime) -> bool:
        """A connection of this process, up from `since` (when it connected) and still at `now`: what was said in
        between was delivered to it. The mark moves to `now` where it has reached `since`; before that, what was said
        before `since` is its catch-up's to fetch. Whether it moved."""
        async with self.db.sessions.begin() as session:
            moved = await session.execute(update(CatchUpMark).where(
                CatchUpMark.platform == platform, CatchUpMark.community == community,
                CatchUpMark.covered_until >= since, CatchUpMark.covered_until < now)
                .values(covered_until=now).execution_options(synchronize_session=False))
        return moved.rowcount == 1

    @staticmethod
    async def _cover(session, platform: str, community: str, covered: datetime) -> None:  # noqa: ANN001
        await session.execute(insert_ignore(session, CatchUpMark).values(platform=platform, community=community))
        await session.execute(update(CatchUpMark).where(
            CatchUpMark.platform == platform, CatchUpMark.community == community)
            .values(covered_until=case((or_(CatchUpMark.covered_until.is_(None),
                                            CatchUpMark.covered_until < covered), literal(covered, UTCDateTime())),
                                       else_=CatchUpMark.covered_until))
            .execution_options(synchronize_session=False))


def _of(platform: str, community: str):  # noqa: ANN202
    return select(CatchUpMark).where(CatchUpMark.platform == platform, CatchUpMark.community == community)
