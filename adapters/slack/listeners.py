"""The bolt AsyncApp: acknowledge at once, then (lazily) translate → Core.handle → send.

Embedding search and database work take longer than Slack's 3 s, so every listener is an empty ack
plus a lazy function. Retries (X-Slack-Retry-Num) carry the same event_id, which Core.handle
processes once. A data event, and a member's /optout or /forget-me, is written to the inbox before its ack
(bot.inbox): Slack sends no acknowledged event again, and one lost with its process is handled by the inbox's sweep.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import catch_up
from adapters.slack.access import Access
from adapters.slack.blocks import home_view, in_workspace
from adapters.slack.directory import Directory, person_of
from adapters.slack.modals import CALLBACK_ID, enrolment_modal, response_url_of, submitted_values
from adapters.slack.outbox import Respond, SlackSender
from adapters.slack.outsiders import EXTERNAL, REFUSALS, outsider, team_of
from adapters.slack.refusals import described, refused
from adapters.slack.still_there import StillThere
from adapters.slack.translate import (
    COMMANDS,
    EVENTS,
    PLATFORM,
    SLACKBOT,
    Workspace,
    loggable_command,
    translate_action,
    translate_command,
    translate_event,
)
from bot import events as ev
from bot import outbox
from bot.actions import DirectMessage, Document, Reply, as_direct_message
from bot.command_names import ERASURES
from bot.core import asks_the_bot
from bot.db.engine import unreachable
from bot.errors import AccessEnded
from bot.inbox import Kept
from bot.messages import render
from bot.safety import loggable
from bot.services.catch_up import active_threads, digest_channels, resume_points, stored_between, stored_channels
from bot.services.catch_up_marks import CatchUpMarks
from bot.services.mentoring_form import FORM_ACTION, field_errors, opens_form

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

ADMIN_COMMANDS = frozenset({"settings", "digest"})  # core commands that trust CommandInvoked.is_admin
CONSENT_COMMANDS = ERASURES | {"optin"}  # what App Home shows changes with them: it is published again
RENAMES = ("channel_rename", "group_rename")  # a public or private channel's new name
ACCESS_EVENTS = ("app_uninstalled", "tokens_revoked")  # the bot's access ended (access.py)
ERASING_BUTTONS = frozenset({"home.optout"})  # kept before their ack, as the commands they stand for (ERASURES)
# What a member who typed a command or clicked a button is told where it failed on the bot's side (bot.core says the
# same of a failure in a service); where the database does not answer, that it is no use trying again at once.
SORRY = render("sorry")
SORRY_UNREACHABLE = render("database_unreachable")
# A command or button of another version of connective (an app still configured with a command this one has no more,
# a message or Home of before an upgrade, a replica of another version beside this one): Slack showed the member
# "failed with the error" and a warning sign, bolt answering 400.
STALE_COMMAND = "connective has no {command} (any more): `/connective help` lists what it does."
UNREADABLE_COMMAND = "I couldn't read that command as Slack sent it: try it again."
STALE_FORM = "This form is from an older version of connective and was not sent: close it and open it again."
STALE_BUTTON = "That button is from an older version of connective and no longer does anything: ask again."


def buttons_of(clicks: dict[str, Any]) -> re.Pattern[str]:
    """The action ids bolt routes to us: every prefix a core service registered (intro., home., mentoring., …)."""
    prefixes = "|".join(re.escape(prefix) for prefix in sorted(clicks))
    return re.compile(rf"^({prefixes})\.")


async def _ack(ack: Callable[..., Any]) -> None:
    await ack()


def _usable_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://"))


def _counted(listener: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(listener)
    async def run(self: SlackAdapter, *args: Any, **kwargs: Any) -> None:
        self.busy += 1
        try:
            await listener(self, *args, **kwargs)
        except AccessEnded:  # said once (access.py); the bot stops
            log.warning("Slack listener %s stopped: the bot's access to the workspace ended", listener.__name__)
        except Exception as exc:
            if why := unreachable(exc):  # an outage: one line each, /healthz says the rest
                log.warning("Slack listener %s: the database is unreachable (%s)", listener.__name__, why)
            else:
                log.exception("Slack listener %s failed", listener.__name__)
        finally:
            self.busy -= 1

    return run


class _NoBodies(logging.Filter):
    """slack_bolt logs whole request bodies (members' messages, a DM to the bot) where it refuses a signature: the
    line keeps what it says, without the body. And one warning every start gives, about nothing wrong, is dropped."""

    MARKERS = {", body: ": ", body left out)", " for the request (": " for the request (body left out)"}

    # bolt reads SLACK_BOT_TOKEN from the environment, where the set-up puts it for our settings, and warns at every
    # start that it is unused beside the client it is given: a false alarm.
    UNUSED_TOKEN = warning_client_prioritized_and_token_skipped()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message == self.UNUSED_TOKEN:
            return False
        for marker, instead in self.MARKERS.items():
            if marker in message:
                record.msg, record.args = message.split(marker)[0] + instead, ()
        return True


class InOrder:
    """Events of one channel handled one at a time, in the order they came. Each listener runs as a task of its own,
    and a message waits on users.info and its embedding before it is stored: a reaction to it, or its edit, sent at
    once after it (a burst, a Socket Mode backlog after a reconnect) overtook it and found no message to change."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def of(self, community: str, channel: str) -> AsyncIterator[None]:
        if not channel:
            yield
            return
        key = (str(community), str(channel))  # (a malformed event's are no strings; the core skips it)
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:  # asyncio's lock is taken in the order it was asked for
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class _Stopping(Exception):  # noqa: N818 - not an error: the bot stops while catching up
    pass


class SlackAdapter:
    def __init__(self, app: App, client: AsyncWebClient, workspace: Workspace, *, signing_secret: str | None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.app = app
        self.client = client
        self.workspace = workspace
        self.clock = clock
        self.sender = SlackSender(client, workspace.url, app.core.delivered, app.core.undelivered)
        if not workspace.org_wide:  # the scheduled jobs take this workspace's work only (bot.serving)
            self.sender.workspace = workspace.team_id
        # A message an answer is about to show, deleted or edited while the bot was away, is looked up first.
        self.sender.still_there = StillThere(client, workspace.team_id, self._edited_while_away,
                                             live_since=clock().timestamp(), channel_gone=self._channel_gone)
        self.busy = 0  # listeners running; tests wait for it to fall back to 0
        self.directory = Directory(client)
        self.in_order = InOrder()
        self.catch_ups = catch_up.CatchUps(self.catch_up)  # what was said while the bot was away
        self.marks = CatchUpMarks(app.db, clock=clock)  # once a downtime, across replicas
        self.connection: object | None = None  # the connection caught up from (Socket Mode's session)
        self.connected_since: datetime | None = None
        self.stopping = False
        # The app uninstalled or its token revoked, told by an event or by a call refused: the runner stops.
        self.access = Access()  # the runner has its client tell it of calls refused so, once started
        bolt_logger = logging.getLogger("slack_bolt")
        if not any(isinstance(f, _NoBodies) for f in bolt_logger.filters):
            bolt_logger.addFilter(_NoBodies())  # bolt's own loggers copy it when the app is made, below
        self.bolt = AsyncApp(client=client, signing_secret=signing_secret or "", name="connective",
                             request_verification_enabled=bool(signing_secret), process_before_response=False,
                             raise_error_for_unhandled_request=True, logger=logging.getLogger("slack_bolt"))
        self.bolt.error(refused)  # one line for a request we cannot use, 200 or 400, not 404 or 500 and a traceback
        # After bolt's own middleware (signature, authorization, the bot's own events), before any listener's ack.
        self.bolt.use(self.keep_before_ack)
        app.core.inbox.register("slack", self.replay)  # the sweep replays a kept event as it came
        for event_type in EVENTS:
            self.bolt.event(event_type)(ack=_ack, lazy=[self.on_event])
        self.bolt.event("app_home_opened")(ack=_ack, lazy=[self.on_home_opened])
        for event_type in RENAMES:
            self.bolt.event(event_type)(self.on_channel_renamed)
        for event_type in ACCESS_EVENTS:  # bolt authorizes them without auth.test: the token may be gone already
            self.bolt.event(event_type)(self.on_access_event)
        for command in COMMANDS:
            self.bolt.command(command)(ack=_ack, lazy=[self.on_command])
        self.bolt.action(buttons_of(app.core.clicks))(ack=_ack, lazy=[self.on_click])
        # Bolt runs the first listener that matches: these take what none of the above does (of another version).
        self.bolt.command(re.compile(r".*"))(self.on_stale_command)
        self.bolt.action(re.compile(r".*"))(ack=_ack, lazy=[self.on_stale_click])
        self.bolt.view_submission(CALLBACK_ID)(ack=self.ack_enrolment_form, lazy=[self.on_enrolment_form])
        self.bolt.view_submission(re.compile(r".*"))(self.on_stale_form)  # (after the others, as the two above)

    @classmethod
    async def connect(cls, app: App, client: AsyncWebClient, *, signing_secret: str | None) -> SlackAdapter:
        """Ask Slack who we are (auth.test) and build the adapter for that workspace."""
        me = await client.auth_test()
        workspace = Workspace(team_id=me["team_id"], bot_user_id=me["user_id"], url=me.get("url") or "",
                              org_wide=bool(me.get("is_enterprise_install")))
        log.info("connected to Slack workspace %s as %s", workspace.team_id, workspace.bot_user_id)
        if workspace.org_wide:
            log.warning("the token is an org-wide install (Enterprise Grid): this process takes the scheduled work "
                        "of every Slack workspace in the database; run one Slack process per database")
        if workspace.url:  # where the imported history's links should open
            try:
                await app.core.workspace_address("slack", workspace.team_id, workspace.url)
            except Exception:  # noqa: BLE001 - the links stay as they were; the bot starts all the same
                log.warning("could not record the workspace's address for its imported links", exc_info=True)
        return cls(app, client, workspace, signing_secret=signing_secret)

    # -- the inbox: a data event is kept before it is acknowledged -------------------------------------
    def kept(self, body: dict[str, Any]) -> Kept | None:
        """The inbox row of an Events API delivery we store from (EVENTS), of a member's /optout or /forget-me
        (ERASURES; its response_url, a credential for 30 minutes, is not stored: a replay answers by DM), or of App
        Home's "Opt out" (ERASING_BUTTONS). Other commands and clicks are not kept: the member who typed or clicked
        waits for the answer and sees that none came, and a replay minutes later could open no modal (a trigger
        lasts 3 s). An erasure lost after its ack left their data in place with the member told nothing, and Slack
        echoes no command: they may well think it done."""
        if "command" in body:
            command = translate_command(body, self.workspace)
            if command is None or command.name not in ERASURES or not command.event_id:
                return None
            return Kept("slack", command.community, command.event_id)
        if body.get("type") == "block_actions":  # App Home's "Opt out" is /connective optout
            for action in body.get("actions") or []:
                if isinstance(action, dict) and action.get("action_id") in ERASING_BUTTONS:
                    click = translate_action(body, action, self.workspace)
                    if click is not None and click.event_id:
                        return Kept("slack", click.community, click.event_id)
            return None
        event = body.get("event")
        event_id = body.get("event_id")
        if body.get("type") != "event_callback" or not isinstance(event, dict) or event.get("type") not in EVENTS \
                or not isinstance(event_id, str) or not event_id:
            return None
        return Kept("slack", str(body.get("team_id") or self.workspace.team_id), event_id)

    async def keep_before_ack(self, body: dict[str, Any], next: Callable[[], Any]) -> BoltResponse | None:  # noqa: A002
        """Slack sends no acknowledged event again: one acknowledged and then lost with its process (SIGKILL, a
        lost node) is handled by the inbox's sweep. Not kept (the database down), an event is not acknowledged either:
        Slack sends it again; a command (or App Home's "Opt out") is not done, and the member told so (Slack sends
        none again)."""
        kept = self.kept(body)
        if kept is not None:
            try:
                await self.app.core.inbox.keep(kept, body)
            except Exception as exc:
                if "command" in body:
                    # Slack sends no slash command again, and showed the member "failed with the error": they are told
                    # nothing was done, in one line only they see.
                    log.warning("keeping Slack command %s failed (%s); not done, the member is told to try again",
                                loggable_command(body.get("command")), unreachable(exc) or type(exc).__name__)
                    return BoltResponse(status=200, body={"response_type": "ephemeral", "text": SORRY_UNREACHABLE})
                if body.get("type") == "block_actions":  # App Home's "Opt out": no click is sent again either
                    log.warning("keeping Slack click %s failed (%s); not done, the member is told by DM",
                                kept.event_id, unreachable(exc) or type(exc).__name__)
                    user = (body.get("user") or {}).get("id")
                    await self._sorry(ev.ActionClicked(community=kept.community, platform=PLATFORM, user=str(user),
                                                       channel="", action="", value=""), exc, None)
                    return BoltResponse(status=200, body="")
                log.exception("keeping Slack event %s failed; not acknowledged, Slack will retry it", kept.event_id)
                return BoltResponse(status=503, body="")
        await next()
        return None

    # -- listeners (run after the ack) --------------------------------------------------------------
    async def idle(self) -> None:
        """Return once no listener is running (tests; a clean shutdown)."""
        for _ in range(3):  # lazy listeners are scheduled before the ack is returned; let them start
            await asyncio.sleep(0)
        while self.busy:
            await asyncio.sleep(0.01)

    @_counted
    async def on_event(self, body: dict[str, Any]) -> None:
        kept = self.kept(body)
        event = translate_event(body, self.workspace)
        if event is None:
            if kept is not None:  # nothing we use (an unfurl, a mention's twin): nothing to keep
                await self.app.core.inbox.forget(kept)
            return
        if isinstance(event, ev.MemberJoined | ev.MemberLeft) and event.user_name:  # the account's own object
            self.directory.learn(event.user, person_of(body["event"]["user"]))
        if await self._from_outside(event, team=team_of(body.get("event"))):
            if kept is not None:
                await self.app.core.inbox.forget(kept)
            return
        if isinstance(event, ev.MessagePosted) and asks_the_bot(event):
            # Answered beside the channel's order, as on Discord (a question is not stored): the first one loads the
            # community's corpus (15-27 s at 200,000 messages), and the channel's messages would wait behind it.
            await self._handle(await self._with_names(event), kept=kept)
            return
        async with self.in_order.of(event.community, event.channel):  # asked for before any await: in arrival order
            await self._handle(await self._with_names(event), kept=kept)

    async def replay(self, body: dict[str, Any]) -> None:
        """An inbox row, handled as its live listener does (the inbox's sweep)."""
        if "command" in body:
            await self.on_command(body, None)
        elif body.get("type") == "block_actions":
            await self._clicked(body, None, replayed=True)
        else:
            await self.on_event(body)

    @_counted
    async def on_command(self, body: dict[str, Any], respond: Respond | None) -> None:
        """`respond` None: a command kept in the inbox (an erasure), replayed without its response_url. A command that
        came without one (a signed request of the wrong shape; Slack sends one with every command) is answered by DM
        too: bolt's respond raised there, a traceback for each, and the member heard nothing. One that fails on the
        bot's side (the mentoring form Slack would not open, users.info, the database) is one line to the member, the
        traceback once in the log (_counted): they heard nothing."""
        command = translate_command(body, self.workspace, self.clock())
        if command is None:  # (translate_command logged why)
            if _usable_url(body.get("response_url")) and respond is not None:
                await respond(text=UNREADABLE_COMMAND, response_type="ephemeral", replace_original=False)
            return
        try:
            await self._command(body, command, respond)
        except Exception as exc:
            if not isinstance(exc, AccessEnded):
                await self._sorry(command, exc, respond if _usable_url(body.get("response_url")) else None)
            raise

    async def _command(self, body: dict[str, Any], command: ev.CommandInvoked, respond: Respond | None) -> None:
        response_url = body.get("response_url")
        if not _usable_url(response_url):
            if respond is not None:
                log.info("Slack command %s came with no response_url: answered by DM",
                         loggable_command(body.get("command")))
            response_url, respond = "", None
        kept = self.kept(body)
        command = await self._with_names(command)
        kind = await self._outsider(command.user)
        if kind is not None and command.name not in ERASURES:  # (what they ask to erase of them is erased)
            await self.sender.send(Reply(community=command.community, channel=command.channel, user=command.user,
                                         doc=Document(text=REFUSALS[kind])), respond=respond)
            return
        if opens_form(command.name, command.args) and body.get("trigger_id") and self.app.mentoring is not None:
            await self.open_enrolment_form(command.community, command.user, body["trigger_id"],
                                           response_url=response_url)
            return
        if command.name in ADMIN_COMMANDS:
            command = dataclasses.replace(command, is_admin=await self.directory.is_admin(command.user))
        await self._handle(command, respond=respond, kept=kept, by_dm=respond is None)
        if command.name in CONSENT_COMMANDS:
            # The member's App Home showed their profile and "Opt out" until they opened it again: it follows the
            # command, as it follows its own buttons.
            await self.publish_home(command.community, command.user)

    async def on_click(self, body: dict[str, Any], respond: Respond | None) -> None:
        await self._clicked(body, respond)

    @_counted
    async def _clicked(self, body: dict[str, Any], respond: Respond | None, *, replayed: bool = False) -> None:
        """`replayed`: an App Home "Opt out" kept in the inbox, replayed by its sweep (the answer goes by DM). One that
        fails on the bot's side is one line to the member, as a command (on_command)."""
        try:
            await self._click(body, respond, replayed=replayed)
        except Exception as exc:
            user = (body.get("user") or {}).get("id")
            if not isinstance(exc, AccessEnded) and isinstance(user, str) and user:
                where = ev.ActionClicked(community=self.workspace.team_id, platform=PLATFORM, user=user, channel="",
                                         action="", value="")
                await self._sorry(where, exc, respond if _usable_url(body.get("response_url")) else None)
            raise

    async def _click(self, body: dict[str, Any], respond: Respond | None, *, replayed: bool) -> None:
        in_home = (body.get("view") or {}).get("type") == "home"
        kept = self.kept(body)
        kind = await self._outsider((body.get("user") or {}).get("id"))
        for action in body.get("actions") or []:
            if kind is not None and action.get("action_id") not in ERASING_BUTTONS:
                log.debug("Slack click of a %s account skipped", kind)  # (their App Home shows why, below)
                continue
            if action.get("action_id") == FORM_ACTION and body.get("trigger_id") and self.app.mentoring is not None:
                await self.open_enrolment_form((body.get("team") or {}).get("id") or self.workspace.team_id,
                                               body["user"]["id"], body["trigger_id"],
                                               response_url=body.get("response_url") or "")
                continue
            click = translate_action(body, action, self.workspace, self.clock())
            if click is not None:
                await self._handle(click, respond=respond if body.get("response_url") else None, by_dm=replayed,
                                   kept=kept if kept is not None and kept.event_id == click.event_id else None)
        if in_home:
            await self.publish_home(body.get("user", {}).get("team_id") or self.workspace.team_id,
                                    body["user"]["id"])

    async def on_stale_command(self, ack: Callable[..., Any], body: dict[str, Any]) -> None:
        """A slash command none of COMMANDS: answered at once, in its ack (one line only the member sees)."""
        name = loggable_command(body.get("command"))
        log.warning("Slack command %s is none of connective's (an app configured for another version?): answered "
                    "with a line to the member", name)
        command = body.get("command")
        shown = command if isinstance(command, str) and re.fullmatch(r"/[\w-]{1,32}", command) else "such command"
        await ack(text=STALE_COMMAND.format(command=shown), response_type="ephemeral")

    async def on_stale_form(self, ack: Callable[..., Any], body: dict[str, Any]) -> None:
        """A modal none of connective's (another version's) submitted: it said "We had some trouble connecting"
        (bolt answered 400). It says why now, in its place."""
        log.warning("Slack form %s is none of connective's (of an older version?): the member is told",
                    loggable((body.get("view") or {}).get("callback_id")))
        await ack(response_action="update", view={
            "type": "modal", "title": {"type": "plain_text", "text": "connective"},
            "close": {"type": "plain_text", "text": "Close"},
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": STALE_FORM}}]})

    @_counted
    async def on_stale_click(self, body: dict[str, Any], respond: Respond | None) -> None:
        """A button none of the services registered: the member is told so where they clicked; a Home's is shown again,
        with today's buttons."""
        actions = [a.get("action_id") for a in body.get("actions") or [] if isinstance(a, dict)]
        log.warning("Slack button %s is none of connective's (of an older version?): the member is told",
                    ", ".join(loggable(a) for a in actions) or "with no action id")
        user = (body.get("user") or {}).get("id")
        if not isinstance(user, str) or not user:
            return
        team = (body.get("team") or {}).get("id") or self.workspace.team_id
        if (body.get("view") or {}).get("type") == "home":
            await self.publish_home(team, user)
        elif _usable_url(body.get("response_url")) and respond is not None:
            await self.sender.send(Reply(community=team, channel="", user=user, doc=Document(text=STALE_BUTTON)),
                                   respond=respond)

    async def _sorry(self, event: ev.Event, exc: Exception, respond: Respond | None) -> None:
        """One line to the member whose command or click failed on the bot's side (SORRY): where they typed or clicked,
        else by DM. Its own failure is one log line."""
        text = SORRY_UNREACHABLE if unreachable(exc) else SORRY
        try:
            if respond is not None:
                await self.sender.send(Reply(community=event.community, channel=event.channel, user=event.user,
                                             doc=Document(text=text)), respond=respond)
            else:
                await self.sender.send(DirectMessage(community=event.community, user=event.user,
                                                     doc=Document(text=text)))
        except Exception as failed:  # noqa: BLE001 - the failure itself is logged by the caller
            log.warning("telling %s that their request failed: %s", loggable(event.user), type(failed).__name__)

    async def on_channel_renamed(self, ack: Callable[..., Any], body: dict[str, Any]) -> None:
        """The name stored with the channel's next message is the new one (and on the other replicas within
        directory.CHANNEL_TTL)."""
        await ack()
        channel = (body.get("event") or {}).get("channel")
        if isinstance(channel, dict) and isinstance(channel.get("id"), str) and isinstance(channel.get("name"), str):
            self.directory.learn_channel(channel["id"], channel["name"])
        else:
            log.warning("malformed Slack %s skipped: no channel with an id and a name", described(body))

    async def on_access_event(self, ack: Callable[..., Any], body: dict[str, Any]) -> None:
        await ack()
        self.access.event(body, self.workspace.bot_user_id)

    @_counted
    async def on_home_opened(self, body: dict[str, Any]) -> None:
        event = body.get("event") or {}
        if event.get("tab", "home") == "home" and event.get("user"):
            await self.publish_home(body.get("team_id") or self.workspace.team_id, event["user"])

    # -- what was said while the bot was away ----------------------------------------------------------
    def connected(self, connection: object, started: datetime | None = None) -> None:
        """Connected (Socket Mode's hello on `connection`, its session; HTTP mode listening): what was said before is
        caught up, in the background, and from now on this connection says what is said is in hand (`beat`)."""
        started = started or self.clock()
        self.connection, self.connected_since = connection, started
        self.catch_ups.start(started)

    async def beat(self, connection: object, now: datetime) -> None:
        """`connection` (Socket Mode's session) was still up at `now` (the runner's job, every catch_up_marks.BEAT):
        what was said since it connected came through it; another replica connecting meanwhile need not fetch it.
        Where the database did not answer, what came may not have been kept (Slack is answered 503, and gives up
        after its retries): the connection says nothing more, and once the database answers what was said since the
        mark is caught up, as at a connection."""
        if self.stopping or connection is None or connection is not self.connection:
            return
        team = self.workspace.team_id
        try:
            if self.connected_since is None:
                await self.marks.read(PLATFORM, team)  # answers: caught up from the mark
                self.connected(connection, now)
            else:
                await self.marks.beat(PLATFORM, team, since=self.connected_since, now=now)
        except Exception as exc:
            if self.connected_since is not None and connection is self.connection:
                self.connected_since = None
                log.warning("Slack workspace %s: the catch-up mark could not be kept (%s); what is said meanwhile is "
                            "fetched once the database answers", team, unreachable(exc) or type(exc).__name__)

    async def catch_up(self, started: datetime) -> None:
        """Fetch what was said in the channels read while no event came, up to `started` (adapters/slack/catch_up.py),
        and handle it as the live events it would have been; one log line says what was caught up and what left.
        Once a downtime across replicas (bot.services.catch_up_marks): one connecting while another catches up waits
        for it, and one whose connection time is covered (another replica was connected) fetches nothing."""
        team = self.workspace.team_id
        try:
            mark = await self.marks.turn(PLATFORM, team, started)
            if mark is None:
                log.info("Slack workspace %s: nothing to catch up, what was said before this connection is in hand "
                         "(another replica was connected, or caught it up)", team)
                return
            if self.sender.still_there is not None:  # a deletion meanwhile came to nobody: the history shows none
                self.sender.still_there.away_until(started.timestamp())
            covered = None
            try:
                async with self.marks.holding(PLATFORM, team):
                    report = await catch_up.catch_up(self.client, self.workspace,
                                                     resume_points=functools.partial(resume_points, self.app.db),
                                                     handle=self._handle_caught_up, started=started,
                                                     covered=mark.covered_until,
                                                     active_threads=functools.partial(active_threads, self.app.db),
                                                     stored_channels=functools.partial(stored_channels, self.app.db),
                                                     stored_between=functools.partial(stored_between, self.app.db),
                                                     digest_channels=functools.partial(digest_channels, self.app.db))
                if report is None or not report.again:  # (a channel Slack refused would be refused again)
                    covered = started
            finally:
                await self._release(covered)
        except _Stopping:
            log.info("catching up Slack workspace %s stopped with the bot; the next start goes on", team)
        except catch_up.Unlisted:
            pass  # its warning is logged; the next connection tries again
        except Exception as exc:
            if why := unreachable(exc):
                log.warning("catching up Slack workspace %s: the database is unreachable (%s)", team, why)
                if self.connected_since == started:  # the next beat after the database answers tries again
                    self.connected_since = None
            else:
                log.exception("catching up Slack workspace %s failed", team)
        else:
            if report is not None:
                log.info(catch_up.summary(team, report))

    async def _release(self, covered: datetime | None) -> None:
        try:
            await self.marks.release(PLATFORM, self.workspace.team_id, covered=covered)
        except Exception as exc:  # noqa: BLE001 - the lease lapses (catch_up_marks.LEASE); the next start reads again
            log.warning("ending the catch-up of Slack workspace %s: %s", self.workspace.team_id,
                        unreachable(exc) or type(exc).__name__)

    async def _channel_gone(self, channel: str) -> bool:
        """A channel of a message about to be shown that Slack answered channel_not_found for (still_there.py): a
        public one stored here that conversations.info does not find either was deleted, or made private without the
        bot, while it was away (catch_up.unseen_channels: Slack says the same of both), and is handled as
        catch_up.hidden_of says: stored private, its messages kept and not shown, its digest paused. A private one is
        shown as stored (the bot may have been removed from it)."""
        stored = await stored_channels(self.app.db, PLATFORM, self.workspace.team_id)
        if stored.get(channel, True) or not await catch_up.channel_not_found(self.client, channel):
            return False
        for event in catch_up.hidden_of(channel, self.workspace):
            await self._handle(event)
        return True

    async def _edited_while_away(self, message: dict[str, Any], channel: str) -> None:
        """A message an answer is about to show, found edited on Slack (still_there.py): the edit it may have missed,
        stored before it is shown (as the catch-up hands one on: of its time, applied only if newer than what is
        stored; an edit seen already is the same event, stored once)."""
        event = catch_up.edit_of(message, catch_up.Conversation(channel, "", False), self.workspace)
        if event is not None:
            await self._handle(await self._with_names(event))

    async def _handle_caught_up(self, events: list[ev.Event]) -> bool:
        """A channel's events of the history: its members' messages (with their reactions) stored in one batch, in
        the channel's order; then a question to the bot among them, beside it, as live. False: they could not be
        stored (logged)."""
        if self.stopping:
            raise _Stopping
        asked = [e for e in events if isinstance(e, ev.MessagePosted) and asks_the_bot(e)]
        said = [e for e in events if not (isinstance(e, ev.MessagePosted) and asks_the_bot(e))]
        stored = not said or await self.on_caught_up(said)
        for event in asked:
            if self.stopping:
                raise _Stopping
            await self.on_caught_up_question(event)
        return stored

    async def on_caught_up(self, events: list[ev.Event]) -> bool:
        self.busy += 1
        try:
            events = [event for event in events if not await self._from_outside(event, answer=False)]
            if not events:
                return True
            named = [await self._with_names(event) for event in events]
            async with self.in_order.of(events[0].community, events[0].channel):
                actions = await self.app.core.handle_history(named)
        except Exception as exc:
            if why := unreachable(exc):  # an outage: one line; the next catch-up reads it again
                log.warning("storing %d caught-up event(s): the database is unreachable (%s)", len(events), why)
            else:
                log.exception("storing %d caught-up event(s) failed", len(events))
            return False
        finally:
            self.busy -= 1
        await self.sender.send_all(actions)
        return True

    @_counted
    async def on_caught_up_question(self, event: ev.Event) -> None:
        if not await self._from_outside(event, answer=False):
            await self._handle(await self._with_names(event))

    # -- the mentoring enrolment form (a modal) ------------------------------------------------------
    async def open_enrolment_form(self, team: str, user: str, trigger_id: str, *, response_url: str = "") -> None:
        """views.open with the member's enrolment (or their time zone) filled in; the trigger lasts 3 s."""
        assert self.app.mentoring is not None
        values = await self.app.mentoring.form_values("slack", team, user)
        if not values.get("timezone"):
            values["timezone"] = (await self.directory.person(user)).timezone or ""
        await self.client.views_open(trigger_id=trigger_id, view=enrolment_modal(values, response_url=response_url))

    async def ack_enrolment_form(self, ack: Callable[..., Any], body: dict[str, Any]) -> None:
        """Within Slack's 3 s: field errors next to their inputs, else close the modal (stored lazily)."""
        errors = field_errors(submitted_values(body.get("view") or {}))
        if errors:
            await ack(response_action="errors", errors=errors)
        else:
            await ack()

    @_counted
    async def on_enrolment_form(self, body: dict[str, Any]) -> None:
        if self.app.mentoring is None:
            return
        view, user = body.get("view") or {}, body["user"]["id"]
        if await self._outsider(user) is not None:  # a form opened from a Home shown before: no enrolment
            return
        team = (body.get("team") or {}).get("id") or body["user"].get("team_id") or self.workspace.team_id
        person = await self.directory.person(user)
        outcome = await self.app.mentoring.submit_form("slack", team, user, submitted_values(view),
                                                       user_name=person.name, now=self.clock())
        if outcome.errors:
            return  # shown in the modal by the ack; nothing stored
        doc = Document(text=outcome.text)
        response_url = response_url_of(view)
        if response_url:  # opened by `/mentoring join`: answer where the command was typed
            await self.sender.send(Reply(community=team, channel="", user=user, doc=doc),
                                   respond=AsyncRespond(response_url=response_url))
        else:  # opened from App Home: a DM, and the Home shows the new enrolment
            await self.sender.send(DirectMessage(community=team, user=user, doc=doc))
            await self.publish_home(team, user)

    async def publish_home(self, team: str, user: str) -> None:
        if self.app.home is None:
            return
        try:
            if kind := await self._outsider(user):  # no member: no profile, toggles or mentoring form to show them
                doc = Document(text=REFUSALS[kind])
            else:
                doc = await self.app.home.document("slack", team, user, now=self.clock())
            await self.client.views_publish(user_id=user, view=home_view(in_workspace(doc, self.workspace.url)))
        except Exception:
            log.exception("publishing the App Home of %s failed", user)

    # -- helpers -------------------------------------------------------------------------------------
    async def _handle(self, event: ev.Event, *, respond: Respond | None = None, kept: Kept | None = None,
                      by_dm: bool = False) -> None:
        """`by_dm`: the answers to the member go to their DM (a command replayed minutes later, with no response_url:
        the channel it was typed in may not have the bot)."""
        try:
            actions = await self.app.core.handle(event, kept=kept)
        except Exception as exc:
            if why := unreachable(exc):  # an outage: one line each; a kept event is replayed by the inbox's sweep
                log.warning("handling %s: the database is unreachable (%s)", type(event).__name__, why)
            else:
                log.exception("handling %s failed", type(event).__name__)
            if isinstance(event, ev.CommandInvoked | ev.ActionClicked) and not by_dm:  # (a replay is tried again)
                await self._sorry(event, exc, respond)
            return
        if by_dm:
            actions = [as_direct_message(action) for action in actions]
        await self.sender.send_all(actions, respond=respond,
                                   failed=functools.partial(outbox.keep_failed, self.app.db, "slack", event))

    async def _from_outside(self, event: ev.Event, *, team: object = None, answer: bool = True) -> bool:
        """Whether the event is of someone who is no member of the community (outsiders.py): a message, an edit, a
        reaction or an arrival of theirs is not handled (nothing of it is stored); a question of theirs to the bot is
        answered with one line only they see (`answer`: live; one caught up is not answered), which shows no member's
        profile. users.info is asked once per account a process (Directory), as for names."""
        if not isinstance(event, ev.MessagePosted | ev.ReactionAdded | ev.ReactionRemoved | ev.MemberJoined
                          | ev.MemberLeft):
            return False
        if isinstance(event, ev.MessagePosted) and event.is_bot and not team:
            return False  # an app's post: a bot, never suggested (an app of another organisation names its team)
        person = await self.directory.person(event.user)  # (team_join, user_change: their account object, learnt)
        kind = outsider(person, self.workspace, team=team)
        # A member made a guest leaves (MemberLeft); an account of another organisation deactivated was stored as a
        # member who left, by the name it goes by there.
        if kind is None or (isinstance(event, ev.MemberLeft) and kind != EXTERNAL):
            return False
        log.debug("Slack %s of a %s account skipped", type(event).__name__, kind)
        if answer and isinstance(event, ev.MessagePosted) and asks_the_bot(event) and not event.is_bot:
            reply = Reply(community=event.community, channel=event.channel, user=event.user,
                          thread=event.thread, doc=Document(text=REFUSALS[kind]))
            await self.sender.send_all([reply])
        return True

    async def _outsider(self, user: object) -> str | None:
        """outsiders.EXTERNAL or GUEST for an account that is no member of the community, else None."""
        if not isinstance(user, str) or not user:
            return None
        return outsider(await self.directory.person(user), self.workspace)

    async def _mentioned(self, mentioned: ev.Person) -> ev.Person:
        """A member a command mentions, as users.info tells of the account: whether it is a bot (the mention says
        nothing of it), and its name where the mention has none."""
        person = await self.directory.person(mentioned.id)
        is_bot = person.is_bot or mentioned.id in (self.workspace.bot_user_id, SLACKBOT)
        return dataclasses.replace(mentioned, name=mentioned.name or person.name, is_bot=is_bot)

    async def _with_names(self, event: ev.Event) -> ev.Event:
        """Fill in the names Slack leaves out of events (cached users.info / conversations.info)."""
        if isinstance(event, ev.MessagePosted) and not event.is_bot:
            person = await self.directory.person(event.user)
            return dataclasses.replace(event, user_name=person.name, is_bot=person.is_bot,
                                       channel_name=await self.directory.channel_name(event.channel))
        if isinstance(event, ev.CommandInvoked):
            # The payload's user_name is the legacy handle ("petra.k"), no name: where users.info did not answer, it
            # renamed the member by it on their cards, intros and digests. Then the command names nobody.
            person = await self.directory.person(event.user)
            if event.mentioned:  # an app mentioned (`skills endorse @connective …`) is no member to endorse
                event = dataclasses.replace(event, mentioned=tuple([await self._mentioned(p) for p in event.mentioned]))
            return dataclasses.replace(event, user_name=person.name, timezone=person.timezone or event.timezone)
        if isinstance(event, ev.MemberJoined) and not event.user_name:
            person = await self.directory.person(event.user)
            if person.name:  # users.info answered: it says whether the account is a bot
                return dataclasses.replace(event, user_name=person.name, timezone=person.timezone,
                                           is_bot=person.is_bot)
        return event
