"""`connective digest …`: see a digest of any period, on live or imported history."""
from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from bot.errors import UserError

digest_cli = typer.Typer(no_args_is_help=True, help="Digests of the resources a community shared and valued.")


def parse_when(value: str | None, timezone: str, *, end_of_day: bool = False) -> datetime | None:
    """An ISO date or date-time; read in the community's time zone when it has none. A bare date as
    an end means the end of that day."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UserError(f"{value!r} is not a date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM)") from None
    if len(value) <= 10 and end_of_day:
        parsed = datetime.combine(parsed.date() + timedelta(days=1), time())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(timezone))


@digest_cli.command("preview")
def preview(
    community: Annotated[str | None, typer.Option(help="Community (external id) when the database has several")]
    = None,
    since: Annotated[str | None, typer.Option(help="Start of the period (YYYY-MM-DD[THH:MM])")] = None,
    until: Annotated[str | None, typer.Option(help="End of the period, inclusive for a bare date")] = None,
    channel: Annotated[str | None, typer.Option(help="Use this channel's digest subscription (id or name)")]
    = None,
) -> None:
    """Print the digest of a period (default: the current one; on an imported history, its last
    active period)."""
    from bot.cli import _community_id, _open_app, run_async, settings

    s = settings()

    async def go() -> str:
        app = await _open_app(s)
        try:
            cid = await _community_id(app, community)
            digest = None
            if channel:
                digest = await _subscription(app, cid, channel)
            zone = digest.timezone if digest else await app.digests.timezone_of(cid, None)
            start, end = parse_when(since, zone), parse_when(until, zone, end_of_day=True)
            if start and end and start >= end:
                raise UserError("--since must be before --until")
            doc = await app.digests.preview(cid, digest=digest, since=start, until=end)
            return doc.plain()
        finally:
            await app.close()

    typer.echo(run_async(go))


async def _subscription(app, community_id: int, channel: str):  # noqa: ANN001, ANN202
    """The digest subscription of the channel named by its id or name ("#general", "General": case and the way its
    accents are encoded aside, as the other commands read names). None found: the error names the channels that have
    one, where it only said there was none for the channel typed."""
    from sqlalchemy import select

    from bot.db.models import Channel
    from bot.db.resources import Digest
    from bot.repo import name_key

    async with app.db.sessions() as session:
        rows = (await session.execute(
            select(Digest, Channel.name).join(Channel, (Channel.community_id == Digest.community_id)
                                              & (Channel.external_id == Digest.channel_external_id), isouter=True)
            .where(Digest.community_id == community_id).order_by(Digest.id))).all()
    wanted = channel.strip().removeprefix("#")
    for digest, name in rows:
        if digest.channel_external_id == wanted or name_key(name or "") == name_key(wanted):
            return digest
    having = ", ".join(f"#{name}" if name else digest.channel_external_id for digest, name in rows)
    raise UserError(f"no digest subscription for channel {channel!r} in this community ("
                    + (f"subscribed: {having}" if rows else "none yet: `/digest subscribe #channel` in the chat")
                    + ")")


async def demo_digest(app) -> None:  # noqa: ANN001
    """The demo's digest: the sample community's last active week, as #general would get it."""
    from bot.cli import _community_id

    cid = await _community_id(app, None)
    doc = await app.digests.preview(cid)
    typer.echo("A weekly digest (Mondays 09:00) would post this; `/digest subscribe #general` schedules it:\n")
    typer.echo(doc.plain() + "\n")
