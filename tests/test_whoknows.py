"""Who knows X: ranking quality on the sample, the vector index contract, exclusions, bad input."""
from __future__ import annotations

import asyncio
import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select, update

from bot import events as ev
from bot.app import build_app
from bot.db.models import Channel, Community, Member, Message, MessageVector
from bot.services.evaluation import evaluate
from bot.services.expertise import ExpertiseService, conversations
from bot.settings import Settings
from matching.ranking import FEATURES, QUOTE_MIN_SIMILARITY, with_claims
from matching.text import clean
from matching.vector_index import NumpyVectorIndex
from tests.conftest import SAMPLE

TEAM = "T0SAMPLE01"


async def _community_id(app) -> int:
    async with app.db.sessions() as s:
        return (await s.scalar(select(Community).where(Community.external_id == TEAM))).id


async def test_sample_questions_find_their_experts(sample_app):
    cid = await _community_id(sample_app)
    cases = {
        "Why does Postgres ignore my index and do a sequential scan?": "Mariusz",
        "How do I debug pods that keep getting OOMKilled in Kubernetes?": "Mateus",
        "Writing Python extensions in Rust with PyO3 and maturin": "Hemi",
        "spatial join of points to polygons with geopandas, CRS problems": "Björn",
    }
    for question, expected in cases.items():
        found = await sample_app.expertise.rank(cid, question, top=3)
        assert found and expected in found[0].name, (question, [f.name for f in found])
        assert found[0].why and any(link for link in found[0].permalinks)


async def test_a_declared_skill_is_heard_where_regulars_answer_everything(sample_app):
    """A quiet member who declares exactly the skill asked about is among the first suggestions, with the skill
    as the reason, even where the regulars answer most questions (a declared skill was only a feature the fit
    cannot learn, and a real community left such a member out of its top ten); a member proven on the topic
    still comes first. A broad skill counts for a question that names it, words like "help" do not. Declaring
    the same skill again, in another case, stores and counts it once."""
    cid = await _community_id(sample_app)
    excluded = await sample_app.expertise.excluded_members(cid)
    async with sample_app.db.sessions() as s:
        counts = (await s.execute(select(Member.external_id, func.count(Message.id))
                                  .join(Message, Message.author_id == Member.id)
                                  .where(Member.community_id == cid).group_by(Member.external_id)
                                  .order_by(func.count(Message.id), Member.external_id))).all()
    quiet = next(user for user, n in counts if n >= 2 and user not in excluded)
    nobody = "Who knows Erlang OTP supervision trees and restart strategies?"
    helm = "Who can help me write Helm charts for our Kubernetes services?"
    for question in (nobody, helm):
        assert quiet not in [f.user for f in await sample_app.expertise.rank(cid, question, top=10)]

    def skills(args: str) -> ev.CommandInvoked:
        return ev.CommandInvoked(community=TEAM, platform="slack", user=quiet, channel="C1", name="skills", args=args)

    for args in ("add erlang otp supervisors", "add Erlang OTP Supervisors, helm charts", "add erlang otp supervisors"):
        await sample_app.core.handle(skills(args))
    [listed] = await sample_app.core.handle(skills(""))
    assert listed.doc.plain().lower().count("erlang otp supervisors") == 1, listed.doc.plain()
    found = await sample_app.expertise.rank(cid, nobody, top=5)
    users = [f.user for f in found]
    assert quiet in users[:2], users
    assert any("declared" in why for why in found[users.index(quiet)].why)
    found = await sample_app.expertise.rank(cid, helm, top=5)
    assert found[0].name == "aiko" and quiet in [f.user for f in found[:3]], [f.name for f in found]
    # A broad skill matches a question that names it, unless the community talks of it all the time (Postgres
    # here, as Racket in a Racket community: it names nobody); words like "help" do not make an expert.
    await sample_app.core.handle(skills("add nginx, postgres"))
    found = [f.user for f in await sample_app.expertise.rank(
        cid, "Our nginx reverse proxy drops websocket upgrades with a 502, any idea why?", top=5)]
    assert quiet in found[:3], found
    found = await sample_app.expertise.rank(cid, "Why does Postgres ignore my index and do a sequential scan?", top=5)
    assert "Mariusz" in found[0].name and quiet not in [f.user for f in found[:3]], [f.name for f in found]
    await sample_app.core.handle(skills("remove nginx"))
    await sample_app.core.handle(skills("remove postgres"))
    generic = "Could I get some help and advice? I have questions about styling a React component"
    before = [f.user for f in await sample_app.expertise.rank(cid, generic, top=10)]
    await sample_app.core.handle(skills("add help, questions, advice"))
    after = await sample_app.expertise.rank(cid, generic, top=10)
    assert [f.user for f in after] == before and not any("declared" in why for f in after for why in f.why)
    # Claims are not shared out: many members declaring something broad take nothing from the one who declared
    # this; an endorsement (once, or again in another case) is worth less than a declaration.
    busy = [user for user, n in reversed(counts) if user not in excluded and user != quiet][:6]
    for user in busy[:5]:
        await sample_app.core.handle(ev.CommandInvoked(community=TEAM, platform="slack", user=user, channel="C1",
                                                       name="skills", args="add erlang, programming languages"))
    other = next(user for user, n in counts if user not in excluded and user not in (quiet, *busy))
    for topic in ("erlang otp supervisors", "ERLANG OTP SUPERVISORS"):
        await sample_app.core.handle(ev.CommandInvoked(community=TEAM, platform="slack", user=busy[5], channel="C1",
                                                       name="skills", args=f"endorse <@{other}> {topic}"))
    found = {f.user: f.score for f in await sample_app.expertise.rank(cid, nobody, top=10)}
    assert max(found, key=found.get) == quiet, found
    assert found.get(other, 0.0) < found[quiet] / 2, found


async def test_evidence_is_never_noise_and_private_channels_are_never_quoted(sample_app):
    """A question nothing matches still gets the regulars, but no quotes and no "similar threads"; a private
    channel an admin turned on counts for the ranking, but whoever asks is not shown its name, words or link."""
    cid = await _community_id(sample_app)
    for nonsense in ("zxqv plorkbat", "qwxz vbnm plok"):
        found = await sample_app.expertise.rank(cid, nonsense, top=5)
        regulars = ("answers often here", "has answered others here", "active here")
        assert found and all(why.startswith(regulars) for f in found for why in f.why)
        assert all(link is None for f in found for link in f.permalinks)
        assert not any(re.search(r"\((0 repl|1 replies)", why) for f in found for why in f.why)

    question = "Why does Postgres ignore my index and do a sequential scan?"
    [before] = await sample_app.expertise.rank(cid, question, top=1)
    quoted = {why.split("(#")[1].split(",")[0] for why in before.why if "(#" in why}
    assert quoted
    async with sample_app.db.sessions.begin() as s:
        await s.execute(update(Channel).where(Channel.community_id == cid, Channel.name.in_(quoted))
                        .values(is_private=True))
    [after] = await sample_app.expertise.rank(cid, question, top=1)
    assert after.user == before.user and after.score == before.score
    assert any(why.startswith("wrote about it in a private channel") for why in after.why)
    shown = " ".join(after.why)
    assert not any(f"#{name}" in shown for name in quoted) and "“" not in shown
    assert set(after.permalinks) <= {None}
    # Privacy follows the channel, not its name: renamed (the loaded corpus still knows the old name), or
    # sharing its old name with a public channel (Discord allows that), it is still never quoted.
    async with sample_app.db.sessions.begin() as s:
        await s.execute(update(Channel).where(Channel.community_id == cid, Channel.name.in_(quoted))
                        .values(name=Channel.name + "-renamed"))
        s.add_all([Channel(community_id=cid, external_id=f"public-{name}", name=name) for name in quoted])
    [renamed] = await sample_app.expertise.rank(cid, question, top=1)
    assert renamed.why == after.why and set(renamed.permalinks) <= {None}


async def test_a_message_sharing_only_a_word_of_the_question_is_not_quoted(sample_app):
    """A quote must be near the question in meaning: a remark in #random that shares "debugging" with a question
    on pods killed for memory still counts for the ranking, but is no evidence of knowing the answer. Every quote
    shown is at least QUOTE_MIN_SIMILARITY from the question, by the stored vectors."""
    cid = await _community_id(sample_app)
    question = "debugging pods that keep getting OOMKilled in Kubernetes"
    found = await sample_app.expertise.rank(cid, question, top=10)
    shown = [why for f in found for why in f.why]
    assert any("OOMKilled" in why for why in shown)  # the answer itself is quoted
    assert not any("my cat" in why for why in shown), shown
    said = {clean(m.text): m.id for m in await _messages(sample_app, cid)}
    query = sample_app.embedder.encode([clean(question)], query=True)[0]
    quoted = [said[t] for t in said for why in shown if why.startswith("“") and _snippet_of(why) in t]
    near = await sample_app.vectors.similarities(cid, query, quoted)
    assert quoted and len(near) == len(set(quoted)) and min(near.values()) >= QUOTE_MIN_SIMILARITY


def _snippet_of(why: str) -> str:
    """The quoted words of a "why" line, without the ellipsis a long message is cut with."""
    return why[1:why.index("” (#")].removesuffix("…")


async def test_a_question_replayed_at_its_time_knows_only_what_was_said_before(sample_app):
    cid = await _community_id(sample_app)
    question = "How do I debug pods that keep getting OOMKilled in Kubernetes?"

    def quoted_days(found) -> list[str]:  # noqa: ANN001
        return [m.group(1) for f in found for why in f.why if (m := re.search(r", (\d{4}-\d\d-\d\d)\)$", why))]

    days = quoted_days(await sample_app.expertise.rank(cid, question, top=5))
    at = datetime.fromisoformat(min(days)).replace(tzinfo=UTC)  # before everything quoted without a time
    found = await sample_app.expertise.rank(cid, question, top=5, now=at, replay=True)
    assert found and all(day < min(days) for day in quoted_days(found))
    assert not any("latest today" in why for f in found for why in f.why)


