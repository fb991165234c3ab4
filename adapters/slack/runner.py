"""`connective run --platform slack`: Socket Mode when SLACK_APP_TOKEN is set, else HTTP (Events API)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler
from slack_bolt.request.internals import parse_body
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)

from adapters.slack.access import WatchedClient
from adapters.slack.listeners import SlackAdapter
from adapters.slack.refusals import SHAPE_ERRORS, raised_by_bolt
from bot.errors import Unavailable, UserError
from bot.services import catch_up_marks

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
T = TypeVar("T")
SETUP = "see deploy/slack/README.md"
SOCKET_CHECK_SECONDS = 30.0  # how often /healthz learns whether the Socket Mode connection is up
# How often auth.test asks whether the bot's access ended: a replica that no event reaches (another got
# app_uninstalled, or none came) learns it too, within this long, rather than at its next digest.
ACCESS_CHECK_SECONDS = 300.0
# What Slack answers a token it will not take (auth.test, apps.connections.open).
_REFUSED = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
                      "not_allowed_token_type"})


def _refusal(exc: SlackApiError, variable: str, what: str, method: str) -> UserError:
    error = exc.response.get("error") if exc.response is not None else None
    if error in _REFUSED:
        return UserError(f"Slack refused the {what} ({variable}): {error}; {SETUP}")
    return Unavailable(f"Slack answered {method} with {error or exc}; try again later")


async def _checked(call: Awaitable[T], variable: str, what: str, method: str) -> T:
    """A start-up call to Slack, what Slack answered in one line: a token refused, or another error. (No answer at
    all is an OSError, said by `connective run` as "cannot reach Slack".)"""
    try:
        return await call
    except SlackApiError as exc:
        raise _refusal(exc, variable, what, method) from None


def web_client(token: str, api_url: str | None = None, *, rate_limit_retries: int = 3) -> WatchedClient:
    """The Web API client: CONNECTIVE_SLACK_API_URL as base_url; 429 Retry-After and dropped connections
    are retried by slack_sdk's handlers. The running bot's adapter watches it for its access ending (access.py)."""
    kwargs = {"base_url": api_url if api_url.endswith("/") else api_url + "/"} if api_url else {}
    return WatchedClient(token=token, retry_handlers=[
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
        AsyncRateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
    ], **kwargs)


@web.middleware
async def malformed_refused(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A body bolt cannot read (not UTF-8, not JSON where JSON is due, a JSON list) is refused with 400 and one log
    line. Bolt reads the body before it checks the signature, and raised: anyone who could reach the endpoint made it
    answer 500 and log a traceback per request (security audit)."""
    if request.method == "POST" and request.path == EVENTS_PATH:
        try:
            readable = isinstance(parse_body(await request.text(), request.headers.get("Content-Type")), dict)
        except (ValueError, UnicodeDecodeError):  # json.JSONDecodeError is a ValueError
            readable = False
        if not readable:
            log.warning("malformed request to %s refused (%s, %d bytes)", EVENTS_PATH,
                        request.headers.get("Content-Type", "no content type")[:60], request.content_length or 0)
            return web.Response(status=400, text="malformed body")
        try:
            return await handler(request)
        except SHAPE_ERRORS as error:  # bolt read a missing field while it handled an error (refusals.py) itself
            if not raised_by_bolt(error):
                raise
            log.warning("malformed Slack request refused (400): it lacks a field bolt reads (%s: %s)",
                        type(error).__name__, str(error)[:80])
            return web.Response(status=400, text="malformed request")
    return await handler(request)


async def serve_http(adapter: SlackAdapter, *, port: int, host: str = "0.0.0.0") -> tuple[web.AppRunner, int]:
    """Serve bolt's endpoint (events, commands and interactivity; signatures verified) and /healthz."""
    webapp = adapter.bolt.web_app(path=EVENTS_PATH, port=port)
    webapp.middlewares.append(malformed_refused)

    async def healthz(_: web.Request) -> web.Response:  # as the ops server's: the database and Slack, 200 or 503
        ok, body = await adapter.app.health.report()
        return web.json_response(body, status=200 if ok else 503)

    webapp.router.add_get("/healthz", healthz)
    runner = web.AppRunner(webapp, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host=host, port=port)
    await site.start()
    bound = runner.addresses[0][1]
    log.info("Slack HTTP mode listening on %s:%d%s", host, bound, EVENTS_PATH)
    return runner, bound


