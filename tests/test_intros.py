"""Consent-first intros through the console adapter, on SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from adapters.console import ConsoleAdapter
from bot.actions import Action, DirectMessage, OpenGroup, Reply
from bot.db.intros import Intro, IntroState, NotMyArea, topic_key
from bot.db.models import Community, Member, Question
from bot.services.intros import IntroService
from tests.exports import TEAM, THREADS, USERS, write_slack_export

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[Action] = []

    async def send(self, action: Action) -> None:
        self.sent.append(action)


async def _setup(app, tmp_path) -> tuple[ConsoleAdapter, RecordingSender]:
    await app.importer.import_slack(write_slack_export(tmp_path / "export", USERS, THREADS))
    sender = RecordingSender()
    app.core.senders["slack"] = sender
    return ConsoleAdapter(app.core.handle, community=TEAM, platform="slack", clock=lambda: T0), sender


async def _ask(console: ConsoleAdapter, asker: str, question: str) -> list[tuple[str, str]]:
    """(expert user id, intro.request value) of each card in the answer."""
    actions = await _act(console, asker, question)
    [reply] = actions
    return [(card.user, card.buttons[0].value) for section in reply.doc.sections for card in section.experts]


async def _act(console: ConsoleAdapter, user: str, line: str) -> list[Action]:
    before = len(console.sent)
    await console.say(user, line)
    return console.sent[before:]


async def _request(console: ConsoleAdapter, asker: str, value: str) -> tuple[Reply, DirectMessage]:
    reply, request = await _act(console, asker, f"/click intro.request {value}")
    assert isinstance(reply, Reply) and isinstance(request, DirectMessage)
    return reply, request


def _button(action: DirectMessage, name: str) -> str:
    for section in action.doc.sections:
        for b in section.buttons:
            if b.action == name:
                return b.value
    raise AssertionError(f"no {name} button in {action.doc.plain()}")


async def _intro_state(app, intro_id: str) -> str:
    async with app.db.sessions() as s:
        return (await s.get(Intro, int(intro_id))).state


async def test_request_and_accept_opens_a_group(app, tmp_path):
    console, _ = await _setup(app, tmp_path)
    cards = await _ask(console, "UASK1", "who knows why postgres ignores my index?")
    expert, value = cards[0]
    assert expert == "UPG" and value.endswith(":UPG")

    reply, request = await _request(console, "UASK1", value)
    assert reply.user == "UASK1" and "Petra" in reply.doc.text
    assert request.user == "UPG"
    assert "postgres ignores my index" in request.doc.text
    assert "EXPLAIN ANALYZE" in request.doc.plain() or "answered" in request.doc.plain()  # why they were picked
    intro_id = _button(request, "intro.accept")
    assert {_button(request, "intro.decline"), _button(request, "intro.notmine")} == {intro_id}

    # Only the addressee can answer, only the asker can request.
    [refused] = await _act(console, "UK8S", f"/click intro.accept {intro_id}")
    assert "isn't addressed to you" in refused.doc.text
    [refused] = await _act(console, "UASK2", f"/click intro.request {value}")
    assert "Only the person who asked" in refused.doc.text
    [again] = await _act(console, "UASK1", f"/click intro.request {value}")
    assert "already asked" in again.doc.text

    group, note, thanks = await _act(console, "UPG", f"/click intro.accept {intro_id}")
    assert isinstance(group, OpenGroup) and group.members == ("UASK1", "UPG") and group.key == f"intro:{intro_id}"
    assert "postgres ignores my index" in group.doc.text
    assert isinstance(note, DirectMessage) and note.user == "UASK1" and "accepted" in note.doc.text
    assert isinstance(thanks, Reply) and thanks.user == "UPG"
    assert await _intro_state(app, intro_id) == IntroState.ACCEPTED

    [closed] = await _act(console, "UPG", f"/click intro.decline {intro_id}")
    assert "no longer open" in closed.doc.text
    assert await _intro_state(app, intro_id) == IntroState.ACCEPTED


async def test_decline_and_not_my_area_offer_the_next_expert_the_same_way(app, tmp_path):
    console, _ = await _setup(app, tmp_path)
    cards = await _ask(console, "UASK1", "who knows postgres autovacuum tuning?")
    _, request = await _request(console, "UASK1", cards[0][1])
    assert request.user == "UPG"
    thanks, offer = await _act(console, "UPG", f"/click intro.decline {_button(request, 'intro.accept')}")
    assert thanks.user == "UPG" and "Nobody will be told" in thanks.doc.text
    assert isinstance(offer, DirectMessage) and offer.user == "UASK1"
    assert "declin" not in offer.doc.text.lower() and "Petra" not in offer.doc.plain()
    [next_card] = [c for s in offer.doc.sections for c in s.experts]
    assert next_card.user not in ("UPG", "UASK1")
    assert next_card.buttons[0].action == "intro.request"

    # The offered expert says "not my area": the topic is stored and the asker gets the same kind of offer.
    _, request2 = await _request(console, "UASK1", next_card.buttons[0].value)
    assert request2.user == next_card.user
    thanks2, offer2 = await _act(console, next_card.user, f"/click intro.notmine {_button(request2, 'intro.accept')}")
    assert "suggest you less" in thanks2.doc.text
    assert offer2.doc.text.split(".")[0] == offer.doc.text.split(".")[0]  # same wording: nobody learns why
    assert next_card.user not in {c.user for s in offer2.doc.sections for c in s.experts}
    async with app.db.sessions() as s:
        rows = (await s.execute(select(Member.external_id, NotMyArea.topic)
                                .join(Member, Member.id == NotMyArea.member_id))).all()
    assert rows == [(next_card.user, "postgres autovacuum tuning")]


async def test_not_my_area_lowers_the_topic_in_ranking(app, tmp_path):
    console, _ = await _setup(app, tmp_path)
    question = "who knows kubernetes pods rollout?"
    cards = await _ask(console, "UASK1", question)
    assert cards[0][0] == "UK8S"
    _, request = await _request(console, "UASK1", cards[0][1])
    await _act(console, "UK8S", f"/click intro.notmine {_button(request, 'intro.accept')}")
    later = await _ask(console, "UASK2", question)
    assert "UK8S" not in [u for u, _ in later][:1]
    # Unrelated questions are unaffected.
    assert (await _ask(console, "UASK2", "who knows postgres index?"))[0][0] == "UPG"


async def test_timeout_offers_the_next_expert_once_even_with_two_replicas(app, tmp_path):
    console, sender = await _setup(app, tmp_path)
    cards = await _ask(console, "UASK1", "who knows flexbox overflow in safari?")
    assert cards[0][0] == "UCSS"
    _, request = await _request(console, "UASK1", cards[0][1])
    intro_id = _button(request, "intro.accept")
    service = app.intros
    replica = IntroService(db=app.db, expertise=app.expertise, core=app.core, timeout=service.timeout)

    service.clock = replica.clock = lambda: T0 + timedelta(hours=23)
    assert await service.sweep() == 0
    assert sender.sent == []

    service.clock = replica.clock = lambda: T0 + timedelta(hours=24, minutes=1)
    counts = await asyncio.gather(service.sweep(), replica.sweep())
    assert sorted(counts) == [0, 1]
    [offer] = sender.sent
    assert isinstance(offer, DirectMessage) and offer.user == "UASK1" and offer.community == TEAM
    assert "could not happen" in offer.doc.text
    assert all(c.user != "UCSS" for s in offer.doc.sections for c in s.experts)
    assert await _intro_state(app, intro_id) == IntroState.EXPIRED
    assert await service.sweep() == 0

    [late] = await _act(console, "UCSS", f"/click intro.accept {intro_id}")
    assert "no longer open" in late.doc.text


async def test_weekly_cap_excludes_busy_experts(app, tmp_path):
    console, _ = await _setup(app, tmp_path)
    async with app.db.sessions.begin() as s:
        petra = await s.scalar(select(Member).where(Member.external_id == "UPG"))
        petra.weekly_intro_cap = 1
    cards = await _ask(console, "UASK1", "who knows postgres index?")
    second = await _ask(console, "UASK2", "who knows postgres vacuum?")
    assert cards[0][0] == "UPG" and second[0][0] == "UPG"
    await _request(console, "UASK1", cards[0][1])
    [busy] = await _act(console, "UASK2", f"/click intro.request {second[0][1]}")
    assert "not taking intro requests" in busy.doc.text
    assert "UPG" not in [u for u, _ in await _ask(console, "UASK2", "who knows postgres vacuum?")]
    # A week later she is suggested again.
    console.clock = lambda: T0 + timedelta(days=7, minutes=1)
    assert (await _ask(console, "UASK2", "who knows postgres vacuum?"))[0][0] == "UPG"


async def test_malformed_values_are_refused_politely(app, tmp_path):
    console, _ = await _setup(app, tmp_path)
    for line in ("/click intro.request nonsense", "/click intro.request 999:UPG", "/click intro.accept x",
                 "/click intro.accept 12345", "/click intro.frob 1"):
        out = await _act(console, "UASK1", line)
        assert all(isinstance(a, Reply) for a in out), line


async def test_an_accepted_intro_counts_for_similar_questions(app, tmp_path):
    console, _ = await _setup(app, tmp_path)
    async with app.db.sessions() as s:
        cid = await s.scalar(select(Community.id).where(Community.external_id == TEAM))
    similar, later = "how should I tune autovacuum in postgres?", T0 + timedelta(hours=1)
    before = await app.expertise.rank(cid, similar, asker="UASK2", top=10, now=later)
    cards = await _ask(console, "UASK1", "who knows postgres autovacuum tuning?")
    second, value = cards[1]
    _, request = await _request(console, "UASK1", value)
    await _act(console, second, f"/click intro.accept {_button(request, 'intro.accept')}")

    after = await app.expertise.rank(cid, similar, asker="UASK2", top=10, now=later)
    place = {s.user: i for i, s in enumerate(after)}
    expert = after[place[second]]
    assert "accepted an intro on a similar question" in expert.why
    assert expert.score > next(s.score for s in before if s.user == second)
    # Unrelated questions are unaffected.
    other = await app.expertise.rank(cid, "kubernetes pods keep restarting", asker="UASK2", top=10, now=later)
    assert all("accepted an intro on a similar question" not in s.why for s in other)
    # For a year: every ask reads them.
    next_year = await app.expertise.rank(cid, similar, asker="UASK2", top=10, now=later + timedelta(days=400))
    assert all("accepted an intro on a similar question" not in s.why for s in next_year)


async def test_simultaneous_requests_never_pass_the_weekly_cap(app, tmp_path):
    """Two askers click "Request intro" at the same moment for an expert with a cap of 1: one request reaches her.
    The cap was checked before the insert, in another transaction, so both got through (two replicas alike)."""
    console, _ = await _setup(app, tmp_path)
    await _act(console, "UPG", "/click home.cap 1")
    first = await _ask(console, "UASK1", "who knows postgres index?")
    second = await _ask(console, "UASK2", "who knows postgres vacuum?")
    assert first[0][0] == "UPG" and second[0][0] == "UPG"
    results = await asyncio.gather(*(app.core.handle(console.translate(asker, f"/click intro.request {value}"))
                                     for asker, value in (("UASK1", first[0][1]), ("UASK2", second[0][1]))))
    requests = [a for actions in results for a in actions if isinstance(a, DirectMessage) and a.user == "UPG"]
    refusals = [a for actions in results for a in actions if isinstance(a, Reply)
                and "not taking intro requests" in a.doc.text]
    assert len(requests) == 1 and len(refusals) == 1
    async with app.db.sessions() as s:
        petra = await s.scalar(select(Member.id).where(Member.external_id == "UPG"))
        assert len((await s.scalars(select(Intro.id).where(Intro.expert_id == petra))).all()) == 1



async def _request_while(app, console: ConsoleAdapter, value: str, user: str, line: str) -> list[Action]:
    """UASK1 requests the intro `value`, and `user` types `line` after the request is checked, before it is stored."""
    why = app.intros._why

    async def meanwhile(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        await _act(console, user, line)
        return await why(*args, **kwargs)

    app.intros._why = meanwhile
    try:
        return await _act(console, "UASK1", f"/click intro.request {value}")
    finally:
        app.intros._why = why


async def test_a_request_never_reaches_an_expert_who_just_left(app, tmp_path):
    """The expert runs /forget-me (or opts out, or turns requests off) after the request was checked and before it is
    stored: the request was stored anyway and sent to them, after they had asked to be forgotten."""
    console, _ = await _setup(app, tmp_path)
    for leaving in ("/forget-me", "/optout", "/click home.unavailable off"):
        [(expert, value), *_] = await _ask(console, "UASK1", "who knows why postgres ignores my index?")
        actions = await _request_while(app, console, value, expert, leaving)
        assert not [a for a in actions if isinstance(a, DirectMessage) and a.user == expert], leaving
        assert "not taking intro requests" in actions[-1].doc.text
        async with app.db.sessions() as s:
            member = await s.scalar(select(Member.id).where(Member.external_id == expert))
            assert not (await s.scalars(select(Intro.id).where(Intro.expert_id == member))).all(), leaving


async def test_a_request_of_an_asker_who_just_left_is_not_sent(app, tmp_path):
    """The asker opts out after clicking "Request intro" and before the request is stored: their question is gone, and
    it must not reach the expert."""
    console, _ = await _setup(app, tmp_path)
    [(expert, value), *_] = await _ask(console, "UASK1", "who knows why postgres ignores my index?")
    actions = await _request_while(app, console, value, "UASK1", "/optout")
    assert not [a for a in actions if isinstance(a, DirectMessage) and a.user == expert]
    assert "question is gone" in actions[-1].doc.text
    async with app.db.sessions() as s:
        assert not (await s.scalars(select(Intro.id))).all()


async def test_not_my_area_on_a_long_question(app, tmp_path):
    """A topic is the question's words, up to 4,000 characters: a unique index on the text itself refused long ones
    on PostgreSQL (an index entry holds at most 2,704 bytes), and "Not my area" on a long question failed there."""
    console, _ = await _setup(app, tmp_path)
    # Kubernetes words, then a pasted log in a script of three bytes a character (and hard to compress).
    log = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(3000))
    question = f"who knows kubernetes pods rollout? here is the log: {log}"
    cards = await _ask(console, "UASK1", question)
    assert cards[0][0] == "UK8S"
    _, request = await _request(console, "UASK1", cards[0][1])
    intro_id = _button(request, "intro.accept")
    thanks, _offer = await _act(console, "UK8S", f"/click intro.notmine {intro_id}")
    assert "suggest you less" in thanks.doc.text
    assert await _intro_state(app, intro_id) == IntroState.NOT_MY_AREA
    async with app.db.sessions() as s:
        [(topic, key)] = (await s.execute(select(NotMyArea.topic, NotMyArea.topic_key))).all()
    assert topic == question.removeprefix("who knows ")[:4000] and key == topic_key(topic)
    assert "UK8S" not in [u for u, _ in await _ask(console, "UASK2", question)]


async def test_an_expert_who_is_forgotten_with_a_request_open_leaves_the_asker_an_offer(app, tmp_path):
    """/forget-me took the open request with it: the asker, told "I will message you", never heard again, and the
    expert's old Accept said the request "isn't addressed to you" (user walk-through)."""
    console, _ = await _setup(app, tmp_path)
    cards = await _ask(console, "UASK1", "who knows why postgres ignores my index?")
    _, request = await _request(console, "UASK1", cards[0][1])
    assert request.user == "UPG"
    forgotten, offer = await _act(console, "UPG", "/forget-me")
    assert isinstance(forgotten, Reply) and forgotten.user == "UPG"
    assert isinstance(offer, DirectMessage) and offer.user == "UASK1" and "could not happen" in offer.doc.text
    assert "UPG" not in {c.user for s in offer.doc.sections for c in s.experts}
    [closed] = await _act(console, "UPG", f"/click intro.accept {_button(request, 'intro.accept')}")
    assert "no longer open" in closed.doc.text
    # Asked for again, they are unavailable, as one who opted out is: "out of date" told the asker they were forgotten.
    [again] = await _act(console, "UASK1", f"/click intro.request {cards[0][1]}")
    assert "out of date" not in again.doc.text and "not taking intro requests" in again.doc.text, again.doc.text


