"""The bot's access to the workspace ending while it runs: the app uninstalled, its token revoked, its account
deactivated. Slack says so by an event (app_uninstalled, tokens_revoked) or by refusing every Web API call after
(invalid_auth, token_revoked, account_inactive). Nothing more can be read or sent until the app is installed again
with a new token, so the running bot stops with one line saying what happened and what to do (`connective run`
exits 2, as for a token refused at start); what it stored is kept, for the app installed again."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.errors import AccessEnded

log = logging.getLogger(__name__)

SETUP = "see deploy/slack/README.md"
# What Slack answers a call made with a token it no longer takes, and what it means.
ENDED = {
    "invalid_auth": "the token is no longer valid: revoked, or the app uninstalled",
    "token_revoked": "the token was revoked, or the app uninstalled",
    "account_inactive": "the bot's account was deactivated, or the app uninstalled",
    "token_expired": "the token expired (token rotation is on; connective does not rotate tokens)",
}
# Called with the app-level token (Socket Mode's connection), not the bot token.
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
KEPT = "connective stops; what it stored is kept"


class Ended(SlackApiError, AccessEnded):
    """A Web API call refused because the bot's access ended: a SlackApiError as before, and the core's AccessEnded,
    which scheduled jobs and senders log in one line, not a traceback each."""


class Access:
    """Whether the bot's access to the workspace ended, and the line that says so (set once)."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._ended = asyncio.Event()

    def end(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            log.error("%s", reason)
        self._ended.set()

    async def ended(self) -> str:
        await self._ended.wait()
        assert self.reason is not None
        return self.reason

    def refused(self, method: str, error: str) -> None:
        """A Web API call was refused with one of ENDED."""
        if method in APP_TOKEN_METHODS:
            self.end(f"Slack refused the app-level token (SLACK_APP_TOKEN) while running: {error} ({ENDED[error]}). "
                     f"{KEPT}: set SLACK_APP_TOKEN to a valid app-level token (connections:write) and start it again; "
                     f"{SETUP}")
        else:
            self.end(f"Slack refused the bot token (SLACK_BOT_TOKEN) while running: {error} ({ENDED[error]}). "
                     f"{KEPT}: install the app in the workspace again, set SLACK_BOT_TOKEN to its bot token and start "
                     f"it again; {SETUP}")

    def event(self, body: dict[str, Any], bot_user_id: str) -> None:
        """app_uninstalled, or tokens_revoked naming the bot's own token (a member's user token is none of ours)."""
        event = body.get("event") if isinstance(body.get("event"), dict) else {}
        team = str(body.get("team_id") or "")[:20]
        if event.get("type") == "tokens_revoked":
            tokens = event.get("tokens") if isinstance(event.get("tokens"), dict) else {}
            bots = tokens.get("bot") if isinstance(tokens.get("bot"), list) else []
            if bot_user_id not in bots:
                log.info("Slack workspace %s: tokens revoked, not the bot's (nothing to do)", team)
                return
            what = "connective's bot token was revoked (tokens_revoked)"
        else:
            what = "connective was uninstalled (app_uninstalled)"
        self.end(f"Slack workspace {team}: {what}. {KEPT}: install the app again, set SLACK_BOT_TOKEN to its new bot "
                 f"token and start it again; {SETUP}")


class WatchedClient(AsyncWebClient):
    """An AsyncWebClient that tells `access` (when set: the running bot) of a call refused because the bot's access
    ended, and raises that refusal as Ended."""

    access: Access | None = None

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:  # type: ignore[override]
        try:
            return await super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            if self.access is None or error not in ENDED:
                raise
            self.access.refused(api_method, error)
            raise Ended(str(exc), exc.response) from None
