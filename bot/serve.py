"""`connective run`'s life cycle around any platform runner: the ops server (/healthz, /metrics), and a
graceful stop on SIGTERM (or SIGINT): stop taking events, finish the ones in hand, stop the scheduler,
dispose the engine, exit 0."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

Runner = Callable[["App"], Awaitable[None]]


async def serve(app: App, run_platform: Runner) -> None:
    """Run `run_platform(app)` until it returns or a stop signal arrives; then stop cleanly."""
    app.expertise.backfill_in_background = True  # events are never held up by it
    ops = None
    if app.settings.metrics_port:
        from adapters.ops.server import start_ops_server

        ops, _ = await start_ops_server(app.health, port=app.settings.metrics_port, host=app.settings.metrics_host)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    watched = (signal.SIGTERM, signal.SIGINT)
    for sig in watched:
        loop.add_signal_handler(sig, stop.set)
    platform = asyncio.create_task(run_platform(app), name="connective-platform")
    stopper = asyncio.create_task(stop.wait(), name="connective-stop-signal")
    try:
        await asyncio.wait({platform, stopper}, return_when=asyncio.FIRST_COMPLETED)
        deadline = loop.time() + app.settings.shutdown_grace_seconds
        if stop.is_set():
            log.info("stop signal: taking no more events, finishing the ones in hand")
            app.health.stopping = True
            app.stop_by = deadline  # the runner's own finish (app.seconds_to_stop) has what is left of it
            # Scheduled jobs under way finish first, while the platform can still take what they send (the events in
            # hand go on meanwhile); the runner and the drain below have what is left of the grace period.
            await app.scheduler.finish(app.settings.shutdown_grace_seconds)
            platform.cancel()  # the runner's own finally closes its connection or HTTP site
        with contextlib.suppress(asyncio.CancelledError):
            await platform  # re-raises a runner's error (bad token...) when it ended on its own
        if not await app.core.drain(max(1.0, deadline - loop.time())):
            log.warning("stopped with events still in hand (Slack's are kept in the inbox, for the next sweep; "
                        "Discord redelivers after a resume)")
    finally:
        stopper.cancel()
        for sig in watched:
            loop.remove_signal_handler(sig)
        app.health.connected(app.health.platform or "platform", False)
        if ops is not None:
            await ops.cleanup()
        await app.close()
    log.info("stopped")
