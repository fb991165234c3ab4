"""pairing: whether the pair was introduced, and the introduction's retries

A mentoring round's introductions were sent once: one that failed (a Slack error, Discord DMs closed, the process
stopped mid-round) left that pair never introduced. Each pairing now records when it was introduced, when its next
attempt is due, how many there were and whether it was given up; and what the introduction says (the mentor's topic
for each shared one, the shared working hours), so a retried one says the same. Pairings made before this release
were introduced as they were (or never will be): they are marked introduced when they were made, and never sent
again.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pairing") as batch_op:
        batch_op.add_column(sa.Column("taught", sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
        batch_op.add_column(sa.Column("overlap_hours", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("introduced_at", bot.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("intro_due_at", bot.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("intro_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False))
        batch_op.add_column(sa.Column("intro_given_up_at", bot.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("intro_error", sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f("ix_pairing_intro_due_at"), ["intro_due_at"], unique=False)
    pairing = sa.table("pairing", sa.column("created_at", bot.db.types.UTCDateTime(timezone=True)),
                       sa.column("introduced_at", bot.db.types.UTCDateTime(timezone=True)),
                       sa.column("intro_attempts", sa.Integer()))
    op.execute(pairing.update().values(introduced_at=pairing.c.created_at, intro_attempts=1))


def downgrade() -> None:
    with op.batch_alter_table("pairing") as batch_op:
        batch_op.drop_index(batch_op.f("ix_pairing_intro_due_at"))
        for name in ("intro_error", "intro_given_up_at", "intro_attempts", "intro_due_at", "introduced_at",
                     "overlap_hours", "taught"):
            batch_op.drop_column(name)
