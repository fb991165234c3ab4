"""A round's direct messages to members, each sent once and retried until it goes out or is given up.

The warning before a round, "that round will not run" (rounds switched off after it), "that round did not run" (the
bot away from its time until the next round was due), "no pair for you this round"
and "your pair is off" (to one whose partner left before
they were introduced) are stored as rows (MentoringNotice) in the transaction that claims the round's step or drops
the pair, then sent as a pair's introduction is (bot/services/mentoring_intros.py): claimed first (a compare-and-set
on the attempts, which moves `due_at` a lease ahead), so two replicas never both send one, recorded as sent right
after; one that fails is due again after a pause, up to MAX_ATTEMPTS. One the platform refuses for good (a member who
takes no DMs) is given up at once, with a log line. What a notice says is made when it is sent; one that no longer
holds (the member left the rounds, the round ran before its warning could go, a newer round was warned) is given up.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.actions import REFUSED, SENT, Button, DirectMessage, Document, Section
from bot.db.engine import Database
from bot.db.mentoring import MentoringEnrolment, MentoringNotice, Pairing, PairingRound
from bot.db.models import Community, Member
from bot.messages import ago, render
from bot.repo import insert_ignore
from bot.safety import echoed, neutralise, shown_topic
from bot.services.mentoring_cadence import Cadence
from bot.services.mentoring_intros import (
    LEASE,
    MAX_ATTEMPTS,
    NAME_CHARS,
    RETRY_AFTER,
    TOPIC_CHARS,
    _gone,
    local_time,
)
from matching.pairing import REASONS
from matching.timezones import is_known_timezone

log = logging.getLogger(__name__)

WARNING, UNMATCHED, PARTNER_GONE, CHECKIN = "warning", "unmatched", "partner_gone", "checkin"
NOT_INTRODUCED = "not_introduced"  # a pair's introduction given up: neither left, the platform failed it
CANCELLED = "cancelled"  # rounds were switched off after the warning: the round warned of will not run
MISSED = "missed"  # the bot was away from the round's time until the next one was due: it did not run


async def next_round_at(session: AsyncSession, cadence: Cadence, community_id: int, now: datetime) -> datetime:
    """When the next round runs: one warned and not run yet runs when its warning said (later than the schedule
    where the warning was late, the bot down; elsewhere where the schedule changed since), else the schedule's."""
    scheduled = cadence.next_round(now).round_at
    for at in await session.scalars(select(PairingRound.scheduled_for).where(
            PairingRound.community_id == community_id, PairingRound.warned_at.is_not(None),
            PairingRound.ran_at.is_(None), PairingRound.cancelled_at.is_(None))):
        if now < cadence.next_round(at).round_at:  # as MentoringService.due runs it
            scheduled = min(scheduled, max(at, now))
    return scheduled


async def queue(session: AsyncSession, community_id: int, round_id: int, member_ids: Iterable[int], kind: str,
                now: datetime, *, pairing_id: int = 0) -> None:
    """Store one notice per member, due now (a member who has one of its kind for the round already keeps it)."""
    rows = [{"community_id": community_id, "round_id": round_id, "member_id": m, "kind": kind, "created_at": now,
             "due_at": now, "attempts": 0, "pairing_id": pairing_id} for m in dict.fromkeys(member_ids)]
    if rows:
        await session.execute(insert_ignore(session, MentoringNotice), rows)


