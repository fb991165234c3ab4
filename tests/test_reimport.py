"""Importing again, out of order or after members changed their mind: the newest text, members' consent and
their accounts' state win over what an export says, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from adapters.console import ConsoleAdapter
from bot import events as ev
from bot.db.models import Community, Member, Message, MessageVector, Reaction
from bot.db.resources import Resource, ResourceShare
from bot.services.ingest import IncomingMessage
from tests.exports import TEAM, THREADS, USERS, write_slack_export

START = 1_700_000_000.0
DISCORD = Path(__file__).parent / "fixtures" / "discord_export"
ANSWER_TS = f"{START + 60:.6f}"  # Petra's answer in the first thread
REPLY = "1100000000000100015"  # in #general of the Discord fixtures, edited in the later export


def _edit_answer(folder: Path, text: str, at: float) -> Path:
    day = folder / "general" / "2023-11-14.json"
    msgs = json.loads(day.read_text())
    answer = next(m for m in msgs if m["ts"] == ANSWER_TS)
    answer["text"], answer["edited"] = text, {"user": "UPG", "ts": f"{at:.6f}"}
    day.write_text(json.dumps(msgs))
    return folder


def _set_deleted(folder: Path, user: str, deleted: bool) -> Path:
    users = json.loads((folder / "users.json").read_text())
    for u in users:
        if u["id"] == user:
            u["deleted"] = deleted
    (folder / "users.json").write_text(json.dumps(users))
    return folder


async def _top(app, question: str, asker: str, *, replay: bool = False) -> list[str]:
    async with app.db.sessions() as s:
        community_id = await s.scalar(select(Community.id).where(Community.external_id == TEAM))
    return [e.user for e in await app.expertise.rank(community_id, question, asker=asker, replay=replay)]


async def test_an_older_export_does_not_undo_a_newer_edit(app, tmp_path):
    older = _edit_answer(write_slack_export(tmp_path / "older", USERS, THREADS[:2]),
                         "Run EXPLAIN ANALYZE first", START + 1000)
    newer = _edit_answer(write_slack_export(tmp_path / "newer", USERS, THREADS[:2]),
                         "Run EXPLAIN ANALYZE; the cast on created_at skips the btree index", START + 5000)
    await app.importer.import_slack(newer)
    again = await app.importer.import_slack(older)
    assert (again.errors, again.added, again.updated) == ([], 0, 0)
    async with app.db.sessions() as s:
        answer = await s.scalar(select(Message).where(Message.external_id == ANSWER_TS))
        vectors = await s.scalar(select(func.count()).select_from(MessageVector)
                                 .where(MessageVector.message_id == answer.id))
    assert answer.text.endswith("skips the btree index") and answer.edited_at.timestamp() == START + 5000
    assert vectors == 1

    # A live edit after both is newer: it applies, and the vector follows the new text.
    live = await app.ingest.store(answer.community_id, [IncomingMessage(
        channel_id=answer.channel_id, external_id=ANSWER_TS, author_id=answer.author_id,
        text="Cast the parameter, not the column", created_at=datetime.fromtimestamp(START + 9000, UTC),
        edited_at=datetime.fromtimestamp(START + 9000, UTC))])
    assert (live.updated, live.embedded) == (1, 1)
    async with app.db.sessions() as s:
        assert await s.scalar(select(Message.text).where(Message.id == answer.id)) == \
            "Cast the parameter, not the column"

    # A bot's edit is stored too, but never embedded: bots are never experts.
    async with app.db.sessions.begin() as s:
        bot = Member(community_id=answer.community_id, external_id="BOT1", name="helper bot", is_bot=True)
        s.add(bot)
        await s.flush()
        bot_id = bot.id
    posted = datetime.fromtimestamp(START + 9100, UTC)
    for edited in (None, posted + timedelta(minutes=1)):
        await app.ingest.store(answer.community_id, [IncomingMessage(
            channel_id=answer.channel_id, external_id="bot-1", author_id=bot_id, created_at=posted,
            text=f"Deploy finished {edited or ''}", edited_at=edited)])
    async with app.db.sessions() as s:
        bot_message = await s.scalar(select(Message).where(Message.external_id == "bot-1"))
        assert bot_message.text.startswith("Deploy finished 20")
        assert await s.scalar(select(func.count()).select_from(MessageVector)
                              .where(MessageVector.message_id == bot_message.id)) == 0


async def test_an_older_discord_export_does_not_undo_a_newer_edit(app, tmp_path):
    older = shutil.copytree(DISCORD / "first", tmp_path / "first")
    [general] = older.glob("*Text Channels - general*")
    data = json.loads(general.read_text())
    reply = next(m for m in data["messages"] if m["id"] == REPLY)
    reply["content"], reply["timestampEdited"] = "yes, see you there!", "2024-01-22T13:00:00.000+00:00"
    general.write_text(json.dumps(data))

    await app.importer.import_discord([DISCORD / "later"])
    again = await app.importer.import_discord([older])
    assert again.errors == [] and again.updated == 0
    async with app.db.sessions() as s:
        text = await s.scalar(select(Message.text).where(Message.external_id == REPLY))
    assert "spare soldering irons" in text


async def test_reactions_of_members_who_left_are_not_imported_again(app, tmp_path):
    reacted = {"type": "message", "user": "UPG", "ts": f"{START + 30:.6f}",
               "text": "Partial indexes help when most rows are archived",
               "reactions": [{"name": "+1", "users": ["UCSS", "UREG", "UASK1"], "count": 3}]}
    folder = write_slack_export(tmp_path / "export", USERS, THREADS[:2], extra=[reacted])
    await app.importer.import_slack(folder)
    console = ConsoleAdapter(app.core.handle, community=TEAM, platform="slack")
    await console.say("UCSS", "/forget-me")
    await console.say("UREG", "/optout")

    await app.importer.import_slack(folder)
    for user in ("UCSS", "UREG", "UASK1"):  # and live
        await app.core.handle(ev.ReactionAdded(community=TEAM, user=user, channel="C0GENERAL", platform="slack",
                                               message_id=reacted["ts"], reaction="eyes"))
    async with app.db.sessions() as s:
        reactors = sorted(await s.scalars(select(Reaction.user_external_id)))
    assert reactors == ["UASK1", "UASK1"]


async def test_a_later_export_follows_deactivation_both_ways(app, tmp_path):
    question = "kubernetes deployment rollback"
    await app.importer.import_slack(write_slack_export(tmp_path / "first", USERS, THREADS))
    assert (await _top(app, question, asker="UASK1"))[0] == "UK8S"
    async with app.db.sessions.begin() as s:  # Petra paused intros herself: no export undoes that
        petra = await s.scalar(select(Member).where(Member.external_id == "UPG"))
        petra.available_for_intros = False

    later = write_slack_export(tmp_path / "later", USERS, THREADS)
    deactivated = _set_deleted(_set_deleted(later, "UK8S", True), "UPG", True)
    report = await app.importer.import_slack(deactivated)
    assert (report.errors, report.added) == ([], 0)
    assert "UK8S" not in await _top(app, question, asker="UASK1")
    # A replay (`ask --json` lines, `connective eval`) asks as the community was then: he answered then, and has left.
    assert (await _top(app, question, asker="UASK1", replay=True))[0] == "UK8S"
    async with app.db.sessions() as s:
        community_id = await s.scalar(select(Community.id).where(Community.external_id == TEAM))
    [kenji] = await app.expertise.rank(community_id, question, asker="UASK1", replay=True, top=1)
    assert kenji.why[-1] == "has left the workspace since" and len(kenji.permalinks) == len(kenji.why)

    reactivated = _set_deleted(_set_deleted(deactivated, "UK8S", False), "UPG", False)
    await app.importer.import_slack(reactivated)
    assert (await _top(app, question, asker="UASK1"))[0] == "UK8S"
    async with app.db.sessions() as s:  # deactivated and back: Petra's own pause still stands
        petra = await s.scalar(select(Member).where(Member.external_id == "UPG"))
        assert not petra.available_for_intros and not petra.deactivated


async def test_an_older_export_imported_later_changes_no_account(app, tmp_path):
    """An older export imported after a newer one deactivated again a member who had come back, and gave back a
    member's old name: it tells how accounts were then."""
    question = "kubernetes deployment rollback"
    old = _set_deleted(write_slack_export(tmp_path / "old", USERS, THREADS[:4]), "UK8S", True)
    users = json.loads((old / "users.json").read_text())
    for u in users:
        if u["id"] == "UPG":
            u["real_name"] = u["profile"]["real_name"] = u["profile"]["display_name"] = "Petra Old"
    (old / "users.json").write_text(json.dumps(users))
    await app.importer.import_slack(write_slack_export(tmp_path / "new", USERS, THREADS))
    report = await app.importer.import_slack(old)
    assert report.errors == [] and any("older than the history stored" in n for n in report.notes), report.notes
    assert (await _top(app, question, asker="UASK1"))[0] == "UK8S"
    async with app.db.sessions() as s:
        assert await s.scalar(select(Member.name).where(Member.external_id == "UPG")) == "Petra"
    # The same export imported again is not older: it still says how accounts are.
    again = await app.importer.import_slack(_set_deleted(write_slack_export(tmp_path / "same", USERS, THREADS),
                                                         "UK8S", True))
    assert not any("older" in n for n in again.notes)
    assert "UK8S" not in await _top(app, question, asker="UASK1")


