"""rank_experts: document-first expertise ranking (Balog's model 2) with a learned mix of signals.

The messages closest to the question (dense and BM25) credit their authors, weighed by role;
threads like the question credit the people who answered them; activity, recent presence, past
help to the asker and declared skills add priors. A linear model over these features is fitted
per community on its own answered threads (see matching.fit); DEFAULT_WEIGHTS serve until then.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy import sparse

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
    "focus",  # relevant messages as a share of all the member's messages (niche experts score high)
    "best",  # the member's single most relevant message
    "together",  # messages in threads the asker took part in (people who talk with the asker)
    "first",  # threads where the member was the first to reply (who jumps in), all time
    "first_thread",  # threads like the question where the member was the first to reply
    "first_affinity",  # the asker's threads where the member was the first to reply
    # The same evidence for members outside the five busiest answerers: lets the fitted model trust
    # topical evidence more for the niche experts than for the regulars, who answer everything.
    "regular",
    "dense_niche",
    "lexical_niche",
    "thread_niche",
    "best_niche",
    "affinity_niche",
    "addresses_asker",  # times the member mentioned the asker
    "addressed_by_asker",  # times the asker mentioned the member
    "answers_share",  # answers relative to the busiest answerer, on a linear scale
    "first_share",  # first replies relative to the quickest responder, on a linear scale
    "messages",  # all messages, all time (who is around at all)
    "messages_share",  # messages relative to the most active member, on a linear scale
    "started",  # threads the member started, all time
    # Availability: how much more (or less) than the community as a whole the member posts at the hour of the
    # day the question is asked (UTC). Known for live asks only; zero when the time is unknown (replays).
    "available",
    "available_evidence",  # the same on the evidence side: the niche expert who is around at this hour
    # Presence: messages in the PRESENT_HOURS before a live question (who is in the conversation right now).
    "present",
    "present_evidence",
    # Channels: how much more of the talk in the question's channels is the member's than of the community's talk
    # (log; zero where a community has one channel). A question's channels are those of the messages like it and
    # those its asker talks in: a replay does not say where it was asked, and where a live ask is made (a DM, the
    # bot's channel) says little of its topic.
    "channel",
    "channel_evidence",  # the same on the evidence side: the niche expert of the channel the question belongs in
)
NICHE_OF = {"dense_niche": "dense", "lexical_niche": "lexical", "thread_niche": "thread", "best_niche": "best",
            "affinity_niche": "affinity"}
REGULARS = 5
# Candidates without matching evidence: the top of each activity list (answers, first replies, recent and
# all messages, past help to the asker). Wide enough that the long tail of a big community gets in.
EXTRA_CANDIDATES = 50

# Availability and presence start at zero: some communities live in one time zone, some talk in bursts,
# so their weights are left to the fit.
DEFAULT_WEIGHTS = np.array([1.0, 0.3, 0.5, -0.3, 0.3, 0.0, 0.0, 0.3, 0.2, 1.0, 0.3, 0.5, 0.1, 0.5, 0.5, 0.5,
                            0.5, 0.5, 0.2, 0.3, 0.3, 0.3, 0.3, 0.3, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                            1.0, 0.0])
DEFAULT_MODEL = np.append(DEFAULT_WEIGHTS, 0.5)  # weights, then the activity model's share

_COL = {name: i for i, name in enumerate(FEATURES)}
# Two models mixed: who answers here at all (activity), and who knows this (evidence). A mixture,
# not a product: when the evidence points sharply at a niche expert it wins; when it is diffuse, the
# activity model's order stands.
PRIOR_FEATURES = ("answers", "first", "answers_share", "first_share", "recent", "week", "regular", "messages",
                  "messages_share", "started", "available", "present", "channel")
TIMED = np.array([f.startswith(("available", "present")) for f in FEATURES])  # known for live asks only
PRIOR_MASK = np.array([f in PRIOR_FEATURES for f in FEATURES])
ROLE_WEIGHT = np.array([1.0, 1.0, 1.0])  # other, ask, answer: equal; roles have features of their own
# An asker's follow-ups in their own thread (not the question itself), as evidence of what they know (features):
# half. With the fit's LONG_TAIL_WEIGHT at 2.15, at the eval's cuts 0.6 / 0.7 / 0.8 on the four dev communities: the
# worst MRR ratio 0.89 / 0.93 / 0.94 -> 0.90 / 0.96 / 0.94, the long-tail mean 1.74 / 1.29 / 1.95 -> 1.83 / 1.36 / 2.06.
OWN_FOLLOW_UP_WEIGHT = 0.5
DAY = 86400.0
# Evidence is relative to the query's best hit: a quoted message must be at least this share as
# relevant, and a thread counts as "similar" from its share on.
EVIDENCE_SHARE = 0.5
SIMILAR_THREAD_SHARE = 0.6
# A message is quoted only if it is this near the question in meaning (cosine), whatever words it shares: on 80
# questions each of racket-2019 and clojurians-2019, 42% and 30% of the messages quoted fell below it (by their
# stored vectors), and those read were nearly all beside the point ("Oh.... interesting." for a question opening "Oh
# for heaven's sake", a remark on sharing glue code "in a repo" for one on a repo's CI). Ranking still counts every
# hit; only what is shown as why is held to it (Hits.near).
QUOTE_MIN_SIMILARITY = 0.3
# Nor is a message quoted that shares words with the question, all of them the community's everyday ones (in more than
# this share of its messages, and in at least COMMON_WORD_MESSAGES of them), however near it is: the word alone brings
# it near. "racket" is in 12% of racket-2019's messages, and "racket contracts" quoted "@Caprice https://github.com/
# racket/racket/pull/2515" (0.55 near) and "that isn't really where Typed Racket uses it" (0.60; audit 15). There
# "https", "syntax" (5.5%) and "code" are that common too; in clojurians-2019 "clojure" and "https". A message that
# shares no word of the question at all is judged by its meaning alone, as before; and ranking counts every word.
COMMON_WORD_SHARE = 0.05
COMMON_WORD_MESSAGES = 50
# When no word of the question is found and the nearest message is further than this (cosine), nothing is
# evidence: a relative share would quote noise and call it "similar threads". On racket-2019 nonsense
# questions' nearest messages measured 0.34-0.42 and none of them matched a word; real questions nearly
# always match words, and a tiny community (where BM25 weighs every word zero) still has its near answers.
MIN_DENSE_EVIDENCE = 0.45
# A member's hours of the day are shrunk towards the community's as if this many messages followed its
# pattern: a handful of messages says little about when someone is around.
HOUR_PRIOR = 20.0
PRESENT_HOURS = 2.0
# A member's share of a channel's talk is shrunk towards their share of all the talk as if the channel had this many
# more messages, theirs in that share: a channel with a handful of messages says little of who belongs there.
CHANNEL_PRIOR = 20.0
TALKS_MORE = float(np.log(2.0))  # said of a member ("often in #…") from twice their usual share of the talk there
# Declared skills (see with_claims): the evidence points clearly at its first suggestion when that one's probability
# is this many times the second's; otherwise it is diffuse, and a full claim goes just above it.
CLEAR_LEAD = 1.5
CLAIM_ABOVE = 1.05


@dataclass(frozen=True)
class Hits:
    """Relevant rows for one query: row -> dense weight and lexical weight, each in [0, 1]."""

    dense: dict[int, float]
    lexical: dict[int, float]
    # How near in meaning (cosine) hits are that the dense search did not return (found by their words): what is
    # shown as evidence is held to QUOTE_MIN_SIMILARITY. Where a row is in neither, it counts as unrelated.
    near: dict[int, float] = field(default_factory=dict)
    # Hits that share words with the question, all of them the community's everyday ones (COMMON_WORD_SHARE): never
    # shown as evidence, however near (the shared word alone brings a short message near a short question).
    everyday: frozenset[int] = frozenset()

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
    latest: float | None = None  # when the member last answered one of the similar threads they are credited with
    thread_rows: list[int] = field(default_factory=list)  # their reply in each of those threads, newest first
    # A message of theirs in a channel the question belongs in, where they talk far more than usual (home_channel).
    channel_row: int | None = None


def hour_of(ts: float) -> int:
    """The hour of the day (UTC) of an epoch time."""
    return int((ts % DAY) // 3600)


def softmax(z: np.ndarray) -> np.ndarray:
    p = np.exp(z - z.max())
    return p / p.sum()


def mixture(feats: np.ndarray, model: np.ndarray) -> np.ndarray:
    """P(candidate answers) = mix * P_activity + (1 - mix) * P_evidence; model = weights + [mix]."""
    w, mix = model[:-1], float(model[-1])
    p_prior = softmax(feats[:, PRIOR_MASK] @ w[PRIOR_MASK])
    p_content = softmax(feats[:, ~PRIOR_MASK] @ w[~PRIOR_MASK])
    return mix * p_prior + (1 - mix) * p_content


def with_claims(probs: np.ndarray, cands: np.ndarray, skill: dict[int, float]) -> np.ndarray:
    """The fitted mixture, with declared skills (and endorsements) as claims of their own: each member's claim
    (0-1, how clearly their skills match) sets how high they may come. Their column in the evidence model cannot be
    fitted (a community's history says nothing of the skills declared today), and alone it left a member who
    declared exactly the skill asked about out of the top ten wherever regulars answer a lot (racket-2019).

    A full claim comes first where the evidence is diffuse, and second behind someone the evidence clearly points at
    (CLEAR_LEAD times the next one): declaring a topic does not outrank having answered it, and one member with a
    single message declaring it came first above one with six answered threads on it (audit 11). A partial claim
    reaches that share of the same bar. Claims are not shared out, so members who declare a broad skill take nothing
    from the one who declared this one; a member's own evidence stands where it is higher."""
    claimed = np.minimum(np.array([skill.get(int(m), 0.0) for m in cands]), 1.0)
    if not claimed.any():
        return probs
    first, second = np.sort(probs)[::-1][:2] if len(probs) > 1 else (probs[0], 0.0)
    bar = (first + second) / 2 if first >= CLEAR_LEAD * second else CLAIM_ABOVE * first
    mixed = np.maximum(probs, claimed * bar)
    return mixed / mixed.sum()


def everyday_only(corpus: Corpus, words: list[str], rows: set[int]) -> frozenset[int]:
    """Of `rows`, those that share words of the question (`words`, as tokens() reads it) with it, all of them the
    community's everyday ones (Hits.everyday)."""
    words = list(dict.fromkeys(words))
    lexical = corpus.lexical
    share = lexical.doc_share(words)
    common = [w for w, s in zip(words, share, strict=True)
              if s > COMMON_WORD_SHARE and s * len(lexical) >= COMMON_WORD_MESSAGES]
    if not common or not rows:
        return frozenset()
    rare = [w for w in words if w not in common]
    found = np.fromiter(rows, dtype=np.int64)
    return frozenset(found[lexical.contains(found, common) & ~lexical.contains(found, rare)].tolist())


def dense_weights(pairs: list[tuple[int, float]]) -> dict[int, float]:
    """Cosine similarities of the top hits, floored at 0."""
    return {row: max(float(s), 0.0) for row, s in pairs}


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
    messages: np.ndarray
    mask: np.ndarray  # rows known at the time
    first: np.ndarray
    started: np.ndarray
    before: float | None = None
    _cache: dict = field(default_factory=dict)  # leaders and hour profiles, once per state of the priors
    author: np.ndarray | None = None  # per row, with `ts`: what the hours of the day are counted from
    ts: np.ndarray | None = None
    channel: np.ndarray | None = None  # per row

    def leaders(self, n: int, *, busiest_answerers: bool = False) -> np.ndarray:
        """Members among the top `n` by answers, first replies, recent or all messages (with any); or only the
        `n` busiest answerers. Computed once per state of the priors."""
        key = (n, busiest_answerers)
        if key not in self._cache:
            priors = (self.answers,) if busiest_answerers else (self.answers, self.first, self.recent, self.messages)
            found = []
            for prior in priors:
                best = np.argsort(-prior)[:n]
                found.append(best[prior[best] > 0])
            self._cache[key] = np.unique(np.concatenate(found)).astype(np.int64)
        return self._cache[key]

    def availability(self) -> np.ndarray:
        """members x 24: log of how much more than the community each member posts at each hour of the day
        (UTC; an hour shares a quarter of its count with each neighbour). Computed on the first timed ask."""
        if "hours" not in self._cache:
            m = len(self.answers)
            author = self.author[self.mask].astype(np.int64)
            hour = ((self.ts[self.mask] % DAY) // 3600).astype(np.int64)
            counts = np.bincount(author * 24 + hour, minlength=m * 24).reshape(m, 24).astype(np.float64)
            counts = 0.5 * counts + 0.25 * np.roll(counts, 1, axis=1) + 0.25 * np.roll(counts, -1, axis=1)
            community = (counts.sum(0) + 1.0) / (counts.sum() + 24.0)
            share = (counts + HOUR_PRIOR * community) / (counts.sum(1, keepdims=True) + HOUR_PRIOR)
            self._cache["hours"] = np.log(share / community)
        return self._cache["hours"]

    def channel_talk(self) -> np.ndarray:
        """Messages known at the time per channel (indexed by the channel's database id). Computed once per state of
        the priors."""
        if "channel_talk" not in self._cache:
            self._cache["channel_talk"] = np.bincount(self.channel[self.mask])
        return self._cache["channel_talk"]

    def channel_members(self) -> sparse.csr_matrix:
        """Messages known at the time per channel and member (channels by database id, members by number), sparse:
        what channel_lift reads for the channels of each question. Computed once per state of the priors (it was
        counted over every message on each ask: 2 of the 16 ms of an ask at 200,000 messages)."""
        if "channel_members" not in self._cache:
            chans, authors = self.channel[self.mask], self.author[self.mask]
            shape = (len(self.channel_talk()), len(self.messages))
            self._cache["channel_members"] = sparse.csr_matrix(
                (np.ones(len(chans)), (chans.astype(np.int64), authors.astype(np.int64))), shape=shape)
        return self._cache["channel_members"]

    def channel_lift(self, where: dict[int, float], members: np.ndarray) -> np.ndarray:
        """Per member, log of how much more of the talk in the channels `where` (channel -> weight, summing to 1)
        is theirs than of all the talk (their messages' share), each channel's share shrunk by CHANNEL_PRIOR. Zero
        for a member with no message, and for everyone where a community talks in one channel."""
        if np.count_nonzero(self.channel_talk()) < 2 or not where or len(members) == 0:
            return np.zeros(len(members))
        chans = np.array(sorted(where), dtype=np.int64)
        weight = np.array([where[int(c)] for c in chans])
        talk, by_member = self.channel_talk(), self.channel_members()
        known = (chans >= 0) & (chans < len(talk))
        counts = np.zeros((len(chans), len(members)))
        if known.any():
            counts[known] = by_member[chans[known]][:, members].toarray()
        totals = np.where(known, talk[np.clip(chans, 0, max(len(talk) - 1, 0))], 0)[:, None]
        share = self.messages[members] / max(self.messages.sum(), 1.0)
        in_channels = (counts + CHANNEL_PRIOR * share) / (totals + CHANNEL_PRIOR)
        mixed = weight @ in_channels
        return np.where(share > 0, np.log(np.maximum(mixed, 1e-300) / np.maximum(share, 1e-300)), 0.0)

    def present(self, at: float) -> np.ndarray:
        """Messages per member in the PRESENT_HOURS before `at`."""
        ts = self.ts
        window = self.mask & (ts < at) & (ts >= at - PRESENT_HOURS * 3600)
        return np.bincount(self.author[window], minlength=len(self.answers)).astype(np.float64)


def cached_priors(corpus: Corpus, ref_time: float, before: float | None = None) -> Priors:
    """Priors at `ref_time` (from the messages before `before`, if given), computed once per state of the
    corpus (asks between messages share them)."""
    arrays = corpus.arrays  # a new dict whenever the corpus changed
    key = (round(ref_time, -2), before)
    cached = corpus.cache.get("priors")
    if cached is None or cached[0] is not arrays or cached[1] != key:
        cached = (arrays, key, priors(corpus, ref_time, before))
        corpus.cache["priors"] = cached
    return cached[2]


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
    roots = a["thread_root_author"]  # empty in a community without threads (Discord replies only)
    root_author = np.where(thread >= 0, roots[np.maximum(thread, 0)], -1) if len(roots) else np.full_like(thread, -1)
    root_author = np.where(is_answer, root_author, -1)
    messages = np.bincount(author[mask], minlength=m).astype(np.float64)
    first = np.bincount(author[mask & a["first"]], minlength=m).astype(np.float64)
    started = np.bincount(author[mask & (a["role"] == ROLE_ASK)], minlength=m).astype(np.float64)
    return Priors(answers, recent, week, root_author, messages, mask, first, started, before, author=author, ts=ts,
                  channel=a["channel"])


def affinity(corpus: Corpus, pri: Priors, asker: int, *, first_only: bool = False) -> np.ndarray:
    m = len(corpus.members)
    if asker < 0:
        return np.zeros(m)
    sel = pri.answered_root_author == asker
    if first_only:
        sel &= corpus.arrays["first"]
    return np.bincount(corpus.arrays["author"][sel], minlength=m).astype(np.float64)


def _grouped(corpus: Corpus, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows sorted by `column` and where each value's run starts: the rows of a thread or an author
    without scanning every row (cached per state of the corpus)."""
    arrays = corpus.arrays
    key = f"grouped:{column}"
    cached = corpus.cache.get(key)
    if cached is None or cached[0] is not arrays:
        values = arrays[column]
        order = np.argsort(values, kind="stable")
        starts = np.searchsorted(values[order], np.arange(values.max() + 2 if len(values) else 1))
        cached = (arrays, order, starts)
        corpus.cache[key] = cached
    return cached[1], cached[2]


def rows_of(corpus: Corpus, column: str, values: np.ndarray) -> np.ndarray:
    order, starts = _grouped(corpus, column)
    values = values[(values >= 0) & (values < len(starts) - 1)]
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    begin, lengths = starts[values], starts[values + 1] - starts[values]
    # Positions begin[i] .. begin[i] + lengths[i] - 1 for every value, without a Python loop.
    offsets = np.repeat(begin - np.cumsum(lengths) + lengths, lengths)
    return order[offsets + np.arange(int(lengths.sum()))]


def known_rows(corpus: Corpus, pri: Priors, member: int) -> np.ndarray:
    """A member's rows known at the time of the priors."""
    rows = rows_of(corpus, "author", np.array([member]))
    return rows[pri.mask[rows]]


def question_channels(corpus: Corpus, pri: Priors, rows: np.ndarray, relevance: np.ndarray,
                      asker: int, asked_in: int | None = None) -> dict[int, float]:
    """Where a question belongs (channel -> weight, summing to 1), in equal parts: the channels of the messages like
    it, by relevance; those its asker talks in; and the channel it is asked in (`asked_in`, a channel's database id),
    where the community talks at least CHANNEL_PRIOR messages (a DM, or a channel kept for asking the bot, says
    nothing of the topic). A part that says nothing leaves its share to the others."""
    channel = corpus.arrays["channel"]
    parts = []
    if len(rows) and relevance.sum() > 0:
        parts.append((channel[rows], relevance))
    if asker >= 0:
        mine = known_rows(corpus, pri, asker)
        if len(mine):
            parts.append((channel[mine], np.ones(len(mine))))
    talk = pri.channel_talk()
    if asked_in is not None and 0 <= asked_in < len(talk) and talk[asked_in] >= CHANNEL_PRIOR:
        parts.append((np.array([asked_in]), np.ones(1)))
    out: dict[int, float] = {}
    for chans, weight in parts:
        found, inverse = np.unique(chans, return_inverse=True)
        summed = np.bincount(inverse, weights=weight)
        for c, w in zip(found.tolist(), (summed / summed.sum() / len(parts)).tolist(), strict=True):
            out[c] = out.get(c, 0.0) + w
    return out


def together(corpus: Corpus, pri: Priors, asker: int) -> np.ndarray:
    a = corpus.arrays
    m = len(corpus.members)
    if asker < 0:
        return np.zeros(m)
    mine = np.unique(a["thread"][known_rows(corpus, pri, asker)])
    rows = rows_of(corpus, "thread", mine)
    rows = rows[pri.mask[rows]]
    return np.bincount(a["author"][rows], minlength=m).astype(np.float64)


@dataclass
class Evidence:
    """Why candidates rank where they do, kept as arrays and read only for the few members shown."""

    hit_member: np.ndarray  # relevant messages strong enough to quote: author, score, row
    hit_score: np.ndarray
    hit_row: np.ndarray
    thread_member: np.ndarray  # similar threads each member answered: member, thread, score, their first row
    thread_id: np.ndarray
    thread_score: np.ndarray
    thread_row: np.ndarray
    thread_quoted: np.ndarray  # the reply itself matches the question: worth quoting, not only counting
    channels: dict[int, float] = field(default_factory=dict)  # where the question belongs (question_channels)

    def of(self, member: int) -> tuple[list[int], int]:
        """The member's evidence rows (most relevant first, distinct) and how many similar threads they answered."""
        hit, thr = self.hit_member == member, self.thread_member == member
        quoted = thr & self.thread_quoted
        scored = sorted(zip(np.concatenate([self.hit_score[hit], self.thread_score[quoted]]).tolist(),
                            np.concatenate([self.hit_row[hit], self.thread_row[quoted]]).tolist(), strict=True),
                        reverse=True)
        return list(dict.fromkeys(row for _, row in scored)), len(np.unique(self.thread_id[thr]))

    def thread_rows(self, member: int) -> np.ndarray:
        """The member's reply in each similar thread they are credited with."""
        return self.thread_row[self.thread_member == member].astype(np.int64)


def _excluded_mask(members: np.ndarray, asker: int, excluded: set[int]) -> np.ndarray:
    ok = members != asker
    if excluded:
        ok &= ~np.isin(members, np.fromiter(excluded, dtype=np.int64, count=len(excluded)))
    return ok


def features(
    corpus: Corpus,
    hits: Hits,
    pri: Priors,
    *,
    asker: int,
    excluded: set[int],
    skill: dict[int, float] | None = None,
    extra_candidates: int = EXTRA_CANDIDATES,
    asked_at: float | None = None,
    asked_in: int | None = None,
) -> tuple[np.ndarray, np.ndarray, Evidence]:
    """Candidates (member numbers), their feature matrix, and the evidence behind it (vectorised over the
    hit rows and the rows of the threads they belong to). `asked_at`: when the question is asked (epoch
    seconds), and `asked_in`: the channel it is asked in (database id), for a live ask."""
    a = corpus.arrays
    author, role, thread = a["author"], a["role"], a["thread"]
    n_members = len(corpus.members)
    rows = np.fromiter(hits.rows, dtype=np.int64)
    dense = np.fromiter((hits.dense.get(int(r), 0.0) for r in rows), dtype=np.float64, count=len(rows))
    lexical = np.fromiter((hits.lexical.get(int(r), 0.0) for r in rows), dtype=np.float64, count=len(rows))
    near = np.fromiter((hits.near.get(int(r), hits.dense.get(int(r), 0.0)) for r in rows), dtype=np.float64,
                       count=len(rows))
    rel = 0.5 * dense + 0.5 * lexical
    h_member, h_role, h_thread = author[rows].astype(np.int64), role[rows], thread[rows]
    ok = _excluded_mask(h_member, asker, excluded)
    # Each thread is as relevant as its best hit (whoever wrote it).
    in_thread = h_thread >= 0
    threads, inverse = np.unique(h_thread[in_thread], return_inverse=True)
    thread_rel = np.zeros(len(threads))
    np.maximum.at(thread_rel, inverse, rel[in_thread])
    # And as near in meaning as its nearest message among the hits, leaving out those that share only everyday words
    # with the question (Hits.everyday): what may be shown of it.
    everyday = np.isin(rows, np.fromiter(hits.everyday, dtype=np.int64)) if hits.everyday else np.zeros(len(rows), bool)
    thread_near = np.zeros(len(threads))
    np.maximum.at(thread_near, inverse, np.where(everyday, 0.0, near)[in_thread])
    # Everyone who answered in a relevant thread, whether or not their own message matched: per member
    # and thread, their first answer there.
    t_rows = np.sort(rows_of(corpus, "thread", threads)) if len(threads) else np.zeros(0, dtype=np.int64)
    t_rows = t_rows[(role[t_rows] == ROLE_ANSWER) & pri.mask[t_rows]]  # known then: alive, and before
    t_rows = t_rows[_excluded_mask(author[t_rows].astype(np.int64), asker, excluded)]
    pair_key = author[t_rows].astype(np.int64) * (int(thread.max(initial=0)) + 1) + thread[t_rows]
    _, first_of_pair = np.unique(pair_key, return_index=True)
    p_row = t_rows[first_of_pair]
    p_member, p_thread = author[p_row].astype(np.int64), thread[p_row].astype(np.int64)
    p_rel = thread_rel[np.searchsorted(threads, p_thread)] if len(threads) else np.zeros(0)
    # Candidates: members with evidence, the regulars and people who helped this asker before (even
    # without a matching message), and members with a matching declared skill.
    aff = affinity(corpus, pri, asker)
    pools = [h_member[ok], p_member, pri.leaders(extra_candidates)]
    best = np.argsort(-aff)[:extra_candidates]
    pools.append(best[aff[best] > 0])
    if skill:
        pools.append(np.fromiter(skill, dtype=np.int64))
    cands = np.unique(np.concatenate(pools).astype(np.int64))
    cands = cands[_excluded_mask(cands, asker, excluded)]
    if len(cands) == 0:
        return cands, np.zeros((0, len(FEATURES))), Evidence(*[np.zeros(0)] * 7, np.zeros(0, dtype=bool))
    k = len(cands)

    def per_cand(members: np.ndarray, values: np.ndarray) -> np.ndarray:
        return np.bincount(np.searchsorted(cands, members), weights=values, minlength=k)[:k]

    feats = np.zeros((k, len(FEATURES)))
    hm, hr, hrel = h_member[ok], h_role[ok], rel[ok]
    # The asker's follow-ups in their own thread ("still fails after I set the flag") say what their problem is more
    # than what they know: they weigh OWN_FOLLOW_UP_WEIGHT. The question itself has features of its own ("asked").
    roots = a["thread_root_author"]
    q_thread = h_thread[ok]
    own = (q_thread >= 0) & (roots[np.maximum(q_thread, 0)] == hm) if len(roots) else np.zeros(len(hm), bool)
    weight = np.where(own & (hr != ROLE_ASK), OWN_FOLLOW_UP_WEIGHT, ROLE_WEIGHT[hr])
    feats[:, 0] = per_cand(hm, dense[ok] * weight)
    feats[:, 1] = per_cand(hm, lexical[ok] * weight)
    feats[:, 10] = per_cand(hm, hrel * weight)
    best_rel = np.zeros(k)
    np.maximum.at(best_rel, np.searchsorted(cands, hm), hrel * weight)
    feats[:, 11] = best_rel
    asks = hr == ROLE_ASK
    feats[:, 3] = per_cand(hm[asks], hrel[asks])
    answers = hr == ROLE_ANSWER
    ans_rows, ans_thread = rows[ok][answers], h_thread[ok][answers]
    thanked = np.zeros(len(ans_thread))
    in_a_thread = ans_thread >= 0
    thanked[in_a_thread] = a["thread_thanked"][ans_thread[in_a_thread]]
    bonus = thanked + np.minimum(a["reactions"][ans_rows].astype(float), 3.0) / 3.0
    feats[:, 8] = per_cand(hm[answers], hrel[answers] * bonus)
    feats[:, 2] = per_cand(p_member, p_rel)
    first = a["first"][p_row]
    feats[:, 14] = per_cand(p_member[first], p_rel[first])
    feats[:, 4] = pri.answers[cands]
    feats[:, 5] = pri.recent[cands]
    feats[:, 6] = pri.week[cands]
    feats[:, 7] = aff[cands]
    feats[:, 10] = feats[:, 10] / np.sqrt(1.0 + pri.messages[cands]) * 10.0
    feats[:, 12] = together(corpus, pri, asker)[cands]
    feats[:, 13] = pri.first[cands]
    feats[:, 15] = affinity(corpus, pri, asker, first_only=True)[cands]
    feats[:, _COL["messages"]] = pri.messages[cands]
    feats[:, _COL["started"]] = pri.started[cands]
    if asker >= 0:
        frm, to, when = a["mention_from"], a["mention_to"], a["mention_ts"]
        known = when < pri.before if pri.before is not None else np.ones(len(when), dtype=bool)
        feats[:, _COL["addresses_asker"]] = np.bincount(frm[known & (to == asker)], minlength=n_members)[cands]
        feats[:, _COL["addressed_by_asker"]] = np.bincount(to[known & (frm == asker)], minlength=n_members)[cands]
    if skill:
        feats[:, 9] = [skill.get(int(m), 0.0) for m in cands]
    feats = np.log1p(np.maximum(feats, 0.0))
    regular = np.isin(cands, pri.leaders(REGULARS, busiest_answerers=True))
    feats[:, _COL["regular"]] = regular
    feats[:, _COL["answers_share"]] = pri.answers[cands] / max(pri.answers.max(), 1.0)
    feats[:, _COL["first_share"]] = pri.first[cands] / max(pri.first.max(), 1.0)
    feats[:, _COL["messages_share"]] = pri.messages[cands] / max(pri.messages.max(), 1.0)
    for niche, base in NICHE_OF.items():
        feats[:, _COL[niche]] = feats[:, _COL[base]] * ~regular
    where = question_channels(corpus, pri, rows, rel, asker, asked_in)
    lift = pri.channel_lift(where, cands)
    feats[:, _COL["channel"]] = feats[:, _COL["channel_evidence"]] = lift
    if asked_at is not None:
        available = pri.availability()[cands, hour_of(asked_at)]
        present = np.log1p(pri.present(asked_at)[cands])
        for col, value in (("available", available), ("present", present)):
            feats[:, _COL[col]] = feats[:, _COL[f"{col}_evidence"]] = value
    nothing = not (lexical[ok] > 0).any() and not (dense[ok] >= MIN_DENSE_EVIDENCE).any()
    # Quoted: what members told, never what they asked (a question, or the asker's follow-up in their thread).
    quotable = (hr != ROLE_ASK) & ~own & ~a["asks"][rows[ok]] & a["substantive"][rows[ok]]
    quotable &= ~a["acknowledges"][rows[ok]]
    # The bar is set by what can be quoted: the question asked before (or a near copy of it) is the best hit
    # there is, and measured against it every answer it got fell under EVIDENCE_SHARE and nobody was quoted.
    top_rel = np.inf if nothing or not quotable.any() else float(hrel[quotable].max())
    # A message of links alone is shown only where a word of the question is in them (docs/contracts.html for "racket
    # contracts"): its nearness in meaning is that of its URLs' pieces.
    shown = (near >= QUOTE_MIN_SIMILARITY) & ~everyday & ~(a["links_only"][rows] & (lexical == 0))
    quote = (hrel >= EVIDENCE_SHARE * top_rel) & quotable & shown[ok]
    # A similar thread is shown for a reply that tells something: "lol" or "me too?" in a thread still counts
    # for the ranking (who is in such conversations; without it the long tail drops 1.32x -> 1.25x), but is
    # no evidence that its author knows the answer. Per member and thread, their first such reply counts, and is
    # quoted if it matches the question itself: a word of it, or as near as MIN_DENSE_EVIDENCE (every message
    # of a small community is a dense hit, lunch plans in a similar thread too), and is near in meaning, as any quote.
    matches = (lexical > 0) | (dense >= MIN_DENSE_EVIDENCE)
    matched, worth_quoting = rows[matches & ~everyday], rows[matches & shown]
    told = a["substantive"][t_rows] & ~a["asks"][t_rows]
    told &= ~a["acknowledges"][t_rows]
    _, first_told = np.unique(pair_key[told], return_index=True)
    e_row = t_rows[told][first_told]
    e_member, e_thread = author[e_row].astype(np.int64), thread[e_row].astype(np.int64)
    e_rel = thread_rel[np.searchsorted(threads, e_thread)] if len(threads) else np.zeros(0)
    # Likewise "similar" is measured against the best thread someone told something in, not the best hit of any
    # kind (a question nobody answered, asked again).
    # And a thread is similar only if something said in it matches the question (a word of it, or as near as
    # MIN_DENSE_EVIDENCE): where the words matched only messages outside threads, the best thread was itself
    # unrelated and every thread measured against it passed (a terraform thread "similar" to a question on the
    # kitchen's cleaning; audit 10).
    on_topic = np.isin(e_thread, thread[matched]) if len(matched) else np.zeros(len(e_thread), dtype=bool)
    # And one of its messages must be near the question in meaning, as a quote must (QUOTE_MIN_SIMILARITY): a word
    # shared is not enough to call a conversation similar. On 60 questions of racket-2019, 147 of the 804 similar
    # threads shown had no message that near (a thread on Typed Racket's inference "similar" to a question on a
    # hackathon's tracks). The count shown says so; the ranking weighs every relevant thread, as before.
    if len(threads):
        on_topic &= thread_near[np.searchsorted(threads, e_thread)] >= QUOTE_MIN_SIMILARITY
    top_thread = np.inf if nothing or not on_topic.any() else float(e_rel[on_topic].max())
    similar = (e_rel >= SIMILAR_THREAD_SHARE * top_thread) & on_topic
    evidence = Evidence(hm[quote], (hrel * weight)[quote], rows[ok][quote],
                        e_member[similar], e_thread[similar], 0.5 * e_rel[similar], e_row[similar],
                        np.isin(e_row[similar], worth_quoting), where)
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
    asked_at: float | None = None,
    before: float | None = None,
    asked_in: int | None = None,
) -> list[Ranked]:
    """The `top` members most able to answer, best first, with the rows that show why. `asked_at` (epoch
    seconds) is when the question is asked, and `asked_in` the channel (database id), for a live ask; replays leave
    them out. `before`: only messages before this time count (a question replayed at its time, with later history
    stored).

    Hits of messages removed since they were found are dropped: a live ask's search is found across awaits, and a
    message deleted meanwhile (the catch-up finding it gone) left its author suggested with nothing to show, "active
    here (0 messages)"."""
    alive = corpus.arrays["alive"]
    if not all(alive[row] for row in hits.rows):
        hits = replace(hits, dense={r: w for r, w in hits.dense.items() if alive[r]},
                       lexical={r: w for r, w in hits.lexical.items() if alive[r]})
    # A declared skill may be all a member has here (no message yet): they join the corpus's members, after
    # the asker and the excluded are left out by their ids.
    skill_idx = {corpus.member(u): s for u, s in (skill or {}).items() if u != asker and u not in excluded}
    asker_idx = corpus.member_index.get(asker, -1) if asker else -1
    excluded_idx = {corpus.member_index[e] for e in excluded if e in corpus.member_index}
    pri = cached_priors(corpus, ref_time, before)
    cands, feats, evidence = features(corpus, hits, pri, asker=asker_idx, excluded=excluded_idx, skill=skill_idx,
                                      asked_at=asked_at, asked_in=asked_in)
    if len(cands) == 0:
        return []
    if weights is None or len(weights) != len(DEFAULT_MODEL):  # none fitted yet, or fitted on other features
        weights = DEFAULT_MODEL
    probs = mixture(feats, weights)
    if skill_idx:
        probs = with_claims(probs, cands, skill_idx)
    order = np.argsort(-probs, kind="stable")[:top]
    ts = corpus.arrays["ts"]
    out = []
    for i in order:
        m = int(cands[i])
        rows, similar_threads = evidence.of(m)
        # "latest" goes with the similar threads it is said of (it was the newest of five rows, only three shown)
        replies = sorted(evidence.thread_rows(m).tolist(), key=lambda r: -ts[r])
        latest = float(ts[replies[0]]) if replies else None
        out.append(Ranked(m, float(probs[i]), feats[i], rows[:5], similar_threads, latest, replies,
                          home_channel(corpus, pri, m, evidence.channels) if feats[i, _COL["channel"]] >= TALKS_MORE
                          else None))
    return out


def home_channel(corpus: Corpus, pri: Priors, member: int, where: dict[int, float]) -> int | None:
    """Of the channels a question belongs in (`where`), the one the member's talk there weighs most in: the row of
    their latest message there (its record names the channel)."""
    rows = known_rows(corpus, pri, member)
    chans = corpus.arrays["channel"][rows]
    best = max(where, key=lambda c: where[c] * int((chans == c).sum()), default=None)
    there = rows[chans == best] if best is not None else rows[:0]
    return int(there.max()) if len(there) else None
