"""Fit the ranking weights on a community's own answered threads (its history is its training data).

Each past thread whose root asks something and got a reply from someone else is a question; the
first other person who replied is the answer. Features are computed from what was known before
the thread started (time-masked retrieval and priors), and a conditional logit (softmax over the
candidates of each question) is fitted by L-BFGS with an L2 pull towards the default weights.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from matching.corpus import ROLE_ANSWER, Corpus
from matching.ranking import (
    DEFAULT_WEIGHTS,
    FEATURES,
    PRIOR_MASK,
    Hits,
    dense_weights,
    features,
    lexical_hits,
    mixture,
    priors,
)
from matching.text import clean, tokens

log = logging.getLogger(__name__)

MIN_QUESTIONS = 30
TOP_K = 100
LAG_SHARE = 0.3
LONG_TAIL_WEIGHT = 2.0


@dataclass(frozen=True)
class FitResult:
    weights: np.ndarray
    questions: int
    log_likelihood: float

    def as_dict(self) -> dict:
        return {"weights": [round(float(w), 4) for w in self.weights], "features": list(FEATURES),
                "questions": self.questions}


def training_questions(corpus: Corpus, limit: int) -> list[tuple[int, int]]:
    """(root row, answerer member) of the most recent answered threads, oldest first."""
    a = corpus.arrays
    first_answer: dict[int, int] = {}
    for row in np.flatnonzero((a["role"] == ROLE_ANSWER) & a["alive"] & (a["thread"] >= 0)):
        first_answer.setdefault(int(a["thread"][row]), int(a["author"][row]))
    roots = {}
    for key, t in corpus.thread_ids.items():
        del key
        if t in first_answer:
            roots[t] = None
    out = []
    for row, rec in enumerate(corpus.records):
        t = int(a["thread"][row])
        if rec.is_root and t in roots and a["alive"][row] and len(clean(rec.text)) >= 15:
            out.append((row, first_answer[t]))
    return out[-limit:]


def build_examples(corpus: Corpus, vectors: np.ndarray, has_vector: np.ndarray, limit: int = 1500):
    """Feature matrices and truth index per training question; questions in the first fifth are
    skipped (too little history before them to learn from)."""
    a = corpus.arrays
    qs = training_questions(corpus, limit)
    ts, thread = a["ts"], a["thread"]
    if not qs:
        return []
    t0 = ts[a["alive"]].min() if a["alive"].any() else 0.0
    t_span = ts.max() - t0
    examples = []
    rng = np.random.default_rng(0)
    for row, truth in qs:
        t_q = ts[row]
        if t_q - t0 < 0.2 * t_span or not has_vector[row]:
            continue
        # What was known some time before the question: a question is often asked long after the
        # last look at the community's history (a batch of questions, a quiet month), so train for
        # staleness from none to a third of the history's span.
        t_known = t_q - rng.uniform(0.0, LAG_SHARE * t_span)
        mask = a["alive"] & (ts < t_known) & (thread != thread[row])
        sims = vectors @ vectors[row]
        sims = np.where(mask & has_vector, sims, -np.inf)
        k = min(TOP_K, int(np.isfinite(sims).sum()))
        if k == 0:
            continue
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top])]
        dense = dense_weights([(int(r), float(sims[r])) for r in top])
        lex = lexical_hits(corpus.lexical.scores(tokens(clean(corpus.records[row].text))), mask, TOP_K)
        pri = priors(corpus, ref_time=t_known, before=t_known)
        asker = int(a["author"][row])
        cands, feats, _ = features(corpus, Hits(dense, lex), pri, asker=asker, excluded=set())
        where = np.flatnonzero(cands == truth)
        if len(where) == 0 or len(cands) < 2:
            continue
        # Questions answered by someone outside the five busiest answerers are the ones the bot
        # exists for (activity alone finds the regulars): they weigh more in the fit.
        regulars = set(np.argsort(-pri.answers)[:5].tolist())
        examples.append((feats, int(where[0]), 1.0 if truth in regulars else LONG_TAIL_WEIGHT))
    return examples


def _fit_logit(examples, mask: np.ndarray, prior: np.ndarray, l2: float) -> np.ndarray:
    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros_like(w)
        for feats, truth, weight in examples:
            f = feats[:, mask]
            z = f @ w
            z -= z.max()
            p = np.exp(z)
            p /= p.sum()
            total -= weight * np.log(p[truth] + 1e-12)
            grad -= weight * (f[truth] - p @ f)
        diff = w - prior
        return total + l2 * float(diff @ diff), grad + 2 * l2 * diff

    return minimize(loss, prior.copy(), jac=True, method="L-BFGS-B").x


def fit_weights(examples, l2: float = 1.0) -> FitResult | None:
    """Fit the activity model and the evidence model, then the mixture share between them."""
    if len(examples) < MIN_QUESTIONS:
        return None
    w = DEFAULT_WEIGHTS.copy()
    w[PRIOR_MASK] = _fit_logit([(f, t, 1.0) for f, t, _ in examples], PRIOR_MASK, w[PRIOR_MASK], l2)
    w[~PRIOR_MASK] = _fit_logit(examples, ~PRIOR_MASK, w[~PRIOR_MASK], l2)
    best = (-np.inf, 0.5)
    for mix in np.linspace(0.05, 0.95, 19):
        model = np.append(w, mix)
        ll = sum((1 + weight) / 2 * np.log(mixture(f, model)[t] + 1e-12) for f, t, weight in examples)
        best = max(best, (ll, float(mix)))
    model = np.append(w, best[1])
    log.info("fitted ranking on %d questions: mix %.2f, %s", len(examples), best[1],
             dict(zip(FEATURES, np.round(w, 3), strict=True)))
    return FitResult(model, len(examples), float(best[0]))
