"""`connective eval`: how well who-knows would have served a community, on its own history.

Time split: the first 70% of messages (by time) are the history; every later thread whose root is
by a member and got a reply from someone else is a question, and the first other member who
replied is the answer. The ranking is fitted on the history, and compared with baselines computed on
the same messages: the most active members, the top answerers, the top answerers at the hour of the
question (±1 h), and BM25 or sentence-embedding similarity over messages (Balog's document model), as the
shared eval tool computes them.

Two protocols:
- replay (default): the history stays frozen at the cut. connective is scored twice: as a replay (the question
  alone, as the shared eval tool asks it), and knowing when and where (the channel) it was asked, as a live
  question is ranked (who is usually around then, who talks in that channel).
- live: as the running bot meets the questions. The later messages are followed in time order, as the bot
  ingests them, and each question is asked at its time and in its channel, knowing everything said before it;
  the baselines count the same messages.
"""
from __future__ import annotations

import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import delete, select

from bot.db.models import Channel, Member, Message, MessageVector
from bot.progress import ProgressFactory, no_progress
from bot.services.expertise import ExpertiseService
from matching.corpus import ROLE_ANSWER, ROLE_ASK, Corpus, MessageRecord
from matching.ranking import hour_of
from matching.text import clean, tokens

log = logging.getLogger(__name__)

KS = (1, 5, 10)


@dataclass(frozen=True)
class EvalQuestion:
    id: int
    text: str
    asker: str
    answerer: str
    ts: float
    channel: int = 0  # the channel it was asked in (database id)


@dataclass
class Scores:
    reciprocal: list[float] = field(default_factory=list)
    longtail: list[float] = field(default_factory=list)
    hits: Counter = field(default_factory=Counter)

    def add(self, ranked: list[str], q: EvalQuestion, regulars: set[str]) -> None:
        rank = ranked.index(q.answerer) + 1 if q.answerer in ranked[:10] else None
        rr = 1 / rank if rank else 0.0
        self.reciprocal.append(rr)
        if q.answerer not in regulars:
            self.longtail.append(rr)
        for k in KS:
            self.hits[k] += bool(rank and rank <= k)

    def row(self) -> dict[str, float]:
        n = max(len(self.reciprocal), 1)
        return {"n": len(self.reciprocal), "mrr": float(np.mean(self.reciprocal)) if self.reciprocal else 0.0,
                **{f"hit@{k}": self.hits[k] / n for k in KS},
                "longtail_mrr": float(np.mean(self.longtail)) if self.longtail else 0.0}


def questions_after(corpus: Corpus, cut: float) -> list[EvalQuestion]:
    """The threads started after `cut` that someone else answered: the question is what the asker wrote in it
    before the first answer (a question often runs over two or three messages), as the shared eval tool reads it."""
    a = corpus.arrays
    first: dict[int, tuple[float, str]] = {}
    for row in np.flatnonzero((a["role"] == ROLE_ANSWER) & (a["thread"] >= 0) & a["alive"]):
        thread, ts = int(a["thread"][row]), float(a["ts"][row])
        if thread not in first or ts < first[thread][0]:
            first[thread] = (ts, corpus.members[int(a["author"][row])])
    asked: dict[int, list[tuple[float, str]]] = {}
    roots = a["thread_root_author"]
    for row in np.flatnonzero((a["thread"] >= 0) & (a["ts"] >= cut) & a["alive"]):
        thread = int(a["thread"][row])
        if thread in first and roots[thread] == a["author"][row] and a["ts"][row] < first[thread][0]:
            asked.setdefault(thread, []).append((float(a["ts"][row]), corpus.records[row].text))
    out = []
    for row in np.flatnonzero((a["role"] == ROLE_ASK) & (a["ts"] >= cut) & a["alive"]):
        rec, thread = corpus.records[row], int(a["thread"][row])
        text = clean(" ".join(t for _, t in sorted(asked.get(thread, [])))) or clean(rec.text)
        if thread in first and len(text) >= 15:
            out.append(EvalQuestion(rec.id, text[:2000], rec.author, first[thread][1], rec.ts, rec.channel_id))
    return out


