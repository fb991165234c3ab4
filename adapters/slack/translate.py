"""Slack payloads → core events: one table per payload kind (events, message subtypes, commands,
interactions). Pure functions of the payload and the workspace identity; tested against recorded
payloads in tests/fixtures/slack/."""
from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot import events as ev
from bot.errors import error_kind
from bot.safety import loggable

log = logging.getLogger(__name__)

Payload = dict[str, Any]
PLATFORM = "slack"
PRIVATE_CHANNEL_TYPES = frozenset({"group", "im", "mpim"})
# What a payload of the wrong shape raises in a translator (a field of another type than Slack sends): skipped, logged.
MALFORMED = (TypeError, AttributeError, KeyError, ValueError)


@dataclass(frozen=True)
class Workspace:
    """Who the bot is in the workspace it serves (from auth.test)."""

    team_id: str
    bot_user_id: str
    url: str = ""  # e.g. https://acme.slack.com/, for permalinks
    org_wide: bool = False  # an org-wide install on Enterprise Grid: one token, the org's workspaces

    def permalink(self, channel: str, ts: str, thread_ts: str | None = None) -> str | None:
        if not self.url or not ts:
            return None
        link = f"{self.url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"
        if thread_ts and thread_ts != ts:
            link += f"?thread_ts={thread_ts}&cid={channel}"
        return link


# Slackbot posts reminders and custom responses with no bot_id, and users.info calls it no bot: a bot all the same, as
# the importer reads it.
SLACKBOT = "USLACKBOT"

def slack_time(ts: str | float | None, fallback: datetime | None = None) -> datetime:
    try:
        return datetime.fromtimestamp(float(ts), UTC)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError, OSError):  # "1e30" is a number, but no time
        return fallback or datetime.now(UTC)


_COMMAND_NAME = re.compile(r"/[\w-]{1,32}")


def loggable_command(value: object) -> str:
    """A slash command's name for a log line ('/whoknows'); anything else in its place by its kind only."""
    return repr(value) if isinstance(value, str) and _COMMAND_NAME.fullmatch(value) else loggable(value)


def _interaction_id(body: Payload, kind: str) -> str:
    """A slash command's or a click's id for de-duplication: its trigger_id, one per thing the member did. A
    request delivered twice (a retry the load balancer or Slack sent to the other replica) is handled once; it was
    handled by each replica that got it (an Accept answered 'thank you' and then 'no longer open')."""
    trigger = body.get("trigger_id")
    return f"{kind}:{trigger}" if isinstance(trigger, str) and 0 < len(trigger) <= 150 else ""


def _base(body: Payload, event: Payload, ws: Workspace, **extra: Any) -> dict[str, Any]:
    return {"community": body.get("team_id") or ws.team_id, "platform": PLATFORM,
            "event_id": body.get("event_id", ""),
            "time": slack_time(event.get("event_ts") or event.get("ts"), slack_time(body.get("event_time"))),
            **extra}


# -- message events, by subtype ---------------------------------------------------------------------
def _posted(body: Payload, event: Payload, ws: Workspace, *, message: Payload | None = None,
            edited: bool = False) -> ev.Event | None:
    msg = message or event
    user = msg.get("user") or msg.get("bot_id")
    channel = event.get("channel", "")
    channel_type = event.get("channel_type", "channel")
    if not user or not channel:
        return None
    text = msg.get("text") or ""
    direct = channel_type == "im"
    if direct and edited:
        return None  # an edited DM is not a new question
    if not direct and f"<@{ws.bot_user_id}>" in text:
        return None  # the app_mention event for the same message answers it
    ts = msg.get("ts", "")
    thread = msg.get("thread_ts")
    return ev.MessagePosted(
        **_base(body, event, ws, user=user, channel=channel, thread=thread),
        message_id=ts, text=text,
        is_bot=bool(msg.get("bot_id")) or msg.get("subtype") == "bot_message" or user == SLACKBOT,
        permalink=ws.permalink(channel, ts, thread), is_private=channel_type in PRIVATE_CHANNEL_TYPES,
        is_direct=direct, is_group_dm=channel_type == "mpim", edited=edited,
    )