class RoundNotices:
    def __init__(self, *, db: Database, core, cadence) -> None:  # noqa: ANN001
        self.db = db
        self.core = core
        self.cadence = cadence  # async (session, community_id) -> Cadence

    async def send_due(self, community_id: int, now: datetime) -> int:
        """Send the notices due in one community (new ones, failed ones' retries); how many went out."""
        async with self.db.sessions() as session:
            community = await session.get(Community, community_id)
            due = list(await session.scalars(
                select(MentoringNotice.id).where(MentoringNotice.community_id == community_id,
                                                 MentoringNotice.due_at.is_not(None), MentoringNotice.due_at <= now)
                .order_by(MentoringNotice.id)))
        sent = 0
        for notice_id in due:
            try:
                sent += await self._send(community, notice_id, now)
            except Exception:  # one member's trouble holds up no other's message
                log.exception("mentoring: community %d, notice %d failed; the next tick tries again",
                              community_id, notice_id)
        return sent

    async def _send(self, community: Community, notice_id: int, now: datetime) -> bool:
        async with self.db.sessions.begin() as session:
            row = (await session.execute(
                select(MentoringNotice, PairingRound, Member)
                .join(PairingRound, PairingRound.id == MentoringNotice.round_id)
                .join(Member, Member.id == MentoringNotice.member_id)
                .where(MentoringNotice.id == notice_id))).first()
            if row is None:
                return False
            notice, round_, member = row
            attempt = notice.attempts + 1
            claimed = await session.execute(
                update(MentoringNotice)
                .where(MentoringNotice.id == notice_id, MentoringNotice.attempts == notice.attempts,
                       MentoringNotice.due_at.is_not(None), MentoringNotice.due_at <= now)
                .values(attempts=attempt, due_at=now + LEASE)
                .execution_options(synchronize_session=False))
            if not claimed.rowcount:  # another replica has it
                return False
            what = f"community {community.id}, round {round_.period_key}, {notice.kind} to member {member.id}"
            enrolment = await session.scalar(select(MentoringEnrolment).where(
                MentoringEnrolment.community_id == community.id, MentoringEnrolment.member_id == member.id))
            cadence = await self.cadence(session, community.id)
            doc, why_not = await self._document(session, notice, round_, member, enrolment, cadence, now)
            if why_not:
                await session.execute(update(MentoringNotice).where(MentoringNotice.id == notice_id).values(
                    due_at=None, given_up_at=now, error=why_not))
                log.info("mentoring: %s not sent, given up: %s", what, why_not)
                return False
            action = DirectMessage(community=community.external_id, user=member.external_id, doc=doc)
        outcome = await self.core.send(community.platform, action)
        async with self.db.sessions.begin() as session:
            mine = (MentoringNotice.id == notice_id, MentoringNotice.attempts == attempt)  # not taken over meanwhile
            if outcome == SENT:
                await session.execute(update(MentoringNotice).where(*mine).values(sent_at=now, due_at=None,
                                                                                  error=None))
                return True
            error = f"{community.platform} {outcome} it (attempt {attempt} of {MAX_ATTEMPTS})"
            if outcome == REFUSED or attempt >= MAX_ATTEMPTS:
                await session.execute(update(MentoringNotice).where(*mine).values(
                    due_at=None, given_up_at=now, error=error))
                log.warning("mentoring: %s not sent, given up: %s", what, error)
            else:
                retry_at = now + RETRY_AFTER[attempt - 1]
                await session.execute(update(MentoringNotice).where(*mine).values(due_at=retry_at, error=error))
                log.warning("mentoring: %s not sent: %s; trying again at %s", what, error,
                            f"{retry_at:%Y-%m-%d %H:%M} UTC")
        return False

    @staticmethod
    async def _document(session: AsyncSession, notice: MentoringNotice, round_: PairingRound, member: Member,
                        enrolment: MentoringEnrolment | None, cadence: Cadence,
                        now: datetime) -> tuple[Document | None, str | None]:
        """What the notice says, or why it is not to be sent any more."""
        if notice.kind == CHECKIN:
            return await _checkin(session, notice, member, now)
        gone = _gone(member, {member.id} if enrolment is not None else set())
        if gone:
            return None, f"the member {gone}"
        if notice.kind == CANCELLED:  # said whether rounds are on again or not: this one is off for good
            if round_.ran_at is not None:
                return None, "the round ran after all"
            timezone = enrolment.timezone if is_known_timezone(enrolment.timezone) else "UTC"
            return Document(text=render("mentoring_cancelled", when=local_time(round_.scheduled_for, timezone))), None
        if notice.kind == MISSED:
            timezone = enrolment.timezone if is_known_timezone(enrolment.timezone) else "UTC"
            following = "Mentoring rounds are off in this community for now."
            if cadence.enabled:
                at = await next_round_at(session, cadence, round_.community_id, now)
                following = f"The next round is {local_time(at, timezone)}; I'll warn you before it."
            return Document(text=render("mentoring_missed", when=local_time(round_.scheduled_for, timezone),
                                        next=following)), None
        if not cadence.enabled:  # switched off since: no round to warn of, no next round to promise
            return None, "mentoring rounds are off in this community"
        timezone = enrolment.timezone if is_known_timezone(enrolment.timezone) else "UTC"
        if notice.kind == WARNING:
            if round_.ran_at is not None:
                return None, "the round ran before the warning could go out"
            if round_.cancelled_at is not None:  # missed while the bot was away, or rounds switched off and on
                return None, "the round will not run"
            if enrolment.paused or enrolment.skip_next:
                return None, "the member sits this round out"
            text = render("mentoring_warning", when=local_time(round_.scheduled_for, timezone), role=enrolment.role)
            skip = Button("Skip this round", "mentoring.skip", round_.period_key)
            return Document(text=text, sections=(Section(buttons=(skip,)),)), None
        newer = await session.scalar(select(PairingRound.id).where(
            PairingRound.community_id == round_.community_id, PairingRound.warned_at.is_not(None),
            PairingRound.scheduled_for > round_.scheduled_for).limit(1))
        if newer is not None:
            return None, "a newer round was warned since"
        next_round = local_time(cadence.next_round(now).round_at, timezone)
        if notice.kind == UNMATCHED:
            reason = next((u.get("reason") for u in round_.unmatched or [] if u.get("member_id") == member.id), None)
            if reason is None:
                return None, "the round no longer lists the member as unmatched"
            return Document(text=render("mentoring_unmatched", period=round_.period_key,
                                        reason=REASONS.get(reason, "nobody fitted this time"),
                                        next_round=next_round)), None
        if notice.kind == PARTNER_GONE:
            others = await session.scalar(select(func.count()).select_from(Pairing).where(
                Pairing.round_id == round_.id, Pairing.id != notice.pairing_id, Pairing.intro_given_up_at.is_(None),
                (Pairing.mentor_id == member.id) | (Pairing.mentee_id == member.id)))
            which = "One of your mentoring pairs" if others else "Your mentoring pair"  # a mentor of several
            return Document(text=neutralise(render("mentoring_partner_gone", which=which, period=round_.period_key,
                                                   next_round=next_round))), None
        if notice.kind == NOT_INTRODUCED:
            return Document(text=render("mentoring_not_introduced", period=round_.period_key,
                                        next_round=next_round)), None
        return None, f"unknown kind {notice.kind!r}"


