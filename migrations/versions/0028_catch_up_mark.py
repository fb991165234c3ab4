"""catch_up_mark: how far a community's history is in hand, and the catch-up under way

Every Socket Mode hello of every replica (Slack reconnects every few hours) fetched each channel's history again,
from the newest message stored there, and all replicas at once after a deploy: conversations.history is rate-limited
(Tier 3). One row a community keeps until when everything said was delivered live or fetched, and which process is
catching up now, so that a downtime is caught up once, from where it began.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catch_up_mark",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("community", sa.String(length=64), nullable=False),
        sa.Column("covered_until", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("held_by", sa.String(length=64), nullable=True),
        sa.Column("held_until", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catch_up_mark")),
        sa.UniqueConstraint("platform", "community", name=op.f("uq_catch_up_mark_platform_community")),
    )


def downgrade() -> None:
    op.drop_table("catch_up_mark")
