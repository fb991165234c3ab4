"""The `connective` command line (its contract is in DESIGN.md; tools outside the project rely on it)."""
from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import re
import sys
import textwrap
import unicodedata
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import typer.core

from bot.cli_digest import digest_cli as _digest_cli
from bot.errors import Unavailable, UserError
from bot.progress import progress_bar
from bot.safety import storable, usable_id
from bot.urls import workspace_address

if TYPE_CHECKING:
    from rich.text import Text

log = logging.getLogger("connective")


def _usage_pieces(self, ctx) -> list[str]:  # noqa: ANN001
    """An argument in a usage line as click, the README and DESIGN.md write it: PATH, [TEXT], PATHS... Typer 0.2x
    writes a required one in braces, "connective import slack [OPTIONS] {path}", which reads as a placeholder of a
    template (user walk-through)."""
    name = _argument_name(self)
    return [(name if self.required else f"[{name}]") + ("..." if self.nargs != 1 else "")]


def _argument_name(argument) -> str:  # noqa: ANN001
    return argument.metavar or (argument.name or "").upper()


if _typer_argument := getattr(typer.core, "TyperArgument", None):  # a Typer without it writes click's own
    _typer_argument.get_usage_pieces = _usage_pieces
    _typer_argument.get_error_hint = lambda self, *_: f"'{_argument_name(self)}'"  # "Missing argument 'PATH'"

_LIST_TYPE = re.compile(r"<list\[(\w+)\]>")


def _typed_as_items(display_type):  # noqa: ANN001, ANN202
    """A parameter taking several values typed as one of them: Typer 0.2x wrote Python's annotation, "paths...
    <list[Path]>" (import discord --help), beside "path <path>" and "--team <str>" everywhere else."""
    def display(self, ctx) -> str:  # noqa: ANN001
        return _LIST_TYPE.sub(lambda m: f"<{m.group(1).lower()}>", display_type(self, ctx))
    return display


for _parameter in (getattr(typer.core, "TyperArgument", None), getattr(typer.core, "TyperOption", None)):
    if _parameter is not None and hasattr(_parameter, "display_type"):
        _parameter.display_type = _typed_as_items(_parameter.display_type)

# Help as click lays it out: Typer's rich layout puts a type beside every option, flags too ("--json <bool>", even
# "--help <bool>"), which reads as if they took a value. Sub-commands inherit the layout, and the width, which lets a
# wide terminal show each command's summary whole (click cuts it to fit 80 columns).
cli = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None,
                  context_settings={"max_content_width": 120},
                  help="connective: who knows what in your community, intros, digests and mentoring pairs.")
db_cli = typer.Typer(no_args_is_help=True, help="Database schema.")
# `import Slack PATH`: the platform as an admin writes it (it was "No such command 'Slack'")
import_cli = typer.Typer(no_args_is_help=True, help="Import a community's history.",
                         context_settings={"token_normalize_func": str.lower})
cli.add_typer(db_cli, name="db")
cli.add_typer(import_cli, name="import")
cli.add_typer(_digest_cli, name="digest")

from bot.cli_pairs import pairs_cli  # noqa: E402

cli.add_typer(pairs_cli, name="pairs")

from bot.cli_config import config_cli, platform_name  # noqa: E402

cli.add_typer(config_cli, name="config")

from bot.cli_forget import forget  # noqa: E402

cli.command("forget")(forget)

from bot.cli_outbox import outbox_cmd  # noqa: E402

cli.command("outbox")(outbox_cmd)

_state: dict[str, Any] = {}


@cli.callback()
def _main(
    db: Annotated[str | None, typer.Option("--db", help="Database URL (sqlite:///file.db or postgresql://…); "
                                           "default: CONNECTIVE_DATABASE_URL, then the embedded SQLite.")] = None,
    log_level: Annotated[str | None, typer.Option("--log-level", help="DEBUG, INFO, WARNING…")] = None,
) -> None:
    _state["overrides"] = {k: v for k, v in {"database_url": db, "log_level": log_level}.items() if v}


