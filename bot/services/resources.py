"""Resources: links found in stored messages (live and imported) and explicit `/save`s."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import Database
from bot.db.models import Channel, Member, Message
from bot.db.resources import (
    TITLE_FROM_LABEL,
    TITLE_FROM_TEXT,
    TITLE_FROM_UNFURL,
    TITLE_FROM_URL,
    Resource,
    ResourceSave,
    ResourceShare,
)
from bot.repo import consenting, insert_ignore
from bot.services.ingest import IncomingMessage, StoreResult
from bot.urls import (
    FoundLink,
    clean_url,
    find_links,
    is_platform_link,
    normalise_url,
    readable_url,
    shared_links,
    trim_link,
)
from matching.text import clean, shown

log = logging.getLogger(__name__)


class OptedOut(Exception):
    """The member opted out of profiling: nothing new is stored about them."""

MAX_TITLE = 300
ANY_LINK = re.compile(r"<https?://[^>]*>|\[[^\]\n]*\]\(<?https?://[^)\s>]+>?\)|https?://\S+", re.I)
_EDGE_PUNCTUATION = " \t:;,-–—>|•*_~&"
_EMPTY_BRACKETS = re.compile(r"\(\s*\)|\[\s*\]|<\s*>")
_INSIDE_BRACKETS = re.compile(r"([(\[])\s+|\s+([)\]?!.,])")  # "( frog.org )" -> "(frog.org)", "review ?" -> "review?"
_EMOJI_CODE = re.compile(r":[a-z0-9_+-]+:", re.I)
_CODE_BLOCK = re.compile(r"```.*?(?:```|$)", re.S)


@dataclass(frozen=True)
class Share:
    url: str  # normalised identity
    link: str  # cleaned link to show
    title: str
    title_source: int
    member_id: int
    shared_at: datetime
    message_id: int | None = None


def title_for(link: FoundLink, text: str, unfurls: dict[str, str]) -> tuple[str, int]:
    """The best title without fetching the web: the platform's unfurl, the link's label, the words
    around the link, or a readable form of the URL."""
    key = normalise_url(link.url)
    if key in unfurls:
        return unfurls[key][:MAX_TITLE], TITLE_FROM_UNFURL
    if link.label:
        return clean(link.label)[:MAX_TITLE], TITLE_FROM_LABEL
    # Links to other resources (a chat message's link is none) and the same link written twice count once.
    written = {normalise_url(f.url) for f in shared_links(text) if not is_platform_link(clean_url(f.url) or f.url)}
    readable = readable_url(clean_url(link.url) or link.url)
    if len(written) > 1:
        # The words around several links title none of them: each got the same title, the links cut out of it ("the
        # link takes me to rather than . My…", user walk-through).
        return readable, TITLE_FROM_URL

    def gap(m: re.Match) -> str:
        """The link leaves a gap at either end of the message ("Great post on macros: <link>", an emoji code after it
        or not); inside a sentence ("I think that <link> is what you want") it is read as its short form, or the
        sentence breaks. What a bare link took that is the sentence's (a closing bracket, a full stop) stays."""
        written = m.group(0)
        kept = trim_link(written) if written.startswith(("http://", "https://")) else written
        tail = written[len(kept):]
        found = find_links(kept)
        if found and found[0].typed and normalise_url(found[0].url) != normalise_url(link.url):
            return f" {found[0].label}{tail} "  # a site named in passing is the member's word, wherever it stands
        before, after = text[: m.start()], tail + text[m.end() :]
        at_edge = not _EMOJI_CODE.sub("", before).strip(_EDGE_PUNCTUATION + "([") or not _EMOJI_CODE.sub(
            "", after).strip(_EDGE_PUNCTUATION + ")].!?")
        short = readable_url(clean_url(found[0].url) or found[0].url) if found else readable
        return f" {tail}" if at_edge else f" {short}{tail} "

    # A code block is no words of a title: "Is it possible to read session value with github.com/.../peridot? I am
    # doing this now in that way: ``` (->> (get-in mock [:cookie-jar…" (real week, clojurians Jan 14-20 2019).
    text = _CODE_BLOCK.sub(" ", text)
    # Shown as people read it: a member mentioned as @name, a channel as #name, and no "( )" where the link was
    # (the digest's titles read "& , I think that…" and "about Frog ( ) is it possible", audit 10).
    words = _EMPTY_BRACKETS.sub(" ", shown(_EMOJI_CODE.sub(" ", ANY_LINK.sub(gap, text)))).strip(_EDGE_PUNCTUATION)
    words = _INSIDE_BRACKETS.sub(r"\1\2", " ".join(words.split()))
    if len(words.split()) >= 3:
        if len(words) > 140:
            words = words[:139].rsplit(" ", 1)[0] + "…"
        return words, TITLE_FROM_TEXT
    return readable_url(clean_url(link.url) or link.url), TITLE_FROM_URL


