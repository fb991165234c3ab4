"""rank_experts and the fit on hand-made corpora: activity candidates, weights fitted on another feature set,
availability at the hour of a live question, the channels a question belongs in."""
from dataclasses import replace

import numpy as np
import pytest

from matching.corpus import Corpus, MessageRecord
from matching.fit import build_examples, fit_weights
from matching.ranking import (
    DEFAULT_MODEL,
    FEATURES,
    OWN_FOLLOW_UP_WEIGHT,
    TIMED,
    Hits,
    features,
    priors,
    question_channels,
    rank_experts,
)

LATER = 1_000_000.0 + 100 * 86400  # months after the corpus: nobody counts as recently active


def _corpus() -> Corpus:
    recs = []
    n = 0

    def msg(author, text, thread=None, root=False, parent=None):
        nonlocal n
        n += 1
        recs.append(MessageRecord(id=n, author=author, ts=1_000_000.0 + n * 60, text=text, channel="general",
                                  thread=thread, is_root=root, parent_author=parent))

    msg("asker", "how do I parse json with the stdlib?", thread="t1", root=True)
    msg("helper", "use the json module, json.loads on the string", thread="t1", parent="asker")
    for i in range(30):  # a member who talks a lot but never replies in anyone's thread
        msg("chatty", f"just thinking out loud about macros number {i}", thread=f"c{i}", root=True)
    corpus = Corpus()
    corpus.add(recs)
    return corpus


def test_the_most_active_member_is_a_candidate_without_any_answers():
    corpus = _corpus()
    ranked = rank_experts(corpus, Hits({}, {}), asker="someone-new", excluded=set(), ref_time=LATER, top=5)
    assert "chatty" in {corpus.members[r.member] for r in ranked}


def test_weights_fitted_on_another_feature_set_fall_back_to_the_defaults():
    corpus = _corpus()
    hits = Hits({1: 0.9}, {1: 1.0})
    old = np.ones(len(DEFAULT_MODEL) - 3)
    got = rank_experts(corpus, hits, asker="other", excluded=set(), ref_time=1_100_000.0, weights=old, top=3)
    want = rank_experts(corpus, hits, asker="other", excluded=set(), ref_time=1_100_000.0, top=3)
    assert [r.member for r in got] == [r.member for r in want]
    assert [r.score for r in got] == [r.score for r in want]


def test_replies_outside_threads_in_a_community_without_threads_are_ranked():
    # Discord-style replies (a reference, no thread): answers with no thread at all in the corpus.
    corpus = Corpus()
    corpus.add([MessageRecord(id=1, author="asker", ts=1_000_000.0, text="how do I tune postgres indexes?"),
                MessageRecord(id=2, author="dba", ts=1_000_060.0, text="postgres index tuning: start with EXPLAIN",
                              parent_author="asker", reactions=2)])
    ranked = rank_experts(corpus, Hits({1: 0.9}, {1: 1.0}), asker="newcomer", excluded=set(), ref_time=1_000_100.0)
    assert corpus.members[ranked[0].member] == "dba" and ranked[0].evidence == [1]


def test_an_askers_follow_ups_in_their_own_thread_weigh_half_as_evidence():
    """"Thanks Bob, iter_mut fixed my borrow checker error!" says what the asker's problem was more than what they
    know: as evidence it weighs OWN_FOLLOW_UP_WEIGHT, where the same message in another's thread weighs fully."""
    corpus = Corpus()
    corpus.add([MessageRecord(id=1, author="alice", ts=1_000_000.0, text="my loop over a Vec will not compile",
                              thread="a", is_root=True),
                MessageRecord(id=2, author="bob", ts=1_000_060.0, text="use iter_mut()", thread="a",
                              parent_author="alice"),
                MessageRecord(id=3, author="alice", ts=1_000_120.0, text="Thanks Bob, iter_mut fixed my borrow "
                              "checker error!", thread="a", parent_author="bob"),
                MessageRecord(id=4, author="cara", ts=1_000_180.0, text="how do closures capture?", thread="c",
                              is_root=True),
                MessageRecord(id=5, author="bob", ts=1_000_240.0, text="iter_mut fixed the borrow checker error for "
                              "me too", thread="c", parent_author="cara")])
    assert OWN_FOLLOW_UP_WEIGHT < 1.0
    cands, feats, _ = features(corpus, Hits({2: 0.8, 4: 0.8}, {}), priors(corpus, ref_time=1_000_300.0), asker=-1,
                               excluded=set())
    dense = dict(zip((corpus.members[m] for m in cands), feats[:, FEATURES.index("dense")], strict=True))
    assert dense["alice"] == pytest.approx(np.log1p(0.8 * OWN_FOLLOW_UP_WEIGHT))
    assert dense["bob"] == pytest.approx(np.log1p(0.8))


