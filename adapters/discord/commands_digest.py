"""`/digest` and `/save`: application commands for the core's "digest" and "save" commands. As in
commands.py, the callbacks only hand the interaction on; the translator turns the options into the core's
argument text (`subscribe <#channel> 0 9 * * mon tz=Europe/Berlin`, `URL note`)."""

from __future__ import annotations

import discord
from discord import app_commands

from adapters.discord.commands import DigestPlace, Run


def add_digest_commands(tree: app_commands.CommandTree, run: Run) -> None:
    digest = app_commands.Group(
        name="digest", description="The digest of resources shared here", guild_only=True
    )

    @digest.command(
        name="subscribe", description="Post the digest in a channel, thread or forum on a schedule"
    )
    @app_commands.describe(
        channel="Where the digest is posted (a forum gets one post per digest)",
        schedule="Cron schedule (default: 0 9 * * mon, Mondays 09:00)",
        timezone="Time zone of the schedule, e.g. Europe/Berlin",
    )
    async def subscribe(
        interaction: discord.Interaction,
        channel: DigestPlace,
        schedule: app_commands.Range[str, 0, 100] = "",
        timezone: app_commands.Range[str, 0, 64] = "",
    ) -> None:
        await run(interaction)

    @digest.command(name="unsubscribe", description="Stop posting the digest in a channel")
    async def unsubscribe(interaction: discord.Interaction, channel: DigestPlace) -> None:
        await run(interaction)

    @digest.command(name="list", description="Where digests are posted, and when")
    async def list_(interaction: discord.Interaction) -> None:
        await run(interaction)

    @digest.command(name="preview", description="The digest of the current period so far (only you see it)")
    async def preview(interaction: discord.Interaction) -> None:
        await run(interaction)

    tree.add_command(digest)

    @tree.command(name="save", description="Bookmark a link for the digest, with a note")
    @app_commands.describe(url="The link", note="Why it is worth reading")
    async def save(
        interaction: discord.Interaction,
        url: app_commands.Range[str, 1, 2000],
        note: app_commands.Range[str, 0, 500] = "",
    ) -> None:
        await run(interaction)
