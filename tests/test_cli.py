"""The CLI contract, end to end in subprocesses, as users and outside tools call it."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import SAMPLE

CLI = [sys.executable, "-m", "bot.cli"]


def run(*args: str, stdin: str | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], input=stdin, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'sample.db'}"
    out = run("--db", url, "import", "slack", str(SAMPLE))
    assert out.returncode == 0, out.stderr
    assert "new" in out.stdout
    return url


def test_demo_tour_answers_with_ranked_members_and_evidence(tmp_path):
    out = subprocess.run([*CLI, "demo", "--no-input"], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "TMPDIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-3000:]
    assert not list(tmp_path.glob("connective-demo-*"))  # its database went with it
    tour = json.loads((SAMPLE.parent / "tour.json").read_text())
    answers = out.stdout.split(f"{tour['as']}> ")
    # Three who-knows questions, each answered with its expected expert first, with evidence.
    for expected, block in zip(("Mariusz", "Mateus", "Hemi"), answers[1:4], strict=True):
        first = next(line for line in block.splitlines() if line.startswith("1. "))
        assert expected in first, block
        assert "https://slack.com/archives/" in block  # permalinks to what they answered
        # The tour asks as the sample's Sam (U0M5EZNMJG2), who is never suggested to themselves: it asked as a
        # "Sam Taylor" no member is named (Sam's name is their display name), a stranger beside Sam, and Sam was
        # suggested to them.
        assert "U0M5EZNMJG2" not in block, block
    assert re.search(r"• 1[0-9] message\(s\) stored", answers[5]), answers[5]  # /me: Sam's own messages
    assert "Traceback" not in out.stderr


def test_import_is_idempotent(sample_db):
    out = run("--db", sample_db, "import", "slack", str(SAMPLE))
    assert out.returncode == 0, out.stderr
    assert " 0 new" in out.stdout


def test_ask_text_and_json_lines(sample_db):
    out = run("--db", sample_db, "ask", "--top", "3", "who can help with kubernetes OOMKilled pods")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1].startswith("1. ")
    # Piped output is wrapped at 80 columns, but a permalink stays on one line so it can be opened.
    links = [line.strip() for line in out.stdout.splitlines() if "slack.com/archives/" in line]
    # Evidence wrapped under its own indent: every line is the heading, an expert, or indented under one.
    assert all(re.match(r"Who knows|\d+\. |   ", line) for line in out.stdout.splitlines()), out.stdout
    whole = r"https://slack\.com/archives/(C\w+)/p\d{16}(\?thread_ts=\d+\.\d+&cid=\1)?"
    assert links and all(re.fullmatch(whole, x) for x in links), links

    lines = [
        {"id": "q1", "text": "Postgres ignores my index and does a sequential scan", "asker": "U0NOBODY"},
        "this is not json",
        {"id": "q2", "text": "PyO3 and maturin for Rust extensions"},
    ]
    stdin = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n"
    out = run("--db", sample_db, "ask", "--json", "--top", "4", stdin=stdin)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["q1", None, "q2"]
    assert "error" in rows[1]
    for r in (rows[0], rows[2]):
        assert 1 <= len(r["experts"]) <= 4
        e = r["experts"][0]
        assert set(e) == {"user", "name", "score", "why"} and e["user"].startswith("U") and e["why"]
    # A line may say when it was asked (epoch seconds, a Slack ts or ISO 8601); a time that is none of these is
    # that line's error, and the next line is still answered.
    stdin = "\n".join(json.dumps({"id": f"t{i}", "text": "Postgres ignores my index", "ts": ts})
                      for i, ts in enumerate(["1800000000.574700", "2027-01-15T09:22:03+01:00", "tuesday", 1800000000]))
    out = run("--db", sample_db, "ask", "--json", stdin=stdin + "\n")
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["t0", "t1", "t2", "t3"]
    assert "tuesday" in rows[2]["error"] and rows[2]["experts"] == []
    assert all(r["experts"] and "error" not in r for r in (rows[0], rows[1], rows[3]))
    # The asker is never among the experts.
    mariusz = rows[0]["experts"][0]["user"]
    out = run("--db", sample_db, "ask", "--json", stdin=json.dumps(
        {"id": "q3", "text": "Postgres ignores my index", "asker": mariusz}) + "\n")
    assert mariusz not in [e["user"] for e in json.loads(out.stdout)["experts"]]


def test_eval_takes_an_export_that_names_no_workspace(tmp_path):
    """An export whose users.json has no team_id (an old one, or one converted from another platform's history)
    was refused; it is evaluated as it is, and with --team too."""
    export = tmp_path / "export"
    shutil.copytree(SAMPLE, export)
    users = json.loads((export / "users.json").read_text())
    (export / "users.json").write_text(json.dumps([{k: v for k, v in u.items() if k != "team_id"} for u in users]))
    for args in ((), ("--team", "T0SAMPLE01")):
        out = run("eval", str(export), "--json", *args)
        assert out.returncode == 0, out.stderr[-3000:]
        assert json.loads(out.stdout.splitlines()[-1])["questions"] > 0


def test_ask_knows_the_asker_by_name(sample_db):
    question = "How do I debug pods that keep getting OOMKilled in Kubernetes?"
    out = run("--db", sample_db, "ask", "--json", "--top", "3", question)
    expert = json.loads(out.stdout)["experts"][0]
    for asker in (expert["user"], expert["name"], f"@{expert['name'].lower()}"):
        out = run("--db", sample_db, "ask", "--json", "--top", "3", "--asker", asker, question)
        assert expert["user"] not in [e["user"] for e in json.loads(out.stdout)["experts"]], asker
    lines = [{"id": "named", "text": question, "asker": expert["name"]},
             {"id": "new", "text": question, "asker": "U0NEW"}]
    out = run("--db", sample_db, "ask", "--json", stdin="\n".join(json.dumps(x) for x in lines) + "\n")
    named, new = (json.loads(line) for line in out.stdout.splitlines())
    assert expert["user"] not in [e["user"] for e in named["experts"]]
    assert new["experts"][0]["user"] == expert["user"]  # an id nobody here has: a newcomer asking


def test_ask_knows_the_asker_by_a_name_typed_with_combining_accents(sample_db):
    """"Tomás" typed as "a" and a combining accent (as a Mac or a paste may give it) was "no member named 'Tomás': did
    you mean Tomás?", though Slack stores the one letter "á"."""
    import unicodedata

    question = "who knows python packaging with pyproject.toml"
    out = run("--db", sample_db, "ask", "--json", "--top", "5", question)
    assert "U03E84W6LRN" in [e["user"] for e in json.loads(out.stdout)["experts"]], out.stdout
    for typed in (unicodedata.normalize("NFD", "Tomás"), unicodedata.normalize("NFD", "TOMÁS")):
        assert typed not in ("Tomás", "TOMÁS")
        out = run("--db", sample_db, "ask", "--json", "--top", "5", "--asker", typed, question)
        assert out.returncode == 0, out.stderr
        assert "U03E84W6LRN" not in [e["user"] for e in json.loads(out.stdout)["experts"]]


def test_eval_reads_one_discord_export_file():
    one = next((Path(__file__).parent / "fixtures" / "discord_export" / "first").glob("*general*.json"))
    out = run("eval", str(one))
    assert "too little history" in out.stderr and "not a folder" not in out.stderr, out.stderr[-2000:]


def test_eval_prints_both_protocols():
    """`connective eval` on an export, replayed on the frozen history and followed live (as the bot runs)."""
    out = run("eval", str(SAMPLE))
    assert out.returncode == 0, out.stderr[-3000:]
    systems = [line.split()[0] for line in out.stdout.splitlines()[2:7]]
    assert systems == ["connective", "connective+time", "most-active", "top-answerers", "answers-at-hour"]
    verdict = next(line for line in out.stdout.splitlines() if line.startswith("connective: MRR"))
    assert re.search(r"= \d+\.\d\dx the best baseline \((most-active|top-answerers|answers-at-hour|bm25-doc|"
                     r"dense-doc) \d\.\d{3}\)", verdict), verdict
    assert "long tail: the questions answered by someone outside the five top answerers" in out.stdout
    legend = next(line for line in out.stdout.splitlines() if line.startswith("The baselines rank members: "))
    assert all(f"{name}, by" in legend for name in systems[2:]) and "bm25-doc and dense-doc, by" in legend
    out = run("eval", str(SAMPLE), "--live", "--json")
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["protocol"] == "live" and result["followed_messages"] > 0
    assert set(result["systems"]) == {"connective", "most-active", "top-answerers", "answers-at-hour", "bm25-doc",
                                      "dense-doc"}


def test_user_mistakes_get_one_line_errors(tmp_path):
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    for args in (["--db", empty, "ask", "anything"], ["--db", empty, "import", "slack", str(tmp_path / "nope")],
                 ["--db", empty, "ask"]):
        out = run(*args)
        assert out.returncode != 0
        assert "Traceback" not in out.stderr and out.stderr.startswith("error: "), out.stderr
    # A server that does not listen is said to be one, without its password ("… or file: [Errno 111] …" before).
    # `db upgrade`, the first command of deploy/README.md's, still said "… or file: [Errno 111] …".
    for args in (["ask", "anything"], ["db", "upgrade"]):
        out = run("--db", "postgresql://u:hidden@127.0.0.1:1/none", *args)
        assert (out.returncode, out.stderr) == (1, "error: database (--db / CONNECTIVE_DATABASE_URL) not reachable: "
                                                   "[Errno 111] Connect call failed ('127.0.0.1', 1)\n"), out.stderr
    out = run("frobnicate")
    assert out.returncode == 2 and out.stderr.startswith("error: no command 'frobnicate'")
    assert "Usage" in out.stdout and "whoknows" not in out.stderr and "import" in out.stdout


def test_an_in_memory_database_is_refused_by_every_command_that_opens_one(tmp_path):
    """`--db sqlite:// import slack PATH` said it stored the export's messages, into a database gone at exit: the
    manager lost the work without a word, and `ask` then said "import first". Refused now, in one line, before any
    work; `config check` names it as a problem of the settings."""
    said = ("error: database URL (--db / CONNECTIVE_DATABASE_URL) {url} is an in-memory SQLite database: it starts "
            "empty and is gone when the command ends (an import into it would be lost); name a file, e.g. "
            f"sqlite:///{tmp_path}/connective.db\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    for url, args in (("sqlite://", ["import", "slack", str(SAMPLE)]), ("sqlite:///:memory:", ["ask", "postgres"]),
                      ("sqlite://", ["db", "upgrade"]), ("sqlite:///:memory:", ["forget", "U1"])):
        out = subprocess.run([*CLI, "--db", url, *args], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                             env=env)
        assert (out.returncode, out.stdout, out.stderr) == (2, "", said.format(url=url)), (args, out.stderr)
    out = subprocess.run([*CLI, "--db", "sqlite://", "config", "check"], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path, env=env)
    assert out.returncode == 1 and "problem: database URL (--db / CONNECTIVE_DATABASE_URL) sqlite:// is an in-memory" \
        in out.stderr, out.stderr


def test_a_database_given_as_a_path_is_told_how_to_name_it(tmp_path):
    """`--db connective.db` (a file, as other tools take it) said only "is not a URL: 'connective.db'"."""
    out = subprocess.run([*CLI, "--db", "connective.db", "ask", "x"], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert (out.returncode, out.stderr) == (2, "error: database URL (--db / CONNECTIVE_DATABASE_URL) is not a URL: "
                                               f"'connective.db'; a SQLite file is named sqlite:///{tmp_path}/"
                                               "connective.db\n"), out.stderr
    assert not (tmp_path / "connective.db").exists()


def test_damaged_export_file_is_named_and_the_rest_imported(tmp_path):
    import shutil

    export = tmp_path / "export"
    shutil.copytree(SAMPLE, export)
    day = sorted((export / "general").glob("*.json"))[0]
    day.write_text("[{ this is broken")
    url = f"sqlite:///{tmp_path / 'x.db'}"
    out = run("--db", url, "import", "slack", str(export))
    assert out.returncode == 1
    assert f"general/{day.name}" in out.stderr
    assert "new" in out.stdout and " 0 new" not in out.stdout
    assert "Traceback" not in out.stderr


DISCORD_FIRST = Path(__file__).parent / "fixtures" / "discord_export" / "first"


def test_bad_input_to_eval_and_import_is_one_line_per_fact(tmp_path):
    """An empty folder printed "no messages to evaluate", "no .json files found" and "no server channel found";
    a damaged file was logged and then said again as an error (the same fact twice, `import discord` too). Each
    fact is one line now, said once, naming the file."""
    (tmp_path / "empty").mkdir()
    out = run("eval", str(tmp_path / "empty"))
    assert (out.returncode, out.stderr) == (
        2, f"error: {tmp_path / 'empty'}: no .json files found; no messages to evaluate\n")
    for name, content in (("damaged.json", '{"guild": {"id": "1"}, "chan'), ("binary.json", "\x00\xff\x10" * 50),
                          ("emptyfile.json", "\n")):
        (tmp_path / name).write_text(content)
        out = run("eval", str(tmp_path / name))
        assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
        assert out.stderr.startswith(f"error: {tmp_path / name}: not valid JSON (line "), out.stderr
        assert out.stderr.endswith("; no messages to evaluate\n"), out.stderr
    # import discord of an empty folder is an error too, as import slack's is (it exited 0 with a note), and exits 2 as
    # import slack's and eval's do: a path to correct (it exited 1, as an import that read the rest of an export). So
    # does a JSON file of another tool.
    out = run("--db", f"sqlite:///{tmp_path / 'e.db'}", "import", "discord", str(tmp_path / "empty"))
    assert (out.returncode, out.stderr, out.stdout) == (2, f"error: {tmp_path / 'empty'}: no .json files found\n", "")
    (tmp_path / "other.json").write_text('{"a": 1}')
    out = run("--db", f"sqlite:///{tmp_path / 'e.db'}", "import", "discord", str(tmp_path / "other.json"))
    assert (out.returncode, out.stderr) == (
        2, f"error: {tmp_path / 'other.json'}: skipped, not a DiscordChatExporter JSON export\n")
    out = run("--db", f"sqlite:///{tmp_path / 'e.db'}", "import", "slack", str(tmp_path / "empty"))
    assert out.returncode == 2 and "not a Slack export" in out.stderr, out.stderr

    # A partly damaged export: the damaged file is named once, the rest is imported, the report counts it.
    folder = tmp_path / "export"
    shutil.copytree(DISCORD_FIRST, folder)
    (folder / "broken.json").write_text('{"guild": {"id": "1"}, "channel": ')
    out = run("--db", f"sqlite:///{tmp_path / 'x.db'}", "import", "discord", str(folder))
    assert out.returncode == 1
    assert [line for line in out.stderr.splitlines() if not line.startswith("note: ")] == [
        f"error: {folder / 'broken.json'}: not valid JSON (line 1, column 35)"]
    assert "19 new" in out.stdout and out.stdout.rstrip().endswith(", 1 damaged file")


def _slack_export(root: Path) -> Path:
    from tests.exports import USERS, write_slack_export

    return write_slack_export(root, USERS, [[("UPG", "why does postgres ignore my index?"),
                                             ("UK8S", "run ANALYZE, the planner statistics are stale")]])


def test_a_slack_export_missing_or_damaging_users_or_channels_json_says_so_once(tmp_path):
    """A folder without users.json was told "users.json: no team_id found" (the file is missing); a damaged
    users.json was "not valid JSON" and then "no team_id"; a damaged channels.json was never mentioned. The rest of
    the export is imported without users.json, --team or not: its messages name their authors."""
    db = f"sqlite:///{tmp_path / 'x.db'}"
    missing = _slack_export(tmp_path / "missing")
    (missing / "users.json").unlink()
    out = run("--db", f"sqlite:///{tmp_path / 'y.db'}", "import", "slack", str(missing))
    # Nor did anything say that members would be shown by their ids (user walk-through).
    unnamed = "note: the export has no users.json: 2 member(s) are shown by their ids until an export with it, or " \
              "the live bot, names them\n"
    assert out.returncode == 0 and out.stderr.startswith("note: the export names no workspace (it has no users.json)")
    assert out.stderr.endswith(unnamed), out.stderr
    assert out.stdout.startswith("slack:export-") and ": 2 files, 2 messages read, 2 new" in out.stdout
    out = run("--db", db, "import", "slack", str(missing), "--team", "T0MISSING")
    assert (out.returncode, out.stderr) == (0, unnamed)
    assert out.stdout.startswith("slack:T0MISSING: 2 files, 2 messages read, 2 new")

    damaged = _slack_export(tmp_path / "damaged")
    (damaged / "users.json").write_text('[{"id": "U1"')
    out = run("--db", db, "import", "slack", str(damaged))
    assert out.returncode == 1 and out.stderr.count("error:") == 1, out.stderr
    assert out.stderr.startswith(f"error: {damaged / 'users.json'}: not valid JSON (line 1, column 13)\n")
    # Its two members are T0MISSING's, imported just before: the workspace holding them is theirs.
    assert out.stdout.startswith("slack:T0MISSING: 2 files, 2 messages read, 0 new")
    assert out.stdout.rstrip().endswith(", 1 damaged file")
    out = run("--db", db, "import", "slack", str(damaged), "--team", "T0DAMAGED")
    assert (out.returncode, out.stderr) == (1, f"error: {damaged / 'users.json'}: not valid JSON (line 1, column 13)\n"
                                               "note: the export's users.json could not be read: 2 member(s) are shown "
                                               "by their ids until an export with it, or the live bot, names them\n")
    assert out.stdout.startswith("slack:T0DAMAGED: 2 files, 2 messages read, 2 new")
    # Named by an export with users.json, they keep their names through one without it (review of 0e57bdf).
    out = run("--db", db, "import", "slack", str(_slack_export(tmp_path / "named")), "--team", "T0DAMAGED")
    out = run("--db", db, "import", "slack", str(missing), "--team", "T0DAMAGED")
    out = run("--db", db, "ask", "--community", "T0DAMAGED", "--json", "postgres index planner")
    assert {e["name"] for e in json.loads(out.stdout)["experts"]} >= {"Petra"}, out.stdout

    channels = _slack_export(tmp_path / "channels")
    (channels / "channels.json").write_text("{oops")
    out = run("--db", db, "import", "slack", str(channels))
    assert out.returncode == 1
    damaged_channels = f"error: {channels / 'channels.json'}: not valid JSON (line 1, column 2); "
    assert out.stderr.startswith(damaged_channels), out.stderr
    # The folders it would have named are named, not left without a word in the summary (audit 10); so is a folder
    # that no channel list names.
    assert out.stderr.count("\n") == 2 and out.stdout.rstrip().endswith(", 1 damaged file")
    assert "note: 1 folder(s) of messages not imported, as no channel list names them: general" in out.stderr
    (channels / "channels.json").write_text('[{"id": "C0GENERAL", "name": "general"}]')
    (channels / "orphan").mkdir()
    (channels / "orphan" / "2023-11-14.json").write_text("[]")
    out = run("--db", db, "import", "slack", str(channels))
    assert out.returncode == 0 and out.stderr == (
        "note: 1 folder(s) of messages not imported, as no channel list names them: orphan\n"), out.stderr


def test_an_export_with_nothing_readable_files_no_community(tmp_path):
    """A users.json cut short beside no channel list was "imported as export-…": an empty community stayed, and once
    the whole export was imported, ask, digest and pairs all said "several communities here: choose one"."""
    db = f"sqlite:///{tmp_path / 'x.db'}"
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "users.json").write_text('[{"id": "U1", "name": "ann"')
    out = run("--db", db, "import", "slack", str(tmp_path / "half"))
    assert (out.returncode, out.stderr) == (1, f"error: {tmp_path / 'half' / 'users.json'}: not valid JSON (line 1, "
                                               "column 28)\n"), out.stderr
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "users.json").write_text("[]")
    (tmp_path / "empty" / "channels.json").write_text("[]")
    out = run("--db", db, "import", "slack", str(tmp_path / "empty"))
    assert (out.returncode, out.stderr) == (1, f"error: {tmp_path / 'empty'}: nothing to import (the export lists no "
                                               "member and no channel)\n"), out.stderr
    assert run("--db", db, "import", "slack", str(_slack_export(tmp_path / "whole"))).returncode == 0
    out = run("--db", db, "ask", "--json", "postgres index planner")
    assert out.returncode == 0 and json.loads(out.stdout)["experts"], out.stderr


