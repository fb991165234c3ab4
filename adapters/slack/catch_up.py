"""What was said while the bot was away, on Slack. Socket Mode delivers nothing while no socket is connected, and in
HTTP mode Slack gives up on an event after its retries: what was said meanwhile never arrives. So once the bot is
connected (Socket Mode's hello, HTTP mode listening), each channel it is a member of and reads (the privacy of live
ingestion: no DMs, a private channel only where an admin turned it on) is fetched with conversations.history after
the newest message stored there, with the replies (conversations.replies) of the threads that had new ones, and
handed to the core as the events they would have been, a channel's in one batch (Core.handle_history): stored once,
each channel's messages oldest first, then its threads'. Where to pick up is the core's (bot.services.catch_up);
Slack's rate limits are slack_sdk's retry handlers (runner.web_client)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.translate import MESSAGE_SUBTYPES, PLATFORM, Workspace, slack_time, translate_event
from bot import events as ev
from bot.services.catch_up import Place, Report

log = logging.getLogger(__name__)

PAGE = 200  # messages a request (Slack recommends no more than 200)
PER_CHANNEL = 2_000  # messages handed on from one channel (its threads' replies included)
PER_WORKSPACE = 20_000  # and from all of the workspace's
CHANNEL_PAGES = 20  # of users.conversations (200 channels each), at most
# Messages posted after the bot connected come live: the fetch stops there, and only messages stored before it say
# where to start, each with a margin for a clock that is a little off (what both paths see is stored once).
LIVE_MARGIN = timedelta(minutes=1)
# What was said in any channel up to a little before the newest message stored (about when the bot went away) was seen
# live, stored or not: a channel whose newest stored message is old is read from there, not from that message.
SEEN_LIVE_SLACK = timedelta(minutes=10)
# A reply said while away to a thread started earlier is not in the channel's history after the gap's start: the
# messages of the day before it are looked through for threads whose latest reply is newer (at most LOOKBACK a
# channel, at most THREADS a channel read, those with the latest replies first).
THREAD_LOOKBACK = timedelta(days=1)
LOOKBACK = 1_000
THREADS = 50
# A thread older than that, with a message stored in the ACTIVE_THREADS before the gap, may still be going on: its
# replies are asked for too, the latest active first, at most OLDER_THREADS a channel and OLDER_THREADS_IN_ALL a
# workspace (one conversations.replies call each, Tier 3: about two minutes' worth).
ACTIVE_THREADS = timedelta(days=3)
OLDER_THREADS = 10
OLDER_THREADS_IN_ALL = 100
# Channels deleted or made private while the bot was away (no event reached it): the public channels are listed
# (conversations.list, archived ones too, Tier 2, LIST_PAGE a page, at most LIST_PAGES), and each stored channel the
# bot is not in that is not listed is asked for (conversations.info, Tier 3), at most GONE_CHECKED a catch-up.
LIST_PAGE = 1_000
LIST_PAGES = 50
GONE_CHECKED = 20
# What a fetch that failed raises: Slack's error (no access, the channel gone), no answer, or an answer not JSON.
FAILED = (SlackApiError, OSError, TimeoutError, ValueError)


class Unlisted(Exception):  # noqa: N818 - said in its log line: the channels could not be listed, nothing was read
    pass


class ActiveThreads(Protocol):
    """The threads of a channel with a message stored since `since` (bot.services.catch_up.active_threads)."""

    def __call__(self, platform: str, community: str, channel: str, *, since: datetime,
                 limit: int) -> Awaitable[list[str]]: ...


class StoredChannels(Protocol):
    """{channel: whether it is private}, of those with messages stored (bot.services.catch_up.stored_channels)."""

    def __call__(self, platform: str, community: str) -> Awaitable[dict[str, bool]]: ...


class DigestChannels(Protocol):
    """{channel: why its digest is paused, or ""}, of the digests (bot.services.catch_up.digest_channels)."""

    def __call__(self, platform: str, community: str) -> Awaitable[dict[str, str]]: ...


class StoredBetween(Protocol):
    """The ids of the messages stored at a place from one id to another (bot.services.catch_up.stored_between)."""

    def __call__(self, platform: str, community: str, place: Place, *, low: str, high: str) -> Awaitable[list[str]]: ...


class ResumePoints(Protocol):
    """{place: the ts to fetch after}, for the places read (bot.services.catch_up.resume_points with the database)."""

    def __call__(self, platform: str, community: str, places: list[Place], *, before: str,
                 before_time: datetime) -> Awaitable[dict[Place, str]]: ...


@dataclass(frozen=True)
class Conversation:
    id: str
    name: str
    is_private: bool

    @property
    def label(self) -> str:
        return f"#{self.name} ({self.id})"


def ts_of(when: datetime) -> str:
    """A time as Slack's message ts ("1700000000.000100"): ordered as the stored ids are (same length, digits)."""
    return f"{when.timestamp():.6f}"


