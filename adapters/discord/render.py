"""The neutral Document as a Discord message: the summary as content, sections, expert cards and resource
lists as embeds, buttons as a persistent view. Nothing the bot sends can ping (`AllowedMentions.none()`)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import discord

from adapters.discord.buttons import STYLES, ActionButton
from adapters.discord.custom_ids import make_custom_id
from bot.actions import Button, Document, Evidence, ExpertCard, ResourceItem, Section

log = logging.getLogger(__name__)

NO_PINGS = discord.AllowedMentions.none()
MAX_CONTENT, MAX_TITLE, MAX_DESCRIPTION, MAX_EMBEDS, MAX_EMBED_TOTAL, MAX_BUTTONS = (
    2000,
    256,
    4096,
    10,
    6000,
    25,
)
MAX_CARD, MAX_EVIDENCE = 1000, 300  # ten cards fit one message (6000 characters of embeds)
ACCENT = discord.Colour(0x3B82F6)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Rendered:
    content: str
    embeds: list[discord.Embed] = field(default_factory=list)
    view: discord.ui.View | None = None
    # Embeds past one message's limits (10 embeds, 6000 characters), for the messages that follow it.
    more: list[list[discord.Embed]] = field(default_factory=list)

    def more_kwargs(self) -> list[dict[str, Any]]:
        return [{"embeds": page, "allowed_mentions": NO_PINGS} for page in self.more]

    def send_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "content": self.content or None,
            "embeds": self.embeds,
            "allowed_mentions": NO_PINGS,
        }
        if self.view is not None:
            kwargs["view"] = self.view
        return kwargs

    def edit_kwargs(self) -> dict[str, Any]:
        """Editing replaces everything, buttons included (none left means none shown)."""
        return {
            "content": self.content or None,
            "embeds": self.embeds,
            "view": self.view,
            "allowed_mentions": NO_PINGS,
        }


def _own_words(text: str) -> str:
    """The bot's own words (a document's text, a section's), with the members' names and topics in them: a masked
    link there is a member's (a display name "[Asha](https://evil.example)"), never the bot's, and is broken apart.
    Slack's renderer escapes the same text (adapters.slack.blocks.escape)."""
    return text.replace("](", "]\u200b(")


def _as_text(text: str) -> str:
    """Text shown as typed, markdown inert: a member's `[docs](https://…)` is no link of the bot's, and a quote
    cut after a ``` opens no code block that takes the card's links with it. escape_markdown alone reads
    everything from the first `[` to the last `)` as one link and escapes only that `[`, so a second link,
    and any markdown between the two, would stay live: each `[` is escaped here, the text between in full."""
    return "\\[".join(discord.utils.escape_markdown(part) for part in text.split("["))


def _target(url: str) -> str:
    """A link's address as a Markdown link's target: its brackets percent-encoded (the same address to a browser). A
    ")" ended the target early, and what followed it in a member's link (a fragment "#/)[Login](https://evil.example)")
    was a masked link of the bot's, its label the member's."""
    return url.replace("(", "%28").replace(")", "%29").replace("[", "%5B").replace("]", "%5D")


_QUOTED_LINK = re.compile(r"https?://\S+")


def _cut_quote(text: str, limit: int) -> str:
    """`_cut`, but before a link the cut would fall in: a quote keeps a long link whole (expertise._snippet), and one
    of 500 characters cut at MAX_EVIDENCE was shown as a link to a page that is not there."""
    if len(text) <= limit:
        return text
    cut = limit - 1
    for link in _QUOTED_LINK.finditer(text, 0, limit):
        if link.start() < cut < link.end():
            cut = link.start()
    kept = text[:cut].rstrip()
    return kept if kept.endswith("…") else kept + "…"


def _quote_line(evidence: Evidence) -> str:
    """Each quote cut on its own, so that its link survives."""
    link = f" ([message]({_target(evidence.permalink)}))" if evidence.permalink else ""
    return f"• {_as_text(_cut_quote(evidence.text, MAX_EVIDENCE))}{link}"


def _evidence_lines(card: ExpertCard) -> str:
    lines = [f"<@{card.user}>"] if card.user.isdigit() else []
    return "\n".join(lines + [_quote_line(why) for why in card.why])


def _expert_embed(rank: int, card: ExpertCard) -> discord.Embed:
    # No score, as on Slack: it is the chance of being the first to answer, which read "0.00" under any suggestion
    # after a clear first one. The order and the evidence say why.
    return discord.Embed(
        title=_cut(f"{rank}. {card.name}", MAX_TITLE),
        description=_cut(_evidence_lines(card), MAX_CARD),
        colour=ACCENT,
    )


