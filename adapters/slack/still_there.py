"""Whether the messages an answer is about to quote or link are still on Slack as stored. A message deleted or edited
while the bot was away (no socket, or HTTP mode's retries given up) stays stored as it was, since nothing told the
bot (the catch-up reads what is new, and edits of the day before only), and would be quoted with a dead link as its
author's evidence: the words they took back reach someone. So each one is looked up once a process, before it is first
shown: conversations.history for a channel's message, conversations.replies for a reply (Tier 3, about 50 a minute:
only the few an answer is about to show, at most CHECKED at once, within CHECK_SECONDS). One found edited is handed on
as the edit it missed. A message posted since the process connected was seen live (its edit or deletion came as an
event), and one found there is known to be there, until a time no process was connected (a Socket Mode disconnect
nobody covered: `away_until`), when what was said before may have been deleted unseen."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.actions import HIDDEN, LookedUp, looked_up

log = logging.getLogger(__name__)

CHECK_SECONDS = 5.0  # an answer waits at most this long; what is not known by then is shown as before
CHECKED = 20  # messages looked up at most for one answer or digest; the rest is shown as before
LIVE_MARGIN = 60.0  # seconds, for a clock that is a little off
# What Slack answers for a reply whose thread is gone (its first message deleted, with no reply left).
GONE_ERRORS = {"thread_not_found"}
# Deleted, but kept in its place while its thread has replies.
GONE_SUBTYPES = {"tombstone"}
# Handed a message Slack shows edited (as conversations.history lists it) and its channel: the edit goes to the core.
Edited = Callable[[dict[str, Any], str], Awaitable[None]]
# Handed a channel Slack answers channel_not_found for: whether it is no longer shown (a public one stored here, deleted
# or made private without the bot: stored private now, its messages kept). A private one is shown as stored: the bot
# may have been removed from it.
ChannelGone = Callable[[str], Awaitable[bool]]
# The stored links: live https://acme.slack.com/archives/C…/p…, imported https://slack.com/archives/C…/p… (or on the
# workspace's own host), a reply's with ?thread_ts=…&cid=….
_LINK = re.compile(r"https://[^/?#]+/archives/([A-Z0-9]+)/p(\d{10})(\d{6})(?:\?thread_ts=(\d+\.\d+)(?:&cid=\w+)?)?")


class StillThere:
    def __init__(self, client: AsyncWebClient, team_id: str, edited: Edited | None = None, *,
                 live_since: float | None = None, channel_gone: ChannelGone | None = None) -> None:
        self.client = client
        self.team_id = team_id
        self.edited = edited
        self.channel_gone = channel_gone
        # Channels Slack answered channel_not_found for, once a process each: whether they were taken for deleted.
        self._channels_gone: dict[str, asyncio.Task[bool]] = {}
        self.live_since = (time.time() if live_since is None else live_since) - LIVE_MARGIN
        self._there: set[str] = set()  # links found there by this process

    def away_until(self, connected: float) -> None:
        """No process was connected to the workspace for a while (a Socket Mode disconnect nobody covered, the
        database not keeping what came), up to `connected` (seconds): a message said before, seen live or found there
        since, may have been deleted or edited meanwhile with nothing told. Each is looked up again before it is
        first shown; one said within LIVE_MARGIN after, too (a clock a little off)."""
        self.live_since = max(self.live_since, connected + LIVE_MARGIN)
        self._there.clear()

    async def look_up(self, team_id: str, permalinks: list[str]) -> LookedUp:
        """The links, of messages of this workspace, that Slack no longer has, and those it shows edited (handed over
        as edits first)."""
        if team_id != self.team_id:
            return LookedUp()
        wanted: dict[str, tuple[str, str, str | None]] = {}
        for link in dict.fromkeys(permalinks):
            match = _LINK.fullmatch(link)
            if match is None or link in self._there:
                continue
            channel, ts, thread = match.group(1), f"{match.group(2)}.{match.group(3)}", match.group(4)
            if float(ts) >= self.live_since:
                continue  # seen live
            wanted[link] = (channel, ts, thread if thread != ts else None)
        if not wanted:
            return LookedUp()
        if len(wanted) > CHECKED:
            log.info("Slack workspace %s: %d message(s) to be shown, the first %d looked up (Slack's rate limits)",
                     team_id, len(wanted), CHECKED)
        asked = {asyncio.create_task(self._fetch(*where)): link for link, where in list(wanted.items())[:CHECKED]}

        async def edited(link: str, message: dict[str, Any]) -> bool:
            if isinstance(message.get("edited"), dict) and self.edited is not None:
                await self.edited(message, wanted[link][0])
                return True
            return False

        return await looked_up(asked, seconds=CHECK_SECONDS, where=f"Slack workspace {team_id}", edited=edited,
                               there=self._there)

    async def _channel_gone(self, channel: str) -> bool:
        """Whether the channel is no longer shown (deleted, or made private, while the bot was away: no event came):
        asked of `channel_gone` once a process, the messages of the channel looked up at once waiting for it."""
        if self.channel_gone is None:
            return False
        if channel not in self._channels_gone:
            self._channels_gone[channel] = asyncio.ensure_future(self.channel_gone(channel))
        try:
            return await asyncio.shield(self._channels_gone[channel])
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - not known: shown as stored, as for any error
            log.warning("channel %s of Slack workspace %s, not found: storing it as private failed", channel,
                        self.team_id, exc_info=True)
            return False

    async def _fetch(self, channel: str, ts: str, thread: str | None) -> dict[str, Any] | None:
        """The message as Slack has it; {}: it has it no longer; None: not known (no access, an error)."""
        try:
            if thread is None:
                page = await self.client.conversations_history(channel=channel, latest=ts, oldest=ts, inclusive=True,
                                                               limit=1)
            else:  # the thread's first message comes first whatever the bounds: 2 make room for the reply
                page = await self.client.conversations_replies(channel=channel, ts=thread, latest=ts, oldest=ts,
                                                               inclusive=True, limit=2)
        except SlackApiError as exc:
            error = str(exc.response.get("error") if exc.response is not None else exc)[:100]
            if error in GONE_ERRORS:
                return {}
            if error == "channel_not_found" and await self._channel_gone(channel):
                return HIDDEN
            log.warning("is message %s of channel %s still there? Slack did not say: %s", ts, channel, error)
            return None
        except (OSError, TimeoutError, ValueError) as exc:
            log.warning("is message %s of channel %s still there? Slack did not say: %r", ts, channel, exc)
            return None
        said = [m for m in page.get("messages") or [] if isinstance(m, dict) and m.get("ts") == ts]
        if not said or said[0].get("subtype") in GONE_SUBTYPES:
            return {}
        return said[0]