def test_chat_on_an_empty_database_starts_a_console_community(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    out = run("--db", url, "chat", "--as", "alice", stdin="who knows rust?\n/help\n")
    assert out.returncode == 0, out.stderr
    assert "couldn't find anyone" in out.stdout and "/whoknows" in out.stdout


def _ask_lines(db: str, lines: list[str], *, logged: str | None = None, top: int = 2) -> list[dict]:
    """`ask --json` on these lines (lone surrogates written as they are, to stand for bytes that are not UTF-8)."""
    out = subprocess.run([*CLI, "--db", db, "ask", "--json", "--top", str(top)], capture_output=True, timeout=600,
                         input="\n".join(lines).encode("utf-8", "surrogateescape") + b"\n")
    stderr = out.stderr.decode()
    assert out.returncode == 0, stderr[-3000:]
    assert (logged in stderr) if logged else "Traceback" not in stderr, stderr[-3000:]
    return [json.loads(line) for line in out.stdout.decode("utf-8").splitlines()]


def test_ask_lines_bad_fields_are_errors_of_their_line_with_its_id(sample_db):
    """Each unusable line gets exactly one error line naming it by its id, and the lines after it are answered."""
    bad = {
        "early": {"text": "k8s", "ts": "0001-01-01T00:00:00"},  # before the epoch: ranking cannot go back from it
        "offset": {"text": "k8s", "ts": "0001-01-01T00:00:00+05:00"},
        "late": {"text": "k8s", "ts": "9999-12-31T23:00:00"},
        "community-list": {"text": "k8s", "community": ["x"]},
        "community-dict": {"text": "k8s", "community": {"a": 1}},
        "asker-list": {"text": "k8s", "asker": ["UB"]},
        "asker-dict": {"text": "k8s", "asker": {"a": 1}},
        "asker-nul": {"text": "k8s", "asker": "a\u0000b"},  # PostgreSQL: "internal error (DBAPIError)"
        "asker-surrogate": {"text": "k8s", "asker": "\udc00x"},
        "no-text": {},
        "null-text": {"text": None},
    }
    lines = []
    for key, row in bad.items():
        lines += [json.dumps({"id": key, **row}), json.dumps({"id": f"{key}-next", "text": "Postgres index"})]
    rows = _ask_lines(sample_db, lines)
    assert [r["id"] for r in rows] == [x for key in bad for x in (key, f"{key}-next")]
    for r in rows:
        if r["id"].endswith("-next"):
            assert r["experts"] and "error" not in r, r
        else:
            assert r["experts"] == [] and r["error"].startswith("line "), r


def test_ask_in_a_channel(sample_db):
    """A question asked in #devops-k8s brings in who talks there, named by the channel's id or name, on one question
    or a JSON line; a channel id nothing is stored from (a DM) changes nothing, and a name no channel has is an
    error of its own line naming channels there are."""
    question = "what's the best way to test this?"
    lines = [{"id": key, "text": question, **({"channel": where} if where else {})}
             for key, where in (("anywhere", None), ("id", "C0QCZ9AU7MB"), ("name", "devops-K8S"),
                                ("dm", "D0NOTSTORED"), ("typo", "#devops-k9s"), ("after", None))]
    rows = {r["id"]: r for r in _ask_lines(sample_db, [json.dumps(x) for x in lines], top=3)}
    top3 = {key: [e["user"] for e in r["experts"]] for key, r in rows.items()}
    assert top3["id"] == top3["name"] != top3["anywhere"] == top3["dm"] == top3["after"]
    assert rows["typo"]["experts"] == [] and "'#devops-k9s' names no channel" in rows["typo"]["error"]
    assert "#devops-k8s" in rows["typo"]["error"]
    out = run("--db", sample_db, "ask", "--json", "--top", "3", "--channel", "#devops-k8s", question)
    assert out.returncode == 0, out.stderr
    assert [e["user"] for e in json.loads(out.stdout)["experts"]] == top3["id"]
    out = run("--db", sample_db, "ask", "--json", "--channel", "#devops-k8s", stdin="")
    assert out.returncode != 0 and 'give each JSON line its own "channel"' in out.stderr
    out = run("--db", sample_db, "ask", "--channel", "dev\x01ops", question)  # PostgreSQL refuses such a query
    assert out.returncode != 0 and "is neither a channel's id nor a name" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_ask_in_a_channel_several_share_the_name_of(tmp_path):
    """Discord lets two channels (in two categories) share a name: the name is refused, listing their ids, rather than
    one of them taken."""
    db = f"sqlite:///{tmp_path / 'two.db'}"
    export = next((Path(__file__).parent / "fixtures" / "discord_export" / "first").glob("*Text Channels - general*"))
    twin = json.loads(export.read_text())
    twin["channel"] = {**twin["channel"], "id": "990000000000000001", "category": "Other"}
    for m in twin["messages"]:
        m["id"] = str(int(m["id"]) + 1)
    (tmp_path / "twin.json").write_text(json.dumps(twin))
    assert run("--db", db, "import", "discord", str(export), str(tmp_path / "twin.json")).returncode == 0
    name = twin["channel"]["name"]
    out = run("--db", db, "ask", "--channel", f"#{name}", "how do I deploy this?")
    assert out.returncode != 0 and "names 2 channels" in out.stderr and "990000000000000001" in out.stderr
    out = run("--db", db, "ask", "--channel", "990000000000000001", "how do I deploy this?")
    assert out.returncode == 0, out.stderr


def test_ask_with_an_asker_no_platform_gives_is_one_clear_line(sample_db):
    """A byte that is no text (`--asker $'\\xff'`) was an uncaught traceback on SQLite, and blamed on the database on
    PostgreSQL."""
    out = run("--db", sample_db, "ask", "--asker", "\udcff", "Postgres index")
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "is neither a member's id nor a name" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_ask_lines_take_a_bom_and_echo_any_id(sample_db):
    """A BOM before the first line (Windows tools write one) is not an error; an id with a lone surrogate is echoed
    as the same JSON string rather than crashing the output."""
    rows = _ask_lines(sample_db, ["\ufeff" + json.dumps({"id": "bom", "text": "Postgres index"}),
                                  '{"id": "\\udc00", "text": "Postgres index"}',
                                  json.dumps({"id": "after", "text": "Postgres index"})])
    assert [r["id"] for r in rows] == ["bom", "\udc00", "after"]
    assert all(r["experts"] and "error" not in r for r in rows), rows


def test_ask_lines_that_are_not_json_say_why_in_a_few_words(sample_db):
    """The parser's own words named a control character for a line cut short, and JSON nested too deep for it was an
    "internal error" with a traceback (audit 15)."""
    rows = _ask_lines(sample_db, ["[" * 100_000, b"{\"id\": \"bytes\xff\"}".decode("utf-8", "surrogateescape"),
                                  '{"id": "cut", "text": "Postgres ind', "not json", '{"id": 1,}',
                                  json.dumps({"id": "after", "text": "Postgres index"})])
    assert [r.get("error") for r in rows[:5]] == [
        "line 1: not valid JSON (nested too deeply)",
        "line 2: not UTF-8 (byte 0xff at column 14)",
        "line 3: not valid JSON (cut short, at column 36)",
        "line 4: not valid JSON (Expecting value, at column 1)",
        "line 5: not valid JSON (Expecting property name enclosed in double quotes, at column 10)"]
    assert rows[5]["id"] == "after" and rows[5]["experts"]


async def test_ask_lines_an_unexpected_failure_costs_only_its_line(app, tmp_path, monkeypatch, capsys, caplog):
    """Whatever goes wrong on one line is that line's error, logged with its traceback; the lines after it are
    answered."""
    import io

    from bot.cli import _ask_lines as ask_lines
    from tests.exports import THREADS, USERS, write_slack_export

    await app.importer.import_slack(write_slack_export(tmp_path / "export", USERS, THREADS))
    rank = app.expertise.rank

    async def failing(community_id, text, **options):  # noqa: ANN001, ANN003, ANN202
        if text == "boom":
            raise RuntimeError("boom")
        return await rank(community_id, text, **options)

    monkeypatch.setattr(app.expertise, "rank", failing)
    lines = [json.dumps({"id": "boom", "text": "boom"}), json.dumps({"id": "after", "text": "postgres index"})]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("\n".join(lines).encode() + b"\n")))
    await ask_lines(app, 2, None)
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0] == {"id": "boom", "experts": [], "error": "line 1: internal error (RuntimeError)"}
    assert rows[1]["id"] == "after" and rows[1]["experts"]
    assert "ask: line 1 could not be answered" in caplog.text


