"""command_sync: what an application's commands were last registered as

Discord's slash commands were registered again at every start, and Discord limits command creations (about 200 a
day per application or server): a crash loop could lock the bot out of its commands. A hash of the registered
payload is kept here, and a start registers them only when it changed.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "command_sync",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("application", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("synced_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_command_sync")),
        sa.UniqueConstraint("platform", "application", "scope",
                            name=op.f("uq_command_sync_platform_application_scope")),
    )


def downgrade() -> None:
    op.drop_table("command_sync")
