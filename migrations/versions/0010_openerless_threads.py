"""openerless_thread: the threads known to start with no opening message, whose first message asks

A Discord thread started on its own, a private thread, a forum post, a thread started from a bot's message.
A thread started from a member's message that is gone (deleted, never stored) has none: nobody asked in it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "openerless_thread",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("thread_external_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["channel_id"], ["channel.id"], name=op.f("fk_openerless_thread_channel_id_channel"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"],
                                name=op.f("fk_openerless_thread_community_id_community"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_openerless_thread")),
        sa.UniqueConstraint("community_id", "channel_id", "thread_external_id",
                            name=op.f("uq_openerless_thread_community_id_channel_id_thread_external_id")),
    )


def downgrade() -> None:
    op.drop_table("openerless_thread")
