"""What a digest reads from storage: the period's resources and their signals, discussion vectors,
sharers' answering history, and questions nobody else has answered. Public channels only (a digest
is posted in the open), consenting human members only, one community at a time."""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import and_, exists, func, or_, select, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.db.models import Channel, Community, Member, Message, MessageVector, Reaction
from bot.db.resources import Resource, ResourceSave, ResourceShare
from bot.services.digest_compose import BOOKMARK_REACTIONS, STRONG_REACTIONS, Candidate, Share, WaitingQuestion
from bot.services.digest_questions import (
    ANSWER_WITHIN,
    CONTINUES_WITHIN,
    CONVERSATION_GAP,
    Nearby,
    addressed_to_someone,
    answered_by_its_asker,
    answered_or_answering_in_channel,
    asks_in_words,
    carries_on_a_conversation,
    replies_in_channel,
    says_solved,
    withdrawn,
)
from bot.services.expertise import OPENERLESS_THREADS, opens_with_first_message
from bot.services.resources import ANY_LINK
from matching.text import carries_expertise, clean, is_thanks, mentioned_users

QUESTION_MIN_AGE = timedelta(hours=12)  # younger questions may simply not have been seen yet
QUESTION_LOOKBACK = timedelta(days=7)  # before the period start
MAX_QUESTIONS = 5
REPLY_LOOKBACK = timedelta(days=35)  # replies to shares older than this before the period are not counted
_CODE_BLOCK = re.compile(r"```.*?(?:```|$)", re.S)


def _visible_share():  # noqa: ANN202
    """resource_share joined to its message, channel and sharer, limited to what a digest may show."""
    return (select(ResourceShare.resource_id, ResourceShare.message_id, ResourceShare.member_id,
                   ResourceShare.shared_at, Message.permalink, Message.text, Message.channel_id,
                   Message.external_id, Message.thread_external_id, Channel.name, Member.name, Member.external_id)
            .join(Message, Message.id == ResourceShare.message_id)
            .join(Channel, Channel.id == Message.channel_id)
            .join(Member, Member.id == ResourceShare.member_id)
            .where(Channel.is_private.is_(False), Member.profiling_consent.is_(True), Member.is_bot.is_(False)))


async def load_candidates(session: AsyncSession, community_id: int, start: datetime, end: datetime, *,
                          exclude: set[int] = frozenset()) -> list[Candidate]:
    """Resources shared or saved in [start, end), with every signal they had by `end`."""
    shared = _visible_share().where(ResourceShare.community_id == community_id,
                                    ResourceShare.shared_at >= start, ResourceShare.shared_at < end)
    saved = (select(ResourceSave.resource_id).join(Member, Member.id == ResourceSave.member_id)
             .where(ResourceSave.community_id == community_id, ResourceSave.saved_at >= start,
                    ResourceSave.saved_at < end, Member.profiling_consent.is_(True)))
    active = union(select(shared.subquery().c.resource_id), saved).subquery()
    active_ids = select(active.c.resource_id)

    resources = {rid: (link, title) for rid, link, title in (await session.execute(
        select(Resource.id, Resource.link, Resource.title)
        .where(Resource.community_id == community_id, Resource.id.in_(active_ids)))).all() if rid not in exclude}
    if not resources:
        return []

    shares = (await session.execute(
        _visible_share().where(ResourceShare.community_id == community_id, ResourceShare.resource_id.in_(active_ids),
                               ResourceShare.shared_at < end).order_by(ResourceShare.shared_at))).all()
    first: dict[int, tuple] = {}
    sharers: dict[int, set[int]] = defaultdict(set)
    share_messages: dict[int, list[int]] = defaultdict(list)
    standing: dict[int, list[Share]] = defaultdict(list)
    for row in shares:
        rid = row[0]
        first.setdefault(rid, row)
        sharers[rid].add(row[2])
        share_messages[rid].append(row[1])
        standing[rid].append((row[11], row[10], row[9], row[4]))

    savers: dict[int, set[str]] = defaultdict(set)
    notes: dict[int, tuple[str, str]] = {}  # the first note, and who wrote it
    saved: dict[int, int] = defaultdict(int)  # by `/save`
    for rid, member_ext, note in (await session.execute(
        select(ResourceSave.resource_id, Member.external_id, ResourceSave.note)
        .join(Member, Member.id == ResourceSave.member_id)
        .where(ResourceSave.community_id == community_id, ResourceSave.resource_id.in_(active_ids),
               ResourceSave.saved_at < end, Member.profiling_consent.is_(True))
        .order_by(ResourceSave.saved_at))).all():
        savers[rid].add(member_ext)
        saved[rid] += 1
        if note and rid not in notes:
            notes[rid] = (note, member_ext)

    reactions: dict[int, int] = defaultdict(int)
    strong: dict[int, int] = defaultdict(int)
    for rid, name, user in (await session.execute(
        select(ResourceShare.resource_id, Reaction.name, Reaction.user_external_id)
        .join(Reaction, Reaction.message_id == ResourceShare.message_id)
        .where(ResourceShare.community_id == community_id, ResourceShare.resource_id.in_(active_ids),
               ResourceShare.shared_at < end))).all():
        if name in BOOKMARK_REACTIONS:
            savers[rid].add(user)
        elif name in STRONG_REACTIONS:
            strong[rid] += 1
        else:
            reactions[rid] += 1

    responses = await _responses(session, community_id, shares, start, end)

    out = []
    for rid, (link, title) in resources.items():
        row = first.get(rid)
        if row is None and not savers.get(rid):
            continue  # only shared in private channels or by people who opted out since
        note, note_by = notes.get(rid, ("", ""))
        out.append(Candidate(
            resource_id=rid, title=title, link=link, sharer_id=row[2] if row else None,
            sharer=row[10] if row else "", channel=row[9] if row else "", permalink=row[4] if row else None,
            shared_at=row[3].timestamp() if row else 0.0, reactions=reactions.get(rid, 0),
            strong=strong.get(rid, 0), saves=len(savers.get(rid, ())), sharers=max(1, len(sharers.get(rid, ()))),
            replies=responses.replies.get(rid, 0), thanks=responses.thanked.get(rid, 0), note=note,
            text=row[5][:500] if row else "",
            share_message_ids=share_messages.get(rid, []), saved=saved.get(rid, 0),
            named=tuple(dict.fromkeys(who for who in (row[11] if row else "", note_by) if who)),
            note_by=note_by, shares=tuple(standing.get(rid, ())),
        ))
    return out


