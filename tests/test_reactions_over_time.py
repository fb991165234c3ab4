"""Reactions and text rules over time (second review of this session's import and language changes): what an export
may take away or bring back of reactions stored live or by other exports, names from the latest exported file, and the
background embedding that follows a release's text rules. Each test was a defect or a check of that review."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, update

from bot import events as ev
from bot.app import build_app
from bot.db.models import Community, Message, MessageVector, Reaction
from bot.services import expertise as expertise_module
from bot.settings import Settings
from matching.text import TEXT_RULES, carries_expertise, clean
from tests.exports import TEAM, THREADS, USERS, write_slack_export
from tests.test_import_discord import _react_live, _reacted_export, _state, _thumbs, _write
from tests.test_languages import SAID, _as_an_earlier_release_left_it, deletion_held
from tests.test_whoknows import _conversation
from tests.waiting import sent, until, waits_on_a_lock


def _emoji(name: str, emoji_id: str, *users: str) -> dict:
    return {"emoji": {"id": emoji_id, "name": name}, "count": len(users),
            "users": [{"id": u, "name": u} for u in users]}


async def test_same_named_custom_emojis_of_two_servers_are_one_reaction_each_member(app, tmp_path):
    """Nitro: one member reacts :pepe: of server A and :pepe: of server B; both are named 'pepe'."""
    _write(tmp_path / "may", "help.json", _reacted_export(
        "2024-05-03T00:00:00+00:00", author="Kim", channel="help",
        reactions=[_emoji("pepe", "111", "902"), _emoji("pepe", "222", "902")]))
    await app.importer.import_discord([tmp_path / "may"])
    assert (await _state(app))[3] == {"902"}


async def test_a_stop_while_the_background_embedding_waits_on_a_deletion_is_quiet(app, db_url, embedder, caplog):
    """A stop (App.close) while the background embedding is in its store transaction, waiting on a lock held by a
    deletion in flight (PostgreSQL: FOR SHARE; SQLite: the write lock)."""
    cid = await _conversation(app, "TRU", SAID)
    await _as_an_earlier_release_left_it(app, cid)
    running = build_app(Settings(database_url=db_url), embedder=embedder)
    running.expertise.backfill_in_background = True
    inserting = sent(running.db, "insert", "message_vector")
    release, deleter = await deletion_held(app, cid, "2")
    await running.expertise.ensure_model(cid)
    # The task has encoded and now waits on the lock (a fixed 3 s: on a busy machine it was still encoding).
    if app.db.dialect == "postgresql":
        await until(lambda: waits_on_a_lock(app.db), what="the embedding waiting for the deletion")
    else:  # one writer: its insert waits for the deletion's transaction
        await asyncio.wait_for(inserting.wait(), 60)
    caplog.set_level(logging.DEBUG)
    started = time.perf_counter()
    try:
        await asyncio.wait_for(running.close(), timeout=60)
    finally:
        took = time.perf_counter() - started
        release.set()
        await deleter
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert took < 60
    assert not errors, errors


async def test_a_reaction_listed_again_is_known_as_of_the_later_time(app, tmp_path):


    _write(tmp_path / "a", "help.json", _reacted_export("2024-05-03T10:00:00+05:00", author="Kim", channel="help",
                                                       reactions=[_thumbs("902")]))
    await app.importer.import_discord([tmp_path / "a"])
    await _react_live(app, "MESSAGE_REACTION_ADD", "903", {"name": "👍"})
    async with app.db.sessions() as s:
        before = dict((await s.execute(select(Reaction.user_external_id, Reaction.known_at))).all())
    assert before["902"] == datetime(2024, 5, 3, 5, tzinfo=UTC)
    # a later file (UTC-written) lists both, a day later
    _write(tmp_path / "b", "help.json", _reacted_export("2024-05-04T05:00:00.5+00:00", author="Kim", channel="help",
                                                       reactions=[_thumbs("902", "903")]))
    await app.importer.import_discord([tmp_path / "b"])
    async with app.db.sessions() as s:
        after = dict((await s.execute(select(Reaction.user_external_id, Reaction.known_at))).all())
    assert after["902"] == datetime(2024, 5, 4, 5, 0, 0, 500000, tzinfo=UTC)
    assert after["903"] == before["903"]  # live, later than the file


async def test_a_reaction_taken_back_live_is_not_brought_back_by_an_export_made_before(app, tmp_path):
    """Feb export imported; 903 takes the 👍 back live (now); the admin imports a March export, made before that
    (it still lists 903). The export could not know it was taken back, and does not bring it back (it did)."""
    _write(tmp_path / "feb", "help.json", _reacted_export("2024-02-01T00:00:00+00:00", author="Kim", channel="help",
                                                         reactions=[_thumbs("902", "903")]))
    await app.importer.import_discord([tmp_path / "feb"])
    await _react_live(app, "MESSAGE_REACTION_REMOVE", "903", {"name": "👍"})
    assert (await _state(app))[3] == {"902"}
    _write(tmp_path / "mar", "help.json", _reacted_export("2024-03-01T00:00:00+00:00", author="Kim", channel="help",
                                                         reactions=[_thumbs("902", "903")]))
    await app.importer.import_discord([tmp_path / "mar"])
    assert (await _state(app))[3] == {"902"}


async def test_a_reaction_stored_as_unknown_emoji_before_the_upgrade_counts_once(app, tmp_path):
    """Before 0014 an export stored a deleted custom emoji as '<unknown emoji>' (known_at NULL). The same export
    imported after the upgrade names it emoji<id> and takes the old row away (it was kept: the reaction counted
    twice)."""
    unknown = [{"emoji": {"id": "5551", "name": "<unknown emoji>", "code": "<unknown emoji>"}, "count": 1,
                "users": [{"id": "902", "name": "902"}]}]
    _write(tmp_path / "june", "help.json", _reacted_export("2024-06-01T00:00:00+00:00", author="Kim", channel="help",
                                                          reactions=unknown))
    await app.importer.import_discord([tmp_path / "june"])
    async with app.db.sessions.begin() as s:  # as the release before stored it
        r = await s.scalar(select(Reaction))
        r.name, r.known_at = "<unknown emoji>", None
    await app.importer.import_discord([tmp_path / "june"])
    async with app.db.sessions() as s:
        names = sorted(await s.scalars(select(Reaction.name)))
    assert names == ["emoji5551"], names


async def test_a_members_name_comes_from_the_latest_exported_file(app, tmp_path):
    """Feb: #help imported (Kim Ode). Kim renames to Kimberly. A folder holds January's #help file (Kim's latest
    message, Jan 20, named as in January) and March's #random file (an older message of Kim's, named as now:
    DiscordChatExporter writes every author as they are when it exports): March's name is theirs (it was ignored)."""
    feb = _reacted_export("2024-02-01T00:00:00+00:00", author="Kim Ode", channel="help")
    _write(tmp_path / "feb", "help.json", feb)
    await app.importer.import_discord([tmp_path / "feb"])
    jan = _reacted_export("2024-01-21T00:00:00+00:00", author="Kim", channel="help")
    jan["messages"][0]["timestamp"] = "2024-01-20T10:00:00+00:00"
    jan["messages"][0]["id"] = "8102"
    other = {"guild": {"id": "78", "name": "Guild"}, "exportedAt": "2024-03-01T00:00:00+00:00",
             "channel": {"id": "8200", "type": "GuildTextChat", "name": "random"},
             "messages": [{"id": "8201", "type": "Default", "timestamp": "2024-01-05T10:00:00+00:00",
                           "content": "the lathe needs a new belt, ask at the front desk",
                           "author": {"id": "901", "name": "Kimberly"}, "reactions": []}]}
    _write(tmp_path / "folder", "help.json", jan)
    _write(tmp_path / "folder", "random.json", other)
    await app.importer.import_discord([tmp_path / "folder"])
    assert (await _state(app))[0] == "Kimberly"