def _changed(body: Payload, event: Payload, ws: Workspace) -> ev.Event | None:
    message = event.get("message") or {}
    if message.get("subtype") == "tombstone":
        # A message with replies was deleted: Slack keeps a placeholder for its thread and tells the deletion as
        # an edit into it (message_deleted comes only for the placeholder, once the last reply is gone).
        return _deletion(body, event, ws, message.get("ts"))
    if (message.get("text") or "") == ((event.get("previous_message") or {}).get("text") or ""):
        return None  # link unfurls and thread bookkeeping change nothing we store
    return _posted(body, event, ws, message=message, edited=True)


def _deleted(body: Payload, event: Payload, ws: Workspace) -> ev.Event | None:
    return _deletion(body, event, ws, event.get("deleted_ts"))


def _deletion(body: Payload, event: Payload, ws: Workspace, ts: str | None) -> ev.Event | None:
    if not ts:
        return None
    previous = event.get("previous_message") or {}
    return ev.MessageDeleted(**_base(body, event, ws, user=previous.get("user", ""), channel=event.get("channel", "")),
                             message_id=ts)


def _made_private(body: Payload, event: Payload, ws: Workspace) -> ev.Event | None:
    """A public channel made private ("made this channel *private*", a message of Slack's in it): what is stored of it
    is no longer quoted, linked or put in a digest outside it (bot.core, MADE_PRIVATE). Its messages said so only when
    a new one came, and not at all where no admin turned its reading on."""
    if not event.get("channel") or not isinstance(event["channel"], str):
        return None
    return ev.ChannelChanged(**_base(body, event, ws, user=event.get("user") or "", channel=event["channel"]),
                             change=ev.MADE_PRIVATE)


MESSAGE_SUBTYPES: dict[str | None, Callable[[Payload, Payload, Workspace], ev.Event | None]] = {
    None: _posted,
    "thread_broadcast": _posted,
    "file_share": _posted,
    "me_message": _posted,
    "bot_message": _posted,
    "message_changed": _changed,
    "message_deleted": _deleted,
    "channel_convert_to_private": _made_private,
}


def _message(body: Payload, event: Payload, ws: Workspace) -> ev.Event | None:
    handler = MESSAGE_SUBTYPES.get(event.get("subtype"))
    if handler is None:
        log.debug("message subtype %r skipped", event.get("subtype"))
        return None
    return handler(body, event, ws)


# -- other events --------------------------------------------------------------------------------------
def _app_mention(body: Payload, event: Payload, ws: Workspace) -> ev.Event | None:
    if not event.get("user") or not event.get("channel"):
        return None
    return ev.MessagePosted(
        **_base(body, event, ws, user=event["user"], channel=event["channel"], thread=event.get("thread_ts")),
        message_id=event.get("ts", ""), text=event.get("text") or "", mentions_bot=True,
        # An app's post (or Slackbot's) that mentions the bot: no question, as _posted reads it.
        is_bot=bool(event.get("bot_id")) or event["user"] == SLACKBOT,
        permalink=ws.permalink(event["channel"], event.get("ts", ""), event.get("thread_ts")),
    )


def _reaction(body: Payload, event: Payload, ws: Workspace) -> ev.Event | None:
    item = event.get("item") or {}
    if item.get("type") != "message" or not event.get("user"):
        return None
    kind = ev.ReactionAdded if event.get("type") == "reaction_added" else ev.ReactionRemoved
    return kind(**_base(body, event, ws, user=event["user"], channel=item.get("channel", "")),
                message_id=item.get("ts", ""), reaction=event.get("reaction", ""))