class SettingsError(UserError):
    """Settings that cannot be used: each problem in one line (`config check` lists them all, others the first)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems[0])
        self.problems = problems


_FLAGS = {"database_url": "--db / ", "log_level": "--log-level / "}


def _setting_problems(exc) -> list[str]:  # noqa: ANN001
    """A ValidationError as one line per setting, naming where it is set and never echoing the value (a token)."""
    import difflib

    from bot.settings import Settings, config_file

    found = []
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":  # only the settings file can hold a name no setting has
            near = difflib.get_close_matches(name.lower(), list(Settings.model_fields), n=1, cutoff=0.6)
            found.append(f"{config_file()}: no setting {name!r}" + (f"; did you mean {near[0]!r}?" if near else ""))
        else:
            found.append(f"setting {name} ({_set_in(name, config_file())}): {err['msg']}")
    return found


def _set_in(name: str, config: Path) -> str:
    """Where a setting's value came from, in the order the settings read them: the flag, the environment variable,
    the settings file. A value from connective.toml was said to be CONNECTIVE_NAME's (user walk-through)."""
    import tomllib

    env = f"CONNECTIVE_{name.upper()}"
    if name in _state.get("overrides", {}):
        return _FLAGS[name].removesuffix(" / ")
    if any(key.upper() == env for key in os.environ):  # read whatever its case
        return f"{_FLAGS.get(name, '')}{env}"
    try:
        in_file = any(key.lower() == name for key in tomllib.loads(config.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        in_file = False
    return f"{name} in {config}" if in_file else f"{_FLAGS.get(name, '')}{env}"


def settings(**more: Any):  # noqa: ANN201
    from pydantic import ValidationError

    from bot.logs import setup_logging
    from bot.settings import Settings

    verbose = more.pop("verbose", False)
    try:
        s = Settings(**{**_state.get("overrides", {}), **more})
    except ValidationError as exc:
        raise SettingsError(_setting_problems(exc)) from None
    # One-shot commands print what they did; their INFO lines are noise unless asked for (--log-level, the env).
    quiet = s.log_level == "INFO" and not verbose and "log_level" not in s.model_fields_set
    setup_logging("WARNING" if quiet else s.log_level, json_lines=s.log_json)
    return s


def run_async(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return asyncio.run(fn(*args, **kwargs))


class DatabaseUnreachable(Exception):
    """The configured database did not answer (a server not listening, a host not found, a file not to be opened)."""


async def _open_app(s, *, upgrade: bool = True, serving: bool = False, long_running: bool = False):  # noqa: ANN001, ANN202
    """Statements are cut off at the statement timeout (PostgreSQL), for `connective run` (`serving`) as for a one-shot
    command: one waiting on a lock a stuck session held (a replica paused mid-transaction) waited as long as the lock
    was held, hours, without a word. `long_running`: an import, whose bulk statements may take minutes."""
    from bot.app import build_app
    from bot.db.engine import Database, refuse_in_memory
    from bot.db.migrate import ensure_schema

    refuse_in_memory(s.database_url)

    limited = serving or not long_running
    app = build_app(s, db=Database(s.database_url, statement_timeout=s.database_statement_timeout_seconds)
                    if limited else None)
    if upgrade:
        try:
            await ensure_schema(app.db, index_memory_mb=s.index_build_memory_mb)
        except OSError as exc:  # ConnectionRefusedError; "Multiple exceptions: …" where localhost is ::1 and 127.0.0.1
            await app.close()
            raise DatabaseUnreachable(str(exc)) from None
    return app


# -- db --------------------------------------------------------------------------------------------
@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the schema of the configured database."""
    s = settings()

    from bot.db.engine import refuse_in_memory

    refuse_in_memory(s.database_url)

    async def go() -> tuple[str | None, str | None]:
        from bot.db.engine import Database
        from bot.db.migrate import current_revision, ensure_schema

        db = Database(s.database_url)
        try:
            return await ensure_schema(db, index_memory_mb=s.index_build_memory_mb), await current_revision(db)
        except OSError as exc:  # as every other command says it (deploy/README.md quotes the line)
            raise DatabaseUnreachable(str(exc)) from None
        finally:
            await db.dispose()

    before, after = run_async(go)
    done = ("created" if before is None else f"upgraded from {before}") if before != after else "up to date"
    from bot.db.engine import shown_url

    typer.echo(f"schema {done} (revision {after}): {shown_url(s.database_url)}")


# -- import ----------------------------------------------------------------------------------------
@import_cli.command("slack")
def import_slack(
    path: Annotated[Path, typer.Argument(help="Slack export: folder or .zip")],
    team: Annotated[str | None, typer.Option(help="Workspace (team) id, when users.json lacks team_id")] = None,
    include_private: Annotated[bool, typer.Option(
        "--include-private", help="Also import private channels in the export (direct messages never)")] = False,
    workspace_url: Annotated[str | None, typer.Option(
        help="The workspace's address, e.g. https://acme.slack.com: links to imported messages open there (an "
             "export does not name it; the running bot records it too)")] = None,
) -> None:
    """Import a Slack workspace export (idempotent: a second run adds only what is new)."""
    if team is not None and not re.fullmatch(r"[TE][A-Z0-9]{2,20}", team):
        # "--team acme" (the workspace's name) filed the history under a community the live bot, which knows the
        # workspace by its id, never finds.
        raise UserError(f"--team {team!r}: expected the workspace's id, like T024BE7LD (Slack open in a browser shows "
                        "it after /client/ in its app.slack.com address)")
    address = workspace_address(workspace_url) if workspace_url is not None else None
    if workspace_url is not None and address is None:
        raise UserError(f"--workspace-url {workspace_url!r}: expected the workspace's address, like "
                        "https://acme.slack.com")
    s = settings()

    async def go():  # noqa: ANN202
        app = await _open_app(s, long_running=True)
        return await _stoppable_import(app, app.importer.import_slack(
            path, team=team, include_private=include_private, workspace_url=address, progress=progress_bar))

    _finish_import(run_async(go))


@import_cli.command("discord")
def import_discord(
    paths: Annotated[list[Path], typer.Argument(help="DiscordChatExporter JSON file(s), folder(s) or .zip")],
    include_private: Annotated[bool, typer.Option("--include-private",
                                                  help="Also import private threads in the export")] = False,
) -> None:
    """Import DiscordChatExporter JSON exports (idempotent: a second run adds only what is new)."""
    s = settings()

    async def go():  # noqa: ANN202
        app = await _open_app(s, long_running=True)
        return await _stoppable_import(app, app.importer.import_discord(paths, include_private=include_private,
                                                                        progress=progress_bar))

    report = run_async(go)
    if report.files == 0 and report.files_left_out == 0 and not report.errors:
        # Nothing that is an export was found (an empty folder, a JSON file of another tool): a path to correct, as
        # `import slack` and `eval` say it (exit 2); it exited 1, as an import that read the rest of a damaged export.
        raise UserError("; ".join(report.notes or [f"{', '.join(map(str, paths))}: no export found"]))
    _finish_import(report)


_STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")  # Windows has no SIGHUP


async def _stoppable_import(app, work: Coroutine[Any, Any, Any]) -> Any:  # noqa: ANN001, ANN401
    """Run an import, then close the app. Ctrl-C, SIGTERM or SIGHUP cancel it between two awaits (a chunk of
    messages is one transaction: it is stored whole or not at all), and the command ends with one line saying how
    many messages were stored, exit 128 + the signal's number. A second signal ends the process at once."""
    import signal

    from sqlalchemy import func, select

    from bot.db.models import Message

    async def last_id() -> int:
        async with app.db.sessions() as session:
            return await session.scalar(select(func.max(Message.id))) or 0

    loop = asyncio.get_running_loop()
    got: list[int] = []

    def stop(signum: int, frame: object) -> None:
        if got:
            os._exit(128 + signum)
        got.append(signum)
        loop.call_soon_threadsafe(task.cancel)

    stopping = [getattr(signal, name) for name in _STOP_SIGNALS if hasattr(signal, name)]
    try:
        try:
            before = await last_id()
        except BaseException:
            work.close()  # never started
            raise
        task = asyncio.ensure_future(work)
        previous = {sig: signal.signal(sig, stop) for sig in stopping}
        try:
            return await task
        except asyncio.CancelledError:
            if not got:
                raise
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        # Stopped: what the import committed is kept, and a second import adds only what is missing.
        logging.getLogger("sqlalchemy.pool").setLevel(logging.CRITICAL)  # a connection cut off mid-query
        async with app.db.sessions() as session:
            stored = await session.scalar(select(func.count()).select_from(Message).where(Message.id > before))
    finally:
        await app.close()
    done = ("no new message was stored" if not stored else "1 new message was stored" if stored == 1
            else f"{stored} new messages were stored")
    sys.stdout.flush()
    sys.stderr.write(("\n\x1b[?25h" if sys.stderr.isatty() else "")  # below a progress bar, with the cursor shown
                     + f"error: stopped by {signal.Signals(got[0]).name}; {done}: run the import again to go on "
                     "(what is stored is not imported twice)\n")
    sys.stderr.flush()
    os._exit(128 + got[0])  # the model may still be encoding a batch in a thread: not waited for


def _finish_import(report) -> None:  # noqa: ANN001
    for err in report.errors:
        typer.echo(f"error: {err}", err=True)
    for note in report.notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo(report.summary())
    if report.errors:
        raise typer.Exit(1)


# -- eval ------------------------------------------------------------------------------------------
@contextmanager
def _scratch_directory(prefix: str) -> Iterator[Path]:
    """A temporary directory that is removed however the command ends: done, failed, or stopped by Ctrl-C,
    SIGTERM or SIGHUP (the terminal or ssh session closed). A signal ends the process at once (the work in threads
    need not finish), with one line on stderr and 128 + the signal's number (130, 143, 129)."""
    import shutil
    import signal
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix=prefix))

    def remove() -> None:
        for _ in range(3):  # a thread still writing may have put a file back in the meantime
            shutil.rmtree(scratch, ignore_errors=True)
            if not scratch.exists():
                return

    def stop(signum: int, frame: object) -> None:
        remove()
        sys.stdout.flush()
        tty = sys.stderr.isatty()
        sys.stderr.write(("\n\x1b[?25h" if tty else "")  # below a progress bar, with the cursor it hid shown
                         + f"error: stopped by {signal.Signals(signum).name}; the scratch database was removed\n")
        sys.stderr.flush()
        os._exit(128 + signum)

    # Windows has no SIGHUP
    stopping = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    previous = {sig: signal.signal(sig, stop) for sig in stopping}
    try:
        yield scratch
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        remove()


@cli.command("eval")
def eval_cmd(
    path: Annotated[Path, typer.Argument(help="Slack export (folder or .zip) or DiscordChatExporter JSON")],
    cut: Annotated[float, typer.Option(min=0.3, max=0.95, help="Share of history (by time) used to learn")] = 0.7,
    live: Annotated[bool, typer.Option("--live", help="Follow the later messages up to each question, as the "
                                                       "running bot does (default: replay on the history at the cut)")]
    = False,
    questions: Annotated[int | None, typer.Option("--questions", min=1, help="Ask only this many of the answered "
                                                  "questions, drawn at random with --seed (default: all)")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the --questions draw: the same seed, the same "
                                                     "questions")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON")] = False,
    team: Annotated[str | None, typer.Option(help="Workspace (team) id, when users.json lacks team_id")] = None,
    community: Annotated[str | None, typer.Option(help="The server or workspace (id) when the export holds "
                                                       "several")] = None,
) -> None:
    """Quality of suggestions on your own history: MRR and hit@1/5/10 against simple baselines.

    PATH is imported into a scratch database (a temporary SQLite, removed at the end, also when stopped);
    the configured database (--db, CONNECTIVE_DATABASE_URL) is never read or written.
    """
    import random

    from bot.services.evaluation import evaluate

    if _state.get("overrides", {}).get("database_url"):
        raise UserError("eval imports PATH into a scratch database of its own and never reads or writes --db: "
                        "leave --db out")
    s_base = settings()

    async def go(scratch: Path) -> dict:
        app = await _open_app(s_base.model_copy(update={"database_url": f"sqlite:///{scratch}/eval.db"}))
        try:
            from bot.importers.source import ExportSource

            is_slack = False
            if not (path.is_file() and path.suffix.lower() == ".json"):  # one DiscordChatExporter file
                source = ExportSource(path)
                is_slack = any(source.exists(n) for n in ("users.json", "org_users.json", "channels.json"))
                source.close()
            if is_slack:
                report = await app.importer.import_slack(path, team=team, progress=progress_bar)
            else:
                report = await app.importer.import_discord([path], progress=progress_bar)
            if not report.added:  # the scratch database is empty: say why, not "import first"
                raise UserError(_nothing_to_evaluate(path, report))
            for err in report.errors:
                typer.echo(f"error: {err}", err=True)
            cid = await _community_id(app, community)
            try:
                return await evaluate(app.expertise, cid, cut_share=cut, live=live, sample=questions,
                                      rng=random.Random(seed), progress=progress_bar)
            except ValueError as exc:
                raise UserError(str(exc)) from None
        finally:
            await app.close()

    with _scratch_directory("connective-eval-") as scratch:
        result = run_async(go, scratch)
    sampled = result["questions"] < result["answered_questions"]
    result["sample"] = {"questions": result["questions"], "of": result["answered_questions"], "seed": seed} \
        if sampled else None
    if as_json:
        typer.echo(json.dumps(result))
        return
    if sampled:
        typer.echo(f"a sample of {result['questions']} of the {result['answered_questions']} later questions answered "
                   f"by someone seen before the cut, drawn with --seed {seed} ({result['longtail_questions']} "
                   "answered by someone outside the five top answerers); the figures are the sample's")
    else:
        typer.echo(f"{result['questions']} later questions answered by someone seen before the cut "
                   f"({result['longtail_questions']} answered by someone outside the five top answerers)")
    if not result["questions"]:
        typer.echo("nothing to measure: no thread started after the cut got an answer from someone seen before "
                   "it; a longer history gives some, or try another --cut")
        return  # no table of empty rows, nor a legend of figures not shown
    typer.echo(f"{'system':16} {'n':>5} {'MRR':>6} {'hit@1':>6} {'hit@5':>6} {'hit@10':>6} {'longtail':>8}")
    for name, m in result["systems"].items():
        typer.echo(f"{name:16} {m['n']:5d} {m['mrr']:6.3f} {m['hit@1']:6.3f} {m['hit@5']:6.3f} {m['hit@10']:6.3f} "
                   f"{m['longtail_mrr']:8.3f}")
    for line in _verdict(result["systems"], result["questions"]):
        typer.echo(line)
    if live:
        typer.echo(f"live: the {result['followed_messages']} later messages followed in time order, each question "
                   "asked at its time and in its channel, knowing everything said before it; the baselines count the "
                   "same messages")
    else:
        typer.echo("connective: each question replayed against the history before the cut; connective+time: the "
                   "same, knowing when and in which channel each question was asked (who is usually around then, who "
                   "talks there), as a live question is ranked. `--live` follows the later messages too, as the "
                   "running bot does")
    # "The cut", which every line above speaks of, was said nowhere: when it falls, and what --cut moves.
    cut_at = datetime.fromtimestamp(result["cut"], UTC).strftime("%Y-%m-%d %H:%M")
    typer.echo(f"the cut: {cut_at} UTC, when {cut:.0%} of the messages had been written (--cut); the history "
               "before it is what the systems learn from, the threads started after it are the questions")


# Fewer questions than this tell the systems apart no better than chance: no verdict is drawn from them.
FIRM_QUESTIONS = 30


def _verdict(systems: dict[str, dict], questions: int) -> list[str]:
    """What the table says, for an admin: how connective compares with the best simple baseline, overall and on the
    long tail (unless there are too few questions to say), and what the figures mean."""
    ours = {name: m for name, m in systems.items() if name.startswith("connective")}
    others = {name: m for name, m in systems.items() if name not in ours}
    if not ours or not others:
        return []
    lines = []
    if questions < FIRM_QUESTIONS:
        # A community with little history: "0.44x the best baseline" on 2 questions read as a verdict.
        lines.append(f"only {questions} question(s): too few to tell the systems apart (one question more or less "
                     f"moves an MRR by up to {1 / questions:.2f}), so no comparison is drawn; a longer history (at "
                     f"least {FIRM_QUESTIONS} answered threads after the cut) gives one")
    for key, what in (("mrr", "MRR"), ("longtail_mrr", "long-tail MRR")) if questions >= FIRM_QUESTIONS else ():
        best = max(others, key=lambda name: others[name][key])
        for name, m in ours.items():
            base = others[best][key]
            ratio = f"{m[key] / base:.2f}x" if base > 0 else "n/a (the baselines score 0)"
            lines.append(f"{name}: {what} {m[key]:.3f} = {ratio} the best baseline ({best} {base:.3f})")
    lines.append("MRR: 1 when the member who answered is suggested first, 1/2 when second, ... (0 past the tenth); "
                 "hit@k: how often they are among the first k; long tail: the questions answered by someone outside "
                 "the five top answerers, the expert a list of regulars would not name")
    lines.append("The baselines rank members: most-active, by their messages; top-answerers, by their replies in "
                 "others' threads; answers-at-hour, by those replies within an hour of the time of day the question "
                 "was asked; bm25-doc and dense-doc, by their messages most like the question, by its words (BM25) "
                 "and by meaning (the same sentence model, bare)")
    return lines


def _nothing_to_evaluate(path: Path, report) -> str:  # noqa: ANN001
    """Why an import gave eval nothing, each fact once: a single reason (an empty folder, one damaged file) is the
    one line; several are printed a line each (errors, then notes) before the line that says so."""
    reasons = [*report.errors, *report.notes]
    if len(reasons) == 1:
        return f"{reasons[0]}; no messages to evaluate"
    for err in report.errors:
        typer.echo(f"error: {err}", err=True)
    for note in report.notes[:5]:
        typer.echo(f"note: {note}", err=True)
    return f"{path}: no messages to evaluate"


# -- ask -------------------------------------------------------------------------------------------
@cli.command()
def ask(
    text: Annotated[str | None, typer.Argument(help="The question; omit with --json to read JSON lines")] = None,
    top: Annotated[int, typer.Option("--top", min=1, max=50, help="How many members to suggest")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output; without TEXT, JSON lines in and out")] = False,
    community: Annotated[str | None, typer.Option(help="Community (external id) when the database has several")]
    = None,
    asker: Annotated[str | None, typer.Option(help="The asker, by platform user id or name (never suggested). A "
                                              "name no member has, or several have, is an error; an id nobody "
                                              "has yet is a newcomer asking")] = None,
    channel: Annotated[str | None, typer.Option(help="The channel it is asked in, by platform id or name (#help): "
                                                "who talks there counts, as for a question asked there")] = None,
) -> None:
    """Who knows TEXT? Ranked members with evidence."""
    s = settings()
    if text is None and not as_json:
        raise UserError("give a question (connective ask \"how do I…\"), or --json to read JSON lines from stdin")
    if text is None and channel:
        raise UserError('--channel is for one question: give each JSON line its own "channel"')
    if text is not None:
        try:
            _check_question(text)
        except ValueError as exc:
            raise UserError(str(exc)) from None

    async def go() -> None:
        app = await _open_app(s)
        try:
            if text is not None:
                cid = await _community_id(app, community)
                found = await app.expertise.rank(cid, text, asker=await _asker_id(app, cid, asker, {}), top=top,
                                                 channel=await _channel_ref(app, cid, channel, {}))
                if as_json:
                    typer.echo(json.dumps({"experts": [_expert_json(e) for e in found]}))
                else:
                    from matching.text import mentioned_users

                    _print_experts(text, found, await app.expertise.display_names(cid, mentioned_users(text)))
                return
            if sys.stdin.isatty():  # typed by hand, it waited without a word, as if it hung
                typer.echo('reading questions from stdin, a JSON line each ({"id": …, "text": "…"}); Ctrl-D ends',
                           err=True)
            await _ask_lines(app, top, community)
        finally:
            await app.close()

    run_async(go)


def _expert_json(e) -> dict:  # noqa: ANN001
    return {"user": e.user, "name": e.name, "score": e.score, "why": e.why}


def _json_line(line: str) -> object:
    """One JSON value, or a ValueError saying in a few words why the line is none: the parser's own message named
    a control character for a line cut short, and a line nested thousands deep was an internal error with a
    traceback."""
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        # A line cut inside a string stops at its own line break, which the parser calls a control character.
        why = "cut short" if exc.pos >= len(line.rstrip("\r\n")) else exc.msg.removesuffix(" at")
        raise ValueError(f"not valid JSON ({why}, at column {exc.colno})") from None
    except RecursionError:
        raise ValueError("not valid JSON (nested too deeply)") from None


async def _ask_lines(app, top: int, community: str | None) -> None:  # noqa: ANN001
    """One output line per input line, in order: a line that cannot be answered gets its own error line (with
    its id when it has one) and the batch goes on."""
    ids: dict[str | None, int] = {}
    askers: dict[tuple[int, str], str] = {}
    channels: dict[tuple[int, str], str] = {}
    for n, raw in enumerate(sys.stdin.buffer, 1):
        row_id = None
        try:
            # Decoded line by line, so that bytes that are not UTF-8 spoil only their own line.
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ValueError(f"not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})") from None
            if n == 1:
                line = line.removeprefix("\ufeff")  # a BOM, as some editors and Windows tools write
            if not line.strip():  # still a line of its own: a tool pairs answers with questions by position
                raise ValueError("empty line")
            row = _json_line(line)
            if isinstance(row, dict):
                row_id = row.get("id")
            question = _question_line(row)
            key = question.community or community
            if key not in ids:
                ids[key] = await _community_id(app, key, choose='the line\'s "community" (or --community)')
            asker = await _asker_id(app, ids[key], question.asker, askers, option='"asker"')
            where = await _channel_ref(app, ids[key], question.channel, channels, option='"channel"')
            found = await app.expertise.rank(ids[key], question.text, asker=asker, top=top,
                                             now=question.asked_at, replay=True, channel=where)
            if not found and question.asked_at is not None:
                await _check_said_before(app, ids[key], question.asked_at)
            out = {"id": row_id, "experts": [_expert_json(e) for e in found]}
        except ValueError as exc:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors too
            out = {"id": row_id, "experts": [], "error": f"line {n}: {exc}"}
        except UserError as exc:
            out = {"id": row_id, "experts": [], "error": f"line {n}: {exc}"}
        except Exception as exc:  # noqa: BLE001  (one odd line must not cost the lines after it their answers)
            log.exception("ask: line %d could not be answered", n)
            out = {"id": row_id, "experts": [], "error": f"line {n}: internal error ({type(exc).__name__})"}
        _write_json_line(out)


async def _check_said_before(app, community_id: int, asked_at: datetime) -> None:  # noqa: ANN001
    """A question replayed at a time before anything was said in the community finds nobody: say so (a `ts` in
    milliseconds reads as a time far ahead, and is refused as out of range; one in the wrong year lands here)."""
    first = await app.expertise.first_said(community_id)
    if first is None or asked_at <= first:
        since = "it holds no messages" if first is None else f"its first message is of {first:%Y-%m-%d %H:%M} UTC"
        raise ValueError(f"nothing was said in this community before ts {asked_at:%Y-%m-%d %H:%M:%S} UTC ({since})")


async def _asker_id(app, community_id: int, asker: str | None, known: dict[tuple[int, str], str],  # noqa: ANN001
                    option: str = "--asker") -> str | None:
    """The asker's platform id, given their id or a member's name ("Alice", "@alice"), so that they are never
    suggested to themselves. An id of the platform's shape that nobody here has is kept as it is (a newcomer
    asking); a name no member has (a typo) or several members have is an error. In the console's own community,
    which learns from what is typed, anyone may ask. `known` caches answers."""
    from bot.db.models import Community
    from bot.repo import get_member

    if not asker:
        return None
    _check_reference(asker, option, "a member's")
    if (community_id, asker) not in known:
        async with app.db.sessions() as session:
            community = await session.get(Community, community_id)
            named = await get_member(session, community_id, asker) or (
                await _member_named(session, community, asker, option))
            if named is None and community.platform != "console" and not _platform_id(community.platform, asker) \
                    and not await _shaped_as_ids_here(session, community_id, asker):
                raise await _no_such_member(session, community, asker, option)
        known[(community_id, asker)] = named.external_id if named else asker
    return known[(community_id, asker)]


def _check_reference(value: str, option: str, whose: str) -> None:
    """A member or channel given by id or name that a database can look up: a NUL or a lone surrogate is refused here
    (PostgreSQL refused the query)."""
    if not usable_id(value) and not _usable_name(value):
        raise UserError(f"{option} {value[:40]!r} is neither {whose} id nor a name (control characters, or too long)")


async def _channel_ref(app, community_id: int, channel: str | None, known: dict[tuple[int, str], str],  # noqa: ANN001
                       option: str = "--channel") -> str | None:
    """The platform id of the channel a question is asked in, given its id or its name ("#help", "help"). An id of
    the platform's shape that no channel here has is kept as it is (a DM, a channel nothing is stored from: it
    changes nothing); a name no channel has (a typo) is an error naming the busiest channels. `known` caches
    answers."""
    from sqlalchemy import func, select

    from bot.db.models import Channel, Community, Message
    from bot.repo import name_key

    if not channel:
        return None
    _check_reference(channel, option, "a channel's")
    if (community_id, channel) not in known:
        async with app.db.sessions() as session:
            rows = (await session.execute(select(Channel.external_id, Channel.name)
                                          .where(Channel.community_id == community_id))).all()
            wanted = name_key(channel.strip().removeprefix("#"))
            named = [cid for cid, name in rows if name_key(name or "") == wanted]
            found = next((cid for cid, _ in rows if cid == channel), None)
            if found is None and len(named) > 1:  # Discord lets two channels (in two categories) share a name
                raise UserError(f"{option} {channel!r} names {len(named)} channels ({', '.join(sorted(named)[:10])}): "
                                "give the channel's id")
            found = found or next(iter(named), None)
            platform = (await session.get(Community, community_id)).platform
            if found is None and (channel.startswith("#") or not _channel_shape(platform, channel)):
                count = func.count(Message.id)
                busiest = (await session.scalars(
                    select(Channel.name).join(Message, Message.channel_id == Channel.id)
                    .where(Channel.community_id == community_id, Channel.name != "").group_by(Channel.id)
                    .order_by(count.desc(), Channel.name).limit(8))).all()
                names = ", ".join(f"#{name}" for name in busiest) or "none yet"
                raise UserError(f"{option} {channel!r} names no channel of this community (the busiest: {names})")
        known[(community_id, channel)] = found or channel
    return known[(community_id, channel)]


def _channel_shape(platform: str, value: str) -> bool:
    """Whether `value` has the shape of a channel id on the platform (Slack's "C024BE91L", a DM's "D…", a Discord
    snowflake); anything else is meant as a name."""
    from bot.importers.discord_export import snowflake

    if platform == "slack":
        return re.fullmatch(r"[CDG][A-Z0-9]{2,}", value) is not None
    return snowflake(value) if platform == "discord" else True


def _platform_id(platform: str, value: str) -> bool:
    """Whether `value` has the shape of a member id on the platform (Slack's "U024BE7LH", a Discord snowflake): a
    newcomer's, when no member has it; anything else is meant as a name."""
    from bot.importers.discord_export import snowflake

    if platform == "slack":
        return re.fullmatch(r"[UW][A-Z0-9]{2,}", value) is not None
    return snowflake(value) if platform == "discord" else True


def _id_shape(value: str) -> tuple:
    """The shape of an id: digits only (a Discord snowflake), a UUID, or which kinds of characters it has."""
    if value.isdigit():
        return ("digits",)
    if _UUID.fullmatch(value):
        return ("uuid",)
    return tuple(kind for kind, pattern in _CHAR_KINDS if re.search(pattern, value))


_UUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_CHAR_KINDS = (("upper", "[A-Z]"), ("lower", "[a-z]"), ("digit", "[0-9]"), ("other", "[^A-Za-z0-9]"))
ID_SHAPE_SAMPLE = 200


async def _shaped_as_ids_here(session, community_id: int, value: str) -> bool:  # noqa: ANN001
    """Whether `value` has the shape most of the community's member ids have: an export converted from another
    platform keeps that platform's ids (Discord snowflakes, lower-case or UUID ids in a Slack layout), and a newcomer
    asking there was refused as "no member named '118266806436762146'" (audit 12: 10 of 146 questions)."""
    from sqlalchemy import select

    from bot.db.models import Member

    if any(ch.isspace() for ch in value):
        return False
    ids = (await session.scalars(select(Member.external_id).where(
        Member.community_id == community_id, Member.is_bot.is_(False)).limit(ID_SHAPE_SAMPLE))).all()
    shape = _id_shape(value)
    return bool(ids) and 2 * sum(_id_shape(i) == shape for i in ids) > len(ids)


def _write_json_line(out: dict) -> None:
    line = json.dumps(out, ensure_ascii=False)
    try:
        data = line.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (say in an id, "\udc00"): echoed as the same JSON escape
        data = json.dumps(out).encode("ascii")
    sys.stdout.buffer.write(data + b"\n")
    sys.stdout.flush()


@dataclass(frozen=True)
class _Question:
    text: str
    asker: str | None
    community: str | None
    asked_at: datetime | None
    channel: str | None = None


def _question_line(row: object) -> _Question:
    """The fields of one JSON-lines question, checked: ValueError says what is wrong with the line."""
    if not isinstance(row, dict) or not isinstance(row.get("text"), str):
        raise ValueError("expected an object with a text field")
    _check_question(row["text"])
    return _Question(row["text"], _id_field(row, "asker"), _id_field(row, "community"), _asked_at(row.get("ts")),
                     _id_field(row, "channel"))


def _check_question(text: str) -> None:
    """A question with nothing to search for (empty, blank, only mentions or punctuation) would rank everyone by
    how active they are: an error instead."""
    from matching.text import clean

    if not any(ch.isalnum() for ch in clean(text)):
        raise ValueError("the question has no words to search for (it is empty, or only mentions, punctuation and "
                         "emoji)")


def _id_field(row: dict, name: str) -> str | None:
    """A platform id: a string, or a number (Discord ids are numbers); anything else is the line's error."""
    value = row.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{name} must be a string id, not {type(value).__name__}")
    if not usable_id(value) and not (name == "asker" and _usable_name(str(value))):
        raise ValueError(f"{name} {str(value)[:40]!r} is no id a platform gives (control characters, or too long)")
    return str(value)


def _usable_name(value: str) -> bool:
    """A member's name as an asker ("Emma Virtanen"): printable text a database keeps, of a name's length."""
    return 0 < len(value) <= 200 and value.isprintable() and storable(value) == value


# Times a question can be asked at: from the epoch (chat platforms are younger) to a year before datetime's
# end, leaving room for the windows the ranking reads back from and ahead of the question.
_EARLIEST_ASK = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST_ASK = datetime(9999, 1, 1, tzinfo=UTC)


def _asked_at(value: object) -> datetime | None:
    """When a JSON-lines question was asked, if the line says: epoch seconds (a number, or a Slack ts such as
    "1549711323.574700") or an ISO 8601 time. Without it the question is ranked as a replay, with no hour."""
    if value is None:
        return None
    shown = _shown_json(value)  # as the line has it: `true`, `"tuesday"`, `-5`
    wrong = f"ts {shown} is neither epoch seconds nor an ISO 8601 time"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(wrong)
    try:
        seconds: float | None = float(value)
    except ValueError:
        seconds = None
    when: datetime | None = None
    if seconds is not None:  # a number: a time, or one outside the times a question can be asked
        if math.isnan(seconds):
            raise ValueError(wrong)
        with suppress(ValueError, OverflowError, OSError):
            when = datetime.fromtimestamp(seconds, UTC)
    else:
        try:
            when = datetime.fromisoformat(str(value))
        except ValueError:
            raise ValueError(wrong) from None
        try:
            when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
        except OverflowError:  # "0001-01-01T00:00:00+05:00" is before the first day datetime knows
            when = None
    if when is None or not _EARLIEST_ASK <= when < _LATEST_ASK:
        raise ValueError(f"ts {shown} is outside the times a question can be asked "
                         f"({_EARLIEST_ASK:%Y-%m-%d} to {_LATEST_ASK:%Y-%m-%d})")
    return when


def _shown_json(value: object, limit: int = 40) -> str:
    """A value of a JSON line in an error, written as JSON (true, not Python's True), and cut short."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _community_id(app, wanted: str | None, *, choose: str = "--community") -> int:  # noqa: ANN001
    from bot.repo import list_communities

    async with app.db.sessions() as session:
        communities = await list_communities(session)
    if wanted:
        prefix, colon, rest = wanted.partition(":")
        typed = f"{platform_name(prefix)}:{rest}" if colon else wanted  # "Slack:T024BE7LD": the platform in any case
        for c in communities:
            if {wanted, typed} & {c.external_id, f"{c.platform}:{c.external_id}", str(c.id)}:
                return c.id
        names = ", ".join(f"{c.platform}:{c.external_id}" for c in communities[:10]) or "none yet"
        more = f" and {len(communities) - 10} more" if len(communities) > 10 else ""
        raise UserError(f"no community {wanted!r} in this database (communities: {names}{more})")
    real = [c for c in communities if c.platform != "console"] or communities
    if not real:
        raise UserError("this database holds no community yet: `connective import slack|discord PATH` first")
    if len(real) > 1:
        names = ", ".join(f"{c.platform}:{c.external_id}" for c in real)
        raise UserError(f"several communities here ({names}): choose one with {choose}")
    return real[0].id


HEADER_QUESTION_CHARS = 200  # a pasted log is echoed by its start; the ranking still reads all of it


def _literal(text: str, style: str = "") -> Text:
    """User text to print as it is: a Text (Rich never parses it for markup), with control characters shown as
    "\ufffd" so that an escape sequence in a name or message cannot drive the terminal."""
    from rich.text import Text

    return Text("".join("\ufffd" if unicodedata.category(ch) == "Cc" and ch != "\n" else ch for ch in text),
                style=style)


def _header_question(question: str, names: dict[str, str] | None = None) -> str:
    """The question as people read it: Slack's markup resolved ("<@U1>" as "@name", "&amp;" as "&"), and a long one
    cut at a word, never inside a link."""
    from bot.safety import neutralise
    from matching.text import shown

    text = neutralise(shown(question, names))  # "@everyone" typed as text too, as the chat echoes it
    if len(text) <= HEADER_QUESTION_CHARS:
        return text
    cut = text.rfind(" ", 0, HEADER_QUESTION_CHARS - 1)
    cut = cut if cut > HEADER_QUESTION_CHARS // 2 else HEADER_QUESTION_CHARS - 1
    for link in re.finditer(r"https?://\S+", text):
        if link.start() < cut < link.end() and link.start() > 0:
            cut = link.start()
    return text[:cut].rstrip() + "…"


def _score(score: float) -> str:
    """A suggestion's score (the chance of being the first to answer) to two places; one too small to show reads
    "<0.01", not "0.00", which said the member had no chance at all."""
    return f"{score:.2f}" if score >= 0.005 else "<0.01"


def _print_experts(question: str, found, names: dict[str, str] | None = None) -> None:  # noqa: ANN001
    from rich.console import Console
    from rich.text import Text

    # Everything shown comes from users (the question, names, messages, links): never parsed as markup, so "[/x]"
    # or "[red]" print as typed.
    from bot.core import asked_topic

    console = Console()
    shown = _header_question(asked_topic(question) or question, names)  # "who knows X?" is about X, as in the chat
    if not found:
        console.print(_literal(f"Nobody has talked about “{shown}” yet."))
        return
    if any(e.topical for e in found):
        console.print(_literal(f"Who knows “{shown}”" + ("" if shown.endswith("?") else "?"), "bold"))
    else:  # nothing anyone said bears on it: said so, not "who knows"
        from bot.messages import render

        console.print(_literal(render("ask_regulars_only", topic=shown), "bold"))
    for i, e in enumerate(found, 1):
        console.print(Text.assemble(f"{i}. ", _literal(e.name, "bold"), _literal(f" ({e.user})"),
                                    f"  score {_score(e.score)}"))
        for why, link in zip(e.why, e.permalinks, strict=False):
            # Wrapped under its own indent, so that each piece of evidence reads as one item.
            # A link in it stays on one line, longer than the line if it must (split, it cannot be opened).
            console.print(_literal(textwrap.fill(why, max(console.width, 40), initial_indent="   - ",
                                                 subsequent_indent="     ", break_long_words=False,
                                                 break_on_hyphens=False)), soft_wrap=True)
            if link:  # never wrapped: a link broken over two lines cannot be opened
                console.print(_literal(f"     {link}"), soft_wrap=True)


# -- chat, demo, run -------------------------------------------------------------------------------
async def _member_named(session, community, typed: str, option: str):  # noqa: ANN001, ANN202
    """The member `typed` names, or None when it names nobody; a name several members have ("Sam") is refused,
    listing them with their ids, rather than one of them picked."""
    from bot.repo import members_named

    found = await members_named(session, community.id, typed)
    if len(found) > 1:
        which = ", ".join(f"{m.name} ({m.external_id})" for m in found[:10])
        raise UserError(f"{typed!r} names {len(found)} members of {community.platform}:{community.external_id} "
                        f"({which}): give the platform id {_where(option)}")
    return found[0] if found else None


def _where(option: str) -> str:
    """Where a member is named: "with --asker", or "in the line's "asker"" of a JSON line."""
    return f"with {option}" if option.startswith("-") else f"in the line's {option}"


async def _no_such_member(session, community, as_name: str, option: str = "--as") -> UserError:  # noqa: ANN001
    """An imported community's members are its own: a name not among them (a typo) is refused, naming the nearest
    names and some members, rather than joining the community as a member it never had."""
    import difflib

    from sqlalchemy import func, select

    from bot.db.models import Member, Message
    from bot.repo import name_key

    count = func.count(Message.id)
    rows = (await session.execute(select(Member.name, Member.deactivated, count)
                                  .outerjoin(Message, Message.author_id == Member.id)
                                  .where(Member.community_id == community.id, Member.is_bot.is_(False))
                                  .group_by(Member.id).order_by(count.desc(), Member.name))).all()
    # The nearest names are anyone's (a replay asks as members who have left since), said so; the members listed
    # are people who are here: no bots, nobody who left.
    folded: dict[str, str] = {}
    for name, left, _ in rows:
        if name:
            folded.setdefault(name_key(name), f"{name} (left)" if left else name)
    names = [name for name, left, _ in rows if name and not left]
    typed = name_key(as_name.strip())
    near = [folded[n] for n in difflib.get_close_matches(typed, list(folded), n=3, cutoff=0.6)]
    # A whole name where the community knows its first part ("Sam Taylor", whose display name is Sam)
    near += [name for key, name in folded.items() if typed.startswith(key + " ") and name not in near][:3 - len(near)]
    hint = f"did you mean {', '.join(near)}? " if near else ""
    some = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    return UserError(f"no member named {as_name!r} in {community.platform}:{community.external_id}: {hint}"
                     f"give a member's name or platform id {_where(option)} (members: {some or 'none'})")


async def _console_member(app, community: str | None, as_name: str | None, *,  # noqa: ANN001, ANN202
                          members_only: bool = False):
    """The community a console session talks to, and who types in it: (community, user id, name). `as_name` None:
    `run --platform console` without --as, the bot's admin, who is a member only of the console's own community."""
    from bot.db.models import Community
    from bot.repo import ensure_community, list_communities

    async with app.db.sessions.begin() as session:
        if community is None and not await list_communities(session):
            # An empty database: start the console's own community, which learns from what is typed.
            await ensure_community(session, "console", app.settings.console_community, name="console")
    cid = await _community_id(app, community)
    async with app.db.sessions() as session:
        c = await session.get(Community, cid)
        member = await _member_named(session, c, as_name or "admin", "--as")
        if member is None and members_only and c.platform != "console":
            if as_name is None:
                raise UserError(f"{c.platform}:{c.external_id} is an imported community: give --as with the name or "
                                f"platform id of the member you speak as (`connective chat --as NAME` does the same)")
            raise await _no_such_member(session, c, as_name)
    as_name = as_name or "admin"
    # --as only picks the member: what was typed ("elin", a platform id) never renames them
    return c, member.external_id if member else f"console-{as_name.lower()}", member.name if member else as_name


async def _console_session(app, community: str | None, as_name: str | None,  # noqa: ANN001
                           script: list[str] | None = None, *, members_only: bool = False) -> None:
    from adapters.console.adapter import ConsoleAdapter
    from adapters.console.chat import chat

    c, user, name = await _console_member(app, community, as_name, members_only=members_only)

    async def names(ids: set[str]) -> dict[str, str]:
        from sqlalchemy import select

        from bot.db.models import Channel, Member

        async with app.db.sessions() as session:
            channels = await session.execute(select(Channel.external_id, Channel.name).where(
                Channel.community_id == c.id, Channel.external_id.in_(ids)))
            members = await session.execute(select(Member.external_id, Member.name).where(
                Member.community_id == c.id, Member.external_id.in_(ids)))
            return {**{i: f"#{n}" for i, n in channels if n}, **{i: n for i, n in members if n}}

    adapter = ConsoleAdapter(app.core.handle, community=c.external_id, platform=c.platform, admin=True, names=names)
    if script is None:
        typer.echo(f"You are {name or user} in {c.platform}:{c.external_id}. Ask “who knows …?”, or /help. "
                   "Ctrl-D ends.")
        await chat(adapter, user, user_name=name)
        return
    for line in script:
        typer.echo(f"{as_name or name}> {line}")
        for text in await adapter.say(user, line, user_name=name):
            typer.echo(f"connective> {text}\n")


@cli.command("chat")
def chat_cmd(
    as_name: Annotated[str, typer.Option("--as", help="Your member name (or platform id) in the community")],
    community: Annotated[str | None, typer.Option(help="Community external id when there are several")] = None,
) -> None:
    """Chat with the bot in this terminal as a member of a community."""
    s = settings()

    async def go() -> None:
        app = await _open_app(s)
        try:
            await _console_session(app, community, as_name, members_only=True)
        finally:
            await app.close()

    run_async(go)


@cli.command()
def demo(
    no_input: Annotated[bool, typer.Option("--no-input", help="Run the scripted tour and exit")] = False,
    as_name: Annotated[str | None, typer.Option("--as", help="Chat as this sample member")] = None,
) -> None:
    """The embedded default: a fresh SQLite database, the bundled sample community, the console."""
    import tempfile
    from importlib import resources

    # The database lives as long as the demo: each run left a connective-demo-* folder behind.
    scratch = tempfile.TemporaryDirectory(prefix="connective-demo-", ignore_cleanup_errors=True)
    s = settings(database_url=f"sqlite:///{scratch.name}/demo.db")
    tour = json.loads(resources.files("bot").joinpath("sample", "tour.json").read_text())

    async def go() -> None:
        app = await _open_app(s)
        try:
            sample = Path(str(resources.files("bot").joinpath("sample", "community")))
            typer.echo("Loading the sample community (a fictional Slack export) through the importer…")
            report = await app.importer.import_slack(sample, progress=progress_bar)
            typer.echo(report.summary() + "\n")
            await _demo_extras(app, report)
            name = as_name or tour["as"]
            await _console_session(app, None, name, script=tour["script"] if no_input else None, members_only=True)
        finally:
            await app.close()

    with scratch:
        run_async(go)


async def _demo_extras(app, report) -> None:  # noqa: ANN001
    """Hook for features that add to the demo (mentoring enrolments, digests)."""
    from bot.cli_pairs import demo_mentoring

    await demo_mentoring(app)

    from bot.cli_digest import demo_digest

    await demo_digest(app)


@cli.command()
def run(
    platform: Annotated[str, typer.Option("--platform", help="slack, discord or console", callback=platform_name)
                        ] = "console",
    as_name: Annotated[str | None, typer.Option(
        "--as", help="console only: your member name (default: admin, in the console's own community)")] = None,
) -> None:
    """Run the bot on a platform."""
    s = settings(verbose=True)
    if platform == "console":
        async def run_platform(app) -> None:  # noqa: ANN001
            app.health.connected("console")
            await _console_session(app, None, as_name, members_only=True)
    elif platform == "slack":
        from adapters.slack.runner import run as run_platform
    elif platform == "discord":
        from adapters.discord.runner import run as run_platform
    else:
        raise UserError(f"--platform must be slack, discord or console, not {platform!r}")
    from bot.cli_config import missing_tokens

    if missing := missing_tokens(s, platform):
        # Before the database and the ports: a token not set was told only after the schema was upgraded and the
        # metrics port opened, and a port already taken hid it behind "cannot listen".
        raise UserError("; ".join(missing) + f" (`connective config check --platform {platform}` checks every setting)")

    async def go() -> None:
        from bot.serve import serve

        app = await _open_app(s, serving=True)  # the database answered here: what fails below is the platform or a port
        try:
            if platform == "console":  # who types, before the ports open and the console is said to be connected
                await _console_member(app, None, as_name, members_only=True)
            from bot.db.engine import shown_url
            from bot.db.migrate import current_revision

            # Which database the bot keeps its data in: a misspelt or missing CONNECTIVE_DATABASE_URL ran it on the
            # embedded SQLite, and nothing at start said so. Never with its password.
            log.info("database %s (schema %s)", shown_url(s.database_url), await current_revision(app.db))
            # The model, before the platform: a model_path holding none was found at the first message or question,
            # each failing, while /healthz said all was well.
            await asyncio.to_thread(app.embedder.load)
        except BaseException:
            await app.close()
            raise
        try:
            await serve(app, run_platform)  # closes the app
        except OSError as exc:  # aiohttp's ClientConnectorError, a refused connection, a timeout, a port taken
            raise Unavailable(_unreachable(platform, exc)) from None

    run_async(go)


_PLATFORM_NAMES = {"slack": "Slack (CONNECTIVE_SLACK_API_URL when set)",
                   "discord": "Discord (CONNECTIVE_DISCORD_API_URL when set)"}


def _unreachable(platform: str, exc: OSError) -> str:
    """What `connective run` could not reach, or which port it could not listen on, rather than the database."""
    import errno

    detail = str(exc) or type(exc).__name__
    if exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
        return f"cannot listen: {detail} (CONNECTIVE_METRICS_PORT, CONNECTIVE_HTTP_PORT)"
    return f"cannot reach {_PLATFORM_NAMES.get(platform, platform)}: {detail}"


def _unknown_command_prints_help() -> None:
    """`connective frobnicate`: say so in one line, then show the whole help instead of a hint."""
    import click

    group = typer.main.get_command(cli)
    args = iter(sys.argv[1:])
    name = None
    for arg in args:
        if arg in ("--db", "--log-level"):
            next(args, None)  # the option's value
        elif not arg.startswith("-"):
            name = arg
            break
    if name is not None and name not in group.commands:  # type: ignore[attr-defined]
        typer.echo(f"error: no command {name!r}", err=True)
        text = group.get_help(click.Context(group, info_name="connective"))
        if text.strip():
            typer.echo(text)
        sys.exit(2)


def _timeout_setting() -> str:
    try:
        return f"{settings().database_statement_timeout_seconds:g} s"
    except Exception:  # noqa: BLE001 - the settings were read once already; a line without the figure rather than none
        return "set"


def json_logs() -> bool:
    """Whether the settings asked for JSON log lines (CONNECTIVE_LOG_JSON; set up by settings())."""
    from bot.logs import JsonFormatter

    return any(isinstance(handler.formatter, JsonFormatter) for handler in logging.getLogger().handlers)


def _fatal(text: str, status: int) -> None:
    """The one line a command ends with, then exit `status`. Where the settings asked for JSON logs (the image's
    default, deploy/README.md: "each line on stderr is one JSON object"), it is one too: it was the one plain line among
    them, and a log pipeline parsing them lost exactly the line saying why the bot stopped."""
    if json_logs():
        log.error("%s", text)
    else:
        typer.echo(f"error: {text}", err=True)
    sys.exit(status)


def main() -> None:
    try:
        _unknown_command_prints_help()
        cli()
    except Unavailable as exc:  # a platform, a port: as the database, not the command line
        _fatal(str(exc), 1)
    except UserError as exc:
        _fatal(str(exc), 2)
    except DatabaseUnreachable as exc:
        _fatal(f"database (--db / CONNECTIVE_DATABASE_URL) not reachable: {exc}", 1)
    except OSError as exc:  # a file (named when the system says which), or a connection
        where = f"{exc.filename}: {exc.strerror}" if exc.filename else f"database (--db / CONNECTIVE_DATABASE_URL) " \
                                                                       f"or file: {exc}"
        _fatal(where, 1)
    except Exception as exc:
        from sqlalchemy.exc import DBAPIError, OperationalError

        from bot.db.engine import QUERY_CANCELED

        if isinstance(exc, OperationalError | DBAPIError):
            if getattr(exc.orig, "sqlstate", None) == QUERY_CANCELED:  # cut off at the statement timeout
                _fatal("database (--db / CONNECTIVE_DATABASE_URL): a statement waited past the statement timeout "
                       f"(CONNECTIVE_DATABASE_STATEMENT_TIMEOUT_SECONDS: {_timeout_setting()}), on a lock another "
                       "session holds or a slow query: try again, or raise the setting (0: no limit)", 1)
            first = str(getattr(exc, "orig", exc)).splitlines()[0]
            _fatal(f"database (--db / CONNECTIVE_DATABASE_URL): {first}", 1)
        raise
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    sys.modules.setdefault("bot.cli", sys.modules[__name__])  # sub-apps importing bot.cli share this state
    main()