def _day_and_night() -> tuple[Corpus, Hits]:
    """Two members who answered the same questions equally well: one posts in the afternoon (UTC), one at night."""
    recs, hits = [], {}
    day0 = 1_000_000.0 - 1_000_000.0 % 86400  # a midnight, UTC
    for k in range(12):
        root = 2 * k * 3 + 1
        recs.append(MessageRecord(id=root, author=f"asker{k}", ts=day0 + k * 86400 + 13 * 3600,
                                  text="postgres ignores my index", thread=f"t{k}", is_root=True))
        day_first = k % 2 == 0  # each replies first in turn
        for j, (who, hour) in enumerate((("day", 14), ("night", 3))):
            row_id = root + 1 + j
            ts = day0 + (k + 1) * 86400 + hour * 3600 + (86400 if who == "night" and day_first else 0)
            recs.append(MessageRecord(id=row_id, author=who, ts=ts, text="run ANALYZE, the statistics are stale",
                                      thread=f"t{k}", parent_author=f"asker{k}"))
    corpus = Corpus()
    corpus.add(sorted(recs, key=lambda r: r.ts))
    for row, rec in enumerate(corpus.records):
        if rec.author in ("day", "night"):
            hits[row] = 0.8
    return corpus, Hits(hits, hits)


def test_who_is_usually_around_at_the_hour_of_a_live_question_ranks_first():
    corpus, hits = _day_and_night()
    model = DEFAULT_MODEL.copy()
    model[TIMED.nonzero()[0]] = 1.0  # as a fit gives it where availability tells who answers
    later = float(corpus.arrays["ts"].max()) + 86400 * 2
    day0 = later - later % 86400

    def first(asked_at):
        ranked = rank_experts(corpus, hits, asker="someone", excluded=set(), ref_time=later, weights=model,
                              top=2, asked_at=asked_at)
        return [corpus.members[r.member] for r in ranked], [r.score for r in ranked]

    assert first(day0 + 14.5 * 3600)[0] == ["day", "night"]
    assert first(day0 + 3.5 * 3600)[0] == ["night", "day"]
    members, scores = first(None)  # a replay: the hour is unknown and nobody gains from it
    assert set(members) == {"day", "night"} and scores[0] == pytest.approx(scores[1])


def test_the_fit_learns_availability_for_live_asks_and_leaves_replays_without_it():
    """Where the answerer is whoever is around at the hour of the question, the timed model weighs availability;
    the untimed one cannot use it and keeps its default weight of zero."""
    rng = np.random.default_rng(7)
    recs = []
    day0 = 1_000_000.0 - 1_000_000.0 % 86400
    for k in range(150):
        hour = 14 if k % 2 else 3
        t = day0 + k * 86400 + hour * 3600
        recs.append(MessageRecord(id=3 * k + 1, author=f"asker{k % 39}", ts=t, text=f"question number {k} about things",
                                  thread=f"t{k}", is_root=True))
        # Whoever is around answers within minutes; the other one later, in their own hours.
        recs.append(MessageRecord(id=3 * k + 2, author="day" if hour == 14 else "night", ts=t + 600,
                                  text="an answer about things", thread=f"t{k}", parent_author=f"asker{k % 39}"))
        recs.append(MessageRecord(id=3 * k + 3, author="night" if hour == 14 else "day", ts=t + 11 * 3600,
                                  text="another answer about things", thread=f"t{k}", parent_author=f"asker{k % 39}"))
    corpus = Corpus()
    corpus.add(recs)
    vectors = rng.normal(size=(len(corpus), 16))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    result = fit_weights(*build_examples(corpus, vectors, np.ones(len(corpus), dtype=bool)))
    assert result is not None
    available = [FEATURES.index("available"), FEATURES.index("available_evidence")]
    assert (result.weights[available] > 0.3).all(), result.weights[available]
    assert (result.untimed[:-1][TIMED] == 0).all()  # availability and presence: unknown in a replay
    assert set(result.as_dict()) >= {"weights", "untimed", "features"}


