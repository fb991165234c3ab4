"""The domain model. Every row belongs to one community; every query filters by it."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base
from bot.db.types import CleanString, Embedding, UTCDateTime
from bot.events import utcnow

CASCADE = "CASCADE"


class Community(Base):
    __tablename__ = "community"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(CleanString(200), default="")
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Member(Base):
    __tablename__ = "member"
    __table_args__ = (UniqueConstraint("community_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete=CASCADE), index=True)
    external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(CleanString(200), default="")
    timezone: Mapped[str | None] = mapped_column(CleanString(64))
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    profiling_consent: Mapped[bool] = mapped_column(Boolean, default=True)
    available_for_intros: Mapped[bool] = mapped_column(Boolean, default=True)  # the member's own choice
    # The platform deactivated the account (an export's "deleted"): kept for history, never suggested.
    deactivated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    weekly_intro_cap: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When they last opted back in (/optin after /optout or /forget-me): what they said before then, and their
    # reactions an export made before then lists, were deleted or never stored, and are not stored now.
    opted_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Channel(Base):
    __tablename__ = "channel"
    __table_args__ = (UniqueConstraint("community_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete=CASCADE), index=True)
    external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(CleanString(200), default="")
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)
    # None: follow the default (public channels yes, private channels and DMs no); an admin may set it.
    ingest: Mapped[bool | None] = mapped_column(Boolean)
    # A direct conversation (a DM with the bot, a group DM it was added to): never read, whatever `ingest` says. Its
    # members talk to each other, not to a community (migration 0019).
    is_dm: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # An announcement channel (Discord's kind 5): an announcement is no question, so replies to it (in its thread,
    # or Discord replies) answer nobody; nothing said here counts as asking or answering.
    announcements: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Message(Base):
    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("community_id", "channel_id", "external_id"),
        Index("ix_message_community_thread", "community_id", "channel_id", "thread_external_id"),
        Index("ix_message_community_created", "community_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete=CASCADE))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id", ondelete=CASCADE))
    author_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete=CASCADE), index=True)
    external_id: Mapped[str] = mapped_column(String(64))
    # The external id of the thread root (equal to external_id on a root); None outside threads.
    thread_external_id: Mapped[str | None] = mapped_column(String(64))
    # Discord-style replies: the message this one answers.
    reply_to_external_id: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    permalink: Mapped[str | None] = mapped_column(String(500))


class CorpusChange(Base):
    """A message stored, edited or deleted (`message_id`), or a member's messages removed (no message id):
    what every replica's in-memory corpus follows (ExpertiseService.sync). Kept for a day."""

    __tablename__ = "corpus_change"
    __table_args__ = (Index("ix_corpus_change_community_id_id", "community_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete=CASCADE))
    message_id: Mapped[int | None] = mapped_column(Integer)  # no foreign key: a deleted message is a change too
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class DeletedMessage(Base):
    """A message deleted on the platform, or by its author's /optout or /forget-me: a later import of an export
    made before the deletion (or after they opted back in) must not bring it back (the key is Message's)."""

    __tablename__ = "deleted_message"
    __table_args__ = (UniqueConstraint("community_id", "channel_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete=CASCADE))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id", ondelete=CASCADE))
    external_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OpenerlessThread(Base):
    """A thread known to start with no opening message of its own, so that its first member's message asks (see
    bot.services.expertise.thread_openers): a Discord thread started on its own (its parent got a "started a
    thread" notice naming it), a private thread, a forum post, a thread started from a bot's message. The key is
    the thread's (channel, thread_external_id) as its messages are stored. A thread started from a member's
    message has none: when that message is gone (deleted, never stored), nobody asked in it. Nor has one whose
    first member's message is gone (`opener_gone`: deleted, its author opted out or forgotten): the next message
    answered it, and is no question."""

    __tablename__ = "openerless_thread"
    __table_args__ = (UniqueConstraint("community_id", "channel_id", "thread_external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete=CASCADE))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id", ondelete=CASCADE))
    thread_external_id: Mapped[str] = mapped_column(String(64))
    opener_gone: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Reaction(Base):
    __tablename__ = "reaction"
    __table_args__ = (UniqueConstraint("message_id", "user_external_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete=CASCADE), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete=CASCADE), index=True)
    user_external_id: Mapped[str] = mapped_column(CleanString(64))
    name: Mapped[str] = mapped_column(CleanString(100))
    # When it was last known to be there: stored live, or as of the export that listed it (an export takes away
    # only what it was made after). NULL: stored before this was kept, never taken away by an export.
    known_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)


class RemovedReaction(Base):
    """A reaction taken back on the platform, seen live: an export made before (`removed_at`) still lists it, and must
    not bring it back. Kept by the message's key, as DeletedMessage is: the message may not be stored yet (the bot
    follows a community live before its history is imported). Given again, it is no longer removed. User "": a
    moderator took it away for everyone (Discord's reactions cleared: `name`'s, or with name "" every emoji's)."""

    __tablename__ = "removed_reaction"
    __table_args__ = (UniqueConstraint("channel_id", "message_external_id", "user_external_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete=CASCADE), index=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id", ondelete=CASCADE))
    message_external_id: Mapped[str] = mapped_column(String(64))
    user_external_id: Mapped[str] = mapped_column(CleanString(64))
    name: Mapped[str] = mapped_column(CleanString(100))
    removed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PendingReaction(Base):
    """A reaction given, seen live, to a message not stored yet: kept by the message's key and given to the message
    when it is stored (IngestService.store), here or by another process. Replicas handle a message and the reaction
    sent right after it side by side, and the message waits on its author's name and its embedding before it is
    stored. Taken back before that, it goes. Never kept for a member who opted out, nor for a channel not read;
    kept a day at most (PENDING_REACTION_HOURS): the message may never be stored (a bot's post, an opted-out
    author's)."""

    __tablename__ = "pending_reaction"
    __table_args__ = (UniqueConstraint("channel_id", "message_external_id", "user_external_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete=CASCADE), index=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id", ondelete=CASCADE))
    message_external_id: Mapped[str] = mapped_column(String(64))
    user_external_id: Mapped[str] = mapped_column(CleanString(64))
    name: Mapped[str] = mapped_column(CleanString(100))
    given_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class MessageVector(Base):
    __tablename__ = "message_vector"
    __table_args__ = (
        # Approximate nearest-neighbour search on PostgreSQL (pgvector); SQLite keeps plain bytes.
        Index("ix_message_vector_embedding_hnsw", "embedding", postgresql_using="hnsw",
              postgresql_ops={"embedding": "vector_cosine_ops"}).ddl_if(dialect="postgresql"),
    )

    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete=CASCADE), primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete=CASCADE), index=True)
    embedding: Mapped[np.ndarray] = mapped_column(Embedding)


