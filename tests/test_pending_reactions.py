"""A reaction handled before its message is stored (PendingReaction): replicas (two Slack HTTP processes behind a
load balancer, Discord's) handle a message and the reaction sent right after it side by side, and the message waits
on its author's name and its embedding before it is stored. The reaction found no message and was lost; it is kept
for the message, given to it when the message is stored (live or by an import), and kept for nobody who opted out,
in no channel the bot does not read, and for a day at most. On SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
import itertools
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from bot import core as core_module
from bot import events as ev
from bot.app import build_app
from bot.db.models import Channel, Community, Message, PendingReaction, Reaction
from bot.db.resources import Resource
from bot.events import utcnow
from bot.services import ingest as ingest_module
from bot.settings import Settings
from tests.exports import TEAM, THREADS, USERS, write_slack_export
from tests.test_ingest_lock import PROMPTLY, HeldEncodes

PLACE = "TPEND"
_ts = itertools.count(1)


def _said(user: str, message_id: str, text: str = "pg_repack rebuilds a bloated table without a long lock",
          channel: str = "C1", **kw) -> ev.MessagePosted:
    return ev.MessagePosted(community=PLACE, platform="slack", user=user, channel=channel, message_id=message_id,
                            text=text, user_name=user, event_id=f"m{message_id}", **kw)


def _reacted(user: str, message_id: str, reaction: str = "+1", channel: str = "C1", *,
             removed: bool = False) -> ev.Event:
    kind = ev.ReactionRemoved if removed else ev.ReactionAdded
    return kind(community=PLACE, platform="slack", user=user, channel=channel, message_id=message_id,
                reaction=reaction, event_id=f"r{next(_ts)}")


def _command(user: str, name: str, args: str = "", **kw) -> ev.CommandInvoked:
    return ev.CommandInvoked(community=PLACE, platform="slack", user=user, channel="C1", name=name, args=args, **kw)


async def _reactions(app, message_id: str = "2.000000") -> set[tuple[str, str]]:
    async with app.db.sessions() as s:
        return set((await s.execute(
            select(Reaction.user_external_id, Reaction.name).join(Message, Message.id == Reaction.message_id)
            .where(Message.external_id == message_id))).all())


async def _pending(app) -> set[tuple[str, str, str]]:
    async with app.db.sessions() as s:
        return set((await s.execute(select(PendingReaction.message_external_id, PendingReaction.user_external_id,
                                           PendingReaction.name))).all())


async def _channel_known(app, channel: str = "C1", **kw) -> None:
    """A message seen there first (the channel is known, and whether it is private)."""
    await app.core.handle(_said("UPG", f"1.{channel}", "how do I shrink a bloated postgres table?", channel=channel,
                                **kw))


async def test_a_reaction_handled_before_its_message_shows_on_it_once_stored(app):
    await _channel_known(app)
    await app.core.handle(_reacted("U7", "2.000000"))
    await app.core.handle(_reacted("U8", "2.000000", "eyes"))
    assert await _reactions(app) == set()
    await app.core.handle(_said("UK8S", "2.000000"))
    assert await _reactions(app) == {("U7", "+1"), ("U8", "eyes")}
    assert await _pending(app) == set()  # given: no longer kept
    async with app.db.sessions() as s:
        known_at = await s.scalar(select(Reaction.known_at).where(Reaction.user_external_id == "U7"))
    assert utcnow() - known_at < timedelta(minutes=5)  # known as of when it was given (an export takes it away after)


async def test_a_reaction_handled_by_another_replica_while_its_message_is_being_stored(app, db_url, embedder,
                                                                                        monkeypatch):
    """Replica A has read the message as new and encodes it; replica B handles the reaction sent right after it,
    finds no message and returns; A stores the message: it has the reaction."""
    await _channel_known(app)
    other = build_app(Settings(database_url=db_url), embedder=embedder)
    try:
        held = HeldEncodes(app, monkeypatch)
        storing = held.start(app.core.handle(_said("UK8S", "2.000000")))
        try:
            await held.encoding(storing)
            await asyncio.wait_for(other.core.handle(_reacted("U7", "2.000000")), PROMPTLY)
        finally:
            held.release()
            await storing
    finally:
        await other.close()
    assert await _reactions(app) == {("U7", "+1")}
    assert await _pending(app) == set()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_message_stored_while_its_reaction_is_being_kept_gets_it(app, db_url, embedder, monkeypatch):
    """Replica B has found no message and is about to keep the reaction; replica A stores the message meanwhile and
    finds nothing kept for it (B has not committed). B gives it to the message once kept. PostgreSQL only: on SQLite
    B holds the single write lock from its first write, so A stores the message after B has committed, and finds it."""
    await _channel_known(app)
    other = build_app(Settings(database_url=db_url), embedder=embedder)
    stored = []
    real = core_module.get_message

    async def get_message(session, *args):  # noqa: ANN001, ANN202
        found = await real(session, *args)
        if found is None and not stored:
            stored.append(await asyncio.wait_for(other.core.handle(_said("UK8S", "2.000000")), 60))
        return found

    monkeypatch.setattr(core_module, "get_message", get_message)
    try:
        await app.core.handle(_reacted("U7", "2.000000"))
    finally:
        await other.close()
    assert stored
    assert await _reactions(app) == {("U7", "+1")}
    assert await _pending(app) == set()


async def test_a_reaction_given_live_before_the_import_of_its_message_is_the_messages(app, tmp_path):
    """The bot follows the workspace live before its history is imported: a reaction to a message of the history
    is the message's once the export is imported."""
    start = 1_700_000_000.0
    await app.importer.import_slack(write_slack_export(tmp_path / "a", USERS, THREADS[:2], start=start))
    ts = f"{start + 10:.6f}"
    await app.core.handle(ev.ReactionAdded(community=TEAM, platform="slack", user="UK8S", channel="C0GENERAL",
                                           message_id=ts, reaction="+1"))
    plain = {"type": "message", "user": "UPG", "ts": ts, "text": "BRIN indexes suit append-only tables"}
    newer = {"type": "message", "user": "UASK2", "ts": f"{time.time() + 60:.6f}", "text": "made after the reaction"}
    await app.importer.import_slack(write_slack_export(tmp_path / "b", USERS, THREADS[:2], start=start,
                                                       extra=[plain, newer]))
    async with app.db.sessions() as s:
        reacted = (await s.execute(select(Message.external_id, Reaction.user_external_id)
                                   .join(Reaction, Reaction.message_id == Message.id))).all()
    assert reacted == [(ts, "UK8S")]
    assert await _pending(app) == set()