def test_who_is_in_the_conversation_right_now_ranks_first_for_a_live_question():
    corpus, hits = _day_and_night()
    later = float(corpus.arrays["ts"].max()) + 86400 * 2
    asked_at = later - later % 86400 + 14.5 * 3600  # the day member's usual hour...
    corpus.add([MessageRecord(id=999, author="night", ts=asked_at - 1800, text="still up, fighting a deploy",
                              channel="general")])  # ...but the night member spoke half an hour ago
    model = DEFAULT_MODEL.copy()
    model[[FEATURES.index("present"), FEATURES.index("present_evidence")]] = 1.0

    def scores(at, weights=model):
        ranked = rank_experts(corpus, hits, asker="someone", excluded=set(), ref_time=asked_at, weights=weights,
                              top=2, asked_at=at)
        return {corpus.members[r.member]: r.score for r in ranked}

    assert scores(asked_at)["night"] > scores(asked_at)["day"]
    assert scores(asked_at, DEFAULT_MODEL)["night"] < scores(asked_at, DEFAULT_MODEL)["day"]
    # Hours later the night member is no longer "right now": presence adds nothing.
    assert scores(asked_at + 3 * 3600) == pytest.approx(scores(asked_at + 3 * 3600, DEFAULT_MODEL))


def _two_channels(*, one_channel: bool = False) -> Corpus:
    """#python (channel 1), where "py" answered 10 questions, and #rust (channel 2), where "rs" answered 20, each
    with its talk (#rust's twice #python's); the asker "newbie" has talked only in #python. With `one_channel` it
    all happened in one channel."""
    recs = []

    def msg(author, channel, text, **kw):
        channel = 1 if one_channel else channel
        recs.append(MessageRecord(id=len(recs) + 1, author=author, ts=1_000_000.0 + len(recs) * 60, text=text,
                                  channel_id=channel, channel={1: "python", 2: "rust"}[channel], **kw))

    for k in range(20):
        msg(f"rustacean{k}", 2, f"borrow checker question {k}", thread=f"r{k}", is_root=True)
        msg("rs", 2, f"answer {k}: lifetimes", thread=f"r{k}", parent_author=f"rustacean{k}")
    for k in range(10):
        msg(f"pythonista{k}", 1, f"asyncio question {k}", thread=f"p{k}", is_root=True)
        msg("py", 1, f"answer {k}: await it", thread=f"p{k}", parent_author=f"pythonista{k}")
    for k in range(30):  # each channel's talk, #rust the busier
        msg("chatter-py", 1, f"pip or poetry, day {k}")
        msg("chatter-rs", 2, f"cargo or bazel, day {k}")
        msg("chatter-rs", 2, f"clippy or rustfmt, day {k}")
    for k in range(5):
        msg("newbie", 1, f"hello everyone, day {k} of learning")
    corpus = Corpus()
    corpus.add(recs)
    return corpus


def _order(corpus: Corpus, hits: Hits, asker: str) -> list[str]:
    ranked = rank_experts(corpus, hits, asker=asker, excluded=set(), ref_time=LATER, top=2)
    return [corpus.members[r.member] for r in ranked]