async def test_slack_reactions_counted_beyond_the_users_listed_take_nothing_away(app, tmp_path):
    """Slack documents that a reaction's `users` may not list everyone (`count` may be greater): such a message's
    reactions take none away, a reaction stored live by a member the list leaves out stays (it was taken away), as
    on Discord."""

    start = 1_700_000_000.0
    ts = f"{start + 10:.6f}"
    plain = {"type": "message", "user": "UPG", "ts": ts, "text": "BRIN indexes suit append-only tables"}
    await app.importer.import_slack(write_slack_export(tmp_path / "a", USERS, THREADS[:4], start=start,
                                                       extra=[plain]))
    await app.core.handle(ev.ReactionAdded(community=TEAM, platform="slack", user="UK8S", channel="C0GENERAL",
                                           message_id=ts, reaction="+1"))  # stored live, before the export below
    async with app.db.sessions() as s:
        assert set(await s.scalars(select(Reaction.user_external_id))) == {"UK8S"}
    reacted = {"type": "message", "user": "UPG", "ts": ts, "text": "BRIN indexes suit append-only tables",
               "reactions": [{"name": "+1", "users": ["UASK1"], "count": 2}]}
    newer = {"type": "message", "user": "UASK2", "ts": f"{time.time() + 60:.6f}",
             "text": "a message posted after the live reaction, before the export was made"}
    await app.importer.import_slack(write_slack_export(tmp_path / "b", USERS, THREADS[:4], start=start,
                                                       extra=[reacted, newer]))
    async with app.db.sessions() as s:
        users = set(await s.scalars(select(Reaction.user_external_id)))
    assert "UK8S" in users, users


