"""Plain-text rendering of the neutral document (console, fallbacks, logs of what was sent)."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.actions import Document


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
            lines.append(f"{i}. {card.name} ({card.user}), score {card.score:.2f}")
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
    return "\n".join(lines).strip()
