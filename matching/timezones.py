"""Time zones for mentoring: validating names and the overlap of two people's working hours."""

from __future__ import annotations

import difflib
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import numpy as np

WORKING_HOURS = (9, 18)  # local time, start and end hour


class UnknownTimezone(ValueError):
    def __init__(self, name: str) -> None:
        self.name = name
        self.suggestion = suggest_timezone(name)
        hint = f" (did you mean {self.suggestion}?)" if self.suggestion else ""
        super().__init__(
            f"unknown time zone {name!r}{hint}: use an IANA name like Europe/Berlin or America/New_York"
        )


@cache
def _zone_names() -> dict[str, str]:
    return {n.lower(): n for n in available_timezones()}


def suggest_timezone(name: str) -> str | None:
    names = _zone_names()
    wanted = name.strip().lower().replace(" ", "_")
    if wanted in names:
        return names[wanted]
    close = difflib.get_close_matches(wanted, list(names), n=1, cutoff=0.75)
    if not close:  # "berlin" -> Europe/Berlin
        close = [n for n in names if n.rsplit("/", 1)[-1] == wanted][:1]
    return names[close[0]] if close else None


def resolve_timezone(name: str) -> str:
    """The canonical IANA name for `name` (case-insensitive), or UnknownTimezone."""
    cleaned = (name or "").strip()
    canonical = _zone_names().get(cleaned.lower().replace(" ", "_"))
    if canonical is None:
        raise UnknownTimezone(cleaned)
    try:
        ZoneInfo(canonical)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownTimezone(cleaned) from None
    return canonical


def is_known_timezone(name: str) -> bool:
    try:
        resolve_timezone(name)
    except UnknownTimezone:
        return False
    return True


def _window(zone: str, day: date, hours: tuple[int, int]) -> tuple[float, float]:
    """Working hours of `day` in `zone`, as hours since `day` 00:00 UTC (DST-correct)."""
    tz = ZoneInfo(zone)
    midnight = datetime.combine(day, time(0), tzinfo=UTC)
    start = datetime.combine(day, time(hours[0]), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day, time(hours[1] % 24), tzinfo=tz).astimezone(UTC)
    if hours[1] >= 24 or end <= start:
        end += timedelta(days=1)
    return (start - midnight).total_seconds() / 3600, (end - midnight).total_seconds() / 3600


def overlap_hours(zone_a: str, zone_b: str, day: date, hours: tuple[int, int] = WORKING_HOURS) -> float:
    """Hours in which both are within working hours on `day` (b's neighbouring days count too:
    Tokyo's Tuesday morning is Los Angeles' Monday afternoon)."""
    a0, a1 = _window(zone_a, day, hours)
    total = 0.0
    for shift in (-1, 0, 1):
        b0, b1 = _window(zone_b, day + timedelta(days=shift), hours)
        b0, b1 = b0 + 24 * shift, b1 + 24 * shift
        total += max(0.0, min(a1, b1) - max(a0, b0))
    return total


def overlap_matrix(zones: list[str], day: date, hours: tuple[int, int] = WORKING_HOURS) -> np.ndarray:
    """Pairwise working-hours overlap (hours) of distinct zone names."""
    n = len(zones)
    out = np.zeros((n, n), dtype=np.float32)
    for i in range(n):
        for j in range(i, n):
            out[i, j] = out[j, i] = overlap_hours(zones[i], zones[j], day, hours)
    return out