async def test_replicas_embedding_at_once_store_each_vector_once_and_a_failure_is_one_line(app, db_url, embedder,
                                                                                           monkeypatch, caplog):

    cid = await _conversation(app, "TRU", SAID)
    async with app.db.sessions() as s:
        expected = await s.scalar(select(func.count()).select_from(MessageVector))
    await _as_an_earlier_release_left_it(app, cid)
    monkeypatch.setattr(expertise_module, "BACKFILL_PART", 2)
    a = build_app(Settings(database_url=db_url), embedder=embedder)
    b = build_app(Settings(database_url=db_url), embedder=embedder)
    c = build_app(Settings(database_url=db_url), embedder=embedder)
    for x in (a, b, c):
        x.expertise.backfill_in_background = True

    async def boom(texts, **kw):  # noqa: ANN001, ANN003
        raise RuntimeError("model went away")

    monkeypatch.setattr(c.expertise, "encode_distinct", boom)
    caplog.set_level(logging.ERROR)
    try:
        await asyncio.gather(*(x.expertise.ensure_model(cid) for x in (a, b, c)))
        await asyncio.gather(*(x.expertise.backfilled(cid) for x in (a, b, c)))
        async with a.db.sessions() as s:
            assert await s.scalar(select(func.count()).select_from(MessageVector)) == expected
            assert (await s.get(Community, cid)).settings["text_rules"] == TEXT_RULES
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "model went away" in errors[0], errors
    finally:
        for x in (a, b, c):
            await x.close()


async def test_a_reaction_given_again_live_after_the_export_was_made_stays(app, tmp_path):
    """Feb export lists 902's 👍. While the bot was down 902 took it back (no event); March's export is made then,
    without it; later 902 gives it again, live (now): the row existed, the live insert was ignored and kept Feb as
    known_at, so the March export, imported next, took away a reaction given after it was made. Given again, it is
    known from then."""
    _write(tmp_path / "feb", "help.json", _reacted_export("2024-02-01T00:00:00+00:00", author="Kim", channel="help",
                                                         reactions=[_thumbs("902")]))
    await app.importer.import_discord([tmp_path / "feb"])
    await _react_live(app, "MESSAGE_REACTION_ADD", "902", {"name": "👍"})  # now (after March)
    _write(tmp_path / "mar", "help.json", _reacted_export("2024-03-01T00:00:00+00:00", author="Kim", channel="help",
                                                         reactions=[_thumbs("903")]))
    await app.importer.import_discord([tmp_path / "mar"])
    assert "902" in (await _state(app))[3]


