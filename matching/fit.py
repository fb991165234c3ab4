"""Fit the ranking weights on a community's own answered threads (its history is its training data).

Each past thread whose root asks something and got a reply from someone else is a question; the
first other person who replied is the answer. Features are computed from what was known before
the thread started (time-masked retrieval and priors), and a conditional logit (softmax over the
candidates of each question) is fitted by L-BFGS with an L2 pull towards the default weights.
Two models are fitted: one for live asks, which know everything said until the question and when it is
asked (who is around), and one for replays (`connective ask` from a file), which know neither.

Non-linear rankers on the same features did no better than this mixture (tests/benchmarks/ranker_lab.py, replays,
mean of lag seeds 0-3; racket-2017 / racket-2018 / racket-2019 / clojurians-2019 MRR over the best baseline, then the
long-tail mean; this fit: 0.95 / 1.10 / 1.06 / 0.95, 1.36). Gradient-boosted trees pointwise on (question, candidate)
rows with both models' scores, ranks and question-level features: 0.79 / 0.92 / 1.00 / 0.91, 1.06. Boosted trees on
the softmax of each question, from this mixture (depth 2, 100-200 rows a leaf): 0.97 / 1.08 / 1.07 / 0.93, 1.26, and
0.94 / 1.10 / 1.07 / 0.94, 1.24 from cross-fitted scores. A mixture share that follows the question (how sharp the
evidence is, its lead, whether it points at a regular): at best 0.97 / 1.09 / 1.08 / 0.95, 1.28. Regulars and the
others ranked apart, mixed by how likely a regular answers: 0.79-0.97 on racket-2017, 0.57-0.92 on clojurians.
Reciprocal-rank fusion of the two models, interaction terms (evidence x activity, x rank among answerers), credit
shared with every replier, and training questions as the eval asks them (with the asker's follow-ups) each moved
along the same line as LONG_TAIL_WEIGHT does (1.8: 0.96 / 1.11 / 1.08 / 0.98, 1.21; 2.5: 0.92 / 1.08 / 1.07 / 0.93,
1.48), never past it. What a non-linear ranker would need is not there: where the evidence model's first candidate
is no regular, it is the answerer in 7-15% of a community's training questions, and neither its features nor the
question's tell which (AUC 0.30-0.58 over time-ordered folds, logit or trees; folds drawn at random over several lag
draws of the same questions leak, and read 0.80-0.86).

Question-level signals measured the same way (each training question's candidates and row kept, the signal computed
from what was known at its staleness): all on the line, none past it. Who answers this, learnt: a multinomial logit
from a question's vector to its first replier (members with 3-10 first replies, the rest one class, L2 0.3-10),
refitted at eight points of the training span. Fitted on all the history, at its best L2 it ranks the later
questions' answerers little better than their counts of first replies do (MRR 0.37 / 0.34 / 0.27 / 0.21 against
0.32 / 0.32 / 0.27 / 0.21; the root's vector or the root's and the asker's follow-ups'); as a feature of either
model 0.93-0.97 / 1.07-1.10 / 1.06-1.08 / 0.91-0.96, 1.33-1.38, and as a third mixture component the fit gives it no
share (0.0 on every community and seed). Over the five regulars only (it orders them better than their counts on
racket-2017 and racket-2018, 0.55 / 0.59 against 0.49 / 0.55, worse on the others), 0.93-0.95 / 1.06-1.10 /
1.07-1.10 / 0.95-0.96, 1.29-1.35. The first repliers of the 10-30 most similar past questions, summed,
shared, or as a lift over each one's base rate: 0.92-0.95 / 1.07-1.11 / 1.06-1.11 / 0.93-0.96, 1.30-1.37. Answers,
first replies or messages decayed with a half-life of 7-180 days, beside the 7- and 30-day counts or in their place:
0.91-0.96 / 1.05-1.13 / 1.05-1.09 / 0.92-0.96, 1.30-1.43. Statements (34 of racket-2017's 101 eval questions have
no "?") are answered less predictably, not differently: a mixture share of their own (by "?" or matching.text.asks)
goes opposite ways (racket-2018's statements 0.10 against 0.55 for questions, clojurians-2019's 0.60-0.75 against
0.40-0.50): 0.96 / 1.06-1.09 / 1.04-1.08 / 0.92-0.95, 1.30-1.38; the talk partners' features (together, affinity,
addresses_asker) or the evidence's, for statements only: 0.90-0.96 / 1.08-1.10 / 1.06-1.10 / 0.93-0.97, 1.29-1.43.
A replay's earlier lines as a stream (a batch is in the order it was asked; the members who asked since the history
ends are around): the questions each candidate asked between the time known and the question (training) or on the
batch's earlier lines (the eval), log count or asked at all, on either side or both: both sides, log,
0.96 / 1.17 / 1.08 / 0.90, 1.54; with LONG_TAIL_WEIGHT 1.4, 0.99 / 1.18 / 1.11 / 0.92, 1.19. It helps the racket
communities and costs clojurians-2019 at every weight (the evidence side most): not kept.
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
    priors,
)
from matching.text import clean, tokens
from matching.vector_index import one_blas_thread

log = logging.getLogger(__name__)

MIN_QUESTIONS = 30
TOP_K = 100
LAG_SHARE = 0.3
# The staleness drawn for each replay example is random: fixed, so a community's fit is the same from run to run. The
# draw is part of the fit's noise: on the four dev communities, seeds 0-3 gave racket-2017 0.97 / 0.99 / 0.91 / 0.95x
# the best baseline and clojurians-2019 0.98 / 0.93 / 0.95 / 0.94x (tests/benchmarks/tune_whoknows.py --lag-seed).
LAG_SEED = 0
# How much more a question answered outside the five busiest answerers weighs in the fit: 2.15 with the asker's
# follow-ups weighing half (matching.ranking.OWN_FOLLOW_UP_WEIGHT), where 2.0 had fitted the full ones.
LONG_TAIL_WEIGHT = 2.15
DEFAULT_L2 = 1.0
L2_GRID = (1.0, 3.0, 10.0, 30.0)
VALIDATION_SHARE = 0.3  # the newest share of training questions that chooses the L2 pull


@dataclass(frozen=True)
class FitResult:
    weights: np.ndarray  # for live asks: the time known, and everything said until then
    untimed: np.ndarray  # for replays: no time, stale history (availability and presence unknown)
    questions: int
    log_likelihood: float

    def as_dict(self) -> dict:
        return {"weights": [round(float(w), 4) for w in self.weights],
                "untimed": [round(float(w), 4) for w in self.untimed], "features": list(FEATURES),
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
    """Feature matrices and truth index per training question, twice: as the live bot asks (knowing
    everything before the question and its time) and as a replay (stale history, no time). Questions in
    the first fifth are skipped (too little history before them to learn from)."""
    a = corpus.arrays
    qs = training_questions(corpus, limit)
    ts, thread = a["ts"], a["thread"]
    if not qs:
        return [], []
    t0 = ts[a["alive"]].min() if a["alive"].any() else 0.0
    t_span = ts.max() - t0
    live, replay = [], []
    rng = np.random.default_rng(LAG_SEED)
    for row, truth in qs:
        t_q = ts[row]
        if t_q - t0 < 0.2 * t_span or not has_vector[row]:
            continue
        sims = vectors @ vectors[row]
        lexical = corpus.lexical.scores(tokens(clean(corpus.records[row].text)))
        asker = int(a["author"][row])
        # A replay knows what was known some time before the question: a question is often asked long after
        # the last look at the community's history (a batch of questions, a quiet month), so train for
        # staleness from none to a third of the history's span. The live bot knows everything until now.
        lag = rng.uniform(0.0, LAG_SHARE * t_span)
        for out, t_known, asked_at in ((live, t_q, t_q), (replay, t_q - lag, None)):
            mask = a["alive"] & (ts < t_known) & (thread != thread[row])
            masked = np.where(mask & has_vector, sims, -np.inf)
            k = min(TOP_K, int(np.isfinite(masked).sum()))
            if k == 0:
                continue
            top = np.argpartition(-masked, k - 1)[:k]
            dense = dense_weights([(int(r), float(masked[r])) for r in top])
            lex = lexical_hits(lexical, mask, TOP_K)
            pri = priors(corpus, ref_time=t_known, before=t_known)
            # The live bot also knows the channel a question is asked in: the thread's.
            cands, feats, _ = features(corpus, Hits(dense, lex), pri, asker=asker, excluded=set(), asked_at=asked_at,
                                       asked_in=None if asked_at is None else int(a["channel"][row]))
            where = np.flatnonzero(cands == truth)
            if len(where) == 0 or len(cands) < 2:
                continue
            # Questions answered by someone outside the five busiest answerers are the ones the bot
            # exists for (activity alone finds the regulars): they weigh more in the fit.
            regulars = set(np.argsort(-pri.answers)[:5].tolist())
            out.append((feats, int(where[0]), 1.0 if truth in regulars else LONG_TAIL_WEIGHT))
    return live, replay


@dataclass(frozen=True)
class _Stacked:
    """Every question's candidates in one matrix, so the loss of a fit is a few array operations
    rather than a Python loop over the questions."""

    feats: np.ndarray
    starts: np.ndarray  # the first row of each question
    question: np.ndarray  # the question of each row
    truth: np.ndarray  # the row of each question's answerer
    weight: np.ndarray  # each question's weight

    @classmethod
    def of(cls, examples) -> _Stacked:
        sizes = np.array([len(f) for f, _, _ in examples])
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        return cls(np.concatenate([f for f, _, _ in examples]), starts,
                   np.repeat(np.arange(len(examples)), sizes), starts + np.array([t for _, t, _ in examples]),
                   np.array([w for _, _, w in examples], dtype=np.float64))

    def softmax(self, z: np.ndarray) -> np.ndarray:
        """Softmax of `z` within each question."""
        e = np.exp(z - np.maximum.reduceat(z, self.starts)[self.question])
        return e / np.add.reduceat(e, self.starts)[self.question]

    def models(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The activity model's and the evidence model's probabilities of every row, for weights `w`."""
        return (self.softmax(self.feats[:, PRIOR_MASK] @ w[PRIOR_MASK]),
                self.softmax(self.feats[:, ~PRIOR_MASK] @ w[~PRIOR_MASK]))


