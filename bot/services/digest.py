"""Digests: `/digest` and `/save`, composition of a period, and posting each period exactly once."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError

from bot import events as ev
from bot import metrics, serving
from bot.actions import Action, DirectMessage, Document, PostToChannel, Reply
from bot.command_names import command
from bot.db.engine import Database
from bot.db.models import Channel, Community, Member
from bot.db.resources import Digest
from bot.errors import ChannelRefused
from bot.events import utcnow
from bot.messages import render, template
from bot.outbox import build
from bot.repo import UnknownChannel, channel_named, command_words, ensure_channel
from bot.safety import neutralise
from bot.scheduler import Scheduler
from bot.services import digest_data as data
from bot.services import digest_runs as runs
from bot.services import digest_unquote as unquote
from bot.services.digest_compose import Candidate, DigestContent, compose, shortlist, to_document
from bot.services.digest_periods import (
    DEFAULT_CRON,
    BadSchedule,
    check_schedule,
    latest_tick,
    next_tick,
    period_key,
    previous_tick,
    trigger_for,
)
from bot.services.resources import OptedOut, ResourceService
from matching.text import clean
from matching.timezones import UnknownTimezone, resolve_timezone

if TYPE_CHECKING:
    from bot.app import App
    from bot.core import Core
    from bot.services.expertise import ExpertiseService

log = logging.getLogger(__name__)

CATCH_UP_SECONDS = 600  # missed periods and failed posts are looked at this often
LIMIT = 10  # resources per digest


@dataclass(frozen=True)
class _Where:
    """Where a digest period goes, and who set it up."""

    digest_id: int
    period: str
    platform: str
    community: str  # external id
    channel: str
    creator: str | None  # the external id of the admin who chose the channel

    @property
    def post_key(self) -> str:  # the post's mark on the platform (PostToChannel.key)
        return f"digest:{self.digest_id}:{self.period}"


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    note: str = ""


def period_label(start: datetime, end: datetime, timezone: str) -> str:
    zone = ZoneInfo(timezone)
    a, b = start.astimezone(zone), (end - timedelta(seconds=1)).astimezone(zone)
    if a.date() == b.date():
        return f"{a:%b} {a.day}, {a.year}"
    if a.year != b.year:  # "Dec 30 – Jan 5, 2019" read as a period of 2019
        return f"{a:%b} {a.day}, {a.year} – {b:%b} {b.day}, {b.year}"
    return f"{a:%b} {a.day} – {b:%b} {b.day}, {b.year}"


def sharer_expertise(vector: np.ndarray | None, profile: tuple[np.ndarray, int] | None) -> float:
    """How much the sharer answers others about this resource's topic: similarity of the resource's
    discussion to what they answered, damped when they answered little."""
    if vector is None or profile is None:
        return 0.0
    centroid, count = profile
    denom = float(np.linalg.norm(vector) * np.linalg.norm(centroid)) or 1.0
    similarity = max(0.0, float(vector @ centroid) / denom)
    return similarity * min(1.0, math.log1p(count) / math.log1p(10))


# A digest is composed again at most this many times after messages it was about to show were found gone or edited on
# the platform (never with those found gone); what the last composition adds is posted unchecked.
LOOK_UPS = 3


# Why a digest is paused, as `/digest list` says it.
PAUSED = {ev.ARCHIVED: "its channel was archived", ev.DELETED: "its channel was deleted",
          ev.LEFT: "I was removed from its channel", ev.REMOVED: "I was removed from the server"}
# A channel back (unarchived, the bot invited to it again): the pauses it undoes.
RESUMES = {ev.UNARCHIVED: (ev.ARCHIVED,), ev.JOINED: (ev.LEFT,)}


class DigestService:
    def __init__(self, *, db: Database, core: Core, expertise: ExpertiseService, scheduler: Scheduler,
                 resources: ResourceService, clock: Callable[[], datetime] = utcnow, limit: int = LIMIT) -> None:
        self.db = db
        self.core = core
        self.expertise = expertise
        self.scheduler = scheduler
        self.resources = resources
        self.clock = clock
        self.limit = limit
        self.renew_seconds = runs.RENEW_EVERY.total_seconds()
        self.token = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    # -- composition -------------------------------------------------------------------------------
    async def compose(self, community_id: int, start: datetime, end: datetime, *, timezone: str = "UTC",
                      exclude: set[int] = frozenset()) -> DigestContent:
        """The period's best resources, grouped by topic, and the questions still waiting: of messages still on the
        platform as stored, where it can tell (Core.gone_from_platform; composed again where some were not)."""
        content = await self._compose(community_id, start, end, timezone=timezone, exclude=exclude)
        for _ in range(LOOK_UPS):
            # By the messages' ids: a look-up by link alone reads every message of the community (no index on links).
            links = {q.permalink: q.message_id for q in content.questions if q.permalink}
            links |= {c.permalink: c.share_message_ids[0] if c.share_message_ids else None
                      for _, items in content.groups for c in items if c.permalink}
            if not links or not await self.core.gone_from_platform(community_id, links):
                break
            content = await self._compose(community_id, start, end, timezone=timezone, exclude=exclude)
        return content

    async def _compose(self, community_id: int, start: datetime, end: datetime, *, timezone: str,
                       exclude: set[int]) -> DigestContent:
        await self.expertise.ensure_model(community_id)  # stored vectors and new encodes from one model
        async with self.db.sessions() as session:
            candidates = await data.load_candidates(session, community_id, start, end, exclude=exclude)
            short = shortlist(candidates, 3 * self.limit)
            vectors = await data.discussion_vectors(
                session, community_id, {c.resource_id: c.share_message_ids for c in short}, end)
            profiles = await data.answering_profiles(session, community_id,
                                                     {c.sharer_id for c in short if c.sharer_id}, end)
            questions = await data.waiting_questions(session, community_id, start, end)
        await self._fill_vectors(short, vectors)
        for c in short:
            c.expertise = sharer_expertise(c.vector, profiles.get(c.sharer_id) if c.sharer_id else None)
        return compose(short, questions, period=period_label(start, end, timezone), limit=self.limit)

    async def _fill_vectors(self, items: list[Candidate], vectors: dict[int, np.ndarray]) -> None:
        """Discussion vectors where the messages have them; a lone link is embedded from its title."""
        missing = [c for c in items if c.resource_id not in vectors]
        if missing:
            encoded = await self.expertise.encode([clean(f"{c.title}. {c.text}")[:500] for c in missing])
            vectors = {**vectors, **{c.resource_id: v for c, v in zip(missing, encoded, strict=True)}}
        for c in items:
            c.vector = vectors.get(c.resource_id)

    async def preview_window(self, community_id: int, digest: Digest | None, now: datetime) -> Window:
        """The current period so far; on a history with no recent activity (an import), the last
        period that had some."""
        cron, timezone = (digest.cron, digest.timezone) if digest else (DEFAULT_CRON, await self.timezone_of(
            community_id, None))
        trigger = trigger_for(cron, timezone)
        start = latest_tick(trigger, now) or now - timedelta(days=7)
        async with self.db.sessions() as session:
            if digest is not None:
                start = max(start, await runs.last_done_end(session, digest.id, now) or start)
            latest = await data.latest_activity(session, community_id)
        if latest is not None and latest < start:
            end = next_tick(trigger, latest) or latest + timedelta(seconds=1)
            begin = previous_tick(trigger, end) or end - timedelta(days=7)
            since = start.astimezone(ZoneInfo(timezone))
            return Window(begin, end, f"Nothing new since {since:%b} {since.day}; here is the last active period.")
        return Window(start, now)

    # -- scheduling --------------------------------------------------------------------------------
    def schedule(self, digest: Digest) -> None:
        digest_id = digest.id

        async def job() -> None:
            await self.run_due(digest_id)

        self.scheduler.cron(f"digest:{digest_id}", digest.cron, job, timezone=digest.timezone)

    async def catch_up(self) -> None:
        """At start and every few minutes: schedule every digest of the communities served here (some may have been
        created by another replica; bot.serving) and post any period that is due and not done (missed ticks, failed
        posts)."""
        served = serving.community_ids(self.core.senders)
        async with self.db.sessions() as session:
            digests = list(await session.scalars(select(Digest).where(Digest.community_id.in_(served))
                                                 .order_by(Digest.id)))
            others = list(await session.scalars(select(Digest.id).where(Digest.community_id.not_in(served))))
        for digest_id in others:  # another process's workspace or server (or one the bot has left since)
            self.scheduler.remove(f"digest:{digest_id}")
        for digest in digests:
            try:
                self.schedule(digest)
            except (BadSchedule, ValueError) as exc:
                log.warning("digest %d has an unusable schedule: %s", digest.id, exc)
                continue
            await self.run_due(digest.id)

    async def run_due(self, digest_id: int) -> str:
        """Post the latest due period of a digest unless it is done: 'posted', 'empty', 'failed',
        'not-due' or 'skipped' (done, or being posted by someone else)."""
        outcome = await self._run_due(digest_id)
        metrics.DIGESTS.labels(outcome).inc()
        return outcome

    async def _run_due(self, digest_id: int) -> str:
        now = self.clock()
        async with self.db.sessions.begin() as session:
            digest = await session.get(Digest, digest_id)
            if digest is None:
                self.scheduler.remove(f"digest:{digest_id}")
                return "not-due"
            if digest.paused:  # its channel archived or deleted: nothing to post to (channel_changed)
                return "paused"
            community = await session.get(Community, digest.community_id)
            trigger = trigger_for(digest.cron, digest.timezone)
            tick = latest_tick(trigger, now)
            if tick is None or tick < digest.created_at:
                return "not-due"
            start = await runs.last_done_end(session, digest.id, tick)
            if start is None or start < tick - runs.MAX_WINDOW:
                start = previous_tick(trigger, tick) or tick - timedelta(days=7)
            key = period_key(tick, digest.timezone)
            claimed = await runs.claim(session, digest, key, (start, tick), token=self.token, now=now)
            if claimed is None:
                return "skipped"
            featured = await runs.featured_resources(session, digest.id)
            platform, community_ext, channel, timezone = (community.platform, community.external_id,
                                                          digest.channel_external_id, digest.timezone)
            creator = await session.get(Member, digest.created_by_id) if digest.created_by_id else None
        where = _Where(digest_id, key, platform, community_ext, channel, creator.external_id if creator else None)
        async with self._kept_alive(digest_id, key, claimed):
            return await self._attempt(where, claimed, digest.community_id, timezone, featured, now)

    async def _attempt(self, where: _Where, claimed: runs.Claim, community_id: int, timezone: str,
                       featured: set[int], now: datetime) -> str:
        """Post a claimed period (looking in the channel first where an earlier attempt may have posted it), and record
        its outcome."""
        digest_id, key, platform, channel = where.digest_id, where.period, where.platform, where.channel
        outcome, error, shown = runs.FAILED, None, None
        try:
            if claimed.unsure:  # an earlier attempt may have posted it: look in the channel first
                refusals: list[str] = []
                if await self._posted_before(where, claimed, refusals):
                    outcome = runs.FAILED_POSTING  # until it is whole: the next attempt looks again
                    await self._complete(where, claimed)
                    outcome, shown = runs.POSTED, list(claimed.shown_before)
                    log.info("digest %d (#%s) period %s: already in the channel, posted by an earlier attempt whose "
                             "outcome was not recorded (a restart, the database gone); recorded, not posted again",
                             digest_id, channel, key)
                elif refusals:  # still unknown: the next attempt looks again (nobody is told it was not posted)
                    outcome, error = runs.FAILED_POSTING, f"{platform} did not let me read the channel: {refusals[0]}"
                    log.warning("digest %d (#%s) period %s: %s, to see whether an earlier attempt posted it "
                                "(attempt %d); will retry", digest_id, channel, key, error, claimed.attempt)
            if outcome == runs.FAILED:
                content = await self.compose(community_id, claimed.window_start, claimed.window_end,
                                             timezone=timezone, exclude=featured)
                content = await self._still_consenting(community_id, content)
                # Its claim's age starts again from now (not from when it was claimed, before a long composition).
                if not content.empty and not await self._posting(
                        claimed, self.clock(), content.resource_ids,
                        unquote.record(content, to_document(content, now=now))):
                    log.info("digest %d (#%s) period %s: taken over by another scheduler while composing; not "
                             "posted here", digest_id, channel, key)
                    return "skipped"
                outcome, error, shown = await self._post(where, claimed, content, now)
        except Exception as exc:  # any failure leaves the period to be retried, never half-done
            error = f"{type(exc).__name__}: {exc}"[:500]
            log.exception("digest %d period %s failed", digest_id, key)
        await self._record(digest_id, key, claimed, outcome, error, shown)
        return runs.FAILED if outcome == runs.FAILED_POSTING else outcome

    @contextlib.asynccontextmanager
    async def _kept_alive(self, digest_id: int, key: str, claimed: runs.Claim) -> AsyncIterator[None]:
        """The claim renewed while its holder composes, posts and records the period: a post slower than CLAIM_TIMEOUT
        (Slack's Retry-After, a Discord post of several messages, a slow database) was taken over as abandoned by
        another scheduler, which looked in the channel before the post had landed and posted it a second time."""
        task = asyncio.create_task(self._renew(digest_id, key, claimed))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _renew(self, digest_id: int, key: str, claimed: runs.Claim) -> None:
        while True:
            await asyncio.sleep(self.renew_seconds)
            try:
                async with self.db.sessions.begin() as session:
                    ours = await runs.renew(session, claimed, token=self.token, now=self.clock())
            except (DBAPIError, OSError) as exc:  # tried again at the next turn; the claim lasts CLAIM_TIMEOUT
                log.warning("digest %d period %s: renewing its claim failed (%s)", digest_id, key, type(exc).__name__)
                continue
            if not ours:  # finished meanwhile, or taken over (this process stalled longer than CLAIM_TIMEOUT)
                return

    async def _post(self, where: _Where, claimed: runs.Claim, content: DigestContent,
                    now: datetime) -> tuple[str, str | None, list[int] | None]:
        """Post the composed digest: (outcome, error, what it showed)."""
        digest_id, key, platform, channel = where.digest_id, where.period, where.platform, where.channel
        if content.empty:
            log.info("digest %d (#%s): nothing worth posting for %s; nothing posted", digest_id, channel,
                     content.period)
            return runs.EMPTY, None, []
        action = PostToChannel(community=where.community, channel=channel, doc=to_document(content, now=now),
                               key=where.post_key)
        refusals: list[str] = []
        running = platform in self.core.senders
        if await self.core.deliver(platform, [action], refusals=refusals):
            error = f"{platform} did not take the post" + (f": {refusals[0]}" if refusals else "")
            log.warning("digest %d (#%s) period %s: %s (attempt %d); will retry", digest_id, channel, key,
                        error, claimed.attempt)
            if refusals:
                await self._tell_refused(where, claimed, refusals[0])
                return runs.FAILED, runs.REFUSED + error, None
            # No adapter to take it: not posted. Otherwise it may be there (an error, no answer in time).
            return runs.FAILED if not running else runs.FAILED_POSTING, error, None
        log.info("digest %d (#%s) period %s posted: %d resource(s), %d question(s)", digest_id,
                 channel, key, len(content.resource_ids), len(content.questions))
        return runs.POSTED, None, content.resource_ids

    async def _tell_refused(self, where: _Where, claimed: runs.Claim, reason: str) -> None:
        """The channel refused the bot (not invited, archived, a permission missing): retries alone never post it, and
        nobody heard of it. The admin who chose the channel is told, once a streak of refusals (the attempt before, of
        this period or the last of the period before, was not refused), not again each period while it lasts."""
        if claimed.refused_before or where.creator is None:
            return
        await self.core.deliver(where.platform, [DirectMessage(
            community=where.community, user=where.creator, doc=Document(text=render(
                "digest_refused", channel=where.channel, reason=reason, minutes=f"{CATCH_UP_SECONDS // 60:g}")))])

    async def channel_changed(self, event: ev.ChannelChanged, community_id: int) -> list[Action]:
        """A digest's channel archived or deleted (Core.channel_listeners): each period was refused by the platform, 20
        times every 10 minutes, and its admin told again every period, for as long as the subscription stayed. It is
        paused now, its admin told once; unarchived, it goes on (the period due is posted by the next catch-up)."""
        if not event.channel:
            return await self._bot_moved(event, community_id)
        async with self.db.sessions.begin() as session:
            digest = await session.scalar(select(Digest).where(Digest.community_id == community_id,
                                                               Digest.channel_external_id == event.channel))
            if digest is None:
                return []
            if event.change in RESUMES:  # back: what paused it is undone (not another reason)
                if digest.paused not in RESUMES[event.change]:
                    return []
                paused = ""
            elif digest.paused in (event.change, ev.DELETED):
                return []
            else:
                paused = event.change
            digest.paused = paused
            digest_id = digest.id
            creator = await session.get(Member, digest.created_by_id) if digest.created_by_id else None
        log.info("digest %d (#%s): its channel was %s on %s; %s", digest_id, event.channel, event.change,
                 event.platform, "paused" if paused else "goes on")
        if creator is None:
            return []
        name = f"digest_paused_{paused}" if paused else "digest_resumed"
        text = render(name, channel=event.channel,
                      unsubscribe=command(event.platform, "digest", f"unsubscribe <#{event.channel}>"),
                      subscribe=command(event.platform, "digest", "subscribe #channel"))
        return [DirectMessage(community=event.community, user=creator.external_id, doc=Document(text=text))]

    async def _bot_moved(self, event: ev.ChannelChanged, community_id: int) -> list[Action]:
        """The bot removed from the community (Discord: kicked from the server): its digests were refused every period
        (Missing Access), and their admins, whom the bot can no longer write to, never told. They are paused; the bot
        back in it, they go on (those paused for their channel stay so)."""
        before, after = ("", ev.REMOVED) if event.change == ev.REMOVED else (ev.REMOVED, "")
        async with self.db.sessions.begin() as session:
            moved = (await session.execute(update(Digest).where(
                Digest.community_id == community_id, Digest.paused == before).values(paused=after))).rowcount
        if moved:
            log.info("%s %s: the bot %s; %d digest(s) %s", event.platform, event.community,
                     "was removed" if after else "is back", moved, "paused" if after else "go on")
        return []

    async def _posted_before(self, where: _Where, claimed: runs.Claim, refusals: list[str]) -> bool:
        """Whether an earlier attempt's post (its outcome never recorded, or a failure) is in the channel: then it is
        not posted again. Where the platform's adapter cannot tell (none running here), False: it is posted. A channel
        that refuses the bot's reads adds why to `refusals` (it would refuse the post too)."""
        try:
            found = await self.core.find_post(where.platform, where.community, where.channel, where.post_key,
                                              claimed.window_end - runs.FIND_MARGIN)
        except ChannelRefused as exc:
            refusals.append(str(exc))
            return False
        if found is None:
            log.warning("digest %d period %s: no %s adapter here can tell whether an earlier attempt posted it; "
                        "posting", where.digest_id, where.period, where.platform)
        return bool(found)

    async def _complete(self, where: _Where, claimed: runs.Claim) -> None:
        """The earlier attempt's post found in the channel, completed where it went out in part (a Discord digest over
        several messages, the process killed after the first): the take-over recorded it posted, and its other
        messages were never sent. What was kept of it is what it showed (edited since, if a member was forgotten)."""
        try:
            doc = build(Document, (claimed.posted_before or {})["doc"])
        except (LookupError, TypeError, ValueError) as exc:  # kept by no release, or dropped: found is all it can be
            log.info("digest %d period %s: what its post showed is not kept (%s); not completed", where.digest_id,
                     where.period, type(exc).__name__)
            return
        await self.core.complete_post(where.platform, where.community, where.channel, where.post_key, doc,
                                      claimed.window_end - runs.FIND_MARGIN)

    async def _still_consenting(self, community_id: int, content: DigestContent) -> DigestContent:
        """The composed digest without the entries naming a member who opted out or was forgotten while it was being
        composed (looking its messages up on the platform takes seconds): their forgetting edited the digests already
        kept, and this one was not yet (bot.services.digest_unquote). A link others shared too stays, credited to
        them."""
        named = {m for _, items in content.groups for c in items for m in (*c.named, *(s[0] for s in c.shares))}
        named |= {q.asker_id for q in content.questions if q.asker_id}
        if not named:
            return content
        async with self.db.sessions() as session:
            gone = set(await session.scalars(select(Member.external_id).where(
                Member.community_id == community_id, Member.external_id.in_(named),
                Member.profiling_consent.is_(False))))
        if not gone:
            return content
        # An entry others shared too stays, credited to them (Candidate.recredited).
        groups = [(label, kept) for label, items in content.groups
                  if (kept := [left for c in items
                               if (left := c.recredited(lambda share: False, gone.__contains__)) is not None])]
        return DigestContent(period=content.period, groups=groups,
                             questions=[q for q in content.questions if q.asker_id not in gone])

    async def _posting(self, claimed: runs.Claim, now: datetime, resource_ids: list[int], posted: dict) -> bool:
        async with self.db.sessions.begin() as session:
            return await runs.posting(session, claimed, token=self.token, now=now, resource_ids=resource_ids,
                                      posted=posted)

    async def _record(self, digest_id: int, key: str, claimed: runs.Claim, outcome: str, error: str | None,
                      shown: list[int] | None) -> None:
        """Record the period's outcome, again a few times if the database fails meanwhile (a restart, a failover):
        a post out and not recorded was taken over once its claim was old, and posted a second time."""
        for wait in (*runs.RECORD_RETRY_SECONDS, None):
            try:
                async with self.db.sessions.begin() as session:
                    ours = await runs.finish(session, claimed, token=self.token, state=outcome, now=self.clock(),
                                             error=error, resource_ids=shown)
                if not ours and outcome == runs.POSTED:  # said, where nothing else would say it
                    log.warning("digest %d period %s: posted here after another scheduler took the period over (this "
                                "process stalled past the claim's %d min); the channel may show it twice", digest_id,
                                key, runs.CLAIM_TIMEOUT // timedelta(minutes=1))
                return
            except (DBAPIError, OSError) as exc:
                if wait is None:
                    raise
                log.warning("digest %d period %s: recording it as %s failed (%s); trying again in %g s", digest_id,
                            key, outcome, type(exc).__name__, wait)
                await asyncio.sleep(wait)

    # -- commands ----------------------------------------------------------------------------------
    async def timezone_of(self, community_id: int, member_id: int | None) -> str:
        async with self.db.sessions() as session:
            community = await session.get(Community, community_id)
            member = await session.get(Member, member_id) if member_id else None
        zone = (community.settings or {}).get("timezone") if community else None
        return zone or (member.timezone if member and member.timezone else None) or "UTC"

    async def cmd_digest(self, event: ev.CommandInvoked, community_id: int, member_id: int) -> list[Action]:
        verb, _, rest = event.args.strip().partition(" ")
        verb = verb.lower()
        try:
            if verb in ("subscribe", "unsubscribe") and not (event.is_admin or event.platform == "console"):
                return [self._reply(event, "Only community admins can schedule or stop digests "
                                           "(Slack: workspace admins and owners; Discord: Manage Server).")]
            if verb == "subscribe":
                return [self._reply(event, await self._subscribe(event, community_id, member_id, rest))]
            if verb == "unsubscribe":
                return [self._reply(event, await self._unsubscribe(event, community_id, rest))]
            if verb == "list":
                return [self._reply(event, await self._list(community_id))]
            if verb == "preview":
                return [await self._preview(event, community_id)]
        except BadSchedule as exc:
            return [self._reply(event, f"That schedule won't do: {neutralise(str(exc))}")]
        except LookupError as exc:
            return [self._reply(event, neutralise(str(exc)))]
        return [self._reply(event, template("digest_help"))]

    async def cmd_save(self, event: ev.CommandInvoked, community_id: int, member_id: int) -> list[Action]:
        try:  # consent is read where the save is stored: an opt-out at the same moment either comes first or waits
            resource = await self.resources.save(community_id, member_id, event.args, now=event.time)
        except OptedOut:
            return [self._reply(event, f"You're opted out, so I store nothing new about you; "
                                       f"`{command(event.platform, 'optin')}` first.")]
        if resource is None:
            return [self._reply(event, render("save_usage", example=command(
                event.platform, "save", "https://example.com/article a note for others")))]
        return [self._reply(event, neutralise(render("saved", title=resource.title)))]

    @staticmethod
    def _reply(event: ev.Event, text: str, doc: Document | None = None) -> Reply:
        return Reply(community=event.community, channel=event.channel, user=event.user, thread=event.thread,
                     doc=doc or Document(text=text))

    async def _channel(self, community_id: int, ref: str, default: str) -> tuple[str, str]:
        """(external id, display name) of a channel written as <#C1|name>, <#123>, #name, or an id."""
        async with self.db.sessions() as session:
            try:
                return await channel_named(session, community_id, ref or default)
            except UnknownChannel:
                if ref:
                    raise
                return default, default  # where the command was typed: a channel, known here or not

    async def set_channel(self, event: ev.CommandInvoked, community_id: int, member_id: int, channel: str,
                          name: str = "") -> str:
        """`settings digest-channel <channel>`: a digest there at the default schedule, unless it has one already.
        The setting was stored and shown, and no digest was ever posted (Discord walk-through)."""
        async with self.db.sessions() as session:
            existing = await session.scalar(select(Digest).where(Digest.community_id == community_id,
                                                                 Digest.channel_external_id == channel))
        if existing is not None:
            return neutralise(f"Digest channel: <#{channel}>; its digest runs `{existing.cron}` ({existing.timezone}).")
        try:
            ref = f"<#{channel}|{name}>" if name and name != channel else f"<#{channel}>"
            return await self._subscribe(event, community_id, member_id, ref)
        except (BadSchedule, LookupError) as exc:
            return neutralise(str(exc))

    async def _subscribe(self, event: ev.CommandInvoked, community_id: int, member_id: int, rest: str) -> str:
        words = command_words(rest)
        ref = words.pop(0) if words and (words[0].startswith(("<#", "#"))) else ""
        zone = next((w.split("=", 1)[1] for w in words if w.lower().startswith("tz=")), None)
        cron = " ".join(w for w in words if not w.lower().startswith("tz=")).strip("\"'` ") or DEFAULT_CRON
        if zone is not None:  # as mentoring reads one: "tz=europe/paris" was refused, "tz=EST" UTC-5 all summer long
            try:
                zone = resolve_timezone(zone)
            except UnknownTimezone as exc:
                raise BadSchedule(str(exc)) from None
        timezone = zone or await self.timezone_of(community_id, member_id)
        now = self.clock()
        trigger = check_schedule(cron, timezone, now)
        channel, name = await self._channel(community_id, ref, event.channel)
        async with self.db.sessions.begin() as session:
            await ensure_channel(session, community_id, channel, name=name if name != channel else "")
            digest = await session.scalar(select(Digest).where(Digest.community_id == community_id,
                                                               Digest.channel_external_id == channel))
            if digest is None:
                digest = Digest(community_id=community_id, channel_external_id=channel, cron=cron, timezone=timezone,
                                created_by_id=member_id, created_at=now)
                session.add(digest)
            else:
                digest.cron, digest.timezone = cron, timezone
            await session.flush()
        self.schedule(digest)
        upcoming = next_tick(trigger, now)
        when = upcoming.astimezone(ZoneInfo(timezone)).strftime("%a %d %b %H:%M") if upcoming else "never"
        return neutralise(render("digest_subscribed", channel=f"#{name}", cron=cron, timezone=timezone, next=when))

    async def _unsubscribe(self, event: ev.CommandInvoked, community_id: int, rest: str) -> str:
        channel, name = await self._channel(community_id, rest.strip(), event.channel)
        async with self.db.sessions.begin() as session:
            ids = list(await session.scalars(select(Digest.id).where(Digest.community_id == community_id,
                                                                     Digest.channel_external_id == channel)))
            await session.execute(delete(Digest).where(Digest.id.in_(ids)))
        for digest_id in ids:
            self.scheduler.remove(f"digest:{digest_id}")
        return neutralise(f"No more digests in #{name}." if ids else f"#{name} had no digest.")

    async def _list(self, community_id: int) -> str:
        async with self.db.sessions() as session:
            rows = (await session.execute(
                select(Digest.channel_external_id, Channel.name, Digest.cron, Digest.timezone, Digest.paused)
                .outerjoin(Channel, (Channel.community_id == Digest.community_id)
                           & (Channel.external_id == Digest.channel_external_id))
                .where(Digest.community_id == community_id).order_by(Digest.id))).all()
        if not rows:
            return "No digest yet: `/digest subscribe #channel`."
        listed = "\n".join(f"• #{name or ext}: `{cron}` ({tz})" + (f", paused: {PAUSED.get(why, why)}" if why else "")
                           for ext, name, cron, tz, why in rows)
        return neutralise("Digests:\n" + listed)

    async def _preview(self, event: ev.CommandInvoked, community_id: int) -> Action:
        async with self.db.sessions() as session:
            digest = await session.scalar(select(Digest).where(Digest.community_id == community_id,
                                                               Digest.channel_external_id == event.channel))
            featured = await runs.featured_resources(session, digest.id) if digest else set()
        doc = await self.preview(community_id, digest=digest, exclude=featured)
        return self._reply(event, doc.text, doc)

    async def preview(self, community_id: int, *, digest: Digest | None = None, since: datetime | None = None,
                      until: datetime | None = None, exclude: set[int] = frozenset()) -> Document:
        """The digest of a period as it would be posted (the current period unless since/until)."""
        now = self.clock()
        timezone = digest.timezone if digest else await self.timezone_of(community_id, None)
        if since is None and until is None:
            window = await self.preview_window(community_id, digest, now)
        else:
            end = until or now
            window = Window(since or end - timedelta(days=7), end)
        content = await self.compose(community_id, window.start, window.end, timezone=timezone, exclude=exclude)
        if content.empty:
            return Document(text=render("digest_empty", period=content.period))
        doc = to_document(content, now=window.end)
        return Document(text=f"{window.note}\n{doc.text}".strip(), sections=doc.sections)


def setup(app: App, *, clock: Callable[[], datetime] = utcnow) -> DigestService:
    """Wire resources and digests into an app: the ingest listener, commands and scheduled jobs."""
    resources = ResourceService(app.db)
    app.ingest.after_store.append(resources.on_stored)
    service = DigestService(db=app.db, core=app.core, expertise=app.expertise, scheduler=app.scheduler,
                            resources=resources, clock=clock)
    app.core.register_command("digest", service.cmd_digest)
    app.core.register_command("save", service.cmd_save)
    app.core.channel_listeners.append(service.channel_changed)
    app.scheduler.every("digest:catch-up", CATCH_UP_SECONDS, service.catch_up, start_now=True)
    return service
