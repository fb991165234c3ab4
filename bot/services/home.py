"""A member's own page (Slack App Home): what the bot thinks they know, and their switches.

Platform-neutral: `document()` returns a Document with `home.*` buttons; `on_click` changes stored
state (opting out goes through the same command as `/connective optout`).
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from bot import events as ev
from bot.actions import Action, Button, Document, Evidence, Reply, Section, UpdateMessage
from bot.command_names import command, help_names
from bot.db.intros import INTRO_CAP_WINDOW, Intro, NotMyArea
from bot.db.mentoring import MentoringEnrolment
from bot.db.models import Channel, Message
from bot.messages import render
from bot.repo import ensure_community, ensure_member
from bot.safety import neutralise, row_id
from bot.services.mentoring_form import FORM_ACTION
from bot.services.profile_skills import profile_skills

if TYPE_CHECKING:
    from bot.app import App
    from bot.core import Core
    from bot.db.engine import Database

CAP_CHOICES = (1, 3, 5, 10)
MENTORING_VERBS = frozenset({"skip", "pause", "resume"})
# Platforms with a Home of their own (Slack's App Home), where a member's switches live. Elsewhere (Discord), /me
# carries the intro switches, and a click on one shows /me again, changed.
HOME_PLATFORMS = frozenset({"slack"})


def intro_switches(available: bool, cap: int) -> tuple[Button, ...]:
    """Pause or resume intro requests, and the weekly cap (the one set is primary)."""
    return ((Button("Pause intros", "home.unavailable", "off"),) if available
            else (Button("Resume intros", "home.available", "on", style="primary"),)) + tuple(
        Button(f"Cap {n}/week", "home.cap", str(n), style="primary" if n == cap else "default") for n in CAP_CHOICES)


def _topics(topics: list[str] | None) -> str:
    return ", ".join(t[:80] for t in (topics or [])[:10]) or "(none)"


def mentoring_section(enrolment: MentoringEnrolment | None) -> Section:
    """My enrolment in the mentoring rounds: role, topics, capacity, paused or skipping; its switches."""
    if enrolment is None:
        return Section(heading="Mentoring", text="Not enrolled. `/mentoring join` explains how to take part.",
                       buttons=(Button("Join mentoring", FORM_ACTION, "join", style="primary"),))
    lines = [f"Role: {enrolment.role}."]
    if enrolment.role in ("mentor", "both"):
        cap = enrolment.capacity
        lines.append(f"Can teach: {_topics(enrolment.can_teach)} (up to {cap} mentee{'s' if cap != 1 else ''}"
                     " a round).")
    if enrolment.role in ("mentee", "both"):
        lines.append(f"Wants to learn: {_topics(enrolment.wants_to_learn)}.")
    lines.append(f"Time zone: {enrolment.timezone}.")
    if enrolment.paused:
        lines.append("Paused: you are left out of rounds until you resume.")
        buttons: tuple[Button, ...] = (Button("Resume mentoring", "home.mentoring", "resume", style="primary"),)
    else:
        lines.append("Sitting out the next round." if enrolment.skip_next else "In the next round.")
        buttons = (Button("Pause mentoring", "home.mentoring", "pause"),)
        if not enrolment.skip_next:
            buttons += (Button("Skip next round", "home.mentoring", "skip"),)
    buttons += (Button("Edit enrolment", FORM_ACTION, "edit"),)
    return Section(heading="Mentoring", text=neutralise("\n".join(lines)), buttons=buttons)


class HomeService:
    def __init__(self, *, db: Database, core: Core, default_cap: int) -> None:
        self.db = db
        self.core = core
        self.default_cap = default_cap

    async def document(self, platform: str, community: str, user: str, now: datetime | None = None) -> Document:
        now = now or datetime.now(UTC)
        async with self.db.sessions.begin() as session:
            c = await ensure_community(session, platform, community)
            member = await ensure_member(session, c.id, user)
            skills = await profile_skills(session, c.id, member.id)
            channels = (await session.execute(
                select(Channel.name, func.count(Message.id)).join(Message, Message.channel_id == Channel.id)
                .where(Message.community_id == c.id, Message.author_id == member.id)
                .group_by(Channel.name).order_by(func.count(Message.id).desc()).limit(5)
            )).all()
            declined = list(await session.scalars(select(NotMyArea.topic).where(
                NotMyArea.community_id == c.id, NotMyArea.member_id == member.id).order_by(NotMyArea.id)))
            this_week = await session.scalar(select(func.count(Intro.id)).where(
                Intro.expert_id == member.id, Intro.created_at >= now - INTRO_CAP_WINDOW))
            enrolment = await session.scalar(select(MentoringEnrolment).where(
                MentoringEnrolment.community_id == c.id, MentoringEnrolment.member_id == member.id))
        # Skills (some are others' words, endorsing) and declined questions are quoted: their markup stays text.
        quoted = [Evidence(neutralise(s.line(say_declared=True))) for s in skills]
        if declined:
            quoted.append(Evidence(neutralise("not your area: " + "; ".join(t[:80] for t in declined[:5]))))
        known = [f"• what you wrote in #{name}: {n} message{'s' if n != 1 else ''}" for name, n in channels]
        cap = member.weekly_intro_cap or self.default_cap
        profiling = Section(
            heading="Profiling",
            text="On: I learn from what you answer in public channels." if member.profiling_consent
            else "Off: I store nothing about you and never suggest you.",
            buttons=(Button("Opt out", "home.optout", "off", style="danger"),) if member.profiling_consent
            else (Button("Opt back in", "home.optin", "on", style="primary"),),
        )
        intros = Section(
            heading="Introductions",
            text=("Available for intro requests." if member.available_for_intros else "Intro requests paused.")
            + f" Weekly cap: {cap} request{'s' if cap != 1 else ''} ({this_week} this week).",
            buttons=intro_switches(member.available_for_intros, cap),
        )
        return Document(
            text="What connective knows about you",
            sections=(
                Section(heading="What I think you know",
                        text=neutralise("\n".join(known)) if known or quoted else
                        "Nothing yet: answer questions in public channels, or "
                        f"`{command(platform, 'skills', 'add <topic>')}`.", quotes=tuple(quoted)),
                profiling,
                intros,
                mentoring_section(enrolment),
                Section(heading="Commands", text=render("help", **help_names(platform))),
            ),
        )

    async def on_click(self, event: ev.ActionClicked, community_id: int) -> list[Action]:
        verb = event.action.partition(".")[2]
        if verb == "mentoring" and event.value in MENTORING_VERBS and "mentoring" in self.core.commands:
            return await self._command(event, community_id, "mentoring", event.value)
        async with self.db.sessions.begin() as session:
            member = await ensure_member(session, community_id, event.user)
            member_id = member.id
            if verb in ("available", "unavailable"):
                member.available_for_intros = verb == "available"
            elif verb == "cap":
                cap = row_id(event.value)
                if cap is not None and cap <= 50:
                    member.weekly_intro_cap = cap
        if verb in ("available", "unavailable", "cap"):
            return await self._me_again(event, community_id, member_id)
        if verb in ("optout", "optin"):
            return await self._command(event, community_id, verb, "", member_id)
        return []

    async def _me_again(self, event: ev.ActionClicked, community_id: int, member_id: int) -> list[Action]:
        """A switch clicked under /me (no Home on the platform): /me shown again in its place, as it is now. A Home's
        click is shown by the Home published again (the adapter's)."""
        if event.platform in HOME_PLATFORMS or not event.message_ref:
            return []
        me = ev.CommandInvoked(community=event.community, user=event.user, channel=event.channel,
                               platform=event.platform, time=event.time, name="me")
        return [UpdateMessage(community=event.community, channel=event.channel, message_ref=event.message_ref,
                              doc=reply.doc) for reply in await self.core.commands["me"](me, community_id, member_id)
                if isinstance(reply, Reply)]

    async def _command(self, event: ev.ActionClicked, community_id: int, name: str, args: str,
                       member_id: int | None = None) -> list[Action]:
        """A Home button does what the same command does (`/connective optout`, `/mentoring pause`)."""
        if member_id is None:
            async with self.db.sessions.begin() as session:
                member_id = (await ensure_member(session, community_id, event.user)).id
        command = ev.CommandInvoked(community=event.community, user=event.user, channel=event.channel,
                                    platform=event.platform, time=event.time, name=name, args=args)
        return await self.core.commands[name](command, community_id, member_id)


def setup(app: App) -> HomeService:
    service = HomeService(db=app.db, core=app.core, default_cap=app.settings.weekly_intro_cap)
    app.core.register_click("home", service.on_click)
    return service
