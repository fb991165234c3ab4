"""outbox_action: what a platform is to be told that no running bot could send when it was made

`connective forget` ran where the platform's token is not set could not send what /forget-me tells the platform (the
intro requests the member sent, edited to drop their question; the next expert offered to askers waiting on them):
it only counted them. It keeps them here now, and the running bot sends them.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_action",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"],
                                name=op.f("fk_outbox_action_community_id_community"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_action")),
    )
    for column in ("community_id", "due_at"):
        op.create_index(op.f(f"ix_outbox_action_{column}"), "outbox_action", [column])


def downgrade() -> None:
    for column in ("due_at", "community_id"):
        op.drop_index(op.f(f"ix_outbox_action_{column}"), table_name="outbox_action")
    op.drop_table("outbox_action")
