"""Time zones for mentoring: validating names and the overlap of two people's working hours."""

from __future__ import annotations

import difflib
import re
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import numpy as np

WORKING_HOURS = (9, 18)  # local time, start and end hour


class UnknownTimezone(ValueError):
    def __init__(self, name: str, problem: str | None = None) -> None:
        self.name = name
        self.suggestion = None if problem else suggest_timezone(name)
        hint = f" (did you mean {self.suggestion}?)" if self.suggestion else ""
        super().__init__(problem or (
            f"unknown time zone {name!r}{hint}: use an IANA name like Europe/Berlin or America/New_York"
        ))


# What people write for a time zone that names none, or one they do not mean: the places they most likely mean.
# EST, MST and HST are zones of the database, but each is a fixed offset all year: "tz: EST" put a New York member
# an hour off half the year (summer time), and Denver's "MST" too. CET, EET, WET and EST5EDT & co. follow summer time
# as their region does, and are taken.
_ABBREVIATIONS = {
    "est": "America/New_York", "edt": "America/New_York", "et": "America/New_York",
    "cst": "America/Chicago or Asia/Shanghai", "cdt": "America/Chicago", "ct": "America/Chicago",
    "mst": "America/Denver (America/Phoenix: no summer time)", "mdt": "America/Denver", "mt": "America/Denver",
    "pst": "America/Los_Angeles", "pdt": "America/Los_Angeles", "pt": "America/Los_Angeles",
    "akst": "America/Anchorage", "akdt": "America/Anchorage", "hst": "Pacific/Honolulu",
    "ast": "America/Halifax or Asia/Riyadh", "nst": "America/St_Johns",
    "bst": "Europe/London", "ist": "Asia/Kolkata, Europe/Dublin or Asia/Jerusalem",
    "cest": "Europe/Berlin", "eest": "Europe/Athens", "west": "Europe/Lisbon", "msk": "Europe/Moscow",
    "sast": "Africa/Johannesburg", "wat": "Africa/Lagos", "cat": "Africa/Maputo", "eat": "Africa/Nairobi",
    "pkt": "Asia/Karachi", "npt": "Asia/Kathmandu", "ict": "Asia/Bangkok", "wib": "Asia/Jakarta",
    "sgt": "Asia/Singapore", "hkt": "Asia/Hong_Kong", "pht": "Asia/Manila", "jst": "Asia/Tokyo", "kst": "Asia/Seoul",
    "awst": "Australia/Perth", "acst": "Australia/Adelaide", "aest": "Australia/Sydney", "aedt": "Australia/Sydney",
    "nzst": "Pacific/Auckland", "nzdt": "Pacific/Auckland", "brt": "America/Sao_Paulo",
    "art": "America/Argentina/Buenos_Aires",
}
# "UTC+2", "GMT-5", "+05:30", "utc +1": an offset, which changes with summer time in most places.
_OFFSET = re.compile(r"(?:utc|gmt|z)?\s*([+\-−])\s*(\d{1,2})(?::?(\d{2}))?(?:\s*h(?:ours?)?)?", re.I)


def _mistaken(cleaned: str) -> str | None:
    """The answer to a time zone written as an abbreviation or an offset: which form to give instead."""
    folded = cleaned.lower()
    if folded in _ABBREVIATIONS:
        return (f"{cleaned!r} is an abbreviation, which names no place's summer time: give your time zone as "
                f"Area/City, e.g. {_ABBREVIATIONS[folded]}")
    offset = _OFFSET.fullmatch(cleaned)
    if offset is None:
        return None
    sign, hours, minutes = offset.group(1).replace("−", "-"), int(offset.group(2)), int(offset.group(3) or 0)
    if not hours and not minutes:
        return None  # UTC+0 is UTC, all year
    fixed = (f", or Etc/GMT{'-' if sign == '+' else '+'}{hours} for UTC{sign}{hours} all year (the sign is reversed "
             "there)" if not minutes and hours <= (14 if sign == "+" else 12) else "")
    return (f"{cleaned!r} is an offset, which changes with summer time in most places: give your time zone as "
            f"Area/City, e.g. Europe/Berlin or America/New_York{fixed}")


@cache
def _zone_names() -> dict[str, str]:
    return {n.lower(): n for n in available_timezones()}


def suggest_timezone(name: str) -> str | None:
    names = _zone_names()
    wanted = name.strip().lower().replace(" ", "_")
    if wanted in names:
        return names[wanted]
    # Not for a short word: "CEST" (UTC+2) was "did you mean EST?" (UTC-5), "UTC+2" "did you mean UTC?"
    close = difflib.get_close_matches(wanted, list(names), n=1, cutoff=0.75) if len(wanted) > 5 else []
    if not close:  # "berlin" -> Europe/Berlin
        close = [n for n in names if n.rsplit("/", 1)[-1] == wanted][:1]
    return names[close[0]] if close else None


def _canonical(name: str) -> str | None:
    """The IANA name `name` spells (case aside), if the zone loads."""
    canonical = _zone_names().get((name or "").strip().lower().replace(" ", "_"))
    if canonical is None:
        return None
    try:
        ZoneInfo(canonical)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return canonical


def resolve_timezone(name: str) -> str:
    """The canonical IANA name for `name` as a member or an admin gives it (case-insensitive), or UnknownTimezone
    saying what to give instead: for an abbreviation (EST, PST, CEST) or an offset (UTC+2), which names no place's
    summer time, the place's form."""
    cleaned = (name or "").strip()
    if problem := _mistaken(cleaned):
        raise UnknownTimezone(cleaned, problem)
    canonical = _canonical(cleaned) or ("UTC" if _OFFSET.fullmatch(cleaned) else None)  # "UTC+0", "+00:00"
    if canonical is None:
        raise UnknownTimezone(cleaned)
    return canonical


def stored_timezone(name: str) -> str:
    """The canonical IANA name of a time zone stored before (any zone of the database, as it was taken before EST was
    refused), or UnknownTimezone: a schedule stored with EST keeps its rounds."""
    canonical = _canonical(name)
    if canonical is None:
        raise UnknownTimezone((name or "").strip())
    return canonical


def is_known_timezone(name: str) -> bool:
    """Whether a stored time zone can be used (stored_timezone)."""
    return _canonical(name) is not None


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
