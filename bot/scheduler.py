"""Scheduled jobs (APScheduler 3.x). Exactly-once is never the scheduler's promise: each job claims
its period in the database (a unique row) before doing anything visible."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.db.engine import unreachable
from bot.errors import AccessEnded

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]

_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _cron_day(word: str) -> int:
    if word.isdigit() and int(word) <= 7:
        return int(word)
    if word in _CRON_DAYS:
        return _CRON_DAYS.index(word)
    raise ValueError(f"weekday {word!r} is not 0-7 (0 or 7 is Sunday) or sun-sat")


def cron_weekdays(field: str) -> str:
    """A crontab's weekday field (0 or 7 Sunday, 1 Monday, or names; lists, ranges, steps) by day names.

    APScheduler 3 reads weekday numbers from Monday (0 = Monday), so "0 9 * * 1" would post on Tuesdays; its maintainer
    keeps that for compatibility and advises names (agronholm/apscheduler#286, fixed only in 4.x)."""
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.lower().split(","):
        base, slash, step_text = part.partition("/")
        if slash and not (step_text.isdigit() and int(step_text) > 0):
            raise ValueError(f"{part!r}: a step is a number above 0")
        step = int(step_text) if slash else 1
        if base == "*":
            first, last = 0, 6
        else:
            low, dash, high = base.partition("-")
            first = _cron_day(low)
            last = _cron_day(high) if dash else (7 if slash else first)
        if last < first:
            raise ValueError(f"{part!r}: the range runs backwards")
        days.update(day % 7 for day in range(first, last + 1, step))
    return ",".join(_CRON_DAYS[day] for day in sorted(days))


def crontab_trigger(expression: str, timezone: object) -> CronTrigger:
    """A CronTrigger for a standard crontab line (minute hour day month weekday), weekdays numbered as cron does."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"wrong number of fields; got {len(fields)}, expected 5")
    minute, hour, day, month, weekday = fields
    return CronTrigger(minute=minute, hour=hour, day="*" if day == "?" else day, month=month,
                       day_of_week=cron_weekdays(weekday),
                       timezone=timezone)


class Scheduler:
    def __init__(self, *, timezone: str = "UTC") -> None:
        self._scheduler = AsyncIOScheduler(timezone=timezone)
        # Jobs are handed to APScheduler when it starts: one-shot commands never start it, and adding
        # jobs to a stopped scheduler logs "Adding job tentatively" on every CLI call.
        self._pending: dict[str, Callable[[], object]] = {}
        self._running: set[asyncio.Task] = set()  # jobs under way, which a graceful stop lets finish
        self._at_start: set[str] = set()  # jobs that run as soon as the scheduler starts (start_now)

    def every(self, name: str, seconds: float, job: Job, *, start_now: bool = False) -> None:
        """Run `job` every `seconds`; with start_now, also as soon as the scheduler starts."""

        if start_now:
            self._at_start.add(name)

        def add() -> None:
            first = {"next_run_time": datetime.now(UTC)} if start_now else {}
            self._scheduler.add_job(self._guard(name, job), IntervalTrigger(seconds=seconds), id=name,
                                    replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=None,
                                    **first)

        self._add(name, add)

    def cron(self, name: str, expression: str, job: Job, *, timezone: str = "UTC") -> None:
        self._add(name, lambda: self._scheduler.add_job(
            self._guard(name, job), crontab_trigger(expression, timezone), id=name,
            replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=None))

    def again_now(self) -> None:
        """Run the jobs that run at start once more, now: the communities this process serves became known after
        they ran (bot.serving: Discord's servers arrive with the gateway's READY, after the scheduler started), and a
        missed digest or a kept action of theirs waited for the next tick (up to 10 minutes)."""
        if not self._scheduler.running:
            return
        for name in self._at_start:
            if self._scheduler.get_job(name) is not None:
                self._scheduler.modify_job(name, next_run_time=datetime.now(UTC))

    def remove(self, name: str) -> None:
        self._at_start.discard(name)
        self._pending.pop(name, None)
        if self._scheduler.get_job(name) is not None:
            self._scheduler.remove_job(name)

    def has(self, name: str) -> bool:
        """Whether a job of this name is scheduled (or waiting for the scheduler to start)."""
        return name in self._pending or self._scheduler.get_job(name) is not None

    def _add(self, name: str, add: Callable[[], object]) -> None:
        if self._scheduler.running:
            add()
        else:
            self._pending[name] = add

    def start(self) -> None:
        self._scheduler.start()
        for add in self._pending.values():
            add()
        self._pending.clear()

    async def finish(self, timeout: float) -> bool:
        """Start no more jobs, and wait for the ones under way (at most `timeout` seconds); False if some were left.
        A stop that did not wait cut them off where they were: a digest posted but not yet recorded as posted was
        posted again by the next replica once its claim timed out, a mentoring round's pairs were stored but never
        introduced."""
        if self._scheduler.running:
            self._scheduler.pause()
        running = [task for task in self._running if not task.done()]
        if not running:
            return True
        _, pending = await asyncio.wait(running, timeout=timeout)
        if pending:
            log.warning("%d scheduled job(s) still running after %.0f s", len(pending), timeout)
        return not pending

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def _guard(self, name: str, job: Job) -> Job:
        async def run() -> None:
            task = asyncio.current_task()
            if task is not None:
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            try:
                await job()
            except asyncio.CancelledError:
                # Stopped with the bot (a Discord login that failed ended the digest catch-up mid-query, and
                # APScheduler logged the cancellation as a failure with its traceback): one line, not an error.
                log.info("scheduled job %s stopped with the bot", name)
            except AccessEnded:  # the platform's adapter said so, once, and stops; retried after the restart
                log.warning("scheduled job %s stopped: the bot's access to the platform ended", name)
            except Exception as exc:
                if why := unreachable(exc):  # an outage: /healthz and its warning say so; the next tick tries again
                    log.warning("scheduled job %s skipped: the database is unreachable (%s)", name, why)
                else:
                    log.exception("scheduled job %s failed", name)

        return run
