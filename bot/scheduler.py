"""Scheduled jobs (APScheduler 3.x). Exactly-once is never the scheduler's promise: each job claims
its period in the database (a unique row) before doing anything visible."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


class Scheduler:
    def __init__(self, *, timezone: str = "UTC") -> None:
        self._scheduler = AsyncIOScheduler(timezone=timezone)
        # Jobs are handed to APScheduler when it starts: one-shot commands never start it, and adding
        # jobs to a stopped scheduler logs "Adding job tentatively" on every CLI call.
        self._pending: list[Callable[[], object]] = []

    def every(self, name: str, seconds: float, job: Job) -> None:
        self._add(lambda: self._scheduler.add_job(self._guard(name, job), IntervalTrigger(seconds=seconds), id=name,
                                                  replace_existing=True, coalesce=True, max_instances=1))

    def cron(self, name: str, expression: str, job: Job, *, timezone: str = "UTC") -> None:
        self._add(lambda: self._scheduler.add_job(
            self._guard(name, job), CronTrigger.from_crontab(expression, timezone=timezone), id=name,
            replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=None))

    def _add(self, add: Callable[[], object]) -> None:
        if self._scheduler.running:
            add()
        else:
            self._pending.append(add)

    def start(self) -> None:
        for add in self._pending:
            add()
        self._pending.clear()
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    @staticmethod
    def _guard(name: str, job: Job) -> Job:
        async def run() -> None:
            try:
                await job()
            except Exception:
                log.exception("scheduled job %s failed", name)

        return run