async def test_a_live_question_says_who_is_usually_around_at_its_hour(sample_app):
    cid = await _community_id(sample_app)
    question = "How do I debug pods that keep getting OOMKilled in Kubernetes?"
    [replay] = await sample_app.expertise.rank(cid, question, top=1)
    corpus = await sample_app.expertise.corpus(cid)
    rows = corpus.arrays["author"] == corpus.member_index[replay.user]
    hours = np.bincount((corpus.arrays["ts"][rows] % 86400 // 3600).astype(int), minlength=24)
    busiest, quietest = int(np.argmax(hours)), int(np.argmin(hours))
    assert "usually around at this time of day" not in replay.why  # a replay has no hour
    at = {}
    for h in (busiest, quietest):
        found = await sample_app.expertise.rank(cid, question, top=5, now=datetime(2026, 11, 27, h, 30, tzinfo=UTC))
        at[h] = next(f for f in found if f.user == replay.user)
    assert "usually around at this time of day" in at[busiest].why
    assert "usually around at this time of day" not in at[quietest].why


async def test_a_community_that_grew_or_was_never_fitted_is_fitted_again(sample_app):
    cid = await _community_id(sample_app)
    assert sample_app.scheduler.has("ranking:refit")
    assert await sample_app.expertise.refit_grown() == []  # fitted by the import, not grown since

    async def settings(change=None) -> dict:
        async with sample_app.db.sessions.begin() as s:
            community = await s.get(Community, cid)
            if change:
                community.settings = change(dict(community.settings))
            return dict(community.settings)

    fitted = (await settings())["ranking_fitted"]["messages"]
    await settings(lambda c: {**c, "ranking_fitted": {"messages": fitted // 2}})  # as if it had doubled since
    assert await sample_app.expertise.refit_grown() == [cid]
    assert (await settings())["ranking_fitted"]["messages"] == fitted
    await settings(lambda c: {k: v for k, v in c.items() if not k.startswith("ranking")})  # a live-only community
    assert await sample_app.expertise.refit_grown() == [cid]
    assert {"weights", "untimed"} <= set((await settings())["ranking"])
    assert await sample_app.expertise.refit_grown() == []
    # Fitted by an earlier release on fewer features (rank_experts ignores it): fitted again at once.
    await settings(lambda c: {**c, "ranking": {**c["ranking"], "features": c["ranking"]["features"][:-2]}})
    assert await sample_app.expertise.refit_grown() == [cid]
    assert (await settings())["ranking"]["features"] == list(FEATURES)
    assert await sample_app.expertise.refit_grown() == []


async def test_replicas_refit_a_community_once_and_share_the_weights(sample_app):
    """Two replicas over one database, their refit jobs at the same moment: one fits, the other takes its
    weights instead of keeping its own cached ones; a claim left by a replica that died is retried the
    next period."""
    cid = await _community_id(sample_app)
    first = sample_app.expertise
    second = ExpertiseService(sample_app.db, sample_app.embedder, NumpyVectorIndex())

    async def set_fitted(messages: int, ranking: dict | None = None) -> None:
        async with sample_app.db.sessions.begin() as s:
            community = await s.get(Community, cid)
            community.settings = {**community.settings, "ranking_fitted": {"messages": messages},
                                  **({"ranking": ranking} if ranking else {})}

    async with sample_app.db.sessions() as s:
        fitted = dict((await s.get(Community, cid)).settings)
    before = np.asarray(fitted["ranking"]["weights"])
    zeros = [0.0] * len(before)
    now = datetime(2026, 11, 27, 10, tzinfo=UTC)
    half = fitted["ranking_fitted"]["messages"] // 2  # as if the history had doubled since
    await set_fitted(half, {**fitted["ranking"], "weights": zeros, "untimed": zeros})
    for replica in (first, second):  # both replicas have these weights cached
        replica.forget_cache(cid)
        assert not (await replica.weights(cid, timed=True)).any()
    runs = await asyncio.gather(first.refit_grown(now=now), second.refit_grown(now=now))
    assert sorted(runs) == [[], [cid]]
    winner, other = (first, second) if runs[0] else (second, first)
    fresh = await winner.weights(cid, timed=True)
    assert np.allclose(fresh, before)  # the same history fits the same weights
    assert not (await other.weights(cid, timed=True)).any()
    assert await other.refit_grown(now=now) == []  # the next run of the other replica's job takes them
    assert np.allclose(await other.weights(cid, timed=True), fresh)

    await set_fitted(half)  # as if the winner had died before storing
    assert await other.refit_grown(now=now) == []  # claimed this period
    assert await other.refit_grown(now=now + timedelta(hours=6)) == [cid]


async def test_eval_beats_baselines_on_the_sample(sample_app):
    cid = await _community_id(sample_app)
    result = await evaluate(sample_app.expertise, cid)
    mine = result["systems"]["connective"]
    assert result["questions"] >= 20
    for baseline in ("most-active", "top-answerers", "bm25-doc", "dense-doc"):
        assert mine["mrr"] > result["systems"][baseline]["mrr"], result
    # Also scored as the live bot ranks: knowing the hour each question was asked.
    assert result["systems"]["connective+time"]["n"] == mine["n"]
    assert result["protocol"] == "replay" and result["followed_messages"] == 0


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_live_eval_follows_the_later_messages(sample_app):
    """The live protocol: later messages are followed up to each question, the ranking sees them (who is in
    the conversation now), and connective still beats every baseline counted on the same messages."""
    cid = await _community_id(sample_app)
    async with sample_app.db.sessions() as s:
        total = await s.scalar(select(func.count()).select_from(Message).where(Message.community_id == cid))
    seen: list[int] = []
    asked_in: list[str | None] = []
    rank = sample_app.expertise.rank

    async def spy(community_id, *args, **kwargs):
        seen.append(len(await sample_app.expertise.corpus(community_id)))
        asked_in.append(kwargs.get("channel"))
        return await rank(community_id, *args, **kwargs)

    sample_app.expertise.rank = spy
    result = await evaluate(sample_app.expertise, cid, live=True)
    mine = result["systems"]["connective"]
    assert result["protocol"] == "live" and "connective+time" not in result["systems"]
    assert result["questions"] >= 20 and mine["n"] == result["questions"]
    assert 0 < result["followed_messages"] < total * 0.3
    assert seen == sorted(seen) and seen[-1] > seen[0]  # the corpus grows question by question
    async with sample_app.db.sessions() as s:  # each question asked in its thread's channel, as the bot meets it
        channels = set(await s.scalars(select(Channel.external_id).where(Channel.community_id == cid)))
    assert set(asked_in) <= channels and len(set(asked_in)) > 1
    for baseline in ("most-active", "top-answerers", "answers-at-hour", "bm25-doc", "dense-doc"):
        assert mine["mrr"] > result["systems"][baseline]["mrr"], result


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_pgvector_and_numpy_agree(sample_app):
    """Same results contract: the nearest messages by cosine similarity, best first."""
    assert sample_app.db.dialect == "postgresql"
    cid = await _community_id(sample_app)
    numpy_index = NumpyVectorIndex()
    async with sample_app.db.sessions() as s:
        rows = (await s.execute(select(MessageVector.message_id, MessageVector.embedding)
                                .where(MessageVector.community_id == cid))).all()
    numpy_index.add(cid, np.array([r[0] for r in rows]), np.stack([r[1] for r in rows]))
    query = sample_app.embedder.encode(["kubernetes pod memory limits"])[0]
    exact = await numpy_index.search(cid, query, 10)
    approx = await sample_app.vectors.search(cid, query, 10)
    assert [m for m, _ in approx][:5] == [m for m, _ in exact][:5]
    assert np.allclose([s for _, s in approx][:5], [s for _, s in exact][:5], atol=1e-4)
    # Past pgvector's largest ef_search (1,000), as a replay searches: every row, no error.
    everything = await numpy_index.search(cid, query, 2000)
    assert len(await sample_app.vectors.search(cid, query, 2000)) == len(rows) == len(everything)
    # The similarity of given messages, near or far; an id with no vector is left out.
    some = [m for m, _ in everything[:3] + everything[-3:]] + [max(m for m, _ in everything) + 1]
    by_pg, by_numpy = [await index.similarities(cid, query, some) for index in (sample_app.vectors, numpy_index)]
    assert by_pg.keys() == by_numpy.keys() == set(some[:-1])
    assert all(by_pg[m] == pytest.approx(s, abs=1e-4) for m, s in by_numpy.items())
    assert by_numpy == {m: pytest.approx(s, abs=1e-6) for m, s in everything if m in by_numpy}


async def test_an_edited_message_is_found_once_by_its_new_text(app):
    """On either index (numpy on SQLite, pgvector on PostgreSQL): an answer edited into a message of a loaded
    community is found by its new vector, once, and quoted (the old vector stayed in the in-process index and
    its similarity won until a restart)."""
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    answer = "To roll back a kubernetes deployment run kubectl rollout undo deployment/NAME --to-revision=N"

    async def say(user: str, mid: str, text: str, minutes: int, *, edited: bool = False) -> None:
        await app.core.handle(ev.MessagePosted(community="TEDIT", platform="slack", user=user, channel="C1",
                                               message_id=mid, event_id=f"e{minutes}", text=text, edited=edited,
                                               time=start + timedelta(minutes=minutes)))

    await say("U1", "1", "I will look into it after lunch today", 0)
    await say("U2", "2", "Helm charts keep their values in values.yaml", 1)
    async with app.db.sessions() as s:
        cid = await s.scalar(select(Community.id).where(Community.external_id == "TEDIT"))
    await app.expertise.corpus(cid)  # loaded: the edit is followed live
    await say("U1", "1", answer, 5, edited=True)
    question = "how can I revert a broken release on k8s?"  # no word of the answer: only its vector finds it
    query, said = app.embedder.encode([question, clean(answer)])
    found = await app.vectors.search(cid, query, 10)
    assert len(found) == 2 and found[0][1] == pytest.approx(float(query @ said), abs=1e-4)
    [top] = await app.expertise.rank(cid, question, asker="U9", top=1)
    assert top.user == "U1" and any("kubectl rollout undo" in why for why in top.why)


async def test_bots_asker_and_opted_out_are_never_suggested(sample_app):
    cid = await _community_id(sample_app)
    question = "Postgres index ignored, sequential scan"
    [top] = await sample_app.expertise.rank(cid, question, top=1)
    found = await sample_app.expertise.rank(cid, question, asker=top.user, top=10)
    assert top.user not in [f.user for f in found]
    async with sample_app.db.sessions.begin() as s:
        member = await s.scalar(select(Member).where(Member.community_id == cid, Member.external_id == top.user))
        member.available_for_intros = False
        bots = set(await s.scalars(select(Member.external_id).where(Member.community_id == cid,
                                                                     Member.is_bot.is_(True))))
    found = await sample_app.expertise.rank(cid, question, top=10)
    assert top.user not in [f.user for f in found]
    assert not bots & {f.user for f in found}


CONVERSATION = [  # (id, author, what it answers, text)
    ("0", "U4", None, "is anyone going to the meetup on Thursday evening?"),
    ("1", "U1", None, "How do I get index-only scans on a big postgres table?"),
    ("2", "U2", "1", "Run VACUUM first: index-only scans need a current visibility map"),
    ("3", "U1", "2", "thanks, that worked!"),
    ("4", "U3", "3", "Also check that autovacuum keeps up with the table's writes"),
]


@pytest.mark.parametrize("platform", ["slack", "discord"])
async def test_conversations_followed_live_are_the_ones_loaded(app, platform):
    """A live Slack root is stored before anyone replies (only the replies name the thread), and a Discord
    conversation is a chain of replies outside threads. Either way the message that got a reply is the
    question and the first other person who replied answered it, live as after a reload: the fit learns from it
    and past help to the asker counts."""
    from matching.corpus import ROLE_ANSWER, ROLE_ASK, ROLE_OTHER
    from matching.fit import training_questions

    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    for i, (mid, user, answers, text) in enumerate(CONVERSATION):
        place = ({"thread": "1" if answers else None} if platform == "slack" else {"reply_to": answers})
        await app.core.handle(ev.MessagePosted(community="TCONV", platform=platform, user=user, channel="C1",
                                               message_id=mid, text=text, time=start + timedelta(minutes=i),
                                               **place))
        if i == 0:  # the corpus is in memory from here on: what follows is followed live
            async with app.db.sessions() as s:
                cid = await s.scalar(select(Community.id).where(Community.external_id == "TCONV"))
            await app.expertise.corpus(cid)

    async def seen() -> tuple[dict, list]:
        corpus = await app.expertise.corpus(cid)
        a = corpus.arrays
        ext = {mid: m.external_id for m in await _messages(app, cid) for mid in [m.id]}
        rows = {ext[corpus.records[r].id]: r for r in np.flatnonzero(a["alive"])}
        threads = {m: corpus.records[r].thread for m, r in rows.items()}
        roles = {m: (int(a["role"][r]), bool(a["first"][r]), threads[m] == threads["1"] if threads[m] else None)
                 for m, r in rows.items()}
        questions = [(ext[corpus.records[r].id], corpus.members[u]) for r, u in training_questions(corpus, 10)]
        return roles, questions, bool(a["thread_thanked"][a["thread"][rows["1"]]])

    live = await seen()
    assert live[0] == {"0": (ROLE_OTHER, False, None), "1": (ROLE_ASK, False, True),
                       "2": (ROLE_ANSWER, True, True), "3": (ROLE_OTHER, False, True),
                       "4": (ROLE_ANSWER, False, True)}
    assert live[1:] == ([("1", "U2")], True)  # a question for the fit, and the asker thanked
    app.expertise.forget_cache(cid)
    assert await seen() == live


IN_A_THREAD = [  # (id, author, text): a thread whose key ("T9") names no message
    ("1", "U1", "How do I get index-only scans on a big postgres table?"),
    ("2", "U2", "Run VACUUM first: index-only scans need a current visibility map"),
    ("3", "U1", "thanks, that worked!"),
    ("4", "U3", "Also check that autovacuum keeps up with the table's writes"),
]


@pytest.mark.parametrize("platform", ["discord", "slack"])
async def test_a_thread_without_an_opening_message_asks_with_its_first_on_discord_only(app, platform):
    """A Discord thread started on its own (its parent got the "started a thread" notice) is keyed by the thread's
    id, which names no message: it had no root, so nobody asked and nobody was credited as answering. Now its
    first message asks and the first other person to reply answered, live, after an edit of the question, and
    after a reload alike. A Slack thread whose root was never stored (posted before the bot joined) stays as it
    was: its first reply answered someone."""
    from matching.corpus import ROLE_ANSWER, ROLE_ASK, ROLE_OTHER
    from matching.fit import training_questions

    start = datetime(2026, 3, 2, 9, tzinfo=UTC)

    async def post(mid: str, user: str, text: str, minute: int, thread: str | None = "T9", **extra) -> None:
        await app.core.handle(ev.MessagePosted(community="TOPEN", platform=platform, user=user, channel="C1",
                                               thread=thread, message_id=mid, text=text,
                                               time=start + timedelta(minutes=minute), **extra))

    await post("0", "U4", "is anyone going to the meetup on Thursday evening?", 0, thread=None)
    async with app.db.sessions() as s:
        cid = await s.scalar(select(Community.id).where(Community.external_id == "TOPEN"))
    await app.expertise.corpus(cid)  # in memory from here on: the thread is followed live
    # Discord's "started a thread" notice in the parent (Slack has none; the event is ignored there alike)
    await app.core.handle(ev.ThreadStarted(community="TOPEN", platform=platform, user="U1", channel="C1", thread="T9"))
    for i, (mid, user, text) in enumerate(IN_A_THREAD):
        await post(mid, user, text, i + 1)
    await post("1", "U1", "How do I get index-only scans on a big postgres table, 40 GB?", 9, edited=True)

    async def seen() -> tuple[dict, list, bool]:
        corpus = await app.expertise.corpus(cid)
        a = corpus.arrays
        ext = {m.id: m.external_id for m in await _messages(app, cid)}
        rows = {ext[corpus.records[r].id]: r for r in np.flatnonzero(a["alive"])}
        roles = {m: (int(a["role"][r]), bool(a["first"][r])) for m, r in rows.items() if m != "0"}
        questions = [(ext[corpus.records[r].id], corpus.members[u]) for r, u in training_questions(corpus, 10)]
        return roles, questions, bool(a["thread_thanked"][a["thread"][rows["1"]]])

    live = await seen()
    if platform == "discord":
        assert live == ({"1": (ROLE_ASK, False), "2": (ROLE_ANSWER, True), "3": (ROLE_OTHER, False),
                         "4": (ROLE_ANSWER, False)}, [("1", "U2")], True)
    else:
        assert live == ({m: (ROLE_OTHER, False) for m in "1234"}, [], False)
    app.expertise.forget_cache(cid)
    assert await seen() == live


def test_reply_chains_end_at_their_first_message_or_at_a_known_conversation():
    replies = [(1, "a", None, None), (1, "b", None, "a"), (1, "c", None, "b"), (1, "t1", "t0", None),
               (1, "x", None, "y"), (1, "y", None, "x"), (2, "b", None, "gone")]  # a cycle; a lost target
    assert conversations(replies) == {(1, "t0"): "t0", (1, "a"): "a", (1, "b"): "a", (1, "c"): "a",
                                      (1, "x"): "x", (1, "y"): "x", (2, "gone"): "gone", (2, "b"): "gone"}
    assert conversations(replies[2:3], known={(1, "b"): "q"}) == {(1, "b"): "q", (1, "c"): "q", (1, "q"): "q"}


async def _conversation(app, team: str, said: list[tuple[str, str, str | None, str]]) -> int:  # noqa: ANN001
    """Post (id, author, thread, text) messages live in a Slack channel a minute apart; the community's id."""
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    for i, (mid, user, thread, text) in enumerate(said):
        await app.core.handle(ev.MessagePosted(community=team, platform="slack", user=user, channel="C1",
                                               message_id=mid, thread=thread, text=text,
                                               time=start + timedelta(minutes=i)))
    async with app.db.sessions() as s:
        return await s.scalar(select(Community.id).where(Community.external_id == team))


async def test_evidence_quotes_what_members_told_not_what_they_asked_and_says_it_once(app):
    said = [  # (id, author, thread, text)
        ("1", "U1", None, "How do I get index-only scans on a big postgres table?"),  # asked, never answered
        ("2", "U2", None, "Index-only scans need a current visibility map: run VACUUM on the table"),
        ("3", "U2", None, "Index-only scans need a current visibility map: run VACUUM on the table"),  # again
        ("4", "U3", "4", "postgres ignores my index-only scan plan"),
        ("5", "U2", "4", "VACUUM it, an index-only scan reads the visibility map first"),
        ("6", "U3", "4", "partitions of the table too, they each keep their own visibility map"),  # the asker
    ]
    cid = await _conversation(app, "TQUOTE", said)
    found = {f.user: f.why for f in await app.expertise.rank(cid, "index-only scans and the visibility map",
                                                                asker="U9", top=5)}
    shown = " ".join(why for whys in found.values() for why in whys)
    assert "How do I get" not in shown and "partitions of the table" not in shown
    quotes = [why for why in found["U2"] if why.startswith("“")]
    assert len(quotes) == len(set(quotes)) >= 2


async def _messages(app, cid: int) -> list[Message]:
    async with app.db.sessions() as s:
        return list(await s.scalars(select(Message).where(Message.community_id == cid)))


async def test_bad_messages_never_crash_ingestion(app, caplog):
    texts = ["How do I tune postgres autovacuum for very large tables? " * 700, "", "   ",
             "\u202e\u0000\U0001f600 ζ 漢字 \ud800", "<!channel> <!here> @everyone", "a log pasted whole " * 2500]
    caplog.set_level("INFO", logger="bot.services.ingest")
    for i, text in enumerate(texts):
        await app.core.handle(ev.MessagePosted(community="TBAD", platform="slack", user="U1", channel="C1",
                                               message_id=f"{i}.0", event_id=f"e{i}", text=text,
                                               time=datetime(2026, 1, 1, tzinfo=UTC)))
    async with app.db.sessions() as s:
        stored = list(await s.scalars(select(Message.text).order_by(Message.id)))
        vectors = await s.scalar(select(func.count()).select_from(MessageVector))
    assert len(stored) == len(texts)
    assert len(stored[0]) == len(texts[0]) > 39_000
    assert vectors >= 1  # the long one is embedded (cut to the model's window), the empty ones are not
    assert len(stored[-1]) == 40_000  # cut, and said so (it was cut silently)
    assert "message 5.0 is 47500 characters long: stored cut at 40000" in caplog.text


async def test_vectors_made_by_another_model_are_made_again(sample_app, db_url, embedder, caplog):
    cid = await _community_id(sample_app)
    async with sample_app.db.sessions() as s:
        assert (await s.get(Community, cid)).settings["embedding_model"] == embedder.fingerprint
    # As another model would have left them: other vectors, stamped with that model.
    rng = np.random.default_rng(0)
    async with sample_app.db.sessions.begin() as s:
        ids = list(await s.scalars(select(MessageVector.message_id).where(MessageVector.community_id == cid)))
        other = rng.normal(size=(len(ids), 384)).astype(np.float32)
        other /= np.linalg.norm(other, axis=1, keepdims=True)
        await s.execute(update(MessageVector),
                        [{"message_id": m, "embedding": v} for m, v in zip(ids, other, strict=True)])
        community = await s.get(Community, cid)
        community.settings = {**community.settings, "embedding_model": "other/model:0123456789abcdef"}
    # A process started with this model makes them again before its first answer.
    later = build_app(Settings(database_url=db_url), embedder=embedder)
    try:
        found, _ = await asyncio.gather(  # an ask and a stored message at once: made again once
            later.expertise.rank(cid, "How do I debug pods that keep getting OOMKilled in Kubernetes?"),
            later.expertise.ensure_model(cid))
        assert found and "Mateus" in found[0].name
        assert caplog.text.count(f"its {len(ids)} message vectors were made by another embedding model") == 1
        async with later.db.sessions() as s:
            assert (await s.get(Community, cid)).settings["embedding_model"] == embedder.fingerprint
            rows = (await s.execute(select(Message.text, MessageVector.embedding)
                                    .join(MessageVector, MessageVector.message_id == Message.id)
                                    .where(Message.community_id == cid).order_by(Message.id).limit(40))).all()
        expected = embedder.encode([clean(text) for text, _ in rows])
        assert np.allclose(np.stack([v for _, v in rows]), expected, atol=1e-4)
        caplog.clear()
        await later.expertise.ensure_model(cid)
        third = build_app(Settings(database_url=db_url), embedder=embedder)
        await third.expertise.ensure_model(cid)
        await third.close()
        assert "another embedding model" not in caplog.text  # once made again, they are this model's
    finally:
        await later.close()


async def test_a_member_known_only_by_a_declared_skill(app):
    """A member with no message yet who declares a skill is suggested for it, after an ask already loaded the
    community's priors (the arrays were one member short: every such ask failed), and never to themself or
    while they paused intros."""
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)

    def command(user: str, name: str, args: str = "") -> ev.CommandInvoked:
        return ev.CommandInvoked(community="TSKILL", platform="slack", user=user, channel="C1", name=name, args=args)

    for i, (user, text) in enumerate([("U1", "kubectl rollout undo deployment/web rolls a deployment back"),
                                      ("U2", "the meetup is on Thursday, see you there")]):
        await app.core.handle(ev.MessagePosted(community="TSKILL", platform="slack", user=user, channel="C1",
                                               message_id=str(i), text=text, time=start + timedelta(minutes=i)))
    async with app.db.sessions() as s:
        cid = await s.scalar(select(Community.id).where(Community.external_id == "TSKILL"))
    question = "rust borrow checker lifetimes"
    assert "UNEW" not in [f.user for f in await app.expertise.rank(cid, question, asker="U2", top=5)]
    await app.core.handle(command("UNEW", "skills", "add rust borrow checker lifetimes"))
    found = await app.expertise.rank(cid, question, asker="U2", top=5)
    assert found[0].user == "UNEW" and any("declared" in why for why in found[0].why)
    assert "UNEW" not in [f.user for f in await app.expertise.rank(cid, question, asker="UNEW", top=5)]
    async with app.db.sessions.begin() as s:
        await s.execute(update(Member).where(Member.external_id == "UNEW").values(available_for_intros=False))
    assert "UNEW" not in [f.user for f in await app.expertise.rank(cid, question, asker="U2", top=5)]


async def test_a_member_who_declares_everything_claims_less_than_one_who_declares_the_topic(app):
    """A member who declared 25 topics claimed each as fully as a member who declared just the one asked about."""
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    for i, (user, text) in enumerate([("U1", "kubectl rollout undo deployment/web rolls a deployment back"),
                                      ("U2", "the meetup is on Thursday, see you there")]):
        await app.core.handle(ev.MessagePosted(community="TALL", platform="slack", user=user, channel="C1",
                                               message_id=str(i), text=text, time=start + timedelta(minutes=i)))
    everything = ["rust borrow checker lifetimes", "python", "go", "java", "kotlin", "swift", "haskell", "ocaml",
                  "elixir", "erlang", "scala", "clojure", "ruby", "perl", "php", "lua", "zig", "nim", "dart", "julia",
                  "fortran", "cobol", "ada", "prolog", "smalltalk"]
    for user, topics in (("UALL", everything), ("UONE", everything[:1])):
        await app.core.handle(ev.CommandInvoked(community="TALL", platform="slack", user=user, channel="C1",
                                                name="skills", args="add " + ", ".join(topics)))
    async with app.db.sessions() as s:
        cid = await s.scalar(select(Community.id).where(Community.external_id == "TALL"))
    found = await app.expertise.rank(cid, "rust borrow checker lifetimes", asker="U2", top=5)
    users = [f.user for f in found]
    assert users[0] == "UONE" and "UALL" in users and found[0].score > found[users.index("UALL")].score, users


async def test_a_reply_that_tells_nothing_is_no_evidence(app):
    """"lol" or "following" in a similar thread still counts for the ranking (who takes part in such threads),
    but is never quoted, nor counted as having answered a similar thread; a reply about something else is not
    quoted either."""
    said = [("1", "U1", None, "How do I roll back a kubernetes deployment that went wrong?"),
            ("2", "U2", "1", "kubectl rollout undo deployment/web, then kubectl rollout status to watch it"),
            ("3", "U3", "1", "lol"),
            ("4", "U4", "1", "following?"),
            ("5", "U5", "1", "we should get noodles for lunch after this")]
    cid = await _conversation(app, "TLOL", said)
    found = {f.user: f.why for f in await app.expertise.rank(cid, "roll back a kubernetes deployment",
                                                                asker="U9", top=5)}
    assert any(why.startswith("answered 1 similar thread") for why in found["U2"])
    for user in ("U3", "U4"):
        assert not any(why.startswith("answered") or "“" in why for why in found.get(user, [])), found[user]
    assert not any("noodles" in why for why in found.get("U5", []))  # took part, but said nothing about it


async def test_answered_similar_threads_links_the_latest_reply(app):
    """"answered 2 similar threads" named no thread and linked none: it could not be checked (user walk-through). It
    links the member's reply in the latest of them the asker may read, unless that reply is quoted below with its own
    link."""
    said = [("1", "U1", None, "How do I roll back a kubernetes deployment that went wrong?"),
            ("2", "U2", "1", "use the undo subcommand, it restores the previous revision"),
            ("3", "U3", "1", "kubectl rollout undo rolls the kubernetes deployment back"),
            ("4", "U4", None, "Can I roll back a kubernetes deployment to an older revision?"),
            ("5", "U2", "4", "yes: pass --to-revision=3 to it"),
            ("6", "U3", "4", "kubectl rollout undo --to-revision=3 rolls the kubernetes deployment back to it")]
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    for i, (mid, user, thread, text) in enumerate(said):
        channel = "C1" if int(mid) < 4 else "C2"
        await app.core.handle(ev.MessagePosted(community="TLINK", platform="slack", user=user, channel=channel,
                                               message_id=mid, thread=thread, text=text,
                                               time=start + timedelta(minutes=i),
                                               permalink=f"https://acme.slack.com/archives/{channel}/p{mid}"))
    async with app.db.sessions() as s:
        cid = await s.scalar(select(Community.id).where(Community.external_id == "TLINK"))
    found = {f.user: f for f in await app.expertise.rank(cid, "roll back a kubernetes deployment", asker="U9", top=5)}
    quiet = found["U2"]  # answered both threads, with replies that do not say the question's words
    assert quiet.why[0].startswith("answered 2 similar threads") and not any("“" in why for why in quiet.why)
    assert quiet.permalinks[0] is not None and quiet.permalinks[0].endswith("/p5"), quiet.permalinks
    told = found["U3"]  # the latest reply is quoted: its link is there, not twice
    assert told.why[0].startswith("answered 2 similar threads") and told.permalinks[0] is None
    assert any(link is not None and link.endswith("/p6") for link in told.permalinks), told.permalinks
    # The latest in a private channel: the latest the asker may read is linked (review of bb91f7e).
    async with app.db.sessions.begin() as s:
        await s.execute(update(Channel).where(Channel.community_id == cid, Channel.external_id == "C2")
                        .values(is_private=True))
    found = {f.user: f for f in await app.expertise.rank(cid, "roll back a kubernetes deployment", asker="U9", top=5)}
    assert found["U2"].permalinks[0].endswith("/C1/p2"), found["U2"].permalinks
    assert not any(link and "/C2/" in link for f in found.values() for link in f.permalinks)


async def test_a_member_who_only_asked_is_shown_as_having_asked(app):
    """Where nobody has evidence, a member whose messages were their own question and its follow-up was suggested as
    "active here (2 messages)" (user walk-through): it says what they did."""
    said = [("1", "U1", None, "How do I style a css grid for a dashboard?"),
            ("2", "U2", "1", "grid-template-areas with named areas works well for dashboards"),
            ("3", "U1", "1", "nice, that works"),
            ("4", "U3", None, "good morning everyone")]
    cid = await _conversation(app, "TASKED", said)
    found = {f.user: f.why for f in await app.expertise.rank(cid, "kubernetes pod memory limits", asker="U9", top=5)}
    assert found["U1"] == ["asked here (1 question), answered nothing yet"], found
    assert found["U2"] == ["has answered others here (1 reply to others' threads)"], found
    assert found["U3"] == ["active here (1 message)"], found


async def test_replicas_follow_what_the_others_store_edit_and_delete(app, db_url, embedder):
    """Replicas behind a load balancer each keep the corpus in memory: what one stores, edits or deletes, and a
    member's opt-out, reach the others at their next ask (a deleted message was quoted by the others until they
    restarted), without loading the whole corpus again for each message."""
    other = build_app(Settings(database_url=db_url), embedder=embedder)
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    step = iter(range(100))

    async def post(user: str, mid: str, text: str, **extra) -> None:  # noqa: ANN003
        await app.core.handle(ev.MessagePosted(community="TREP", platform="slack", user=user, channel="C1",
                                               message_id=mid, text=text,
                                               time=start + timedelta(minutes=next(step)), **extra))

    async def quotes(question: str) -> dict[str, str]:
        found = await other.expertise.rank(cid, question, asker="U9", top=5)
        return {f.user: " ".join(f.why) for f in found}

    try:
        await post("U1", "1", "How do I roll back a kubernetes deployment?")
        await post("U2", "2", "kubectl rollout undo deployment/web rolls it back", thread="1")
        async with app.db.sessions() as s:
            cid = await s.scalar(select(Community.id).where(Community.external_id == "TREP"))
        assert "kubectl rollout undo" in (await quotes("roll back a kubernetes deployment"))["U2"]
        loaded = await other.expertise.corpus(cid)

        await post("U3", "3", "helm rollback my-release 3 returns a helm chart to revision 3")
        assert "helm rollback" in (await quotes("helm chart rollback to a revision")).get("U3", "")
        await post("U2", "2", "kubectl rollout history, then kubectl rollout undo --to-revision=2", thread="1",
                   edited=True)
        assert "--to-revision=2" in (await quotes("roll back a kubernetes deployment"))["U2"]
        assert await other.expertise.corpus(cid) is loaded  # followed, not loaded again

        await app.core.handle(ev.MessageDeleted(community="TREP", platform="slack", user="U3", channel="C1",
                                                message_id="3", time=start + timedelta(hours=2)))
        assert "helm rollback" not in " ".join((await quotes("helm chart rollback to a revision")).values())
        await app.core.handle(ev.CommandInvoked(community="TREP", platform="slack", user="U2", channel="C1",
                                                name="optout"))
        found = await quotes("roll back a kubernetes deployment")
        assert "U2" not in found and "kubectl" not in " ".join(found.values())
    finally:
        await other.close()


# -- live messages while an ask or a fit is under way ---------------------------------------------------------------
async def _store_live(app, text: str) -> None:
    """Priya says `text` in #general."""
    await app.core.handle(ev.MessagePosted(community=TEAM, platform="slack", user="U02EBAG9MJA", channel="C05FUNBEPQ3",
                                           message_id="1900000000.000100", text=text,
                                           time=datetime(2030, 1, 1, tzinfo=UTC)))


async def test_an_ask_while_a_message_is_stored_still_answers(sample_app, monkeypatch):
    """The audit's defect: a message stored while an ask was encoding its question was found by the vector search,
    and its row was past the corpus as the ask had read it: the ask failed ("Sorry, something went wrong")."""
    cid = await _community_id(sample_app)
    await sample_app.expertise.corpus(cid)
    real, started, release = sample_app.expertise.encode_one, asyncio.Event(), asyncio.Event()

    async def slow(text: str) -> np.ndarray:
        started.set()
        await release.wait()
        return await real(text)

    monkeypatch.setattr(sample_app.expertise, "encode_one", slow)
    question = "How do I roll back a kubernetes deployment that went wrong?"
    ask = asyncio.ensure_future(sample_app.expertise.rank(cid, question, top=3))
    await started.wait()
    await _store_live(sample_app, "Roll back a kubernetes deployment that went wrong with kubectl rollout undo")
    release.set()
    assert await ask


async def test_a_fit_while_a_message_is_stored_completes(sample_app, monkeypatch):
    """The audit's defect: the fit's examples were built in a worker thread over the corpus the event loop went on
    appending live messages to, and one message stored meanwhile failed the fit ("operands could not be broadcast"):
    an active community never refitted."""
    import threading

    import matching.fit

    cid = await _community_id(sample_app)
    await sample_app.expertise.corpus(cid)
    real, reached, release = matching.fit.priors, threading.Event(), threading.Event()

    def priors_after_a_message(*args, **kwargs):  # the examples are half built when the message comes
        if not reached.is_set():
            reached.set()
            release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(matching.fit, "priors", priors_after_a_message)
    fit = asyncio.ensure_future(sample_app.expertise.fit(cid))
    while not reached.is_set():
        await asyncio.sleep(0.01)
    await _store_live(sample_app, "Roll back a kubernetes deployment that went wrong with kubectl rollout undo")
    release.set()
    assert await fit


async def test_a_replayed_question_searches_the_messages_said_before_it(app, monkeypatch):
    """A question replayed at its time (`ask --json` with `ts`, `eval --live`) took the nearest messages of the whole
    history and dropped the later ones: what was left was not the nearest said before it, as the bot had then."""
    import bot.services.expertise as expertise

    monkeypatch.setattr(expertise, "TOP_K", 3)
    seen = {}

    def capture(corpus, hits, **kwargs):
        seen["dense"] = {corpus.records[row].author for row in hits.dense}
        return []

    monkeypatch.setattr(expertise, "rank_experts", capture)
    start = datetime(2024, 3, 1, tzinfo=UTC)
    question = "kubectl rollout undo reverts a bad deployment"
    said = [("UEARLY", "use kubectl rollout undo to revert a broken deployment", 0),
            ("UEARLY", "kubectl rollout undo puts the previous replica set back", 1)]
    said += [("ULATE", question, 10 + i) for i in range(6)]
    for i, (user, text, day) in enumerate(said):
        await app.core.handle(ev.MessagePosted(community="TREPLAY", platform="slack", user=user, channel="C1",
                                               message_id=f"{(start + timedelta(days=day)).timestamp():.6f}",
                                               event_id=f"r{i}", text=text, time=start + timedelta(days=day)))
    async with app.db.sessions() as s:
        cid = await s.scalar(select(Community.id).where(Community.external_id == "TREPLAY"))
    await app.expertise.rank(cid, question, now=start + timedelta(days=5), replay=True)
    assert seen["dense"] == {"UEARLY"}


async def test_a_question_asked_before_quotes_its_answers(app):
    """The question (or a near copy) already in the history is the best hit there is: the bar for quoting and for
    "similar threads" is set by what can be quoted, so the answers it got are quoted (they fell under half of the
    old question's relevance, and nobody was quoted)."""
    question = "Would anyone know why putting picts in code causes the code to become unaligned?"
    said = [("1", "U1", "1", question),
            ("2", "U2", "1", "the pict's baseline is used for alignment: give it an ascent with lift-above-baseline"),
            ("3", "U3", None, "we should get noodles for lunch after the meetup"),
            ("4", "U3", None, "I put code snippets in slides all the time")]
    cid = await _conversation(app, "TAGAIN", said)
    for asked in (question, "Why does putting picts into code make the code unaligned"):
        found = {f.user: f.why for f in await app.expertise.rank(cid, asked, asker="U9", top=5)}
        assert any("lift-above-baseline" in why for why in found["U2"]), (asked, found)
        assert any(why.startswith("answered 1 similar thread") for why in found["U2"]), found["U2"]
        assert not any("Would anyone know" in why for whys in found.values() for why in whys)


def test_a_quote_keeps_its_link_whole():
    """The 90-character cut dropped the link that was the answer ("doc:…", "See…") or split it; now a link is
    never cut: the words before it are shortened instead, and a cut before it never falls inside it."""
    from bot.services.expertise import _snippet

    doc = "https://github.com/greghendershott/racket-mode/blob/master/Reference.md#racket-logger-config"
    assert _snippet(f"doc: <{doc}>") == f"doc: {doc}"
    pict = "https://docs.racket-lang.org/pict/index.html"
    said = (f"From <{pict}|{pict}>: \"A pict is a convertible datatype, so you can get svg-bytes or pdf-bytes "
            "out of it with convert\"")
    assert f"From {pict}" in _snippet(said) and _snippet(said).endswith("…")
    profile = "https://github.com/racket/racket/blob/master/racket/collects/profile/main.rkt"
    quote = _snippet(f"you might be interested in the code here: {profile}")
    assert quote.startswith("you might be interested in") and quote.endswith(f"… {profile}")
    visit = "http://docs.racket-lang.org/reference/syntax-model.html?q=dynamic-require#%28tech._visit%29"
    assert _snippet(f"{visit} explains the visits and the instantiations of modules, all of it") == f"{visit} …"
    prose = "The racket side is a bunch of modules loaded in a REPL, the emacs side talks to it over a socket"
    assert _snippet(f"{prose}, see https://x.org/a.").endswith("… https://x.org/a")
    assert _snippet("a short one https://x.org/b") == "a short one https://x.org/b"
    assert _snippet("word " * 40) == ("word " * 18).strip() + "…"


def test_a_quoted_link_ends_where_the_link_does():
    """A link inside Markdown's "[box/c](<link>)" kept the ")" that closes the Markdown (its fragment, "#(def…))", has
    parentheses of its own), and one at the end of a code block ran into the "```": shown that way, neither opened
    the page (racket-2019, clojurians-2019)."""
    from bot.services.expertise import _snippet

    box = ("https://docs.racket-lang.org/reference/data-structure-contracts.html"
           "#(def._((lib._racket%2Fcontract%2Fprivate%2Fbox..rkt)._box%2Fc))")
    said = (f"Another thing we could do is improve vector contracts. The [`box/c`](<{box}>) contract allows those "
            "to be different, so that different contracts can be applied depending on the direction")
    assert f"{box} …" in _snippet(said), _snippet(said)
    maven = "http://download.java.net/maven/glassfish"
    said = ("I'm using `clojure.tools.deps.alpha` to `resolve-deps` but I get:\n```Execution error\nCould not find "
            f"artifact net.java:jvnet-parent:pom:3 in glassfish-repository (<{maven}>)```")
    assert _snippet(said).endswith(f"… {maven} …"), _snippet(said)
    assert _snippet(f"the repo is `{maven}`") == f"the repo is `{maven}`"
    assert _snippet("(repo: <https://github.com/Eugleo/magic-racket>)") == "(repo: https://github.com/Eugleo/magic-racket)"
    long = "The repo of the project and its issues, where the discussion of the reader's design went on: "
    assert _snippet(f"{long}(<{maven}>)").endswith(f"… {maven}"), _snippet(f"{long}(<{maven}>)")


def test_a_quote_keeps_the_first_character_of_its_first_word():
    """What is shown dropped the punctuation a mention at the start left (": you can"), and with it the first
    character of a word: ":refresh is not a thing - you want :reload" read "refresh is not a thing" (clojurians-2019),
    "-m starts a program" read "m starts a program", an emoji code lost its first colon."""
    from matching.text import shown

    for said in (":refresh is not a thing - you want :reload", "-m starts a program, -r starts a repl",
                 "--no-setup then `raco setup`", ".emacs needs it", ":wink: sure", "...and done"):
        assert shown(said) == said
    assert shown("<@UX>: you can") == "you can"
    assert shown("<!here> - deploy is done") == "deploy is done"
    assert shown("<@UX>, <@UY>: try `-D`") == "try `-D`"


def test_a_quote_shows_an_address_that_is_no_web_link_as_typed():
    """Slack's markup of a mail address or another scheme's address was quoted as stored: "ask on
    <mailto:racket-users@googlegroups.com|racket-users@googlegroups.com>" (racket-2017)."""
    from matching.text import shown

    said = "ask on <mailto:racket-users@googlegroups.com|racket-users@googlegroups.com> or mail <mailto:a@b.org>"
    assert shown(said) == "ask on racket-users@googlegroups.com or mail a@b.org"
    assert shown("connect to <nrepl://127.0.0.1:57958> from cider") == "connect to nrepl://127.0.0.1:57958 from cider"
    assert shown("see <https://x.org/a|the docs>") == "see the docs"


def test_a_quote_from_discord_shows_custom_emoji_and_times_readably():
    """A live Discord message's custom emoji and times are markup: "<:blob_cat:1100…>" and "<t:1700000000:R>" were
    quoted as stored (Discord shows them escaped as text, the console and `connective ask` as they are)."""
    from matching.text import shown

    said = ("kubectl rollout undo did it <:blob_cat:1100000000000000999> <a:party:1100000000000000998>, "
            "since <t:1700000000:R> and <t:99999999999999:R>")
    assert shown(said) == ("kubectl rollout undo did it :blob_cat: :party:, since 2023-11-14 22:13 UTC and "
                           "<t:99999999999999:R>")


def test_a_line_that_only_looks_like_a_quote_is_the_members_own():
    """A REPL's prompt and a comparison at the start of a line are the member's words, not a quote of someone's."""
    from matching.text import own_words

    for said in ("&gt; (force p)\n; force: reentrant promise", "&gt;= 3.8 is needed\nfor the walrus operator",
                 "```\n&gt; it was\n```\nthe REPL said so"):
        assert own_words(said) == said
    assert own_words("&gt; it is slow\nIt is not: use raco make") == "It is not: use raco make"
    assert own_words("&gt; it is slow\n:wink:") == "&gt; it is slow\n:wink:"  # nothing of their own but an emoji


async def test_a_reply_that_quotes_another_is_read_by_its_own_words(app):
    """A message that opens by quoting someone ("&gt; …", as Slack stores it; "> …" on Discord) was quoted as its
    author's words, the other member's words first and often alone, and judged by them: "&gt; <docs>\n\nWhat does this
    even mean?" (racket-2019) was quoted as what its author knew. It is read and quoted by what its author wrote: one
    that then asks or thanks is not quoted, one that answers is quoted by its answer. A REPL's "> (…)" in a code
    block is the author's own."""
    said = [("1", "U1", "1", "How do I roll back a kubernetes deployment that went wrong?"),
            ("2", "U2", "1", "kubectl rollout undo rolls a kubernetes deployment back to its previous revision"),
            ("3", "U3", "1", "&gt; kubectl rollout undo rolls a kubernetes deployment back to its previous revision."
                             "\n\nWhat does this even mean?"),
            ("4", "U4", "1", "&gt; How do I roll back a kubernetes deployment that went wrong?\nUse helm rollback "
                             "when helm installed the kubernetes deployment: it keeps the revisions"),
            ("5", "U5", "1", "&gt; kubectl rollout undo rolls a kubernetes deployment back\nthanks, that did it"),
            ("6", "U6", "1", "```\n> (kubectl rollout undo deployment)\nkubernetes deployment rolled back\n```"),
            ("7", "U7", "1", "&gt; can kubectl rollout undo roll back a kubernetes deployment to any revision?\nyes")]
    cid = await _conversation(app, "TQUOTING", said)
    found = {f.user: f.why for f in await app.expertise.rank(cid, "roll back a kubernetes deployment",
                                                                asker="U9", top=8)}
    quotes = {user: [why for why in whys if why.startswith("“")] for user, whys in found.items()}
    assert quotes["U4"] and quotes["U4"][0].startswith("“Use helm rollback when helm installed"), found
    for user in ("U5", "U3"):
        assert not quotes.get(user) and not any(why.startswith("answered") for why in found.get(user, [])), found
    assert quotes["U6"] and quotes["U6"][0].startswith("“``` > (kubectl rollout undo deployment)"), found
    # A short reply is quoted with what it replies to: "yes" alone said nothing.
    assert quotes["U7"] and quotes["U7"][0].startswith("“> can kubectl rollout undo roll back"), found


async def test_questions_thanks_and_filler_are_never_quoted(app):
    """A question followed by a link or ending in ":", a request that opens by asking everyone, for oneself or by
    announcing a question, thanks ("thanks, … did the trick"), filler ("glad to help") and welcomes said nothing of
    what their authors know: never quoted, and no "answered a similar thread" for them."""
    said = [("1", "U1", "1", "How do I roll back a kubernetes deployment that went wrong?"),
            ("2", "U2", "1", "kubectl rollout undo deployment/web rolls the kubernetes deployment back"),
            ("3", "U3", "1", "anyone got any ideas on kubernetes deployment rollbacks? https://github.com/k/k/issues/1"),
            ("4", "U4", "1", "Does anyone know a tool that rolls back a kubernetes deployment like this:"),
            ("5", "U5", "1", "Does anybody know how helm rolls back a deployment? The kubernetes docs are thin."),
            ("6", "U6", "1", "thanks, kubectl rollout undo on the kubernetes deployment did the trick"),
            ("7", "U7", "1", "glad to help with kubernetes deployments!"),
            ("8", "U8", "1", "Hi Abby, welcome to kubernetes deployments! You'll love it here!"),
            ("9", "U10", "1", "I've got a question for you friends on kubernetes deployments: https://so.com/q/1"),
            # Asking for oneself, then the context (user walk-through: quoted as what its author knew).
            ("10", "U11", "1", "Is it possible to roll back a kubernetes deployment by label? I have a few of them."),
            # An answer may restate the question first: it tells (review of 2449200).
            ("11", "U12", "1", "Is there a way to roll back a kubernetes deployment? Yes: kubectl rollout undo does.")]
    cid = await _conversation(app, "TFILLER", said)
    found = {f.user: f.why for f in await app.expertise.rank(cid, "roll back a kubernetes deployment",
                                                                asker="U9", top=8)}
    assert any("rollout undo deployment/web" in why for why in found["U2"]), found
    assert any("Yes: kubectl rollout undo" in why for why in found["U12"]), found
    for user in ("U3", "U4", "U5", "U6", "U7", "U8", "U10", "U11"):
        assert not any(why.startswith("answered") or "“" in why for why in found.get(user, [])), (user, found[user])


async def test_similar_threads_say_when_the_latest_was_answered(app):
    """"answered N similar threads" always says when the latest of those threads was answered (it had no date where
    nothing was quoted, and took the date of a row not shown, rounded down to "7 years ago" beside quotes 8 years
    old); more than about a year back it reads as a month and a year; of one thread, when it was."""
    said = [("1", "U1", "1", "How do I roll back a kubernetes deployment that went wrong?"),
            ("2", "U2", "1", "kubectl rollout undo deployment/web, then kubectl rollout status to watch it"),
            ("3", "U3", "3", "my kubernetes deployment is broken after the release, can I undo it?"),
            ("4", "U2", "3", "yes: rollout undo goes back one revision, and --to-revision picks an older one"),
            ("5", "U4", "3", "kubectl rollout history lists the deployment revisions to undo to")]
    cid = await _conversation(app, "TWHEN", said)
    question = "roll back a kubernetes deployment"
    for later, when in ((timedelta(days=20), "2 weeks ago"), (timedelta(days=3 * 365), "in March 2026")):
        found = {f.user: f.why for f in await app.expertise.rank(cid, question, asker="U9", top=5,
                                                                    now=datetime(2026, 3, 2, 9, tzinfo=UTC) + later)}
        assert f"answered 2 similar threads, the latest {when}" in found["U2"], found["U2"]
    # One thread is no "latest" of several: "answered 1 similar thread, the latest 2 weeks ago" read as if it were.
    found = {f.user: f.why for f in await app.expertise.rank(cid, question, asker="U9", top=5,
                                                                now=datetime(2026, 3, 2, 9, tzinfo=UTC) + later)}
    assert f"answered 1 similar thread, {when}" in found["U4"], found["U4"]


async def test_a_quote_names_the_members_it_mentions(app):
    """A mention in a quote reads as "@name" (it was dropped, leaving "I think it was 's code" and "or , can you
    help"); a mention of nobody known is dropped with the "'s" or "or ," that went with it."""
    await app.core.handle(ev.MessagePosted(community="TNAMES", platform="slack", user="U3", user_name="Eun",
                                           channel="C1", message_id="0", text="hello all",
                                           time=datetime(2026, 3, 1, 9, tzinfo=UTC)))
    said = [("1", "U1", "1", "Who changed the kubernetes deployment rollback scripts?"),
            ("2", "U2", "1", "I think it was <@U3>'s kubernetes deployment rollback work, <@U3> or <@UX> knows more"),
            ("3", "U4", "1", "it was <@UGONE>'s kubernetes deployment rollback, and <@UGONE> or <@UGONE2>, rewrote it")]
    cid = await _conversation(app, "TNAMES", said)
    found = {f.user: " ".join(f.why) for f in await app.expertise.rank(cid, "kubernetes deployment rollback work",
                                                                          asker="U9", top=5)}
    assert "I think it was @Eun's kubernetes deployment rollback work, @Eun knows more" in found["U2"], found
    assert "it was kubernetes deployment rollback, rewrote it" in found["U4"], found


async def test_a_refit_that_fails_leaves_the_other_communities_fitted_and_is_tried_again(sample_app, caplog):
    """One community's failing fit (a database error, memory) stopped the job: the communities after it were not
    fitted that run, and the failed one's claim held until the next period."""
    first = await _community_id(sample_app)
    await sample_app.importer.import_slack(SAMPLE, team="TOTHER")
    async with sample_app.db.sessions.begin() as s:
        second = await s.scalar(select(Community.id).where(Community.id != first))
        for cid in (first, second):  # as if both had doubled since their last fit
            community = await s.get(Community, cid)
            fitted = community.settings["ranking_fitted"]
            halved = {**fitted, "messages": fitted["messages"] // 2}
            community.settings = {**community.settings, "ranking_fitted": halved}
    fit = sample_app.expertise.fit
    calls = []

    async def failing_first(cid):  # noqa: ANN001, ANN202
        calls.append(cid)
        if cid == first and calls.count(cid) == 1:
            raise RuntimeError("connection reset\nSELECT … (a long statement)")
        return await fit(cid)

    sample_app.expertise.fit = failing_first
    now = datetime(2026, 11, 27, 10, tzinfo=UTC)
    assert await sample_app.expertise.refit_grown(now=now) == [second]
    assert "fitting the ranking failed (RuntimeError: connection reset)" in caplog.text
    assert "SELECT" not in caplog.text
    assert await sample_app.expertise.refit_grown(now=now) == [first]  # released: tried again in the same period
    assert await sample_app.expertise.refit_grown(now=now) == []


def test_a_declared_skill_comes_second_behind_the_member_the_evidence_points_at():
    """Declaring a topic does not outrank having answered it: the claim was mixed in as a third of the probability,
    so a member with one message who declared the topic came first above one with six answered threads on it
    wherever that one's probability was under 0.43 (all of them on racket-2019: 0.12-0.25; audit 11). Where the
    evidence points at nobody in particular, a full claim still comes first; half a claim (an endorsement) less."""
    cands = np.arange(6)
    clear = np.array([0.25, 0.08, 0.07, 0.05, 0.04, 0.01])
    clear = clear / clear.sum()
    order = np.argsort(-with_claims(clear, cands, {5: 1.0}))
    assert order[:2].tolist() == [0, 5]
    diffuse = np.array([0.12, 0.10, 0.09, 0.08, 0.08, 0.01])
    diffuse = diffuse / diffuse.sum()
    assert np.argsort(-with_claims(diffuse, cands, {5: 1.0}))[0] == 5
    assert np.argsort(-with_claims(diffuse, cands, {5: 0.5}))[0] == 0  # half a claim: not above the first
    assert np.allclose(with_claims(clear, cands, {0: 1.0}), clear)  # the leader's own claim changes nothing
    mixed = with_claims(clear, cands, {5: 1.0})
    assert np.isclose(mixed.sum(), 1.0)


async def test_an_exact_declared_skill_counts_where_the_community_talks_of_it_all_the_time(app):
    """In a new community a third of whose talk is on the topic, a member who declared exactly that (and was
    endorsed for it twice) claimed nothing when asked just that: the bar for a skill's match is the community's usual
    talk, which measured 0.93 there (audit 11). Declared "macros" also names a question on "a macro"."""
    start = datetime(2024, 5, 1, 12, tzinfo=UTC)
    talk = [("U1", "how do I tune postgres autovacuum?", None), ("U2", "set the scale factor lower for big tables", 0),
            ("U3", "what about kubernetes rollbacks?", None), ("U4", "kubectl rollout undo deployment/x does it", 2),
            ("U6", "I like gardening tomatoes", None), ("U5", "helm rollback works for charts", 2)]
    n = 0
    for round_ in range(5):
        ids = []
        for user, text, parent in talk:
            n += 1
            ids.append(str(1714564800 + n))
            await app.core.handle(ev.MessagePosted(
                community="G9", platform="discord", user=user, channel="C1", channel_name="general",
                message_id=ids[-1], text=f"{text} ({round_})", thread=ids[parent] if parent is not None else None,
                time=start + timedelta(minutes=n), user_name=user))

    def command(user: str, args: str) -> ev.CommandInvoked:
        return ev.CommandInvoked(community="G9", platform="discord", user=user, channel="C1", name="skills",
                                 args=args, time=start + timedelta(hours=1))

    await app.core.handle(command("U1", "add kubernetes rollbacks, lisp macros"))
    for endorser in ("U2", "U3"):
        await app.core.handle(command(endorser, "endorse <@U1> kubernetes rollbacks"))
    async with app.db.sessions() as s:
        cid = await s.scalar(select(Community.id).where(Community.external_id == "G9"))
    for question in ("kubernetes rollbacks", "who knows kubernetes rollbacks?", "how do I write a macro in lisp?"):
        found = await app.expertise.rank(cid, question, asker="U5", top=6)
        mine = next((f for f in found if f.user == "U1"), None)
        assert mine is not None and "declared a matching skill" in mine.why, (question, [f.user for f in found])


async def test_a_thread_is_similar_only_if_something_said_in_it_matches(app):
    """Where the question's words matched only a message outside threads, the best thread was itself unrelated and
    every thread measured against it was "similar": the terraform answerer "answered 1 similar thread" on the
    kitchen's cleaning (audit 10)."""
    start = datetime(2020, 9, 13, 12, tzinfo=UTC)
    said = [("1", "U1", None, "How do I roll back a failed terraform apply?"),
            ("2", "U2", "1", "Terraform has no rollback; re-apply the previous config version from git."),
            ("3", "U3", None, "Reminder: the office kitchen is closed on Friday for cleaning.")]
    for i, (mid, user, thread, text) in enumerate(said):
        await app.core.handle(ev.MessagePosted(community="TSIM", platform="slack", user=user, channel="C1",
                                               message_id=mid, thread=thread, text=text,
                                               time=start + timedelta(minutes=i)))
    async with app.db.sessions() as s:
        cid = await s.scalar(select(Community.id).where(Community.external_id == "TSIM"))
    found = {f.user: f.why for f in await app.expertise.rank(cid, "kitchen cleaning schedule", top=5)}
    assert not any("similar thread" in why for why in found.get("U2", [])), found
    assert any("kitchen" in why for why in found["U3"]), found
    found = {f.user: f.why for f in await app.expertise.rank(cid, "terraform rollback", top=5)}
    assert any("similar thread" in why for why in found["U2"]), found


async def test_a_thread_that_only_shares_a_word_with_the_question_is_not_similar(app):
    """A conversation is "similar" only if something said in it is near the question in meaning: birthday wishes
    for Marta are no similar thread for a question on Marta's pods killed for memory (they were, by the name)."""
    said = [("1", "U1", "1", "happy birthday Marta!"), ("2", "U2", "1", "happy birthday! 🎂"),
            ("3", "U4", "3", "our pods keep getting OOMKilled in kubernetes"),
            ("4", "U3", "3", "raise the memory limit; kubectl describe pod shows the OOMKilled reason")]
    cid = await _conversation(app, "TNEAR", said)
    found = {f.user: f.why for f in await app.expertise.rank(cid, "Marta's pods get OOMKilled on every deploy", top=5)}
    assert any("answered 1 similar thread" in why for why in found["U3"]), found
    assert not any("similar thread" in why for why in found["U2"]), found


async def test_a_thread_found_by_its_words_is_similar_if_it_is_near_in_meaning(app, monkeypatch):
    """How near a hit is, is read from its stored vector, not only from the dense search's nearest: a thread that
    only the words found (in a big community, past the TOP_K nearest messages; here the search leaves it out) is a
    similar thread, and its answer is quoted, when it is near the question in meaning."""
    said = [("1", "U4", "1", "our containers keep getting OOMKilled in kubernetes"),
            ("2", "U2", "1", "raise the memory limit; kubectl describe shows the OOMKilled reason"),
            ("3", "U5", "3", "my pods were OOMKilled again last night"),
            ("4", "U3", "3", "pods get OOMKilled when they go over their memory limit: give the pods more memory")]
    cid = await _conversation(app, "TWORDS", said)
    unseen = {m.id for m in await _messages(app, cid) if m.thread_external_id == "3"}
    search = app.vectors.search

    async def nearest_elsewhere(community_id, query, k):  # noqa: ANN001, ANN202
        return [(mid, sim) for mid, sim in await search(community_id, query, k) if mid not in unseen]

    monkeypatch.setattr(app.vectors, "search", nearest_elsewhere)
    found = {f.user: f.why for f in await app.expertise.rank(cid, "why are my pods OOMKilled?", top=5)}
    for answerer in ("U2", "U3"):
        assert any("answered 1 similar thread" in why for why in found[answerer]), found
        assert any(why.startswith("“") and "OOMKilled" in why for why in found[answerer]), found


async def test_a_scheduled_job_stopped_with_the_bot_is_one_line_not_a_failure(caplog):
    """A job cancelled as the bot stops (a Discord login that failed ended the digest catch-up mid-query) was logged
    by APScheduler as a failure, with a traceback beside the one error line the command printed (audit 10)."""
    import logging

    from bot.scheduler import Scheduler

    caplog.set_level(logging.INFO, logger="bot.scheduler")
    started = asyncio.Event()

    async def slow() -> None:
        started.set()
        await asyncio.sleep(60)

    task = asyncio.create_task(Scheduler()._guard("digest:catch-up", slow)())
    await started.wait()
    task.cancel()
    await task
    assert "scheduled job digest:catch-up stopped with the bot" in caplog.text
    assert "Traceback" not in caplog.text and "ERROR" not in caplog.text


async def test_who_talks_far_more_than_usual_where_a_question_belongs_is_said_to_unless_a_quote_names_it(sample_app):
    cid = await _community_id(sample_app)
    found = await sample_app.expertise.rank(cid, "why does Postgres ignore my index and do a sequential scan?", top=5)
    said = {f.user: [w.removeprefix("often in #").split(",")[0] for w in f.why if w.startswith("often in #")]
            for f in found}
    assert "data-engineering" in sum(said.values(), [])  # where the sample talks about databases
    for f in found:
        assert all(not any(f"(#{channel}, " in w for w in f.why) for channel in said[f.user])
    async with sample_app.db.sessions.begin() as s:  # private: whoever asks may not be in it
        await s.execute(update(Channel).where(Channel.community_id == cid, Channel.name == "data-engineering")
                        .values(is_private=True))
    found = await sample_app.expertise.rank(cid, "why does Postgres ignore my index and do a sequential scan?", top=5)
    assert not any("#data-engineering" in w for f in found for w in f.why)



async def test_the_channel_a_question_is_asked_in_counts(sample_app):
    """Asked in #devops-k8s, a vague question brings in who talks there (the channel's platform id names it); asked
    in a channel the community's messages are not stored from (a DM, the console), nothing changes. Intros offered
    after a decline come from the same list."""
    cid = await _community_id(sample_app)
    question = "what's the best way to test this?"

    async def users(channel: str | None) -> list[str]:
        return [f.user for f in await sample_app.expertise.rank(cid, question, top=3, channel=channel)]

    async with sample_app.db.sessions() as s:
        talk = Counter((await s.scalars(
            select(Member.external_id).join(Message, Message.author_id == Member.id)
            .join(Channel, Channel.id == Message.channel_id)
            .where(Message.community_id == cid, Channel.external_id == "C0QCZ9AU7MB"))).all())  # #devops-k8s
    anywhere, in_k8s = await users(None), await users("C0QCZ9AU7MB")
    [came] = set(in_k8s) - set(anywhere)
    [went] = set(anywhere) - set(in_k8s)
    assert talk[came] > talk[went]
    assert await users("D0NOTSTORED") == anywhere
    # The same from a slash command typed in the channel, through the core.
    from adapters.console import ConsoleAdapter

    async def typed(channel: str, text: str = question) -> list[str]:
        console = ConsoleAdapter(sample_app.core.handle, community=TEAM, platform="slack", channel=channel,
                                 clock=lambda: datetime(2026, 12, 1, 12, tzinfo=UTC))
        await console.say("UNEWCOMER", f"/whoknows {text}")
        return [card.user for section in console.sent[-1].doc.sections for card in section.experts][:3]

    assert set(await typed("C0QCZ9AU7MB")) - set(await typed("console")) == {came}

    # Intros go on from the same list: when the first two experts asked in #frontend decline, its third is offered
    # (#frontend's own member; the list of a question asked elsewhere has another there).
    from tests.test_intros import _button

    console = ConsoleAdapter(sample_app.core.handle, community=TEAM, platform="slack", channel="C0K3LEZGYDK",
                             clock=lambda: datetime(2026, 12, 1, 12, tzinfo=UTC))
    debug = "can someone help me debug this error?"
    await console.say("UNEWCOMER", f"/whoknows {debug}")
    cards = [c for section in console.sent[-1].doc.sections for c in section.experts]
    users, value = [c.user for c in cards], cards[0].buttons[0].value
    for user in users[:2]:
        assert value.endswith(f":{user}")
        await console.say("UNEWCOMER", f"/click intro.request {value}")
        await console.say(user, f"/click intro.decline {_button(console.sent[-1], 'intro.accept')}")
        [offered] = [c for section in console.sent[-1].doc.sections for c in section.experts]
        value = offered.buttons[0].value
    assert offered.user == users[2] and offered.user not in await typed("console", debug)
    # The request tells the expert why them, from the same list: they talk in #frontend, where it was asked.
    await console.say("UNEWCOMER", f"/click intro.request {value}")
    assert "often in #frontend" in console.sent[-1].doc.plain(), console.sent[-1].doc.plain()


async def test_what_a_suggestion_shows_cannot_ping_wherever_it_is_shown(app):
    """`ask --json` hands `why` to other tools, which may post it: an announcement quoted there pinged everyone
    (audit 15). The chat cards neutralised it; the suggestion itself now does."""
    said = [("1", "U1", "1", "How do I make async http requests with tokio?"),
            ("2", "U2", "1", "@everyone reminder: the tokio async http workshop is tomorrow, bring your requests code"),
            ("3", "U3", "1", "<!here> use reqwest with the tokio runtime for async http requests")]
    cid = await _conversation(app, "TPING", said)
    found = await app.expertise.rank(cid, "async http requests with tokio", asker="U9", top=5)
    shown = " ".join(line for f in found if f.user in ("U2", "U3") for line in f.why)
    assert "workshop" in shown and "reqwest" in shown, shown
    assert "@\u200beveryone reminder" in shown and "@everyone" not in shown and "<!" not in shown


async def test_an_event_with_ids_of_another_shape_is_skipped_with_a_log_line(app, caplog):
    """Found by fuzzing the adapters' payloads: an id that is a list, holds a lone surrogate or a NUL, or is a
    hundred digits long reached the database and failed there, a traceback in the log (on PostgreSQL also a NUL)."""
    good = dict(community="TSHAPE", platform="slack", user="U1", channel="C1", message_id="1700000000.000100",
                text="how do I tune postgres autovacuum", event_id="Ev1")
    bad = [dict(user=["U1"]), dict(user="\ud800"), dict(community="T\x00"), dict(community="9" * 100),
           dict(message_id={"a": 1}), dict(message_id=None), dict(text=["x"]), dict(event_id="\udc00abc"),
           dict(reply_to=3)]
    for n, change in enumerate(bad):
        caplog.clear()
        assert await app.core.handle(ev.MessagePosted(**{**good, "event_id": f"Ev{n}", **change})) == []
        assert not [r for r in caplog.records if r.exc_info], change
        assert any("malformed" in r.getMessage() for r in caplog.records), change
    for event in (ev.ReactionAdded(community="TSHAPE", platform="discord", user=[1, 2], channel="C1",
                                   message_id="1", reaction="x"),
                  ev.ReactionAdded(community="TSHAPE", platform="discord", user="1", channel="C1", message_id="1",
                                   reaction={"a": 1}),
                  ev.MessageDeleted(community="TSHAPE", platform="discord", user="", channel="C1", message_id=[1, 2])):
        caplog.clear()
        assert await app.core.handle(event) == []
        assert not [r for r in caplog.records if r.exc_info], event
    await app.core.handle(ev.MessagePosted(**good))  # the well-formed one is stored
    async with app.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Message)) == 1