async def test_a_reaction_taken_back_before_its_message_is_stored_is_not_given(app):
    await _channel_known(app)
    await app.core.handle(_reacted("U7", "2.000000"))
    await app.core.handle(_reacted("U8", "2.000000", "eyes"))
    await app.core.handle(_reacted("U7", "2.000000", removed=True))
    assert await _pending(app) == {("2.000000", "U8", "eyes")}
    await app.core.handle(_said("UK8S", "2.000000"))
    assert await _reactions(app) == {("U8", "eyes")}


async def test_an_opted_out_members_reaction_is_not_kept_for_a_message_to_come(app):
    await _channel_known(app)
    await app.core.handle(_command("U9", "optout"))
    await app.core.handle(_reacted("U9", "2.000000"))
    await app.core.handle(_reacted("U8", "2.000000", "eyes"))
    assert await _pending(app) == {("2.000000", "U8", "eyes")}
    await app.core.handle(_said("UK8S", "2.000000"))
    assert await _reactions(app) == {("U8", "eyes")}


async def test_forget_me_and_opt_out_delete_the_reactions_kept_for_messages_to_come(app):
    await _channel_known(app)
    for user in ("U7", "U8", "U9"):
        await app.core.handle(_reacted(user, "2.000000"))
    await app.core.handle(_command("U7", "forget-me"))
    await app.core.handle(_command("U8", "optout"))
    assert await _pending(app) == {("2.000000", "U9", "+1")}
    await app.core.handle(_command("U8", "optin"))  # back in: what was deleted stays deleted
    await app.core.handle(_said("UK8S", "2.000000"))
    assert await _reactions(app) == {("U9", "+1")}


