"""Digest periods from a cron schedule in a time zone: the latest tick, the period it closes, its key.

APScheduler's CronTrigger does the calendar arithmetic (daylight saving included); these helpers
only walk its ticks, and guard against its habit of answering the repeated hour of an autumn
daylight-saving change again and again.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from bot.scheduler import crontab_trigger

DEFAULT_CRON = "0 9 * * mon"  # weekly, Monday 09:00
MIN_SPACING = timedelta(hours=1)  # a digest more often than hourly would be noise
_LOOKBACK = (timedelta(hours=2), timedelta(days=2), timedelta(days=8), timedelta(days=32), timedelta(days=367))


class BadSchedule(ValueError):
    pass


def trigger_for(cron: str, timezone: str) -> CronTrigger:
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadSchedule(f"unknown time zone {timezone!r} (use an IANA name such as Europe/Berlin)") from None
    try:
        return crontab_trigger(cron, zone)
    except ValueError as exc:
        raise BadSchedule(f"{cron!r} is not a cron schedule (minute hour day month weekday): {exc}") from None


def check_schedule(cron: str, timezone: str, now: datetime) -> CronTrigger:
    """A trigger for a digest schedule, refusing ones that never fire or fire more than hourly."""
    trigger = trigger_for(cron, timezone)
    fields = cron.split()
    if not fields[2].startswith(("*", "?")) and not fields[4].startswith(("*", "?")):
        # cron posts on either (the day of the month or the weekday) where neither starts with *; APScheduler would
        # wait for both at once
        raise BadSchedule(f"{cron!r} gives both a day of the month and a weekday; give one of them")
    first = next_tick(trigger, now)
    second = next_tick(trigger, first) if first else None
    if first is None or second is None:
        raise BadSchedule(f"{cron!r} never fires")
    if second - first < MIN_SPACING:
        raise BadSchedule(f"{cron!r} fires more than once an hour; a digest needs a calmer schedule")
    return trigger


def next_tick(trigger: CronTrigger, after: datetime) -> datetime | None:
    """The first tick strictly after `after`."""
    probe = after
    for _ in range(50):
        tick = trigger.get_next_fire_time(None, probe)
        if tick is None:
            return None
        if tick > after:
            return tick
        probe = max(probe, tick) + timedelta(minutes=30)  # stuck on a repeated hour: step past it
    return None


def latest_tick(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The last tick at or before `now`."""
    for lookback in _LOOKBACK:
        tick = next_tick(trigger, now - lookback)
        if tick is None or tick > now:
            continue
        while (following := next_tick(trigger, tick)) is not None and following <= now:
            tick = following
        return tick
    return None


def previous_tick(trigger: CronTrigger, tick: datetime) -> datetime | None:
    return latest_tick(trigger, tick - timedelta(seconds=1))


def period_key(tick: datetime, timezone: str) -> str:
    """The tick as wall-clock time where the digest lives: the autumn's repeated 01:30 is one period."""
    return tick.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%dT%H:%M")
