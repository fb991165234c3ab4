"""The core: one entry point, `Core.handle(event) -> actions`, shared by every adapter."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import events as ev
from bot import metrics
from bot.actions import (
    FAILED,
    REFUSED,
    SENT,
    Action,
    Button,
    ChecksMessages,
    CompletesPosts,
    DirectMessage,
    Document,
    Evidence,
    ExpertCard,
    FindsPosts,
    Reply,
    Section,
    Sender,
    UpdateMessage,
)
from bot.command_names import command, help_names
from bot.db.engine import Database, unlimited, unreachable
from bot.db.intros import Intro, IntroState, NotMyArea
from bot.db.mentoring import MentoringEnrolment, Pairing
from bot.db.models import (
    Channel,
    Community,
    Member,
    Message,
    MessageVector,
    PendingReaction,
    ProcessedEvent,
    Question,
    Reaction,
    RemovedReaction,
    Skill,
)
from bot.db.resources import ResourceSave
from bot.errors import AccessEnded, ChannelRefused, Undelivered
from bot.inbox import Inbox, Kept, drop_set_aside, take_over
from bot.messages import render
from bot.outbox import drop_naming as drop_kept_naming
from bot.outbox import keep as keep_in_outbox
from bot.repo import (
    answered_requests_of,
    apply_pending_reactions,
    channel_ingested,
    claim_event,
    close_for_opt_out,
    consenting,
    delete_member_data,
    delete_questions_of,
    ensure_channel,
    ensure_community,
    ensure_member,
    find_member_at_start,
    forget_member_everywhere,
    get_community,
    get_member,
    get_message,
    insert_ignore,
    know_openerless_threads,
    move_export_links,
    prune_pending_reactions,
    prune_processed_events,
    release_event,
    skills_of,
    upsert_pending_reaction,
    upsert_reactions,
    upsert_removed_reaction,
    withheld_members,
)
from bot.safety import echoed, neutralise, storable, unlinked
from bot.services.digest_unquote import unquote as unquote_digests
from bot.services.digest_unquote import unquote_messages
from bot.services.expertise import OPENERLESS_THREADS, ExpertiseService, Suggestion, mark_openers_gone
from bot.services.home import HOME_PLATFORMS, intro_switches
from bot.services.ingest import IncomingMessage, IngestService
from bot.services.profile_skills import TOPIC_CHARS, cut_topics, profile_skills, topic_list
from bot.settings import Settings
from bot.urls import workspace_address
from matching.corpus import MessageRecord

log = logging.getLogger(__name__)

_ASKS = (r"^\s*(?:<@[^>]+>\s*)?(?:hey\s+\w+[,:]?\s*)?(?:who|anyone|does anyone|does anybody|anybody)\s+"
         r"(?:knows?|here knows?|familiar with|know about|has experience with|understands?)\b")
_ASKING = re.compile(_ASKS, re.I)
_WHO_KNOWS = re.compile(_ASKS + r"[:,]?\s*(?:about\s+)?(.+)", re.I | re.S)
_WHO_KNOWS_NOTHING = re.compile(_ASKS + r"(?:\s+about)?[\s:,?!.]*$", re.I)  # "who knows?": the topic is missing
ASK_LIKE_THIS = "Ask me like this: `who knows postgres query plans?`"
# A question to the bot found in the history fetched after the bot was away is answered only if asked this recently
# (a deploy, a quick restart): the answer comes as from a slow bot. One asked earlier is not answered: the conversation
# has moved on, the asker may have had an answer from people since, and a reply hours later would be noise.
LATE_QUESTION = timedelta(minutes=10)
_MENTIONS = re.compile(r"<@[^>]+>")
_ADDRESSED = re.compile(r"^(?:[\s:,;.!-]|<@[^>]+>|(?:hey|hi|hello)\b)*", re.I)  # mentions, greetings, punctuation
# Said to the bot, these are no topics: "@connective help" and "@connective thanks!" were answered with the members
# most able to help with "help" and "thanks!".
_END = r"[\s!?.,:;()\-]*(?::\w+:[\s!.]*)*$"  # punctuation, emoji codes (Slack's :slightly_smiling_face:)
_SMALL_TALK = re.compile(r"^(?:hi|hello|hey|yo|thanks?(?: you)?(?: (?:so much|a lot|again))?|thx|ty|cheers|ok(?:ay)?|"
                         r"cool|great|nice|good (?:morning|afternoon|evening|night)|bye)" + _END, re.I)
# "@connective thanks, that was exactly what I needed!" is no question either: a thanks that asks nothing (no "?", no
# "who knows", no "in advance" before the question it thanks for).
_THANKS = re.compile(r"^(?:thanks?|thank you|thx|ty|cheers|much appreciated)\b(?!\s+in advance)"
                     r"(?![^?]*\b(?:who|anyone|anybody|someone|somebody)\b)[^?]*$", re.I | re.S)
_HELP = re.compile(r"^(?:help|what can you do|what do you do|how do(?:es this| you| i use you)? work)" + _END, re.I)

# Questions one member may ask in ASK_WINDOW: far more than anyone asks by hand (see Core._asked_too_often).
ASKS_PER_HOUR = 30
ASK_WINDOW = timedelta(hours=1)
# Topics one member may endorse another for: their words stand on someone else's profile and weigh in the ranking,
# so one member cannot write a hundred there (the member themselves declares as many as they like).
ENDORSED_TOPICS = 10

Handler = Callable[[ev.CommandInvoked, int, int], Awaitable[list[Action]]]
ClickHandler = Callable[[ev.ActionClicked, int], Awaitable[list[Action]]]
DeliveredHandler = Callable[[str, str, str], Awaitable[None]]


def asked_topic(text: str) -> str | None:
    """The topic of a "who knows X?" message, or None when it isn't one."""
    m = _WHO_KNOWS.match(text or "")
    if not m:
        return None
    topic = m.group(1).strip().rstrip("?!. ")
    return topic or None


def question_topic(text: str) -> str | None:
    """What a question put to the bot (a mention, a DM, /whoknows) asks about: X of "who knows X?", else its words
    but mentions. None when nothing but "who knows" and punctuation is left ("?", "who knows?", a bare mention):
    the asker is shown how to ask, not the community's most active members."""
    text = text or ""
    # What comes before "who knows" when the bot is addressed: "hey @connective, who knows X?", "@connective: who knows
    # X?" and "@connective hi! who knows X?" asked about "hey  who knows X?", ": who knows X?" and "hi! who knows X?".
    addressed = _ADDRESSED.sub("", text)
    if _WHO_KNOWS_NOTHING.match(text) or _WHO_KNOWS_NOTHING.match(addressed):
        return None
    rest = _MENTIONS.sub("", addressed).strip()  # "" where only mentions and a greeting were said
    if not rest or _SMALL_TALK.match(rest) or _THANKS.match(rest):
        return None
    topic = asked_topic(text) or asked_topic(addressed) or _MENTIONS.sub("", text).strip()
    return topic if any(ch.isalnum() for ch in topic) else None


def asks_for_help(text: str) -> bool:
    """"@connective help" (or "what can you do?"): the bot's help, not a question about "help"."""
    return _HELP.match(_MENTIONS.sub("", _ADDRESSED.sub("", text or "")).strip()) is not None


def asks_the_bot(event: ev.MessagePosted) -> bool:
    """A mention of the bot or a DM to it is a question, whatever its words; in the console, "who knows …?" is."""
    return not event.is_bot and (event.mentions_bot or event.is_direct or (
        event.platform == "console" and _ASKING.match(event.text or "") is not None))


def expert_cards(suggestions: list[Suggestion], question_id: int | None = None) -> tuple[ExpertCard, ...]:
    """Cards with evidence; with a question id, each card offers "Request intro" (bot/services/intros.py). What a
    suggestion says cannot ping already (ExpertiseService neutralises it where it is made)."""
    return tuple(
        ExpertCard(user=s.user, name=s.name, score=s.score,
                   why=tuple(Evidence(t, link) for t, link in zip(s.why, s.permalinks, strict=False)),
                   buttons=(Button("Request intro", action="intro.request", value=f"{question_id}:{s.user}"),)
                   if question_id is not None else ())
        for s in suggestions
    )


@dataclass
class Scope:
    community_id: int
    member_id: int