def _fit_logit(stacked: _Stacked, mask: np.ndarray, prior: np.ndarray, l2: float, weight: np.ndarray) -> np.ndarray:
    f = stacked.feats[:, mask]
    f_truth = f[stacked.truth]
    row_weight = weight[stacked.question]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        p = stacked.softmax(f @ w)
        total = -float(weight @ np.log(p[stacked.truth] + 1e-12))
        grad = f.T @ (p * row_weight) - weight @ f_truth
        diff = w - prior
        return total + l2 * float(diff @ diff), grad + 2 * l2 * diff

    return minimize(loss, prior.copy(), jac=True, method="L-BFGS-B").x


def _fit_model(stacked: _Stacked, l2: float) -> tuple[np.ndarray, float]:
    """The activity model and the evidence model, then the mixture share between them (model, log-lik)."""
    w = DEFAULT_WEIGHTS.copy()
    w[PRIOR_MASK] = _fit_logit(stacked, PRIOR_MASK, w[PRIOR_MASK], l2, np.ones_like(stacked.weight))
    w[~PRIOR_MASK] = _fit_logit(stacked, ~PRIOR_MASK, w[~PRIOR_MASK], l2, stacked.weight)
    p_prior, p_content = (p[stacked.truth] for p in stacked.models(w))
    best = (-np.inf, 0.5)
    for mix in np.linspace(0.05, 0.95, 19):
        ll = float((1 + stacked.weight) / 2 @ np.log(mix * p_prior + (1 - mix) * p_content + 1e-12))
        best = max(best, (ll, float(mix)))
    return np.append(w, best[1]), float(best[0])


