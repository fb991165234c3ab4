"""History backfill: an export read, stored through the ingest service, then ranking fitted."""
from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select, update

from bot.db.engine import Database
from bot.db.models import Channel, Community, Member, Message
from bot.db.vector_index import bulk_vector_load
from bot.errors import briefly
from bot.importers.discord_export import (
    DiscordExport,
    exported_before,
    opens_without_message,
    thread_home,
    thread_root,
)
from bot.importers.report import ImportReport, counted
from bot.importers.slack_export import SlackExport, slack_permalink
from bot.progress import ProgressFactory, no_progress
from bot.repo import (
    channel_ingested,
    ensure_channel,
    ensure_community,
    ensure_members_bulk,
    get_community,
    know_openerless_threads,
    move_export_links,
)
from bot.services.expertise import ExpertiseService
from bot.services.ingest import IncomingMessage, IngestService, Reactions

log = logging.getLogger(__name__)

CHUNK = 4000
# What an export's users.json was (SlackExport.users_json), as the notes say it: alone, and in the workspace note.
_USERS_JSON = {"read": ("", "no team_id in users.json"),
               "missing": ("the export has no users.json", "it has no users.json"),
               "damaged": ("the export's users.json could not be read", "its users.json could not be read")}
# A Slack export that names no workspace is stored as one of its own under this prefix (see _workspace).
UNNAMED = "export-"
SAMPLE_MEMBERS = 500
# Of the workspaces a users.json names (a shared channel's guests are of others), a stored one holding this share of
# the export's members is its own: a later export may list more new guests than members (6 of 14 held), while a
# partner stored here holds a guest or two (1 of 6).
STORED_WORKSPACE_SHARE = 1 / 3


async def _link_messages(session, channel_id: int, channel_ext: str) -> None:  # noqa: ANN001
    """Give the messages of a channel stored without an id (so without links) their Slack links, now that it has one."""
    rows = (await session.execute(select(Message.id, Message.external_id, Message.thread_external_id).where(
        Message.channel_id == channel_id, Message.permalink.is_(None)))).all()
    links = [{"id": mid, "permalink": slack_permalink(channel_ext, ext, thread)} for mid, ext, thread in rows]
    for start in range(0, len(links), 2000):  # ORM bulk UPDATE by primary key
        await session.execute(update(Message), links[start : start + 2000])