def shares_in(text: str, *, member_id: int, shared_at: datetime, message_id: int | None,
              unfurls: dict[str, str] | None = None, private: bool = False) -> list[Share]:
    """Every resource a message shares (platform message links are discussions, not resources). From a private
    channel (`private`), a link is titled by its page (the unfurl) or its readable form, never by the member's
    words: a resource's title is shown in the open (a digest, a `/save` confirmation)."""
    by_key = {k: t for u, t in (unfurls or {}).items() if t and (k := normalise_url(u))}
    out: dict[str, Share] = {}
    for found in shared_links(text):
        link, key = clean_url(found.url), normalise_url(found.url)
        if link is None or key is None or is_platform_link(link) or key in out:
            continue
        title, source = title_for(found, text, by_key)
        if private and source in (TITLE_FROM_TEXT, TITLE_FROM_LABEL):
            title, source = readable_url(link), TITLE_FROM_URL
        out[key] = Share(key, link, title, source, member_id, shared_at, message_id)
    return list(out.values())


async def record_shares(session: AsyncSession, community_id: int, shares: list[Share]) -> dict[str, int]:
    """Create resources not seen before, improve titles, keep the earliest sharer; add the shares.
    Returns normalised URL -> resource id."""
    if not shares:
        return {}
    keys = sorted({s.url for s in shares})
    existing: dict[str, Resource] = {}
    for start in range(0, len(keys), 500):
        part = keys[start : start + 500]
        rows = await session.scalars(select(Resource).where(Resource.community_id == community_id,
                                                            Resource.url.in_(part)))
        existing.update({r.url: r for r in rows})
    first: dict[str, Share] = {}
    for s in sorted(shares, key=lambda s: s.shared_at):
        first.setdefault(s.url, s)
    new = [{"community_id": community_id, "url": k, "link": s.link, "title": s.title,
            "title_source": s.title_source, "first_sharer_id": s.member_id, "first_message_id": s.message_id,
            "first_shared_at": s.shared_at} for k, s in first.items() if k not in existing]
    for start in range(0, len(new), 1000):
        await session.execute(insert_ignore(session, Resource), new[start : start + 1000])
    if new:
        created = [row["url"] for row in new]
        for start in range(0, len(created), 500):
            rows = await session.scalars(select(Resource).where(Resource.community_id == community_id,
                                                                Resource.url.in_(created[start : start + 500])))
            existing.update({r.url: r for r in rows})
    for s in shares:
        resource = existing[s.url]
        if s.title_source > resource.title_source or (s.title_source == resource.title_source
                                                       and s.shared_at < resource.first_shared_at):
            resource.title, resource.title_source = s.title, s.title_source
        if s.shared_at < resource.first_shared_at:
            resource.first_shared_at, resource.first_sharer_id = s.shared_at, s.member_id
            resource.first_message_id, resource.link = s.message_id, s.link
    rows = [{"community_id": community_id, "resource_id": existing[s.url].id, "message_id": s.message_id,
             "member_id": s.member_id, "shared_at": s.shared_at} for s in shares if s.message_id is not None]
    for start in range(0, len(rows), 1000):
        await session.execute(insert_ignore(session, ResourceShare), rows[start : start + 1000])
    await session.flush()
    return {k: r.id for k, r in existing.items()}


async def retitle(session: AsyncSession, community_id: int, resource_ids: list[int]) -> None:
    """The titles of these resources made again from the shares left (after a member's messages and saves went): the
    best a remaining message gives (a label, then the words around the link; the earliest of the best), else the
    link's readable form. A page's own title (a platform's unfurl) is nobody's words, and stays."""
    for start in range(0, len(resource_ids), 500):
        part = resource_ids[start : start + 500]
        resources = {r.id: r for r in await session.scalars(select(Resource).where(
            Resource.community_id == community_id, Resource.id.in_(part),
            Resource.title_source.in_((TITLE_FROM_TEXT, TITLE_FROM_LABEL))))}
        if not resources:
            continue
        best: dict[int, tuple[int, datetime, str]] = {}
        for rid, shared_at, text, private in (await session.execute(
                select(ResourceShare.resource_id, ResourceShare.shared_at, Message.text, Channel.is_private)
                .join(Message, Message.id == ResourceShare.message_id)
                .join(Channel, Channel.id == Message.channel_id)
                .where(ResourceShare.resource_id.in_(list(resources))))).all():
            for share in shares_in(text, member_id=0, shared_at=shared_at, message_id=None, private=private):
                if share.url == resources[rid].url:
                    was = best.get(rid)
                    if was is None or (share.title_source, -shared_at.timestamp()) > (was[0], -was[1].timestamp()):
                        best[rid] = (share.title_source, shared_at, share.title)
        for rid, resource in resources.items():
            source, _, title = best.get(rid, (TITLE_FROM_URL, None, readable_url(resource.link)))
            resource.title, resource.title_source = title, source
    await session.flush()


