"""Delivering the core's actions on Discord: replies, DMs, private intro threads, channel posts, edits."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import discord

from adapters.discord.render import NO_PINGS, Rendered, render_document
from adapters.discord.still_there import Edited, StillThere
from bot.actions import (
    Action,
    Delivered,
    DirectMessage,
    Document,
    EditPost,
    LookedUp,
    OpenGroup,
    PostToChannel,
    Reply,
    UpdateMessage,
)
from bot.errors import AccessEnded, ChannelRefused, Undelivered
from bot.events import MessagePosted

log = logging.getLogger(__name__)

# A keyed post (PostToChannel.key) carries a mark of its key in its first message's footer, where find_post reads it
# back, and its key as its nonce (enforce_nonce: Discord makes no second message with it for a few minutes, a retried
# request's). Members see the footer: a digest's says what it is and when it was due ("connective digest · Dec 7,
# 2026, 09:00"), where it showed its key ("connective · digest:12:2026-12-07T09:00"), which is still found (older
# posts) and is the mark of a key that is no digest's. There is one digest a channel, so its period tells its post.
FOOTER = "connective · {key}"
DIGEST_KEY = re.compile(r"digest:\d+:(\d{4}-\d\d-\d\dT\d\d:\d\d)")
MARK_PREFIXES = (FOOTER.format(key=""), "connective digest · ")  # a footer that marks a keyed post begins so
# Each message a keyed post's embeds ran over (Rendered.more) carries its part's number in its footer (2 for the first
# of them), and a nonce of its own: a post cut short (the process killed after its first message) is completed by
# whoever takes its period over (complete_post), and an edit finds every part, also one sent later.
PART = "{mark} · part {number}"
FIND_LIMIT = 500  # at most this many of a channel's messages are read looking for one post
# The parts of a post are looked for this long after its first message (a take-over completes it within hours).
PARTS_WITHIN = timedelta(hours=12)
# Before parts were marked, they followed the first message at once: the bot's own, each within this long of the one
# before, replying to nothing and carrying no mark.
FOLLOWS_WITHIN = timedelta(minutes=1)
READ_REFUSED = "I may not read that channel's history: give me View Channel and Read Message History there"
GONE = "Discord finds no such channel (deleted, or I may not see it)"
CHANNEL_GONE_CODES = {10003, 50001}  # Unknown Channel, Missing Access
# What Discord answers a post in a channel the bot cannot post to, said to the admin who chose the channel (a digest's).
POST_REFUSALS = {
    10003: GONE,  # Unknown Channel
    50001: "I can't see that channel: give me View Channel there",  # Missing Access
    50013: "I may not post there: give me Send Messages and Embed Links there (in a forum, Send Messages creates "
           "posts)",  # Missing Permissions
    160005: "that thread is locked",  # Thread is locked
}

UNAUTHORIZED = 401  # what REST answers a token reset (or a bot deleted) since the login


class TokenRefused(AccessEnded):
    """A REST call refused because the bot's token is no longer valid."""


def mark_of(key: str) -> str:
    """The footer of the first message of the post keyed `key`."""
    digest = DIGEST_KEY.fullmatch(key)
    if digest is None:
        return FOOTER.format(key=key)
    due = datetime.fromisoformat(digest.group(1))
    return f"{MARK_PREFIXES[1]}{due:%b} {due.day}, {due.year}, {due:%H:%M}"


def marks_of(key: str) -> tuple[str, ...]:
    """The footers the first message of the post keyed `key` may carry: as posted now, and as posted before."""
    return (mark_of(key), FOOTER.format(key=key))


def marks(key: str) -> dict[str, Any]:
    """render_document's marks of a keyed post: its first message's, and each of its parts'."""
    mark = mark_of(key)
    return {"footer": mark, "part_footer": lambda number: PART.format(mark=mark, number=number)}


def nonce_of(key: str) -> str:
    """A nonce (at most 25 characters) that is the same for the same key on every replica."""
    return "c" + hashlib.sha256(key.encode()).hexdigest()[:24]


CommunitySettings = Callable[[str], Awaitable[dict[str, Any]]]
WEEK_IN_MINUTES = 10080


