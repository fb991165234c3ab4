"""intro.question_id and asker_id nullable (ON DELETE SET NULL); not_my_area.question_id (ON DELETE CASCADE)

A request an expert received outlives its asker: when the asker opts out or asks to be forgotten, their question
goes (and with it, before, the request: ON DELETE CASCADE), so their requests no longer counted against the
expert's weekly cap and one member could send an expert any number of requests. The request now stays, with
neither the question nor who asked.

An expert's "not my area" topic is the text of the question they turned down, the asker's words: it now names
that question and goes with it. Existing topics are matched to their question; a topic whose question is gone
holds the words of a member who opted out or was forgotten (the only way a question goes), and is removed.

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

# The intro turned down as "not my area" whose question's text (as decide() stored it, 4000 characters) is the topic.
_QUESTION_OF_TOPIC = """
UPDATE not_my_area SET question_id = (
    SELECT min(question.id) FROM intro JOIN question ON question.id = intro.question_id
    WHERE intro.expert_id = not_my_area.member_id AND intro.state = 'not_my_area'
      AND substr(question.text, 1, 4000) = not_my_area.topic)
"""


def _intro_links(ondelete: str, nullable: bool) -> None:
    # Batch mode: SQLite changes a column's nullability and foreign keys only by rebuilding the table. Nothing
    # refers to intro or not_my_area, so dropping an old table deletes nothing else (and migrations run with
    # foreign keys off).
    with op.batch_alter_table("intro") as batch_op:
        for column, target in (("question_id", "question"), ("asker_id", "member")):
            name = f"fk_intro_{column}_{target}"
            batch_op.drop_constraint(name, type_="foreignkey")
            batch_op.alter_column(column, existing_type=sa.Integer(), nullable=nullable)
            batch_op.create_foreign_key(name, target, [column], ["id"], ondelete=ondelete)


def upgrade() -> None:
    _intro_links("SET NULL", nullable=True)
    op.add_column("not_my_area", sa.Column("question_id", sa.Integer(), nullable=True))
    op.execute(sa.text(_QUESTION_OF_TOPIC))
    op.execute(sa.text("DELETE FROM not_my_area WHERE question_id IS NULL"))
    with op.batch_alter_table("not_my_area") as batch_op:
        batch_op.alter_column("question_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(op.f("fk_not_my_area_question_id_question"), "question", ["question_id"], ["id"],
                                    ondelete="CASCADE")
        batch_op.create_index(op.f("ix_not_my_area_question_id"), ["question_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("not_my_area") as batch_op:
        batch_op.drop_index(op.f("ix_not_my_area_question_id"))
        batch_op.drop_constraint(op.f("fk_not_my_area_question_id_question"), type_="foreignkey")
        batch_op.drop_column("question_id")
    # A request whose asker is gone has no place in the old schema.
    op.execute(sa.text("DELETE FROM intro WHERE question_id IS NULL OR asker_id IS NULL"))
    _intro_links("CASCADE", nullable=False)
