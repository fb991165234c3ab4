"""intro.question_id and intro.asker_id: nullable, ON DELETE SET NULL

A request an expert received outlives its asker: when the asker opts out or asks to be forgotten, their question
goes (and with it, before, the request: ON DELETE CASCADE), so their requests no longer counted against the
expert's weekly cap and one member could send an expert any number of requests. The request now stays, with
neither the question nor who asked.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _links(ondelete: str, nullable: bool) -> None:
    # Batch mode: SQLite changes a column's nullability and foreign keys only by rebuilding the table. Nothing
    # refers to intro, so dropping the old table deletes nothing else (and migrations run with foreign keys off).
    with op.batch_alter_table("intro") as batch_op:
        for column, target in (("question_id", "question"), ("asker_id", "member")):
            name = f"fk_intro_{column}_{target}"
            batch_op.drop_constraint(name, type_="foreignkey")
            batch_op.alter_column(column, existing_type=sa.Integer(), nullable=nullable)
            batch_op.create_foreign_key(name, target, [column], ["id"], ondelete=ondelete)


def upgrade() -> None:
    _links("SET NULL", nullable=True)


def downgrade() -> None:
    # A request whose asker is gone has no place in the old schema.
    op.execute(sa.text("DELETE FROM intro WHERE question_id IS NULL OR asker_id IS NULL"))
    _links("CASCADE", nullable=False)