async def shares_removed(session: AsyncSession, community_id: int, resource_ids: list[int]) -> None:
    """After shares (or saves) of these resources went: each title is made again from the shares left (retitle),
    and a resource nobody shares or saves any more goes."""
    resource_ids = sorted(set(resource_ids))
    await retitle(session, community_id, resource_ids)
    for start in range(0, len(resource_ids), 500):
        await session.execute(delete(Resource).where(
            Resource.id.in_(resource_ids[start : start + 500]),
            ~select(ResourceShare.id).where(ResourceShare.resource_id == Resource.id).exists(),
            ~select(ResourceSave.id).where(ResourceSave.resource_id == Resource.id).exists()))
    await session.flush()


class ResourceService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def on_stored(self, community_id: int, messages: list[IncomingMessage], result: StoreResult) -> None:
        """After-store listener: the links in newly stored messages become resources and shares. An edited message
        shares what its new text does: the shares of a link taken out of it go (the digest listed the link under
        its member, titled by their words), a link put in is shared."""
        ids = result.message_ids + result.updated_ids
        if not ids:
            return
        unfurls = {(m.channel_id, m.external_id): m.link_titles for m in messages if m.link_titles}
        async with self.db.sessions.begin() as session:
            edited_shares: list[int] = []  # resources an edited message shared: what is left of them is read again
            for start in range(0, len(result.updated_ids), 2000):
                part = result.updated_ids[start : start + 2000]
                edited_shares += await session.scalars(select(ResourceShare.resource_id).where(
                    ResourceShare.community_id == community_id, ResourceShare.message_id.in_(part)))
                await session.execute(delete(ResourceShare).where(ResourceShare.community_id == community_id,
                                                                  ResourceShare.message_id.in_(part)))
            shares: list[Share] = []
            for start in range(0, len(ids), 2000):
                part = ids[start : start + 2000]
                rows = (await session.execute(
                    select(Message.id, Message.channel_id, Message.external_id, Message.author_id, Message.text,
                           Message.created_at, Channel.is_private)
                    .join(Member, Member.id == Message.author_id)
                    .join(Channel, Channel.id == Message.channel_id)
                    .where(Message.community_id == community_id, Message.id.in_(part), Message.text.contains("http"),
                           Member.is_bot.is_(False), Member.profiling_consent.is_(True))
                )).all()
                for mid, channel_id, ext, author, text, created, private in rows:
                    shares += shares_in(text, member_id=author, shared_at=created, message_id=mid,
                                        unfurls=unfurls.get((channel_id, ext)), private=private)
            await record_shares(session, community_id, shares)
            if edited_shares:
                await shares_removed(session, community_id, edited_shares)
        if shares:
            log.debug("community %d: %d link share(s) recorded", community_id, len(shares))

    async def save(self, community_id: int, member_id: int, text: str, *, now: datetime) -> Resource | None:
        """`/save URL [note]`: the member's bookmark (the resource is created if nobody shared it). Raises OptedOut
        for a member who does not allow profiling, as read in the transaction that stores the save."""
        links = find_links(text)
        if not links:
            return None
        found = links[0]
        note = clean(ANY_LINK.sub(" ", text, count=1))[:500]
        key, link = normalise_url(found.url), clean_url(found.url)
        if key is None or link is None:
            return None
        title, source = (clean(found.label)[:MAX_TITLE], TITLE_FROM_LABEL) if found.label else \
            (readable_url(link), TITLE_FROM_URL)
        async with self.db.sessions.begin() as session:
            if not await consenting(session, member_id):
                raise OptedOut
            ids = await record_shares(session, community_id, [Share(key, link, title, source, member_id, now)])
            resource = await session.get(Resource, ids[key])
            saved = await session.scalar(select(ResourceSave).where(ResourceSave.resource_id == resource.id,
                                                                    ResourceSave.member_id == member_id))
            if saved is None:
                await session.execute(insert_ignore(session, ResourceSave).values(
                    community_id=community_id, resource_id=resource.id, member_id=member_id, note=note,
                    saved_at=now))
            elif note:
                saved.note = note
        return resource