def _resource_line(item: ResourceItem) -> str:
    """Title and note are the members' words (a link's label, the words around it, a /save note). In the label
    a `]` is escaped too: it would end the label early, and a `(https://…)` after it would be the link."""
    label = _as_text(item.title or item.url).replace("]", "\\]")
    line = f"• [{label}]({_target(item.url)})"
    if item.note:
        line += f" — {_as_text(item.note)}"
    if item.permalink:
        line += f" · [discussion]({_target(item.permalink)})"
    return line


def _section_embeds(section: Section, first_rank: int) -> list[discord.Embed]:
    embeds = []
    if section.heading or section.text or section.quotes:
        lines = ([_own_words(section.text)] if section.text else []) + [_quote_line(q) for q in section.quotes]
        description = "\n".join(lines)
        embeds.append(
            discord.Embed(
                title=_cut(section.heading, MAX_TITLE) or None,
                description=_cut(description, MAX_DESCRIPTION) or None,
            )
        )
    embeds += [_expert_embed(first_rank + i, card) for i, card in enumerate(section.experts)]
    if section.resources:
        chunks = _whole_lines([_resource_line(r) for r in section.resources], MAX_DESCRIPTION)
        # Under its heading's own embed: a digest topic (a heading, no text) was two cards, the heading alone and
        # its links below it.
        if embeds and not section.experts and len(embeds[-1].description or "") + 2 + len(chunks[0]) <= MAX_DESCRIPTION:
            above = embeds[-1].description
            embeds[-1].description = f"{above}\n\n{chunks.pop(0)}" if above else chunks.pop(0)
        embeds += [discord.Embed(description=chunk) for chunk in chunks]
    return embeds


def _whole_lines(lines: list[str], limit: int) -> list[str]:
    """Lines joined into as few texts of at most `limit` characters as they need, each line whole: ten digest links
    in one description cut at 4096 characters lost the last links and left one cut in two."""
    chunks: list[str] = []
    for line in (_cut(line, limit) for line in lines):
        if chunks and len(chunks[-1]) + 1 + len(line) <= limit:
            chunks[-1] += "\n" + line
        else:
            chunks.append(line)
    return chunks


def _buttons(doc: Document) -> list[Button]:
    """A card's buttons name its card: Discord shows them under all the embeds, where five "Request intro" buttons
    in a row did not say which was whose."""
    found: list[Button] = []
    rank = 1
    for section in doc.sections:
        for card in section.experts:
            found += [replace(b, label=f"{b.label}: {rank}. {card.name}") for b in card.buttons]
            rank += 1
        found += section.buttons
    return found


def _view(buttons: list[Button], guild: str | None) -> discord.ui.View | None:
    view = discord.ui.View(timeout=None)
    for button in buttons[:MAX_BUTTONS]:
        custom_id = make_custom_id(button.action, button.value, guild=guild)
        if custom_id is None:
            log.warning("button %r dropped: its action and value do not fit a custom id", button.action)
            continue
        view.add_item(
            ActionButton(
                custom_id, label=button.label, style=STYLES.get(button.style, discord.ButtonStyle.secondary)
            )
        )
    if len(buttons) > MAX_BUTTONS:
        log.warning("%d buttons dropped (Discord shows at most %d)", len(buttons) - MAX_BUTTONS, MAX_BUTTONS)
    return view if view.children else None


def render_document(doc: Document, *, guild: str | None = None, footer: str = "",
                    part_footer: Callable[[int], str] | None = None) -> Rendered:
    """`guild`: the community, for messages sent outside it (DMs), so their buttons can name it. `footer`: the first
    message's last embed's footer (the mark of a keyed post, found by it later); `part_footer`: that of the message a
    post's embeds ran over, by its part's number (2 for the first of them)."""

    def mark(page: int) -> str:
        return footer if page == 1 else part_footer(page) if part_footer else ""

    embeds: list[discord.Embed] = []
    rank = 1
    for section in doc.sections:
        embeds += _section_embeds(section, rank)
        rank += len(section.experts)
    pages: list[list[discord.Embed]] = [[]]
    total = 0
    for embed in embeds:  # a digest's last sections went past Discord's limits and were left out: they follow
        room = MAX_EMBED_TOTAL - len(mark(len(pages)))
        if pages[-1] and (len(pages[-1]) == MAX_EMBEDS or total + len(embed) > room):
            pages.append([])
            total = 0
        pages[-1].append(embed)
        total += len(embed)
    for number, page in enumerate(pages, 1):
        if mark(number):
            if not page:
                page.append(discord.Embed())
            page[-1].set_footer(text=mark(number))
    return Rendered(content=_cut(_own_words(doc.text), MAX_CONTENT), embeds=pages[0], view=_view(_buttons(doc), guild),
                    more=pages[1:])
