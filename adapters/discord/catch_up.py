"""What was said while the bot was away. Discord replays missed events only to a session that RESUMEs; after a restart
(a deploy, a crash, a node move) the bot IDENTIFYs anew and what was said meanwhile never arrives. So for each server
it joins, the channels and active threads (forum posts too) the bot reads are fetched from the REST API after the
newest message stored there, oldest first, and handed to the core as the MESSAGE_CREATE events they would have been:
stored once (a message's event id is its id), in order, each channel before its threads."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import discord

from adapters.discord.translate import Context, place_of, translate
from bot import events as ev
from bot.services.catch_up import Place

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
NAMED = 10  # channels named in the log line, at most, of each kind of leftover


class ResumePoints(Protocol):
    """{place: the id to fetch after}, for the places read (bot.services.catch_up.resume_points)."""

    def __call__(self, platform: str, community: str, places: list[Place], *, before: str,
                 before_time: datetime) -> Awaitable[dict[Place, str]]: ...


Readable = discord.TextChannel | discord.VoiceChannel | discord.StageChannel | discord.Thread


@dataclass
class Gap:
    """One channel or thread to read: its messages after `after`."""

    channel: Readable
    after: int

    @property
    def label(self) -> str:
        return f"#{self.channel.name} ({self.channel.id})"


@dataclass
class Report:
    fetched: int = 0  # messages handed to the core (a question to the bot among them is not stored)
    read: int = 0  # channels and threads fetched
    cut: list[str] = field(default_factory=list)  # channels read up to a cap, with more left
    failed: list[str] = field(default_factory=list)
    not_read: list[str] = field(default_factory=list)  # past PER_SERVER


def readable(guild: discord.Guild) -> list[Readable]:
    """The guild's channels then its active threads (the gateway lists them in GUILD_CREATE), each in id order, that the
    bot may read the history of."""
    me = guild.me
    channels: list[Readable] = sorted((c for c in guild.channels if isinstance(c, READ_KINDS)), key=lambda c: c.id)
    channels += sorted(guild.threads, key=lambda t: t.id)
    return [c for c in channels if me is None or may_read(c, me)]


def may_read(channel: Readable, me: discord.Member) -> bool:
    try:
        allowed = channel.permissions_for(me)
    except discord.ClientException:  # a thread whose parent is not known
        return False
    return allowed.view_channel and allowed.read_message_history


async def plan(guild: discord.Guild, ctx: Context, resume_points: ResumePoints, started: datetime) -> list[Gap]:
    """The channels and threads of the guild that have messages after the newest stored there before the session
    `started`, and are read."""
    places: dict[Place, list[Readable]] = {}
    for channel in readable(guild):
        where = place_of(ctx, str(channel.id))
        if where is not None:
            places.setdefault(Place(where.channel, where.thread, where.is_private), []).append(channel)
    before = started - LIVE_MARGIN
    points = await resume_points(PLATFORM, str(guild.id), list(places),
                                 before=str(discord.utils.time_snowflake(before)), before_time=before)
    gaps = []
    for place, after in points.items():
        for channel in places[place]:
            if channel.last_message_id is not None and channel.last_message_id > int(after):
                gaps.append(Gap(channel, int(after)))
    return sorted(gaps, key=lambda g: (isinstance(g.channel, discord.Thread), g.channel.id))


async def pages(http: Any, gap: Gap, upto: int) -> Any:
    """The messages of the gap up to id `upto`, a page at a time, oldest first."""
    after = gap.after
    while True:
        got = await http.logs_from(gap.channel.id, PAGE, after=after)
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
    handle: Callable[[ev.Event], Awaitable[None]],
    started: datetime,
) -> Report:
    """Fetch each gap up to the session's start and hand its messages to the core, within PER_CHANNEL and PER_SERVER;
    a channel whose fetch fails (no access, Discord's error) is one log line, and the rest goes on. Discord's rate
    limits are discord.py's."""
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
                for message in used:
                    for event in translate("MESSAGE_CREATE", {**message, "guild_id": str(guild.id)}, ctx):
                        await handle(replace(event, caught_up=True) if isinstance(event, ev.MessagePosted) else event)
                    taken += 1
                if taken >= room:
                    if len(used) < len(page) or len(page) == PAGE:  # more is left, or may be
                        report.cut.append(gap.label)
                    break
        except (discord.HTTPException, OSError, TimeoutError) as exc:
            why = f"{exc.status} {exc.text}" if isinstance(exc, discord.HTTPException) else repr(exc)
            log.warning("catching up %s in Discord server %s failed after %d message(s): %s", gap.label, guild.id,
                        taken, why)
            report.failed.append(gap.label)
        budget -= taken
        report.fetched += taken
    return report


def summary(guild: discord.Guild, report: Report) -> str:
    text = (f"Discord server {guild.id}: caught up {report.fetched} message(s) said while the bot was away, in "
            f"{report.read} channel(s) and thread(s)")
    left = []
    if report.cut:
        left.append(f"the later messages of {_listed(report.cut)} (at most {PER_CHANNEL} a channel are read, oldest "
                    "first)")
    if report.not_read:
        left.append(f"{_listed(report.not_read)} not read ({PER_SERVER} in all were)")
    if report.failed:
        left.append(f"{_listed(report.failed)} failed")
    if left:
        text += "; left: " + "; ".join(left) + " (`connective import discord` brings the rest)"
    return text


def _listed(labels: list[str]) -> str:
    more = f" and {len(labels) - NAMED} more" if len(labels) > NAMED else ""
    return ", ".join(labels[:NAMED]) + more
