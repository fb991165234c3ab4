"""`connective forget MEMBER`: a member forgotten at a community manager's hand, as `/forget-me` does it.

A person who has left the workspace or server (or never used the bot) cannot type `/forget-me`, and asks the community
manager instead (an email, a data-protection request). This does what their own command does, through the same code
(Core.handle), on the configured database: their messages, vectors, profile and whatever else names them go, and
nothing new about them is stored until they `/optin` themselves. Someone the bot has not seen yet is recorded as
forgotten, by their platform id, so that what they say later, and an import, store nothing of theirs."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import typer
from sqlalchemy import func, select

from bot import events as ev
from bot.actions import Action, Reply
from bot.db.models import Community, Member, Message
from bot.errors import UserError
from bot.repo import members_named


@dataclass(frozen=True)
class Forgotten:
    platform: str
    community: str
    user: str
    messages: int  # their messages removed
    not_sent: list[Action]  # what the platform should have been told, which a command line cannot send


async def forget_member(app, community_id: int, typed: str, *, now: datetime | None = None) -> Forgotten:  # noqa: ANN001
    """Forget the member `typed` names (a platform id, or a name only one member has) in the community."""
    from bot.cli import _platform_id

    typed = typed.strip().lstrip("@")
    if not typed:
        raise UserError("name the member to forget: their platform id (U024BE7LH, a Discord user id) or name")
    async with app.db.sessions() as session:
        community = await session.get(Community, community_id)
        member = await session.scalar(select(Member).where(Member.community_id == community_id,
                                                           Member.external_id == typed))
        if member is None:
            named = await members_named(session, community_id, typed)
            if len(named) > 1:
                which = ", ".join(f"{m.name} ({m.external_id})" for m in named[:10])
                raise UserError(f"{typed!r} names {len(named)} members ({which}): give the platform id")
            member = named[0] if named else None
        if member is None and not _platform_id(community.platform, typed):
            raise UserError(f"no member {typed!r} in {community.platform}:{community.external_id}; give their "
                            "platform id to forget someone the bot has not seen yet")
        user = member.external_id if member is not None else typed
        messages = 0 if member is None else await session.scalar(
            select(func.count()).select_from(Message).where(Message.community_id == community_id,
                                                           Message.author_id == member.id))
    command = ev.CommandInvoked(community=community.external_id, platform=community.platform, user=user, channel="",
                                time=now or datetime.now(UTC), name="forget-me",
                                event_id=f"cli-forget:{uuid.uuid4().hex}")
    actions = await app.core.handle(command)
    async with app.db.sessions() as session:
        consents = await session.scalar(select(Member.profiling_consent).where(
            Member.community_id == community_id, Member.external_id == user))
    if consents is not False:
        raise UserError(f"forgetting {user} failed; see the log above")
    # The reply is to the member, who did not ask here; the rest would have gone to others.
    return Forgotten(community.platform, community.external_id, user, messages,
                     [a for a in actions if not isinstance(a, Reply)])


def report(done: Forgotten) -> list[str]:
    lines = [f"Forgot {done.user} in {done.platform}:{done.community}: {done.messages} message(s) removed, with their "
             "vectors, profile, skills, reactions, saves, questions, intros and mentoring; nothing new about them is "
             "stored unless they /optin themselves."]
    if done.not_sent:
        lines.append(f"{len(done.not_sent)} platform message(s) not sent from the command line (intro requests they "
                     "sent, withdrawn or answered, still quote their question in the experts' DMs; askers waiting on a "
                     "request to them were not offered the next expert): run `/forget-me` as them, or tell those "
                     "members.")
    return lines


def forget(
    member: Annotated[str, typer.Argument(help="Their platform id (U024BE7LH, a Discord user id), or a name only one "
                                               "member has")],
    community: Annotated[str | None, typer.Option(help="Community (external id) when the database has several")]
    = None,
) -> None:
    """Forget a member at their request, as their own /forget-me does (for someone who left, or wrote to you)."""
    from bot import cli

    s = cli.settings()

    async def go() -> Forgotten:
        app = await cli._open_app(s)
        try:
            return await forget_member(app, await cli._community_id(app, community), member)
        finally:
            await app.close()

    for line in report(cli.run_async(go)):
        typer.echo(line)
