"""The discord.py client: gateway payloads in (through the translator, in order, one at a time; a question to the
bot beside them), the core's actions out (through the renderer and the sender). No business rule lives here."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
import yarl
from discord import app_commands

from adapters.discord.buttons import ActionButton
from adapters.discord.catch_up import (
    THREAD_TYPES,
    ResumePoints,
    archived,
    catch_up,
    deleted_channels,
    deleted_threads,
    plan,
    summary,
    vanished,
)
from adapters.discord.command_errors import explain
from adapters.discord.commands import build_tree
from adapters.discord.modals import EnrolmentModal, is_enrolment_form, submitted_values
from adapters.discord.render import NO_PINGS, render_document
from adapters.discord.sender import DiscordSender
from adapters.discord.translate import TRANSLATORS, ChannelInfo, translate
from bot import events as ev
from bot import outbox
from bot.actions import Action, DirectMessage, Document, Reply, UpdateMessage, as_direct_message
from bot.command_names import ERASURES
from bot.command_sync import payload_hash, record_registered, registered_hash
from bot.core import asks_the_bot
from bot.db.engine import unreachable
from bot.errors import ChannelRefused, Undelivered
from bot.inbox import Kept
from bot.messages import render
from bot.repo import get_community
from bot.safety import neutralise
from bot.services.catch_up import resume_points, stored_between, stored_channels, stored_threads, stores_place
from bot.services.mentoring_form import FORM_ACTION, field_errors, opens_form

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

PLATFORM = "discord"
# INTERACTION_CREATE goes through discord.py (it needs an Interaction to answer): commands and buttons.
QUEUED_EVENTS = set(TRANSLATORS) - {"INTERACTION_CREATE"}
# Events about a stored message, which may be in a thread archived since (not in discord.py's cache).
ABOUT_A_MESSAGE = {"MESSAGE_UPDATE", "MESSAGE_DELETE", "MESSAGE_DELETE_BULK", "MESSAGE_REACTION_ADD",
                   "MESSAGE_REACTION_REMOVE", "MESSAGE_REACTION_REMOVE_ALL", "MESSAGE_REACTION_REMOVE_EMOJI"}
NOT_THREADS_KEPT = 1000
# The threads stored here looked through at a start for those deleted while the bot was away, the latest stored in
# first (a server has up to 1,000 active threads, which are not asked for).
STORED_THREADS_READ = 2000
# A DM names no server: with the bot in several, each is asked whether the author is a member, up to this many.
DM_SERVER_LOOKUPS = 25


def intents(*, members: bool = True) -> discord.Intents:
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_messages = True
    wanted.message_content = True  # privileged: enable it in the Developer Portal
    wanted.guild_reactions = True
    wanted.dm_messages = True  # questions by DM (not privileged: a DM's content comes without the content intent)
    wanted.members = members  # privileged too: members who leave (GUILD_MEMBER_REMOVE) and join
    return wanted


def interaction_payload(interaction: discord.Interaction) -> dict[str, Any]:
    """The INTERACTION_CREATE fields the translator reads, from discord.py's Interaction."""
    user = {
        "id": str(interaction.user.id),
        "username": interaction.user.name,
        "global_name": interaction.user.global_name,
    }
    payload: dict[str, Any] = {
        "id": str(interaction.id),
        "type": interaction.type.value,
        "channel_id": str(interaction.channel_id or ""),
        "data": interaction.data or {},
    }
    if interaction.message is not None:  # the message a button is on
        payload["message"] = {"id": str(interaction.message.id)}
    if interaction.guild_id:
        payload["guild_id"] = str(interaction.guild_id)
        payload["member"] = {
            "user": user,
            "nick": getattr(interaction.user, "nick", None),
            "permissions": str(interaction.permissions.value),
        }
    else:
        payload["user"] = user
    return payload