async def test_an_expert_who_opts_out_with_a_request_open_closes_it_and_the_asker_is_offered_the_next(app, tmp_path):
    """/optout left requests to the expert open: the asker waited for the timeout (a day) to be offered anyone else,
    and the request (the question, what the bot learnt of the expert) stayed in the expert's DMs with its buttons.
    The request is withdrawn now, loses its buttons, and the asker is offered the next expert, as for /forget-me."""
    from bot.actions import UpdateMessage

    console, _ = await _setup(app, tmp_path)
    cards = await _ask(console, "UASK1", "who knows why postgres ignores my index?")
    _, request = await _request(console, "UASK1", cards[0][1])
    intro_id = _button(request, "intro.accept")
    async with app.db.sessions.begin() as s:  # where Slack said the request was posted (the console keeps none)
        intro = await s.get(Intro, int(intro_id))
        intro.request_channel, intro.request_ref = "DUPG", "1700009999.000100"
    opted_out, *rest = await _act(console, "UPG", "/optout")
    assert isinstance(opted_out, Reply) and opted_out.user == "UPG"
    assert "1 intro request(s) waiting for your answer are closed" in opted_out.doc.text
    [closed] = [a for a in rest if isinstance(a, UpdateMessage)]
    assert (closed.channel, closed.message_ref) == ("DUPG", "1700009999.000100")
    assert "opted out" in closed.doc.text and not closed.doc.sections  # no buttons, no question
    [offer] = [a for a in rest if isinstance(a, DirectMessage)]
    assert offer.user == "UASK1" and "could not happen" in offer.doc.text
    assert "UPG" not in {c.user for s in offer.doc.sections for c in s.experts}
    assert await _intro_state(app, intro_id) == IntroState.WITHDRAWN
    [late] = await _act(console, "UPG", f"/click intro.accept {intro_id}")
    assert not [a for a in console.sent if isinstance(a, OpenGroup)], late.doc.text


