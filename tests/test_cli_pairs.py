"""`connective pairs load | plan | stats | schedule` on an imported community (SQLite, in process)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from bot.cli import cli
from bot.errors import UserError
from tests.exports import THREADS, USERS, write_slack_export


def run(db: str, *args: str):  # noqa: ANN201
    return CliRunner().invoke(cli, ["--db", db, *args])


def test_pairs_commands(tmp_path):
    db = f"sqlite:///{tmp_path / 'c.db'}"
    out = run(db, "pairs", "stats")
    assert out.exit_code == 0 and "No community has mentoring" in out.output
    assert (
        run(db, "import", "slack", str(write_slack_export(tmp_path / "export", USERS, THREADS))).exit_code
        == 0
    )

    enrolments = tmp_path / "mentoring.json"
    enrolments.write_text(
        json.dumps(
            [
                {
                    "user": "UPG",
                    "role": "mentor",
                    "can_teach": ["postgres performance"],
                    "timezone": "Europe/Berlin",
                    "capacity": 2,
                },
                {
                    "user": "Kenji",
                    "role": "mentor",
                    "can_teach": "kubernetes, helm",
                    "timezone": "Asia/Tokyo",
                },
                {
                    "user": "UASK1",
                    "role": "mentee",
                    "wants_to_learn": ["postgres query plans"],
                    "timezone": "Europe/London",
                },
                {
                    "user": "UASK2",
                    "role": "mentee",
                    "wants_to_learn": ["kubernetes"],
                    "timezone": "America/Chicago",
                },
                {"user": "UCSS", "role": "mentee", "wants_to_learn": ["css"], "timezone": "Mars/Base"},
                {"user": "nobody", "role": "mentee", "wants_to_learn": ["x"], "timezone": "UTC"},
            ]
        )
    )
    out = run(db, "pairs", "load", str(enrolments))
    # Records skipped are a failure, as a damaged file is to an import: the others are loaded all the same. It exited
    # 0 when every record was skipped, "0 enrolment(s) loaded" (user walk-through).
    assert out.exit_code == 1, out.output
    assert "4 enrolment(s) loaded, 2 skipped" in out.output
    assert "unknown time zone 'Mars/Base'" in out.output and "no member 'nobody'" in out.output

    out = run(db, "pairs", "plan", "--seed", "5")
    assert out.exit_code == 0, out.output
    assert "seed 5" in out.output and "1 pair," in out.output
    assert "Petra" in out.output and "Asha" in out.output
    assert "Bruno: no mentor's working hours overlap yours enough" in out.output
    plan = json.loads(run(db, "pairs", "plan", "--seed", "5", "--json").output)
    assert [(p["mentor"], p["mentee"]) for p in plan["pairs"]] == [("UPG", "UASK1")]
    assert {u["user"]: u["reason"] for u in plan["unmatched"]} == {
        "UASK2": "timezone",
        "UK8S": "timezone_mentor",
    }

    out = run(
        db, "pairs", "schedule", "--every", "1", "--day", "wed", "--hour", "15", "--timezone", "Europe/Berlin"
    )
    assert out.exit_code == 0 and "every week on Wed at 15:00 Europe/Berlin" in out.output
    out = run(db, "pairs", "schedule", "--timezone", "EST")  # was taken: rounds at UTC-5 all year
    assert isinstance(out.exception, UserError) and str(out.exception) == (
        "mentoring schedule: 'EST' is an abbreviation, which names no place's summer time: give your time zone as "
        "Area/City, e.g. America/New_York"), out.output
    out = run(db, "pairs", "schedule", "--timezone", "Nowhere/Land")
    assert isinstance(out.exception, UserError) and "unknown time zone 'Nowhere/Land'" in str(out.exception)

    out = run(db, "pairs", "stats")
    assert "enrolled: 2 mentee, 2 mentor" in out.output and "no round has run yet" in out.output


async def test_a_name_several_members_have_is_not_enrolled_as_one_of_them(app):
    """`pairs load` took the first of two members called Sam (or, since names became strict, called them nobody):
    the record is skipped naming both, with their ids."""
    from bot.cli_pairs import load_enrolments
    from bot.repo import ensure_community, ensure_member

    async with app.db.sessions.begin() as s:
        community = await ensure_community(s, "slack", "TSAMS")
        for user, name in (("U1SAM", "Sam Lee"), ("U2SAM", "Sam Cho")):
            await ensure_member(s, community.id, user, name=name)
    loaded, errors = await load_enrolments(app, community.id, [
        {"user": "Sam", "role": "mentee", "wants_to_learn": ["x"], "timezone": "UTC"}])
    assert loaded == 0
    assert errors == ["record 1: 'Sam' names 2 members (Sam Lee (U1SAM), Sam Cho (U2SAM)): give the platform id"]


async def test_load_skips_bots_and_members_who_left_one_line_each(app):
    """`pairs load` of a sign-up sheet enrolled a bot account and a member whose account was deactivated since (both
    counted in `pairs stats` as enrolled, neither ever paired): each is skipped with its reason, the rest load."""
    from sqlalchemy import func, select

    from bot.cli_pairs import load_enrolments
    from bot.db.mentoring import MentoringEnrolment
    from bot.db.models import Member
    from bot.repo import ensure_community, ensure_member

    async with app.db.sessions.begin() as s:
        community = await ensure_community(s, "slack", "TLEFT")
        await ensure_member(s, community.id, "B1", name="Helper Bot", is_bot=True)
        (await ensure_member(s, community.id, "U1", name="Gone Gina")).deactivated = True
        await ensure_member(s, community.id, "U2", name="Present Pia")
    loaded, errors = await load_enrolments(app, community.id, [
        {"user": name, "role": "mentee", "wants_to_learn": ["racket macros"], "timezone": "Europe/Paris"}
        for name in ("Helper Bot", "Gone Gina", "Present Pia")])
    assert (loaded, errors) == (1, ["record 1 (Helper Bot): a bot account, not a member; not enrolled",
                                    "record 2 (Gone Gina): their account left the community or was deactivated; "
                                    "not enrolled"])
    async with app.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(MentoringEnrolment)) == 1
    # A name a member who left shares with one who is here means the one here (it was "names 2 members").
    async with app.db.sessions.begin() as s:
        (await ensure_member(s, community.id, "U3", name="Present Pia")).deactivated = True
    loaded, errors = await load_enrolments(app, community.id, [
        {"user": "Present Pia", "role": "mentee", "wants_to_learn": ["typed racket"], "timezone": "Europe/Paris"}])
    assert (loaded, errors) == (1, [])
    async with app.db.sessions() as s:
        enrolment = await s.scalar(select(MentoringEnrolment))
        assert (await s.get(Member, enrolment.member_id)).external_id == "U2"
        assert enrolment.wants_to_learn == ["typed racket"]


def test_plan_and_load_print_no_terminal_control_of_a_members_name_or_a_sheets_words(tmp_path):
    """A member's display name with a terminal escape in it (stored as the platform gave it), or a sign-up sheet's
    "user" with one, was printed as it was by `pairs plan` and `pairs load`: it cleared or retitled the admin's
    terminal. Each control character is shown as its escape, as the console shows the bot's words."""
    import sqlite3

    db = f"sqlite:///{tmp_path / 'c.db'}"
    assert run(db, "import", "slack", str(write_slack_export(tmp_path / "export", USERS, THREADS))).exit_code == 0
    with sqlite3.connect(tmp_path / "c.db") as conn:
        conn.execute("UPDATE member SET name = ? WHERE external_id = 'UPG'", ("Petra\x1b]0;owned\x07\u202e",))
    sheet = tmp_path / "mentoring.json"
    sheet.write_text(json.dumps([{"user": "UPG", "role": "mentor", "can_teach": ["postgres"], "timezone": "UTC"},
                                 {"user": "\x1b[2Jnobody", "role": "mentee", "wants_to_learn": ["x"]}]))
    out = run(db, "pairs", "load", str(sheet))
    assert "1 enrolment(s) loaded, 1 skipped" in out.output and "\\x1b[2Jnobody" in out.output, out.output
    out = run(db, "pairs", "plan")
    assert out.exit_code == 0 and "Petra\\x1b]0;owned\\x07\\u202e" in out.output, out.output
    assert not any(c in out.output for c in "\x1b\x07\u202e"), out.output


