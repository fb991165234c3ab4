"""Importing exports of one workspace again, in other shapes or while the bot runs: nothing is stored twice, and
nothing newer is undone, on SQLite and PostgreSQL. Each test is a defect three reviews of 2026-12-06 found in the
import of exports converted from other platforms, of older exports, and of exports with shared channels."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.db.models import Channel, Community, Member, Message, Reaction
from bot.importers.slack_export import slack_time
from bot.repo import ensure_channel, ensure_community, ensure_members_bulk
from bot.services.ingest import IncomingMessage
from tests.exports import TEAM, THREADS, USERS, write_slack_export

START = 1_700_000_000.0
# A message with UASK1's +1, as an export lists it.
REACTED = {"type": "message", "user": "UPG", "ts": f"{START + 10:.6f}", "text": "BRIN indexes suit append-only",
           "reactions": [{"name": "+1", "users": ["UASK1"], "count": 1}]}


def _strip(folder: Path, *, team: bool = True, channel_ids: bool = True) -> Path:
    users = json.loads((folder / "users.json").read_text())
    if team:
        for u in users:
            u.pop("team_id", None)
    (folder / "users.json").write_text(json.dumps(users))
    if channel_ids:
        chans = json.loads((folder / "channels.json").read_text())
        (folder / "channels.json").write_text(json.dumps([{"name": c["name"]} for c in chans]))
    return folder


# A stripped export (no team, no channel ids) and the full export of the same workspace stored every message twice.
async def test_stripped_then_full_with_team_adds_nothing(app, tmp_path):
    stripped = _strip(write_slack_export(tmp_path / "stripped", USERS, THREADS))
    first = await app.importer.import_slack(stripped)
    assert first.added == 17
    full = write_slack_export(tmp_path / "full", USERS, THREADS)
    again = await app.importer.import_slack(full, team=TEAM)   # as the note tells to do
    assert again.added == 0, f"full export after stripped added {again.added}"


async def test_full_then_stripped_adds_nothing(app, tmp_path):
    full = write_slack_export(tmp_path / "full", USERS, THREADS)
    assert (await app.importer.import_slack(full)).added == 17
    stripped = _strip(write_slack_export(tmp_path / "stripped", USERS, THREADS))
    again = await app.importer.import_slack(stripped)
    assert again.added == 0, f"stripped export after full added {again.added} (community {again.community})"


# Same author, same whole second, text only in blocks or files: the messages were taken for repeats.
def _blocks(text: str) -> list:
    return [{"type": "rich_text", "elements": [{"type": "rich_text_section",
                                                "elements": [{"type": "text", "text": text}]}]}]


async def test_same_second_blocks_only_messages_of_one_author_are_all_stored(app, tmp_path):
    ts = f"{START + 5:.0f}"
    extra = [{"type": "message", "user": "UPG", "ts": ts, "text": "", "blocks": _blocks("postgres tip one: VACUUM")},
             {"type": "message", "user": "UPG", "ts": ts, "text": "",
              "blocks": _blocks("postgres tip two: ANALYZE after bulk loads")},
             {"type": "message", "user": "UCSS", "ts": f"{START + 7:.0f}", "text": "",
              "files": [{"title": "grid.png"}]},
             {"type": "message", "user": "UCSS", "ts": f"{START + 7:.0f}", "text": "",
              "files": [{"title": "flexbox.png"}]}]
    folder = write_slack_export(tmp_path / "e", USERS, THREADS[:1], extra=extra)
    report = await app.importer.import_slack(folder)
    async with app.db.sessions() as s:
        texts = sorted(await s.scalars(select(Message.text)))
    assert report.added == 3 + 4, (report.added, texts)


# The workspace chosen by member count flipped between overlapping exports of one workspace.
def _with_teams(folder: Path, teams: dict[str, str]) -> Path:
    users = json.loads((folder / "users.json").read_text())
    for u in users:
        u["team_id"] = teams.get(u["id"], u["team_id"])
    (folder / "users.json").write_text(json.dumps(users))
    return folder


async def test_overlapping_later_export_with_more_shared_channel_guests_adds_only_new(app, tmp_path):
    # The workspace TTEST0001: Asha, Bruno, Petra, Kenji; a Slack Connect channel brings two guests of TGUEST
    guests = {"UCSS": "TGUEST", "UREG": "TGUEST"}
    a = _with_teams(write_slack_export(tmp_path / "a", USERS, THREADS[:6]), guests)
    assert (await app.importer.import_slack(a)).community == f"slack:{TEAM}"
    # Later, three more guests of TGUEST join the shared channel (users.json lists them), one new thread (a member's:
    # the guests' own messages are no member's, never imported)
    more = {**USERS, "UG1": "G1", "UG2": "G2", "UG3": "G3"}
    b = _with_teams(write_slack_export(tmp_path / "b", more, THREADS[:6] + [[("UPG", "hello to the partner")]]),
                    {**guests, "UG1": "TGUEST", "UG2": "TGUEST", "UG3": "TGUEST"})
    report = await app.importer.import_slack(b)
    assert (report.community, report.added) == (f"slack:{TEAM}", 1), (report.community, report.added)


# A live message newer than the export made every fresh export "older".
async def test_export_imported_while_the_bot_runs_applies_deactivation_and_reaction_removal(app, tmp_path):
    reacted = REACTED
    a = write_slack_export(tmp_path / "a", USERS, THREADS[:4], extra=[reacted])
    await app.importer.import_slack(a)
    # the live bot stores a message posted a minute after the next export was made
    async with app.db.sessions() as s:
        cid = await s.scalar(select(Community.id).where(Community.external_id == TEAM))
        ch = await s.scalar(select(Channel.id).where(Channel.community_id == cid))
        author = await s.scalar(select(Member.id).where(Member.external_id == "UASK1"))
    b_last = START + 3 * 3600 + 60  # last message of THREADS[:4]
    await app.ingest.store(cid, [IncomingMessage(channel_id=ch, external_id=f"{b_last + 60:.6f}", author_id=author,
                                                 text="live message", created_at=slack_time(b_last + 60))])
    # the export B: Reggie's account deactivated, the +1 taken back
    b = write_slack_export(tmp_path / "b", USERS, THREADS[:4], extra=[{**reacted, "reactions": [
        {"name": "eyes", "users": ["UK8S"], "count": 1}]}])
    users = json.loads((b / "users.json").read_text())
    for u in users:
        u["deleted"] = u["id"] == "UREG"
    (b / "users.json").write_text(json.dumps(users))
    report = await app.importer.import_slack(b)
    async with app.db.sessions() as s:
        deact = await s.scalar(select(Member.deactivated).where(Member.external_id == "UREG"))
        reactions = set((await s.execute(select(Reaction.name, Reaction.user_external_id))).all())
    assert (deact, reactions) == (True, {("eyes", "UK8S")}), (deact, reactions, report.notes)


# Two authors' messages in one whole second; the first gone from a later export, the second edited there: the edit
# was written into the first author's message.
async def test_whole_second_pair_first_gone_second_edited_does_not_rewrite_the_first(app, tmp_path):
    ts = f"{START + 5:.0f}"
    m1 = {"type": "message", "user": "UPG", "ts": ts, "text": "VACUUM FULL locks the table"}
    m2 = {"type": "message", "user": "UK8S", "ts": ts, "text": "kubectl drain the node first"}
    await app.importer.import_slack(write_slack_export(tmp_path / "a", USERS, THREADS[:1], extra=[m1, m2]))
    edited = {**m2, "text": "kubectl drain --ignore-daemonsets the node first", "edited": {"ts": f"{START + 900:.0f}"}}
    await app.importer.import_slack(write_slack_export(tmp_path / "b", USERS, THREADS[:1], extra=[edited]))
    async with app.db.sessions() as s:
        rows = sorted((await s.execute(select(Message.external_id, Member.external_id, Message.text)
                                       .join(Member, Member.id == Message.author_id)
                                       .where(Message.external_id.like(f"{ts}%")))).all())
    # Petra's message must keep Petra's words; Kenji's edit belongs to Kenji's row
    assert ("UPG", "VACUUM FULL locks the table") in {(a, t) for _, a, t in rows}, rows


# An older export imported after a newer one gave a renamed channel its old name back.
async def test_an_older_export_does_not_rename_a_channel_back(app, tmp_path):
    newer = write_slack_export(tmp_path / "newer", USERS, THREADS, channel="town-square")
    older = write_slack_export(tmp_path / "older", USERS, THREADS[:4], channel="general")
    await app.importer.import_slack(newer)
    report = await app.importer.import_slack(older)
    assert any("older than the history stored" in n for n in report.notes)
    async with app.db.sessions() as s:
        name = await s.scalar(select(Channel.name).where(Channel.external_id == "C0GENERAL"))
    assert name == "town-square", name


# A partner workspace is stored (the bot runs there, or its export was imported): our workspace's first export, with
# one guest of the partner, was filed under the partner's.
async def test_first_export_not_filed_under_stored_partner(app, tmp_path):
    async with app.db.sessions.begin() as s:
        await ensure_community(s, "slack", "TPARTNER")
    a = _with_teams(write_slack_export(tmp_path / "a", USERS, THREADS), {"UREG": "TPARTNER"})
    report = await app.importer.import_slack(a)
    assert report.community == f"slack:{TEAM}", report.community


# A workspace the bot ran in live, never imported (no imported_until): its first export was "older", so deactivations
# were not applied. Live messages cannot tell an export's age.
async def test_first_export_of_live_only_workspace_is_not_older(app, tmp_path):
    async with app.db.sessions.begin() as s:   # as core.py stores live messages
        c = await ensure_community(s, "slack", TEAM)
        ch = await ensure_channel(s, c.id, "C0GENERAL")
        ids = await ensure_members_bulk(s, c.id, {"UASK1": {"name": "Asha"}, "UREG": {"name": "Reggie"}})
        cid, chid, author = c.id, ch.id, ids["UASK1"]
    last = START + 3 * 3600 + 60
    await app.ingest.store(cid, [IncomingMessage(channel_id=chid, external_id=f"{last + 600:.6f}", author_id=author,
                                                 text="live message after the export",
                                                 created_at=slack_time(last + 600))])
    b = write_slack_export(tmp_path / "b", USERS, THREADS[:4])
    users = json.loads((b / "users.json").read_text())
    for u in users:
        u["deleted"] = u["id"] == "UREG"
    (b / "users.json").write_text(json.dumps(users))
    report = await app.importer.import_slack(b)
    async with app.db.sessions() as s:
        deact = await s.scalar(select(Member.deactivated).where(Member.external_id == "UREG"))
        name = await s.scalar(select(Channel.name).where(Channel.external_id == "C0GENERAL"))
    assert (deact, report.notes) == (True, []), (deact, name, report.notes)


# As test_overlapping_later_export_…, with more new guests than the workspace's stored members and guests.
async def test_later_export_with_many_new_guests_stays_in_workspace(app, tmp_path):
    guests = {"UCSS": "TGUEST", "UREG": "TGUEST"}
    a = _with_teams(write_slack_export(tmp_path / "a", USERS, THREADS[:6]), guests)
    assert (await app.importer.import_slack(a)).community == f"slack:{TEAM}"
    new = {f"UG{i}": f"G{i}" for i in range(8)}
    threads = THREADS[:6] + [[("UPG", "hello to the partner")]]  # (the guests' own are never imported)
    b = _with_teams(write_slack_export(tmp_path / "b", {**USERS, **new}, threads),
                    {**guests, **dict.fromkeys(new, "TGUEST")})
    report = await app.importer.import_slack(b)
    assert (report.community, report.added) == (f"slack:{TEAM}", 1), (report.community, report.added)


# The same export twice, many messages in one second: nothing is added the second time.
async def test_same_export_twice_same_second(app, tmp_path):
    ts = f"{START + 5:.0f}"
    extra = [{"type": "message", "user": u, "ts": ts, "text": f"msg {i}"} for i, u in
             enumerate(["UPG", "UK8S", "UPG", "UPG", "UCSS"])] + [
             {"type": "message", "user": "UPG", "ts": ts, "text": "msg 0"}]
    a = write_slack_export(tmp_path / "a", USERS, THREADS[:1], extra=extra)
    r1 = await app.importer.import_slack(a)
    r2 = await app.importer.import_slack(a)
    assert (r1.added, r2.added) == (8, 0), (r1.added, r2.added)


# A private channel first seen live through a reaction (not known to be private), then an older export with
# --include-private listing it in groups.json: it stayed public and unnamed.
async def test_older_export_marks_live_seen_channel_private(app, tmp_path):
    newer = write_slack_export(tmp_path / "newer", USERS, THREADS)
    await app.importer.import_slack(newer)
    async with app.db.sessions.begin() as s:
        cid = await s.scalar(select(Community.id).where(Community.external_id == TEAM))
        await ensure_channel(s, cid, "G0SECRET")   # as Core._on_reaction stores it
    older = write_slack_export(tmp_path / "older", USERS, THREADS[:2])
    (older / "groups.json").write_text(json.dumps([{"id": "G0SECRET", "name": "secret"}]))
    (older / "secret").mkdir()
    (older / "secret" / "2023-11-14.json").write_text(json.dumps([
        {"type": "message", "user": "UPG", "ts": f"{START + 30:.6f}", "text": "the salary bands are in the sheet"}]))
    report = await app.importer.import_slack(older, include_private=True)
    assert any("older" in n for n in report.notes), report.notes
    async with app.db.sessions() as s:
        row = await s.scalar(select(Channel).where(Channel.external_id == "G0SECRET"))
    assert (row.is_private, row.name) == (True, "secret"), (row.is_private, row.name)


# The same export imported with --include-private, then without: it was "older than the history stored" than itself
# (its private conversation went on after the public channels), and so kept members' names as they were (user
# walk-through).
async def test_the_same_export_without_its_private_conversations_is_not_older(app, tmp_path):
    export = write_slack_export(tmp_path / "export", USERS, THREADS)
    (export / "groups.json").write_text(json.dumps([{"id": "G0SECRET", "name": "secret"}]))
    (export / "secret").mkdir()
    (export / "secret" / "2030-01-01.json").write_text(json.dumps([
        {"type": "message", "user": "UPG", "ts": f"{START + 10**7:.6f}", "text": "the salary bands are in the sheet"}]))
    first = await app.importer.import_slack(export, include_private=True)
    again = await app.importer.import_slack(export)
    assert not any("older" in n for n in first.notes + again.notes), again.notes


# An export of private conversations only reached nowhere: never "older", and how far it reached was not kept
# (review of fb9ebca).
async def test_an_export_of_private_conversations_only_reaches_as_far_as_they_do(app, tmp_path):
    def private_only(name: str, ts: float) -> Path:
        export = write_slack_export(tmp_path / name, USERS, [])
        (export / "groups.json").write_text(json.dumps([{"id": "G0SECRET", "name": "secret"}]))
        (export / "secret").mkdir()
        (export / "secret" / "2023-11-14.json").write_text(json.dumps([
            {"type": "message", "user": "UPG", "ts": f"{ts:.6f}", "text": "the salary bands are in the sheet"}]))
        return export

    await app.importer.import_slack(private_only("newer", START + 100), include_private=True)
    older = await app.importer.import_slack(private_only("older", START + 50), include_private=True)
    assert any("older" in n for n in older.notes), older.notes


# An app post first stored under its user (only app posts of them seen), then in a later export attributed to the app
# (the user posts as a person there): its edit was refused.
async def test_edit_of_app_post_applies_after_attribution_changes(app, tmp_path):
    post = {"type": "message", "user": "UWF", "bot_id": "B0WF", "username": "standup", "ts": f"{START + 30:.6f}",
            "text": "standup: postgres upgrade on Friday"}
    a = write_slack_export(tmp_path / "a", USERS, THREADS[:2], extra=[post])
    await app.importer.import_slack(a)
    edited = {**post, "text": "standup: postgres upgrade moved to Monday", "edited": {"ts": f"{START + 9000:.6f}"}}
    own = {"type": "message", "user": "UWF", "ts": f"{START + 8000:.6f}", "text": "I run the standup workflow"}
    b = write_slack_export(tmp_path / "b", USERS, THREADS[:3], extra=[edited, own])
    await app.importer.import_slack(b)
    async with app.db.sessions() as s:
        texts = set(await s.scalars(select(Message.text).where(Message.external_id == post["ts"])))
    assert texts == {edited["text"]}, texts


# Two same-second messages of one author (a converted history); the first gone in a later export, the second edited:
# the edit was written into the first message's row, with the second written "1700000005" or "1700000005.000000".
@pytest.mark.parametrize("written", ["{:.0f}", "{:.6f}"])
async def test_same_author_same_second_edit_does_not_rewrite_the_first(app, tmp_path, written):
    ts = written.format(START + 5)
    m1 = {"type": "message", "user": "UPG", "ts": ts, "text": "VACUUM FULL locks the table"}
    m2 = {"type": "message", "user": "UPG", "ts": ts, "text": "use pg_repack instead"}
    await app.importer.import_slack(write_slack_export(tmp_path / "a", USERS, THREADS[:1], extra=[m1, m2]))
    edited = {**m2, "text": "use pg_repack instead, it locks only briefly",
              "edited": {"ts": written.format(START + 900)}}
    await app.importer.import_slack(write_slack_export(tmp_path / "b", USERS, THREADS[:1], extra=[edited]))
    async with app.db.sessions() as s:
        texts = sorted(await s.scalars(select(Message.text).where(Message.external_id.like(f"{START + 5:.0f}%"))))
    assert "VACUUM FULL locks the table" in texts, texts


# A true repeat of the second of two same-second messages (the same day written twice) was stored twice.
async def test_repeat_of_moved_message_stored_once(app, tmp_path):
    ts = f"{START + 5:.0f}"
    m1 = {"type": "message", "user": "UPG", "ts": ts, "text": "VACUUM FULL locks the table"}
    m2 = {"type": "message", "user": "UK8S", "ts": ts, "text": "kubectl drain the node first"}
    await app.importer.import_slack(write_slack_export(tmp_path / "a", USERS, THREADS[:1],
                                                                extra=[m1, m2, dict(m1), dict(m2)]))
    async with app.db.sessions() as s:
        texts = sorted(await s.scalars(select(Message.text).where(Message.external_id.like(f"{ts}%"))))
    assert len(texts) == 2, texts


# A channel stored by name (an export without ids), taken over by the full export: its messages stayed without links.
async def test_taken_over_channel_messages_get_links(app, tmp_path):
    stripped = _strip(write_slack_export(tmp_path / "s", USERS, THREADS), team=False)
    await app.importer.import_slack(stripped)
    full = write_slack_export(tmp_path / "f", USERS, THREADS)
    await app.importer.import_slack(full)
    async with app.db.sessions() as s:
        links = list(await s.scalars(select(Message.permalink)))
        ext = list(await s.scalars(select(Channel.external_id)))
    assert ext == ["C0GENERAL"] and None not in links, (ext, links[:3])


async def test_a_reaction_stored_live_after_an_exports_newest_message_stays_when_it_is_imported(app, tmp_path):
    """An export says no time of its own: its reactions are as they were when its newest message was posted, or later.
    A reaction the running bot stored after that stays when the export, which does not list it, is imported (every
    stored reaction it did not list was taken away, the ones given live since it was made too); one the export
    lists no longer is taken away by it again."""
    from bot import events as ev

    reacted = REACTED
    export = write_slack_export(tmp_path / "a", USERS, THREADS[:4], extra=[reacted])
    await app.importer.import_slack(export)
    await app.core.handle(ev.ReactionAdded(community=TEAM, platform="slack", user="UK8S", channel="C0GENERAL",
                                           message_id=reacted["ts"], reaction="eyes"))
    await app.importer.import_slack(export)
    async with app.db.sessions() as s:
        reactions = set((await s.execute(select(Reaction.name, Reaction.user_external_id))).all())
    assert reactions == {("+1", "UASK1"), ("eyes", "UK8S")}
    taken_back = write_slack_export(tmp_path / "b", USERS, THREADS[:4], extra=[{**reacted, "reactions": [
        {"name": "eyes", "users": ["UK8S"], "count": 1}]}])
    await app.importer.import_slack(taken_back)  # as late as the first, listing the live one: the +1 was taken back
    async with app.db.sessions() as s:
        reactions = set((await s.execute(select(Reaction.name, Reaction.user_external_id))).all())
    assert reactions == {("eyes", "UK8S")}
