"""Mentoring tables: enrolments, pairing rounds (one per community and period) and pairings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base
from bot.db.types import UTCDateTime
from bot.events import utcnow

CASCADE = "CASCADE"


class MentoringEnrolment(Base):
    __tablename__ = "mentoring_enrolment"
    __table_args__ = (UniqueConstraint("community_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete=CASCADE), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete=CASCADE), index=True)
    role: Mapped[str] = mapped_column(String(8))  # "mentor" | "mentee" | "both"
    can_teach: Mapped[list[str]] = mapped_column(JSON, default=list)
    wants_to_learn: Mapped[list[str]] = mapped_column(JSON, default=list)
    timezone: Mapped[str] = mapped_column(String(64))
    capacity: Mapped[int] = mapped_column(Integer, default=1)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    skip_next: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class PairingRound(Base):
    """One round per community and period. Exactly-once is this row: the warning and the round are
    each claimed by a conditional UPDATE (warned_at / ran_at still NULL) before anything is sent; a warned round is
    run or cancelled (cancelled_at, with its cancel_reason), never both."""

    __tablename__ = "pairing_round"
    __table_args__ = (UniqueConstraint("community_id", "period_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete=CASCADE), index=True)
    period_key: Mapped[str] = mapped_column(String(32))  # e.g. "2026-W49"
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime)
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ran_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A warned round that will not run: it never runs after this, and the warned are told so.
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why: "off" (rounds switched off), "missed" (the bot was down or out of the server from its time until the next
    # round of the schedule was due). Migration 0033.
    cancel_reason: Mapped[str | None] = mapped_column(String(16))
    seed: Mapped[int | None] = mapped_column(BigInteger)  # replays the round's tie-breaking
    solver: Mapped[str] = mapped_column(String(16), default="")
    # [{"member_id": int, "reason": str}] of those left out, so admins can see why
    unmatched: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Pairing(Base):
    __tablename__ = "pairing"
    __table_args__ = (UniqueConstraint("round_id", "mentee_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete=CASCADE), index=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("pairing_round.id", ondelete=CASCADE), index=True)
    mentor_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete=CASCADE), index=True)
    mentee_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete=CASCADE), index=True)
    fit: Mapped[float] = mapped_column(Float)
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)  # shared topics, for the intro and admins
    # what the mentor teaches closest to each of `topics` (same order), and the pair's shared working hours: what
    # the introduction says, kept so that a retried introduction says the same
    taught: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    overlap_hours: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The pair's introduction, sent once: claimed (intro_due_at moved a lease ahead, attempts counted) before it is
    # sent, recorded after; a failed one is due again later, until it is given up.
    introduced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    intro_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)  # None: sent or given up
    intro_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    intro_given_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    intro_error: Mapped[str | None] = mapped_column(Text)
    checkin_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # the check-in answer of each side: True met, False not (yet), None no answer
    mentor_met: Mapped[bool | None] = mapped_column(Boolean)
    mentee_met: Mapped[bool | None] = mapped_column(Boolean)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MentoringNotice(Base):
    """A direct message of a round to one member, sent once and retried until it goes out or is given up, as a pair's
    introduction is: the warning before the round, "no pair for you this round", "your pair is off" to one whose
    partner left before they were introduced, and a pair's check-in. Stored in the transaction that claims the step,
    claimed before it is sent (a compare-and-set on attempts, which moves due_at a lease ahead), recorded as sent right
    after. What it says is made when it is sent, from the round, the pair and the enrolment."""

    __tablename__ = "mentoring_notice"
    __table_args__ = (UniqueConstraint("round_id", "member_id", "kind", "pairing_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete=CASCADE), index=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("pairing_round.id", ondelete=CASCADE), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete=CASCADE), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # warning, unmatched, partner_gone, not_introduced, checkin
    # the pair a check-in asks about, or that is off (a mentor may have several in a round); 0 for the others. No
    # foreign key: a pair deleted since (/forget-me) leaves its check-in to be given up.
    pairing_id: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)  # None: sent or given up
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    given_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
