"""`/mentoring`: application commands for the core's "mentoring" command. The translator turns the typed
options into the core's syntax (`join mentor teach: k8s, helm learn: rust tz: Europe/Berlin capacity: 2`)."""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands

from adapters.discord.commands import Run


def add_mentoring_commands(tree: app_commands.CommandTree, run: Run) -> None:
    mentoring = app_commands.Group(
        name="mentoring", description="Mentoring rounds: pairs of mentor and mentee", guild_only=True
    )

    @mentoring.command(name="join", description="Join the mentoring rounds, or change your enrolment")
    @app_commands.describe(
        role="Mentor, mentee or both (kept from before if left out)",
        teach="What you can teach, comma separated",
        learn="What you want to learn, comma separated",
        timezone="Your time zone, e.g. Europe/Berlin",
        capacity="Mentees you can take per round",
    )
    async def join(
        interaction: discord.Interaction,
        role: Literal["mentor", "mentee", "both"] | None = None,
        teach: app_commands.Range[str, 0, 1000] = "",
        learn: app_commands.Range[str, 0, 1000] = "",
        timezone: app_commands.Range[str, 0, 64] = "",
        capacity: app_commands.Range[int, 1, 10] | None = None,
    ) -> None:
        await run(interaction)

    @mentoring.command(name="status", description="Your enrolment, the next round and your current pair")
    async def status(interaction: discord.Interaction) -> None:
        await run(interaction)

    @mentoring.command(name="skip", description="Sit out the next round")
    async def skip(interaction: discord.Interaction) -> None:
        await run(interaction)

    @mentoring.command(name="pause", description="No pairs for you until you resume")
    async def pause(interaction: discord.Interaction) -> None:
        await run(interaction)

    @mentoring.command(name="resume", description="Take part in the rounds again")
    async def resume(interaction: discord.Interaction) -> None:
        await run(interaction)

    @mentoring.command(name="leave", description="Leave the mentoring rounds (your enrolment is deleted)")
    async def leave(interaction: discord.Interaction) -> None:
        await run(interaction)

    tree.add_command(mentoring)