def _seconds(ts: Any) -> float | None:
    try:
        seconds = float(ts)
    except (TypeError, ValueError):
        return None
    return seconds if 0 < seconds < 1e11 else None


async def conversations(client: AsyncWebClient) -> list[Conversation]:
    """The channels the bot is a member of (users.conversations), public and private, not archived; no DMs."""
    found: dict[str, Conversation] = {}
    cursor = None
    for _ in range(CHANNEL_PAGES):
        page = await client.users_conversations(types="public_channel,private_channel", exclude_archived=True,
                                                limit=200, cursor=cursor)
        for channel in page.get("channels") or []:
            if not isinstance(channel, dict) or not isinstance(channel.get("id"), str) or channel.get("is_im") \
                    or channel.get("is_mpim") or channel.get("is_archived"):
                continue
            found[channel["id"]] = Conversation(channel["id"], str(channel.get("name") or ""),
                                                bool(channel.get("is_private") or channel.get("is_group")))
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            break
    return sorted(found.values(), key=lambda c: c.id)


async def unseen_channels(client: AsyncWebClient, ws: Workspace, stored: dict[str, bool],
                          member_of: set[str]) -> list[str]:
    """Of the public channels stored here (`stored`: channel -> private) that the bot is not in (`member_of`), those
    Slack no longer shows it: deleted, or made private, while the bot was away (no channel_deleted, no
    channel_convert_to_private came). A public channel the bot is not in is still listed by conversations.list
    (archived ones too), so only those it does not list are asked for (conversations.info: channel_not_found),
    GONE_CHECKED at most; a channel the bot is in was listed just now. Where Slack does not list every channel (an
    error, more than LIST_PAGES pages), none is taken for unseen.

    Slack answers the same channel_not_found for a channel deleted and for one made private that the bot is not in (an
    export's, imported by an admin; one the bot was removed from before). Such a channel was taken for deleted, its
    messages deleted for good (a deletion is remembered: an import does not bring them back), where its members still
    read them. Now it is hidden_of: stored private (its messages kept, no longer quoted, linked or put in a digest
    outside it; a deleted channel's words shown to nobody either) and its digest paused as at the bot's removal.
    A private channel is never taken for unseen: Slack answers the same for one deleted, one the bot was removed
    from, and one it was never in; it keeps its messages, as one the bot is removed from live does (channel_left,
    group_left)."""
    candidates = sorted(c for c, private in stored.items() if not private and c not in member_of)
    if not candidates:
        return []
    listed: set[str] = set()
    cursor = None
    try:
        for _ in range(LIST_PAGES):
            page = await client.conversations_list(types="public_channel", exclude_archived=False, limit=LIST_PAGE,
                                                   cursor=cursor)
            channels = page.get("channels")
            if not isinstance(channels, list):
                return []
            listed |= {c["id"] for c in channels if isinstance(c, dict) and isinstance(c.get("id"), str)}
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        else:
            log.info("Slack workspace %s: more than %d public channels; none is looked for as deleted", ws.team_id,
                     LIST_PAGE * LIST_PAGES)
            return []
    except FAILED as exc:
        log.warning("Slack workspace %s: listing its channels (conversations.list) to find those deleted while the "
                    "bot was away answered %s", ws.team_id, _why(exc))
        return []
    return [channel for channel in [c for c in candidates if c not in listed][:GONE_CHECKED]
            if await channel_not_found(client, channel)]