def _reciprocal_rank(stacked: _Stacked, model: np.ndarray) -> float:
    """Mean reciprocal rank of the answerer (long-tail questions weighing as in the fit)."""
    p_prior, p_content = stacked.models(model[:-1])
    p = model[-1] * p_prior + (1 - model[-1]) * p_content
    above = np.bincount(stacked.question, weights=p > p[stacked.truth][stacked.question], minlength=len(stacked.starts))
    return float(((1 + stacked.weight) / 2 / (1 + above)).sum() / max(len(stacked.starts), 1))


def choose_l2(examples) -> float:
    """The pull towards the defaults that ranks best on this community's own latest questions.

    Fitted on the older questions and scored by reciprocal rank on the newest VALIDATION_SHARE
    (the question the bot faces: predict later answerers from earlier history). How strongly to
    regularise depends on how many questions a community has and how noisy they are, so it is chosen
    per community rather than fixed."""
    n_fit = int(len(examples) * (1 - VALIDATION_SHARE))
    if n_fit < MIN_QUESTIONS or len(examples) - n_fit < MIN_QUESTIONS // 2:
        return DEFAULT_L2
    older, newer = _Stacked.of(examples[:n_fit]), _Stacked.of(examples[n_fit:])
    scores = [_reciprocal_rank(newer, _fit_model(older, l2)[0]) for l2 in L2_GRID]
    return L2_GRID[int(np.argmax(scores))]


def fit_weights(live, replay, l2: float | None = None) -> FitResult | None:
    """Fit the activity model and the evidence model, then the mixture share between them, for live asks
    (`live` examples) and for replays (`replay` examples, where the time-dependent features are unknown);
    the L2 pull is chosen by validation on the community's latest questions unless given."""
    if min(len(live), len(replay)) < MIN_QUESTIONS:
        return None
    models = []
    for examples in (live, replay):
        # One BLAS thread: the products are small, and a second thread made the fit 12x slower (clojurians-2019:
        # 4.11 s against 0.35 s, same weights).
        with one_blas_thread():
            pull = choose_l2(examples) if l2 is None else l2
            model, ll = _fit_model(_Stacked.of(examples), pull)
        models.append((model, ll))
        log.info("fitted ranking on %d questions: l2 %.1f, mix %.2f, %s", len(examples), pull, model[-1],
                 dict(zip(FEATURES, np.round(model[:-1], 3), strict=True)))
    (timed, ll), (plain, _) = models
    return FitResult(timed, plain, len(live), ll)
