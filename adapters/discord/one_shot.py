"""Discord from a one-shot command (`connective forget`): discord.py's REST client after `login`, no gateway. What
the core would have had the running bot send goes through the same DiscordSender (DMs, edits of the bot's DMs)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import discord

from adapters.discord.render import NO_PINGS
from adapters.discord.runner import SETUP, use_api_url
from adapters.discord.sender import DiscordSender
from bot.db.models import Community
from bot.errors import UserError

if TYPE_CHECKING:
    from bot.app import App
    from bot.settings import Settings


class DiscordOneShot:
    def __init__(self, sender: DiscordSender) -> None:
        self.sender = sender  # the core's Sender of platform "discord" while the command runs

    async def refresh(self, community: str, user: str) -> bool:
        return False  # Discord has no App Home to publish again


@asynccontextmanager
async def connected(app: App, settings: Settings, community: str) -> AsyncIterator[DiscordOneShot]:
    """A UserError where Discord refuses the token, or its bot is not in the server `community`."""
    from sqlalchemy import select

    if settings.discord_api_url:
        use_api_url(settings.discord_api_url)
    client = discord.Client(intents=discord.Intents.none(), allowed_mentions=NO_PINGS)

    async def community_settings(guild_id: str) -> dict[str, Any]:
        async with app.db.sessions() as session:
            found = await session.scalar(select(Community.settings).where(Community.platform == "discord",
                                                                          Community.external_id == guild_id))
            return dict(found or {})

    try:
        try:
            await client.login(settings.discord_token.get_secret_value())  # type: ignore[union-attr]
        except discord.LoginFailure:
            raise UserError(f"Discord refused the bot token (DISCORD_TOKEN); {SETUP}") from None
        # Another application's bot (the token of another deployment on the same database) reaches none of the
        # server's members: each DM refused was counted as a member who takes none, and the asker offered the next
        # expert for it.
        try:
            await client.fetch_guild(int(community), with_counts=False)
        except (discord.Forbidden, discord.NotFound, ValueError):
            raise UserError(f"DISCORD_TOKEN's bot is not in server {community[:24]}; use the token of the bot that "
                            "is") from None
        yield DiscordOneShot(DiscordSender(client, community_settings, app.core.delivered))
    finally:
        await client.close()
