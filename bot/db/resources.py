"""Resources (links the community shared and saved) and digests (what gets posted, and when)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base
from bot.db.types import CleanString, UTCDateTime
from bot.events import utcnow

CASCADE = "CASCADE"
SET_NULL = "SET NULL"

# How a resource's title was learned; a better source replaces a worse one.
TITLE_FROM_URL, TITLE_FROM_TEXT, TITLE_FROM_LABEL, TITLE_FROM_UNFURL = 0, 1, 2, 3


class Resource(Base):
    """One link, however often and however written it was shared (`url` is the normalised identity)."""

    __tablename__ = "resource"
    __table_args__ = (UniqueConstraint("community_id", "url"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete=CASCADE), index=True)
    url: Mapped[str] = mapped_column(String(2048))  # normalised: the identity
    link: Mapped[str] = mapped_column(String(2048))  # cleaned, as first shared: what is shown
    title: Mapped[str] = mapped_column(CleanString(300), default="")
    title_source: Mapped[int] = mapped_column(Integer, default=TITLE_FROM_URL)
    first_sharer_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete=SET_NULL))
    first_message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id", ondelete=SET_NULL))
    first_shared_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ResourceShare(Base):
    """A message that carried the link (the first share and every re-share)."""

    __tablename__ = "resource_share"
    __table_args__ = (
        UniqueConstraint("resource_id", "message_id"),
        Index("ix_resource_share_community_shared", "community_id", "shared_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete=CASCADE))
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id", ondelete=CASCADE), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete=CASCADE), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete=CASCADE), index=True)
    shared_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ResourceSave(Base):
    """An explicit `/save URL [note]` by a member (bookmark reactions are read from the reactions)."""

    __tablename__ = "resource_save"
    __table_args__ = (
        UniqueConstraint("resource_id", "member_id"),
        Index("ix_resource_save_community_saved", "community_id", "saved_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete=CASCADE))
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id", ondelete=CASCADE), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete=CASCADE), index=True)
    note: Mapped[str] = mapped_column(String(500), default="")
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Digest(Base):
    """A channel's digest subscription: a cron schedule read in a time zone."""

    __tablename__ = "digest"
    __table_args__ = (UniqueConstraint("community_id", "channel_external_id"),)
    __mapper_args__ = {"eager_defaults": False}

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete=CASCADE), index=True)
    channel_external_id: Mapped[str] = mapped_column(String(64))
    cron: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete=SET_NULL))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Its channel archived or deleted on the platform (bot.events.ARCHIVED, DELETED): no period is posted until it is
    # unarchived (""). Migration 0032. A server default only, not read back at insert (eager_defaults): a digest
    # written to an older schema (the migration tests) never names it.
    paused: Mapped[str] = mapped_column(String(32), server_default="")


class DigestRun(Base):
    """One period of one digest. The unique (digest, period) row is what makes posting happen once:
    a scheduler claims it, marks it posting right before the post goes out, and posted (or empty, or
    failed) after; a period left posting, or failed after the post went out, is looked for in the
    channel before it is posted again (bot.services.digest_runs)."""

    __tablename__ = "digest_run"
    __table_args__ = (UniqueConstraint("digest_id", "period_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete=CASCADE), index=True)
    digest_id: Mapped[int] = mapped_column(ForeignKey("digest.id", ondelete=CASCADE), index=True)
    period_key: Mapped[str] = mapped_column(String(32))  # the tick in the digest's wall-clock time
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    # claimed | posting | posted | empty | failed | failed-posting | superseded
    state: Mapped[str] = mapped_column(String(16))
    claimed_by: Mapped[str] = mapped_column(String(64), default="")
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    resource_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    # The post as it went out, and whom each of its entries names (bot.services.digest_unquote): what it is edited from
    # when one of them is forgotten or opts out. None for periods posted before it was kept.
    posted: Mapped[dict | None] = mapped_column(JSON)