# -- what a later export says was deleted ----------------------------------------------------------------------------
SUBGRID = "Use CSS subgrid so the nested cards line up with the page grid's columns"
ROLLBACK_ROOT = f"{START + 2 * 3600:.6f}"  # THREADS[2]: Asha asks how to roll back; Kenji answers in the thread


def _with_deletions(folder: Path, extra_ts: str, *, tombstone: str | None = None, deleted: str | None = None,
                    vanished: str | None = None, reply: dict | None = None) -> Path:
    """The export as Slack writes it later: a thread root deleted with replies kept becomes a tombstone in its
    thread; a message deleted outright shows as message_deleted; one merely left out vanishes."""
    for day in (folder / "general").glob("*.json"):
        msgs = json.loads(day.read_text())
        out = []
        for m in msgs:
            if m["ts"] == tombstone:
                m = {"type": "message", "subtype": "tombstone", "user": "USLACKBOT", "hidden": True,
                     "text": "This message was deleted.", "ts": m["ts"], "thread_ts": m["ts"], "reply_count": 1}
            elif m["ts"] == deleted:
                m = {"type": "message", "subtype": "message_deleted", "hidden": True, "deleted_ts": m["ts"],
                     "ts": extra_ts}
            elif m["ts"] == vanished:
                continue
            out.append(m)
        if reply and any(m["ts"] == reply["thread_ts"] for m in out):
            out.append(reply)
        day.write_text(json.dumps(sorted(out, key=lambda m: float(m["ts"]))))
    return folder


