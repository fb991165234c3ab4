"""The Discord bot end to end: the real discord.py client against a fake Discord over real HTTP and
websockets, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import discord
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from adapters.discord.commands import build_tree
from adapters.discord.runner import run
from bot.actions import Button, Document, OpenGroup, PostToChannel, Reply, Section
from bot.core import ASK_LIKE_THIS
from bot.db.intros import Intro
from bot.db.models import Channel, Community, Member, Message, Reaction
from bot.errors import UserError
from bot.events import utcnow
from tests.discord_fixtures import (
    ASHA,
    BOT,
    FORUM,
    FORUM_POST,
    GENERAL,
    GUILD,
    HELP,
    KENJI,
    PETRA,
    PRIVATE,
    PRIVATE_THREAD,
    THREAD,
    load,
)
from tests.discord_harness import running_bot, send, started_fake_discord

NO_PINGS = {"parse": []}


@pytest.fixture
async def fake_discord():
    async for fake in started_fake_discord():
        yield fake


async def _messages(app) -> dict[str, Message]:
    async with app.db.sessions() as s:
        return {m.external_id: m for m in await s.scalars(select(Message))}


async def test_ingests_channels_threads_forum_posts_edits_deletions_and_reactions(app, fake_discord):
    async with running_bot(app, fake_discord) as bot:
        for fixture in (
            "message_create",
            "message_create_reply",
            "message_create_thread",
            "message_create_forum_post",
            "message_create_private_thread",
            "message_create_join",
        ):
            await send(fake_discord, bot, "MESSAGE_CREATE", fixture)
        await send(fake_discord, bot, "MESSAGE_REACTION_ADD", "message_reaction_add")
        stored = await _messages(app)
        assert set(stored) == {
            "1100000000000000501",
            "1100000000000000502",
            "1100000000000000503",
            FORUM_POST,
        }
        assert stored["1100000000000000502"].reply_to_external_id == "1100000000000000501"
        assert stored["1100000000000000503"].thread_external_id == THREAD
        assert stored[FORUM_POST].thread_external_id == FORUM_POST
        async with app.db.sessions() as s:
            channels = {c.external_id: c for c in await s.scalars(select(Channel))}
            assert channels[HELP].name == "help" and channels[FORUM].name == "q-and-a"
            assert (
                stored["1100000000000000503"].channel_id == channels[HELP].id
            )  # threads belong to the channel
            [reaction] = await s.scalars(select(Reaction))
            assert (reaction.name, reaction.user_external_id) == ("👍", ASHA)

        await send(fake_discord, bot, "MESSAGE_UPDATE", "message_update")
        assert "BRIN" in (await _messages(app))["1100000000000000503"].text
        await send(fake_discord, bot, "MESSAGE_REACTION_REMOVE", "message_reaction_remove")
        await send(fake_discord, bot, "MESSAGE_DELETE", "message_delete")
        assert "1100000000000000503" not in await _messages(app)
        async with app.db.sessions() as s:
            assert await s.scalar(select(func.count()).select_from(Reaction)) == 0
    # Reading is silent: the bot posted nothing.
    assert not fake_discord.find("POST", r"/channels/\d+/messages")
    [identify] = fake_discord.identifies
    assert identify["intents"] == (1 << 0) | (1 << 1) | (1 << 9) | (1 << 10) | (1 << 12) | (
        1 << 15
    )  # guilds, members, messages, reactions, DMs, content


async def test_edits_deletions_and_reactions_in_an_archived_thread_are_read(app, fake_discord):
    """discord.py's cache holds active threads only: a thread archived (a week without a message, or closed by a
    moderator) was dropped from it, and a deletion, edit or reaction of a message in it was dropped too, the deleted
    message kept as "who knows X?" evidence. The thread is asked for once, as nothing in the cache is; a place the
    bot stores nothing from is not asked for."""
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create_thread")
        [thread] = [dict(t) for t in fake_discord.guild["threads"] if t["id"] == THREAD]
        thread["thread_metadata"] = {**thread["thread_metadata"], "archived": True}
        fake_discord.archived_threads.append(thread)
        await send(fake_discord, bot, "THREAD_UPDATE", thread)
        assert bot.get_channel(int(THREAD)) is None  # as discord.py does

        reaction = load("message_reaction_add") | {"channel_id": THREAD, "message_id": "1100000000000000503"}
        await send(fake_discord, bot, "MESSAGE_REACTION_ADD", reaction)
        async with app.db.sessions() as s:
            assert (await s.scalar(select(Reaction))).name == "👍"
        await send(fake_discord, bot, "MESSAGE_UPDATE", "message_update")
        assert "BRIN" in (await _messages(app))["1100000000000000503"].text
        await send(fake_discord, bot, "MESSAGE_DELETE", "message_delete")
        assert "1100000000000000503" not in await _messages(app)
        # Elsewhere, nothing stored: no call.
        await send(fake_discord, bot, "MESSAGE_DELETE", {"id": "1100000000000000590", "channel_id":
                                                         "1100000000000000490", "guild_id": GUILD})
    assert [c.path for c in fake_discord.find("GET", r"/channels/\d+")] == [f"/channels/{THREAD}"]


async def test_ask_with_a_slash_command_answers_with_embeds(app, fake_discord):
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create")
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create_reply")
        await send(fake_discord, bot, "INTERACTION_CREATE", "interaction_whoknows")
        [ack] = await fake_discord.wait_for("POST", r"/interactions/1100000000000000601/[^/]+/callback")
        assert ack.json == {"type": 5, "data": {"flags": 64}}  # "thinking…", only the asker sees it
        [answer] = await fake_discord.wait_for("PATCH", rf"/webhooks/{BOT}/[^/]+/messages/@original")
    body = answer.json
    assert "postgres index tuning" in body["content"] and body["allowed_mentions"] == NO_PINGS
    [petra] = body["embeds"]
    assert petra["title"].startswith("1. Petra Kowalski")
    assert f"<@{PETRA}>" in petra["description"] and "EXPLAIN ANALYZE" in petra["description"]
    assert f"https://discord.com/channels/{GUILD}/{HELP}/1100000000000000502" in petra["description"]


async def test_mention_is_answered_in_the_channel_without_pinging(app, fake_discord):
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create_reply")
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create_mention")
        [reply] = fake_discord.find("POST", rf"/channels/{HELP}/messages")
    assert str(reply.json["message_reference"]["message_id"]) == "1100000000000000505"
    assert reply.json["allowed_mentions"] == {**NO_PINGS, "replied_user": False}
    assert reply.json["embeds"][0]["title"].startswith("1. Petra")


async def test_each_request_intro_button_names_the_expert_it_asks(app, fake_discord):
    """Discord shows a message's buttons under all its embeds: five buttons all reading "Request intro" did not say
    which expert each one asks (a live walk-through)."""
    kenji = load("message_create_reply") | {"id": "1100000000000000778", "author": {
        "id": KENJI, "username": "kenji", "global_name": "Kenji Sato", "discriminator": "0", "avatar": None,
        "public_flags": 0}, "content": "For postgres index tuning, check the planner's row estimates first"}
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create")
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create_reply")
        await send(fake_discord, bot, "MESSAGE_CREATE", kenji)
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create_mention")
        [reply] = fake_discord.find("POST", rf"/channels/{HELP}/messages")
    titles = [embed["title"] for embed in reply.json["embeds"]]
    buttons = [b for row in reply.json["components"] for b in row["components"]]
    assert len(titles) == len(buttons) >= 2
    for title, button in zip(titles, buttons, strict=True):
        assert button["label"] == f"Request intro: {title}"  # "Request intro: 1. Petra Kowalski"
        assert button["custom_id"].endswith(":" + (PETRA if "Petra" in title else KENJI))


async def test_a_question_by_dm_is_answered_there_and_not_stored(app, fake_discord):
    """A member who asked the bot by DM ("who knows postgres index tuning?") got no answer at all: the bot did not ask
    for DMs and skipped any message without a server (Discord walk-through; a DM is a question on Slack). With the
    bot in one server, the DM asks about that server; its buttons name it (a DM interaction carries no guild id)."""
    asha_dm = "9" + ASHA[1:]
    dm = load("message_create") | {"id": "1100000000000000779", "channel_id": asha_dm,
                                   "content": "who knows postgres index tuning?"}
    del dm["guild_id"], dm["member"]
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create")
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create_reply")
        await send(fake_discord, bot, "MESSAGE_CREATE", dm)
        [reply] = await fake_discord.wait_for("POST", rf"/channels/{asha_dm}/messages")
    assert "postgres index tuning" in reply.json["content"] and reply.json["allowed_mentions"]["parse"] == []
    assert reply.json["embeds"][0]["title"].startswith("1. Petra")
    assert reply.json["components"][0]["components"][0]["custom_id"].endswith(f":{PETRA}|{GUILD}")
    assert "1100000000000000779" not in await _messages(app)


async def test_a_question_by_dm_with_the_bot_in_several_servers(app, fake_discord):
    """With the bot in a second server, a DM question got no answer at all and nothing told the member why (a DM
    names no server; Discord walk-through, left then). It is now about the one of the bot's servers its author is in
    (Discord is asked); an author in several is told, in the DM, to ask in the server they mean."""
    other = {**load("guild_create"), "id": "1100000000000000002", "name": "Other @everyone Place", "channels": [],
             "threads": []}
    asha_dm = "9" + ASHA[1:]

    def dm(ident: str) -> dict:
        message = load("message_create") | {"id": ident, "channel_id": asha_dm,
                                            "content": "who knows postgres index tuning?"}
        del message["guild_id"], message["member"]
        return message

    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "GUILD_CREATE", other)
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create")
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create_reply")
        fake_discord.members = {GUILD: {ASHA}}  # Asha is in Lantern Commons only
        await send(fake_discord, bot, "MESSAGE_CREATE", dm("1100000000000000781"))
        [reply] = await fake_discord.wait_for("POST", rf"/channels/{asha_dm}/messages")
        fake_discord.members = {GUILD: {ASHA}, other["id"]: {ASHA}}  # and now in both
        await send(fake_discord, bot, "MESSAGE_CREATE", dm("1100000000000000782"))
        [_, told] = await fake_discord.wait_for("POST", rf"/channels/{asha_dm}/messages", count=2)
    assert reply.json["embeds"][0]["title"].startswith("1. Petra")
    assert reply.json["components"][0]["components"][0]["custom_id"].endswith(f":{PETRA}|{GUILD}")
    text = told.json["content"]
    assert "ask with `/whoknows` in that server" in text and "Lantern Commons" in text and "Other" in text
    assert "@everyone" not in text and told.json["allowed_mentions"]["parse"] == [] and not told.json.get("embeds")
    assert not {"1100000000000000781", "1100000000000000782"} & set(await _messages(app))


async def test_a_mention_of_the_bots_role_asks_and_a_reply_to_the_bot_does_not(app, fake_discord):
    """The real client knows the bot's managed role (guild.self_role); a reply pinging the bot is stored, unanswered."""
    role_mention = load("message_create_mention")
    role_mention["content"] = role_mention["content"].replace(f"<@{BOT}>", "<@&1100000000000000050>")
    role_mention["mentions"], role_mention["mention_roles"] = [], ["1100000000000000050"]
    thanks = load("message_create_reply") | {"id": "1100000000000000777", "content": "thanks, that helped!",
                                             "mentions": [{"id": BOT, "username": "connective", "bot": True}]}
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create_reply")
        await send(fake_discord, bot, "MESSAGE_CREATE", role_mention)
        await send(fake_discord, bot, "MESSAGE_CREATE", thanks)
        [reply] = fake_discord.find("POST", rf"/channels/{HELP}/messages")
    assert reply.json["embeds"][0]["title"].startswith("1. Petra")
    async with app.db.sessions() as s:
        assert await s.scalar(select(Message.text).where(Message.external_id == "1100000000000000777")) == thanks[
            "content"]