class Skill(Base):
    __tablename__ = "skill"
    __table_args__ = (
        UniqueConstraint("member_id", "topic", "source", "endorsed_by_id"),
        # Once per member, topic in any case, source and endorser: the constraint above lets a declared skill (no
        # endorser: NULL, and NULLs are distinct) be stored as often as it is sent at once (audit 11).
        Index("uq_skill_once", "member_id", "source", func.lower(text("topic")),
              func.coalesce(text("endorsed_by_id"), 0), unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete=CASCADE), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete=CASCADE), index=True)
    topic: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16))  # "declared" | "endorsed"
    endorsed_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete=CASCADE))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Question(Base):
    __tablename__ = "question"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete=CASCADE), index=True)
    asker_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete=CASCADE), index=True)
    text: Mapped[str] = mapped_column(Text)
    channel_external_id: Mapped[str | None] = mapped_column(String(64))
    suggested: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProcessedEvent(Base):
    __tablename__ = "processed_event"
    __table_args__ = (UniqueConstraint("community_id", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete=CASCADE))
    event_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When an event kept in the inbox (bot.inbox) was handled to the end. A claim without it is under way, or was
    # abandoned by a process that died: the inbox takes such a claim over once it is old (bot.inbox.STALE_CLAIM).
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class InboxEvent(Base):
    """A platform event acknowledged and not handled yet (bot.inbox): written before the ack, removed once handled.
    Keyed by the platform's own ids, as the community row may not exist yet."""

    __tablename__ = "inbox_event"
    __table_args__ = (UniqueConstraint("platform", "community", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    community: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)  # the payload as JSON, without its secrets
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # replays by the sweep
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a sweep is replaying it until then
    set_aside_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # failed every replay: not tried again


class CommandSync(Base):
    """What an application's commands were last registered as, on a platform that limits registering them (Discord:
    about 200 command creations a day): a hash of the payload. A start registers them again only when it changed;
    at every start, a crash loop locked the bot out of its own commands. Keyed by the platform's own ids."""

    __tablename__ = "command_sync"
    __table_args__ = (UniqueConstraint("platform", "application", "scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    application: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(64))  # a server's id for its own commands; "" for global ones
    payload_hash: Mapped[str] = mapped_column(String(64))
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CatchUpMark(Base):
    """How far a community's history is known to be in hand (bot.services.catch_up_marks): everything said before
    `covered_until` was delivered live to a connected process or fetched by a finished catch-up; and the catch-up
    under way, if any (`held_by`, until `held_until`). Keyed by the platform's own ids."""

    __tablename__ = "catch_up_mark"
    __table_args__ = (UniqueConstraint("platform", "community"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    community: Mapped[str] = mapped_column(String(64))
    covered_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    held_by: Mapped[str | None] = mapped_column(String(64))
    held_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


# Feature modules add their tables here (one import each), so Alembic sees every model.
from bot.db import intros as _intros  # noqa: E402, F401
from bot.db import mentoring as _mentoring  # noqa: E402,F401  (mentoring pairs)
from bot.db import resources as _resources  # noqa: E402,F401


class OutboxAction(Base):
    """What the core wants a platform told that no running bot could send when it was made (bot.outbox): kept
    until a running bot of that platform sends it, retried, then given up. `connective forget` without the platform's
    token keeps what /forget-me would have sent here."""

    __tablename__ = "outbox_action"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete=CASCADE), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)  # the action as JSON (bot.outbox.encode)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)  # None: given up
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
