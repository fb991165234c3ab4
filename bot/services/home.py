"""A member's own page (Slack App Home): what the bot thinks they know, and their switches.

Platform-neutral: `document()` returns a Document with `home.*` buttons; `on_click` changes stored
state (opting out goes through the same command as `/connective optout`).
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from bot import events as ev
from bot.actions import Action, Button, Document, Section
from bot.db.intros import INTRO_CAP_WINDOW, Intro, NotMyArea
from bot.db.models import Channel, Message
from bot.messages import template
from bot.repo import ensure_community, ensure_member, skills_of
from bot.safety import neutralise

if TYPE_CHECKING:
    from bot.app import App
    from bot.core import Core
    from bot.db.engine import Database

CAP_CHOICES = (1, 3, 5, 10)


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
            skills = await skills_of(session, c.id, member.id)
            channels = (await session.execute(
                select(Channel.name, func.count(Message.id)).join(Message, Message.channel_id == Channel.id)
                .where(Message.community_id == c.id, Message.author_id == member.id)
                .group_by(Channel.name).order_by(func.count(Message.id).desc()).limit(5)
            )).all()
            declined = list(await session.scalars(select(NotMyArea.topic).where(
                NotMyArea.community_id == c.id, NotMyArea.member_id == member.id).order_by(NotMyArea.id)))
            this_week = await session.scalar(select(func.count(Intro.id)).where(
                Intro.expert_id == member.id, Intro.created_at >= now - INTRO_CAP_WINDOW))
        known = [f"• {s.topic}" + (" (endorsed)" if s.source == "endorsed" else " (you said so)") for s in skills]
        known += [f"• what you wrote in #{name}: {n} message{'s' if n != 1 else ''}" for name, n in channels]
        if declined:
            known.append("• not your area: " + "; ".join(t[:80] for t in declined[:5]))
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
            buttons=((Button("Pause intros", "home.unavailable", "off"),) if member.available_for_intros
                     else (Button("Resume intros", "home.available", "on", style="primary"),))
            + tuple(Button(f"Cap {n}/week", "home.cap", str(n), style="primary" if n == cap else "default")
                    for n in CAP_CHOICES),
        )
        return Document(
            text="What connective knows about you",
            sections=(
                Section(heading="What I think you know",
                        text=neutralise("\n".join(known)) if known else
                        "Nothing yet: answer questions in public channels, or `/connective skills add <topic>`."),
                profiling,
                intros,
                Section(heading="Commands", text=template("help")),
            ),
        )

    async def on_click(self, event: ev.ActionClicked, community_id: int) -> list[Action]:
        verb = event.action.partition(".")[2]
        async with self.db.sessions.begin() as session:
            member = await ensure_member(session, community_id, event.user)
            member_id = member.id
            if verb in ("available", "unavailable"):
                member.available_for_intros = verb == "available"
                return []
            if verb == "cap":
                if event.value.isdigit() and 0 < int(event.value) <= 50:
                    member.weekly_intro_cap = int(event.value)
                return []
        if verb in ("optout", "optin"):
            command = ev.CommandInvoked(community=event.community, user=event.user, channel=event.channel,
                                        platform=event.platform, time=event.time, name=verb)
            return await self.core.commands[verb](command, community_id, member_id)
        return []


def setup(app: App) -> HomeService:
    service = HomeService(db=app.db, core=app.core, default_cap=app.settings.weekly_intro_cap)
    app.core.register_click("home", service.on_click)
    return service