THANKS_WITHIN = 5  # a thanks among the next few messages of a share's thread is for it; later, for something else


@dataclass(frozen=True)
class Responses:
    replies: dict[int, int]  # resource id -> replies by others to the messages that shared it
    thanked: dict[int, int]  # resource id -> members who thanked right after a message that shared it


async def _responses(session: AsyncSession, community_id: int, shares: list, start: datetime,
                     end: datetime) -> Responses:
    """What others answered to the messages that shared each resource: replies to them (Slack threads they started,
    Discord replies), and thanks. A link is most often given as an answer inside someone's thread, where nothing
    replies to it as such: the asker's "thanks, exactly what I needed" among the next few messages of the thread is
    how a community says it valued it (racket and clojurians: 4 in 5 links are shared in a thread reply, and nearly
    half of those are thanked; none was counted). One range scan of the period's messages, matched in memory: joins
    on thread ids are quadratic where the planner prefers the time index."""
    if not shares:
        return Responses({}, {})
    roots: dict[tuple[int, str], list[tuple[int, int]]] = defaultdict(list)
    in_thread: dict[tuple[int, str], list[tuple[int, int, datetime, int]]] = defaultdict(list)
    for row in shares:  # (resource, message, member, shared_at, permalink, text, channel, external id, thread, ...)
        if row[8] in (None, row[7]) and looks_like_question(_CODE_BLOCK.sub(" ", row[5] or "")):
            # A link in a question is what the asker is asking about, and the thread answers the question: "why would
            # I be getting an error … <my repo's .git>" stood in a real week's digest with "45 replies in the thread".
            continue
        roots[(row[6], row[7])].append((row[0], row[2]))
        in_thread[(row[6], row[8] or row[7])].append((row[0], row[2], row[3], row[1]))
    since = max(min(row[3] for row in shares), start - REPLY_LOOKBACK)
    counted: dict[int, set[int]] = defaultdict(set)
    thanked: dict[int, set[int]] = defaultdict(set)
    threads: dict[tuple[int, str], list[tuple[datetime, int, int, str]]] = defaultdict(list)
    rows = await session.execute(
        select(Message.id, Message.channel_id, Message.thread_external_id, Message.reply_to_external_id,
               Message.author_id, Message.external_id, Message.created_at, Message.text)
        .join(Member, Member.id == Message.author_id)
        .where(Message.community_id == community_id, Message.created_at >= since, Message.created_at < end,
               Member.is_bot.is_(False),
               or_(Message.thread_external_id.is_not(None), Message.reply_to_external_id.is_not(None))))
    for mid, channel_id, thread, reply_to, author, external_id, created, text in rows:
        for target in {thread, reply_to} - {None, external_id}:
            for resource_id, sharer in roots.get((channel_id, target), ()):
                if author != sharer:
                    counted[resource_id].add(mid)
                    if target == reply_to and is_thanks(text):
                        thanked[resource_id].add(author)
        if thread is not None and (channel_id, thread) in in_thread:
            threads[(channel_id, thread)].append((created, mid, author, text))
    for key, shared in in_thread.items():
        following = sorted(threads.get(key, ()))
        for resource_id, sharer, shared_at, message_id in shared:
            after = [m for m in following if (m[0], m[1]) > (shared_at, message_id)][:THANKS_WITHIN]
            thanked[resource_id].update(author for _, _, author, text in after if author != sharer and is_thanks(text))
    return Responses({rid: len(ids) for rid, ids in counted.items()},
                     {rid: len(members) for rid, members in thanked.items()})


