"""A mentoring pair's introduction: what it says, and sending it once, retried until it goes out or is given up.

A round stores its pairs with their introduction due. Each is claimed before it is sent (a compare-and-set on the
pairing's attempts, which moves `intro_due_at` a lease ahead), so two replicas never both send one; it is recorded
as sent right after. One that fails (a platform error, a member who takes no DMs, a process stopped mid-round) is
due again after a pause, up to MAX_ATTEMPTS; a claim whose process died is taken over once its lease has passed.
A pair one of whom has left the rounds, opted out or left the platform since, or whose check-in would be due
already, is not introduced: the introduction is given up, with a log line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import aliased

from bot.actions import SENT, Document, OpenGroup, Section
from bot.db.engine import Database
from bot.db.mentoring import MentoringEnrolment, Pairing, PairingRound
from bot.db.models import Community, Member
from bot.messages import render, template
from bot.safety import echoed, neutralise, shown_topic
from matching.timezones import is_known_timezone

log = logging.getLogger(__name__)

NAME_CHARS, TOPIC_CHARS = 80, 120  # a name and a topic as the pair's introduction shows them
LEASE = timedelta(minutes=15)  # an attempt not recorded by then was cut off (its process died): due again
RETRY_AFTER = (timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1), timedelta(hours=3),
               timedelta(hours=8))  # after the 1st, 2nd, … failed attempt
MAX_ATTEMPTS = len(RETRY_AFTER) + 1


@dataclass(frozen=True)
class Shared:
    wanted: str  # what the mentee wants to learn
    taught: str  # the closest thing the mentor teaches


def local_time(moment: datetime, zone: str) -> str:
    """A moment as a member reads it: 'Mon 30 Nov, 11:00 Europe/Berlin'."""
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local:%a %-d %b}, {local:%H:%M} {zone}"


def intro_document(mentor_name: str, mentee_name: str, shared: list[Shared], overlap_hours: float | None,
                   checkin: datetime, timezone: str, mentor_timezone: str | None = None) -> Document:
    """The pair's introduction. Names and topics are the members' own words: shown, never a link or a ping (a
    [masked](link) in a topic was a live link in the pair's Discord group). The check-in's time is the mentee's
    (`timezone`) and, where theirs reads otherwise, the mentor's: both read the one message."""
    mentor, mentee = echoed(mentor_name, NAME_CHARS), echoed(mentee_name, NAME_CHARS)
    topics = [Shared(shown_topic(s.wanted, TOPIC_CHARS), shown_topic(s.taught, TOPIC_CHARS)) for s in shared]
    wants = ", ".join(dict.fromkeys(s.wanted for s in topics)) or "a few things"
    teaches = ", ".join(dict.fromkeys(s.taught for s in topics)) or "what they know"
    lines = [line for line in template("mentoring_starters").splitlines() if line.strip()]
    starters = []
    for n, line in enumerate(lines[: max(2, min(4, 2 * len(topics)))]):
        topic = topics[n % len(topics)] if topics else None
        starters.append("• " + line.format(
            mentor=mentor, mentee=mentee, wanted=topic.wanted if topic else "what you want to learn",
            taught=topic.taught if topic else "your field"))
    text = render("mentoring_intro", mentor=mentor, mentee=mentee, wants=wants, teaches=teaches,
                  overlap=f"{overlap_hours:g}" if overlap_hours is not None else "a few",
                  checkin=_for_each(checkin, ((mentor, mentor_timezone or timezone), (mentee, timezone))))
    return Document(text=neutralise(text),
                    sections=(Section(heading="Conversation starters", text=neutralise("\n".join(starters))),))


def _for_each(moment: datetime, people: tuple[tuple[str, str], ...]) -> str:
    """A moment as each reads it: 'Mon 30 Nov, 11:00 Europe/Berlin' where their clocks all show the same, else
    'Mon 30 Nov, 19:00 America/Los_Angeles for Petra and Tue 1 Dec, 12:00 Asia/Tokyo for Asha'."""
    if len({moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None) for _, zone in people}) == 1:
        return local_time(moment, people[-1][1])
    return " and ".join(f"{local_time(moment, zone)} for {name}" for name, zone in people)


