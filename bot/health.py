"""What /healthz reports: the database answers `SELECT 1` and the platform adapter says it is connected; and what
/livez reports: the process answers and its platform connection has not been down for long. Platform-neutral; the
runners flip `platform_connected`, the ops server (adapters/ops/server.py) asks."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from bot.db.engine import Database

log = logging.getLogger(__name__)


@dataclass
class Health:
    db: Database
    platform: str = ""
    platform_connected: bool = False
    stopping: bool = False  # set on SIGTERM: readiness fails so a load balancer stops sending work
    timeout: float = 3.0
    # /livez fails once the platform has been down this long (or never came up): the clients reconnect on their own,
    # so a connection down for minutes is stuck, and a restart is what mends it. The database never counts: an outage
    # makes replicas unready, and restarting them all would only have them fail at start until it is back.
    stuck_seconds: float = 300.0
    _last_error: str = field(default="", repr=False)
    _down_since: float | None = field(default_factory=time.monotonic, repr=False)
    _db_down_since: float | None = field(default=None, repr=False)

    def connected(self, platform: str, up: bool = True) -> None:
        if up != self.platform_connected:
            log.info("%s %s", platform, "connected" if up else "disconnected")
            self._down_since = None if up else time.monotonic()
        self.platform, self.platform_connected = platform, up

    def alive(self) -> tuple[bool, dict[str, Any]]:
        down_for = 0.0 if self._down_since is None else time.monotonic() - self._down_since
        ok = self.stopping or down_for < self.stuck_seconds
        return ok, {"status": "alive" if ok else "platform connection stuck", "platform": self.platform or None,
                    "platform_down_seconds": round(down_for), "stopping": self.stopping}

    async def database_ok(self) -> bool:
        try:
            async with asyncio.timeout(self.timeout):
                async with self.db.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001  (any failure is "not healthy", with its kind in the log)
            error = type(exc).__name__
            if error != self._last_error:
                log.warning("health: database unreachable (%s)", error)
            self._last_error = error
            if self._db_down_since is None:
                self._db_down_since = time.monotonic()
            return False
        if self._db_down_since is not None:  # the warning above said when it went; this says it is over
            log.info("health: database answers again (unreachable for %d s)", time.monotonic() - self._db_down_since)
        self._last_error, self._db_down_since = "", None
        return True

    async def report(self) -> tuple[bool, dict[str, Any]]:
        database = await self.database_ok()
        ok = database and self.platform_connected and not self.stopping
        return ok, {"status": "ok" if ok else "unavailable", "database": database,
                    "platform": self.platform or None, "platform_connected": self.platform_connected,
                    "stopping": self.stopping}