class ImportService:
    def __init__(self, db: Database, ingest: IngestService, expertise: ExpertiseService, *,
                 index_build_memory_mb: int = 2048) -> None:
        self.db = db
        self.ingest = ingest
        self.expertise = expertise
        self.index_build_memory_mb = index_build_memory_mb

    async def import_slack(self, path: Path, *, team: str | None = None, include_private: bool = False,
                           workspace_url: str | None = None, progress: ProgressFactory = no_progress) -> ImportReport:
        """A Slack export (folder or .zip). `workspace_url`, the workspace's own address (https://acme.slack.com/), is
        kept for the community: the links of its imported messages go there (the live bot records it too)."""
        export = SlackExport(path, team=team, include_private=include_private)
        report = export.report
        try:
            people = export.read_users()
            channels = export.read_channels()
            raw = {ch["id"]: export.read_messages(ch, people) for ch in channels}
            messages = [m for msgs in raw.values() for m in msgs]
            export.attribute(messages, people)
        finally:
            export.source.close()
        if not people and not channels:
            # Nothing readable (a users.json cut short and no channel list): no community is filed for it. One was,
            # empty, "export-…", and every later command asked to choose between it and the real workspace.
            report.community = f"slack:{team}" if team else "slack"
            if not report.errors:
                report.errors.append(f"{path}: nothing to import (the export lists no member and no channel)")
            return report
        export.team = await self._workspace(export, people, messages, given=team is not None)
        export.leave_out_outsiders(raw, people)
        messages = [m for msgs in raw.values() for m in msgs]
        # Without users.json, messages may name their authors (user_profile); where they do not, a member is their id.
        unnamed = 0 if export.users_json == "read" else sum(p["name"] == u for u, p in people.items()
                                                            if not p.get("is_bot"))
        if unnamed:
            report.notes.append(f"{_USERS_JSON[export.users_json][0]}: {unnamed} member(s) are shown by their ids "
                                "until an export with it, or the live bot, names them")
        report.community = f"slack:{export.team}"
        newest = max((float(m["ts"]) for m in messages), default=None)
        # How far it reaches is read off its public channels, which every import of it reads: the same export without
        # --include-private was "older" than itself with it (its private conversations went on later; user
        # walk-through). An export of private conversations only reaches as far as they do.
        reach = max((float(m["ts"]) for ch in channels if not ch["is_private"] for m in raw[ch["id"]]), default=newest)
        older = reach is not None and await self._imported_until("slack", export.team) > reach
        if older:
            # An export older than what is stored tells how accounts were then: a name changed or an account
            # deactivated (or back) since stays as it is now; and so do reactions.
            for p in people.values():
                p["stale"] = True
            report.notes.append("the export is older than the history stored: members' names and deactivations "
                                "are kept as they are now, and so are reactions and channel names")
        community_id, member_ids, channel_ids, closed = await self._ensure_structure(
            "slack", export.team, "", people, channels, older=older)
        if persons := await self._people_taken_for_bots(community_id, people):
            # Someone users.json does not list, seen here only in app posts, was taken for a bot; the database knows
            # them as a person (messages of their own): those posts are the app's, never their knowledge.
            for user in persons:
                people[user]["is_bot"] = False
            export.attribute(messages, people)
            community_id, member_ids, channel_ids, closed = await self._ensure_structure(
                "slack", export.team, "", people, channels, older=older)
        incoming: list[IncomingMessage] = [
            export.to_incoming(m, channel_ids[ch_ext], ch_ext, member_ids, m["author"])
            for ch_ext, msgs in raw.items() for m in msgs
        ]
        incoming = _read_channels_only(incoming, closed, report)
        # Its reactions are as they were when it was made, at least as late as its newest message (Slack's export
        # says no time of its own).
        made = datetime.fromtimestamp(newest, UTC) if newest is not None else None
        partial = {(channel_ids[ch_ext], str(m["ts"])) for ch_ext, msgs in raw.items() for m in msgs
                   if m.get("reactions_partial")}
        for m in incoming:  # a message whose reactions are counted beyond the users listed: none is taken away
            m.reactions_at, m.reactions_stale = made, older
            m.reactions_partial = (m.channel_id, m.external_id) in partial
        # Before the messages are stored: a reply may come back in the export, its deleted thread root never.
        report.deleted = await self.ingest.delete(community_id, [
            (channel_ids[ch_ext], ts) for ch_ext, deleted in export.deleted.items() for ts in deleted])
        # A later export's messages carry their reactions as they are now: one removed on Slack goes. Not if it
        # carries no reaction at all: stripped to ids and text (or written by a converter), it says nothing of them.
        # An older export's are how they were then: only the messages new here take theirs.
        await self._store(community_id, incoming, report, progress, changed=bool(report.deleted),
                          reactions="of_new" if older else "replace" if any(m["reactions"] for m in messages)
                          else "add")
        async with self.db.sessions.begin() as session:
            moved = await move_export_links(session, community_id, workspace_url)
            # How far the imports reached: a later export is older only than that.
            await _reached(session, community_id, reach)
        if moved:
            self.expertise.forget_cache(community_id)
        return report

    async def import_discord(self, paths: list[Path], *, include_private: bool = False,
                             progress: ProgressFactory = no_progress) -> ImportReport:
        """DiscordChatExporter JSON files (or folders, or .zip archives of them); one community per guild."""
        export = DiscordExport(paths, include_private=include_private)
        report = export.report
        guilds = export.read()
        names = []
        for guild in guilds.values():
            names.append(f"discord:{guild.id}")
            threads = [ch for ch in guild.channels.values() if ch.is_thread]
            own_channel = await self._threads_of_their_own(guild.id, [ch.id for ch in threads])
            home = {ch.id: thread_home(ch, own_channel) for ch in threads}
            channels = {ch.id: {"id": ch.id, "name": ch.name, "is_private": ch.is_private,
                                "announcements": ch.is_announcements}
                        for ch in guild.channels.values() if not home.get(ch.id)}
            for ch in threads:  # a parent not in the export (a forum holds only its posts)
                if home[ch.id] and home[ch.id] not in channels:
                    channels[home[ch.id]] = {"id": home[ch.id], "name": ch.parent_name, "is_private": False,
                                             "announcements": ch.is_announcements}
            # DiscordChatExporter says when each file was exported (exportedAt): the newest message would not tell, a
            # quiet channel exported today has none newer than last month's export of a busy one. A file exported
            # before the imports stored reached tells how things were then: as a Slack export older than what is
            # stored (see import_slack), its names and reactions are not applied; file by file, as one import may
            # hold files of several days.
            until = await self._imported_until("discord", guild.id)
            old_files = {ch.id for ch in guild.channels.values() if exported_before(ch.exported_at, until)}
            for p in guild.people.values():
                p["stale"] = exported_before(p.get("_exported"), until)
            for ch_id in old_files:  # a channel's name as its own file says, or a thread's if the export has none
                target = home.get(ch_id) or ch_id
                if target in channels and (target == ch_id or target not in guild.channels):
                    channels[target]["stale"] = True
            if old_files:
                report.notes.append(f"{len(old_files)} channel(s) of {guild.name or guild.id} were exported before the "
                                    "history stored: members' names, channel names and reactions there are kept as "
                                    "they are now")
            community_id, member_ids, channel_ids, closed = await self._ensure_structure(
                "discord", guild.id, "" if exported_before(guild.exported_at, until) else guild.name, guild.people,
                list(channels.values()))
            stored_roots = await self._stored_thread_roots(
                community_id, [channel_ids[ch.id] for ch in threads if not home[ch.id]])
            incoming = []
            openerless = []
            for ch in guild.channels.values():
                if home.get(ch.id):
                    row, root = channel_ids[home[ch.id]], ch.id
                else:
                    row = channel_ids[ch.id]
                    root = thread_root(ch, stored_roots.get(row)) if ch.is_thread else None
                if root and opens_without_message(ch, guild):
                    openerless.append((row, root))
                incoming += [export.to_incoming(m, guild, ch, row, member_ids, root, stored_until=until)
                             for m in ch.ordered()]
            incoming = _read_channels_only(incoming, closed, report)
            # A thread started on its own that the export does not hold: where the live bot stores its messages
            openerless += [(channel_ids[parent], thread) for thread, parent in guild.started_alone.items()
                           if thread not in guild.channels and parent in channel_ids]
            known = await self._know_openerless(community_id, openerless)
            # Its messages' reactions as they were when their file was exported (see to_incoming), unless it carries
            # none at all (stripped to text, it says nothing of them).
            await self._store(community_id, incoming, report, progress, changed=known,
                              reactions="replace" if any(m.reactions for m in incoming) else "add")
            if guild.exported_at is not None:
                async with self.db.sessions.begin() as session:
                    await _reached(session, community_id, guild.exported_at.timestamp())
        report.community = ", ".join(names) or "discord"
        if not guilds and not report.errors and not report.notes:  # a note or an error says why already
            report.notes.append("no server channel found in the export")
        return report

    async def _ensure_structure(self, platform: str, external_id: str, name: str, people: dict[str, dict],
                                channels: list[dict], *, older: bool = False) -> tuple[int, dict[str, int],
                                                                                      dict[str, int], set[int]]:
        """The community, its members and channels: (community id, member ids, channel ids by external id, the ids of
        the channels not read, whose messages are not imported: see not_read). An
        `older` export names no existing channel anew. A channel an export lists without an id ("by_name") is the
        stored channel of that name; a channel with an id takes over the one an earlier such export stored under its
        name, so that the same messages, exported once without ids and once with, are stored once."""
        async with self.db.sessions.begin() as session:
            community = await ensure_community(session, platform, external_id, name)
            member_ids = await ensure_members_bulk(session, community.id, people)
            stored = {row.external_id: row for row in await session.scalars(
                select(Channel).where(Channel.community_id == community.id))}
            by_name = {row.name: row for row in sorted(stored.values(), key=lambda r: r.id, reverse=True)}
            channel_ids = {}
            closed: set[int] = set()
            for ch in channels:
                ext = ch["id"]
                if ch.get("by_name") and ch["name"] in by_name:
                    ext = by_name[ch["name"]].external_id
                elif ext not in stored and (named := stored.get(ch["name"])) is not None \
                        and named.external_id == named.name:
                    named.external_id = ext
                    await session.flush()
                    await _link_messages(session, named.id, ext)
                row = await ensure_channel(session, community.id, ext, name=ch["name"],
                                           rename=not (older or ch.get("stale")),
                                           is_private=ch["is_private"], announcements=ch.get("announcements", False))
                channel_ids[ch["id"]] = row.id
                if not_read(row, listed_private=ch["is_private"]):
                    closed.add(row.id)
        # The export may rename members without a message new or edited (so no refit): names are read again.
        self.expertise.forget_names(community.id)
        return community.id, member_ids, channel_ids, closed

    async def _workspace(self, export: SlackExport, people: dict[str, dict], messages: list[dict],
                         given: bool) -> str:
        """The workspace (team) of a Slack export: --team, else the one users.json names, else the one most messages
        name. An export that names none (an old one, or one a converter wrote from another platform's history) is the
        Slack community already holding most of its members, else one of its own, named after them so that
        importing it again, or a later export of it, finds it. With --team, such a community of its own becomes
        that workspace."""
        persons = sorted(u for u, p in people.items() if not p.get("is_bot"))
        sample = persons[:: max(1, len(persons) // SAMPLE_MEMBERS)][:SAMPLE_MEMBERS]
        if export.team and not given and len(export.teams) > 1:
            # A shared channel's guests may outnumber the workspace's own members in a later export: the workspace
            # named in users.json that already holds STORED_WORKSPACE_SHARE of the members users.json gives it wins
            # (the partner's people are not imported: adapters/slack/outsiders.py), or that export was filed under the
            # partner's, all of it imported twice.
            async with self.db.sessions() as session:
                for named, _ in export.teams.most_common():
                    own = [u for u in persons if export.user_teams.get(u) == named]
                    own = own[:: max(1, len(own) // SAMPLE_MEMBERS)][:SAMPLE_MEMBERS]
                    found = await self._holding(session, own, unnamed_only=False, share=STORED_WORKSPACE_SHARE)
                    if found is not None and found.external_id == named:
                        return named
        if export.team and not given:
            return export.team
        if given and export.teams and export.team not in export.teams:
            named, members = export.teams.most_common(1)[0]
            export.report.notes.append(
                f"users.json names workspace {named} ({counted(members, 'member', 'members')}): imported as "
                f"{export.team}, as --team says; the live bot of {named} does not find this history")
        async with self.db.sessions.begin() as session:
            if export.team:  # given: an unnamed community of the same members takes its name
                if await get_community(session, "slack", export.team) is None and (
                        found := await self._holding(session, sample, unnamed_only=True)):
                    export.report.notes.append(f"workspace {found.external_id} (imported before without a team id) "
                                               f"is now {export.team}")
                    found.external_id = export.team
                return export.team
            if team := export.teams_in_messages(messages):
                return team
            found = await self._holding(session, sample, unnamed_only=False)
        digest = hashlib.sha256("\n".join(persons).encode()).hexdigest()[:12]
        team = found.external_id if found else f"{UNNAMED}{digest}"
        why = _USERS_JSON[export.users_json][1]
        export.report.notes.append(f"the export names no workspace ({why}): imported as {team}; "
                                   "import it with --team T… (your workspace's id) for the live bot to find it")
        return team

    @staticmethod
    async def _holding(session, members: list[str], *, unnamed_only: bool,  # noqa: ANN001
                       share: float = 0.5) -> Community | None:
        """The Slack community that has at least `share` of `members` (a sample of an export's) as its own."""
        if not members:
            return None
        query = (select(Member.community_id, func.count()).join(Community, Community.id == Member.community_id)
                 .where(Community.platform == "slack", Member.external_id.in_(members))
                 .group_by(Member.community_id).order_by(func.count().desc()).limit(1))
        if unnamed_only:
            query = query.where(Community.external_id.startswith(UNNAMED))
        best = (await session.execute(query)).first()
        if best is None or best[1] < share * len(members):
            return None
        return await session.get(Community, best[0])

    async def _imported_until(self, platform: str, external_id: str) -> float:
        """How far earlier imports of the community reached (epoch seconds; 0 if none): a Slack export's newest
        message, a Discord export's time of export. An export that ends before is older than what is stored. Live
        messages do not count: stored while the bot runs, they are newer than any export made before, which would
        all be "older" (names, deactivations and reactions never applied on a running deployment)."""
        async with self.db.sessions() as session:
            community = await get_community(session, platform, external_id)
            # Not kept by imports before 2026-12-06: their first import after the upgrade is taken as not older (live
            # messages cannot tell, and a workspace's first export imported while the bot runs must apply).
            return float((community.settings or {}).get("imported_until", 0.0)) if community is not None else 0.0

    async def _people_taken_for_bots(self, community_id: int, people: dict[str, dict]) -> set[str]:
        """Of the authors an export showed only in bot posts (taken for bots), those the community knows as people."""
        provisional = [u for u, p in people.items() if "bot_posts" in p and p.get("is_bot") and not p.get("bot_known")]
        if not provisional:
            return set()
        async with self.db.sessions() as session:
            return set(await session.scalars(select(Member.external_id).where(
                Member.community_id == community_id, Member.external_id.in_(provisional), Member.is_bot.is_(False))))

    async def _threads_of_their_own(self, guild_id: str, thread_ids: list[str]) -> set[str]:
        """Of these Discord threads, those stored as a channel of their own: private threads, and public ones an
        earlier version imported so (they stay one, so a later export joins them)."""
        if not thread_ids:
            return set()
        async with self.db.sessions() as session:
            community = await get_community(session, "discord", guild_id)
            if community is None:
                return set()
            return set(await session.scalars(
                select(Channel.external_id).join(Message, Message.channel_id == Channel.id)
                .where(Channel.community_id == community.id, Channel.external_id.in_(thread_ids)).distinct()))

    async def _know_openerless(self, community_id: int, threads: list[tuple[int, str]]) -> bool:
        """Remember threads as starting with no opening message (OpenerlessThread); True if any was not known. The
        messages already stored in them are noted as changed, for the processes following the corpus."""
        if not threads:
            return False
        async with self.db.sessions.begin() as session:
            new, ids = await know_openerless_threads(session, community_id, threads)
            if ids:
                await self.expertise.note_changes(session, community_id, ids)
        return bool(new)

    async def _stored_thread_roots(self, community_id: int, channel_ids: list[int]) -> dict[int, str]:
        """channel id -> external id of the thread root stored there (a root names its own thread)."""
        if not channel_ids:
            return {}
        async with self.db.sessions() as session:
            rows = (await session.execute(
                select(Message.channel_id, Message.external_id)
                .where(Message.community_id == community_id, Message.channel_id.in_(channel_ids),
                       Message.thread_external_id == Message.external_id)
                .order_by(Message.created_at)
            )).all()
        roots: dict[int, str] = {}
        for channel_id, external_id in rows:
            roots.setdefault(channel_id, external_id)
        return roots

    async def _store(self, community_id: int, incoming: list[IncomingMessage], report: ImportReport,
                     progress: ProgressFactory, *, changed: bool = False, reactions: Reactions = "add") -> None:
        """Store the messages; the corpus is loaded again and the ranking fitted if any changed (or `changed`).
        `reactions`: what their reactions tell (IngestService.store)."""
        incoming.sort(key=lambda m: m.created_at)
        changed = int(changed)
        # A large history goes in without the HNSW index, which is built once at the end (PostgreSQL).
        async with bulk_vector_load(self.db, len(incoming), memory_cap_mb=self.index_build_memory_mb):
            with progress(len(incoming), "importing") as advance:
                for start in range(0, len(incoming), CHUNK):
                    part = incoming[start : start + CHUNK]
                    shown = 0

                    def step(n: int, part_size: int = len(part)) -> None:  # as each batch is encoded
                        nonlocal shown
                        n = min(n, part_size - shown)
                        shown += n
                        advance(n)

                    result = await self.ingest.store(community_id, part, progress=step, reactions=reactions)
                    report.added += result.added
                    report.updated += result.updated
                    report.not_stored += result.skipped
                    report.embedded += result.embedded
                    changed += result.added + result.updated
                    advance(len(part) - shown)  # stored without encoding: known, bots', or no expertise
        if changed:
            self.expertise.forget_cache(community_id)
        if changed or not await self._fitted_before(community_id):  # a fit that failed is made by the next import
            with progress(1, "fitting the ranking on the community's answered threads") as advance:
                try:
                    report.fitted = await self.expertise.fit(community_id)
                except Exception as exc:  # noqa: BLE001 - the messages are stored; say so rather than fail the import
                    log.error("community %d: fitting the ranking failed (%s)", community_id, briefly(exc))
                    report.errors.append(f"fitting the ranking failed ({briefly(exc)}); the messages are stored, "
                                         "and importing again fits it")
                advance(1)

    async def _fitted_before(self, community_id: int) -> bool:
        async with self.db.sessions() as session:
            settings = await session.scalar(select(Community.settings).where(Community.id == community_id))
        return "ranking_fitted" in (settings or {})


def not_read(channel: Channel, *, listed_private: bool) -> bool:
    """Whether an import leaves a channel's messages out, as the live bot does not read it: an admin turned it off,
    or it is private (the live bot saw it so) and nobody turned it on. A private conversation the export itself lists
    as private is imported, as --include-private asked for it (unless turned off); a DiscordChatExporter file does
    not say a text channel is private, so what the live bot learnt of it counts."""
    if channel.ingest is not None:
        return not channel.ingest
    return not channel_ingested(channel) and not listed_private


def _read_channels_only(incoming: list[IncomingMessage], closed: set[int],
                        report: ImportReport) -> list[IncomingMessage]:
    """The messages of the channels read; those of channels not read (see not_read) are counted and said."""
    if not closed:
        return incoming
    kept = [m for m in incoming if m.channel_id not in closed]
    if left := len(incoming) - len(kept):
        report.not_read += left
        report.notes.append(f"{left} message(s) in {len(closed)} channel(s) not read here (turned off, or private "
                            "and not turned on) were not imported")
    return kept


async def _reached(session, community_id: int, until: float | None) -> None:  # noqa: ANN001
    """Keep how far the community's imports reached (`imported_until`, epoch seconds), if `until` is further."""
    if until is None:
        return
    community = await session.get(Community, community_id)
    settings = community.settings or {}
    if until > settings.get("imported_until", 0.0):
        community.settings = {**settings, "imported_until": until}
