"""Consent-first introductions: asker → expert's consent → a private conversation with both.

Buttons (the contract every adapter renders): `intro.request` (value "question_id:expert user id")
on who-knows answers; `intro.accept`, `intro.decline`, `intro.notmine` (value: intro id) in the
request the expert gets. A declined, "not my area" or timed-out request offers the asker the next
expert with the same neutral message, so nobody learns who declined. State changes are conditional
UPDATEs (`WHERE state = 'requested'`): a double click or two replicas sweeping together move an
intro once.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import events as ev
from bot import metrics, serving
from bot.actions import Action, Button, DirectMessage, Document, Evidence, OpenGroup, Reply, Section, UpdateMessage
from bot.db.intros import (
    ASKER_OPEN_REQUESTS,
    ASKER_WEEKLY_REQUESTS,
    INTRO_CAP_WINDOW,
    TRANSITIONS,
    Intro,
    IntroState,
    NotMyArea,
    topic_key,
)
from bot.db.models import Community, Member, Question
from bot.events import utcnow
from bot.messages import render
from bot.repo import get_member, insert_ignore
from bot.safety import echoed, loggable, neutralise, row_id
from bot.services.expertise import Suggestion

if TYPE_CHECKING:
    from bot.app import App
    from bot.core import Core
    from bot.db.engine import Database
    from bot.services.expertise import ExpertiseService

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
DECISIONS = {"accept": IntroState.ACCEPTED, "decline": IntroState.DECLINED, "notmine": IntroState.NOT_MY_AREA}
SWEEP_BATCH = 200


def settled_request(outcome: str, shown: str | None = None) -> Document:
    """A request, changed to say what became of it (`outcome`) and without its buttons: its question kept (as
    IntroService.shown gives it), where there still is one."""
    if shown is None:
        return Document(text=outcome)
    return Document(text=render("intro_request", question=shown), sections=(Section(text=outcome),))


def _sources_of(target: IntroState) -> list[str]:
    return [s.value for s, targets in TRANSITIONS.items() if target in targets]


async def move(session: AsyncSession, intro_id: int, target: IntroState, now: datetime) -> bool:
    """Move an intro to `target` if the state machine allows it from its current state. Atomic: of two
    concurrent moves (a click and a timeout sweep, two replicas) exactly one wins."""
    result = await session.execute(
        update(Intro).where(Intro.id == intro_id, Intro.state.in_(_sources_of(target)))
        .values(state=target.value, decided_at=now)
    )
    moved = result.rowcount == 1
    if moved:
        metrics.INTROS.labels(target.value).inc()
    return moved


class IntroService:
    def __init__(self, *, db: Database, expertise: ExpertiseService, core: Core, timeout: timedelta,
                 clock: Clock = utcnow) -> None:
        self.db = db
        self.expertise = expertise
        self.core = core
        self.timeout = timeout
        self.clock = clock

    # -- clicks ------------------------------------------------------------------------------------
    async def on_click(self, event: ev.ActionClicked, community_id: int) -> list[Action]:
        verb = event.action.partition(".")[2]
        if verb == "request":
            return await self.request(event, community_id)
        if verb in DECISIONS:
            return await self.decide(event, community_id, DECISIONS[verb])
        log.warning("unknown intro action %r", event.action)
        return []

    async def request(self, event: ev.ActionClicked, community_id: int) -> list[Action]:
        question_part, _, expert_user = event.value.partition(":")
        question_id = row_id(question_part)
        if question_id is None or not expert_user:
            log.warning("malformed intro.request value %s", loggable(event.value))
            return [self._reply(event, "That button is out of date; ask the question again.")]
        async with self.db.sessions() as session:
            question = await session.get(Question, question_id)
            asker = await get_member(session, community_id, event.user)
            expert = await get_member(session, community_id, expert_user)
        if question is None or question.community_id != community_id:
            return [self._reply(event, "That question is gone; ask it again.")]
        if asker is None or question.asker_id != asker.id:
            return [self._reply(event, render("intro_not_yours"))]
        if expert is None or expert.id == asker.id:
            return [self._reply(event, "That member isn't here any more; pick someone else.")]
        if expert.external_id in await self.expertise.excluded_members(community_id, event.time):
            # Before the check below: a member who asked to be forgotten is off the list, and "out of date" would
            # tell the asker so.
            return [self._reply(event, render("intro_unavailable", expert=neutralise(expert.name)))]
        if expert.external_id not in (question.suggested or []):
            # Not suggested for this question: a button of a question since removed whose id was given again.
            return [self._reply(event, "That button is out of date; ask the question again.")]
        why = await self._why(community_id, question, asker.external_id, expert.external_id, event.time)
        async with self.db.sessions.begin() as session:
            # The cap is checked again where the request is stored: two requests at once (two replicas) both
            # passed the check above. The expert's row is locked first on PostgreSQL (SQLite ignores FOR UPDATE:
            # its insert, the first write, takes the database's write lock), so the count after the insert sees
            # every request stored before it, and one over the cap is rolled back. Whether they still take requests
            # is read there too: an opt-out or /forget-me that came after the check above (its member update waits
            # for this lock, or this waits for it) was followed by this request, reaching someone who had just left.
            # The asker's row too, in one order with the expert's (two members asking each other at once wait, not
            # deadlock): their requests are counted below, after this one's insert, as the expert's are.
            await session.execute(select(Member.id).where(Member.id.in_((asker.id, expert.id)))
                                  .order_by(Member.id).with_for_update(key_share=True))
            cap, consents, available, deactivated = (await session.execute(
                select(Member.weekly_intro_cap, Member.profiling_consent, Member.available_for_intros,
                       Member.deactivated).where(Member.id == expert.id).with_for_update(key_share=True))).one()
            if not consents or not available or deactivated:
                return [self._reply(event, render("intro_unavailable", expert=neutralise(expert.name)))]
            # And the question is still there: an asker who opted out meanwhile took it away (the request failed on
            # its foreign key). Held (FOR KEY SHARE) until the request is stored, so it cannot go in between.
            if await session.scalar(select(Question.id).where(Question.id == question.id)
                                    .with_for_update(read=True, key_share=True)) is None:
                return [self._reply(event, "That question is gone; ask it again.")]
            result = await session.execute(insert_ignore(session, Intro).values(
                community_id=community_id, question_id=question.id, asker_id=asker.id, expert_id=expert.id,
                state=IntroState.REQUESTED.value, created_at=event.time, expires_at=event.time + self.timeout))
            if not result.rowcount:
                state = await session.scalar(select(Intro.state).where(Intro.question_id == question.id,
                                                                       Intro.expert_id == expert.id))
                template = {IntroState.REQUESTED.value: "intro_already_requested",
                            IntroState.ACCEPTED.value: "intro_already_accepted"}.get(state, "intro_already_over")
                return [self._reply(event, render(template, expert=neutralise(expert.name)))]
            received = await session.scalar(select(func.count(Intro.id)).where(
                Intro.expert_id == expert.id, Intro.created_at >= event.time - INTRO_CAP_WINDOW))
            if received > (cap or self.expertise.weekly_intro_cap):
                await session.rollback()
                return [self._reply(event, render("intro_unavailable", expert=neutralise(expert.name)))]
            if refused := await self._over_asker_caps(session, asker.id, event.time):
                await session.rollback()
                return [self._reply(event, refused)]
            intro_id = await session.scalar(select(Intro.id).where(Intro.question_id == question.id,
                                                                   Intro.expert_id == expert.id))
        log.info("intro %d requested (community %d)", intro_id, community_id)
        metrics.INTROS.labels(IntroState.REQUESTED.value).inc()
        ask = Document(
            text=render("intro_request", question=await self.shown(community_id, question.text)),
            sections=(
                Section(heading=render("intro_request_why_heading"), quotes=why),
                Section(text=render("intro_request_choice"), buttons=(
                    Button("Accept", "intro.accept", str(intro_id), style="primary"),
                    Button("Decline", "intro.decline", str(intro_id)),
                    Button("Not my area", "intro.notmine", str(intro_id)),
                )),
            ),
        )
        return [
            self._reply(event, render("intro_requested", expert=neutralise(expert.name),
                                      question=await self.shown(community_id, question.text))),
            DirectMessage(community=event.community, user=expert.external_id, doc=ask, key=f"intro:{intro_id}"),
        ]

    async def shown(self, community_id: int, question: str) -> str:
        """A question as the intro messages quote it: a member it names reads as "@name" ("who knows what <@U1>
        meant by linklets?" was quoted "what meant by linklets" to the expert), as the answer that offered the intro
        did."""
        return echoed(await self.expertise.readable(community_id, question), 300)

    async def _over_asker_caps(self, session: AsyncSession, asker_id: int, now: datetime) -> str | None:
        """Why the request just stored is one too many for its asker (ASKER_OPEN_REQUESTS waiting for an answer,
        ASKER_WEEKLY_REQUESTS in the cap window), or None."""
        waiting = await session.scalar(select(func.count(Intro.id)).where(
            Intro.asker_id == asker_id, Intro.state == IntroState.REQUESTED.value))
        if waiting > ASKER_OPEN_REQUESTS:
            hours = self.timeout.total_seconds() / 3600
            return render("intro_asker_waiting", open=waiting - 1, hours=f"{hours:g}")
        sent = list(await session.scalars(select(Intro.created_at).where(
            Intro.asker_id == asker_id, Intro.created_at >= now - INTRO_CAP_WINDOW).order_by(Intro.created_at)))
        if len(sent) > ASKER_WEEKLY_REQUESTS:
            first = sent[-ASKER_WEEKLY_REQUESTS - 1]  # the oldest that counts, once this one is left out
            first = first if first.tzinfo else first.replace(tzinfo=UTC)
            when = (first + INTRO_CAP_WINDOW).strftime("%b %-d, %H:%M UTC")
            return render("intro_asker_weekly", sent=len(sent) - 1, when=when)
        return None

    async def undelivered(self, action: DirectMessage) -> list[Action]:
        """The request never reached the expert (their DMs are closed): it ends as an unanswered one does, now
        rather than after the timeout, and the asker is offered the next expert (nobody learns why)."""
        ident = row_id(action.key.partition(":")[2])
        if ident is None:
            return []
        now = self.clock()
        async with self.db.sessions.begin() as session:
            if not await move(session, ident, IntroState.EXPIRED, now):
                return []  # answered meanwhile, or withdrawn
            intro = await session.get(Intro, ident)
            question = await session.get(Question, intro.question_id) if intro.question_id else None
            asker = await session.get(Member, intro.asker_id) if intro.asker_id else None
        log.info("intro %d ended: the request could not be delivered to the expert", intro.id)
        if question is None or asker is None:
            return []
        offer = await self._offer_next(intro.community_id, action.community, question, asker, now)
        return [offer] if offer is not None else []

    async def decide(self, event: ev.ActionClicked, community_id: int, target: IntroState) -> list[Action]:
        intro_id = row_id(event.value)
        if intro_id is None:
            log.warning("malformed %s value %s", loggable(event.action), loggable(event.value))
            return [self._reply(event, render("intro_closed"))]
        closed = [self._reply(event, render("intro_closed"))]
        async with self.db.sessions.begin() as session:
            intro = await session.get(Intro, intro_id)
            if intro is None:  # withdrawn with its expert (/forget-me)
                return closed + self._settled(event, render("intro_settled_closed"))
            expert = await session.get(Member, intro.expert_id)
            if intro.community_id != community_id or expert is None or expert.external_id != event.user:
                return [self._reply(event, "That request isn't addressed to you.")]
            if intro.question_id is None or intro.asker_id is None:  # the asker opted out or was forgotten
                return closed + self._settled(event, render("intro_settled_closed"))
            question = await session.get(Question, intro.question_id)
            if not await move(session, intro.id, target, event.time):  # decided before, or expired
                # Read again: decided meanwhile (a double click, its other click on another replica), the request
                # says how, as the click that decided it left it; it said 'closed', the expert's Accept undone.
                state = await session.scalar(select(Intro.state).where(Intro.id == intro.id))
                return closed + self._settled(event, await self._outcome(session, state, intro.asker_id),
                                              await self.shown(community_id, question.text))
            asker = await session.get(Member, intro.asker_id)
            if target is IntroState.NOT_MY_AREA and expert.profiling_consent:
                topic = question.text[:4000]
                await session.execute(insert_ignore(session, NotMyArea).values(
                    community_id=community_id, member_id=expert.id, question_id=question.id, topic=topic,
                    topic_key=topic_key(topic), created_at=event.time))
            if target is IntroState.ACCEPTED and not expert.profiling_consent:
                # Accepted, it would count as expertise on the question: nothing is learnt about an opted-out member.
                await session.execute(update(Intro).where(Intro.id == intro.id).values(question_id=None))
        log.info("intro %d %s", intro.id, target.value)
        shown = await self.shown(community_id, question.text)
        if target is IntroState.ACCEPTED:
            group = Document(text=render("intro_group", asker=neutralise(asker.name), expert=neutralise(expert.name),
                                         question=shown))
            return [
                OpenGroup(community=event.community, members=(asker.external_id, expert.external_id), doc=group,
                          key=f"intro:{intro.id}"),
                DirectMessage(community=event.community, user=asker.external_id, doc=Document(
                    text=render("intro_accepted_asker", expert=neutralise(expert.name), question=shown))),
                self._reply(event, render("intro_accepted_expert", asker=neutralise(asker.name))),
                *self._settled(event, render("intro_settled_accepted", asker=neutralise(asker.name)), shown),
            ]
        mine = target is IntroState.NOT_MY_AREA
        thanks = "intro_not_my_area_expert" if mine else "intro_declined_expert"
        settled = self._settled(event, render("intro_settled_not_my_area" if mine else "intro_settled_declined"),
                                shown)
        offer = await self._offer_next(community_id, event.community, question, asker, event.time)
        return [self._reply(event, render(thanks)), *settled, *([offer] if offer else [])]

    async def request_delivered(self, key: str, channel: str, message_ref: str) -> None:
        """The adapter sent the request to the expert (Core.delivered): where it is, so that it can be changed when
        the request expires or is withdrawn. A request withdrawn before its message was known is changed now."""
        intro_id = row_id(key.partition(":")[2])
        if intro_id is None:
            log.warning("malformed intro key %s", loggable(key))
            return
        async with self.db.sessions.begin() as session:
            await session.execute(update(Intro).where(Intro.id == intro_id)
                                  .values(request_channel=channel[:64], request_ref=message_ref[:64]))
            intro = await session.get(Intro, intro_id)
            community = await session.get(Community, intro.community_id) if intro is not None else None
        if intro is not None and intro.state == IntroState.WITHDRAWN.value:  # the asker left while it was sent
            await self.core.deliver(community.platform, [UpdateMessage(
                community=community.external_id, channel=channel, message_ref=message_ref,
                doc=settled_request(render("intro_settled_withdrawn")))])

    # -- timeouts ----------------------------------------------------------------------------------
    async def sweep(self) -> int:
        """Expire requests unanswered past the timeout and offer their askers the next expert, in the communities
        served here (bot.serving: another workspace's process tells its own members). Each intro is claimed by a
        conditional UPDATE, so two replicas never both send the offer."""
        now = self.clock()
        async with self.db.sessions() as session:
            overdue = list(await session.scalars(
                select(Intro.id).where(Intro.state == IntroState.REQUESTED.value, Intro.expires_at <= now,
                                       Intro.community_id.in_(serving.community_ids(self.core.senders)))
                .order_by(Intro.expires_at).limit(SWEEP_BATCH)))
        expired = 0
        for intro_id in overdue:
            async with self.db.sessions.begin() as session:
                if not await move(session, intro_id, IntroState.EXPIRED, now):
                    continue  # answered meanwhile, or another replica claimed it
                intro = await session.get(Intro, intro_id)
                question = await session.get(Question, intro.question_id) if intro.question_id else None
                asker = await session.get(Member, intro.asker_id) if intro.asker_id else None
                community = await session.get(Community, intro.community_id)
            expired += 1
            log.info("intro %d expired", intro_id)
            told = []
            if intro.request_channel and intro.request_ref:  # the request, without its buttons
                told.append(UpdateMessage(
                    community=community.external_id, channel=intro.request_channel, message_ref=intro.request_ref,
                    doc=settled_request(render("intro_settled_expired"), await self.shown(community.id, question.text))
                    if question is not None
                    else settled_request(render("intro_settled_closed"))))
            if question is not None and asker is not None:  # else the asker left: nobody to offer the next expert to
                offer = await self._offer_next(community.id, community.external_id, question, asker, now)
                told += [offer] if offer is not None else []
            if told:
                await self.core.deliver(community.platform, told)
        return expired

    async def expert_gone(self, community_id: int, question_ids: list[int], now: datetime) -> list[Action]:
        """An expert opted out or was forgotten with requests to them still open: each asker is offered the next
        expert, with the message a decline gets (nobody learns what happened)."""
        offers: list[Action] = []
        for question_id in question_ids:
            async with self.db.sessions() as session:
                question = await session.get(Question, question_id)
                asker = await session.get(Member, question.asker_id) if question and question.asker_id else None
                community = await session.get(Community, community_id)
            if question is None or asker is None:
                continue
            offer = await self._offer_next(community_id, community.external_id, question, asker, now)
            if offer is not None:
                offers.append(offer)
        return offers

    # -- helpers -----------------------------------------------------------------------------------
    async def _offer_next(self, community_id: int, community: str, question: Question, asker: Member,
                          now: datetime) -> DirectMessage | None:
        """The same message whatever happened (declined, not my area, no answer): nobody learns who declined.
        None where another expert already accepted: the asker has their introduction."""
        from bot.core import expert_cards

        async with self.db.sessions() as session:
            asked = set(await session.scalars(
                select(Member.external_id).join(Intro, Intro.expert_id == Member.id)
                .where(Intro.question_id == question.id)))
            if await session.scalar(select(Intro.id).where(Intro.question_id == question.id,
                                                           Intro.state == IntroState.ACCEPTED.value).limit(1)):
                return None
        suggestions = await self.expertise.rank(community_id, question.text, asker=asker.external_id, top=1,
                                                now=now, skip=asked, channel=question.channel_external_id)
        if suggestions:  # its button asks for someone suggested for the question
            async with self.db.sessions.begin() as session:  # locked: two offers at once append both
                stored = await session.scalar(select(Question).where(Question.id == question.id).with_for_update())
                if stored is not None and suggestions[0].user not in (stored.suggested or []):
                    stored.suggested = [*(stored.suggested or []), suggestions[0].user]
        shown = await self.shown(community_id, question.text)
        if not suggestions:
            doc = Document(text=render("intro_none_left", question=shown))
        else:
            doc = Document(text=render("intro_next", question=shown),
                           sections=(Section(experts=expert_cards(suggestions, question.id)),))
        return DirectMessage(community=community, user=asker.external_id, doc=doc)

    async def _why(self, community_id: int, question: Question, asker: str, expert: str,
                   now: datetime) -> tuple[Evidence, ...]:
        """The expert's own evidence (quotes of their messages among it), with the links to it (unable to ping, as
        a suggestion's evidence is made)."""
        suggestions: list[Suggestion] = await self.expertise.rank(community_id, question.text, asker=asker, top=20,
                                                                  now=now, channel=question.channel_external_id,
                                                                  shown_of={expert})
        for s in suggestions:
            if s.user == expert:
                return tuple(Evidence(text, link) for text, link in zip(s.why[:3], s.permalinks, strict=False))
        return (Evidence("you were among the members suggested for it, from what you have said here"),)

    @staticmethod
    async def _outcome(session: AsyncSession, state: str | None, asker_id: int) -> str:
        """What an intro request decided before says of itself: how it was decided, or closed."""
        if state == IntroState.ACCEPTED.value:
            asker = await session.get(Member, asker_id)
            return render("intro_settled_accepted", asker=neutralise(asker.name if asker else ""))
        return render({IntroState.DECLINED.value: "intro_settled_declined",
                       IntroState.NOT_MY_AREA.value: "intro_settled_not_my_area"}.get(state or "",
                                                                                       "intro_settled_closed"))

    @staticmethod
    def _settled(event: ev.ActionClicked, outcome: str, shown: str | None = None) -> list[Action]:
        """The request the expert clicked, changed to say what became of it and without its buttons, which
        stayed to be clicked again; nothing where the click names no message to change."""
        if not event.message_ref:
            return []
        return [UpdateMessage(community=event.community, channel=event.channel, message_ref=event.message_ref,
                              doc=settled_request(outcome, shown))]

    @staticmethod
    def _reply(event: ev.Event, text: str) -> Reply:
        return Reply(community=event.community, channel=event.channel, user=event.user, thread=event.thread,
                     doc=Document(text=text))


def setup(app: App) -> IntroService:
    service = IntroService(db=app.db, expertise=app.expertise, core=app.core,
                           timeout=timedelta(hours=app.settings.intro_timeout_hours))
    app.core.register_click("intro", service.on_click)
    app.core.register_delivered("intro", service.request_delivered)
    app.core.register_undelivered("intro", service.undelivered)
    app.core.on_requests_dropped.append(service.expert_gone)
    # Sweep often enough that a request expires within a few percent of its timeout.
    every = min(max(service.timeout.total_seconds() / 20, 30.0), 900.0)
    app.scheduler.every("intro-timeouts", every, service.sweep)
    return service