def test_the_regular_of_the_askers_channel_ranks_above_a_busier_member_of_another_channel():
    assert _order(_two_channels(one_channel=True), Hits({}, {}), "newbie") == ["rs", "py"]  # more answers
    assert _order(_two_channels(), Hits({}, {}), "newbie") == ["py", "rs"]  # the channel newbie talks in


def test_a_member_who_talks_far_more_than_usual_in_the_questions_channel_is_said_to():
    corpus = _two_channels()
    ranked = rank_experts(corpus, Hits({}, {}), asker="newbie", excluded=set(), ref_time=LATER, top=2)
    py, rs = ranked
    assert corpus.records[py.channel_row].channel == "python" and corpus.records[py.channel_row].author == "py"
    assert rs.channel_row is None  # they talk in #rust, where the question does not belong
    one = rank_experts(_two_channels(one_channel=True), Hits({}, {}), asker="newbie", excluded=set(), ref_time=LATER)
    assert all(r.channel_row is None for r in one)  # in one channel, nobody talks more there than usual


def test_a_question_like_the_talk_of_a_channel_belongs_there():
    corpus = _two_channels()
    in_python = {row: 0.8 for row, rec in enumerate(corpus.records) if rec.author.startswith("pythonista")}
    # An asker with no history: the channel is the one of the messages like the question (questions py answered,
    # not py's own words, so only the channel can tell).
    assert _order(corpus, Hits(in_python, {}), "stranger") == ["py", "rs"]
    assert _order(corpus, Hits({}, {}), "stranger") == ["rs", "py"]



def test_a_question_asked_in_a_channel_belongs_there_too():
    """A member with no history asks in #python (a new member's first question): its regular comes first; asked in a
    channel where the community has said too little to tell (a DM, a channel kept for asking the bot), nothing
    changes."""
    corpus = _two_channels()
    ranked = lambda asked_in: [corpus.members[r.member] for r in rank_experts(  # noqa: E731
        corpus, Hits({}, {}), asker="stranger", excluded=set(), ref_time=LATER, top=2, asked_in=asked_in)]
    assert ranked(None) == ["rs", "py"]
    assert ranked(1) == ["py", "rs"]
    assert ranked(2) == ["rs", "py"]
    assert ranked(3) == ranked(None)  # no message there
    pri = priors(corpus, LATER)
    assert question_channels(corpus, pri, np.zeros(0, np.int64), np.zeros(0), -1, 1) == {1: 1.0}
    newbie = corpus.member_index["newbie"]  # talks only in #python: half of it, and half where asked
    assert question_channels(corpus, pri, np.zeros(0, np.int64), np.zeros(0), newbie, 2) == {1: 0.5, 2: 0.5}
    # #python holds 5 of newbie's messages only: under CHANNEL_PRIOR, it says nothing.
    few = Corpus()
    few.add([r for r in corpus.records if r.author == "newbie"] + [r for r in corpus.records if r.channel_id == 2])
    assert question_channels(few, priors(few, LATER), np.zeros(0, np.int64), np.zeros(0), -1, 1) == {}

def test_a_community_in_one_channel_has_no_channel_signal():
    corpus = _two_channels(one_channel=True)
    ranked = rank_experts(corpus, Hits({1: 0.9}, {}), asker="newbie", excluded=set(), ref_time=LATER, top=5)
    columns = [FEATURES.index("channel"), FEATURES.index("channel_evidence")]
    assert ranked and all((r.features[columns] == 0).all() for r in ranked)


def _everyday_racket(racket_messages: int) -> Corpus:
    """A question's thread with two replies (one on contracts, one a link that shares only "racket"), a thread on a
    racket meetup, then `racket_messages` chats that say "racket" among 600 messages in all."""
    recs = [MessageRecord(id=1, author="asker", ts=1_000_000.0, text="how do racket contracts work?", thread="t0",
                          is_root=True),
            MessageRecord(id=2, author="kim", ts=1_000_060.0, text="contracts: wrap it with define/contract and ->",
                          thread="t0", parent_author="asker"),
            MessageRecord(id=3, author="lee", ts=1_000_120.0, text="see https://github.com/racket/racket/pull/1",
                          thread="t0", parent_author="asker"),
            MessageRecord(id=4, author="ann", ts=1_000_130.0, text="racket meetup tonight, who is in?", thread="t1",
                          is_root=True),
            MessageRecord(id=5, author="mo", ts=1_000_140.0, text="me! see you at seven", thread="t1",
                          parent_author="ann")]
    for i in range(595):
        text = f"racket is fun, day {i}" if i < racket_messages else f"lunch plans number {i}"
        recs.append(MessageRecord(id=6 + i, author="chatty", ts=1_000_200.0 + 60 * i, text=text))
    corpus = Corpus()
    corpus.add(recs)
    return corpus


