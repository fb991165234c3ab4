"""Names of users and channels (users.info, conversations.info), asked once per process."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Person:
    name: str = ""
    timezone: str | None = None
    is_bot: bool = False


class Directory:
    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._people: dict[str, Person] = {}
        self._channels: dict[str, str] = {}

    async def person(self, user: str) -> Person:
        if user not in self._people:
            try:
                info = (await self.client.users_info(user=user))["user"]
                profile = info.get("profile") or {}
                self._people[user] = Person(
                    name=profile.get("display_name") or info.get("real_name") or info.get("name", ""),
                    timezone=info.get("tz"), is_bot=bool(info.get("is_bot")))
            except (SlackApiError, KeyError, TypeError) as exc:
                log.info("users.info %s failed: %s", user, exc)
                return Person()
        return self._people[user]

    async def channel_name(self, channel: str) -> str:
        if channel.startswith("D"):
            return ""
        if channel not in self._channels:
            try:
                self._channels[channel] = (await self.client.conversations_info(channel=channel))["channel"]["name"]
            except (SlackApiError, KeyError, TypeError) as exc:
                log.info("conversations.info %s failed: %s", channel, exc)
                return ""
        return self._channels[channel]
