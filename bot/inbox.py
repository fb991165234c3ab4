"""The inbox: platform events kept in the database from their acknowledgement until they are handled.

Slack does not send an acknowledged event again, and the adapter acknowledges each at once and handles it after (Slack
wants its answer within 3 s). An event acknowledged by a process that then died (SIGKILL, an OOM kill, a lost node, a
crash) was lost for good: a message never stored, a deletion never applied. The adapter now writes the event here
first (one small insert), Core.handle removes it where it records the event as handled, and a sweep (at start and every
minute, on every replica) hands the ones left behind to their platform's adapter, which handles them as it does a live
one. Each is replayed by one replica at a time (a compare-and-set on the row), at most MAX_ATTEMPTS times, then set
aside. A sweep replays the events of the communities its process serves (bot.serving: another workspace's are its
own process's); events no process here replays (their deployment switched off) wait UNREPLAYED_KEPT for one, then go
with one log line. A member's /optout or /forget-me is kept the same way, on Slack and on Discord
(bot.command_names.ERASURES), and answered by DM when replayed. Handling stays once per event id (the processed-event
table), and consent is read when an event is handled: a replayed message of a member who opted out or was forgotten
meanwhile stores nothing."""
from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import metrics, serving
from bot.db.engine import Database
from bot.db.models import InboxEvent, ProcessedEvent
from bot.events import utcnow
from bot.repo import insert_ignore

log = logging.getLogger(__name__)

GRACE = timedelta(seconds=60)  # younger, an event may still be in its listener's hands
LEASE = timedelta(minutes=5)  # a replay under way: no other sweep takes the event before then
STALE_CLAIM = timedelta(minutes=5)  # an event claimed this long ago and not done was abandoned by its process
MAX_ATTEMPTS = 5  # replays of one event before it is set aside
SWEEP_SECONDS = 60
BATCH = 100  # events replayed by one sweep at most
SET_ASIDE_KEPT = timedelta(days=7)  # then a set-aside event (members' words) goes too
# An event no process here replays (its platform's or workspace's deployment switched off) waits this long, then goes:
# a running one replays it within a minute or two, so one this old has had nobody to replay it all that time.
UNREPLAYED_KEPT = SET_ASIDE_KEPT
# An event still waiting this long after its ack was not taken by a running sweep (or failed there again and again):
# left behind, it goes with the data of a member it names when they opt out or are forgotten, as a set-aside one does.
LEFT_BEHIND = GRACE + LEASE
# The Events API's old verification token rides in every body; a slash command's response_url is a credential for 30
# minutes (a kept command is answered by DM).
SECRETS = ("token", "response_url")

Replay = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Kept:
    """Which inbox row an event came from: the platform's own ids."""

    platform: str
    community: str
    event_id: str


def storable_body(body: dict[str, Any]) -> str:
    """The payload as JSON, without its secrets."""
    return json.dumps({key: value for key, value in body.items() if key not in SECRETS})


