"""openerless_thread.opener_gone: the message that asked in a thread with no opening message is gone

Deleted, or its author opted out or asked to be forgotten: the thread then has no question, as a thread started
from a member's message that is gone has none. Before, its next message (an answer) was taken as the question.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN, not batch mode (see 0007: rebuilding a table on SQLite cascades deletions).
    op.add_column("openerless_thread",
                  sa.Column("opener_gone", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("openerless_thread", "opener_gone")
