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

from bot.actions import Document, EditPost, ResourceItem, Section
from bot.db.models import Community, OutboxAction
from bot.db.resources import Digest, DigestRun
from bot.messages import render
from bot.outbox import build, plain
from bot.services.digest_compose import Candidate, DigestContent, Share, entry_note
from bot.services.digest_runs import FIND_MARGIN, MAX_WINDOW

log = logging.getLogger(__name__)

EDIT_WITHIN = timedelta(days=90)  # digests whose period ended this long ago or less are edited
ALSO, ALONE = "Also worth a look", "Worth a look"  # the heading of links in no topic, beside topics and alone


KEPT_SHARES = 20  # shares kept of an entry: enough to credit it to another sharer, not a link's whole history
# What of an entry is kept to write its line again, credited to another sharer (Candidate.recredited, entry_note).
_CREDIT = ("sharer", "channel", "permalink", "reactions", "strong", "saves", "thanks", "replies", "sharers",
           "expertise", "note", "note_by")


def record(content: DigestContent, doc: Document) -> dict[str, Any]:
    """What is kept of a digest about to be posted: its document, whom each entry of each section names (the
    sections of to_document: one per topic, then the waiting questions), and of each link what credits it to whom
    shared it (its shares still standing, its signals), so that it can be credited to another sharer."""
    named = [[list(c.named) for c in items] for _, items in content.groups]
    credits: list[list[dict[str, Any] | None]] = [[_credit(c) for c in items] for _, items in content.groups]
    if content.questions:
        named.append([[q.asker_id] if q.asker_id else [] for q in content.questions])
        credits.append([None for _ in content.questions])
    return {"period": content.period, "doc": plain(doc), "named": named, "credits": credits}


def _credit(c: Candidate) -> dict[str, Any]:
    return {**{f: getattr(c, f) for f in _CREDIT}, "shares": [list(s) for s in c.shares[:KEPT_SHARES]]}


def _candidate(credit: dict[str, Any], who: list[str], entry: ResourceItem) -> Candidate:
    fields = {f: credit[f] for f in _CREDIT if f != "sharers"}
    return Candidate(resource_id=0, title=entry.title, link=entry.url, sharers=credit["sharers"], named=tuple(who),
                     shares=tuple((s[0], s[1], s[2], s[3]) for s in credit["shares"]), **fields)


def without(kept: dict[str, Any], member: str) -> dict[str, Any] | None:
    """The kept digest without what `member` shared, noted or asked: a link others shared too stays, credited to
    them; None when nothing changes."""
    return _without(kept, lambda who, entry: member in who, lambda share: False, lambda m: m == member)


def without_messages(kept: dict[str, Any], permalinks: set[str] | frozenset[str]) -> dict[str, Any] | None:
    """The kept digest without the entries that quote or link the messages at `permalinks` (a waiting question, the
    message a link was shared in; a link shared in another message still standing stays, linking that one); None
    when nothing changes."""
    return _without(kept, lambda who, entry: entry.permalink in permalinks,
                    lambda share: share[3] in permalinks, lambda m: False)


def _without(kept: dict[str, Any], drops: Callable[[list[str], Any], bool], share_gone: Callable[[Share], bool],
             member_gone: Callable[[str], bool]) -> dict[str, Any] | None:
    """The kept digest without the entries `drops` (whom the entry names, the entry) says go, or, for a link whose
    shares are kept, without the shares `share_gone` and the members `member_gone` say went; None when nothing
    changes."""
    doc: Document = build(Document, kept["doc"])
    named: list[list[list[str]]] = kept["named"]
    credits: list[list[dict[str, Any] | None]] = kept.get("credits") or [[None] * len(who) for who in named]
    sections: list[Section] = []
    left: list[list[list[str]]] = []
    left_credits: list[list[dict[str, Any] | None]] = []
    changed = False
    for section, who, credit in zip(doc.sections, named, credits, strict=True):
        entries = section.resources or section.quotes
        kept_entries, kept_who, kept_credit = [], [], []
        for entry, names, c in zip(entries, who, credit, strict=True):
            if c is None:  # a question, or a link kept by an earlier release: it goes with whom it names
                if drops(names, entry):
                    changed = True
                    continue
            else:
                before = _candidate(c, names, entry)
                after = before.recredited(share_gone, member_gone)
                if after is None:
                    changed = True
                    continue
                if after is not before:
                    changed = True
                    entry = replace(entry, note=entry_note(after), permalink=after.permalink)
                    names, c = list(after.named), _credit(after)
            kept_entries.append(entry)
            kept_who.append(names)
            kept_credit.append(c)
        if not kept_entries:
            continue
        field = "resources" if section.resources else "quotes"
        sections.append(replace(section, **{field: tuple(kept_entries)}))
        left.append(kept_who)
        left_credits.append(kept_credit)
    if not changed:
        return None
    links = [s for s in sections if s.resources]
    if len(links) == 1 and links[0].heading == ALSO:  # the topics beside it went
        sections[sections.index(links[0])] = replace(links[0], heading=ALONE)
    questions = any(s.quotes for s in sections)
    header = ("digest_header" if links and questions else "digest_header_links" if links
              else "digest_header_questions_only" if questions else "digest_emptied")
    edited = Document(text=render(header, period=kept["period"]), sections=tuple(sections))
    return {"period": kept["period"], "doc": plain(edited), "named": left, "credits": left_credits}


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
        shown = edited["doc"] != run.posted["doc"]
        run.posted = edited
        if not shown:  # a share the post does not show went (not the one it links): kept, nothing to edit
            continue
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
