"""`connective eval`: how well who-knows would have served a community, on its own history.

Time split: the first 70% of messages (by time) are the history; every later thread whose root is
by a member and got a reply from someone else is a question, and the first other member who
replied is the answer. Suggestions come from the history only, and are compared with baselines
computed on the same history: the most active members, the top answerers, and BM25 over messages
(Balog's document model). connective is scored twice: without the time of the question, and knowing it
as the live bot does (who is usually around then). The history stays frozen at the cut either way; the
live bot, which ingests every message until the question, is measured by
tests/benchmarks/eval_rolling.py.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import delete, select

from bot.db.models import Member, Message
from bot.services.expertise import ExpertiseService
from matching.corpus import ROLE_ANSWER, ROLE_ASK, Corpus
from matching.lexical import BM25Index
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
    a = corpus.arrays
    first: dict[int, str] = {}
    for row in np.flatnonzero((a["role"] == ROLE_ANSWER) & (a["thread"] >= 0) & a["alive"]):
        first.setdefault(int(a["thread"][row]), corpus.members[int(a["author"][row])])
    out = []
    for row in np.flatnonzero((a["role"] == ROLE_ASK) & (a["ts"] >= cut) & a["alive"]):
        rec = corpus.records[row]
        answerer = first.get(int(a["thread"][row]))
        if answerer and len(clean(rec.text)) >= 15:
            out.append(EvalQuestion(rec.id, clean(rec.text)[:2000], rec.author, answerer, rec.ts))
    return out


def baselines(corpus: Corpus, q: EvalQuestion, bm25: BM25Index, counts: Counter, answers: Counter,
              authors: np.ndarray) -> dict[str, list[str]]:
    def top(counter: Counter) -> list[str]:
        return [u for u, _ in counter.most_common(12) if u != q.asker][:10]

    scores = bm25.scores(tokens(q.text))
    best = np.argsort(-scores)[:100]
    doc: Counter = Counter()
    for i in best:
        if scores[i] > 0 and authors[i] != q.asker:
            doc[authors[i]] += float(scores[i])
    return {"most-active": top(counts), "top-answerers": top(answers), "bm25-doc": top(doc)}


async def evaluate(expertise: ExpertiseService, community_id: int, *, cut_share: float = 0.7) -> dict:
    """Cut the stored history at `cut_share`, drop what comes after (this is a scratch database), refit,
    and score suggestions and baselines on the later threads."""
    corpus = await expertise.corpus(community_id)
    a = corpus.arrays
    if len(corpus) < 50:
        raise ValueError("too little history to evaluate (fewer than 50 messages)")
    cut = float(np.quantile(a["ts"][a["alive"]], cut_share))
    questions = questions_after(corpus, cut)
    async with expertise.db.sessions.begin() as session:
        bots = set(await session.scalars(select(Member.external_id).where(
            Member.community_id == community_id, Member.is_bot.is_(True))))
        await session.execute(delete(Message).where(Message.community_id == community_id,
                                                    Message.created_at >= datetime.fromtimestamp(cut, UTC)))
    expertise.forget_cache(community_id)
    await expertise.fit(community_id)
    history = await expertise.corpus(community_id)
    h = history.arrays
    seen = {history.members[int(m)] for m in np.unique(h["author"][h["alive"]])}
    questions = [q for q in questions if q.answerer in seen and q.answerer not in bots]
    authors = np.array([history.members[int(m)] for m in h["author"]], dtype=object)
    counts = Counter(authors[h["alive"]].tolist())
    answers = Counter(authors[h["alive"] & (h["role"] == ROLE_ANSWER)].tolist())
    regulars = {u for u, _ in answers.most_common(5)}
    systems: dict[str, Scores] = {}
    for q in questions:
        found = await expertise.rank(community_id, q.text, asker=q.asker, top=10)
        systems.setdefault("connective", Scores()).add([s.user for s in found], q, regulars)
        found = await expertise.rank(community_id, q.text, asker=q.asker, top=10, now=datetime.fromtimestamp(q.ts, UTC))
        systems.setdefault("connective+time", Scores()).add([s.user for s in found], q, regulars)
        for name, ranked in baselines(history, q, history.lexical, counts, answers, authors).items():
            systems.setdefault(name, Scores()).add(ranked, q, regulars)
    return {"questions": len(questions), "longtail_questions": sum(q.answerer not in regulars for q in questions),
            "cut": cut, "systems": {name: s.row() for name, s in systems.items()}}
