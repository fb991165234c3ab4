"""intro.request_channel, intro.request_ref: where the request the expert received is, to change it later

A request's message keeps its buttons and the asker's words after the request expired or was withdrawn (its asker
opted out or asked to be forgotten). Kept from now, so such a message can be changed to say so, without the words.
Requests sent before this revision are of no known message (NULL): they stay as they are.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("intro", sa.Column("request_channel", sa.String(64), nullable=True))
    op.add_column("intro", sa.Column("request_ref", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("intro") as batch_op:
        batch_op.drop_column("request_ref")
        batch_op.drop_column("request_channel")