def test_ask_prints_the_question_as_typed_not_as_markup(sample_db):
    out = run("--db", sample_db, "ask", "[red]kubernetes[/red] OOMKilled pods: what does [/x] mean?")
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr[-3000:]
    assert out.stdout.startswith("Who knows “[red]kubernetes[/red] OOMKilled pods: what does [/x] mean?”")


def test_ask_prints_names_evidence_and_links_as_stored(capsys):
    """A display name such as "Bob [/x]" once broke every ask in its community."""
    from types import SimpleNamespace

    from bot.cli import _print_experts

    expert = SimpleNamespace(name="Bob [/x] [bold]the builder", user="U1[/b]", score=0.5,
                             why=["“set [red]limits[/red] :smile:” (#ops, 2020-09-13)"],
                             permalinks=["https://example.com/[/x]"], topical=True)
    _print_experts("k8s", [expert])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:] == ["1. Bob [/x] [bold]the builder (U1[/b])  score 0.50",
                         "   - “set [red]limits[/red] :smile:” (#ops, 2020-09-13)",
                         "     https://example.com/[/x]"]
    _print_experts("[/x]", [])
    assert capsys.readouterr().out == "Nobody has talked about “[/x]” yet.\n"


def test_ask_shows_a_score_too_small_to_print_as_below_a_hundredth(capsys):
    """A fifth suggestion's chance of being first to answer read "score 0.00", as if they could not help."""
    from types import SimpleNamespace

    from bot.cli import _print_experts

    experts = [SimpleNamespace(name=name, user=user, score=score, why=[], permalinks=[], topical=True)
               for name, user, score in (("Ann", "UA", 0.93), ("Bob", "UB", 0.012), ("Cy", "UC", 0.0004))]
    _print_experts("k8s", experts)
    assert capsys.readouterr().out.splitlines()[1:] == ["1. Ann (UA)  score 0.93", "2. Bob (UB)  score 0.01",
                                                        "3. Cy (UC)  score <0.01"]


