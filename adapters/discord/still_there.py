"""Whether the messages an answer is about to quote or link are still on Discord as stored. A message deleted or edited
while the bot was away (between a stop and the catch-up, which reads only what is new) stays stored as it was, since
nothing told the bot, and could be shown as its author's evidence. So each one is looked up once a session, before it
is first shown: one found edited is handed to the core as the MESSAGE_UPDATE it missed. A message posted since the
session began was seen live (its edits and deletion would have come through the gateway), and one found there since
is known to be there until the next session."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import discord

from bot.actions import LookedUp, looked_up

log = logging.getLogger(__name__)

GONE_CODES = {10003, 10008}  # Unknown Channel, Unknown Message
CHECK_SECONDS = 5.0  # an answer waits at most this long; what is not known by then is shown as before
LIVE_MARGIN = timedelta(minutes=1)  # for a clock that is a little off
# Handed a message Discord shows edited (its REST payload, with guild_id): the edit is given to the core.
Edited = Callable[[dict[str, Any]], Awaitable[None]]
_LINK = re.compile(r"https://discord\.com/channels/(\d+)/(\d+)/(\d+)")


class StillThere:
    def __init__(self, client: discord.Client, edited: Edited | None = None) -> None:
        self.client = client
        self.edited = edited
        self._live_since: dict[str, datetime] = {}  # server -> when its session began
        self._there: dict[str, set[str]] = {}  # server -> links found there this session

    def session_began(self, guild_id: str, at: datetime) -> None:
        """A new session (GUILD_CREATE): what was deleted before it was not told."""
        self._live_since[guild_id] = at - LIVE_MARGIN
        self._there.pop(guild_id, None)

    async def look_up(self, guild_id: str, permalinks: list[str]) -> LookedUp:
        """The links, of messages of this server, that Discord no longer has, and those it shows edited (handed over
        as edits first)."""
        since = self._live_since.get(guild_id)
        there = self._there.setdefault(guild_id, set())
        asked: dict[asyncio.Task[dict[str, Any] | None], str] = {}
        for link in dict.fromkeys(permalinks):
            match = _LINK.fullmatch(link)
            if match is None or match.group(1) != guild_id or link in there:
                continue
            channel_id, message_id = int(match.group(2)), int(match.group(3))
            if since is not None and discord.utils.snowflake_time(message_id) >= since:
                continue  # seen live
            asked[asyncio.create_task(self._fetch(channel_id, message_id))] = link
        if not asked:
            return LookedUp()

        async def edited(link: str, message: dict[str, Any]) -> bool:
            del link
            if message.get("edited_timestamp") and self.edited is not None:
                await self.edited({**message, "guild_id": guild_id})
                return True
            return False

        return await looked_up(asked, seconds=CHECK_SECONDS, where=f"Discord server {guild_id}", edited=edited,
                               there=there)

    async def _fetch(self, channel_id: int, message_id: int) -> dict[str, Any] | None:
        """The message as Discord has it; {}: it has it no longer; None: not known (no access, an error)."""
        http: Any = self.client.http
        try:
            message = await http.get_message(channel_id, message_id)
        except discord.NotFound as exc:
            return {} if exc.code in GONE_CODES else None
        except (discord.HTTPException, OSError, TimeoutError) as exc:
            log.warning("is message %s of channel %s still there? Discord did not say: %s", message_id, channel_id,
                        f"{exc.status} {exc.text}" if isinstance(exc, discord.HTTPException) else repr(exc))
            return None
        return message if isinstance(message, dict) and message else None
