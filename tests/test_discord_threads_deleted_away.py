"""A thread or forum post deleted alone while the bot was away: no THREAD_DELETE reaches a new session, and the
catch-up's check of deleted channels asks about channels and private threads (a channel of their own here), not about
public threads, whose messages are stored in their channel. Their messages stayed stored, "who knows X?" evidence,
until an answer was about to show one. The real discord.py client against the fake Discord, on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import select

from adapters.discord import catch_up
from bot.db.models import Message
from tests.discord_fixtures import FORUM_POST, HELP, THREAD, load
from tests.discord_harness import running_bot, send, started_fake_discord

QUESTION, IN_THREAD = "1100000000000000501", "1100000000000000503"
OLD_THREAD, IN_OLD_THREAD = "1100000000000000404", "1100000000000000504"  # archived long ago, still there
LOOKED_UP = r"/channels/\d+"


@pytest.fixture
async def fake_discord():
    async for fake in started_fake_discord():
        yield fake


async def _stored(app) -> set[str]:
    async with app.db.sessions() as s:
        return set(await s.scalars(select(Message.external_id)))


async def _before_the_restart(app, fake) -> None:
    """A question in #help, a reply in its thread, a forum post, and a reply in a thread of #help archived since."""
    old = {**next(t for t in fake.guild["threads"] if t["id"] == THREAD), "id": OLD_THREAD, "name": "vacuum"}
    fake.guild["threads"].append(old)
    async with running_bot(app, fake) as bot:
        for fixture in ("message_create", "message_create_thread", "message_create_forum_post"):
            await send(fake, bot, "MESSAGE_CREATE", fixture)
        await send(fake, bot, "MESSAGE_CREATE", load("message_create_thread") | {
            "id": IN_OLD_THREAD, "channel_id": OLD_THREAD, "content": "Autovacuum falls behind on big tables",
            "timestamp": "2024-05-02T09:00:00.000000+00:00"})
    fake.guild["threads"].remove(old)
    old["thread_metadata"] = {**old["thread_metadata"], "archived": True,
                              "archive_timestamp": "2015-01-02T00:00:00+00:00"}
    fake.archived_threads.append(old)
    assert await _stored(app) == {QUESTION, IN_THREAD, FORUM_POST, IN_OLD_THREAD}


def _deleted_alone(fake, thread: str) -> None:
    """Deleted while no bot was connected, its channel still there: in no GUILD_CREATE, Unknown Channel."""
    fake.guild["threads"] = [t for t in fake.guild["threads"] if t["id"] != thread]
    fake.messages.pop(thread, None)
    fake.deleted_channels.add(thread)


async def test_a_thread_and_a_forum_post_deleted_while_the_bot_was_away_take_their_messages(app, fake_discord,
                                                                                            caplog):
    caplog.set_level(logging.INFO)
    await _before_the_restart(app, fake_discord)
    _deleted_alone(fake_discord, THREAD)
    _deleted_alone(fake_discord, FORUM_POST)
    fake_discord.calls.clear()
    async with running_bot(app, fake_discord) as bot:
        await asyncio.wait_for(bot.caught_up(), 60)
        # The thread archived long ago, found there, is known now: a reaction there is read.
        await send(fake_discord, bot, "MESSAGE_REACTION_ADD", load("message_reaction_add") | {
            "channel_id": OLD_THREAD, "message_id": IN_OLD_THREAD})
    # The question the thread hung from stays in #help; the forum post's opening message went with it.
    assert await _stored(app) == {QUESTION, IN_OLD_THREAD}
    asked = sorted(c.path for c in fake_discord.find("GET", LOOKED_UP))
    assert asked == sorted(f"/channels/{t}" for t in (THREAD, FORUM_POST, OLD_THREAD))  # not #help, nor the forum
    assert "2 thread(s) deleted while the bot was away" in caplog.text
    async with app.db.sessions() as s:
        assert await s.scalar(select(Message.id).where(Message.external_id == IN_OLD_THREAD)) is not None


async def test_the_threads_asked_about_are_bounded_the_latest_stored_in_first(app, fake_discord, monkeypatch):
    await _before_the_restart(app, fake_discord)
    _deleted_alone(fake_discord, THREAD)
    _deleted_alone(fake_discord, FORUM_POST)
    monkeypatch.setattr(catch_up, "GONE_THREADS_CHECKED", 1)
    fake_discord.calls.clear()
    async with running_bot(app, fake_discord) as bot:
        await asyncio.wait_for(bot.caught_up(), 60)
    # The thread's reply is the latest stored (10:05); the forum post (10:00) is left for the next start.
    assert [c.path for c in fake_discord.find("GET", LOOKED_UP)] == [f"/channels/{THREAD}"]
    assert await _stored(app) == {QUESTION, FORUM_POST, IN_OLD_THREAD}
    fake_discord.calls.clear()
    async with running_bot(app, fake_discord) as bot:
        await asyncio.wait_for(bot.caught_up(), 60)
    assert [c.path for c in fake_discord.find("GET", LOOKED_UP)] == [f"/channels/{FORUM_POST}"]
    assert await _stored(app) == {QUESTION, IN_OLD_THREAD}


async def test_a_thread_deleted_with_its_channel_is_not_asked_about(app, fake_discord):
    await _before_the_restart(app, fake_discord)
    fake_discord.channel_deleted_while_away(HELP)
    fake_discord.calls.clear()
    async with running_bot(app, fake_discord) as bot:
        await asyncio.wait_for(bot.caught_up(), 60)
    assert sorted(c.path for c in fake_discord.find("GET", LOOKED_UP)) == [f"/channels/{HELP}"]
    assert await _stored(app) == {FORUM_POST}