def test_ask_says_when_nothing_said_bears_on_the_question(capsys):
    """Members suggested only for answering much here were listed under "Who knows “sourdough”?"."""
    from types import SimpleNamespace

    from bot.cli import _print_experts

    regular = SimpleNamespace(name="Ann", user="UA", score=0.1, why=["answers often here (390 replies to others' "
                                                                     "threads)"], permalinks=[None], topical=False)
    _print_experts("sourdough", [regular])
    header, _, rest = capsys.readouterr().out.partition("\n1. ")
    assert " ".join(header.split()) == ("Nobody here has talked about “sourdough” yet. These members answer the most "
                                        "questions here, and may know who does:")
    assert rest.startswith("Ann (UA)")


def test_ask_echoes_a_question_unable_to_ping(capsys):
    """<!channel> was dropped from the echoed question, while "@everyone" typed as text stayed as it was."""
    from bot.cli import _print_experts

    _print_experts("<!channel> @everyone who knows k8s?", [])
    assert capsys.readouterr().out == "Nobody has talked about “@\u200beveryone who knows k8s?” yet.\n"


def test_ask_shortens_a_long_question_in_its_header(capsys):
    """A pasted 40k-character log is echoed by its first 200 characters or so, not in full."""
    from types import SimpleNamespace

    from bot.cli import _print_experts

    question = "kubernetes pod OOMKilled\n" + "at line 12 of the log " * 2000
    expert = SimpleNamespace(name="Bob", user="UB", score=0.5, why=["answered 1 similar thread"], permalinks=[None],
                             topical=True)
    _print_experts(question, [expert])
    out = capsys.readouterr().out
    header = out.split("\n1. ")[0].replace("\n", "")
    assert header.startswith("Who knows “kubernetes pod OOMKilled at line 12") and header.endswith("…”?")
    assert len(header) <= 200 + len("Who knows “”?")
    _print_experts(question, [])
    out = capsys.readouterr().out.replace("\n", "")
    assert out.endswith("…” yet.") and len(out) <= 200 + len("Nobody has talked about “” yet.")


def test_ask_refuses_a_question_with_no_words(sample_db):
    """Empty, blank, or only mentions and punctuation: nothing to search for, so an error, not everyone ranked."""
    for text in ("", "  \t ", "<@U0123> ?!", "😀🎉"):
        out = run("--db", sample_db, "ask", text)
        assert out.returncode == 2 and out.stdout == "", out.stdout
        assert out.stderr.startswith("error: the question has no words") and len(out.stderr.splitlines()) == 1
    rows = _ask_lines(sample_db, [json.dumps({"id": "empty", "text": ""}), json.dumps({"id": "blank", "text": " \n"}),
                                  json.dumps({"id": "mention", "text": "<@U0123> <#C1|general> ??"}),
                                  json.dumps({"id": "after", "text": "Postgres index"})])
    assert [r["id"] for r in rows] == ["empty", "blank", "mention", "after"]
    assert all(r["experts"] == [] and "no words" in r["error"] for r in rows[:3]) and rows[3]["experts"]


def test_ask_never_sends_control_characters_to_the_terminal(capsys):
    """An escape sequence in a stored name or message (clear screen, set the window title) is shown, not run."""
    from types import SimpleNamespace

    from bot.cli import _print_experts

    expert = SimpleNamespace(name="Eve\x1b[2J", user="U1\x1b]0;pwned\x07", score=0.5,
                             why=["“\x1b[31mred\x1b[0m”"], permalinks=["https://example.com/\x9b1m"], topical=True)
    _print_experts("k8s\x1b[8m", [expert])
    out = capsys.readouterr().out
    assert not any(ch in out for ch in "\x1b\x07\x9b"), repr(out)
    assert "Eve\ufffd[2J" in out


def test_eval_says_what_it_found_when_there_is_nothing_to_evaluate(tmp_path):
    """An empty folder, or JSON that is no export, was told to `connective import` first (eval imports into a
    scratch database itself); now it says what the import found. Two servers in one folder: --community."""
    (tmp_path / "empty").mkdir()
    out = run("eval", str(tmp_path / "empty"))
    assert out.returncode != 0 and "no messages to evaluate" in out.stderr and "import slack" not in out.stderr
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text('{"theme": "dark"}')
    out = run("eval", str(tmp_path / "other"))
    assert "not a DiscordChatExporter JSON export" in out.stderr, out.stderr[-2000:]

    two = tmp_path / "two"
    shutil.copytree(Path(__file__).parent / "fixtures" / "discord_export" / "first", two)
    data = json.loads(next(two.glob("*general*.json")).read_text())
    data["guild"]["id"] = "1200000000000000001"
    (two / "elsewhere.json").write_text(json.dumps(data))
    out = run("eval", str(two))
    assert "--community" in out.stderr
    out = run("eval", str(two), "--community", "1200000000000000001")
    assert "--community" not in out.stderr and "No such option" not in out.stderr, out.stderr[-2000:]


def test_eval_of_a_history_without_threads_says_there_is_nothing_it_can_measure(tmp_path):
    """A community that never used threads (or replies) gives eval no question with an answer. It worked for a while,
    then printed "0 later questions", an empty table and "a longer history gives some, or try another --cut": neither
    does. It says why at once now, as an error."""
    from tests.exports import THREADS, USERS, write_slack_export

    # 68 messages, none in a thread: each of the example conversations written as messages of the channel.
    export = write_slack_export(tmp_path / "flat", USERS, [[m] for thread in THREADS * 4 for m in thread])
    out = run("eval", str(export))
    assert out.returncode == 2 and out.stdout == "", out.stdout
    assert out.stderr.startswith("error: nothing to evaluate: none of the 68 messages replies to someone else's "
                                 "conversation"), out.stderr[-2000:]
    assert "--cut" not in out.stderr


def test_eval_with_no_question_after_the_cut_prints_no_empty_table(tmp_path):
    """Threads before the cut, none after: eval said there was nothing to measure, then printed the table's header
    with no row under it and the legend of the protocols, as if there were figures."""
    from tests.exports import THREADS, USERS, write_slack_export

    export = write_slack_export(tmp_path / "late", USERS, THREADS + [[m] for thread in THREADS * 3 for m in thread])
    out = run("eval", str(export))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == [
        "0 later questions answered by someone seen before the cut (0 answered by someone outside the five top "
        "answerers)",
        "nothing to measure: no thread started after the cut got an answer from someone seen before it; a longer "
        "history gives some, or try another --cut"], out.stdout


def test_eval_of_a_small_community_draws_no_verdict_from_a_few_questions_and_says_when_the_cut_is(tmp_path):
    """A community with a little history gives eval a handful of questions: it drew its verdict from them all the same
    ("connective: MRR 0.556 = 0.95x the best baseline", "long-tail MRR 0.111 = 0.44x" on the 2 questions of twelve
    days of racket-2019), which an admin reads as a finding."""
    from tests.exports import THREADS, USERS, write_slack_export

    export = write_slack_export(tmp_path / "small", USERS, THREADS * 3)
    out = run("eval", str(export))
    assert out.returncode == 0, out.stderr[-2000:]
    n = int(out.stdout.split()[0])
    assert 0 < n < 30, out.stdout
    assert f"only {n} question(s): too few to tell the systems apart" in out.stdout, out.stdout
    assert "the best baseline" not in out.stdout, out.stdout
    # "The cut" that every line speaks of is said: when it falls (70% of the 51 messages, an hour apart per thread).
    assert re.search(r"^the cut: 2023-11-1\d \d\d:\d\d UTC, when 70% of the messages had been written \(--cut\)",
                     out.stdout.splitlines()[-1]), out.stdout


def test_eval_refuses_db_it_would_not_use(tmp_path):
    """eval imports into a scratch database; --db was silently ignored, as if the figures came from it."""
    db = tmp_path / "mine.db"
    out = run("--db", f"sqlite:///{db}", "eval", str(SAMPLE))
    assert out.returncode == 2 and not db.exists()
    assert out.stderr.startswith("error: eval imports PATH into a scratch database") and out.stderr.count("\n") == 1