async def test_a_message_a_later_export_shows_deleted_is_deleted_as_live(app, tmp_path):
    """A message deleted on Slack stayed stored after a later export showed it deleted (a tombstone, or
    message_deleted): only counted as a system notice, it went on being quoted. It goes as a live deletion does,
    and stays gone when an older export is imported again; a message the later export merely lacks stays."""
    subgrid = {"type": "message", "user": "UCSS", "text": SUBGRID, "ts": f"{START + 30:.6f}"}
    grid = {"type": "message", "user": "UCSS", "text": "CSS grid template areas name the page's regions",
            "ts": f"{START + 40:.6f}"}
    first = write_slack_export(tmp_path / "first", USERS, THREADS, extra=[subgrid, grid])
    await app.importer.import_slack(first)
    assert any(SUBGRID in q for q in await _quotes(app, "css subgrid nested cards", "UCSS"))

    reply = {"type": "message", "user": "UK8S", "ts": f"{START + 2 * 3600 + 600:.6f}", "thread_ts": ROLLBACK_ROOT,
             "text": "Or kubectl rollout undo --to-revision=3 to pick the revision", "parent_user_id": "UASK1"}
    later = _with_deletions(write_slack_export(tmp_path / "later", USERS, THREADS, extra=[subgrid, grid]),
                            f"{START + 50:.6f}", tombstone=ROLLBACK_ROOT, deleted=subgrid["ts"], vanished=grid["ts"],
                            reply=reply)
    report = await app.importer.import_slack(later)
    assert (report.errors, report.added, report.deleted) == ([], 1, 2)
    assert not any(SUBGRID in q for q in await _quotes(app, "css subgrid nested cards", "UCSS"))
    community_id = await _community(app)
    app.expertise.forget_cache(community_id)
    assert not any(SUBGRID in q for q in await _quotes(app, "css subgrid nested cards", "UCSS"))  # loaded again
    async with app.db.sessions() as s:
        stored = dict((await s.execute(select(Message.external_id, Message.thread_external_id)
                                       .where(Message.community_id == community_id))).all())
    assert ROLLBACK_ROOT not in stored and subgrid["ts"] not in stored and grid["ts"] in stored
    # The thread lives on without its first message: the replies, the later one too, are in it.
    assert stored[f"{START + 2 * 3600 + 60:.6f}"] == stored[reply["ts"]] == ROLLBACK_ROOT
    assert (await _top(app, "roll back a kubernetes deployment revision", asker="UASK2"))[0] == "UK8S"

    # Remembered as a live deletion is: the first export, imported again, does not bring them back.
    again = await app.importer.import_slack(first)
    assert (again.errors, again.added) == ([], 0)
    async with app.db.sessions() as s:
        assert not set(await s.scalars(select(Message.external_id).where(
            Message.external_id.in_([ROLLBACK_ROOT, subgrid["ts"]]))))
    assert not any(SUBGRID in q for q in await _quotes(app, "css subgrid nested cards", "UCSS"))


async def _community(app) -> int:
    async with app.db.sessions() as s:
        return await s.scalar(select(Community.id).where(Community.external_id == TEAM))


async def _quotes(app, question: str, user: str) -> list[str]:
    """What the answer to `question` quotes of `user`."""
    found = await app.expertise.rank(await _community(app), question, asker="UASK2")
    return [q for f in found if f.user == user for q in f.why]


