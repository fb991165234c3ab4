"""Mentoring pairs: `/mentoring` enrolment, rounds on each community's cadence (a warning first, so
people can skip), an intro per pair, the unmatched told why, a check-in a week later.

Exactly once is a database fact, as for digests: a round's warning and the round itself are each
claimed on the community's `pairing_round` row for the period (a conditional UPDATE) before anything
is announced, so restarts, missed ticks and several replicas never pair twice or skip a period. Each
pair's introduction is claimed on its own row and retried until it goes out (bot/services/mentoring_intros.py).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot import events as ev
from bot import serving
from bot.actions import Action, Document, Reply, Section
from bot.command_names import command as typed_command
from bot.db.engine import Database
from bot.db.mentoring import MentoringEnrolment, MentoringNotice, Pairing, PairingRound
from bot.db.models import Community, Member
from bot.events import utcnow
from bot.messages import render, template
from bot.repo import consenting, ensure_community, ensure_member, insert_ignore
from bot.safety import echoed, loggable, neutralise, row_id, shown_topic
from bot.services import mentoring_notices as notices
from bot.services.mentoring_args import USAGE, EnrolmentError, JoinRequest, parse_join
from bot.services.mentoring_cadence import Cadence, Period
from bot.services.mentoring_form import CAPACITY, LEARN, ROLE, TEACH, TIMEZONE, FormErrors, parse_form
from bot.services.mentoring_intros import NAME_CHARS, TOPIC_CHARS, PairIntroductions, local_time
from matching.pairing import PairingRules, Participant, Plan, assign_pairs
from matching.timezones import is_known_timezone

log = logging.getLogger(__name__)
_ROUNDS_OFF = "Mentoring rounds are off in this community for now; your enrolment is kept for when they start again."
_OPTED_OUT = ("You're opted out of profiling, so you're in no mentoring round (your enrolment is kept); "
              "`/optin` to be paired again.")

_PAUSED_SKIP = "You're paused, so you're in no round to skip; `/mentoring resume` when you want pairs again."

TICK_SECONDS = 300
OFF, MISSED = "off", "missed"  # why a warned round was cancelled (PairingRound.cancel_reason)
WARNING_GRACE = timedelta(seconds=3 * TICK_SECONDS)  # a warning this late still keeps its round's time
EXPERT_TOP = 10


def _as_typed(text: str, platform: str) -> str:
    """`/optin` named as the member's platform has it (`/connective optin` on Slack)."""
    return text.replace("`/optin`", f"`{typed_command(platform, 'optin')}`")


def new_seed() -> int:
    return random.SystemRandom().randrange(2**62)


@dataclass(frozen=True)
class Enrolled:
    member_id: int
    external_id: str
    name: str
    participant: Participant


@dataclass(frozen=True)
class RoundPlan:
    period: Period
    seed: int
    plan: Plan
    people: dict[str, Enrolled]  # by external id

    def name(self, key: str) -> str:
        person = self.people.get(key)
        return person.name if person else key


@dataclass(frozen=True)
class FormOutcome:
    errors: dict[str, str] = field(default_factory=dict)  # by form field; nothing was stored
    text: str = ""  # the answer for the member once the form was accepted


@dataclass(frozen=True)
class RoundStats:
    period_key: str
    ran_at: datetime | None
    pairs: int
    unmatched: int
    checkins: int
    answered: int
    met: int
    not_met: int
    introduced: int = 0  # pairs whose introduction went out (the others: still being retried, or given up)


@dataclass
class MentoringStats:
    community: str
    enrolled: dict[str, int] = field(default_factory=dict)
    paused: int = 0
    skipping: int = 0
    away: int = 0  # enrolled, but opted out of profiling or gone from the workspace: left out of the rounds
    cadence: str = ""
    rounds: list[RoundStats] = field(default_factory=list)
    latest_pairs: list[dict] = field(default_factory=list)
    # warned rounds that did not run: cancelled ("off", "missed") or still to run ("warned"), oldest first
    not_run: list[NotRun] = field(default_factory=list)


@dataclass(frozen=True)
class NotRun:
    period_key: str
    scheduled_for: datetime
    state: str  # "warned" (not run yet), "off" (rounds switched off), "missed" (the bot away until the next was due)
    told: int = 0  # warned members told it will not run (or did not), so far


def _ahead(hours: float) -> str:
    """How long before a round its warning comes, as the community set it ("the day before" is the default)."""
    if hours == 24:
        return "the day before"
    if hours >= 48 and hours % 24 == 0:
        return f"{hours / 24:g} days before"
    if hours >= 1:
        return f"{hours:g} hour{'s' if hours != 1 else ''} before"
    return f"{hours * 60:g} minutes before" if hours > 0 else "as the round starts"


def _topics(topics: list[str] | tuple[str, ...]) -> str:
    return ", ".join(topics) if topics else "(none)"


def _shown_topics(topics: list[str]) -> str:
    """A pair's topics (the mentee's words) shown to the other: never a link or a ping, as in their introduction."""
    return _topics([shown_topic(t, TOPIC_CHARS) for t in topics])


def _role_details(role: str, teach: list[str], learn: list[str], capacity: int) -> str:
    lines = []
    if role in ("mentor", "both"):
        lines.append(
            f"Can teach: {_topics(teach)} (up to {capacity} mentee{'s' if capacity != 1 else ''} a round)."
        )
    if role in ("mentee", "both"):
        lines.append(f"Wants to learn: {_topics(learn)}.")
    return "\n".join(lines)