async def test_a_question_does_not_hold_up_the_messages_after_it(app, fake_discord, monkeypatch):
    """Gateway events are handled one at a time, in order; a question to the bot was one of them, so while the first
    one loaded the community (15-27 s at 200,000 messages) every message, edit and reaction of every server waited."""
    real, release = app.expertise.rank, asyncio.Event()

    async def slow_rank(*args, **kwargs):
        await release.wait()
        return await real(*args, **kwargs)

    monkeypatch.setattr(app.expertise, "rank", slow_rank)
    later = load("message_create")
    later["id"] = "1100000000000000599"
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create_reply")
        asked = await fake_discord.dispatch("MESSAGE_CREATE", load("message_create_mention"))
        await fake_discord.dispatch("MESSAGE_CREATE", later)
        for _ in range(500):  # stored while the question is still being answered
            if later["id"] in await _messages(app):
                break
            await asyncio.sleep(0.02)
        assert later["id"] in await _messages(app)
        assert bot.last_processed_sequence < asked and not fake_discord.find("POST", rf"/channels/{HELP}/messages")
        release.set()
        await asyncio.wait_for(bot.wait_processed(asked + 1), 60)
        [reply] = fake_discord.find("POST", rf"/channels/{HELP}/messages")
    assert reply.json["embeds"][0]["title"].startswith("1. Petra")


