"""digest_run.posted: a posted digest as it went out, and whom each of its entries names

A member forgotten (/forget-me, connective forget) or opted out was still quoted and named in the digests already
posted in channels ("questions still waiting": their question and name; a resource: "shared by" them, their note). The
post is kept with the period now, so that it can be edited without their entries (bot.services.digest_unquote).

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("digest_run") as batch:
        batch.add_column(sa.Column("posted", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("digest_run") as batch:
        batch.drop_column("posted")
