"""Actions (what the core wants done) and the neutral document each adapter renders."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

log = logging.getLogger(__name__)

KEPT_THERE = 10_000  # links a process knows to be on the platform still, at most (then it starts again)


@dataclass(frozen=True)
class Button:
    label: str
    action: str
    value: str
    style: str = "default"  # "primary", "danger", "default"


@dataclass(frozen=True)
class Evidence:
    text: str  # shown as text, markup inert: it quotes members
    permalink: str | None = None


@dataclass(frozen=True)
class ExpertCard:
    user: str  # platform user id
    name: str
    score: float
    why: tuple[Evidence, ...] = ()
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True)
class ResourceItem:
    title: str
    url: str
    note: str = ""
    permalink: str | None = None


@dataclass(frozen=True)
class Section:
    heading: str = ""
    text: str = ""  # the bot's own words; member text goes in quotes
    quotes: tuple[Evidence, ...] = ()  # lines quoting members (a waiting question, why an expert): markup inert
    experts: tuple[ExpertCard, ...] = ()
    resources: tuple[ResourceItem, ...] = ()
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True)
class Document:
    """A small neutral message: Block Kit on Slack, embeds on Discord, plain text in a terminal."""

    text: str  # the plain-text summary (notifications, fallbacks)
    sections: tuple[Section, ...] = ()

    def plain(self) -> str:
        from bot.render_text import render_plain

        return render_plain(self)


@dataclass(frozen=True, kw_only=True)
class Action:
    community: str


@dataclass(frozen=True, kw_only=True)
class Reply(Action):
    """Answer in the channel/thread of the event; ephemeral means only the user sees it."""

    channel: str
    user: str
    doc: Document
    thread: str | None = None
    ephemeral: bool = True


@dataclass(frozen=True, kw_only=True)
class DirectMessage(Action):
    user: str
    doc: Document
    # A stable id (e.g. "intro:42") of a message the core follows: the adapter tells it where the message went
    # (Core.delivered: the channel and the message's own id, so an UpdateMessage can change it later), or hands it
    # back where the platform refuses it (Core.undelivered: the member takes no DMs), whose service says what becomes
    # of it.
    key: str = ""


@dataclass(frozen=True, kw_only=True)
class OpenGroup(Action):
    members: tuple[str, ...]
    doc: Document
    key: str = ""  # a stable id (e.g. "intro:42") so adapters can name threads


@dataclass(frozen=True, kw_only=True)
class UpdateMessage(Action):
    channel: str
    message_ref: str
    doc: Document


@dataclass(frozen=True, kw_only=True)
class PostToChannel(Action):
    channel: str
    doc: Document
    thread: str | None = None
    # A stable id of a post that must go out once ("digest:12:2024-03-04T09:00"): the adapter marks the post with it
    # where the platform keeps such a mark (Slack's message metadata, a Discord embed's footer and nonce), so that
    # FindsPosts can tell later whether an attempt whose outcome was never recorded reached the channel.
    key: str = ""


@dataclass(frozen=True, kw_only=True)
class EditPost(Action):
    """The bot's own post marked `key` (PostToChannel.key), posted in `channel` between `since` and `until`, to show
    `doc` now: a
    digest that quoted or named a member who was forgotten or opted out since. The adapter finds the post as FindsPosts
    does and edits it where it is (on Discord, with the messages its embeds ran over); a post it cannot find is
    Undelivered (deleted: nothing left to edit)."""

    channel: str
    key: str
    doc: Document
    since: datetime
    until: datetime


# What became of an action sent outside an event (Core.send): sent; refused for good by the platform
# (bot.errors.Undelivered, e.g. a member who takes no DMs); failed (no adapter running, an error: worth retrying).
SENT, REFUSED, FAILED = "sent", "refused", "failed"

# Told where a keyed DirectMessage went: (its key, the channel, the message's id on the platform).
Delivered = Callable[[str, str, str], Awaitable[None]]


class Sender(Protocol):
    """What an adapter offers the core for actions that are not replies to an event (intro timeouts,
    digests, mentoring rounds): render the action and deliver it on the platform."""

    async def send(self, action: Action) -> None: ...


def as_direct_message(action: Action) -> Action:
    """A reply to the member, sent to their DM instead: a command handled minutes after it was typed (replayed from
    the inbox), when the way to answer in place (Slack's response_url, Discord's interaction token) is gone."""
    if isinstance(action, Reply):
        return DirectMessage(community=action.community, user=action.user, doc=action.doc)
    return action


@dataclass(frozen=True)
class LookedUp:
    """Stored messages (by their links) as the platform has them now."""

    gone: frozenset[str] = frozenset()  # it no longer has them
    edited: frozenset[str] = frozenset()  # edited since they were stored: already handed to the core as the edit
    # said where they may no longer be shown (their channel made private meanwhile): already stored so, not to be shown
    hidden: frozenset[str] = frozenset()


# What a look-up gives for a message said where it may no longer be shown (LookedUp.hidden); {}: gone; None: not known.
HIDDEN: dict[str, Any] = {"hidden": True}


async def looked_up(asked: dict[asyncio.Task, str], *, seconds: float, where: str,
                    edited: Callable[[str, dict[str, Any]], Awaitable[bool]], there: set[str]) -> LookedUp:
    """What look-ups of stored messages found, each task giving the message as the platform has it ({}: gone; None:
    not known; HIDDEN: not to be shown), `asked` naming each task's link: those not done within `seconds` are
    cancelled and shown as stored (one log line naming `where`); `edited(link, message)` hands an edited one to the
    core and says whether it did; the links found there are added to `there` (cleared past KEPT_THERE)."""
    done, pending = await asyncio.wait(asked, timeout=seconds)
    for task in pending:
        task.cancel()
    if pending:
        log.warning("%s: %d of %d message(s) to be shown not checked within %gs", where, len(pending), len(asked),
                    seconds)
    found = {asked[task]: task.result() for task in done}
    hidden = frozenset(link for link, message in found.items() if message is HIDDEN)
    changed = {link for link, message in found.items() if message and link not in hidden
               and await edited(link, message)}
    if len(there) > KEPT_THERE:
        there.clear()
    there.update(link for link, message in found.items() if message and link not in hidden)
    return LookedUp(gone=frozenset(link for link, message in found.items() if message == {}),
                    edited=frozenset(changed), hidden=hidden)


@runtime_checkable
class ChecksMessages(Protocol):
    """What a sender may also offer: these stored messages (by their links) as the platform has them now, where it
    can tell (a message deleted or edited while the bot was away: nothing told it)."""

    async def look_up(self, community: str, permalinks: list[str]) -> LookedUp: ...


@runtime_checkable
class FindsPosts(Protocol):
    """What a sender may also offer: whether the bot's own post marked `key` (PostToChannel.key) is in the channel,
    posted since `since`. True or False; raises ChannelRefused where the channel refuses the bot (it could not post
    there either), anything else where the platform did not say."""

    async def find_post(self, community: str, channel: str, key: str, since: datetime) -> bool: ...


@runtime_checkable
class CompletesPosts(Protocol):
    """What a sender whose posts may go out as several messages (Discord: embeds past one message's limits) also
    offers: the bot's post marked `key`, found in the channel (FindsPosts) as `doc` and perhaps cut short after its
    first message, completed with the messages missing. A sender without it posts one message a post (Slack)."""

    async def complete_post(self, community: str, channel: str, key: str, doc: Document, since: datetime) -> None: ...


@runtime_checkable
class Serves(Protocol):
    """What a sender may also offer: the communities (external ids) it can reach now: Slack, the workspace its token
    names (auth.test); Discord, the servers the bot is in. Scheduled jobs take only their work (bot.serving). A sender
    without it (the console) serves every community of its platform."""

    def communities(self) -> frozenset[str] | None: ...
