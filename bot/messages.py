"""User-facing text lives in templates/*.md; this module fills them in."""
from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def template(name: str) -> str:
    return resources.files("bot").joinpath("templates", f"{name}.md").read_text(encoding="utf-8").strip()


def render(template_name: str, /, **values: object) -> str:
    return template(template_name).format(**values)


def ago(seconds: float) -> str:
    """How long ago, in words: "today", "3 days ago", "2 weeks ago", "5 months ago"."""
    days = seconds / 86400
    if days < 1:
        return "today"
    if days < 14:
        return f"{int(days)} day{'s' if int(days) != 1 else ''} ago"
    if days < 60:
        return f"{int(days // 7)} weeks ago"
    return f"{int(days // 30)} months ago"
