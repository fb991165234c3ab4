"""The application commands. Their callbacks only hand the interaction on: the translator reads the raw
options (so the core sees `/skills add helm` the same way from Slack, Discord and the console). The typed
parameters exist to describe the commands to Discord (`tree.sync()`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

import discord
from discord import app_commands

Run = Callable[[discord.Interaction], Awaitable[None]]
MANAGE_SERVER = discord.Permissions(manage_guild=True)


class PickedPlace(app_commands.Transformer):
    """A channel option offering these kinds of place, handed on as Discord resolved it (the translator reads it raw):
    discord.py's own channel types look the place up in its cache, and one not there (an archived thread or forum post,
    a private thread) failed the command before it ran, with no answer at all ("The application did not respond")."""

    def __init__(self, *kinds: discord.ChannelType) -> None:
        super().__init__()
        self.kinds = list(kinds)

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.channel

    @property
    def channel_types(self) -> list[discord.ChannelType]:
        return self.kinds

    async def transform(self, interaction: discord.Interaction, value: object, /) -> object:
        return value


_KINDS = discord.ChannelType
# Whose reading an admin turns on or off: a private thread is a private channel of its own here, read only when turned
# on; a public thread is read with its channel and is not offered.
# Where a digest is posted: a text or announcement channel, a forum (one post per digest), or a thread or forum post.
DigestPlace = app_commands.Transform[object, PickedPlace(
    _KINDS.text, _KINDS.news, _KINDS.forum, _KINDS.media, _KINDS.public_thread, _KINDS.private_thread,
    _KINDS.news_thread)]
IngestPlace = app_commands.Transform[object, PickedPlace(_KINDS.text, _KINDS.news, _KINDS.forum, _KINDS.media,
                                                         _KINDS.private_thread)]


def build_tree(client: discord.Client, run: Run) -> app_commands.CommandTree:
    tree = app_commands.CommandTree(client, allowed_contexts=app_commands.AppCommandContext(guild=True))
    add_core_commands(tree, run)
    add_settings_commands(tree, run)
    # Digest and mentoring commands: one add_<feature>_commands(tree, run) line each, in their own module.
    from adapters.discord.commands_digest import add_digest_commands
    from adapters.discord.commands_mentoring import add_mentoring_commands

    add_digest_commands(tree, run)
    add_mentoring_commands(tree, run)
    return tree


def add_core_commands(tree: app_commands.CommandTree, run: Run) -> None:
    @tree.command(name="whoknows", description="Who in this server knows about a topic?")
    @app_commands.describe(topic="What you need help with")
    async def whoknows(interaction: discord.Interaction, topic: app_commands.Range[str, 1, 500]) -> None:
        await run(interaction)

    @tree.command(name="skills", description="Your declared skills: list, add, remove, or endorse a member")
    @app_commands.describe(
        action="What to do (default: list)", topics="Topics, comma separated", member="The member to endorse"
    )
    async def skills(
        interaction: discord.Interaction,
        action: Literal["list", "add", "remove", "endorse"] = "list",
        topics: app_commands.Range[str, 0, 500] = "",
        member: discord.User | None = None,
    ) -> None:
        await run(interaction)

    @tree.command(
        name="optout", description="Stop being profiled and remove what connective learned from you"
    )
    async def optout(interaction: discord.Interaction) -> None:
        await run(interaction)

    @tree.command(name="optin", description="Let connective learn from your messages again")
    async def optin(interaction: discord.Interaction) -> None:
        await run(interaction)

    @tree.command(name="forget-me", description="Delete everything connective stores about you")
    async def forget_me(interaction: discord.Interaction) -> None:
        await run(interaction)

    @tree.command(name="me", description="What connective stores about you")
    async def me(interaction: discord.Interaction) -> None:
        await run(interaction)


def add_settings_commands(tree: app_commands.CommandTree, run: Run) -> None:
    settings = app_commands.Group(
        name="connective",
        description="Server settings for connective (Manage Server)",
        default_permissions=MANAGE_SERVER,
        guild_only=True,
    )

    @settings.command(name="ingest", description="Learn from a channel's messages, or stop")
    @app_commands.describe(channel="A text or forum channel, or a private thread", enabled="On or off")
    async def ingest(
        interaction: discord.Interaction, channel: IngestPlace, enabled: bool
    ) -> None:
        await run(interaction)

    @settings.command(name="digest-channel", description="Where the weekly digest is posted")
    @app_commands.describe(channel="A channel, thread or forum (a forum gets one post per digest)")
    async def digest_channel(interaction: discord.Interaction, channel: DigestPlace) -> None:
        await run(interaction)

    @settings.command(name="intro-channel", description="Where private intro threads are opened")
    async def intro_channel(interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        await run(interaction)

    @settings.command(name="show", description="The current settings")
    async def show(interaction: discord.Interaction) -> None:
        await run(interaction)

    tree.add_command(settings)
