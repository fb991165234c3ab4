"""`connective run --platform discord`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from adapters.discord.client import make_client
from bot.errors import UserError

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

SETUP = "see deploy/discord/README.md"
MEMBERS_REFUSED = (
    "Discord refused the Server Members intent; connecting without it, so members who leave a server stay "
    "suggestable and can be asked for intros. Turn on Bot → Privileged Gateway Intents → Server Members Intent "
    f"in the Discord Developer Portal, or set CONNECTIVE_DISCORD_MEMBERS_INTENT=false to stop asking ({SETUP})"
)

TOKEN_REFUSED = 4004  # the gateway's close code: Authentication failed
TOKEN_REFUSED_WHILE_RUNNING = (
    "Discord refused the bot token (DISCORD_TOKEN) while running: 4004 Authentication failed (the token was reset, "
    "or the bot deleted). connective stops; what it stored is kept: set DISCORD_TOKEN to the bot's token (Bot → "
    f"Reset Token) and start it again; {SETUP}"
)


def use_api_url(api_url: str) -> None:
    """Point discord.py's REST client (and so the interaction webhooks) at a Discord-compatible server,
    e.g. `http://127.0.0.1:8080/api/v10`. Process-wide: discord.py keeps the base on its Route class."""
    discord.http.Route.BASE = api_url.rstrip("/")


async def run(app: App) -> None:
    settings = app.settings
    if settings.discord_token is None:
        raise UserError(
            f"the Discord bot token is not set: DISCORD_TOKEN or CONNECTIVE_DISCORD_TOKEN ({SETUP})"
        )
    if settings.discord_api_url:
        use_api_url(settings.discord_api_url)
    members = settings.discord_members_intent
    app.scheduler.start()
    while True:
        client = make_client(
            app,
            sharded=settings.discord_sharded,
            follow_gateway=bool(settings.discord_api_url),
            members_intent=members,
        )
        try:
            async with client:  # type: ignore[attr-defined]
                await client.start(settings.discord_token.get_secret_value())  # type: ignore[attr-defined]
            return
        except discord.LoginFailure:
            raise UserError(f"Discord refused the bot token (DISCORD_TOKEN); {SETUP}") from None
        except discord.ConnectionClosed as exc:
            if exc.code != TOKEN_REFUSED:
                raise
            # A token Discord took at login, refused since (reset in the Developer Portal, the bot deleted): discord.py
            # does not reconnect, and its ConnectionClosed ended the run with a traceback, exit 1 ('try again later').
            raise UserError(TOKEN_REFUSED_WHILE_RUNNING) from None
        except discord.PrivilegedIntentsRequired:
            if not members:
                raise UserError(
                    "turn on the Message Content intent for the bot in the Discord Developer Portal "
                    f"(Bot → Privileged Gateway Intents); {SETUP}"
                ) from None
            # Discord does not say which privileged intent it refused: without the optional one, the bot still runs.
            log.warning(MEMBERS_REFUSED)
            members = False
