"""`connective import discord`: DiscordChatExporter JSON exports, on SQLite and PostgreSQL.

The fixtures (tests/fixtures/discord_export, fictional) are a server "Fernhill Makers": #general with
replies, system notices, a bot and an embed-only message; a thread started from #general; a forum post;
and, under later/, overlapping exports made a few weeks after the first ones.
"""
from __future__ import annotations

import json
import shutil
import zipfile
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete as sa_delete
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from adapters.discord.translate import ChannelInfo, translate
from bot import events as ev
from bot.cli import cli
from bot.db.models import Channel, Community, Member, Message, MessageVector, Reaction
from tests.discord_fixtures import GuildContext

FIXTURES = Path(__file__).parent / "fixtures" / "discord_export"
FIRST, LATER = FIXTURES / "first", FIXTURES / "later"
GUILD = "1100000000000000001"
GENERAL, THREAD, POST = "1100000000000000100", "1100000000000000200", "1100000000000000300"
FORUM, STARTER = "1100000000000000030", "1100000000000100050"
ASHA, BRUNO, PETRA, KENJI, DARA, FERNBOT = (
    "1100000000000009001", "1100000000000009002", "1100000000000009003", "1100000000000009004",
    "1100000000000009007", "1100000000000009999")


def g(n: int) -> str:  # a #general message id
    return f"11000000000001{n:05d}"


def t(n: int) -> str:  # a thread or forum message id
    return f"11000000000002{n:05d}"


async def _community_id(app) -> int:
    async with app.db.sessions() as s:
        return await s.scalar(select(Community.id).where(Community.platform == "discord",
                                                        Community.external_id == GUILD))


async def _counts(app) -> tuple[int, int, int, int]:
    async with app.db.sessions() as s:
        return tuple([await s.scalar(select(func.count()).select_from(model))
                      for model in (Message, MessageVector, Reaction, Member)])


async def _messages(app) -> dict[str, Message]:
    async with app.db.sessions() as s:
        return {m.external_id: m for m in await s.scalars(select(Message))}


async def _top(app, question: str, asker: str) -> list[str]:
    return [e.user for e in await app.expertise.rank(await _community_id(app), question, asker=asker, top=5)]


async def test_import_then_ask_finds_the_expert(app):
    report = await app.importer.import_discord([FIRST])
    assert report.errors == []
    assert report.community == f"discord:{GUILD}"
    assert (report.files, report.messages_seen, report.added) == (3, 22, 19)
    assert report.skipped == 3  # member join, pin notice, "started a thread"
    assert any("2 reaction(s) without the list of who reacted" in n for n in report.notes)

    assert (await _top(app, "autovacuum is stuck on a big postgres table", asker=ASHA))[0] == PETRA
    assert (await _top(app, "kubernetes pods run out of memory", asker=BRUNO))[0] == KENJI
    found = await _top(app, "postgres maintenance vacuum reindex", asker=KENJI)
    assert FERNBOT not in found and KENJI not in found  # bots and the asker are never suggested

    msgs = await _messages(app)
    assert g(4) not in msgs and g(9) not in msgs and g(13) not in msgs  # system notices skipped
    assert msgs[g(2)].reply_to_external_id == g(1)
    assert msgs[g(1)].reply_to_external_id is None and msgs[g(1)].thread_external_id is None
    assert msgs[g(2)].permalink == f"https://discord.com/channels/{GUILD}/{GENERAL}/{g(2)}"
    assert msgs[g(11)].edited_at is not None
    assert msgs[g(16)].text == "Fernhill meetup photos Pictures from the January soldering night"
    assert msgs[g(5)].created_at.hour == 13  # "14:00+01:00" stored as UTC

    async with app.db.sessions() as s:
        reactions = (await s.execute(select(Message.external_id, Reaction.user_external_id, Reaction.name)
                                     .join(Message, Message.id == Reaction.message_id))).all()
        bot = await s.scalar(select(Member).where(Member.external_id == FERNBOT))
        bot_vectors = await s.scalar(select(func.count()).select_from(MessageVector)
                                     .join(Message, Message.id == MessageVector.message_id)
                                     .where(Message.author_id == bot.id))
        names = dict((await s.execute(select(Member.external_id, Member.name))).all())
    assert sorted(reactions) == sorted([(g(2), ASHA, "👍"), (g(2), BRUNO, "👍"), (t(2), BRUNO, "✅")])
    assert bot.is_bot and bot_vectors == 0
    assert names[PETRA] == "Petra" and names[KENJI] == "Kenji"  # nickname, the name members see


async def test_the_progress_bar_moves_as_messages_are_encoded(app):
    """The bar used to move once per 4,000 messages (racket-2019 sat at 0/5706 for 34 s); now with every
    encoded batch, then the fit has a line of its own."""
    bars: list[tuple[str, int, list[int]]] = []

    @contextmanager
    def progress(total: int, label: str):  # noqa: ANN202
        bars.append((label, total, []))
        yield bars[-1][2].append

    app.importer.ingest.chunk = 2
    await app.importer.import_discord([FIRST], progress=progress)
    [(label, total, steps), (fit_label, fit_total, fit_steps)] = bars
    assert label == "importing" and fit_label.startswith("fitting") and fit_total == 1 and fit_steps == [1]
    assert sum(steps) == total and len(steps) >= 5 and max(steps) <= total // 2


async def test_the_progress_bar_moves_as_the_encoding_work_does(app):
    """Texts are encoded shortest first, and the bar counted each as one: the time left was read off the quick ones
    (clojurians-2019: "about 47 s left" at 12%, done in 91 s). Now a text counts as its share of the work."""
    from bot.services.expertise import encode_cost

    texts = [f"short {n}" for n in range(6)] + [f"a long message {n} " + "about borrowing " * 30 for n in range(6)]
    steps: list[int] = []
    await app.expertise.encode_distinct(texts, chunk=3, progress=steps.append)
    assert sum(steps) == len(texts) and len(steps) == 4
    assert steps[0] < 2 < 4 < steps[-1]  # three short texts count as under two; three long ones as over four
    work = [encode_cost(t) for t in texts]
    assert abs(sum(steps[:2]) / len(texts) - sum(work[:6]) / sum(work)) < 1 / len(texts)


async def test_thread_and_forum_post_have_their_roots(app):
    from matching.corpus import ROLE_ANSWER, ROLE_ASK, ROLE_OTHER

    await app.importer.import_discord([FIRST])
    msgs = await _messages(app)
    async with app.db.sessions() as s:
        channels = {c.id: c for c in await s.scalars(select(Channel))}
    # A thread started on its own in #general (the channel shows only "started a thread"; the thread's id is no
    # message's): stored in #general under the thread's id, as the live bot stores it. Its first message asks.
    general = channels[msgs[t(1)].channel_id]
    assert (general.external_id, general.name) == (GENERAL, "general")
    assert THREAD not in {c.external_id for c in channels.values()}
    assert [msgs[t(n)].thread_external_id for n in (1, 2, 3)] == [THREAD] * 3
    assert msgs[t(2)].permalink == f"https://discord.com/channels/{GUILD}/{THREAD}/{t(2)}"
    corpus = await app.expertise.corpus(await _community_id(app))
    assert [int(corpus.arrays["role"][corpus.row_of[msgs[t(n)].id]]) for n in (1, 2, 3)] == [
        ROLE_ASK, ROLE_ANSWER, ROLE_OTHER]
    # A forum post: the opening message has the thread's id and is the root. It is stored in the forum, as
    # the live bot stores it, though the forum itself has no export of its own.
    forum = channels[msgs[POST].channel_id]
    assert (forum.external_id, forum.name) == (FORUM, "help-forum")
    assert [msgs[m].thread_external_id for m in (POST, t(11), t(12))] == [POST] * 3
    assert msgs[t(11)].permalink == f"https://discord.com/channels/{GUILD}/{POST}/{t(11)}"


