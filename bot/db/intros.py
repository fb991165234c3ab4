"""Introductions (consent first) and the topics a member said are "not my area"."""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base
from bot.db.types import UTCDateTime
from bot.events import utcnow

CASCADE = "CASCADE"
SET_NULL = "SET NULL"
# The weekly intro cap counts the requests an expert received in this window.
INTRO_CAP_WINDOW = timedelta(days=7)
# What one asker may send: requests waiting for an answer at once, and requests in the cap window. Each request takes
# a place in its expert's weekly cap, so a member clicking every "Request intro" of question after question used up
# the community's experts for everyone else (security audit).
ASKER_OPEN_REQUESTS = 3
ASKER_WEEKLY_REQUESTS = 10


class IntroState(StrEnum):
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    NOT_MY_AREA = "not_my_area"
    EXPIRED = "expired"
    # The asker opted out or asked to be forgotten before the expert answered, or the expert opted out.
    WITHDRAWN = "withdrawn"


# The only moves an intro may make; every other transition is refused.
TRANSITIONS: dict[IntroState, frozenset[IntroState]] = {
    IntroState.REQUESTED: frozenset({IntroState.ACCEPTED, IntroState.DECLINED, IntroState.NOT_MY_AREA,
                                     IntroState.EXPIRED, IntroState.WITHDRAWN}),
    IntroState.ACCEPTED: frozenset(),
    IntroState.DECLINED: frozenset(),
    IntroState.NOT_MY_AREA: frozenset(),
    IntroState.EXPIRED: frozenset(),
    IntroState.WITHDRAWN: frozenset(),
}


class Intro(Base):
    __tablename__ = "intro"
    __table_args__ = (
        # One request per expert per question: a double click never asks twice.
        UniqueConstraint("question_id", "expert_id"),
        Index("ix_intro_state_expires", "state", "expires_at"),
        Index("ix_intro_expert_created", "expert_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete=CASCADE), index=True)
    # None once the asker opted out or was forgotten: their question goes, and who asked, but the request the
    # expert received stays, and counts against the expert's weekly cap.
    question_id: Mapped[int | None] = mapped_column(ForeignKey("question.id", ondelete=SET_NULL), index=True)
    asker_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete=SET_NULL), index=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete=CASCADE))
    state: Mapped[str] = mapped_column(String(16), default=IntroState.REQUESTED.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The request's message in the expert's DM (its channel, and its id there: a Slack ts, a Discord message id), as
    # the adapter reported it (Core.delivered): changed when the request expires or is withdrawn. None before it is
    # sent, and for requests sent before migration 0018.
    request_channel: Mapped[str | None] = mapped_column(String(64))
    request_ref: Mapped[str | None] = mapped_column(String(64))


class NotMyArea(Base):
    """A topic an expert turned down as "not my area": ranking lowers them for similar questions."""

    __tablename__ = "not_my_area"
    # Once per member and topic, by the topic's digest: an index on the text itself refused topics over 2,704 bytes on
    # PostgreSQL (a long question, a pasted log), and "Not my area" failed there (migration 0016).
    __table_args__ = (UniqueConstraint("member_id", "topic_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete=CASCADE), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete=CASCADE), index=True)
    # The topic is the question's text, the asker's words: it goes with the question (the asker opted out or
    # was forgotten).
    question_id: Mapped[int] = mapped_column(ForeignKey("question.id", ondelete=CASCADE), index=True)
    topic: Mapped[str] = mapped_column(Text)
    topic_key: Mapped[str] = mapped_column(String(64))  # topic_key(topic)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def topic_key(topic: str) -> str:
    """What tells one "not my area" topic from another: the SHA-256 of its text, in hex."""
    return hashlib.sha256(topic.encode("utf-8", "surrogatepass")).hexdigest()
