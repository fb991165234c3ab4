"""The mentoring enrolment form (a Slack modal, a Discord modal): its fields, once, for every adapter, and
their validation field by field, so a platform can show each error next to its input.

Rules are those of `/mentoring join` (bot/services/mentoring_args.py); a submitted form becomes the same
JoinRequest and goes through the same `MentoringService.enrol`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.safety import row_id
from bot.services.mentoring_args import MAX_CAPACITY, EnrolmentError, JoinRequest, split_topics
from matching.pairing import ROLES
from matching.timezones import UnknownTimezone, resolve_timezone

TITLE = "Mentoring enrolment"
FORM_ACTION = "mentoring.form"  # the button (App Home) that opens the form; the modal's own id too
ROLE, TEACH, LEARN, TIMEZONE, CAPACITY = "role", "teach", "learn", "timezone", "capacity"


@dataclass(frozen=True)
class FormField:
    key: str
    label: str
    placeholder: str
    max_length: int
    required: bool = True
    choices: tuple[str, ...] = ()  # a closed list (Slack: a static select)
    multiline: bool = False
    number: bool = False


FIELDS: tuple[FormField, ...] = (
    FormField(ROLE, "Role", "mentor, mentee or both", 6, choices=ROLES),
    FormField(TEACH, "Can teach (comma separated)", "kubernetes, postgres tuning", 1000, required=False,
              multiline=True),
    FormField(LEARN, "Wants to learn (comma separated)", "rust, system design", 1000, required=False,
              multiline=True),
    FormField(TIMEZONE, "Time zone", "Europe/Berlin", 64),
    FormField(CAPACITY, "Capacity (mentees per round, as a mentor)", f"1 to {MAX_CAPACITY}", 2, required=False,
              number=True),
)


class FormErrors(ValueError):
    """One line per field that is wrong, keyed by the field's key."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def parse_form(values: Mapping[str, str | None]) -> JoinRequest:
    """A submitted form as a complete JoinRequest (an empty topic list means none); FormErrors otherwise."""
    errors: dict[str, str] = {}

    def text(key: str) -> str:
        return (values.get(key) or "").strip()

    role = text(ROLE).lower()
    if role not in ROLES:
        errors[ROLE] = "choose mentor, mentee or both"
    topics: dict[str, tuple[str, ...]] = {}
    for key in (TEACH, LEARN):
        try:
            topics[key] = split_topics(text(key))
        except EnrolmentError as exc:
            errors[key] = str(exc)
    if role in ("mentor", "both") and TEACH in topics and not topics[TEACH]:
        errors[TEACH] = "as a mentor, tell me what you can teach"
    if role in ("mentee", "both") and LEARN in topics and not topics[LEARN]:
        errors[LEARN] = "as a mentee, tell me what you want to learn"
    timezone = None
    if not text(TIMEZONE):
        errors[TIMEZONE] = "tell me your time zone, e.g. Europe/Berlin or America/New_York"
    else:
        try:
            timezone = resolve_timezone(text(TIMEZONE))
        except UnknownTimezone as exc:
            errors[TIMEZONE] = str(exc)
    capacity = None
    if text(CAPACITY):
        capacity = row_id(text(CAPACITY))  # "²" is a digit to isdigit(), and no number to int()
        if capacity is None or capacity > MAX_CAPACITY:
            errors[CAPACITY] = f"a whole number from 1 to {MAX_CAPACITY}"
            capacity = None
    if errors:
        raise FormErrors(errors)
    return JoinRequest(role=role, can_teach=topics[TEACH], wants_to_learn=topics[LEARN], timezone=timezone,
                       capacity=capacity)


def field_errors(values: Mapping[str, str | None]) -> dict[str, str]:
    """What is wrong with a submitted form, by field (empty when it can be submitted)."""
    try:
        parse_form(values)
    except FormErrors as exc:
        return exc.errors
    return {}


def opens_form(command: str, args: str) -> bool:
    """`/mentoring join` with nothing after it: where a platform has forms, the form rather than the usage."""
    return command == "mentoring" and args.strip().lower() == "join"
