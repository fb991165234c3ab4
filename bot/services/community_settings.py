"""The admin command `settings`: which channels are read (Channel.ingest), where digests are posted and
where intro threads open (Community.settings). Only members the platform calls admins (Discord: Manage
Server) may change them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from bot import events as ev
from bot.actions import Action, Document, Reply
from bot.db.models import Channel, Community, PendingReaction
from bot.repo import UnknownChannel, channel_named, command_words, ensure_channel

if TYPE_CHECKING:
    from bot.app import App
    from bot.db.engine import Database
    from bot.services.digest import DigestService

CHANNEL_SETTINGS = {"digest-channel": "digest_channel", "intro-channel": "intro_channel"}
# Where an accepted intro opens in a channel (a private thread on Discord). On Slack it opens a group DM: an intro
# channel set there was never used.
INTRO_CHANNEL_PLATFORMS = frozenset({"discord"})
NO_INTRO_CHANNEL = ("There is no intro channel to set here: an accepted intro opens a group DM with the asker and the "
                    "expert.")


def channel_settings(platform: str) -> dict[str, str]:
    """The channel settings that mean something on the platform."""
    return {verb: key for verb, key in CHANNEL_SETTINGS.items()
            if verb != "intro-channel" or platform in INTRO_CHANNEL_PLATFORMS}


def usage(platform: str) -> str:
    return "Settings: `ingest <channel> on|off`, " + "".join(
        f"`{verb} <channel>`, " for verb in channel_settings(platform)) + "`show`."


class CommunitySettingsService:
    def __init__(self, db: Database, *, digests: Callable[[], DigestService | None] = lambda: None) -> None:
        self.db = db
        self.digests = digests  # the digest service, once wired (it is set up after this one)

    async def command(self, event: ev.CommandInvoked, community_id: int, member_id: int) -> list[Action]:
        words = command_words(event.args)
        verb = words[0].lower() if words else "show"
        if verb == "show":
            return [self._reply(event, await self._show(community_id, event.platform))]
        if not event.is_admin:
            who = {"discord": "members who can manage the server", "slack": "workspace admins and owners"}.get(
                event.platform, "community admins")
            return [self._reply(event, f"Only {who} can change connective's settings.")]
        if verb in CHANNEL_SETTINGS and verb not in channel_settings(event.platform):
            return [self._reply(event, NO_INTRO_CHANNEL)]
        wants_channel = (verb == "ingest" and len(words) > 2 and words[2].lower() in ("on", "off")) or (
            verb in CHANNEL_SETTINGS and len(words) > 1)
        if not wants_channel:
            return [self._reply(event, usage(event.platform))]
        async with self.db.sessions() as session:
            try:
                channel, name = await channel_named(session, community_id, words[1])
            except UnknownChannel as exc:
                return [self._reply(event, str(exc))]
        if verb == "ingest":
            return [
                self._reply(event, await self._set_ingest(community_id, channel, words[2].lower() == "on",
                                                          name if name != channel else ""))
            ]
        if verb in CHANNEL_SETTINGS:
            async with self.db.sessions.begin() as session:
                community = await session.get(Community, community_id)
                community.settings = {**(community.settings or {}), CHANNEL_SETTINGS[verb]: channel}
            digests = self.digests() if verb == "digest-channel" else None
            if digests is not None:  # the setting alone posted nothing: the digest is scheduled there
                return [self._reply(event, await digests.set_channel(event, community_id, member_id, channel,
                                                                      name))]
            return [self._reply(event, f"{verb.replace('-', ' ').capitalize()}: <#{channel}>.")]
        return [self._reply(event, usage(event.platform))]

    async def _set_ingest(self, community_id: int, channel_external_id: str, on: bool, name: str = "") -> str:
        async with self.db.sessions.begin() as session:
            channel = await ensure_channel(session, community_id, channel_external_id, name=name, rename=False)
            if channel.is_dm:
                return (f"<#{channel_external_id}> is a direct conversation: I never learn from those, its members "
                        "talk to each other, not to the community.")
            channel.ingest = on
            if not on:  # reactions kept for its messages to come: none will be stored
                await session.execute(delete(PendingReaction).where(PendingReaction.community_id == community_id,
                                                                   PendingReaction.channel_id == channel.id))
        if on:
            return f"I'll learn from messages in <#{channel_external_id}> from now on."
        return (
            f"I'll no longer read <#{channel_external_id}>; what was stored stays until members opt out "
            "or ask to be forgotten."
        )

    async def _show(self, community_id: int, platform: str) -> str:
        async with self.db.sessions() as session:
            community = await session.get(Community, community_id)
            overrides = list(
                await session.scalars(
                    select(Channel)
                    .where(Channel.community_id == community_id, Channel.ingest.is_not(None))
                    .order_by(Channel.name)
                )
            )
        settings = community.settings or {} if community else {}
        lines = ["Public channels are read unless turned off; private ones only if turned on."]
        # A direct conversation is never read, whatever an older release let an admin set (migration 0019).
        lines += [f"<#{c.external_id}>: "
                  + ("never (a direct conversation)" if c.is_dm else "on" if c.ingest else "off") for c in overrides]
        for verb, key in channel_settings(platform).items():
            lines.append(f"{verb}: " + (f"<#{settings[key]}>" if settings.get(key) else "not set"))
        return "\n".join(lines)

    @staticmethod
    def _reply(event: ev.Event, text: str) -> Reply:
        return Reply(
            community=event.community,
            channel=event.channel,
            user=event.user,
            thread=event.thread,
            doc=Document(text=text),
        )


def setup(app: App) -> CommunitySettingsService:
    service = CommunitySettingsService(app.db, digests=lambda: app.digests)
    app.core.register_command("settings", service.command)
    return service