async def test_asking_again_for_an_expert_tells_where_the_request_stands(app, tmp_path):
    """A second click on a declined expert promised "I will message you when there is an answer" (none was coming),
    and a decline after another expert accepted offered the asker a third (user walk-through)."""
    console, _ = await _setup(app, tmp_path)
    cards = await _ask(console, "UASK1", "who knows why postgres ignores my index?")
    (first, first_value), (second, second_value) = cards[:2]
    _, request1 = await _request(console, "UASK1", first_value)
    _, request2 = await _request(console, "UASK1", second_value)
    await _act(console, second, f"/click intro.accept {_button(request2, 'intro.accept')}")
    [again] = await _act(console, "UASK1", f"/click intro.request {second_value}")
    assert "already accepted" in again.doc.text and "conversation with them is open" in again.doc.text
    # The first declines: the asker has their introduction, so nobody else is offered.
    [thanks] = await _act(console, first, f"/click intro.decline {_button(request1, 'intro.accept')}")
    assert thanks.user == first
    [again] = await _act(console, "UASK1", f"/click intro.request {first_value}")
    assert "could not happen; pick someone else" in again.doc.text and "when there is an answer" not in again.doc.text


async def test_a_button_names_only_an_expert_suggested_for_its_question(app, tmp_path):
    """SQLite gives a removed question's id to the next one: an old button (asked, /optout, /optin, asked again)
    sent a request about the new question to someone never suggested for it, with invented evidence (walk-through)."""
    console, _ = await _setup(app, tmp_path)
    cards = await _ask(console, "UASK1", "who knows why postgres ignores my index?")
    question_id, expert = cards[-1][1].split(":")
    async with app.db.sessions.begin() as s:  # as for a question of the same id asked since, suggesting others
        question = await s.get(Question, int(question_id))
        question.suggested = [u for u in question.suggested if u != expert]
    [refused] = await _act(console, "UASK1", f"/click intro.request {cards[-1][1]}")
    assert "out of date" in refused.doc.text
    async with app.db.sessions() as s:
        assert (await s.scalar(select(Intro.id).limit(1))) is None
    _, request = await _request(console, "UASK1", cards[0][1])  # one it suggested is still asked for
    assert request.user == cards[0][0]