async def test_a_reaction_is_kept_only_in_a_channel_the_bot_reads(app):
    """A private channel nobody turned on, a channel first seen through the reaction (a DM, a private channel: not
    known to be public), a channel turned off (what was kept there goes): nothing kept. A public one: kept."""
    await _channel_known(app)
    await _channel_known(app, "G1", is_private=True)
    await _channel_known(app, "C2")
    for channel in ("C1", "G1", "D1", "C2"):
        await app.core.handle(_reacted("U7", f"2.{channel}", channel=channel))
    assert await _pending(app) == {("2.C1", "U7", "+1"), ("2.C2", "U7", "+1")}
    await app.core.handle(_command("UADMIN", "settings", "ingest C2 off", is_admin=True))
    assert await _pending(app) == {("2.C1", "U7", "+1")}
    for channel in ("C1", "G1", "D1", "C2"):
        await app.core.handle(_said("UK8S", f"2.{channel}", channel=channel))
    async with app.db.sessions() as s:
        reacted = (await s.execute(select(Message.external_id).join(Reaction, Reaction.message_id == Message.id))).all()
    assert reacted == [("2.C1",)]


async def test_a_reaction_kept_over_a_day_is_not_given_and_is_swept(app):
    """The message never came (a bot's post, an opted-out author's) or came too late: the hourly job deletes what is
    older than a day, and a message stored before the job ran does not take it."""
    await _channel_known(app)
    for user in ("U7", "U8", "U9"):
        await app.core.handle(_reacted(user, f"2.{user}"))
    async with app.db.sessions.begin() as s:
        await s.execute(update(PendingReaction).where(PendingReaction.user_external_id != "U9")
                        .values(given_at=utcnow() - timedelta(hours=25)))
    await app.core.handle(_said("UK8S", "2.U7"))
    assert await _reactions(app, "2.U7") == set()
    assert app.scheduler.has("reactions:prune-pending")
    assert await app.core.prune_pending_reactions() == 1  # U8's; U7's went when its message was stored
    assert await _pending(app) == {("2.U9", "U9", "+1")}
    await app.core.handle(_said("UK8S", "2.U9"))
    assert await _reactions(app, "2.U9") == {("U9", "+1")}


async def test_reactions_are_kept_per_community(app):
    """Two workspaces, the same channel and message ids: each message gets its own community's reaction."""
    await _channel_known(app)
    other = ev.MessagePosted(community="TOTHER", platform="slack", user="UPG", channel="C1", message_id="1.C1",
                             text="how do I shrink a bloated postgres table?", user_name="UPG")
    await app.core.handle(other)
    await app.core.handle(_reacted("U7", "2.000000"))
    await app.core.handle(ev.ReactionAdded(community="TOTHER", platform="slack", user="U7", channel="C1",
                                           message_id="2.000000", reaction="eyes"))
    await app.core.handle(_said("UK8S", "2.000000"))
    async with app.db.sessions() as s:
        rows = (await s.execute(select(Community.external_id, Reaction.name)
                                .join(Community, Community.id == Reaction.community_id))).all()
        pending = (await s.execute(select(Channel.community_id, func.count()).select_from(PendingReaction)
                                   .join(Channel, Channel.id == PendingReaction.channel_id)
                                   .group_by(Channel.community_id))).all()
    assert rows == [(PLACE, "+1")]
    assert len(pending) == 1 and pending[0][1] == 1  # the other workspace's, for its message to come


