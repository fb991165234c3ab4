"""mentoring_notice: a round's direct messages to members, retried until they go out

A round's warning, its "no pair for you this round" and a pair's check-in were sent once: one that failed (a platform
error, the process stopped mid-round) was never sent again, and the member missed the round in silence, or waited for
a pair that never came. A member whose partner left before they were introduced was told nothing. Each such message is now a row, sent
once and retried as a pair's introduction is (0025).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mentoring_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("pairing_id", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("sent_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("given_up_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"],
                                name=op.f("fk_mentoring_notice_community_id_community"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"],
                                name=op.f("fk_mentoring_notice_member_id_member"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["round_id"], ["pairing_round.id"],
                                name=op.f("fk_mentoring_notice_round_id_pairing_round"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mentoring_notice")),
        sa.UniqueConstraint("round_id", "member_id", "kind", "pairing_id",
                            name=op.f("uq_mentoring_notice_round_id_member_id_kind_pairing_id")),
    )
    for column in ("community_id", "round_id", "member_id", "due_at"):
        op.create_index(op.f(f"ix_mentoring_notice_{column}"), "mentoring_notice", [column])


def downgrade() -> None:
    for column in ("due_at", "member_id", "round_id", "community_id"):
        op.drop_index(op.f(f"ix_mentoring_notice_{column}"), table_name="mentoring_notice")
    op.drop_table("mentoring_notice")
