"""A member's privacy, told as their story: what each surface shows or stores after they opt out or ask to be
forgotten, on SQLite and PostgreSQL."""
from __future__ import annotations

import urllib.parse
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot import inbox
from bot.db.models import Member, Message, Question
from tests.test_inbox import _killed, _later, _restart, _rows
from tests.test_intros import _ask, _setup
from tests.test_slack_app import slack  # noqa: F401  (fixture)
from tests.test_slack_translate import load


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


@pytest.mark.parametrize("dies_in", ["before its claim", "while removing their data"])
async def test_a_forget_me_lost_with_its_process_after_the_ack_is_done_by_the_next_start(
        slack, monkeypatch, dies_in):  # noqa: F811
    """Kenji types `/connective forget-me` on Slack; the ack goes back and the process dies (a SIGKILL, an OOM kill)
    before his data is deleted. Slack echoes no command and sends none again: his messages stayed, and he was told
    nothing. The request is now kept before its ack (without its response_url, a credential), the next start does it,
    and tells him by DM."""
    async def kenjis() -> int:
        async with slack.app.db.sessions() as s:
            return await s.scalar(select(func.count()).select_from(Message).join(Member, Member.id == Message.author_id)
                                  .where(Member.external_id == "UK8S"))

    assert await kenjis() > 0
    target, name = ((slack.app.core, "handle") if dies_in == "before its claim"
                    else (slack.app.core, "_remove_member_data"))
    calls = _killed(monkeypatch, target, name)
    response_url = slack.fake.response_url()
    form = {**load("command_whoknows.json"), "user_id": "UK8S", "command": "/connective", "text": "forget-me",
            "response_url": response_url, "trigger_id": "t-forget-kenji"}
    assert await slack.post(urllib.parse.urlencode(form), "application/x-www-form-urlencoded") == 200
    await slack.adapter.idle()
    assert calls == [1] and await kenjis() > 0
    [row] = await _rows(slack.app)
    assert response_url not in row.body and "forget-me" in row.body

    adapter = await _restart(slack)
    await _later(slack.app, inbox.GRACE + timedelta(seconds=1))
    handled = await slack.app.core.inbox.sweep()
    if dies_in == "while removing their data":  # claimed by the process that died: taken over once stale
        assert handled == 0
        await _later(slack.app, inbox.LEASE + timedelta(seconds=1))
        handled = await slack.app.core.inbox.sweep()
    await adapter.idle()
    assert handled == 1 and await kenjis() == 0 and await _rows(slack.app) == []
    async with slack.app.db.sessions() as s:
        assert await s.scalar(select(Member.profiling_consent).where(Member.external_id == "UK8S")) is False
    [told] = slack.dm("UK8S")
    assert "deleted everything" in str(told), told
    assert slack.fake.of("response_url") == []  # nothing went to the credential


async def test_a_forget_me_handled_live_leaves_nothing_in_the_inbox(slack):  # noqa: F811
    answer = await slack.command("UK8S", "/connective", "forget-me")
    assert "deleted everything" in str(answer)
    await slack.adapter.idle()
    assert await _rows(slack.app) == [] and slack.dm("UK8S") == []
