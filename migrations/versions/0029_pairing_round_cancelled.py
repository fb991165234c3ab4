"""pairing_round.cancelled_at: a warned round that will not run

Members warned of a mentoring round ("the next round is Tue 10:00, skip it if you like") heard nothing more when an
admin switched rounds off before it ran (`connective pairs schedule --off`): they waited for a pair that never came.
At its time, such a round is now cancelled (it never runs, even if rounds are switched on again later) and each
warned member is told, once (a mentoring_notice of kind "cancelled", 0027).

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pairing_round") as batch_op:
        batch_op.add_column(sa.Column("cancelled_at", bot.db.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pairing_round") as batch_op:
        batch_op.drop_column("cancelled_at")
