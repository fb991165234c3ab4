"""Slack workspace exports (folder or .zip): users.json, channels.json, <channel>/<day>.json."""
from __future__ import annotations

import glob
import logging
import re
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any

from bot.errors import UserError
from bot.importers.report import ImportReport, counted
from bot.importers.source import DamagedFile, ExportSource, listed
from bot.safety import loggable, usable_id
from bot.services.ingest import IncomingMessage
from bot.urls import SLACK_ARCHIVES

log = logging.getLogger(__name__)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")  # what a malformed entry held, in its reason

# Subtypes that say something about the channel, not about anyone's knowledge.
SYSTEM_SUBTYPES = frozenset({
    "channel_join", "channel_leave", "channel_topic", "channel_purpose", "channel_name", "channel_archive",
    "channel_unarchive", "group_join", "group_leave", "group_topic", "group_purpose", "group_name",
    "group_archive", "group_unarchive", "pinned_item", "unpinned_item", "bot_add", "bot_remove",
    "bot_enable", "bot_disable", "reminder_add", "sh_room_created", "tombstone", "message_deleted",
    "channel_convert_to_private", "channel_convert_to_public", "joiner_notification",
    "channel_canvas_updated", "huddle_thread",
})
# Of those, the ones that say a message was deleted: a thread root deleted with its replies kept stays as a
# tombstone in its thread ("This message was deleted."); message_deleted names the message in deleted_ts.
DELETION_SUBTYPES = frozenset({"tombstone", "message_deleted"})
# Direct messages, one to one and in groups: members' own conversations, never imported (--include-private or not), as
# the live bot never stores a DM.
DIRECT_LISTS = ("dms.json", "mpims.json")
# The member lists: a workspace's export has users.json, an Enterprise Grid organisation's has org_users.json (Slack's
# "How to read Slack data exports"); where both are, users.json's entry of a member wins.
USER_LISTS = ("users.json", "org_users.json")


# Link-preview fields the import reads; any other attachment field is left out of the parsed message.
ATTACHMENT_FIELDS = ("fallback", "text", "title", "original_url", "from_url", "title_link")


class BadMessage(ValueError):
    """A message whose timestamp, author or text is not what Slack writes: it cannot be stored."""


SLACK_TS = re.compile(r"\d+\.\d{6}")  # as Slack writes a message's "ts": unique in its channel


def slack_time(ts: str | float) -> datetime:
    return datetime.fromtimestamp(float(ts), UTC)


