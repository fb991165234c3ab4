"""Expertise profiles: each community's corpus and vectors in memory, kept current by ingestion.

The corpus (who said what, where, when) is loaded from the database once per process and then
follows every message it stores, and what other processes sharing the database stored, edited or
deleted (bot.services.changes); vectors live in the configured VectorIndex.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import (
    Integer,
    Select,
    Text,
    and_,
    cast,
    delete,
    exists,
    func,
    literal_column,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot import metrics
from bot.db.engine import Database
from bot.db.intros import INTRO_CAP_WINDOW, Intro, IntroState, NotMyArea
from bot.db.models import (
    Channel,
    Community,
    CorpusChange,
    DeletedMessage,
    Member,
    Message,
    MessageVector,
    OpenerlessThread,
    Question,
    Reaction,
    Skill,
)
from bot.db.types import EMBEDDING_DIM
from bot.embedder import MAX_SEQ_LENGTH, Embedder
from bot.errors import UserError, briefly
from bot.messages import ago
from bot.repo import claim_event, insert_ignore, release_event
from bot.safety import neutralise
from bot.services.changes import ChangeLog
from matching.corpus import Corpus, MessageRecord
from matching.fit import build_examples, fit_weights
from matching.lexical import BM25Index
from matching.ranking import (
    FEATURES,
    PRESENT_HOURS,
    Hits,
    Ranked,
    dense_weights,
    everyday_only,
    lexical_hits,
    rank_experts,
    rows_of,
)
from matching.text import (
    TEXT_RULES,
    carries_expertise,
    clean,
    mentioned_users,
    opens_with_a_quote,
    own_words,
    shown,
    tokens,
)
from matching.vector_index import NumpyVectorIndex, VectorIndex

log = logging.getLogger(__name__)

TOP_K = 100
ENCODE_OVERHEAD = 11  # what encoding a text costs beyond its characters, in characters (encode_cost)
REPLAY_SEARCH_MAX = 6400  # how far a replay searches for the TOP_K nearest messages said before it
SKILL_MIN_SIM = 0.35
# ...and at most this: a question this near a skill is about it, however much the community talks of it (in a new
# community a third of whose messages are on Kubernetes rollbacks the usual talk measured 0.93, and a member who
# declared exactly "kubernetes rollbacks" claimed nothing when asked just that).
SKILL_MAX_FLOOR = 0.55
SKILL_MATCH_WIDTH = 0.45  # a skill claims a question fully this much nearer than the community's usual talk
SKILL_WORDS_WEIGHT = 0.6  # naming a skill's words is less than meaning it: "programming" in a question on lists
SKILL_MIN_CLAIM = 0.2  # a weaker match claims nothing
# A member's declared skills claim fully up to this many; one who declares more (25 topics, "everything") shares a
# full claim among them, so a list of everything does not come first on every question.
DECLARED_FULL = 10
TYPICAL_SAMPLE = 2000  # message vectors a skill is compared with, for what is usual talk here
# A skill's words found in the question count by how rare they are in the community's messages, nothing for a
# word in a tenth of them or more (idf 2.3: "racket" on racket-2019 is 2.1), fully from one in a hundred (4.6),
# and only as far as the skill means something near the question (from a cosine of 0.2, fully from 0.3): "help"
# (rare in messages) is 0.04 from a question asking for help, "advice" 0.17 from one asking advice; "nginx" is
# 0.30 from a question on an nginx proxy dropping websockets, "postgres" 0.39 from one on Postgres indexes.
SKILL_COMMON_IDF, SKILL_RARE_IDF = 2.3, 4.6
SKILL_WORDS_MIN_SIM, SKILL_WORDS_FULL_SIM = 0.2, 0.3
SKILL_REASONS = {"declared": "declared a matching skill", "endorsed": "endorsed for a matching skill",
                 "intro": "accepted an intro on a similar question"}
INTRO_TOPIC_CHARS = 500  # an accepted intro's question, as a skill...
INTRO_EVIDENCE_WINDOW = timedelta(days=365)  # ...for a year (every ask reads them)
# "Not my area": a member who turned down a topic is lowered for questions like it, in proportion to how
# alike they are (cosine of the two texts above NOT_MY_AREA_MIN_SIM), and dropped when nearly the same.
NOT_MY_AREA_MIN_SIM = 0.4
NOT_MY_AREA_DROP_SIM = 0.8
NAMES_TTL = 300.0
REFIT_GROWTH = 0.2  # the ranking is fitted again once a community's history grew by a fifth...
MIN_FIT_MESSAGES = 200  # ...or first once it has this many messages (fewer hold too few answered threads)
REFIT_SECONDS = 6 * 3600  # how often that is looked at
AVAILABLE, PRESENT = FEATURES.index("available"), FEATURES.index("present")
MAX_REPLY_STEPS = 20  # how far up a chain of replies a new message is followed to its conversation
AROUND = float(np.log(1.5))  # "usually around": posts at least 1.5x the community's share at this hour of the day
OFTEN_ANSWERS = 10  # "answers often here": this many replies to others' threads at least ("has answered others here")
# Platforms whose threads can start without an opening message: a Discord thread created on its own (the parent
# gets only a "started a thread" notice naming it), a private thread, a forum post, a thread started from a bot's
# post. There the thread's first member's message asks (see thread_openers), where the thread is known to be one
# (bot.db.models.OpenerlessThread): a thread started from a member's message that is gone (deleted, never stored)
# has no question, as elsewhere (Slack): a root not stored was posted before the bot joined or outside the export,
# deleted, or withheld, and the first reply answered it, so it never becomes a question.
OPENERLESS_THREADS = frozenset({"discord"})
# A live ask ranks again at most this many times after messages it was about to quote or link were found gone from the
# platform (ExpertiseService.gone_check), never with those; what the last ranking adds is shown unchecked.
GONE_RANKINGS = 4


@dataclass(frozen=True)
class _SkillProfile:
    floor: float  # a question nearer than this (cosine) is nearer to the skill than the community's usual talk
    rare: dict[str, float]  # the skill's words: how rare each is here (0-1)


@dataclass(frozen=True)
class _AskContext:
    excluded: set[str]
    skills: list[tuple[str, str, str, int | None]]  # user, topic, "declared", "endorsed" or "intro", endorser
    declined: list[tuple[str, str]]  # user, topic turned down as "not my area"
    private: set[int]  # the private channels an admin turned on (ids): counted, never quoted
    changes: list[tuple[int, int | None]] | None = None  # corpus_change rows not seen yet (ChangeLog.take)
    asked_in: int | None = None  # the channel asked in (id), where it is one the community's messages are stored from
    departed: set[str] = field(default_factory=set)  # deactivated accounts: members then, not now (see rank's replay)


@dataclass(frozen=True)
class Suggestion:
    user: str  # platform user id
    name: str
    score: float
    why: list[str]
    permalinks: list[str | None] = field(default_factory=list)
    # Whether anything the member said or declared bears on the question (evidence, similar threads, a skill, the
    # channel it belongs in); False for a member suggested only for answering much here.
    topical: bool = True


def _singular(word: str) -> str:
    """A skill's word and the question's compared without a plural's s: "macros" declared names "a macro"."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _fitted_on_other_features(settings: dict) -> bool:
    """Whether a community's stored ranking model was fitted on another release's features."""
    ranking = settings.get("ranking")
    return bool(ranking) and ranking.get("features") != list(FEATURES)


def thread_key(channel_id: int, thread_external_id: str) -> str:
    return f"{channel_id}:{thread_external_id}"


def thread_start(key: str) -> str:
    """The external id of the message that started the conversation of a thread_key."""
    return key.partition(":")[2]


def _when(ts: float, now: float) -> str:
    """When something was said, as read beside the dates of the quotes: "3 weeks ago" within the year, a month and a
    year before that ("in March 2019": "7 years ago" was rounded down beside quotes dated 8 years back)."""
    if now - ts < 335 * 86400:
        return ago(max(now - ts, 0.0))
    return f"in {datetime.fromtimestamp(ts, UTC):%B %Y}"


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


# No link has a backtick, a quotation mark or an angle bracket in it (RFC 3986): "`https://x/y`" or a link at the
# end of a code block ("…/glassfish)```") ends before them.
_URL = re.compile(r"https?://[^\s`\"<>]+")
SNIPPET_PROSE = 40  # a link kept whole leaves at least this much of the words before it
OWN_WORDS_ALONE = 4  # a reply opening with a quote is quoted without it from this many words of its own


def _url_spans(text: str) -> list[tuple[int, int]]:
    """Where the links are, without the punctuation that ends a sentence after them ("see https://x/y.") and the
    closing parenthesis of the words around them ("(docs: https://x/y)", Markdown's "[box/c](https://x/#(def))"),
    a link's own balanced parentheses kept."""
    spans = []
    for m in _URL.finditer(text):
        start, end = m.span()
        while end > start and (text[end - 1] in ".,;:!?'\"»”’"
                               or text[end - 1] == ")" and text.count(")", start, end) > text.count("(", start, end)):
            end -= 1
        spans.append((start, end))
    return spans