def test_load_reads_a_sheet_saved_with_a_byte_order_mark(tmp_path):
    """A sign-up sheet saved by Excel or Windows Notepad ("UTF-8 with BOM") was refused whole: "not valid JSON
    (Unexpected UTF-8 BOM (decode using utf-8-sig), line 1)"."""
    db = f"sqlite:///{tmp_path / 'c.db'}"
    assert run(db, "import", "slack", str(write_slack_export(tmp_path / "export", USERS, THREADS))).exit_code == 0
    sheet = tmp_path / "mentoring.json"
    sheet.write_text(json.dumps([{"user": "UPG", "role": "mentor", "can_teach": ["postgres"], "timezone": "UTC"}]),
                     encoding="utf-8-sig")
    out = run(db, "pairs", "load", str(sheet))
    assert out.exit_code == 0 and "1 enrolment(s) loaded" in out.output, out.output


def test_a_sheets_capacity_written_as_text_is_read_as_the_number_and_true_is_none():
    """A sheet converted from a sign-up form or a CSV writes "capacity": "2": the record was skipped ("capacity must
    be a whole number from 1 to 10"), and "capacity": true was taken as 1."""
    import pytest

    from bot.services.mentoring_args import EnrolmentError, request_from_record

    record = {"role": "mentor", "can_teach": "racket"}
    assert [request_from_record({**record, "capacity": c}).capacity for c in ("2", " 3 ", "", 4, None)] == [
        2, 3, None, 4, None]
    for wrong in (True, "0", "11", "two", "²", 2.5):
        with pytest.raises(EnrolmentError, match="capacity must be a whole number from 1 to 10"):
            request_from_record({**record, "capacity": wrong})