# -- reactions a later export no longer shows ------------------------------------------------------------------------
def _reacted(ts: float, text: str, reactions: dict[str, list[str]]) -> dict:
    return {"type": "message", "user": "UPG", "ts": f"{ts:.6f}", "text": text,
            "reactions": [{"name": name, "users": users, "count": len(users)} for name, users in reactions.items()]}


async def _reactions(app) -> dict[str, set[tuple[str, str]]]:
    """external id of the message -> (reaction, who) stored."""
    async with app.db.sessions() as s:
        rows = (await s.execute(select(Message.external_id, Reaction.name, Reaction.user_external_id)
                                .join(Reaction, Reaction.message_id == Message.id))).all()
    out: dict[str, set[tuple[str, str]]] = {}
    for ext, name, user in rows:
        out.setdefault(ext, set()).add((name, user))
    return out


async def test_reactions_a_later_export_no_longer_shows_are_removed(app, tmp_path):
    """A reaction removed on Slack stayed stored after a later export showed the message without it: the import
    only ever added reactions. A later export's messages carry their reactions as they are now; an older one,
    imported after, changes none; a message the export lacks keeps its own."""
    partial = (START + 10, "Partial indexes help when most rows are archived")
    brin = (START + 20, "BRIN indexes suit append-only tables ordered by time")
    gist = (START + 25, "GiST indexes serve range and geometric queries")
    first = write_slack_export(tmp_path / "first", USERS, THREADS[:4], extra=[
        _reacted(*partial, {"+1": ["UASK1", "UREG"], "eyes": ["UK8S"]}),
        _reacted(*brin, {"+1": ["UASK2"]}), _reacted(*gist, {"tada": ["UCSS"]})])
    await app.importer.import_slack(first)

    later = write_slack_export(tmp_path / "later", USERS, THREADS, extra=[  # gist's day is left out of it
        _reacted(*partial, {"+1": ["UASK1"], "heart": ["UCSS"]}), _reacted(*brin, {})])
    day = later / "general" / "2023-11-14.json"
    day.write_text(json.dumps([m for m in json.loads(day.read_text()) if m["ts"] != f"{gist[0]:.6f}"]))
    report = await app.importer.import_slack(later)
    assert report.errors == []
    now = {f"{partial[0]:.6f}": {("+1", "UASK1"), ("heart", "UCSS")}, f"{gist[0]:.6f}": {("tada", "UCSS")}}
    assert await _reactions(app) == now

    # Older than the history stored now: it changes no reaction; a message new here takes its own.
    hashed = (START + 15, "Hash indexes only serve equality lookups")
    older = await app.importer.import_slack(write_slack_export(tmp_path / "older", USERS, THREADS[:4], extra=[
        _reacted(*partial, {"+1": ["UASK1", "UREG"], "eyes": ["UK8S"]}), _reacted(*brin, {"+1": ["UASK2"]}),
        _reacted(*hashed, {"+1": ["UK8S"]})]))
    assert any("older than the history stored" in n for n in older.notes) and older.added == 1
    now[f"{hashed[0]:.6f}"] = {("+1", "UK8S")}
    assert await _reactions(app) == now
    # An export with no reaction at all (stripped to ids and text, or a converter's) says nothing of them.
    stripped = write_slack_export(tmp_path / "stripped", USERS, THREADS, extra=[
        {k: v for k, v in _reacted(*partial, {}).items() if k != "reactions"}])
    assert (await app.importer.import_slack(stripped)).errors == []
    assert await _reactions(app) == now


async def test_a_later_exports_edit_shares_the_links_of_the_new_text(app, tmp_path):
    """An edit a later export carried that replaced a link kept the old link's share, and shared nothing new: the
    digest could show a link no longer in the message."""
    guide = {"type": "message", "user": "UPG", "ts": f"{START + 10:.6f}",
             "text": "Partitioning guide: https://old.example.com/partitioning"}
    await app.importer.import_slack(write_slack_export(tmp_path / "first", USERS, THREADS[:2], extra=[guide]))
    edited = {**guide, "text": "Partitioning guide, the current one: https://new.example.com/partitioning",
              "edited": {"user": "UPG", "ts": f"{START + 9000:.6f}"}}
    report = await app.importer.import_slack(write_slack_export(tmp_path / "later", USERS, THREADS[:2],
                                                                extra=[edited]))
    assert (report.errors, report.updated) == ([], 1)
    async with app.db.sessions() as s:
        shared = set(await s.scalars(select(Resource.url).join(ResourceShare, ResourceShare.resource_id == Resource.id)
                                     .join(Message, Message.id == ResourceShare.message_id)
                                     .where(Message.external_id == guide["ts"])))
        resources = set(await s.scalars(select(Resource.url)))
    assert shared == resources == {"https://new.example.com/partitioning"}
