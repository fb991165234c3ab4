"""`connective pairs …`: mentoring rounds from the command line (dry-run plan, stats, schedule, load)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from bot.errors import UserError
from bot.render_text import visible

pairs_cli = typer.Typer(no_args_is_help=True, help="Mentoring pairs: plan a round, statistics, schedule.")

DEMO_SEED = 20261207
OVERDUE_AFTER = timedelta(minutes=15)  # a warned round not run this long after its time: the bot is not serving it


def _service(app):  # noqa: ANN001, ANN202
    from bot.services.mentoring import MentoringService

    return MentoringService(db=app.db, core=app.core, expertise=app.expertise)


def _run(go) -> object:  # noqa: ANN001
    from bot import cli

    s = cli.settings()

    async def wrapped():  # noqa: ANN202
        app = await cli._open_app(s)
        try:
            return await go(app)
        finally:
            await app.close()

    return cli.run_async(wrapped)


async def _community(app, wanted: str | None) -> int:  # noqa: ANN001
    from bot import cli

    return await cli._community_id(app, wanted)


@pairs_cli.command("plan")
def plan_cmd(
    community: Annotated[
        str | None, typer.Option(help="Community (external id) when the database has several")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Replay a round's tie-breaking (the seed is printed)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False,
) -> None:
    """Dry run of the next round: the pairs, their fit and the unmatched with reasons. Nothing is sent."""

    async def go(app):  # noqa: ANN001, ANN202
        from bot.db.models import Community
        from bot.services.mentoring_cadence import Cadence

        cid = await _community(app, community)
        async with app.db.sessions() as session:
            settings = (await session.get(Community, cid)).settings
        enabled = Cadence.stored_enabled(settings)
        return await _service(app).plan(cid, seed=seed), enabled

    planned, enabled = _run(go)
    if as_json:
        typer.echo(json.dumps({**plan_json(planned), "rounds_on": enabled}, ensure_ascii=False))
    else:
        # Rounds switched off (pairs schedule --off) do not run: the plan is what one would pair.
        off = "" if enabled else "Rounds are off here (`pairs schedule --on` runs them): this is what one would pair.\n"
        typer.echo(visible(off + format_plan(planned)))


def plan_json(planned) -> dict:  # noqa: ANN001
    return {
        "period": planned.period.key,
        "round_at": planned.period.round_at.isoformat(),
        "seed": planned.seed,
        "solver": planned.plan.solver,
        "total_fit": round(planned.plan.total_fit, 4),
        "pairs": [
            {
                "mentor": p.mentor,
                "mentor_name": planned.name(p.mentor),
                "mentee": p.mentee,
                "mentee_name": planned.name(p.mentee),
                "fit": p.fit,
                "topic_fit": p.topic_fit,
                "expertise": p.expertise,
                "overlap_hours": p.overlap_hours,
                "shared_topics": [[s.wanted, s.taught, s.similarity] for s in p.shared_topics],
            }
            for p in planned.plan.pairs
        ],
        "unmatched": [
            {"user": u.key, "name": planned.name(u.key), "reason": u.reason, "why": u.explanation}
            for u in planned.plan.unmatched
        ],
    }


def format_plan(planned) -> str:  # noqa: ANN001
    plan = planned.plan
    when = planned.period.round_at.strftime("%a %d %b %Y %H:%M UTC")
    # Nobody to pair: no solver ran ("none solver") and there is no fit to total.
    made = f", {plan.solver} solver: {len(plan.pairs)} pair{'s' if len(plan.pairs) != 1 else ''}, total fit " \
           f"{plan.total_fit:.2f}" if plan.pairs or plan.solver != "none" else ": no pairs"
    lines = [f"Mentoring round {planned.period.key} ({when}), seed {planned.seed}{made}"]
    if not plan.pairs and not plan.unmatched:
        lines.append("Nobody is enrolled (or everyone paused or skipped this round).")
    if plan.pairs:
        lines.append(f"  {'fit':>5}  {'mentor':<24} {'mentee':<24} {'overlap':>7}  shared topics")
    for p in plan.pairs:
        topics = "; ".join(
            s.wanted if s.wanted == s.taught else f"{s.wanted} ~ {s.taught}" for s in p.shared_topics
        )
        lines.append(
            f"  {p.fit:5.2f}  {planned.name(p.mentor)[:24]:<24} {planned.name(p.mentee)[:24]:<24} "
            f"{p.overlap_hours:>6g}h  {topics}"
        )
    if plan.unmatched:
        lines.append("Unmatched:")
        for u in plan.unmatched:
            lines.append(f"  {planned.name(u.key)}: {u.explanation}")
    return "\n".join(lines)


@pairs_cli.command("stats")
def stats_cmd(
    community: Annotated[
        str | None, typer.Option(help="Community (external id); default: every community")
    ] = None,
) -> None:
    """Rounds, pairs and check-in answers (did they meet?) for admins."""

    async def go(app):  # noqa: ANN001, ANN202
        from sqlalchemy import select

        from bot.db.mentoring import MentoringEnrolment, PairingRound

        service = _service(app)
        if community:
            ids = [await _community(app, community)]
        else:
            async with app.db.sessions() as session:
                ids = sorted(
                    set(await session.scalars(select(MentoringEnrolment.community_id).distinct()))
                    | set(await session.scalars(select(PairingRound.community_id).distinct()))
                )
        return [await service.stats(cid) for cid in ids]

    found = _run(go)
    if not found:
        typer.echo("No community has mentoring enrolments or rounds yet.")
        return
    typer.echo(visible("\n\n".join(format_stats(s) for s in found)))


def format_stats(stats, now: datetime | None = None) -> str:  # noqa: ANN001
    enrolled = ", ".join(f"{n} {role}" for role, n in sorted(stats.enrolled.items())) or "nobody"
    lines = [
        f"{stats.community}: rounds {stats.cadence}",
        f"  enrolled: {enrolled}; {stats.paused} paused, {stats.skipping} skipping the next round"
        + (f"; {stats.away} away (opted out or left, never paired)" if stats.away else ""),
    ]
    if not stats.rounds:
        lines.append("  no round has run yet")
    else:
        lines.append(
            f"  {'round':<10} {'pairs':>5} {'introduced':>10} {'unmatched':>9} {'checked in':>10} {'answered':>8} "
            f"{'met':>4} {'not yet':>7}"
        )
        for r in stats.rounds:
            lines.append(
                f"  {r.period_key:<10} {r.pairs:>5} {r.introduced:>10} {r.unmatched:>9} {r.checkins:>10} "
                f"{r.answered:>8} {r.met:>4} {r.not_met:>7}"
            )
        total = sum(r.pairs for r in stats.rounds)
        answered = sum(r.answered for r in stats.rounds)
        met = sum(r.met for r in stats.rounds)
        rate = f"{100 * met / answered:.0f}% of answered pairs met" if answered else "no check-in answers yet"
        lines.append(f"  {total} pairs in {len(stats.rounds)} round(s); {rate}")
        lines.append(f"  latest round ({stats.rounds[-1].period_key}):")

        def said(v: bool | None) -> str:
            return "met" if v else "not yet" if v is False else "-"

        for p in stats.latest_pairs:
            lines.append(
                f"    {p['fit']:.2f}  {p['mentor']} → {p['mentee']}  "
                f"(mentor: {said(p['mentor_met'])}, mentee: {said(p['mentee_met'])})"
            )
    for r in stats.not_run:  # warned rounds the table does not show: not run yet, or never to run
        when = f"{r.scheduled_for:%a %d %b %Y %H:%M} UTC"
        told = f"; {r.told} warned member(s) told" if r.told else ""
        overdue = r.scheduled_for < (now or datetime.now(UTC)) - OVERDUE_AFTER  # a tick or two is no news
        lines.append(f"  round {r.period_key} " + (
            f"warned for {when}, not run yet" + (
                ": overdue, the bot is not serving this community (stopped, or removed from the server); it runs "
                "once the bot is back, or is closed as missed, and the warned told, if the next round is due by then"
                if overdue else "") if r.state == "warned"
            else f"did not run ({when}): the bot was away from its time until the next round was due{told}"
            if r.state == "missed"
            else f"cancelled ({when}): rounds were switched off{told}"))
    return "\n".join(lines)


@pairs_cli.command("schedule")
def schedule_cmd(
    community: Annotated[str | None, typer.Option(help="Community (external id)")] = None,
    every: Annotated[int | None, typer.Option(min=1, max=12, help="Weeks between rounds")] = None,
    day: Annotated[str | None, typer.Option(help="Weekday of the round: mon … sun")] = None,
    hour: Annotated[int | None, typer.Option(min=0, max=23, help="Hour of the round, in --timezone")] = None,
    timezone: Annotated[
        str | None, typer.Option(help="IANA time zone of the schedule, e.g. Europe/Berlin")
    ] = None,
    warn_hours: Annotated[float | None, typer.Option(min=0, help="Hours between the warning and the round")] = None,
    no_repeat: Annotated[int | None, typer.Option(min=0, help="No pair repeated within this many rounds")] = None,
    min_overlap: Annotated[
        float | None, typer.Option(min=0, max=24, help="Minimum working-hours overlap of a pair (hours)")
    ] = None,
    off: Annotated[bool, typer.Option("--off", help="Stop running rounds in this community")] = False,
    on: Annotated[bool, typer.Option("--on", help="Run rounds again")] = False,
) -> None:
    """Show or change when a community's mentoring rounds run."""
    from bot.services.mentoring_cadence import WEEKDAYS, Cadence
    from matching.timezones import UnknownTimezone, resolve_timezone

    changes: dict[str, object] = {
        k: v
        for k, v in {
            "every_weeks": every,
            "hour": hour,
            "timezone": timezone,
            "warn_hours": warn_hours,
            "no_repeat_rounds": no_repeat,
            "min_overlap_hours": min_overlap,
        }.items()
        if v is not None
    }
    if timezone is not None:  # as a member's is read: "EST" (UTC-5 all year) or "UTC+2" is answered with the form
        try:
            changes["timezone"] = resolve_timezone(timezone)
        except UnknownTimezone as exc:
            raise UserError(f"mentoring schedule: {exc}") from None
    if day is not None:
        if day[:3].lower() not in WEEKDAYS:
            raise UserError(f"--day must be one of {', '.join(WEEKDAYS)}, not {day!r}")
        changes["weekday"] = WEEKDAYS.index(day[:3].lower())
    if off and on:
        raise UserError("--on and --off: give one of them")
    if off or on:
        changes["enabled"] = on

    async def go(app):  # noqa: ANN001, ANN202
        from sqlalchemy import select

        from bot.db.mentoring import PairingRound
        from bot.db.models import Community

        cid = await _community(app, community)
        async with app.db.sessions.begin() as session:
            row = await session.get(Community, cid)
            try:
                cadence = Cadence.from_settings(row.settings, changes)
            except (TypeError, ValueError) as exc:
                raise UserError(f"mentoring schedule: {exc}") from None
            if changes:
                row.settings = {**(row.settings or {}), "mentoring": cadence.as_settings()}
            # Rounds members were warned of that have not run: with rounds off, each is cancelled at its time.
            warned = list(await session.scalars(select(PairingRound.scheduled_for).where(
                PairingRound.community_id == cid, PairingRound.warned_at.is_not(None),
                PairingRound.ran_at.is_(None), PairingRound.cancelled_at.is_(None))
                .order_by(PairingRound.scheduled_for)))
        return cadence, warned

    cadence, warned = _run(go)
    status = cadence.describe() if cadence.enabled else "off"
    typer.echo(
        f"mentoring rounds: {status}; warning {cadence.warn_hours:g} h before; check-in after "
        f"{cadence.checkin_days:g} days; no repeat within {cadence.no_repeat_rounds} rounds; "
        f"at least {cadence.min_overlap_hours:g} h of shared working hours"
    )
    if not cadence.enabled:
        for at in warned:
            typer.echo(f"The round members were warned of for {at:%a %d %b %Y, %H:%M} UTC will not run: at that time "
                       "each member warned of it is told so, unless rounds are switched on again (--on) before it.")