def test_pairs_schedule_and_load_refuse_what_cannot_be(tmp_path):
    """The user walk-through: `--min-overlap 30` gave "at least 30 h of shared working hours", `--no-repeat -1` "no
    repeat within -1 rounds", `--on --off` was taken as off, errors named internal fields ("every_weeks must be
    1..12"); a plan announced a round while rounds were off; a JSON object to `pairs load` loaded nothing and exited 0,
    and a missing file printed "[Errno 2] …"."""
    db = f"sqlite:///{tmp_path / 'c.db'}"
    assert run(db, "import", "slack", str(write_slack_export(tmp_path / "export", USERS, THREADS))).exit_code == 0
    for args, flag in ((["--min-overlap", "30"], "--min-overlap"), (["--no-repeat", "-1"], "--no-repeat"),
                       (["--every", "0"], "--every"), (["--hour", "25"], "--hour"), (["--warn-hours", "-5"],
                                                                                        "--warn-hours")):
        out = run(db, "pairs", "schedule", *args)
        assert out.exit_code == 2 and f"Invalid value for '{flag}'" in out.output, (args, out.output)
    out = run(db, "pairs", "schedule", "--warn-hours", "500")
    assert isinstance(out.exception, UserError) and "the warning must come 0 to 336 hours before the round" in str(
        out.exception)
    out = run(db, "pairs", "schedule", "--on", "--off")
    assert isinstance(out.exception, UserError) and "--on and --off" in str(out.exception)

    assert run(db, "pairs", "schedule", "--off").exit_code == 0
    out = run(db, "pairs", "plan")
    assert out.exit_code == 0 and out.output.startswith("Rounds are off here"), out.output
    assert json.loads(run(db, "pairs", "plan", "--json").output)["rounds_on"] is False
    assert run(db, "pairs", "schedule", "--on").exit_code == 0
    out = run(db, "pairs", "plan")
    assert out.output.startswith("Mentoring round"), out.output
    assert json.loads(run(db, "pairs", "plan", "--json").output)["rounds_on"] is True

    wrong = tmp_path / "object.json"
    wrong.write_text(json.dumps({"user": "UPG", "role": "mentor"}))
    out = run(db, "pairs", "load", str(wrong))
    assert isinstance(out.exception, UserError) and str(out.exception) == (
        f"{wrong}: expected a JSON list of enrolments, not dict")
    out = run(db, "pairs", "load", str(tmp_path / "nowhere.json"))
    assert isinstance(out.exception, UserError) and str(out.exception) == f"{tmp_path / 'nowhere.json'}: no such file"
    wrong.write_text("[{")
    out = run(db, "pairs", "load", str(wrong))
    assert isinstance(out.exception, UserError) and str(out.exception).startswith(f"{wrong}: not valid JSON (")


