"""When a community's mentoring rounds happen: every N weeks on a weekday and hour in its time zone.

Stored in community.settings["mentoring"]; periods are numbered from a fixed Monday so that every
replica computes the same period key for the same round.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from matching.timezones import stored_timezone

EPOCH_MONDAY = date(2024, 1, 1)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Period:
    index: int
    key: str  # ISO week of the round, e.g. "2026-W49"
    round_at: datetime  # UTC
    warn_at: datetime  # UTC
    ends_at: datetime  # UTC: the next period's round

    @property
    def catch_up_until(self) -> datetime:
        """A round missed while the bot was down is still warned about (and run a warning period
        later) within the first half of its period; after that the next round is close enough."""
        return self.round_at + (self.ends_at - self.round_at) / 2


@dataclass(frozen=True)
class Cadence:
    enabled: bool = True
    every_weeks: int = 2
    weekday: int = 0  # Monday
    hour: int = 10
    timezone: str = "UTC"
    warn_hours: float = 24.0
    checkin_days: float = 7.0
    no_repeat_rounds: int = 3
    min_overlap_hours: float = 2.0

    def __post_init__(self) -> None:
        if not 1 <= self.every_weeks <= 12:
            raise ValueError("every_weeks must be 1..12")
        if not 0 <= self.weekday <= 6 or not 0 <= self.hour <= 23:
            raise ValueError("weekday must be 0..6 and hour 0..23")
        if not 0 <= self.warn_hours <= 24 * 7 * self.every_weeks:
            raise ValueError(f"the warning must come 0 to {24 * 7 * self.every_weeks} hours before the round (the "
                             f"time between rounds), not {self.warn_hours:g}")
        # As stored (a schedule given EST before keeps running); a new one is read strictly where it is typed
        object.__setattr__(self, "timezone", stored_timezone(self.timezone))

    @classmethod
    def from_settings(cls, settings: dict[str, Any] | None, changes: dict[str, Any] | None = None) -> Cadence:
        """The stored schedule, with `changes` made to it (checked together: a change may mend what was stored)."""
        stored = (settings or {}).get("mentoring")
        raw = {**(stored if isinstance(stored, dict) else {}), **(changes or {})}
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in names})

    @staticmethod
    def stored_enabled(settings: dict[str, Any] | None) -> bool:
        """Whether rounds are on, as stored, even where the rest of the schedule cannot be read: a community that
        switched them off is never paired on the defaults' word."""
        stored = (settings or {}).get("mentoring")
        return bool(stored.get("enabled", True)) if isinstance(stored, dict) else True

    def as_settings(self) -> dict[str, Any]:
        return asdict(self)

    def _round_at(self, index: int) -> datetime:
        start = EPOCH_MONDAY + timedelta(weeks=index * self.every_weeks)
        local = datetime.combine(
            start + timedelta(days=self.weekday), time(self.hour), tzinfo=ZoneInfo(self.timezone)
        )
        return local.astimezone(UTC)

    def period(self, index: int) -> Period:
        round_at = self._round_at(index)
        year, week, _ = round_at.astimezone(ZoneInfo(self.timezone)).isocalendar()
        return Period(
            index=index,
            key=f"{year}-W{week:02d}",
            round_at=round_at,
            warn_at=round_at - timedelta(hours=self.warn_hours),
            ends_at=self._round_at(index + 1),
        )

    def index_at(self, now: datetime) -> int:
        """The period whose round is the latest at or before `now` (or the first one)."""
        local = now.astimezone(ZoneInfo(self.timezone)).date()
        index = (local - EPOCH_MONDAY).days // 7 // self.every_weeks
        while self._round_at(index) > now:
            index -= 1
        return index

    def around(self, now: datetime) -> list[Period]:
        """The current period (its round passed) and the next one (its warning may be due)."""
        index = self.index_at(now)
        return [self.period(index), self.period(index + 1)]

    def next_round(self, now: datetime) -> Period:
        return self.period(self.index_at(now) + 1)

    def describe(self) -> str:
        every = "every week" if self.every_weeks == 1 else f"every {self.every_weeks} weeks"
        return f"{every} on {WEEKDAYS[self.weekday].capitalize()} at {self.hour:02d}:00 {self.timezone}"
