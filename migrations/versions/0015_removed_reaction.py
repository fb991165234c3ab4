"""removed_reaction: reactions taken back on the platform, seen live

An export made before a reaction was taken back still lists it: importing it brought the reaction back (messages
deleted live have deleted_message for the same reason). Kept by the message's key (channel, external id), as the
message may not be stored yet, until the reaction is given again.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "removed_reaction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("message_external_id", sa.String(length=64), nullable=False),
        sa.Column("user_external_id", bot.db.types.CleanString(length=64), nullable=False),
        sa.Column("name", bot.db.types.CleanString(length=100), nullable=False),
        sa.Column("removed_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"],
                                name=op.f("fk_removed_reaction_community_id_community"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["channel_id"], ["channel.id"], name=op.f("fk_removed_reaction_channel_id_channel"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_removed_reaction")),
        sa.UniqueConstraint("channel_id", "message_external_id", "user_external_id", "name",
                            name=op.f("uq_removed_reaction_channel_id_message_external_id_user_external_id_name")),
    )
    op.create_index(op.f("ix_removed_reaction_community_id"), "removed_reaction", ["community_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_removed_reaction_community_id"), table_name="removed_reaction")
    op.drop_table("removed_reaction")