class DiscordSender:
    """The Sender of platform "discord" (bot.actions.Sender)."""

    def __init__(self, client: discord.Client, community_settings: CommunitySettings,
                 delivered: Delivered | None = None, edited: Edited | None = None) -> None:
        self.client = client
        self.community_settings = community_settings
        self.delivered = delivered  # told where a keyed DM went (bot.actions.DirectMessage.key)
        self.still_there = StillThere(client, edited)

    def communities(self) -> frozenset[str]:
        """The servers the bot is in (bot.actions.Serves): one it has left is no longer served here; none before the
        gateway's READY."""
        return frozenset(str(guild.id) for guild in self.client.guilds)

    async def look_up(self, community: str, permalinks: list[str]) -> LookedUp:
        """The messages (by link) Discord no longer has, or has edited (bot.actions.ChecksMessages)."""
        return await self.still_there.look_up(community, permalinks)

    async def send(self, action: Action) -> None:
        try:
            await self._refused_or_sent(action)
        except discord.HTTPException as exc:
            if exc.status != UNAUTHORIZED:
                raise
            # The token reset while the bot runs: one line each (core.send), not a traceback; the gateway's 4004
            # stops the bot (runner.py).
            raise TokenRefused(f"Discord refused the bot token: {exc.status} {exc.text[:100]}") from None

    async def _refused_or_sent(self, action: Action) -> None:
        if isinstance(action, PostToChannel | EditPost):
            try:
                await self._send(action)
            except (discord.Forbidden, discord.NotFound) as exc:
                reason = POST_REFUSALS.get(exc.code)
                if reason is None:
                    raise
                raise ChannelRefused(reason) from None
        else:
            await self._send(action)

    async def _send(self, action: Action) -> None:
        if isinstance(action, PostToChannel) and action.thread is None and self._forum(action.channel):
            await self.create_forum_post(self._forum(action.channel), action)  # type: ignore[arg-type]
        elif isinstance(action, PostToChannel) and action.key:
            await self._post(action.thread or action.channel, action.doc, action.community, key=action.key)
        elif isinstance(action, Reply | PostToChannel):
            await self._post(action.thread or action.channel, action.doc, action.community)
        elif isinstance(action, DirectMessage):
            await self.direct_message(action.user, action)
        elif isinstance(action, OpenGroup):
            await self.open_group(action)
        elif isinstance(action, EditPost):
            await self._edit_post(action)
        elif isinstance(action, UpdateMessage):
            message = self._messageable(action.channel).get_partial_message(int(action.message_ref))
            try:
                await message.edit(
                    **render_document(
                        action.doc, guild=self._guild_for_buttons(action.channel, action.community)
                    ).edit_kwargs()
                )
            except discord.NotFound as exc:  # deleted, or its channel (the DM) with it: nothing is left to edit
                raise Undelivered(_gone(action.channel, action.message_ref, exc)) from None
        else:
            log.warning("no Discord rendering for %s", type(action).__name__)

    async def reply_to_message(self, action: Reply, origin: MessagePosted) -> None:
        """Answer a message where it was posted (a reply to it; Discord has no ephemeral messages there)."""
        target = self._messageable(action.thread or action.channel)
        reference = discord.MessageReference(
            message_id=int(origin.message_id),
            channel_id=int(origin.thread or origin.channel),
            fail_if_not_exists=False,
        )
        # In a DM (a question asked there), buttons name their server: a DM interaction carries no guild id.
        guild = action.community if origin.is_direct else None
        rendered = render_document(action.doc, guild=guild)
        await target.send(reference=reference, mention_author=False, **rendered.send_kwargs())
        await _send_more(target, rendered)

    async def direct_message(self, user: str, action: DirectMessage | OpenGroup) -> None:
        dm = await self.client.create_dm(discord.Object(int(user)))
        rendered = render_document(action.doc, guild=action.community)
        try:
            sent = await dm.send(**rendered.send_kwargs())
            await _send_more(dm, rendered)
        except discord.Forbidden as exc:  # the member takes no DMs from server members (or has blocked the bot)
            raise Undelivered(f"member {user} takes no direct messages from the bot ({exc.status} {exc.text})") from exc
        if isinstance(action, DirectMessage) and action.key and self.delivered is not None:
            await self.delivered(action.key, str(dm.id), str(sent.id))

    async def open_group(self, action: OpenGroup) -> None:
        """A private thread with the members; where no channel allows one, each member gets the message by DM
        (Discord bots cannot open group DMs)."""
        guild = self.client.get_guild(int(action.community))
        host = await self._thread_host(guild) if guild else None
        if host is not None:
            try:
                thread = await host.create_thread(
                    name=_thread_name(action),
                    type=discord.ChannelType.private_thread,
                    invitable=False,
                    auto_archive_duration=WEEK_IN_MINUTES,
                )
                for member in action.members:
                    await thread.add_user(discord.Object(int(member)))
                rendered = render_document(action.doc)
                await thread.send(**rendered.send_kwargs())
                await _send_more(thread, rendered)
                return
            except discord.Forbidden as exc:
                log.warning("private thread refused in #%s (%s); intro sent by DM", host.name, exc.text)
        refused = []
        for member in action.members:
            try:
                await self.direct_message(member, action)
            except Undelivered as exc:  # the others still get it
                log.warning("%s", exc)
                refused.append(str(exc))
        if len(refused) == len(action.members):  # nobody got it: the core may try again later (a pair's intro)
            raise Undelivered(f"{action.key or 'group'}: no private thread, and nobody takes DMs from the bot")

    async def create_forum_post(self, forum: discord.ForumChannel, action: PostToChannel) -> None:
        """A post to a forum (or media) channel is a new post: titled by the summary's first line, the
        document as its first message. Where the forum requires a tag, the one named like "digest" (or the
        first) is applied."""
        tags: list[discord.ForumTag] = []
        if forum.flags.require_tag and forum.available_tags:
            wanted = [t for t in forum.available_tags if "digest" in t.name.lower()]
            tags = (wanted or forum.available_tags)[:1]
        rendered = render_document(action.doc, **(marks(action.key) if action.key else {}))
        post = await forum.create_thread(name=_post_title(action.doc), applied_tags=tags, **rendered.send_kwargs())
        await _send_more(post.thread, rendered, key=action.key)

    def _forum(self, channel_id: str) -> discord.ForumChannel | None:
        channel = self.client.get_channel(int(channel_id)) if channel_id.isdigit() else None
        return channel if isinstance(channel, discord.ForumChannel) else None  # media channels included

    async def _thread_host(self, guild: discord.Guild) -> discord.TextChannel | None:
        wanted = (await self.community_settings(str(guild.id))).get("intro_channel")
        candidates = [
            guild.get_channel(int(wanted)) if str(wanted or "").isdigit() else None,
            guild.system_channel,
            *sorted(guild.text_channels, key=lambda c: c.position),
        ]
        for channel in candidates:
            if isinstance(channel, discord.TextChannel):
                allowed = channel.permissions_for(guild.me)
                if allowed.create_private_threads and allowed.send_messages_in_threads:
                    return channel
        return None

    async def _post(self, channel_id: str, doc: Document, community: str, *, key: str = "") -> None:
        rendered = render_document(doc, guild=self._guild_for_buttons(channel_id, community),
                                   **(marks(key) if key else {}))
        target = self._messageable(channel_id)
        await target.send(**rendered.send_kwargs(), **({"nonce": nonce_of(key)} if key else {}))
        await _send_more(target, rendered, key=key)

    async def complete_post(self, community: str, channel: str, key: str, doc: Document, since: datetime) -> None:
        """The bot's post marked `key` is in the channel (find_post) as `doc`, perhaps in part: an earlier attempt, cut
        short after its first message, sent none or some of the messages its embeds ran over. Those missing are sent
        (bot.actions.CompletesPosts); a post found whole is left as it is."""
        found = await self._find_marked(channel, marks_of(key), since)
        if found is None:
            raise Undelivered(f"no post marked {key[:100]} in Discord channel {channel} to complete")
        where, first = found
        there = {_part_number(message, key) or number
                 for number, message in enumerate(await self._following(where, first, key), 2)}
        pages = render_document(doc, **marks(key)).more
        missing = [(number, page) for number, page in enumerate(pages, 2) if number not in there]
        if missing:
            log.info("post %s: %d of its %d part(s) were not sent; sending them", key[:100], len(missing),
                     len(pages) + 1)
        for number, page in missing:
            await where.send(embeds=page, allowed_mentions=NO_PINGS, nonce=nonce_of(f"{key}#{number}"))

    async def find_post(self, community: str, channel: str, key: str, since: datetime) -> bool:
        """Whether the channel holds the bot's post marked `key` (its first message's footer), posted since `since`: a
        message of a text channel, or a post (thread) of a forum (bot.actions.FindsPosts). A channel the bot may not
        read is ChannelRefused."""
        return await self._find_marked(channel, marks_of(key), since) is not None

    async def _find_marked(self, channel: str, mark: tuple[str, ...], since: datetime,
                           until: datetime | None = None) -> tuple[Any, discord.Message] | None:
        """Where the bot's post marked with one of `mark` is (the channel, or a forum's post) and its first message,
        posted since `since` (and before `until`); None where it is not there. A channel the bot may not read is
        ChannelRefused."""
        me = self.client.user
        try:
            forum = self._forum(channel)
            if forum is not None:
                return await self._find_forum_post(forum, mark, since)
            after = discord.Object(discord.utils.time_snowflake(since))
            before = discord.Object(discord.utils.time_snowflake(until)) if until else None
            where = self._messageable(channel)
            async for message in where.history(limit=FIND_LIMIT, after=after, before=before, oldest_first=True):
                if me is not None and message.author.id == me.id and _marked(message, mark):
                    return where, message
        except discord.Forbidden as exc:
            raise ChannelRefused(GONE if exc.code in CHANNEL_GONE_CODES else READ_REFUSED) from None
        except discord.NotFound as exc:
            raise ChannelRefused(GONE) from exc
        return None

    async def _find_forum_post(self, forum: discord.ForumChannel, mark: tuple[str, ...],
                               since: datetime) -> tuple[Any, discord.Message] | None:
        """The bot's posts (threads it owns) of the forum made since `since`, open or archived, by their first
        message (whose id is the post's)."""
        me = self.client.user
        open_ = [t for t in await forum.guild.active_threads() if t.parent_id == forum.id]
        archived = [t async for t in forum.archived_threads(limit=50)]
        for thread in open_ + archived:
            if me is None or thread.owner_id != me.id or discord.utils.snowflake_time(thread.id) < since:
                continue
            try:
                first = await thread.fetch_message(thread.id)
            except discord.NotFound:  # its first message deleted: not the post looked for
                continue
            if _marked(first, mark):
                return thread, first
        return None

    async def _edit_post(self, action: EditPost) -> None:
        """The bot's post marked with the action's key, shown as its document now, its mark kept: its first message
        edited, and the messages its embeds ran over edited in turn (those no longer needed deleted). Undelivered where
        the channel no longer holds it (deleted: nothing to edit)."""
        try:
            found = await self._find_marked(action.channel, marks_of(action.key), action.since, action.until)
        except ChannelRefused as exc:
            if isinstance(exc.__cause__, discord.NotFound):  # the channel is deleted, and the post with it
                raise Undelivered(f"Discord channel {action.channel} of post {action.key[:100]} is gone") from None
            raise
        if found is None:
            raise Undelivered(f"no post marked {action.key[:100]} in Discord channel {action.channel} to edit")
        where, first = found
        following = await self._following(where, first, action.key)
        rendered = render_document(action.doc, **marks(action.key))
        try:
            await first.edit(**rendered.edit_kwargs())
        except discord.NotFound as exc:  # deleted since it was found
            raise Undelivered(_gone(str(where.id), str(first.id), exc)) from None
        more = rendered.more_kwargs()
        for message, kwargs in zip(following, more, strict=False):
            with contextlib.suppress(discord.NotFound):  # deleted since: it shows nothing any more
                await message.edit(content=None, **kwargs)
        for message in following[len(more):]:
            with contextlib.suppress(discord.NotFound):
                await message.delete()
        if len(more) > len(following):  # an edit takes entries out: it never runs over more messages than before
            log.warning("post %s: %d page(s) of its edit had no message to go in", action.key[:100],
                        len(more) - len(following))

    async def _following(self, where: Any, first: discord.Message, key: str) -> list[discord.Message]:
        """The messages a keyed post's embeds ran over (its Rendered.more), in order: those marked as its parts, sent at
        once or by a take-over later; for a post made before parts were marked (its first message marked with its
        key), the bot's own unmarked messages right after its first."""
        # A post marked as now has each of its parts marked: the bot's own message right after it is none of them.
        legacy = not _marked(first, (mark_of(key),)) or mark_of(key) == FOOTER.format(key=key)
        me, previous, following = self.client.user, first, []
        parts: dict[int, discord.Message] = {}
        until = discord.Object(discord.utils.time_snowflake(first.created_at + PARTS_WITHIN))
        async for message in where.history(limit=FIND_LIMIT, after=first, before=until, oldest_first=True):
            ours = me is not None and message.author.id == me.id
            number = _part_number(message, key) if ours else None
            if number is not None:
                parts.setdefault(number, message)
                legacy = False
                continue
            if legacy and (not ours or message.reference is not None
                           or getattr(message, "interaction_metadata", None) is not None
                           or any((e.footer.text or "").startswith(MARK_PREFIXES) for e in message.embeds)
                           or message.created_at - previous.created_at > FOLLOWS_WITHIN
                           or len(following) == MAX_PAGES):
                legacy = False
            if legacy:
                following.append(message)
                previous = message
        if parts:
            return [parts[n] for n in sorted(parts)]
        return following

    def _guild_for_buttons(self, channel_id: str, community: str) -> str | None:
        """Buttons in a DM name their community (a DM interaction carries no guild id)."""
        channel = self.client.get_channel(int(channel_id))
        return community if isinstance(channel, discord.DMChannel) else None

    def _messageable(self, channel_id: str) -> Any:
        channel = self.client.get_channel(int(channel_id))
        if isinstance(channel, discord.abc.Messageable):
            return channel
        return self.client.get_partial_messageable(int(channel_id))


