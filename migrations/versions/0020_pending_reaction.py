"""pending_reaction: reactions given live to a message not stored yet

Replicas (Slack HTTP behind a load balancer, Discord) handle a message and the reaction sent right after it side by
side; the message waits on its author's name and its embedding before it is stored, and the reaction found no
message and was lost. Kept by the message's key (channel, external id), as removed_reaction is, until the message is
stored (then it is the message's reaction), it is taken back, or a day has passed.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_reaction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("message_external_id", sa.String(length=64), nullable=False),
        sa.Column("user_external_id", bot.db.types.CleanString(length=64), nullable=False),
        sa.Column("name", bot.db.types.CleanString(length=100), nullable=False),
        sa.Column("given_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"],
                                name=op.f("fk_pending_reaction_community_id_community"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["channel_id"], ["channel.id"], name=op.f("fk_pending_reaction_channel_id_channel"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_reaction")),
        sa.UniqueConstraint("channel_id", "message_external_id", "user_external_id", "name",
                            name=op.f("uq_pending_reaction_channel_id_message_external_id_user_external_id_name")),
    )
    op.create_index(op.f("ix_pending_reaction_community_id"), "pending_reaction", ["community_id"])
    op.create_index(op.f("ix_pending_reaction_given_at"), "pending_reaction", ["given_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_pending_reaction_given_at"), table_name="pending_reaction")
    op.drop_index(op.f("ix_pending_reaction_community_id"), table_name="pending_reaction")
    op.drop_table("pending_reaction")