class Inbox:
    def __init__(self, db: Database, senders: Mapping[str, Any] | None = None) -> None:
        self.db = db
        self.replayers: dict[str, Replay] = {}  # by platform: handles a kept payload as its live listener does
        self.senders = senders if senders is not None else {}  # the core's: which communities are served here

    def _replayed_here(self) -> Any:  # noqa: ANN401 - a SQL condition
        """The kept events this process replays: of a platform it has a replayer and a sender for, and a community
        served here (bot.serving). Another workspace's, replayed here, was answered through this process's client; a
        Discord server's before READY (its replayer is there, its sender and servers not yet), through a bot that may
        not be in it."""
        return serving.where({platform: sender for platform, sender in self.senders.items()
                              if platform in self.replayers}, InboxEvent.platform, InboxEvent.community)

    def register(self, platform: str, replay: Replay) -> None:
        self.replayers[platform] = replay

    async def keep(self, kept: Kept, body: dict[str, Any]) -> None:
        """Before the ack. A platform's retry of the same event is kept once."""
        async with self.db.sessions.begin() as session:
            await session.execute(insert_ignore(session, InboxEvent).values(
                platform=kept.platform, community=kept.community, event_id=kept.event_id, body=storable_body(body),
                received_at=utcnow(), attempts=0))

    async def forget(self, kept: Kept) -> None:
        """An event there is nothing to do with (of a kind not used, malformed)."""
        async with self.db.sessions.begin() as session:
            await _remove(session, kept)

    async def done(self, community_id: int, kept: Kept) -> None:
        """The event was handled to the end: its claim says so, and its words leave the inbox."""
        async with self.db.sessions.begin() as session:
            await session.execute(update(ProcessedEvent).where(
                ProcessedEvent.community_id == community_id, ProcessedEvent.event_id == kept.event_id)
                .values(done_at=utcnow()).execution_options(synchronize_session=False))
            await _remove(session, kept)

    async def sweep(self, now: datetime | None = None) -> int:
        """Replay the events acknowledged more than GRACE ago and still here; returns how many were handled."""
        now = now or utcnow()
        async with self.db.sessions.begin() as session:
            gone = await session.execute(delete(InboxEvent).where(InboxEvent.set_aside_at < now - SET_ASIDE_KEPT))
            if gone.rowcount:
                log.info("inbox: %d event(s) set aside %d days ago removed", gone.rowcount, SET_ASIDE_KEPT.days)
            # Members' words of a platform nobody replays here stayed for ever (a Discord deployment switched off).
            unreplayed = (InboxEvent.set_aside_at.is_(None), InboxEvent.received_at < now - UNREPLAYED_KEPT,
                          not_(self._replayed_here()))
            for platform, in (await session.execute(select(InboxEvent.platform).where(*unreplayed).distinct())).all():
                gone = await session.execute(delete(InboxEvent).where(*unreplayed, InboxEvent.platform == platform))
                if gone.rowcount:
                    metrics.INBOX.labels(platform, "dropped").inc(gone.rowcount)
                    log.warning("inbox: %d %s event(s) waited %d days with no %s adapter running to handle them: "
                                "removed", gone.rowcount, platform, UNREPLAYED_KEPT.days, platform)
        if not self.replayers:
            return 0
        async with self.db.sessions.begin() as session:
            due = (await session.execute(select(InboxEvent.id, InboxEvent.attempts).where(
                self._replayed_here(), InboxEvent.set_aside_at.is_(None),
                InboxEvent.received_at < now - GRACE, _free(now)).order_by(InboxEvent.id).limit(BATCH))).all()
        handled = 0
        for row_id, attempts in due:
            row = await self._lease(row_id, attempts, now)
            if row is None:
                continue
            try:
                body = json.loads(row.body)
                if not isinstance(body, dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                log.warning("inbox: %s event %s cannot be read (%s)", row.platform, row.event_id[:80], exc)
                continue
            try:
                await self.replayers[row.platform](body)
            except Exception:
                log.exception("inbox: replaying %s event %s failed", row.platform, row.event_id[:80])
            async with self.db.sessions() as session:
                gone = await session.get(InboxEvent, row_id) is None
            handled += gone
            metrics.INBOX.labels(row.platform, "handled" if gone else "left").inc()
        if handled:
            log.info("inbox: %d event(s) acknowledged earlier and left unhandled were handled", handled)
        return handled

    async def _lease(self, row_id: int, attempts: int, now: datetime) -> InboxEvent | None:
        """The row, ours to replay until LEASE has passed; None when another sweep took it first, or it has been
        replayed MAX_ATTEMPTS times (it is set aside, in one log line)."""
        async with self.db.sessions.begin() as session:
            mine = (InboxEvent.id == row_id, InboxEvent.attempts == attempts, InboxEvent.set_aside_at.is_(None),
                    _free(now))
            if attempts >= MAX_ATTEMPTS:
                aside = await session.execute(update(InboxEvent).where(*mine).values(set_aside_at=now)
                                              .execution_options(synchronize_session=False))
                if aside.rowcount:
                    row = await session.get(InboxEvent, row_id)
                    metrics.INBOX.labels(row.platform, "set_aside").inc()
                    log.warning("inbox: %s event %s set aside after %d failed replays (removed after %d days)",
                                row.platform, row.event_id[:80], attempts, SET_ASIDE_KEPT.days)
                return None
            taken = await session.execute(update(InboxEvent).where(*mine).values(
                attempts=attempts + 1, leased_until=now + LEASE).execution_options(synchronize_session=False))
            if taken.rowcount != 1:
                return None
            row = await session.get(InboxEvent, row_id)
            session.expunge(row)
            return row


def _free(now: datetime):  # noqa: ANN202
    return or_(InboxEvent.leased_until.is_(None), InboxEvent.leased_until < now)


async def _remove(session: AsyncSession, kept: Kept) -> None:
    await session.execute(delete(InboxEvent).where(
        InboxEvent.platform == kept.platform, InboxEvent.community == kept.community,
        InboxEvent.event_id == kept.event_id))


async def drop_set_aside(session: AsyncSession, platform: str, community: str, member_external_id: str,
                         now: datetime | None = None) -> int:
    """The events set aside, or left behind (waiting over LEFT_BEHIND: no running sweep took them, as when their
    platform's deployment is switched off), that name a member (their message, their reaction, one to their message):
    removed with the member's data when they opt out or are forgotten, not kept the 7 days. Those a sweep will replay
    soon are left: they store nothing of theirs (consent is read when an event is handled)."""
    now = now or utcnow()
    left_behind = InboxEvent.set_aside_at.is_not(None) | (
        (InboxEvent.received_at < now - LEFT_BEHIND) & _free(now))
    result = await session.execute(delete(InboxEvent).where(
        InboxEvent.platform == platform, InboxEvent.community == community, left_behind,
        InboxEvent.body.contains(json.dumps(member_external_id), autoescape=True)))
    return int(result.rowcount or 0)


async def take_over(session: AsyncSession, community_id: int, kept: Kept, now: datetime | None = None) -> bool:
    """An event kept in the inbox whose id was claimed before: True when this caller now holds the claim, as the
    process that claimed it died without handling it to the end (claimed over STALE_CLAIM ago, never done). A claim
    done means the event was handled: its row leaves the inbox. A recent one is under way elsewhere."""
    now = now or utcnow()
    claim = await session.scalar(select(ProcessedEvent).where(ProcessedEvent.community_id == community_id,
                                                              ProcessedEvent.event_id == kept.event_id))
    if claim is None:
        return False  # pruned meanwhile: as good as done long ago
    if claim.done_at is not None:
        await _remove(session, kept)
        return False
    if now - claim.created_at < STALE_CLAIM:
        return False
    taken = await session.execute(update(ProcessedEvent).where(
        ProcessedEvent.id == claim.id, ProcessedEvent.created_at < now - STALE_CLAIM, ProcessedEvent.done_at.is_(None))
        .values(created_at=now).execution_options(synchronize_session=False))
    return taken.rowcount == 1
