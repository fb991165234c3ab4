"""rank_experts: document-first expertise ranking (Balog's model 2) with a learned mix of signals.

The messages closest to the question (dense and BM25) credit their authors, weighed by role;
threads like the question credit the people who answered them; activity, recent presence, past
help to the asker and declared skills add priors. A linear model over these features is fitted
per community on its own answered threads (see matching.fit); DEFAULT_WEIGHTS serve until then.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from matching.corpus import ROLE_ANSWER, ROLE_ASK, Corpus

FEATURES = (
    "dense",  # relevant messages by the member, answers weighing most
    "lexical",  # the same with BM25
    "thread",  # threads like the question that the member answered
    "asked",  # relevant questions the member asked themself (a learner, more than an expert)
    "answers",  # answers given in others' threads, all time
    "recent",  # messages in the last 30 days
    "week",  # messages in the last 7 days
    "affinity",  # answers given in the asker's own threads
    "thanked",  # relevant answers that were thanked or reacted to
    "skill",  # declared skills and endorsements matching the question
)

DEFAULT_WEIGHTS = np.array([1.0, 0.6, 1.2, -0.3, 0.5, 0.3, 0.2, 0.3, 0.4, 1.0])

ROLE_WEIGHT = np.array([0.6, 0.25, 1.0])  # other, ask, answer
DAY = 86400.0
EVIDENCE_MIN = 0.35  # a message quoted as evidence must be at least this relevant (0..1 within the query)
SIMILAR_THREAD = 0.5  # a thread counts as "similar" in the evidence from this relevance on


@dataclass(frozen=True)
class Hits:
    """Relevant rows for one query: row -> dense weight and lexical weight, each in [0, 1]."""

    dense: dict[int, float]
    lexical: dict[int, float]

    def relevance(self, row: int) -> float:
        return 0.5 * self.dense.get(row, 0.0) + 0.5 * self.lexical.get(row, 0.0)

    @property
    def rows(self) -> set[int]:
        return set(self.dense) | set(self.lexical)


@dataclass
class Ranked:
    member: int
    score: float
    features: np.ndarray
    evidence: list[int] = field(default_factory=list)  # rows, most relevant first
    threads_answered: int = 0
    latest: float | None = None


def dense_weights(pairs: list[tuple[int, float]]) -> dict[int, float]:
    """Cosine similarities of the top hits mapped to [0, 1] within the query (top 1, last 0)."""
    if not pairs:
        return {}
    sims = np.array([s for _, s in pairs], dtype=np.float64)
    hi, lo = sims.max(), sims.min() if len(sims) > 1 else 0.0
    span = max(hi - lo, 1e-6)
    return {row: float((s - lo) / span) for (row, _), s in zip(pairs, sims, strict=True)}


def lexical_hits(scores: np.ndarray, mask: np.ndarray | None, k: int) -> dict[int, float]:
    if mask is not None:
        scores = np.where(mask, scores, 0.0)
    nz = int(np.count_nonzero(scores))
    if nz == 0:
        return {}
    k = min(k, nz)
    top = np.argpartition(-scores, k - 1)[:k]
    top_score = float(scores[top].max())
    return {int(r): float(scores[r] / top_score) for r in top if scores[r] > 0}


@dataclass
class Priors:
    answers: np.ndarray
    recent: np.ndarray
    week: np.ndarray
    answered_root_author: np.ndarray  # per row: author of the thread root an answer went to, else -1


def priors(corpus: Corpus, ref_time: float, before: float | None = None) -> Priors:
    a = corpus.arrays
    m = len(corpus.members)
    mask = a["alive"].copy()
    if before is not None:
        mask &= a["ts"] < before
    author, ts = a["author"], a["ts"]
    is_answer = mask & (a["role"] == ROLE_ANSWER)
    answers = np.bincount(author[is_answer], minlength=m).astype(np.float64)
    recent = np.bincount(author[mask & (ts >= ref_time - 30 * DAY)], minlength=m).astype(np.float64)
    week = np.bincount(author[mask & (ts >= ref_time - 7 * DAY)], minlength=m).astype(np.float64)
    thread = a["thread"]
    root_author = np.where(thread >= 0, a["thread_root_author"][np.maximum(thread, 0)], -1)
    root_author = np.where(is_answer, root_author, -1)
    return Priors(answers, recent, week, root_author)


def affinity(corpus: Corpus, pri: Priors, asker: int) -> np.ndarray:
    m = len(corpus.members)
    if asker < 0:
        return np.zeros(m)
    sel = pri.answered_root_author == asker
    return np.bincount(corpus.arrays["author"][sel], minlength=m).astype(np.float64)


def features(
    corpus: Corpus,
    hits: Hits,
    pri: Priors,
    *,
    asker: int,
    excluded: set[int],
    skill: dict[int, float] | None = None,
    extra_candidates: int = 20,
) -> tuple[np.ndarray, np.ndarray, dict[int, dict]]:
    """Candidates (member numbers), their feature matrix, and per-candidate evidence."""
    a = corpus.arrays
    author, role, thread = a["author"], a["role"], a["thread"]
    reactions, thanked = a["reactions"], a["thread_thanked"]
    acc: dict[int, np.ndarray] = defaultdict(lambda: np.zeros(len(FEATURES)))
    evidence: dict[int, dict] = defaultdict(lambda: {"rows": [], "threads": set()})
    thread_rel: dict[int, float] = {}
    for row in hits.rows:
        m = int(author[row])
        r = int(role[row])
        rel = hits.relevance(row)
        t = int(thread[row])
        if t >= 0:
            thread_rel[t] = max(thread_rel.get(t, 0.0), rel)
        if m == asker or m in excluded:
            continue
        f = acc[m]
        f[0] += hits.dense.get(row, 0.0) * ROLE_WEIGHT[r]
        f[1] += hits.lexical.get(row, 0.0) * ROLE_WEIGHT[r]
        if r == ROLE_ASK:
            f[3] += rel
        if r == ROLE_ANSWER:
            bonus = (1.0 if t >= 0 and thanked[t] else 0.0) + min(float(reactions[row]), 3.0) / 3.0
            f[8] += rel * bonus
        if rel >= EVIDENCE_MIN and r != ROLE_ASK:
            evidence[m]["rows"].append((rel * ROLE_WEIGHT[r], row))
    if thread_rel:
        # Everyone who answered in a relevant thread, whether or not their own message matched.
        t_rows = np.flatnonzero(np.isin(thread, np.fromiter(thread_rel, dtype=np.int64)) & (role == ROLE_ANSWER)
                                & a["alive"])
        seen: set[tuple[int, int]] = set()
        for row in t_rows:
            m, t = int(author[row]), int(thread[row])
            if m == asker or m in excluded or (m, t) in seen:
                continue
            seen.add((m, t))
            acc[m][2] += thread_rel[t]
            if thread_rel[t] >= SIMILAR_THREAD:
                evidence[m]["threads"].add(t)
                evidence[m]["rows"].append((0.5 * thread_rel[t], int(row)))
    # Regulars and people who helped this asker before are candidates even without a matching message.
    aff = affinity(corpus, pri, asker)
    for prior in (pri.answers, pri.recent, aff):
        for m in np.argsort(-prior)[:extra_candidates]:
            m = int(m)
            if prior[m] > 0 and m != asker and m not in excluded:
                acc[m]  # noqa: B018  (creates the entry)
    for m in skill or {}:
        if m != asker and m not in excluded:
            acc[m]
    cands = np.fromiter(acc, dtype=np.int64)
    if len(cands) == 0:
        return cands, np.zeros((0, len(FEATURES))), {}
    feats = np.stack([acc[int(m)] for m in cands])
    feats[:, 4] = pri.answers[cands]
    feats[:, 5] = pri.recent[cands]
    feats[:, 6] = pri.week[cands]
    feats[:, 7] = aff[cands]
    if skill:
        feats[:, 9] = [skill.get(int(m), 0.0) for m in cands]
    feats = np.log1p(np.maximum(feats, 0.0))
    return cands, feats, evidence


def rank_experts(
    corpus: Corpus,
    hits: Hits,
    *,
    asker: str | None,
    excluded: set[str],
    ref_time: float,
    weights: np.ndarray | None = None,
    skill: dict[str, float] | None = None,
    top: int = 5,
) -> list[Ranked]:
    """The `top` members most able to answer, best first, with the rows that show why."""
    asker_idx = corpus.member_index.get(asker, -1) if asker else -1
    excluded_idx = {corpus.member_index[e] for e in excluded if e in corpus.member_index}
    skill_idx = {corpus.member(u): s for u, s in (skill or {}).items()}
    pri = priors(corpus, ref_time)
    cands, feats, evidence = features(corpus, hits, pri, asker=asker_idx, excluded=excluded_idx, skill=skill_idx)
    if len(cands) == 0:
        return []
    w = DEFAULT_WEIGHTS if weights is None else weights
    logits = feats @ w
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    order = np.argsort(-logits, kind="stable")[:top]
    ts = corpus.arrays["ts"]
    out = []
    for i in order:
        m = int(cands[i])
        ev = evidence.get(m, {"rows": [], "threads": set()})
        rows = [row for _, row in sorted(ev["rows"], reverse=True)]
        rows = list(dict.fromkeys(rows))
        latest = max((float(ts[r]) for r in rows), default=None)
        out.append(Ranked(m, float(probs[i]), feats[i], rows[:5], len(ev["threads"]), latest))
    return out
