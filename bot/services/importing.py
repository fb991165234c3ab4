"""History backfill: an export read, stored through the ingest service, then ranking fitted."""
from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from bot.db.engine import Database
from bot.importers.report import ImportReport
from bot.importers.slack_export import SlackExport, message_author
from bot.importers.source import DamagedFile
from bot.repo import ensure_channel, ensure_community, ensure_members_bulk
from bot.services.expertise import ExpertiseService
from bot.services.ingest import IncomingMessage, IngestService

log = logging.getLogger(__name__)

ProgressFactory = Callable[[int, str], AbstractContextManager[Callable[[int], None]]]

CHUNK = 4000


def no_progress(total: int, label: str) -> AbstractContextManager[Callable[[int], None]]:
    return nullcontext(lambda n: None)


class ImportService:
    def __init__(self, db: Database, ingest: IngestService, expertise: ExpertiseService) -> None:
        self.db = db
        self.ingest = ingest
        self.expertise = expertise

    async def import_slack(self, path: Path, *, team: str | None = None, include_private: bool = False,
                           progress: ProgressFactory = no_progress) -> ImportReport:
        export = SlackExport(path, team=team, include_private=include_private)
        report = export.report
        try:
            try:
                people = export.read_users()
            except DamagedFile as exc:
                report.errors.append(str(exc))
                return report
            channels = export.read_channels()
            raw = {ch["id"]: export.read_messages(ch, people) for ch in channels}
        finally:
            export.source.close()
        report.community = f"slack:{export.team}"
        async with self.db.sessions.begin() as session:
            community = await ensure_community(session, "slack", export.team)
            member_ids = await ensure_members_bulk(session, community.id, people)
            channel_ids = {}
            for ch in channels:
                row = await ensure_channel(session, community.id, ch["id"], name=ch["name"],
                                           is_private=ch["is_private"])
                channel_ids[ch["id"]] = row.id
        incoming: list[IncomingMessage] = [
            export.to_incoming(m, channel_ids[ch_ext], ch_ext, member_ids, message_author(m))
            for ch_ext, msgs in raw.items() for m in msgs
        ]
        await self._store(community.id, incoming, report, progress)
        return report

    async def _store(self, community_id: int, incoming: list[IncomingMessage], report: ImportReport,
                     progress: ProgressFactory) -> None:
        incoming.sort(key=lambda m: m.created_at)
        with progress(len(incoming), "importing") as advance:
            for start in range(0, len(incoming), CHUNK):
                part = incoming[start : start + CHUNK]
                result = await self.ingest.store(community_id, part, progress=None)
                report.added += result.added
                report.updated += result.updated
                report.skipped += result.skipped
                report.embedded += result.embedded
                advance(len(part))
        if report.added or report.updated:
            self.expertise.forget_cache(community_id)
            report.fitted = await self.expertise.fit(community_id)
