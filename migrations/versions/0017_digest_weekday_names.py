"""digest.cron: weekday numbers stored before 0017 become the day names they were posted on

Digest schedules are read as cron reads them from 0017 on (0 or 7 Sunday, 1 Monday). Before, APScheduler 3 read
weekday numbers from Monday (0 Monday): "0 9 * * 1" was announced, and posted, for Tuesdays. A schedule stored then
keeps the days it was announced and posted on, written as names ("0 9 * * tue"), which both readings agree on.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def posted_on(weekday_field: str) -> str | None:
    """The day names APScheduler 3's from_crontab read in a weekday field (its own reading, asked of it); None
    where it holds no number (names were read alike) or did not parse."""
    from apscheduler.triggers.cron import CronTrigger

    if not any(ch.isdigit() for ch in weekday_field):
        return None
    try:
        trigger = CronTrigger.from_crontab(f"0 0 * * {weekday_field}", timezone=UTC)
    except ValueError:
        return None
    monday = datetime(2024, 1, 1, tzinfo=UTC)
    days = [name for offset, name in enumerate(_NAMES)
            if trigger.get_next_fire_time(None, monday + timedelta(days=offset) - timedelta(seconds=1))
            == monday + timedelta(days=offset)]
    return ",".join(days) if days and len(days) < 7 else "*"


def upgrade() -> None:
    table = sa.table("digest", sa.column("id", sa.Integer()), sa.column("cron", sa.String()))
    bind = op.get_bind()
    changes = []
    for digest_id, cron in bind.execute(sa.select(table.c.id, table.c.cron)).all():
        fields = (cron or "").split()
        if len(fields) == 5 and (days := posted_on(fields[4])) is not None:
            changes.append({"row_id": digest_id, "cron": " ".join([*fields[:4], days])})
    if changes:
        bind.execute(table.update().where(table.c.id == sa.bindparam("row_id")), changes)


def downgrade() -> None:
    pass  # day names read alike before and after
