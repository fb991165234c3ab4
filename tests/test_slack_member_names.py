"""Which Slack payloads name a member: an account's own object (users.info, team_join, user_change) by its display name,
else its real name. A slash command's `user_name` is the legacy handle ("petra.k"), no name a member goes by. The real
bolt and slack_sdk clients against the fake Slack."""
from __future__ import annotations

import urllib.parse

from sqlalchemy import select

from bot.db.models import Member
from tests.test_slack_app import fresh, slack  # noqa: F401 - the fixture
from tests.test_slack_translate import load


async def _name(app, user: str) -> str | None:  # noqa: ANN001
    async with app.db.sessions() as s:
        return await s.scalar(select(Member.name).where(Member.external_id == user))


async def test_a_command_when_users_info_fails_does_not_rename_a_member_by_their_handle(slack):  # noqa: F811
    """users.info failing a moment (rate limited, Slack down): the command's handle named Petra "petra.k" on her
    expert cards, intros and digests until her next message."""
    assert await _name(slack.app, "UPG") == "Petra"
    slack.fake.refused["users.info"] = "ratelimited"
    form = {**load("command_whoknows.json"), "user_id": "UPG", "user_name": "petra.k", "command": "/connective",
            "text": "skills", "response_url": slack.fake.response_url(), "trigger_id": "t-names-1"}
    assert await slack.post(urllib.parse.urlencode(form), "application/x-www-form-urlencoded") == 200
    await slack.fake.wait_for("response_url")
    await slack.adapter.idle()
    assert await _name(slack.app, "UPG") == "Petra"