async def _checkin(session: AsyncSession, notice: MentoringNotice, member: Member,
                   now: datetime) -> tuple[Document | None, str | None]:
    """A pair's check-in to one of them: whether they met, with the pair's buttons. Asked of one who left the rounds
    since (they were paired all the same), not of one who left the workspace or opted out (their answer is not kept)."""
    pairing = await session.get(Pairing, notice.pairing_id)
    if pairing is None:
        return None, "the pair is no longer stored"
    if member.deactivated:
        return None, "the member has left the workspace or server"
    if not member.profiling_consent:
        return None, "the member has opted out"
    other = await session.get(Member, pairing.mentee_id if member.id == pairing.mentor_id else pairing.mentor_id)
    when = ago((now - pairing.created_at).total_seconds())  # checkin_days, or longer where the bot was down
    text = render("mentoring_checkin", when=when[:1].upper() + when[1:],
                  other=echoed(other.name or other.external_id, NAME_CHARS),
                  topics=", ".join(shown_topic(t, TOPIC_CHARS) for t in pairing.topics) or "(none)")
    buttons = (Button("Yes, we met", "mentoring.met", str(pairing.id), "primary"),
               Button("Not yet", "mentoring.notmet", str(pairing.id)))
    return Document(text=neutralise(text), sections=(Section(buttons=buttons),)), None
