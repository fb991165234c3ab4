"""channel.is_dm: a direct conversation (a DM with the bot, a group DM it was added to) is never read

An admin could turn a group DM on with `settings ingest <id> on` once the bot had seen it (it was only private), and
its members' messages went into the shared corpus and were quoted as evidence. Group DMs the bot knows by their
Slack names ("mpdm-ana--ben-1", private) are marked so here; the rest are marked when a message shows them.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

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


def downgrade() -> None:
    with op.batch_alter_table("channel") as batch_op:
        batch_op.drop_column("is_dm")
