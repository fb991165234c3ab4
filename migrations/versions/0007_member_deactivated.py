"""member.deactivated: the platform deactivated the account (an export's "deleted")

Kept apart from available_for_intros, which members set themselves: each export says anew who is
deactivated, and a member's own pause of intros is never touched by it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN on both databases. Not batch mode: on SQLite it rebuilds the table, and dropping the
    # old member table (foreign keys on, ON DELETE CASCADE) deleted every message.
    op.add_column("member", sa.Column("deactivated", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("member", "deactivated")
