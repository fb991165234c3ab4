"""What was said while the bot was away. Discord replays missed events only to a session that RESUMEs; after a restart
(a deploy, a crash, a node move) the bot IDENTIFYs anew and what was said meanwhile never arrives. So for each server
it joins, the channels and active threads (forum posts too) the bot reads are fetched from the REST API after the
newest message stored there, oldest first, and handed to the core as the MESSAGE_CREATE events they would have been,
a page (100) in one batch (Core.handle_history): stored once (a message's event id is its id), in order, each channel
before its threads. Threads archived while the
bot was away are looked up too: the public ones, and the private ones it is in (read where an admin turned them on)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import discord

from adapters.discord.translate import ChannelInfo, Context, place_of, translate
from bot import events as ev
from bot.services.catch_up import Place, Report

log = logging.getLogger(__name__)

PLATFORM = "discord"
PAGE = 100  # the most Discord gives a request
PER_CHANNEL = 2_000  # messages fetched from one channel or thread (20 requests)
PER_SERVER = 20_000  # and from all of a server's (200 requests; a minute or two, within Discord's rate limits)
# Messages posted after the session started come through the gateway: the fetch stops there, and only messages
# stored before it say where to start (those stored live meanwhile would move the start past the gap), each with a
# margin for a clock that is a little off (what both paths see is stored once all the same).
LIVE_MARGIN = timedelta(minutes=1)
# Channels whose own messages can be fetched (a forum or media channel has none: its posts are threads).
READ_KINDS = (discord.TextChannel, discord.VoiceChannel, discord.StageChannel)
# Channels with threads. A thread archived while the bot was away (after an hour to a week without a message, as its
# creator chose) is no longer listed as active: these channels' archived threads are looked through, back to
# when the bot went away, where that was longer ago than the shortest auto-archive (a quick restart asks nothing).
THREAD_KINDS = (discord.TextChannel, discord.ForumChannel)
SHORTEST_ARCHIVE = timedelta(hours=1)
# What was said in any channel up to a little before the newest message stored (about when the bot went away) was seen
# live, stored or not: a channel whose newest stored message is old (where people mostly ask the bot, or bots post)
# is read from there, not from that message, which would read its whole history again up to PER_CHANNEL each start.
SEEN_LIVE_SLACK = timedelta(minutes=10)
ARCHIVED_PAGES = 5  # of 100 threads, at most, a channel
# Channels deleted while the bot was away (no CHANNEL_DELETE reached it): of the channels stored here, those the
# gateway no longer lists are asked for (GET /channels/{id}: Unknown Channel), at most GONE_CHECKED a start.
GONE_CHECKED = 50
# Messages deleted while the bot was away (no MESSAGE_DELETE reached it): the newest CHECK_PAGE messages up to where
# the catch-up picks up are listed again in the CHECKED_PLACES channels and threads with the latest messages on
# Discord (one request each); a message stored in that stretch and not listed is gone.
CHECK_PAGE = 100
CHECKED_PLACES = 20
UNKNOWN_CHANNEL = 10003
# Threads deleted alone while the bot was away (no THREAD_DELETE reached it): of the threads stored here, those neither
# the gateway nor the catch-up's listing of archived ones names are asked for, the latest stored in first, at most
# GONE_THREADS_CHECKED a start (one archived long ago is asked for at each start: its answer is not kept).
GONE_THREADS_CHECKED = 25
THREAD_TYPES = {discord.ChannelType.news_thread.value, discord.ChannelType.public_thread.value,
                discord.ChannelType.private_thread.value}


class StoredBetween(Protocol):
    """The ids of the messages stored at a place from one id to another (bot.services.catch_up.stored_between)."""

    def __call__(self, platform: str, community: str, place: Place, *, low: str, high: str) -> Awaitable[list[str]]: ...


class ResumePoints(Protocol):
    """{place: the id to fetch after}, for the places read (bot.services.catch_up.resume_points)."""

    def __call__(self, platform: str, community: str, places: list[Place], *, before: str,
                 before_time: datetime) -> Awaitable[dict[Place, str]]: ...


Readable = discord.TextChannel | discord.VoiceChannel | discord.StageChannel | discord.Thread | discord.ForumChannel


@dataclass
class Gap:
    """One channel or thread to read: its messages after `after`."""

    id: int
    name: str
    after: int
    is_thread: bool = False

    @property
    def label(self) -> str:
        return f"#{self.name} ({self.id})"


@dataclass
class Plan:
    gaps: list[Gap] = field(default_factory=list)
    read: list[int] = field(default_factory=list)  # the channels read that may have threads
    since: int | None = None  # the newest message stored among the places read (about when the bot went away)
    # The channels and threads read whose messages can be listed: (its latest message's id on Discord, its id, its
    # place, where the catch-up picks up).
    listed: list[tuple[int, int, Place, int]] = field(default_factory=list)

    @property
    def seen_live(self) -> int:
        """Messages up to this id were seen live (SEEN_LIVE_SLACK)."""
        if self.since is None:
            return 0
        return discord.utils.time_snowflake(discord.utils.snowflake_time(self.since) - SEEN_LIVE_SLACK)


def readable(guild: discord.Guild) -> list[Readable]:
    """The guild's channels then its active threads (the gateway lists them in GUILD_CREATE), each in id order, that the
    bot may read the history of."""
    me = guild.me
    channels: list[Readable] = sorted((c for c in guild.channels if isinstance(c, READ_KINDS + THREAD_KINDS)),
                                      key=lambda c: c.id)
    channels += sorted(guild.threads, key=lambda t: t.id)
    return [c for c in channels if me is None or may_read(c, me)]


def may_read(channel: Readable, me: discord.Member) -> bool:
    try:
        allowed = channel.permissions_for(me)
    except discord.ClientException:  # a thread whose parent is not known
        return False
    return allowed.view_channel and allowed.read_message_history


async def _points(guild: discord.Guild, ctx: Context, resume_points: ResumePoints, started: datetime,
                  ids: Iterable[str]) -> tuple[dict[Place, str], dict[Place, list[str]]]:
    """The core's resume points of these channels and threads (by Discord id), with the ids of each place."""
    places: dict[Place, list[str]] = {}
    for channel_id in ids:
        where = place_of(ctx, channel_id)
        if where is not None:
            places.setdefault(Place(where.channel, where.thread, where.is_private), []).append(channel_id)
    before = started - LIVE_MARGIN
    points = await resume_points(PLATFORM, str(guild.id), list(places),
                                 before=str(discord.utils.time_snowflake(before)), before_time=before)
    return points, places


