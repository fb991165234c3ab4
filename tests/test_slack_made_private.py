"""A public Slack channel an admin makes private: what is stored of it was still quoted, linked and named in answers
to anyone, and its links and questions put in the workspace's digest (the message Slack posts there,
channel_convert_to_private, was skipped; a later message said it only where an admin had turned its reading on).
Live, and while the bot was away. The real bolt and slack_sdk clients against the fake Slack."""
from __future__ import annotations

import logging

from sqlalchemy import func, select

from bot.db.models import Channel, Message
from tests.test_slack_app import fresh, slack, text_of  # noqa: F401 - the fixture
from tests.test_slack_catch_up import GENERAL, away  # noqa: F401 - the fixture

QUESTION = "postgres index ignored by the planner"


async def _private(app, channel: str = GENERAL) -> bool | None:  # noqa: ANN001
    async with app.db.sessions() as s:
        return await s.scalar(select(Channel.is_private).where(Channel.external_id == channel))


async def test_a_channel_made_private_is_no_longer_quoted_outside_it(slack):  # noqa: F811
    shown = text_of(await slack.command("UASK1", "/whoknows", QUESTION))
    assert f"/archives/{GENERAL}/p" in shown
    assert await slack.event(fresh("event_channel_convert_to_private.json")) == 200
    await slack.adapter.idle()
    assert await _private(slack.app)
    shown = text_of(await slack.command("UASK1", "/whoknows", QUESTION))
    assert "<@UPG>" in shown  # still the expert; her words and their links not shown
    assert f"/archives/{GENERAL}/p" not in shown and "#general" not in shown


async def test_a_channel_made_private_while_the_bot_was_away_is_private_at_the_next_start_and_keeps_its_messages(
        away, caplog):  # noqa: F811
    """No channel_convert_to_private came (and unread, the channel would never say it): users.conversations lists
    it private now. Its messages stay stored; a channel listed public, or private already, changes nothing."""
    caplog.set_level(logging.INFO)
    async with away.app.db.sessions() as s:
        before = await s.scalar(select(func.count()).select_from(Message))
    for channel in away.fake.member_of:
        if channel["id"] == GENERAL:
            channel.update(is_private=True, is_group=True)
    await away.restart()
    assert await _private(away.app)
    async with away.app.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Message)) == before
    assert f"1 channel(s) made private while the bot was away: {GENERAL}" in caplog.text
    caplog.clear()
    await away.restart()
    assert "made private" not in caplog.text