async def test_a_question_still_being_answered_at_close_is_stopped_and_counted(app, fake_discord, monkeypatch,
                                                                               caplog):
    """Past the grace period a question was left running while the database closed under it, and the warning said
    "0 gateway event(s) left unhandled"."""
    answering, cancelled = asyncio.Event(), asyncio.Event()

    async def never_answers(*args, **kwargs):
        answering.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    monkeypatch.setattr(app.expertise, "rank", never_answers)
    monkeypatch.setattr(app.settings, "shutdown_grace_seconds", 0.2)
    async with running_bot(app, fake_discord) as bot:
        await fake_discord.dispatch("MESSAGE_CREATE", load("message_create_mention"))
        # Closed once the question is in the ranking: closed as soon as it was taken from the queue, a busy machine
        # (PostgreSQL) spent the grace period before the ranking, and the question was cancelled before it got there.
        await asyncio.wait_for(answering.wait(), 60)
        assert bot._asking
    assert cancelled.is_set()
    assert "0 gateway event(s) and 1 question(s) left unhandled at close" in caplog.text


@pytest.mark.parametrize("sharded", [False, True], ids=["client", "sharded"])
async def test_a_stop_while_discord_py_waits_for_the_servers_leaves_nothing_running(app, fake_discord, monkeypatch,
                                                                                   sharded):
    """After READY, discord.py waits for the servers (2 s) before on_ready, in a task its close() left running: a stop
    within those seconds ended, once the wait ran out, in asyncio's "Task exception was never retrieved" and a
    traceback (on_ready dispatched by a closed client), in the log of whatever ran next (another test's)."""
    init = discord.state.ConnectionState.__init__

    def patient(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        init(self, *args, **kwargs)
        self.guild_ready_timeout = 600.0  # still waiting at the stop, however slow the start

    monkeypatch.setattr(discord.state.ConnectionState, "__init__", patient)
    async with running_bot(app, fake_discord, sharded=sharded) as bot:
        waiting = bot._connection._ready_task
        assert waiting is not None
    await asyncio.wait([waiting], timeout=10)
    assert waiting.done() and (waiting.cancelled() or waiting.exception() is None)


async def test_a_masked_link_in_the_question_is_not_a_link_in_the_reply(app, fake_discord):
    """The reply repeats the topic in the bot's own words, in the channel: a [docs](https://…) typed there would be
    a link that looks like the bot's, to a target nobody sees."""
    mention = load("message_create_mention")
    mention["content"] = f"<@{BOT}> who knows autovacuum [postgres docs](https://evil.example/phish)?"
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", mention)
        [reply] = await fake_discord.wait_for("POST", rf"/channels/{HELP}/messages")
    assert "postgres docs]" in reply.json["content"] and "](https" not in reply.json["content"]


async def test_a_bare_mention_and_a_question_with_no_topic_are_told_how_to_ask(app, fake_discord):
    bare = load("message_create_mention")
    bare["content"] = f"<@{BOT}>"
    ask = load("interaction_whoknows")
    ask["data"]["options"][0]["value"] = "who knows?"
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", bare)
        [reply] = await fake_discord.wait_for("POST", rf"/channels/{HELP}/messages")
        await send(fake_discord, bot, "INTERACTION_CREATE", ask)
        [answer] = await fake_discord.wait_for("PATCH", rf"/webhooks/{BOT}/[^/]+/messages/@original")
    assert reply.json["content"] == ASK_LIKE_THIS and not reply.json.get("embeds")
    assert answer.json["content"] == "Ask me like this: `/whoknows postgres query plans`"
    assert not answer.json.get("embeds")  # not five "experts" for nothing

async def test_a_redelivered_message_after_resume_is_stored_and_answered_once(app, fake_discord):
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create_reply")
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create_mention")
        await fake_discord.drop_connection()
        await fake_discord.connected()  # the client resumed; the fake replayed the mention it had seen
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create_thread")
        [resume] = fake_discord.resumes
        assert resume["session_id"] == "SESSION" and resume["seq"] == 4
        assert len(fake_discord.identifies) == 1
        assert [p["d"]["id"] for p in fake_discord.replayed] == ["1100000000000000505"]  # sent twice
    assert len(fake_discord.find("POST", rf"/channels/{HELP}/messages")) == 1
    assert set(await _messages(app)) == {"1100000000000000502", "1100000000000000503"}


async def test_buttons_are_persistent_and_work_after_a_restart(app, fake_discord):
    clicks = []

    async def on_echo(event, community_id):
        clicks.append((event.action, event.value, event.user, event.community))
        return [
            Reply(
                community=event.community,
                channel=event.channel,
                user=event.user,
                doc=Document(text=f"clicked {event.value}"),
            )
        ]

    app.core.register_click("echo", on_echo)
    doc = Document(
        text="Pick one", sections=(Section(buttons=(Button("Yes", "echo.yes", "42", style="primary"),)),)
    )
    async with running_bot(app, fake_discord):
        await app.core.deliver("discord", [PostToChannel(community=GUILD, channel=HELP, doc=doc)])
        [posted] = fake_discord.find("POST", rf"/channels/{HELP}/messages")
    [[button]] = [row["components"] for row in posted.json["components"]]
    assert button["custom_id"] == "echo.yes|42" and button["style"] == 1

    # A new process: nothing of the first client's views survives but the custom id on Discord's message.
    click = load("interaction_intro_request")
    click["data"]["custom_id"] = button["custom_id"]
    click["message"]["components"] = posted.json["components"]
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "INTERACTION_CREATE", click)
        [ack] = await fake_discord.wait_for("POST", r"/interactions/1100000000000000604/[^/]+/callback")
        [followup] = await fake_discord.wait_for("POST", rf"/webhooks/{BOT}/[^/]+")
    assert ack.json == {"type": 6}
    assert clicks == [("echo.yes", "42", ASHA, GUILD)]
    assert followup.json["content"] == "clicked 42" and followup.json["flags"] == 64


async def test_command_tree_payload_sent_by_sync(app, fake_discord):
    async with running_bot(app, fake_discord):
        [sync] = fake_discord.find("PUT", rf"/applications/{BOT}/commands")
    commands = {c["name"]: c for c in sync.json}
    assert set(commands) == {
        "whoknows", "skills", "optout", "optin", "forget-me", "me", "connective", "digest", "save", "mentoring"
    }
    assert all(c["contexts"] == [0] for c in commands.values())  # guilds only
    [topic] = commands["whoknows"]["options"]
    assert (topic["name"], topic["type"], topic["required"]) == ("topic", 3, True)
    action = next(o for o in commands["skills"]["options"] if o["name"] == "action")
    assert [c["value"] for c in action["choices"]] == ["list", "add", "remove", "endorse"]
    settings = commands["connective"]
    assert int(settings["default_member_permissions"]) == 1 << 5  # Manage Server
    assert {o["name"] for o in settings["options"]} == {"ingest", "digest-channel", "intro-channel", "show"}