class PairIntroductions:
    def __init__(self, *, db: Database, core) -> None:  # noqa: ANN001
        self.db = db
        self.core = core

    async def send_due(self, community_id: int, now: datetime, *, checkin_days: float) -> int:
        """Send the introductions due in one community (a new round's, a failed one's retry); how many went out."""
        async with self.db.sessions() as session:
            community = await session.get(Community, community_id)
            due = list(await session.scalars(
                select(Pairing.id).where(Pairing.community_id == community_id, Pairing.intro_due_at.is_not(None),
                                         Pairing.intro_due_at <= now).order_by(Pairing.id)))
        sent = 0
        for pairing_id in due:
            try:
                sent += await self._send(community, pairing_id, now, checkin_days)
            except Exception:  # one pair's trouble (the database, a bad stored value) holds up no other pair
                log.exception("mentoring: community %d, introducing pair %d failed; the next tick tries again",
                              community_id, pairing_id)
        return sent

    async def _send(self, community: Community, pairing_id: int, now: datetime, checkin_days: float) -> bool:
        mentor, mentee = aliased(Member), aliased(Member)
        async with self.db.sessions.begin() as session:
            row = (await session.execute(
                select(Pairing, PairingRound.period_key, mentor, mentee)
                .join(PairingRound, PairingRound.id == Pairing.round_id)
                .join(mentor, mentor.id == Pairing.mentor_id)
                .join(mentee, mentee.id == Pairing.mentee_id)
                .where(Pairing.id == pairing_id))).first()
            if row is None:  # forgotten since (/forget-me deletes their pairs)
                return False
            pairing, period_key, a, b = row
            attempt = pairing.intro_attempts + 1
            claimed = await session.execute(
                update(Pairing)
                .where(Pairing.id == pairing_id, Pairing.intro_attempts == pairing.intro_attempts,
                       Pairing.intro_due_at.is_not(None), Pairing.intro_due_at <= now)
                .values(intro_attempts=attempt, intro_due_at=now + LEASE)
                .execution_options(synchronize_session=False))
            if not claimed.rowcount:  # another replica has it
                return False
            what = f"community {community.id}, round {period_key}, pair {pairing_id}"
            enrolled = set(await session.scalars(select(MentoringEnrolment.member_id).where(
                MentoringEnrolment.community_id == community.id, MentoringEnrolment.member_id.in_((a.id, b.id)))))
            why_not = (
                "its check-in is due already" if now >= pairing.created_at + timedelta(days=checkin_days)
                else next((f"{role} {why}" for role, member in (("the mentor", a), ("the mentee", b))
                           for why in [_gone(member, enrolled)] if why), None))
            if why_not:
                await session.execute(update(Pairing).where(Pairing.id == pairing_id).values(
                    intro_due_at=None, intro_given_up_at=now, intro_error=why_not))
                log.warning("mentoring: %s not introduced, given up: %s", what, why_not)
                # The other one, still here, is told the pair is off (not who left), and comes first next round; both,
                # where neither left (the check-in was due already: the bot was down), that it could not be made.
                stayed = [m.id for m in (a, b) if not _gone(m, enrolled)]
                from bot.services import mentoring_notices  # it builds on this module

                kind = mentoring_notices.PARTNER_GONE if len(stayed) == 1 else mentoring_notices.NOT_INTRODUCED
                await mentoring_notices.queue(session, community.id, pairing.round_id, stayed, kind, now,
                                              pairing_id=pairing_id)
                return False
            round_id, pair = pairing.round_id, (a.id, b.id)
            zones = dict((await session.execute(
                select(MentoringEnrolment.member_id, MentoringEnrolment.timezone).where(
                    MentoringEnrolment.community_id == community.id, MentoringEnrolment.member_id.in_((a.id, b.id)))
            )).all())
            mentor_zone, mentee_zone = (zones.get(m.id) if is_known_timezone(zones.get(m.id) or "") else "UTC"
                                        for m in (a, b))
            shared = [Shared(w, t) for w, t in zip(pairing.topics, pairing.taught or pairing.topics, strict=False)]
            action = OpenGroup(
                community=community.external_id, members=(a.external_id, b.external_id), key=f"mentoring:{pairing_id}",
                doc=intro_document(a.name or a.external_id, b.name or b.external_id, shared, pairing.overlap_hours,
                                   pairing.created_at + timedelta(days=checkin_days), mentee_zone, mentor_zone))
        outcome = await self.core.send(community.platform, action)
        async with self.db.sessions.begin() as session:
            mine = (Pairing.id == pairing_id, Pairing.intro_attempts == attempt)  # not taken over meanwhile
            if outcome == SENT:
                await session.execute(update(Pairing).where(*mine).values(
                    introduced_at=now, intro_due_at=None, intro_error=None))
                return True
            error = f"{community.platform} {outcome} it (attempt {attempt} of {MAX_ATTEMPTS})"
            if attempt >= MAX_ATTEMPTS:
                given_up = await session.execute(update(Pairing).where(*mine).values(
                    intro_due_at=None, intro_given_up_at=now, intro_error=error))
                log.warning("mentoring: %s not introduced, given up after %d attempts: %s", what, attempt, error)
                if given_up.rowcount:  # each is told, one by one (a DM may go where the group did not)
                    from bot.services import mentoring_notices  # it builds on this module

                    await mentoring_notices.queue(session, community.id, round_id, pair,
                                                  mentoring_notices.NOT_INTRODUCED, now, pairing_id=pairing_id)
            else:
                retry_at = now + RETRY_AFTER[attempt - 1]
                await session.execute(update(Pairing).where(*mine).values(intro_due_at=retry_at, intro_error=error))
                log.warning("mentoring: %s not introduced: %s; trying again at %s", what, error,
                            f"{retry_at:%Y-%m-%d %H:%M} UTC")
        return False


def _gone(member: Member, enrolled: set[int]) -> str | None:
    """Why this member is not to be introduced any more, if they are not."""
    if member.deactivated:
        return "has left the workspace or server"
    if not member.profiling_consent:
        return "has opted out"
    if member.id not in enrolled:
        return "has left the mentoring rounds"
    return None