async def channel_not_found(client: AsyncWebClient, channel: str) -> bool:
    """Whether conversations.info answers channel_not_found (no such channel, or a private one the bot is not in);
    False where it answers otherwise, or not at all (logged)."""
    try:
        await client.conversations_info(channel=channel)
    except FAILED as exc:
        if isinstance(exc, SlackApiError) and exc.response is not None \
                and exc.response.get("error") == "channel_not_found":
            return True
        log.warning("is Slack channel %s deleted? Slack did not say: %s", channel, _why(exc))
    return False


async def archivings(client: AsyncWebClient, ws: Workspace, digests: dict[str, str], member_of: set[str],
                     started: datetime) -> list[ev.Event]:
    """The channel_archive and channel_unarchive that did not reach the bot while it was away, of the channels with a
    digest (`digests`: channel -> why it is paused): one archived meanwhile went on being posted to, refused
    (is_archived) every period and its admin told each time, where the live event pauses it. A channel the bot is in
    (`member_of`: users.conversations, archived ones left out) is not archived: its digest paused for an archive goes
    on. One it is not in, its digest going, is asked for (conversations.info, Tier 3; at most GONE_CHECKED): archived,
    its digest is paused. Where Slack does not say, nothing changes (the next catch-up asks again)."""
    found: list[ev.Event] = []
    asked = 0
    for channel, paused in sorted(digests.items()):
        if channel in member_of:
            if paused == ev.ARCHIVED:
                found.append(_change_of(channel, "channel_unarchive", ws, started))
            continue
        if paused or asked >= GONE_CHECKED:
            continue
        asked += 1
        try:
            info = await client.conversations_info(channel=channel)
        except FAILED as exc:  # channel_not_found: deleted (the catch-up's deletions) or private without the bot
            log.info("is Slack channel %s archived? Slack did not say: %s", channel, _why(exc))
            continue
        if isinstance(info.get("channel"), dict) and info["channel"].get("is_archived") is True:
            found.append(_change_of(channel, "channel_archive", ws, started))
    return [event for event in found if event is not None]


def made_private(stored: dict[str, bool], member_of: list[Conversation], ws: Workspace,
                 started: datetime) -> list[ev.Event]:
    """The channels stored as public (`stored`: channel -> private) that the bot is in and Slack now lists as private
    (users.conversations): made private while the bot was away, as the channel_convert_to_private that did not reach
    it. Unread (no admin turned a private channel on), they stayed public here for good, quoted to anyone."""
    found = [c for c in member_of if c.is_private and stored.get(c.id) is False]
    if found:
        log.info("Slack workspace %s: %d channel(s) made private while the bot was away: %s", ws.team_id, len(found),
                 ", ".join(c.id for c in found))
    events = [translate_event({"type": "event_callback", "team_id": ws.team_id,
                               "event_id": f"made-private:{c.id}:{ts_of(started)}",
                               "event": {"type": "message", "subtype": "channel_convert_to_private", "channel": c.id,
                                         "channel_type": "group", "ts": ts_of(started)}}, ws) for c in found]
    return [event for event in events if event is not None]


def _change_of(channel: str, kind: str, ws: Workspace, started: datetime) -> ev.Event | None:
    """A change of a channel found at a catch-up as the event it would have been told live (one a connection: an
    archive, an unarchive and an archive again while the bot is away each count; a second is a no-op)."""
    return translate_event({"type": "event_callback", "team_id": ws.team_id,
                            "event_id": f"{kind}:{channel}:{ts_of(started)}",
                            "event": {"type": kind, "channel": channel}}, ws)


def hidden_of(channel: str, ws: Workspace) -> list[ev.Event]:
    """A public channel Slack no longer shows the bot (unseen_channels: deleted, or made private without it) as the
    events that hide it without losing it: its channel_convert_to_private (MADE_PRIVATE: stored private, its messages
    kept and shown outside it no more) and a channel_left (its digest paused, until the bot is invited there). Once a
    channel: stored private, it is not asked for again."""
    events = [translate_event({"type": "event_callback", "team_id": ws.team_id,
                               "event_id": f"channel-unseen-{kind}:{channel}", "event": event}, ws)
              for kind, event in (("private", {"type": "message", "subtype": "channel_convert_to_private",
                                               "channel": channel, "channel_type": "group"}),
                                  ("left", {"type": "channel_left", "channel": channel}))]
    return [event for event in events if event is not None]


