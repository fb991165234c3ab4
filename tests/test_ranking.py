"""rank_experts on a hand-made corpus: activity candidates and weights fitted on another feature set."""
import numpy as np

from matching.corpus import Corpus, MessageRecord
from matching.ranking import DEFAULT_MODEL, Hits, rank_experts

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