def _requests_withdrawn(community: str, where: list[tuple[str, str]]) -> list[Action]:
    """The intro requests a member sent and nobody answered, changed to say they were withdrawn, without the
    question (the member's words) and without their buttons."""
    doc = Document(text=render("intro_settled_withdrawn"))
    return [UpdateMessage(community=community, channel=channel, message_ref=ref, doc=doc) for channel, ref in where]


# What an answered request says of itself once its asker is gone (bot.services.intros: the outcome the click left).
ANSWERED_OUTCOMES = {IntroState.ACCEPTED.value: "intro_settled_accepted", IntroState.DECLINED.value:
                     "intro_settled_declined", IntroState.NOT_MY_AREA.value: "intro_settled_not_my_area",
                     IntroState.EXPIRED.value: "intro_settled_expired"}


def _requests_answered(community: str, where: list[tuple[str, str, str]]) -> list[Action]:
    """The intro requests a member sent that an expert answered (or let expire), changed to say only what became of
    them: they kept the member's question (and an accepted one their name) in the expert's DM. The conversation an
    accepted intro opened is left as it is: it is the expert's too, both were in it, and what they said there is
    theirs; the bot's copies of the question in others' DMs are what it can take back."""
    return [UpdateMessage(community=community, channel=channel, message_ref=ref, doc=Document(text=render(
        ANSWERED_OUTCOMES[state], asker="the member who asked"))) for channel, ref, state in where]


def pool_capacity(db: Database) -> int:
    """Connections the engine's pool hands out at most (size + overflow; 5 when it does not say)."""
    pool = db.engine.pool
    size = pool.size() if hasattr(pool, "size") else 5
    return max(1, size + max(0, getattr(pool, "_max_overflow", 0)))


def _answer_key(event: ev.MessagePosted) -> str:
    """The processed-event id of the answer to a question (Core._once)."""
    return f"answered:{event.channel}:{event.message_id}"[:200]


def waited_on(event: ev.Event) -> bool:
    """Whether someone is waiting for the answer: a command, a button, a question to the bot."""
    return isinstance(event, ev.CommandInvoked | ev.ActionClicked) or (
        isinstance(event, ev.MessagePosted) and (event.mentions_bot or event.is_direct or event.platform == "console"))


def _named(text: str) -> str:
    """Whom an endorsement named, as the refusal says it: "a member “Nobody”", or "that member" for a mention
    the platform made (an id, which on Slack would render as a ping of that person)."""
    word = text.strip().split()[0]
    shown = "" if word.startswith("<") else echoed(word.lstrip("@"), 40)  # "<!here>" too: markup, no name
    return f"a member “{shown}”" if shown else "that member"


async def _store_skills(session, community_id: int, member_id: int, topics: list[str], source: str, *,  # noqa: ANN001
                        endorser: int | None = None,
                        limit: int | None = None) -> tuple[list[str], list[str], list[str]]:
    """Store a member's declared (or one endorser's) skills; (stored, already there, over `limit`: the most this
    source may hold). A topic there before, in any case, is not stored again: "Kubernetes" after "kubernetes" would
    be listed and counted twice."""
    known = {s.topic.casefold() for s in await skills_of(session, community_id, member_id)
             if s.source == source and s.endorsed_by_id == endorser}
    stored, already, over = [], [], []
    for topic in topics:
        if topic.casefold() in known:
            already.append(topic)
            continue
        if limit is not None and len(known) >= limit:
            over.append(topic)
            continue
        known.add(topic.casefold())
        stored.append(topic)
        await session.execute(insert_ignore(session, Skill).values(
            community_id=community_id, member_id=member_id, topic=topic, source=source, endorsed_by_id=endorser))
    return stored, already, over


