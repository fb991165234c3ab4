"""The outbox: actions kept in the database for a running bot of their platform to send.

`connective forget` does what /forget-me does, but where the platform's token is not set it has no client to tell the
platform what the core wants told (the intro requests the member sent, edited to drop their question; the next expert
offered to askers waiting on them). Those actions are kept here, and the running bot's sweep (every minute) sends them
through the platform's sender, as it sends a scheduled job's: one replica at a time (a compare-and-set on the attempts,
which moves `due_at` a lease ahead); a failed one is tried again after a pause, up to MAX_ATTEMPTS, then removed with
a log line; one the platform refuses for good (a member who takes no DMs) goes, and what the core does instead (the
next expert) is sent then.

The running bot keeps here, too, what /forget-me or /optout had the platform do to others' messages that it failed
live (a 5xx, a 429 past the client's retries, a network error): the digests that quoted the member, the experts' intro
requests, the next expert offered (keep_failed). Its live attempt is the first of MAX_ATTEMPTS."""
from __future__ import annotations

import json
import logging
import types
import typing
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import actions as act
from bot import events as ev
from bot import metrics, serving
from bot.actions import FAILED, REFUSED, Action, DirectMessage, Reply
from bot.command_names import ERASURES
from bot.db.engine import Database
from bot.db.models import Channel, Community, Member, OutboxAction
from bot.events import utcnow

log = logging.getLogger(__name__)

SWEEP_SECONDS = 60
LEASE = timedelta(minutes=5)
RETRY_AFTER = (timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1), timedelta(hours=3))
MAX_ATTEMPTS = len(RETRY_AFTER) + 1
KINDS = {cls.__name__: cls for cls in (act.Reply, act.DirectMessage, act.OpenGroup, act.UpdateMessage,
                                       act.PostToChannel, act.EditPost)}


def encode(action: Action) -> str:
    return json.dumps({"kind": type(action).__name__, "action": _plain(action)})


def decode(body: str) -> Action:
    """A ValueError where the body is no action this release knows."""
    data = json.loads(body)
    cls = KINDS.get(data.get("kind")) if isinstance(data, dict) else None
    if cls is None:
        raise ValueError(f"unknown kind {str(data.get('kind') if isinstance(data, dict) else None)[:40]!r}")
    return _build(cls, data["action"])


def _plain(value: Any) -> Any:
    if is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def plain(value: Any) -> Any:
    """A dataclass (an action, a Document) as JSON-ready data; `build` makes it again."""
    return _plain(value)


def build(cls: type, data: dict[str, Any]) -> Any:
    return _build(cls, data)


def _build(cls: type, data: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: _typed(hints[f.name], data[f.name]) for f in fields(cls) if f.name in data})


