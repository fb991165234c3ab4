"""digest.paused: a digest whose channel was archived or deleted on the platform

Each period of a digest whose channel was archived (or deleted) was refused by the platform, tried every 10 minutes
20 times, and its admin told again every period. Such a digest is paused now (no period posted) until the channel is
unarchived.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("digest") as batch:
        batch.add_column(sa.Column("paused", sa.String(length=32), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("digest") as batch:
        batch.drop_column("paused")
