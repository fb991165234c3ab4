"""pairing_round.cancel_reason: why a warned round did not run

A mentoring round members were warned of, whose time came while the bot was down or out of the server (a Discord
server that removed the bot) until the next round of the schedule was due, never ran and nobody was told: it stayed
warned and pending for good. Such a round is now closed as missed (cancelled_at, cancel_reason "missed") and each
warned member is told; a round cancelled because rounds were switched off says "off". `connective pairs stats` shows
which. Rows cancelled before this revision were all switched off.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pairing_round") as batch:
        batch.add_column(sa.Column("cancel_reason", sa.String(length=16), nullable=True))
    op.execute("UPDATE pairing_round SET cancel_reason = 'off' WHERE cancelled_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("pairing_round") as batch:
        batch.drop_column("cancel_reason")