class MentoringService:
    def __init__(
        self,
        *,
        db: Database,
        core,
        expertise,
        clock: Callable[[], datetime] = utcnow,  # noqa: ANN001
        seeds: Callable[[], int] = new_seed,
    ) -> None:
        self.db = db
        self.core = core
        self.expertise = expertise
        self.clock = clock
        self.seeds = seeds
        self._vectors: dict[str, object] = {}
        self.introductions = PairIntroductions(db=db, core=core)
        self.notices = notices.RoundNotices(db=db, core=core, cadence=self._cadence)

    # -- commands ----------------------------------------------------------------------------------
    async def command(self, event: ev.CommandInvoked, community_id: int, member_id: int) -> list[Action]:
        verb, _, rest = event.args.strip().partition(" ")
        verb = verb.lower()
        handlers = {
            "join": self._join,
            "status": self._status,
            "skip": self._skip,
            "pause": self._pause,
            "resume": self._resume,
            "leave": self._leave,
        }
        handler = handlers.get(verb)
        if handler is None:
            prefix = (
                f"I don't know `/mentoring {neutralise(verb)[:30]}`.\n\n" if verb and verb != "help" else ""
            )
            return [self._reply(event, prefix + template("mentoring_help"))]
        text = await handler(community_id, member_id, rest.strip(), event.time)
        return [self._reply(event, neutralise(_as_typed(text, event.platform)))]

    @staticmethod
    def _reply(event: ev.Event, text: str, *sections: Section) -> Reply:
        return Reply(
            community=event.community,
            channel=event.channel,
            user=event.user,
            thread=event.thread,
            doc=Document(text=text, sections=sections),
        )

    async def _enrolment(
        self, session: AsyncSession, community_id: int, member_id: int
    ) -> MentoringEnrolment | None:
        return await session.scalar(
            select(MentoringEnrolment).where(
                MentoringEnrolment.community_id == community_id, MentoringEnrolment.member_id == member_id
            )
        )

    async def _cadence(self, session: AsyncSession, community_id: int) -> Cadence:
        community = await session.get(Community, community_id)
        try:
            return Cadence.from_settings(community.settings if community else None)
        except (TypeError, ValueError) as exc:
            log.warning(
                "community %d: mentoring settings are invalid (%s); using the defaults", community_id, exc
            )
            return Cadence(enabled=Cadence.stored_enabled(community.settings if community else None))

    @staticmethod
    async def _next_round_at(session: AsyncSession, cadence: Cadence, community_id: int, now: datetime) -> datetime:
        return await notices.next_round_at(session, cadence, community_id, now)

    async def _join(self, community_id: int, member_id: int, args: str, now: datetime) -> str:
        try:
            request = parse_join(args)
        except EnrolmentError as exc:
            return await self._not_done(community_id, member_id, exc)
        return await self.join(community_id, member_id, request, now)

    async def _not_done(self, community_id: int, member_id: int, exc: EnrolmentError) -> str:
        """A join refused: an enrolled member's enrolment stays as it was ("Not enrolled" told them it had gone)."""
        async with self.db.sessions() as session:
            enrolled = await self._enrolment(session, community_id, member_id) is not None
        return f"{'Not changed' if enrolled else 'Not enrolled'}: {exc}"

    async def _opted_out(self, member_id: int) -> bool:
        async with self.db.sessions() as session:
            return not (await session.get(Member, member_id)).profiling_consent

    async def join(self, community_id: int, member_id: int, request: JoinRequest, now: datetime) -> str:
        """Enrol (or update) and say so: the answer to `/mentoring join …` and to the enrolment form."""
        try:
            enrolment = await self.enrol(community_id, member_id, request, now)
        except EnrolmentError as exc:
            return await self._not_done(community_id, member_id, exc)
        async with self.db.sessions() as session:
            cadence = await self._cadence(session, community_id)
            next_at = await self._next_round_at(session, cadence, community_id, now)
        return render(
            "mentoring_joined",
            role=enrolment.role,
            details=_role_details(
                enrolment.role, enrolment.can_teach, enrolment.wants_to_learn, enrolment.capacity
            ),
            timezone=enrolment.timezone,
            rounds=(_ROUNDS_OFF if not cadence.enabled
                    # a skip is kept by joining again (a change of topics): "I'll warn you, so you can skip" was untrue
                    else f"Next round: {local_time(next_at, enrolment.timezone)}, which you sit out as you asked "
                    "(`/mentoring resume` takes you back in)." if enrolment.skip_next
                    else f"Next round: {local_time(next_at, enrolment.timezone)}. I'll warn you "
                    f"{_ahead(cadence.warn_hours)}, so you can `/mentoring skip`."),
        )

    # -- the enrolment form (Slack and Discord modals) -----------------------------------------------
    async def form_values(self, platform: str, community: str, user: str) -> dict[str, str]:
        """What the form shows first: the member's enrolment, else their platform time zone."""
        async with self.db.sessions.begin() as session:
            c = await ensure_community(session, platform, community)
            member = await ensure_member(session, c.id, user)
            current = await self._enrolment(session, c.id, member.id)
            stored_tz = member.timezone if member.timezone and is_known_timezone(member.timezone) else ""
        if current is None:
            return {TIMEZONE: stored_tz}
        return {ROLE: current.role, TEACH: ", ".join(current.can_teach), LEARN: ", ".join(current.wants_to_learn),
                TIMEZONE: current.timezone or stored_tz, CAPACITY: str(current.capacity)}

    async def submit_form(
        self, platform: str, community: str, user: str, values: Mapping[str, str | None], *,
        user_name: str = "", now: datetime | None = None,
    ) -> FormOutcome:
        """A submitted enrolment form: field errors, or the same enrolment and answer as `/mentoring join`."""
        try:
            request = parse_form(values)
        except FormErrors as exc:
            return FormOutcome(errors=exc.errors)
        async with self.db.sessions.begin() as session:
            c = await ensure_community(session, platform, community)
            member = await ensure_member(session, c.id, user, name=user_name)
            community_id, member_id = c.id, member.id
        text = await self.join(community_id, member_id, request, now or self.clock())
        return FormOutcome(text=neutralise(_as_typed(text, platform)))

    async def enrol(
        self, community_id: int, member_id: int, request: JoinRequest, now: datetime | None = None
    ) -> MentoringEnrolment:
        """Create or update a member's enrolment; fields the request leaves out keep their value.
        EnrolmentError (one line, for the member) when something needed is missing."""
        now = now or self.clock()
        async with self.db.sessions.begin() as session:
            # Read with the row held, where the enrolment is stored: an opt-out at the same moment comes first or waits.
            if not await consenting(session, member_id):
                raise EnrolmentError("you're opted out of profiling; `/optin` first to join mentoring")
            member = await session.get(Member, member_id)
            current = await self._enrolment(session, community_id, member_id)
            role = request.role or (current.role if current else None)
            if role is None:
                raise EnrolmentError(
                    "say which role, mentor, mentee or both: "
                    "`/mentoring join mentee learn: rust tz: Europe/Berlin`"
                )
            teach = list(
                request.can_teach if request.can_teach is not None else (current.can_teach if current else [])
            )
            learn = list(
                request.wants_to_learn
                if request.wants_to_learn is not None
                else (current.wants_to_learn if current else [])
            )
            if role in ("mentor", "both") and not teach:
                raise EnrolmentError(
                    "as a mentor, tell me what you can teach: `teach: kubernetes, postgres tuning`"
                )
            if role in ("mentee", "both") and not learn:
                raise EnrolmentError(
                    "as a mentee, tell me what you want to learn: `learn: rust, system design`"
                )
            timezone = (
                request.timezone
                or (current.timezone if current else None)
                or (member.timezone if member.timezone and is_known_timezone(member.timezone) else None)
            )
            if timezone is None:
                raise EnrolmentError(
                    "tell me your time zone, e.g. `tz: Europe/Berlin` or `tz: America/New_York`"
                )
            capacity = request.capacity or (current.capacity if current else 1)
            if current is None:
                await session.execute(
                    insert_ignore(session, MentoringEnrolment).values(
                        community_id=community_id,
                        member_id=member_id,
                        role=role,
                        can_teach=teach,
                        wants_to_learn=learn,
                        timezone=timezone,
                        capacity=capacity,
                        paused=False,
                        skip_next=False,
                        created_at=now,
                        updated_at=now,
                    )
                )
                current = await self._enrolment(session, community_id, member_id)
            else:
                current.role, current.can_teach, current.wants_to_learn = role, teach, learn
                current.timezone, current.capacity, current.paused = timezone, capacity, False
        return current

    async def _status(self, community_id: int, member_id: int, args: str, now: datetime) -> str:
        async with self.db.sessions() as session:
            enrolment = await self._enrolment(session, community_id, member_id)
            if enrolment is None:
                return "You're not in the mentoring rounds. " + template("mentoring_help")
            cadence = await self._cadence(session, community_id)
            next_at = await self._next_round_at(session, cadence, community_id, now)
            mentor, mentee = aliased(Member), aliased(Member)
            latest = await session.scalar(
                select(PairingRound.id)
                .where(PairingRound.community_id == community_id, PairingRound.ran_at.is_not(None))
                .order_by(PairingRound.ran_at.desc())
                .limit(1)
            )
            rows = (
                (
                    await session.execute(
                        select(Pairing, mentor.name, mentee.name)
                        .join(mentor, mentor.id == Pairing.mentor_id)
                        .join(mentee, mentee.id == Pairing.mentee_id)
                        .where(
                            Pairing.round_id == latest,
                            (Pairing.mentor_id == member_id) | (Pairing.mentee_id == member_id),
                        )
                    )
                ).all()
                if latest
                else []
            )
        state = (
            " (opted out of profiling: no pairs until you `/optin`)" if await self._opted_out(member_id)
            else " (paused)" if enrolment.paused else " (skipping the next round)" if enrolment.skip_next else ""
        )
        pairs = [
            # Given up because the other left (opted out, left the rounds or the workspace): not named, as in the
            # notice that told them; the member never heard of them.
            "This round's pair is off: the member I paired you with stopped taking part before I could introduce you."
            if p.intro_given_up_at is not None and (p.intro_error or "").startswith(("the mentor ", "the mentee "))
            else "This round's pair with "
            f"{echoed(mentee_name if p.mentor_id == member_id else mentor_name, NAME_CHARS)} did not go ahead: I could "
            "not introduce you."
            if p.intro_given_up_at is not None
            else f"This round you mentor {echoed(mentee_name, NAME_CHARS)} ({_shown_topics(p.topics)})."
            if p.mentor_id == member_id
            else f"This round your mentor is {echoed(mentor_name, NAME_CHARS)} ({_shown_topics(p.topics)})."
            for p, mentor_name, mentee_name in rows
        ]
        return render(
            "mentoring_status",
            role=enrolment.role,
            state=state,
            details=_role_details(
                enrolment.role, enrolment.can_teach, enrolment.wants_to_learn, enrolment.capacity
            ),
            timezone=enrolment.timezone,
            rounds=(f"Rounds run {cadence.describe()}; the next one is {local_time(next_at, enrolment.timezone)}."
                    if cadence.enabled else _ROUNDS_OFF),
            pairs="\n".join(pairs) or "No current pair.",
        ).strip()

    async def _set_flags(
        self, community_id: int, member_id: int, **values: bool
    ) -> MentoringEnrolment | None:
        async with self.db.sessions.begin() as session:
            enrolment = await self._enrolment(session, community_id, member_id)
            if enrolment is not None:
                for name, value in values.items():
                    setattr(enrolment, name, value)
            return enrolment

    async def _skip(self, community_id: int, member_id: int, args: str, now: datetime) -> str:
        async with self.db.sessions() as session:
            enrolment = await self._enrolment(session, community_id, member_id)
        if enrolment is None:  # (a member forgotten has no enrolment: never told it is kept)
            return "You're not in the mentoring rounds, so there is nothing to skip."
        if await self._opted_out(member_id):
            return _OPTED_OUT
        if enrolment.paused:  # "you're back in the one after" was untrue: paused, they are in no round
            return _PAUSED_SKIP
        async with self.db.sessions() as session:
            if not (await self._cadence(session, community_id)).enabled:
                return "Mentoring rounds are off in this community for now, so there is no round to skip."
        enrolment = await self._set_flags(community_id, member_id, skip_next=True)
        if enrolment is None:
            return "You're not in the mentoring rounds, so there is nothing to skip."
        async with self.db.sessions() as session:
            cadence = await self._cadence(session, community_id)
            next_at = await self._next_round_at(session, cadence, community_id, now)
        return (
            f"You'll sit out the next round ({local_time(next_at, enrolment.timezone)}); "
            "you're back in the one after."
        )

    async def _pause(self, community_id: int, member_id: int, args: str, now: datetime) -> str:
        if await self._set_flags(community_id, member_id, paused=True) is None:
            return "You're not in the mentoring rounds."
        return "Paused: no pairs for you until `/mentoring resume`."

    async def _resume(self, community_id: int, member_id: int, args: str, now: datetime) -> str:
        if await self._set_flags(community_id, member_id, paused=False, skip_next=False) is None:
            return "You're not in the mentoring rounds: `/mentoring join` first."
        if await self._opted_out(member_id):
            return _OPTED_OUT
        return "Welcome back: you're in the next mentoring round."

    async def _leave(self, community_id: int, member_id: int, args: str, now: datetime) -> str:
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                delete(MentoringEnrolment).where(
                    MentoringEnrolment.community_id == community_id, MentoringEnrolment.member_id == member_id
                )
            )
        if not result.rowcount:
            return "You weren't in the mentoring rounds."
        return "You've left the mentoring rounds; your enrolment is deleted. `/mentoring join` any time."

    # -- buttons -----------------------------------------------------------------------------------
    async def click(self, event: ev.ActionClicked, community_id: int) -> list[Action]:
        action = event.action.split(".", 1)[1] if "." in event.action else ""
        async with self.db.sessions.begin() as session:
            member = await session.scalar(
                select(Member).where(Member.community_id == community_id, Member.external_id == event.user)
            )
            if member is None:
                return []
            if action == "skip":
                enrolment = await self._enrolment(session, community_id, member.id)
                if enrolment is None:
                    return [self._reply(event, "You're not in the mentoring rounds.")]
                warned_for = await self._round(session, community_id, event.value)
                if warned_for is None or warned_for.warned_at is None:  # no warning of ours names it
                    log.warning("mentoring skip button of no warned round (%s)", loggable(event.value))
                    return [self._reply(
                        event, "That button names no round I warned of, so nothing was skipped; `/mentoring skip` "
                        "sits out the next one.")]
                if warned_for.ran_at is not None:  # an old warning's button
                    return [self._reply(
                        event, "That round already ran, so there is nothing to skip; `/mentoring skip` sits out the "
                        "next one.")]
                if warned_for.cancelled_at is not None:
                    why = ("it did not run: I was away at its time" if warned_for.cancel_reason == MISSED
                           else "it was cancelled: mentoring rounds were switched off")
                    return [self._reply(event, f"That round is over ({why}), so there is nothing to skip.")]
                if enrolment.paused:  # paused after the warning: in no round, and not back in the next one
                    return [self._reply(event, _PAUSED_SKIP)]
                enrolment.skip_next = True
                return [self._reply(event, "Done: you'll sit out this round and be back in the next one.")]
            if action == "form":  # the form opens on Slack and Discord; elsewhere, the command does it
                return [self._reply(event, "Enrol with " + USAGE)]
            pairing_id = row_id(event.value)
            if action not in ("met", "notmet") or pairing_id is None:
                log.warning("unknown mentoring button %s (%s)", loggable(event.action), loggable(event.value))
                return [self._reply(event, "That check-in isn't yours.")] if action in ("met", "notmet") else []
            pairing = await session.scalar(
                select(Pairing).where(Pairing.id == pairing_id, Pairing.community_id == community_id)
            )
            if pairing is None:  # deleted since: the other asked to be forgotten ("isn't yours" told them otherwise)
                return [self._reply(event, "That pair is no longer stored, so there is nothing to answer.")]
            if member.id not in (pairing.mentor_id, pairing.mentee_id):
                return [self._reply(event, "That check-in isn't yours.")]
            if not member.profiling_consent:
                return [self._reply(event, _as_typed(
                    "You're opted out of profiling, so I keep no answer of yours; `/optin` first.", event.platform))]
            met = action == "met"
            if member.id == pairing.mentor_id:
                pairing.mentor_met = met
            else:
                pairing.mentee_met = met
            pairing.answered_at = event.time
        text = (
            "Great, thanks for telling me!"
            if met
            else "Thanks for telling me. There's still time: a short call is enough to start."
        )
        return [self._reply(event, text)]

    # -- rounds ------------------------------------------------------------------------------------
    async def tick(self, now: datetime | None = None) -> None:
        """The scheduled job: warn, run rounds and send check-ins that are due, in every community served here."""
        now = now or self.clock()
        async with self.db.sessions() as session:
            communities = list(
                await session.scalars(
                    select(Community).where(
                        Community.id.in_(select(MentoringEnrolment.community_id).distinct()),
                        # Another process's (a workspace or server on a shared database): were this one to claim the
                        # round, its warnings, pairs' introductions and messages to the unmatched would go nowhere.
                        serving.where(self.core.senders),
                    )
                )
            )
        for community in communities:
            try:
                actions = await self.due(community.id, now)
            except Exception:
                log.exception("mentoring: community %d failed; the next tick tries again", community.id)
                continue
            if actions:
                await self.core.deliver(community.platform, actions)
            try:
                async with self.db.sessions() as session:
                    cadence = await self._cadence(session, community.id)
                await self.introductions.send_due(community.id, now, checkin_days=cadence.checkin_days)
            except Exception:
                log.exception("mentoring: community %d, introductions failed; the next tick tries again", community.id)
            try:  # after the introductions: one given up because one of the pair left tells the other at once
                await self.notices.send_due(community.id, now)
            except Exception:
                log.exception("mentoring: community %d, notices failed; the next tick tries again", community.id)

    async def due(self, community_id: int, now: datetime) -> list[Action]:
        """What is due in one community at `now` (each step claimed in the database first)."""
        async with self.db.sessions() as session:
            cadence = await self._cadence(session, community_id)
        if not cadence.enabled:
            await self.cancel_warned(community_id, now)
            return []
        await self.close_missed(community_id, cadence, now)
        actions: list[Action] = []
        for period in cadence.around(now):
            if period.warn_at <= now < period.catch_up_until:
                actions += await self.warn(community_id, period, now)
        # A warned round runs at the time its warning gave (scheduled_for), whatever the schedule says since: an
        # admin's change (another weekday, hour or interval) applies from the next round. Run at the new schedule's
        # time, it ran days after the time members were told, or never, where the new schedule has no period of its
        # key; until the next round of the schedule, as a missed one is.
        async with self.db.sessions() as session:
            warned = list(await session.scalars(select(PairingRound).where(
                PairingRound.community_id == community_id, PairingRound.warned_at.is_not(None),
                PairingRound.ran_at.is_(None), PairingRound.cancelled_at.is_(None),
                PairingRound.scheduled_for <= now)))
        for row in warned:
            ends_at = cadence.next_round(row.scheduled_for).round_at
            if now < ends_at:
                period = Period(index=cadence.index_at(row.scheduled_for), key=row.period_key,
                                round_at=row.scheduled_for, warn_at=row.warned_at, ends_at=ends_at)
                actions += await self.run_round(community_id, period, now)
        actions += await self.checkins(community_id, now, cadence)
        return actions

    async def _round(self, session: AsyncSession, community_id: int, key: str) -> PairingRound | None:
        return await session.scalar(
            select(PairingRound).where(
                PairingRound.community_id == community_id, PairingRound.period_key == key
            )
        )

    async def _active(
        self, session: AsyncSession, community_id: int
    ) -> list[tuple[MentoringEnrolment, Member]]:
        return list(
            (
                await session.execute(
                    select(MentoringEnrolment, Member)
                    .join(Member, Member.id == MentoringEnrolment.member_id)
                    .where(
                        MentoringEnrolment.community_id == community_id,
                        MentoringEnrolment.paused.is_(False),
                        Member.profiling_consent.is_(True),
                        Member.is_bot.is_(False),
                        Member.deactivated.is_(False),  # an account the platform closed can't meet anyone
                    )
                    .order_by(MentoringEnrolment.id)
                )
            ).all()
        )

    @staticmethod
    async def _claim_step(session, community_id: int, period: Period, now: datetime, step,  # noqa: ANN001
                          **values: object) -> bool:
        """Claim one step of a round (warning, pairing, check-in) exactly once across replicas: the round's
        row is created if missing, then the step's column is set only where it is still empty."""
        await session.execute(insert_ignore(session, PairingRound).values(
            community_id=community_id, period_key=period.key, scheduled_for=period.round_at, solver="",
            unmatched=[], created_at=now))
        claimed = await session.execute(
            update(PairingRound)
            .where(PairingRound.community_id == community_id, PairingRound.period_key == period.key, step.is_(None),
                   PairingRound.cancelled_at.is_(None))  # a cancelled round takes no further step
            .values(**values)
        )
        return bool(claimed.rowcount)

    async def cancel_warned(self, community_id: int, now: datetime) -> int:
        """Rounds switched off after a round was warned: at the round's time it is cancelled, and whoever was warned
        of it (and did not skip it) is told it will not run, once (a notice, retried as the others). Switched on
        again before that time, the round runs as warned and nobody hears otherwise; after it, the round stays
        cancelled. A skip of it is spent, as a round that ran spends it. How many rounds were cancelled."""
        return await self._cancel(community_id, now, OFF, lambda row: True)

    async def close_missed(self, community_id: int, cadence: Cadence, now: datetime) -> int:
        """A warned round the bot never ran at its time (it was down, or out of the Discord server, until the next
        round of the schedule was due): it stayed warned and pending for good, and the warned heard nothing more.
        It is closed as missed (cancelled, reason "missed"; `pairs stats` shows it), each warned member (who did not
        skip it) told once that it did not run and when the next one is, and a skip of it spent, before the next
        round is warned: that skip was of the missed round. How many rounds were closed."""
        return await self._cancel(community_id, now, MISSED,
                                  lambda row: now >= cadence.next_round(row.scheduled_for).round_at)

    async def _cancel(self, community_id: int, now: datetime, reason: str,
                      which: Callable[[PairingRound], bool]) -> int:
        """Cancel the warned rounds, past their time and not run, that `which` picks, for `reason`; tell the warned."""
        cancelled = 0
        async with self.db.sessions.begin() as session:
            rounds = [row for row in await session.scalars(select(PairingRound).where(
                PairingRound.community_id == community_id, PairingRound.warned_at.is_not(None),
                PairingRound.ran_at.is_(None), PairingRound.cancelled_at.is_(None),
                PairingRound.scheduled_for <= now)) if which(row)]
            for row in rounds:
                claimed = await session.execute(
                    update(PairingRound)
                    .where(PairingRound.id == row.id, PairingRound.ran_at.is_(None),
                           PairingRound.cancelled_at.is_(None))
                    .values(cancelled_at=now, cancel_reason=reason)
                    .execution_options(synchronize_session=False))
                if not claimed.rowcount:  # run or cancelled by another replica
                    continue
                warned = list(await session.scalars(
                    select(MentoringNotice.member_id)
                    .join(MentoringEnrolment, (MentoringEnrolment.member_id == MentoringNotice.member_id)
                          & (MentoringEnrolment.community_id == community_id))
                    .where(MentoringNotice.round_id == row.id, MentoringNotice.kind == notices.WARNING,
                           MentoringNotice.sent_at.is_not(None), MentoringEnrolment.skip_next.is_(False))))
                await notices.queue(session, community_id, row.id, warned,
                                    notices.MISSED if reason == MISSED else notices.CANCELLED, now)
                await session.execute(
                    update(MentoringEnrolment)
                    .where(MentoringEnrolment.community_id == community_id, MentoringEnrolment.skip_next.is_(True))
                    .values(skip_next=False))
                if reason == MISSED:
                    log.warning("mentoring: community %d, round %s (warned for %s UTC) did not run: the bot was not "
                                "serving the community from its time until the next round was due; %d warned "
                                "member(s) told", community_id, row.period_key, f"{row.scheduled_for:%Y-%m-%d %H:%M}",
                                len(warned))
                else:
                    log.info("mentoring: community %d, round %s cancelled (rounds are off): %d warned member(s) told",
                             community_id, row.period_key, len(warned))
                cancelled += 1
        return cancelled

    async def warn(self, community_id: int, period: Period, now: datetime) -> list[Action]:
        """Claim the period's warning, then tell everyone taking part when the round is."""
        async with self.db.sessions.begin() as session:
            active = await self._active(session, community_id)
            if not active:
                return []
            if now > period.round_at and not any(e.created_at <= period.round_at for e, _ in active):
                # Caught up late only where it was missed (the bot down): one that fell due before anyone joined
                # was no round, and whoever joined since was told the next one.
                return []
            cadence = await self._cadence(session, community_id)
            # A warning as late as a few ticks keeps the round's time; one later (the bot was down) gives people the
            # whole warning period to skip, and the round waits for it. (Every warning came a tick late, and moved
            # its round a few minutes: 'the next round is Mon 30 Nov, 11:03' of a round set for 11:00.)
            late = now - period.warn_at > WARNING_GRACE
            run_at = max(period.round_at, now + timedelta(hours=cadence.warn_hours)) if late else period.round_at
            if not await self._claim_step(session, community_id, period, now, PairingRound.warned_at,
                                          warned_at=now, scheduled_for=run_at):
                return []
            row = await self._round(session, community_id, period.key)
            # Sent (and retried until they go out) by RoundNotices, right after this tick's steps.
            await notices.queue(session, community_id, row.id,
                                [member.id for enrolment, member in active if not enrolment.skip_next],
                                notices.WARNING, now)
        log.info(
            "mentoring: community %d, round %s warned (%d enrolled)", community_id, period.key, len(active)
        )
        return []

    async def plan(
        self,
        community_id: int,
        *,
        now: datetime | None = None,
        seed: int | None = None,
        period: Period | None = None,
    ) -> RoundPlan:
        """The pairs a round would make (a dry run: nothing is stored or sent)."""
        now = now or self.clock()
        seed = self.seeds() if seed is None else seed
        async with self.db.sessions() as session:
            cadence = await self._cadence(session, community_id)
            period = period or cadence.next_round(now)
            rows = await self._active(session, community_id)
            history = await self._history(session, community_id, cadence.no_repeat_rounds)
            waiting = await self._waiting(session, community_id)
        people = {
            member.external_id: Enrolled(
                member.id,
                member.external_id,
                member.name or member.external_id,
                Participant(
                    key=member.external_id,
                    role=e.role,
                    timezone=e.timezone,
                    can_teach=tuple(e.can_teach),
                    wants_to_learn=tuple(e.wants_to_learn),
                    capacity=e.capacity,
                ),
            )
            for e, member in rows
            if not e.skip_next
        }
        participants = [p.participant for p in people.values()]
        vectors = await self._topic_vectors(participants)
        expertise = await self._expertise(community_id, participants)
        rules = PairingRules(
            no_repeat_rounds=cadence.no_repeat_rounds, min_overlap_hours=cadence.min_overlap_hours
        )
        log.info("mentoring: community %d, round %s planned with seed %d", community_id, period.key, seed)
        result = assign_pairs(
            participants,
            topic_vectors=vectors,
            rng=random.Random(seed),
            on=period.round_at.date(),
            history=history,
            expertise=expertise,
            rules=rules,
            waiting=waiting,
        )
        return RoundPlan(period=period, seed=seed, plan=result, people=people)

    async def _history(
        self, session: AsyncSession, community_id: int, rounds: int
    ) -> list[list[tuple[str, str]]]:
        recent = list(
            await session.scalars(
                select(PairingRound.id)
                .where(PairingRound.community_id == community_id, PairingRound.ran_at.is_not(None))
                .order_by(PairingRound.ran_at.desc())
                .limit(rounds)
            )
        )
        mentor, mentee = aliased(Member), aliased(Member)
        rows = (
            (
                await session.execute(
                    select(Pairing.round_id, mentor.external_id, mentee.external_id)
                    .join(mentor, mentor.id == Pairing.mentor_id)
                    .join(mentee, mentee.id == Pairing.mentee_id)
                    # a pair never introduced (given up) never met: nothing to avoid repeating
                    .where(Pairing.round_id.in_(recent), Pairing.intro_given_up_at.is_(None))
                )
            ).all()
            if recent
            else []
        )
        by_round: dict[int, list[tuple[str, str]]] = {rid: [] for rid in recent}
        for rid, a, b in rows:
            by_round[rid].append((a, b))
        return [by_round[rid] for rid in recent]

    async def _waiting(self, session: AsyncSession, community_id: int) -> set[str]:
        """Who the latest round left out (its unmatched, those whose partner left before they were introduced, those
        never introduced): they come first in the next one."""
        latest = (await session.execute(
            select(PairingRound.id, PairingRound.unmatched)
            .where(PairingRound.community_id == community_id, PairingRound.ran_at.is_not(None))
            .order_by(PairingRound.ran_at.desc())
            .limit(1)
        )).first()
        if latest is None:
            return set()
        round_id, unmatched = latest
        ids = [u["member_id"] for u in unmatched or [] if u.get("member_id") is not None]
        ids += await session.scalars(select(MentoringNotice.member_id).where(
            MentoringNotice.round_id == round_id, MentoringNotice.kind == notices.PARTNER_GONE))
        # and both of a pair whose introduction never went out (the platform failed it to the last attempt): they
        # met nobody this round either
        for pair in (await session.execute(select(Pairing.mentor_id, Pairing.mentee_id).where(
                Pairing.round_id == round_id, Pairing.intro_given_up_at.is_not(None)))).all():
            ids += pair
        if not ids:
            return set()
        return set(await session.scalars(select(Member.external_id).where(Member.id.in_(ids))))

    async def _topic_vectors(self, participants: list[Participant]) -> dict[str, object]:
        topics = {t for p in participants for t in (*p.can_teach, *p.wants_to_learn)}
        missing = sorted(t for t in topics if t not in self._vectors)
        if missing:
            self._vectors.update(zip(missing, await self.expertise.encode(missing), strict=True))
        return {t: self._vectors[t] for t in topics}

    async def _expertise(
        self, community_id: int, participants: list[Participant]
    ) -> dict[str, dict[str, float]]:
        """The mentors' expertise profiles on each wanted topic: the who-knows ranking, 1 for the top."""
        mentors = {p.key for p in participants if p.mentors}
        wanted = sorted({t for p in participants if p.learns for t in p.wants_to_learn})
        out: dict[str, dict[str, float]] = {}
        for topic in wanted:
            try:
                # Scores only: nothing is shown, so nothing is asked of the platform (ExpertiseService.gone_check).
                found = await self.expertise.rank(community_id, topic, top=EXPERT_TOP, shown_of=set())
            except Exception as exc:  # noqa: BLE001  (the profile is a bonus; pairing goes on without it)
                # The topic is a member's words, and a traceback may quote it: the error's kind is what is logged.
                log.warning("mentoring: community %d, the expertise of %d wanted topic(s) unavailable (%s); pairing "
                            "goes on without it", community_id, len(wanted), type(exc).__name__)
                return {}
            top = max((s.score for s in found), default=0.0)
            if top > 0:
                out[topic] = {s.user: s.score / top for s in found if s.user in mentors and s.score > 0}
        return out

    async def run_round(
        self, community_id: int, period: Period, now: datetime, *, seed: int | None = None
    ) -> list[Action]:
        """Plan, then claim the round and store its pairs in one transaction; its messages go out after (notices
        and introductions, each retried until it goes out). Returns nothing to send: it is all stored."""
        planned = await self.plan(community_id, now=now, seed=seed, period=period)
        result = planned.plan
        async with self.db.sessions.begin() as session:
            if not await self._claim_step(session, community_id, period, now, PairingRound.ran_at, ran_at=now,
                                          seed=planned.seed, solver=result.solver):
                log.info("mentoring: community %d, round %s already ran", community_id, period.key)
                return []
            # Whoever left the rounds, paused, opted out, was forgotten or left the workspace while the round was
            # planned is not paired (a forgotten member's pair kept their words and id): their partner is left
            # unmatched, told why, and comes first in the next round. Read after the claim (SQLite's write lock) and
            # FOR SHARE (PostgreSQL), so such a change waits for the round, which /forget-me then finds and undoes.
            ids = [p.member_id for p in planned.people.values()]
            still = set(await session.scalars(
                select(Member.id).join(MentoringEnrolment, MentoringEnrolment.member_id == Member.id)
                .where(MentoringEnrolment.community_id == community_id, Member.id.in_(ids),
                       MentoringEnrolment.paused.is_(False), Member.profiling_consent.is_(True),
                       Member.deactivated.is_(False))
                .with_for_update(read=True, of=Member)))
            here = {key for key, person in planned.people.items() if person.member_id in still}
            pairs = [pair for pair in result.pairs if pair.mentor in here and pair.mentee in here]
            left = [(pair.mentee if pair.mentor not in here else pair.mentor) for pair in result.pairs
                    if (pair.mentor in here) != (pair.mentee in here)]
            if len(here) < len(planned.people):
                log.info("mentoring: community %d, round %s: %d member(s) left as it was made; %d partner(s) left "
                         "unmatched", community_id, period.key, len(planned.people) - len(here), len(left))
            unmatched = [
                {"member_id": planned.people[u.key].member_id, "reason": u.reason}
                for u in result.unmatched
                if u.key in planned.people and u.key in here
            ] + [{"member_id": planned.people[key].member_id, "reason": "partner_left"} for key in left]
            row = await self._round(session, community_id, period.key)
            row.unmatched = unmatched
            for pair in pairs:
                pairing = Pairing(
                    community_id=community_id,
                    round_id=row.id,
                    mentor_id=planned.people[pair.mentor].member_id,
                    mentee_id=planned.people[pair.mentee].member_id,
                    fit=pair.fit,
                    topics=[s.wanted for s in pair.shared_topics],
                    taught=[s.taught for s in pair.shared_topics],
                    overlap_hours=pair.overlap_hours,
                    created_at=now,
                    intro_due_at=now,  # sent by PairIntroductions, right after this round is stored
                    intro_attempts=0,
                )
                session.add(pairing)
            await session.flush()
            await notices.queue(session, community_id, row.id, [u["member_id"] for u in unmatched],
                                notices.UNMATCHED, now)
            await session.execute(
                update(MentoringEnrolment)
                .where(
                    MentoringEnrolment.community_id == community_id, MentoringEnrolment.skip_next.is_(True)
                )
                .values(skip_next=False)
            )
        log.info(
            "mentoring: community %d, round %s ran with seed %d: %d pairs, %d unmatched (%s)",
            community_id,
            period.key,
            planned.seed,
            len(pairs),
            len(unmatched),
            result.solver,
        )
        return []

    async def checkins(
        self, community_id: int, now: datetime, cadence: Cadence | None = None
    ) -> list[Action]:
        """Ask both sides of each pair made `checkin_days` ago whether they met: claimed per pairing, then stored as a
        notice to each (sent by RoundNotices, retried until it goes out: it was sent once, and lost when that failed).
        Returns nothing to send."""
        if cadence is None:
            async with self.db.sessions() as session:
                cadence = await self._cadence(session, community_id)
        due_before = now - timedelta(days=cadence.checkin_days)
        asked = 0
        async with self.db.sessions.begin() as session:
            pairings = list(await session.scalars(
                select(Pairing).where(
                    Pairing.community_id == community_id,
                    Pairing.checkin_sent_at.is_(None),
                    Pairing.introduced_at.is_not(None),  # a pair never introduced has nothing to tell
                    Pairing.created_at <= due_before,
                )
            ))
            for pairing in pairings:
                claimed = await session.execute(
                    update(Pairing)
                    .where(Pairing.id == pairing.id, Pairing.checkin_sent_at.is_(None))
                    .values(checkin_sent_at=now)
                )
                if not claimed.rowcount:
                    continue
                # Each side still here (RoundNotices asks no one who left the workspace or opted out since).
                await notices.queue(session, community_id, pairing.round_id, (pairing.mentor_id, pairing.mentee_id),
                                    notices.CHECKIN, now, pairing_id=pairing.id)
                asked += 1
        if asked:
            log.info("mentoring: community %d, %d pair(s) asked how it went", community_id, asked)
        return []

    # -- admin -------------------------------------------------------------------------------------
    async def stats(self, community_id: int) -> MentoringStats:
        mentor, mentee = aliased(Member), aliased(Member)
        async with self.db.sessions() as session:
            community = await session.get(Community, community_id)
            cadence = await self._cadence(session, community_id)
            out = MentoringStats(
                community=f"{community.platform}:{community.external_id}",
                cadence=cadence.describe() if cadence.enabled else "off",
            )
            for enrolment, member in (await session.execute(
                select(MentoringEnrolment, Member).join(Member, Member.id == MentoringEnrolment.member_id)
                .where(MentoringEnrolment.community_id == community_id)
            )).all():
                if member.deactivated or not member.profiling_consent:  # counted as enrolled, though never paired
                    out.away += 1
                    continue
                out.enrolled[enrolment.role] = out.enrolled.get(enrolment.role, 0) + 1
                out.paused += enrolment.paused
                out.skipping += enrolment.skip_next
            rounds = list(
                await session.scalars(
                    select(PairingRound)
                    .where(PairingRound.community_id == community_id, PairingRound.ran_at.is_not(None))
                    .order_by(PairingRound.ran_at)
                )
            )
            pairings = list(
                await session.scalars(select(Pairing).where(Pairing.community_id == community_id))
            )
            # A warned round the manager would otherwise never see: waiting for its time (or for the bot to serve the
            # community again), or closed without running, and why.
            for r in await session.scalars(
                    select(PairingRound)
                    .where(PairingRound.community_id == community_id, PairingRound.warned_at.is_not(None),
                           PairingRound.ran_at.is_(None))
                    .order_by(PairingRound.scheduled_for)):
                told = await session.scalar(select(func.count()).select_from(MentoringNotice).where(
                    MentoringNotice.round_id == r.id, MentoringNotice.sent_at.is_not(None),
                    MentoringNotice.kind.in_((notices.CANCELLED, notices.MISSED))))
                state = "warned" if r.cancelled_at is None else r.cancel_reason or OFF
                out.not_run.append(NotRun(r.period_key, r.scheduled_for, state, told or 0))
            for r in rounds:
                mine = [p for p in pairings if p.round_id == r.id]
                answered = [p for p in mine if p.mentor_met is not None or p.mentee_met is not None]
                met = [p for p in answered if p.mentor_met or p.mentee_met]
                out.rounds.append(
                    RoundStats(
                        period_key=r.period_key,
                        ran_at=r.ran_at,
                        pairs=len(mine),
                        unmatched=len(r.unmatched or []),
                        checkins=sum(p.checkin_sent_at is not None for p in mine),
                        answered=len(answered),
                        met=len(met),
                        not_met=len(answered) - len(met),
                        introduced=sum(p.introduced_at is not None for p in mine),
                    )
                )
            if rounds:
                rows = (
                    await session.execute(
                        select(Pairing, mentor.name, mentee.name)
                        .join(mentor, mentor.id == Pairing.mentor_id)
                        .join(mentee, mentee.id == Pairing.mentee_id)
                        .where(Pairing.round_id == rounds[-1].id)
                        .order_by(Pairing.fit.desc())
                    )
                ).all()
                out.latest_pairs = [
                    {
                        "mentor": a,
                        "mentee": b,
                        "fit": p.fit,
                        "topics": p.topics,
                        "mentor_met": p.mentor_met,
                        "mentee_met": p.mentee_met,
                    }
                    for p, a, b in rows
                ]
        return out


def setup(app) -> MentoringService:  # noqa: ANN001
    """Wire mentoring into an app: the `/mentoring` command, its buttons and the scheduled tick."""
    service = MentoringService(db=app.db, core=app.core, expertise=app.expertise)
    app.core.register_command("mentoring", service.command)
    app.core.register_click("mentoring", service.click)
    app.scheduler.every("mentoring.tick", TICK_SECONDS, service.tick)
    return service