def _messages(page: Any) -> list[dict[str, Any]]:
    return [m for m in page.get("messages") or [] if isinstance(m, dict) and _seconds(m.get("ts")) is not None]


def _replied_after(message: dict[str, Any], after: float) -> bool:
    latest = _seconds(message.get("latest_reply"))
    return bool(message.get("reply_count")) and latest is not None and latest > after


@dataclass
class Gap:
    """A channel's messages after `after` (seconds), newest first as Slack lists them, and its threads with replies
    after it."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    threads: list[dict[str, Any]] = field(default_factory=list)
    cut: bool = False
    reached: float = 0.0  # how far back the messages were looked through (their threads' replies are known)
    edited: list[dict[str, Any]] = field(default_factory=list)  # of those before `after`, the ones edited after it
    listed: set[str] = field(default_factory=set)  # the ts of those before `after` Slack still has (no tombstone)


async def history(client: AsyncWebClient, channel: str, after: float, upto: str, room: int) -> Gap:
    """The newest `room` messages of the channel after `after` (Slack lists the newest first), and the thread parents
    of the day before with replies after it (THREAD_LOOKBACK)."""
    gap, looked, cursor = Gap(), 0, None
    oldest = f"{max(after - THREAD_LOOKBACK.total_seconds(), 0):.6f}"
    while True:
        page = await client.conversations_history(channel=channel, oldest=oldest, latest=upto, limit=PAGE,
                                                  cursor=cursor)
        listed = _messages(page)
        for message in listed:
            if _replied_after(message, after):
                gap.threads.append(message)
            if float(message["ts"]) <= after:
                looked += 1
                if message.get("subtype") != "tombstone":  # deleted, kept in its place while it has replies
                    gap.listed.add(message["ts"])
                if (_seconds((message.get("edited") or {}).get("ts")) or 0) > after:
                    gap.edited.append(message)
            elif len(gap.messages) < room:
                gap.messages.append(message)
            else:
                gap.cut = True
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not page.get("has_more") or not cursor:
            gap.reached = float(oldest)
            return gap
        if gap.cut or looked >= LOOKBACK:
            gap.reached = min([float(m["ts"]) for m in listed] or [after])
            return gap


@dataclass
class Replies:
    said: list[dict[str, Any]]  # the replies after `after`, oldest first (as Slack lists them)
    more: bool  # more are left
    parent_gone: bool  # the thread's first message is a tombstone: deleted (while the bot was away), replies kept


async def replies(client: AsyncWebClient, channel: str, thread: str, after: float, upto: str, room: int) -> Replies:
    """The replies of a thread after `after`, at most `room`, and whether its first message was deleted."""
    found = Replies([], False, False)
    cursor = None
    while True:
        page = await client.conversations_replies(channel=channel, ts=thread, oldest=f"{after:.6f}", latest=upto,
                                                  limit=PAGE, cursor=cursor)
        for message in _messages(page):
            if message["ts"] == thread:  # the parent comes first in every answer; it is the channel's
                found.parent_gone = found.parent_gone or message.get("subtype") == "tombstone"
                continue
            if float(message["ts"]) <= after:
                continue
            if len(found.said) >= room:
                found.more = True
                return found
            found.said.append(message)
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not page.get("has_more") or not cursor:
            return found


def event_of(message: dict[str, Any], channel: Conversation, ws: Workspace) -> ev.Event | None:
    """A message of the history as the core event its live delivery would have been (a mention of the bot as its
    app_mention, which answers it), or None: the bot's own posts (bolt drops them live), joins and other notices."""
    if message.get("user") == ws.bot_user_id or message.get("subtype") not in MESSAGE_SUBTYPES \
            or message.get("subtype") in ("message_changed", "message_deleted"):
        return None
    kind = "app_mention" if f"<@{ws.bot_user_id}>" in str(message.get("text") or "") else "message"
    body = {"type": "event_callback", "team_id": ws.team_id, "event_id": f"caught-up:{channel.id}:{message['ts']}",
            "event": {**message, "type": kind, "channel": channel.id,
                      "channel_type": "group" if channel.is_private else "channel"}}
    event = translate_event(body, ws)
    if isinstance(event, ev.MessagePosted):
        return replace(event, caught_up=True, channel_name=channel.name)
    return event


