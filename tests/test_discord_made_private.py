"""A public channel a moderator makes private (@everyone no longer sees it): what is stored of it was still quoted,
linked and named in answers to anyone, and its links and questions put in the server's digest, until a new message
there said it was private (CHANNEL_UPDATE was not read). The real discord.py client against the fake Discord, on
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot.db.models import Channel
from tests.discord_fixtures import BOT, GENERAL, GUILD, HELP, load
from tests.discord_harness import running_bot, send, started_fake_discord

VIEW_CHANNEL = 1 << 10
ANSWER = rf"/webhooks/{BOT}/[^/]+/messages/@original"


@pytest.fixture
async def fake_discord():
    async for fake in started_fake_discord():
        yield fake


def _help_made_private(fake) -> dict:
    """#help as Discord sends it once @everyone may no longer view it (the bot's role still may)."""
    [help_] = [c for c in fake.guild["channels"] if c["id"] == HELP]
    help_["permission_overwrites"] = [{"id": GUILD, "type": 0, "allow": "0", "deny": str(VIEW_CHANNEL)},
                                      {"id": "1100000000000000050", "type": 0, "allow": str(VIEW_CHANNEL), "deny": "0"}]
    return help_ | {"guild_id": GUILD}


async def _private(app) -> bool:
    async with app.db.sessions() as s:
        return await s.scalar(select(Channel.is_private).where(Channel.external_id == HELP))


async def _ask_in_general(fake, bot, interaction_id: str) -> str:
    """/whoknows postgres index tuning, asked in #general: the answer's text."""
    ask = load("interaction_whoknows") | {"id": interaction_id, "token": f"token-{interaction_id}",
                                          "channel_id": GENERAL}
    ask["channel"] = ask["channel"] | {"id": GENERAL, "name": "general"}
    await send(fake, bot, "INTERACTION_CREATE", ask)
    [body] = await fake.wait_for("PATCH", rf"/webhooks/{BOT}/token-{interaction_id}/messages/@original")
    return body.json["content"] + "".join(e.get("title", "") + e.get("description", "") for e in body.json["embeds"])


async def test_a_channel_made_private_is_no_longer_quoted_outside_it(app, fake_discord):
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create")
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create_reply")
        shown = await _ask_in_general(fake_discord, bot, "1100000000000000601")
        assert "EXPLAIN ANALYZE" in shown and f"/{HELP}/" in shown
        await send(fake_discord, bot, "CHANNEL_UPDATE", _help_made_private(fake_discord))
        assert await _private(app)
        shown = await _ask_in_general(fake_discord, bot, "1100000000000000602")
    assert "Petra" in shown and "private channel" in shown  # still an expert, her words not shown
    assert "EXPLAIN ANALYZE" not in shown and f"/{HELP}/" not in shown and "#help" not in shown


async def test_a_channel_made_private_while_the_bot_was_away_is_private_at_the_next_start(app, fake_discord):
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create")
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create_reply")
    _help_made_private(fake_discord)
    async with running_bot(app, fake_discord) as bot:
        await asyncio.wait_for(bot.caught_up(), 60)
        assert await _private(app)
        # A change of another kind (its topic) changes nothing; a public channel's none either.
        await send(fake_discord, bot, "CHANNEL_UPDATE", _help_made_private(fake_discord) | {"topic": "Ask here"})
        [general] = [c for c in fake_discord.guild["channels"] if c["id"] == GENERAL]
        await send(fake_discord, bot, "CHANNEL_UPDATE", general | {"guild_id": GUILD, "topic": "Chat"})
    async with app.db.sessions() as s:
        assert await s.scalar(select(Channel.is_private).where(Channel.external_id == GENERAL)) in (None, False)
    assert await _private(app)