async def test_a_failure_giving_the_kept_reactions_leaves_the_stored_message_followed(app, monkeypatch, caplog):
    """The message is stored (committed) before the reactions kept for it are given: a failure there is one logged
    line, and what follows a stored message still runs (its link becomes a resource for the digest)."""
    await _channel_known(app)
    await app.core.handle(_reacted("U7", "2.000000"))

    async def failing(*args, **kw):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("connection lost")

    monkeypatch.setattr(ingest_module, "apply_pending_reactions", failing)
    await app.core.handle(_said("UK8S", "2.000000", "pg_repack docs: https://reorg.github.io/pg_repack/"))
    async with app.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Message).where(Message.external_id == "2.000000")) == 1
        assert list(await s.scalars(select(Resource.url))) == ["https://reorg.github.io/pg_repack"]
    assert any("reactions kept for them failed" in r.getMessage() for r in caplog.records)


async def test_live_reactions_reach_the_loaded_ranking(app):
    """An answer's reactions count in the ranking ("thanked"): one given or taken back live, or kept for a message and
    given when it is stored, is read into the corpus the bot ranks with. It counted for nothing until a restart."""
    await _channel_known(app)
    async with app.db.sessions() as s:
        cid = await s.scalar(select(Community.id).where(Community.external_id == PLACE))
    await app.expertise.corpus(cid)  # loaded, as a running bot's is

    async def reactions(message_id: str) -> int:
        corpus = await app.expertise.corpus(cid)
        async with app.db.sessions() as s:
            mid = await s.scalar(select(Message.id).where(Message.external_id == message_id))
        return corpus.records[corpus.row_of[mid]].reactions

    await app.core.handle(_said("UK8S", "2.000000"))
    assert await reactions("2.000000") == 0
    rows = len((await app.expertise.corpus(cid)).records)
    await app.core.handle(_reacted("U7", "2.000000"))
    await app.core.handle(_reacted("U8", "2.000000", "x" * 150))
    assert await reactions("2.000000") == 2
    # Counted in place: a message read again would be a new row, and an answer would lose its place as first reply
    assert len((await app.expertise.corpus(cid)).records) == rows
    await app.core.handle(_reacted("U8", "2.000000", "x" * 150, removed=True))  # a long name is taken back too
    assert await reactions("2.000000") == 1 and await _reactions(app) == {("U7", "+1")}
    await app.core.handle(_reacted("U7", "3.000000"))  # before its message: kept, then given
    await app.core.handle(_said("UK8S", "3.000000", "VACUUM FULL locks the table; pg_repack does not"))
    assert await reactions("3.000000") == 1


async def test_live_reactions_reach_another_replicas_ranking(app, db_url, embedder):
    """A reaction handled by one replica counted in that replica's corpus only (af0b403): the others, which rank with
    the corpus they loaded, counted it from their next load. They now read the message again (the change log), its
    reactions with it, and the answer stays its thread's first reply."""
    await _channel_known(app)
    async with app.db.sessions() as s:
        cid = await s.scalar(select(Community.id).where(Community.external_id == PLACE))
    other = build_app(Settings(database_url=db_url), embedder=embedder)
    try:
        await app.core.handle(_said("U7", "1.000000", "how do I shrink a bloated postgres table?"))
        await app.core.handle(_said("UK8S", "2.000000", thread="1.000000"))
        await other.expertise.corpus(cid)  # loaded, as a running replica's is

        async def seen_by_other(message_id: str) -> tuple[int, bool]:
            corpus = await other.expertise.corpus(cid)
            async with other.db.sessions() as s:
                mid = await s.scalar(select(Message.id).where(Message.external_id == message_id))
            row = corpus.row_of[mid]
            return corpus.records[row].reactions, bool(corpus.arrays["first"][row])

        assert await seen_by_other("2.000000") == (0, True)
        await app.core.handle(_reacted("U7", "2.000000"))
        await app.core.handle(_reacted("U8", "2.000000", "tada"))
        assert await seen_by_other("2.000000") == (2, True)
        await app.core.handle(_reacted("U8", "2.000000", "tada", removed=True))
        assert await seen_by_other("2.000000") == (1, True)
        await app.core.handle(_reacted("U9", "3.000000"))  # before its message: kept, then given when it is stored
        await app.core.handle(_said("UK8S", "3.000000", "VACUUM FULL locks the table; pg_repack does not"))
        assert (await seen_by_other("3.000000"))[0] == 1
    finally:
        await other.close()
