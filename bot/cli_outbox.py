"""`connective outbox`: what the platform has not been told yet of members' erasures.

A /forget-me or /optout edits the digests that quoted the member and the intro requests in the experts' DMs; where
the platform failed that edit (or `connective forget` ran without the bot's token), it is kept in the database
(bot.outbox) for the running bot to send, and tried again up to MAX_ATTEMPTS times. Its failures were in the log only:
a community manager could not see that a member's words were still posted, nor why. This lists what is kept, where it
goes and how it fared, never its text (it quotes members)."""
from __future__ import annotations

from typing import Annotated

import typer

from bot.outbox import MAX_ATTEMPTS, KeptAction


def describe(kept: KeptAction) -> str:
    """One line a manager can act on: what, where, how it fared, when it is tried next."""
    where = f"{kept.kind} ({kept.target})" if kept.target else kept.kind
    head = f"#{kept.id} {kept.platform}:{kept.community} {where}, kept since {kept.created_at:%Y-%m-%d %H:%M} UTC"
    if not kept.attempts:
        return (f"{head}: not tried yet; a running bot of {kept.platform} (`connective run --platform "
                f"{kept.platform}`) sends it within a minute")
    if not kept.error:  # its first attempt is under way
        return f"{head}: attempt {kept.attempts} of {MAX_ATTEMPTS} under way"
    return f"{head}: {kept.error}; next try {kept.due_at:%Y-%m-%d %H:%M} UTC"


def outbox_cmd(
    community: Annotated[str | None, typer.Option(help="Community (external id) when the database has several")]
    = None,
) -> None:
    """List what members' erasures still have the platform do (kept for the running bot: failed, or not sent yet)."""
    from bot import cli, outbox

    s = cli.settings()

    async def go() -> list[str]:
        app = await cli._open_app(s)
        try:
            community_id = await cli._community_id(app, community) if community else None
            kept = await outbox.kept_actions(app.db, community_id)
        finally:
            await app.close()
        if not kept:
            return ["Nothing kept: the platform has been told all members' erasures had it do."]
        failing = sum(1 for k in kept if k.error)
        return [f"{len(kept)} action(s) kept for the running bot, {failing} of them failed so far (what each "
                f"is about stays posted until it is sent; given up after {MAX_ATTEMPTS} attempts):",
                *(describe(k) for k in kept)]

    for line in cli.run_async(go):
        typer.echo(line)