class ConnectiveMixin:
    """What the bot adds to discord.Client or discord.AutoShardedClient."""

    def __init__(
        self,
        app: App,
        *,
        follow_gateway: bool = False,
        sync_commands: bool = True,
        members_intent: bool = True,
        resume_points: ResumePoints | None = None,
        **options: Any,
    ) -> None:
        super().__init__(
            intents=intents(members=members_intent),
            chunk_guilds_at_startup=False,  # the members intent is for joins and departures, not a member list
            enable_debug_events=True,
            allowed_mentions=NO_PINGS,  # type: ignore[call-arg]
            **options,
        )
        self.app = app
        self.follow_gateway = follow_gateway
        self.sync_commands = sync_commands
        self.tree = build_tree(self, self.handle_interaction)  # type: ignore[arg-type]
        self.tree.error(self.command_error)
        self.sender = DiscordSender(self, self.community_settings, app.core.delivered,  # type: ignore[arg-type]
                                    edited=self._edited_while_away)
        self._events: asyncio.Queue[tuple[int | None, str, Any]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._handling = False
        self._processed = asyncio.Condition()
        self.last_processed_sequence = 0
        self._received = 0  # the highest sequence taken from the queue
        self._asking: dict[asyncio.Task[None], int] = {}  # questions to the bot being answered, by sequence
        self._dm_guilds: dict[str, str] = {}  # DM message id -> the server it is about, until it is translated
        # What was said while the bot was away (catch_up.py): where to pick each channel up is the core's answer; one
        # catch-up per server at a time, beside the live events.
        self.resume_points = resume_points
        self._catching_up: dict[int, asyncio.Task[None]] = {}
        self._threads_read: dict[str, ChannelInfo] = {}  # archived threads it reads, not in the cache
        self._not_threads: set[str] = set()  # stored places not in the cache found to be no thread
        self._catch_up_again: dict[int, datetime] = {}  # servers whose next session began during their catch-up
        self._stopping = False
        self._registering: asyncio.Task[None] | None = None
        app.core.inbox.register(PLATFORM, self.replay)  # a member's /optout or /forget-me kept before its ack

    # -- start -------------------------------------------------------------------------------------
    async def setup_hook(self) -> None:
        if self.follow_gateway:
            # A plain Client dials DEFAULT_GATEWAY; with the REST base overridden, the gateway comes from
            # the same server (and a session invalidated later falls back to it, not to discord.gg).
            _, url, _ = await self.http.get_bot_gateway()  # type: ignore[attr-defined]
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        self.add_dynamic_items(ActionButton)  # type: ignore[attr-defined]  # buttons of any earlier run
        self.app.core.senders[PLATFORM] = self.sender
        self._worker = asyncio.create_task(self._process_events(), name="connective-discord-events")
        if self.sync_commands:  # beside the start: the gateway connects whatever Discord answers (or how late)
            self._registering = asyncio.create_task(self._register_commands(), name="connective-discord-commands")

    async def _register_commands(self) -> None:
        """Register the slash commands with Discord when they changed since they were last registered (by any
        replica): Discord allows about 200 command creations a day, and a crash loop registering them at every start
        locked the bot out of its commands. A failure (an incident at Discord, the daily limit's 429 for hours) does
        not stop the bot, whose commands registered before still work: the next start tries again."""
        payload = [command.to_dict(self.tree) for command in self.tree.get_commands()]
        digest, application = payload_hash(payload), str(self.application_id)  # type: ignore[attr-defined]
        try:
            unchanged = await registered_hash(self.app.db, PLATFORM, application) == digest
        except Exception as exc:  # noqa: BLE001 - registering them again is what a start did before
            log.warning("could not read when the application commands were registered (%s); registering them",
                        type(exc).__name__)
            unchanged = False
        if unchanged:
            log.info("%d application commands unchanged since they were registered", len(payload))
            return
        try:
            commands = await self.tree.sync()
        except discord.HTTPException as exc:
            log.warning("registering the application commands with Discord failed (HTTP %d: %s); those registered "
                        "before still work, and the next start tries again", exc.status, (exc.text or "")[:120])
            return
        log.info("%d application commands registered", len(commands))
        try:
            await record_registered(self.app.db, PLATFORM, application, digest)
        except Exception as exc:  # noqa: BLE001 - the next start registers them again, as before
            log.warning("could not record that the application commands were registered (%s)", type(exc).__name__)

    async def on_ready(self) -> None:
        self.app.health.connected(PLATFORM)
        # The servers the bot is in are known now (READY): what the start's jobs left for them is done at once.
        self.app.scheduler.again_now()

    async def on_resumed(self) -> None:
        self.app.health.connected(PLATFORM)

    async def on_disconnect(self) -> None:
        self.app.health.connected(PLATFORM, False)

    async def close(self) -> None:
        self._stopping = True  # a catch-up stops after the message in hand; the next start picks it up from there
        if self._worker is not None:
            try:  # a graceful stop: the gateway events already received are handled first
                await asyncio.wait_for(self._drained(), self.app.seconds_to_stop())
            except TimeoutError:
                log.warning("%d gateway event(s) and %d question(s) left unhandled at close", self._events.qsize(),
                            len(self._asking))
            self._worker.cancel()
            for task in list(self._asking):  # not left running while the database closes
                task.cancel()
        if self._registering is not None and not self._registering.done():
            self._registering.cancel()  # not recorded as registered: the next start registers them
        catching_up = [task for task in self._catching_up.values() if not task.done()]
        if catching_up:
            _, left = await asyncio.wait(catching_up, timeout=self.app.settings.shutdown_grace_seconds)
            for task in left:
                task.cancel()
        if self.app.core.senders.get(PLATFORM) is self.sender:
            del self.app.core.senders[PLATFORM]
        # After READY, discord.py waits for the servers (guild_ready_timeout, 2 s) in a task its close() leaves
        # running: a stop within those seconds ended in asyncio's "Task exception was never retrieved" with a
        # traceback (its on_ready dispatch finding the client closed), in the log of whatever ran next.
        state = self._connection  # type: ignore[attr-defined]
        for waiting in (getattr(state, "_ready_task", None), *getattr(state, "_ready_tasks", {}).values()):
            if waiting is not None and not waiting.done():
                waiting.cancel()
        await super().close()  # type: ignore[misc]

    # -- the translator's context ------------------------------------------------------------------
    @property
    def bot_user_id(self) -> str:
        user = self.user  # type: ignore[attr-defined]
        return str(user.id) if user else ""

    def bot_role_id(self, guild_id: str) -> str | None:
        guild = self.get_guild(int(guild_id)) if guild_id.isdigit() else None  # type: ignore[attr-defined]
        role = guild.self_role if guild is not None else None
        return str(role.id) if role is not None else None

    def direct_message_guild(self, message_id: str) -> str | None:
        return self._dm_guilds.pop(message_id, None)

    async def _place_direct_message(self, data: dict[str, Any]) -> None:
        """Which server a DM to the bot is about (a DM names none): the one the bot is in, else the one of its servers
        the author is a member of. An author in several is asked, in the DM, to ask in the server they mean."""
        author = data.get("author") or {}
        if data.get("guild_id") or not author.get("id") or author.get("bot") or author["id"] == self.bot_user_id:
            return
        guilds = list(self.guilds)  # type: ignore[attr-defined]
        if len(guilds) > 1:
            guilds = [g for g in guilds[:DM_SERVER_LOOKUPS] if await self._is_member(g, int(author["id"]))]
        if len(guilds) == 1:
            self._dm_guilds[data["id"]] = str(guilds[0].id)
        elif guilds:
            names = ", ".join(neutralise(g.name) for g in sorted(guilds, key=lambda g: g.name.lower()))
            channel = self.get_partial_messageable(int(data["channel_id"]),  # type: ignore[attr-defined]
                                                   type=discord.ChannelType.private)
            try:
                await channel.send(f"You and I are both in several servers ({names}), and a DM doesn't say which one "
                                   "you mean: ask with `/whoknows` in that server.", allowed_mentions=NO_PINGS)
            except discord.HTTPException as e:
                log.warning("DM %s: telling its author to ask in a server failed: %s", data["id"], e)

    async def _is_member(self, guild: discord.Guild, user_id: int) -> bool:
        if guild.get_member(user_id) is not None:
            return True
        try:
            await guild.fetch_member(user_id)
        except discord.NotFound:
            return False
        except discord.HTTPException as e:
            log.warning("is %s a member of server %s? Discord did not say: %s", user_id, guild.id, e)
            return False
        return True

    def channel(self, channel_id: str) -> ChannelInfo | None:
        found = self.get_channel(int(channel_id)) if channel_id.isdigit() else None  # type: ignore[attr-defined]
        if isinstance(found, discord.Thread):
            return ChannelInfo(
                str(found.id),
                found.name,
                parent_id=str(found.parent_id),
                is_thread=True,
                is_private=found.is_private(),
            )
        if isinstance(found, discord.abc.GuildChannel):
            everyone = found.guild.default_role
            return ChannelInfo(
                str(found.id),
                found.name,
                is_private=not found.permissions_for(everyone).view_channel,
                is_announcements=isinstance(found, discord.TextChannel) and found.is_news(),
                is_forum=isinstance(found, discord.ForumChannel),
            )
        return self._threads_read.get(channel_id)

    async def community_settings(self, guild_id: str) -> dict[str, Any]:
        async with self.app.db.sessions() as session:
            community = await get_community(session, PLATFORM, guild_id)
            return dict(community.settings or {}) if community else {}

    # -- gateway events ----------------------------------------------------------------------------
    async def on_socket_raw_receive(self, message: str | bytes) -> None:
        # Dispatched in the order received; queued so that one worker handles them in that order.
        try:
            payload = json.loads(message)
        except ValueError:
            return
        if payload.get("op") == 0:  # every dispatch, so that the sequence processed is known
            self._events.put_nowait((payload.get("s"), payload.get("t"), payload.get("d")))

    async def on_raw_thread_delete(self, payload: discord.RawThreadDeleteEvent) -> None:
        """A private thread dropped by discord.py as its channel was deleted: Discord sends CHANNEL_DELETE alone, and a
        private thread's messages are stored as a channel of their own, which the channel's deletion does not reach.
        It is queued as the THREAD_DELETE Discord did not send (one it sent, its channel still there, is queued as it
        came). Those archived, not in the cache, are found gone at the next start (catch_up.deleted_channels)."""
        guild = self.get_guild(payload.guild_id)  # type: ignore[attr-defined]
        if payload.thread_type != discord.ChannelType.private_thread or guild is None \
                or guild.get_channel(payload.parent_id) is not None:
            return
        self._events.put_nowait((None, "THREAD_DELETE", {"id": str(payload.thread_id), "guild_id": str(guild.id),
                                                         "parent_id": str(payload.parent_id),
                                                         "type": payload.thread_type.value}))

    async def _drained(self) -> None:
        while not self._events.empty() or self._handling or self._asking:
            await asyncio.sleep(0.02)

    async def _process_events(self) -> None:
        while True:
            sequence, event_type, data = await self._events.get()
            self._handling = True
            try:
                if event_type == "MESSAGE_CREATE" and isinstance(data, dict):
                    await self._place_direct_message(data)
                if event_type in ABOUT_A_MESSAGE and isinstance(data, dict):
                    await self._find_archived_thread(data)
                events = translate(event_type, data, self) if event_type in QUEUED_EVENTS else []
                self._dm_guilds.clear()  # one event at a time: what was found for it is used, or never will be
                if event_type == "GUILD_DELETE" and isinstance(data, dict) and not data.get("unavailable"):
                    log.warning("Discord server %s removed the bot (or was deleted): nothing is read or posted there "
                                "until it is invited again; what connective stored of it is kept", data.get("id"))
                if event_type == "GUILD_CREATE":  # a new session (or a server joined, or back after an outage)
                    if isinstance(data, dict) and not data.get("unavailable") and data.get("id"):
                        self.sender.still_there.session_began(str(data["id"]), discord.utils.utcnow())
                    await self._start_catch_up(data)
            except Exception:
                log.exception("%s (sequence %s) failed", event_type, sequence)
                events = []
            try:
                for event in events:
                    if isinstance(event, ev.MessagePosted) and asks_the_bot(event):
                        # Answered beside the queue (a question is not stored, so order does not matter): the first
                        # one loads the community's corpus, and every message, edit and reaction of every server
                        # waited behind it (15-27 s at 200,000 messages).
                        task = asyncio.create_task(self._handle_question(event_type, sequence, event))
                        self._asking[task] = sequence or 0
                    else:
                        await self._handle_event(event_type, sequence, event)
            finally:
                self._handling = False
            self._received = max(self._received, sequence or 0)
            await self._mark_processed()

    async def _find_archived_thread(self, data: dict[str, Any]) -> None:
        """The thread (or forum post) of an edit, deletion or reaction that discord.py's cache does not hold: it holds
        active threads only, and the event was dropped, a deleted message kept as "who knows X?" evidence. Where a
        message is stored in it, it is asked for once (GET /channels/{id}) and remembered as the catch-up's are; no
        call for a place nothing is stored from."""
        channel_id, guild_id = str(data.get("channel_id") or ""), str(data.get("guild_id") or "")
        if not channel_id.isdigit() or not guild_id.isdigit() or self.channel(channel_id) is not None \
                or self.get_guild(int(guild_id)) is None:  # type: ignore[attr-defined]
            return
        if channel_id in self._not_threads or not await stores_place(self.app.db, PLATFORM, guild_id, channel_id):
            return
        try:
            found = await self.http.get_channel(int(channel_id))  # type: ignore[attr-defined]
        except (discord.HTTPException, OSError, TimeoutError) as e:  # deleted meanwhile: its THREAD_DELETE tells
            log.warning("Discord server %s: looking up thread %s (not in the cache) failed; the event is not read: %s",
                        guild_id, channel_id, e)
            if isinstance(e, discord.Forbidden | discord.NotFound):
                self._not_thread(channel_id)
            return
        if found.get("type") not in THREAD_TYPES or str(found.get("guild_id") or guild_id) != guild_id:
            self._not_thread(channel_id)
            return
        self._remember_thread(ChannelInfo(channel_id, str(found.get("name") or ""),
                                          parent_id=str(found.get("parent_id")), is_thread=True,
                                          is_private=found.get("type") == discord.ChannelType.private_thread.value))

    def _not_thread(self, channel_id: str) -> None:
        """A stored place the bot no longer sees, or no thread: asked about once (at most NOT_THREADS_KEPT kept)."""
        if len(self._not_threads) < NOT_THREADS_KEPT:
            self._not_threads.add(channel_id)

    # -- what was said while the bot was away ------------------------------------------------------------------
    async def _start_catch_up(self, data: Any) -> None:
        """A catch-up of the guild beside the queue, from the session's start: the messages stored live from then on
        do not count where it picks up (catch_up.LIVE_MARGIN)."""
        if self.resume_points is None or not isinstance(data, dict) or data.get("unavailable"):
            return
        guild = self.get_guild(int(data["id"]))  # type: ignore[attr-defined]
        if guild is None:
            return
        running = self._catching_up.get(guild.id)
        if running is not None and not running.done():
            # Away again while catching up (a session lost and begun anew): once this one ends, the next one reads
            # what was said since.
            self._catch_up_again[guild.id] = discord.utils.utcnow()
            return
        self._begin_catch_up(guild, discord.utils.utcnow())

    def _begin_catch_up(self, guild: discord.Guild, started: datetime) -> None:
        self._catching_up[guild.id] = asyncio.create_task(self._catch_up(guild, started),
                                                          name=f"connective-discord-catch-up-{guild.id}")

    async def _catch_up(self, guild: discord.Guild, started: datetime) -> None:
        assert self.resume_points is not None
        try:
            await self._find_deleted(guild)
            found = await plan(guild, self, self.resume_points, started)  # type: ignore[arg-type]
            if found.since is None:  # a server just joined (the install), or one none of whose channels is read
                log.info("Discord server %s (%s): nothing stored yet from the channels the bot reads, so what was said "
                         "there before it came is not read; `connective import discord` brings that history",
                         guild.id, guild.name)
            gaps = found.gaps + await archived(guild, found, http=self.http,  # type: ignore[attr-defined]
                                               ctx=self, resume_points=self.resume_points,  # type: ignore[arg-type]
                                               started=started, remember=self._remember_thread)
            await self._find_deleted_threads(guild)
            gaps.sort(key=lambda gap: (gap.is_thread, gap.id))
            report = await catch_up(guild, gaps, http=self.http, ctx=self,  # type: ignore[attr-defined, arg-type]
                                    handle=self._handle_caught_up, started=started) if gaps else None
            gone = await vanished(guild, found, http=self.http, ctx=self,  # type: ignore[attr-defined, arg-type]
                                  stored_between=functools.partial(stored_between, self.app.db))
            if gone and await self._handle_caught_up(gone):
                log.info("Discord server %s: %d message(s) deleted while the bot was away; deleted here too", guild.id,
                         len(gone))
        except _Stopping:
            log.info("catching up Discord server %s stopped with the bot; the next start goes on", guild.id)
            return
        except Exception:
            log.exception("catching up Discord server %s failed", guild.id)
        else:
            if report is not None:
                log.info(summary(guild, report))
        finally:
            again = self._catch_up_again.pop(guild.id, None)
            if again is not None and not self._stopping:
                self._begin_catch_up(guild, again)

    async def _find_deleted(self, guild: discord.Guild) -> None:
        """The channels and private threads stored here that were deleted while the bot was away
        (catch_up.deleted_channels), handled as the CHANNEL_DELETE that never came: their messages go, their digests
        pause (another replica's, the same event, is handled once). Those made private meanwhile, as the
        CHANNEL_UPDATE that never came."""
        stored = await stored_channels(self.app.db, PLATFORM, str(guild.id))
        gone = await deleted_channels(guild, stored, http=self.http,  # type: ignore[attr-defined]
                                      known=self._threads_read)
        events = [e for channel in gone for e in translate("CHANNEL_DELETE", {"id": channel,
                                                                              "guild_id": str(guild.id)}, self)]
        if events and await self._handle_caught_up(events):
            log.info("Discord server %s: %d channel(s) or thread(s) deleted while the bot was away (%s); their stored "
                     "messages deleted too", guild.id, len(gone), ", ".join(gone))
        # Made private while the bot was away: as the CHANNEL_UPDATE that never came (the cache says what it is now).
        private = [e for channel, was_private in stored.items() if not was_private and channel not in gone
                   for e in translate("CHANNEL_UPDATE", {"id": channel, "guild_id": str(guild.id)}, self)]
        if private and await self._handle_caught_up(private):
            log.info("Discord server %s: %d channel(s) made private while the bot was away", guild.id, len(private))

    async def _find_deleted_threads(self, guild: discord.Guild) -> None:
        """The threads stored here that were deleted alone while the bot was away (catch_up.deleted_threads), after
        the archived ones were listed: handled as the THREAD_DELETE that never came, their replies go. They stayed
        stored, as "who knows X?" evidence, until an answer was about to show one."""
        stored = await stored_threads(self.app.db, PLATFORM, str(guild.id), limit=STORED_THREADS_READ)
        gone = await deleted_threads(guild, stored, http=self.http, known=self._threads_read,  # type: ignore[attr-defined]
                                     remember=self._remember_thread)
        events = [e for channel, thread in gone for e in translate("THREAD_DELETE", {
            "id": thread, "guild_id": str(guild.id), "parent_id": channel,
            "type": discord.ChannelType.public_thread.value}, self)]
        if events and await self._handle_caught_up(events):
            log.info("Discord server %s: %d thread(s) deleted while the bot was away (%s); their stored messages "
                     "deleted too", guild.id, len(gone), ", ".join(thread for _, thread in gone))

    async def _edited_while_away(self, message: dict[str, Any]) -> None:
        """A message an answer is about to show, found edited on Discord (still_there.py): the edit it may have missed,
        stored before it is shown (an edit seen already is the same event, stored once). Its thread may be archived."""
        await self._find_archived_thread(message)
        for event in translate("MESSAGE_UPDATE", message, self):
            # A question to the bot edited long ago is not answered now (bot.core.LATE_QUESTION).
            caught_up = replace(event, caught_up=True) if isinstance(event, ev.MessagePosted) else event
            await self._handle_event("MESSAGE_UPDATE (found when shown)", None, caught_up)

    def _remember_thread(self, info: ChannelInfo) -> None:
        """An archived thread the catch-up reads: the cache holds active ones only."""
        self._threads_read[info.id] = info

    async def caught_up(self) -> None:
        """Until the catch-ups started so far, and those they started, have ended."""
        while running := [task for task in self._catching_up.values() if not task.done()]:
            await asyncio.gather(*running, return_exceptions=True)

    async def _handle_caught_up(self, events: list[ev.Event]) -> bool:
        """A page of a channel's history: its members' messages stored in one batch, in order (Core.handle_history);
        then a question to the bot among them, beside it, as live. False: they could not be stored (logged)."""
        if self._stopping:
            raise _Stopping
        asked = [e for e in events if isinstance(e, ev.MessagePosted) and asks_the_bot(e)]
        said = [e for e in events if not (isinstance(e, ev.MessagePosted) and asks_the_bot(e))]
        if said:
            try:
                actions = await self.app.core.handle_history(said)
            except Exception as exc:
                if why := unreachable(exc):  # an outage: one line; the next start reads them again
                    log.warning("storing %d caught-up event(s): the database is unreachable (%s)", len(said), why)
                else:
                    log.exception("storing %d caught-up event(s) failed", len(said))
                return False
            # What is not stored in the batch (a thread started) is handled one at a time there: its actions are its.
            await self.deliver(actions, origin=next((e for e in said if not isinstance(e, ev.MessagePosted)), said[0]))
        for event in asked:
            if self._stopping:
                raise _Stopping
            await self._handle_event("MESSAGE_CREATE (caught up)", None, event)
        return True

    async def _handle_event(self, event_type: str, sequence: int | None, event: ev.Event) -> None:
        try:
            await self.deliver(await self.app.core.handle(event), origin=event)
        except Exception as exc:
            if why := unreachable(exc):  # an outage: one line each (a restart afterwards catches up on messages)
                log.warning("%s (sequence %s) not handled: the database is unreachable (%s)", event_type, sequence,
                            why)
            else:
                log.exception("%s (sequence %s) failed", event_type, sequence)

    async def _handle_question(self, event_type: str, sequence: int | None, event: ev.Event) -> None:
        try:
            await self._handle_event(event_type, sequence, event)
        finally:
            self._asking.pop(asyncio.current_task(), None)  # type: ignore[arg-type]
            await self._mark_processed()

    async def _mark_processed(self) -> None:
        """Every event up to the last one taken from the queue is handled, but for questions still being answered."""
        done = min(self._asking.values(), default=self._received + 1) - 1
        async with self._processed:
            self.last_processed_sequence = max(self.last_processed_sequence, min(done, self._received))
            self._processed.notify_all()

    async def wait_processed(self, sequence: int) -> None:
        """Until the gateway event with this sequence number has been handled (single shard)."""
        async with self._processed:
            await self._processed.wait_for(lambda: self.last_processed_sequence >= sequence)

    # -- interactions ------------------------------------------------------------------------------
    async def handle_interaction(self, interaction: discord.Interaction) -> None:
        """A slash command or a button: acknowledged first (Discord allows 3 s), then the core works. One that fails
        is answered all the same: discord.py only logged it, and the member was left with no answer at all ("The
        application did not respond") or "connective is thinking…" for 15 minutes."""
        try:
            await self._interaction(interaction)
        except Exception as exc:
            await self._interaction_failed(interaction, exc)

    async def command_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        """The command tree's on_error: what failed before a command's callback ran (a command or options of another
        version, an option that cannot be read), which discord.py only logged, and the member got "The application
        did not respond"."""
        told = explain(error)
        if told is None:
            await self._interaction_failed(interaction, getattr(error, "original", None) or error)
            return
        name = str((interaction.data or {}).get("name") or "")[:40]
        log.warning("interaction %s (/%s) not run: %s", interaction.id, name, told.why)
        await self._tell(interaction, told.text)

    async def _interaction_failed(self, interaction: discord.Interaction, exc: BaseException) -> None:
        if why := unreachable(exc):  # an outage: one line each
            log.warning("interaction %s not handled: the database is unreachable (%s)", interaction.id, why)
            text = render("database_unreachable")
        else:
            log.error("interaction %s failed", interaction.id, exc_info=exc)
            text = render("sorry")
        await self._tell(interaction, text)

    async def _tell(self, interaction: discord.Interaction, text: str) -> None:
        """One line only the member sees, in place of "thinking…" where the interaction was acknowledged so."""
        try:
            if interaction.response.is_done():  # the first follow-up takes the place of "thinking…"
                await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)
            else:
                await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)
        except (discord.HTTPException, OSError, TimeoutError, aiohttp.ClientError) as told:
            log.warning("telling the member why interaction %s failed did not work either: %s", interaction.id,
                        type(told).__name__)

    async def _interaction(self, interaction: discord.Interaction) -> None:
        payload = interaction_payload(interaction)
        events = translate("INTERACTION_CREATE", payload, self)
        if not events:
            await interaction.response.send_message("That only works inside a server.", ephemeral=True)
            return
        if self.app.mentoring is not None and wants_form(events[0]):
            values = await self.app.mentoring.form_values(PLATFORM, events[0].community, events[0].user)
            await interaction.response.send_modal(EnrolmentModal(values))
            return
        kept = await self._keep_erasure(events[0], payload)
        if interaction.type is discord.InteractionType.component:
            await interaction.response.defer()
        else:
            await interaction.response.defer(ephemeral=True, thinking=True)
        actions = await self.app.core.handle(events[0], kept=kept)
        await self.deliver(actions, origin=events[0], interaction=interaction)

    async def _keep_erasure(self, event: ev.Event, payload: dict[str, Any]) -> Kept | None:
        """A member's /optout or /forget-me is kept in the inbox before its ack: one acknowledged by a process that
        then died left their data in place (Discord sends no interaction again). Where it cannot be kept (the
        database down), it is handled as it comes all the same."""
        if not isinstance(event, ev.CommandInvoked) or event.name not in ERASURES or not event.event_id:
            return None
        kept = Kept(PLATFORM, event.community, event.event_id)
        try:
            await self.app.core.inbox.keep(kept, payload)
        except Exception:  # noqa: BLE001
            log.warning("keeping /%s %s in the inbox failed", event.name, event.event_id, exc_info=True)
            return None
        return kept

    async def replay(self, payload: dict[str, Any]) -> None:
        """A kept /optout or /forget-me (the inbox's sweep), answered by DM: the interaction's token is not kept, and
        has expired (15 minutes) by the time it is replayed. Not translated yet (its server not known at start), it
        stays for the next sweep."""
        events = translate("INTERACTION_CREATE", payload, self)
        if not events or not isinstance(events[0], ev.CommandInvoked) or not events[0].event_id:
            return
        event = events[0]
        actions = await self.app.core.handle(event, kept=Kept(PLATFORM, event.community, event.event_id))
        await self.deliver([as_direct_message(action) for action in actions], origin=event)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Every interaction passes here; the enrolment form's submissions are answered here (see modals.py). One whose
        handling failed is answered all the same: the member saw "thinking…" until the interaction expired."""
        if is_enrolment_form(interaction):
            try:
                await self.handle_enrolment_form(interaction)
            except Exception as exc:
                await self._interaction_failed(interaction, exc)

    async def handle_enrolment_form(self, interaction: discord.Interaction) -> None:
        """Field errors answered at once (ephemeral); else the same enrolment as `/mentoring join …`."""
        if self.app.mentoring is None or not interaction.guild_id:
            await interaction.response.send_message("That only works inside a server.", ephemeral=True)
            return
        values = submitted_values(interaction.data or {})
        errors = field_errors(values)
        if errors:
            lines = neutralise("\n".join(f"• {key}: {error}" for key, error in errors.items()))
            rendered = render_document(Document(text=f"Not enrolled yet:\n{lines}\nRun `/mentoring join` again."))
            await interaction.response.send_message(ephemeral=True, **rendered.send_kwargs())
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        outcome = await self.app.mentoring.submit_form(
            PLATFORM, str(interaction.guild_id), str(interaction.user.id), values,
            user_name=interaction.user.global_name or interaction.user.name,
        )
        text = outcome.text or "Not enrolled: " + "; ".join(f"{k}: {v}" for k, v in outcome.errors.items())
        await interaction.edit_original_response(**render_document(Document(text=text)).edit_kwargs())

    async def deliver(
        self, actions: list[Action], *, origin: ev.Event, interaction: discord.Interaction | None = None
    ) -> None:
        answered = False
        for action in actions:
            try:
                if interaction is not None and await self._answer(interaction, action, answered):
                    answered = answered or isinstance(action, Reply)
                elif isinstance(action, Reply) and isinstance(origin, ev.MessagePosted):
                    await self.sender.reply_to_message(action, origin)
                else:
                    await self.sender.send(action)
            except Undelivered as exc:
                log.warning("%s not delivered: %s", type(action).__name__, exc)
                if isinstance(action, DirectMessage) and action.key:
                    # The member takes no DMs: the core says what becomes of it (an intro request: the next expert).
                    await self.deliver(await self.app.core.undelivered(action), origin=origin)
            except ChannelRefused as exc:  # a digest to edit in a channel the bot may no longer read: the others go on
                log.warning("%s not delivered: %s", type(action).__name__, exc)
                await outbox.keep_failed(self.app.db, PLATFORM, origin, action)
            except discord.HTTPException as exc:
                log.warning("Discord refused %s: %s %s", type(action).__name__, exc.status, exc.text)
                await outbox.keep_failed(self.app.db, PLATFORM, origin, action)
            except (OSError, TimeoutError, aiohttp.ClientError) as exc:  # the network: the others go on
                log.warning("sending %s to Discord failed: %s", type(action).__name__, type(exc).__name__)
                await outbox.keep_failed(self.app.db, PLATFORM, origin, action)
        if (
            interaction is not None
            and interaction.type is discord.InteractionType.application_command
            and not answered
        ):
            await interaction.edit_original_response(content="Done.")

    async def _answer(self, interaction: discord.Interaction, action: Action, answered: bool) -> bool:
        """Answer through the interaction where that is what the action means; False if it isn't."""
        guild = None if interaction.guild_id else action.community
        if isinstance(action, Reply):
            rendered = render_document(action.doc, guild=guild)
            if interaction.type is discord.InteractionType.application_command and not answered:
                await interaction.edit_original_response(**rendered.edit_kwargs())
            else:
                await interaction.followup.send(ephemeral=action.ephemeral, **rendered.send_kwargs())
            for kwargs in rendered.more_kwargs():  # what did not fit one message
                await interaction.followup.send(ephemeral=action.ephemeral, **kwargs)
            return True
        clicked = interaction.message
        if (
            isinstance(action, UpdateMessage)
            and clicked is not None
            and action.message_ref in ("", str(clicked.id))
        ):
            await interaction.edit_original_response(**render_document(action.doc, guild=guild).edit_kwargs())
            return True
        return False


class _Stopping(Exception):
    """The client is closing: a catch-up ends between two messages."""


def wants_form(event: ev.Event) -> bool:
    """`/mentoring join` without options, or the enrolment form's button: answered with the modal."""
    if isinstance(event, ev.CommandInvoked):
        return opens_form(event.name, event.args)
    return isinstance(event, ev.ActionClicked) and event.action == FORM_ACTION


class ConnectiveClient(ConnectiveMixin, discord.Client):
    pass


class ShardedConnectiveClient(ConnectiveMixin, discord.AutoShardedClient):
    pass


def make_client(
    app: App,
    *,
    sharded: bool = False,
    follow_gateway: bool = False,
    sync_commands: bool = True,
    members_intent: bool = True,
) -> ConnectiveMixin:
    # The bot never joins a voice channel: discord.py's warnings at every start that voice is not supported (PyNaCl,
    # davey not installed) only read as if something were missing.
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False
    cls = ShardedConnectiveClient if sharded else ConnectiveClient
    return cls(
        app, follow_gateway=follow_gateway, sync_commands=sync_commands, members_intent=members_intent,
        resume_points=functools.partial(resume_points, app.db),
    )
