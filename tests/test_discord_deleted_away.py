"""A message deleted on Discord while the bot was away: nothing tells the bot (the catch-up reads only what is new),
so it stays stored until an answer is about to quote or link it, when Discord is asked whether it is still there.
The real discord.py client against the fake Discord, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.db.models import DeletedMessage, Message
from tests.discord_fixtures import BOT, GUILD, HELP, THREAD, load
from tests.discord_harness import running_bot, send, started_fake_discord

PETRAS_ANSWER = "1100000000000000502"  # "Run EXPLAIN ANALYZE first: ..." in #help
ASHAS_QUESTION = "1100000000000000501"  # "Our postgres query ignores the index on orders.created_at, any idea why?"
LOOKED_UP = rf"/channels/{HELP}/messages/\d+"
ANSWER = rf"/webhooks/{BOT}/[^/]+/messages/@original"


@pytest.fixture
async def fake_discord():
    async for fake in started_fake_discord():
        yield fake


async def _before_the_restart(app, fake) -> None:
    """Asha asked in #help and Petra answered, while the bot ran."""
    async with running_bot(app, fake) as bot:
        await send(fake, bot, "MESSAGE_CREATE", "message_create")
        await send(fake, bot, "MESSAGE_CREATE", "message_create_reply")


async def _ask(fake, bot, interaction_id: str) -> dict:
    """/whoknows postgres index tuning, answered."""
    ask = load("interaction_whoknows") | {"id": interaction_id}
    before = len(fake.find("PATCH", ANSWER))
    await send(fake, bot, "INTERACTION_CREATE", ask)
    answers = await fake.wait_for("PATCH", ANSWER, before + 1)
    return answers[-1].json


async def test_a_message_deleted_while_the_bot_was_away_is_never_shown_and_goes(app, fake_discord):
    await _before_the_restart(app, fake_discord)
    fake_discord.deleted_while_away(HELP, PETRAS_ANSWER)
    async with running_bot(app, fake_discord) as bot:
        body = await _ask(fake_discord, bot, "1100000000000000601")
    shown = body["content"] + "".join(e.get("description", "") + e.get("title", "") for e in body.get("embeds", []))
    assert "EXPLAIN ANALYZE" not in shown and PETRAS_ANSWER not in shown and "Petra" not in shown
    async with app.db.sessions() as s:
        assert PETRAS_ANSWER not in set(await s.scalars(select(Message.external_id)))
        # Remembered as deleted: an export made before does not bring it back.
        assert PETRAS_ANSWER in set(await s.scalars(select(DeletedMessage.external_id)))


async def test_a_message_edited_while_the_bot_was_away_is_shown_as_it_is_now(app, fake_discord):
    """Petra took a detail out of her answer while the bot was away: the answer quotes it as it is now, and it is
    stored so."""
    await _before_the_restart(app, fake_discord)
    [petras] = [m for m in fake_discord.messages[HELP] if m["id"] == PETRAS_ANSWER]
    petras |= {"content": "Postgres ignores the index on orders.created_at when its row estimates are off: run EXPLAIN "
                           "(ANALYZE, BUFFERS) and compare the row estimates.",
               "edited_timestamp": "2024-05-03T08:00:00.000000+00:00"}
    fake_discord.messages[HELP] = [m for m in fake_discord.messages[HELP] if m["id"] != PETRAS_ANSWER] + [petras]
    async with running_bot(app, fake_discord) as bot:
        body = await _ask(fake_discord, bot, "1100000000000000601")
    [petra] = body["embeds"]
    assert "row estimates" in petra["description"] and "sequential scan" not in petra["description"]
    async with app.db.sessions() as s:
        stored = await s.scalar(select(Message).where(Message.external_id == PETRAS_ANSWER))
    assert "row estimates" in stored.text and stored.edited_at is not None