def _member_joined_channel(body: Payload, event: Payload, ws: Workspace) -> ev.Event | None:
    if not event.get("user"):
        return None
    if event["user"] == ws.bot_user_id and isinstance(event.get("channel"), str) and event["channel"]:
        # The bot invited to a channel (again): what its removal paused there goes on.
        return ev.ChannelChanged(**_base(body, event, ws, user=event.get("inviter") or "", channel=event["channel"]),
                                 change=ev.JOINED)
    return ev.MemberJoined(**_base(body, event, ws, user=event["user"], channel=event.get("channel", "")))


def _team_join(body: Payload, event: Payload, ws: Workspace) -> ev.Event | None:
    """team_join, and user_change (any change to an account): a deactivated account (`deleted`) has left, any
    other is here, back if it was deactivated. A member's account made a guest's (user_change, `is_restricted` or
    `is_ultra_restricted`) has left the community too: kept for history, never suggested nor asked, as a deactivated
    one (a guest who joins is no member: adapters/slack/outsiders.py); made a full member again, they are back."""
    user = event.get("user") or {}
    if not user.get("id"):
        return None
    profile = user.get("profile") or {}
    name = profile.get("display_name") or user.get("real_name") or user.get("name", "")
    made_guest = event.get("type") == "user_change" and bool(user.get("is_restricted")
                                                             or user.get("is_ultra_restricted"))
    if user.get("deleted") or made_guest:
        return ev.MemberLeft(**_base(body, event, ws, user=user["id"]), user_name=name,
                             is_bot=bool(user.get("is_bot")) or user["id"] == SLACKBOT)
    return ev.MemberJoined(**_base(body, event, ws, user=user["id"]), user_name=name,
                           timezone=user.get("tz"), is_bot=bool(user.get("is_bot")) or user["id"] == SLACKBOT)


# A channel archived, back, or deleted, or the bot removed from it; group_ for a private channel (its id may start
# with C or G).
CHANNEL_CHANGES = {"channel_archive": ev.ARCHIVED, "group_archive": ev.ARCHIVED, "channel_unarchive": ev.UNARCHIVED,
                   "group_unarchive": ev.UNARCHIVED, "channel_deleted": ev.DELETED, "group_deleted": ev.DELETED,
                   "channel_left": ev.LEFT, "group_left": ev.LEFT}


def _channel_changed(body: Payload, event: Payload, ws: Workspace) -> ev.Event | None:
    if not event.get("channel") or not isinstance(event["channel"], str):
        return None
    return ev.ChannelChanged(**_base(body, event, ws, user=event.get("user") or "", channel=event["channel"]),
                             change=CHANNEL_CHANGES[event["type"]])


EVENTS: dict[str, Callable[[Payload, Payload, Workspace], ev.Event | None]] = {
    "message": _message,
    "app_mention": _app_mention,
    "reaction_added": _reaction,
    "reaction_removed": _reaction,
    "member_joined_channel": _member_joined_channel,
    "team_join": _team_join,
    "user_change": _team_join,
    **dict.fromkeys(CHANNEL_CHANGES, _channel_changed),
}


def translate_event(body: Payload, ws: Workspace) -> ev.Event | None:
    """An Events API envelope (`event_callback`) as a core event, or None when it is not one we use."""
    event = body.get("event") or {}
    if not isinstance(event, dict) or not isinstance(event.get("type", ""), str):
        log.warning("malformed event %s skipped: no event object with a type", loggable(body.get("event_id")))
        return None
    handler = EVENTS.get(event.get("type", ""))
    if handler is None:
        return None
    try:
        return handler(body, event, ws)
    except MALFORMED as exc:
        log.warning("malformed %s event %s skipped: %s", loggable(event.get("type")), loggable(body.get("event_id")),
                    error_kind(exc))
        return None


# -- slash commands ------------------------------------------------------------------------------------
def _whoknows(text: str) -> tuple[str, str]:
    return "whoknows", text


