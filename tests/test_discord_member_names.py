"""The name a Discord member goes by in the server (their nickname first) is the one on their expert cards, intros and
digests. The real discord.py client against the fake Discord, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.db.models import Member
from tests.discord_fixtures import ASHA, load
from tests.discord_harness import running_bot, send, started_fake_discord


@pytest.fixture
async def fake_discord():
    async for fake in started_fake_discord():
        yield fake


async def _name(app, user: str) -> str | None:
    async with app.db.sessions() as s:
        return await s.scalar(select(Member.name).where(Member.external_id == user))


async def test_a_question_by_dm_does_not_rename_the_member(app, fake_discord):
    """A DM carries the author's account (their global name), not their server nickname: Asha, "Asha (SRE)" in the
    server, asking the bot by DM was renamed "Asha Rao" on her cards and intros until she next posted there."""
    said = load("message_create")
    said["member"]["nick"] = "Asha (SRE)"
    asha_dm = "9" + ASHA[1:]
    dm = load("message_create") | {"id": "1100000000000000779", "channel_id": asha_dm,
                                   "content": "who knows postgres index tuning?"}
    del dm["guild_id"], dm["member"]
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", said)
        assert await _name(app, ASHA) == "Asha (SRE)"
        await send(fake_discord, bot, "MESSAGE_CREATE", dm)
        await fake_discord.wait_for("POST", rf"/channels/{asha_dm}/messages")
        assert await _name(app, ASHA) == "Asha (SRE)"


async def test_a_member_first_seen_by_dm_is_named_by_their_account(app, fake_discord):
    kenji_dm = "9" + "1100000000000000203"[1:]
    dm = load("message_create") | {"id": "1100000000000000780", "channel_id": kenji_dm,
                                   "content": "who knows postgres index tuning?",
                                   "author": {"id": "1100000000000000203", "username": "kenji",
                                              "global_name": "Kenji Sato", "discriminator": "0", "avatar": None}}
    del dm["guild_id"], dm["member"]
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", dm)
        await fake_discord.wait_for("POST", rf"/channels/{kenji_dm}/messages")
    assert await _name(app, "1100000000000000203") == "Kenji Sato"
