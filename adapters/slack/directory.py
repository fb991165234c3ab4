"""Names of users and channels (users.info, conversations.info), asked once per process; whether a
member is a workspace admin or owner, asked again after ADMIN_TTL (roles change)."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import error_kind
from bot.safety import loggable

log = logging.getLogger(__name__)

ADMIN_TTL = 300.0  # seconds a users.info answer about admin rights is trusted
# Seconds a channel's name (conversations.info) is trusted: a channel renamed is told to one replica only
# (channel_rename), and each stored message writes its channel's name back.
CHANNEL_TTL = 600.0


def _failure(exc: Exception) -> str:
    """Slack's error code ('user_not_found'), or the kind of an answer of another shape: a SlackApiError's text is
    several lines, the whole answer quoted, and a KeyError's may quote what the answer held."""
    if isinstance(exc, SlackApiError) and exc.response is not None:
        return loggable(exc.response.get("error"))
    return error_kind(exc)


@dataclass(frozen=True)
class Person:
    name: str = ""
    timezone: str | None = None
    is_bot: bool = False
    team: str = ""  # the account's workspace (users.info team_id): another one in a Slack Connect channel
    is_stranger: bool = False  # Slack's own word for an account of another organisation the bot cannot see more of
    is_guest: bool = False  # a multi-channel (is_restricted) or single-channel (is_ultra_restricted) guest


def person_of(info: dict) -> Person:
    """A users.info `user` object (or team_join's, user_change's) as the adapter keeps it."""
    profile = info.get("profile") or {}
    team = info.get("team_id") or profile.get("team") or ""
    return Person(name=profile.get("display_name") or info.get("real_name") or info.get("name", ""),
                  timezone=info.get("tz"), is_bot=bool(info.get("is_bot")), team=team if isinstance(team, str) else "",
                  is_stranger=bool(info.get("is_stranger")),
                  is_guest=bool(info.get("is_restricted") or info.get("is_ultra_restricted")))


class Directory:
    def __init__(self, client: AsyncWebClient, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.monotonic = monotonic
        self._people: dict[str, Person] = {}
        self._channels: dict[str, tuple[str, float]] = {}  # channel -> (name, asked at)
        self._admins: dict[str, tuple[bool, float]] = {}  # user -> (admin or owner, asked at)

    async def is_admin(self, user: str) -> bool:
        """Workspace admin or owner (users.info `is_admin` / `is_owner`); False when Slack can't say."""
        cached = self._admins.get(user)
        if cached is not None and self.monotonic() - cached[1] < ADMIN_TTL:
            return cached[0]
        try:
            info = (await self.client.users_info(user=user))["user"]
        except (SlackApiError, KeyError, TypeError) as exc:
            log.info("users.info %s failed (%s); treated as not an admin", loggable(user), _failure(exc))
            return False
        admin = bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner"))
        self._admins[user] = (admin, self.monotonic())
        return admin

    def learn(self, user: str, person: Person) -> None:
        """What an account change (team_join, user_change) says of a member: kept, as users.info would answer now.
        Names were asked once per process, so a member renamed on Slack kept the old name, and their next message
        wrote it back over the new one; their admin rights are asked again."""
        self._people[user] = person
        self._admins.pop(user, None)

    async def person(self, user: str) -> Person:
        if user not in self._people:
            try:
                self._people[user] = person_of((await self.client.users_info(user=user))["user"])
            except (SlackApiError, KeyError, TypeError, AttributeError) as exc:
                log.info("users.info %s failed: %s", loggable(user), _failure(exc))
                return Person()
        return self._people[user]

    def learn_channel(self, channel: str, name: str) -> None:
        """A channel renamed (channel_rename, group_rename): its new name, as conversations.info would answer now.
        Names were asked once per process, so each message of a renamed channel wrote its old name back until a
        restart: answers and digests named it by a name it no longer had."""
        self._channels[channel] = (name, self.monotonic())

    async def channel_name(self, channel: str) -> str:
        if channel.startswith("D"):
            return ""
        cached = self._channels.get(channel)
        if cached is None or self.monotonic() - cached[1] >= CHANNEL_TTL:
            try:
                name = (await self.client.conversations_info(channel=channel))["channel"]["name"]
            except (SlackApiError, KeyError, TypeError) as exc:
                log.info("conversations.info %s failed: %s", loggable(channel), _failure(exc))
                return cached[0] if cached else ""
            self._channels[channel] = cached = (name, self.monotonic())
        return cached[0]