def _thread_from_a_message(folder: Path) -> None:
    """#general: Bruno asks; a thread is started from his message (the thread's id is the message's), where
    DiscordChatExporter writes a pointer to it (type 21) and then the conversation: Petra answers, Bruno thanks."""
    def message(mid: str, author: str, name: str, minute: int, text: str, kind: str = "Default", **extra) -> dict:
        return {"id": mid, "type": kind, "timestamp": f"2024-02-01T10:{minute:02d}:00+00:00", "content": text,
                "author": {"id": author, "name": name}, **extra}

    guild = {"id": GUILD, "name": "Fernhill Makers"}
    question = message(STARTER, BRUNO, "brunok", 0, "Replication lag keeps growing on the postgres standby")
    (folder / "general.json").write_text(json.dumps({"guild": guild, "messages": [question], "channel": {
        "id": GENERAL, "type": "GuildTextChat", "name": "general", "categoryId": "1", "category": "Text Channels"}}))
    thread = [message(t(21), BRUNO, "brunok", 0, "", "21",
                      reference={"messageId": STARTER, "channelId": GENERAL, "guildId": GUILD}),
              message(t(22), PETRA, "petra_pg", 5, "Check max_standby_streaming_delay and the WAL receiver"),
              message(t(23), BRUNO, "brunok", 9, "thanks, the WAL receiver was stuck")]
    (folder / "lag.json").write_text(json.dumps({"guild": guild, "messages": thread, "channel": {
        "id": STARTER, "type": "GuildPublicThread", "categoryId": GENERAL, "category": "general",
        "name": "Replication lag"}}))


async def test_a_thread_started_from_a_message_asks_with_that_message(app, tmp_path):
    """The audit's defect: the message the thread was started from lives in the parent channel, so the thread's
    first reply was taken as the question and the asker's thanks as an answer. Now the thread is stored as the
    live bot stores it, in #general under the starting message, and a live reply in it joins the conversation."""
    from matching.corpus import ROLE_ANSWER, ROLE_ASK, ROLE_OTHER
    from matching.fit import training_questions

    _thread_from_a_message(tmp_path)
    report = await app.importer.import_discord([tmp_path])
    assert (report.errors, report.added) == ([], 3)
    msgs = await _messages(app)
    async with app.db.sessions() as s:
        general = await s.scalar(select(Channel.id).where(Channel.external_id == GENERAL))
        assert await s.scalar(select(func.count()).select_from(Channel).where(Channel.external_id == STARTER)) == 0
    assert {msgs[m].channel_id for m in (STARTER, t(22), t(23))} == {general}
    assert [msgs[m].thread_external_id for m in (STARTER, t(22), t(23))] == [None, STARTER, STARTER]

    await app.core.handle(ev.MessagePosted(
        community=GUILD, platform="discord", user=KENJI, channel=GENERAL, thread=STARTER, message_id=t(24),
        text="Also look at hot_standby_feedback", time=datetime(2024, 2, 1, 11, tzinfo=UTC)))
    cid = await _community_id(app)
    corpus = await app.expertise.corpus(cid)
    rows = {m: corpus.row_of[msgs[m].id] for m in (STARTER, t(22), t(23))}
    rows[t(24)] = corpus.row_of[(await _messages(app))[t(24)].id]
    a = corpus.arrays
    assert {m: int(a["role"][r]) for m, r in rows.items()} == {
        STARTER: ROLE_ASK, t(22): ROLE_ANSWER, t(23): ROLE_OTHER, t(24): ROLE_ANSWER}
    assert len({int(a["thread"][r]) for r in rows.values()}) == 1
    assert [corpus.members[u] for _, u in training_questions(corpus, 10)] == [PETRA]
    assert (await _top(app, "postgres standby replication lag", asker=ASHA))[0] == PETRA


async def test_a_thread_imported_before_its_parent_waits_there_for_its_question(app, tmp_path):
    """The thread's export alone holds only the pointer to the message it was started from: it is stored in the
    parent, under that message's id, as the live bot stores it. Once the parent is imported, that message is
    the question, as if both had come together; the order of imports makes no difference."""
    from matching.corpus import ROLE_ANSWER, ROLE_ASK, ROLE_OTHER

    _thread_from_a_message(tmp_path)
    (tmp_path / "general.json").rename(tmp_path / "general.later")
    await app.importer.import_discord([tmp_path / "lag.json"])
    msgs = await _messages(app)
    async with app.db.sessions() as s:
        general = await s.scalar(select(Channel).where(Channel.external_id == GENERAL))
    assert general.name == "general" and {msgs[m].channel_id for m in (t(22), t(23))} == {general.id}
    assert [msgs[m].thread_external_id for m in (t(22), t(23))] == [STARTER, STARTER]
    (tmp_path / "general.later").rename(tmp_path / "general.json")
    again = await app.importer.import_discord([tmp_path])
    assert (again.errors, again.added) == ([], 1)  # only the starting message in #general is new
    msgs = await _messages(app)
    corpus = await app.expertise.corpus(await _community_id(app))
    assert [int(corpus.arrays["role"][corpus.row_of[msgs[m].id]]) for m in (STARTER, t(22), t(23))] == [
        ROLE_ASK, ROLE_ANSWER, ROLE_OTHER]


async def test_a_thread_exported_without_its_parent_nor_the_pointer_waits_there_for_its_question(app, tmp_path):
    """Exported without its parent and without the pointer to its starting message, the thread is stored in the
    parent under the thread's id, as the live bot stores it, and its first reply asks for now; a later export with
    both adds the starting message, which is the question from then on."""
    from matching.corpus import ROLE_ANSWER, ROLE_ASK, ROLE_OTHER

    _thread_from_a_message(tmp_path)
    full = (tmp_path / "lag.json").read_text()
    old = json.loads(full)
    old["messages"] = old["messages"][1:]
    (tmp_path / "lag.json").write_text(json.dumps(old))
    (tmp_path / "general.json").rename(tmp_path / "general.later")
    await app.importer.import_discord([tmp_path / "lag.json"])
    before = await _counts(app)
    assert (await _roles(app, [t(22), t(23)]))[0][0] == ROLE_ASK
    (tmp_path / "general.later").rename(tmp_path / "general.json")
    (tmp_path / "lag.json").write_text(full)
    again = await app.importer.import_discord([tmp_path])
    assert (again.errors, again.added) == ([], 1)  # only the starting message in #general is new
    assert (await _counts(app))[0] == before[0] + 1
    assert await _roles(app, [STARTER, t(22), t(23)]) == ([ROLE_ASK, ROLE_ANSWER, ROLE_OTHER], 1)


async def test_a_thread_an_earlier_version_stored_as_its_own_channel_stays_one(app, monkeypatch):
    """Databases where an earlier version stored a thread started on its own as a channel of its own, its first
    message naming the thread: importing again adds nothing, an overlapping export joins the stored conversation."""
    from bot.services import importing
    from matching.corpus import ROLE_ANSWER, ROLE_ASK, ROLE_OTHER

    with monkeypatch.context() as m:  # the earlier version's layout
        m.setattr(importing, "thread_home", lambda channel, own: None)
        m.setattr(importing, "thread_root", lambda channel, stored=None: stored or channel.ordered()[0]["id"])
        await app.importer.import_discord([FIRST])
    before = await _counts(app)
    msgs = await _messages(app)
    async with app.db.sessions() as s:
        thread_channel = await s.scalar(select(Channel.id).where(Channel.external_id == THREAD))
    assert {(msgs[m].channel_id, msgs[m].thread_external_id) for m in (t(1), t(2))} == {(thread_channel, t(1))}
    again = await app.importer.import_discord([FIRST])
    assert (again.errors, again.added, await _counts(app)) == ([], 0, before)
    later = await app.importer.import_discord([LATER])
    assert (later.errors, later.added) == ([], 3)
    msgs = await _messages(app)
    assert (msgs[t(4)].channel_id, msgs[t(4)].thread_external_id) == (thread_channel, t(1))
    assert await _roles(app, [t(1), t(2), t(3), t(4)]) == ([ROLE_ASK, ROLE_ANSWER, ROLE_OTHER, ROLE_ANSWER], 1)


async def test_a_single_thread_file_alone(app):
    [path] = FIRST.glob("*Vacuum never finishes*.json")
    report = await app.importer.import_discord([path])
    assert (report.errors, report.added) == ([], 3)
    assert (await _top(app, "why does autovacuum never finish?", asker=BRUNO))[0] == PETRA


async def test_importing_twice_adds_nothing(app):
    await app.importer.import_discord([FIRST])
    before = await _counts(app)
    again = await app.importer.import_discord([FIRST])
    assert (again.added, again.updated, again.embedded, again.errors) == (0, 0, 0, [])
    assert again.fitted is None  # nothing new: no refit
    assert await _counts(app) == before


async def test_overlapping_later_export_adds_only_new_messages(app):
    await app.importer.import_discord([FIRST])
    messages, vectors, reactions, _ = await _counts(app)
    report = await app.importer.import_discord([LATER])
    assert report.errors == []
    assert (report.added, report.updated) == (3, 1)  # two in #general, one in the thread; one edit
    assert (await _counts(app))[0] == messages + 3
    msgs = await _messages(app)
    assert "spare soldering irons" in msgs[g(15)].text
    # The later thread export starts mid-thread; its new message joins the thread already stored.
    assert msgs[t(4)].thread_external_id == THREAD and msgs[t(4)].channel_id == msgs[t(1)].channel_id
    assert msgs[g(18)].reply_to_external_id == g(17)
    assert (await _top(app, "terraform plan is slow with a large state", asker=DARA))[0] == KENJI


