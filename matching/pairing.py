"""Mentoring pairs: an optimal weighted assignment of mentees to mentors' capacity slots.

Fit of a (mentor, mentee) pair: for each topic the mentee wants to learn, the closest topic the mentor
can teach (cosine similarity of sentence embeddings), half the best and half the mean of those;
blended with the mentor's expertise profile on those topics (what they actually answered in the
community) when the caller has it.
Constraints: nobody with themself, no pair repeated within N rounds, a minimum overlap of working
hours, the mentor's capacity, a minimum fit. The total fit is maximised exactly (scipy's
`linear_sum_assignment` over capacity slots) or, for large rounds, on a sparse candidate graph
(each mentee's and each mentor's best candidates) with `min_weight_full_bipartite_matching`.

Pure functions: no database, no clock; randomness (tie-breaking) comes from the passed-in
`random.Random`, whose seed the caller logs.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import numpy as np
from scipy import sparse
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from matching.timezones import WORKING_HOURS, is_known_timezone, overlap_matrix

log = logging.getLogger(__name__)

Role = Literal["mentor", "mentee", "both"]
ROLES: tuple[str, ...] = ("mentor", "mentee", "both")

# Why someone was left out of a round; the service words it for them (bot/templates).
REASONS = {
    "unknown_timezone": "your time zone is not one I recognise",
    "no_mentors": "nobody else is enrolled as a mentor this round",
    "no_mentees": "nobody is enrolled as a mentee this round",
    "timezone": "no mentor's working hours overlap yours enough",
    "timezone_mentor": "no mentee's working hours overlap yours enough",
    "repeat": "you were recently paired with every mentor who would fit",
    "repeat_mentor": "you were recently paired with every mentee who would fit",
    "topics": "no mentor teaches something close enough to what you want to learn",
    "topics_mentor": "no mentee wants to learn something close enough to what you teach",
    "capacity": "the mentors who fit you were fully booked by mentees they fit better",
    "others_fit_better": "the mentees who fit you were paired with mentors who fit them better",
    # not the solver's: the member it paired you with stopped taking part while the round was being made
    "partner_left": "the member I was pairing you with stopped taking part as the round was made",
}


@dataclass(frozen=True)
class Participant:
    key: str  # a stable id (the member's platform id)
    role: Role
    timezone: str
    can_teach: tuple[str, ...] = ()
    wants_to_learn: tuple[str, ...] = ()
    capacity: int = 1  # mentees this person can mentor in a round

    @property
    def mentors(self) -> bool:
        return self.role in ("mentor", "both") and self.capacity > 0 and bool(self.can_teach)

    @property
    def learns(self) -> bool:
        return self.role in ("mentee", "both") and bool(self.wants_to_learn)


@dataclass(frozen=True)
class PairingRules:
    min_overlap_hours: float = 2.0
    working_hours: tuple[int, int] = WORKING_HOURS
    no_repeat_rounds: int = 3
    min_fit: float = 0.3  # below this a pair is not worth anyone's time
    expertise_weight: float = 0.25  # share of the fit from the mentor's expertise profile
    exact_limit: int = 4_000_000  # mentees x capacity slots solved exactly; above: sparse candidates
    candidates: int = 40  # per mentee (and per mentor slot) in the sparse solver
    # Added to every pair that fits a mentee left out of the last round: more than any fit (at most 1) a mentee
    # who fits better could bring, so whoever waited comes first wherever someone fits them, not last again.
    waiting_bonus: float = 1.0


@dataclass(frozen=True)
class SharedTopic:
    wanted: str
    taught: str
    similarity: float


@dataclass(frozen=True)
class Pair:
    mentor: str
    mentee: str
    fit: float
    topic_fit: float
    expertise: float
    overlap_hours: float
    shared_topics: tuple[SharedTopic, ...] = ()


@dataclass(frozen=True)
class Unmatched:
    key: str
    reason: str  # a key of REASONS

    @property
    def explanation(self) -> str:
        return REASONS[self.reason]


@dataclass(frozen=True)
class Plan:
    pairs: tuple[Pair, ...]
    unmatched: tuple[Unmatched, ...]
    solver: str = "none"
    stats: dict[str, float] = field(default_factory=dict)

    @property
    def total_fit(self) -> float:
        return float(sum(p.fit for p in self.pairs))


# -- fit ---------------------------------------------------------------------------------------------
def _unit_rows(topics: Sequence[str], vectors: Mapping[str, np.ndarray]) -> np.ndarray:
    m = np.stack([np.asarray(vectors[t], dtype=np.float32) for t in topics])
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms == 0, 1, norms)


def _over_topics(
    lists: Sequence[Sequence[str]], index: Mapping[str, int], per_topic: np.ndarray
) -> np.ndarray:
    """Row i: half the best and half the mean of per_topic rows over the topics of lists[i], so a
    mentor who covers one of three wanted topics well still fits, and covering all fits best."""
    k = max((len(set(ts)) for ts in lists), default=0)
    out = np.zeros((len(lists), per_topic.shape[1]), dtype=np.float32)
    if k == 0:
        return out
    padded = np.vstack([per_topic, np.zeros((1, per_topic.shape[1]), dtype=per_topic.dtype)])
    rows = np.full((len(lists), k), per_topic.shape[0], dtype=np.int64)  # the zero row pads
    counts = np.zeros(len(lists), dtype=np.float32)
    for i, topics in enumerate(lists):
        uniq = [index[t] for t in dict.fromkeys(topics)]
        rows[i, : len(uniq)] = uniq
        counts[i] = len(uniq)
    chunk = max(1, 20_000_000 // max(1, k * per_topic.shape[1]))
    for lo in range(0, len(lists), chunk):
        gathered = padded[rows[lo : lo + chunk]]  # (chunk, k, mentors); padding adds 0 to sums and maxima
        mean = gathered.sum(axis=1) / np.maximum(counts[lo : lo + chunk], 1)[:, None]
        out[lo : lo + chunk] = 0.5 * gathered.max(axis=1) + 0.5 * mean
    return out


def topic_fit_matrix(
    wants: Sequence[Sequence[str]], teaches: Sequence[Sequence[str]], vectors: Mapping[str, np.ndarray]
) -> np.ndarray:
    """(mentees x mentors): for each wanted topic of a mentee, the best similarity (clipped at 0) to any
    topic the mentor teaches; then half the best of those and half their mean.
    Computed over distinct topics so free-text repeats cost nothing."""
    wanted = list(dict.fromkeys(t for ts in wants for t in ts))
    taught = list(dict.fromkeys(t for ts in teaches for t in ts))
    if not wanted or not taught or not teaches:
        return np.zeros((len(wants), len(teaches)), dtype=np.float32)
    w_index = {t: i for i, t in enumerate(wanted)}
    t_index = {t: i for i, t in enumerate(taught)}
    vw, vt = _unit_rows(wanted, vectors), _unit_rows(taught, vectors)
    flat = np.array([t_index[t] for ts in teaches for t in ts], dtype=np.int64)
    lengths = np.array([len(ts) for ts in teaches], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    best = np.zeros((len(wanted), len(teaches)), dtype=np.float32)
    has = lengths > 0
    chunk = max(1, 20_000_000 // max(1, len(flat)))
    for lo in range(0, len(wanted), chunk):
        sims = (vw[lo : lo + chunk] @ vt.T)[:, flat]
        # reduceat over each mentor's run of topics (mentors without topics keep 0)
        reduced = np.maximum.reduceat(sims, starts[has], axis=1)
        best[lo : lo + chunk][:, has] = reduced
    np.clip(best, 0.0, 1.0, out=best)
    return _over_topics(wants, w_index, best)


def expertise_matrix(
    wants: Sequence[Sequence[str]], mentor_keys: Sequence[str], expertise: Mapping[str, Mapping[str, float]]
) -> np.ndarray:
    """(mentees x mentors): the mentor's expertise score (0..1, from the who-knows ranking) on each of
    a mentee's wanted topics, combined like the topic fit."""
    wanted = list(dict.fromkeys(t for ts in wants for t in ts))
    w_index = {t: i for i, t in enumerate(wanted)}
    m_index = {k: j for j, k in enumerate(mentor_keys)}
    per_topic = np.zeros((len(wanted), len(mentor_keys)), dtype=np.float32)
    for topic, scores in expertise.items():
        i = w_index.get(topic)
        if i is None:
            continue
        for mentor, score in scores.items():
            j = m_index.get(mentor)
            if j is not None:
                per_topic[i, j] = min(1.0, max(0.0, float(score)))
    if not wanted:
        return np.zeros((len(wants), len(mentor_keys)), dtype=np.float32)
    return _over_topics(wants, w_index, per_topic)