def _ingest(args: str) -> tuple[str, str]:
    """`/connective ingest on|off #channel` (either order) → the core's admin command
    `settings ingest <channel> on|off`."""
    words = args.split()
    states = [w.lower() for w in words if w.lower() in ("on", "off")]
    channels = [w for w in words if w.lower() not in ("on", "off")]
    if len(states) != 1 or len(channels) != 1:
        return "settings", "ingest"  # the core answers with its usage line
    return "settings", f"ingest {channels[0]} {states[0]}"


def connective_command(text: str) -> tuple[str, str]:
    """`/connective <core command> [args]`: every core command (help, skills, digest, mentoring, …)
    is reachable as a subcommand; `ingest` is the Slack spelling of `settings ingest`."""
    name, _, args = text.strip().partition(" ")
    name, args = (name.lower() or "help"), args.strip()
    return _ingest(args) if name == "ingest" else (name, args)


def _named(name: str) -> Callable[[str], tuple[str, str]]:
    """A slash command that is one core command (`/digest preview` → "digest", "preview")."""
    return lambda text: (name, text)


COMMANDS: dict[str, Callable[[str], tuple[str, str]]] = {
    "/whoknows": _whoknows,
    "/connective": connective_command,
    "/digest": _named("digest"),
    "/save": _named("save"),
    "/mentoring": _named("mentoring"),
}


_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_SLACK_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")


def command_text(text: str) -> str:
    """A slash command's text as the member typed it: Slack sends `&`, `<` and `>` as `&amp;`, `&lt;`, `&gt;`
    (so "R&D" would reach the core as "R&amp;D", cut in two by a `;`). Slack's own `<@U…|name>` and
    `<#C…|name>` are real angle brackets and stay as the core reads them."""
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], text)


def translate_command(body: Payload, ws: Workspace, now: datetime | None = None) -> ev.CommandInvoked | None:
    try:
        return _command(body, ws, now)
    except MALFORMED as exc:
        log.warning("malformed %s command skipped: %s", loggable_command(body.get("command")), error_kind(exc))
        return None


def _command(body: Payload, ws: Workspace, now: datetime | None) -> ev.CommandInvoked | None:
    parse = COMMANDS.get(body.get("command", ""))
    if parse is None or not body.get("user_id"):
        return None
    raw = (body.get("text") or "").strip()
    name, args = parse(command_text(raw))
    # Mentions Slack made (a typed "<@U1>" arrives as &lt;@U1&gt;): members of the workspace, seen or not.
    mentioned = tuple(ev.Person(uid, (label or "").strip()) for uid, label in _SLACK_MENTION.findall(raw))
    return ev.CommandInvoked(community=body.get("team_id") or ws.team_id, platform=PLATFORM, user=body["user_id"],
                             channel=body.get("channel_id", ""), time=now or datetime.now(UTC), name=name,
                             event_id=_interaction_id(body, "command"),
                             args=args, user_name=body.get("user_name", ""), mentioned=mentioned)


# -- interactivity (buttons) ---------------------------------------------------------------------------
def translate_action(body: Payload, action: Payload, ws: Workspace,
                     now: datetime | None = None) -> ev.ActionClicked | None:
    try:
        return _action(body, action, ws, now)
    except MALFORMED as exc:
        log.warning("malformed button click skipped: %s", error_kind(exc))
        return None


def _action(body: Payload, action: Payload, ws: Workspace, now: datetime | None) -> ev.ActionClicked | None:
    user = (body.get("user") or {}).get("id")
    if not user or not action.get("action_id"):
        return None
    team = (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or ws.team_id
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id", "")
    message = body.get("message") or {}
    # chat.update changes a message the bot posted, not an ephemeral one (Slack keeps no copy of those)
    ref = "" if container.get("is_ephemeral") else str(container.get("message_ts") or message.get("ts") or "")
    return ev.ActionClicked(community=team, platform=PLATFORM, user=user, channel=channel,
                            thread=message.get("thread_ts"), time=now or datetime.now(UTC),
                            action=action["action_id"], value=action.get("value") or "", message_ref=ref,
                            event_id=_interaction_id(body, f"click:{str(action['action_id'])[:40]}"))