async def plan(guild: discord.Guild, ctx: Context, resume_points: ResumePoints, started: datetime) -> Plan:
    """The channels and active threads of the guild that have messages after the newest stored there before the
    session `started`, and are read."""
    channels = {str(c.id): c for c in readable(guild)}
    points, places = await _points(guild, ctx, resume_points, started, channels)
    found = Plan(since=max((int(after) for after in points.values()), default=None))
    for place, newest in points.items():
        after = max(int(newest), found.seen_live)
        for channel in (channels[i] for i in places[place]):
            if isinstance(channel, THREAD_KINDS):
                found.read.append(channel.id)
            if isinstance(channel, READ_KINDS + (discord.Thread,)):
                found.listed.append((channel.last_message_id or 0, channel.id, place, after))
            if isinstance(channel, READ_KINDS + (discord.Thread,)) and (channel.last_message_id or 0) > after:
                found.gaps.append(Gap(channel.id, channel.name, after, isinstance(channel, discord.Thread)))
    found.gaps.sort(key=lambda g: (g.is_thread, g.id))
    return found


async def archived(guild: discord.Guild, found: Plan, *, http: Any, ctx: Context, resume_points: ResumePoints,
                   started: datetime, remember: Callable[[ChannelInfo], None]) -> list[Gap]:
    """The threads of the channels read archived since the bot went away (public ones, and private ones the bot is in),
    with messages after the newest stored there. They are told to the translator (`remember`): the client's cache
    holds active threads only."""
    if found.since is None or started - discord.utils.snowflake_time(found.since) < SHORTEST_ARCHIVE:
        return []
    away = discord.utils.snowflake_time(found.since)
    threads: dict[str, dict[str, Any]] = {}
    for channel_id in sorted(found.read):
        channel = guild.get_channel(channel_id)
        # A forum has no private threads; a text channel's are listed where the bot is in them (it reads no other).
        for private in (False, True) if isinstance(channel, discord.TextChannel) else (False,):
            try:
                listed = await _archived_since(http, channel_id, private=private, started=started, away=away)
            except (discord.HTTPException, OSError, TimeoutError) as exc:
                log.warning("listing the %sarchived threads of #%s (%s) in Discord server %s failed: %s",
                            "private " if private else "", getattr(channel, "name", ""), channel_id, guild.id,
                            _why(exc))
                continue
            threads.update({str(t["id"]): t for t in listed if guild.get_thread(int(t["id"])) is None})
    for thread_id, thread in threads.items():
        remember(ChannelInfo(thread_id, str(thread.get("name") or ""), parent_id=str(thread.get("parent_id")),
                             is_thread=True, is_private=thread.get("type") == discord.ChannelType.private_thread.value))
    points, places = await _points(guild, ctx, resume_points, started, threads)
    gaps = [Gap(int(i), str(threads[i].get("name") or ""), after, is_thread=True)
            for place, newest in points.items() if (after := max(int(newest), found.seen_live))
            for i in places[place] if int(threads[i].get("last_message_id") or 0) > after]
    return sorted(gaps, key=lambda g: g.id)