async def discussion_vectors(session: AsyncSession, community_id: int, share_messages: dict[int, list[int]],
                             end: datetime) -> dict[int, np.ndarray]:
    """resource id -> mean embedding of the messages that shared it and of the replies in their threads."""
    message_of: dict[int, int] = {mid: rid for rid, mids in share_messages.items() for mid in mids}
    if not message_of:
        return {}
    sums: dict[int, np.ndarray] = {}
    counts: dict[int, int] = defaultdict(int)

    def add(rid: int, vec: np.ndarray) -> None:
        sums[rid] = sums[rid] + vec if rid in sums else np.asarray(vec, dtype=np.float32).copy()
        counts[rid] += 1

    ids = list(message_of)
    for start in range(0, len(ids), 1000):
        part = ids[start : start + 1000]
        for mid, vec in (await session.execute(select(MessageVector.message_id, MessageVector.embedding)
                                               .where(MessageVector.message_id.in_(part)))).all():
            add(message_of[mid], vec)
        roots = {(ch, ext): mid for mid, ch, ext in (await session.execute(
            select(Message.id, Message.channel_id, Message.external_id).where(Message.id.in_(part)))).all()}
        ext_ids = {ext for _, ext in roots}
        for ch, thread, reply_to, vec in (await session.execute(
            select(Message.channel_id, Message.thread_external_id, Message.reply_to_external_id,
                   MessageVector.embedding)
            .join(MessageVector, MessageVector.message_id == Message.id)
            .where(Message.community_id == community_id, Message.created_at < end,
                   Message.id.not_in(part),
                   or_(Message.thread_external_id.in_(ext_ids), Message.reply_to_external_id.in_(ext_ids))))).all():
            root_id = roots.get((ch, thread)) or roots.get((ch, reply_to))
            if root_id is not None:
                add(message_of[root_id], vec)
    return {rid: s / counts[rid] for rid, s in sums.items()}


async def answering_profiles(session: AsyncSession, community_id: int, member_ids: set[int],
                             end: datetime) -> dict[int, tuple[np.ndarray, int]]:
    """member id -> (mean embedding, count) of their replies in other people's threads before `end`:
    what they are known to answer about."""
    if not member_ids:
        return {}
    root = aliased(Message)
    rows = (await session.execute(
        select(Message.author_id, MessageVector.embedding)
        .join(MessageVector, MessageVector.message_id == Message.id)
        .join(root, and_(root.community_id == community_id, root.channel_id == Message.channel_id,
                         root.external_id == Message.thread_external_id))
        .where(Message.community_id == community_id, Message.author_id.in_(member_ids),
               Message.thread_external_id != Message.external_id, root.author_id != Message.author_id,
               Message.created_at < end))).all()
    sums: dict[int, np.ndarray] = {}
    counts: dict[int, int] = defaultdict(int)
    for author, vec in rows:
        sums[author] = sums[author] + vec if author in sums else np.asarray(vec, dtype=np.float32).copy()
        counts[author] += 1
    return {a: (s / counts[a], counts[a]) for a, s in sums.items()}


def looks_like_question(text: str) -> bool:
    cleaned = clean(ANY_LINK.sub(" ", text or ""))
    return "?" in cleaned and carries_expertise(cleaned) and len(cleaned) >= 15