def shared_topics(
    mentee: Participant,
    mentor: Participant,
    vectors: Mapping[str, np.ndarray],
    *,
    threshold: float = 0.45,
    limit: int = 3,
) -> tuple[SharedTopic, ...]:
    """What the two can talk about: each wanted topic with the closest topic the mentor teaches."""
    wants, teaches = list(dict.fromkeys(mentee.wants_to_learn)), list(dict.fromkeys(mentor.can_teach))
    if not wants or not teaches:
        return ()
    sims = _unit_rows(wants, vectors) @ _unit_rows(teaches, vectors).T
    found = [
        SharedTopic(w, teaches[int(sims[i].argmax())], round(float(sims[i].max()), 3))
        for i, w in enumerate(wants)
    ]
    found.sort(key=lambda s: -s.similarity)
    good = [s for s in found if s.similarity >= threshold]
    return tuple((good or found[:1])[:limit])


# -- assignment --------------------------------------------------------------------------------------
def _solve_exact(profit: np.ndarray, capacity: np.ndarray) -> list[tuple[int, int]]:
    """Maximum total profit; cells equal to 0 are infeasible. Capacity slots as repeated columns."""
    slots = np.repeat(np.arange(profit.shape[1]), capacity)
    if profit.shape[0] == 0 or len(slots) == 0:
        return []
    expanded = profit[:, slots]
    rows, cols = linear_sum_assignment(expanded, maximize=True)
    return [(int(r), int(slots[c])) for r, c in zip(rows, cols, strict=True) if expanded[r, c] > 0]


