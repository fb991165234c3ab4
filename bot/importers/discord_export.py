"""DiscordChatExporter JSON exports: one file per channel or thread, given as files, folders or .zip archives.

Each file holds `guild`, `channel` and `messages`. Files of the same channel (partitions, overlapping
exports) are merged by message id. Threads and forum posts are channels of their own on Discord; they are
stored as the live bot stores them (adapters.discord.translate.place_of): a public thread or forum post in its
parent channel, a private thread as a private channel of its own, each with `thread_external_id` the thread's
id. A thread started from a message has that message's id, so that message is the question (and when it is
gone, nobody asked); a thread known to start on its own (opens_without_message) has no such message, and its
first message is the question (see bot.services.expertise.thread_openers). Either way live messages later in
the thread join the same conversation, and live edits and deletions find the imported rows. A reply
(`reference`) names the message it answers.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.errors import UserError
from bot.importers.report import ImportReport
from bot.importers.source import DamagedFile, ExportSource, listed
from bot.services.ingest import IncomingMessage

log = logging.getLogger(__name__)

# Older DiscordChatExporter versions write channel kinds as numbers (Discord's channel types).
CHANNEL_KINDS = {
    "0": "GuildTextChat", "1": "DirectTextChat", "2": "GuildVoiceChat", "3": "DirectGroupTextChat",
    "4": "GuildCategory", "5": "GuildNews", "10": "GuildNewsThread", "11": "GuildPublicThread",
    "12": "GuildPrivateThread", "13": "GuildStageVoice", "14": "GuildDirectory", "15": "GuildForum",
}
THREAD_KINDS = frozenset({"GuildNewsThread", "GuildPublicThread", "GuildPrivateThread"})
DIRECT_KINDS = frozenset({"DirectTextChat", "DirectGroupTextChat"})
PRIVATE_KINDS = frozenset({"GuildPrivateThread"})
ANNOUNCEMENT_KINDS = frozenset({"GuildNews", "GuildNewsThread"})

# Message kinds that carry what someone wrote (names as DiscordChatExporter writes them, or Discord's
# numbers for kinds it has no name for). Everything else is a system notice: joins, pins, "started a
# thread", the empty thread-starter pointer (21), boosts, automod alerts...
REPLY_KINDS = frozenset({"Reply", "19"})
THREAD_CREATED_KINDS = frozenset({"ThreadCreated", "18"})  # "X started a thread": its reference names the thread
THREAD_STARTER_KINDS = frozenset({"ThreadStarterMessage", "21"})  # a thread's pointer to the message it started from
CONTENT_KINDS = REPLY_KINDS | {"Default", "0", "ChatInputCommand", "20", "ContextMenuCommand", "23"}


_SNOWFLAKE = re.compile(r"[0-9]{1,20}")


def snowflake(value: Any) -> bool:
    """A Discord id: a snowflake, written in decimal digits (at most 20, a 64-bit number), as text or a number.
    Anything else ("not-an-id", 30 x's) in an export is damaged there, not an id to store."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return False
    return _SNOWFLAKE.fullmatch(str(value)) is not None


def discord_permalink(guild_id: str, channel_id: str, message_id: str) -> str:
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        # In UTC here: "0001-01-01T00:00:00+05:00" is before the first day datetime knows there, and failed the
        # whole import where it was stored (OverflowError).
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def message_text(m: dict[str, Any]) -> str:
    text = m.get("content") if isinstance(m.get("content"), str) else ""
    if not text.strip():
        parts = []
        for e in listed(m.get("embeds")):
            if isinstance(e, dict):
                parts += [e.get("title") or "", e.get("description") or ""]
        parts += [a.get("fileName") or "" for a in listed(m.get("attachments")) if isinstance(a, dict)]
        text = " ".join(p for p in parts if isinstance(p, str) and p)
    return text


def author_name(author: dict[str, Any]) -> str:
    return str(author.get("nickname") or author.get("name") or author.get("id") or "")


def reaction_name(r: dict[str, Any]) -> str:
    """As the live bot names it (adapters/discord/translate.emoji_name): a unicode emoji as itself, a custom one by
    its name, one whose name is gone (DiscordChatExporter writes "<unknown emoji>") as emoji<id>: named otherwise,
    a later export took the live reaction away and stored another, and two of them as one."""
    emoji = r.get("emoji") if isinstance(r.get("emoji"), dict) else {}
    name = str(emoji.get("name") or "")
    if emoji.get("id") and (not name or name.casefold().strip("<>") == "unknown emoji"):
        return f"emoji{emoji['id']}"
    return str(name or emoji.get("code") or emoji.get("id") or "")


def reaction_users(r: dict[str, Any]) -> list[str]:
    return [str(u["id"]) for u in listed(r.get("users")) if isinstance(u, dict) and snowflake(u.get("id"))]


@dataclass
class DiscordChannel:
    id: str
    name: str
    kind: str
    parent_id: str | None
    parent_name: str = ""
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> raw message
    started_from_message: bool = False  # a thread holding the pointer (21) to the message it started from
    from_its_start: bool = False  # a file of it was exported from the channel's start (no dateRange.after)
    exported_at: datetime | None = None  # when its latest file was exported (exportedAt)

    @property
    def is_thread(self) -> bool:
        return self.kind in THREAD_KINDS

    @property
    def is_private(self) -> bool:
        return self.kind in PRIVATE_KINDS

    @property
    def is_announcements(self) -> bool:
        """An announcement channel, or a thread of one (its parent is one)."""
        return self.kind in ANNOUNCEMENT_KINDS

    def ordered(self) -> list[dict[str, Any]]:
        return sorted(self.messages.values(), key=lambda m: (m["_time"], int_id(m["id"])))


@dataclass
class DiscordGuild:
    id: str
    name: str
    people: dict[str, dict] = field(default_factory=dict)  # user id -> {"name", "is_bot"}
    channels: dict[str, DiscordChannel] = field(default_factory=dict)
    started_alone: dict[str, str] = field(default_factory=dict)  # thread named by a "started a thread" notice ->
    # the channel holding the notice (its parent)
    exported_at: datetime | None = None  # when its latest file was exported (exportedAt)
    unknown_reactions: int = 0  # reactions counted without the users who gave them
    # Each person's name as the latest exported file has it: {"name", "is_bot", "_seen": the time of the message it
    # is read from, "_exported": when its file was exported}.


def int_id(snowflake: str) -> int:
    try:
        return int(snowflake)
    except ValueError:
        return 0


def thread_home(channel: DiscordChannel, own_channel: set[str]) -> str | None:
    """The parent channel's id where a thread's messages are stored, or None for a channel of their own.

    A public thread or forum post is stored in its parent, as the live bot stores it, whether or not its opening
    message is known. A private thread stays a channel of its own (it is live too), and so does a thread an
    earlier version imported as a channel of its own (`own_channel`), so that a later export joins it."""
    if not channel.is_thread or channel.is_private or not channel.parent_id or channel.id in own_channel:
        return None
    return channel.parent_id


def thread_root(channel: DiscordChannel, stored_root: str | None = None) -> str:
    """The `thread_external_id` of a thread stored as a channel of its own: the thread's id, as the live bot
    keys a private thread. A root an earlier version stored there (the thread's first message, which named its
    own thread) wins, so an overlapping later export joins the conversation already stored."""
    return stored_root or channel.id


def opens_without_message(channel: DiscordChannel, guild: DiscordGuild) -> bool:
    """A thread known to start with no opening message of its own, so that its first message asks: one started on
    its own (a "started a thread" notice in its parent names it), a private thread, or a public thread exported
    from its start without the pointer (21) to a message it started from and without a message of its id (a
    forum post whose opening message is gone). A thread started from a message holds the pointer: when that
    message is gone (deleted before the export), nobody asked in it."""
    if not channel.is_thread:
        return False
    if channel.id in guild.started_alone or channel.is_private:
        return True
    return channel.from_its_start and not channel.started_from_message and channel.id not in channel.messages


class DiscordExport:
    """Reads DiscordChatExporter JSON files into guilds, people, channels and messages."""

    def __init__(self, paths: list[Path], *, include_private: bool = False) -> None:
        if not paths:
            raise UserError("give at least one DiscordChatExporter .json file, folder or .zip")
        for path in paths:
            if not path.exists():
                raise UserError(f"{path}: no such file or folder")
            if path.is_file() and path.suffix.lower() in (".html", ".htm", ".csv", ".txt"):
                raise UserError(f"{path}: export the channels as JSON (DiscordChatExporter --format Json)")
        given: dict[Path, Path] = {}
        for path in paths:  # the same file named twice (a shell glob and its name) is read once
            given.setdefault(path.resolve(), path)
        self.paths = list(given.values())
        self.include_private = include_private
        self.report = ImportReport()
        self.guilds: dict[str, DiscordGuild] = {}
        self._skipped_private: set[str] = set()
        self._skipped_direct = 0
        self._files_read: set[Path] = set()  # a folder and a file in it, both given, read the file once

    def read(self) -> dict[str, DiscordGuild]:
        for path in self.paths:
            self._read_path(path)
        for guild in self.guilds.values():
            guild.unknown_reactions = sum(self._unknown_reactions(m) for channel in guild.channels.values()
                                          for m in channel.messages.values())
        unknown_reactions = sum(guild.unknown_reactions for guild in self.guilds.values())
        if self._skipped_private:
            self.report.notes.append(f"{len(self._skipped_private)} private thread(s) not imported; use "
                                     "--include-private if members expect them to be read")
        if self._skipped_direct:
            self.report.notes.append(f"{self._skipped_direct} direct-message export(s) not imported "
                                     "(they belong to no server)")
        if unknown_reactions:
            self.report.notes.append(
                f"{unknown_reactions} reaction(s) without the list of who reacted were not stored "
                "(a recent DiscordChatExporter lists the users)")
        return self.guilds

    def _read_path(self, path: Path) -> None:
        if path.is_file() and path.suffix.lower() == ".json":
            source, names = ExportSource(path.parent), [path.name]
        else:
            source = ExportSource(path)  # a folder or a .zip archive
            if (source.exists("users.json") or source.exists("org_users.json")) and source.exists("channels.json"):
                source.close()
                raise UserError(f"{path} is a Slack export: import it with `connective import slack`")
            names = source.files(".json")
            if not names:
                self.report.notes.append(f"{path}: no .json files found")
        try:
            for name in names:
                local = source.local_file(name)
                if local is not None:
                    if local in self._files_read:
                        continue
                    self._files_read.add(local)
                try:
                    data = source.read_json(name)
                except DamagedFile as exc:  # said once, in the report the command prints
                    self.report.damaged(str(exc))
                    continue
                self._read_file(source.label(name), data)
        finally:
            source.close()

    def _read_file(self, label: str, data: Any) -> None:
        if not (isinstance(data, dict) and "channel" in data and "messages" in data):
            self.report.notes.append(f"{label}: skipped, not a DiscordChatExporter JSON export")
            return
        guild_raw, channel_raw, messages = data.get("guild"), data.get("channel"), data.get("messages")
        if not isinstance(channel_raw, dict) or not channel_raw.get("id") or not isinstance(messages, list):
            self.report.damaged(f"{label}: damaged export (no channel id or no list of messages)")
            return
        kind = str(channel_raw.get("type", "GuildTextChat"))
        kind = CHANNEL_KINDS.get(kind, kind)
        guild_raw = guild_raw if isinstance(guild_raw, dict) else {}
        guild_id = str(guild_raw.get("id") or "0")
        if not (snowflake(guild_id) and snowflake(channel_raw["id"])):
            self.report.damaged(f"{label}: damaged export (its server or channel id is not an id)")
            return
        if kind in DIRECT_KINDS or guild_id == "0":
            self._skipped_direct += 1
            self.report.files_left_out += 1
            return
        channel_id = str(channel_raw["id"])
        if kind in PRIVATE_KINDS and not self.include_private:
            self._skipped_private.add(channel_id)
            self.report.files_left_out += 1
            return
        self.report.files += 1
        guild = self.guilds.setdefault(guild_id, DiscordGuild(guild_id, str(guild_raw.get("name") or "")))
        channel = guild.channels.get(channel_id)
        if channel is None:
            parent = channel_raw.get("categoryId") if kind in THREAD_KINDS else None
            parent = parent if snowflake(parent) else None
            channel = guild.channels[channel_id] = DiscordChannel(
                channel_id, str(channel_raw.get("name") or channel_id), kind, str(parent) if parent else None,
                str(channel_raw.get("category") or "") if parent else "")
        exported = parse_time(data.get("exportedAt"))
        # The server's and the channel's names as the latest exported file has them (not the first file read).
        if _at(exported) >= _at(guild.exported_at) and guild_raw.get("name"):
            guild.name = str(guild_raw["name"])
        if _at(exported) >= _at(channel.exported_at):
            channel.name = str(channel_raw.get("name") or channel.name)
            if channel.parent_id and channel_raw.get("category"):
                channel.parent_name = str(channel_raw["category"])
        if exported is not None and (guild.exported_at is None or exported > guild.exported_at):
            guild.exported_at = exported
        if exported is not None and (channel.exported_at is None or exported > channel.exported_at):
            channel.exported_at = exported
        date_range = data.get("dateRange") if isinstance(data.get("dateRange"), dict) else {}
        if not date_range.get("after"):
            channel.from_its_start = True
        for m in messages:
            self._read_message(m, guild, channel, exported)

    def _read_message(self, m: Any, guild: DiscordGuild, channel: DiscordChannel, exported: datetime | None) -> None:
        self.report.messages_seen += 1
        author = m.get("author") if isinstance(m, dict) else None
        moment = parse_time(m.get("timestamp")) if isinstance(m, dict) else None
        if not isinstance(m, dict) or not snowflake(m.get("id")) or moment is None:
            self.report.malformed += 1
            return
        kind = str(m.get("type", "Default"))
        if kind not in CONTENT_KINDS:
            self.report.system_notices += 1
            ref = m.get("reference") if isinstance(m.get("reference"), dict) else {}
            if kind in THREAD_CREATED_KINDS and snowflake(ref.get("channelId")):
                guild.started_alone[str(ref["channelId"])] = channel.id
            elif kind in THREAD_STARTER_KINDS:
                channel.started_from_message = True
            return
        if not isinstance(author, dict) or author.get("id") in (None, ""):
            self.report.no_author += 1
            return
        if not snowflake(author.get("id")):
            self.report.malformed += 1
            return
        uid = str(author["id"])
        known = guild.people.get(uid)
        if known is None or (_at(known["_exported"]), known["_seen"]) <= (_at(exported), moment):
            # DiscordChatExporter writes every author as they are when it exports: the name in the latest exported
            # file, of their latest message there, whichever file is read last
            guild.people[uid] = {"name": author_name(author), "is_bot": bool(author.get("isBot")), "_seen": moment,
                                 "_exported": exported}
        mid = str(m["id"])
        earlier = channel.messages.get(mid)
        edited = parse_time(m.get("timestampEdited"))
        if earlier is not None and ((earlier["_edited"] or moment), _at(earlier["_exported"])) >= \
                ((edited or moment), _at(exported)):
            return  # the same message from an overlapping file: the latest edit, else the later exported copy
        channel.messages[mid] = {**m, "id": mid, "_time": moment, "_edited": edited, "_author": uid,
                                 "_exported": exported}

    @staticmethod
    def reactions(m: dict[str, Any]) -> list[tuple[str, str]]:
        """(emoji, user id) for every listed reacting user. Bare counts (older exports list no users) are
        not stored: a reaction row says who reacted, and inventing people would not be faithful."""
        out = []
        for r in listed(m.get("reactions")):
            if isinstance(r, dict):
                out += [(reaction_name(r), u) for u in reaction_users(r)]
        return out

    @staticmethod
    def _unknown_reactions(m: dict[str, Any]) -> int:
        total = 0
        for r in listed(m.get("reactions")):
            if isinstance(r, dict) and isinstance(r.get("count"), int):
                total += max(0, r["count"] - len(reaction_users(r)))
        return total

    def to_incoming(self, m: dict[str, Any], guild: DiscordGuild, channel: DiscordChannel, channel_row: int,
                    member_ids: dict[str, int], root: str | None, *, stored_until: float = 0.0) -> IncomingMessage:
        """The message to store. Its reactions are as they were when its file was exported, unless some are counted
        without who gave them (those it could only take away); a file exported before `stored_until` (how far the
        community's imports reached, epoch seconds) lists them as they were before what is stored."""
        reply_to = None
        ref = m.get("reference")
        if str(m.get("type", "Default")) in REPLY_KINDS and isinstance(ref, dict) and snowflake(ref.get("messageId")):
            if str(ref.get("channelId") or channel.id) == channel.id:
                reply_to = str(ref["messageId"])
        return IncomingMessage(
            channel_id=channel_row, external_id=m["id"], author_id=member_ids[m["_author"]],
            text=message_text(m), created_at=m["_time"],
            thread_external_id=root if channel.is_thread else None, reply_to_external_id=reply_to,
            edited_at=m["_edited"], permalink=discord_permalink(guild.id, channel.id, m["id"]),
            reactions=self.reactions(m),
            reactions_at=m["_exported"], reactions_partial=bool(self._unknown_reactions(m)),
            reactions_stale=exported_before(m["_exported"], stored_until),
        )


def exported_before(exported: datetime | None, until: float) -> bool:
    """Whether a file exported at `exported` was made before `until` (epoch seconds): older than what is stored."""
    return exported is not None and exported.timestamp() < until


def _at(exported: datetime | None) -> datetime:
    return exported or datetime.min.replace(tzinfo=UTC)