async def _archived_since(http: Any, channel_id: int, *, private: bool, started: datetime,
                          away: datetime) -> list[dict[str, Any]]:
    """A channel's public threads, or the private ones the bot is in, archived since `away`, ARCHIVED_PAGES at most.
    Public ones come the latest archived first (so the listing stops at the first archived before); the private ones
    by id, the newest first (`before` is an id), so their pages are all looked through."""
    found: list[dict[str, Any]] = []
    before: str | None = None if private else started.isoformat()
    for _ in range(ARCHIVED_PAGES):
        if private:
            page = await http.get_joined_private_archived_threads(channel_id, before=before, limit=100)
        else:
            page = await http.get_public_archived_threads(channel_id, before=before, limit=100)
        if not isinstance(page, dict) or not isinstance(page.get("threads"), list):
            break
        listed = [t for t in page["threads"] if isinstance(t, dict) and str(t.get("id")).isdigit()]
        since_away = [t for t in listed if _archived_at(t) >= away]
        found += since_away
        if not page.get("has_more") or not listed or (not private and len(since_away) < len(listed)):
            break
        before = str(min(int(t["id"]) for t in listed)) if private else _archived_at(listed[-1]).isoformat()
    return found


def _archived_at(thread: dict[str, Any]) -> datetime:
    """When the thread was archived; the earliest time where its payload does not say (it is not read)."""
    try:
        return datetime.fromisoformat((thread.get("thread_metadata") or {})["archive_timestamp"]).astimezone(UTC)
    except (KeyError, TypeError, ValueError, AttributeError):
        return datetime.min.replace(tzinfo=UTC)