def _solve_sparse(profit: np.ndarray, capacity: np.ndarray, k: int) -> list[tuple[int, int]]:
    """The same problem on a candidate graph: each mentee's k best mentors and each mentor's
    k x capacity best mentees. Every mentee also has a private "unmatched" column, so a full
    matching always exists; costs are shifted to be positive (shift - profit; unmatched: shift)."""
    n, m = profit.shape
    if n == 0 or capacity.sum() == 0:
        return []
    keep = np.zeros_like(profit, dtype=bool)
    kr = min(k, m)
    top_rows = np.argpartition(-profit, kr - 1, axis=1)[:, :kr]
    keep[np.arange(n)[:, None], top_rows] = True
    for j in range(m):
        kc = min(n, k * int(capacity[j]))
        top = np.argpartition(-profit[:, j], kc - 1)[:kc]
        keep[top, j] = True
    keep &= profit > 0
    ri, mj = np.nonzero(keep)
    slot_start = np.concatenate([[0], np.cumsum(capacity)[:-1]])
    caps = capacity[mj]
    rows = np.repeat(ri, caps)
    mentor_of_edge = np.repeat(mj, caps)
    offsets = np.arange(len(rows)) - np.repeat(np.cumsum(caps) - caps, caps)
    cols = slot_start[mentor_of_edge] + offsets
    shift = float(profit.max()) + 1.0
    costs = shift - profit[rows, mentor_of_edge]
    n_slots = int(capacity.sum())
    all_rows = np.concatenate([rows, np.arange(n)])
    all_cols = np.concatenate([cols, n_slots + np.arange(n)])
    all_costs = np.concatenate([costs, np.full(n, shift)])
    graph = sparse.csr_matrix((all_costs, (all_rows, all_cols)), shape=(n, n_slots + n))
    r, c = min_weight_full_bipartite_matching(graph)
    slot_owner = np.repeat(np.arange(m), capacity)
    return [(int(i), int(slot_owner[j])) for i, j in zip(r, c, strict=True) if j < n_slots]