def _cut(text: str, n: int) -> str:
    """At most about `n` characters of `text`, cut at a space and never inside a link (before it instead)."""
    if len(text) <= n:
        return text
    cut = text.rfind(" ", 0, n)
    cut = cut if cut > 0 else n - 1
    for start, end in _url_spans(text):
        if start < cut < end:
            cut = start
    return _ellipsis(text[:cut].rstrip())


def _ellipsis(text: str) -> str:
    """`text` + "…", apart from a link it ends in: glued on, the "…" was taken as part of the link."""
    spans = _url_spans(text)
    return text + (" …" if spans and spans[-1][1] == len(text) else "…")


def _snippet(text: str, n: int = 90, names: dict[str, str] | None = None) -> str:
    """A quote of about `n` characters. A link stays whole: the cut falls before it, not inside; and a link the
    cut would drop (the answer in "doc: <link>", "See <link>") is kept, with the words before it shortened.
    Members mentioned read as "@name" (`names`: display names by platform id). A message that opens by quoting
    someone (a reply to what they said) is quoted by its author's own words: "&gt; it's the only technique that
    works\nIt isn't: …" showed only the other member's words, as the author's. A short reply ("yes", "this one") is
    quoted with what it replies to, which alone says what it is about."""
    if opens_with_a_quote(text) and len(shown(own := own_words(text)).split()) >= OWN_WORDS_ALONE:
        text = own
    text = shown(text, names)
    if len(text) <= n:
        return text
    short = _cut(text, n)
    kept = len(short) - 1  # without the "…"
    dropped = [(start, end) for start, end in _url_spans(text) if end > kept]
    if not dropped:
        return short
    start, end = dropped[0]
    before = text[:start].rstrip()
    prose = _cut(before, max(n - (end - start) - 2, SNIPPET_PROSE)) if before else ""
    tail = " …" if text[end:].strip(" .,;:!?)") else ""
    return f"{prose} {text[start:end]}{tail}".strip()


BACKFILL_PART = 2000  # messages read, encoded and stored at a time by _embed_by_rules


def encode_cost(text: str) -> int:
    """What encoding `text` costs, in characters: its length up to what the model reads (MAX_SEQ_LENGTH tokens of
    about four characters), plus a text's own overhead. Measured on clojurians-2019, in batches of like length: 1.3 ms
    a text of 20 characters, 5.1 ms of 100, 19-22 ms from 300 to 2,700."""
    return ENCODE_OVERHEAD + min(len(text), 4 * MAX_SEQ_LENGTH)