async def waiting_questions(session: AsyncSession, community_id: int, start: datetime, end: datetime,
                            limit: int = MAX_QUESTIONS) -> list[WaitingQuestion]:
    """Thread roots asking something, old enough to have been seen, that nobody else has answered. On Discord,
    a thread known to start with no opening message (started on its own, private, a forum post, started from a
    bot's post) asks with its first member's message, as in who-knows (thread_openers)."""
    starts = [Message.thread_external_id.is_(None), Message.thread_external_id == Message.external_id]
    platform = await session.scalar(select(Community.platform).where(Community.id == community_id))
    if platform in OPENERLESS_THREADS:
        earlier, earlier_author = aliased(Message), aliased(Member)
        starts.append(and_(
            Message.thread_external_id.is_not(None),
            opens_with_first_message(community_id, Message.channel_id, Message.thread_external_id),
            ~exists().where(earlier.community_id == community_id, earlier.channel_id == Message.channel_id,
                            earlier.thread_external_id == Message.thread_external_id,
                            earlier_author.id == earlier.author_id, earlier_author.is_bot.is_(False),
                            or_(earlier.created_at < Message.created_at,
                                and_(earlier.created_at == Message.created_at, earlier.id < Message.id)))))
    rows = (await session.execute(
        select(Message.text, Member.name, Channel.name, Message.created_at, Message.permalink, Message.channel_id,
               func.coalesce(Message.thread_external_id, Message.external_id), Message.author_id, Message.id,
               Member.external_id)
        .join(Member, Member.id == Message.author_id).join(Channel, Channel.id == Message.channel_id)
        .where(Message.community_id == community_id, Message.created_at >= start - QUESTION_LOOKBACK,
               Message.created_at < end - QUESTION_MIN_AGE, Message.text.contains("?"),
               Message.reply_to_external_id.is_(None), or_(*starts),
               Channel.is_private.is_(False), Channel.announcements.is_(False),  # "Who's coming Friday?" asks nobody
               Member.is_bot.is_(False), Member.profiling_consent.is_(True))
        .order_by(Message.created_at.desc()).limit(limit * 40))).all()
    rows = [r for r in rows if looks_like_question(r[0]) and asks_in_words(r[0]) and not withdrawn(r[0])
            and not addressed_to_someone(r[0]) and not replies_in_channel(r[0])]
    ext_ids = {r[6] for r in rows}
    answerers: dict[tuple[int, str], set[int]] = defaultdict(set)
    if ext_ids:
        for ch, thread, reply_to, author, ext in (await session.execute(
            select(Message.channel_id, Message.thread_external_id, Message.reply_to_external_id, Message.author_id,
                   Message.external_id)
            .join(Member, Member.id == Message.author_id)  # a bot's welcome in the thread answers nothing
            .where(Message.community_id == community_id, Message.created_at >= start - QUESTION_LOOKBACK,
                   Member.is_bot.is_(False),
                   or_(Message.thread_external_id.in_(ext_ids), Message.reply_to_external_id.in_(ext_ids))))).all():
            for target in {thread, reply_to} - {None, ext}:
                answerers[(ch, target)].add(author)
    out = []
    for text, asker, channel, created, permalink, channel_id, external_id, author_id, message_id, user in rows:
        if answerers.get((channel_id, external_id), set()) - {author_id}:
            continue
        if await _held_in_channel(session, community_id, channel_id, message_id, author_id, user, created):
            continue
        snippet = clean(text)
        snippet = snippet if len(snippet) <= 160 else snippet[:159].rsplit(" ", 1)[0] + "…"
        out.append(WaitingQuestion(snippet, asker, channel, created, permalink, message_id, asker_id=user))
        if len(out) >= limit:
            break
    return out


async def _held_in_channel(session: AsyncSession, community_id: int, channel_id: int, message_id: int,
                           author_id: int, asker: str, created: datetime) -> bool:
    """Whether the question was answered in its channel rather than in a thread, answered what another member had
    just said there, or carried on the asker's conversation there (digest_questions). One small query per question
    still listed (its own vector comes with the messages around it), a handful a week."""
    vector, nearby = None, []
    for row_id, when, vec, author, text in (await session.execute(
            select(Message.id, Message.created_at, MessageVector.embedding, Message.author_id, Message.text)
            .outerjoin(MessageVector, MessageVector.message_id == Message.id)
            .join(Member, Member.id == Message.author_id)
            .where(Message.community_id == community_id, Message.channel_id == channel_id,
                   Member.is_bot.is_(False),
                   Message.created_at >= created - max(CONTINUES_WITHIN, CONVERSATION_GAP),
                   Message.created_at <= created + ANSWER_WITHIN))):
        if row_id == message_id:
            vector = vec
            continue
        nearby.append(Nearby(when, vec, by_asker=author == author_id, mentions_asker=asker in mentioned_users(text),
                             says_solved=author == author_id and says_solved(text)))
    return (carries_on_a_conversation(created, nearby) or answered_by_its_asker(created, nearby)
            or answered_or_answering_in_channel(created, None if vector is None else np.asarray(vector), nearby))


async def latest_activity(session: AsyncSession, community_id: int) -> datetime | None:
    """When the community last said or saved something: a /save in a quiet week is news for its digest."""
    said = await session.scalar(select(func.max(Message.created_at)).where(Message.community_id == community_id))
    saved = await session.scalar(select(func.max(ResourceSave.saved_at)).where(
        ResourceSave.community_id == community_id))
    return max((t for t in (said, saved) if t is not None), default=None)
