"""A digest channel set under an older release becomes a digest there

`settings digest-channel <channel>` stored a setting nothing read, so no digest was ever posted; it now schedules the
weekly digest there (ee8e1ec). A community that set it before keeps waiting for one: each such setting gets the digest
the command now makes (the default schedule, in the community's time zone; a digest already there keeps its own).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""
from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

DEFAULT_CRON = "0 9 * * mon"  # bot.services.digest_periods.DEFAULT_CRON when this was written


def _zone(name: object) -> str:
    if isinstance(name, str) and name:
        try:
            ZoneInfo(name)
            return name
        except (ValueError, KeyError, OSError):
            pass
    return "UTC"


def upgrade() -> None:
    community = sa.table("community", sa.column("id", sa.Integer()), sa.column("settings", sa.JSON()))
    digest = sa.table("digest", sa.column("community_id", sa.Integer()), sa.column("channel_external_id", sa.String()),
                      sa.column("cron", sa.String()), sa.column("timezone", sa.String()),
                      sa.column("created_at", bot.db.types.UTCDateTime(timezone=True)))
    conn = op.get_bind()
    have = {(c, ch) for c, ch in conn.execute(sa.select(digest.c.community_id, digest.c.channel_external_id))}
    now = datetime.now(UTC)
    for community_id, settings in conn.execute(sa.select(community.c.id, community.c.settings)):
        channel = (settings or {}).get("digest_channel") if isinstance(settings, dict) else None
        if not isinstance(channel, str) or not channel or len(channel) > 64 or (community_id, channel) in have:
            continue
        conn.execute(digest.insert().values(community_id=community_id, channel_external_id=channel,
                                            cron=DEFAULT_CRON, timezone=_zone(settings.get("timezone")),
                                            created_at=now))


def downgrade() -> None:
    """The digests stay: they are what the setting asked for."""
