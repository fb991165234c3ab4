"""What bolt answers a signed request it cannot use, in one log line each.

Bolt answered an event type nothing listens to with 404 (Slack then sends it again, and turns off an app's events
when most of them fail) and a log warning of many lines suggesting code to add; a request missing a field bolt
reads while routing it (`actions` without `action_id`, a `view` without `type`, an `event` that is no object) with
500 and a traceback. Now: an event nothing uses is acknowledged (200), a request of no shape we handle is refused
(400), and an error of our own keeps its traceback (500)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import slack_bolt
from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from adapters.slack.translate import loggable_command
from bot.errors import error_kind
from bot.safety import loggable

log = logging.getLogger(__name__)

# What reading a field that is missing, or of another type, raises.
SHAPE_ERRORS = (KeyError, TypeError, AttributeError, IndexError, ValueError)
_BOLT = str(Path(slack_bolt.__file__).parent)


def described(body: Any) -> str:
    """What a request is, for a log line: its kind, never its content (member's text, response_url, tokens). A field
    holding words where a type belongs is shown by its type only (bot.safety.loggable)."""
    if not isinstance(body, dict):
        return "a request with no fields"
    parts = [f"type {loggable(body.get('type'))}"]
    event = body.get("event")
    if isinstance(event, dict):
        parts.append(f"event {loggable(event.get('type'))}")
    if body.get("command"):
        parts.append(f"command {loggable_command(body['command'])}")
    return ", ".join(parts)


def raised_by_bolt(error: Exception) -> bool:
    """Raised in bolt's own code while it read the request, not in ours."""
    traceback = error.__traceback__
    last = None
    while traceback is not None:
        last, traceback = traceback, traceback.tb_next
    return last is not None and last.tb_frame.f_code.co_filename.startswith(_BOLT)


def _answer(response: BoltResponse | None, status: int, body: str) -> BoltResponse | None:
    # Bolt takes no answer where the request was acknowledged already (and then asserts it gets none).
    return BoltResponse(status=status, body=body) if response is not None else None


async def refused(error: Exception, request: AsyncBoltRequest, response: BoltResponse | None) -> BoltResponse | None:
    """bolt's error handler (AsyncApp.error), for its middleware and listeners."""
    body = request.body
    if isinstance(error, BoltUnhandledRequestError):
        event = body.get("event") if isinstance(body, dict) else None
        if body.get("type") == "event_callback" and isinstance(event, dict) and isinstance(event.get("type"), str):
            log.info("Slack event %s acknowledged and not used (nothing in connective listens to it)",
                     loggable(event["type"]))
            return _answer(response, 200, "")
        log.warning("Slack request refused (400): nothing in connective handles %s", described(body))
        return _answer(response, 400, "unhandled request")
    if isinstance(error, SHAPE_ERRORS) and raised_by_bolt(error):
        # The error's kind, not its text: what bolt could not read may be quoted there (a member's words, a token).
        log.warning("malformed Slack request refused (400): %s lacks a field it must have (%s)",
                    described(body), error_kind(error))
        return _answer(response, 400, "malformed request")
    log.error("handling a Slack request (%s) failed", described(body), exc_info=error)
    return None
