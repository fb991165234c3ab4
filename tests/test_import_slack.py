"""`connective import slack`: the edge cases a real export has, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path, PurePosixPath

import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from bot import events as ev
from bot.cli import cli
from bot.db.models import Channel, Community, Member, Message, MessageVector, Reaction
from bot.errors import UserError
from tests.exports import TEAM, THREADS, USERS, write_slack_export

START = 1_700_000_000.0  # threads are an hour apart: 0-1 on 2023-11-14, 2-7 on 2023-11-15


async def _community_id(app, team: str = TEAM) -> int:
    async with app.db.sessions() as s:
        return await s.scalar(select(Community.id).where(Community.platform == "slack",
                                                        Community.external_id == team))


async def _top(app, question: str, asker: str, team: str = TEAM) -> list[str]:
    return [e.user for e in await app.expertise.rank(await _community_id(app, team), question, asker=asker)]


async def _evidence(app, question: str, asker: str = "UK8S") -> dict[str, list[str]]:
    return {e.user: e.why for e in await app.expertise.rank(await _community_id(app), question, asker=asker)}


async def _message_count(app) -> int:
    async with app.db.sessions() as s:
        return await s.scalar(select(func.count()).select_from(Message))


def _zip(folder: Path, archive: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(archive, "w") as z:
        for path in folder.rglob("*.json"):
            z.write(path, prefix + path.relative_to(folder).as_posix())
    return archive


async def test_zip_export_imports_like_the_folder(app, tmp_path):
    folder = write_slack_export(tmp_path / "export", USERS, THREADS)
    report = await app.importer.import_slack(_zip(folder, tmp_path / "export.zip"))
    assert report.errors == []
    assert report.added == sum(len(th) for th in THREADS)
    assert (await _top(app, "postgres index ignored by the planner", asker="UASK1"))[0] == "UPG"
    # The same export as a folder, and zipped inside a top-level folder, adds nothing more.
    assert (await app.importer.import_slack(folder)).added == 0
    nested = _zip(folder, tmp_path / "nested.zip", prefix="Fernhill Slack export Nov 2023/")
    again = await app.importer.import_slack(nested)
    assert (again.errors, again.added) == ([], 0)


async def test_zip_with_macos_metadata_reads_only_the_export(app, tmp_path):
    """Archive Utility adds __MACOSX/<path>/._<name> for each file: binary, and not where days are."""
    archive = _zip(write_slack_export(tmp_path / "export", USERS, THREADS), tmp_path / "export.zip")
    with zipfile.ZipFile(archive, "a") as z:
        for name in z.namelist():
            folder, _, file = name.rpartition("/")
            z.writestr(str(PurePosixPath("__MACOSX", folder, f"._{file}")), b"\x00\x05\x16\x07Mac OS X")
    report = await app.importer.import_slack(archive)
    assert (report.errors, report.files) == ([], 4)  # users, channels and two days
    assert report.added == sum(len(th) for th in THREADS)


async def test_damaged_day_file_is_named_and_other_days_imported(app, tmp_path):
    folder = write_slack_export(tmp_path / "export", USERS, THREADS)
    (folder / "general" / "2023-11-14.json").write_text('[{"type": "message", "user": "UPG", "te')
    report = await app.importer.import_slack(folder)
    assert len(report.errors) == 1 and "general/2023-11-14.json" in report.errors[0]
    assert report.added == sum(len(th) for th in THREADS[2:])
    assert (await _top(app, "kubernetes deployment rollback", asker="UASK1"))[0] == "UK8S"


async def test_malformed_messages_are_skipped_and_the_rest_imported(app, tmp_path, caplog):
    folder = write_slack_export(tmp_path / "export", USERS, THREADS)
    day = folder / "general" / "2023-11-14.json"
    msgs = json.loads(day.read_text())

    def msg(n: int, **fields) -> dict:
        return {"type": "message", "user": "UREG", "text": f"redis eviction policy note {n}",
                "ts": f"{START + 900 + n:.6f}", **fields}

    unreadable = [msg(0, text=123), msg(1, text=["a"]), msg(2, user={"id": "UREG"}), msg(3, subtype=["x"]),
                  msg(4, ts="nan"), msg(5, ts="inf"), msg(6, ts="1e20")]
    odd_details = [  # kept: only the odd detail is dropped
        msg(10, edited="yes"), msg(11, edited={"ts": "abc"}),
        msg(12, reactions=[{"name": None, "users": ["UASK1"]}, {"name": "eyes", "users": "UASK1"},
                           {"name": "tada", "users": [None, True, ""]}, "junk", {"name": "+1", "users": ["UASK1"]}]),
        msg(13, text="", attachments=[{"text": 5}, "x"], files=["x"]),
        msg(14, user="UNEW", user_profile="str"),
    ]
    day.write_text(json.dumps(msgs + unreadable + odd_details))

    report = await app.importer.import_slack(folder)
    assert report.errors == []
    assert report.added == sum(len(th) for th in THREADS) + len(odd_details)
    assert report.skipped == len(unreadable)
    assert [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()] == [
        f"{day}: skipped 7 malformed message(s) (text is int, not text; text is list, not text; user "
        "(dict) is not an id; and 2 more kind(s))"]  # named as errors name files, each kind of reason
    async with app.db.sessions() as s:
        assert (await s.execute(select(Reaction.name, Reaction.user_external_id))).all() == [("+1", "UASK1")]
        assert await s.scalar(select(Member.name).where(Member.external_id == "UNEW")) == "UNEW"


async def test_odd_users_and_channels_entries_are_read_for_what_they_hold(app, tmp_path):
    folder = write_slack_export(tmp_path / "export", USERS, THREADS)
    users_json = json.loads((folder / "users.json").read_text())
    users_json[0].update(profile="x", real_name=5, tz=["Europe/Paris"])
    users_json += [{"id": {"x": 1}, "team_id": TEAM}, {"id": 7}]
    (folder / "users.json").write_text(json.dumps(users_json))
    channels_json = json.loads((folder / "channels.json").read_text())
    channels_json += [{"id": 8, "name": "k8s"}, {"id": "C2", "name": []}]
    (folder / "channels.json").write_text(json.dumps(channels_json))

    report = await app.importer.import_slack(folder)
    assert report.errors == []
    assert report.added == sum(len(th) for th in THREADS)
    async with app.db.sessions() as s:
        assert await s.scalar(select(Member.name).where(Member.external_id == users_json[0]["id"])) == "asha"


async def test_a_folder_that_is_not_a_slack_export_is_refused_in_one_line(app, tmp_path):
    """A DiscordChatExporter folder given to `import slack` is a mistaken command, not a damaged users.json."""
    folder = tmp_path / "discord"
    folder.mkdir()
    (folder / "general.json").write_text(json.dumps({"guild": {"id": "1"}, "channel": {"id": "2"}, "messages": []}))
    with pytest.raises(UserError, match="not a Slack export \\(no users.json or channels.json found\\)"):
        await app.importer.import_slack(folder)
    assert await _message_count(app) == 0


async def test_bot_messages_and_system_subtypes(app, tmp_path):
    extra = [
        {"type": "message", "subtype": "channel_join", "user": "UREG",
         "text": "<@UREG> has joined the channel", "ts": f"{START + 100:.6f}"},
        {"type": "message", "subtype": "channel_topic", "user": "UASK1", "topic": "postgres and kubernetes",
         "text": "<@UASK1> set the channel topic: postgres and kubernetes", "ts": f"{START + 200:.6f}"},
        {"type": "message", "subtype": "bot_message", "bot_id": "BDEPLOY", "username": "deploybot",
         "text": "postgres vacuum and index rebuild finished on the primary", "ts": f"{START + 300:.6f}"},
        {"type": "message", "user": "UBOT", "bot_id": "BHELPER",
         "text": "Autovacuum tip of the day: tune the postgres cost limit", "ts": f"{START + 400:.6f}"},
    ]
    users = {**USERS, "UBOT": "Helper Bot"}
    folder = write_slack_export(tmp_path / "export", users, THREADS, extra=extra)
    users_json = json.loads((folder / "users.json").read_text())
    for u in users_json:
        u["is_bot"] = u["id"] == "UBOT"
    (folder / "users.json").write_text(json.dumps(users_json))

    report = await app.importer.import_slack(folder)
    assert report.errors == []
    assert report.added == sum(len(th) for th in THREADS) + 2  # the two bot posts; join and topic skipped
    async with app.db.sessions() as s:
        bots = dict((await s.execute(select(Member.external_id, Member.id)
                                     .where(Member.is_bot.is_(True)))).all())
        assert set(bots) == {"BDEPLOY", "UBOT"}
        bot_vectors = await s.scalar(select(func.count()).select_from(MessageVector)
                                     .join(Message, Message.id == MessageVector.message_id)
                                     .where(Message.author_id.in_(bots.values())))
        texts = set(await s.scalars(select(Message.text)))
    assert bot_vectors == 0
    assert not any("has joined the channel" in t or "set the channel topic" in t for t in texts)
    found = await _top(app, "postgres vacuum autovacuum cost limit", asker="UASK2")
    assert found[0] == "UPG" and "BDEPLOY" not in found and "UBOT" not in found


async def _bot_flags(app) -> dict[str, bool]:
    async with app.db.sessions() as s:
        return dict((await s.execute(select(Member.external_id, Member.is_bot))).all())


FROB_Q = "How do I calibrate the frobnicator widget in quuxlang?"
GIPHY_Q = "How do I tune the zorblax sprocket on the gantry?"


def _export_with_app_posts(tmp_path, name: str = "export"):
    """Posts with both `user` and `bot_id` (as live Slack sends them for an app): UAPP, an uninstalled app's bot user
    users.json does not list, answers the frobnicator thread; Petra (listed, a person) answers the zorblax one
    through an app (a workflow run as her)."""
    extra = [
        {"type": "message", "user": "UASK2", "text": FROB_Q, "ts": f"{START + 100:.6f}",
         "thread_ts": f"{START + 100:.6f}"},
        {"type": "message", "user": "UAPP", "bot_id": "BQUUX", "bot_profile": {"id": "BQUUX", "name": "quux-app"},
         "text": "quuxlang frobnicator widget calibration: frobnicate-calibrate! with #:precision 3",
         "ts": f"{START + 160:.6f}", "thread_ts": f"{START + 100:.6f}"},
        {"type": "message", "user": "UASK1", "text": GIPHY_Q, "ts": f"{START + 200:.6f}",
         "thread_ts": f"{START + 200:.6f}"},
        {"type": "message", "user": "UPG", "bot_id": "BFLOW", "username": "workflow",
         "text": "zorblax sprocket on the gantry: loosen the 3mm hex and tune it to 40 Hz",
         "ts": f"{START + 260:.6f}", "thread_ts": f"{START + 200:.6f}"},
    ]
    return write_slack_export(tmp_path / name, USERS, THREADS, extra=extra)


async def test_a_post_with_a_bot_id_is_a_bots_post_as_the_live_bot_reads_it(app, tmp_path):
    """An app's post carries `user` and `bot_id`; the live adapter reads it as a bot's. The import stored it as a
    person's: an uninstalled app's bot user (not in users.json) was suggested first for its topic."""
    report = await app.importer.import_slack(_export_with_app_posts(tmp_path))
    assert report.errors == []
    flags = await _bot_flags(app)
    assert flags["UAPP"] is True  # known only from bot posts: a bot member
    assert flags["UPG"] is False  # a person who posted through an app stays a person
    assert flags["BFLOW"] is True  # her app post is stored under the app's bot
    async with app.db.sessions() as s:
        authors = dict((await s.execute(select(Message.external_id, Member.external_id)
                                        .join(Member, Member.id == Message.author_id))).all())
    assert authors[f"{START + 160:.6f}"] == "UAPP" and authors[f"{START + 260:.6f}"] == "BFLOW"
    frob, zorblax = await _evidence(app, FROB_Q), await _evidence(app, GIPHY_Q)
    assert "UAPP" not in frob and "frobnicat" not in " ".join(w for why in frob.values() for w in why)
    assert "zorblax" not in " ".join(w for why in zorblax.values() for w in why)
    assert (await _top(app, "postgres index ignored by the planner", asker="UASK1"))[0] == "UPG"


async def test_a_reimport_corrects_who_is_a_bot_but_never_makes_a_person_one(app, tmp_path):
    """A member taken for a person by an earlier import (or a live event) that the export shows to be a bot is made
    one, and the other way round; someone not in users.json with messages of their own is not."""
    folder = _export_with_app_posts(tmp_path)
    await app.importer.import_slack(folder)
    await app.core.handle(ev.MessagePosted(community=TEAM, platform="slack", user="UOUT", channel="C0GENERAL",
                                           message_id=f"{START + 9000:.6f}", text="zorblax sprockets need 40 Hz"))
    async with app.db.sessions.begin() as s:  # as an earlier version left them
        await s.execute(update(Member).where(Member.external_id == "UAPP").values(is_bot=False))
        await s.execute(update(Member).where(Member.external_id == "UCSS").values(is_bot=True))
    # The next export shows UOUT (a guest users.json does not list) only posting through an app.
    day = folder / "general" / "2023-11-14.json"
    app_post = {"type": "message", "user": "UOUT", "bot_id": "BFLOW", "text": "standup", "ts": f"{START + 300:.6f}"}
    day.write_text(json.dumps([*json.loads(day.read_text()), app_post]))
    await app.importer.import_slack(folder)
    flags = await _bot_flags(app)
    assert (flags["UAPP"], flags["UCSS"], flags["UOUT"], flags["UPG"]) == (True, False, False, False)
    assert "UAPP" not in await _evidence(app, FROB_Q)


async def test_overlapping_later_export_adds_only_new_messages(app, tmp_path):
    first = write_slack_export(tmp_path / "first", USERS, THREADS[:5])
    report = await app.importer.import_slack(first)
    assert report.added == sum(len(th) for th in THREADS[:5])
    later = write_slack_export(tmp_path / "later", USERS, THREADS)  # same start: the first five overlap
    day = later / "general" / "2023-11-14.json"
    msgs = json.loads(day.read_text())
    answer = next(m for m in msgs if m["user"] == "UPG")
    answer["text"] += " (or rewrite the predicate so it does not cast)"
    answer["edited"] = {"user": "UPG", "ts": f"{START + 5000:.6f}"}
    day.write_text(json.dumps(msgs))

    again = await app.importer.import_slack(later)
    assert again.errors == []
    assert again.added == sum(len(th) for th in THREADS[5:])
    assert again.updated == 1
    assert await _message_count(app) == sum(len(th) for th in THREADS)
    async with app.db.sessions() as s:
        edited = await s.scalar(select(Message).where(Message.external_id == answer["ts"]))
    assert edited.text.endswith("so it does not cast)") and edited.edited_at is not None
    assert (await _top(app, "safari flexbox overflow", asker="UASK1"))[0] == "UCSS"


async def test_team_option_when_users_json_lacks_team_id(app, tmp_path):
    folder = write_slack_export(tmp_path / "export", USERS, THREADS)
    users_json = json.loads((folder / "users.json").read_text())
    for u in users_json:
        del u["team_id"]
    (folder / "users.json").write_text(json.dumps(users_json))

    # Refused before; now imported as a workspace of its own, named after its members, with a note saying so.
    without = await app.importer.import_slack(folder)
    assert without.errors == [] and without.community.startswith("slack:export-")
    assert "no team_id" in without.notes[0] and "--team" in without.notes[0]
    assert await _message_count(app) == sum(len(th) for th in THREADS)
    again = await app.importer.import_slack(folder)
    assert (again.community, again.added) == (without.community, 0)

    # Named with --team, that workspace becomes TFERN0001: nothing is imported twice.
    report = await app.importer.import_slack(folder, team="TFERN0001")
    assert report.errors == [] and report.community == "slack:TFERN0001" and report.added == 0
    assert "is now TFERN0001" in report.notes[0]
    assert await _message_count(app) == sum(len(th) for th in THREADS)
    assert (await _top(app, "kubernetes pods OOMKilled", asker="UASK2", team="TFERN0001"))[0] == "UK8S"


async def test_team_option_naming_another_workspace_than_users_json_says_so(app, tmp_path):
    """--team over the workspace users.json names was silent: a mistyped id filed the history under a workspace the
    live bot never serves, and the manager saw only "imported"."""
    folder = write_slack_export(tmp_path / "export", USERS, THREADS)
    report = await app.importer.import_slack(folder, team="TMISTYPED")
    assert report.errors == [] and report.community == "slack:TMISTYPED"
    said = f"users.json names workspace {TEAM} ({len(USERS)} members): imported as TMISTYPED, as --team says"
    assert any(said in note for note in report.notes), report.notes
    # The workspace users.json names, given or not, is no news.
    assert (await app.importer.import_slack(folder, team=TEAM)).notes == []


def _bare(folder: Path, *, numeric: bool = False) -> Path:
    """The export as a converter from another platform writes it: ids and names only, no team_id, channels known by
    name, messages with only what eval_whoknows.py reads (and, with `numeric`, ids written as JSON numbers)."""
    ids = {u: (900 + i if numeric else u) for i, u in enumerate(USERS)}
    (folder / "users.json").write_text(json.dumps([{"id": ids[u]} for u in USERS]))
    (folder / "channels.json").write_text(json.dumps([{"name": "general"}]))
    keep = ("type", "user", "ts", "text", "thread_ts")
    for day in (folder / "general").glob("*.json"):
        day.write_text(json.dumps([{**{k: m[k] for k in keep if k in m}, "user": ids[m["user"]]}
                                   for m in json.loads(day.read_text())]))
    return folder


async def test_an_export_converted_from_another_platform_is_imported(app, tmp_path):
    """No team_id, channels without ids, nothing but ids in users.json: such an export (another platform's history
    written in Slack's layout, which the shared eval tool reads) was refused, and its channels left out. It is imported
    whole as a workspace of its own; its messages have no Slack links (no channel id to make one)."""
    folder = _bare(write_slack_export(tmp_path / "export", USERS, THREADS))
    report = await app.importer.import_slack(folder)
    assert report.errors == [] and report.added == sum(len(th) for th in THREADS), (report.errors, report.notes)
    assert report.notes == [f"the export names no workspace (no team_id in users.json): imported as "
                            f"{report.community.removeprefix('slack:')}; import it with --team T… (your workspace's "
                            "id) for the live bot to find it"]
    async with app.db.sessions() as s:
        assert (await s.scalars(select(Message.permalink).distinct())).all() == [None]
    team = report.community.removeprefix("slack:")
    assert (await _top(app, "postgres index ignored by the planner", asker="UASK1", team=team))[0] == "UPG"

    numeric = _bare(write_slack_export(tmp_path / "numeric", USERS, THREADS), numeric=True)
    report = await app.importer.import_slack(numeric)
    assert report.errors == [] and report.added == sum(len(th) for th in THREADS) and report.malformed == 0
    team = report.community.removeprefix("slack:")
    assert (await _top(app, "postgres index ignored by the planner", asker="900", team=team))[0] == "902"


async def test_the_workspace_the_messages_name_when_users_json_names_none(app, tmp_path):
    folder = write_slack_export(tmp_path / "export", USERS, THREADS)
    (folder / "users.json").write_text(json.dumps([{"id": u, "name": n} for u, n in USERS.items()]))
    for day in (folder / "general").glob("*.json"):
        day.write_text(json.dumps([{**m, "team": "TFROMMSG1"} for m in json.loads(day.read_text())]))
    report = await app.importer.import_slack(folder)
    assert (report.errors, report.notes, report.community) == ([], [], "slack:TFROMMSG1")
    assert (await _top(app, "postgres index ignored by the planner", asker="UASK1", team="TFROMMSG1"))[0] == "UPG"


async def test_the_workspace_is_the_one_most_members_are_of(app, tmp_path):
    """An export with a shared (Slack Connect) channel lists other organisations' members too: when one of them came
    first in users.json, the whole export was filed under their workspace."""
    folder = write_slack_export(tmp_path / "export", USERS, THREADS)
    users = json.loads((folder / "users.json").read_text())
    users.insert(0, {"id": "UGUEST", "team_id": "TPARTNER", "name": "guest", "real_name": "Guest"})
    (folder / "users.json").write_text(json.dumps(users))
    report = await app.importer.import_slack(folder)
    assert (report.errors, report.community) == ([], f"slack:{TEAM}")


async def test_layouts_other_tools_write_are_imported_whole(app, tmp_path):
    """Exports as other tools and converters write them lost every message without an error (audit 12): a "[" in a
    channel's name (a pattern then), folders named by channel id (slackdump), channels.json as an object, a BOM
    before the JSON, text only in rich-text blocks, and whole-second timestamps that two messages share."""
    total = sum(len(th) for th in THREADS)

    def variant(name: str, change) -> Path:  # noqa: ANN001
        folder = write_slack_export(tmp_path / name, USERS, THREADS, team=f"T{name.upper()}")
        change(folder)
        return folder

    def rename(folder: Path, to: str) -> None:
        (folder / "general").rename(folder / to)
        (folder / "channels.json").write_text(json.dumps([{"id": "C0GENERAL", "name": to}]))

    def by_id(folder: Path) -> None:
        (folder / "general").rename(folder / "C0GENERAL")

    def as_object(folder: Path) -> None:
        (folder / "channels.json").write_text(json.dumps({"C0GENERAL": {"name": "general"}}))

    def bom(folder: Path) -> None:
        for path in [folder / "users.json", folder / "channels.json", *(folder / "general").glob("*.json")]:
            path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())

    def blocks(folder: Path) -> None:
        for day in (folder / "general").glob("*.json"):
            day.write_text(json.dumps([{**m, "text": "", "blocks": [{"type": "rich_text", "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": m["text"]}]}]}]}
                for m in json.loads(day.read_text())]))

    def whole_seconds(folder: Path) -> None:  # every message of a thread in the same second
        for day in (folder / "general").glob("*.json"):
            msgs = json.loads(day.read_text())
            for m in msgs:
                m["ts"] = m.get("thread_ts") or m["ts"]
                m["ts"] = str(int(float(m["ts"])))
                if "thread_ts" in m:
                    m["thread_ts"] = str(int(float(m["thread_ts"])))
            day.write_text(json.dumps(msgs))

    for name, change in (("bracket", lambda f: rename(f, "help[racket]")), ("byid", by_id), ("object", as_object),
                         ("bom", bom), ("blocks", blocks), ("seconds", whole_seconds)):
        report = await app.importer.import_slack(variant(name, change))
        assert (report.errors, report.notes, report.added) == ([], [], total), name
        assert (await _top(app, "postgres index ignored by the planner", asker="UASK1",
                           team=f"T{name.upper()}"))[0] == "UPG", name
    again = await app.importer.import_slack(tmp_path / "seconds")
    assert again.added == 0  # the times it gave are given again


def test_cli_team_option(tmp_path):
    folder = write_slack_export(tmp_path / "export", USERS, THREADS[:2])
    users_json = json.loads((folder / "users.json").read_text())
    for u in users_json:
        del u["team_id"]
    (folder / "users.json").write_text(json.dumps(users_json))
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    unnamed = runner.invoke(cli, ["--db", db, "import", "slack", str(folder)])
    assert unnamed.exit_code == 0 and "no team_id in users.json" in unnamed.stderr
    ok = runner.invoke(cli, ["--db", db, "import", "slack", str(folder), "--team", "TFERN0001"])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith("slack:TFERN0001: ")


async def test_ids_no_database_keeps_lose_their_message_not_the_export(app, tmp_path):
    """PostgreSQL refuses NUL and ids longer than their column, where SQLite took them: such a message (or a
    channel whose name no filesystem takes) is skipped, and the rest is imported on either database."""
    odd = [{"type": "message", "user": "U\x00NUL", "text": "a NUL in the author's id", "ts": "1700000500.000100"},
           {"type": "message", "user": "U" * 300, "text": "an author id of 300 characters", "ts": "1700000600.000100"}]
    folder = write_slack_export(tmp_path / "export", USERS, THREADS[:2], extra=odd)
    channels = json.loads((folder / "channels.json").read_text())
    (folder / "channels.json").write_text(json.dumps(channels + [{"id": "C0LONG", "name": "L" * 3000}]))
    users = json.loads((folder / "users.json").read_text())
    (folder / "users.json").write_text(json.dumps(users + [{"id": "U" * 300, "team_id": TEAM, "name": "long"}]))
    report = await app.importer.import_slack(folder)
    assert report.added == sum(len(t) for t in THREADS[:2]) and report.skipped >= 2
    assert any("channel folder unreadable" in e for e in report.errors)
    async with app.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Message)) == report.added


async def test_the_report_tells_notices_from_messages_without_an_author_and_malformed_ones(app, tmp_path):
    """A join is expected; a message nobody wrote, or one with a broken timestamp, is worth a look: they were
    all one "skipped" figure."""
    extra = [{"type": "message", "subtype": "channel_join", "user": "UPG", "text": "joined", "ts": f"{START + 5:.6f}"},
             {"type": "message", "subtype": "channel_topic", "user": "UPG", "text": "topic", "ts": f"{START + 6:.6f}"},
             {"type": "message", "text": "who wrote this?", "ts": f"{START + 7:.6f}"},
             {"type": "message", "user": "UPG", "text": 5, "ts": f"{START + 8:.6f}"}]
    report = await app.importer.import_slack(write_slack_export(tmp_path / "export", USERS, THREADS, extra=extra))
    assert (report.system_notices, report.no_author, report.malformed, report.not_stored) == (2, 1, 1, 0)
    assert report.skipped == 4
    assert "4 skipped (2 system notices, 1 without an author, 1 malformed)" in report.summary()


async def test_entries_with_no_ts_or_no_message_object_are_counted_malformed(app, tmp_path, caplog):
    """A message without a ts, or a string where a message belongs, vanished uncounted: 6 entries read as
    "4 messages read (… 1 malformed)". Every entry of a day file is read and counted now."""
    folder = write_slack_export(tmp_path / "export", USERS, THREADS[:1])
    day = next((folder / "general").glob("*.json"))
    msgs = json.loads(day.read_text())
    odd = [{"type": "message", "user": "UPG", "text": "a message without a ts"},
           {"type": "message", "user": "UPG", "text": "an empty ts", "ts": ""},
           {"type": "message", "user": "UPG", "text": "a ts that is no ts", "ts": "yesterday"},
           # Still a number, but no id a database keeps: PostgreSQL refused the whole import.
           {"type": "message", "user": "UPG", "text": "a padded ts", "ts": f"{START + 31:.6f}" + "0" * 70},
           "a string where a message belongs", 42, None, ["a", "list"],
           {"type": "file", "user": "UPG", "text": "no message type", "ts": f"{START + 30:.6f}"}]
    day.write_text(json.dumps(msgs + odd))
    report = await app.importer.import_slack(folder)
    assert report.errors == []
    assert (report.messages_seen, report.added, report.malformed) == (len(msgs) + len(odd), len(msgs), len(odd))
    assert f"{len(msgs) + len(odd)} messages read" in report.summary()
    assert f"({len(odd)} malformed)" in report.summary()
    assert [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()] == [
        f"{day}: skipped {len(odd)} malformed message(s) (ts None is not a time; ts '' is not a time; an entry is str, "
        "not a message object; and 4 more kind(s))"]  # a reason of each kind


async def test_a_malformed_entry_warning_names_its_kind_not_what_it_says(app, tmp_path, caplog):
    """The warning quoted up to 40 characters of an entry that is no message object (a member's words, when an
    export tool wrote a message's text where the message belongs) and of an odd ts, user or type: the log keeps ids,
    counts and kinds of error; the words are not stored, so the log was the one place they stayed."""
    folder = write_slack_export(tmp_path / "export", USERS, THREADS[:1])
    day = next((folder / "general").glob("*.json"))
    msgs = json.loads(day.read_text())
    secret = "my vpn password is hunter2"
    odd = [secret, [secret], {"type": "message", "user": "UPG", "text": "x", "ts": secret},
           {"type": secret, "user": "UPG", "text": "x", "ts": f"{START + 31:.6f}"}]
    day.write_text(json.dumps(msgs + odd))
    report = await app.importer.import_slack(folder)
    assert (report.added, report.malformed) == (len(msgs), len(odd))
    [warning] = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert "hunter2" not in warning and "password" not in warning
    assert warning.startswith(f"{day}: skipped {len(odd)} malformed message(s) (an entry is str, not a message object; "
                              "an entry is list, not a message object; ts (str) is not a time; and 1 more kind(s))")


def test_the_report_summary_counts_one_of_a_kind_in_the_singular():
    """"1 files, 1 messages read (1 system notices)": each count reads as English, one or many."""
    from bot.importers.report import ImportReport

    one = ImportReport(community="slack:T1", files=1, files_left_out=1, messages_seen=1, system_notices=1,
                       damaged_files=1)
    assert one.summary() == ("slack:T1: 1 file (1 more private or direct-message file left out), 1 message read, "
                             "0 new, 0 edited, 1 skipped (1 system notice), 0 embedded, 1 damaged file")
    two = ImportReport(community="slack:T1", files=2, files_left_out=2, messages_seen=2, system_notices=2,
                       malformed=2, damaged_files=2)
    assert two.summary() == ("slack:T1: 2 files (2 more private or direct-message files left out), 2 messages "
                             "read, 0 new, 0 edited, 4 skipped (2 system notices, 2 malformed), 0 embedded, "
                             "2 damaged files")


async def test_a_names_only_reimport_shows_the_new_names_at_once(app, tmp_path):
    """A member renamed in users.json, with no message new or edited: who-knows names them by the new name in
    this process right away (the names cache kept the old one, as nothing called for a refit)."""
    folder = write_slack_export(tmp_path / "export", USERS, THREADS)
    await app.importer.import_slack(folder)
    question = "postgres index ignored by the planner"
    found = await app.expertise.rank(await _community_id(app), question, asker="UASK1")
    assert (found[0].user, found[0].name) == ("UPG", USERS["UPG"])
    renamed = write_slack_export(tmp_path / "renamed", {**USERS, "UPG": "Pilar Renamed"}, THREADS)
    report = await app.importer.import_slack(renamed)
    assert (report.added, report.updated) == (0, 0)
    found = await app.expertise.rank(await _community_id(app), question, asker="UASK1")
    assert (found[0].user, found[0].name) == ("UPG", "Pilar Renamed")


async def test_a_failed_fit_keeps_the_import_and_the_next_import_fits(app, tmp_path):
    """Fitting the ranking after the messages are stored can fail (a database error, memory). The import failed
    with it as if nothing were stored, and importing again changed nothing, so it was never fitted."""
    export = write_slack_export(tmp_path / "export", USERS, THREADS)
    fit = app.expertise.fit

    async def failing(cid):  # noqa: ANN001, ANN202
        raise MemoryError("cannot allocate\nwith details")

    app.expertise.fit = failing
    report = await app.importer.import_slack(export)
    assert report.added > 0
    assert report.errors == ["fitting the ranking failed (MemoryError: cannot allocate); the messages are stored, "
                             "and importing again fits it"]
    async with app.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Message)) == report.added
    app.expertise.fit = fit
    again = await app.importer.import_slack(export)
    assert (again.added, again.errors) == (0, [])
    async with app.db.sessions() as s:
        assert "ranking_fitted" in (await s.scalar(select(Community))).settings
    third = await app.importer.import_slack(export)
    assert third.fitted is None  # fitted before, nothing new: not again


async def test_a_later_export_links_to_the_workspace_address_kept_before(app, tmp_path):
    first = write_slack_export(tmp_path / "first", USERS, THREADS[:1])
    await app.importer.import_slack(first, workspace_url="https://acme.slack.com/")
    later = write_slack_export(tmp_path / "later", USERS, THREADS)  # overlaps the first, and goes on
    report = await app.importer.import_slack(later)
    assert report.added > 0
    async with app.db.sessions() as s:
        links = list(await s.scalars(select(Message.permalink)))
    assert len(links) > report.added and all(link.startswith("https://acme.slack.com/archives/") for link in links)


@pytest.mark.parametrize("damage", ["deflate", "truncated"])
async def test_a_damaged_file_inside_a_zip_is_named_and_the_rest_imported(app, tmp_path, damage):
    """Damaged compressed data inside a .zip (zlib.error) or a cut stream (EOFError) ended the import with a
    traceback and nothing stored; a folder export already named the file and imported the rest."""
    folder = write_slack_export(tmp_path / "export", USERS, THREADS, step=86400.0)  # a day file per thread
    days = sorted(p.relative_to(folder).as_posix() for p in (folder / "general").glob("*.json"))
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for path in sorted(folder.rglob("*.json")):
            z.write(path, path.relative_to(folder).as_posix())
    with zipfile.ZipFile(archive) as z:
        info = z.getinfo(days[2])
    data = bytearray(archive.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    if damage == "deflate":
        data[start] = 0xFF  # a deflate block of the reserved type: "invalid block type"
    else:
        data[start + 2 : start + info.compress_size] = b"\x00" * (info.compress_size - 2)  # the stream never ends
    archive.write_bytes(bytes(data))
    report = await app.importer.import_slack(archive)
    assert len(report.errors) == 1 and report.errors[0].startswith(f"{archive}:{days[2]}: cannot read"), report.errors
    assert report.damaged_files == 1
    assert report.added == sum(len(th) for i, th in enumerate(THREADS) if i != 2)


async def test_an_app_post_of_someone_the_community_knows_as_a_person_is_the_apps(app, tmp_path):
    """Someone users.json does not list, seen in an export only in app posts, was taken for a bot while attributing,
    so their app post was stored as their own message, though the community knows them as a person (they posted
    live): the post is the app's (review of a1a9c1c)."""
    folder = _export_with_app_posts(tmp_path)
    await app.importer.import_slack(folder)
    await app.core.handle(ev.MessagePosted(community=TEAM, platform="slack", user="UOUT", channel="C0GENERAL",
                                           message_id=f"{START + 9000:.6f}", text="zorblax sprockets need 40 Hz"))
    day = folder / "general" / "2023-11-14.json"
    app_post = {"type": "message", "user": "UOUT", "bot_id": "BFLOW", "text": "standup", "ts": f"{START + 300:.6f}"}
    day.write_text(json.dumps([*json.loads(day.read_text()), app_post]))
    await app.importer.import_slack(folder)
    assert (await _bot_flags(app))["UOUT"] is False
    async with app.db.sessions() as s:
        author = await s.scalar(select(Member.external_id).join(Message, Message.author_id == Member.id)
                                .where(Message.external_id == f"{START + 300:.6f}"))
    assert author == "BFLOW"


async def test_a_day_file_not_in_utf8_is_imported_and_said_so(app, tmp_path, caplog):
    """Bytes that are not UTF-8 were read as "\ufffd" and nothing said so (user walk-through): the file is imported, and
    a warning names it."""
    folder = write_slack_export(tmp_path / "export", USERS, THREADS[:1])
    day = next((folder / "general").glob("*.json"))
    raw = b"\xef\xbb\xbf" + day.read_bytes()  # with a BOM, as PowerShell writes one
    day.write_bytes(raw.replace(b"postgres", b"postgr\xe9s", 1))
    report = await app.importer.import_slack(folder)
    assert report.errors == [] and report.added == len(THREADS[0])
    warned = [r.getMessage() for r in caplog.records if "UTF-8" in r.getMessage()]
    at = raw.index(b"postgres") + len(b"postgr")  # counted in the file, BOM and all (review of 7d2e227)
    assert warned == [f"{day}: not valid UTF-8 (first at byte {at}): the bytes that are not were read as \ufffd"]


async def test_an_import_leaves_out_the_channels_the_bot_does_not_read(app, tmp_path):
    """An admin's `/settings ingest #random off`, and a channel the live bot knows as private (not turned on), hold for
    imports too: a later export's messages there were stored, and quoted as evidence ("my divorce lawyer…"), where
    the live bot read none of them. A Discord export cannot say a text channel is private: what the bot saw counts."""
    from adapters.console import ConsoleAdapter
    from bot.db.models import Channel
    from tests.test_import_discord import FIRST

    root = write_slack_export(tmp_path / "export", USERS, THREADS)
    channels = json.loads((root / "channels.json").read_text())
    (root / "channels.json").write_text(json.dumps([*channels, {"id": "C0RANDOM", "name": "random"}]))
    (root / "random").mkdir()
    await app.importer.import_slack(root)
    console = ConsoleAdapter(app.core.handle, community=TEAM, platform="slack", admin=True)
    [done] = await console.say("UREG", "/settings ingest #random off")
    assert "no longer read" in done
    (root / "random" / "2023-11-15.json").write_text(json.dumps([
        {"type": "message", "user": "UPG", "text": "my divorce lawyer says postgres vacuum is no defence",
         "ts": f"{START + 7200:.6f}"}]))
    report = await app.importer.import_slack(root)
    assert report.added == 0 and report.not_read == 1 and "in channels not read" in report.summary()
    assert not any("divorce" in line for e in await app.expertise.rank(await _community_id(app), "postgres vacuum")
                   for line in e.why)

    guild, general = "1100000000000000001", "1100000000000000100"
    await app.core.handle(ev.MessagePosted(
        community=guild, platform="discord", user="1100000000000009001", channel=general, channel_name="general",
        message_id="1100000000000199999", text="only the members of this channel read this", is_private=True,
        event_id="private-1"))
    await app.importer.import_discord([FIRST])
    async with app.db.sessions() as s:
        stored = dict((await s.execute(select(Channel.external_id, func.count(Message.id))
                                       .outerjoin(Message, Message.channel_id == Channel.id)
                                       .join(Community, Community.id == Channel.community_id)
                                       .where(Community.platform == "discord").group_by(Channel.id))).all())
    assert stored[general] == 0 and sum(stored.values()) > 0  # the other channels are imported


async def test_direct_messages_are_never_imported(app, tmp_path):
    """--include-private brings private channels, never direct messages (dms.json, mpims.json): a DM between two
    members went into the shared corpus, and its author was suggested to everyone for what they said there ("wrote
    about it in a private channel"), where the live bot never stores a DM."""
    root = write_slack_export(tmp_path / "export", USERS, THREADS)
    (root / "dms.json").write_text(json.dumps([{"id": "D0PRIVATE", "members": ["UPG", "UASK1"]}]))
    (root / "mpims.json").write_text(json.dumps([{"id": "G0GROUPDM", "name": "mpdm-petra--asha--kenji-1",
                                                  "members": ["UPG", "UASK1", "UK8S"]}]))
    (root / "groups.json").write_text(json.dumps([{"id": "G0SECRET", "name": "secret"}]))
    for folder, text in (("D0PRIVATE", "between us, erlang otp supervision trees are my secret joy"),
                         ("mpdm-petra--asha--kenji-1", "erlang otp supervision trees, just among us three"),
                         ("secret", "the private channel asked for: sourdough starters")):
        (root / folder).mkdir()
        (root / folder / "2023-11-14.json").write_text(json.dumps([
            {"type": "message", "user": "UPG", "text": text, "ts": f"{START + 500:.6f}"}]))
    report = await app.importer.import_slack(root, include_private=True)
    assert report.added == 18, report.summary()  # the 17 of #general and the private channel's
    assert any("direct messages not imported (dms.json, mpims.json)" in note for note in report.notes)
    async with app.db.sessions() as s:
        texts = set(await s.scalars(select(Message.text)))
    assert not any("erlang" in text for text in texts) and any("sourdough" in text for text in texts)
    assert not any("private" in line for line in (await _evidence(app, "erlang otp supervision trees", "UASK2"))["UPG"])


async def test_a_channel_named_as_no_folder_is_looked_for_by_its_id_only(app, tmp_path):
    """Found by fuzzing: a channel named "/general" in channels.json raised out of the import (NotImplementedError,
    a traceback), and one named ".." read the JSON files beside the export as its days."""
    folder = write_slack_export(tmp_path / "export", USERS, THREADS[:2])
    (tmp_path / "beside.json").write_text(json.dumps([{"type": "message", "user": "UASK1", "ts": "1600000000.000100",
                                                       "text": "not of this export"}]))
    channels = json.loads((folder / "channels.json").read_text())
    channels += [{"id": "C0ROOTED", "name": "/general"}, {"id": "C0DOTS", "name": ".."}]
    (folder / "channels.json").write_text(json.dumps(channels))
    report = await app.importer.import_slack(folder)
    assert report.errors == [] and report.added == 5
    async with app.db.sessions() as s:
        beside = select(func.count()).select_from(Message).where(Message.text == "not of this export")
        assert await s.scalar(beside) == 0


async def test_an_enterprise_grid_export_reads_its_members_from_org_users_json(app, tmp_path):
    """An Enterprise Grid organisation's export lists its members in org_users.json, not users.json (Slack's "How to
    read Slack data exports"): it was read as an export without a member list, every member shown by their id
    ("the export has no users.json: 6 member(s) are shown by their ids"), its bots taken for people."""
    root = write_slack_export(tmp_path / "grid", USERS, THREADS)
    users = json.loads((root / "users.json").read_text())
    for u in users:
        u["enterprise_user"] = {"id": u["id"], "enterprise_id": "E0ORG", "teams": [TEAM]}
    users[-1]["is_bot"] = True  # Reggie, a bot of the organisation
    (root / "org_users.json").write_text(json.dumps(users))
    (root / "users.json").unlink()
    zipped = _zip(root, tmp_path / "grid.zip", prefix="Org export Dec 2026/")
    report = await app.importer.import_slack(zipped)
    assert (report.errors, report.community) == ([], f"slack:{TEAM}")
    assert not any("shown by their ids" in note for note in report.notes), report.notes
    async with app.db.sessions() as s:
        members = {m.external_id: (m.name, m.is_bot) for m in await s.scalars(select(Member))}
    assert members["UPG"] == ("Petra", False) and members["UREG"] == ("Reggie", True)
    assert "UREG" not in await _top(app, "good lunch place near the office", asker="UASK1")
    with pytest.raises(UserError, match="is a Slack export"):  # given to the other importer, it is pointed here
        await app.importer.import_discord([root])


async def test_a_private_channel_or_dm_listed_in_channels_json_is_read_as_it_is_marked(app, tmp_path):
    """slackdump, which exports what one member can see, lists a private channel in channels.json marked
    `"is_private": true`, as the API gives it (a converter may list a DM there, `is_im`). They were imported as public
    channels, without --include-private: a private channel's talk went into everyone's suggestions and evidence."""
    root = write_slack_export(tmp_path / "export", USERS, THREADS)
    channels = json.loads((root / "channels.json").read_text())
    channels += [{"id": "C0HIDDEN", "name": "hiring", "is_private": True, "is_channel": True},
                 {"id": "D0PETRA", "name": "D0PETRA", "is_im": True, "user": "UPG"}]
    (root / "channels.json").write_text(json.dumps(channels))
    for folder, text in (("hiring", "between us: the sourdough bakery candidate"),
                         ("D0PETRA", "erlang otp supervision trees are my secret joy")):
        (root / folder).mkdir()
        (root / folder / "2023-11-14.json").write_text(json.dumps([
            {"type": "message", "user": "UPG", "text": text, "ts": f"{START + 500:.6f}"}]))
    report = await app.importer.import_slack(root)
    assert report.added == 17, report.summary()  # #general's only
    assert any("private conversations not imported (1 marked private in channels.json)" in n for n in report.notes)
    assert any("direct messages not imported (1 listed in channels.json)" in n for n in report.notes)
    assert not any("folder(s) of messages not imported" in n for n in report.notes), report.notes
    # Asked for, the private channel comes in as private; the DM never does.
    report = await app.importer.import_slack(root, include_private=True)
    assert report.added == 1, report.summary()
    async with app.db.sessions() as s:
        texts = set(await s.scalars(select(Message.text)))
        private = await s.scalar(select(Channel.is_private).where(Channel.external_id == "C0HIDDEN"))
    assert private is True
    assert any("sourdough" in t for t in texts) and not any("erlang" in t for t in texts)


async def test_a_zip_cut_short_is_said_to_be_incomplete_not_to_be_no_zip(app, tmp_path):
    """An export's .zip whose download stopped half way lacks its end, where the archive lists its files: it was
    "not a folder and not a .zip archive", as if the admin had given the wrong file."""
    whole = _zip(write_slack_export(tmp_path / "export", USERS, THREADS), tmp_path / "export.zip")
    cut = tmp_path / "cut.zip"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(UserError, match=r"cut.zip: a .zip archive that cannot be read \(.*\): incomplete or damaged"):
        await app.importer.import_slack(cut)
    with pytest.raises(UserError, match="incomplete or damaged"):
        await app.importer.import_discord([cut])
    (tmp_path / "notes.zip").write_text("not an archive at all")
    with pytest.raises(UserError, match="not a folder and not a .zip archive"):
        await app.importer.import_slack(tmp_path / "notes.zip")
