"""A moderator clearing reactions on Discord: every reaction of a message (MESSAGE_REACTION_REMOVE_ALL) or one emoji's,
everyone's (MESSAGE_REACTION_REMOVE_EMOJI). Discord sends no MESSAGE_REACTION_REMOVE for them: a cleared pile of 👍
stayed stored, weighing the answer in "who knows X?" and its links in the digest. The real discord.py client against
the fake Discord, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.db.models import Community, Message, PendingReaction, Reaction
from tests.discord_fixtures import ASHA, GUILD, HELP, KENJI, PETRA, THREAD, load
from tests.discord_harness import running_bot, send, started_fake_discord
from tests.test_import_discord import _react_live, _reacted_export, _state, _thumbs, _write

ANSWER = "1100000000000000502"  # Petra's reply in #help (message_create_reply)
IN_THREAD = "1100000000000000503"  # in THREAD (message_create_thread)


@pytest.fixture
async def fake_discord():
    async for fake in started_fake_discord():
        yield fake


def _reaction(kind: str, user: str, emoji: str, message_id: str = ANSWER, channel: str = HELP) -> tuple[str, dict]:
    return kind, load("message_reaction_add") | {"user_id": user, "message_id": message_id, "channel_id": channel,
                                                 "emoji": {"name": emoji, "id": None}}


def _cleared(message_id: str = ANSWER, channel: str = HELP, emoji: str | None = None) -> tuple[str, dict]:
    """As Discord sends it: the message, no user; the emoji where one emoji's were cleared."""
    data = {"channel_id": channel, "message_id": message_id, "guild_id": GUILD}
    if emoji is None:
        return "MESSAGE_REACTION_REMOVE_ALL", data
    return "MESSAGE_REACTION_REMOVE_EMOJI", data | {"emoji": {"name": emoji, "id": None}}


async def _reactions(app, message_id: str = ANSWER) -> set[tuple[str, str]]:
    async with app.db.sessions() as s:
        return set((await s.execute(
            select(Reaction.user_external_id, Reaction.name).join(Message, Message.id == Reaction.message_id)
            .where(Message.external_id == message_id))).all())


async def _ranked_with(app, message_id: str = ANSWER) -> int:
    """The reactions the loaded "who knows X?" corpus counts for the message."""
    async with app.db.sessions() as s:
        cid = await s.scalar(select(Community.id).where(Community.external_id == GUILD))
        mid = await s.scalar(select(Message.id).where(Message.external_id == message_id))
    corpus = await app.expertise.corpus(cid)
    return corpus.records[corpus.row_of[mid]].reactions


async def test_a_moderator_clearing_an_emoji_then_all_reactions_takes_them_out_of_the_ranking(app, fake_discord):
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create")
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create_reply")
        await _ranked_with(app)  # loaded, as a running bot's is
        for user, emoji in ((ASHA, "👍"), (KENJI, "👍"), (KENJI, "⭐"), (PETRA, "🔥")):
            await send(fake_discord, bot, *_reaction("MESSAGE_REACTION_ADD", user, emoji))
        assert await _ranked_with(app) == 4

        await send(fake_discord, bot, *_cleared(emoji="👍"))
        assert await _reactions(app) == {(KENJI, "⭐"), (PETRA, "🔥")}
        assert await _ranked_with(app) == 2
        await send(fake_discord, bot, *_cleared())
        assert await _reactions(app) == set()
        assert await _ranked_with(app) == 0
        # Given again after the clear, it counts.
        await send(fake_discord, bot, *_reaction("MESSAGE_REACTION_ADD", ASHA, "👍"))
        assert await _reactions(app) == {(ASHA, "👍")}
    # Nothing said about it.
    assert not fake_discord.find("POST", r"/channels/\d+/messages")


async def test_reactions_cleared_in_a_thread_dropped_from_the_cache_go(app, fake_discord):
    """discord.py's cache holds active threads only: a thread archived since is asked for (GET /channels/{id}), as for
    a reaction taken back there."""
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create_thread")
        await send(fake_discord, bot, *_reaction("MESSAGE_REACTION_ADD", ASHA, "👍", IN_THREAD, THREAD))
        await send(fake_discord, bot, *_reaction("MESSAGE_REACTION_ADD", KENJI, "⭐", IN_THREAD, THREAD))
        [thread] = [dict(t) for t in fake_discord.guild["threads"] if t["id"] == THREAD]
        thread["thread_metadata"] = {**thread["thread_metadata"], "archived": True}
        fake_discord.archived_threads.append(thread)
        await send(fake_discord, bot, "THREAD_UPDATE", thread)
        assert bot.get_channel(int(THREAD)) is None  # as discord.py does

        await send(fake_discord, bot, *_cleared(IN_THREAD, THREAD, emoji="👍"))
        assert await _reactions(app, IN_THREAD) == {(KENJI, "⭐")}
        await send(fake_discord, bot, *_cleared(IN_THREAD, THREAD))
        assert await _reactions(app, IN_THREAD) == set()
    assert [c.path for c in fake_discord.find("GET", r"/channels/\d+")] == [f"/channels/{THREAD}"]


async def test_reactions_kept_for_a_message_not_stored_yet_are_cleared_too(app, fake_discord):
    """A reaction handled before its message is stored is kept for it (PendingReaction): cleared meanwhile, the message
    is stored without it."""
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create")  # #help is known
        await send(fake_discord, bot, *_reaction("MESSAGE_REACTION_ADD", ASHA, "👍"))
        await send(fake_discord, bot, *_reaction("MESSAGE_REACTION_ADD", KENJI, "⭐"))
        await send(fake_discord, bot, *_reaction("MESSAGE_REACTION_ADD", KENJI, "👍"))
        await send(fake_discord, bot, *_cleared(emoji="👍"))
        async with app.db.sessions() as s:
            assert set((await s.execute(select(PendingReaction.user_external_id, PendingReaction.name))).all()) == {
                (KENJI, "⭐")}
        await send(fake_discord, bot, *_cleared())
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create_reply")
        assert await _reactions(app) == set()


async def test_an_export_made_before_the_clear_does_not_bring_them_back(app, tmp_path):
    """February's export imported; a moderator clears the 👍 (then everything) live; the admin imports March's export,
    made before that: it still lists them, and does not bring them back. One made after the clear does."""
    star = {"emoji": {"name": "⭐"}, "count": 1, "users": [{"id": "904", "name": "904"}]}
    _write(tmp_path / "feb", "help.json", _reacted_export("2024-02-01T00:00:00+00:00", author="Kim", channel="help",
                                                         reactions=[_thumbs("902", "903"), star]))
    await app.importer.import_discord([tmp_path / "feb"])
    await _react_live(app, "MESSAGE_REACTION_REMOVE_EMOJI", "", {"name": "👍"})
    assert (await _state(app))[3] == {"904"}
    _write(tmp_path / "mar", "help.json", _reacted_export("2024-03-01T00:00:00+00:00", author="Kim", channel="help",
                                                         reactions=[_thumbs("902", "903"), star]))
    await app.importer.import_discord([tmp_path / "mar"])
    assert (await _state(app))[3] == {"904"}
    await _react_live(app, "MESSAGE_REACTION_REMOVE_ALL", "", {})
    await app.importer.import_discord([tmp_path / "mar"])
    assert (await _state(app))[3] == set()
    _write(tmp_path / "later", "help.json", _reacted_export("2099-01-01T00:00:00+00:00", author="Kim",
                                                           channel="help", reactions=[_thumbs("905")]))
    await app.importer.import_discord([tmp_path / "later"])
    assert (await _state(app))[3] == {"905"}
