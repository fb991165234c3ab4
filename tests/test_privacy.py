"""A member's privacy, told as their story: what each surface shows or stores after they opt out or ask to be
forgotten, on SQLite and PostgreSQL."""
from __future__ import annotations

from sqlalchemy import select

from bot.db.models import Question
from tests.test_intros import _ask, _setup


async def test_opting_out_takes_the_member_off_the_questions_they_were_suggested_for(app, tmp_path):
    """Kenji is suggested for Bruno's question; he opts out. Whom the ranking took for an expert on what is a profile of
    him, and opting out removes the existing data: the question listed his id until he asked to be forgotten."""
    console, _ = await _setup(app, tmp_path)
    cards = await _ask(console, "UASK2", "who knows kubernetes pods rollout?")
    assert "UK8S" in [user for user, _ in cards]
    await console.say("UK8S", "/optout")
    async with app.db.sessions() as s:
        [suggested] = await s.scalars(select(Question.suggested))
    assert suggested and "UK8S" not in suggested, suggested
