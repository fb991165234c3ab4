"""Mentoring topics and skills stored as one line of printable text

A topic (what a mentor teaches, what a mentee wants to learn) or a skill pasted with control characters kept them
where it was stored: a terminal escape ("\\x1b[31m") or a right-to-left override was shown to the member and in
`pairs plan`, and "post<zero-width space>gres" was a topic of its own. They are stored cleaned since (bot.safety.plain);
this cleans the ones stored before, as that does: escape sequences whole, other characters that are no printable
ones gone, any whitespace one space. A topic left empty goes; a skill that becomes one the member has already (same
source and endorser, in any case) goes, that one stays.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-08
"""
from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

# As bot.safety.plain read it at this revision (a migration keeps its own copy: that one may change).
_ESCAPE = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-~]?")


def _plain(text: str) -> str:
    text = _ESCAPE.sub("", text or "")
    return " ".join("".join(ch if ch.isprintable() else " " if ch.isspace() else "" for ch in text).split())


def _topics(topics: object) -> list[str] | None:
    """The cleaned list, or None when nothing changes (or it is no list of text: left as it is)."""
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        return None
    cleaned: list[str] = []
    for topic in topics:
        plain = _plain(topic).strip(" .")
        if plain and plain.lower() not in (t.lower() for t in cleaned):
            cleaned.append(plain)
    return None if cleaned == topics else cleaned


def upgrade() -> None:
    conn = op.get_bind()
    enrolment = sa.table("mentoring_enrolment", sa.column("id", sa.Integer), sa.column("can_teach", sa.JSON),
                         sa.column("wants_to_learn", sa.JSON))
    for row_id, teach, learn in conn.execute(sa.select(enrolment.c.id, enrolment.c.can_teach,
                                                       enrolment.c.wants_to_learn)).all():
        changed = {k: v for k, v in (("can_teach", _topics(teach)), ("wants_to_learn", _topics(learn))) if v is not None}
        if changed:
            conn.execute(enrolment.update().where(enrolment.c.id == row_id).values(**changed))

    skill = sa.table("skill", sa.column("id", sa.Integer), sa.column("member_id", sa.Integer),
                     sa.column("topic", sa.String), sa.column("source", sa.String),
                     sa.column("endorsed_by_id", sa.Integer))
    rows = conn.execute(sa.select(skill.c.id, skill.c.member_id, skill.c.topic, skill.c.source,
                                  skill.c.endorsed_by_id).order_by(skill.c.id)).all()
    kept = {(m, src, (topic or "").lower(), by or 0) for _, m, topic, src, by in rows}
    for row_id, member_id, topic, source, by in rows:
        plain = _plain(topic or "")[:200].strip()
        if plain == topic:
            continue
        key = (member_id, source, plain.lower(), by or 0)
        if not plain or key in kept:
            conn.execute(skill.delete().where(skill.c.id == row_id))
            continue
        conn.execute(skill.update().where(skill.c.id == row_id).values(topic=plain))
        kept.add(key)


def downgrade() -> None:
    pass  # what was removed was never shown as it was