async def catch_up(client: AsyncWebClient, ws: Workspace, *, resume_points: ResumePoints,
                   handle: Callable[[list[ev.Event]], Awaitable[bool]], started: datetime,
                   covered: datetime | None = None, active_threads: ActiveThreads | None = None,
                   stored_channels: StoredChannels | None = None,
                   stored_between: StoredBetween | None = None,
                   digest_channels: DigestChannels | None = None) -> Report | None:
    """Fetch what was said in the channels read between the newest message stored in each and the bot's connection
    (`started`), and hand it on, a channel's events in one list (`handle`: False where they could not be stored),
    within PER_CHANNEL and PER_WORKSPACE; a channel whose fetch fails is one log line, and the rest goes on. None:
    nothing to catch up (a first run: import the history instead). `covered`: what was said before it is in hand
    (delivered live to a replica, or fetched; bot.services.catch_up_marks), and is not fetched again. Raises Unlisted
    (its warning logged) where Slack would not list the channels. `active_threads`: the older threads still going
    on, whose replies are asked for too (ACTIVE_THREADS). `stored_channels`: the channels with messages stored, of
    which those Slack no longer shows the bot (unseen_channels) are hidden (hidden_of), first, and those made
    private meanwhile (made_private) handed on as their channel_convert_to_private. `stored_between`:
    the messages stored in the stretch of a channel's history looked through for threads and edits (the day before
    the gap, THREAD_LOOKBACK), of which those Slack no longer lists are handed on as their deletion (vanished).
    `digest_channels`: the channels with a digest, of which those archived or unarchived meanwhile are handed on as
    their channel_archive or channel_unarchive (archivings), after the deletions."""
    try:
        channels = await conversations(client)
    except FAILED as exc:  # e.g. a scope missing from an app made from an older manifest
        log.warning("catching up Slack workspace %s failed: listing the channels the bot is in (users.conversations) "
                    "answered %s", ws.team_id, _why(exc))
        raise Unlisted from None
    if stored_channels is not None:
        stored = await stored_channels(PLATFORM, ws.team_id)
        unseen = [channel for channel in await unseen_channels(client, ws, stored, {c.id for c in channels})
                  if await handle(hidden_of(channel, ws))]
        if unseen:
            log.info("Slack workspace %s: %d public channel(s) Slack no longer shows the bot (deleted, or made private "
                     "without it, while it was away: %s); stored as private, their messages kept and no longer shown "
                     "outside them, their digests paused", ws.team_id, len(unseen), ", ".join(unseen))
        for event in made_private(stored, channels, ws, started):
            await handle([event])
    if digest_channels is not None:
        for event in await archivings(client, ws, await digest_channels(PLATFORM, ws.team_id),
                                      {c.id for c in channels}, started):
            await handle([event])
    before = started - LIVE_MARGIN
    bound = {"before": ts_of(before), "before_time": before}
    points = await resume_points(PLATFORM, ws.team_id, [Place(c.id, None, c.is_private) for c in channels], **bound)
    if not points:
        return None
    seen_live = max(float(ts) for ts in points.values()) - SEEN_LIVE_SLACK.total_seconds()
    if covered is not None:
        seen_live = max(seen_live, (covered - LIVE_MARGIN).timestamp())
    upto = ts_of(started + LIVE_MARGIN)
    report = Report()
    budget = PER_WORKSPACE
    older_budget = OLDER_THREADS_IN_ALL
    for channel in channels:
        point = points.get(Place(channel.id, None, channel.is_private))
        if point is None:
            continue
        if budget <= 0:
            report.not_read.append(channel.label)
            continue
        report.read += 1
        room = min(PER_CHANNEL, budget)
        taken = 0
        events: list[ev.Event] = []
        try:
            after = max(float(point), seen_live)
            gap = await history(client, channel.id, after, upto, room)
            if stored_between is not None:
                events += await vanished(stored_between, gap, after, channel, ws)
            done = set()
            for message in reversed(gap.edited):
                if (edit := edit_of(message, channel, ws)) is not None:
                    events.append(edit)
                    report.fetched += 1
            for message in reversed(gap.messages):
                taken += 1
                done.add(message["ts"])
                report.fetched += _add(events, message, channel, ws)
            gap.threads.sort(key=lambda m: float(m["latest_reply"]), reverse=True)
            read, left = gap.threads[:THREADS], gap.threads[THREADS:]
            if active_threads is not None and older_budget > 0:
                # Slack lists a thread's latest reply only with its first message: one older than the messages
                # looked through is asked for its replies, if a message of it was stored lately.
                since = datetime.fromtimestamp(after, UTC) - ACTIVE_THREADS
                older = [{"ts": thread} for thread in await active_threads(
                    PLATFORM, ws.team_id, channel.id, since=since, limit=OLDER_THREADS)
                    if _seconds(thread) is not None and float(thread) < gap.reached][:older_budget]
                older_budget -= len(older)
                read += older
            thread_points = await resume_points(
                PLATFORM, ws.team_id, [Place(channel.id, m["ts"], channel.is_private) for m in read], **bound)
            for parent in sorted(read, key=lambda m: float(m["ts"])):
                thread_point = thread_points.get(Place(channel.id, parent["ts"], channel.is_private))
                if thread_point is None:
                    continue
                if taken >= room:
                    left.append(parent)
                    break
                try:
                    thread = await replies(client, channel.id, parent["ts"], max(float(thread_point), seen_live),
                                           upto, room - taken)
                except FAILED as exc:  # (its parent deleted meanwhile): the channel's other threads go on
                    log.warning("catching up the thread %s of %s in Slack workspace %s failed: %s", parent["ts"],
                                channel.label, ws.team_id, _why(exc))
                    if channel.label not in report.failed:
                        report.failed.append(channel.label)
                    report.again = report.again or _may_pass(exc)
                    continue
                gap.cut = gap.cut or thread.more
                if thread.parent_gone:
                    # A thread older than the stretch looked through, its first message deleted while the bot was
                    # away (Slack keeps a tombstone while replies are left): stored, the question was shown as
                    # asked, until an answer looked it up. It goes as at its live tombstone; its replies stay.
                    events.append(ev.MessageDeleted(
                        platform=PLATFORM, community=ws.team_id, user="", channel=channel.id, message_id=parent["ts"],
                        event_id=f"caught-up-delete:{channel.id}:{parent['ts']}"))
                for message in thread.said:
                    if message["ts"] not in done:  # a reply also sent to the channel is listed in both
                        taken += 1
                        done.add(message["ts"])
                        report.fetched += _add(events, message, channel, ws)
            if gap.cut or left:
                report.cut.append(channel.label)
        except FAILED as exc:
            log.warning("catching up %s in Slack workspace %s failed after %d message(s): %s", channel.label,
                        ws.team_id, taken, _why(exc))
            report.failed.append(channel.label)
            report.again = report.again or _may_pass(exc)
        # The channel's messages and its threads' in one batch (one transaction: a stop leaves all or none).
        if events and not await handle(events):
            report.again = True
            if channel.label not in report.failed:
                report.failed.append(channel.label)
        budget -= taken
    return report


