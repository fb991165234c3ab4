"""Storing messages (imported or live) and their vectors, then following them in the index."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sqlalchemy import delete, insert, select, update

from bot.db.engine import Database
from bot.db.models import DeletedMessage, Member, Message, MessageVector, Reaction
from bot.repo import insert_ignore, withheld_members
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
    link_titles: dict[str, str] = field(default_factory=dict)  # URL -> title from the platform's unfurl


@dataclass
class StoreResult:
    added: int = 0
    updated: int = 0
    skipped: int = 0
    embedded: int = 0
    message_ids: list[int] = field(default_factory=list)


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
        progress: Callable[[int], None] | None = None,
    ) -> StoreResult:
        """Store messages not seen before (edited ones get their new text) and embed those that carry
        expertise. Idempotent: the same messages stored twice add nothing."""
        result = StoreResult()
        if not messages:
            return result
        await self.expertise.ensure_model(community_id)  # before adding vectors: the stored ones are this model's
        async with self.db.sessions.begin() as session:
            members = (await session.execute(
                select(Member.id, Member.profiling_consent, Member.is_bot)
                .where(Member.community_id == community_id, Member.id.in_({m.author_id for m in messages}))
            )).all()
            consent = {mid: ok for mid, ok, _ in members}
            bots = {mid for mid, _, is_bot in members if is_bot}
            channel_ids = {m.channel_id for m in messages}
            # Only the rows these messages could be (the unique key): a live message must not read its
            # whole channel's history.
            existing = {
                (ch, ext): (mid, text, edited_at or created_at)
                for mid, ch, ext, text, created_at, edited_at in (await session.execute(
                    select(Message.id, Message.channel_id, Message.external_id, Message.text, Message.created_at,
                           Message.edited_at)
                    .where(Message.community_id == community_id, Message.channel_id.in_(channel_ids),
                           Message.external_id.in_({m.external_id for m in messages}))
                )).all()
            }
            deleted = set((await session.execute(  # deleted on the platform: an older export must not restore them
                select(DeletedMessage.channel_id, DeletedMessage.external_id)
                .where(DeletedMessage.community_id == community_id, DeletedMessage.channel_id.in_(channel_ids),
                       DeletedMessage.external_id.in_({m.external_id for m in messages}))
            )).all())
            new_rows, changed = [], []
            bot_edits: set[int] = set()  # stored with their new text, never embedded (bots are never experts)
            seen: set[tuple[int, str]] = set()
            withheld_in_threads = []  # opted out: if one asked in a thread with no opening message, nobody did
            for m in messages:
                key = (m.channel_id, m.external_id)
                if not consent.get(m.author_id, True) or key in seen or key in deleted:
                    result.skipped += 1
                    if not consent.get(m.author_id, True) and m.thread_external_id:
                        withheld_in_threads.append((m.channel_id, m.thread_external_id, m.created_at))
                    continue
                seen.add(key)
                text = storable(m.text)[:MAX_STORED_TEXT]
                if key in existing:
                    mid, old_text, old_version = existing[key]
                    # Only a newer version replaces the stored one: an older export re-imported after a
                    # later one (or after a live edit) must not bring back the text it had then.
                    if old_text != text and m.edited_at is not None and m.edited_at > old_version:
                        changed.append((mid, text, m.edited_at))
                        if m.author_id in bots:
                            bot_edits.add(mid)
                    continue
                new_rows.append({
                    "community_id": community_id, "channel_id": m.channel_id, "author_id": m.author_id,
                    "external_id": m.external_id, "thread_external_id": m.thread_external_id,
                    "reply_to_external_id": m.reply_to_external_id, "text": text,
                    "created_at": m.created_at, "edited_at": m.edited_at, "permalink": m.permalink,
                })
            new_ids: dict[tuple[int, str], int] = {}
            for start in range(0, len(new_rows), 2000):
                part = new_rows[start : start + 2000]
                returned = await session.execute(
                    insert(Message).returning(Message.id, Message.channel_id, Message.external_id), part
                )
                new_ids.update({(ch, ext): mid for mid, ch, ext in returned.all()})
            result.added = len(new_ids)
            for mid, text, edited_at in changed:
                await session.execute(update(Message).where(Message.id == mid).values(text=text, edited_at=edited_at))
                await session.execute(delete(MessageVector).where(MessageVector.message_id == mid))
            result.updated = len(changed)
            reaction_rows = []
            withheld = await withheld_members(session, community_id, {u for m in messages for _, u in m.reactions})
            for m in messages:
                mid = new_ids.get((m.channel_id, m.external_id)) or existing.get((m.channel_id, m.external_id),
                                                                                (None,))[0]
                if mid is not None:
                    reaction_rows += [{"community_id": community_id, "message_id": mid, "user_external_id": u,
                                       "name": name[:100]} for name, u in m.reactions if u not in withheld]
            for start in range(0, len(reaction_rows), 2000):
                await session.execute(insert_ignore(session, Reaction), reaction_rows[start : start + 2000])
            texts = {mid: m.text for m in messages
                     if (mid := new_ids.get((m.channel_id, m.external_id))) and m.author_id not in bots}
            texts.update({mid: text for mid, text, _ in changed if mid not in bot_edits})
            to_embed = [(mid, clean(t)) for mid, t in texts.items()]
            to_embed = [(mid, t) for mid, t in to_embed if carries_expertise(t)]
            skipped_encode = len(texts) - len(to_embed)
            vectors = np.zeros((0, getattr(self.expertise.embedder, "dim", 384)), dtype=np.float32)
            if to_embed:
                by_text = await self.expertise.encode_distinct([t for _, t in to_embed], chunk=self.chunk,
                                                               progress=progress)
                vectors = np.stack([by_text[t] for _, t in to_embed])
                vec_rows = [{"message_id": mid, "community_id": community_id, "embedding": vec}
                            for (mid, _), vec in zip(to_embed, vectors, strict=True)]
                for start in range(0, len(vec_rows), 2000):
                    await session.execute(insert(MessageVector), vec_rows[start : start + 2000])
            if progress and skipped_encode:
                progress(skipped_encode)
            result.embedded = len(to_embed)
            result.message_ids = list(new_ids.values())
            read_again = await mark_openers_gone(session, community_id, withheld=withheld_in_threads)
            read_again = sorted(set(read_again) - set(new_ids.values()) - {mid for mid, _, _ in changed})
            if new_ids or changed or read_again:
                await self.expertise.note_changes(session, community_id,
                                                  list(new_ids.values()) + [mid for mid, _, _ in changed] + read_again)
        await self.expertise.follow(community_id, list(new_ids.values()) + [mid for mid, _, _ in changed],
                                    [mid for mid, _ in to_embed], vectors)
        await self.expertise.follow_again(community_id, read_again)
        for listener in self.after_store:
            try:
                await listener(community_id, messages, result)
            except Exception:  # the messages are stored; a follower's failure must not lose them
                log.exception("after-store listener %s failed", getattr(listener, "__qualname__", listener))
        return result