async def test_commands_are_registered_again_only_when_they_changed(app, fake_discord, monkeypatch):
    """Every start registered the slash commands with Discord, which allows about 200 command creations a day: a crash
    loop locked the bot out of its own commands. A restart with the same commands registers nothing; one whose
    commands changed (a new release) registers them, once."""
    from discord import app_commands

    import adapters.discord.client as discord_client

    def syncs() -> int:
        return len(fake_discord.find("PUT", rf"/applications/{BOT}/commands"))

    async with running_bot(app, fake_discord):
        assert syncs() == 1
    for _ in range(2):
        async with running_bot(app, fake_discord):
            pass
    assert syncs() == 1

    def with_one_more(client, run):  # noqa: ANN001, ANN202
        tree = build_tree(client, run)

        @tree.command(name="ping", description="A command a new release adds")
        async def ping(interaction) -> None:  # noqa: ANN001
            await run(interaction)

        assert isinstance(ping, app_commands.Command)
        return tree

    monkeypatch.setattr(discord_client, "build_tree", with_one_more)
    for _ in range(2):
        async with running_bot(app, fake_discord):
            pass
    assert syncs() == 2
    assert "ping" in {c["name"] for c in fake_discord.find("PUT", rf"/applications/{BOT}/commands")[-1].json}


async def test_a_failed_command_registration_does_not_stop_the_bot(app, fake_discord, caplog):
    """Discord's commands endpoint answering 5xx (an incident on its side) made the start fail, and the bot exited:
    while it lasted, a crash loop, though the commands registered before still work. Now the bot runs, says so in
    one line, and registers them at its next start."""
    import logging

    caplog.set_level(logging.INFO)
    for status in (503, 403):  # Discord's incident (retried by discord.py for a while), a refusal
        fake_discord.failing[:] = [("PUT", r"/applications/\d+/commands", status, 100)]
        async with running_bot(app, fake_discord) as bot:
            before = len(fake_discord.find("POST", rf"/channels/{HELP}/messages"))
            mention = {**load("message_create_mention"), "id": f"11000000000007{status}"}
            await send(fake_discord, bot, "MESSAGE_CREATE", mention)
            await fake_discord.wait_for("POST", rf"/channels/{HELP}/messages", before + 1)  # answered
    failed = [r for r in caplog.records if "application commands" in r.getMessage()]
    assert [(r.levelno, r.exc_info) for r in failed] == [(logging.WARNING, None)] * 2, [r.getMessage() for r in failed]
    assert "HTTP 503" in failed[0].getMessage() and "HTTP 403" in failed[1].getMessage()
    fake_discord.failing.clear()
    for _ in range(2):
        async with running_bot(app, fake_discord):
            pass
    # Registered at the next start that could (not recorded as registered while it failed), not at the one after.
    said = [r.getMessage() for r in caplog.records if "application commands" in r.getMessage()][2:]
    assert [line.split(" ", 1)[1] for line in said] == ["application commands registered",
                                                        "application commands unchanged since they were registered"]


async def test_an_event_during_a_database_outage_is_one_line_not_a_traceback(app, fake_discord, monkeypatch, caplog):
    """Each gateway event that arrived while the database was down logged a traceback of the same lost connection.
    Now one line per event names the outage; an error of our own keeps its traceback."""
    import logging

    from sqlalchemy.exc import DBAPIError

    caplog.set_level(logging.INFO)
    async with running_bot(app, fake_discord) as bot:
        async def outage(event, **kwargs):  # noqa: ANN001, ANN003, ANN202
            raise DBAPIError("SELECT 1", {}, ConnectionResetError("connection reset"), connection_invalidated=True)

        monkeypatch.setattr(app.core, "handle", outage)
        sequence = await send(fake_discord, bot, "MESSAGE_CREATE", "message_create")
    said = [r for r in caplog.records if r.name == "adapters.discord.client" and "sequence" in r.getMessage()]
    assert [(r.levelno, r.exc_info) for r in said] == [(logging.WARNING, None)]
    assert said[0].getMessage() == (f"MESSAGE_CREATE (sequence {sequence}) not handled: the database is unreachable "
                                    "(ConnectionResetError)")


async def test_a_slash_command_during_a_database_outage_is_answered_with_why(app, fake_discord, monkeypatch):
    """The command was deferred ('thinking…') and never answered while the database was down."""
    async with running_bot(app, fake_discord) as bot:
        async def outage(event, kept):  # noqa: ANN001, ANN202
            raise ConnectionRefusedError(111, "Connect call failed")

        monkeypatch.setattr(app.core, "_handle_once", outage)
        await send(fake_discord, bot, "INTERACTION_CREATE", "interaction_whoknows")
        [answer] = await fake_discord.wait_for("PATCH", rf"/webhooks/{BOT}/[^/]+/messages/@original")
    assert answer.json["content"].startswith("I can't reach my database right now")


async def test_only_server_managers_change_settings_and_ingestion_follows(app, fake_discord):
    async with running_bot(app, fake_discord) as bot:
        in_private = load("message_create")
        in_private.update(id="1100000000000000511", channel_id=PRIVATE)
        await send(fake_discord, bot, "MESSAGE_CREATE", in_private)
        assert "1100000000000000511" not in await _messages(app)  # private channels are off by default

        refused = load("interaction_settings_ingest")
        refused.update(
            id="1100000000000000611",
            token="token-1100000000000000611",
            member={**refused["member"], "permissions": "1071698660929"},
        )
        await send(fake_discord, bot, "INTERACTION_CREATE", refused)
        [answer] = await fake_discord.wait_for(
            "PATCH", rf"/webhooks/{BOT}/token-1100000000000000611/messages/@original"
        )
        assert "manage the server" in answer.json["content"]

        await send(fake_discord, bot, "INTERACTION_CREATE", "interaction_settings_ingest")
        [answer] = await fake_discord.wait_for(
            "PATCH", rf"/webhooks/{BOT}/token-1100000000000000603/messages/@original"
        )
        assert f"<#{PRIVATE}>" in answer.json["content"]
        digest = load("interaction_settings_ingest")
        digest.update(id="1100000000000000612", token="token-1100000000000000612")
        digest["data"]["options"] = [
            {"name": "digest-channel", "type": 1, "options": [{"name": "channel", "type": 7, "value": HELP}]}
        ]
        digest["data"]["resolved"]["channels"] = {
            HELP: {
                "id": HELP,
                "name": "help",
                "type": 0,
                "flags": 0,
                "permissions": "2248473465835073",
                "parent_id": None,
            }
        }
        await send(fake_discord, bot, "INTERACTION_CREATE", digest)
        await fake_discord.wait_for("PATCH", rf"/webhooks/{BOT}/token-1100000000000000612/messages/@original")

        in_private.update(id="1100000000000000512")
        await send(fake_discord, bot, "MESSAGE_CREATE", in_private)
        assert "1100000000000000512" in await _messages(app)
    async with app.db.sessions() as s:
        community = await s.scalar(select(Community).where(Community.external_id == GUILD))
        assert community.settings["digest_channel"] == HELP