async def deleted_channels(guild: discord.Guild, stored: Iterable[str], *, http: Any,
                           known: Iterable[str] = ()) -> list[str]:
    """Of the channels stored here (`stored`, by id: a private thread is one), those Discord no longer has: deleted
    while the bot was away, with no CHANNEL_DELETE or THREAD_DELETE to say so (a private thread of a channel deleted
    goes with it). GUILD_CREATE lists every channel of the server, those the bot may not view too, and its active
    threads: only the others (`known`: archived threads read since) are asked for, GET /channels/{id}, the newest
    first, at most GONE_CHECKED; one Discord answers Unknown Channel is gone. Missing Access, or no answer, is not."""
    listed = {str(c.id) for c in guild.channels} | {str(t.id) for t in guild.threads} | set(known)
    unlisted = sorted((c for c in stored if c.isdigit() and c not in listed), key=int, reverse=True)
    gone = []
    for channel in unlisted[:GONE_CHECKED]:
        try:
            await http.get_channel(int(channel))
        except discord.NotFound as exc:
            if exc.code == UNKNOWN_CHANNEL:
                gone.append(channel)
        except (discord.HTTPException, OSError, TimeoutError) as exc:
            log.warning("Discord server %s: is channel %s deleted? Discord did not say: %s", guild.id, channel,
                        _why(exc))
    return gone


async def deleted_threads(guild: discord.Guild, stored: Iterable[tuple[str, str]], *, http: Any,
                          known: Iterable[str], remember: Callable[[ChannelInfo], None]) -> list[tuple[str, str]]:
    """Of the threads (and forum posts) stored here, as (channel, thread), the latest stored in first (`stored`), those
    Discord no longer has: deleted alone while the bot was away, with no THREAD_DELETE to say so (one deleted with its
    channel goes with it: deleted_channels). GUILD_CREATE lists the active threads, and the catch-up the threads
    archived since the bot went away (`known`, with those read since): only the others, of channels still there, are
    asked for, GET /channels/{id}, at most GONE_THREADS_CHECKED; one Discord answers Unknown Channel is gone. One still
    there (archived) is remembered (`remember`): the cache holds active threads only, and an event there was dropped."""
    channels = {str(c.id) for c in guild.channels}
    listed = {str(t.id) for t in guild.threads} | set(known)
    unlisted = [(channel, thread) for channel, thread in stored
                if channel in channels and thread.isdigit() and thread not in listed]
    gone = []
    for channel, thread in unlisted[:GONE_THREADS_CHECKED]:
        try:
            found = await http.get_channel(int(thread))
        except discord.NotFound as exc:
            if exc.code == UNKNOWN_CHANNEL:
                gone.append((channel, thread))
            continue
        except (discord.HTTPException, OSError, TimeoutError) as exc:  # no access (a private channel's), no answer
            log.info("Discord server %s: is thread %s deleted? Discord did not say: %s", guild.id, thread, _why(exc))
            continue
        if isinstance(found, dict) and found.get("type") in THREAD_TYPES and str(found.get("parent_id")) == channel:
            remember(ChannelInfo(thread, str(found.get("name") or ""), parent_id=channel, is_thread=True,
                                 is_private=found.get("type") == discord.ChannelType.private_thread.value))
    return gone


async def vanished(guild: discord.Guild, found: Plan, *, http: Any, ctx: Context,
                   stored_between: StoredBetween) -> list[ev.Event]:
    """Messages stored here that Discord no longer has, deleted while the bot was away (Discord replays no
    MESSAGE_DELETE to a new session), as the deletions they would have been. In the CHECKED_PLACES channels and
    threads with the latest messages on Discord (where people talk, and take words back), the newest CHECK_PAGE
    messages up to where the catch-up picks up are listed (one request each): a message stored between the oldest of
    them (or the start, where fewer are left) and that point, and not listed, is gone. One older than that is left
    (still_there looks it up before it is shown); a channel that cannot be listed is one log line (info: its catch-up
    warned)."""
    events: list[ev.Event] = []
    for _, channel_id, place, after in sorted(found.listed, key=lambda entry: entry[0], reverse=True)[:CHECKED_PLACES]:
        try:
            got = await http.logs_from(channel_id, CHECK_PAGE, before=after + 1)
        except (discord.HTTPException, OSError, TimeoutError) as exc:
            log.info("Discord server %s: listing channel %s again, for messages deleted while the bot was away, "
                     "failed: %s", guild.id, channel_id, _why(exc))
            continue
        listed = {int(m["id"]) for m in got if isinstance(m, dict) and str(m.get("id", "")).isdigit()} if isinstance(
            got, list) else None
        if not listed:  # (none at all: not known either way)
            continue
        low = min(listed) if len(listed) >= CHECK_PAGE else 0
        stored = await stored_between(PLATFORM, str(guild.id), place, low=str(low), high=str(after))
        for message_id in sorted(int(i) for i in stored if i.isdigit()):
            if low <= message_id <= after and message_id not in listed:
                events += translate("MESSAGE_DELETE", {"id": str(message_id), "channel_id": str(channel_id),
                                                       "guild_id": str(guild.id)}, ctx)
    return events