def slack_ts(value: Any) -> str | None:
    """A timestamp as Slack writes it ("1700000000.000100"), or None when it names no time ("nan", "1e20") or is no
    id a database keeps (a "ts" padded to 80 characters: PostgreSQL refused the whole import)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float) or not usable_id(str(value)):
        return None
    try:
        slack_time(value)
    except (ValueError, OverflowError, OSError):
        return None
    return str(value)


def _text_field(m: dict[str, Any], key: str) -> str | None:
    value = m.get(key)
    if value is not None and not isinstance(value, str):
        raise BadMessage(f"{key} is {type(value).__name__}, not text")
    return value


def _strings(d: Any, keys: tuple[str, ...]) -> dict[str, str]:
    return {k: d[k] for k in keys if isinstance(d.get(k), str)} if isinstance(d, dict) else {}


def parse_message(m: dict[str, Any]) -> dict[str, Any]:
    """The fields the import reads, their types checked once here so nothing later trips on an odd export.

    A wrong type in what identifies a message or says what it is (ts, user, bot_id, subtype, text) raises
    BadMessage: the message is skipped. A wrong type in a detail (thread_ts, edited, reactions,
    attachments, files, user_profile) only drops that detail, so the message itself is still kept.
    """
    ts = slack_ts(m.get("ts"))
    if ts is None:
        raise BadMessage(f"ts {loggable(m.get('ts'))} is not a time")
    for key in ("user", "bot_id"):
        if m.get(key) is not None and not usable_id(m[key]):
            raise BadMessage(f"{key} {loggable(m[key])} is not an id")
    user = m.get("user")
    out: dict[str, Any] = {
        "ts": ts, "written_ts": ts, "text": _text_field(m, "text") or "",
        "user": str(user) if user is not None else None,
        "team": next((m[k] for k in ("team", "user_team") if isinstance(m.get(k), str) and usable_id(m[k])), None),
        "bot_id": _text_field(m, "bot_id"), "subtype": _text_field(m, "subtype"),
        "username": m["username"] if isinstance(m.get("username"), str) else None,
        "thread_ts": slack_ts(m.get("thread_ts")), "deleted_ts": slack_ts(m.get("deleted_ts")),
        "user_profile": _strings(m.get("user_profile"), ("display_name", "real_name")),
        "attachments": [_strings(a, ATTACHMENT_FIELDS) for a in listed(m.get("attachments")) if isinstance(a, dict)],
        "files": [_strings(f, ("title", "name")) for f in listed(m.get("files")) if isinstance(f, dict)],
        "blocks_text": blocks_text(m.get("blocks")),
        "reactions": [],
    }
    edited = m.get("edited")
    if isinstance(edited, dict) and (edited_ts := slack_ts(edited.get("ts"))):
        out["edited"] = {"ts": edited_ts}
    for r in listed(m.get("reactions")):
        if isinstance(r, dict) and isinstance(r.get("name"), str) and r["name"]:
            users = [str(u) for u in listed(r.get("users")) if usable_id(u)]
            if users:
                out["reactions"].append({"name": r["name"], "users": users})
            count = r.get("count")
            if isinstance(count, int) and count > len(users):  # Slack may list fewer users than reacted
                out["reactions_partial"] = True
    return out


def folder_name(name: str) -> bool:
    """Whether a channel's name (or id) can be one folder of an export, as Slack names them: not ".", "..", nor
    a path."""
    return name not in ("", ".", "..") and "/" not in name and "\x00" not in name


def slack_permalink(channel_id: str, ts: str, thread_ts: str | None = None) -> str:
    link = f"{SLACK_ARCHIVES}{channel_id}/p{ts.replace('.', '')}"
    if thread_ts and thread_ts != ts:
        link += f"?thread_ts={thread_ts}&cid={channel_id}"
    return link


def user_name(user: dict[str, Any]) -> str:
    profile = _strings(user.get("profile"), ("display_name", "real_name"))
    names = _strings(user, ("real_name", "name", "id"))
    return (profile.get("display_name") or names.get("real_name") or profile.get("real_name")
            or names.get("name") or names.get("id") or "")


def blocks_text(blocks: Any) -> str:
    """The words of a message's rich-text blocks, written as its text would be (<@U…> for a member, links as they
    are): a message can have them and an empty `text` (audit 12: every stored text was empty, nothing embedded)."""
    parts: list[str] = []

    def walk(node: Any, depth: int = 0) -> None:
        if depth > 20:
            return
        if isinstance(node, list):
            for item in node:
                walk(item, depth + 1)
            return
        if not isinstance(node, dict):
            return
        kind = node.get("type")
        if kind == "text" and isinstance(node.get("text"), str):
            parts.append(node["text"])
        elif kind == "link" and isinstance(node.get("url"), str):
            parts.append(node["url"] if not isinstance(node.get("text"), str) else f"<{node['url']}|{node['text']}>")
        elif kind == "user" and isinstance(node.get("user_id"), str):
            parts.append(f"<@{node['user_id']}>")
        elif kind == "channel" and isinstance(node.get("channel_id"), str):
            parts.append(f"<#{node['channel_id']}>")
        elif kind in ("section", "header", "context") and isinstance(node.get("text"), dict):
            walk({"type": "text", "text": node["text"].get("text")}, depth + 1)
        for key in ("elements", "fields"):
            if key in node:
                walk(node[key], depth + 1)
                if kind in ("rich_text_section", "rich_text_preformatted", "rich_text_quote"):
                    parts.append("\n")

    walk(blocks)
    return "".join(parts).strip()


def _distinct_times(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A channel's messages (oldest first) with a timestamp each: a history converted from a platform that keeps
    whole seconds can give two messages one "ts", and the second was taken for a repeat of the first and not stored
    (16 on racket-2019 written so, audit 12). The later ones move on by a microsecond; replies naming that "ts" stay
    in the thread of the first. A true repeat (same author and text, blocks and files included) gets the same "ts"
    as its first copy, and is stored once. Which message gets which "ts" follows their order in this export, which
    another export of the same second may not share: such messages are marked "shared_second", and no edit is read
    from them (it could be another message's text)."""
    taken = {m["ts"] for m in messages}
    given: dict[tuple[str, tuple], str] = {}  # (the "ts" written, the message) -> the "ts" it got
    free: dict[str, Decimal] = {}  # per "ts" written, the last one given: thousands in one second stay linear
    shared: set[str] = set()  # the "ts" written that several messages share
    for m in messages:
        base = m["ts"]
        key = (m["user"], m["bot_id"], message_text(m))
        if (base, key) in given:
            m["ts"] = given[(base, key)]
            continue
        if base not in free:
            given[(base, key)] = base
            free[base] = Decimal(base)
            continue
        shared.add(base)
        t = free[base]
        while True:
            t += Decimal("0.000001")
            ts = f"{t:.6f}"
            if ts not in taken:
                break
        free[base] = t
        taken.add(ts)
        given[(base, key)] = m["ts"] = ts
    moved = {ts for (base, _), ts in given.items() if base in shared}
    for m in messages:
        if m["ts"] in moved:
            m["shared_second"] = True
    return messages


