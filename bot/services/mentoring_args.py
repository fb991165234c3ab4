"""Parsing `/mentoring join <role> teach: … learn: … tz: … capacity: N` into an enrolment request."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.safety import plain, row_id
from matching.pairing import ROLES
from matching.timezones import UnknownTimezone, resolve_timezone

MAX_TOPICS = 10
MAX_TOPIC_LENGTH = 100
MAX_CAPACITY = 10

_KEYS = {
    "teach": "teach",
    "teaches": "teach",
    "can-teach": "teach",
    "learn": "learn",
    "learns": "learn",
    "wants-to-learn": "learn",
    "tz": "tz",
    "timezone": "tz",
    "time-zone": "tz",
    "capacity": "capacity",
    "cap": "capacity",
}
_FIELD = re.compile(
    r"(?<![\w-])(" + "|".join(sorted(map(re.escape, _KEYS), key=len, reverse=True)) + r")\s*[:=]\s*", re.I
)
USAGE = "`/mentoring join mentor|mentee|both teach: <topics> learn: <topics> tz: <Area/City> capacity: <n>`"


class EnrolmentError(ValueError):
    """A one-line explanation of what is wrong with the command, shown to the member."""


@dataclass(frozen=True)
class JoinRequest:
    role: str | None = None
    can_teach: tuple[str, ...] | None = None
    wants_to_learn: tuple[str, ...] | None = None
    timezone: str | None = None
    capacity: int | None = None


def split_topics(text: str) -> tuple[str, ...]:
    topics = []
    for raw in re.split(r"[,;\n]", text):
        # A pasted topic's control characters, zero-width and bidi controls, escape sequences were stored and reached
        # the pair's introduction, the check-in and `pairs plan`
        topic = plain(raw).strip(" .")
        if topic and topic.lower() not in (t.lower() for t in topics):
            if len(topic) > MAX_TOPIC_LENGTH:
                raise EnrolmentError(
                    f"topics are at most {MAX_TOPIC_LENGTH} characters; “{topic[:30]}…” is longer"
                )
            topics.append(topic)
    if len(topics) > MAX_TOPICS:
        raise EnrolmentError(f"give at most {MAX_TOPICS} topics each for teach and learn")
    return tuple(topics)


def parse_join(args: str) -> JoinRequest:
    """`mentor teach: k8s, helm tz: Europe/Berlin capacity: 2` -> JoinRequest; EnrolmentError if unclear."""
    parts = _FIELD.split(args.strip())
    head, pairs = parts[0].strip(), parts[1:]
    role = None
    if head:
        word, _, rest = head.partition(" ")
        if word.lower() not in ROLES:
            raise EnrolmentError(f"the role is mentor, mentee or both, not “{word[:40]}”. Use {USAGE}")
        role = word.lower()
        if rest.strip():
            raise EnrolmentError(f"I didn't understand “{rest.strip()[:60]}”. Use {USAGE}")
    values: dict[str, str] = {}
    for key, value in zip(pairs[::2], pairs[1::2], strict=True):
        name = _KEYS[key.lower()]
        if name in values:
            raise EnrolmentError(f"`{name}:` is given twice")
        values[name] = value.strip()
    request = JoinRequest(role=role)
    teach = split_topics(values["teach"]) if "teach" in values else None
    learn = split_topics(values["learn"]) if "learn" in values else None
    tz = None
    if "tz" in values:
        try:
            tz = resolve_timezone(values["tz"])
        except UnknownTimezone as exc:
            raise EnrolmentError(str(exc)) from None
    capacity = None
    if "capacity" in values:
        capacity = row_id(values["capacity"])  # "²" is a digit to isdigit(), and no number to int()
        if capacity is None or capacity > MAX_CAPACITY:
            raise EnrolmentError(
                f"capacity is the number of mentees you can take per round, 1 to {MAX_CAPACITY}"
            )
    return JoinRequest(
        role=request.role, can_teach=teach, wants_to_learn=learn, timezone=tz, capacity=capacity
    )


def request_from_record(record: dict) -> JoinRequest:
    """An enrolment from a JSON record {role, can_teach, wants_to_learn, timezone, capacity} (topics as
    a list or a comma-separated string); EnrolmentError when a field is wrong."""

    def topics(value: object) -> tuple[str, ...] | None:
        if value is None:
            return None
        if isinstance(value, str):
            return split_topics(value)
        if isinstance(value, list) and all(isinstance(t, str) for t in value):
            return split_topics(",".join(t.replace(",", " ") for t in value))
        raise EnrolmentError("topics must be a list of strings or a comma-separated string")

    role = str(record.get("role", "")).lower()
    if role not in ROLES:
        raise EnrolmentError(f"the role is mentor, mentee or both, not {record.get('role')!r}")
    try:
        timezone = resolve_timezone(str(record["timezone"])) if record.get("timezone") else None
    except UnknownTimezone as exc:
        raise EnrolmentError(str(exc)) from None
    capacity = record.get("capacity")
    if isinstance(capacity, str):  # a sheet converted from a form or a CSV has "2" where a number was meant
        capacity = (row_id(capacity.strip()) or 0) if capacity.strip() else None  # 0: refused below
    if capacity is not None and (isinstance(capacity, bool) or not isinstance(capacity, int)  # true is no number
                                 or not 1 <= capacity <= MAX_CAPACITY):
        raise EnrolmentError(f"capacity must be a whole number from 1 to {MAX_CAPACITY}")
    return JoinRequest(
        role=role,
        can_teach=topics(record.get("can_teach")),
        wants_to_learn=topics(record.get("wants_to_learn")),
        timezone=timezone,
        capacity=capacity,
    )