async def test_vectors_of_what_the_rules_no_longer_read_as_expertise_go(app):
    """Rules 2 embedded 'どうもありがとうございました' (13 pairs / 3 > 4 words); rules 3 say it is thanks. A database
    upgraded from rules 2 loses that vector (it kept it: the thanker stayed evidence for the thread's topic)."""

    said = [("1", "U9", "1", "データベースの索引が使われないのはなぜですか"),
            ("2", "U4", "1", "統計情報が古いと索引が使われません。統計情報を更新すると索引が使われるようになります"),
            ("3", "U9", "1", "どうもありがとうございました")]
    cid = await _conversation(app, "TJA", said)
    assert not carries_expertise(clean(said[2][3]))
    embedder_vec = (await app.expertise.encode_distinct([said[2][3]]))[said[2][3]]
    async with app.db.sessions.begin() as s:  # as rules 2 left it
        mid = await s.scalar(select(Message.id).where(Message.external_id == "3"))
        s.add(MessageVector(message_id=mid, community_id=cid, embedding=embedder_vec))
        c = await s.get(Community, cid)
        c.settings = {**c.settings, "text_rules": 2}
    fresh = build_app(Settings(database_url=str(app.db.engine.url.render_as_string(hide_password=False))),
                      embedder=app.expertise.embedder)
    try:
        await fresh.expertise.ensure_model(cid)
        async with fresh.db.sessions() as s:
            assert (await s.get(Community, cid)).settings["text_rules"] == TEXT_RULES
            assert await s.scalar(select(func.count()).select_from(MessageVector)
                                  .where(MessageVector.message_id == mid)) == 0
    finally:
        await fresh.close()


async def test_a_folder_of_two_files_of_a_channel_names_it_and_the_server_as_the_later_file(app, tmp_path):
    """January's and March's files of #help in one folder (the layout of acaf1d2's own test). Between them #help was
    renamed #help-db and the server 'Old' became 'Fernhill'. The channel and the server take March's names (the first
    file read named them, January's)."""
    jan = _reacted_export("2024-01-01T00:00:00+00:00", author="Kim", channel="help", guild="Old")
    mar = _reacted_export("2024-03-01T00:00:00+00:00", author="Kim Ode", channel="help-db", guild="Fernhill")
    _write(tmp_path / "exports", "2024-01/help.json", jan)
    _write(tmp_path / "exports", "2024-03/help.json", mar)
    await app.importer.import_discord([tmp_path / "exports"])
    assert await _state(app) == ("Kim Ode", "help-db", "Fernhill", set())


async def test_such_a_folder_renames_no_channel_or_server_back(app, tmp_path):
    """The same folder after February's import: the names stay March's (January's file renamed them back)."""
    feb = _reacted_export("2024-02-01T00:00:00+00:00", author="Kim Ode", channel="help-db", guild="Fernhill")
    _write(tmp_path / "feb", "help.json", feb)
    await app.importer.import_discord([tmp_path / "feb"])
    assert (await _state(app))[1:3] == ("help-db", "Fernhill")
    jan = _reacted_export("2024-01-01T00:00:00+00:00", author="Kim", channel="help", guild="Old")
    mar = _reacted_export("2024-03-01T00:00:00+00:00", author="Kim Ode", channel="help-db", guild="Fernhill")
    _write(tmp_path / "exports", "2024-01/help.json", jan)
    _write(tmp_path / "exports", "2024-03/help.json", mar)
    await app.importer.import_discord([tmp_path / "exports"])
    assert (await _state(app))[1:3] == ("help-db", "Fernhill")


async def test_a_reaction_taken_back_live_on_a_message_not_stored_yet_is_not_brought_back(app, tmp_path):
    """The bot follows the server live; 903 takes back the 👍 on an old message it never stored; then the admin
    imports an export made before that: the removal is remembered by the message's key, as a deletion is (it was
    not, and came back; review 3)."""
    await _react_live(app, "MESSAGE_REACTION_ADD", "902", {"name": "👍"})  # creates the community (message unknown)
    await _react_live(app, "MESSAGE_REACTION_REMOVE", "903", {"name": "👍"})
    _write(tmp_path / "mar", "help.json", _reacted_export("2024-03-01T00:00:00+00:00", author="Kim", channel="help",
                                                         reactions=[_thumbs("902", "903")]))
    await app.importer.import_discord([tmp_path / "mar"])
    assert (await _state(app))[3] == {"902"}