def message_text(m: dict[str, Any]) -> str:
    text = m.get("text") or m.get("blocks_text") or ""
    if not text.strip():
        parts = [f.get("title") or f.get("name") or "" for f in m.get("files") or []]
        parts += [a.get("fallback") or a.get("text") or "" for a in m.get("attachments") or []]
        text = " ".join(p for p in parts if p)
    return text


class SlackExport:
    """Reads an export into people, channels and messages; storing is the import service's job."""

    def __init__(self, path: Path, *, team: str | None = None, include_private: bool = False) -> None:
        self.source = ExportSource(path)
        if not any(self.source.exists(name) for name in (*USER_LISTS, "channels.json")):
            self.source.close()
            raise UserError(f"{path}: not a Slack export (no users.json or channels.json found); "
                            "DiscordChatExporter files are imported with `connective import discord`")
        self.report = ImportReport()
        self.users: dict[str, dict[str, Any]] = {}
        self.team = team
        self.users_json = "read"  # read_users says: "read", "missing" or "damaged"
        self.include_private = include_private
        self.teams: Counter[str] = Counter()  # the workspaces users.json names, with how many of its members each
        self.user_teams: dict[str, str] = {}  # user id -> the workspace users.json names for them
        self.linkless: set[str] = set()  # channels known by name only: no Slack link can be made to their messages
        self.deleted: dict[str, list[str]] = {}  # channel id -> ts of the messages the export shows deleted

    def read_users(self) -> dict[str, dict]:
        """The members users.json (or an Enterprise Grid export's org_users.json) lists, and the workspace (team) it
        names unless --team did. A missing or damaged list is no reason to stop: messages name their authors too
        (and, most often, the workspace)."""
        people: dict[str, dict] = {}
        teams: Counter[str] = Counter()  # a shared channel's export lists other organisations' members too
        users: list[Any] = []
        lists = [name for name in USER_LISTS if self.source.exists(name)]
        self.users_json = "damaged" if lists else "missing"
        for name in lists:
            try:
                users += listed(self.source.read_json(name))
                self.report.files += 1
                self.users_json = "read"
            except DamagedFile as exc:  # the rest is imported without it
                self.report.damaged(str(exc))
        for u in users:
            if not isinstance(u, dict) or not usable_id(u.get("id")) or str(u["id"]) in people:
                continue
            u = {**u, "id": str(u["id"])}  # a converter may write ids as numbers
            self.users[u["id"]] = u
            known = _strings(u, ("team_id", "team", "tz"))
            if team := known.get("team_id") or known.get("team"):
                teams[team] += 1
                self.user_teams[u["id"]] = team
            people[u["id"]] = {"name": user_name(u), "is_bot": bool(u.get("is_bot")) or u["id"] == "USLACKBOT",
                               "bot_known": True, "timezone": known.get("tz"), "deleted": bool(u.get("deleted"))}
        self.teams = teams
        if teams and not self.team:
            self.team = teams.most_common(1)[0][0]
        return people

    def leave_out_outsiders(self, raw: dict[str, list[dict[str, Any]]], people: dict[str, dict]) -> None:
        """Take out what people who are no members of the community wrote or reacted with (as the live bot does,
        adapters/slack/outsiders.py): guests (is_restricted, is_ultra_restricted), and people of another organisation
        in a Slack Connect channel, whom users.json lists with another workspace's team_id (or is_stranger), or does
        not list and whose messages name another workspace ("user_team", "team"). The workspace is the one it is filed
        under (else the one users.json, or the messages, name most); an Enterprise Grid export (org_users.json)
        holds the org's workspaces: there only is_stranger tells another organisation. Their messages are counted as
        not stored, one note says so; a member's reply in a thread one of them started keeps its thread."""
        if self.source.exists("org_users.json"):
            home = None
        elif self.teams:  # the workspace it is filed under, unless --team named one users.json does not
            home = self.team if self.team in self.teams else self.teams.most_common(1)[0][0]
        else:
            home = self.teams_in_messages([m for msgs in raw.values() for m in msgs])
        external: set[str] = set()
        guests: set[str] = set()
        for uid, u in self.users.items():
            team = _strings(u, ("team_id",)).get("team_id")
            if u.get("is_stranger") is True or (home and team and team != home):
                external.add(uid)
            elif u.get("is_restricted") is True or u.get("is_ultra_restricted") is True:
                guests.add(uid)
        if home:
            external |= {m["user"] for msgs in raw.values() for m in msgs
                         if m["user"] and m["team"] and m["team"] != home and m["user"] not in self.users}
        outsiders = external | guests
        if not outsiders:
            return
        left = 0
        for channel, msgs in raw.items():
            kept = [m for m in msgs if m["user"] not in outsiders]
            left += len(msgs) - len(kept)
            for m in kept:
                m["reactions"] = [{**r, "users": [u for u in r["users"] if u not in outsiders]}
                                  for r in m["reactions"] if set(r["users"]) - outsiders]
            raw[channel] = kept
        for uid in outsiders:  # no member row either
            people.pop(uid, None)
        self.report.not_stored += left
        kinds = [counted(len(external), "person of another organisation (Slack Connect)",
                         "people of other organisations (Slack Connect)") if external else "",
                 counted(len(guests), "guest", "guests") if guests else ""]
        self.report.notes.append(f"{counted(left, 'message', 'messages')} of {' and '.join(k for k in kinds if k)} "
                                 "not imported, nor their reactions: they are no members of the community")

    def teams_in_messages(self, messages: list[dict[str, Any]]) -> str | None:
        """The workspace most of the messages name ("team", or "user_team"), for an export whose users.json names
        none (an older export, one a converter wrote, or one whose users.json is damaged or missing)."""
        counts = Counter(m["team"] for m in messages if m.get("team"))
        return counts.most_common(1)[0][0] if counts else None

    def read_channels(self) -> list[dict[str, Any]]:
        channels: list[dict[str, Any]] = []
        listed_private = listed_direct = 0
        left_out: set[str] = set()  # names and ids of the conversations listed but not imported
        files = [("channels.json", False)]
        if self.include_private:  # private channels; direct messages never (DIRECT_LISTS)
            files += [("groups.json", True)]
        for name, private in files:
            if not self.source.exists(name):
                continue
            try:
                entries = self.source.read_json(name)
                self.report.files += 1
            except DamagedFile as exc:
                self.report.damaged(f"{exc}; the channels it lists are not imported")
                continue
            if isinstance(entries, dict):  # {id: channel}, as some tools write it
                entries = [{"id": key, **ch} if isinstance(ch, dict) else ch for key, ch in entries.items()]
            for ch in listed(entries):
                if not isinstance(ch, dict):
                    continue
                name = _strings(ch, ("name",)).get("name")
                # A tool that exports what one member can see (slackdump) lists a private channel in channels.json,
                # marked so, as the API gives it; a converter may list a DM there too. Read as it is marked.
                if ch.get("is_im") is True or ch.get("is_mpim") is True:
                    listed_direct += 1
                    left_out.update(str(v) for v in (name, ch.get("id")) if v)
                    continue
                is_private = private or ch.get("is_private") is True or ch.get("is_group") is True
                if is_private and not self.include_private:
                    listed_private += 1
                    left_out.update(str(v) for v in (name, ch.get("id")) if v)
                    continue
                if usable_id(ch.get("id")):
                    channels.append({"id": str(ch["id"]), "name": name or str(ch["id"]), "is_private": is_private})
                elif name and usable_id(name):  # no id (a converter's list): known by its name, with no Slack links
                    channels.append({"id": name, "name": name, "is_private": is_private, "by_name": True})
                    self.linkless.add(name)
        if not self.include_private:
            skipped = [n for n in ("groups.json",) if self.source.exists(n)]
            if listed_private:
                skipped.append(f"{listed_private} marked private in channels.json")
            if skipped:
                self.report.notes.append(f"private conversations not imported ({', '.join(skipped)}); "
                                         "use --include-private if members expect them to be read")
        direct = [n for n in DIRECT_LISTS if self.source.exists(n)]
        if listed_direct:
            direct.append(f"{listed_direct} listed in channels.json")
        if direct:
            self.report.notes.append(f"direct messages not imported ({', '.join(direct)}): they are members' own "
                                     "conversations, never read into what the community shares")
        self._name_unlisted_folders(channels, left_out)
        return channels

    def _name_unlisted_folders(self, channels: list[dict[str, Any]], left_out: set[str]) -> None:
        """Say which folders of day files no channel list names: their messages are not imported (a channel's id,
        which its messages and links belong to, is only in the lists), and the summary gave no sign of them."""
        known = {ch["name"] for ch in channels} | {ch["id"] for ch in channels} | left_out
        for name in ("groups.json", "mpims.json", "dms.json"):  # private ones, left out knowingly (noted above)
            if self.source.exists(name):
                try:
                    entries = self.source.read_json(name)
                except DamagedFile:
                    continue
                known.update(str(v) for ch in listed(entries) if isinstance(ch, dict)
                             for v in (ch.get("name"), ch.get("id")) if v)
        try:
            folders = {PurePosixPath(n).parts[0] for n in self.source.names("*/*.json")}
        except OSError:
            return
        unlisted = sorted(folders - known)
        if unlisted:
            shown = ", ".join(unlisted[:5]) + (f" and {len(unlisted) - 5} more" if len(unlisted) > 5 else "")
            self.report.notes.append(f"{len(unlisted)} folder(s) of messages not imported, as no channel list "
                                     f"names them: {shown}")

    def read_messages(self, channel: dict[str, Any], people: dict[str, dict]) -> list[dict[str, Any]]:
        """Messages of one channel as parse_message gives them, oldest first, with people discovered on the
        way added; a malformed one is skipped and counted, one warning per day file naming it."""
        out = []
        try:
            # The folder is named by the channel's name (a "[" in it is no pattern: "help[racket]" matched nothing and
            # its messages were lost without a word), or by its id, as slackdump writes them.
            # A name that is no one folder ("/help", "..", "a/b") is not looked for: "/help" raised out of the import
            # (a traceback), ".." read the JSON files beside the export as this channel's days.
            names = []
            for folder in dict.fromkeys((channel["name"], channel["id"])):
                if folder_name(folder) and (names := self.source.names(f"{glob.escape(folder)}/*.json")):
                    break
        except OSError as exc:  # a name no filesystem takes (too long): that channel is lost, not the export
            self.report.errors.append(f"{self.source.label(channel['name'][:60])}: channel folder unreadable "
                                      f"({exc.strerror})")
            return out
        for name in names:
            try:
                day = self.source.read_json(name)
            except DamagedFile as exc:  # said once, in the report the command prints
                self.report.damaged(str(exc))
                continue
            if not isinstance(day, list):
                self.report.damaged(f"{self.source.label(name)}: not a list of messages")
                continue
            self.report.files += 1
            malformed: list[str] = []
            for raw in day:  # every entry is counted: one that is no message is malformed, not lost unsaid
                self.report.messages_seen += 1
                if not isinstance(raw, dict):
                    malformed.append(f"an entry is {type(raw).__name__}, not a message object")
                    continue
                if raw.get("type", "message") != "message":
                    malformed.append(f"type {loggable(raw.get('type'))} is not a message")
                    continue
                try:
                    m = parse_message(raw)
                except BadMessage as exc:
                    malformed.append(str(exc))
                    continue
                except Exception as exc:  # noqa: BLE001 - the last guard: one odd message must not stop the import
                    malformed.append(f"unreadable ({type(exc).__name__})")  # its message may quote the entry
                    continue
                if m["subtype"] in SYSTEM_SUBTYPES:
                    self.report.system_notices += 1
                    if m["subtype"] in DELETION_SUBTYPES:
                        self.deleted.setdefault(channel["id"], []).append(m["deleted_ts"] or m["ts"])
                elif self._known_author(m, people):
                    out.append(m)
                else:
                    self.report.no_author += 1
            if malformed:
                self.report.malformed += len(malformed)
                # Named as the errors name files (the export's path), with a reason of each kind, not the first only
                # ("'1' is not a message object" and "'2' is …" are one kind).
                kinds: dict[str, str] = {}
                for reason in malformed:
                    kinds.setdefault(_QUOTED.sub("…", reason), reason)
                reasons = list(kinds.values())
                more = f"; and {len(reasons) - 3} more kind(s)" if len(reasons) > 3 else ""
                log.warning("%s: skipped %d malformed message(s) (%s%s)", self.source.label(name), len(malformed),
                            "; ".join(reasons[:3]), more)
        out.sort(key=lambda m: float(m["ts"]))
        return _distinct_times(out)

    @staticmethod
    def _known_author(m: dict[str, Any], people: dict[str, dict]) -> bool:
        """False for a message nobody wrote; otherwise its user (if it names one) is in people. Someone users.json
        does not list is taken for a bot while only bot posts show them (an uninstalled app's bot user, a workflow),
        and for a person from their first ordinary post on."""
        user = m["user"]
        if not user:
            if not is_bot_post(m):
                return False
            people.setdefault(m["bot_id"] or "bot", {"name": m["username"] or m["bot_id"] or "bot", "is_bot": True,
                                                     "bot_known": True})
            return True
        seen = people.get(user)
        if seen is None:
            profile = m["user_profile"]
            name = profile.get("display_name") or profile.get("real_name") or m["username"] or user
            seen = people[user] = {"name": name, "is_bot": True, "bot_posts": set()}
            if not is_bot_post(m):  # Slackbot's own posts carry no bot_id
                seen.update(is_bot=user == "USLACKBOT", bot_known=True)
        if "bot_posts" in seen:
            if is_bot_post(m):
                seen["bot_posts"].add(m["ts"])
            elif seen["is_bot"] and user != "USLACKBOT":
                seen.update(is_bot=False, bot_known=True)
        return True

    @staticmethod
    def attribute(messages: list[dict[str, Any]], people: dict[str, dict]) -> None:
        """Set each message's "author", once people holds everyone the export shows. A bot's post (bot_message,
        or any post with a bot_id, as the live bot reads it) is stored under a bot: its user when that user is one,
        else the app's bot (bot_id), so a person who posted through an app (a workflow, /giphy) stays a person and
        the post never counts as their knowledge."""
        for m in messages:
            user = m["user"]
            if user and (not is_bot_post(m) or people[user]["is_bot"]):
                m["author"] = user
                continue
            author = m["author"] = m["bot_id"] or "bot"
            people.setdefault(author, {"name": m["username"] or author, "is_bot": True, "bot_known": True})

    def to_incoming(self, m: dict[str, Any], channel_id: int, channel_ext: str, member_ids: dict[str, int],
                    author: str) -> IncomingMessage:
        thread_ts = m.get("thread_ts")
        # An edit is read only where a message's "ts" surely names it: Slack's own (microseconds), never a second
        # several messages of a converted history shared, told apart by their order in this export (another export
        # of that second may hold fewer: one message's edit would be written into another's).
        surely = not m.get("shared_second") and SLACK_TS.fullmatch(m.get("written_ts", m["ts"]))
        edited = (m.get("edited") or {}) if surely else {}
        reactions = [(r.get("name", ""), u) for r in m.get("reactions") or [] if isinstance(r, dict)
                     for u in r.get("users") or []]
        return IncomingMessage(
            channel_id=channel_id, external_id=str(m["ts"]), author_id=member_ids[author],
            text=message_text(m), created_at=slack_time(m["ts"]),
            thread_external_id=str(thread_ts) if thread_ts else None,
            edited_at=slack_time(edited["ts"]) if edited.get("ts") else None,
            permalink=None if channel_ext in self.linkless else slack_permalink(channel_ext, str(m["ts"]), thread_ts),
            reactions=reactions,
            link_titles=unfurl_titles(m),
        )


def unfurl_titles(m: dict[str, Any]) -> dict[str, str]:
    """URL -> title of the link previews Slack attached to a message."""
    out = {}
    for a in m.get("attachments") or []:
        if isinstance(a, dict) and a.get("title"):
            url = a.get("original_url") or a.get("from_url") or a.get("title_link")
            if isinstance(url, str) and url:
                out[url] = str(a["title"])
    return out


def is_bot_post(m: dict[str, Any]) -> bool:
    """Posted by an app or integration, as the live adapter reads a message (adapters/slack/translate.py)."""
    return bool(m.get("bot_id")) or m.get("subtype") == "bot_message"
