"""Digests already posted, without a member forgotten or opted out since.

A posted digest quotes members ("questions still waiting": the question and its asker's name) and names them (a
resource "shared by" them, the note they wrote when they saved it). /forget-me promises their messages go; the bot's
own posts went on quoting them. Each post is kept with its period as it went out (DigestRun.posted), with whom each of
its entries names; when one of them is forgotten or opts out, the digests posted in the last EDIT_WITHIN are edited on
the platform without those entries (EditPost), and what is kept is the edited post. Older digests stay as they are
(a channel's history of months back is rarely read, and each edit is a search of the channel's history), and what
was kept of them is dropped then."""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.actions import Document, EditPost, Section
from bot.db.models import Community, OutboxAction
from bot.db.resources import Digest, DigestRun
from bot.messages import render
from bot.outbox import build, plain
from bot.services.digest_compose import DigestContent
from bot.services.digest_runs import FIND_MARGIN, MAX_WINDOW

log = logging.getLogger(__name__)

EDIT_WITHIN = timedelta(days=90)  # digests whose period ended this long ago or less are edited
ALSO, ALONE = "Also worth a look", "Worth a look"  # the heading of links in no topic, beside topics and alone


def record(content: DigestContent, doc: Document) -> dict[str, Any]:
    """What is kept of a digest about to be posted: its document, and whom each entry of each section names (the
    sections of to_document: one per topic, then the waiting questions)."""
    named = [[list(c.named) for c in items] for _, items in content.groups]
    if content.questions:
        named.append([[q.asker_id] if q.asker_id else [] for q in content.questions])
    return {"period": content.period, "doc": plain(doc), "named": named}


def without(kept: dict[str, Any], member: str) -> dict[str, Any] | None:
    """The kept digest without the entries naming `member`; None when none does."""
    named: list[list[list[str]]] = kept["named"]
    if not any(member in who for section in named for who in section):
        return None
    return _without(kept, lambda who, entry: member in who)


def without_messages(kept: dict[str, Any], permalinks: set[str] | frozenset[str]) -> dict[str, Any] | None:
    """The kept digest without the entries that quote or link the messages at `permalinks` (a waiting question, the
    message a link was shared in); None when none does."""
    doc: Document = build(Document, kept["doc"])
    if not any(entry.permalink in permalinks for section in doc.sections
               for entry in (*section.resources, *section.quotes)):
        return None
    return _without(kept, lambda who, entry: entry.permalink in permalinks)


def _without(kept: dict[str, Any], drops: Callable[[list[str], Any], bool]) -> dict[str, Any]:
    """The kept digest without the entries `drops` (whom the entry names, the entry) says go."""
    doc: Document = build(Document, kept["doc"])
    named: list[list[list[str]]] = kept["named"]
    sections: list[Section] = []
    left: list[list[list[str]]] = []
    for section, who in zip(doc.sections, named, strict=True):
        entries = section.resources or section.quotes
        keep = [i for i in range(len(entries)) if not drops(who[i], entries[i])]
        if not keep:
            continue
        field = "resources" if section.resources else "quotes"
        sections.append(replace(section, **{field: tuple(entries[i] for i in keep)}))
        left.append([who[i] for i in keep])
    links = [s for s in sections if s.resources]
    if len(links) == 1 and links[0].heading == ALSO:  # the topics beside it went
        sections[sections.index(links[0])] = replace(links[0], heading=ALONE)
    questions = any(s.quotes for s in sections)
    header = ("digest_header" if links and questions else "digest_header_links" if links
              else "digest_header_questions_only" if questions else "digest_emptied")
    edited = Document(text=render(header, period=kept["period"]), sections=tuple(sections))
    return {"period": kept["period"], "doc": plain(edited), "named": left}


async def unquote(session: AsyncSession, community_id: int, member: str, now: datetime) -> list[EditPost]:
    """The digests of the community posted within EDIT_WITHIN that name `member` (a platform id), kept without their
    entries, and the edits that make the posts on the platform match. In the caller's transaction (the forgetting's).
    A period whose post may have gone out unrecorded (left posting by a process killed, failed after the post left)
    is edited too: where the post is not there, the edit finds nothing and is dropped with a log line."""
    return await _edits(session, community_id, now, lambda kept: without(kept, member))


async def unquote_messages(session: AsyncSession, community_id: int, permalinks: set[str],
                           now: datetime) -> list[EditPost]:
    """As `unquote`, for messages deleted on the platform (by their author, or with their channel or thread): the
    digests posted within EDIT_WITHIN that quote them (a question) or link them (where a link was shared), each post
    edited once without those entries."""
    if not permalinks:
        return []
    return await _edits(session, community_id, now, lambda kept: without_messages(kept, permalinks))


async def _edits(session: AsyncSession, community_id: int, now: datetime,
                 change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> list[EditPost]:
    community = await session.scalar(select(Community.external_id).where(Community.id == community_id))
    # Older posts are not edited: what was kept of them (members' words and names) is not kept for it any longer.
    await session.execute(update(DigestRun).where(
        DigestRun.community_id == community_id, DigestRun.posted.is_not(None),
        DigestRun.window_end < now - EDIT_WITHIN).values(posted=None).execution_options(synchronize_session=False))
    rows = (await session.execute(
        select(DigestRun, Digest.channel_external_id).join(Digest, Digest.id == DigestRun.digest_id).where(
            DigestRun.community_id == community_id, DigestRun.posted.is_not(None),
            DigestRun.window_end >= now - EDIT_WITHIN).order_by(DigestRun.window_end)
        .with_for_update(of=DigestRun))).all()
    edits: list[EditPost] = []
    for run, channel in rows:
        try:
            edited = change(run.posted)
        except (LookupError, TypeError, ValueError) as exc:  # not as this release keeps it: the forgetting goes on
            log.warning("digest %d period %s: what was kept of its post is unreadable (%s); dropped, the post is not "
                        "edited", run.digest_id, run.period_key, type(exc).__name__)
            run.posted = None
            continue
        if edited is None:
            continue
        run.posted = edited
        key = f"digest:{run.digest_id}:{run.period_key}"
        # An edit of the same post kept for the running bot (an earlier `connective forget` without the token) would,
        # sent after this one, show this member again: this one does what it did.
        await session.execute(delete(OutboxAction).where(
            OutboxAction.community_id == community_id, OutboxAction.body.startswith('{"kind": "EditPost"'),
            OutboxAction.body.contains(json.dumps(key), autoescape=True)))
        edits.append(EditPost(community=community, channel=channel, key=key,
                              doc=build(Document, edited["doc"]), since=run.window_end - FIND_MARGIN,
                              until=run.window_end + MAX_WINDOW))
    return edits


async def superseded(session: AsyncSession, community_id: int, edit: EditPost) -> bool:
    """Whether the post `edit` is to change has been edited on since it was made (another member forgotten a moment
    later, their edit sent first): what is kept of the post is no longer `edit`'s document, and `edit`, sent after,
    would show that member again."""
    kind, _, rest = edit.key.partition(":")
    digest_id, _, period = rest.partition(":")
    if kind != "digest" or not digest_id.isdigit():
        return False
    posted = await session.scalar(select(DigestRun.posted).where(
        DigestRun.community_id == community_id, DigestRun.digest_id == int(digest_id), DigestRun.period_key == period))
    # Nothing kept (dropped: older than EDIT_WITHIN, unreadable): the edit still takes the member out.
    return isinstance(posted, dict) and posted.get("doc") != plain(edit.doc)