def test_a_message_sharing_only_everyday_words_with_the_question_is_not_shown_as_evidence():
    """"racket" is in 12% of racket-2019's messages, and "racket contracts" quoted a bare pull-request link for it
    (0.55 near, by the shared word). Such a message still counts for the ranking."""
    from matching.ranking import everyday_only
    from matching.text import tokens

    corpus = _everyday_racket(60)  # 62 of 600 messages say "racket": everyday here
    words, rows = tokens("racket contracts"), {corpus.row_of[2], corpus.row_of[3], corpus.row_of[4]}
    assert everyday_only(corpus, words, rows) == {corpus.row_of[3], corpus.row_of[4]}
    hits = Hits({r: 0.55 for r in rows}, {r: 1.0 for r in rows})
    shown = {}
    for everyday in (frozenset(), everyday_only(corpus, words, rows)):
        ranked = rank_experts(corpus, Hits(hits.dense, hits.lexical, everyday=everyday), asker="newcomer",
                              excluded=set(), ref_time=LATER, top=5)
        shown[bool(everyday)] = {corpus.members[r.member]: (r.evidence, r.threads_answered, round(r.score, 6))
                                 for r in ranked}
    assert shown[False]["lee"][:2] == ([corpus.row_of[3]], 1)  # without the rule: the link, and a similar thread
    # With it, lee still answered a thread like the question (kim's reply in it is on contracts): not quoted for it.
    assert shown[True]["lee"][:2] == ([], 1) and shown[True]["kim"][:2] == ([corpus.row_of[2]], 1)
    # Nor is a thread "similar" for a message in it that shares only "racket" (a meetup).
    assert shown[False]["mo"][1] == 1 and shown[True]["mo"][1] == 0
    assert [s[2] for s in shown[True].values()] == [s[2] for s in shown[False].values()]  # the ranking is the same
    # Where the word is in fewer messages (a small community, or a rarer word), it tells.
    corpus = _everyday_racket(40)
    assert everyday_only(corpus, words, {corpus.row_of[2], corpus.row_of[3]}) == frozenset()


def test_which_documents_hold_a_word_agrees_with_their_scores():
    """BM25Index.contains searches each word's postings (everyday_only asks it of a few hits, where scores() would
    pass over the whole index); it must say what scores() says, after appends too."""
    from matching.lexical import BM25Index

    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(30)]
    index = BM25Index()
    for _ in range(3):
        index.add([list(rng.choice(vocab, size=rng.integers(0, 6))) for _ in range(200)])
        docs = rng.choice(len(index), size=50, replace=False)
        for words in (["w0"], ["w1", "w2", "unseen"], [], ["unseen"]):
            assert (index.contains(docs, words) == (index.scores(words)[docs] > 0)).all()
    assert index.doc_share(["unseen"])[0] == 0.0
    assert index.doc_share(["w0"])[0] == pytest.approx((index.scores(["w0"]) > 0).mean())