def test_eval_on_a_sample_says_it_is_one():
    out = run("eval", str(SAMPLE), "--questions", "3", "--seed", "5")
    assert out.returncode == 0, out.stderr[-3000:]
    header = out.stdout.splitlines()[0]
    assert header.startswith("a sample of 3 of the ") and "--seed 5" in header
    assert [line.split()[1] for line in out.stdout.splitlines()[2:4]] == ["3", "3"]  # n of connective, +time
    out = run("eval", str(SAMPLE), "--questions", "0")
    assert out.returncode != 0 and "Traceback" not in out.stderr


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_eval_stopped_removes_its_scratch_database(tmp_path, stop):
    """SIGTERM (a CI timeout, `kill`) left the scratch database in the temporary directory, and Ctrl-C ended
    without a word; so did SIGHUP (the terminal or the ssh session closed)."""
    scratch_root = tmp_path / "tmp"
    scratch_root.mkdir()
    proc = subprocess.Popen([*CLI, "eval", str(SAMPLE)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(scratch_root)})
    try:
        for _ in range(6000):  # until the scratch database is there (it is being filled then)
            if list(scratch_root.glob("connective-eval-*/eval.db")) or proc.poll() is not None:
                break
            time.sleep(0.01)
        assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(stop)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 128 + stop
    assert err.splitlines()[-1] == f"error: stopped by {stop.name}; the scratch database was removed"
    assert "Traceback" not in err
    assert list(scratch_root.iterdir()) == []


def test_ask_never_wraps_a_link_in_a_quote(capsys, monkeypatch):
    """A quoted link was broken at its hyphens, or mid-word when longer than the line: it stays on one line."""
    from types import SimpleNamespace

    from bot.cli import _print_experts

    monkeypatch.setenv("COLUMNS", "60")
    links = ["http://docs.racket-lang.org/guide/classes.html",
             "https://github.com/clojure/clojure/blob/master/src/clj/clojure/test.clj#L492"]
    expert = SimpleNamespace(name="Bob", user="UB", score=0.5, permalinks=[None, None],
                             why=[f"“this is probably a good place to start {links[0]}” (#general, 2017-10-04)",
                                  f"“{links[1]}” (#general, 2019-01-02)"], topical=True)
    _print_experts("classes", [expert])
    lines = capsys.readouterr().out.splitlines()
    assert all(any(link in line for line in lines) for link in links), lines


def test_ask_echoes_the_question_as_people_read_it(capsys):
    """The header echoed Slack's markup ("<@U…>", "&amp;"), cut a long question mid-word and ended in "?”?"."""
    from types import SimpleNamespace

    from bot.cli import _print_experts

    expert = SimpleNamespace(name="Bob", user="UB", score=0.5, why=["answered 1 similar thread"], permalinks=[None],
                             topical=True)
    _print_experts("<@UAE812A0042> can you help me find this paper about cycles &amp; `equal?`?", [expert],
                   {"UAE812A0042": "Amira"})
    header = capsys.readouterr().out.split("\n1. ")[0].replace("\n", " ")
    assert header == "Who knows “@Amira can you help me find this paper about cycles & `equal?`?”"
    _print_experts("<@UNKNOWN> or why is nginx " + "returning 404 for css files " * 10, [expert])
    header = capsys.readouterr().out.split("\n1. ")[0].replace("\n", " ")
    assert header.startswith("Who knows “why is nginx returning") and header.endswith("…”?"), header
    assert header.removesuffix("…”?").split()[-1] in {"returning", "404", "for", "css", "files"}, header


def test_chat_as_an_unknown_name_is_refused_in_an_imported_community(sample_db):
    """`chat --as` with a name no member of an imported community has (a typo) added a fake member to it and stored
    its questions there; it is refused, naming the nearest names, and nothing is added."""
    from sqlalchemy import create_engine, func, select

    from bot.db.models import Member

    engine = create_engine(sample_db)
    with engine.connect() as conn:
        before = conn.scalar(select(func.count()).select_from(Member))
        name = conn.scalar(select(Member.name).where(Member.name.is_not(None)).order_by(Member.name).limit(1))
    out = run("--db", sample_db, "chat", "--as", "Nobodyhere", stdin="who knows rust?\n")
    assert out.returncode == 2 and out.stdout == "", out.stdout
    assert out.stderr.startswith("error: no member named 'Nobodyhere' in slack:") and "--as" in out.stderr
    out = run("--db", sample_db, "chat", "--as", name[:-1] + "x", stdin="")
    assert out.returncode == 2 and f"did you mean {name}" in out.stderr, (name, out.stderr)
    out = run("--db", sample_db, "chat", "--as", name, stdin="")
    assert out.returncode == 0 and out.stdout.startswith(f"You are {name} in slack:"), out.stderr
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Member)) == before


def test_demo_as_a_name_no_sample_member_has_is_refused(tmp_path):
    """`demo --as "Sam Taylor"` (the sample's Sam by their whole name; Slack's display name, Sam, is what is stored)
    chatted as a stranger added to the sample community beside Sam, who was then suggested to them. It is refused
    as `chat --as` refuses it, naming Sam."""
    out = subprocess.run([*CLI, "demo", "--as", "Sam Taylor"], input="/me\n", capture_output=True, text=True,
                         timeout=600, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert out.returncode == 2 and "You are" not in out.stdout, out.stdout[-2000:]
    assert out.stderr.splitlines()[-1].startswith("error: no member named 'Sam Taylor' in slack:T0SAMPLE01: did you "
                                                  "mean Sam? "), out.stderr


def test_import_with_the_workspace_address_links_there(tmp_path):
    """An export names no workspace host: `--workspace-url` puts its links on the workspace's own, and later
    imports of the same workspace go there too without it."""
    db = f"sqlite:///{tmp_path / 'w.db'}"
    bad = run("--db", db, "import", "slack", str(SAMPLE), "--workspace-url", "http://acme.slack.com/archives")
    assert bad.returncode != 0 and bad.stderr.startswith("error: --workspace-url 'http://acme.slack.com/archives': "
                                                         "expected the workspace's address, like "
                                                         "https://acme.slack.com"), bad.stderr
    assert "Traceback" not in bad.stderr
    out = run("--db", db, "import", "slack", str(SAMPLE), "--workspace-url", "https://Acme.slack.com")
    assert out.returncode == 0, out.stderr
    asked = run("--db", db, "ask", "--top", "3", "who can help with kubernetes OOMKilled pods")
    assert "https://acme.slack.com/archives/" in asked.stdout and "https://slack.com/" not in asked.stdout
    again = run("--db", db, "import", "slack", str(SAMPLE))
    assert again.returncode == 0 and " 0 new" in again.stdout


def test_chat_as_picks_the_member_and_never_renames_them(sample_db):
    """`chat --as elin` or `--as <platform id>` wrote what was typed over the member's name, which `ask` then showed."""
    from sqlalchemy import create_engine, select

    from bot.db.models import Member

    engine = create_engine(sample_db)
    with engine.connect() as conn:
        user, name = conn.execute(select(Member.external_id, Member.name).where(Member.is_bot.is_(False))
                                  .order_by(Member.name).limit(1)).one()
    for typed in (name.lower(), user):
        out = run("--db", sample_db, "chat", "--as", typed, stdin="/me\n")
        assert out.returncode == 0 and out.stdout.startswith(f"You are {name} in slack:"), out.stderr
        with engine.connect() as conn:
            assert conn.scalar(select(Member.name).where(Member.external_id == user)) == name, typed


@pytest.mark.parametrize(("platform", "env", "name"), [
    ("slack", {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1",
               "CONNECTIVE_SLACK_API_URL": "http://127.0.0.1:1/api/"}, "Slack"),
    ("discord", {"DISCORD_TOKEN": "a.b.c", "CONNECTIVE_DISCORD_API_URL": "http://127.0.0.1:1/api/v10"}, "Discord"),
])
def test_run_names_the_platform_it_cannot_reach_not_the_database(tmp_path, platform, env, name):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_", "CONNECTIVE_"))}
    out = subprocess.run([*CLI, "--db", f"sqlite:///{tmp_path / 'run.db'}", "run", "--platform", platform],
                         capture_output=True, text=True, timeout=300,
                         env={**clean, **env, "CONNECTIVE_METRICS_PORT": "0"})
    errors = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
    # Exit 1, as for a database not reachable: it exited 2, as a command typed wrong.
    assert out.returncode == 1 and len(errors) == 1, out.stderr[-3000:]
    assert errors[0].startswith(f"error: cannot reach {name} (CONNECTIVE_") and "127.0.0.1:1" in errors[0], errors
    assert "database" not in errors[0] and "xoxb-1" not in out.stderr


def test_a_model_path_holding_no_model_is_one_line_and_run_says_so_at_start(tmp_path, sample_db):
    """A model_path naming a folder that holds no model (a wrong folder, a download cut short): `ask` printed
    transformers' traceback ("Unrecognized model in …") and asyncio's "Task exception was never retrieved"; `run`
    connected, said it was healthy, and failed each message and question as it came (ops walk-through)."""
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    said = (f"error: model_path (CONNECTIVE_MODEL_PATH): no sentence-transformers model could be loaded from {folder} "
            "(ValueError: Unrecognized model in ")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_", "CONNECTIVE_"))}
    env = {**clean, "CONNECTIVE_MODEL_PATH": str(folder), "CONNECTIVE_METRICS_PORT": "0"}
    asked = subprocess.run([*CLI, "--db", sample_db, "ask", "who knows kubernetes?"], capture_output=True, text=True,
                           timeout=300, env=env)
    assert asked.returncode == 2 and "Traceback" not in asked.stderr and "never retrieved" not in asked.stderr, \
        asked.stderr[-3000:]
    assert [line for line in asked.stderr.splitlines() if line.startswith("error: ")][0].startswith(said)
    started = subprocess.run([*CLI, "--db", f"sqlite:///{tmp_path / 'run.db'}", "run", "--platform", "slack"],
                             capture_output=True, text=True, timeout=300,
                             env={**env, "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1",
                                  "CONNECTIVE_SLACK_API_URL": "http://127.0.0.1:1/api/"})
    # the last line, after the database's
    assert started.returncode == 2 and started.stderr.splitlines()[-1].startswith(said), started.stderr[-3000:]
    assert "Slack" not in started.stderr  # stopped before connecting


def test_run_says_at_start_which_database_it_keeps_its_data_in_never_with_its_password(db_url):
    """Nothing at start named the database: a CONNECTIVE_DATABASE_URL misspelt or left out of a deployment ran the bot
    on the embedded SQLite, its members' data in a file nobody backs up, and the log did not say so (ops walk)."""
    from alembic.script import ScriptDirectory

    from bot.db.engine import shown_url
    from bot.db.migrate import SCRIPT_LOCATION

    url = db_url.replace("postgres:@", "postgres:s3cretpw@")  # PostgreSQL's (trust) takes any password
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_", "CONNECTIVE_"))}
    out = subprocess.run([*CLI, "--db", url, "run", "--platform", "console"], input="", capture_output=True, text=True,
                         timeout=300, env={**clean, "CONNECTIVE_METRICS_PORT": "0"})
    assert out.returncode == 0, out.stderr[-3000:]
    head = ScriptDirectory(str(SCRIPT_LOCATION)).get_current_head()
    assert f"INFO connective: database {shown_url(url)} (schema {head})\n" in out.stderr, out.stderr
    assert "s3cretpw" not in out.stderr and "s3cretpw" not in out.stdout


def test_a_community_nobody_has_is_answered_with_the_communities_there(two_sams):
    """"no community 'T0SAMPLE' in this database" named none of those there, for ask, digest, pairs and chat alike."""
    for args in (["ask", "x"], ["digest", "preview"], ["pairs", "plan"], ["chat", "--as", "Sam"]):
        out = run("--db", two_sams, *args, "--community", "T0SAMPLE")
        assert (out.returncode, out.stderr) == (2, "error: no community 'T0SAMPLE' in this database (communities: "
                                                   "slack:TSAMS)\n"), (args, out.stderr)


def test_import_takes_the_platform_in_any_case(tmp_path):
    """`connective import Slack PATH` was "No such command 'Slack'"."""
    export = _sams_export(tmp_path / "sams")
    out = run("--db", f"sqlite:///{tmp_path / 'in.db'}", "import", "Slack", str(export))
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    out = run("--db", f"sqlite:///{tmp_path / 'in.db'}", "pairs", "plan", "--community", "SLACK:TSAMS")
    assert out.returncode == 0, out.stderr


def test_a_community_is_named_with_its_platform_in_any_case(two_sams):
    """`--community Slack:TSAMS` (the platform as the admin writes it) was "no community 'Slack:TSAMS'"."""
    for typed in ("Slack:TSAMS", "SLACK:TSAMS", "slack:TSAMS"):
        out = run("--db", two_sams, "pairs", "plan", "--json", "--community", typed)
        assert out.returncode == 0, (typed, out.stderr)
    out = run("--db", two_sams, "pairs", "plan", "--community", "Discord:TSAMS")
    assert out.returncode == 2 and out.stderr.startswith("error: no community 'Discord:TSAMS'"), out.stderr


@pytest.mark.parametrize(("platform", "env", "said"), [
    ("slack", {}, "error: SLACK_BOT_TOKEN (CONNECTIVE_SLACK_BOT_TOKEN) is not set; set SLACK_APP_TOKEN (Socket Mode) "
                  "or SLACK_SIGNING_SECRET (HTTP mode) (`connective config check --platform slack` checks every "
                  "setting)\n"),
    ("slack", {"SLACK_BOT_TOKEN": "xoxb-1-secret"}, "error: set SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET "
                                                    "(HTTP mode) (`connective config check --platform slack` checks "
                                                    "every setting)\n"),
    ("discord", {}, "error: DISCORD_TOKEN (CONNECTIVE_DISCORD_TOKEN) is not set (`connective config check --platform "
                    "discord` checks every setting)\n"),
    # The platform as an admin writes it: "Slack" was refused as no platform ("--platform must be slack, …").
    ("Slack", {}, "error: SLACK_BOT_TOKEN (CONNECTIVE_SLACK_BOT_TOKEN) is not set; set SLACK_APP_TOKEN (Socket Mode) "
                  "or SLACK_SIGNING_SECRET (HTTP mode) (`connective config check --platform slack` checks every "
                  "setting)\n"),
    (" DISCORD", {}, "error: DISCORD_TOKEN (CONNECTIVE_DISCORD_TOKEN) is not set (`connective config check --platform "
                     "discord` checks every setting)\n")])
def test_run_without_a_token_says_which_before_touching_the_database_or_a_port(tmp_path, platform, env, said):
    """`run` without a token upgraded the schema of the database and opened the metrics port before it said the
    token was not set, and where that port was taken it said only "cannot listen" (user walk-through)."""
    import socket

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_", "CONNECTIVE_"))}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        out = subprocess.run([*CLI, "--db", f"sqlite:///{tmp_path / 'x.db'}", "run", "--platform", platform],
                             capture_output=True, text=True, timeout=300,
                             env={**clean, **env, "CONNECTIVE_METRICS_HOST": "127.0.0.1",
                                  "CONNECTIVE_METRICS_PORT": str(taken.getsockname()[1])})
    assert (out.returncode, out.stderr) == (2, said)
    assert not (tmp_path / "x.db").exists()  # no schema made for a bot that cannot start


