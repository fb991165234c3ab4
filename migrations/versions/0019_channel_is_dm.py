"""channel.is_dm: a direct conversation (a DM with the bot, a group DM it was added to) is never read

An admin could turn a group DM on with `settings ingest <id> on` once the bot had seen it (it was only private), and
its members' messages went into the shared corpus and were quoted as evidence. Group DMs the bot knows by their
Slack names ("mpdm-ana--ben-1", private) are marked so here; the rest are marked when a message shows them.
What was read from one so marked (an admin had turned it on) goes.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""
from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("channel", sa.Column("is_dm", sa.Boolean(), nullable=False, server_default=sa.false()))
    channel = sa.table("channel", sa.column("is_dm", sa.Boolean()), sa.column("is_private", sa.Boolean()),
                       sa.column("name", sa.String()), sa.column("community_id", sa.Integer()))
    community = sa.table("community", sa.column("id", sa.Integer()), sa.column("platform", sa.String()))
    slack = sa.select(community.c.id).where(community.c.platform == "slack")
    op.execute(channel.update().where(channel.c.is_private.is_(True), channel.c.name.like("mpdm-%"),
                                      channel.c.community_id.in_(slack)).values(is_dm=True))
    _forget_what_was_read_from_group_dms()


def _forget_what_was_read_from_group_dms() -> None:
    """What an older release read from a group DM an admin had turned on goes: marked, it is no longer read, and its
    members' messages stayed in the corpus, counted for who knows what and cited ("wrote about it in a private
    channel"). Each is a corpus change, as a deleted message is. Their vectors, reactions and link shares go by hand (SQLite migrates with foreign keys off), and a
    resource left with no share and no save goes, as after an opt-out (resources.shares_removed)."""
    channel = sa.table("channel", sa.column("id", sa.Integer()), sa.column("is_dm", sa.Boolean()))
    message = sa.table("message", sa.column("id", sa.Integer()), sa.column("channel_id", sa.Integer()),
                       sa.column("community_id", sa.Integer()))
    by_message = {name: sa.table(name, sa.column("message_id", sa.Integer()))
                  for name in ("message_vector", "reaction")}
    share = sa.table("resource_share", sa.column("id", sa.Integer()), sa.column("message_id", sa.Integer()),
                     sa.column("resource_id", sa.Integer()))
    save = sa.table("resource_save", sa.column("id", sa.Integer()), sa.column("resource_id", sa.Integer()))
    resource = sa.table("resource", sa.column("id", sa.Integer()), sa.column("first_message_id", sa.Integer()))
    change = sa.table("corpus_change", sa.column("community_id", sa.Integer()), sa.column("message_id", sa.Integer()),
                      sa.column("created_at", bot.db.types.UTCDateTime(timezone=True)))
    conn = op.get_bind()
    found = conn.execute(sa.select(message.c.id, message.c.community_id).where(
        message.c.channel_id.in_(sa.select(channel.c.id).where(channel.c.is_dm.is_(True))))).all()
    ids = [mid for mid, _ in found]
    if found:  # processes running meanwhile (a rolling deploy) drop them from their corpus too
        now = datetime.now(UTC)
        conn.execute(change.insert(), [{"community_id": c, "message_id": mid, "created_at": now} for mid, c in found])
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        shared = list(conn.scalars(sa.select(share.c.resource_id).where(share.c.message_id.in_(part)).distinct()))
        for table in by_message.values():
            conn.execute(table.delete().where(table.c.message_id.in_(part)))
        conn.execute(share.delete().where(share.c.message_id.in_(part)))
        conn.execute(resource.update().where(resource.c.first_message_id.in_(part)).values(first_message_id=None))
        conn.execute(message.delete().where(message.c.id.in_(part)))
        if shared:
            conn.execute(resource.delete().where(
                resource.c.id.in_(shared), ~sa.select(share.c.id).where(share.c.resource_id == resource.c.id).exists(),
                ~sa.select(save.c.id).where(save.c.resource_id == resource.c.id).exists()))


def downgrade() -> None:
    with op.batch_alter_table("channel") as batch_op:
        batch_op.drop_column("is_dm")
