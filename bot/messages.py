"""User-facing text lives in templates/*.md; this module fills them in."""
from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def template(name: str) -> str:
    return resources.files("bot").joinpath("templates", f"{name}.md").read_text(encoding="utf-8").strip()


def render(template_name: str, /, **values: object) -> str:
    return template(template_name).format(**values)
