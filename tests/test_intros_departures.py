"""Intros when a member leaves profiling (/optout) or asks to be forgotten (/forget-me), on SQLite and PostgreSQL:
the requests an expert received still count against their weekly cap, and nothing of the asker stays."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.actions import DirectMessage
from bot.db.intros import Intro, IntroState, NotMyArea
from bot.db.models import Community, Member, Question
from tests.exports import TEAM
from tests.test_intros import T0, _act, _ask, _button, _setup

QUESTION = "who knows why postgres ignores my index?"


async def _member_id(app, user: str) -> int:
    async with app.db.sessions() as s:
        return await s.scalar(select(Member.id).where(Member.external_id == user))


@pytest.mark.parametrize("leave", ["/optout", "/forget-me"])
async def test_leaving_and_coming_back_does_not_reset_the_experts_cap(app, tmp_path, leave):
    """An asker requesting an intro, opting out (or being forgotten) and back in, again and again, reached an
    expert with a cap of 3 five times: their questions went, and the requests with them (ON DELETE CASCADE)."""
    console, _ = await _setup(app, tmp_path)
    reached, pending = 0, []
    for take in range(5):
        cards = dict(await _ask(console, "UASK1", f"{QUESTION} (take {take})"))
        if "UPG" in cards:
            actions = await _act(console, "UASK1", f"/click intro.request {cards['UPG']}")
            sent = [a for a in actions if isinstance(a, DirectMessage) and a.user == "UPG"]
            reached += len(sent)
            pending += [_button(a, "intro.accept") for a in sent]
        await _act(console, "UASK1", leave)
        await _act(console, "UASK1", "/optin")
    assert reached == app.settings.weekly_intro_cap == 3
    petra, asha = await _member_id(app, "UPG"), await _member_id(app, "UASK1")
    async with app.db.sessions() as s:
        rows = (await s.execute(select(Intro.asker_id, Intro.question_id, Intro.state)
                                .where(Intro.expert_id == petra))).all()
        assert await s.scalar(select(func.count()).select_from(Question).where(Question.asker_id == asha)) == 0
    # What the expert received is kept, without who asked or what: the asker's questions are gone.
    assert rows == [(None, None, IntroState.WITHDRAWN.value)] * 3
    home = await app.home.document("slack", TEAM, "UPG", now=T0)
    assert "(3 this week)" in home.plain()
    # A withdrawn request can no longer be accepted.
    [closed] = await _act(console, "UPG", f"/click intro.accept {pending[0]}")
    assert "no longer open" in closed.doc.text
    # A week later she is suggested again.
    console.clock = lambda: T0 + timedelta(days=8)
    assert "UPG" in dict(await _ask(console, "UASK1", QUESTION))


@pytest.mark.parametrize("leave", ["/optout", "/forget-me"])
async def test_not_my_area_keeps_no_words_of_an_asker_who_left(app, tmp_path, leave):
    """"Not my area" stored the asker's question as the expert's declined topic: after the asker opted out or
    was forgotten, their words stayed, quoted on the expert's App Home and read by every ask."""
    console, _ = await _setup(app, tmp_path)
    for asker, question, expert in (("UASK1", "who knows kubernetes pods rollout?", "UK8S"),
                                    ("UASK2", "who knows postgres autovacuum tuning?", "UPG")):
        cards = dict(await _ask(console, asker, question))
        [_, request] = await _act(console, asker, f"/click intro.request {cards[expert]}")
        await _act(console, expert, f"/click intro.notmine {_button(request, 'intro.accept')}")
    async with app.db.sessions() as s:
        assert set(await s.scalars(select(NotMyArea.topic))) == {"kubernetes pods rollout",
                                                                 "postgres autovacuum tuning"}
    await _act(console, "UASK1", leave)
    async with app.db.sessions() as s:  # the other asker's words stay: their question is still theirs
        assert list(await s.scalars(select(NotMyArea.topic))) == ["postgres autovacuum tuning"]
    assert "kubernetes" not in (await app.home.document("slack", TEAM, "UK8S", now=T0)).plain()


async def test_opting_out_takes_back_what_accepted_intros_say_about_the_expert(app, tmp_path):
    """An intro an expert accepted counts as expertise on questions like it (as a skill of source "intro"). It
    survived /optout: back in, a member whose messages were all deleted ranked first on it alone. Nor does an
    intro accepted while opted out count."""
    console, _ = await _setup(app, tmp_path)
    async with app.db.sessions() as s:
        cid = await s.scalar(select(Community.id).where(Community.external_id == TEAM))
    later, reason = T0 + timedelta(hours=1), "accepted an intro on a similar question"

    async def why(user: str) -> list[str]:
        ranked = await app.expertise.rank(cid, "how should I tune autovacuum in postgres?", asker="UASK2", top=10,
                                          now=later)
        return next((s.why for s in ranked if s.user == user), [])

    requests = []
    for asker in ("UASK1", "UASK2"):
        cards = await _ask(console, asker, "who knows postgres autovacuum tuning?")
        [_, request] = await _act(console, asker, f"/click intro.request {cards[1][1]}")
        requests.append(request)
    expert = requests[0].user
    assert requests[1].user == expert
    await _act(console, expert, f"/click intro.accept {_button(requests[0], 'intro.accept')}")
    assert reason in await why(expert)

    await _act(console, expert, "/optout")  # closes the request still open (withdrawn), so it is not accepted
    await _act(console, expert, f"/click intro.accept {_button(requests[1], 'intro.accept')}")
    await _act(console, expert, "/optin")
    assert reason not in await why(expert)
    async with app.db.sessions() as s:  # the requests still count against the expert's cap
        states = (await s.scalars(select(Intro.state).where(
            Intro.expert_id == await _member_id(app, expert)).order_by(Intro.id))).all()
    assert states == [IntroState.ACCEPTED.value, IntroState.WITHDRAWN.value]
