"""channel.announcements: a Discord announcement channel, where replies to an announcement answer nobody

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN, not batch mode (see 0007: rebuilding a table on SQLite cascades deletions).
    op.add_column("channel", sa.Column("announcements", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("channel", "announcements")
