"""Resources: one row for a page's mobile, AMP and short addresses, and for a GitHub issue and its pull request

bot.urls.normalise_url now gives these one identity. Stored resources are keyed again by it, and those that now name
one page become one: the earliest keeps its row and takes the others' shares, saves and best title, and the digests
that featured any of them featured it. Without this, the next share of a page stored under its old key made a second
row, listed twice in a digest.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""
from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

import bot.db.types
from bot.urls import normalise_url

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

resource = sa.table("resource", sa.column("id", sa.Integer()), sa.column("community_id", sa.Integer()),
                    sa.column("url", sa.String()), sa.column("title", sa.String()),
                    sa.column("title_source", sa.Integer()),
                    sa.column("first_shared_at", bot.db.types.UTCDateTime(timezone=True)))
share = sa.table("resource_share", sa.column("id", sa.Integer()), sa.column("resource_id", sa.Integer()),
                 sa.column("message_id", sa.Integer()))
save = sa.table("resource_save", sa.column("id", sa.Integer()), sa.column("resource_id", sa.Integer()),
                sa.column("member_id", sa.Integer()))
digest_run = sa.table("digest_run", sa.column("id", sa.Integer()), sa.column("resource_ids", sa.JSON()))


def _move(conn: sa.Connection, table: sa.TableClause, key: str, source: int, target: int) -> None:
    """`source`'s rows of `table` to `target`, except those `target` has already (the same message, the same saver)."""
    have = sa.select(table.c[key]).where(table.c.resource_id == target).scalar_subquery()
    conn.execute(table.update().where(table.c.resource_id == source, table.c[key].not_in(have))
                 .values(resource_id=target))
    conn.execute(table.delete().where(table.c.resource_id == source))


def upgrade() -> None:
    conn = op.get_bind()
    groups: dict[tuple[int, str], list] = defaultdict(list)
    for row in conn.execute(sa.select(resource.c.id, resource.c.community_id, resource.c.url, resource.c.title,
                                      resource.c.title_source)
                            .order_by(resource.c.first_shared_at, resource.c.id)):
        groups[(row.community_id, normalise_url(row.url) or row.url)].append(row)
    merged: dict[int, int] = {}
    for (_, url), rows in groups.items():
        keep, *others = rows
        if not others and keep.url == url:
            continue
        best = max(rows, key=lambda r: r.title_source)  # the earliest of the best titles (rows are in share order)
        for other in others:
            _move(conn, share, "message_id", other.id, keep.id)
            _move(conn, save, "member_id", other.id, keep.id)
            conn.execute(resource.delete().where(resource.c.id == other.id))
            merged[other.id] = keep.id
        conn.execute(resource.update().where(resource.c.id == keep.id)
                     .values(url=url, title=best.title, title_source=best.title_source))
    if merged:
        for run_id, ids in conn.execute(sa.select(digest_run.c.id, digest_run.c.resource_ids)).all():
            if ids and any(i in merged for i in ids):
                again = list(dict.fromkeys(merged.get(i, i) for i in ids))
                conn.execute(digest_run.update().where(digest_run.c.id == run_id).values(resource_ids=again))


def downgrade() -> None:
    """Merged resources stay one: their shares cannot be told apart again."""
