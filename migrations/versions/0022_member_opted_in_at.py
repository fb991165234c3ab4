"""member.opted_in_at: when a member last opted back in

/optout and /forget-me delete the reactions the member gave; after /optin a re-import of an export made before
(which lists them) stored them again. What an export listed before the member opted back in is not stored.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("member", sa.Column("opted_in_at", bot.db.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("member") as batch_op:
        batch_op.drop_column("opted_in_at")