async def test_an_admin_turns_reading_a_private_thread_on(app, fake_discord):
    """A private thread is a private channel here, read only when an admin turns it on: /connective ingest offered
    text and forum channels only, and a private thread picked anyway failed in discord.py (no answer at all)."""
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create_private_thread")
        assert "1100000000000000504" not in await _messages(app)

        turn_on = load("interaction_settings_ingest")
        turn_on["data"]["options"][0]["options"][0]["value"] = PRIVATE_THREAD
        turn_on["data"]["resolved"]["channels"] = {PRIVATE_THREAD: {
            "id": PRIVATE_THREAD, "name": "secret plans", "type": 12, "permissions": "2248473465835073",
            "parent_id": HELP, "owner_id": KENJI, "guild_id": GUILD, "flags": 0, "member_count": 2,
            "message_count": 1, "last_message_id": None, "rate_limit_per_user": 0, "thread_metadata": {
                "archived": False, "auto_archive_duration": 1440, "locked": False, "invitable": False,
                "archive_timestamp": "2024-05-02T10:00:00.000000+00:00",
                "create_timestamp": "2024-05-02T10:00:00.000000+00:00"}}}
        await send(fake_discord, bot, "INTERACTION_CREATE", turn_on)
        [answer] = await fake_discord.wait_for(
            "PATCH", rf"/webhooks/{BOT}/token-1100000000000000603/messages/@original"
        )
        assert answer.json["content"] == f"I'll learn from messages in <#{PRIVATE_THREAD}> from now on."

        again = load("message_create_private_thread")
        again["id"] = "1100000000000000514"
        await send(fake_discord, bot, "MESSAGE_CREATE", again)
        assert "1100000000000000514" in await _messages(app)
    [sync] = fake_discord.find("PUT", rf"/applications/{BOT}/commands")
    [settings] = [c for c in sync.json if c["name"] == "connective"]
    [ingest] = [o for o in settings["options"] if o["name"] == "ingest"]
    # Text, announcement, forum and media channels, and private threads; a public thread is read with its channel.
    assert ingest["options"][0]["channel_types"] == [0, 5, 15, 16, 12]


async def test_a_message_deleted_in_an_archived_private_thread_read_goes(app, fake_discord):
    """A private thread an admin turned reading on is a channel of its own here; archived, it left discord.py's cache
    and a deletion in it was dropped: the message stayed stored."""
    async with running_bot(app, fake_discord) as bot:
        turn_on = load("interaction_settings_ingest")
        turn_on["data"]["options"][0]["options"][0]["value"] = PRIVATE_THREAD
        [thread] = [dict(t) for t in fake_discord.guild["threads"] if t["id"] == PRIVATE_THREAD]
        turn_on["data"]["resolved"]["channels"] = {PRIVATE_THREAD: thread | {"permissions": "2248473465835073"}}
        await send(fake_discord, bot, "INTERACTION_CREATE", turn_on)
        await fake_discord.wait_for("PATCH", rf"/webhooks/{BOT}/token-1100000000000000603/messages/@original")
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create_private_thread")
        assert "1100000000000000504" in await _messages(app)

        thread["thread_metadata"] = {**thread["thread_metadata"], "archived": True}
        fake_discord.archived_threads.append(thread)
        await send(fake_discord, bot, "THREAD_UPDATE", thread)
        await send(fake_discord, bot, "MESSAGE_DELETE", {"id": "1100000000000000504", "channel_id": PRIVATE_THREAD,
                                                         "guild_id": GUILD})
        assert "1100000000000000504" not in await _messages(app)


async def test_a_forgotten_member_who_posts_again_is_not_named_again(app, fake_discord):
    async with running_bot(app, fake_discord) as bot:
        forget = load("interaction_skills_add")  # Kenji's slash command, as /forget-me
        forget["data"].update(name="forget-me", options=[])
        await send(fake_discord, bot, "INTERACTION_CREATE", forget)
        [answer] = await fake_discord.wait_for("PATCH", rf"/webhooks/{BOT}/{forget['token']}/messages/@original")
        assert "deleted everything" in answer.json["content"]
        again = load("message_create")
        again["author"] = forget["member"]["user"]
        await send(fake_discord, bot, "MESSAGE_CREATE", again)
    async with app.db.sessions() as s:
        kenji = await s.scalar(select(Member).where(Member.external_id == KENJI))
        assert (kenji.name, kenji.profiling_consent) == ("", False)
        assert await s.scalar(select(func.count()).select_from(Message)) == 0


async def test_sharded_client_follows_the_api_url_to_the_gateway(app, fake_discord):
    async with running_bot(app, fake_discord, sharded=True) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create")
    assert "1100000000000000501" in await _messages(app)
    assert fake_discord.find("GET", "/gateway/bot")


async def test_slow_core_still_acknowledges_first(app, fake_discord):
    """Who-knows may take longer than Discord's 3 s: the deferral goes out before the answer."""
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "INTERACTION_CREATE", "interaction_whoknows")
        await fake_discord.wait_for("PATCH", rf"/webhooks/{BOT}/[^/]+/messages/@original")
    order = [c.method for c in fake_discord.calls if "interactions" in c.path or "webhooks" in c.path]
    assert order == ["POST", "PATCH"]
    await asyncio.sleep(0)


def _custom_ids(message_json: dict) -> list[str]:
    return [c["custom_id"] for row in message_json.get("components", []) for c in row["components"]]



async def _click(fake_discord, bot, custom_id: str, components: list) -> None:  # noqa: ANN001
    """A member clicks the button `custom_id` of a message the bot posted with these components."""
    click = load("interaction_intro_request")
    click["data"]["custom_id"] = custom_id
    click["message"]["components"] = components
    await send(fake_discord, bot, "INTERACTION_CREATE", click)