@dataclass
class Activity:
    """Who posts and who answers in a corpus, overall and by hour of the day: the activity baselines."""

    authors: np.ndarray  # external id per row
    counts: Counter
    answers: Counter
    answers_by_hour: list[Counter]

    @classmethod
    def of(cls, corpus: Corpus) -> Activity:
        a = corpus.arrays
        authors = np.array(corpus.members, dtype=object)[a["author"]] if len(a["author"]) else np.zeros(0, object)
        answered = a["alive"] & (a["role"] == ROLE_ANSWER)
        hours = (a["ts"] // 3600 % 24).astype(int)
        return cls(authors, Counter(authors[a["alive"]].tolist()), Counter(authors[answered].tolist()),
                   [Counter(authors[answered & (hours == h)].tolist()) for h in range(24)])


def answerers_at_hour(answers: Counter, by_hour, hour: int, asker: str) -> list[str]:  # noqa: ANN001
    """The "answers-at-hour" baseline: answerers by their answers within an hour of `hour` (UTC, by_hour
    maps an hour to a Counter), then by all their answers; the asker left out."""
    near = sum((by_hour[(hour + d) % 24] for d in (-1, 0, 1)), Counter())
    return [u for u in sorted(answers, key=lambda u: (-near[u], -answers[u])) if u != asker][:10]


def baselines(corpus: Corpus, q: EvalQuestion, activity: Activity,
              nearest: list[tuple[int, float]] = ()) -> dict[str, list[str]]:
    """The baselines' rankings of one question; `nearest` (message id, cosine) are the question's nearest messages,
    for the dense document model."""
    def top(counter: Counter) -> list[str]:
        return [u for u, _ in counter.most_common(12) if u != q.asker][:10]

    dense: Counter = Counter()
    for mid, sim in nearest:
        row = corpus.row_of.get(mid)
        if row is not None and sim > 0 and corpus.arrays["alive"][row] and activity.authors[row] != q.asker:
            dense[activity.authors[row]] += float(sim)

    scores = corpus.lexical.scores(tokens(q.text))
    best = np.argsort(-scores)[:100]
    doc: Counter = Counter()
    for i in best:
        if scores[i] > 0 and corpus.arrays["alive"][i] and activity.authors[i] != q.asker:
            doc[activity.authors[i]] += float(scores[i])
    return {"most-active": top(activity.counts), "top-answerers": top(activity.answers),
            "answers-at-hour": answerers_at_hour(activity.answers, activity.answers_by_hour, hour_of(q.ts), q.asker),
            "bm25-doc": top(doc), "dense-doc": top(dense)}


async def _later_vectors(expertise: ExpertiseService, ids: list[int]) -> dict[int, np.ndarray]:
    out: dict[int, np.ndarray] = {}
    async with expertise.db.sessions() as session:
        for i in range(0, len(ids), 5000):
            out.update((await session.execute(select(MessageVector.message_id, MessageVector.embedding)
                                              .where(MessageVector.message_id.in_(ids[i:i + 5000])))).all())
    return out


def sample_questions(questions: list[EvalQuestion], size: int | None, rng: random.Random) -> list[EvalQuestion]:
    """`size` of the questions drawn with `rng` (all of them when size is None or not smaller), in time order."""
    if size is None or size >= len(questions):
        return questions
    return sorted(rng.sample(questions, size), key=lambda q: (q.ts, q.id))


async def evaluate(expertise: ExpertiseService, community_id: int, *, cut_share: float = 0.7,
                   live: bool = False, sample: int | None = None, rng: random.Random | None = None,
                   progress: ProgressFactory = no_progress) -> dict:
    """Cut the stored history at `cut_share`, drop what comes after (this is a scratch database), refit,
    and score suggestions and baselines on the later threads: against the frozen history, or `live`,
    following the later messages up to each question. `sample`: score only that many of the answered
    questions, drawn with `rng` (the result says of how many)."""
    corpus = await expertise.corpus(community_id)
    a = corpus.arrays
    if len(corpus) < 50:
        raise ValueError("too little history to evaluate (fewer than 50 messages)")
    if not np.any((a["role"] == ROLE_ANSWER) & (a["thread"] >= 0) & a["alive"]):
        # Said before the refit and the questions: "try another --cut" sent an admin to run it again for nothing.
        raise ValueError(f"nothing to evaluate: none of the {len(corpus)} messages replies to someone else's "
                         "conversation (a Slack thread, or a Discord reply or thread). eval scores the suggestions "
                         "against the member who answered each question, which a history written without threads "
                         "or replies does not tell")
    if live and not expertise.keeps_vectors_in_memory:  # the later messages are followed in memory only
        raise ValueError("the live protocol needs the in-process vector index (vector_index = numpy)")
    cut = float(np.quantile(a["ts"][a["alive"]], cut_share))
    questions = sorted(questions_after(corpus, cut), key=lambda q: q.ts)
    later: list[MessageRecord] = []
    vectors: dict[int, np.ndarray] = {}
    if live:  # kept, with their vectors, to be followed again after the cut
        later = sorted((corpus.records[r] for r in np.flatnonzero((a["ts"] >= cut) & a["alive"])), key=lambda r: r.ts)
        vectors = await _later_vectors(expertise, [r.id for r in later])
    # As long as the import's own fit (a minute on 16,000 messages), between its bar and the questions': said.
    with progress(1, "fitting the ranking on the history before the cut") as advance:
        async with expertise.db.sessions.begin() as session:
            bots = set(await session.scalars(select(Member.external_id).where(
                Member.community_id == community_id, Member.is_bot.is_(True))))
            channels = dict((await session.execute(select(Channel.id, Channel.external_id)
                                                   .where(Channel.community_id == community_id))).all())
            await session.execute(delete(Message).where(Message.community_id == community_id,
                                                        Message.created_at >= datetime.fromtimestamp(cut, UTC)))
        expertise.forget_cache(community_id)
        await expertise.fit(community_id)
        history = await expertise.corpus(community_id)
        advance(1)
    h = history.arrays
    seen = {history.members[int(m)] for m in np.unique(h["author"][h["alive"]])}
    questions = [q for q in questions if q.answerer in seen and q.answerer not in bots]
    answered = len(questions)
    questions = sample_questions(questions, sample, rng or random.Random(0))
    activity = Activity.of(history)
    regulars = {u for u, _ in activity.answers.most_common(5)}
    systems: dict[str, Scores] = {}
    followed = 0
    with progress(len(questions), "asking the later questions") as advance:
        for q in questions:
            if live and followed < len(later) and later[followed].ts < q.ts:  # what was said before the question
                start = followed
                while followed < len(later) and later[followed].ts < q.ts:
                    followed += 1
                batch = later[start:followed]
                ids = [r.id for r in batch if r.id in vectors]
                stacked = (np.stack([vectors[i] for i in ids]) if ids
                           else np.zeros((0, expertise.embedder.dim), np.float32))
                await expertise.add(community_id, batch, ids, stacked)
                activity = Activity.of(history)
            asked_at = datetime.fromtimestamp(q.ts, UTC)
            vector = await expertise.encode_one(clean(q.text))
            if not live:
                found = await expertise.rank(community_id, q.text, asker=q.asker, top=10, query_vector=vector,
                                             replay=True)
                systems.setdefault("connective", Scores()).add([s.user for s in found], q, regulars)
            # As asked then (replay): who has left since was a member then, and the baselines count them.
            found = await expertise.rank(community_id, q.text, asker=q.asker, top=10, now=asked_at,
                                         query_vector=vector, channel=channels.get(q.channel), replay=True)
            systems.setdefault("connective" if live else "connective+time", Scores()).add(
                [s.user for s in found], q, regulars)
            nearest = await expertise.vectors.search(community_id, vector, 100)
            for name, ranked in baselines(history, q, activity, nearest).items():
                systems.setdefault(name, Scores()).add(ranked, q, regulars)
            advance(1)
    return {"questions": len(questions), "longtail_questions": sum(q.answerer not in regulars for q in questions),
            "answered_questions": answered,
            "cut": cut, "protocol": "live" if live else "replay", "followed_messages": followed,
            "systems": {name: s.row() for name, s in systems.items()}}
