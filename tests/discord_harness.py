"""Running the real discord.py client against the fake Discord."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import discord

from adapters.discord.client import ConnectiveMixin, make_client
from adapters.discord.runner import use_api_url
from bot.app import App
from tests.discord_fixtures import load
from tests.fake_discord import FakeDiscord


async def started_fake_discord() -> AsyncIterator[FakeDiscord]:
    """A fake Discord with discord.py pointed at it (restored afterwards)."""
    fake = FakeDiscord()
    await fake.start()
    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    use_api_url(fake.api_url)
    yield fake
    discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved
    await fake.stop()


@asynccontextmanager
async def running_bot(
    app: App, fake: FakeDiscord, *, sharded: bool = False
) -> AsyncIterator[ConnectiveMixin]:
    client: Any = make_client(app, sharded=sharded, follow_gateway=True)
    task = asyncio.create_task(client.start("fake-token"))
    try:
        await fake.connected()
        await asyncio.wait_for(client.wait_processed(2), 20)  # READY and GUILD_CREATE are in the cache
        if getattr(client, "_registering", None) is not None:  # the slash commands, registered beside the start
            await asyncio.wait_for(asyncio.shield(client._registering), 60)
        yield client
    finally:
        await client.close()
        await asyncio.wait_for(task, 20)


async def send(fake: FakeDiscord, client: Any, event_type: str, data: dict[str, Any] | str) -> int:
    """Dispatch a (recorded) event and wait until the bot has handled it."""
    payload = load(data) if isinstance(data, str) else data
    sequence = await fake.dispatch(event_type, payload)
    if event_type != "INTERACTION_CREATE":
        await asyncio.wait_for(client.wait_processed(sequence), 60)
    return sequence