def _why(exc: Exception) -> str:
    return f"{exc.status} {exc.text}" if isinstance(exc, discord.HTTPException) else repr(exc)


async def pages(http: Any, gap: Gap, upto: int) -> Any:
    """The messages of the gap up to id `upto`, a page at a time, oldest first."""
    after = gap.after
    while True:
        got = await http.logs_from(gap.id, PAGE, after=after)
        # As a malformed gateway payload, one that is not a message with an id is skipped (translate logs the rest).
        page = sorted((m for m in got if isinstance(m, dict) and str(m.get("id", "")).isdigit()) if isinstance(
            got, list) else [], key=lambda m: int(m["id"]))
        wanted = [m for m in page if int(m["id"]) <= upto]
        if wanted:
            yield wanted
        if len(page) < PAGE or len(wanted) < len(page):
            return
        after = int(page[-1]["id"])


async def catch_up(
    guild: discord.Guild,
    gaps: Iterable[Gap],
    *,
    http: Any,
    ctx: Context,
    handle: Callable[[list[ev.Event]], Awaitable[bool]],
    started: datetime,
) -> Report:
    """Fetch each gap up to the session's start and hand its messages on, a page's events in one list (`handle`: False
    where they could not be stored, and the gap's later pages are left for the next start, which picks up after the
    newest stored), within PER_CHANNEL and PER_SERVER; a channel whose fetch fails (no access, Discord's error) is one
    log line, and the rest goes on. Discord's rate limits are discord.py's."""
    upto = discord.utils.time_snowflake(started + LIVE_MARGIN)
    report = Report()
    budget = PER_SERVER
    for gap in gaps:
        if budget <= 0:
            report.not_read.append(gap.label)
            continue
        report.read += 1
        room = min(PER_CHANNEL, budget)
        taken = 0
        try:
            async for page in pages(http, gap, upto):
                used = page[: room - taken]
                events = [replace(event, caught_up=True) if isinstance(event, ev.MessagePosted) else event
                          for message in used
                          for event in translate("MESSAGE_CREATE", {**message, "guild_id": str(guild.id)}, ctx)]
                if events and not await handle(events):
                    report.failed.append(gap.label)
                    break
                taken += len(used)
                if taken >= room:
                    if len(used) < len(page) or len(page) == PAGE:  # more is left, or may be
                        report.cut.append(gap.label)
                    break
        except (discord.HTTPException, OSError, TimeoutError) as exc:
            log.warning("catching up %s in Discord server %s failed after %d message(s): %s", gap.label, guild.id,
                        taken, _why(exc))
            report.failed.append(gap.label)
        budget -= taken
        report.fetched += taken
    return report


def summary(guild: discord.Guild, report: Report) -> str:
    return report.line(f"Discord server {guild.id}", "channel(s) and thread(s)", cap=PER_SERVER,
                       command="connective import discord",
                       cut=f"the later messages of {{}} (at most {PER_CHANNEL} a channel are read, oldest first)")
