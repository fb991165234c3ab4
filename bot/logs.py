"""Logging set-up: human lines or JSON; secrets never appear (they are SecretStr everywhere)."""
from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        """ISO 8601 in UTC ("2026-12-07T08:58:00.378+00:00"), which log collectors parse as it is. It was the local
        time without a zone, and a comma before the milliseconds ("2026-12-07 08:58:00,378")."""
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")

    def format(self, record: logging.LogRecord) -> str:
        out = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name,
               "message": record.getMessage()}
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out)


def setup_logging(level: str = "INFO", *, json_lines: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # apscheduler: two lines a run of every job ("Running job …", "… executed successfully"), every 30 s for the Slack
    # Socket Mode check, none naming the job; a job's failure is logged by bot.scheduler, a missed run is a WARNING.
    for noisy in ("sentence_transformers", "transformers", "httpx", "urllib3", "alembic", "aiosqlite",
                  "asyncio", "filelock", "huggingface_hub", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # The platform clients write whole payloads at DEBUG: members' messages, the answers quoting them, names, a slash
    # command's response_url (a credential for 30 minutes). They speak at INFO and above whatever the level, so that
    # `--log-level DEBUG` (ours) still logs no message text.
    for chatty in PAYLOAD_LOGGERS:
        logging.getLogger(chatty).setLevel(max(logging.INFO, root.level))


PAYLOAD_LOGGERS = ("slack_sdk", "slack_bolt", "discord")