async def vanished(stored_between: StoredBetween, gap: Gap, after: float, channel: Conversation,
                   ws: Workspace) -> list[ev.Event]:
    """The channel's messages stored here that the history looked through (from `gap.reached` to `after`) no longer
    lists: deleted while the bot was away (no message_deleted came), as the deletions they would have been. A
    message before that stretch, or before the oldest message listed in it, is not known either way, and is left
    (still_there looks it up before it is shown)."""
    if gap.reached >= after or not gap.listed:
        return []
    # From the oldest listed: older ones may be hidden, not deleted (a free workspace shows 90 days of history).
    low, high = max(f"{gap.reached:.6f}", min(gap.listed)), f"{after:.6f}"
    stored = await stored_between(PLATFORM, ws.team_id, Place(channel.id), low=low, high=high)
    return [ev.MessageDeleted(platform=PLATFORM, community=ws.team_id, user="", channel=channel.id, message_id=ts,
                              event_id=f"caught-up-delete:{channel.id}:{ts}")
            for ts in sorted(stored) if low < ts <= high and ts not in gap.listed]


def reactions_of(message: dict[str, Any], channel: Conversation, ws: Workspace) -> list[ev.Event]:
    """The reactions a message of the history has (given while the bot was away, as it was said then), as the
    reaction_added events they would have been: they weigh answers and resources. Slack lists who gave each."""
    found: list[ev.Event] = []
    for reaction in message.get("reactions") or []:
        if not isinstance(reaction, dict) or not isinstance(reaction.get("name"), str):
            continue
        for user in reaction.get("users") or []:
            if not isinstance(user, str) or user == ws.bot_user_id:
                continue
            body = {"type": "event_callback", "team_id": ws.team_id,
                    "event_id": f"caught-up:{channel.id}:{message['ts']}:{reaction['name']}:{user}"[:200],
                    "event": {"type": "reaction_added", "user": user, "reaction": reaction["name"],
                              "item": {"type": "message", "channel": channel.id, "ts": message["ts"]},
                              "event_ts": message["ts"]}}
            event = translate_event(body, ws)
            if event is not None:
                found.append(event)
    return found