def test_a_message_of_links_alone_is_shown_only_where_a_word_of_the_question_is_in_them():
    """"@Shavon https://github.com/certainty/graphql-racket" came 0.3 near "rackunit testing" (the model reads the
    pieces of the URL) and was quoted for it; a docs link with the question's word in it is still the answer it may
    be."""
    recs = [MessageRecord(id=1, author="asker", ts=1_000_000.0, text="how do I test with rackunit?", thread="t0",
                          is_root=True),
            MessageRecord(id=2, author="lee", ts=1_000_060.0, text="@Shavon https://github.com/certainty/graphql-racket",
                          thread="t0", parent_author="asker"),
            MessageRecord(id=3, author="kim", ts=1_000_120.0, text="rackunit: check-equal? inside a test-suite",
                          thread="t0", parent_author="asker"),
            MessageRecord(id=4, author="mo", ts=1_000_180.0, text="https://docs.racket-lang.org/rackunit/ :+1:",
                          thread="t0", parent_author="asker")]
    for i in range(20):
        recs.append(MessageRecord(id=5 + i, author="chatty", ts=1_000_200.0 + 60 * i, text=f"lunch plans number {i}"))
    corpus = Corpus()
    corpus.add(recs)
    lee, kim, mo = corpus.row_of[2], corpus.row_of[3], corpus.row_of[4]
    ranked = rank_experts(corpus, Hits({lee: 0.35, kim: 0.4, mo: 0.35}, {kim: 0.3, mo: 0.3}), asker="newcomer",
                          excluded=set(), ref_time=LATER, top=5)
    evidence = {corpus.members[r.member]: r.evidence for r in ranked}
    assert evidence["kim"] == [kim] and evidence["mo"] == [mo]  # the docs link has the question's word in it
    assert evidence["lee"] == []


def test_an_answer_edited_or_read_again_stays_its_threads_first_reply_and_its_mentions_count_once():
    """A live corpus follows an edit by adding the message again (its old row dead), and a change made by another
    process by removing it, then adding it: the answer lost its place as first reply (its thread was answered already),
    and its mentions of the asker counted twice, a deleted message's still once."""
    corpus = Corpus()
    root = MessageRecord(id=1, author="UASK", ts=1_000_000.0, text="why is my index ignored?", thread="t", is_root=True)
    answer = MessageRecord(id=2, author="UDBA", ts=1_000_060.0, text="<@UASK> run ANALYZE first", thread="t",
                           parent_author="UASK")
    corpus.add([root, answer])

    def first_and_mentions() -> tuple[bool, int]:
        a = corpus.arrays
        return bool(a["first"][corpus.row_of[2]]), int((a["mention_to"] == corpus.member_index["UASK"]).sum())

    assert first_and_mentions() == (True, 1)
    corpus.add([replace(answer, text="<@UASK> run ANALYZE first (edited)")])
    assert first_and_mentions() == (True, 1)
    corpus.remove(2)
    corpus.add([answer])
    assert first_and_mentions() == (True, 1)
    corpus.add([MessageRecord(id=3, author="UOTHER", ts=1_000_120.0, text="or REINDEX", thread="t",
                              parent_author="UASK")])
    assert not corpus.arrays["first"][corpus.row_of[3]]  # the thread's first reply is still the answer
    corpus.remove(2)
    assert int((corpus.arrays["mention_to"] == corpus.member_index["UASK"]).sum()) == 0


def test_a_hit_of_a_message_removed_since_it_was_found_suggests_nobody_for_it():
    """A live ask finds its hits across awaits: a message deleted meanwhile (the catch-up finding it gone) left its
    author, who had said nothing else, suggested as "active here (0 messages)"."""
    corpus = Corpus()
    corpus.add([MessageRecord(id=1, author="asha", ts=1_000_000.0, text="postgres ignores my index", thread="a",
                              is_root=True),
                MessageRecord(id=2, author="petra", ts=1_000_060.0, text="run EXPLAIN ANALYZE first", thread="a",
                              parent_author="asha")])
    hits = Hits({1: 0.8}, {1: 1.0})  # Petra's answer, row 1, found by the search
    assert "petra" in {corpus.members[r.member] for r in rank_experts(corpus, hits, asker="newcomer", excluded=set(),
                                                                      ref_time=1_000_100.0)}
    corpus.remove(2)
    ranked = rank_experts(corpus, hits, asker="newcomer", excluded=set(), ref_time=1_000_100.0)
    assert "petra" not in {corpus.members[r.member] for r in ranked}