async def test_a_request_withdrawn_before_its_message_was_known_is_changed_when_it_is(app, tmp_path):
    """The asker opted out between the request's sending and the adapter's word of where it went (Core.delivered):
    the message is changed then, so the expert's DM keeps neither their words nor live buttons."""
    console, sender = await _setup(app, tmp_path)
    [(_, value), *_] = await _ask(console, "UASK1", "who knows why postgres ignores my index?")
    _, request = await _request(console, "UASK1", value)
    assert request.key == f"intro:{_button(request, 'intro.accept')}"
    await _act(console, "UASK1", "/optout")
    assert sender.sent == []  # the console reported no message: nothing to change yet
    await app.core.delivered(request.key, "DUPG", "1709542800.000100")
    [withdrawn] = sender.sent
    assert (withdrawn.channel, withdrawn.message_ref) == ("DUPG", "1709542800.000100")
    assert "withdrawn" in withdrawn.doc.plain() and "postgres" not in withdrawn.doc.plain()
    await app.core.delivered("intro:not-a-number", "DUPG", "1")  # a bad key is logged, not raised
    await app.core.delivered("nobody:1", "DUPG", "1")


async def test_a_member_the_question_names_is_named_in_the_request_and_the_introduction(app, tmp_path):
    """"who knows what <@UK8S> meant by autovacuum tuning?" was quoted to the expert, in the introduction and in the
    settled request as "what meant by autovacuum tuning": the mention dropped, as the answer had (565f35e)."""
    console, _ = await _setup(app, tmp_path)
    cards = await _ask(console, "UASK1", "who knows what <@UK8S> meant by postgres autovacuum tuning?")
    petra = next(value for user, value in cards if user == "UPG")
    _, request = await _request(console, "UASK1", petra)
    assert "what @Kenji meant by postgres autovacuum tuning" in request.doc.text
    intro_id = _button(request, "intro.accept")
    group, _note, _thanks = await _act(console, "UPG", f"/click intro.accept {intro_id}")
    assert "what @Kenji meant by postgres autovacuum tuning" in group.doc.text