def edit_of(message: dict[str, Any], channel: Conversation, ws: Workspace) -> ev.MessagePosted | None:
    """A message said before the gap and edited during it, as the edit it would have been told live (its
    message_changed): of its time, not a question (an edited mention of the bot is answered live neither)."""
    edited = message.get("edited")
    event = event_of(message, channel, ws) if isinstance(edited, dict) else None
    if not isinstance(event, ev.MessagePosted) or event.mentions_bot or f"<@{ws.bot_user_id}>" in event.text:
        return None
    return replace(event, edited=True, time=slack_time(edited.get("ts"), event.time),
                   event_id=f"caught-up-edit:{channel.id}:{message['ts']}:{edited.get('ts')}"[:200])


def _add(events: list[ev.Event], message: dict[str, Any], channel: Conversation, ws: Workspace) -> bool:
    """A message of the history as the events it would have been (the message, then its reactions), added to
    `events`; whether it was one to hand on."""
    event = event_of(message, channel, ws)
    if event is None:
        return False
    events.append(event)
    events += reactions_of(message, channel, ws)
    return True


def _may_pass(exc: Exception) -> bool:
    """Whether a failed fetch may succeed later: no answer, or Slack's own trouble or rate limit; not an error Slack
    answered about the channel or thread (no access, gone)."""
    if not isinstance(exc, SlackApiError) or exc.response is None:
        return True
    return exc.response.status_code == 429 or exc.response.status_code >= 500 or exc.response.get("error") in (
        "ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout")


def _why(exc: Exception) -> str:
    if isinstance(exc, SlackApiError) and exc.response is not None:
        return str(exc.response.get("error") or exc.response.status_code)
    return repr(exc)


def summary(team: str, report: Report) -> str:
    return report.line(f"Slack workspace {team}", "channel(s)", cap=PER_WORKSPACE, command="connective import slack",
                       cut=f"the earlier messages or threads of {{}} (at most {PER_CHANNEL} a channel are read, the "
                           f"newest, with the replies of {THREADS} threads)")


class CatchUps:
    """One catch-up at a time for the workspace, in the background: started at each connection (Socket Mode's hello,
    after a reconnect too; HTTP mode's start). Connected again while one runs, another follows it from then."""

    def __init__(self, run: Callable[[datetime], Awaitable[None]]) -> None:
        self._run = run
        self._task: asyncio.Task[None] | None = None
        self._again: datetime | None = None

    def start(self, started: datetime | None = None) -> None:
        started = started or datetime.now(UTC)
        if self._task is not None and not self._task.done():
            self._again = started
            return
        self._task = asyncio.create_task(self._follow(started), name="connective-slack-catch-up")

    async def _follow(self, started: datetime) -> None:
        while True:
            await self._run(started)
            if self._again is None:
                return
            started, self._again = self._again, None

    async def done(self) -> None:
        """Until the catch-ups started so far have ended."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
