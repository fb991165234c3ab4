"""inbox_event: Events API deliveries kept from their ack until they are handled; processed_event.done_at

Slack does not send an acknowledged event again. One acknowledged by a process that died before handling it (SIGKILL,
an OOM kill, a lost node, a crash) was lost: a message never stored, a deleted one never removed. The adapter writes
the event here before the ack; it is removed once handled, and a sweep handles those left behind (bot.inbox).
processed_event.done_at tells an event handled to the end from one whose handling was cut off.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("community", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("leased_until", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("set_aside_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_event")),
        sa.UniqueConstraint("platform", "community", "event_id",
                            name=op.f("uq_inbox_event_platform_community_event_id")),
    )
    op.create_index(op.f("ix_inbox_event_received_at"), "inbox_event", ["received_at"])
    op.add_column("processed_event", sa.Column("done_at", bot.db.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("processed_event") as batch_op:
        batch_op.drop_column("done_at")
    op.drop_index(op.f("ix_inbox_event_received_at"), table_name="inbox_event")
    op.drop_table("inbox_event")
