"""corpus_change: what each replica's in-memory corpus follows; deleted_message: what imports skip

corpus_change: messages stored, edited or deleted, and members' messages removed, by any replica or process
sharing the database (see bot.services.changes). Rows are kept for a day.
deleted_message: messages deleted on the platform, so that re-importing an older export does not bring them
back.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "corpus_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("created_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"],
                                name=op.f("fk_corpus_change_community_id_community"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corpus_change")),
    )
    op.create_index("ix_corpus_change_community_id_id", "corpus_change", ["community_id", "id"])
    op.create_index(op.f("ix_corpus_change_created_at"), "corpus_change", ["created_at"])
    op.create_table(
        "deleted_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["channel_id"], ["channel.id"], name=op.f("fk_deleted_message_channel_id_channel"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"],
                                name=op.f("fk_deleted_message_community_id_community"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deleted_message")),
        sa.UniqueConstraint("community_id", "channel_id", "external_id",
                            name=op.f("uq_deleted_message_community_id_channel_id_external_id")),
    )


def downgrade() -> None:
    op.drop_table("deleted_message")
    op.drop_index(op.f("ix_corpus_change_created_at"), table_name="corpus_change")
    op.drop_index("ix_corpus_change_community_id_id", table_name="corpus_change")
    op.drop_table("corpus_change")