async def test_a_member_pauses_intro_requests_and_sets_their_cap_from_me(app, fake_discord):
    """Slack's App Home has the switches for intro requests; Discord has no Home, and a member asked too often could
    only opt out. /me carries them, and a click shows /me again as it now is."""
    async with running_bot(app, fake_discord) as bot:
        me = load("interaction_skills_add")
        me["data"].update(name="me", options=[])
        me["member"]["user"] = load("interaction_intro_request")["member"]["user"]  # Asha, who clicks below
        await send(fake_discord, bot, "INTERACTION_CREATE", me)
        [answer] = await fake_discord.wait_for("PATCH", rf"/webhooks/{BOT}/{me['token']}/messages/@original")
        assert "available for intros: yes" in answer.json["content"]
        assert _custom_ids(answer.json)[:2] == ["home.unavailable|off", "home.cap|1"]

        await _click(fake_discord, bot, "home.unavailable|off", answer.json["components"])
        [shown] = await fake_discord.wait_for("PATCH", rf"/webhooks/{BOT}/token-1100000000000000604/messages/@original")
        assert "available for intros: no (paused)" in shown.json["content"]
        assert _custom_ids(shown.json)[0] == "home.available|on"
        assert shown.json["allowed_mentions"] == NO_PINGS
        async with app.db.sessions() as s:
            asha = await s.scalar(select(Member).where(Member.external_id == ASHA))
            assert (asha.available_for_intros, asha.weekly_intro_cap) == (False, None)

        click = load("interaction_intro_request")
        click.update(id="1100000000000000605", token="token-1100000000000000605")
        click["data"]["custom_id"] = "home.cap|1"
        click["message"]["components"] = shown.json["components"]
        await send(fake_discord, bot, "INTERACTION_CREATE", click)
        [shown] = await fake_discord.wait_for("PATCH", rf"/webhooks/{BOT}/token-1100000000000000605/messages/@original")
        assert "weekly intro cap: 1" in shown.json["content"]
    async with app.db.sessions() as s:
        assert (await s.scalar(select(Member).where(Member.external_id == ASHA))).weekly_intro_cap == 1


async def test_intro_flow_asks_the_expert_by_dm_then_opens_a_private_thread(app, fake_discord):
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create")
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create_reply")
        await send(fake_discord, bot, "INTERACTION_CREATE", "interaction_whoknows")
        [answer] = await fake_discord.wait_for("PATCH", rf"/webhooks/{BOT}/[^/]+/messages/@original")
        [request_intro] = _custom_ids(answer.json)
        assert request_intro.startswith("intro.request|") and request_intro.endswith(f":{PETRA}")

        await _click(fake_discord, bot, request_intro, answer.json["components"])
        # The expert is asked privately, with the question and buttons that name the server (a DM has none).
        [dm] = await fake_discord.wait_for("POST", "/users/@me/channels")
        assert str(dm.json["recipient_id"]) == PETRA
        petra_dm = "9" + PETRA[1:]
        [asked] = await fake_discord.wait_for("POST", rf"/channels/{petra_dm}/messages")
        assert "postgres index tuning" in asked.json["content"] and asked.json["allowed_mentions"] == NO_PINGS
        accept, decline, not_mine = _custom_ids(asked.json)
        intro_id = accept.split("|")[1]
        assert (accept, decline, not_mine) == (
            f"intro.accept|{intro_id}|{GUILD}",
            f"intro.decline|{intro_id}|{GUILD}",
            f"intro.notmine|{intro_id}|{GUILD}",
        )
        [told_asker] = await fake_discord.wait_for("POST", rf"/webhooks/{BOT}/token-1100000000000000604")
        assert "Petra" in told_asker.json["content"] and told_asker.json["flags"] == 64
        assert not fake_discord.find("POST", r"/channels/\d+/threads")  # nothing opens before consent

        yes = load("interaction_intro_accept_dm")
        yes["data"]["custom_id"] = accept
        yes["channel_id"] = yes["channel"]["id"] = petra_dm
        yes["message"].update(channel_id=petra_dm, components=asked.json["components"])
        await send(fake_discord, bot, "INTERACTION_CREATE", yes)
        [thread] = await fake_discord.wait_for("POST", rf"/channels/{GENERAL}/threads")  # the system channel
        assert thread.json["type"] == 12 and thread.json["invitable"] is False
        added = await fake_discord.wait_for("PUT", r"/channels/\d+/thread-members/\d+", count=2)
        thread_id = added[0].path.split("/")[2]
        assert {c.path.rsplit("/", 1)[1] for c in added} == {ASHA, PETRA}
        [hello] = await fake_discord.wait_for("POST", rf"/channels/{thread_id}/messages")
        assert "Asha Rao" in hello.json["content"] and "Petra Kowalski" in hello.json["content"]
        assert hello.json["allowed_mentions"] == NO_PINGS
        dms = await fake_discord.wait_for("POST", "/users/@me/channels", count=2)
        assert str(dms[1].json["recipient_id"]) == ASHA  # the asker hears that the expert accepted
        # The request itself now says it was accepted, and its buttons (which stayed, to be clicked again) are gone
        [settled] = await fake_discord.wait_for("PATCH", rf"/webhooks/{BOT}/token-{yes['id']}/messages/@original")
        assert "postgres index tuning" in str(settled.json) and "You accepted" in str(settled.json)
        assert not settled.json.get("components")


async def _request_placed(app) -> None:  # noqa: ANN001
    """Until the sender has told the core where the request went (Core.delivered, after Discord's answer to the POST):
    under load the sweep read the intro before that, had no message to change, and the test timed out (1 CI run)."""
    async def placed() -> None:
        while True:
            async with app.db.sessions() as s:
                if await s.scalar(select(Intro.request_ref).where(Intro.request_ref.is_not(None)).limit(1)):
                    return
            await asyncio.sleep(0.05)

    await asyncio.wait_for(placed(), 30)


async def _intro_requested_of_petra(app, fake_discord, bot):  # noqa: ANN001, ANN202
    """Asha asks who knows, and requests an intro to Petra, the first expert: the request in Petra's DM, once the
    asker was told and the request placed."""
    await send(fake_discord, bot, "MESSAGE_CREATE", "message_create")
    await send(fake_discord, bot, "MESSAGE_CREATE", "message_create_reply")
    await send(fake_discord, bot, "INTERACTION_CREATE", "interaction_whoknows")
    [answer] = await fake_discord.wait_for("PATCH", rf"/webhooks/{BOT}/[^/]+/messages/@original")
    await _click(fake_discord, bot, _custom_ids(answer.json)[0], answer.json["components"])
    [asked] = await fake_discord.wait_for("POST", rf"/channels/9{PETRA[1:]}/messages")
    await fake_discord.wait_for("POST", rf"/webhooks/{BOT}/token-1100000000000000604")  # the asker's note
    await _request_placed(app)
    return asked


async def test_what_was_kept_for_a_server_is_sent_as_soon_as_the_bot_is_ready(app, fake_discord):
    """`connective run` starts the scheduler before the gateway's READY names the servers the bot is in
    (bot.serving): the start's jobs found none of theirs, and what was kept for the bot (bot.outbox) waited for the
    next sweep, a missed digest for the next catch-up (10 minutes). They run again once the bot is ready."""
    from bot import outbox
    from bot.actions import DirectMessage

    async with app.db.sessions.begin() as s:
        s.add(Community(platform="discord", external_id=GUILD, name="Guild"))
    async with app.db.sessions() as s:
        community_id = await s.scalar(select(Community.id).where(Community.external_id == GUILD))
    await outbox.keep(app.db, community_id, "discord", [
        DirectMessage(community=GUILD, user=PETRA, doc=Document(text="Asha no longer waits on your answer"))])
    app.scheduler.start()
    async with running_bot(app, fake_discord):
        [sent] = await fake_discord.wait_for("POST", rf"/channels/9{PETRA[1:]}/messages")
        assert "no longer waits" in str(sent.json)


