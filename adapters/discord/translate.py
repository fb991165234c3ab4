"""Gateway payloads (raw JSON, typed by discord.py's own TypedDicts) to core events, one table entry per
dispatch type. Pure functions: what they need from the client's cache comes through `Context`."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from adapters.discord.custom_ids import parse_custom_id
from bot import events as ev
from bot.errors import error_kind

if TYPE_CHECKING:  # discord.py's TypedDicts of the raw payloads
    from discord.types.gateway import (
        GuildMemberAddEvent,
        GuildMemberRemoveEvent,
        GuildMemberUpdateEvent,
        InteractionCreateEvent,
        MessageCreateEvent,
        MessageDeleteBulkEvent,
        MessageDeleteEvent,
        MessageReactionAddEvent,
        MessageReactionRemoveAllEvent,
        MessageReactionRemoveEmojiEvent,
        MessageReactionRemoveEvent,
        MessageUpdateEvent,
    )

log = logging.getLogger(__name__)

PLATFORM = "discord"
WEB = "https://discord.com"
# Only people's own words are ingested: DEFAULT and REPLY messages (not joins, pins, thread starters…).
CHAT_MESSAGE_TYPES = {0, 19}
# "X started a thread": the notice a thread made on its own leaves in its parent (its reference names the thread).
THREAD_CREATED = 18
PRIVATE_THREAD = 12  # a channel type: a private thread (its messages are a channel of their own here)
# Discord command names that differ from the core's.
CORE_COMMAND_NAMES = {"connective": "settings"}
# Option order for the core's free-text arguments, where it matters.
ARGUMENT_ORDER = {
    "skills": ("action", "member", "topics"),
    "digest": ("channel", "schedule", "timezone"),
    "save": ("url", "note"),
    "mentoring": ("role", "teach", "learn", "timezone", "capacity"),
}
# Options the core reads as `key: value` fields (by command, then option name).
ARGUMENT_FORMAT = {
    "digest": {"timezone": "tz={}"},
    "mentoring": {
        "teach": "teach: {}",
        "learn": "learn: {}",
        "timezone": "tz: {}",
        "capacity": "capacity: {}",
    },
}
_NOT_IN_CHANNEL_REF = str.maketrans("", "", "<>|")
_MENTION = re.compile(r"<@([!&]?)(\d+)>")


@dataclass(frozen=True)
class ChannelInfo:
    """Where a message lives for the core: threads are read as part of their parent channel."""

    id: str
    name: str = ""
    parent_id: str | None = None  # set on threads and forum posts
    is_thread: bool = False
    is_private: bool = False  # private channel (no @everyone view) or private thread
    is_announcements: bool = False  # an announcement channel (GUILD_ANNOUNCEMENT, 5)
    is_forum: bool = False  # a forum (or media) channel: its threads are posts, each opening with its own message


class Context(Protocol):
    bot_user_id: str

    def channel(self, channel_id: str) -> ChannelInfo | None: ...

    def bot_role_id(self, guild_id: str) -> str | None: ...

    def direct_message_guild(self, message_id: str) -> str | None: ...


@dataclass(frozen=True)
class Place:
    channel: str
    thread: str | None
    channel_name: str
    is_private: bool
    announcements: bool | None = False  # an announcement channel, or a thread of one (None: parent not known)
    without_opener: bool = False  # a thread starting with no opening message elsewhere: private, or a forum post


def place_of(ctx: Context, channel_id: str) -> Place | None:
    """Core channel and thread of a Discord channel id. A public thread (or forum post) belongs to its
    parent, with the thread id as the thread (it equals the starter message's id); a private thread is a
    private channel of its own, read only if an admin turns it on."""
    info = ctx.channel(channel_id)
    if info is None:
        return None
    if not info.is_thread or info.parent_id is None:
        return Place(info.id, None, info.name, info.is_private, info.is_announcements)
    if info.is_private:
        return Place(info.id, info.id, info.name, True, without_opener=True)
    parent = ctx.channel(info.parent_id)
    return Place(info.parent_id, info.id, parent.name if parent else "", bool(parent and parent.is_private),
                 parent.is_announcements if parent else None, without_opener=bool(parent and parent.is_forum))


def _time(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    return datetime.fromisoformat(value).astimezone(UTC)


def _display_name(user: dict[str, Any], member: dict[str, Any] | None = None) -> str:
    return (member or {}).get("nick") or user.get("global_name") or user.get("username") or ""


def permalink(guild_id: str, channel_id: str, message_id: str) -> str:
    return f"{WEB}/channels/{guild_id}/{channel_id}/{message_id}"


# -- messages --------------------------------------------------------------------------------------
def asks_bot(content: str, bot_user_id: str, bot_role_id: str | None) -> bool:
    """Whether a message mentions the bot in its words: <@bot>, or its role (<@&role>: Discord offers the bot's
    managed role beside the bot when "@connective" is typed). Not a reply to one of its posts: Discord lists the
    author replied to among the message's mentions (a "thanks, that helped!"), which is no question."""
    return any(ident == (bot_role_id if kind == "&" else bot_user_id) for kind, ident in _MENTION.findall(content))


def _message(data: MessageCreateEvent, ctx: Context, *, edited: bool) -> list[ev.Event]:
    guild_id = data.get("guild_id")
    author = data.get("author")
    if not author:
        return []  # partial updates (embeds resolved) carry nothing to store
    if not guild_id:
        return _direct_message(data, ctx) if not edited else []
    if data.get("type") == THREAD_CREATED and not edited:
        return _thread_started(data, ctx)
    if data.get("type", 0) not in CHAT_MESSAGE_TYPES:
        return []
    place = place_of(ctx, data["channel_id"])
    if place is None:
        log.info("message %s in unknown channel %s skipped", data["id"], data["channel_id"])
        return []
    message_id = data["id"]
    reference = data.get("message_reference") or {}
    asks = asks_bot(data.get("content") or "", ctx.bot_user_id, ctx.bot_role_id(guild_id))
    if asks and edited:
        return []  # a question to the bot is not stored, and an edit of one does not ask again
    edited_at = data.get("edited_timestamp")
    return [
        ev.MessagePosted(
            platform=PLATFORM,
            community=guild_id,
            user=author["id"],
            channel=place.channel,
            thread=place.thread,
            # A redelivered MESSAGE_CREATE is the same message; each edit is a new event.
            event_id=f"{message_id}:edit:{edited_at}" if edited else message_id,
            time=_time(edited_at if edited else data.get("timestamp")),
            message_id=message_id,
            text=data.get("content") or "",
            user_name=_display_name(author, data.get("member")),
            # A webhook's post (a feed, an integration) is a bot's, as an import reads it: a thread started from
            # it asks with its first member's message. It was dropped, so the same thread read differently live.
            is_bot=bool(author.get("bot") or data.get("webhook_id")),
            permalink=permalink(guild_id, data["channel_id"], message_id),
            is_private=place.is_private,
            in_announcements=place.announcements,
            channel_name=place.channel_name,
            mentions_bot=asks,
            edited=edited,
            reply_to=reference.get("message_id") if data.get("type") == 19 else None,
            thread_without_opener=place.without_opener,
        )
    ]


def _direct_message(data: MessageCreateEvent, ctx: Context) -> list[ev.Event]:
    """A DM to the bot is a question, as on Slack (never stored), about the server the client found for it (a DM
    names none): the one the bot is in, or the one of its servers the author is in. None: unanswered here (the
    author shares no server with the bot, or several, and was asked to ask in the one they mean)."""
    author = data["author"]
    if data.get("type", 0) not in CHAT_MESSAGE_TYPES or author.get("bot") or author["id"] == ctx.bot_user_id:
        return []
    guild_id = ctx.direct_message_guild(data["id"])
    if guild_id is None:
        log.info("DM %s not answered here: its author shares no server, or several, with the bot", data["id"])
        return []
    return [
        ev.MessagePosted(
            platform=PLATFORM,
            community=guild_id,
            user=author["id"],
            channel=data["channel_id"],
            thread=None,
            event_id=data["id"],
            time=_time(data.get("timestamp")),
            message_id=data["id"],
            text=data.get("content") or "",
            user_name=_display_name(author),
            is_private=True,
            is_direct=True,
        )
    ]


def _thread_started(data: MessageCreateEvent, ctx: Context) -> list[ev.Event]:
    """The "started a thread" notice (type 18) of a thread made on its own: its reference names the thread."""
    thread_id = (data.get("message_reference") or {}).get("channel_id")
    if not thread_id:
        return []
    place = place_of(ctx, str(thread_id))
    if place is None or place.thread is None:  # not cached yet: a public thread of the notice's channel
        parent = place_of(ctx, data["channel_id"])
        if parent is None:
            return []
        place = Place(parent.channel, str(thread_id), parent.channel_name, parent.is_private)
    return [
        ev.ThreadStarted(
            platform=PLATFORM,
            community=data["guild_id"],
            user=(data.get("author") or {}).get("id", ""),
            channel=place.channel,
            thread=place.thread,
            event_id=f"thread-started:{data['id']}",
        )
    ]


def message_create(data: MessageCreateEvent, ctx: Context) -> list[ev.Event]:
    return _message(data, ctx, edited=False)


def message_update(data: MessageUpdateEvent, ctx: Context) -> list[ev.Event]:
    if "content" not in data or not data.get("edited_timestamp"):
        return []
    return _message(data, ctx, edited=True)


def message_delete(data: MessageDeleteEvent, ctx: Context) -> list[ev.Event]:
    guild_id = data.get("guild_id")
    place = place_of(ctx, data["channel_id"]) if guild_id else None
    if place is None:
        return []
    return [
        ev.MessageDeleted(
            platform=PLATFORM,
            community=guild_id,
            user="",
            channel=place.channel,
            thread=place.thread,
            message_id=data["id"],
        )
    ]


def message_delete_bulk(data: MessageDeleteBulkEvent, ctx: Context) -> list[ev.Event]:
    return [
        e
        for message_id in data.get("ids", [])
        for e in message_delete(
            {"id": message_id, "channel_id": data["channel_id"], "guild_id": data.get("guild_id", "")}, ctx
        )
    ]


# -- reactions -------------------------------------------------------------------------------------
def emoji_name(emoji: dict[str, Any]) -> str:
    """A unicode emoji as itself ("👍"), a custom one by its name."""
    return emoji.get("name") or (f"emoji{emoji['id']}" if emoji.get("id") else "")


def _reaction(
    data: MessageReactionAddEvent | MessageReactionRemoveEvent,
    ctx: Context,
    kind: type[ev.ReactionAdded] | type[ev.ReactionRemoved],
) -> list[ev.Event]:
    guild_id = data.get("guild_id")
    place = place_of(ctx, data["channel_id"]) if guild_id else None
    name = emoji_name(data.get("emoji") or {})
    if place is None or not name:
        return []
    # No event id: adding, removing and adding again are three real events, each idempotent.
    return [
        kind(
            platform=PLATFORM,
            community=guild_id,
            user=data["user_id"],
            channel=place.channel,
            thread=place.thread,
            message_id=data["message_id"],
            reaction=name,
        )
    ]


def reaction_add(data: MessageReactionAddEvent, ctx: Context) -> list[ev.Event]:
    return _reaction(data, ctx, ev.ReactionAdded)


def reaction_remove(data: MessageReactionRemoveEvent, ctx: Context) -> list[ev.Event]:
    return _reaction(data, ctx, ev.ReactionRemoved)


def _cleared(data: MessageReactionRemoveAllEvent | MessageReactionRemoveEmojiEvent, ctx: Context,
             name: str | None) -> list[ev.Event]:
    guild_id = data.get("guild_id")
    place = place_of(ctx, data["channel_id"]) if guild_id else None
    if place is None:
        return []
    return [ev.ReactionsCleared(platform=PLATFORM, community=guild_id, user="", channel=place.channel,
                                thread=place.thread, message_id=data["message_id"], reaction=name)]


def reactions_cleared(data: MessageReactionRemoveAllEvent, ctx: Context) -> list[ev.Event]:
    """A moderator took every reaction of a message away: Discord sends this, no MESSAGE_REACTION_REMOVE, and a
    cleared pile of 👍 went on weighing the answer in "who knows X?" and its links in the digest."""
    return _cleared(data, ctx, None)


def emoji_cleared(data: MessageReactionRemoveEmojiEvent, ctx: Context) -> list[ev.Event]:
    """A moderator took one emoji's reactions away, everyone's (as reactions_cleared)."""
    name = emoji_name(data["emoji"])
    return _cleared(data, ctx, name) if name else []


# -- members ---------------------------------------------------------------------------------------
def member_add(data: GuildMemberAddEvent, ctx: Context) -> list[ev.Event]:
    user = data.get("user") or {}
    return _joined(data, f"join:{user.get('id')}:{data.get('joined_at', '')}")


def _joined(data: GuildMemberAddEvent | GuildMemberUpdateEvent, event_id: str) -> list[ev.Event]:
    """The member as they are now (their name: nickname first), as a MemberJoined."""
    user = data.get("user") or {}
    if not user.get("id"):
        return []
    return [ev.MemberJoined(platform=PLATFORM, community=data["guild_id"], user=user["id"], event_id=event_id,
                            user_name=_display_name(user, dict(data)), is_bot=bool(user.get("bot")))]


def member_update(data: GuildMemberUpdateEvent, ctx: Context) -> list[ev.Event]:
    """A member's server nickname, display name or roles changed: the name they go by now, as Slack's user_change
    tells it. Without it a member renamed kept the old name on their expert cards and intros until they next posted."""
    # No event id: each change is a real event (renamed, renamed back), and writing a name is idempotent.
    return _joined(data, "")


def member_remove(data: GuildMemberRemoveEvent, ctx: Context) -> list[ev.Event]:
    """Left the server, or was kicked or banned. No name: the event carries no server nickname, and the global name
    overwrote the one they went by here (on their cards, intros and digests kept for history)."""
    user = data.get("user") or {}
    if not user.get("id"):
        return []
    return [ev.MemberLeft(platform=PLATFORM, community=data["guild_id"], user=user["id"], is_bot=bool(user.get("bot")))]


def channel_delete(data: dict[str, Any], ctx: Context) -> list[ev.Event]:
    """A server's channel deleted: what is scheduled to post there stops (a digest's). A thread's is THREAD_DELETE."""
    del ctx
    if not data.get("guild_id") or not data.get("id"):
        return []
    return [ev.ChannelChanged(platform=PLATFORM, community=str(data["guild_id"]), user="", channel=str(data["id"]),
                              event_id=f"channel-delete:{data['id']}", change=ev.DELETED)]


def channel_update(data: dict[str, Any], ctx: Context) -> list[ev.Event]:
    """A server's channel changed: made private (@everyone no longer sees it, as the client's cache tells it now), what
    is stored of it is no longer shown outside it. Its messages said so only when a new one came. A thread's is
    THREAD_UPDATE (a private thread is private from the start)."""
    channel = str(data.get("id") or "")
    info = ctx.channel(channel) if data.get("guild_id") and channel else None
    if info is None or info.is_thread or not info.is_private:
        return []
    return [ev.ChannelChanged(platform=PLATFORM, community=str(data["guild_id"]), user="", channel=channel,
                              change=ev.MADE_PRIVATE)]


def thread_delete(data: dict[str, Any], ctx: Context) -> list[ev.Event]:
    """A thread (or forum post) deleted, and its messages with it: a public one's are stored in its parent with the
    thread's id as their thread (its starter message stays in the parent), a private one's as a channel of its own.
    A forum post's opening message, whose id is the thread's, is in the thread and goes too."""
    thread, parent, guild = data.get("id"), data.get("parent_id"), data.get("guild_id")
    if not thread or not guild:
        return []
    thread, guild = str(thread), str(guild)
    private = data.get("type") == PRIVATE_THREAD
    if not private and not parent:
        return []
    channel = thread if private else str(parent)
    events: list[ev.Event] = [ev.ChannelChanged(platform=PLATFORM, community=guild, user="", channel=channel,
                                                thread=thread, event_id=f"thread-delete:{thread}", change=ev.DELETED)]
    info = None if private else ctx.channel(channel)
    if info is not None and info.is_forum:
        events.append(ev.MessageDeleted(platform=PLATFORM, community=guild, user="", channel=channel, thread=thread,
                                        message_id=thread, event_id=f"thread-delete-opener:{thread}"))
    return events


def guild_delete(data: dict[str, Any], ctx: Context) -> list[ev.Event]:
    """The bot removed from a server (kicked, or the server deleted); `unavailable` is Discord's outage, no removal."""
    del ctx
    if data.get("unavailable") or not data.get("id"):
        return []
    return [ev.ChannelChanged(platform=PLATFORM, community=str(data["id"]), user="", change=ev.REMOVED)]


def guild_create(data: dict[str, Any], ctx: Context) -> list[ev.Event]:
    """A server the bot is in (at each start, or joined again): what was paused by its removal goes on."""
    del ctx
    if data.get("unavailable") or not data.get("id"):
        return []
    return [ev.ChannelChanged(platform=PLATFORM, community=str(data["id"]), user="", change=ev.RETURNED)]


# -- interactions ----------------------------------------------------------------------------------
def _option_value(option: dict[str, Any], resolved: dict[str, Any]) -> str:
    value = option.get("value")
    if option.get("type") == 6:  # USER
        return f"<@{value}>"
    if option.get("type") == 7:  # CHANNEL: as the core reads a picked channel, <#id|name>
        name = str(((resolved.get("channels") or {}).get(str(value)) or {}).get("name") or "")
        name = name.translate(_NOT_IN_CHANNEL_REF).strip()
        return f"<#{value}|{name}>" if name else f"<#{value}>"
    if option.get("type") == 5:  # BOOLEAN
        return "on" if value else "off"
    return str(value if value is not None else "").strip()


def command_arguments(
    name: str, options: list[dict[str, Any]], resolved: dict[str, Any] | None = None
) -> tuple[str, str]:
    """(sub-command path, free-text arguments) from an application command's options."""
    path: list[str] = []
    while options and options[0].get("type") in (1, 2):  # SUB_COMMAND, SUB_COMMAND_GROUP
        path.append(options[0]["name"])
        options = options[0].get("options") or []
    by_name = {o["name"]: o for o in options}
    order = ARGUMENT_ORDER.get(name, ()) + tuple(o["name"] for o in options)
    formats = ARGUMENT_FORMAT.get(name, {})
    values = []
    for option_name in dict.fromkeys(order):
        if option_name in by_name and (value := _option_value(by_name[option_name], resolved or {})):
            values.append(formats.get(option_name, "{}").format(value))
    return " ".join(path), " ".join(values)


def picked_users(options: list[dict[str, Any]], resolved: dict[str, Any] | None) -> tuple[ev.Person, ...]:
    """The members picked in USER options, as Discord resolved them (name, bot or not): they are members of the
    guild even if the bot has never seen them."""
    users, members = (resolved or {}).get("users") or {}, (resolved or {}).get("members") or {}
    picked = []
    for option in options:
        if option.get("type") in (1, 2):  # a subcommand's own options
            picked += picked_users(option.get("options") or [], resolved)
        elif option.get("type") == 6 and option.get("value"):
            uid = str(option["value"])
            user = users.get(uid) or {"id": uid}
            picked.append(ev.Person(uid, _display_name(user, members.get(uid)), bool(user.get("bot"))))
    return tuple(picked)


def interaction_create(data: InteractionCreateEvent, ctx: Context) -> list[ev.Event]:
    member = data.get("member") or {}
    user = member.get("user") or data.get("user") or {}
    body: dict[str, Any] = dict(data.get("data") or {})
    guild_id = data.get("guild_id")
    channel_id = data.get("channel_id") or (data.get("channel") or {}).get("id", "")
    place = place_of(ctx, channel_id) if guild_id and channel_id else None
    channel, thread = (place.channel, place.thread) if place else (channel_id, None)
    if data["type"] == 2:  # APPLICATION_COMMAND
        if not guild_id:
            return []
        name = body.get("name", "")
        sub, args = command_arguments(name, body.get("options") or [], body.get("resolved"))
        permissions = int(member.get("permissions") or 0)
        return [
            ev.CommandInvoked(
                platform=PLATFORM,
                community=guild_id,
                user=user["id"],
                channel=channel,
                thread=thread,
                event_id=f"interaction:{data['id']}",
                name=CORE_COMMAND_NAMES.get(name, name),
                args=f"{sub} {args}".strip(),
                user_name=_display_name(user, member),
                mentioned=picked_users(body.get("options") or [], body.get("resolved")),
                is_admin=bool(
                    permissions & (1 << 5) or permissions & (1 << 3)
                ),  # MANAGE_GUILD or ADMINISTRATOR
            )
        ]
    if data["type"] == 3:  # MESSAGE_COMPONENT
        parsed = parse_custom_id(body.get("custom_id", ""))
        community = guild_id or (parsed.guild if parsed else None)
        if parsed is None or not community:
            log.info("button %r outside any guild ignored", body.get("custom_id"))
            return []
        return [
            ev.ActionClicked(
                platform=PLATFORM,
                community=community,
                user=user["id"],
                channel=channel,
                thread=thread,
                event_id=f"interaction:{data['id']}",
                action=parsed.action,
                value=parsed.value,
                message_ref=str((data.get("message") or {}).get("id") or ""),
            )
        ]
    return []


Translator = Callable[[Any, Context], list[ev.Event]]

TRANSLATORS: dict[str, Translator] = {
    "MESSAGE_CREATE": message_create,
    "MESSAGE_UPDATE": message_update,
    "MESSAGE_DELETE": message_delete,
    "MESSAGE_DELETE_BULK": message_delete_bulk,
    "MESSAGE_REACTION_ADD": reaction_add,
    "MESSAGE_REACTION_REMOVE": reaction_remove,
    "MESSAGE_REACTION_REMOVE_ALL": reactions_cleared,
    "MESSAGE_REACTION_REMOVE_EMOJI": emoji_cleared,
    "GUILD_MEMBER_ADD": member_add,
    "GUILD_MEMBER_UPDATE": member_update,
    "GUILD_MEMBER_REMOVE": member_remove,
    "CHANNEL_DELETE": channel_delete,
    "CHANNEL_UPDATE": channel_update,
    "THREAD_DELETE": thread_delete,
    "GUILD_CREATE": guild_create,
    "GUILD_DELETE": guild_delete,
    "INTERACTION_CREATE": interaction_create,
}


def translate(event_type: str, data: Any, ctx: Context) -> list[ev.Event]:
    """The core events of one gateway dispatch; a malformed payload is skipped with a log line."""
    translator = TRANSLATORS.get(event_type)
    if translator is None or not isinstance(data, dict):
        return []
    try:
        return translator(data, ctx)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:  # a field of another shape
        log.warning("malformed %s payload skipped (%s)", event_type, error_kind(exc))
        return []