def test_run_names_the_port_it_cannot_listen_on(tmp_path):
    import socket

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_", "CONNECTIVE_"))}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run([*CLI, "--db", f"sqlite:///{tmp_path / 'run.db'}", "run", "--platform", "slack"],
                             capture_output=True, text=True, timeout=300,
                             env={**clean, "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1",
                                  "CONNECTIVE_METRICS_HOST": "127.0.0.1", "CONNECTIVE_METRICS_PORT": str(port)})
    # After the model's line: it is loaded before the ports open
    assert out.returncode == 1 and out.stderr.splitlines()[-1].startswith("error: cannot listen: "), out.stderr[-3000:]
    said = out.stderr.splitlines()[-1]
    assert str(port) in said and "CONNECTIVE_METRICS_PORT" in said and "database" not in said


# `connective import`, its storing held after two chunks of ten messages, so that a signal lands in the middle
_HELD_IMPORT = """
import asyncio, sys
import bot.services.importing as importing
from bot.services.ingest import IngestService
importing.CHUNK = 10
store, calls = IngestService.store, []
async def held(self, *args, **kwargs):
    calls.append(1)
    if len(calls) == 3:
        print("held", file=sys.stderr, flush=True)
        await asyncio.sleep(600)
    return await store(self, *args, **kwargs)
IngestService.store = held
sys.argv[0] = "connective"
from bot.cli import main
main()
"""


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_import_stopped_says_what_was_stored_and_the_next_import_goes_on(tmp_path, stop):
    """Ctrl-C during an import was a SQLAlchemy ERROR and two tracebacks; it is one line saying truthfully how many
    messages were stored (each chunk is stored whole or not at all), exit 128 + the signal, and importing again
    adds the rest."""
    from sqlalchemy import create_engine, func, select

    from bot.db.models import Message

    db = f"sqlite:///{tmp_path / 'stopped.db'}"
    proc = subprocess.Popen([sys.executable, "-c", _HELD_IMPORT, "--db", db, "import", "slack", str(SAMPLE)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr.readline() == "held\n"
    proc.send_signal(stop)
    stdout, stderr = proc.communicate(timeout=120)
    with create_engine(db).connect() as conn:
        stored = conn.scalar(select(func.count()).select_from(Message))
    assert proc.returncode == 128 + stop and stdout == "", (stdout, stderr)
    assert 0 < stored <= 20
    assert stderr == (f"error: stopped by {stop.name}; {stored} new messages were stored: run the import again to "
                      "go on (what is stored is not imported twice)\n")
    out = run("--db", db, "import", "slack", str(SAMPLE))
    with create_engine(db).connect() as conn:
        total = conn.scalar(select(func.count()).select_from(Message))
    assert out.returncode == 0 and f" {total - stored} new" in out.stdout, out.stdout


def test_ask_prints_who_knows_once(capsys):
    """`ask "who knows how to use syntax-parse?"` printed "Who knows “who knows how to use syntax-parse?”"."""
    from types import SimpleNamespace

    from bot.cli import _print_experts

    expert = SimpleNamespace(user="U1", name="Ann", score=0.5, why=["answered it"], permalinks=[None], topical=True)
    _print_experts("who knows how to use syntax-parse for macros?", [expert])
    assert capsys.readouterr().out.startswith("Who knows “how to use syntax-parse for macros”?\n1. Ann (U1)")
    _print_experts("Does anyone know about Racket contracts", [])
    assert capsys.readouterr().out == "Nobody has talked about “Racket contracts” yet.\n"


def _sams_export(export: Path) -> Path:
    """A small Slack export where two members are called Sam (Sam Lee and Sam Cho)."""
    export.mkdir(exist_ok=True)
    users = [{"id": uid, "team_id": "TSAMS", "name": uid.lower(), "real_name": name}
             for uid, name in (("U1SAM", "Sam Lee"), ("U2SAM", "Sam Cho"), ("U3ANN", "Ann"))]
    (export / "users.json").write_text(json.dumps(users))
    (export / "channels.json").write_text(json.dumps([{"id": "C1", "name": "general"}]))
    (export / "general").mkdir()
    texts = [("U3ANN", "How do I tune postgres autovacuum on a busy table?"),
             ("U1SAM", "Lower autovacuum_vacuum_scale_factor for that postgres table and watch dead tuples."),
             ("U2SAM", "Postgres autovacuum also needs enough maintenance_work_mem on big tables.")]
    (export / "general" / "2020-09-13.json").write_text(json.dumps(
        [{"type": "message", "user": u, "text": t, "ts": f"16000000{i}0.000100",
          "thread_ts": "1600000000.000100"} for i, (u, t) in enumerate(texts)]))
    return export


@pytest.fixture(scope="module")
def two_sams(tmp_path_factory) -> str:
    export = _sams_export(tmp_path_factory.mktemp("sams"))
    url = f"sqlite:///{export / 'sams.db'}"
    out = run("--db", url, "import", "slack", str(export))
    assert out.returncode == 0, out.stderr
    return url


def test_an_asker_or_member_name_that_means_nobody_or_several_is_refused(two_sams):
    """`--asker Sam` picked one of two Sams (and suggested the other first), `--asker Zed` (a typo) was kept as a
    newcomer, so the asker could be suggested to themselves; an id nobody has yet is still a newcomer asking."""
    question = "postgres autovacuum"
    out = run("--db", two_sams, "ask", "--asker", "Sam", question)
    assert out.returncode == 2 and out.stdout == "", out.stdout
    assert out.stderr == ("error: 'Sam' names 2 members of slack:TSAMS (Sam Lee (U1SAM), Sam Cho (U2SAM)): give the "
                          "platform id with --asker\n")
    out = run("--db", two_sams, "chat", "--as", "sam", stdin="")
    assert out.returncode == 2 and out.stderr.startswith("error: 'sam' names 2 members") and "--as\n" in out.stderr
    out = run("--db", two_sams, "ask", "--asker", "Sam Le", question)
    assert out.returncode == 2 and out.stderr.startswith("error: no member named 'Sam Le' in slack:TSAMS: did you "
                                                         "mean Sam Lee") and "--asker" in out.stderr, out.stderr
    for asker in ("Sam Lee", "sam lee", "U1SAM"):
        out = run("--db", two_sams, "ask", "--json", "--asker", asker, question)
        users = [e["user"] for e in json.loads(out.stdout)["experts"]]
        assert "U1SAM" not in users and "U2SAM" in users, (asker, out.stdout)
    lines = [{"id": "several", "text": question, "asker": "Sam"}, {"id": "typo", "text": question, "asker": "Zed"},
             {"id": "newcomer", "text": question, "asker": "U9NEW"}, {"id": "named", "text": question,
                                                                       "asker": "Sam Cho"}]
    out = run("--db", two_sams, "ask", "--json", stdin="\n".join(json.dumps(x) for x in lines) + "\n")
    several, typo, newcomer, named = (json.loads(line) for line in out.stdout.splitlines())
    assert several == {"id": "several", "experts": [], "error": "line 1: 'Sam' names 2 members of slack:TSAMS "
                       "(Sam Lee (U1SAM), Sam Cho (U2SAM)): give the platform id in the line's \"asker\""}
    assert typo["experts"] == [] and typo["error"].startswith("line 2: no member named 'Zed' in slack:TSAMS: ")
    assert {"U1SAM", "U2SAM"} <= {e["user"] for e in newcomer["experts"]} and "error" not in newcomer
    assert "U2SAM" not in {e["user"] for e in named["experts"]} and "U1SAM" in {e["user"] for e in named["experts"]}


def test_ask_lines_answer_every_line_and_say_which_line_is_wrong(two_sams):
    """A blank line got no output line (a tool pairing answers with questions by position got out of step); every
    error starts "line N: "; a `ts` is written back as the line has it, and a number is out of range, not "neither
    epoch seconds nor ISO 8601", however large; a `ts` before the community's first message says so."""
    question = "postgres autovacuum"
    lines = ["", "   ", json.dumps({"id": "nope", "text": question, "community": "NOPE"}),
             json.dumps({"id": "true", "text": question, "ts": True}),
             json.dumps({"id": "huge", "text": question, "ts": "99999999999999"}),
             json.dumps({"id": "neg", "text": question, "ts": -5}),
             json.dumps({"id": "ok", "text": question}), json.dumps({"id": "early", "text": question, "ts": 0})]
    rows = _ask_lines(two_sams, lines)
    assert [r["id"] for r in rows] == [None, None, "nope", "true", "huge", "neg", "ok", "early"]
    assert rows[0] == {"id": None, "experts": [], "error": "line 1: empty line"}
    assert rows[1] == {"id": None, "experts": [], "error": "line 2: empty line"}
    assert rows[2]["error"] == "line 3: no community 'NOPE' in this database (communities: slack:TSAMS)"
    assert rows[3]["error"] == "line 4: ts true is neither epoch seconds nor an ISO 8601 time"
    outside = "is outside the times a question can be asked (1970-01-01 to 9999-01-01)"
    assert rows[4]["error"] == f'line 5: ts "99999999999999" {outside}'
    assert rows[5]["error"] == f"line 6: ts -5 {outside}"
    assert rows[6]["experts"] and "error" not in rows[6]
    # Asked before anything was said: nobody is known, and the line says why rather than answering with no one.
    early = "line 8: nothing was said in this community before ts 1970-01-01 00:00:00 UTC (its first message is of "
    assert rows[7]["experts"] == [] and rows[7]["error"].startswith(early), rows[7]


def test_ask_lines_in_a_database_of_several_communities_name_the_line_field(tmp_path):
    db = f"sqlite:///{tmp_path / 'two.db'}"
    assert run("--db", db, "import", "slack", str(_sams_export(tmp_path / "sams"))).returncode == 0
    discord = Path(__file__).parent / "fixtures" / "discord_export" / "first"
    assert run("--db", db, "import", "discord", str(discord)).returncode == 0
    rows = _ask_lines(db, [json.dumps({"id": "which", "text": "postgres autovacuum"}),
                           json.dumps({"id": "this", "text": "postgres autovacuum", "community": "TSAMS"})])
    assert rows[0]["error"].startswith("line 1: several communities here (") and rows[0]["error"].endswith(
        'choose one with the line\'s "community" (or --community)'), rows[0]
    assert rows[1]["experts"] and "error" not in rows[1]


def test_a_newcomer_asks_where_the_ids_are_another_platforms(tmp_path):
    """A history converted from another platform keeps its ids (here Discord snowflakes in a Slack layout): an
    asker nobody here has was refused as "no member named '118266806436762146'" and got no experts (audit 12); an
    id of the community's own shape is a newcomer asking. A name nobody has is still an error."""
    from tests.exports import THREADS, USERS, write_slack_export

    ids = {u: str(118266806436762100 + i) for i, u in enumerate(USERS)}
    threads = [[(ids[u], text) for u, text in thread] for thread in THREADS]
    export = write_slack_export(tmp_path / "export", {ids[u]: n for u, n in USERS.items()}, threads)
    db = f"sqlite:///{tmp_path / 'x.db'}"
    assert run("--db", db, "import", "slack", str(export)).returncode == 0
    lines = [{"id": "new", "text": "postgres index ignored by the planner", "asker": "118266806436762146"},
             {"id": "typo", "text": "postgres index ignored by the planner", "asker": "Petar"}]
    out = run("--db", db, "ask", "--json", stdin="\n".join(json.dumps(x) for x in lines) + "\n")
    new, typo = (json.loads(line) for line in out.stdout.splitlines())
    assert "error" not in new and new["experts"][0]["user"] == ids["UPG"], new
    assert typo["experts"] == [] and "no member named 'Petar'" in typo["error"]


def test_every_help_shows_flags_as_flags():
    """Typer's rich layout printed a type beside every option, "--json <bool>" and even "--help <bool>", which reads as
    if a flag took a value; and "--include-private / --no-include-private" offered to switch off what is off. Several
    values were typed as Python writes them ("paths... <list[Path]>"), where one is "path <path>"."""
    import click
    import typer.main
    from typer.testing import CliRunner

    from bot.cli import cli

    def paths(command: click.Command, prefix: list[str]):
        yield prefix
        for name, sub in getattr(command, "commands", {}).items():
            yield from paths(sub, [*prefix, name])

    every = list(paths(typer.main.get_command(cli), []))
    assert ["ask"] in every and ["import", "slack"] in every and ["pairs", "plan"] in every
    for path in every:
        out = CliRunner().invoke(cli, [*path, "--help"])
        assert out.exit_code == 0, (path, out.output)
        assert "<bool>" not in out.output and " / --no-" not in out.output, (path, out.output)
        assert "--help  " in out.output, (path, out.output)
        assert "<list[" not in out.output, (path, out.output)  # `import discord --help`: "paths... <list[Path]>"
    out = CliRunner().invoke(cli, ["import", "discord", "--help"])
    assert "paths... <path>  " in out.output, out.output


def test_usage_lines_write_arguments_as_the_readme_does():
    """Typer wrote a required argument in braces ("connective import slack [OPTIONS] {path}"), unlike the README's
    `import slack PATH`, and a missing one as "Missing argument 'path'"."""
    from typer.testing import CliRunner

    from bot.cli import cli

    for args, usage in ((["import", "slack"], "connective import slack [OPTIONS] PATH"),
                        (["import", "discord"], "connective import discord [OPTIONS] PATHS..."),
                        (["ask"], "connective ask [OPTIONS] [TEXT]"), (["eval"], "connective eval [OPTIONS] PATH"),
                        (["pairs", "load"], "connective pairs load [OPTIONS] PATH")):
        out = CliRunner().invoke(cli, [*args, "--help"], prog_name="connective")
        assert out.exit_code == 0 and out.output.splitlines()[0] == f"Usage: {usage}", out.output
    out = CliRunner().invoke(cli, ["import", "slack"], prog_name="connective")
    assert out.exit_code == 2 and "Missing argument 'PATH'." in out.output and "{" not in out.output, out.output


async def test_a_name_nobody_has_is_answered_with_members_who_are_here(app):
    """The members listed after "no member named …" included bots and a member who had left (user walk-through)."""
    from sqlalchemy import select

    from bot.cli import _no_such_member
    from bot.db.models import Member
    from bot.repo import ensure_community, ensure_member

    async with app.db.sessions.begin() as s:
        community = await ensure_community(s, "slack", "THERE")
        for user, name in (("UANN", "Ann"), ("UBEN", "Ben"), ("B0DEPLOY", "deploybot"), ("UGONE", "Gone")):
            await ensure_member(s, community.id, user, name=name)
        for member in (await s.scalars(select(Member).where(Member.community_id == community.id))).all():
            member.is_bot = member.external_id == "B0DEPLOY"
            member.deactivated = member.external_id == "UGONE"
    async with app.db.sessions() as s:
        error = await _no_such_member(s, community, "Zed", "--asker")
        assert str(error).endswith("(members: Ann, Ben)"), str(error)
        # One who left is still a name a replay may mean: suggested, said so (review of 833a9f7).
        error = await _no_such_member(s, community, "Gonne", "--asker")
    assert "did you mean Gone (left)? " in str(error) and str(error).endswith("(members: Ann, Ben)"), str(error)


def test_the_terminal_manages_the_community_it_chats_in(tmp_path):
    """`connective chat` on an imported Slack community refused "/digest subscribe #general" ("Only community admins
    can …"), and nothing else could subscribe a channel before the bot went live, so `digest preview --channel` could
    not be used (user walk-through). Whoever types there runs the bot and holds its database: they manage it."""
    db = f"sqlite:///{tmp_path / 'x.db'}"
    assert run("--db", db, "import", "slack", str(_slack_export(tmp_path / "export"))).returncode == 0
    out = run("--db", db, "chat", "--as", "UPG", stdin="/digest subscribe #general\n")
    assert out.returncode == 0 and "Only community admins" not in out.stdout, out.stdout
    out = run("--db", db, "digest", "preview", "--channel", "general")
    assert out.returncode == 0, out.stderr


async def test_a_database_that_does_not_answer_is_said_to_be_one(monkeypatch, tmp_path):
    """Where localhost is both ::1 and 127.0.0.1, asyncio raises a plain OSError ("Multiple exceptions: …"), and it
    was "… or file: …"; and a connection the platform reset during `run` was no database's (review of 828a37e)."""
    import bot.db.migrate
    from bot.cli import DatabaseUnreachable, _open_app
    from bot.settings import Settings

    async def refused(db, **_):  # noqa: ANN001, ANN003, ANN202
        raise OSError("Multiple exceptions: [Errno 111] Connect call failed ('::1', 1, 0, 0), [Errno 111] Connect "
                      "call failed ('127.0.0.1', 1)")

    monkeypatch.setattr(bot.db.migrate, "ensure_schema", refused)
    with pytest.raises(DatabaseUnreachable, match="^Multiple exceptions: "):
        await _open_app(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}"))


def test_the_console_on_an_imported_community_joins_it_only_as_one_of_its_members(tmp_path):
    """`run --platform console` (as "admin" by default) on an imported Slack community added a member "console-admin"
    to it (user walk-through); `chat --as` already refused a name nobody there has."""
    db = f"sqlite:///{tmp_path / 'x.db'}"
    assert run("--db", db, "import", "slack", str(_slack_export(tmp_path / "export"))).returncode == 0
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_", "CONNECTIVE_"))}
    env = {**clean, "CONNECTIVE_METRICS_HOST": "127.0.0.1", "CONNECTIVE_METRICS_PORT": "0"}

    def console(*args: str, stdin: str) -> subprocess.CompletedProcess:
        return subprocess.run([*CLI, "--db", db, "run", "--platform", "console", *args], input=stdin,
                              capture_output=True, text=True, timeout=300, env=env)

    # Without --as it said "no member named 'admin'" (a name nobody typed), after opening the metrics port and
    # logging the console connected and disconnected: it says what to give, before starting anything.
    out = console(stdin="")
    assert out.returncode == 2 and out.stderr.startswith("error: slack:") and out.stderr.count("\n") == 1, out.stderr
    assert "give --as with the name or platform id of the member you speak as" in out.stderr, out.stderr
    out = console("--as", "UPG", stdin="who knows postgres?\n")
    assert out.returncode == 0, out.stderr
    out = run("--db", db, "ask", "--asker", "console-admin", "postgres index")
    assert out.returncode == 2 and "no member named 'console-admin'" in out.stderr, out.stderr


def test_chat_names_the_members_and_channels_the_bot_speaks_of(tmp_path):
    """`connective chat` printed the intro request to the expert as "[DM to UPG]", the intro as "[group with UASK1,
    UPG]" and a channel as "<#C0GENERAL>": ids, where the database has the names the community knows."""
    from tests.exports import THREADS, USERS, write_slack_export

    db = f"sqlite:///{tmp_path / 'x.db'}"
    assert run("--db", db, "import", "slack", str(write_slack_export(tmp_path / "export", USERS, THREADS))) \
        .returncode == 0
    out = run("--db", db, "chat", "--as", "Asha", stdin="who knows why postgres ignores my index?\n"
              "/click intro.request 1:UPG\n/connective ingest off #general\n/connective settings show\n")
    assert out.returncode == 0, out.stderr
    assert "connective> [DM to Petra] " in out.stdout and "I'll no longer read #general;" in out.stdout, out.stdout
    assert "#general: off" in out.stdout and "<#" not in out.stdout, out.stdout
    out = run("--db", db, "chat", "--as", "Petra", stdin="/click intro.accept 1\n")
    assert out.returncode == 0, out.stderr
    assert "connective> [group with Asha, Petra] " in out.stdout and "[DM to Asha] " in out.stdout, out.stdout


def test_import_slack_refuses_a_team_that_is_no_workspace_id(tmp_path):
    """`import slack --team acme` (the workspace's name, not its id) filed the history under slack:acme, where the
    live bot, which knows the workspace as T…, never found it; it is refused before anything is read."""
    db = f"sqlite:///{tmp_path / 'x.db'}"
    for typed in ("acme", "acme.slack.com", "t1bb4c8b0", "T bad"):
        out = run("--db", db, "import", "slack", str(_slack_export(tmp_path / "export")), "--team", typed)
        assert out.returncode == 2 and out.stdout == "", out.stdout
        assert out.stderr.startswith(f"error: --team {typed!r}: expected the workspace's id, like T024BE7LD"), \
            out.stderr
        assert out.stderr.count("\n") == 1, out.stderr
    out = run("--db", db, "import", "slack", str(_slack_export(tmp_path / "export")), "--team", "T0MINE")
    assert out.returncode == 0 and out.stdout.splitlines()[-1].startswith("slack:T0MINE: "), out.stdout


def test_chat_as_a_forgotten_member_says_who_by_their_id(tmp_path):
    """`chat --as UPG` after Petra was forgotten (her name is gone) greeted "You are  in slack:…"."""
    db = f"sqlite:///{tmp_path / 'x.db'}"
    assert run("--db", db, "import", "slack", str(_slack_export(tmp_path / "export"))).returncode == 0
    assert run("--db", db, "forget", "Petra").returncode == 0
    out = run("--db", db, "chat", "--as", "UPG", stdin="/me\n")
    assert out.returncode == 0 and out.stdout.startswith("You are UPG in slack:TTEST0001."), out.stdout
    assert "• name: (none)" in out.stdout  # and the id is not stored as her name


def test_the_readme_command_lines_name_commands_and_options_that_exist():
    """The README's list of commands is what a community manager starts from: each command it shows exists, and so
    does each option it gives it (it left out --team, --include-private, --asker and others, which a manager
    found only by chance)."""
    import typer.main

    from bot.cli import cli

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = readme.split("## Command line", 1)[1].split("```", 2)[1]
    root = typer.main.get_command(cli)
    checked = 0
    for line in block.strip().splitlines():
        words = line.split("#", 1)[0].split()
        assert words[0] == "connective", line
        command, several = root, False
        for word in words[1:]:
            name = word.split("|", 1)[0]
            if name in getattr(command, "commands", {}):
                command, several = command.commands[name], several or "|" in word
        assert command is not root, line
        options = {param.opts[0] for param in command.params if param.opts[0].startswith("--")} - {"--help"}
        shown = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", line.split("#", 1)[0])) - {"--db"}
        assert shown <= options, (line, shown - options)
        if not several:  # "pairs plan|stats|schedule|load" stands for four commands: their --help says the rest
            assert shown == options, (line, options - shown)
        checked += len(shown)
    assert checked >= 20
    # and every command the CLI has is in the list
    listed = " ".join(block.split())
    for name, sub in root.commands.items():
        for leaf in getattr(sub, "commands", {name: sub}):
            assert (f"{name} {leaf}" if leaf != name else name) in listed or f"{name} " in listed, (name, leaf)


def test_ask_json_typed_at_a_terminal_says_it_reads_json_lines(sample_db):
    """`connective ask --json` typed at a terminal (the question forgotten) waited without a word, as if it hung; piped,
    it says nothing but its answers."""
    import pty

    leader, follower = pty.openpty()
    with os.fdopen(leader, "wb", buffering=0) as terminal:
        proc = subprocess.Popen([*CLI, "--db", sample_db, "ask", "--json", "--top", "1"], stdin=follower,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        os.close(follower)
        terminal.write(b'{"id": "q", "text": "kubernetes pods OOMKilled"}\n\x04')
        out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert err == 'reading questions from stdin, a JSON line each ({"id": …, "text": "…"}); Ctrl-D ends\n'
    assert json.loads(out)["id"] == "q"
    piped = run("--db", sample_db, "ask", "--json", "--top", "1", stdin='{"id": "q", "text": "kubernetes pods"}\n')
    assert piped.returncode == 0 and piped.stderr == "" and json.loads(piped.stdout)["experts"]


async def test_a_name_at_the_start_of_a_chat_command_matches_however_its_accents_are_encoded(app):
    """The chat's "@Tomás kubernetes" (/skills endorse) found nobody when typed with a combining accent."""
    import unicodedata

    from bot.repo import ensure_community, ensure_member, find_member_at_start

    async with app.db.sessions.begin() as s:
        community = await ensure_community(s, "slack", "TACCENTS")
        await ensure_member(s, community.id, "UTOMAS", name="Tomás Herrera")
        await ensure_member(s, community.id, "UTOM", name="Tom")
    async with app.db.sessions() as s:
        for typed in ("@Tomás Herrera kubernetes", "tomás herrera kubernetes"):
            found = await find_member_at_start(s, community.id, unicodedata.normalize("NFD", typed))
            assert found is not None and (found[0].external_id, found[1]) == ("UTOMAS", "kubernetes"), typed
