"""Slack from a one-shot command (`connective forget`): the bot token's Web API client, no listener. What the core
would have had the running bot send is sent through the same SlackSender, and the member's App Home published again."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from adapters.slack.blocks import home_view, in_workspace
from adapters.slack.outbox import SlackSender
from adapters.slack.runner import _checked, web_client
from bot.errors import UserError

if TYPE_CHECKING:
    from bot.app import App
    from bot.settings import Settings


class SlackOneShot:
    def __init__(self, app: App, sender: SlackSender) -> None:
        self.app = app
        self.sender = sender  # the core's Sender of platform "slack" while the command runs

    async def refresh(self, community: str, user: str) -> bool:
        """The member's App Home shows what is kept now (it showed their profile until they opened it again)."""
        if self.app.home is None:
            return False
        doc = await self.app.home.document("slack", community, user, now=datetime.now(UTC))
        await self.sender.client.views_publish(user_id=user, view=home_view(in_workspace(doc, self.sender.web_url)))
        return True


@asynccontextmanager
async def connected(app: App, settings: Settings, community: str) -> AsyncIterator[SlackOneShot]:
    """A UserError where the token is refused, or is another workspace's than `community`."""
    client = web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)  # type: ignore[union-attr]
    me = await _checked(client.auth_test(), "SLACK_BOT_TOKEN", "bot token", "auth.test")
    if me.get("team_id") != community:
        raise UserError(f"SLACK_BOT_TOKEN is workspace {str(me.get('team_id'))[:20]}'s, not {community}'s")
    yield SlackOneShot(app, SlackSender(client, me.get("url") or "", app.core.delivered, app.core.undelivered))