def _typed(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(hint, types.UnionType):  # X | None
        hint = next(h for h in typing.get_args(hint) if h is not type(None))
    if is_dataclass(hint):
        return _build(hint, value)  # type: ignore[arg-type]
    if hint is datetime:
        return datetime.fromisoformat(value)
    if typing.get_origin(hint) is tuple:
        return tuple(_typed(typing.get_args(hint)[0], v) for v in value)
    return value


async def keep(db: Database, community_id: int, platform: str, kept: list[Action],
               now: datetime | None = None) -> int:
    """Keep actions for a running bot of `platform` to send; how many."""
    now = now or utcnow()
    if kept:
        async with db.sessions.begin() as session:
            session.add_all(OutboxAction(community_id=community_id, platform=platform, body=encode(a), created_at=now,
                                         due_at=now, attempts=0) for a in kept)
    return len(kept)


def erasing(event: ev.Event | None) -> bool:
    """A member's /forget-me or /optout (or App Home's Opt out button), or a message (a channel, a thread) deleted:
    what it has the platform do to others' messages (a digest that quoted them) is kept when the platform fails it
    (keep_failed)."""
    return ((isinstance(event, ev.CommandInvoked) and event.name in ERASURES)
            or (isinstance(event, ev.ActionClicked) and event.action == "home.optout")
            or isinstance(event, ev.MessageDeleted)
            or (isinstance(event, ev.ChannelChanged) and event.change == ev.DELETED))


async def keep_failed(db: Database, platform: str, origin: ev.Event | None, action: Action,
                      now: datetime | None = None) -> bool:
    """An action of a member's erasure (`origin`: erasing) the platform failed live, kept for the sweep to try again
    RETRY_AFTER[0] later (its live attempt counted); one log line. False, and nothing kept, for any other action (an
    answer to the member, another event's: sent late, it could repeat or undo what came since) or where the database
    failed too (logged)."""
    if isinstance(action, Reply) or not erasing(origin):
        return False
    now = now or utcnow()
    retry_at = now + RETRY_AFTER[0]
    try:
        async with db.sessions.begin() as session:
            community_id = await session.scalar(select(Community.id).where(
                Community.platform == platform, Community.external_id == action.community))
            if community_id is None:
                return False
            if isinstance(action, act.EditPost):
                from bot.services.digest_unquote import superseded  # (it builds on this module)

                if await superseded(session, community_id, action):
                    log.info("outbox: %s on %s failed, and a later edit of the post was made since: not kept",
                             type(action).__name__, platform)
                    return False
            session.add(OutboxAction(community_id=community_id, platform=platform, body=encode(action),
                                     created_at=now, due_at=retry_at, attempts=1,
                                     error=f"{platform} failed it live (attempt 1 of {MAX_ATTEMPTS})"))
    except Exception:
        log.exception("outbox: keeping %s on %s, which %s failed, failed", type(action).__name__, platform, platform)
        return False
    metrics.OUTBOX.labels(platform, "kept").inc()
    log.warning("outbox: %s on %s failed; kept, trying again at %s", type(action).__name__, platform,
                f"{retry_at:%Y-%m-%d %H:%M} UTC")
    return True


@dataclass(frozen=True)
class KeptAction:
    """What `connective outbox` shows of a kept action: never its document (it quotes members)."""

    id: int
    platform: str
    community: str
    kind: str
    target: str  # where it goes: a channel, a post's key
    created_at: datetime
    due_at: datetime | None
    attempts: int
    error: str | None


def _shown(body: str, names: _Names) -> tuple[str, str]:
    """Its kind and where it goes, by the names the community knows (a member, a channel) where it has them: the list
    is for a manager, who knows "Rosalee" and "#general", not U0123… and C0456…."""
    try:
        action = decode(body)
    except (ValueError, KeyError, TypeError):
        return "unreadable", ""
    if isinstance(action, act.EditPost):
        target = f"post {action.key} in {names.channel(action.channel)}"
    elif isinstance(action, DirectMessage):
        target = f"DM to {names.member(action.user)}"
    else:
        channel = getattr(action, "channel", "")
        target = f"in {names.channel(channel)}" if channel else ""
    return type(action).__name__, target


@dataclass(frozen=True)
class _Names:
    members: dict[str, str]  # by external id
    channels: dict[str, str]

    def member(self, user: str) -> str:
        name = self.members.get(user)
        return f"{name} ({user})" if name and name != user else user

    def channel(self, channel: str) -> str:
        name = self.channels.get(channel)
        return f"#{name}" if name and name != channel else channel


async def _names(session: AsyncSession, community_id: int, bodies: list[str]) -> _Names:
    """The names of the members and channels the kept actions of one community go to."""
    users, channels = set(), set()
    for body in bodies:
        try:
            action = decode(body)
        except (ValueError, KeyError, TypeError):
            continue
        users.add(getattr(action, "user", ""))
        channels.add(getattr(action, "channel", ""))
    return _Names(
        dict((await session.execute(select(Member.external_id, Member.name).where(
            Member.community_id == community_id, Member.external_id.in_(users - {""})))).all()),
        dict((await session.execute(select(Channel.external_id, Channel.name).where(
            Channel.community_id == community_id, Channel.external_id.in_(channels - {""}),
            Channel.is_dm.is_(False)))).all()))


async def kept_actions(db: Database, community_id: int | None = None) -> list[KeptAction]:
    """The actions kept (of one community, or all), oldest first."""
    async with db.sessions() as session:
        rows = (await session.execute(
            select(OutboxAction, Community.external_id).join(Community, Community.id == OutboxAction.community_id)
            .where(*([OutboxAction.community_id == community_id] if community_id is not None else []))
            .order_by(OutboxAction.id))).all()
        names = {cid: await _names(session, cid, [row.body for row, _ in rows if row.community_id == cid])
                 for cid in {row.community_id for row, _ in rows}}
    return [KeptAction(row.id, row.platform, external_id, *_shown(row.body, names[row.community_id]),
                       created_at=row.created_at, due_at=row.due_at, attempts=row.attempts, error=row.error)
            for row, external_id in rows]


async def drop_naming(session: AsyncSession, community_id: int, member_external_id: str) -> int:
    """The kept actions that name a member (to them, or a card of theirs): removed with the member's data when they
    opt out or are forgotten, as what the running bot would send then no longer holds."""
    result = await session.execute(delete(OutboxAction).where(
        OutboxAction.community_id == community_id,
        OutboxAction.body.contains(json.dumps(member_external_id), autoescape=True)))
    return int(result.rowcount or 0)


class Outbox:
    def __init__(self, *, db: Database, core) -> None:  # noqa: ANN001
        self.db = db
        self.core = core

    async def send_due(self, now: datetime | None = None) -> int:
        """Send the kept actions due in the communities this process serves; how many went out."""
        now = now or utcnow()
        if not self.core.senders:
            return 0
        async with self.db.sessions() as session:
            due = list((await session.execute(
                select(OutboxAction.id, OutboxAction.attempts).where(
                    # Another workspace's (a shared database): its own process sends it (bot.serving).
                    OutboxAction.community_id.in_(serving.community_ids(self.core.senders)),
                    OutboxAction.due_at.is_not(None),
                    OutboxAction.due_at <= now).order_by(OutboxAction.id).limit(100))).all())
        sent = 0
        for row_id, attempts in due:
            try:
                sent += await self._send(row_id, attempts, now)
            except Exception:
                log.exception("outbox: action %d failed; the next sweep tries again", row_id)
        return sent

    async def _send(self, row_id: int, attempts: int, now: datetime) -> bool:
        attempt = attempts + 1
        async with self.db.sessions.begin() as session:
            claimed = await session.execute(
                update(OutboxAction).where(OutboxAction.id == row_id, OutboxAction.attempts == attempts,
                                           OutboxAction.due_at.is_not(None))
                .values(attempts=attempt, due_at=now + LEASE).execution_options(synchronize_session=False))
            if not claimed.rowcount:  # another replica has it
                return False
            row = await session.get(OutboxAction, row_id)
            community_id, platform, body = row.community_id, row.platform, row.body
        mine = (OutboxAction.id == row_id, OutboxAction.attempts == attempt)
        try:
            action = decode(body)
        except (ValueError, KeyError, TypeError) as exc:
            await self._give_up(row_id, attempt, f"unreadable: {type(exc).__name__}")
            return False
        outcome = await self.core.send(platform, action)
        metrics.OUTBOX.labels(platform, "given_up" if outcome == FAILED and attempt >= MAX_ATTEMPTS else outcome).inc()
        if outcome == FAILED and attempt < MAX_ATTEMPTS:
            retry_at = now + RETRY_AFTER[attempt - 1]
            async with self.db.sessions.begin() as session:
                await session.execute(update(OutboxAction).where(*mine).values(
                    due_at=retry_at, error=f"{platform} failed it (attempt {attempt} of {MAX_ATTEMPTS})"))
            log.warning("outbox: %s on %s not sent; trying again at %s", type(action).__name__, platform,
                        f"{retry_at:%Y-%m-%d %H:%M} UTC")
            return False
        if outcome == FAILED:
            await self._give_up(row_id, attempt, f"{platform} failed it {MAX_ATTEMPTS} times")
            return False
        async with self.db.sessions.begin() as session:
            await session.execute(delete(OutboxAction).where(*mine))
        if outcome == REFUSED and isinstance(action, DirectMessage) and action.key:
            # What the core does instead (an intro request: the next expert is offered at once).
            left = await self.core.deliver(platform, await self.core.undelivered(action))
            await keep(self.db, community_id, platform, left, now)
        return outcome != REFUSED

    async def _give_up(self, row_id: int, attempt: int, error: str) -> None:
        """Removed with a log line: it may quote members (an offer of the next expert), and is not kept unsent."""
        async with self.db.sessions.begin() as session:
            await session.execute(delete(OutboxAction).where(
                OutboxAction.id == row_id, OutboxAction.attempts == attempt))
        log.warning("outbox: action %d given up: %s", row_id, error)