@pytest.mark.parametrize("count", [3, 2])  # counted beyond the users listed, and as many
async def test_slack_reactions_are_known_as_of_their_export_whole_list_or_partial(app, tmp_path, count):
    """Export A (newest message ~Nov 2023) lists a 👍 (UASK1 and UK8S listed, counted `count`); export B, made later
    (Dec 2023), lists only UASK1: UK8S took it back between A and B, and goes. A partial list's reactions are known
    as of A too (they were stored as known at the import, 2026, and stayed; review 3)."""
    start = 1_700_000_000.0
    ts = f"{start + 10:.6f}"
    a = {"type": "message", "user": "UPG", "ts": ts, "text": "BRIN indexes suit append-only tables",
         "reactions": [{"name": "+1", "users": ["UASK1", "UK8S"], "count": count}]}
    await app.importer.import_slack(write_slack_export(tmp_path / "a", USERS, THREADS[:4], start=start, extra=[a]))
    b = {**a, "reactions": [{"name": "+1", "users": ["UASK1"], "count": 1}]}
    newer = {"type": "message", "user": "UASK2", "ts": f"{start + 30 * 86400:.6f}", "text": "a month later, a note"}
    await app.importer.import_slack(write_slack_export(tmp_path / "b", USERS, THREADS[:4], start=start,
                                                       extra=[b, newer]))
    async with app.db.sessions() as s:
        users = set(await s.scalars(select(Reaction.user_external_id)))
    assert users == {"UASK1"}, users


async def test_an_edit_during_the_rules_scan_keeps_its_new_vector(app):
    """The scan reads 'どうもありがとうございました' (thanks by rules 3, with a rules-2 vector); before its delete runs,
    the member edits it into expertise (the edit replaces the vector, as IngestService.store does). The scan's delete,
    decided on the old text, leaves the new vector (it removed it, and with the rules stamped it was never embedded
    again; review 3)."""
    said = [("1", "U9", "1", "データベースの索引が使われないのはなぜですか"),
            ("2", "U4", "1", "統計情報が古いと索引が使われません。統計情報を更新すると索引が使われるようになります"),
            ("3", "U9", "1", "どうもありがとうございました")]
    cid = await _conversation(app, "TJA", said)
    edited = "統計情報を更新したら索引が使われるようになりました。ANALYZE を定期的に実行します"
    vecs = await app.expertise.encode_distinct([said[2][3], edited])
    async with app.db.sessions.begin() as s:
        mid = await s.scalar(select(Message.id).where(Message.external_id == "3"))
        s.add(MessageVector(message_id=mid, community_id=cid, embedding=vecs[said[2][3]]))
        c = await s.get(Community, cid)
        c.settings = {**c.settings, "text_rules": 2}
    fresh = build_app(Settings(database_url=str(app.db.engine.url.render_as_string(hide_password=False))),
                      embedder=app.expertise.embedder)
    real = fresh.expertise.db
    done = []

    class Sessions:
        def __call__(self):
            return real.sessions()

        @contextlib.asynccontextmanager
        async def begin(self):
            done.append(1)
            if len(done) == 2:  # the first is ensure_model's; the second the scan's delete
                async with app.db.sessions.begin() as s:  # the live edit, committed in between
                    await s.execute(update(Message).where(Message.id == mid).values(text=edited))
                    await s.execute(MessageVector.__table__.delete().where(MessageVector.message_id == mid))
                    s.add(MessageVector(message_id=mid, community_id=cid, embedding=vecs[edited]))
            async with real.sessions.begin() as s:
                yield s

    class Proxy:
        def __getattr__(self, name):
            return getattr(real, name)
    proxy = Proxy()
    proxy.sessions = Sessions()
    fresh.expertise.db = proxy
    try:
        await fresh.expertise.ensure_model(cid)
        assert len(done) >= 2
        async with fresh.db.sessions() as s:
            assert (await s.get(Message, mid)).text == edited
            assert (await s.get(Community, cid)).settings["text_rules"] == TEXT_RULES
            assert await s.scalar(select(func.count()).select_from(MessageVector)
                                  .where(MessageVector.message_id == mid)) == 1
    finally:
        await fresh.close()