async def test_damaged_file_is_named_and_the_rest_is_imported(app, tmp_path):
    folder = tmp_path / "export"
    shutil.copytree(FIRST, folder)
    good = (folder / f"Fernhill Makers - Text Channels - general [{GENERAL}].json").read_text()
    (folder / "Fernhill Makers - random [1100000000000000777].json").write_text(good[: len(good) // 2])
    (folder / "general_Files").mkdir()
    (folder / "general_Files" / "settings.json").write_text('{"theme": "dark"}')  # an attachment
    report = await app.importer.import_discord([folder])
    assert len(report.errors) == 1
    assert "Fernhill Makers - random [1100000000000000777].json" in report.errors[0]
    assert "not valid JSON" in report.errors[0]
    assert any("settings.json" in n and "not a DiscordChatExporter" in n for n in report.notes)
    assert report.added == 19
    assert (await _top(app, "autovacuum is stuck on a big postgres table", asker=ASHA))[0] == PETRA


async def test_zip_of_several_exports(app, tmp_path):
    archive = tmp_path / "fernhill.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in FIRST.glob("*.json"):
            z.write(path, f"exports/{path.name}")
    report = await app.importer.import_discord([archive])
    assert (report.errors, report.files, report.added) == ([], 3, 19)
    assert (await app.importer.import_discord([FIRST])).added == 0  # same messages, same ids


def test_cli_import_discord(tmp_path):
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    folder = tmp_path / "export"
    shutil.copytree(FIRST, folder)
    runner = CliRunner()
    ok = runner.invoke(cli, ["--db", db, "import", "discord", str(folder)])
    assert ok.exit_code == 0, ok.output
    assert f"discord:{GUILD}: 3 files, 22 messages read, 19 new" in ok.stdout
    (folder / "broken.json").write_text('{"guild": {"id": "1"}, "channel": ')
    bad = runner.invoke(cli, ["--db", db, "import", "discord", str(folder), str(LATER)])
    assert bad.exit_code == 1
    assert "broken.json: not valid JSON" in bad.stderr
    assert "3 new" in bad.stdout  # the later export still went in


async def test_nul_characters_anywhere_in_an_export_never_lose_it(app, tmp_path):
    """PostgreSQL refuses NUL in text and names longer than their column: a name, a channel or a reaction
    holding one must not fail the whole import, on either database."""
    export = {
        "guild": {"id": "77", "name": "nul\x00guild"},
        "channel": {"id": "78", "type": "GuildTextChat", "name": "gen\x00eral"},
        "messages": [
            {"id": "801", "type": "Default", "timestamp": "2024-01-02T10:00:00+00:00",
             "content": "How do I vacuum\x00 a big postgres table?",
             "author": {"id": "901", "name": "as\x00ha", "nickname": "A\x00sha"},
             "reactions": [{"emoji": {"name": "thu\x00mbs"}, "count": 1,
                            "users": [{"id": "902", "name": "pe\x00tra"}]}],
             "embeds": [{"title": "Vac\x00uum docs", "url": "https://www.postgresql.org/docs/current/sql-vacuum.html"}]},
            {"id": "802", "type": "Reply", "timestamp": "2024-01-02T10:05:00+00:00",
             "content": "Run VACUUM ANALYZE and watch autovacuum's thresholds",
             "author": {"id": "902", "name": "pe\x00tra" + "!" * 300}, "reference": {"messageId": "801"}},
        ],
    }
    (tmp_path / "nul.json").write_text(json.dumps(export))
    report = await app.importer.import_discord([tmp_path / "nul.json"])
    assert report.errors == [] and report.added == 2
    async with app.db.sessions() as s:
        names = sorted(await s.scalars(select(Member.name)))
        channel = await s.scalar(select(Channel.name).where(Channel.external_id == "78"))
        reactions = list(await s.scalars(select(Reaction.name)))
    assert names == ["Asha", "petra" + "!" * 195]  # the column holds 200 characters
    assert channel == "general" and reactions == ["thumbs"]


async def test_a_member_is_named_as_in_their_latest_message_whatever_file_is_read_last(app, tmp_path):
    def export(channel: str, when: str, name: str) -> dict:
        message = {"id": f"{channel}1", "type": "Default", "timestamp": when,
                   "content": "replication lag on the standby again", "author": {"id": "901", "name": name}}
        return {"guild": {"id": "77", "name": "g"}, "messages": [message],
                "channel": {"id": channel, "type": "GuildTextChat", "name": channel}}

    (tmp_path / "a.json").write_text(json.dumps(export("81", "2024-05-02T10:00:00+00:00", "Kim (new name)")))
    (tmp_path / "z.json").write_text(json.dumps(export("82", "2024-01-02T10:00:00+00:00", "Kim (old name)")))
    await app.importer.import_discord([tmp_path])
    async with app.db.sessions() as s:
        assert await s.scalar(select(Member.name).where(Member.external_id == "901")) == "Kim (new name)"


async def test_ids_no_database_keeps_lose_their_message_not_the_export(app, tmp_path):
    good = {"id": "701", "type": "Default", "timestamp": "2024-01-02T10:00:00+00:00",
            "content": "replication lag on the standby again", "author": {"id": "901", "name": "kim"}}
    bad = [{**good, "id": "70\x002"}, {**good, "id": "703", "author": {"id": "9" * 3000, "name": "long"}}]
    (tmp_path / "ok.json").write_text(json.dumps({"guild": {"id": "77", "name": "g"}, "messages": [good, *bad],
                                                  "channel": {"id": "81", "type": "GuildTextChat", "name": "ops"}}))
    (tmp_path / "bad.json").write_text(json.dumps({"guild": {"id": "77", "name": "g"}, "messages": [good],
                                                   "channel": {"id": "8" * 100, "type": "GuildTextChat"}}))
    report = await app.importer.import_discord([tmp_path])
    assert (report.added, report.skipped) == (1, 2)
    assert any("bad.json" in e and "not an id" in e for e in report.errors)


async def test_ids_that_are_no_snowflakes_are_malformed(app, tmp_path):
    """Discord ids are snowflakes, decimal digits: a message id "not-an-id" and an author id of 30 x's were stored
    and counted as fine. They are malformed now (counted, skipped); a reacting "user" that is no id is left out,
    and a channel whose id is no snowflake is a damaged file."""
    good = {"id": "701", "type": "Default", "timestamp": "2024-01-02T10:00:00+00:00",
            "content": "replication lag on the standby again", "author": {"id": "901", "name": "kim"},
            "reactions": [{"emoji": {"name": "thumbs"}, "count": 2, "users": [{"id": "902"}, {"id": "someone"}]}]}
    bad = [{**good, "id": "not-an-id"}, {**good, "id": "702", "author": {"id": "x" * 30, "name": "xs"}},
           {**good, "id": "1" * 21}, {**good, "id": "703", "author": {"id": "-904", "name": "minus"}}]
    (tmp_path / "ok.json").write_text(json.dumps({"guild": {"id": "77", "name": "g"}, "messages": [good, *bad],
                                                  "channel": {"id": "81", "type": "GuildTextChat", "name": "ops"}}))
    (tmp_path / "bad.json").write_text(json.dumps({"guild": {"id": "77", "name": "g"}, "messages": [good],
                                                   "channel": {"id": "general", "type": "GuildTextChat"}}))
    report = await app.importer.import_discord([tmp_path])
    assert (report.messages_seen, report.added, report.malformed) == (5, 1, 4)
    assert len(report.errors) == 1 and "bad.json" in report.errors[0] and "not an id" in report.errors[0]
    async with app.db.sessions() as s:
        assert list(await s.scalars(select(Message.external_id))) == ["701"]
        assert sorted(await s.scalars(select(Member.external_id))) == ["901"]
        assert list(await s.scalars(select(Reaction.user_external_id))) == ["902"]
        assert list(await s.scalars(select(Channel.external_id))) == ["81"]


async def test_json_no_parser_takes_and_odd_field_types_lose_only_their_file_or_detail(app, tmp_path):
    """Nesting deeper than the parser goes, or a number of thousands of digits, failed the whole import with a
    traceback; so did `"embeds": 5` or `"reactions": 5` in one message. Now the file is named as damaged, and
    the detail is dropped."""
    folder = tmp_path / "export"
    shutil.copytree(FIRST, folder)
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (folder / "long.json").write_text('{"guild": {"id": ' + "1" * 5000 + '}, "channel": {"id": "1"}, "messages": []}')
    odd = {"guild": {"id": GUILD, "name": "Fernhill Makers"}, "channel": {"id": "1100000000000000900",
           "type": "GuildTextChat", "name": "odd"},
           "messages": [{"id": "1100000000000900001", "type": "Default", "timestamp": "2024-03-01T10:00:00+00:00",
                         "content": "", "embeds": 5, "attachments": "x", "author": {"id": PETRA, "name": "petra_pg"}},
                        {"id": "1100000000000900002", "type": "Default", "timestamp": "2024-03-01T10:01:00+00:00",
                         "content": "pg_repack rebuilds a bloated table online", "reactions": 5,
                         "author": {"id": PETRA, "name": "petra_pg"}},
                        {"id": "1100000000000900003", "type": "Default", "timestamp": "2024-03-01T10:02:00+00:00",
                         "content": "and pg_squeeze too", "reactions": [{"emoji": {"name": "👍"}, "users": 7}],
                         "author": {"id": PETRA, "name": "petra_pg"}}]}
    (folder / "odd.json").write_text(json.dumps(odd))
    report = await app.importer.import_discord([folder])
    assert sorted(e.split(":")[0].rsplit("/", 1)[-1] for e in report.errors) == ["deep.json", "long.json"]
    assert all("not valid JSON" in e for e in report.errors)
    assert report.added == 19 + 3


async def test_a_slack_export_given_to_import_discord_is_pointed_to_import_slack(app, tmp_path):
    """It read every day file as a Discord export that was not one: hundreds of notes, and nothing imported."""
    import pytest

    from bot.errors import UserError

    (tmp_path / "users.json").write_text("[]")
    (tmp_path / "channels.json").write_text('[{"id": "C1", "name": "general"}]')
    (tmp_path / "general").mkdir()
    (tmp_path / "general" / "2024-01-02.json").write_text("[]")
    with pytest.raises(UserError, match="is a Slack export: import it with `connective import slack`"):
        await app.importer.import_discord([tmp_path])


async def test_a_message_deleted_live_is_not_brought_back_by_importing_again(app):
    """Re-importing an export is a routine top-up: it restored every message members had deleted since."""
    await app.importer.import_discord([FIRST])
    await app.core.handle(ev.MessageDeleted(community=GUILD, platform="discord", user=PETRA, channel=GENERAL,
                                            message_id=g(2), time=datetime(2024, 3, 1, tzinfo=UTC)))
    assert g(2) not in await _messages(app)
    again = await app.importer.import_discord([FIRST])
    assert (again.errors, again.added) == ([], 0)
    assert g(2) not in await _messages(app)


async def test_files_counts_only_the_files_imported_from(app, tmp_path):
    """A direct-message export and a private thread are read and left out: the report counts them apart, not
    among the files the messages came from."""
    folder = tmp_path / "export"
    shutil.copytree(FIRST, folder)
    message = {"id": "1100000000000500001", "type": "Default", "timestamp": "2024-01-02T10:00:00+00:00",
               "content": "a private word", "author": {"id": ASHA, "name": "asha"}}
    (folder / "dm.json").write_text(json.dumps({"guild": {"id": "0", "name": "Direct Messages"}, "messages": [message],
                                                "channel": {"id": "1100000000000500000", "type": "DirectTextChat"}}))
    (folder / "private.json").write_text(json.dumps({
        "guild": {"id": GUILD, "name": "Fernhill Makers"}, "messages": [message],
        "channel": {"id": "1100000000000500002", "type": "GuildPrivateThread", "name": "secret"}}))
    report = await app.importer.import_discord([folder])
    assert (report.files, report.files_left_out, report.added) == (3, 2, 19)
    assert "3 files (2 more private or direct-message files left out)" in report.summary()
    assert report.system_notices == 3 and report.skipped == 3  # member join, pin notice, "started a thread"


async def test_a_file_named_twice_is_read_once(app, tmp_path):
    """`import discord help.json help.json` (a glob and its name) counted the file, its messages and its skipped
    notices twice (Discord walk-through), and so did a file given beside its folder."""
    [first] = sorted(FIRST.glob("*.json"))[:1]
    once = await app.importer.import_discord([first])
    twice = await app.importer.import_discord([first, first.parent / ".." / first.parent.name / first.name])
    assert (twice.files, twice.messages_seen, twice.skipped) == (once.files, once.messages_seen, once.skipped)
    # A file and the folder that holds it, as `import discord general.json exports/` names them, counted it twice too
    folder = await app.importer.import_discord([FIRST])
    both = await app.importer.import_discord([first, FIRST])
    assert (both.files, both.messages_seen, both.skipped) == (folder.files, folder.messages_seen, folder.skipped)


# -- threads with no opening message, imported and live --------------------------------------------------------
LIVE_CHANNELS = {  # what the live bot knows of the fixture's channels (discord.py's cache)
    GENERAL: ChannelInfo(GENERAL, "general"),
    THREAD: ChannelInfo(THREAD, "Vacuum never finishes", parent_id=GENERAL, is_thread=True),
}


async def _live(app, dispatch: str, mid: str, channel: str, author: str = KENJI, text: str = "",
                when: str = "2024-03-01T10:00:00+00:00", channels: dict | None = None) -> None:
    """One gateway dispatch through the real translator (place_of) into the core."""
    payload: dict = {"id": mid, "channel_id": channel, "guild_id": GUILD}
    if dispatch != "MESSAGE_DELETE":
        payload |= {"type": 0, "author": {"id": author, "username": author}, "content": text, "timestamp": when}
    if dispatch == "MESSAGE_UPDATE":
        payload["edited_timestamp"] = when
    for event in translate(dispatch, payload, GuildContext(channels=channels or LIVE_CHANNELS)):
        await app.core.handle(event)


async def _thread_notice(app, mid: str, parent: str, thread: str, author: str = BRUNO,
                         when: str = "2024-03-01T10:00:00+00:00", channels: dict | None = None) -> None:
    """The "started a thread" notice (type 18) Discord posts in the parent of a thread made on its own."""
    payload = {"id": mid, "channel_id": parent, "guild_id": GUILD, "type": 18, "content": "a thread",
               "author": {"id": author, "username": author}, "timestamp": when,
               "message_reference": {"channel_id": thread, "guild_id": GUILD}}
    for event in translate("MESSAGE_CREATE", payload, GuildContext(channels=channels or LIVE_CHANNELS)):
        await app.core.handle(event)


async def _roles(app, ids: list[str]) -> tuple[list[int], int]:
    """The ranking's role of each message, and in how many conversations they are."""
    msgs = await _messages(app)
    corpus = await app.expertise.corpus(await _community_id(app))
    rows = [corpus.row_of[msgs[m].id] for m in ids]
    return [int(corpus.arrays["role"][r]) for r in rows], len({int(corpus.arrays["thread"][r]) for r in rows})


async def test_a_thread_started_on_its_own_then_followed_live_is_one_conversation(app):
    """The audit's defect: the thread was imported as a channel of its own, so a live reply in it started a second
    conversation in #general, and a live edit or deletion of an imported message missed the stored row."""
    from matching.corpus import ROLE_ANSWER, ROLE_ASK

    await app.importer.import_discord([FIRST])
    count = (await _counts(app))[0]
    await _live(app, "MESSAGE_CREATE", t(30), THREAD, KENJI, "Also look at idle_in_transaction_session_timeout")
    await _live(app, "MESSAGE_UPDATE", t(2), THREAD, PETRA, "Check pg_stat_activity for idle transactions",
                when="2024-03-01T10:05:00+00:00")
    await _live(app, "MESSAGE_DELETE", t(3), THREAD)
    msgs = await _messages(app)
    assert (await _counts(app))[0] == count  # one new, one deleted, the edit in place
    assert t(3) not in msgs and msgs[t(2)].text == "Check pg_stat_activity for idle transactions"
    assert {(msgs[m].channel_id, msgs[m].thread_external_id) for m in (t(1), t(2), t(30))} == {
        (msgs[t(1)].channel_id, THREAD)}
    assert await _roles(app, [t(1), t(2), t(30)]) == ([ROLE_ASK, ROLE_ANSWER, ROLE_ANSWER], 1)
    app.expertise.forget_cache(await _community_id(app))
    assert await _roles(app, [t(1), t(2), t(30)]) == ([ROLE_ASK, ROLE_ANSWER, ROLE_ANSWER], 1)


async def test_a_thread_started_on_its_own_live_then_imported_adds_only_what_was_missed(app):
    from matching.corpus import ROLE_ANSWER, ROLE_ASK, ROLE_OTHER

    await _live(app, "MESSAGE_CREATE", g(1), GENERAL, ASHA, "hello", when="2024-01-10T09:00:00+00:00")
    await app.expertise.corpus(await _community_id(app))  # followed live from here on
    await _thread_notice(app, g(90), GENERAL, THREAD, when="2024-01-15T11:00:00+00:00")
    await _live(app, "MESSAGE_CREATE", t(1), THREAD, BRUNO, "Vacuum never finishes on a big postgres table",
                when="2024-01-15T11:01:00+00:00")
    await _live(app, "MESSAGE_CREATE", t(2), THREAD, PETRA, "Check pg_stat_activity for long transactions",
                when="2024-01-15T11:05:00+00:00")
    assert await _roles(app, [t(1), t(2)]) == ([ROLE_ASK, ROLE_ANSWER], 1)
    report = await app.importer.import_discord([FIRST])
    assert (report.errors, report.added) == ([], 19 - 3)  # g(1), t(1) and t(2) were stored live
    assert await _roles(app, [t(1), t(2), t(3)]) == ([ROLE_ASK, ROLE_ANSWER, ROLE_OTHER], 1)
    assert (await app.importer.import_discord([FIRST])).added == 0
    later = await app.importer.import_discord([LATER])
    assert (later.errors, later.added) == ([], 3)
    assert await _roles(app, [t(1), t(2), t(3), t(4)]) == ([ROLE_ASK, ROLE_ANSWER, ROLE_OTHER, ROLE_ANSWER], 1)


def _thread_export(folder: Path, kind: str, thread: str, parent: str, parent_name: str, opener: bool = False) -> None:
    """A thread export alone: Asha asks (in the message with the thread's id when `opener`), Petra answers."""
    def message(mid: str, author: str, name: str, minute: int, text: str) -> dict:
        return {"id": mid, "type": "Default", "timestamp": f"2024-02-01T10:{minute:02d}:00+00:00", "content": text,
                "author": {"id": author, "name": name}}

    messages = [message(thread if opener else t(41), ASHA, "asha", 0, "Which postgres setting caps WAL size?"),
                message(t(42), PETRA, "petra_pg", 3, "max_wal_size, and watch checkpoint_timeout")]
    (folder / f"{thread}.json").write_text(json.dumps({
        "guild": {"id": GUILD, "name": "Fernhill Makers"}, "messages": messages,
        "channel": {"id": thread, "type": kind, "categoryId": parent, "category": parent_name, "name": "WAL"}}))


async def test_a_forum_post_without_its_opener_and_a_private_thread_are_stored_as_live(app, tmp_path):
    """A forum post whose opening message is missing from the export, and a private thread: each was a channel
    of its own whose first message was its root, so live messages (keyed by the thread's id) never joined it."""
    from matching.corpus import ROLE_ANSWER, ROLE_ASK

    post, private = "1100000000000000310", "1100000000000000320"
    _thread_export(tmp_path, "GuildPublicThread", post, FORUM, "help-forum")
    (tmp_path / "private").mkdir()
    _thread_export(tmp_path / "private", "GuildPrivateThread", private, GENERAL, "general")
    json_private = json.loads((tmp_path / "private" / f"{private}.json").read_text())
    for m, n in zip(json_private["messages"], (51, 52), strict=True):
        m["id"] = t(n)
    (tmp_path / "private" / f"{private}.json").write_text(json.dumps(json_private))
    report = await app.importer.import_discord([tmp_path], include_private=True)
    assert (report.errors, report.added) == ([], 4)
    msgs = await _messages(app)
    async with app.db.sessions.begin() as s:
        channels = {c.id: c for c in await s.scalars(select(Channel))}
        channels[msgs[t(51)].channel_id].ingest = True  # an admin turned the private thread on
    assert {channels[msgs[m].channel_id].external_id for m in (t(41), t(42))} == {FORUM}
    assert {msgs[m].thread_external_id for m in (t(41), t(42))} == {post}
    assert channels[msgs[t(51)].channel_id].external_id == private and channels[msgs[t(51)].channel_id].is_private
    assert {msgs[m].thread_external_id for m in (t(51), t(52))} == {private}

    live = {FORUM: ChannelInfo(FORUM, "help-forum"), GENERAL: ChannelInfo(GENERAL, "general"),
            post: ChannelInfo(post, "WAL", parent_id=FORUM, is_thread=True),
            private: ChannelInfo(private, "WAL", parent_id=GENERAL, is_thread=True, is_private=True)}
    await _live(app, "MESSAGE_CREATE", t(43), post, KENJI, "min_wal_size matters too", channels=live)
    await _live(app, "MESSAGE_CREATE", t(53), private, KENJI, "min_wal_size matters too", channels=live)
    await _live(app, "MESSAGE_UPDATE", t(52), private, PETRA, "max_wal_size", channels=live,
                when="2024-03-01T10:05:00+00:00")
    msgs = await _messages(app)
    assert (msgs[t(43)].channel_id, msgs[t(43)].thread_external_id) == (msgs[t(41)].channel_id, post)
    assert (msgs[t(53)].channel_id, msgs[t(53)].thread_external_id) == (msgs[t(51)].channel_id, private)
    assert msgs[t(52)].text == "max_wal_size"
    assert (await _counts(app))[0] == 6
    assert await _roles(app, [t(41), t(42), t(43)]) == ([ROLE_ASK, ROLE_ANSWER, ROLE_ANSWER], 1)
    assert await _roles(app, [t(51), t(52), t(53)]) == ([ROLE_ASK, ROLE_ANSWER, ROLE_ANSWER], 1)
    again = await app.importer.import_discord([tmp_path], include_private=True)
    assert (again.errors, again.added) == ([], 0)


async def test_a_reply_to_an_announcement_answers_nobody_imported_or_live(app, tmp_path):
    """An announcement was taken as a question, so the first member asking something in its thread was credited as
    answering it (and the fit learnt the announcer as someone asking). In an announcement channel nothing asks or
    answers now, imported (channel kinds 5 and 10) and live alike."""
    from matching.corpus import ROLE_OTHER
    from matching.fit import training_questions

    news, announcement = "1100000000000000050", "1100000000000500001"
    guild = {"id": GUILD, "name": "Fernhill Makers"}

    def message(mid: str, author: str, minute: int, text: str) -> dict:
        return {"id": mid, "type": "Default", "timestamp": f"2024-02-01T10:{minute:02d}:00+00:00", "content": text,
                "author": {"id": author, "name": author}}

    (tmp_path / "news.json").write_text(json.dumps({"guild": guild, "channel": {
        "id": news, "type": "GuildNews", "name": "announcements", "categoryId": "1", "category": "Info"},
        "messages": [message(announcement, ASHA, 0, "The postgres workshop moves to Thursday at 18:00")]}))
    (tmp_path / "thread.json").write_text(json.dumps({"guild": guild, "channel": {
        "id": announcement, "type": "GuildNewsThread", "name": "Workshop", "categoryId": news,
        "category": "announcements"}, "messages": [
            message(t(61), KENJI, 2, "Will the postgres workshop be recorded for people abroad?"),
            message(t(62), PETRA, 4, "Yes, the recording goes up on Friday")]}))
    report = await app.importer.import_discord([tmp_path / "thread.json"])  # the thread alone: its parent is known
    assert (report.errors, report.added) == ([], 2)
    report = await app.importer.import_discord([tmp_path])
    assert (report.errors, report.added) == ([], 1)
    live = {news: ChannelInfo(news, "announcements", is_announcements=True),
            announcement: ChannelInfo(announcement, "Workshop", parent_id=news, is_thread=True)}
    await _live(app, "MESSAGE_CREATE", t(63), announcement, BRUNO, "Which room is the postgres workshop in?",
                channels=live)
    msgs = await _messages(app)
    assert {msgs[m].channel_id for m in (announcement, t(61), t(62), t(63))} == {msgs[announcement].channel_id}
    ids = [announcement, t(61), t(62), t(63)]
    assert await _roles(app, ids) == ([ROLE_OTHER] * 4, 1)
    corpus = await app.expertise.corpus(await _community_id(app))
    assert training_questions(corpus, 10) == []
    app.expertise.forget_cache(await _community_id(app))
    assert await _roles(app, ids) == ([ROLE_OTHER] * 4, 1)


async def test_an_announcement_channel_seen_live_first_is_one(app):
    """Live first: the announcement channel is known as one from its first live message, in the channel or a
    thread of it, as an import would have stored it."""
    from matching.corpus import ROLE_OTHER

    news, announcement = "1100000000000000050", "1100000000000500001"
    live = {news: ChannelInfo(news, "announcements", is_announcements=True),
            announcement: ChannelInfo(announcement, "Workshop", parent_id=news, is_thread=True)}
    await _live(app, "MESSAGE_CREATE", announcement, news, ASHA, "The postgres workshop moves to Thursday",
                channels=live)
    await _live(app, "MESSAGE_CREATE", t(61), announcement, KENJI, "Will the postgres workshop be recorded?",
                channels=live, when="2024-03-01T10:02:00+00:00")
    async with app.db.sessions() as s:
        assert await s.scalar(select(Channel.announcements).where(Channel.external_id == news)) is True
    assert await _roles(app, [announcement, t(61)]) == ([ROLE_OTHER] * 2, 1)


def _export(folder: Path, name: str, channel: dict, messages: list[dict]) -> None:
    (folder / f"{name}.json").write_text(json.dumps({"guild": {"id": GUILD, "name": "Fernhill Makers"},
                                                     "channel": channel, "messages": messages}))


def _dce(mid: str, author: str, minute: int, text: str = "", kind: str = "Default", ref: dict | None = None,
         bot: bool = False) -> dict:
    out = {"id": mid, "type": kind, "timestamp": f"2024-02-01T10:{minute:02d}:00+00:00", "content": text,
           "author": {"id": author, "name": author, "isBot": bot}}
    return out | ({"reference": {**ref, "guildId": GUILD}} if ref else {})


async def _waiting(app) -> list[str]:
    from bot.services.digest_data import waiting_questions

    async with app.db.sessions() as s:
        return [q.text for q in await waiting_questions(s, await _community_id(app), datetime(2024, 2, 1, tzinfo=UTC),
                                                        datetime(2024, 2, 5, tzinfo=UTC))]


ANSWER = "ALTER TABLE waits for the lock autovacuum holds; set lock_timeout and retry. Which postgres version?"


async def test_a_thread_whose_starting_message_is_gone_asks_nothing_imported(app, tmp_path):
    """A thread started from a member's message deleted before the export (the thread holds DiscordChatExporter's
    pointer, kind 21, to it): its first reply, an answer, was taken as the question, and listed as waiting, asked
    by the one who answered. Only threads known to start with no message of their own ask with their first one."""
    from matching.corpus import ROLE_ASK

    starter = t(70)
    _export(tmp_path, "general", {"id": GENERAL, "type": "GuildTextChat", "name": "general"},
            [_dce(g(70), ASHA, 0, "morning all")])
    _export(tmp_path, "thread", {"id": starter, "type": "GuildPublicThread", "name": "pg", "categoryId": GENERAL,
                                 "category": "general"},
            [_dce(t(71), ASHA, 1, kind="21", ref={"messageId": starter, "channelId": GENERAL}),
             _dce(t(72), PETRA, 5, ANSWER)])
    report = await app.importer.import_discord([tmp_path])
    assert (report.errors, report.added) == ([], 2)
    roles, _ = await _roles(app, [t(72)])
    assert roles != [ROLE_ASK]
    assert await _waiting(app) == []


async def test_a_thread_whose_starting_message_is_gone_asks_nothing_live(app):
    """Live: the asker deleted their question once answered (after a reload the answer became the question), or
    had opted out (never stored): the thread is keyed by a message that is not stored, and nobody asked in it."""
    from matching.corpus import ROLE_ASK

    async def thread(starter: str, n: int) -> None:
        channels = LIVE_CHANNELS | {starter: ChannelInfo(starter, "pg", parent_id=GENERAL, is_thread=True)}
        await _live(app, "MESSAGE_CREATE", t(n), starter, PETRA, ANSWER, when="2024-02-01T10:05:00+00:00",
                    channels=channels)
        await _live(app, "MESSAGE_CREATE", t(n + 1), starter, KENJI, "And raise maintenance_work_mem",
                    when="2024-02-01T10:06:00+00:00", channels=channels)

    await _live(app, "MESSAGE_CREATE", g(80), GENERAL, ASHA, "Why does ALTER TABLE hang on my postgres table?",
                when="2024-02-01T10:00:00+00:00")
    await thread(g(80), 80)
    await _live(app, "MESSAGE_DELETE", g(80), GENERAL)
    await app.core.handle(ev.MemberJoined(platform="discord", community=GUILD, user=DARA, user_name="dara"))
    async with app.db.sessions.begin() as s:  # Dara opted out: nothing of theirs is stored
        await s.execute(update(Member).where(Member.external_id == DARA).values(profiling_consent=False))
    await _live(app, "MESSAGE_CREATE", g(90), GENERAL, DARA, "Why does ALTER TABLE hang on my postgres table?",
                when="2024-02-01T10:00:00+00:00")
    await thread(g(90), 90)
    app.expertise.forget_cache(await _community_id(app))
    for n in (80, 90):
        roles, _ = await _roles(app, [t(n), t(n + 1)])
        assert ROLE_ASK not in roles
    assert await _waiting(app) == []


@pytest.mark.parametrize("webhook", [False, True], ids=["bot", "webhook"])
async def test_a_thread_started_from_a_bots_post_credits_the_same_live_or_imported(app, tmp_path, webhook):
    """A thread started from a bot's post: live (bot posts are never stored) Bruno asked and Kenji answered, the
    import (which stores the bot's post) credited nobody, and importing after live lost Kenji's credit. A bot's
    post is no question: the first member's message in its thread asks, either way and in either order. A webhook's
    post (a feed) is one: live it was dropped, so its thread had no question, while the import read it as a bot's."""
    from matching.corpus import ROLE_ANSWER, ROLE_ASK

    post = g(60)
    channels = LIVE_CHANNELS | {post: ChannelInfo(post, "feed", parent_id=GENERAL, is_thread=True)}
    question = "Why does my borg backup repository lock up after a crashed run?"
    reply = "Run borg break-lock once no borg process is left, then borg check"
    _export(tmp_path, "general", {"id": GENERAL, "type": "GuildTextChat", "name": "general"},
            [_dce(post, FERNBOT, 0, "New release: borg 1.4", bot=True)])
    _export(tmp_path, "thread", {"id": post, "type": "GuildPublicThread", "name": "feed", "categoryId": GENERAL,
                                 "category": "general"},
            [_dce(t(60), BRUNO, 1, kind="21", ref={"messageId": post, "channelId": GENERAL}),
             _dce(t(61), BRUNO, 2, question), _dce(t(62), KENJI, 4, reply)])

    payload = {"id": post, "channel_id": GENERAL, "guild_id": GUILD, "type": 0, "content": "New release: borg 1.4",
               "author": {"id": FERNBOT, "username": "fernbot", "bot": True}, "timestamp": "2024-02-01T10:00:00+00:00"}
    if webhook:
        payload |= {"webhook_id": FERNBOT, "author": {"id": FERNBOT, "username": "Release feed"}}
    for event in translate("MESSAGE_CREATE", payload, GuildContext(channels=channels)):
        await app.core.handle(event)
    await app.expertise.corpus(await _community_id(app))  # followed live from here on
    await _live(app, "MESSAGE_CREATE", t(61), post, BRUNO, question, when="2024-02-01T10:02:00+00:00",
                channels=channels)
    await _live(app, "MESSAGE_CREATE", t(62), post, KENJI, reply, when="2024-02-01T10:04:00+00:00", channels=channels)
    assert await _roles(app, [t(61), t(62)]) == ([ROLE_ASK, ROLE_ANSWER], 1)
    report = await app.importer.import_discord([tmp_path])
    assert (report.errors, report.added) == ([], 1)  # the bot's post
    assert await _roles(app, [t(61), t(62)]) == ([ROLE_ASK, ROLE_ANSWER], 1)

    app.expertise.forget_cache()
    async with app.db.sessions.begin() as s:  # imported alone: the same
        await s.execute(sa_delete(Community))
    report = await app.importer.import_discord([tmp_path])
    assert (report.errors, report.added) == ([], 3)
    assert await _roles(app, [t(61), t(62)]) == ([ROLE_ASK, ROLE_ANSWER], 1)


async def test_the_digest_skips_a_bots_first_message_in_a_thread_as_who_knows_does(app, tmp_path):
    """A thread started on its own where a bot posts first (a welcome bot), imported: who-knows took the first
    member's message as the question, the digest the bot's (which is no question), so the member's waited unseen."""
    from matching.corpus import ROLE_ASK

    ticket, question = t(50), "Why does my borg backup repository lock up after a crashed run?"
    _export(tmp_path, "general", {"id": GENERAL, "type": "GuildTextChat", "name": "general"},
            [_dce(g(50), ASHA, 0, "ticket", kind="ThreadCreated", ref={"messageId": None, "channelId": ticket})])
    _export(tmp_path, "thread", {"id": ticket, "type": "GuildPublicThread", "name": "ticket", "categoryId": GENERAL,
                                 "category": "general"},
            [_dce(t(51), FERNBOT, 0, "Welcome! Describe your problem.", bot=True), _dce(t(52), ASHA, 1, question)])
    report = await app.importer.import_discord([tmp_path])
    assert (report.errors, report.added) == ([], 2)
    assert await _roles(app, [t(52)]) == ([ROLE_ASK], 1)
    assert await _waiting(app) == [question]

async def test_a_channel_no_longer_an_announcement_channel_is_read_as_one(app, tmp_path):
    """Announcement mode turned off: the channel stayed marked forever (only ever set), so questions and answers in
    it were never credited. The latest kind told, by an import or live, wins, both ways."""
    from matching.corpus import ROLE_ANSWER, ROLE_ASK

    news = "1100000000000000050"

    async def flag() -> bool:
        async with app.db.sessions() as s:
            return await s.scalar(select(Channel.announcements).where(Channel.external_id == news))

    def export(folder: Path, kind: str, messages: list[dict]) -> Path:
        folder.mkdir()
        _export(folder, "news", {"id": news, "type": kind, "name": "news"}, messages)
        return folder

    jan = [_dce(g(40), PETRA, 0, "Meetup moved to Thursday")]
    feb = jan + [_dce(g(41), ASHA, 1, "How do I calibrate the 3d printer bed level sensor?"),
                 _dce(g(42), KENJI, 3, "Run G29 after homing, save with M500", kind="Reply",
                      ref={"messageId": g(41), "channelId": news})]
    await app.importer.import_discord([export(tmp_path / "jan", "GuildNews", jan)])
    assert await flag() is True
    await app.importer.import_discord([export(tmp_path / "feb", "GuildTextChat", feb)])
    assert await flag() is False
    assert await _roles(app, [g(41), g(42)]) == ([ROLE_ASK, ROLE_ANSWER], 1)
    live = {news: ChannelInfo(news, "news", is_announcements=True)}
    await _live(app, "MESSAGE_CREATE", g(43), news, PETRA, "Doors open at six", channels=live)
    assert await flag() is True
    await _live(app, "MESSAGE_CREATE", g(44), news, PETRA, "Any questions?", channels={news: ChannelInfo(news, "news")})
    assert await flag() is False
    # a reaction, a deletion or a thread whose parent is not known tell nothing of the channel's kind
    await _live(app, "MESSAGE_DELETE", g(44), news, channels={news: ChannelInfo(news, "news")})
    thread = {t(45): ChannelInfo(t(45), "x", parent_id=news, is_thread=True)}
    await _live(app, "MESSAGE_CREATE", t(46), t(45), ASHA, "Is the meetup recorded?", channels=thread)
    assert await flag() is False


async def test_an_announcement_thread_followed_live_is_one_conversation_as_when_loaded(app):
    """The announcement was followed alone, then its thread as a second conversation, while a reload read one: the
    announcement joins its thread when its first reply comes, as a root does (though it asks nothing)."""
    news, announcement = "1100000000000000050", "1100000000000500001"
    live = {news: ChannelInfo(news, "announcements", is_announcements=True),
            announcement: ChannelInfo(announcement, "Workshop", parent_id=news, is_thread=True)}
    await _live(app, "MESSAGE_CREATE", announcement, news, ASHA, "The postgres workshop moves to Thursday",
                channels=live)
    await app.expertise.corpus(await _community_id(app))  # followed live from here on
    await _live(app, "MESSAGE_CREATE", t(61), announcement, KENJI, "Will the postgres workshop be recorded?",
                channels=live, when="2024-03-01T10:02:00+00:00")
    followed = await _roles(app, [announcement, t(61)])
    app.expertise.forget_cache(await _community_id(app))
    assert followed == await _roles(app, [announcement, t(61)])
    assert followed[1] == 1


async def test_a_forum_post_whose_author_opted_out_has_no_question(app, tmp_path):
    """A forum post whose opening message is missing from the export asks with its first message. Its author opted
    out, so that message is not imported: the answer after it was taken as the question (credited as asking, and
    listed by the digest as waiting). Live, the same (a forum post's opening message is its first)."""
    from matching.corpus import ROLE_ASK

    post, live_post = "1100000000000000330", "1100000000000000340"
    _thread_export(tmp_path, "GuildPublicThread", post, FORUM, "help-forum")
    await app.core.handle(ev.CommandInvoked(community=GUILD, platform="discord", user=ASHA, channel=GENERAL,
                                            name="optout"))
    report = await app.importer.import_discord([tmp_path])
    assert (report.errors, report.added, report.skipped) == ([], 1, 1)
    roles, _ = await _roles(app, [t(42)])
    assert roles != [ROLE_ASK]

    live = {FORUM: ChannelInfo(FORUM, "help-forum", is_forum=True),
            live_post: ChannelInfo(live_post, "WAL again", parent_id=FORUM, is_thread=True)}
    await _live(app, "MESSAGE_CREATE", live_post, live_post, ASHA, "Which setting caps WAL size?", channels=live)
    await _live(app, "MESSAGE_CREATE", t(62), live_post, PETRA, "max_wal_size", channels=live)
    assert (await _messages(app))[t(62)].thread_external_id == live_post
    roles, _ = await _roles(app, [t(62)])
    assert roles != [ROLE_ASK]


def _reacted_export(exported_at: str, *, author: str, channel: str, guild: str = "Guild",
                    reactions: list[dict] | None = None) -> dict:
    """One #help message of member 901, as DiscordChatExporter writes it at `exported_at`."""
    message = {"id": "8101", "type": "Default", "timestamp": "2024-05-02T10:00:00+00:00",
               "content": "replication lag on the standby: check wal_receiver_status_interval",
               "author": {"id": "901", "name": author}, "reactions": reactions or []}
    return {"guild": {"id": "78", "name": guild}, "exportedAt": exported_at, "messages": [message],
            "channel": {"id": "8100", "type": "GuildTextChat", "name": channel}}


def _thumbs(*users: str, count: int | None = None) -> dict:
    return {"emoji": {"name": "👍"}, "count": count or len(users), "users": [{"id": u, "name": u} for u in users]}


async def _state(app) -> tuple[str, str, str, set[str]]:
    async with app.db.sessions() as s:
        member = await s.scalar(select(Member.name).where(Member.external_id == "901"))
        channel = await s.scalar(select(Channel.name).where(Channel.external_id == "8100"))
        guild = await s.scalar(select(Community.name).where(Community.external_id == "78"))
        reacted = set(await s.scalars(select(Reaction.user_external_id)))
    return member, channel, guild, reacted


async def test_a_later_discord_export_takes_back_reactions_an_older_one_changes_nothing(app, tmp_path):
    """As with Slack exports: a later export's reactions are the message's as they are now (one taken back on
    Discord goes), unless it counts some without saying who gave them (an older DiscordChatExporter), or carries
    none; an export made before one already imported (exportedAt) renames no member, channel or server back and
    brings back no reaction. Discord exports were only ever added to."""
    def load(name: str, export: dict) -> Path:
        (tmp_path / name).mkdir()
        (tmp_path / name / "help.json").write_text(json.dumps(export))
        return tmp_path / name

    first = load("may", _reacted_export("2024-05-03T00:00:00+00:00", author="Kim", channel="help", guild="Old",
                                        reactions=[_thumbs("902", "903")]))
    await app.importer.import_discord([first])
    assert await _state(app) == ("Kim", "help", "Old", {"902", "903"})
    counted = load("june-counts", _reacted_export("2024-06-01T00:00:00+00:00", author="Kim", channel="help",
                                                  guild="Old", reactions=[_thumbs("902", count=2)]))
    await app.importer.import_discord([counted])  # 903's reaction counted, not named: it stays
    assert (await _state(app))[3] == {"902", "903"}
    later = load("july", _reacted_export("2024-07-01T00:00:00+00:00", author="Kim Ode", channel="help-db",
                                         guild="Fernhill", reactions=[_thumbs("902")]))
    await app.importer.import_discord([later])
    assert await _state(app) == ("Kim Ode", "help-db", "Fernhill", {"902"})  # 903 took theirs back
    stripped = load("july-text", _reacted_export("2024-07-02T00:00:00+00:00", author="Kim Ode", channel="help-db",
                                                 guild="Fernhill"))
    await app.importer.import_discord([stripped])
    assert (await _state(app))[3] == {"902"}  # no reaction in it at all: it says nothing of them
    report = await app.importer.import_discord([first])  # the May export again
    assert await _state(app) == ("Kim Ode", "help-db", "Fernhill", {"902"})
    assert any("exported before the history stored" in note for note in report.notes)


def _party(*users: str) -> dict:
    return {"emoji": {"name": "🎉"}, "count": len(users), "users": [{"id": u, "name": u} for u in users]}


def _write(folder: Path, rel: str, export: dict) -> None:
    (folder / rel).parent.mkdir(parents=True, exist_ok=True)
    (folder / rel).write_text(json.dumps(export))


async def test_of_two_files_of_a_channel_the_later_exported_tells_its_reactions(app, tmp_path):
    """An admin's folder keeps January's and March's files of one channel: of the two copies of an unedited message,
    March's tells its reactions (the first file read did, January's, while the whole server counted as exported in
    March, and 903's reaction, which March's file lists, was taken away; review of c8714d9)."""
    mar = _reacted_export("2024-03-01T00:00:00+00:00", author="Kim", channel="help",
                          reactions=[_thumbs("902", "903")])
    jan = _reacted_export("2024-01-01T00:00:00+00:00", author="Kim", channel="help", reactions=[_thumbs("902")])
    _write(tmp_path / "only-mar", "help.json", mar)
    await app.importer.import_discord([tmp_path / "only-mar"])
    assert (await _state(app))[3] == {"902", "903"}
    _write(tmp_path / "exports", "2024-01/help.json", jan)
    _write(tmp_path / "exports", "2024-03/help.json", mar)
    await app.importer.import_discord([tmp_path / "exports"])
    assert (await _state(app))[3] == {"902", "903"}


async def test_an_old_file_imported_beside_a_new_one_changes_nothing_of_its_channel(app, tmp_path):
    """February's export of #help was imported (Kim renamed 'Kim Ode', #help renamed #help-db, 903 reacted). A folder
    holding January's #help file and a March file of another channel: older is decided file by file, so January's
    renames no member or channel back and takes no reaction (the server's newest file decided for all of them)."""
    feb = _reacted_export("2024-02-01T00:00:00+00:00", author="Kim Ode", channel="help-db",
                          reactions=[_thumbs("902", "903")])
    _write(tmp_path / "feb", "help.json", feb)
    await app.importer.import_discord([tmp_path / "feb"])
    assert await _state(app) == ("Kim Ode", "help-db", "Guild", {"902", "903"})
    jan = _reacted_export("2024-01-01T00:00:00+00:00", author="Kim", channel="help", reactions=[_thumbs("902")])
    other = {"guild": {"id": "78", "name": "Guild"}, "exportedAt": "2024-03-01T00:00:00+00:00",
             "channel": {"id": "8200", "type": "GuildTextChat", "name": "random"},
             "messages": [{"id": "8201", "type": "Default", "timestamp": "2024-02-20T10:00:00+00:00",
                           "content": "anyone tried the new lathe in the workshop",
                           "author": {"id": "905", "name": "Lu"},
                           "reactions": [_party("902")]}]}
    _write(tmp_path / "folder", "help.json", jan)
    _write(tmp_path / "folder", "random.json", other)
    await app.importer.import_discord([tmp_path / "folder"])
    assert await _state(app) == ("Kim Ode", "help-db", "Guild", {"902", "903"})


async def _react_live(app, kind: str, user: str, emoji: dict) -> None:
    """A reaction event on #help's message 8101 from the gateway, as the live bot handles it."""
    ctx = GuildContext(channels={"8100": ChannelInfo("8100", "help")})
    payload = {"user_id": user, "channel_id": "8100", "message_id": "8101", "guild_id": "78", "emoji": emoji}
    for event in translate(kind, payload, ctx):
        await app.core.handle(event)


async def test_a_reaction_with_a_deleted_custom_emoji_is_named_as_live(app, tmp_path):
    """A reaction whose custom emoji was deleted has no name on the gateway (stored "emoji<id>"), and
    DiscordChatExporter writes "<unknown emoji>": the export's is named as the live one, so a later export keeps
    both of one member's (they were taken away and stored as one)."""
    _write(tmp_path / "may", "help.json", _reacted_export("2024-05-03T00:00:00+00:00", author="Kim", channel="help"))
    await app.importer.import_discord([tmp_path / "may"])
    for emoji_id in ("5551", "5552"):
        await _react_live(app, "MESSAGE_REACTION_ADD", "902", {"id": emoji_id, "name": None})
    async with app.db.sessions() as s:
        live = sorted(await s.scalars(select(Reaction.name)))
    unknown = [{"emoji": {"id": i, "name": "<unknown emoji>", "code": "<unknown emoji>"}, "count": 1,
                "users": [{"id": "902", "name": "902"}]} for i in ("5551", "5552")]
    _write(tmp_path / "june", "help.json", _reacted_export("2024-06-01T00:00:00+00:00", author="Kim", channel="help",
                                                          reactions=unknown))
    await app.importer.import_discord([tmp_path / "june"])
    async with app.db.sessions() as s:
        after = sorted(await s.scalars(select(Reaction.name)))
    assert len(after) == len(live) == 2


async def test_a_reaction_given_live_after_the_export_was_made_stays(app, tmp_path):
    """The bot runs live; a reaction stored live after the export was made stays when the export is imported, as the
    export could not know of it (it was taken away)."""
    _write(tmp_path / "may", "help.json", _reacted_export("2024-05-03T00:00:00+00:00", author="Kim", channel="help",
                                                         reactions=[_thumbs("902")]))
    await app.importer.import_discord([tmp_path / "may"])
    await _react_live(app, "MESSAGE_REACTION_ADD", "903", {"name": "👍"})  # June 1, 12:00
    assert (await _state(app))[3] == {"902", "903"}
    _write(tmp_path / "june", "help.json", _reacted_export("2024-06-01T10:00:00+00:00", author="Kim", channel="help",
                                                          reactions=[_thumbs("902")]))
    await app.importer.import_discord([tmp_path / "june"])
    assert (await _state(app))[3] == {"902", "903"}


async def test_a_server_followed_live_keeps_its_live_reactions_when_an_earlier_export_comes(app, tmp_path):
    """The bot follows the server live (nothing imported yet) and stores #help's message and the reactions 902 and 903
    give it; an export made before 903 reacted, imported next, takes nothing away."""
    ctx = GuildContext(channels={"8100": ChannelInfo("8100", "help")})
    msg = {"id": "8101", "channel_id": "8100", "guild_id": "78", "type": 0, "author": {"id": "901", "username": "Kim"},
           "content": "replication lag on the standby: check wal_receiver_status_interval",
           "timestamp": "2024-05-02T10:00:00+00:00"}
    for event in translate("MESSAGE_CREATE", msg, ctx):
        await app.core.handle(event)
    for user in ("902", "903"):
        await _react_live(app, "MESSAGE_REACTION_ADD", user, {"name": "👍"})
    assert (await _state(app))[3] == {"902", "903"}
    _write(tmp_path / "may", "help.json", _reacted_export("2024-05-02T12:00:00+00:00", author="Kim", channel="help",
                                                         reactions=[_thumbs("902")]))
    await app.importer.import_discord([tmp_path / "may"])
    assert (await _state(app))[3] == {"902", "903"}


async def test_a_time_at_the_edge_of_the_calendar_loses_its_message_not_the_import(app, tmp_path):
    """Found by fuzzing: a timestamp that is before year 1 or after 9999 in UTC ("0001-01-01T00:00:00+05:00") was read,
    and failed the whole import where it was stored (OverflowError, a traceback)."""
    folder = tmp_path / "export"
    shutil.copytree(FIRST, folder)
    path = folder / f"Fernhill Makers - Text Channels - general [{GENERAL}].json"
    data = json.loads(path.read_text())
    data["messages"][0]["timestamp"] = "0001-01-01T00:00:00+05:00"
    data["messages"][1]["timestamp"] = "9999-12-31T23:59:59-05:00"
    data["messages"][2]["timestampEdited"] = "9999-12-31T23:59:59-05:00"  # the edit is no time: the message stays
    path.write_text(json.dumps(data))
    report = await app.importer.import_discord([folder])
    assert (report.errors, report.malformed, report.added) == ([], 2, 17)