def _stage_reasons(feasible_stages: list[tuple[str, np.ndarray]], axis: int) -> list[str | None]:
    """For each row (axis=1) or column (axis=0): the first constraint that left it no candidate."""
    n = feasible_stages[0][1].shape[1 - axis]
    out: list[str | None] = [None] * n
    for reason, mask in feasible_stages:
        empty = ~mask.any(axis=axis)
        for i in np.flatnonzero(empty):
            if out[i] is None:
                out[i] = reason
    return out


def assign_pairs(
    participants: Sequence[Participant],
    *,
    topic_vectors: Mapping[str, np.ndarray],
    rng: random.Random,
    on: date,
    history: Sequence[Iterable[tuple[str, str]]] = (),
    expertise: Mapping[str, Mapping[str, float]] | None = None,
    rules: PairingRules | None = None,
    solver: Literal["auto", "exact", "sparse"] = "auto",
    waiting: Collection[str] = (),
) -> Plan:
    """Pair mentees with mentors for one round held on `on`.

    history: the (mentor, mentee) pairs of past rounds, most recent round first; pairs from the
    last `rules.no_repeat_rounds` rounds are not repeated (in either direction).
    expertise: topic -> {mentor key: 0..1} from the mentors' expertise profiles.
    waiting: the keys of those left out of the last round: as mentees they come first (rules.waiting_bonus), so the
    same few are not left out round after round while others who fit a mentor better are paired each time.
    """
    rules = rules or PairingRules()
    unmatched: dict[str, str] = {}
    people: dict[str, Participant] = {}
    for p in participants:
        if p.key in people:
            continue
        if not is_known_timezone(p.timezone):
            unmatched[p.key] = "unknown_timezone"
            continue
        people[p.key] = p
    mentors = [p for p in people.values() if p.mentors]
    mentees = [p for p in people.values() if p.learns]
    n, m = len(mentees), len(mentors)
    if n == 0 or m == 0:
        for p in people.values():
            if p.learns:
                unmatched[p.key] = "no_mentors"
            elif p.mentors:
                unmatched[p.key] = "no_mentees"
            else:
                unmatched[p.key] = "topics" if p.role != "mentor" else "topics_mentor"
        return Plan(
            (), tuple(Unmatched(k, r) for k, r in unmatched.items()), "none", {"mentees": n, "mentors": m}
        )

    topic_fit = topic_fit_matrix(
        [p.wants_to_learn for p in mentees], [p.can_teach for p in mentors], topic_vectors
    )
    if expertise:
        expert = expertise_matrix([p.wants_to_learn for p in mentees], [p.key for p in mentors], expertise)
        fit = (1 - rules.expertise_weight) * topic_fit + rules.expertise_weight * expert
    else:
        expert = np.zeros_like(topic_fit)
        fit = topic_fit

    mentee_keys = [p.key for p in mentees]
    mentor_keys = [p.key for p in mentors]
    not_self = np.array(mentee_keys)[:, None] != np.array(mentor_keys)[None, :]
    zones = sorted({p.timezone for p in mentees} | {p.timezone for p in mentors})
    z_index = {z: i for i, z in enumerate(zones)}
    overlaps = overlap_matrix(zones, on, rules.working_hours)
    overlap = overlaps[
        np.array([z_index[p.timezone] for p in mentees])[:, None],
        np.array([z_index[p.timezone] for p in mentors])[None, :],
    ]
    tz_ok = overlap >= rules.min_overlap_hours
    fresh = np.ones((n, m), dtype=bool)
    row_of = {k: i for i, k in enumerate(mentee_keys)}
    col_of = {k: j for j, k in enumerate(mentor_keys)}
    for past in list(history)[: rules.no_repeat_rounds]:
        for a, b in past:
            for mentee, mentor in ((b, a), (a, b)):
                i, j = row_of.get(mentee), col_of.get(mentor)
                if i is not None and j is not None:
                    fresh[i, j] = False
    fit_ok = fit >= max(rules.min_fit, 1e-6)

    feasible = not_self & fit_ok & tz_ok & fresh
    # Why someone may end up alone: the constraints in the order that helps them most (topics are
    # theirs to change; time zones and recent pairs are not), each applied on top of the previous ones.
    stages = [
        ("no_mentors", not_self),
        ("topics", not_self & fit_ok),
        ("timezone", not_self & fit_ok & tz_ok),
        ("repeat", feasible),
    ]

    # Ties (equal fits) broken by the seeded generator: a jitter far below any meaningful difference.
    noise = np.random.default_rng(rng.getrandbits(64)).random((n, m)) * 1e-6
    profit = np.where(feasible, fit.astype(np.float64) + 1e-6 + noise, 0.0)
    first = np.array([p.key in waiting for p in mentees], dtype=bool)
    if first.any():
        profit[first] = np.where(profit[first] > 0, profit[first] + rules.waiting_bonus, 0.0)
    capacity = np.array([min(p.capacity, n) for p in mentors], dtype=np.int64)
    cells = n * int(capacity.sum())
    chosen_solver = solver if solver != "auto" else ("exact" if cells <= rules.exact_limit else "sparse")

    def solve() -> list[tuple[int, int]]:
        if chosen_solver == "exact":
            return _solve_exact(profit, capacity)
        return _solve_sparse(profit, capacity, rules.candidates)

    assignment = solve()
    # "both" people could end up mentoring each other in a pair of mirror pairs: forbid the weaker
    # direction and solve again (rare; bounded), then drop any mirror left.
    for _ in range(3):
        mirrors = _mirrors(assignment, mentee_keys, mentor_keys, fit)
        if not mirrors:
            break
        for i, j in mirrors:
            profit[i, j] = 0.0
        assignment = solve()
    dropped = set(_mirrors(assignment, mentee_keys, mentor_keys, fit))
    assignment = [a for a in assignment if a not in dropped]

    pairs = tuple(
        sorted(
            (
                Pair(
                    mentor=mentor_keys[j],
                    mentee=mentee_keys[i],
                    fit=round(float(fit[i, j]), 4),
                    topic_fit=round(float(topic_fit[i, j]), 4),
                    expertise=round(float(expert[i, j]), 4),
                    overlap_hours=round(float(overlap[i, j]), 1),
                    shared_topics=shared_topics(mentees[i], mentors[j], topic_vectors),
                )
                for i, j in assignment
            ),
            key=lambda p: (-p.fit, p.mentee),
        )
    )

    paired = {p.mentor for p in pairs} | {p.mentee for p in pairs}
    mentee_reasons = _stage_reasons(stages, axis=1)
    as_mentor = {
        "no_mentors": "no_mentees",
        "timezone": "timezone_mentor",
        "repeat": "repeat_mentor",
        "topics": "topics_mentor",
    }
    mentor_reasons = _stage_reasons([(as_mentor[r], mask) for r, mask in stages], axis=0)
    for i, p in enumerate(mentees):
        if p.key not in paired:
            unmatched[p.key] = mentee_reasons[i] or "capacity"
    for j, p in enumerate(mentors):
        if p.key not in paired and p.key not in unmatched:
            unmatched[p.key] = mentor_reasons[j] or "others_fit_better"
    for p in people.values():
        if p.key not in paired and p.key not in unmatched:  # enrolled without topics for their role
            unmatched[p.key] = "topics" if p.role != "mentor" else "topics_mentor"
    log.info(
        "paired %d mentee(s) with %d mentor(s): %d pairs, %d unmatched, total fit %.3f (%s solver)",
        n,
        m,
        len(pairs),
        len(unmatched),
        sum(p.fit for p in pairs),
        chosen_solver,
    )
    return Plan(
        pairs,
        tuple(Unmatched(k, r) for k, r in unmatched.items()),
        chosen_solver,
        {"mentees": n, "mentors": m, "slots": int(capacity.sum())},
    )


def _mirrors(
    assignment: list[tuple[int, int]], mentee_keys: list[str], mentor_keys: list[str], fit: np.ndarray
) -> list[tuple[int, int]]:
    """Of each A-mentors-B / B-mentors-A couple, the weaker direction (mentee row, mentor column)."""
    by_keys = {(mentor_keys[j], mentee_keys[i]): (i, j) for i, j in assignment}
    out = []
    for (mentor, mentee), (i, j) in by_keys.items():
        other = by_keys.get((mentee, mentor))
        if other is not None and (fit[i, j], mentor) < (fit[other], mentee):
            out.append((i, j))
    return out
