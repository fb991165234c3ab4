"""Plain-text rendering of the neutral document (console, fallbacks, logs of what was sent)."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.actions import Document

# What a terminal obeys rather than shows: C0 controls but newline and tab (ESC starts ANSI sequences that
# recolour, move the cursor or retitle the window; a carriage return writes over the line), DEL, C1 controls
# (0x9b is a one-character CSI) and the bidirectional overrides and isolates, which reorder the words after them.
_OBEYED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """Text safe to print to a terminal: each control character shown as its escape (`\\x1b`, `\\u202e`)."""
    return _OBEYED.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def render_plain(doc: Document) -> str:
    lines = [doc.text]
    for section in doc.sections:
        if section.heading:
            lines.append(f"\n{section.heading}")
        if section.text:
            lines.append(section.text)
        for quote in section.quotes:
            lines.append(f"• {quote.text}" + (f"\n  {quote.permalink}" if quote.permalink else ""))
        for i, card in enumerate(section.experts, 1):
            # No score in a chat card (nor on Slack and Discord): it is the chance of being the first to answer, so
            # any suggestion after a clear first one read "score 0.00", as if it could not help. The order says it.
            lines.append(f"{i}. {card.name} ({card.user})")
            for ev in card.why:
                lines.append(f"   - {ev.text}" + (f"\n     {ev.permalink}" if ev.permalink else ""))
            for b in card.buttons:
                lines.append(f"   [{b.label}: /click {b.action} {b.value}]")
        for item in section.resources:
            lines.append(f"• {item.title} <{item.url}>" + (f" ({item.note})" if item.note else ""))
            if item.permalink:
                lines.append(f"  discussion: {item.permalink}")
        for b in section.buttons:
            lines.append(f"[{b.label}: /click {b.action} {b.value}]")
    return visible("\n".join(lines).strip())
