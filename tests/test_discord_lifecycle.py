"""The server changing under the running Discord bot: its token reset. `connective run` (adapters.discord.runner.run)
against the fake Discord, with the real discord.py client."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from adapters.discord.runner import run
from bot.actions import Document, PostToChannel
from bot.errors import Unavailable, UserError
from tests.discord_fixtures import GUILD
from tests.discord_harness import started_fake_discord


@pytest.fixture
async def fake_discord():
    async for fake in started_fake_discord():
        yield fake


async def test_a_token_reset_while_running_stops_the_bot_in_one_line(app, fake_discord, caplog):
    """The bot's token reset in the Developer Portal (or the bot deleted) while it ran: the gateway's 4004 on the
    resume came out of `connective run` as a traceback and exit 1 ('try again later'), and the digests and DMs sent
    meanwhile (REST 401) had a traceback each. It stops now with one line saying what to do, exit 2 as for a token
    refused at start; the post meanwhile is one line, not delivered (tried again after the restart)."""
    app.settings = app.settings.model_copy(
        update={"discord_token": SecretStr("fake-token"), "discord_api_url": fake_discord.api_url})
    running = asyncio.create_task(run(app))
    try:
        await fake_discord.connected()
        for _ in range(200):
            if "discord" in app.core.senders:
                break
            await asyncio.sleep(0.05)
        fake_discord.token_reset = True
        action = PostToChannel(community=GUILD, channel="111", doc=Document(text="the digest"))
        assert await app.core.deliver("discord", [action]) == [action]
        await fake_discord.drop_connection()  # Discord ends the session; the client's RESUME is refused (4004)
        with pytest.raises(UserError) as ended:
            await asyncio.wait_for(running, 30)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        app.scheduler.shutdown()  # run() starts it
    assert not isinstance(ended.value, Unavailable)  # exit 2
    assert "Discord refused the bot token (DISCORD_TOKEN) while running" in str(ended.value)
    assert "fake-token" not in str(ended.value)
    assert not [r.getMessage() for r in caplog.records if r.exc_info]
