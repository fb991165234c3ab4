"""Core events: what adapters hand to the core. No platform objects in here."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime

from bot.safety import loggable, storable, usable_id


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class Event:
    community: str  # Slack team id, Discord guild id, or the console community
    user: str  # platform user id of whoever caused the event
    channel: str = ""
    thread: str | None = None
    event_id: str = ""  # platform id used for de-duplication; empty means "do not de-duplicate"
    time: datetime = field(default_factory=utcnow)
    platform: str = "console"


@dataclass(frozen=True, kw_only=True)
class MessagePosted(Event):
    message_id: str
    text: str
    user_name: str = ""
    is_bot: bool = False
    permalink: str | None = None
    is_private: bool = False  # a DM or a private channel
    # An announcement channel or a thread of one (see Channel.announcements); None: not known (a thread whose
    # parent is not known, a platform without them)
    in_announcements: bool | None = None
    channel_name: str = ""
    mentions_bot: bool = False
    is_direct: bool = False  # a DM to the bot
    is_group_dm: bool = False  # a group DM (Slack's mpim): never read, whatever an admin sets (Channel.is_dm)
    edited: bool = False
    reply_to: str | None = None  # the message this one answers (Discord replies)
    # Its thread starts with no opening message of its own (a Discord private thread or forum post): the thread's
    # first member's message asks (see bot.db.models.OpenerlessThread)
    thread_without_opener: bool = False
    link_titles: tuple[tuple[str, str], ...] = ()  # (URL, title) from the platform's link unfurls
    # Not delivered live: fetched from the platform's history after the bot was away (a restart, a crash). Stored as
    # any; a question to the bot in it is answered only if it was asked moments ago (bot.core.LATE_QUESTION).
    caught_up: bool = False


@dataclass(frozen=True, kw_only=True)
class MessageDeleted(Event):
    message_id: str


@dataclass(frozen=True, kw_only=True)
class ThreadStarted(Event):
    """A thread (`channel`, `thread` as its messages are stored) started on its own, with no opening message (a
    Discord thread made with "Create Thread": its parent gets a "started a thread" notice naming it): its first
    member's message asks."""


@dataclass(frozen=True, kw_only=True)
class ReactionAdded(Event):
    message_id: str
    reaction: str


@dataclass(frozen=True, kw_only=True)
class ReactionRemoved(Event):
    message_id: str
    reaction: str


@dataclass(frozen=True, kw_only=True)
class ReactionsCleared(Event):
    """A message's reactions taken away for everyone at once, by a moderator (Discord's MESSAGE_REACTION_REMOVE_ALL),
    or one emoji's (`reaction`: MESSAGE_REACTION_REMOVE_EMOJI). `user`: "" (the platform does not say who)."""

    message_id: str
    reaction: str | None = None  # None: every emoji


@dataclass(frozen=True, kw_only=True)
class MemberJoined(Event):
    """A member joined, or is back: a Discord server joined again, a Slack account reactivated (or changed)."""

    user_name: str = ""
    timezone: str | None = None
    is_bot: bool | None = None  # what the platform's user object says; None: the event does not say


@dataclass(frozen=True, kw_only=True)
class MemberLeft(Event):
    """A member left the community: a Discord server left (or kicked), a Slack account deactivated."""

    user_name: str = ""
    is_bot: bool | None = None


# What became of a channel (ChannelChanged.change); with no channel, of the bot in the community: REMOVED from it
# (Discord: kicked from the server, or the server deleted), RETURNED (in it again).
ARCHIVED, UNARCHIVED, DELETED = "archived", "unarchived", "deleted"
LEFT, JOINED = "left", "joined"  # the bot removed from the channel, or invited to it
REMOVED, RETURNED = "removed", "returned"
# A public channel made private (Discord: @everyone no longer sees it): what is stored of it is no longer quoted, linked
# or named outside it, nor read further unless an admin turns it on. Nothing scheduled there changes.
MADE_PRIVATE = "private"


@dataclass(frozen=True, kw_only=True)
class ChannelChanged(Event):
    """A channel archived, unarchived or deleted on the platform (Slack's channel_archive, channel_unarchive,
    channel_deleted and their group_ twins; Discord's CHANNEL_DELETE): what is scheduled to post there stops, and
    goes on when it is back; a channel deleted takes its stored messages with it. With `thread` (Discord's
    THREAD_DELETE: `channel`, `thread` as its messages are stored), a thread deleted: its messages go, nothing else.
    `user`: who did it, where the platform says ("" where not)."""

    change: str  # ARCHIVED | UNARCHIVED | DELETED


@dataclass(frozen=True)
class Person:
    """A member the platform itself names in a command (a picked user, a real mention): they exist, even if the
    bot has not seen them yet."""

    id: str
    name: str = ""
    is_bot: bool = False


@dataclass(frozen=True, kw_only=True)
class CommandInvoked(Event):
    name: str  # "whoknows", "skills", "optout", ...
    args: str = ""
    user_name: str = ""
    timezone: str | None = None  # the member's, where the platform says it (Slack's users.info)
    mentioned: tuple[Person, ...] = ()  # the members the platform resolved in args (`<@id>` there)
    is_admin: bool = False  # the platform says this member manages the community (Discord: Manage Server)


@dataclass(frozen=True, kw_only=True)
class ActionClicked(Event):
    action: str  # e.g. "intro.request", "intro.accept"
    value: str = ""
    # The message the button is on (a Slack ts, a Discord message id), which an UpdateMessage can then change; ""
    # where there is none to change (App Home, an ephemeral message, the console)
    message_ref: str = ""


# The fields of events that name something on the platform (stored as ids, or looked up by them).
ID_FIELDS = ("community", "user", "channel", "thread", "message_id", "reply_to")
TEXT_FIELDS = ("event_id", "change", "text", "user_name", "channel_name", "reaction", "name", "args", "action", "value",
               "permalink", "timezone", "message_ref")


def malformed(event: Event) -> str | None:
    """Why an event cannot be handled, or None. An adapter hands on what the platform sent; a field of another shape
    (a list for a user id, an id with a lone surrogate or a NUL, an id of a hundred digits) failed in the database,
    with a traceback, where a malformed payload is skipped with a log line."""
    for f in fields(event):
        value = getattr(event, f.name)
        if f.name in ID_FIELDS:
            if value is None and f.name in ("thread", "reply_to"):  # the optional ones
                continue
            if not isinstance(value, str) or value and not usable_id(value):
                return f"{f.name} {loggable(value)} is not an id"  # the value may be anything: a member's words
        elif f.name in TEXT_FIELDS and value is not None and not isinstance(value, str):
            return f"{f.name} is {type(value).__name__}, not text"
    if not isinstance(event.time, datetime):
        return "no time"
    if event.event_id and (len(event.event_id) > 200 or storable(event.event_id) != event.event_id):
        return f"event id {loggable(event.event_id)} is no id"
    return None