MAX_PAGES = 10  # the messages one post may run over, at most


def _gone(channel: str, message: str, exc: discord.NotFound) -> str:
    return f"Discord message {message} in {channel} is not there to edit ({exc.code} {exc.text[:100]})"


def _marked(message: discord.Message, mark: tuple[str, ...]) -> bool:
    return any(embed.footer.text in mark for embed in message.embeds)


def _part_number(message: discord.Message, key: str) -> int | None:
    """The number of the part of the post marked `key` that `message` is (its footer), or None."""
    prefix = PART.format(mark=mark_of(key), number="")
    for embed in message.embeds:
        text = embed.footer.text or ""
        if text.startswith(prefix) and text[len(prefix):].isdigit():
            return int(text[len(prefix):])
    return None


async def _send_more(target: Any, rendered: Rendered, *, key: str = "") -> None:
    """The embeds that did not fit the first message, in the messages after it; a keyed post's each with a nonce of its
    own part (a request retried is one message)."""
    for number, kwargs in enumerate(rendered.more_kwargs(), 2):
        await target.send(**kwargs, **({"nonce": nonce_of(f"{key}#{number}")} if key else {}))


# Private thread names by the kind of group (the OpenGroup key's prefix): nothing members wrote is echoed.
THREAD_KINDS = {"intro": "Intro", "mentoring": "Mentoring pair"}
MAX_THREAD_NAME = 100


def _thread_name(action: OpenGroup) -> str:
    """From the key: "mentoring:12" -> "Mentoring pair 12"; without a key, the summary's first line."""
    kind, _, ident = action.key.partition(":")
    if kind:
        label = THREAD_KINDS.get(kind, kind.replace("-", " ").replace("_", " ").capitalize())
        return _cut_name(f"{label} {ident}".strip())
    return _post_title(action.doc)


def _post_title(doc: Document) -> str:
    first_line = next((line for line in doc.text.splitlines() if line.strip()), "")
    return _cut_name(" ".join(first_line.replace("*", "").split()) or "connective")


def _cut_name(name: str) -> str:
    return name if len(name) <= MAX_THREAD_NAME else name[: MAX_THREAD_NAME - 1] + "…"