async def test_the_scheduled_jobs_leave_a_server_the_bot_has_left(app, fake_discord):
    """The bot serves the servers it is in (bot.serving): one it has left (GUILD_DELETE) is another process's, or
    nobody's. Its expired intro request was taken all the same: its message edited through a client that no longer
    reaches it, and the request marked expired."""
    async with running_bot(app, fake_discord) as bot:
        assert bot.sender.communities() == {GUILD}
        asked = await _intro_requested_of_petra(app, fake_discord, bot)
        await send(fake_discord, bot, "GUILD_DELETE", {"id": GUILD})
        assert bot.sender.communities() == frozenset()
        app.intros.clock = lambda: datetime.now(UTC) + timedelta(hours=24, minutes=5)
        assert await app.intros.sweep() == 0
        async with app.db.sessions() as s:
            [intro] = list(await s.scalars(select(Intro)))
        assert intro.state == "requested"
        assert not [c for c in fake_discord.calls if c.method == "PATCH" and asked.answer["id"] in c.path]


async def test_a_request_left_unanswered_says_it_expired_and_loses_its_buttons(app, fake_discord):
    """The intro timeout's sweep changes the request in the expert's DM: its buttons stayed until clicked."""
    async with running_bot(app, fake_discord) as bot:
        petra_dm = "9" + PETRA[1:]
        asked = await _intro_requested_of_petra(app, fake_discord, bot)
        app.intros.clock = lambda: datetime.now(UTC) + timedelta(hours=24, minutes=5)
        assert await app.intros.sweep() == 1
        [expired] = await fake_discord.wait_for("PATCH", rf"/channels/{petra_dm}/messages/{asked.answer['id']}")
        assert "postgres index tuning" in str(expired.json) and "expired" in str(expired.json)
        assert not expired.json.get("components") and expired.json["allowed_mentions"] == NO_PINGS


async def test_an_expert_who_takes_no_dms_is_not_waited_for(app, fake_discord):
    """Discord refuses a DM to a member who turned off DMs from server members (403): the intro request never reached
    Petra, yet it stayed open and Asha, told she would hear back, waited out the whole timeout (24 h) for nothing
    (Discord walk-through). The request now ends at once and Asha is offered the next expert, as after a decline."""
    kenji = load("message_create_reply") | {"id": "1100000000000000778", "author": {
        "id": KENJI, "username": "kenji", "global_name": "Kenji Sato", "discriminator": "0", "avatar": None,
        "public_flags": 0}, "content": "For postgres index tuning, check the planner's row estimates first"}
    fake_discord.refused.append(("POST", rf"/channels/9{PETRA[1:]}/messages"))
    async with running_bot(app, fake_discord) as bot:
        for message in ("message_create", "message_create_reply", kenji):
            await send(fake_discord, bot, "MESSAGE_CREATE", message)
        await send(fake_discord, bot, "INTERACTION_CREATE", "interaction_whoknows")
        [answer] = await fake_discord.wait_for("PATCH", rf"/webhooks/{BOT}/[^/]+/messages/@original")
        [request_petra] = [i for i in _custom_ids(answer.json) if i.endswith(f":{PETRA}")]
        await _click(fake_discord, bot, request_petra, answer.json["components"])
        [offer] = await fake_discord.wait_for("POST", rf"/channels/9{ASHA[1:]}/messages")
    assert "could not happen" in offer.json["content"] and offer.json["allowed_mentions"] == NO_PINGS
    assert [i.split("|")[1].split(":")[1] for i in _custom_ids(offer.json)] == [KENJI]
    async with app.db.sessions() as s:
        assert await s.scalar(select(Intro.state)) == "expired"


async def test_a_scheduled_dm_to_a_member_who_takes_none_is_one_log_line(app, fake_discord, caplog):
    """A member who takes no DMs from server members is ordinary on Discord: the next-expert offer after a request
    expired (a scheduled DM) failed with a traceback in the log ('delivering DirectMessage on discord failed', 403)
    (Discord walk-through). It is now one warning line."""
    fake_discord.refused.append(("POST", rf"/channels/9{ASHA[1:]}/messages"))
    async with running_bot(app, fake_discord) as bot:
        for message in ("message_create", "message_create_reply"):
            await send(fake_discord, bot, "MESSAGE_CREATE", message)
        await send(fake_discord, bot, "INTERACTION_CREATE", "interaction_whoknows")
        [answer] = await fake_discord.wait_for("PATCH", rf"/webhooks/{BOT}/[^/]+/messages/@original")
        [request_intro] = _custom_ids(answer.json)
        await _click(fake_discord, bot, request_intro, answer.json["components"])
        await fake_discord.wait_for("POST", rf"/channels/9{PETRA[1:]}/messages")
        app.intros.clock = lambda: utcnow() + timedelta(days=2)
        caplog.clear()
        assert await app.intros.sweep() == 1
    assert fake_discord.find("POST", rf"/channels/9{ASHA[1:]}/messages")  # the offer was tried, and refused
    # Ours: discord.py's own teardown may log a task of its ready-delay failing once the test's client has closed
    assert not [r for r in caplog.records if r.exc_info and r.name.startswith(("bot", "adapters"))]
    assert any("not delivered" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)


async def test_a_member_who_leaves_is_not_suggested_nor_asked_until_they_join_again(app, fake_discord):
    """GUILD_MEMBER_REMOVE (the members intent, asked for by default): Petra left the server, so she is not suggested
    and a Request intro button shown before asks nobody; GUILD_MEMBER_ADD brings her back."""
    asks = iter(range(1100000000000000611, 1100000000000000699))

    async def ask() -> dict:
        interaction = load("interaction_whoknows")
        interaction["id"] = str(next(asks))
        interaction["token"] = f"token-{interaction['id']}"
        before = len(fake_discord.find("PATCH", rf"/webhooks/{BOT}/[^/]+/messages/@original"))
        await send(fake_discord, bot, "INTERACTION_CREATE", interaction)
        answers = await fake_discord.wait_for("PATCH", rf"/webhooks/{BOT}/[^/]+/messages/@original", before + 1)
        return answers[-1].json

    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create")
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create_reply")
        answer = await ask()
        [request_intro] = _custom_ids(answer)
        assert request_intro.endswith(f":{PETRA}")

        await send(fake_discord, bot, "GUILD_MEMBER_REMOVE", "guild_member_remove")
        assert not [c for c in _custom_ids(await ask()) if c.endswith(f":{PETRA}")]
        await _click(fake_discord, bot, request_intro, answer["components"])
        await fake_discord.wait_for("POST", r"/webhooks/\d+/[^/]+", 1)  # the answer to the click
        assert not fake_discord.find("POST", "/users/@me/channels")  # Petra is not asked

        joined = load("guild_member_add")
        joined["user"] = load("guild_member_remove")["user"]
        await send(fake_discord, bot, "GUILD_MEMBER_ADD", joined)
        assert _custom_ids(await ask())[0].endswith(f":{PETRA}")
    assert fake_discord.identifies[0]["intents"] & (1 << 1)  # GUILD_MEMBERS


