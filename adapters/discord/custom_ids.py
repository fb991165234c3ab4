"""Button custom ids: `action|value`, plus `|guild` on buttons sent outside a guild (DMs carry no guild id,
and the core needs the community). Stateless, so a button works after any restart."""

from __future__ import annotations

import re
from dataclasses import dataclass

CUSTOM_ID = re.compile(
    r"(?P<action>[a-z][a-z0-9_.-]{0,39})\|(?P<value>[^|]{0,60})(?:\|(?P<guild>[0-9]{1,20}))?"
)
MAX_LENGTH = 100  # Discord's limit


@dataclass(frozen=True)
class ParsedCustomId:
    action: str
    value: str
    guild: str | None = None


def make_custom_id(action: str, value: str, *, guild: str | None = None) -> str | None:
    """The custom id of a button, or None when the action or value cannot be carried in one."""
    custom_id = f"{action}|{value}" + (f"|{guild}" if guild else "")
    if len(custom_id) > MAX_LENGTH or not CUSTOM_ID.fullmatch(custom_id):
        return None
    return custom_id


def parse_custom_id(custom_id: str) -> ParsedCustomId | None:
    match = CUSTOM_ID.fullmatch(custom_id or "")
    if match is None:
        return None
    return ParsedCustomId(match["action"], match["value"], match["guild"])
