"""Exactly once, as a database fact: a digest period is claimed (a unique row) before anything is
posted, marked posting (with what it shows) right before the post goes to the platform, and posted,
empty or failed after. Retries take a failed or abandoned claim over with a compare-and-set, so two
schedulers never both hold one period. A post the platform took and nobody recorded (the process killed
in between, the database gone) is what a period left posting or failed may hide: the one that takes it
over looks in the channel for the post first (DigestService, FindsPosts)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.resources import Digest, DigestRun
from bot.repo import insert_ignore

CLAIMED, POSTING, POSTED, EMPTY, FAILED, SUPERSEDED = (
    "claimed", "posting", "posted", "empty", "failed", "superseded")
# Failed after the post was handed to the platform, not refused by it (an error, no answer): it may be there anyway.
FAILED_POSTING = "failed-posting"
HELD = (CLAIMED, POSTING)  # a claim in hand: composing, or the post handed to the platform
FAILURES = (FAILED, FAILED_POSTING)
REFUSED = "refused: "  # how the error of an attempt the channel refused begins
DONE = (POSTED, EMPTY)
CLAIM_TIMEOUT = timedelta(minutes=15)  # a claim older than this was abandoned (its process died)
# A holder still at work (composing, posting: a Slack 429's Retry-After, a Discord post of several messages, a slow
# database) renews its claim this often, so only a dead holder's claim grows old enough to be taken over.
RENEW_EVERY = CLAIM_TIMEOUT / 3
RETRY_AFTER = timedelta(minutes=5)
MAX_ATTEMPTS = 20
FIND_MARGIN = timedelta(hours=1)  # a post is looked for from this long before its period's end (clocks differ)
MAX_WINDOW = timedelta(days=35)  # after a long outage, one digest covers at most this much
# Recording a period's outcome is tried again after these pauses (about 2 minutes in all, a database failover).
RECORD_RETRY_SECONDS = (1.0, 5.0, 15.0, 30.0, 60.0)


@dataclass(frozen=True)
class Claim:
    run_id: int
    window_start: datetime
    window_end: datetime
    attempt: int
    # An earlier attempt handed the post to the platform and its outcome is unknown or a failure (it may have got
    # there all the same): look in the channel before posting again. What it was to show, if found there.
    unsure: bool = False
    shown_before: tuple[int, ...] = ()
    # The attempt before (of this period, or the period before's last) was refused by the channel: its admin was told.
    refused_before: bool = False
    # What that earlier attempt handed to the platform, as it is kept (bot.services.digest_unquote.record): a post found
    # in the channel is completed with it where only its first message went out.
    posted_before: dict | None = None


async def last_done_end(session: AsyncSession, digest_id: int, before: datetime) -> datetime | None:
    return await session.scalar(select(DigestRun.window_end).where(
        DigestRun.digest_id == digest_id, DigestRun.state.in_(DONE), DigestRun.window_end <= before)
        .order_by(DigestRun.window_end.desc()).limit(1))


async def featured_resources(session: AsyncSession, digest_id: int) -> set[int]:
    rows = await session.scalars(select(DigestRun.resource_ids).where(DigestRun.digest_id == digest_id,
                                                                      DigestRun.state == POSTED))
    return {rid for ids in rows for rid in ids or ()}


async def claim(session: AsyncSession, digest: Digest, key: str, window: tuple[datetime, datetime], *,
                token: str, now: datetime) -> Claim | None:
    """Own the period `key` of `digest`, or None when it is done, being posted elsewhere, or resting
    between retries. Commit right after: the claim must be visible before posting starts."""
    inserted = await session.execute(insert_ignore(session, DigestRun).values(
        community_id=digest.community_id, digest_id=digest.id, period_key=key, window_start=window[0],
        window_end=window[1], state=CLAIMED, claimed_by=token, claimed_at=now, attempts=1, resource_ids=[]))
    run = await session.scalar(select(DigestRun).where(DigestRun.digest_id == digest.id,
                                                       DigestRun.period_key == key))
    if run is None:
        return None
    if inserted.rowcount:
        # The period before ended refused by the channel (a permission still missing): its admin was told then, and
        # was told again each period, for as long as it lasted.
        before = (await session.execute(select(DigestRun.state, DigestRun.error).where(
            DigestRun.digest_id == digest.id, DigestRun.window_end < run.window_end)
            .order_by(DigestRun.window_end.desc()).limit(1))).first()
        refused = before is not None and before[0] in FAILURES and (before[1] or "").startswith(REFUSED)
        return Claim(run.id, run.window_start, run.window_end, 1, refused_before=refused)
    if run.state in DONE or run.state == SUPERSEDED or run.attempts >= MAX_ATTEMPTS:
        return None
    if run.state in HELD and now - run.claimed_at < CLAIM_TIMEOUT:
        return None
    if run.state in FAILURES and now - (run.finished_at or run.claimed_at) < RETRY_AFTER:
        return None
    # As read: a holder that renewed its claim meanwhile (renew) keeps it.
    taken = await session.execute(
        update(DigestRun).where(DigestRun.id == run.id, DigestRun.state == run.state,
                                DigestRun.attempts == run.attempts, DigestRun.claimed_at == run.claimed_at)
        .values(state=CLAIMED, claimed_by=token, claimed_at=now, attempts=run.attempts + 1, error=None)
        .execution_options(synchronize_session=False))
    if taken.rowcount != 1:
        return None
    return Claim(run.id, run.window_start, run.window_end, run.attempts + 1,
                 unsure=run.state in (POSTING, FAILED_POSTING), shown_before=tuple(run.resource_ids or ()),
                 refused_before=run.state in FAILURES and (run.error or "").startswith(REFUSED),
                 posted_before=run.posted if run.state in (POSTING, FAILED_POSTING) else None)


async def posting(session: AsyncSession, claim_: Claim, *, token: str, now: datetime, resource_ids: list[int],
                  posted: dict | None = None) -> bool:
    """The post is about to go to the platform: say so, with what it shows (`posted`: the post itself and whom it
    names, bot.services.digest_unquote), if the claim is still ours (a claim taken
    over meanwhile, after a slow composition, is not: nothing is posted). Commit right after, before posting."""
    done = await session.execute(
        update(DigestRun).where(DigestRun.id == claim_.run_id, DigestRun.claimed_by == token,
                                DigestRun.state == CLAIMED, DigestRun.attempts == claim_.attempt)
        .values(state=POSTING, claimed_at=now, resource_ids=resource_ids, posted=posted)
        .execution_options(synchronize_session=False))
    return bool(done.rowcount)


async def renew(session: AsyncSession, claim_: Claim, *, token: str, now: datetime) -> bool:
    """The claim is still being worked on by its holder (`token`): its age starts again. False where it is no longer
    ours (taken over, or finished)."""
    done = await session.execute(
        update(DigestRun).where(DigestRun.id == claim_.run_id, DigestRun.claimed_by == token,
                                DigestRun.state.in_(HELD), DigestRun.attempts == claim_.attempt)
        .values(claimed_at=now).execution_options(synchronize_session=False))
    return bool(done.rowcount)


async def finish(session: AsyncSession, claim_: Claim, *, token: str, state: str, now: datetime,
                 error: str | None = None, resource_ids: list[int] | None = None) -> bool:
    """Record the outcome, if the claim is still ours (a claim taken over after a timeout is not). `resource_ids`:
    what the posted digest showed; None keeps what the attempt meant to show (a failure's)."""
    shown = {} if resource_ids is None else {"resource_ids": resource_ids}
    done = await session.execute(
        update(DigestRun).where(DigestRun.id == claim_.run_id, DigestRun.claimed_by == token,
                                DigestRun.state.in_(HELD), DigestRun.attempts == claim_.attempt)
        .values(state=state, finished_at=now, error=error, **shown)
        .execution_options(synchronize_session=False))
    if done.rowcount and state in DONE:
        # An older period that kept failing is covered by this one's window: stop retrying it.
        digest_id = await session.scalar(select(DigestRun.digest_id).where(DigestRun.id == claim_.run_id))
        await session.execute(
            update(DigestRun).where(DigestRun.digest_id == digest_id, DigestRun.state.in_(FAILURES),
                                    DigestRun.window_end <= claim_.window_end)
            .values(state=SUPERSEDED).execution_options(synchronize_session=False))
    return bool(done.rowcount)
