"""`connective forget MEMBER`: a member forgotten at a community manager's hand, as `/forget-me` does it.

A person who has left the workspace or server (or never used the bot) cannot type `/forget-me`, and asks the community
manager instead (an email, a data-protection request). This does what their own command does, through the same code
(Core.handle), on the configured database: their messages, vectors, profile and whatever else names them go, and
nothing new about them is stored until they `/optin` themselves. Someone the bot has not seen yet is recorded as
forgotten, by their platform id, so that what they say later, and an import, store nothing of theirs."""
from __future__ import annotations

import importlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

import typer
from sqlalchemy import func, select

from bot import events as ev
from bot.actions import FAILED, REFUSED, Action, DirectMessage, EditPost, Reply
from bot.db.models import Community, Member, Message
from bot.errors import UserError
from bot.repo import members_named
from bot.services.digest_unquote import EDIT_WITHIN

log = logging.getLogger(__name__)
# The platform's one-shot client (adapters/*/one_shot.py: `connected`), imported only where its token is set, and the
# setting that holds the token.
ONE_SHOT = {"slack": ("adapters.slack.one_shot", "slack_bot_token", "SLACK_BOT_TOKEN"),
            "discord": ("adapters.discord.one_shot", "discord_token", "DISCORD_TOKEN")}


@dataclass(frozen=True)
class Forgotten:
    platform: str
    community: str
    user: str
    messages: int  # their messages removed
    not_sent: list[Action]  # what the platform should be told (tell_platform sends it where the token is set)
    name: str = ""  # their name as it was stored (forgetting deletes it), for the report to whoever ran this

    def who(self) -> str:
        """'Rosalee (U0123)': the manager named a person, and the id alone did not say whether it was the right one."""
        return f"{self.name} ({self.user})" if self.name and self.name != self.user else self.user


@dataclass
class Told:
    """What became of Forgotten.not_sent."""

    sent: int = 0
    refused: int = 0  # refused for good by the platform (a member who takes no DMs, gone from the workspace)
    left: list[Action] = field(default_factory=list)  # not sent: no token, or the platform failed them
    home: bool = False  # the member's App Home published again (Slack)
    why: str = ""  # why nothing was sent
    kept: int = 0  # of `left`, kept in the database for the running bot to send (bot.outbox)


async def tell_platform(app, s, done: Forgotten) -> Told:  # noqa: ANN001
    """Send what the core would have had the platform do after /forget-me (the intro requests the member sent, edited
    to drop their question; the next expert offered to whoever waited on them; their App Home) with the platform's
    own client, where the token `connective run` reads is set. Without it, everything is left, and said so."""
    told = Told()
    module, setting, variable = ONE_SHOT.get(done.platform, ("", "", ""))
    if not module:
        told.left, told.why = list(done.not_sent), f"no {done.platform} client"
        return told
    if getattr(s, setting) is None:
        told.left, told.why = list(done.not_sent), f"{variable} is not set"
        return told
    connected = importlib.import_module(module).connected  # the core imports no platform client
    async with connected(app, s, done.community) as platform:
        app.core.senders[done.platform] = platform.sender
        try:
            waiting = list(done.not_sent)
            while waiting:
                action = waiting.pop(0)
                outcome = await app.core.send(done.platform, action)
                if outcome == FAILED:
                    told.left.append(action)
                elif outcome == REFUSED:
                    told.refused += 1
                    if isinstance(action, DirectMessage) and action.key:  # as the running bot does (the next expert)
                        waiting.extend(await app.core.undelivered(action))
                else:
                    told.sent += 1
            try:
                told.home = await platform.refresh(done.community, done.user)
            except Exception:
                log.exception("publishing the App Home of %s failed", done.user)
        finally:
            app.core.senders.pop(done.platform, None)
    return told


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
        name = member.name if member is not None else ""
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
                     [a for a in actions if not isinstance(a, Reply)], name=name)


async def keep_for_the_bot(app, done: Forgotten, told: Told) -> int:  # noqa: ANN001
    """What was not sent, kept in the database for the running bot to send (bot.outbox); how many."""
    from bot import outbox

    async with app.db.sessions() as session:
        community_id = await session.scalar(select(Community.id).where(Community.platform == done.platform,
                                                                       Community.external_id == done.community))
    return await outbox.keep(app.db, community_id, done.platform, told.left)


def report(done: Forgotten, told: Told | None = None) -> list[str]:
    lines = [f"Forgot {done.who()} in {done.platform}:{done.community}: {done.messages} message(s) removed, with their "
             "vectors, profile, skills, reactions, saves, questions, intros and mentoring; nothing new about them is "
             "stored unless they /optin themselves."]
    told = told or Told(left=list(done.not_sent), why="not sent")
    if told.sent or told.refused:
        refused = f"; {told.refused} refused by {done.platform} (a member it lets no DM reach)" if told.refused else ""
        lines.append(f"Sent {told.sent} platform message(s) on {done.platform} (the intro requests they sent no longer "
                     f"quote their question; askers waiting on them were offered the next expert){refused}.")
    if digests := sum(isinstance(a, EditPost) for a in done.not_sent):
        # Among the platform messages counted above and below: the digests posted lately that named them.
        left = sum(isinstance(a, EditPost) for a in told.left)
        lines.append(f"{digests} digest(s) posted in the last {EDIT_WITHIN.days} days quoted or named them: "
                     + (f"{digests - left} edited without them" if digests > left else "none edited yet")
                     + (f", {left} left with the messages not sent below." if left else "."))
    if told.home:
        lines.append("Their App Home no longer shows their profile.")
    if told.left:
        why = told.why or "the platform failed them: see the log above"
        if told.kept == len(told.left):
            lines.append(f"{told.kept} platform message(s) not sent from here ({why}), kept for the running bot to "
                         f"send (`connective run --platform {done.platform}` sends them within a minute): until then "
                         "intro requests they sent still quote their question in the experts' DMs, and askers waiting "
                         "on a request to them are not offered the next expert.")
        else:
            lines.append(f"{len(told.left)} platform message(s) not sent ({why}): intro requests they sent, withdrawn "
                         "or answered, still quote their question in the experts' DMs, and askers waiting on a request "
                         "to them were not offered the next expert; tell those members.")
    if told.why and done.platform == "slack":
        lines.append(f"Their App Home shows their profile until they open it again ({told.why}).")
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

    async def go() -> list[str]:
        app = await cli._open_app(s)
        try:
            done = await forget_member(app, await cli._community_id(app, community), member)
            try:
                told = await tell_platform(app, s, done)
            except UserError as exc:  # a token refused: the forgetting is done all the same, and said first
                told = Told(left=list(done.not_sent), why=str(exc))
            except OSError as exc:
                told = Told(left=list(done.not_sent), why=f"cannot reach {done.platform}: {type(exc).__name__}")
            told.kept = await keep_for_the_bot(app, done, told)
            return report(done, told)
        finally:
            await app.close()

    for line in cli.run_async(go):
        typer.echo(line)
