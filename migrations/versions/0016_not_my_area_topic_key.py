"""not_my_area.topic_key: a topic is once per member by the digest of its text, not by the text

The unique constraint on (member_id, topic) indexed the topic itself, a question's text of up to 4,000 characters.
PostgreSQL holds at most 2,704 bytes in an index entry: "Not my area" on a long question (a pasted log, or 900
characters of a script of three bytes each) failed there, and the expert's answer was lost. The constraint is now
on (member_id, topic_key), the SHA-256 of the text in hex (bot.db.intros.topic_key); existing rows get theirs here.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""
from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# Longest topic the old constraint is sure to index on PostgreSQL (4 bytes a character, under 2,704 bytes).
_OLD_INDEXABLE = 600


def _key(topic: str) -> str:
    # As bot.db.intros.topic_key; written out, so that this migration keeps what it did when that one changes.
    return hashlib.sha256(topic.encode("utf-8", "surrogatepass")).hexdigest()


def upgrade() -> None:
    op.add_column("not_my_area", sa.Column("topic_key", sa.String(length=64), nullable=True))
    table = sa.table("not_my_area", sa.column("id", sa.Integer()), sa.column("topic", sa.Text()),
                     sa.column("topic_key", sa.String()))
    bind = op.get_bind()
    rows = bind.execute(sa.select(table.c.id, table.c.topic)).all()
    if rows:
        bind.execute(table.update().where(table.c.id == sa.bindparam("row_id")),
                     [{"row_id": row_id, "topic_key": _key(topic)} for row_id, topic in rows])
    # Batch mode: SQLite changes nullability and constraints only by rebuilding the table; nothing refers to
    # not_my_area, so the rebuild deletes nothing else.
    with op.batch_alter_table("not_my_area") as batch_op:
        batch_op.alter_column("topic_key", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_constraint(op.f("uq_not_my_area_member_id_topic"), type_="unique")
        batch_op.create_unique_constraint(op.f("uq_not_my_area_member_id_topic_key"), ["member_id", "topic_key"])


def downgrade() -> None:
    # The old constraint cannot index long topics on PostgreSQL: those go (the expert is suggested for them again).
    op.execute(sa.text(f"DELETE FROM not_my_area WHERE length(topic) > {_OLD_INDEXABLE}"))
    with op.batch_alter_table("not_my_area") as batch_op:
        batch_op.drop_constraint(op.f("uq_not_my_area_member_id_topic_key"), type_="unique")
        batch_op.create_unique_constraint(op.f("uq_not_my_area_member_id_topic"), ["member_id", "topic"])
        batch_op.drop_column("topic_key")