async def test_a_member_who_changes_their_nickname_is_suggested_by_the_new_one(app, fake_discord):
    """GUILD_MEMBER_UPDATE: Petra took a server nickname; her card says so before she posts again (as Slack's
    user_change renames a member)."""
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create")
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create_reply")
        await send(fake_discord, bot, "GUILD_MEMBER_UPDATE", "guild_member_update")
        await send(fake_discord, bot, "INTERACTION_CREATE", "interaction_whoknows")
        [answer] = await fake_discord.wait_for("PATCH", rf"/webhooks/{BOT}/[^/]+/messages/@original")
    [petra] = answer.json["embeds"]
    assert petra["title"] == "1. Petra (DB guild)"
    async with app.db.sessions() as s:
        assert await s.scalar(select(Member.name).where(Member.external_id == PETRA)) == "Petra (DB guild)"


async def test_a_member_who_leaves_keeps_the_name_they_went_by(app, fake_discord):
    """GUILD_MEMBER_REMOVE carries the user, not their server nickname: Petra, "Petra (DB guild)" here, was renamed
    by her global name as she left, on what is kept of her (cards, intros, digests)."""
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "MESSAGE_CREATE", "message_create")
        await send(fake_discord, bot, "GUILD_MEMBER_UPDATE", "guild_member_update")
        await send(fake_discord, bot, "GUILD_MEMBER_REMOVE", "guild_member_remove")
    async with app.db.sessions() as s:
        petra = await s.scalar(select(Member).where(Member.external_id == PETRA))
    assert (petra.name, petra.deactivated) == ("Petra (DB guild)", True)


async def test_without_the_members_intent_granted_the_bot_runs_without_it(app, fake_discord, caplog):
    """The Server Members intent is privileged: an application that has not turned it on is refused (4014) and
    the bot connects again without it, saying what that costs; turned off in the settings, it is never asked."""
    fake_discord.refused_intents = 1 << 1
    app.settings = app.settings.model_copy(
        update={"discord_token": SecretStr("fake-token"), "discord_api_url": fake_discord.api_url}
    )
    for members_setting, identifies in ((True, 2), (False, 1)):
        app.settings = app.settings.model_copy(update={"discord_members_intent": members_setting})
        fake_discord.identifies.clear()
        fake_discord._connected.clear()
        task = asyncio.create_task(run(app))
        try:
            await fake_discord.connected()
            sequence = await fake_discord.dispatch("GUILD_MEMBER_ADD", load("guild_member_add"))
            await asyncio.wait_for(app.core.senders["discord"].client.wait_processed(sequence), 60)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            app.scheduler.shutdown()  # run() starts it
        assert [bool(i["intents"] & (1 << 1)) for i in fake_discord.identifies] == [True, False][-identifies:]
    assert caplog.text.count("Discord refused the Server Members intent") == 1


async def test_where_private_threads_are_refused_each_member_gets_the_intro_by_dm(app, fake_discord):
    fake_discord.refused.append(("POST", r"/channels/\d+/threads"))
    group = OpenGroup(
        community=GUILD,
        members=(ASHA, PETRA),
        key="intro:9",
        doc=Document(text="Hi both! Asha asked about @everyone postgres."),
    )
    async with running_bot(app, fake_discord):
        await app.core.deliver("discord", [group])
        dms = fake_discord.find("POST", "/users/@me/channels")
        sent = fake_discord.find("POST", r"/channels/9\d+/messages")
    assert [str(c.json["recipient_id"]) for c in dms] == [ASHA, PETRA]
    assert len(sent) == 2 and all(c.json["allowed_mentions"] == NO_PINGS for c in sent)


async def test_run_follows_the_settings_to_the_fake_discord(app, fake_discord):
    discord.http.Route.BASE = "https://discord.invalid/api/v10"  # run() must set it from the settings
    app.settings = app.settings.model_copy(update={"discord_token": None})
    with pytest.raises(UserError, match="DISCORD_TOKEN"):
        await run(app)
    app.settings = app.settings.model_copy(
        update={"discord_token": SecretStr("fake-token"), "discord_api_url": fake_discord.api_url}
    )
    task = asyncio.create_task(run(app))
    try:
        await fake_discord.connected()
        await fake_discord.dispatch("MESSAGE_CREATE", load("message_create"))
        await fake_discord.wait_for("PUT", rf"/applications/{BOT}/commands")
        sender = app.core.senders["discord"]
        await asyncio.wait_for(sender.client.wait_processed(3), 60)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert "1100000000000000501" in await _messages(app)
    assert fake_discord.identifies[0]["token"] == "fake-token"


async def test_a_group_nobody_can_be_reached_for_is_refused_not_taken_as_sent(app, fake_discord):
    """No private thread and no member taking DMs: open_group returned as if sent, so a mentoring pair's
    introduction that reached nobody was recorded as introduced and never tried again. It is refused (Undelivered);
    where one member got it, it was sent."""
    from bot.actions import REFUSED, SENT

    fake_discord.refused.append(("POST", r"/channels/\d+/threads"))
    fake_discord.refused.append(("POST", rf"/channels/9{ASHA[1:]}/messages"))
    group = OpenGroup(community=GUILD, members=(ASHA, PETRA), key="mentoring:3", doc=Document(text="Meet your pair."))
    async with running_bot(app, fake_discord):
        assert await app.core.send("discord", group) == SENT  # Petra got it
        fake_discord.refused.append(("POST", rf"/channels/9{PETRA[1:]}/messages"))
        assert await app.core.send("discord", group) == REFUSED


async def test_starting_logs_no_warning_about_voice(app, fake_discord, monkeypatch, caplog):
    """discord.py warned at every start "PyNaCl is not installed, voice will NOT be supported" (and the same of
    davey): the bot never uses voice, and the lines read as if something were missing (ops walk-through)."""
    import logging

    monkeypatch.setattr(discord.VoiceClient, "warn_nacl", True)
    monkeypatch.setattr(discord.VoiceClient, "warn_dave", True, raising=False)
    with caplog.at_level(logging.INFO):
        async with running_bot(app, fake_discord):
            pass
    assert not [r.getMessage() for r in caplog.records if "voice" in r.getMessage()]
