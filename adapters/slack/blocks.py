"""The neutral Document as Block Kit: sections, expert cards (evidence with permalinks), resources, buttons."""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from bot.actions import Button, Document, Evidence, ExpertCard, ResourceItem, Section

Block = dict[str, Any]
MAX_BLOCKS = 50  # Slack's limit per message (100 per Home view)
MAX_TEXT = 3000  # per section text
BUTTON_STYLES = {"primary", "danger"}


_CHANNEL_LINK = re.compile(r"&lt;#([A-Z0-9]+)(?:\|[^&<>]*)?&gt;")


def escape(text: str) -> str:
    """Slack mrkdwn control characters; also makes `<!channel>`-style broadcasts inert. Channel links
    (`<#C123>`, which notify nobody) stay links, so "#design" shows as the channel."""
    escaped = (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _CHANNEL_LINK.sub(r"<#\1>", escaped)


# Slack has no escape for its formatting characters: the ones that could format are swapped for lookalikes.
_LOOKALIKES = {"`": "\u02cb", "*": "\u2217", "_": "\u02cd", "~": "\u223c"}  # ˋ ∗ ˍ ∼
_FORMATTING = re.compile(r"`|(?<!\w)[*_~]|[*_~](?!\w)")


def as_text(text: str) -> str:
    """Text shown as typed (quoted members), mrkdwn inert. A backtick matters most: inside code the bot's own
    link after the quote is no link, and an unclosed ``` (a quote is cut at 90 characters) takes the rest of the
    card. A *, _ or ~ between two letters formats nothing, so snake_case and :emoji_names: keep theirs."""
    return _FORMATTING.sub(lambda m: _LOOKALIKES[m.group()], escape(text))


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mrkdwn(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text)}}


def _lines(lines: list[str]) -> list[Block]:
    """Lines (resources, quotes) in as few sections as Slack's 3000 characters a section allow, each line whole: cut
    at the limit, a digest of ten links lost the last ones and showed a link cut in two."""
    blocks: list[Block] = []
    part: list[str] = []
    for line in lines:
        if part and len("\n".join([*part, line])) > MAX_TEXT:
            blocks.append(_mrkdwn("\n".join(part)))
            part = []
        part.append(line)
    if part:
        blocks.append(_mrkdwn("\n".join(part)))
    return blocks


def button(b: Button) -> Block:
    element: Block = {"type": "button", "text": {"type": "plain_text", "text": b.label[:75], "emoji": True},
                      "action_id": b.action, "value": b.value[:2000]}
    if b.style in BUTTON_STYLES:
        element["style"] = b.style
    return element


# An imported Slack export names no workspace host, so its permalinks are https://slack.com/archives/…; the live
# workspace's own (auth.test's url, https://acme.slack.com/) opens them where its members are signed in.
EXPORT_ARCHIVES = "https://slack.com/archives/"


def in_workspace(doc: Document, web_url: str) -> Document:
    """`doc` with the permalinks of imported messages on the workspace's own host."""
    if not web_url:
        return doc
    base = web_url.rstrip("/") + "/archives/"

    def here(link: str | None) -> str | None:
        return base + link.removeprefix(EXPORT_ARCHIVES) if link and link.startswith(EXPORT_ARCHIVES) else link

    def evidence(quotes: tuple[Evidence, ...]) -> tuple[Evidence, ...]:
        return tuple(replace(e, permalink=here(e.permalink)) for e in quotes)

    return replace(doc, sections=tuple(replace(
        section, quotes=evidence(section.quotes),
        experts=tuple(replace(card, why=evidence(card.why)) for card in section.experts),
        resources=tuple(replace(item, permalink=here(item.permalink)) for item in section.resources))
        for section in doc.sections))


def _link(url: str | None, label: str) -> str:
    return f"<{url.replace('>', '%3E').replace('|', '%7C')}|{label}>" if url else label


def quote_line(evidence: Evidence) -> str:
    return f"• {as_text(evidence.text)}" + (f" ({_link(evidence.permalink, 'view')})" if evidence.permalink else "")


def expert_card(card: ExpertCard, rank: int) -> list[Block]:
    lines = [f"*{rank}. <@{card.user}>*"]  # a user mention renders as the member's current name
    lines += [quote_line(evidence) for evidence in card.why]
    section = _mrkdwn("\n".join(lines))
    if len(card.buttons) == 1:
        section["accessory"] = button(card.buttons[0])
        return [section]
    blocks = [section]
    if card.buttons:
        blocks.append({"type": "actions", "elements": [button(b) for b in card.buttons[:25]]})
    return blocks


def resource(item: ResourceItem) -> str:
    """Title and note are the members' words (a link's label, the words around it, a /save note)."""
    line = f"• {_link(item.url, as_text(item.title) or escape(item.url))}"
    if item.note:
        line += f" ({as_text(item.note)})"
    if item.permalink:
        line += f" · {_link(item.permalink, 'discussion')}"
    return line


def section_blocks(section: Section) -> list[Block]:
    blocks: list[Block] = []
    if section.heading:
        blocks.append(_mrkdwn(f"*{escape(section.heading)}*"))
    if section.text:
        blocks.append(_mrkdwn(escape(section.text)))
    if section.quotes:
        blocks.extend(_lines([quote_line(q) for q in section.quotes]))
    for rank, card in enumerate(section.experts, 1):
        blocks.extend(expert_card(card, rank))
    if section.resources:
        blocks.extend(_lines([resource(r) for r in section.resources]))
    if section.buttons:
        blocks.append({"type": "actions", "elements": [button(b) for b in section.buttons[:25]]})
    return blocks


def document_blocks(doc: Document, limit: int = MAX_BLOCKS) -> list[Block]:
    blocks = [_mrkdwn(escape(doc.text))] if doc.text else []
    for section in doc.sections:
        if section.heading and blocks:
            blocks.append({"type": "divider"})
        blocks.extend(section_blocks(section))
    return blocks[:limit]


def fallback_text(doc: Document) -> str:
    """The notification text (screen readers, push notifications)."""
    return _clip(escape(doc.text), 3000)


def message(doc: Document) -> dict[str, Any]:
    return {"text": fallback_text(doc), "blocks": document_blocks(doc)}


def home_view(doc: Document) -> dict[str, Any]:
    return {"type": "home", "blocks": document_blocks(doc, limit=100)}