class ExpertiseService:
    def __init__(self, db: Database, embedder: Embedder, vectors: VectorIndex, *, weekly_intro_cap: int = 3) -> None:
        self.db = db
        self.weekly_intro_cap = weekly_intro_cap
        self.embedder = embedder
        self.vectors = vectors
        self._corpora: dict[int, Corpus] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._skill_vectors: dict[str, np.ndarray] = {}
        self._typical: dict[int, np.ndarray] = {}  # a sample of each community's message vectors
        self._skill_profiles: dict[int, dict[tuple[str, bool], _SkillProfile]] = {}  # per community and topic
        self._weights: dict[int, dict | None] = {}
        self._names_cache: dict[int, dict[str, tuple[str, float]]] = {}
        self._model_checked: set[int] = set()  # communities whose stored vectors are this model's
        self._model_locks: dict[int, asyncio.Lock] = {}
        self._openerless: dict[int, bool] = {}  # community -> its threads may have no opening message
        self.changes = ChangeLog()
        # The running bot embeds what a release's new text rules read in the background (see ensure_model); a
        # one-shot command waits for it.
        self.backfill_in_background = False
        self._backfills: dict[int, asyncio.Task] = {}
        # Asked, where set (the core, through the platform's adapter), which of the messages a live ask is about to
        # quote or link are gone from the platform (deleted while the bot was away: nothing told it); it deletes
        # them here as a live deletion does and returns how many, and the ask ranks again without them.
        self.gone_check: Callable[[int, list[MessageRecord]], Awaitable[int]] | None = None

    @property
    def keeps_vectors_in_memory(self) -> bool:
        return isinstance(self.vectors, NumpyVectorIndex)

    async def corpus(self, community_id: int, *, follow: bool = True) -> Corpus:
        """The community's corpus: loaded once, then following what this process stores and what other
        processes sharing the database changed (see bot.services.changes; `follow=False`: the caller reads
        those changes itself)."""
        async with self._locks.setdefault(community_id, asyncio.Lock()):
            if community_id in self._corpora and follow:
                async with self.db.sessions() as session:
                    changed = await self.changes.pending(session, community_id)
                await self._follow_changes(community_id, changed)
            if community_id not in self._corpora:
                self._corpora[community_id] = await self._load(community_id)
        return self._corpora[community_id]

    async def first_said(self, community_id: int) -> datetime | None:
        """When the earliest message the community still holds was said (None: it holds none)."""
        a = (await self.corpus(community_id)).arrays
        alive = a["ts"][a["alive"]]
        return datetime.fromtimestamp(float(alive.min()), UTC) if len(alive) else None

    async def note_changes(self, session: AsyncSession, community_id: int, message_ids: list[int] | None) -> None:
        """Messages stored, edited or deleted (None: a member's messages removed), in the caller's transaction,
        for the other processes' corpora."""
        await self.changes.note(session, community_id, message_ids, own=community_id in self._corpora)

    async def prune_changes(self) -> int:
        """Delete the change rows every replica has read (bot.services.changes.KEPT); any replica may run it."""
        async with self.db.sessions.begin() as session:
            return await self.changes.prune(session)

    async def _follow_changes(self, community_id: int, changed: list[int] | None) -> None:
        """Follow messages changed elsewhere (ChangeLog.take), or drop the corpus to be loaded again (None)."""
        if changed is None:
            log.info("community %d changed elsewhere: loading it again", community_id)
            self.forget_cache(community_id)
            return
        if not changed:
            return
        async with self.db.sessions() as session:
            reactions = dict((await session.execute(
                select(Reaction.message_id, func.count())
                .where(Reaction.community_id == community_id, Reaction.message_id.in_(changed))
                .group_by(Reaction.message_id))).all())
            vectors = (await session.execute(
                select(MessageVector.message_id, MessageVector.embedding)
                .where(MessageVector.community_id == community_id, MessageVector.message_id.in_(changed))
            )).all() if self.keeps_vectors_in_memory else []
        self.remove(community_id, changed)  # deleted, or read again below
        dim = getattr(self.embedder, "dim", EMBEDDING_DIM)
        await self.follow(community_id, changed, [mid for mid, _ in vectors],
                          np.stack([v for _, v in vectors]) if vectors else np.zeros((0, dim), np.float32),
                          reactions=reactions)

    async def reactions_changed(self, community_id: int, message_ids: list[int]) -> None:
        """Messages given or taken back reactions here: their counts, in this process's corpus (they weigh an answer,
        "thanked"), in place. The caller notes them as changed too (note_changes): the other processes read those
        messages again whole (_follow_changes), their reactions with them."""
        corpus = self._corpora.get(community_id)
        if corpus is None or not message_ids:
            return
        async with self.db.sessions() as session:
            counts = dict((await session.execute(
                select(Reaction.message_id, func.count())
                .where(Reaction.community_id == community_id, Reaction.message_id.in_(message_ids))
                .group_by(Reaction.message_id))).all())
        corpus.set_reactions({mid: int(counts.get(mid, 0)) for mid in message_ids})

    def forget_names(self, community_id: int) -> None:
        """Display names are read again on the next ask (members were renamed, say by an import)."""
        self._names_cache.pop(community_id, None)

    def forget_cache(self, community_id: int | None = None) -> None:
        if community_id is None:
            self._weights.clear()
            self._names_cache.clear()
        else:
            self._weights.pop(community_id, None)
            self._names_cache.pop(community_id, None)
        if community_id is None:
            self._corpora.clear()
        else:
            self._corpora.pop(community_id, None)
        self.changes.stop(community_id)
        if isinstance(self.vectors, NumpyVectorIndex):
            if community_id is None:
                self.vectors._blocks.clear()
            else:
                self.vectors._blocks.pop(community_id, None)

    async def ensure_model(self, community_id: int) -> None:
        """A community's vectors all come from one embedding model: the one that made them is stored with the
        community, and when the model path (or the model in it) changed, every stored vector is made again with
        the model loaded now before any is used or added. Once per community and process."""
        if community_id in self._model_checked:  # before the fingerprint: this runs for every stored message
            return
        # Read off the event loop: the first time, the model folder's files are hashed.
        current = await asyncio.to_thread(getattr, self.embedder, "fingerprint", None)
        if not current:
            return
        async with self._model_locks.setdefault(community_id, asyncio.Lock()):  # an ask and a store at once
            if community_id in self._model_checked:
                return
            async with self.db.sessions.begin() as session:
                community = await session.get(Community, community_id)
                stored = (community.settings or {}).get("embedding_model") if community else None
                rules = (community.settings or {}).get("text_rules") if community else TEXT_RULES
                if community is not None and stored is None:  # a new community, or vectors from before the stamp
                    community.settings = {**(community.settings or {}), "embedding_model": current}
            if stored is not None and stored != current:
                await self._reembed(community_id, stored, current)
                self.forget_cache(community_id)
            if rules != TEXT_RULES:
                if self.backfill_in_background:  # never holding up the events of the running bot
                    self._start_backfill(community_id)
                elif await self._embed_by_rules(community_id):
                    self.forget_cache(community_id)
            self._model_checked.add(community_id)

    def _start_backfill(self, community_id: int) -> None:
        if community_id in self._backfills:
            return

        async def run() -> None:
            try:
                if await self._embed_by_rules(community_id):
                    self.forget_cache(community_id)  # the next ask reads the community with them
            except Exception as exc:  # noqa: BLE001 - unstamped: the next start goes on from where this one stopped
                log.error("community %d: embedding the messages the new text rules read failed (%s); the next start "
                          "goes on with it", community_id, briefly(exc))

        self._backfills[community_id] = asyncio.create_task(run(), name=f"connective-text-rules-{community_id}")

    async def backfilled(self, community_id: int) -> None:
        """Wait for the background embedding a new release's text rules started in the community, if any."""
        if (task := self._backfills.get(community_id)) is not None:
            await asyncio.shield(task)

    async def stop_background(self) -> None:
        """Stop the background work (a shutdown): what was embedded is kept, the next start goes on from there."""
        for task in self._backfills.values():
            task.cancel()
        for task in self._backfills.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _embed_by_rules(self, community_id: int) -> int:
        """Make the stored vectors follow today's text rules (matching.text.TEXT_RULES): a vector for each message
        that carries expertise by them and had none (written in a script the rules once did not read, Russian or
        Japanese, it was never embedded), and none for one that no longer does (thanks the rules now read as such).
        Once per community: the rules' version is stamped in its settings when all is done. In parts of
        BACKFILL_PART messages, each encoded and stored before the next is read: memory stays small, and a stop
        keeps what was done (the next start goes on with the messages still without a vector). Members who opted
        out get nothing new (their messages stay as they are); bots' messages are never embedded. Returns how many
        messages it changed."""
        started = time.perf_counter()
        added = removed = after = 0
        while True:
            async with self.db.sessions() as session:
                rows = (await session.execute(
                    select(Message.id, Message.text, MessageVector.message_id.is_not(None))
                    .join(Member, Member.id == Message.author_id)
                    .outerjoin(MessageVector, MessageVector.message_id == Message.id)
                    .where(Message.community_id == community_id, Message.id > after, Member.is_bot.is_(False),
                           Member.profiling_consent.is_(True))
                    .order_by(Message.id).limit(BACKFILL_PART)
                )).all()
            if not rows:
                break
            after = rows[-1][0]
            read = {mid: raw for mid, raw, _ in rows}
            carries = {mid: (carries_expertise(text := clean(raw)), text, bool(has)) for mid, raw, has in rows}
            if dropped := [mid for mid, (yes, _, has) in carries.items() if has and not yes]:
                async with self.db.sessions.begin() as session:
                    # Only if still as read: an edit meanwhile stored the vector of its new text.
                    still = [mid for mid, text in (await session.execute(
                        select(Message.id, Message.text).where(Message.id.in_(dropped)))).all() if text == read[mid]]
                    if still:
                        removed += (await session.execute(
                            delete(MessageVector).where(MessageVector.message_id.in_(still)))).rowcount or 0
            part = {mid: text for mid, (yes, text, has) in carries.items() if yes and not has}
            if not part:
                continue
            encoded = await self.encode_distinct(list(part.values()))
            for attempt in range(3):
                try:
                    added += await self._store_backfilled(community_id, part, encoded)
                    break
                except IntegrityError:  # a message deleted between the check and the insert: checked again
                    if attempt == 2:
                        raise
        async with self.db.sessions.begin() as session:
            community = await session.get(Community, community_id)
            if community is not None:
                community.settings = {**(community.settings or {}), "text_rules": TEXT_RULES}
        if added or removed:
            log.info("community %d: by the text rules of this release (version %d), %d messages carry expertise and "
                     "were embedded, %d no longer do, in %.1fs", community_id, TEXT_RULES, added, removed,
                     time.perf_counter() - started)
        return added + removed

    async def _store_backfilled(self, community_id: int, part: dict[int, str], encoded: dict[str, np.ndarray]) -> int:
        async with self.db.sessions.begin() as session:
            # Still there, and their author still profiled: a message deleted or an opt-out meanwhile is left. FOR
            # SHARE (PostgreSQL): a deletion in flight is waited for, and none starts before the vectors are in. The
            # insert failed on the foreign key, and with it the ask or message that started this; SQLite reads this
            # before its write lock is taken, so there a deletion committed in between fails it still: tried again.
            alive = set((await session.scalars(
                select(Message.id).join(Member, Member.id == Message.author_id)
                .where(Message.id.in_(part), Member.profiling_consent.is_(True)).with_for_update(read=True)
            )).all())
            values = [{"message_id": mid, "community_id": community_id, "embedding": encoded[text]}
                      for mid, text in part.items() if mid in alive]
            if values:
                await session.execute(insert_ignore(session, MessageVector), values)
        return len(values)

    async def _reembed(self, community_id: int, stored: str, current: str) -> None:
        started = time.perf_counter()
        async with self.db.sessions() as session:
            rows = (await session.execute(
                select(Message.id, Message.text).join(MessageVector, MessageVector.message_id == Message.id)
                .where(MessageVector.community_id == community_id)
            )).all()
        log.warning("community %d: its %d message vectors were made by another embedding model (%s): making them "
                    "again with %s", community_id, len(rows), stored, current)
        texts = [(mid, clean(text)) for mid, text in rows]
        encoded = await self.encode_distinct([t for _, t in texts])
        dim = len(next(iter(encoded.values()))) if encoded else EMBEDDING_DIM
        if dim != EMBEDDING_DIM and self.db.dialect == "postgresql":
            raise UserError(f"the model at model_path makes {dim}-dimensional vectors; this PostgreSQL schema "
                            f"keeps {EMBEDDING_DIM}")
        for start in range(0, len(texts), 2000):  # a transaction per part; the stamp only once all are done
            async with self.db.sessions.begin() as session:
                await session.execute(update(MessageVector), [
                    {"message_id": mid, "embedding": encoded[text]} for mid, text in texts[start : start + 2000]])
        async with self.db.sessions.begin() as session:
            community = await session.get(Community, community_id)
            community.settings = {**(community.settings or {}), "embedding_model": current}
        log.info("community %d: %d message vectors made again in %.1fs", community_id, len(rows),
                 time.perf_counter() - started)

    async def _load(self, community_id: int) -> Corpus:
        await self.ensure_model(community_id)
        started = time.perf_counter()
        async with self.db.sessions() as session:
            await self.changes.start(session, community_id)  # first: what changes after it is followed
            community = Message.community_id == community_id
            reactions = dict((await session.execute(
                select(Reaction.message_id, func.count()).where(Reaction.community_id == community_id)
                .group_by(Reaction.message_id)
            )).all())
            # Who wrote each message and which conversation it is in (to resolve replies; a chain of replies
            # may pass through a bot's message), then the messages themselves in parts: the raw rows of a
            # whole community at once would be as big again as the corpus built from them.
            links = (await session.execute(
                select(Message.channel_id, Message.external_id, Member.external_id, Member.is_bot,
                       Message.thread_external_id, Message.reply_to_external_id)
                .join(Member, Member.id == Message.author_id).where(community)
            )).all()
            # The building below runs in a worker thread, part by part: on the event loop it stalled everything
            # else (other communities' asks, Slack's 3 s acknowledgement) for 1-3.6 s at a time at 200,000 messages.
            author_of, roots = await asyncio.to_thread(_resolve_links, links)
            del links
            platform = await session.scalar(select(Community.platform).where(Community.id == community_id))
            self._openerless[community_id] = platform in OPENERLESS_THREADS
            openers = await thread_openers(session, community_id) if self._openerless[community_id] else {}
            corpus = Corpus()
            result = await session.stream(
                record_rows().where(community, Member.is_bot.is_(False))
                .order_by(Message.created_at, Message.id).execution_options(yield_per=20000))
            async for part in result.partitions():
                await asyncio.to_thread(_add_rows, corpus, part, reactions, author_of, roots, openers)
            del author_of, roots, openers
            await asyncio.to_thread(corpus.prepare)  # its arrays and BM25 matrix, not on the first ask
            # What this community's messages are like: a declared skill near most of them names nobody in
            # particular ("racket" in a Racket community), see _skill_scores.
            sample = (await session.execute(
                select(MessageVector.message_id).where(MessageVector.community_id == community_id)
                .order_by(func.random()).limit(TYPICAL_SAMPLE))).scalars().all()
            self._typical[community_id] = np.stack([v for v in (await session.execute(
                select(MessageVector.embedding).where(MessageVector.message_id.in_(sample)))).scalars()]) \
                if sample else np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
            self._skill_profiles.pop(community_id, None)
            if isinstance(self.vectors, NumpyVectorIndex):
                count = await session.scalar(select(func.count()).select_from(MessageVector)
                                             .where(MessageVector.community_id == community_id))
                self.vectors.reserve(community_id, int(count or 0))
                result = await session.stream(
                    select(MessageVector.message_id, MessageVector.embedding)
                    .where(MessageVector.community_id == community_id)
                    .execution_options(yield_per=5000)
                )
                async for part in result.partitions():
                    ids = np.fromiter((r[0] for r in part), dtype=np.int64, count=len(part))
                    self.vectors.add(community_id, ids, np.stack([r[1] for r in part]))
                await asyncio.to_thread(self.vectors.prepare, community_id)
        log.info("loaded %d messages of community %d in %.1fs", len(corpus), community_id,
                 time.perf_counter() - started)
        return corpus

    async def follow(self, community_id: int, message_ids: list[int], embedded: list[int],
                     vectors: np.ndarray, *, reactions: dict[int, int] | None = None) -> None:
        """Update an already loaded in-memory corpus with what was just stored. A message that just got its
        first reply is followed again as the root of its conversation (see conversations)."""
        corpus = self._corpora.get(community_id)
        if corpus is None or not message_ids:
            return
        async with self.db.sessions() as session:
            rows = (await session.execute(
                record_rows()
                .where(Message.id.in_(message_ids), Member.is_bot.is_(False))
            )).all()
            loaded = {r[0]: r for r in rows}
            known: dict[MessageKey, str] = {}
            openers = await thread_openers(session, community_id, {(r[5], r[7]) for r in rows if r[7]}) \
                if self._openerless.get(community_id) else {}
            # Thread roots (or the messages opening threads without one) and reply targets stored earlier, up a
            # chain of replies until the corpus knows the conversation (one step, unless messages of the chain
            # arrive together).
            targets = ({(r[5], r[7]) for r in rows if r[7]} | {(r[5], r[8]) for r in rows if r[8]}
                       | {(channel, opener) for (channel, _), opener in openers.items()})
            for _ in range(MAX_REPLY_STEPS):
                targets -= {(r[5], r[6]) for r in loaded.values()}
                if not targets:
                    break
                found = (await session.execute(
                    record_rows()
                    .where(Message.community_id == community_id,
                           Message.channel_id.in_({c for c, _ in targets}),
                           Message.external_id.in_({t for _, t in targets}))
                )).all()
                targets = set()
                for r in found:
                    loaded.setdefault(r[0], r)
                    row = corpus.row_of.get(r[0])
                    thread = corpus.records[row].thread if row is not None else None
                    if thread is not None:
                        known[(r[5], r[6])] = thread_start(thread)
                    elif r[8] and not r[7]:
                        targets.add((r[5], r[8]))
        wanted = set(message_ids)
        meta = [(r[5], r[6], r[7], r[8]) for r in loaded.values()]
        records = []
        for r in records_from_rows(list(loaded.values()), reactions or {}, roots=conversations(meta, known),
                                   openers=openers):
            row = corpus.row_of.get(r.id)
            if r.id in wanted:
                records.append(r)
            elif row is not None and (r.is_root, r.thread) != (corpus.records[row].is_root,
                                                              corpus.records[row].thread):
                # It just got its first reply (in an announcement channel it asks nothing, yet it joins the thread)
                records.append(replace(r, reactions=corpus.records[row].reactions))
        await self.add(community_id, records, embedded, vectors)

    async def follow_again(self, community_id: int, message_ids: list[int]) -> None:
        """Read these stored messages again into a loaded corpus (what is known of their thread changed)."""
        if community_id in self._corpora and message_ids:
            await self._follow_changes(community_id, message_ids)

    async def add(self, community_id: int, records: list[MessageRecord], ids: list[int],
                  vectors: np.ndarray) -> None:
        """Follow newly stored messages (and their vectors) in a loaded corpus."""
        if community_id in self._corpora:
            self._corpora[community_id].add(sorted(records, key=lambda r: r.ts))
            self.vectors.add(community_id, np.asarray(ids, dtype=np.int64), vectors)

    def remove(self, community_id: int, message_ids: list[int]) -> None:
        corpus = self._corpora.get(community_id)
        if corpus is not None:
            for mid in message_ids:
                corpus.remove(mid)
        self.vectors.remove(community_id, message_ids)

    async def encode(self, texts: list[str]) -> np.ndarray:
        return await asyncio.to_thread(self.embedder.encode, texts)

    async def encode_distinct(self, texts: list[str], *, chunk: int = 512,
                              progress: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
        """Each distinct text's vector. Identical texts (pasted errors, bot-like repeats) are encoded once; by
        length, so that each chunk holds texts of similar lengths and its batches carry little padding (the
        embedder sorts within a chunk; chunks in time order encoded 1.3x slower on racket-2017)."""
        unique = sorted(dict.fromkeys(texts), key=len)
        encoded: list[np.ndarray] = []
        metrics.EMBED_QUEUE.inc(len(unique))
        # Progress counts texts by what they cost to encode, so that the time left is not read off the short ones,
        # which come first (an import said "about 50 s left" at 17% and took 128 s); the counts still add up.
        cost = np.cumsum([encode_cost(t) for t in unique])
        done = cost * (len(unique) / cost[-1]) if len(unique) else cost
        shown = 0
        try:
            for start in range(0, len(unique), chunk):
                batch = unique[start : start + chunk]
                encoded.append(await self.encode(batch))
                metrics.EMBED_BATCH.observe(len(batch))
                metrics.EMBED_QUEUE.dec(len(batch))
                if progress:
                    reached = round(done[start + len(batch) - 1])  # the last batch reaches len(unique)
                    progress(reached - shown)
                    shown = reached
        finally:  # a failed batch leaves the queue gauge where it was before this call
            metrics.EMBED_QUEUE.dec(len(unique) - sum(len(e) for e in encoded))
        return dict(zip(unique, np.concatenate(encoded), strict=True)) if encoded else {}

    async def encode_one(self, text: str) -> np.ndarray:
        one = getattr(self.embedder, "encode_one", None)
        if one is None:
            return (await self.encode([text]))[0]
        return await asyncio.to_thread(one, text)

    async def _ask_context(self, community_id: int, now: datetime | None, channel: str | None = None) -> _AskContext:
        """What an ask needs from the database besides the corpus, read on one connection: who is never
        suggested (bots, opted-out or unavailable members, members at their weekly intro cap), who has left
        (deactivated accounts: suggested by a replay only), declared skills, endorsements and the questions of
        intros members accepted (as skills of source "intro"), topics members turned down as "not my area", the
        private channels, and the channel asked in (`channel`, its platform id)."""
        since = (now or datetime.now(UTC)) - INTRO_CAP_WINDOW
        no_text, no_int = cast(null(), Text), cast(null(), Integer)
        unseen = self.changes.unseen(community_id)

        def part(kind: str, *columns):  # noqa: ANN002, ANN202  (kind, user, text, text, int, int)
            return select(literal_column(f"'{kind}'").label("kind"), Member.external_id, *columns)

        # One statement, one round trip: six reads on every ask.
        query = union_all(
            part("x", no_text, no_text, no_int, no_int).where(
                Member.community_id == community_id,
                Member.is_bot.is_(True) | Member.profiling_consent.is_(False) | Member.available_for_intros.is_(False),
            ),
            part("g", no_text, no_text, no_int, no_int).where(Member.community_id == community_id,
                                                              Member.deactivated.is_(True)),
            part("a", no_text, no_text, Member.weekly_intro_cap, func.count(Intro.id))
            .join(Intro, Intro.expert_id == Member.id)
            .where(Intro.community_id == community_id, Intro.created_at >= since)
            .group_by(Member.id, Member.external_id, Member.weekly_intro_cap),
            part("s", cast(Skill.topic, Text), cast(Skill.source, Text), Skill.endorsed_by_id, no_int)
            .join(Skill, Skill.member_id == Member.id).where(Skill.community_id == community_id),
            part("s", cast(func.substr(Question.text, 1, INTRO_TOPIC_CHARS), Text),
                 cast(literal_column("'intro'"), Text), no_int, no_int)
            .join(Intro, Intro.expert_id == Member.id).join(Question, Question.id == Intro.question_id)
            .where(Intro.community_id == community_id, Intro.state == IntroState.ACCEPTED.value,
                   Intro.created_at >= (now or datetime.now(UTC)) - INTRO_EVIDENCE_WINDOW),
            part("d", NotMyArea.topic, no_text, no_int, no_int)
            .join(NotMyArea, NotMyArea.member_id == Member.id).where(NotMyArea.community_id == community_id),
            select(literal_column("'p'"), cast(Channel.id, Text), no_text, no_text, no_int, no_int)
            .where(Channel.community_id == community_id, Channel.is_private.is_(True)),
            *([] if not channel else [
                select(literal_column("'w'"), no_text, no_text, no_text, Channel.id, no_int)
                .where(Channel.community_id == community_id, Channel.external_id == channel)]),
            *([] if unseen is None else [
                select(literal_column("'c'"), no_text, no_text, no_text, CorpusChange.id, CorpusChange.message_id)
                .where(unseen)]),
        )
        async with self.db.sessions() as session:
            rows = (await session.execute(query)).all()
        excluded = {user for kind, user, *_ in rows if kind == "x"}
        asked = [(user, cap, n) for kind, user, _, _, cap, n in rows if kind == "a"]
        skills = [(user, topic, source, by) for kind, user, topic, source, by, _ in rows if kind == "s"]
        declined = [(user, topic) for kind, user, topic, _, _, _ in rows if kind == "d"]
        private = {int(channel) for kind, channel, *_ in rows if kind == "p"}
        excluded.update(user for user, cap, n in asked if n >= (cap if cap is not None else self.weekly_intro_cap))
        missing = sorted({t for _, t, _, _ in skills if t not in self._skill_vectors}
                         | {t for _, t in declined if t not in self._skill_vectors})
        if missing:
            for topic, vec in zip(missing, await self.encode(missing), strict=True):
                self._skill_vectors[topic] = vec
        changes = None if unseen is None else [(cid, mid) for kind, _, _, _, cid, mid in rows if kind == "c"]
        asked_in = next((channel_id for kind, _, _, _, channel_id, _ in rows if kind == "w"), None)
        departed = {user for kind, user, *_ in rows if kind == "g"}
        return _AskContext(excluded, skills, declined, private, changes, asked_in, departed)

    def _skill_scores(self, community_id: int, skills: list[tuple[str, str, str, int | None]], query_vec: np.ndarray,
                      query: str, lexical: BM25Index) -> tuple[dict[str, float], dict[str, set[str]]]:
        """Per member, how clearly their skills claim the question (0-1), and the sources that matched.

        A skill claims a question by meaning: as far as the question is nearer to it than the community's usual
        talk is (the 90th percentile of its cosine to a sample of messages, from SKILL_MIN_SIM to SKILL_MAX_FLOOR):
        "racket" is near every question of a Racket community (0.50-0.66) and near a tenth of its messages as much
        (0.43).
        Or by its words, for somewhat less: a broad skill such as "postgres" is far from a whole question on
        Postgres by cosine (0.39), but its words are there; words common here or meaning nothing near the question
        count for little. The match is squared, so that a close one counts and a loose one hardly does.
        A member's best claim counts, not their sum: a declared skill fully (of a member declaring more than
        DECLARED_FULL topics, that share of it); an endorsement half, or a quarter from a single endorser; an intro
        they accepted on a question like it, half."""
        sources: dict[str, set[str]] = {}
        claims: dict[tuple[str, str, str], dict[int | None, float]] = {}
        declared: dict[str, set[str]] = {}
        for user, topic, source, _ in skills:
            if source == "declared":
                declared.setdefault(user, set()).add(topic.casefold())
        words = {_singular(w) for w in tokens(clean(query))}
        for user, topic, source, endorser in skills:
            profile = self._skill_profile(community_id, topic, source != "intro", lexical)
            sim = float(self._skill_vectors[topic] @ query_vec)
            match = min(max((sim - profile.floor) / SKILL_MATCH_WIDTH, 0.0), 1.0)
            if profile.rare:  # its words in the question, each as far as it is rare here, if the meaning is not far off
                near = min(max((sim - SKILL_WORDS_MIN_SIM) / (SKILL_WORDS_FULL_SIM - SKILL_WORDS_MIN_SIM), 0.0), 1.0)
                found = sum(r for w, r in profile.rare.items() if _singular(w) in words)
                match = max(match, SKILL_WORDS_WEIGHT * found / len(profile.rare) * near)
            match = match**2  # a close match counts, a loose one hardly does
            if match >= SKILL_MIN_CLAIM:
                # One claim per member, topic (in any case) and source; an endorsement counts once per endorser.
                per = claims.setdefault((user, topic.casefold(), source), {})
                per[endorser] = max(per.get(endorser, 0.0), match)
        out: dict[str, float] = {}
        for (user, _, source), by in claims.items():
            best = max(by.values())
            if source == "declared":
                claim = best * min(1.0, DECLARED_FULL / len(declared[user]))
            elif source == "endorsed":
                claim = 0.5 * best * min(len(by), 2) / 2
            else:
                claim = 0.5 * best
            out[user] = max(out.get(user, 0.0), claim)
            sources.setdefault(user, set()).add(source)
        return out, sources

    def _skill_profile(self, community_id: int, topic: str, by_words: bool, lexical: BM25Index) -> _SkillProfile:
        """What a skill is against this community's talk, once per loaded corpus (not on every ask): the cosine a
        question must pass to be nearer to it than its usual talk, and how rare each of its words is here (none for
        an intro's topic, which is a question)."""
        profiles = self._skill_profiles.setdefault(community_id, {})
        profile = profiles.get((topic, by_words))
        if profile is None:
            sample = self._typical.get(community_id)
            near = sample @ self._skill_vectors[topic] if sample is not None and len(sample) else np.zeros(1)
            named = sorted(set(tokens(clean(topic)))) if by_words else []
            rare = np.clip((lexical.idf(named) - SKILL_COMMON_IDF) / (SKILL_RARE_IDF - SKILL_COMMON_IDF), 0.0, 1.0)
            profile = profiles[(topic, by_words)] = _SkillProfile(
                min(max(SKILL_MIN_SIM, float(np.quantile(near, 0.9))), SKILL_MAX_FLOOR),
                dict(zip(named, rare.tolist(), strict=True)))
        return profile

    async def excluded_members(self, community_id: int, now: datetime | None = None) -> set[str]:
        """Never suggested: bots, opted-out, unavailable or deactivated members, and members at their weekly
        intro cap."""
        ctx = await self._ask_context(community_id, now)
        return ctx.excluded | ctx.departed

    def _penalties(self, declined: list[tuple[str, str]], query_vec: np.ndarray) -> dict[str, float]:
        sims = {t: float(self._skill_vectors[t] @ query_vec) for _, t in declined}
        out: dict[str, float] = {}
        for user, topic in declined:
            sim = sims[topic]
            if sim < NOT_MY_AREA_MIN_SIM:
                continue
            penalty = 1.0 if sim >= NOT_MY_AREA_DROP_SIM else (sim - NOT_MY_AREA_MIN_SIM) / (
                NOT_MY_AREA_DROP_SIM - NOT_MY_AREA_MIN_SIM)
            out[user] = max(out.get(user, 0.0), penalty)
        return out

    async def weights(self, community_id: int, *, timed: bool = False) -> np.ndarray | None:
        """The community's fitted ranking model for asks whose time is known (`timed`) or not (cached; fit()
        and forget_cache() refresh it). None until fitted; a model fitted on other features is ignored later."""
        if community_id not in self._weights:
            async with self.db.sessions() as session:
                community = await session.get(Community, community_id)
            fitted = (community.settings or {}).get("ranking") if community else None
            self._weights[community_id] = fitted or None
        fitted = self._weights[community_id]
        if not fitted or "untimed" not in fitted:
            return None
        return np.asarray(fitted["weights" if timed else "untimed"])

    async def fit(self, community_id: int) -> dict | None:
        """Fit ranking weights on this community's answered threads and store them (with the size of the
        history they were fitted on, so refit_grown knows when to fit again)."""
        # A copy live messages do not change: the examples are built in a worker thread while the event loop goes on
        # storing messages (a message appended meanwhile failed the fit, so an active community never refitted).
        corpus = (await self.corpus(community_id)).frozen()
        vectors, has = await self._aligned_vectors(community_id, corpus)
        live, replay = await asyncio.to_thread(build_examples, corpus, vectors, has)
        result = await asyncio.to_thread(fit_weights, live, replay)
        async with self.db.sessions.begin() as session:
            messages = await session.scalar(select(func.count()).select_from(Message)
                                            .where(Message.community_id == community_id))
            fitted = {"messages": messages, "at": datetime.now(UTC).isoformat(timespec="seconds")}
            community = await session.get(Community, community_id)
            settings = dict(community.settings or {})
            if result is not None:
                settings["ranking"] = result.as_dict()
            elif _fitted_on_other_features(settings):  # unusable (rank_experts ignores it): not tried every period
                settings.pop("ranking", None)
            community.settings = {**settings, "ranking_fitted": fitted}
        if result is None:
            log.info("community %d: %d answered threads, too few to fit ranking weights; using defaults",
                     community_id, len(replay))
            return None
        self._weights.pop(community_id, None)
        return result.as_dict()

    async def refit_grown(self, *, now: datetime | None = None, communities: Select | None = None) -> list[int]:
        """Fit again every community whose history grew by REFIT_GROWTH since its last fit, or that has
        MIN_FIT_MESSAGES and was never fitted: a community that only ever ran live learns its own weights
        (who is around included), and an imported one keeps up with how it changes. Returns their ids.

        Every replica runs this job on its own clock. Each refit is claimed in the database first (keyed by
        the last fit's size and the REFIT_SECONDS period), so one replica fits and the others take its
        weights; a replica that died while fitting leaves the refit to the next period. A fit that fails is logged
        and its claim released (another replica, or this one's next run, tries again); the other communities are
        fitted all the same. `communities`: only these (their ids, a subquery; the running bot's, bot.serving)."""
        period = int((now or datetime.now(UTC)).timestamp() // REFIT_SECONDS)
        only = () if communities is None else (Message.community_id.in_(communities),)
        async with self.db.sessions() as session:
            settings = dict((await session.execute(select(Community.id, Community.settings))).all())
            counts = dict((await session.execute(
                select(Message.community_id, func.count()).where(*only).group_by(Message.community_id))).all())
        for community_id, stored in settings.items():  # fitted meanwhile by another replica: use its weights
            if community_id in self._weights and self._weights[community_id] != ((stored or {}).get("ranking") or None):
                del self._weights[community_id]
        done = []
        for community_id, n in sorted(counts.items()):
            last = ((settings.get(community_id) or {}).get("ranking_fitted") or {}).get("messages")
            # A model fitted on the features of an earlier release is ignored by rank_experts: fitted again now.
            stale = _fitted_on_other_features(settings.get(community_id) or {})
            if n >= MIN_FIT_MESSAGES and (last is None or stale or n >= last * (1 + REFIT_GROWTH)):
                claim = f"ranking-refit:{last}:{period}"
                async with self.db.sessions.begin() as session:
                    if not await claim_event(session, community_id, claim):
                        continue
                log.info("community %d: %d messages (%s at the last fit): fitting ranking weights again",
                         community_id, n, last if last is not None else "none")
                try:
                    await self.fit(community_id)
                except Exception as exc:  # noqa: BLE001 - one community's failure must not stop the others' refits
                    log.error("community %d: fitting the ranking failed (%s); it keeps its weights and is tried "
                              "again later", community_id, briefly(exc))
                    async with self.db.sessions.begin() as session:
                        await release_event(session, community_id, claim)
                    continue
                done.append(community_id)
        return done

    async def _aligned_vectors(self, community_id: int, corpus: Corpus) -> tuple[np.ndarray, np.ndarray]:
        dim = getattr(self.embedder, "dim", 384)
        if isinstance(self.vectors, NumpyVectorIndex) and community_id in self.vectors._blocks:
            # Which block row is each corpus row's, vectorised; the copy (294 MB at 200,000 messages) in a worker
            # thread. A loop over the rows on the event loop stalled it for 2.3 s (audit 9).
            block = self.vectors._blocks[community_id]
            source = np.full(len(corpus), -1, dtype=np.int64)
            if corpus.row_of and block.n:
                mids = np.fromiter(corpus.row_of.keys(), dtype=np.int64, count=len(corpus.row_of))
                rows = np.fromiter(corpus.row_of.values(), dtype=np.int64, count=len(corpus.row_of))
                by_id = np.argsort(mids)
                mids, rows = mids[by_id], rows[by_id]
                ids = block.ids[: block.n]
                at = np.minimum(np.searchsorted(mids, ids), len(mids) - 1)
                found = mids[at] == ids  # retired rows (no message's any more) match nothing
                source[rows[at[found]]] = np.flatnonzero(found)
            has = source >= 0
            async with self.vectors.rows_fixed(community_id):  # no re-partitioning moves the rows meanwhile
                vectors = await asyncio.to_thread(_gather_rows, block.matrix, source, has, dim)
            return vectors, has
        vectors = np.zeros((len(corpus), dim), dtype=np.float32)
        has = np.zeros(len(corpus), dtype=bool)
        async with self.db.sessions() as session:
            result = await session.stream(
                select(MessageVector.message_id, MessageVector.embedding)
                .where(MessageVector.community_id == community_id).execution_options(yield_per=20000)
            )
            async for part in result.partitions():
                for mid, emb in part:
                    row = corpus.row_of.get(int(mid))
                    if row is not None:
                        vectors[row] = emb
                        has[row] = True
        return vectors, has

    async def rank(
        self, community_id: int, text: str, *, asker: str | None = None, top: int = 5,
        now: datetime | None = None, query_vector: np.ndarray | None = None,
        skip: set[str] | frozenset[str] = frozenset(), replay: bool = False, channel: str | None = None,
        shown_of: set[str] | None = None,
    ) -> list[Suggestion]:
        """The `top` members most able to answer `text`, best first (see _rank). A live ask's quotes and links are
        of messages still on the platform, where it can tell (gone_check): those of the members in `shown_of`, where
        only theirs are shown (None: every member suggested)."""
        shown: list[MessageRecord] = []
        found = await self._rank(community_id, text, asker=asker, top=top, now=now, query_vector=query_vector,
                                 skip=skip, replay=replay, channel=channel, shown=shown, shown_of=shown_of)
        for _ in range(GONE_RANKINGS):
            if replay or self.gone_check is None or not shown or not await self.gone_check(community_id, shown):
                break
            shown = []
            found = await self._rank(community_id, text, asker=asker, top=top, now=now, query_vector=query_vector,
                                     skip=skip, replay=replay, channel=channel, shown=shown, shown_of=shown_of)
        return found

    async def _rank(
        self, community_id: int, text: str, *, asker: str | None = None, top: int = 5,
        now: datetime | None = None, query_vector: np.ndarray | None = None,
        skip: set[str] | frozenset[str] = frozenset(), replay: bool = False, channel: str | None = None,
        shown: list[MessageRecord] | None = None, shown_of: set[str] | None = None,
    ) -> list[Suggestion]:
        """The `top` members most able to answer `text`, best first; `skip` are never suggested. `now` is when
        the question is asked (live asks): who is usually around at that hour, and who is in the conversation
        right now, count then. `replay`: the question was asked at `now`, in the past: only what was said
        before it counts (a live ask knows everything stored, even a message stamped a moment later), and members
        whose accounts were deactivated since are suggested as the members they were then.
        `channel`: the platform's id of the channel it is asked in, whose regulars it favours (see
        matching.ranking.question_channels)."""
        qtext = clean(text)
        # The question is encoded in a worker thread while the database is read in the driver's thread and
        # BM25 runs here: only the vector search waits for the encode. They still contend for the GIL, but
        # overlapped the ask measured 1.65-1.73x a bare encode against 1.82x one after another.
        encoding = asyncio.ensure_future(self.encode_one(qtext)) if query_vector is None else None
        try:
            corpus = await self.corpus(community_id, follow=False)  # changes elsewhere: read with the context
        except BaseException:
            if encoding is not None:  # its failure too (a model_path holding no model) is this one: not logged apart
                encoding.add_done_callback(lambda task: task.cancelled() or task.exception())
            raise
        if len(corpus) == 0:
            if encoding is not None:
                await encoding
            return []
        context = asyncio.ensure_future(self._ask_context(community_id, now, channel))
        a = corpus.arrays
        latest = float(a["ts"].max())
        before = now.timestamp() if replay and now and now.timestamp() <= latest else None
        known = a["alive"] if before is None else a["alive"] & (a["ts"] < before)
        try:
            words = tokens(qtext)
            lexical = lexical_hits(corpus.lexical.scores(words), known, TOP_K)
            if encoding is not None:
                query_vector = await encoding
            # A message stored during the awaits above is found by the search but not in `known` (the corpus as it
            # was): it counts from the next ask. Indexing `known` with its row failed the ask. A replay (`before`)
            # searches further until it has the TOP_K nearest messages said before it, as the bot had then: the
            # nearest of the whole history kept 82 of 100 on average (63 at worst) once the later ones were dropped.
            k = TOP_K
            while True:
                pairs = await self.vectors.search(community_id, query_vector, k)
                rows = ((corpus.row_of.get(mid), s) for mid, s in pairs)
                found = [(row, s) for row, s in rows if row is not None and row < len(known) and known[row]]
                if before is None or len(found) >= TOP_K or len(pairs) < k or k >= REPLAY_SEARCH_MAX:
                    break
                k *= 4
            dense = dense_weights(sorted(found, key=lambda pair: -pair[1])[:TOP_K])  # pgvector's: nearly in order
            weights = await self.weights(community_id, timed=now is not None)
        finally:
            ctx = await context
            if encoding is not None and not encoding.done():
                await asyncio.wait([encoding])
        changed = self.changes.take(community_id, ctx.changes) if ctx.changes is not None else []
        if changed is None or changed:  # another replica stored, edited or deleted messages: follow, rank again
            async with self._locks.setdefault(community_id, asyncio.Lock()):
                await self._follow_changes(community_id, changed)
            return await self._rank(community_id, text, asker=asker, top=top, now=now, query_vector=query_vector,
                                    skip=skip, replay=replay, channel=channel, shown=shown, shown_of=shown_of)
        penalties = self._penalties(ctx.declined, query_vector) if ctx.declined else {}
        skill, skill_sources = ({}, {}) if not ctx.skills else self._skill_scores(
            community_id, ctx.skills, query_vector, text, corpus.lexical)
        ref_time = min(now.timestamp(), latest) if now else latest
        # A replay asks as the community was then: a member whose account was deactivated since (an export marks
        # them "deleted") answered then, and the baselines of an evaluation count them.
        departed = set() if replay else ctx.departed
        excluded = ctx.excluded | departed | set(skip) | {user for user, p in penalties.items() if p >= 1.0}
        hits = Hits(dense, lexical, await self._near(community_id, corpus, dense, lexical, query_vector),
                    everyday_only(corpus, words, set(dense) | set(lexical)))
        ranked = rank_experts(corpus, hits, asker=asker, excluded=excluded, ref_time=ref_time,
                              weights=weights, skill=skill, top=top + len(penalties),
                              asked_at=now.timestamp() if now else None, before=before, asked_in=ctx.asked_in)
        if penalties:
            for r in ranked:
                r.score *= 1.0 - penalties.get(corpus.members[r.member], 0.0)
            ranked = sorted(ranked, key=lambda r: -r.score)
        ranked = ranked[:top]
        # The members mentioned in what may be quoted are named too: "<@U1>'s code" read "'s code".
        quoted = [corpus.records[row].text for r in ranked for row in r.evidence]
        mentioned = sorted({user for text in quoted for user in mentioned_users(text)})
        names = await self._names(community_id, [corpus.members[r.member] for r in ranked] + mentioned)
        wall = (now or datetime.now(UTC)).timestamp()
        found = [self._suggestion(corpus, r, names, skill_sources, wall, ctx.private,
                                  shown if shown_of is None or corpus.members[r.member] in shown_of else None)
                 for r in ranked]
        # Said of a member a replay suggests after they left: a reader of the list can reach them no longer.
        return [replace(f, why=[*f.why, "has left the workspace since"], permalinks=[*f.permalinks, None])
                if f.user in ctx.departed else f for f in found]

    async def _near(self, community_id: int, corpus: Corpus, dense: dict[int, float], lexical: dict[int, float],
                    query_vector: np.ndarray) -> dict[int, float]:
        """How near in meaning (cosine, by their stored vectors) the hits found only by their words are: what is
        quoted, and which threads are called similar, is held to it (Hits.near). A row with no vector yet is not."""
        ids = [corpus.records[row].id for row in lexical if row not in dense]
        near = await self.vectors.similarities(community_id, query_vector, ids)
        return {row: near[mid] for mid in near if (row := corpus.row_of.get(mid)) is not None}

    async def display_names(self, community_id: int, users: list[str]) -> dict[str, str]:
        """Members' display names by platform id, for what is shown (a question's mentions echoed)."""
        return await self._names(community_id, users) if users else {}

    async def readable(self, community_id: int, text: str) -> str:
        """A question as people read it (matching.text.shown): a member it names is "@name", their display name.
        "who knows what <@U1> meant by linklets?" was echoed "what meant by linklets"."""
        return shown(text, await self.display_names(community_id, mentioned_users(text)))

    async def _names(self, community_id: int, users: list[str]) -> dict[str, str]:
        """Display names, remembered for NAMES_TTL seconds (a rename shows up within that time)."""
        cached = self._names_cache.setdefault(community_id, {})
        clock = time.monotonic()
        missing = [u for u in users if u not in cached or clock - cached[u][1] > NAMES_TTL]
        if missing:
            async with self.db.sessions() as session:
                rows = await session.execute(select(Member.external_id, Member.name).where(
                    Member.community_id == community_id, Member.external_id.in_(missing)))
                cached.update((user, (name, clock)) for user, name in rows.all())
        return {u: cached[u][0] for u in users if u in cached}

    def _suggestion(self, corpus: Corpus, r: Ranked, names: dict[str, str], skill_sources: dict[str, set[str]],
                    now: float, private: set[int] = frozenset(), shown: list[MessageRecord] | None = None
                    ) -> Suggestion:
        """`shown` is given the messages quoted or linked."""
        user = corpus.members[r.member]
        used: list[int] = []
        why: list[str] = []
        links: list[str | None] = []
        linked = None  # the reply the similar threads' line links
        if r.threads_answered:
            # "the latest" of one thread read as if there were more ("answered 1 similar thread, the latest …").
            when = (f"{', the latest' if r.threads_answered > 1 else ','} {_when(r.latest, now)}" if r.latest
                    else "")
            why.append(f"answered {_count(r.threads_answered, 'similar thread', 'similar threads')}{when}")
            # A link to their reply in the latest of them the asker may read: the count alone could not be checked
            # (user walk-through).
            linked = next((row for row in r.thread_rows if corpus.records[row].channel_id not in private), None)
            links.append(corpus.records[linked].permalink if linked is not None else None)
            used += [linked] if linked is not None else []
        for source, reason in SKILL_REASONS.items():
            if source in skill_sources.get(user, ()):
                why.append(reason)
                links.append(None)
        quoted: set[str] = set()
        named: set[int] = set()  # the channels the quotes name
        for row in r.evidence:
            if len(quoted) == 3:
                break
            rec = corpus.records[row]
            day = datetime.fromtimestamp(rec.ts, UTC).date().isoformat()
            if rec.channel_id in private:  # whoever asks may not be in it: its name, words and link stay there
                line, link = f"wrote about it in a private channel ({day})", None
            else:
                line, link = f"“{_snippet(rec.text, names=names)}” (#{rec.channel}, {day})", rec.permalink
            if line in quoted:  # the same words posted twice are said once
                continue
            quoted.add(line)
            named.add(rec.channel_id)
            if linked is not None and row == linked:  # quoted with its own link: not given twice
                links[0] = None
            why.append(line)
            links.append(link)
            used.append(row)
        if shown is not None:
            shown += [corpus.records[row] for row in dict.fromkeys(used)]
        home = corpus.records[r.channel_row] if r.channel_row is not None else None
        if home is not None and home.channel_id not in private | named:  # a quote above names it already
            why.append(f"often in #{home.channel}, where this is talked about")
            links.append(None)
        topical = bool(why)
        if not why:
            answers = round(float(np.expm1(r.features[FEATURES.index("answers")])))
            messages = round(float(np.expm1(r.features[FEATURES.index("messages")])))
            started = round(float(np.expm1(r.features[FEATURES.index("started")])))
            if answers:  # "often" for one reply in a year told the asker of a regular who is not one
                often = "answers often here" if answers >= OFTEN_ANSWERS else "has answered others here"
                why.append(f"{often} ({_count(answers, 'reply', 'replies')} to others' threads)")
            elif started and _only_in_own_threads(corpus, r.member):  # "active here (2 messages)": their question
                why.append(f"asked here ({_count(started, 'question', 'questions')}), answered nothing yet")
            else:
                why.append(f"active here ({_count(messages, 'message', 'messages')})")
            links.append(None)
        if r.features[PRESENT] > 0:  # both zero unless the ask is live
            why.append(f"in the conversation in the last {PRESENT_HOURS:g} hours")
            links.append(None)
        elif r.features[AVAILABLE] >= AROUND:
            why.append("usually around at this time of day")
            links.append(None)
        # Unable to ping wherever it is shown: `ask --json` hands `why` to other tools, which may post it.
        return Suggestion(user=user, name=neutralise(names.get(user, user)), score=round(r.score, 4),
                          why=[neutralise(line) for line in why], permalinks=links, topical=topical)


def _only_in_own_threads(corpus: Corpus, member: int) -> bool:
    """Whether everything the member said is in threads they started: their questions and follow-ups."""
    a = corpus.arrays
    rows = rows_of(corpus, "author", np.array([member]))
    rows = rows[a["alive"][rows]]
    thread, roots = a["thread"][rows], a["thread_root_author"]
    return len(rows) > 0 and len(roots) > 0 and bool(((thread >= 0) & (roots[np.maximum(thread, 0)] == member)).all())


def _gather_rows(matrix: np.ndarray, source: np.ndarray, has: np.ndarray, dim: int) -> np.ndarray:
    """Rows `source` of `matrix` (zeros where `has` is False)."""
    if not len(matrix):
        return np.zeros((len(source), dim), dtype=np.float32)
    out = matrix[np.maximum(source, 0)]
    out[~has] = 0.0
    return out


def _resolve_links(links) -> tuple[dict[MessageKey, str], dict[MessageKey, str]]:  # noqa: ANN001
    """Who wrote each member's message, and which conversation each message is in, from (channel id, external id,
    author, is bot, thread, reply-to) rows."""
    return (authors_by_message((channel, ext, author) for channel, ext, author, bot, _, _ in links if not bot),
            conversations((channel, ext, thread, reply_to) for channel, ext, _, _, thread, reply_to in links
                          if thread or reply_to))


def _add_rows(corpus: Corpus, rows, reactions: dict[int, int], author_of: dict[MessageKey, str],  # noqa: ANN001
              roots: dict[MessageKey, str], openers: dict[MessageKey, str]) -> None:
    corpus.add(records_from_rows(rows, reactions, author_of, roots, openers))


def record_rows() -> Select:
    """The columns records_from_rows reads: one message with its author's id and its channel's name."""
    return (select(Message.id, Member.external_id, Message.created_at, Message.text, Channel.name,
                   Message.channel_id, Message.external_id, Message.thread_external_id,
                   Message.reply_to_external_id, Message.permalink, Channel.announcements)
            .join(Member, Member.id == Message.author_id).join(Channel, Channel.id == Message.channel_id))


def authors_by_message(rows) -> dict[MessageKey, str]:  # noqa: ANN001
    """(channel id, message external id) -> author external id, from rows of those three."""
    return {(channel_id, ext): author for channel_id, ext, author in rows}


MessageKey = tuple[int, str]  # (channel id, external id)


def conversations(messages: Iterable[tuple[int, str, str | None, str | None]],
                  known: dict[MessageKey, str] | None = None) -> dict[MessageKey, str]:
    """Message key -> the external id of the message that started its conversation, for the messages that
    start one and the replies outside threads, from (channel id, external id, thread, reply-to) of messages.

    A thread's root is the message its replies name: the live Slack adapter stores a message before anyone
    replies, so a root never names its thread itself. A reply outside threads (Discord's `reference`) joins
    the conversation of the message it answers, and the first message of such a chain starts it: so the
    ranking sees the question and who answered it first, as in a thread. `known`: conversations resolved
    earlier, where a chain may stop."""
    root = dict(known or {})
    reply_of: dict[MessageKey, str] = {}
    for channel, ext, thread, reply_to in messages:
        if thread:
            root.setdefault((channel, thread), thread)
        elif reply_to:
            reply_of[(channel, ext)] = reply_to
    for key in reply_of:
        path: dict[MessageKey, None] = {}
        at = key
        while at in reply_of and at not in root and at not in path:  # up the chain (a cycle stops it)
            path[at] = None
            at = (at[0], reply_of[at])
        start = root.setdefault(at, at[1])
        root.setdefault((at[0], start), start)
        for k in path:
            root[k] = start
    return root


def opens_with_first_message(community_id: int, channel_id, thread):  # noqa: ANN001, ANN201
    """SQL: the thread (channel id, thread key columns) is known to start with no opening message of its own, so
    its first member's message asks: it is known as one (OpenerlessThread: started on its own, private, a forum
    post, started from a bot's live message) or its key names a stored bot's message (a bot's post is no question),
    and its key names no member's message stored, nor one deleted (DeletedMessage: the thread started from a
    message that is gone, and its first reply answered it, as where the key names a message never stored), and
    the message that asked in it is not gone (OpenerlessThread.opener_gone, see mark_openers_gone)."""
    known, gone, starter, author, deleted = (aliased(OpenerlessThread), aliased(OpenerlessThread), aliased(Message),
                                             aliased(Member), aliased(DeletedMessage))
    by_bot = (exists().where(starter.community_id == community_id, starter.channel_id == channel_id,
                             starter.external_id == thread, author.id == starter.author_id, author.is_bot.is_(True)))
    by_member = (exists().where(starter.community_id == community_id, starter.channel_id == channel_id,
                                starter.external_id == thread, author.id == starter.author_id,
                                author.is_bot.is_(False)))
    return and_(
        or_(exists().where(known.community_id == community_id, known.channel_id == channel_id,
                           known.thread_external_id == thread, known.opener_gone.is_(False)), by_bot),
        ~exists().where(gone.community_id == community_id, gone.channel_id == channel_id,
                        gone.thread_external_id == thread, gone.opener_gone.is_(True)),
        ~by_member,
        ~exists().where(deleted.community_id == community_id, deleted.channel_id == channel_id,
                        deleted.external_id == thread))


async def thread_openers(session: AsyncSession, community_id: int,
                         threads: set[MessageKey] | None = None) -> dict[MessageKey, str]:
    """(channel id, thread key) -> the external id of the message that opens the thread, for the threads (all,
    or these) known to start with no opening message of their own (opens_with_first_message): their first
    message by time that is not a bot's. A thread started from a member's message that is gone has none. For
    platforms in OPENERLESS_THREADS only."""
    if threads is not None and not threads:
        return {}
    query = (
        select(Message.channel_id, Message.thread_external_id, Message.external_id)
        .join(Member, Member.id == Message.author_id)
        .where(Message.community_id == community_id, Message.thread_external_id.is_not(None),
               Member.is_bot.is_(False),
               opens_with_first_message(community_id, Message.channel_id, Message.thread_external_id))
        .order_by(Message.created_at, Message.id))
    if threads is not None:
        query = query.where(Message.channel_id.in_({c for c, _ in threads}),
                            Message.thread_external_id.in_({t for _, t in threads}))
    openers: dict[MessageKey, str] = {}
    for channel_id, thread, ext in (await session.execute(query)).all():
        if threads is None or (channel_id, thread) in threads:
            openers.setdefault((channel_id, thread), ext)
    return openers


async def mark_openers_gone(session: AsyncSession, community_id: int, *,
                            stored: Iterable[tuple[int, str | None, str]] = (),
                            withheld: Iterable[tuple[int, str | None, datetime]] = ()) -> list[int]:
    """Threads with no opening message (thread_openers) whose asking message is gone: one of the `stored` messages
    ((channel id, thread key, external id), about to be deleted), or one of the `withheld` ones ((channel id, thread
    key, time): a member's message not stored, its author opted out) that came before any stored member's message
    there. Such a thread has no question from now on (OpenerlessThread.opener_gone), as a thread started from a
    member's message that is gone has none: its next message answered it. Before, that answer was taken as the
    question, credited as asking, and listed in the digest as waiting. Returns the ids of the messages stored in
    those threads, to be read again."""
    wanted: dict[MessageKey, tuple[set[str], list[datetime]]] = {}
    for channel_id, thread, ext in stored:
        if thread:
            wanted.setdefault((channel_id, thread), (set(), []))[0].add(ext)
    for channel_id, thread, when in withheld:
        if thread:
            wanted.setdefault((channel_id, thread), (set(), []))[1].append(when)
    keys = list(wanted)
    ids: list[int] = []
    for start in range(0, len(keys), 500):  # a forgotten member may have written in thousands of threads
        ids += await _mark_openers_gone(session, community_id, {k: wanted[k] for k in keys[start : start + 500]})
    return ids


async def _mark_openers_gone(session: AsyncSession, community_id: int,
                             wanted: dict[MessageKey, tuple[set[str], list[datetime]]]) -> list[int]:
    openers = await thread_openers(session, community_id, set(wanted))
    asked_at: dict[MessageKey, datetime] = {}
    if openers:
        when = dict(((c, e), t) for c, e, t in (await session.execute(
            select(Message.channel_id, Message.external_id, Message.created_at).where(
                Message.community_id == community_id, Message.channel_id.in_({c for c, _ in openers}),
                Message.external_id.in_(set(openers.values()))))).all())
        asked_at = {key: when[(key[0], ext)] for key, ext in openers.items() if (key[0], ext) in when}
    unopened = {key for key, (_, times) in wanted.items() if times and key not in openers}
    if unopened:  # no member's message asks there yet: a withheld one would have, if the thread has no opener
        known = set((await session.execute(
            select(OpenerlessThread.channel_id, OpenerlessThread.thread_external_id).where(
                OpenerlessThread.community_id == community_id,
                OpenerlessThread.channel_id.in_({c for c, _ in unopened}),
                OpenerlessThread.thread_external_id.in_({t for _, t in unopened}),
                OpenerlessThread.opener_gone.is_(False)))).all())
        starter, author = aliased(Message), aliased(Member)
        by_bot = set((await session.execute(
            select(starter.channel_id, starter.external_id).join(author, author.id == starter.author_id).where(
                starter.community_id == community_id, starter.channel_id.in_({c for c, _ in unopened}),
                starter.external_id.in_({t for _, t in unopened}), author.is_bot.is_(True)))).all())
        unopened &= known | by_bot
    gone = sorted(unopened | {key for key, ext in openers.items() if ext in wanted[key][0]
                              or (key in asked_at and any(t < asked_at[key] for t in wanted[key][1]))})
    ids: list[int] = []
    for channel_id, thread in gone:
        await session.execute(insert_ignore(session, OpenerlessThread).values(
            community_id=community_id, channel_id=channel_id, thread_external_id=thread, opener_gone=True))
        await session.execute(update(OpenerlessThread).where(
            OpenerlessThread.community_id == community_id, OpenerlessThread.channel_id == channel_id,
            OpenerlessThread.thread_external_id == thread).values(opener_gone=True))
        ids += (await session.scalars(select(Message.id).where(
            Message.community_id == community_id, Message.channel_id == channel_id,
            Message.thread_external_id == thread))).all()
    return ids


def records_from_rows(rows, reactions: dict[int, int],  # noqa: ANN001
                      author_of: dict[MessageKey, str] | None = None,
                      roots: dict[MessageKey, str] | None = None,
                      openers: dict[MessageKey, str] | None = None) -> list[MessageRecord]:
    """MessageRecords from (id, author, time, text, channel name, channel id, external id, thread,
    reply-to, permalink, announcement channel) rows, resolving each thread's root author and each reply's
    target (among the rows, or in author_of when given). `roots` (see conversations) puts the roots of
    threads and the messages of reply chains in their conversation; by default they are found among the rows.
    `openers` (see thread_openers): the message that asks in a thread whose key names no stored message; none
    by default. In an announcement channel nothing asks and nothing answers (an announcement is no question:
    a member asking about it in its thread was credited as answering it)."""
    if author_of is None:
        author_of = authors_by_message((r[5], r[6], r[1]) for r in rows)
    if roots is None:
        roots = conversations((r[5], r[6], r[7], r[8]) for r in rows)
    out = []
    for mid, author, created, text, channel, channel_id, ext, thread_ext, reply_to, permalink, news in rows:
        opener = (openers or {}).get((channel_id, thread_ext)) if thread_ext else None
        parent = author_of.get((channel_id, opener or thread_ext)) if thread_ext else None
        if reply_to and parent is None:
            parent = author_of.get((channel_id, reply_to))
        start = thread_ext or roots.get((channel_id, ext))
        is_root = start == ext or (opener is not None and opener == ext)
        if news:
            is_root, parent = False, None
        out.append(MessageRecord(id=mid, author=author, ts=created.timestamp(), text=text, channel=channel,
                                 thread=thread_key(channel_id, start) if start else None, is_root=is_root,
                                 parent_author=None if is_root else parent, reactions=reactions.get(mid, 0),
                                 permalink=permalink, channel_id=channel_id))
    return out
