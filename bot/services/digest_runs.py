"""Exactly once, as a database fact: a digest period is claimed (a unique row) before anything is
posted, and marked posted, empty or failed after. Retries take a failed or abandoned claim over with
a compare-and-set, so two schedulers never both hold one period."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.resources import Digest, DigestRun
from bot.repo import insert_ignore

CLAIMED, POSTED, EMPTY, FAILED, SUPERSEDED = "claimed", "posted", "empty", "failed", "superseded"
DONE = (POSTED, EMPTY)
CLAIM_TIMEOUT = timedelta(minutes=15)  # a claim older than this was abandoned (its process died)
RETRY_AFTER = timedelta(minutes=5)
MAX_ATTEMPTS = 20
MAX_WINDOW = timedelta(days=35)  # after a long outage, one digest covers at most this much
# Recording a period's outcome is tried again after these pauses (about 2 minutes in all, a database failover).
RECORD_RETRY_SECONDS = (1.0, 5.0, 15.0, 30.0, 60.0)


@dataclass(frozen=True)
class Claim:
    run_id: int
    window_start: datetime
    window_end: datetime
    attempt: int


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
        return Claim(run.id, run.window_start, run.window_end, 1)
    if run.state in DONE or run.state == SUPERSEDED or run.attempts >= MAX_ATTEMPTS:
        return None
    if run.state == CLAIMED and now - run.claimed_at < CLAIM_TIMEOUT:
        return None
    if run.state == FAILED and now - (run.finished_at or run.claimed_at) < RETRY_AFTER:
        return None
    taken = await session.execute(
        update(DigestRun).where(DigestRun.id == run.id, DigestRun.state == run.state,
                                DigestRun.attempts == run.attempts)
        .values(state=CLAIMED, claimed_by=token, claimed_at=now, attempts=run.attempts + 1, error=None)
        .execution_options(synchronize_session=False))
    if taken.rowcount != 1:
        return None
    return Claim(run.id, run.window_start, run.window_end, run.attempts + 1)


async def finish(session: AsyncSession, claim_: Claim, *, token: str, state: str, now: datetime,
                 error: str | None = None, resource_ids: list[int] | None = None) -> bool:
    """Record the outcome, if the claim is still ours (a claim taken over after a timeout is not)."""
    done = await session.execute(
        update(DigestRun).where(DigestRun.id == claim_.run_id, DigestRun.claimed_by == token,
                                DigestRun.state == CLAIMED, DigestRun.attempts == claim_.attempt)
        .values(state=state, finished_at=now, error=error, resource_ids=resource_ids or [])
        .execution_options(synchronize_session=False))
    if done.rowcount and state in DONE:
        # An older period that kept failing is covered by this one's window: stop retrying it.
        digest_id = await session.scalar(select(DigestRun.digest_id).where(DigestRun.id == claim_.run_id))
        await session.execute(
            update(DigestRun).where(DigestRun.digest_id == digest_id, DigestRun.state == FAILED,
                                    DigestRun.window_end <= claim_.window_end)
            .values(state=SUPERSEDED).execution_options(synchronize_session=False))
    return bool(done.rowcount)
