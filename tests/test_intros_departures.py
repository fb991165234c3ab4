"""Intros when a member leaves profiling (/optout) or asks to be forgotten (/forget-me), on SQLite and PostgreSQL:
the requests an expert received still count against their weekly cap, and nothing of the asker stays."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.actions import DirectMessage
from bot.db.intros import Intro, IntroState
from bot.db.models import Member, Question
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
