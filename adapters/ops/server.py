"""The ops endpoint of `connective run`: GET /healthz (ready: 200 or 503, JSON), GET /livez (alive: 200 unless the
platform connection has been down for minutes) and GET /metrics (Prometheus)."""
from __future__ import annotations

import logging

from aiohttp import web

from bot import metrics
from bot.health import Health

log = logging.getLogger(__name__)


def ops_app(health: Health) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        ok, body = await health.report()
        return web.json_response(body, status=200 if ok else 503)

    async def livez(_: web.Request) -> web.Response:
        # For a liveness probe: /healthz fails while the database is down, and restarting every replica for that
        # only put them in CrashLoopBackOff (`run` exits when the database is unreachable at start), where they
        # came back minutes after the database did instead of at once. A platform connection stuck for minutes does
        # fail it (Health.alive).
        ok, body = health.alive()
        return web.json_response(body, status=200 if ok else 503)

    async def prometheus(_: web.Request) -> web.Response:
        return web.Response(body=metrics.exposition(), headers={"Content-Type": metrics.CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/livez", livez)
    app.router.add_get("/metrics", prometheus)
    return app


async def start_ops_server(health: Health, *, port: int, host: str = "0.0.0.0") -> tuple[web.AppRunner, int]:
    """Serve /healthz, /livez and /metrics on `port` (0: any free port); returns the runner and the bound port."""
    runner = web.AppRunner(ops_app(health), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host=host, port=port).start()
    bound = runner.addresses[0][1]
    log.info("health and metrics on %s:%d (/healthz, /livez, /metrics)", host, bound)
    return runner, bound