def test_a_schedule_stored_wrong_keeps_rounds_off_and_can_be_mended(tmp_path):
    """A schedule the checks refuse (stored before them, or by hand) fell back to the defaults, rounds on, in a
    community that had switched them off; and `pairs schedule` read it before its flags, so no flag could mend it."""
    import asyncio
    import sqlite3
    from datetime import UTC, datetime

    from bot.app import build_app
    from bot.settings import Settings

    db_file = tmp_path / "c.db"
    db = f"sqlite:///{db_file}"
    assert run(db, "import", "slack", str(write_slack_export(tmp_path / "export", USERS, THREADS))).exit_code == 0
    with sqlite3.connect(db_file) as conn:
        conn.execute("UPDATE community SET settings = ?", (json.dumps(
            {"mentoring": {"enabled": False, "every_weeks": 2, "warn_hours": 1000}}),))

    async def due() -> list:
        from bot.cli_pairs import _service

        app = build_app(Settings(database_url=db))
        try:
            return await _service(app).due(1, datetime.now(UTC))
        finally:
            await app.close()

    assert asyncio.run(due()) == []
    out = run(db, "pairs", "plan", "--json")  # the warning that the schedule cannot be read, then the plan
    assert json.loads(out.output.splitlines()[-1])["rounds_on"] is False
    out = run(db, "pairs", "schedule", "--warn-hours", "24")
    assert out.exit_code == 0 and out.output.startswith("mentoring rounds: off; warning 24 h before"), out.output


def test_pairs_schedule_off_says_a_round_members_were_warned_of_will_not_run(tmp_path):
    """Switching rounds off after a warning said nothing of the round members were told of: the manager did not know
    they would be waiting for it. It says the round will not run, and that they are told at its time."""
    import sqlite3

    db_file = tmp_path / "c.db"
    db = f"sqlite:///{db_file}"
    assert run(db, "import", "slack", str(write_slack_export(tmp_path / "export", USERS, THREADS))).exit_code == 0
    with sqlite3.connect(db_file) as conn:
        conn.execute("INSERT INTO pairing_round (community_id, period_key, scheduled_for, warned_at, solver, "
                     "unmatched, created_at) VALUES (1, '2030-W49', '2030-12-02 10:00:00.000000', "
                     "'2030-12-01 10:00:00.000000', '', '[]', '2030-12-01 10:00:00.000000')")
    out = run(db, "pairs", "schedule", "--off")
    assert out.exit_code == 0, out.output
    assert ("The round members were warned of for Mon 02 Dec 2030, 10:00 UTC will not run: at that time each member "
            "warned of it is told so, unless rounds are switched on again (--on) before it.") in out.output, out.output
    assert "warned of" not in run(db, "pairs", "schedule", "--on").output


def test_pairs_plan_with_nobody_to_pair_and_load_of_an_opted_out_member_say_so_plainly(tmp_path):
    """`pairs plan` with nobody enrolled printed "none solver: 0 pairs, total fit 0.00" (the solver that did not run);
    `pairs load` of a member who opted out told the admin running it "you're opted out of profiling; `/optin` first"."""
    db = f"sqlite:///{tmp_path / 'c.db'}"
    assert run(db, "import", "slack", str(write_slack_export(tmp_path / "export", USERS, THREADS))).exit_code == 0
    out = run(db, "pairs", "plan", "--seed", "5")
    assert out.exit_code == 0, out.output
    assert out.output.splitlines()[0].endswith(", seed 5: no pairs") and "solver" not in out.output, out.output
    assert run(db, "forget", "UREG").exit_code == 0
    enrolments = tmp_path / "mentoring.json"
    enrolments.write_text(json.dumps([{"user": "UREG", "role": "mentor", "can_teach": ["lunch"], "timezone": "UTC"}]))
    out = run(db, "pairs", "load", str(enrolments))
    assert out.exit_code == 1 and "0 enrolment(s) loaded, 1 skipped" in out.output, out.output
    assert "skipped: record 1 (UREG): they opted out of profiling or asked to be forgotten" in out.output, out.output
    assert "you're" not in out.output
