"""Storing messages (imported or live) and their vectors, then following them in the index."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

import numpy as np
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import Database
from bot.db.models import DeletedMessage, Member, Message, MessageVector, Reaction, RemovedReaction
from bot.events import utcnow
from bot.repo import apply_pending_reactions, insert_ignore, opted_in_since, upsert_reactions, withheld_members
from bot.safety import storable
from bot.services.expertise import ExpertiseService, mark_openers_gone
from matching.text import carries_expertise, clean

log = logging.getLogger(__name__)

MAX_STORED_TEXT = 40_000


@dataclass
class IncomingMessage:
    channel_id: int
    external_id: str
    author_id: int
    text: str
    created_at: datetime
    thread_external_id: str | None = None
    reply_to_external_id: str | None = None
    edited_at: datetime | None = None
    permalink: str | None = None
    reactions: list[tuple[str, str]] = field(default_factory=list)  # (name, user external id)
    # When the reactions were as listed (the time its export was made), for taking away those no longer listed; None:
    # not known (live, or an export that does not say), and none is taken away.
    reactions_at: datetime | None = None
    reactions_partial: bool = False  # some are counted without who gave them: the list takes none away
    reactions_stale: bool = False  # listed as they were before what is stored (an older export): only a new message
    # takes them
    link_titles: dict[str, str] = field(default_factory=dict)  # URL -> title from the platform's unfurl


@dataclass
class StoreResult:
    added: int = 0
    updated: int = 0
    skipped: int = 0
    embedded: int = 0
    message_ids: list[int] = field(default_factory=list)  # the messages added
    updated_ids: list[int] = field(default_factory=list)  # the messages given their edited text


# How imports before 0014 named a reaction whose custom emoji was deleted (DiscordChatExporter's words); now emoji<id>,
# as live. Taken away by an export listing the message again, under that name.
UNKNOWN_EMOJI = "<unknown emoji>"

# What the reactions given with messages tell (IngestService.store).
Reactions = Literal["add", "replace", "of_new"]

# Called after messages are stored (committed): (community id, the messages given, the result).
StoreListener = Callable[[int, "list[IncomingMessage]", StoreResult], Awaitable[None]]


class IngestService:
    def __init__(self, db: Database, expertise: ExpertiseService, *, chunk: int = 512) -> None:
        self.db = db
        self.expertise = expertise
        self.chunk = chunk
        self.after_store: list[StoreListener] = []  # features that follow new messages (resources, ...)

    async def store(
        self, community_id: int, messages: list[IncomingMessage], *,
        progress: Callable[[int], None] | None = None, reactions: Reactions = "add",
    ) -> StoreResult:
        """Store messages not seen before (edited ones get their new text) and embed those that carry
        expertise. Idempotent: the same messages stored twice add nothing, also at once (a platform's retry
        racing the original).

        Three steps, so that no write transaction is open while texts are encoded (the first encode waits for
        the model to load, an import's batch encodes for seconds; SQLite has one writer, and every other write
        would wait out busy_timeout and fail): what is new or changed is read, its texts are encoded, then one
        short transaction writes the messages, their vectors and reactions. What changed in between is
        checked again there: a message stored meanwhile by someone else is left to them (they embed it), one
        deleted on the platform or whose author opted out meanwhile is not stored, an edit applies only if
        still newer than the stored text.

        `reactions` says what the messages' reactions tell: "replace", all they have now (an export not older than
        the history stored): a stored one not among them was removed on the platform, and goes; "of_new", how they
        were once (an older export): only messages new here get theirs, the stored ones keep what a later export
        or the live bot stored; "add" (live, whose messages carry none): they are added."""
        result = StoreResult()
        if not messages:
            return result
        await self.expertise.ensure_model(community_id)  # before adding vectors: the stored ones are this model's
        plan = await self._plan(community_id, messages, result)
        new_rows, changed, bots, bot_edits = plan.new_rows, plan.changed, plan.bots, plan.bot_edits

        # Encoded with no transaction open. Only what is new or changed: a re-imported export encodes nothing.
        new_texts = {key: clean(text) for key, (row, text) in new_rows.items() if row["author_id"] not in bots}
        changed_texts = {mid: clean(text) for mid, text, _ in changed if mid not in bot_edits}
        to_encode = [t for t in [*new_texts.values(), *changed_texts.values()] if carries_expertise(t)]
        skipped_encode = len(new_texts) + len(changed_texts) - len(to_encode)
        by_text = await self.expertise.encode_distinct(to_encode, chunk=self.chunk, progress=progress) \
            if to_encode else {}
        if progress and skipped_encode:
            progress(skipped_encode)

        new_ids: dict[tuple[int, str], int] = {}
        updated: list[int] = []
        read_again: list[int] = []
        embedded: list[tuple[int, np.ndarray]] = []
        if (new_rows or changed or plan.withheld_in_threads or plan.reactions
                or (reactions == "replace" and plan.existing)):
            async with self.db.sessions.begin() as session:
                for key in await self._gone_since(session, community_id, new_rows, plan):
                    del new_rows[key]
                    result.skipped += 1
                rows = [row for row, _ in new_rows.values()]
                for start in range(0, len(rows), 2000):
                    # Stored meanwhile by another store (a retry racing the original, a live message during an
                    # import): not inserted again, not returned, not embedded here.
                    returned = await session.execute(
                        insert_ignore(session, Message).returning(Message.id, Message.channel_id,
                                                                  Message.external_id),
                        rows[start : start + 2000])
                    new_ids.update({(ch, ext): mid for mid, ch, ext in returned.all()})
                # An edited version stored meanwhile by someone else as it was first (a Slack message_changed racing
                # its message): applied as the edit it is, if still newer. It was dropped with the insert.
                raced = {key: row for key, (row, _) in new_rows.items()
                         if key not in new_ids and row["edited_at"] is not None}
                for key, mid in (await _message_ids(session, community_id, list(raced))).items():
                    changed.append((mid, raced[key]["text"], raced[key]["edited_at"]))
                    if key in new_texts:
                        changed_texts[mid] = new_texts[key]
                # The messages reacted to, as stored now: inserted here, or by someone else, or before (and not
                # deleted meanwhile).
                known = new_ids | await _message_ids(session, community_id,
                                                     list({key for key, _, _ in plan.reactions} - set(new_ids)))
                for mid, text, edited_at in changed:
                    # Only if still newer than what is stored (an edit may have been stored meanwhile).
                    done = await session.execute(
                        update(Message)
                        .where(Message.id == mid, func.coalesce(Message.edited_at, Message.created_at) < edited_at)
                        .values(text=text, edited_at=edited_at))
                    if done.rowcount:
                        await session.execute(delete(MessageVector).where(MessageVector.message_id == mid))
                        updated.append(mid)
                withheld = await withheld_members(session, community_id,
                                                  {u for _, _, u in plan.reactions})
                # Listed by an export made before its member opted back in: deleted by their opt-out, or given
                # while they were opted out.
                since = await opted_in_since(session, community_id, {u for _, _, u in plan.reactions})
                listed_at = {(m.channel_id, m.external_id): m.reactions_at for m in messages}
                stale = {(m.channel_id, m.external_id) for m in messages if m.reactions_stale}
                now = utcnow()
                partial = {(m.channel_id, m.external_id) for m in messages if m.reactions_partial}
                removed = await _removed_reactions(session, community_id,
                                                   list({key for key, _, _ in plan.reactions if key in known}))
                reaction_rows = [{"community_id": community_id, "message_id": known[key], "user_external_id": u,
                                  "name": name[:100], "known_at": listed_at.get(key) or now}
                                 for key, name, u in plan.reactions if key in known and u not in withheld
                                 and (u not in since or (listed_at.get(key) or now) > since[u])
                                 and ((reactions != "of_new" and key not in stale) or key in new_ids)
                                 and not _taken_back(_removed_at(removed, key, u, name[:100]), listed_at.get(key))]
                if reactions == "replace":
                    await _remove_reactions_not_in(session, {
                        mid: at for key, (mid, _, _) in plan.existing.items()
                        if (at := listed_at.get(key)) is not None and key not in stale and key not in partial},
                        reaction_rows)
                for start in range(0, len(reaction_rows), 2000):
                    await session.execute(upsert_reactions(session), reaction_rows[start : start + 2000])
                embedded = [(mid, by_text[t]) for key, mid in new_ids.items()
                            if (t := new_texts.get(key)) is not None and t in by_text]
                embedded += [(mid, by_text[t]) for mid in updated
                             if (t := changed_texts.get(mid)) is not None and t in by_text]
                vec_rows = [{"message_id": mid, "community_id": community_id, "embedding": vec}
                            for mid, vec in embedded]
                for start in range(0, len(vec_rows), 2000):
                    await session.execute(insert(MessageVector), vec_rows[start : start + 2000])
                read_again = await mark_openers_gone(session, community_id, withheld=plan.withheld_in_threads)
                read_again = sorted(set(read_again) - set(new_ids.values()) - set(updated))
                if new_ids or updated or read_again:
                    await self.expertise.note_changes(session, community_id,
                                                      list(new_ids.values()) + updated + read_again)
        reacted: list[int] = []
        if new_ids:
            # Reactions given live before these messages were stored (another replica handled them first): theirs
            # now. After the commit above, so that a reaction kept meanwhile is found here or finds the message.
            try:
                async with self.db.sessions.begin() as session:
                    reacted = await apply_pending_reactions(session, community_id, list(new_ids))
                    if reacted:  # the other replicas may have read these messages without them: again, with them
                        await self.expertise.note_changes(session, community_id, reacted)
            except Exception:  # the messages are stored, and followed below; those reactions are swept within a day
                log.exception("giving %d stored message(s) the reactions kept for them failed", len(new_ids))
        result.added = len(new_ids)
        result.updated = len(updated)
        result.embedded = len(embedded)
        result.message_ids = list(new_ids.values())
        result.updated_ids = list(updated)
        vectors = np.stack([v for _, v in embedded]) if embedded else \
            np.zeros((0, getattr(self.expertise.embedder, "dim", 384)), dtype=np.float32)
        await self.expertise.follow(community_id, list(new_ids.values()) + updated, [mid for mid, _ in embedded],
                                    vectors)
        await self.expertise.follow_again(community_id, read_again)
        await self.expertise.reactions_changed(community_id, reacted)
        for listener in self.after_store:
            try:
                await listener(community_id, messages, result)
            except Exception:  # the messages are stored; a follower's failure must not lose them
                log.exception("after-store listener %s failed", getattr(listener, "__qualname__", listener))
        return result

    async def delete(self, community_id: int, keys: list[tuple[int, str]]) -> int:
        """Messages deleted on the platform ((channel id, external id)): a live deletion, or one a later export
        shows (a tombstone, message_deleted). Each is remembered even if never stored here, so that an export made
        before the deletion does not bring it back; a stored one goes with its vector, reactions and link shares,
        and leaves the corpus. Its thread stays: the replies keep their thread key. Returns how many stored
        messages went."""
        if not keys:
            return 0
        keys = list(dict.fromkeys(keys))
        async with self.db.sessions.begin() as session:
            for start in range(0, len(keys), 2000):
                await session.execute(insert_ignore(session, DeletedMessage), [
                    {"community_id": community_id, "channel_id": ch, "external_id": ext}
                    for ch, ext in keys[start : start + 2000]])
            ids: list[int] = []
            stored: list[tuple[int, str | None, str]] = []
            for start in range(0, len(keys), 2000):
                part = keys[start : start + 2000]
                wanted = set(part)
                rows = (await session.execute(
                    select(Message.id, Message.channel_id, Message.thread_external_id, Message.external_id)
                    .where(Message.community_id == community_id, Message.channel_id.in_({ch for ch, _ in part}),
                           Message.external_id.in_({ext for _, ext in part})))).all()
                for mid, ch, thread, ext in rows:
                    if (ch, ext) in wanted:
                        ids.append(mid)
                        stored.append((ch, thread, ext))
            if not ids:
                return 0
            # The message that asked in a thread with no opening message: nobody asks there any more.
            read_again = await mark_openers_gone(session, community_id, stored=stored)
            for start in range(0, len(ids), 2000):  # vectors, reactions and shares go with it (ON DELETE CASCADE)
                await session.execute(delete(Message).where(Message.id.in_(ids[start : start + 2000])))
            read_again = sorted(set(read_again) - set(ids))
            await self.expertise.note_changes(session, community_id, ids + read_again)
        self.expertise.remove(community_id, ids)
        await self.expertise.follow_again(community_id, read_again)
        return len(ids)

    async def _plan(self, community_id: int, messages: list[IncomingMessage], result: StoreResult) -> _Plan:
        """What of these messages is new, changed, or not to be stored (counted in result.skipped), as read now,
        with no write transaction open."""
        plan = _Plan()
        async with self.db.sessions() as session:
            members = (await session.execute(
                select(Member.id, Member.profiling_consent, Member.is_bot, Member.opted_in_at)
                .where(Member.community_id == community_id, Member.id.in_({m.author_id for m in messages}))
            )).all()
            consent = {mid: ok for mid, ok, _, _ in members}
            plan.bots = {mid for mid, _, is_bot, _ in members if is_bot}
            # Opted back in: what they said before (deleted by their opt-out, or said while opted out) is withheld.
            since = {mid: at for mid, _, _, at in members if at is not None}
            channel_ids = {m.channel_id for m in messages}
            # Only the rows these messages could be (the unique key): a live message must not read its
            # whole channel's history.
            plan.existing = {
                (ch, ext): (mid, text, edited_at or created_at)
                for mid, ch, ext, text, created_at, edited_at in (await session.execute(
                    select(Message.id, Message.channel_id, Message.external_id, Message.text, Message.created_at,
                           Message.edited_at)
                    .where(Message.community_id == community_id, Message.channel_id.in_(channel_ids),
                           Message.external_id.in_({m.external_id for m in messages}))
                )).all()
            }
            deleted = await _deleted(session, community_id, [(m.channel_id, m.external_id) for m in messages])
            # A second several messages of a converted history shared: stored at "ts", "ts" + 1 µs… in the order of
            # that export (slack_export._distinct_times). Another export of it may hold fewer, so an edit read there
            # could be another message's text: none is applied to such a message. Slack's own ts never do this.
            edits = [(m.channel_id, after) for m in messages
                     if m.edited_at is not None and (after := _next_microsecond(m.external_id))]
            shared_seconds = set()
            for start in range(0, len(edits), 2000):
                part = edits[start : start + 2000]
                shared_seconds |= {(ch, ext) for ch, ext in (await session.execute(
                    select(Message.channel_id, Message.external_id).where(
                        Message.community_id == community_id, Message.channel_id.in_({ch for ch, _ in part}),
                        Message.external_id.in_({ext for _, ext in part})))).all()} & set(part)
        seen: set[tuple[int, str]] = set()
        for m in messages:
            key = (m.channel_id, m.external_id)
            plan.reactions += [(key, name, u) for name, u in m.reactions]  # to the message if stored or known
            withheld = not consent.get(m.author_id, True) or (
                m.author_id in since and m.created_at < since[m.author_id])
            if withheld or key in seen or key in deleted:
                result.skipped += 1
                if withheld and m.thread_external_id:
                    plan.withheld_in_threads.append((m.channel_id, m.thread_external_id, m.created_at))
                continue
            seen.add(key)
            text = storable(m.text)
            if len(text) > MAX_STORED_TEXT:
                log.info("message %s is %d characters long: stored cut at %d", m.external_id, len(text),
                         MAX_STORED_TEXT)
                text = text[:MAX_STORED_TEXT]
            if key in plan.existing:
                mid, old_text, old_version = plan.existing[key]
                # Only a newer version replaces the stored one: an older export re-imported after a
                # later one (or after a live edit) must not bring back the text it had then.
                if old_text != text and m.edited_at is not None and m.edited_at > old_version \
                        and (m.channel_id, _next_microsecond(m.external_id)) not in shared_seconds:
                    plan.changed.append((mid, text, m.edited_at))
                    if m.author_id in plan.bots:
                        plan.bot_edits.add(mid)
                continue
            plan.new_rows[key] = ({
                "community_id": community_id, "channel_id": m.channel_id, "author_id": m.author_id,
                "external_id": m.external_id, "thread_external_id": m.thread_external_id,
                "reply_to_external_id": m.reply_to_external_id, "text": text,
                "created_at": m.created_at, "edited_at": m.edited_at, "permalink": m.permalink,
            }, m.text)
        return plan

    @staticmethod
    async def _gone_since(session: AsyncSession, community_id: int,
                          new_rows: dict[tuple[int, str], tuple[dict, str]], plan: _Plan) -> list[tuple[int, str]]:
        """Of the new messages, those deleted on the platform, or whose author opted out, while their texts were
        encoded: not stored (an opted-out author's message counts as withheld in its thread)."""
        if not new_rows:
            return []
        deleted = await _deleted(session, community_id, list(new_rows))
        # The authors' rows are held (FOR SHARE) until the messages are committed: an opt-out takes its member's row
        # first (Core._remove_member_data), so it either comes before and is read here, or waits and then deletes
        # these messages too. Read unlocked, an opt-out on another replica that committed between this read and
        # the insert's commit deleted the messages before these, and these stayed.
        opted_out = {mid for mid, consents in (await session.execute(
            select(Member.id, Member.profiling_consent).where(
                Member.community_id == community_id,
                Member.id.in_({row["author_id"] for row, _ in new_rows.values()}))
            .order_by(Member.id).with_for_update(read=True))).all() if not consents}
        gone = []
        for key, (row, _) in new_rows.items():
            if row["author_id"] in opted_out:
                if row["thread_external_id"]:
                    plan.withheld_in_threads.append((row["channel_id"], row["thread_external_id"], row["created_at"]))
                gone.append(key)
            elif key in deleted:
                gone.append(key)
        return gone


@dataclass
class _Plan:
    """What IngestService.store read before encoding: the new rows (by key: the row and the text as given, to
    encode), the stored messages among those given (by key: id, text, version), the edits to apply (id, text,
    edited at), their bot authors, the reactions (key, name, user) and the opted-out authors' messages in
    threads (as mark_openers_gone takes them)."""

    new_rows: dict[tuple[int, str], tuple[dict, str]] = field(default_factory=dict)
    existing: dict[tuple[int, str], tuple[int, str, datetime]] = field(default_factory=dict)
    changed: list[tuple[int, str, datetime]] = field(default_factory=list)
    bots: set[int] = field(default_factory=set)
    bot_edits: set[int] = field(default_factory=set)  # stored with their new text, never embedded
    reactions: list[tuple[tuple[int, str], str, str]] = field(default_factory=list)
    withheld_in_threads: list[tuple[int, str | None, datetime]] = field(default_factory=list)


async def _deleted(session: AsyncSession, community_id: int, keys: list[tuple[int, str]]) -> set[tuple[int, str]]:
    """Of these (channel id, external id), those deleted on the platform: an older export must not restore them."""
    if not keys:
        return set()
    return set((await session.execute(
        select(DeletedMessage.channel_id, DeletedMessage.external_id)
        .where(DeletedMessage.community_id == community_id,
               DeletedMessage.channel_id.in_({ch for ch, _ in keys}),
               DeletedMessage.external_id.in_({ext for _, ext in keys}))
    )).all()) & set(keys)


def _next_microsecond(ts: str) -> str | None:
    """The Slack "ts" a microsecond after `ts` ("1700000005.000000" -> "1700000005.000001"), None if it is none."""
    try:
        return f"{Decimal(ts) + Decimal('0.000001'):.6f}"
    except ArithmeticError:
        return None


async def _removed_reactions(session: AsyncSession, community_id: int,
                             keys: list[tuple[int, str]]) -> dict[tuple[int, str, str, str], datetime]:
    """Reactions seen taken back live on these messages (channel id, external id), stored or not:
    (channel id, external id, user, name) -> when."""
    out = {}
    for start in range(0, len(keys), 2000):
        part = keys[start : start + 2000]
        wanted = set(part)
        out.update({(ch, ext, user, name): at for ch, ext, user, name, at in (await session.execute(
            select(RemovedReaction.channel_id, RemovedReaction.message_external_id, RemovedReaction.user_external_id,
                   RemovedReaction.name, RemovedReaction.removed_at)
            .where(RemovedReaction.community_id == community_id,
                   RemovedReaction.channel_id.in_({ch for ch, _ in part}),
                   RemovedReaction.message_external_id.in_({ext for _, ext in part})))).all() if (ch, ext) in wanted})
    return out


def _removed_at(removed: dict[tuple[int, str, str, str], datetime], key: tuple[int, str], user: str,
                name: str) -> datetime | None:
    """When a reaction was last seen taken back live: by its member, or for everyone by a moderator (user "": its
    emoji's, or, with name "" too, every emoji's)."""
    times = (removed.get((*key, user, name)), removed.get((*key, "", name)), removed.get((*key, "", "")))
    return max((at for at in times if at is not None), default=None)


def _taken_back(removed_at: datetime | None, listed_at: datetime | None) -> bool:
    """Whether a reaction an export lists was taken back after it was made (or, for a list of no known time, at all):
    the export could not know, and does not bring it back."""
    return removed_at is not None and (listed_at is None or removed_at >= listed_at)


async def _remove_reactions_not_in(session: AsyncSession, listed_at: dict[int, datetime], rows: list[dict]) -> None:
    """Remove the stored reactions of these messages (id -> when their reactions were as listed) that are not among
    `rows` (Reaction rows as inserted) and were known by that time (at it too: a Slack export's time is its newest
    message's, two exports of a quiet workspace share it): one given live after the export was made, or listed by a
    file of it made later, stays; one stored before their time was kept stays too."""
    kept = {(r["message_id"], storable(r["user_external_id"])[:64], storable(r["name"])[:100]) for r in rows}
    message_ids = list(listed_at)
    for start in range(0, len(message_ids), 2000):
        stored = (await session.execute(
            select(Reaction.id, Reaction.message_id, Reaction.user_external_id, Reaction.name, Reaction.known_at)
            .where(Reaction.message_id.in_(message_ids[start : start + 2000])))).all()
        gone = [rid for rid, mid, user, name, known_at in stored if (mid, user, name) not in kept and (
            (known_at is not None and known_at <= listed_at[mid]) or name == UNKNOWN_EMOJI)]
        for first in range(0, len(gone), 2000):
            await session.execute(delete(Reaction).where(Reaction.id.in_(gone[first : first + 2000])))


async def _message_ids(session: AsyncSession, community_id: int,
                       keys: list[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """The ids of the stored messages among these (channel id, external id)."""
    if not keys:
        return {}
    rows = (await session.execute(
        select(Message.id, Message.channel_id, Message.external_id)
        .where(Message.community_id == community_id, Message.channel_id.in_({ch for ch, _ in keys}),
               Message.external_id.in_({ext for _, ext in keys}))
    )).all()
    wanted = set(keys)
    return {(ch, ext): mid for mid, ch, ext in rows if (ch, ext) in wanted}
