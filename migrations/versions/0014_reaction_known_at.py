"""reaction.known_at: when a reaction was last known to be there

An export lists each message's reactions as they were when it was made, and a later one takes away those it no
longer lists (a reaction taken back on the platform). Without knowing when a stored reaction was known, it also took
away reactions given live after the export was made, and those a later-made file of the same import listed. Live
reactions are known when they are stored; imported ones as of their export. Reactions stored before this revision
are of no known time (NULL) and no export takes them away.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reaction", sa.Column("known_at", bot.db.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reaction") as batch_op:
        batch_op.drop_column("known_at")