class Core:
    def __init__(self, *, db: Database, expertise: ExpertiseService, ingest: IngestService,
                 settings: Settings) -> None:
        self.db = db
        self.expertise = expertise
        self.ingest = ingest
        self.settings = settings
        # Deliverers of actions that answer no event, by platform ("slack", "discord", "console"); which communities
        # they reach is what the scheduled jobs take (bot.serving).
        self.senders: dict[str, Sender] = {}
        self.inbox = Inbox(db, self.senders)  # events kept from their ack until handled (Slack's Events API)
        self.commands: dict[str, Handler] = {
            "whoknows": self._cmd_whoknows,
            "skills": self._cmd_skills,
            "optout": self._cmd_optout,
            "optin": self._cmd_optin,
            "forget-me": self._cmd_forget_me,
            "forgetme": self._cmd_forget_me,
            "me": self._cmd_me,
            "help": self._cmd_help,
        }
        # Button clicks by the part of the action name before the first dot ("intro.accept" -> "intro").
        self.clicks: dict[str, ClickHandler] = {}
        # Told of a channel archived, unarchived or deleted (a digest's: bot.services.digest), each in turn.
        self.channel_listeners: list[Callable[[ev.ChannelChanged, int], Awaitable[list[Action]]]] = []
        # Told where a keyed DirectMessage went (Core.delivered), by the part of its key before the first colon.
        self.deliveries: dict[str, DeliveredHandler] = {}
        # Direct messages the platform refused, by the part of their key before the first colon ("intro:42").
        self.undeliverable: dict[str, Callable[[DirectMessage], Awaitable[list[Action]]]] = {}
        # Called with (community id, the questions whose request to a member was open) when that member is
        # forgotten: their askers are owed an answer (intros offer the next expert).
        self.on_requests_dropped: list[Callable[[int, list[int], datetime], Awaitable[list[Action]]]] = []
        self._in_hand = 0  # events being handled now; a graceful shutdown waits for them
        self._idle = asyncio.Event()
        self._idle.set()
        # Adapters acknowledge an event before handling it, so a burst (a busy channel, a backlog after a
        # reconnect) arrives as thousands of concurrent handlers. Background work (storing messages,
        # reactions) takes turns here, where waiting never times out, instead of on the connection pool,
        # which gives up after 30 s and would lose acknowledged messages. Half the pool is left for
        # what people wait on (asks, commands, buttons) and the scheduler.
        self._background = asyncio.Semaphore(max(1, pool_capacity(db) // 2))
        expertise.gone_check = self._gone_from_platform

    def register_command(self, name: str, handler: Handler) -> None:
        self.commands[name] = handler

    def register_click(self, prefix: str, handler: ClickHandler) -> None:
        self.clicks[prefix] = handler

    def register_delivered(self, prefix: str, handler: DeliveredHandler) -> None:
        self.deliveries[prefix] = handler

    async def delivered(self, key: str, channel: str, message_ref: str) -> None:
        """An adapter sent a keyed DirectMessage (bot.actions.Delivered): its service keeps where it went. A failure
        here is logged; the message was sent all the same."""
        handler = self.deliveries.get(key.partition(":")[0])
        if handler is None:
            log.warning("no handler for delivered message %r", key[:100])
            return
        try:
            await handler(key, channel, message_ref)
        except Exception:
            log.exception("keeping where message %r went failed", key[:100])

    def register_undelivered(self, prefix: str, handler: Callable[[DirectMessage], Awaitable[list[Action]]]) -> None:
        self.undeliverable[prefix] = handler

    async def undelivered(self, action: DirectMessage) -> list[Action]:
        """A keyed direct message the platform refused (the member takes no DMs): what its service does instead."""
        handler = self.undeliverable.get(action.key.partition(":")[0])
        if handler is None:
            return []
        try:
            return await handler(action)
        except Exception:
            log.exception("handling the undelivered message %s failed", action.key)
            return []

    async def deliver(self, platform: str, actions: list[Action], *,
                      refusals: list[str] | None = None) -> list[Action]:
        """Send actions produced outside an event (scheduled jobs) through the platform's adapter.
        Returns the actions that were not delivered, so a caller can retry them later; why a channel refused a post
        (ChannelRefused) is added to `refusals`, for the caller to tell someone who can fix it."""
        sender = self.senders.get(platform)
        if sender is None:
            log.warning("no %s adapter running; %d action(s) not delivered", platform, len(actions))
            return list(actions)
        return [action for action in actions if await self.send(platform, action, refusals=refusals) == FAILED]

    async def send(self, platform: str, action: Action, *, refusals: list[str] | None = None) -> str:
        """Send one action produced outside an event: SENT, REFUSED (the platform refused it for good: Undelivered,
        one log line) or FAILED (no adapter running, a channel that refuses the bot's posts until someone fixes it
        (ChannelRefused, one log line; why is added to `refusals`), or an error, logged with its traceback: worth
        retrying)."""
        sender = self.senders.get(platform)
        if sender is None:
            log.warning("no %s adapter running; %s not delivered", platform, type(action).__name__)
            return FAILED
        try:
            await sender.send(action)
        except Undelivered as exc:
            log.warning("%s on %s not delivered: %s", type(action).__name__, platform, exc)
            return REFUSED
        except ChannelRefused as exc:
            log.warning("%s on %s refused: %s", type(action).__name__, platform, exc)
            if refusals is not None:
                refusals.append(str(exc))
            return FAILED
        except AccessEnded:  # the adapter said so, once, and stops
            log.warning("%s on %s not delivered: the bot's access ended", type(action).__name__, platform)
            return FAILED
        except Exception:
            log.exception("delivering %s on %s failed", type(action).__name__, platform)
            return FAILED
        return SENT

    async def find_post(self, platform: str, community: str, channel: str, key: str, since: datetime) -> bool | None:
        """Whether the bot's own post marked `key` (PostToChannel.key) is in the channel since `since`: None where no
        adapter running here can tell. ChannelRefused, or any error of the platform's, is the caller's to handle."""
        sender = self.senders.get(platform)
        if not isinstance(sender, FindsPosts):
            return None
        return await sender.find_post(community, channel, key, since)

    async def complete_post(self, platform: str, community: str, channel: str, key: str, doc: Document,
                            since: datetime) -> None:
        """The bot's post marked `key`, found in the channel, completed where it went out in part (CompletesPosts):
        nothing where its adapter posts one message a post. Errors are the caller's to handle."""
        sender = self.senders.get(platform)
        if isinstance(sender, CompletesPosts):
            await sender.complete_post(community, channel, key, doc, since)

    async def drain(self, timeout: float) -> bool:
        """Wait until no event is being handled (a graceful shutdown); False if `timeout` ran out first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            log.warning("%d event(s) still being handled after %.0f s", self._in_hand, timeout)
            return False
        return True

    # -- entry point -------------------------------------------------------------------------------
    async def handle(self, event: ev.Event, *, kept: Kept | None = None) -> list[Action]:
        """Process one event at most once (by its platform event id) and return what to do. `kept`: the event was
        kept in the inbox before its ack (bot.inbox); it leaves the inbox once handled, and stays there when its
        handling failed, for the inbox's sweep to try again."""
        if why := ev.malformed(event):
            log.warning("malformed %s %s event skipped: %s", event.platform, type(event).__name__, why)
            if kept is not None:
                await self.inbox.forget(kept)
            return []
        if isinstance(event, ev.ChannelChanged) and event.change == ev.RETURNED and not await self._known(event):
            return []  # a server joined for the first time (each one's GUILD_CREATE at every start): nothing paused
        try:
            async with self._held():
                if waited_on(event):
                    return await self._handle_once(event, kept)
                async with self._background:
                    return await self._handle_once(event, kept)
        except Exception as exc:
            # A member waiting on an answer (a command, a click, a question to the bot) heard nothing at all while
            # the database was down. Events kept in the inbox fail as before, to be replayed.
            why = unreachable(exc)
            if why is None or kept is not None or not (
                    isinstance(event, ev.CommandInvoked | ev.ActionClicked)
                    or (isinstance(event, ev.MessagePosted) and asks_the_bot(event))):
                raise
            log.warning("%s %s not handled: the database is unreachable (%s)", event.platform,
                        type(event).__name__, why)
            return [self._reply(event, render("database_unreachable"))]

    async def _known(self, event: ev.Event) -> bool:
        """Whether the event's community is stored (without storing it)."""
        async with self.db.sessions() as session:
            return await get_community(session, event.platform, event.community) is not None

    @contextlib.asynccontextmanager
    async def _held(self) -> AsyncIterator[None]:
        """Work in hand: `idle` waits until none is."""
        self._in_hand += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_hand -= 1
            if not self._in_hand:
                self._idle.set()

    async def handle_history(self, events: list[ev.Event]) -> list[Action]:
        """Events fetched from a platform's history after the bot was away (a catch-up), in the order they were said,
        handled as their live delivery would have been. The members' messages, and the reactions to them, are stored
        in one batch a community: their authors and channels in one transaction, their texts encoded together, one
        write (IngestService.store). Handed on one at a time, each was a transaction, an encode and a write of its
        own: 2,000 messages of a channel took 2.1x (SQLite) and 4.9x (PostgreSQL) as long as a bare encode of their
        texts, 1.2x in one batch (tests/benchmarks/bench_catch_up.py). What is stored already is skipped by the
        message's key, as a live redelivery is, and consent is read where they are stored. Anything else (a question
        to the bot, answered once; a reaction to a message not among them) goes through `handle`. Returns what to
        do."""
        listed_at = ev.utcnow()  # the reactions are as the platform listed them by then
        said: dict[tuple[str, str], list[ev.MessagePosted]] = {}
        given: dict[tuple[str, str, str, str], list[ev.ReactionAdded]] = {}
        for event in events:
            if ev.malformed(event) is None and isinstance(event, ev.MessagePosted) and not asks_the_bot(event):
                said.setdefault((event.platform, event.community), []).append(event)
            elif ev.malformed(event) is None and isinstance(event, ev.ReactionAdded):
                given.setdefault((event.platform, event.community, event.channel, event.message_id), []).append(event)
        stored_with = {(m.platform, m.community, m.channel, m.message_id) for group in said.values() for m in group}
        for group in said.values():
            async with self._held(), self._background:
                await self._store_history(group, given, listed_at)
        batched = {id(m) for group in said.values() for m in group}
        batched |= {id(r) for key, reactions in given.items() if key in stored_with for r in reactions}
        actions: list[Action] = []
        for event in events:  # (a malformed one is skipped there, with its log line)
            if id(event) not in batched:
                actions += await self.handle(event)
        return actions

    async def _store_history(self, said: list[ev.MessagePosted],
                             given: dict[tuple[str, str, str, str], list[ev.ReactionAdded]],
                             listed_at: datetime) -> None:
        """Messages of one community (see handle_history), with the reactions given to them."""
        first = said[0]
        members: dict = {}
        channels: dict = {}
        incoming: list[IncomingMessage] = []
        read_again: list[int] = []
        reactions = 0
        async with self.db.sessions.begin() as session:
            community_id = (await ensure_community(session, first.platform, first.community)).id
            for event in said:
                _, message, again = await self._file_message(session, event, community_id, topic=None,
                                                             members=members, channels=channels)
                read_again += again
                if message is not None:
                    message.reactions = [(r.reaction[:100], r.user) for r in given.get(
                        (event.platform, event.community, event.channel, event.message_id), [])]
                    message.reactions_at = listed_at
                    reactions += len(message.reactions)
                    incoming.append(message)
        await self.expertise.follow_again(community_id, read_again)
        if incoming:
            await self.ingest.store(community_id, incoming)
        metrics.EVENTS.labels(first.platform, "MessagePosted").inc(len(said))
        if reactions:
            metrics.EVENTS.labels(first.platform, "ReactionAdded").inc(reactions)

    async def _handle_once(self, event: ev.Event, kept: Kept | None) -> list[Action]:
        async with self.db.sessions.begin() as session:
            community = await ensure_community(session, event.platform, event.community)
            # A kept event claimed before and not done was cut off by a process that died: taken over once stale.
            if event.event_id and not await claim_event(session, community.id, event.event_id) and not (
                    kept is not None and await take_over(session, community.id, kept)):
                log.info("event %s already processed; ignored", event.event_id)
                metrics.DUPLICATES.labels(event.platform).inc()
                return []
            community_id = community.id
        metrics.EVENTS.labels(event.platform, type(event).__name__).inc()
        try:
            actions = await self._dispatch(event, community_id)
        except Exception:
            metrics.HANDLE_ERRORS.labels(event.platform).inc()
            log.exception("failed to handle %s (%s)", type(event).__name__, event.event_id)
            if kept is not None and event.event_id:  # claimed again by the inbox's next try
                try:
                    async with self.db.sessions.begin() as session:
                        await release_event(session, community_id, event.event_id)
                except Exception:  # noqa: BLE001 - the claim goes stale and is taken over (bot.inbox.take_over)
                    log.warning("releasing the claim of event %s failed", event.event_id, exc_info=True)
            return [self._reply(event, render("sorry"))] if (
                isinstance(event, ev.CommandInvoked | ev.ActionClicked)) else []
        if kept is not None:
            try:
                await self.inbox.done(community_id, kept)
            except Exception:  # noqa: BLE001 - handled all the same; the sweep finds it, and doing it again changes nothing
                log.warning("removing event %s from the inbox failed", event.event_id, exc_info=True)
        return actions

    async def _dispatch(self, event: ev.Event, community_id: int) -> list[Action]:
        """What an event asks for, by its kind; raises where its handling failed."""
        if isinstance(event, ev.MessagePosted):
            return await self._on_message(event, community_id)
        if isinstance(event, ev.CommandInvoked):
            return await self._on_command(event, community_id)
        if isinstance(event, ev.ActionClicked):
            handler = self.clicks.get(event.action.split(".", 1)[0])
            if handler is None:
                log.warning("no handler for button action %r", event.action)
                return []
            return await handler(event, community_id)
        if isinstance(event, ev.ReactionAdded | ev.ReactionRemoved):
            await self._on_reaction(event, community_id)
        elif isinstance(event, ev.ReactionsCleared):
            await self._on_reactions_cleared(event, community_id)
        elif isinstance(event, ev.MessageDeleted):
            return await self._on_deleted(event, community_id)
        elif isinstance(event, ev.ThreadStarted):
            if event.thread:
                await self._on_thread_started(event, community_id)
        elif isinstance(event, ev.MemberJoined | ev.MemberLeft):
            await self._on_membership(event, community_id)
        elif isinstance(event, ev.ChannelChanged):
            if event.change == ev.MADE_PRIVATE:
                await self._on_made_private(event, community_id)
                return []
            unquoted = await self._on_channel_deleted(event, community_id) if event.change == ev.DELETED else []
            if event.thread:  # a thread deleted: nothing is scheduled to post in a thread
                return unquoted
            return unquoted + [action for listener in self.channel_listeners
                               for action in await listener(event, community_id)]
        return []

    async def _on_membership(self, event: ev.MemberJoined | ev.MemberLeft, community_id: int) -> None:
        """Whoever left (a server left, an account deactivated) is kept for history but never suggested nor asked
        for an introduction, as an export's deactivated accounts are; joining again brings them back."""
        gone = isinstance(event, ev.MemberLeft)
        timezone = event.timezone if isinstance(event, ev.MemberJoined) else None
        async with self.db.sessions.begin() as session:
            member = await ensure_member(session, community_id, event.user, name=event.user_name, timezone=timezone,
                                         account_is_bot=event.is_bot)
            if member.deactivated != gone:
                member.deactivated = gone
                log.info("%s member %s %s", event.platform, event.user, "left" if gone else "is back")

    async def workspace_address(self, platform: str, external_id: str, address: str) -> int:
        """A live workspace's own address (Slack's auth.test `url`): kept for its community, whose imported messages'
        links move there (an export names no host). Returns how many links moved."""
        url = workspace_address(address)
        if url is None:
            return 0
        async with self.db.sessions.begin() as session:
            await unlimited(session)  # every imported message's link, once: a million rows take their time
            community = await ensure_community(session, platform, external_id)
            moved = await move_export_links(session, community.id, url)
        if moved:
            log.info("%s %s: %d link(s) to imported messages moved to %s", platform, external_id, moved, url)
            self.expertise.forget_cache(community.id)
        return moved

    async def prune_processed_events(self) -> int:
        """Forget event ids no platform will deliver again (bot.repo.EVENTS_KEPT_DAYS)."""
        async with self.db.sessions.begin() as session:
            return await prune_processed_events(session)

    async def prune_pending_reactions(self) -> int:
        """Forget reactions kept for messages never stored (bot.repo.PENDING_REACTION_HOURS)."""
        async with self.db.sessions.begin() as session:
            return await prune_pending_reactions(session)

    def _reply(self, event: ev.Event, text: str, *sections: Section) -> Reply:
        return Reply(community=event.community, channel=event.channel, user=event.user, thread=event.thread,
                     doc=Document(text=text, sections=sections))

    # -- messages ----------------------------------------------------------------------------------
    async def _on_message(self, event: ev.MessagePosted, community_id: int) -> list[Action]:
        asked = asks_the_bot(event)
        answered = asked and not (event.caught_up and ev.utcnow() - event.time > LATE_QUESTION)
        if asked and not answered:
            log.info("%s question %s was asked while the bot was away, at %s: not answered now", event.platform,
                     event.message_id, event.time.isoformat(timespec="seconds"))
        if answered and await self._answered_before(event, community_id):
            log.info("%s question %s was answered before; not again", event.platform, event.message_id)
            return []
        if answered and asks_for_help(event.text):
            return await self._once(event, community_id, [self._reply(event, render("help", **help_names(
                event.platform)))])
        if asked and asks_for_help(event.text):
            return []
        topic = question_topic(event.text) if asked else None
        if asked and topic is None:
            return await self._once(event, community_id, [self._reply(event, ASK_LIKE_THIS)]) if answered else []
        async with self.db.sessions.begin() as session:
            scope, incoming, read_again = await self._file_message(session, event, community_id, topic=topic)
        await self.expertise.follow_again(community_id, read_again)
        if incoming is not None:
            await self.ingest.store(community_id, [incoming])
        if topic and answered:
            return await self._once(event, community_id, [await self._answer(event, scope, topic)])
        return []

    async def _file_message(self, session: AsyncSession, event: ev.MessagePosted, community_id: int, *,
                            topic: str | None, members: dict | None = None, channels: dict | None = None,
                            ) -> tuple[Scope, IncomingMessage | None, list[int]]:
        """The message's author and channel (made if new), and the message to store (None: a question to the bot, a
        bot's post, an author who opted out, a channel not read), with the ids of the stored messages to read again
        (their thread's opening changed). `members` and `channels`: those filed before in this transaction (a batch of
        history), by what was told of them."""
        members = {} if members is None else members
        channels = {} if channels is None else channels
        # A bot's post makes a bot of someone seen first so; an ordinary post shows a person (who may have posted
        # through an app before). A person's post through an app does not make them a bot.
        who = (event.user, event.user_name, event.is_bot)
        if who not in members:
            members[who] = await ensure_member(session, community_id, event.user, name=event.user_name,
                                               is_bot=event.is_bot, rename=not event.is_direct,
                                               account_is_bot=False if not event.is_bot else None)
        member = members[who]
        where = (event.channel, event.channel_name, event.is_private or event.is_direct, event.in_announcements,
                 event.is_direct or event.is_group_dm)
        if where not in channels:
            channels[where] = await ensure_channel(session, community_id, event.channel, name=event.channel_name,
                                                   is_private=event.is_private or event.is_direct,
                                                   announcements=event.in_announcements,
                                                   is_dm=event.is_direct or event.is_group_dm)
        channel = channels[where]
        scope = Scope(community_id, member.id)
        store = channel_ingested(channel) and member.profiling_consent and not event.is_bot and topic is None
        channel_id = channel.id
        # A thread started from a bot's post (never stored) asks with its first member's message, as one
        # started on its own does; and so does a private thread or a forum post.
        openerless = [(channel_id, event.thread)] if event.thread and event.thread_without_opener else []
        if event.is_bot and not event.thread and channel_ingested(channel):
            openerless.append((channel_id, event.message_id))
        read_again = await self._know_openerless(session, community_id, openerless)
        if (not store and event.thread and not event.is_bot and not event.edited and channel_ingested(channel)
                and event.platform in OPENERLESS_THREADS):
            # A member's message not stored (opted out, or asking the bot) that would ask in a thread with no
            # opening message: the thread has no question; the next message answers it.
            gone = await mark_openers_gone(session, community_id, withheld=[(channel_id, event.thread, event.time)])
            await self._note_read_again(session, community_id, gone)
            read_again += gone
        if not store:
            return scope, None, read_again
        return scope, IncomingMessage(
            channel_id=channel_id, external_id=event.message_id, author_id=scope.member_id,
            text=event.text, created_at=event.time, thread_external_id=event.thread,
            reply_to_external_id=event.reply_to,
            edited_at=event.time if event.edited else None, permalink=event.permalink,
            link_titles=dict(event.link_titles),
        ), read_again

    # A question can come twice through different events: live, then in the history fetched after a restart (a
    # question is not stored, so the fetch starts before it), or in HTTP mode as Slack's late retry as well as in that
    # history. It is answered once: the answer is claimed as an event of its own once it is ready (a process that died
    # before, its event replayed by the inbox, answers it then).
    async def _answered_before(self, event: ev.MessagePosted, community_id: int) -> bool:
        if not event.message_id or event.edited:
            return False
        async with self.db.sessions() as session:
            return await session.scalar(select(ProcessedEvent.id).where(
                ProcessedEvent.community_id == community_id, ProcessedEvent.event_id == _answer_key(event))) is not None

    async def _once(self, event: ev.MessagePosted, community_id: int, answer: list[Action]) -> list[Action]:
        if not event.message_id or event.edited:
            return answer
        async with self.db.sessions.begin() as session:
            if await claim_event(session, community_id, _answer_key(event)):
                return answer
        log.info("%s question %s was answered meanwhile; not again", event.platform, event.message_id)
        return []

    async def _know_openerless(self, session: AsyncSession, community_id: int,
                               threads: list[tuple[int, str]]) -> list[int]:
        """Remember threads as starting with no opening message; the messages already stored in them are noted
        as changed (the other processes read them again), and returned for this one to read again."""
        if not threads:
            return []
        _, ids = await know_openerless_threads(session, community_id, threads)
        await self._note_read_again(session, community_id, ids)
        return ids

    async def _note_read_again(self, session: AsyncSession, community_id: int, ids: list[int]) -> None:
        """Messages whose conversation changed are noted as changed: the other processes read them again."""
        if ids:
            await self.expertise.note_changes(session, community_id, ids)

    async def _on_thread_started(self, event: ev.ThreadStarted, community_id: int) -> None:
        async with self.db.sessions.begin() as session:
            channel = await ensure_channel(session, community_id, event.channel)
            read_again = await self._know_openerless(session, community_id, [(channel.id, event.thread or "")])
        await self.expertise.follow_again(community_id, read_again)

    async def _on_deleted(self, event: ev.MessageDeleted, community_id: int) -> list[Action]:
        """The message goes, and the digests posted lately that quote it (a waiting question) or link it (where a link
        was shared) are edited without it (bot.services.digest_unquote)."""
        async with self.db.sessions.begin() as session:
            channel = await ensure_channel(session, community_id, event.channel)
            channel_id = channel.id
            permalink = await session.scalar(select(Message.permalink).where(
                Message.community_id == community_id, Message.channel_id == channel_id,
                Message.external_id == event.message_id))
        await self.ingest.delete(community_id, [(channel_id, event.message_id)])
        if not permalink:
            return []
        async with self.db.sessions.begin() as session:
            return list(await unquote_messages(session, community_id, {permalink}, event.time))

    async def _on_made_private(self, event: ev.ChannelChanged, community_id: int) -> None:
        """A channel made private on the platform: stored as public, its members' words went on being quoted (and its
        links and questions put in digests) for everyone, until a new message there said it was private. A private
        channel made public stays private here, as one seen first private does (an admin turns its reading on)."""
        async with self.db.sessions.begin() as session:
            made = await session.execute(update(Channel).where(
                Channel.community_id == community_id, Channel.external_id == event.channel,
                Channel.is_private.is_(False)).values(is_private=True))
        if made.rowcount:
            log.info("%s %s: channel %s made private; what is stored of it is no longer shown outside it",
                     event.platform, event.community, event.channel)

    async def _on_channel_deleted(self, event: ev.ChannelChanged, community_id: int) -> list[Action]:
        """A channel (or, with `thread`, a thread: its replies, not the message it hangs from in its channel) deleted
        on the platform: its messages are gone there, so here too, as each one's deletion is (vectors, reactions,
        shares, the corpus; remembered, so an export made before does not bring them back), in one batch; the digests
        posted lately that quote or link any of them are edited without them (those posted in the deleted channel
        went with it). An archived channel keeps its messages."""
        if not event.channel:
            return []
        async with self.db.sessions() as session:
            channel_id = await session.scalar(select(Channel.id).where(Channel.community_id == community_id,
                                                                       Channel.external_id == event.channel))
            if channel_id is None:
                return []
            where = [Message.community_id == community_id, Message.channel_id == channel_id]
            if event.thread:
                where += [Message.thread_external_id == event.thread, Message.external_id != event.thread]
            rows = (await session.execute(select(Message.external_id, Message.permalink).where(*where))).all()
        if not rows:
            return []
        gone = await self.ingest.delete(community_id, [(channel_id, ext) for ext, _ in rows])
        log.info("%s %s: %s %s deleted; its %d stored message(s) deleted here too", event.platform, event.community,
                 "thread" if event.thread else "channel", event.thread or event.channel, gone)
        async with self.db.sessions.begin() as session:
            edits = await unquote_messages(session, community_id, {link for _, link in rows if link}, event.time)
        # A digest posted in the deleted channel went with it: no edit would find it.
        return [edit for edit in edits if event.thread or edit.channel != event.channel]

    async def _gone_from_platform(self, community_id: int, shown: list[MessageRecord]) -> int:
        """Of the messages an ask is about to quote or link, those its platform no longer has are deleted here, those
        edited meanwhile stored as edited (see gone_from_platform). Returns how many were gone or edited."""
        return await self._look_up(community_id, {r.permalink: r.id for r in shown if r.permalink})

    async def gone_from_platform(self, community_id: int, links: dict[str, int | None] | list[str]) -> int:
        """Of the stored messages with these links (a digest's questions and shares, about to be posted), those the
        platform no longer has (deleted while the bot was away, which nothing told it) are deleted here as a live
        deletion is, so that what a member took back is never shown; those edited meanwhile the platform's adapter
        hands over as the edits missed. Returns how many were gone or edited; 0 where the adapter cannot tell (not
        running, no such check, an error: logged). `links` with the messages' ids, where known, finds them by id."""
        return await self._look_up(community_id, links if isinstance(links, dict) else dict.fromkeys(links))

    async def _look_up(self, community_id: int, links: dict[str, int | None]) -> int:
        """`links`: the messages' links, with their ids where known."""
        if not links or not any(isinstance(sender, ChecksMessages) for sender in self.senders.values()):
            return 0  # no platform here can tell (the console, tests): no read on every ask
        async with self.db.sessions() as session:
            community = await session.get(Community, community_id)
        sender = self.senders.get(community.platform) if community is not None else None
        if not isinstance(sender, ChecksMessages):
            return 0
        try:
            found = await sender.look_up(community.external_id, list(links))
        except Exception:  # noqa: BLE001 - what was to be shown is shown all the same, as before the check
            log.warning("checking that %d message(s) are still on %s as stored failed", len(links),
                        community.platform, exc_info=True)
            return 0
        gone = [link for link in found.gone if link in links]
        if gone:
            ids = [links[link] for link in gone if links[link] is not None]
            by_link = [link for link in gone if links[link] is None]
            async with self.db.sessions() as session:
                keys = [(channel, ext) for channel, ext in await session.execute(
                    select(Message.channel_id, Message.external_id).where(
                        Message.community_id == community_id,
                        Message.id.in_(ids) | Message.permalink.in_(by_link) if by_link else Message.id.in_(ids)))]
            await self.ingest.delete(community_id, keys)
            await self._unquote_gone(community, gone)
        if gone or found.edited:
            log.info("of the messages about to be shown, %d were deleted and %d edited on %s while the bot was away: "
                     "changed here too", len(gone), len(found.edited), community.platform)
        return len(gone) + len(found.edited) + len(found.hidden)  # (hidden: their channel is stored private now)

    async def _unquote_gone(self, community: Community, links: list[str]) -> None:
        """The digests posted lately that quote or link messages found deleted (while the bot was away), edited
        without them as after a live deletion; what the platform fails is kept for the outbox's sweep. A failure here
        is logged: what was about to be shown is shown all the same."""
        try:
            async with self.db.sessions.begin() as session:  # each post edited once, however many it quoted
                edits: list[Action] = list(await unquote_messages(session, community.id, set(links), ev.utcnow()))
            if edits:
                await keep_in_outbox(self.db, community.id, community.platform,
                                     await self.deliver(community.platform, edits))
        except Exception:
            log.exception("editing the digests that quoted %d message(s) deleted on %s failed", len(links),
                          community.platform)

    async def _on_reaction(self, event: ev.ReactionAdded | ev.ReactionRemoved, community_id: int) -> None:
        name = event.reaction[:100]
        kept = False
        reacted: list[int] = []  # the stored message whose reactions changed
        async with self.db.sessions.begin() as session:
            # A channel seen first through a reaction is not known to be public (a DM, a private channel: only a
            # message says): no reaction is kept there for a message to come.
            seen = await session.scalar(select(Channel.id).where(Channel.community_id == community_id,
                                                                 Channel.external_id == event.channel))
            channel = await ensure_channel(session, community_id, event.channel)
            channel_id = channel.id
            # Held until the reaction is stored: read unlocked, an opt-out on another replica committed meanwhile had
            # deleted their reactions before this one, which stayed.
            withheld = await withheld_members(session, community_id, {event.user}, hold=True)
            removal = (RemovedReaction.channel_id == channel.id,
                       RemovedReaction.message_external_id == event.message_id,
                       RemovedReaction.user_external_id == event.user, RemovedReaction.name == name)
            if isinstance(event, ev.ReactionRemoved) and not withheld:
                # Kept, also for a message not stored here yet, so that an export made before does not bring it back.
                await session.execute(upsert_removed_reaction(session).values(
                    community_id=community_id, channel_id=channel.id, message_external_id=event.message_id,
                    user_external_id=event.user, name=name, removed_at=ev.utcnow()))
            elif isinstance(event, ev.ReactionAdded):
                await session.execute(delete(RemovedReaction).where(*removal))  # given again: no longer removed
            if isinstance(event, ev.ReactionRemoved):
                # Taken back before its message was stored: the message will not get it. Deleted before the message
                # is looked for: one being given to the message now (apply_pending_reactions) is waited for, then
                # found on it below.
                await session.execute(delete(PendingReaction).where(
                    PendingReaction.community_id == community_id, PendingReaction.channel_id == channel.id,
                    PendingReaction.message_external_id == event.message_id,
                    PendingReaction.user_external_id == event.user, PendingReaction.name == name))
            message = await get_message(session, community_id, channel.id, event.message_id)
            if message is None:
                if (isinstance(event, ev.ReactionAdded) and not withheld and seen is not None
                        and channel_ingested(channel)):
                    # The message may be on its way (another replica waits on its author's name and its embedding):
                    # kept for it, given to it when it is stored (IngestService.store).
                    await session.execute(upsert_pending_reaction(session).values(
                        community_id=community_id, channel_id=channel.id, message_external_id=event.message_id,
                        user_external_id=event.user, name=name, given_at=ev.utcnow()))
                    kept = True
            elif isinstance(event, ev.ReactionAdded):
                if withheld:
                    return  # opted out or forgotten: nothing of theirs is stored
                # Given again, it is known from now (an export made before does not take it away).
                await session.execute(upsert_reactions(session).values(
                    community_id=community_id, message_id=message.id, user_external_id=event.user, name=name,
                    known_at=ev.utcnow()))
                reacted = [message.id]
            else:
                existing = await session.scalar(select(Reaction).where(
                    Reaction.message_id == message.id, Reaction.user_external_id == event.user,
                    Reaction.name == name))  # stored cut at 100 characters, as it is given
                if existing is not None:
                    await session.delete(existing)
                    reacted = [message.id]
            if reacted:  # the other replicas read the message again, with its reactions (bot.services.changes)
                await self.expertise.note_changes(session, community_id, reacted)
        if kept:
            # The message stored meanwhile, by a store that looked for reactions kept for it before this one was
            # committed: given to it here. One of the two looks after the other's commit, so one of them finds it.
            async with self.db.sessions.begin() as session:
                reacted = await apply_pending_reactions(session, community_id, [(channel_id, event.message_id)])
                if reacted:
                    await self.expertise.note_changes(session, community_id, reacted)
        # Its reactions count in the ranking (an answer reacted to, "thanked"): until the corpus was loaded again (a
        # restart), live reactions counted for nothing. Here in place; the other replicas follow the change log.
        await self.expertise.reactions_changed(community_id, reacted)

    async def _on_reactions_cleared(self, event: ev.ReactionsCleared, community_id: int) -> None:
        """A moderator took a message's reactions away (all, or one emoji's) for everyone: they no longer weigh its
        author's answers nor its links in a digest. Those kept for it, not stored yet, go too; and the removal is kept
        for anyone's (user ""), so that an export made before does not bring them back (ingest._taken_back)."""
        name = event.reaction[:100] if event.reaction is not None else None
        reacted: list[int] = []
        async with self.db.sessions.begin() as session:
            channel = await ensure_channel(session, community_id, event.channel)
            await session.execute(upsert_removed_reaction(session).values(
                community_id=community_id, channel_id=channel.id, message_external_id=event.message_id,
                user_external_id="", name=name or "", removed_at=ev.utcnow()))
            await session.execute(delete(PendingReaction).where(
                PendingReaction.community_id == community_id, PendingReaction.channel_id == channel.id,
                PendingReaction.message_external_id == event.message_id,
                *((PendingReaction.name == name,) if name is not None else ())))
            message = await get_message(session, community_id, channel.id, event.message_id)
            if message is not None:
                gone = await session.execute(delete(Reaction).where(
                    Reaction.community_id == community_id, Reaction.message_id == message.id,
                    *((Reaction.name == name,) if name is not None else ())))
                if gone.rowcount:
                    reacted = [message.id]
                    await self.expertise.note_changes(session, community_id, reacted)
        await self.expertise.reactions_changed(community_id, reacted)

    # -- asking ------------------------------------------------------------------------------------
    async def _answer(self, event: ev.Event, scope: Scope, topic: str) -> Action:
        if refused := await self._asked_too_often(scope.member_id, event.time):
            return self._reply(event, refused)
        started = time.perf_counter()
        suggestions = await self.expertise.rank(scope.community_id, topic, asker=event.user, top=5,
                                                now=event.time, channel=event.channel or None)
        metrics.ASK_SECONDS.labels(event.platform).observe(time.perf_counter() - started)
        metrics.ASKS.labels(event.platform, "yes" if suggestions else "no").inc()
        question_id = await self._keep_question(event, scope, topic, suggestions)
        # A member the question names reads as "@name", as in the quotes: "who knows what <@U1> meant by linklets?"
        # was answered "People who can likely help with “what meant by linklets”".
        shown = echoed(await self.expertise.readable(scope.community_id, topic), 120)
        if not suggestions:
            return self._reply(event, render("no_experts", topic=shown))
        why_no_intros = () if question_id is not None else (
            Section(text=render("ask_opted_out", optin=command(event.platform, "optin"))),)
        # Nothing anyone said bears on it: the members who answer most, and the asker told so, not "can likely help".
        heading = (f"People who can likely help with “{shown}”:" if any(s.topical for s in suggestions)
                   else render("ask_regulars_only", topic=shown))
        return self._reply(event, heading, Section(experts=expert_cards(suggestions, question_id)), *why_no_intros)

    async def _asked_too_often(self, member_id: int, now: datetime) -> str | None:
        """Why a member's question is not answered now: ASKS_PER_HOUR kept in the hour before it. Each ask ranks the
        whole community's history, and nothing stopped a member (or their script) asking without pause, slowing every
        other member's answers (security audit). Counted from the questions kept (an opted-out asker's are not)."""
        async with self.db.sessions() as session:
            asked = list(await session.scalars(
                select(Question.created_at).where(Question.asker_id == member_id,
                                                  Question.created_at > now - ASK_WINDOW)
                .order_by(Question.created_at.desc()).limit(ASKS_PER_HOUR)))
        if len(asked) < ASKS_PER_HOUR:
            return None
        oldest = asked[-1] if asked[-1].tzinfo else asked[-1].replace(tzinfo=UTC)
        return render("ask_too_often", asked=len(asked), when=(oldest + ASK_WINDOW).strftime("%H:%M UTC"))

    async def _keep_question(self, event: ev.Event, scope: Scope, topic: str,
                             suggestions: list[Suggestion]) -> int | None:
        """Store the question for intros: the expert reads it, and a decline offers the asker the next expert.
        An opted-out asker is answered but their question is not kept (nothing new from them is stored), so
        their answer offers no intro: None."""
        async with self.db.sessions.begin() as session:
            asker = await session.get(Member, scope.member_id)
            if not asker.profiling_consent:
                return None
            question = Question(community_id=scope.community_id, asker_id=scope.member_id, text=storable(topic)[:4000],
                                channel_external_id=event.channel, suggested=[s.user for s in suggestions],
                                created_at=event.time)
            session.add(question)
            await session.flush()
            return question.id

    async def _on_command(self, event: ev.CommandInvoked, community_id: int) -> list[Action]:
        handler = self.commands.get(event.name.lower().lstrip("/"))
        if handler is None:
            return [self._reply(event, f"I don't know the command `{neutralise(event.name)}`.\n\n"
                                       + render("help", **help_names(event.platform)))]
        async with self.db.sessions.begin() as session:
            member = await ensure_member(session, community_id, event.user, name=event.user_name,
                                         timezone=event.timezone)
            member_id = member.id
        return await handler(event, community_id, member_id)

    async def _cmd_whoknows(self, event: ev.CommandInvoked, community_id: int, member_id: int) -> list[Action]:
        topic = question_topic(event.args)
        if topic is None:
            return [self._reply(event, "Ask me like this: `/whoknows postgres query plans`")]
        return [await self._answer(event, Scope(community_id, member_id), topic)]

    async def _cmd_help(self, event: ev.CommandInvoked, community_id: int, member_id: int) -> list[Action]:
        return [self._reply(event, render("help", **help_names(event.platform)))]

    async def _cmd_skills(self, event: ev.CommandInvoked, community_id: int, member_id: int) -> list[Action]:
        verb, _, rest = event.args.strip().partition(" ")
        verb = verb.lower()
        usage = {verb_: f"Use it like this: `{command(event.platform, 'skills', example)}`" for verb_, example in (
            ("add", "add kubernetes, postgres tuning"), ("remove", "remove kubernetes, postgres tuning"),
            ("endorse", "endorse @member kubernetes"))}
        async with self.db.sessions.begin() as session:
            # Read with the row held, in the transaction that stores the skill: an opt-out at the same moment
            # either comes first or waits, and then deletes the skill.
            if verb in ("add", "remove", "endorse") and not await consenting(session, member_id):
                return [self._reply(event, f"You're opted out of profiling; `{command(event.platform, 'optin')}` "
                                           "first to declare skills.")]
            if verb == "add":
                topics = topic_list(rest)
                if not topics:
                    return [self._reply(event, usage["add"])]
                added, already, _ = await _store_skills(session, community_id, member_id, topics, "declared")
                cut = cut_topics(rest)  # said, not done silently (user walk-through)
                text = " ".join(([f"Added: {', '.join(added)}."] if added else [])
                                + ([f"Already declared: {', '.join(already)}."] if already else [])
                                + ([f"A topic is kept to its first {TOPIC_CHARS} characters: {cut} "
                                    f"{'was' if cut == 1 else 'were'} cut."] if cut else []))
            elif verb == "remove":
                # The member decides what their profile says: what others endorsed them for goes too.
                topics = topic_list(rest)
                if not topics:
                    return [self._reply(event, usage["remove"])]
                wanted = {t.casefold(): t for t in topics}
                removed: dict[str, str] = {}
                for skill in await skills_of(session, community_id, member_id):
                    if skill.topic.casefold() in wanted:
                        await session.delete(skill)
                        key = skill.topic.casefold()  # said as the profile showed it, the declared case first
                        if skill.source == "declared" or key not in removed:
                            removed[key] = skill.topic
                missing = [t for key, t in wanted.items() if key not in removed]
                text = " ".join(([f"Removed: {', '.join(removed.values())}."] if removed else [])
                                + ([f"You had no skill “{'”, “'.join(missing)}”."] if missing else []))
            elif verb == "endorse":
                found = await self._resolve_member(session, event, community_id, rest)
                if found is None and rest.strip() and topic_list(rest):
                    # Named someone, but nobody here: "Use it like this" read as if the command were mistyped.
                    example = command(event.platform, "skills", "endorse @member kubernetes")
                    return [self._reply(event, f"I don't know {_named(rest)} in this community, so nothing was "
                                               f"recorded; mention a member: `{example}`")]
                if found is None or not topic_list(found[1]):
                    return [self._reply(event, usage["endorse"])]
                target, topics = found[0], topic_list(found[1])
                if target.id == member_id:
                    return [self._reply(event, f"Endorse someone else; `{command(event.platform, 'skills', 'add')}`"
                                               " is for your own skills.")]
                if target.is_bot:
                    return [self._reply(event, "That's a bot; endorse a member for what they know.")]
                if not await consenting(session, target.id):
                    return [self._reply(event, "That member isn't profiled; nothing was recorded.")]
                endorsed, already, over = await _store_skills(session, community_id, target.id, topics, "endorsed",
                                                              endorser=member_id, limit=ENDORSED_TOPICS)
                text = " ".join(([f"Endorsed {target.name} for {', '.join(endorsed)}."] if endorsed else [])
                                + ([f"You had endorsed {target.name} for {', '.join(already)} already."]
                                   if already else [])
                                + ([f"One member endorses another for at most {ENDORSED_TOPICS} topics: "
                                    f"{', '.join(over)} {'was' if len(over) == 1 else 'were'} not recorded."]
                                   if over else []))
            else:
                skills = await profile_skills(session, community_id, member_id)
                if not skills:
                    return [self._reply(event, "You have declared no skills yet: "
                                               f"`{command(event.platform, 'skills', 'add <topic>')}`.")]
                # Others' words (an endorsement) are quoted: their markup stays text on the member's profile.
                return [self._reply(event, "Your skills:", Section(quotes=tuple(
                    Evidence(neutralise(skill.line())) for skill in skills)))]
        return [self._reply(event, unlinked(text))]

    async def _resolve_member(self, session, event: ev.CommandInvoked, community_id: int,  # noqa: ANN001
                              text: str) -> tuple[Member, str] | None:
        """The member `text` starts with, and the rest. A mention the platform resolved (a Discord member picked,
        a Slack mention) names a real member even if the bot never stored them: they are stored now."""
        m = re.match(r"\s*<@!?([A-Za-z0-9]+)(?:\|[^>]*)?>", text)
        if m:
            rest = text[m.end():]
            member = await get_member(session, community_id, m.group(1))
            person = next((p for p in event.mentioned if p.id == m.group(1)), None)
            if member is None and person is not None:
                member = await ensure_member(session, community_id, person.id, name=person.name,
                                             is_bot=person.is_bot)
            elif member is not None and person is not None and person.is_bot and not member.is_bot:
                member.is_bot = True  # the platform says the account is an app's (stored before as a person)
            return (member, rest) if member is not None else None
        return await find_member_at_start(session, community_id, text)

    async def _cmd_optout(self, event: ev.CommandInvoked, community_id: int, member_id: int) -> list[Action]:
        withdrawn: list[tuple[str, str]] = []
        dropped: list[int] = []
        closed: list[tuple[str, str]] = []
        answered: list[tuple[str, str, str]] = []
        edited: list[Action] = []
        removed = await self._remove_member_data(community_id, member_id, forget=False, now=event.time,
                                                 withdrawn=withdrawn, dropped=dropped, closed=closed,
                                                 answered=answered, edited=edited)
        owed = await self._offer_next_experts(community_id, dropped, event.time, "/optout")
        text = render("optout", messages=removed, optin=command(event.platform, "optin"))
        if dropped:
            text += (f" The {len(dropped)} intro request(s) waiting for your answer are closed: their askers are "
                     "offered someone else.")
        doc = Document(text=render("intro_settled_expert_opted_out"))
        return [self._reply(event, text), *_requests_withdrawn(event.community, withdrawn),
                *_requests_answered(event.community, answered),
                *(UpdateMessage(community=event.community, channel=channel, message_ref=ref, doc=doc)
                  for channel, ref in closed), *owed, *edited]

    async def _offer_next_experts(self, community_id: int, dropped: list[int], now: datetime,
                                  what: str) -> list[Action]:
        """The next expert for the askers whose request to a member who opted out or was forgotten was open."""
        owed: list[Action] = []
        for hook in self.on_requests_dropped:  # after the removal: a failure here must not hide that it was done
            try:
                owed += await hook(community_id, dropped, now)
            except Exception:
                log.exception("after %s: offering the next expert to askers of %d open request(s) failed", what,
                              len(dropped))
        return owed

    async def _cmd_optin(self, event: ev.CommandInvoked, community_id: int, member_id: int) -> list[Action]:
        async with self.db.sessions.begin() as session:
            member = await session.get(Member, member_id)
            if not member.profiling_consent:  # what was deleted stays deleted (bot.services.ingest: opted_in_at)
                member.opted_in_at = event.time
            member.profiling_consent = True
        return [self._reply(event, render("optin"))]

    async def _cmd_forget_me(self, event: ev.CommandInvoked, community_id: int, member_id: int) -> list[Action]:
        dropped: list[int] = []
        withdrawn: list[tuple[str, str]] = []
        answered: list[tuple[str, str, str]] = []
        edited: list[Action] = []
        removed = await self._remove_member_data(community_id, member_id, forget=True, now=event.time,
                                                 dropped=dropped, withdrawn=withdrawn, answered=answered,
                                                 edited=edited)
        owed = await self._offer_next_experts(community_id, dropped, event.time, "/forget-me")
        text = render("forget_me", messages=removed, optin=command(event.platform, "optin"))
        if elsewhere := await self._known_elsewhere(event.platform, community_id, event.user):
            # The same account in other servers (workspaces of an Enterprise Grid) this bot serves: what it said there
            # stays, each community's own, and "everything I had about you" would not be true.
            place = "server" if event.platform == "discord" else "workspace"
            text += (f" This was for this {place}: I also know you in {elsewhere} other {place}(s) I serve, where "
                     f"`{command(event.platform, 'forget-me')}` forgets you too.")
        return [self._reply(event, text), *_requests_withdrawn(event.community, withdrawn),
                *_requests_answered(event.community, answered), *owed, *edited]

    async def _known_elsewhere(self, platform: str, community_id: int, user: str) -> int:
        """In how many other communities of the platform the same account is a member not forgotten (their own
        data: told to them only)."""
        async with self.db.sessions() as session:
            return int(await session.scalar(
                select(func.count()).select_from(Member).join(Community, Community.id == Member.community_id).where(
                    Community.platform == platform, Community.id != community_id, Member.external_id == user,
                    Member.profiling_consent.is_(True), Member.is_bot.is_(False))) or 0)

    async def _remove_member_data(self, community_id: int, member_id: int, *, forget: bool, now: datetime,
                                  dropped: list[int] | None = None,
                                  withdrawn: list[tuple[str, str]] | None = None,
                                  closed: list[tuple[str, str]] | None = None,
                                  answered: list[tuple[str, str, str]] | None = None,
                                  edited: list[Action] | None = None) -> int:
        """Remove what is stored about a member; `edited` gets the edits of the digests posted lately that quote or
        name them (bot.services.digest_unquote); `dropped` gets the questions whose request to them was still open
        (opting out, `closed` where those requests are: they are withdrawn; forgetting them, deleted). `withdrawn`
        gets where the messages of the requests they sent and nobody answered are
        (channel, message id): they quote the member's question; `answered`, those of the requests they sent that an
        expert answered or let expire, with their state."""
        async with self.db.sessions.begin() as session:
            # Their row is taken first: a store of their messages under way (another replica's) holds it, and is
            # waited for, so that what it stores is deleted below (bot.services.ingest: _gone_since).
            member = await session.get(Member, member_id, with_for_update={"key_share": True}, populate_existing=True)
            platform, community = (await session.execute(select(Community.platform, Community.external_id).where(
                Community.id == community_id))).one()
            # Threads with no opening message where they asked have no question any more (the next message answered).
            if platform in OPENERLESS_THREADS:
                await mark_openers_gone(session, community_id, stored=(await session.execute(
                    select(Message.channel_id, Message.thread_external_id, Message.external_id).where(
                        Message.community_id == community_id, Message.author_id == member_id,
                        Message.thread_external_id.is_not(None)))).all())
            removed = await delete_member_data(session, community_id, member_id)
            await drop_set_aside(session, platform, community, member.external_id)
            await drop_kept_naming(session, community_id, member.external_id)  # bot.outbox
            unquoted = await unquote_digests(session, community_id, member.external_id, now)
            if edited is not None:
                edited.extend(unquoted)
            if answered is not None:
                answered.extend(await answered_requests_of(session, community_id, member_id))
            where = await delete_questions_of(session, community_id, member_id, now)
            if withdrawn is not None:
                withdrawn.extend(where)
            member.profiling_consent = False
            if not forget:
                open_to_them, where_closed = await close_for_opt_out(session, community_id, member_id, now)
                if dropped is not None:
                    dropped.extend(open_to_them)
                if closed is not None:
                    closed.extend(where_closed)
            else:
                open_to_them = await forget_member_everywhere(session, community_id, member_id, now=now)
                if dropped is not None:
                    dropped.extend(open_to_them)
                member.name = ""
                member.timezone = None
                # Their own choices are about them too ("I keep only your platform id"): opting back in starts afresh.
                member.weekly_intro_cap = None
                member.available_for_intros = True
                member.opted_in_at = None
            external_id = member.external_id
            await self.expertise.note_changes(session, community_id, None)
        corpus = self.expertise._corpora.get(community_id)
        if corpus is not None:
            corpus.remove_author(external_id)
        self.expertise.forget_cache(community_id)
        return removed

    async def _cmd_me(self, event: ev.CommandInvoked, community_id: int, member_id: int) -> list[Action]:
        async with self.db.sessions() as session:
            member = await session.get(Member, member_id)
            messages = await session.scalar(select(func.count()).select_from(Message).where(
                Message.community_id == community_id, Message.author_id == member_id))
            vectors = await session.scalar(select(func.count()).select_from(MessageVector).join(
                Message, Message.id == MessageVector.message_id).where(Message.author_id == member_id))
            skills = await profile_skills(session, community_id, member_id)
            kept = await _kept_about(session, community_id, member)
        # Whether anyone can be introduced to them: opting out and a closed account say no, whatever they chose.
        available = ("no (profiling is off)" if not member.profiling_consent
                     else "no (the account is deactivated)" if member.deactivated
                     else "yes" if member.available_for_intros else "no (paused)")
        # The skills are quoted (others endorsed some): their markup stays text.
        return [self._reply(event, neutralise(render(
            "me", name=member.name or "(none)", timezone=member.timezone or "unknown",
            consent="on" if member.profiling_consent else "off (opted out)",
            available=available,
            cap=member.weekly_intro_cap or self.settings.weekly_intro_cap,
            messages=messages, vectors=vectors, skills=f"{len(skills)}, listed below" if skills else "none declared",
            **kept)),
            *([Section(heading="Your skills", quotes=tuple(Evidence(neutralise(s.line())) for s in skills))]
              if skills else []),
            # Without a Home (Slack's App Home has them), these were nowhere: a Discord member asked too often could
            # only opt out, losing what was learned.
            *([] if event.platform in HOME_PLATFORMS else [Section(heading="Intro requests", buttons=intro_switches(
                member.available_for_intros, member.weekly_intro_cap or self.settings.weekly_intro_cap))]))]


async def _kept_about(session: AsyncSession, community_id: int, member: Member) -> dict[str, object]:
    """What else is stored about a member, for /me: the reactions they gave (and those kept for messages to come),
    the links they saved, the endorsements they gave, their questions, the intro requests they sent and received,
    the topics they said are not their area, and their mentoring enrolment and pairs."""
    def count(model, *where) -> object:  # noqa: ANN001
        return session.scalar(select(func.count()).select_from(model).where(model.community_id == community_id,
                                                                             *where))

    enrolment = await session.scalar(select(MentoringEnrolment).where(
        MentoringEnrolment.community_id == community_id, MentoringEnrolment.member_id == member.id))
    return {
        "reactions": await count(Reaction, Reaction.user_external_id == member.external_id)
        + await count(PendingReaction, PendingReaction.user_external_id == member.external_id),
        "saves": await count(ResourceSave, ResourceSave.member_id == member.id),
        "endorsements": await count(Skill, Skill.endorsed_by_id == member.id),
        "questions": await count(Question, Question.asker_id == member.id),
        "sent": await count(Intro, Intro.asker_id == member.id),
        "received": await count(Intro, Intro.expert_id == member.id),
        "not_mine": await count(NotMyArea, NotMyArea.member_id == member.id),
        "mentoring": "not enrolled" if enrolment is None else (
            f"enrolled as {enrolment.role}"
            + (f", can teach {', '.join(enrolment.can_teach)}" if enrolment.can_teach else "")
            + (f", wants to learn {', '.join(enrolment.wants_to_learn)}" if enrolment.wants_to_learn else "")
            + f", time zone {enrolment.timezone}"),
        "pairs": await count(Pairing, (Pairing.mentor_id == member.id) | (Pairing.mentee_id == member.id)),
    }
