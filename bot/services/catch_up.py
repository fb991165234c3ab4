"""Where to pick a platform's history up after the bot was away: for each place the bot reads (a channel, or a thread
of one), the newest message stored there. The adapter fetches what was said after it (adapters/discord/catch_up.py,
adapters/slack/catch_up.py) and hands it to the core as the live events it missed."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select

from bot.db.engine import Database
from bot.db.models import Channel, Message
from bot.db.resources import Digest
from bot.events import DELETED
from bot.repo import get_community


@dataclass(frozen=True)
class Place:
    """Where messages are stored, as the core names it: a Discord thread belongs to its parent channel (`thread`: the
    thread's id), a private thread is a channel of its own (`thread` too)."""

    channel: str
    thread: str | None = None  # None: the channel's own messages (with those that threads were started from)
    is_private: bool = False  # what the platform says of it now


def later(a: str | None, b: str | None) -> str | None:
    """The later of two message ids of digits (Discord snowflakes): a longer one is later, then by its digits. Slack's
    ts ("1700000000.000100") are all of one length: ordered by their characters, as time."""
    if a is None or b is None:
        return a or b
    return max(a, b, key=lambda ext: (len(ext), ext))


def _id_before(bound: str) -> ColumnElement[bool]:
    """Message ids of digits before `bound` (see `later`)."""
    length = func.length(Message.external_id)
    return or_(length < len(bound), and_(length == len(bound), Message.external_id < bound))


async def resume_points(db: Database, platform: str, community: str, places: Iterable[Place], *,
                        before: str, before_time: datetime) -> dict[Place, str]:
    """For each place read, the external id of the newest message stored there, or, where none is, the newest stored
    in the whole community: a channel or thread made while the bot was away (or quiet until then) holds nothing older
    that the bot missed. Only messages before `before` (an id; `before_time` is its time) count: those the bot is
    storing live meanwhile must not move the start past what it missed. Left out: the places not read
    (bot.repo.channel_ingested, with the privacy the platform says now: a channel turned private since is not read
    unless an admin turned it on), and every place of a community with nothing stored before then (a first run: a
    community's past comes from an import, not from a restart)."""
    places = list(places)
    async with db.sessions() as session:
        found = await get_community(session, platform, community)
        if found is None or not places:
            return {}
        community_id = found.id
        newest_anywhere = await session.scalar(
            select(Message.external_id).where(Message.community_id == community_id, Message.created_at < before_time,
                                              _id_before(before))
            .order_by(Message.created_at.desc()).limit(1))
        if newest_anywhere is None:
            return {}
        channels = {c.external_id: c for c in await session.scalars(
            select(Channel).where(Channel.community_id == community_id,
                                  Channel.external_id.in_({p.channel for p in places})))}
        ids = {c.id: ext for ext, c in channels.items()}
        newest: dict[tuple[str, str | None], str] = {}
        # By length too, so that the greatest of each length is a numeric maximum (see `later`).
        length = func.length(Message.external_id)
        by_thread = select(Message.channel_id, Message.thread_external_id, func.max(Message.external_id)) \
            .where(Message.community_id == community_id, Message.channel_id.in_(ids), _id_before(before)) \
            .group_by(Message.channel_id, Message.thread_external_id, length)
        # The message a thread was started from is one of its channel's own (Discord lists it there).
        starters = select(Message.channel_id, func.max(Message.external_id)) \
            .where(Message.community_id == community_id, Message.channel_id.in_(ids), _id_before(before),
                   Message.thread_external_id == Message.external_id) \
            .group_by(Message.channel_id, length)
        for channel_id, thread, ext in (await session.execute(by_thread)).all():
            key = (ids[channel_id], thread)
            newest[key] = later(newest.get(key), ext)  # type: ignore[assignment]
        for channel_id, ext in (await session.execute(starters)).all():
            key = (ids[channel_id], None)
            newest[key] = later(newest.get(key), ext)  # type: ignore[assignment]
    points = {}
    for place in places:
        channel = channels.get(place.channel)
        if channel is None:
            read = not place.is_private
        elif channel.is_dm:
            read = False
        else:
            read = channel.ingest if channel.ingest is not None else not (channel.is_private or place.is_private)
        if read:
            points[place] = newest.get((place.channel, place.thread)) or newest_anywhere
    return points


async def active_threads(db: Database, platform: str, community: str, channel: str, *, since: datetime,
                         limit: int) -> list[str]:
    """The threads of a channel with a message stored since `since` (their keys: the message each started from), the
    latest active first, at most `limit`: a conversation still going on may have had replies while the bot was away,
    whatever the age of its first message."""
    async with db.sessions() as session:
        found = await get_community(session, platform, community)
        if found is None:
            return []
        rows = await session.execute(
            select(Message.thread_external_id).join(Channel, Channel.id == Message.channel_id)
            .where(Message.community_id == found.id, Channel.community_id == found.id,
                   Channel.external_id == channel, Message.thread_external_id.is_not(None),
                   Message.created_at >= since)
            .group_by(Message.thread_external_id).order_by(func.max(Message.created_at).desc()).limit(limit))
        return [thread for thread, in rows.all()]


async def stored_channels(db: Database, platform: str, community: str) -> dict[str, bool]:
    """The community's channels (no DMs) with a message stored or a digest (not paused for its channel deleted), each
    with whether it is private as stored: what a deletion while the bot was away would leave behind (the adapters'
    catch-ups look for them)."""
    async with db.sessions() as session:
        found = await get_community(session, platform, community)
        if found is None:
            return {}
        has_messages = select(Message.id).where(Message.community_id == found.id, Message.channel_id == Channel.id)
        has_digest = select(Digest.id).where(Digest.community_id == found.id,
                                             Digest.channel_external_id == Channel.external_id,
                                             Digest.paused != DELETED)
        rows = await session.execute(select(Channel.external_id, Channel.is_private).where(
            Channel.community_id == found.id, Channel.is_dm.is_(False), has_messages.exists() | has_digest.exists()))
        return {external_id: is_private for external_id, is_private in rows.all()}


async def stored_threads(db: Database, platform: str, community: str, *, limit: int) -> list[tuple[str, str]]:
    """The threads of the community's channels with a message stored, as (channel, thread), the latest stored in
    first, at most `limit`: a thread deleted alone while the bot was away leaves them behind (the adapters' catch-ups
    look for those). A thread that is a channel of its own here (a Discord private thread) is a channel:
    stored_channels."""
    async with db.sessions() as session:
        found = await get_community(session, platform, community)
        if found is None:
            return []
        rows = await session.execute(
            select(Channel.external_id, Message.thread_external_id).join(Channel, Channel.id == Message.channel_id)
            .where(Message.community_id == found.id, Channel.community_id == found.id, Channel.is_dm.is_(False),
                   Message.thread_external_id.is_not(None), Message.thread_external_id != Channel.external_id)
            .group_by(Channel.external_id, Message.thread_external_id)
            .order_by(func.max(Message.created_at).desc(), Message.thread_external_id.desc()).limit(limit))
        return [(channel, thread) for channel, thread in rows.all()]


async def stores_place(db: Database, platform: str, community: str, place: str) -> bool:
    """Whether a message is stored in `place`: a thread's (its messages carry it as their thread) or a channel's (a
    private thread is one). An adapter that cannot tell where an event's place is without asking the platform asks
    only about the places stored here."""
    async with db.sessions() as session:
        found = await get_community(session, platform, community)
        if found is None:
            return False
        in_thread = select(Message.id).where(Message.community_id == found.id, Message.thread_external_id == place)
        in_channel = select(Message.id).join(Channel, Channel.id == Message.channel_id).where(
            Message.community_id == found.id, Channel.community_id == found.id, Channel.external_id == place)
        return bool(await session.scalar(select(in_thread.exists() | in_channel.exists())))


async def digest_channels(db: Database, platform: str, community: str) -> dict[str, str]:
    """{channel: why its digest is paused, "" when it is not}, of the community's digests: a channel archived or
    unarchived while the bot was away pauses or resumes its digest at the catch-up, as the live event does."""
    async with db.sessions() as session:
        found = await get_community(session, platform, community)
        if found is None:
            return {}
        rows = await session.execute(select(Digest.channel_external_id, Digest.paused).where(
            Digest.community_id == found.id))
        return {channel: paused or "" for channel, paused in rows.all()}


async def stored_between(db: Database, platform: str, community: str, place: Place, *, low: str,
                         high: str) -> list[str]:
    """The external ids, from `low` to `high` (ordered as `later` orders them), of the messages stored at `place` as
    the platform lists that place's history: a channel's own messages (those that started threads among them), or a
    thread's replies (not the message it hangs from). A catch-up that listed that stretch again finds those deleted
    meanwhile: stored, not listed."""
    async with db.sessions() as session:
        found = await get_community(session, platform, community)
        if found is None:
            return []
        length = func.length(Message.external_id)
        where = [Message.community_id == found.id, Channel.community_id == found.id,
                 Channel.external_id == place.channel,
                 or_(length > len(low), and_(length == len(low), Message.external_id >= low)),
                 or_(_id_before(high), Message.external_id == high)]
        if place.thread is None:
            where.append(Message.thread_external_id.is_(None) | (Message.thread_external_id == Message.external_id))
        else:
            where += [Message.thread_external_id == place.thread, Message.external_id != place.thread]
        return list(await session.scalars(select(Message.external_id).join(Channel, Channel.id == Message.channel_id)
                                          .where(*where)))


NAMED = 10  # channels named in the log line, at most, of each kind of leftover


@dataclass
class Report:
    """What one catch-up of a workspace or server did, said in one log line."""

    fetched: int = 0  # messages handed to the core (a question to the bot among them is not stored; the bot's own
    # posts and notices such as joins are read, not handed on)
    read: int = 0  # channels (and threads) fetched
    cut: list[str] = field(default_factory=list)  # channels read up to a cap, with more left
    failed: list[str] = field(default_factory=list)
    not_read: list[str] = field(default_factory=list)  # past the workspace's or server's cap
    deleted: list[str] = field(default_factory=list)  # channels (and threads) found deleted, their messages with them
    # A failure that may pass (no answer, a rate limit, the database): what it left is read again at the next
    # connection. One the platform answered (no access, a thread gone) would fail again the same way.
    again: bool = False

    def line(self, place: str, where: str, *, cut: str, cap: int, command: str) -> str:
        """"PLACE: caught up N message(s) … in M WHERE; left: …": `cut` says what was left of a channel read up to
        its cap ("{}" the channels), `cap` the most channels read, `command` what brings the rest."""
        text = f"{place}: caught up {self.fetched} message(s) said while the bot was away, in {self.read} {where}"
        if self.deleted:
            text += f"; {listed(self.deleted)} deleted meanwhile, their stored messages deleted too"
        left = []
        if self.cut:
            left.append(cut.format(listed(self.cut)))
        if self.not_read:
            left.append(f"{listed(self.not_read)} not read ({cap} in all were)")
        if self.failed:
            left.append(f"{listed(self.failed)} failed")
        if left:
            text += "; left: " + "; ".join(left) + f" (`{command}` brings the rest)"
        return text


def listed(labels: list[str]) -> str:
    more = f" and {len(labels) - NAMED} more" if len(labels) > NAMED else ""
    return ", ".join(labels[:NAMED]) + more