@pairs_cli.command("load")
def load_cmd(
    path: Annotated[
        Path,
        typer.Argument(
            help="JSON list of {user, role, can_teach, wants_to_learn, timezone, "
            "capacity}; user is a platform id or a member name"
        ),
    ],
    community: Annotated[str | None, typer.Option(help="Community (external id)")] = None,
) -> None:
    """Enrol members from a JSON file, such as a sign-up form's export; existing enrolments are updated."""
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        # utf-8-sig: a sheet saved by Excel or Notepad starts with a BOM, and was refused as "not valid JSON"
        records = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: {exc}") from None
    if not isinstance(records, list):  # nothing would be loaded: a mistake, not a list of bad records
        raise UserError(f"{path}: expected a JSON list of enrolments, not {type(records).__name__}")

    async def go(app):  # noqa: ANN001, ANN202
        return await load_enrolments(app, await _community(app, community), records)

    loaded, errors = _run(go)
    for err in errors:
        typer.echo(visible(f"skipped: {err}"), err=True)
    typer.echo(f"{loaded} enrolment(s) loaded" + (f", {len(errors)} skipped" if errors else ""))
    if errors:  # as an import with a damaged file: the rest is loaded, and a script running it learns of the rest
        raise typer.Exit(1)


async def load_enrolments(app, community_id: int, records: object) -> tuple[int, list[str]]:  # noqa: ANN001
    """Enrol each record's member; a bad record is skipped with its reason, the others still load."""
    from bot.repo import members_named
    from bot.services.mentoring_args import EnrolmentError, request_from_record

    if not isinstance(records, list):
        return 0, ["expected a JSON list of enrolments"]
    service = _service(app)
    loaded, errors = 0, []
    for n, record in enumerate(records, 1):
        if not isinstance(record, dict) or not isinstance(record.get("user"), str):
            errors.append(f"record {n}: expected an object with a user field")
            continue
        async with app.db.sessions() as session:
            found = await members_named(session, community_id, record["user"])
        if len(found) > 1 and len(present := [m for m in found if not (m.is_bot or m.deactivated)]) == 1:
            found = present  # "Sam": the Sam who is here, not the one who left (who would not be enrolled anyway)
        if len(found) != 1:  # several: say whom, rather than enrol one of them or call them nobody
            several = ", ".join(f"{m.name} ({m.external_id})" for m in found[:5])
            errors.append(f"record {n}: {record['user']!r} names {len(found)} members ({several}): give the platform "
                          "id" if found else f"record {n}: no member {record['user']!r} in this community")
            continue
        member = found[0]
        if member.is_bot or member.deactivated:  # a sign-up sheet outlives people: nobody such is ever paired
            errors.append(f"record {n} ({record['user']}): " + (
                "a bot account, not a member" if member.is_bot
                else "their account left the community or was deactivated") + "; not enrolled")
            continue
        if not member.profiling_consent:  # said to whoever runs the load, not "you're opted out" as to the member
            errors.append(f"record {n} ({record['user']}): they opted out of profiling or asked to be forgotten; "
                          "they join mentoring themselves once they `/optin`")
            continue
        try:
            await service.enrol(community_id, member.id, request_from_record(record))
        except EnrolmentError as exc:
            errors.append(f"record {n} ({record['user']}): {exc}")
            continue
        loaded += 1
    return loaded, errors


async def demo_mentoring(app, *, now: datetime | None = None) -> None:  # noqa: ANN001
    """The demo's mentoring part: enrol the sample community's sidecar (community/mentoring.json) and,
    unless the tour says `"pairs_plan": false`, print the plan of the next round."""
    sample = resources.files("bot").joinpath("sample")
    sidecar = sample.joinpath("community", "mentoring.json")
    if not sidecar.is_file():
        return
    tour = (
        json.loads(sample.joinpath("tour.json").read_text()) if sample.joinpath("tour.json").is_file() else {}
    )
    cid = await _community(app, None)
    loaded, errors = await load_enrolments(app, cid, json.loads(sidecar.read_text(encoding="utf-8")))
    for err in errors:
        typer.echo(f"mentoring sample: skipped {err}", err=True)
    if not tour.get("pairs_plan", True):
        return
    planned = await _service(app).plan(cid, seed=DEMO_SEED, now=now or datetime.now(UTC))
    typer.echo(f"{loaded} members are enrolled in mentoring; `connective pairs plan` shows the next round:")
    typer.echo(format_plan(planned) + "\n")
