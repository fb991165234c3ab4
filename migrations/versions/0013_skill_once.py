"""skill: once per member, topic (in any case), source and endorser

The unique constraint on (member_id, topic, source, endorsed_by_id) never fired for a declared skill, whose endorser
is NULL (NULLs are distinct on SQLite and PostgreSQL), nor across cases: the same /skills add sent several times at
once was stored as many times. Copies are removed (the oldest stays) and a unique index keeps them out.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text(
        "DELETE FROM skill WHERE id NOT IN (SELECT min(id) FROM skill "
        "GROUP BY member_id, source, lower(topic), coalesce(endorsed_by_id, 0))"))
    op.create_index("uq_skill_once", "skill",
                    ["member_id", "source", sa.text("lower(topic)"), sa.text("coalesce(endorsed_by_id, 0)")],
                    unique=True)


def downgrade() -> None:
    op.drop_index("uq_skill_once", table_name="skill")