async def test_a_message_still_there_is_shown_and_looked_up_once_a_session(app, fake_discord):
    await _before_the_restart(app, fake_discord)
    async with running_bot(app, fake_discord) as bot:
        first = await _ask(fake_discord, bot, "1100000000000000601")
        again = await _ask(fake_discord, bot, "1100000000000000602")
    link = f"https://discord.com/channels/{GUILD}/{HELP}/{PETRAS_ANSWER}"
    for body in (first, again):
        assert link in body["embeds"][0]["description"] and "EXPLAIN ANALYZE" in body["embeds"][0]["description"]
    assert [c.path for c in fake_discord.find("GET", LOOKED_UP)] == [f"/channels/{HELP}/messages/{PETRAS_ANSWER}"]


async def test_a_message_seen_live_is_not_looked_up(app, fake_discord):
    live = load("message_create_reply") | {"id": str(int(_now_snowflake()) + 1)}
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create")
        await send(fake_discord, bot, "MESSAGE_CREATE", live)
        body = await _ask(fake_discord, bot, "1100000000000000601")
    assert "EXPLAIN ANALYZE" in body["embeds"][0]["description"]
    assert not fake_discord.find("GET", LOOKED_UP)


def _now_snowflake() -> int:
    import discord

    return discord.utils.time_snowflake(discord.utils.utcnow())


async def test_a_question_deleted_while_the_bot_was_away_is_not_in_the_digest(app, fake_discord):
    def preview(interaction_id: str) -> dict:
        ask = load("interaction_whoknows") | {"id": interaction_id, "token": f"token-{interaction_id}"}
        ask["data"] = {"id": "1100000000000000799", "name": "digest", "type": 1,
                       "options": [{"name": "preview", "type": 1, "options": []}]}
        return ask

    async def shown(bot, interaction_id: str) -> str:
        await send(fake_discord, bot, "INTERACTION_CREATE", preview(interaction_id))
        [body] = await fake_discord.wait_for("PATCH", rf"/webhooks/{BOT}/token-{interaction_id}/messages/@original")
        return body.json["content"] + "".join(e.get("description") or "" for e in body.json["embeds"])

    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create")  # Asha's question, not answered
        assert "ignores the index" in await shown(bot, "1100000000000000601")
    fake_discord.deleted_while_away(HELP, ASHAS_QUESTION)
    async with running_bot(app, fake_discord) as bot:
        assert "ignores the index" not in await shown(bot, "1100000000000000602")
    async with app.db.sessions() as s:
        assert ASHAS_QUESTION not in set(await s.scalars(select(Message.external_id)))


async def test_a_message_edited_while_the_bot_was_away_in_an_archived_thread_is_stored_as_it_is_now(app, fake_discord):
    """Petra's answer is in a thread archived before the bot went away (in no GUILD_CREATE, nor read by the
    catch-up): found edited when shown, the edit was dropped (discord.py's cache holds active threads only), and the
    stored text stayed the old one. The thread is asked for, and the edit stored."""
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create")
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create_thread")
    [thread] = [t for t in fake_discord.guild["threads"] if t["id"] == THREAD]
    fake_discord.guild["threads"].remove(thread)
    thread["thread_metadata"] = {**thread["thread_metadata"], "archived": True,
                                 "archive_timestamp": "2015-01-02T00:00:00+00:00"}
    fake_discord.archived_threads.append(thread)
    [petras] = fake_discord.messages[THREAD]
    petras |= {"content": petras["content"] + " BRIN indexes suit append-only timestamps.",
               "edited_timestamp": "2024-05-03T08:00:00.000000+00:00"}
    async with running_bot(app, fake_discord) as bot:
        await _ask(fake_discord, bot, "1100000000000000601")
    assert fake_discord.find("GET", rf"/channels/{THREAD}/messages/1100000000000000503")  # looked up when shown
    async with app.db.sessions() as s:
        stored = await s.scalar(select(Message).where(Message.external_id == "1100000000000000503"))
    assert "BRIN" in stored.text and stored.edited_at is not None
