"""Recorded Discord gateway payloads (tests/fixtures/discord/) and the ids they use."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.discord.translate import ChannelInfo

FIXTURES = Path(__file__).parent / "fixtures" / "discord"

GUILD = "1100000000000000001"
BOT = "1100000000000000100"
BOT_ROLE = "1100000000000000050"  # its managed role in guild_create.json
PETRA, ASHA, KENJI = "1100000000000000201", "1100000000000000202", "1100000000000000203"
HELP, PRIVATE, FORUM, GENERAL = (
    "1100000000000000301",
    "1100000000000000302",
    "1100000000000000303",
    "1100000000000000304",
)
THREAD, PRIVATE_THREAD, FORUM_POST = "1100000000000000401", "1100000000000000402", "1100000000000000403"
VIEW_CHANNEL = 1 << 10


def load(name: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads((FIXTURES / f"{name}.json").read_text()))


@dataclass
class GuildContext:
    """The channel facts the translator needs, read from a recorded GUILD_CREATE (what discord.py caches)."""

    bot_user_id: str = BOT
    channels: dict[str, ChannelInfo] = field(default_factory=dict)

    @classmethod
    def from_guild_create(cls, guild: dict[str, Any]) -> GuildContext:
        channels = {}
        for ch in guild["channels"]:
            denied = any(
                o["id"] == guild["id"] and int(o["deny"]) & VIEW_CHANNEL
                for o in ch.get("permission_overwrites", [])
            )
            channels[ch["id"]] = ChannelInfo(ch["id"], ch["name"], is_private=denied,
                                             is_announcements=ch.get("type") == 5, is_forum=ch.get("type") == 15)
        for th in guild["threads"]:
            channels[th["id"]] = ChannelInfo(
                th["id"], th["name"], parent_id=th["parent_id"], is_thread=True, is_private=th["type"] == 12
            )
        return cls(channels=channels)

    def channel(self, channel_id: str) -> ChannelInfo | None:
        return self.channels.get(channel_id)

    def bot_role_id(self, guild_id: str) -> str | None:
        return BOT_ROLE

    def direct_message_guild(self, message_id: str) -> str | None:
        return None  # as if the client had found no server for the DM (it names none)