async def _finish_in_hand(app: App, adapter: SlackAdapter) -> None:
    """Wait for the listeners under way, within what is left of the stop's grace period. Slack was told they were
    received (acknowledged first) and will not send them again. Socket Mode did not wait: a message still waiting on
    its author's name at SIGTERM was never stored."""
    try:
        await asyncio.wait_for(adapter.idle(), app.seconds_to_stop())
    except TimeoutError:
        log.warning("%d Slack request(s) still being handled at the end of the grace period", adapter.busy)


async def _until_access_ends(serving: Awaitable[None], adapter: SlackAdapter) -> None:
    """Serve until `serving` ends, or Slack ends the bot's access (the app uninstalled, its token revoked): then a
    UserError (exit 2) says what happened and what to do, once the connection is closed and the events in hand are
    done (the runner's finally). Socket Mode reconnected for ever with the app uninstalled, and every event, job and
    retry after failed with a traceback of its own (invalid_auth)."""
    served = asyncio.ensure_future(serving)
    ended = asyncio.ensure_future(adapter.access.ended())
    try:
        await asyncio.wait({served, ended}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (served, ended):
            task.cancel()
        await asyncio.gather(served, ended, return_exceptions=True)
    if adapter.access.reason is not None:
        raise UserError(adapter.access.reason)
    served.result()  # (it never returns: its error, if any)


async def run(app: App) -> None:
    settings = app.settings
    if settings.slack_bot_token is None:
        raise UserError("set SLACK_BOT_TOKEN (xoxb-…) to run on Slack")
    app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else None
    signing_secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    if not app_token and not signing_secret:
        raise UserError("set SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode)")
    client = web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    adapter = await _checked(SlackAdapter.connect(app, client, signing_secret=None if app_token else signing_secret),
                             "SLACK_BOT_TOKEN", "bot token", "auth.test")
    if app_token:
        # Socket Mode retries a refused app token for ever, logging a traceback each time, while the bot looks up.
        await _checked(client.apps_connections_open(app_token=app_token), "SLACK_APP_TOKEN", "app-level token",
                       "apps.connections.open")
    client.access = adapter.access  # from now on a token refused means the access ended while running

    async def check_access() -> None:  # a refusal ends the run (access.py); anything else: the next check
        with contextlib.suppress(SlackApiError, OSError, TimeoutError):
            await client.auth_test()

    app.scheduler.every("slack-access", ACCESS_CHECK_SECONDS, check_access)
    app.core.senders["slack"] = adapter.sender
    app.scheduler.start()
    try:
        if app_token:
            app.health.connected("slack")  # auth.test and apps.connections.open answered; follow_socket follows it
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            handler = AsyncSocketModeHandler(adapter.bolt, app_token)  # reconnects on its own

            async def follow_socket() -> None:  # /healthz says when the connection is down (and reconnecting)
                app.health.connected("slack", await handler.client.is_connected())

            async def on_hello(_client: object, message: dict, _raw: str) -> None:
                if message.get("type") == "hello":  # connected (again): what was said while no socket was
                    adapter.connected(handler.client.current_session)

            async def beat() -> None:  # the same session, up since its hello: what was said meanwhile came to it
                session, now = handler.client.current_session, datetime.now(UTC)
                if await handler.client.is_connected() and handler.client.current_session is session:
                    await adapter.beat(session, now)

            handler.client.message_listeners.append(on_hello)
            app.scheduler.every("slack-socket", SOCKET_CHECK_SECONDS, follow_socket)
            app.scheduler.every("slack-catch-up-mark", catch_up_marks.BEAT.total_seconds(), beat)
            log.info("Slack Socket Mode starting")
            try:
                await _until_access_ends(handler.start_async(), adapter)
            finally:
                adapter.stopping = True  # a catch-up under way stops before its next message
                await handler.close_async()  # no new events; then the ones already acknowledged on the socket finish
                await _finish_in_hand(app, adapter)
                await adapter.catch_ups.stop()
        else:
            runner, _ = await serve_http(adapter, port=settings.http_port)
            app.health.connected("slack")  # ready once /slack/events listens, not from auth.test on
            # What was said while no request came, in the background. Listening proves no delivery (Slack may not
            # reach this port), so HTTP mode says nothing is in hand past its catch-up (no beat).
            adapter.connected(runner)
            try:
                await _until_access_ends(asyncio.Event().wait(), adapter)
            finally:
                adapter.stopping = True
                await runner.cleanup()  # no new requests; then the events already acknowledged finish
                await _finish_in_hand(app, adapter)
                await adapter.catch_ups.stop()
    finally:
        app.health.connected("slack", False)
        app.core.senders.pop("slack", None)
