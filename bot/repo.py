"""Repositories: queries scoped to one community. They flush; services own the transaction."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, delete, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot import metrics
from bot.db.intros import Intro, IntroState, NotMyArea
from bot.db.mentoring import MentoringEnrolment, MentoringNotice, Pairing, PairingRound
from bot.db.models import (
    Channel,
    Community,
    DeletedMessage,
    Member,
    Message,
    MessageVector,
    OpenerlessThread,
    PendingReaction,
    ProcessedEvent,
    Question,
    Reaction,
    RemovedReaction,
    Skill,
)
from bot.db.resources import Digest, Resource, ResourceSave, ResourceShare
from bot.urls import SLACK_ARCHIVES


def insert_ignore(session: AsyncSession, model: type, index_elements: list[str] | None = None):  # noqa: ANN201
    """INSERT ... ON CONFLICT DO NOTHING for the session's dialect."""
    ins = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    return ins(model).on_conflict_do_nothing(index_elements=index_elements)


def upsert_reactions(session: AsyncSession):  # noqa: ANN201
    """INSERT of Reaction rows; one stored already is kept, known as of the later of the two times (`known_at`): given
    again live, or listed by a later export, it is known from then on. Written only where that moves it (PostgreSQL
    writes a new version of every row an ON CONFLICT DO UPDATE touches: re-importing 200,000 reactions doubled the
    table)."""
    ins = (pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert)(Reaction)
    return ins.on_conflict_do_update(
        index_elements=["message_id", "user_external_id", "name"], set_={"known_at": ins.excluded.known_at},
        where=Reaction.known_at.is_(None) | (Reaction.known_at < ins.excluded.known_at))


def upsert_removed_reaction(session: AsyncSession):  # noqa: ANN201
    """INSERT of a RemovedReaction; taken back again, it is removed as of the later time."""
    ins = (pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert)(RemovedReaction)
    return ins.on_conflict_do_update(index_elements=["channel_id", "message_external_id", "user_external_id", "name"],
                                     set_={"removed_at": ins.excluded.removed_at})


def upsert_pending_reaction(session: AsyncSession):  # noqa: ANN201
    """INSERT of a PendingReaction; given again, it is kept as of the later time."""
    ins = (pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert)(PendingReaction)
    return ins.on_conflict_do_update(index_elements=["channel_id", "message_external_id", "user_external_id", "name"],
                                     set_={"given_at": ins.excluded.given_at})


# How long a reaction to a message not stored yet is kept for it (PendingReaction): a message handled by another
# replica is stored within seconds; one never stored (a bot's post, an opted-out author's, a channel not read) is not
# waited for longer.
PENDING_REACTION_HOURS = 24


async def apply_pending_reactions(session: AsyncSession, community_id: int,
                                  keys: Iterable[tuple[int, str]], now: datetime | None = None) -> list[int]:
    """Give the stored messages among these (channel id, external id) the reactions kept for them (PendingReaction),
    each known as of when it was given, and delete those kept. Claimed by deleting them (DELETE … RETURNING): two
    processes applying at once give each once, and a removal that deleted one first is not undone. One of a member
    who opted out meanwhile, or older than PENDING_REACTION_HOURS, is deleted and not given. Returns the messages
    given reactions (database ids)."""
    keys = list(dict.fromkeys(keys))
    oldest = (now or datetime.now(UTC)) - timedelta(hours=PENDING_REACTION_HOURS)
    given: set[int] = set()
    for start in range(0, len(keys), 2000):
        part = keys[start : start + 2000]
        wanted = set(part)
        message_of = {pid: mid for pid, mid, ch, ext in (await session.execute(
            select(PendingReaction.id, Message.id, Message.channel_id, Message.external_id)
            .join(Message, (Message.channel_id == PendingReaction.channel_id)
                  & (Message.external_id == PendingReaction.message_external_id))
            .where(Message.community_id == community_id, PendingReaction.community_id == community_id,
                   Message.channel_id.in_({ch for ch, _ in part}),
                   Message.external_id.in_({ext for _, ext in part})))).all() if (ch, ext) in wanted}
        if not message_of:
            continue
        claimed = (await session.execute(
            delete(PendingReaction).where(PendingReaction.id.in_(list(message_of)))
            .returning(PendingReaction.id, PendingReaction.user_external_id, PendingReaction.name,
                       PendingReaction.given_at))).all()
        withheld = await withheld_members(session, community_id, {user for _, user, _, _ in claimed}, hold=True)
        rows = [{"community_id": community_id, "message_id": message_of[pid], "user_external_id": user, "name": name,
                 "known_at": given_at}
                for pid, user, name, given_at in claimed if user not in withheld and given_at >= oldest]
        if rows:
            await session.execute(upsert_reactions(session), rows)
        given.update(row["message_id"] for row in rows)
    return sorted(given)


async def prune_pending_reactions(session: AsyncSession, now: datetime | None = None) -> int:
    """Delete the reactions kept for messages not stored within PENDING_REACTION_HOURS; returns how many."""
    before = (now or datetime.now(UTC)) - timedelta(hours=PENDING_REACTION_HOURS)
    result = await session.execute(delete(PendingReaction).where(PendingReaction.given_at < before))
    return int(result.rowcount or 0)


async def get_community(session: AsyncSession, platform: str, external_id: str) -> Community | None:
    return await session.scalar(
        select(Community).where(Community.platform == platform, Community.external_id == external_id)
    )


async def ensure_community(session: AsyncSession, platform: str, external_id: str, name: str = "") -> Community:
    community = await get_community(session, platform, external_id)
    if community is None:
        await session.execute(
            insert_ignore(session, Community).values(platform=platform, external_id=external_id, name=name,
                                                      settings={})
        )
        community = await get_community(session, platform, external_id)
        assert community is not None
    elif name and community.name != name:
        community.name = name
    return community


async def move_export_links(session: AsyncSession, community_id: int, address: str | None = None) -> int:
    """Put the links of a Slack community's imported messages on its workspace's own host: `address` (which is kept
    as the community's `workspace_url`), else the one kept before. An export names no host, so its permalinks are
    https://slack.com/archives/…, which opens nowhere a member is signed in. Returns how many links moved."""
    community = await session.get(Community, community_id)
    if community is None:
        return 0
    if address and (community.settings or {}).get("workspace_url") != address:
        community.settings = {**(community.settings or {}), "workspace_url": address}
    address = (community.settings or {}).get("workspace_url")
    if not address:
        return 0
    result = await session.execute(
        update(Message)
        .where(Message.community_id == community_id, Message.permalink.startswith(SLACK_ARCHIVES, autoescape=True))
        .values(permalink=literal(address + "archives/") + func.substr(Message.permalink, len(SLACK_ARCHIVES) + 1))
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


async def list_communities(session: AsyncSession) -> list[Community]:
    return list(await session.scalars(select(Community).order_by(Community.id)))


async def get_member(session: AsyncSession, community_id: int, external_id: str) -> Member | None:
    return await session.scalar(
        select(Member).where(Member.community_id == community_id, Member.external_id == external_id)
    )


async def ensure_member(
    session: AsyncSession, community_id: int, external_id: str, *, name: str = "", is_bot: bool = False,
    timezone: str | None = None, account_is_bot: bool | None = None, rename: bool = True,
) -> Member:
    """The member, created on first sight (a bot if `is_bot`). Later events refresh the name and time zone only
    while the member consents to profiling: after /optout or /forget-me nothing new about them is stored (as on
    import). `account_is_bot` is what the platform says of the account itself (a user object, an ordinary post):
    it corrects is_bot either way, where `is_bot` alone (a bot's post, which a person can make through an app)
    only sets it on first sight. `rename` False: `name` only names a member seen first (a DM's, which names the
    account, not the member as they go by in the community: a Discord server nickname)."""
    if account_is_bot is not None:
        is_bot = account_is_bot
    member = await get_member(session, community_id, external_id)
    if member is None:
        await session.execute(
            insert_ignore(session, Member).values(community_id=community_id, external_id=external_id,
                                                   name=name or external_id, is_bot=is_bot, timezone=timezone,
                                                   profiling_consent=True, available_for_intros=True)
        )
        member = await get_member(session, community_id, external_id)
        assert member is not None
        return member
    if account_is_bot is not None and member.is_bot != account_is_bot:
        member.is_bot = account_is_bot
    if member.profiling_consent:
        if rename and name and member.name != name:
            member.name = name
        if timezone and member.timezone != timezone:
            member.timezone = timezone
    return member


def name_key(text: str) -> str:
    """A name as it is compared: case aside, and however its letters are encoded ("Tomás" typed on a Mac, or pasted,
    may be "a" and a combining accent, where Slack stored one "á")."""
    return unicodedata.normalize("NFKC", text).casefold()


async def members_named(session: AsyncSession, community_id: int, name: str) -> list[Member]:
    """The members a typed name ("Sam", "@sam", "U0123", "Sam Taylor") means, by the first of these that any
    member matches (case aside): their platform id, their whole name, their first name. Several: the name is
    ambiguous (two members called Sam), and the caller asks which one."""
    wanted = name_key(name.strip().lstrip("@"))
    if not wanted:
        return []
    members = list(await session.scalars(select(Member).where(Member.community_id == community_id)
                                         .order_by(Member.id)))
    for matches in (lambda m: name_key(m.external_id) == wanted,
                    lambda m: name_key(m.name or "") == wanted,
                    lambda m: name_key(m.name or "").split(" ")[0] == wanted):
        found = [m for m in members if matches(m)]
        if found:
            return found
    return []


async def find_member_by_name(session: AsyncSession, community_id: int, name: str) -> Member | None:
    """The one member a typed name means (see members_named); None when it means nobody, or several."""
    found = await members_named(session, community_id, name)
    return found[0] if len(found) == 1 else None


async def find_member_at_start(session: AsyncSession, community_id: int, text: str) -> tuple[Member, str] | None:
    """The member whose name (or id, or first name) begins `text` ("@Emma Virtanen kubernetes"), and the rest.
    The longest name that matches wins: "Emma Virtanen" over another member's "Emma"."""
    wanted = text.strip().lstrip("@")
    folded = name_key(wanted)
    best: tuple[int, Member] | None = None
    for member in await session.scalars(select(Member).where(Member.community_id == community_id)):
        names = {member.external_id, member.name, member.name.split(" ")[0]}
        for name in names:
            key = name_key(name)
            if not key.strip() or not folded.startswith(key):
                continue
            if len(folded) > len(key) and not folded[len(key)].isspace():
                continue  # "Emmanuel" is not "Emma"
            if best is None or len(key) > best[0]:
                best = (len(key), member)
    if best is None:
        return None
    # Where the name ends in what was typed (name_key can change a length: "ß" is "ss", "a" and an accent one "á").
    end = next(i for i in range(len(wanted) + 1) if len(name_key(wanted[:i])) >= best[0])
    return best[1], wanted[end:].strip()


_CHANNEL_MENTION = re.compile(r"^<#([A-Za-z0-9]+)(?:\|([^>]*))?>$")
_COMMAND_WORD = re.compile(r"<#[A-Za-z0-9]+\|[^>]*>|\S+")


def command_words(text: str) -> list[str]:
    """A command's words, split at spaces, but for a picked channel's mention (<#123|name>): one word, though its name
    has spaces (a Discord thread's or forum post's may). Split in two, `/digest subscribe` into a thread "weekly links"
    read "links>" as its schedule, and `/connective ingest` read no on or off."""
    return _COMMAND_WORD.findall(text)


class UnknownChannel(LookupError):
    pass


KNOWN_SHOWN = 10  # channels named in "I don't know the channel …"


async def channel_named(session: AsyncSession, community_id: int, ref: str) -> tuple[str, str]:
    """(external id, name) of a channel as a command writes it: a mention the platform made (<#C1|name>, <#123>: a
    real channel, known here or not), or #name, name or id of a channel known here. A word that names no channel
    here is refused: it was taken for a channel id, and the setting went to a channel that does not exist."""
    rows = (await session.execute(select(Channel.external_id, Channel.name, Channel.is_private, Channel.is_dm)
                                  .where(Channel.community_id == community_id))).all()
    known = sorted({name for _, name, private, dm in rows if name and not private and not dm})
    rows = [(external_id, name) for external_id, name, _, _ in rows]
    m = _CHANNEL_MENTION.match(ref.strip())
    if m:
        return m.group(1), m.group(2) or next((n for e, n in rows if e == m.group(1)), m.group(1))
    wanted = ref.strip().lstrip("#").lower()
    if not wanted:
        raise UnknownChannel("name the channel: pick it with # so I get its id.")
    for external_id, name in rows:
        if wanted == external_id.lower():
            return external_id, name or external_id
    named = [(external_id, name) for external_id, name in rows if (name or "").lower() == wanted]
    if len(named) > 1:  # Discord lets channels share a name
        raise UnknownChannel(f"{len(named)} channels are called {ref.strip()}; pick it with # so I get its id.")
    if named:
        return named[0][0], named[0][1]
    # Said with the channels it does know (the console has no channel picker, and no command lists them): the
    # public ones, never a private channel's name to whoever typed this.
    listed = ", ".join(f"#{name}" for name in known[:KNOWN_SHOWN])
    more = f" and {len(known) - KNOWN_SHOWN} more" if len(known) > KNOWN_SHOWN else ""
    raise UnknownChannel(f"I don't know the channel {ref.strip()}; "
                         + (f"the channels I know here are {listed}{more}" if known else "I know no channel here yet")
                         + "; name one of them, or pick it with # so I get its id.")


async def ensure_channel(
    session: AsyncSession, community_id: int, external_id: str, *, name: str = "", is_private: bool = False,
    announcements: bool | None = None, rename: bool = True, is_dm: bool = False,
) -> Channel:
    """The channel's row, made if new. What is told of it is kept: a name, that it is private (a channel seen first
    through a command or a reaction is not known to be public), whether it is an announcement channel (None: not
    told; an admin may turn announcement mode on and off, so the latest told wins). Not `rename`: what is told is
    how it was once (an older export): a name only replaces the id a channel was known by, and announcement mode is
    left as it is now."""
    stmt = select(Channel).where(Channel.community_id == community_id, Channel.external_id == external_id)
    channel = await session.scalar(stmt)
    if channel is None:
        await session.execute(
            insert_ignore(session, Channel).values(community_id=community_id, external_id=external_id,
                                                    name=name or external_id, is_private=is_private or is_dm,
                                                    announcements=bool(announcements), is_dm=is_dm)
        )
        channel = await session.scalar(stmt)  # ours, or a concurrent insert's (which may lack what we know)
        assert channel is not None
    if name and channel.name != name and (rename or channel.name == channel.external_id):  # or a placeholder
        channel.name = name
    if (is_private or is_dm) and not channel.is_private:  # first seen through a command or a reaction
        channel.is_private = True
    if is_dm and not channel.is_dm:
        channel.is_dm = True
    if announcements is not None and rename and channel.announcements != announcements:
        channel.announcements = announcements
    return channel


async def know_openerless_threads(session: AsyncSession, community_id: int,
                                  threads: Iterable[tuple[int, str]]) -> tuple[int, list[int]]:
    """Remember these threads ((channel id, thread key)) as starting with no opening message of their own (see
    OpenerlessThread). Returns how many were not known, and the ids of the messages already stored in those, to
    be read again."""
    new = []
    for channel_id, thread in dict.fromkeys(threads):
        result = await session.execute(insert_ignore(session, OpenerlessThread).values(
            community_id=community_id, channel_id=channel_id, thread_external_id=thread))
        if result.rowcount:
            new.append((channel_id, thread))
    ids: list[int] = []
    for start in range(0, len(new), 500):
        part = new[start : start + 500]
        ids += (await session.scalars(select(Message.id).where(
            Message.community_id == community_id, Message.channel_id.in_({c for c, _ in part}),
            Message.thread_external_id.in_({t for _, t in part})))).all()
    return len(new), ids


def channel_ingested(channel: Channel) -> bool:
    """Public channels are read by default, private channels only if an admin turned them on, direct conversations
    never."""
    if channel.is_dm:
        return False
    return channel.ingest if channel.ingest is not None else not channel.is_private


async def claim_event(session: AsyncSession, community_id: int, event_id: str) -> bool:
    """True the first time an event id is seen in a community (retries and redeliveries get False)."""
    result = await session.execute(
        insert_ignore(session, ProcessedEvent).values(community_id=community_id, event_id=event_id)
    )
    return bool(result.rowcount)


async def release_event(session: AsyncSession, community_id: int, event_id: str) -> None:
    """Forget a claimed event id, so that claiming it again succeeds (work claimed, then failed)."""
    await session.execute(delete(ProcessedEvent).where(ProcessedEvent.community_id == community_id,
                                                       ProcessedEvent.event_id == event_id))


# How long an event id is remembered: Slack retries an event within the hour, Discord redelivers on a resume within
# minutes, and a refit is claimed for a period of hours. Older ids are pruned (the table held one row per event, for
# ever).
EVENTS_KEPT_DAYS = 7


async def prune_processed_events(session: AsyncSession, now: datetime | None = None) -> int:
    """Forget the event ids older than EVENTS_KEPT_DAYS; returns how many."""
    before = (now or datetime.now(UTC)) - timedelta(days=EVENTS_KEPT_DAYS)
    result = await session.execute(delete(ProcessedEvent).where(ProcessedEvent.created_at < before))
    return int(result.rowcount or 0)


async def get_message(session: AsyncSession, community_id: int, channel_id: int, external_id: str) -> Message | None:
    return await session.scalar(
        select(Message).where(Message.community_id == community_id, Message.channel_id == channel_id,
                              Message.external_id == external_id)
    )


async def message_count(session: AsyncSession, community_id: int) -> int:
    return int(await session.scalar(select(func.count()).select_from(Message)
                                    .where(Message.community_id == community_id)) or 0)


async def skills_of(session: AsyncSession, community_id: int, member_id: int) -> list[Skill]:
    return list(await session.scalars(
        select(Skill).where(Skill.community_id == community_id, Skill.member_id == member_id).order_by(Skill.id)
    ))


async def consenting(session: AsyncSession, member_id: int) -> bool:
    """Whether a member allows profiling, read in the transaction that stores something about them, their row held
    (FOR SHARE) until it commits: an opt-out under way elsewhere, which takes its member's row first, either is read
    here or waits, and then deletes what was stored. Read in a transaction of its own, an opt-out committed between
    that read and the store's commit left the store (a save, a skill, an enrolment) to a member who had opted out."""
    return bool(await session.scalar(select(Member.profiling_consent).where(Member.id == member_id)
                                     .with_for_update(read=True)))


async def withheld_members(session: AsyncSession, community_id: int, external_ids: set[str], *,
                           hold: bool = False) -> set[str]:
    """Of these external ids, the members who opted out or asked to be forgotten: nothing of theirs is stored
    (messages, reactions). Someone not yet a member has not opted out. `hold`: their rows are held (FOR SHARE) until
    the caller commits, so that an opt-out under way elsewhere, which takes its member's row first, either is read
    here or waits, and then deletes what the caller stored."""
    if not external_ids:
        return set()
    query = select(Member.external_id, Member.profiling_consent).where(
        Member.community_id == community_id, Member.external_id.in_(external_ids))
    if hold:
        query = query.order_by(Member.id).with_for_update(read=True)
    return {user for user, consents in (await session.execute(query)).all() if not consents}


async def opted_in_since(session: AsyncSession, community_id: int, external_ids: set[str]) -> dict[str, datetime]:
    """Of these external ids, the members who opted back in after /optout or /forget-me, and when: what an export
    listed of theirs before then (a reaction) was deleted with the rest, or never stored, and is not stored."""
    if not external_ids:
        return {}
    return dict((await session.execute(select(Member.external_id, Member.opted_in_at).where(
        Member.community_id == community_id, Member.external_id.in_(external_ids),
        Member.opted_in_at.is_not(None)))).all())


async def delete_member_data(session: AsyncSession, community_id: int, member_id: int) -> int:
    """Remove a member's messages, their vectors, reactions and skills, the topics they turned down and what the
    intros they accepted say about them, the reactions and endorsements they gave others, and their place on the
    lists of whom others' questions were suggested. Returns messages removed."""
    rows = (await session.execute(select(Message.id, Message.channel_id, Message.external_id).where(
        Message.community_id == community_id, Message.author_id == member_id))).all()
    ids = [mid for mid, _, _ in rows]
    # Remembered as deleted (their key only): an import after they opt back in, of an export still holding them,
    # must not store them again (opting in is for the future).
    for start in range(0, len(rows), 2000):
        await session.execute(insert_ignore(session, DeletedMessage), [
            {"community_id": community_id, "channel_id": ch, "external_id": ext}
            for _, ch, ext in rows[start : start + 2000]])
    shared = set(await session.scalars(select(ResourceShare.resource_id).where(
        ResourceShare.community_id == community_id, ResourceShare.member_id == member_id)))
    for chunk in range(0, len(ids), 500):
        part = ids[chunk : chunk + 500]
        await session.execute(delete(MessageVector).where(MessageVector.message_id.in_(part)))
        await session.execute(delete(Reaction).where(Reaction.message_id.in_(part)))
    await session.execute(delete(Message).where(Message.community_id == community_id, Message.author_id == member_id))
    await session.execute(delete(Skill).where(Skill.community_id == community_id,
                                              (Skill.member_id == member_id) | (Skill.endorsed_by_id == member_id)))
    await session.execute(delete(NotMyArea).where(NotMyArea.community_id == community_id,
                                                  NotMyArea.member_id == member_id))
    # An intro they accepted says they know about its question (ranking reads it as a skill): the request stays,
    # counting against their weekly cap, without the question.
    await session.execute(update(Intro).where(Intro.community_id == community_id, Intro.expert_id == member_id,
                                              Intro.state == IntroState.ACCEPTED.value).values(question_id=None))
    member = await session.get(Member, member_id)
    if member is not None:
        await session.execute(delete(Reaction).where(Reaction.community_id == community_id,
                                                     Reaction.user_external_id == member.external_id))
        await session.execute(delete(RemovedReaction).where(RemovedReaction.community_id == community_id,
                                                            RemovedReaction.user_external_id == member.external_id))
        await session.execute(delete(PendingReaction).where(PendingReaction.community_id == community_id,
                                                            PendingReaction.user_external_id == member.external_id))
        # Others' questions list whom they were suggested (platform ids): a profile of them too (whom the ranking
        # took for an expert on what), which their opt-out deletes as it deletes the rest; it was kept until /forget-me.
        for question_id, suggested in (await session.execute(
                select(Question.id, Question.suggested).where(Question.community_id == community_id))).all():
            if suggested and member.external_id in suggested:
                await session.execute(update(Question).where(Question.id == question_id)
                                      .values(suggested=[u for u in suggested if u != member.external_id]))
    # Curation signals are about the member too: their saves go; resources they shared or saved stay if others
    # shared or saved them, without their name and without their words: each such title is made again from the
    # shares left (resources.retitle). A title taken from their message (the words around the link, or its label)
    # stayed, and was shown in the digest under the name of the next member to share the link.
    saved = set(await session.scalars(select(ResourceSave.resource_id).where(
        ResourceSave.community_id == community_id, ResourceSave.member_id == member_id)))
    await session.execute(delete(ResourceSave).where(ResourceSave.community_id == community_id,
                                                     ResourceSave.member_id == member_id))
    first = set(await session.scalars(select(Resource.id).where(Resource.community_id == community_id,
                                                                Resource.first_sharer_id == member_id)))
    await session.execute(update(Resource).where(Resource.community_id == community_id,
                                                 Resource.first_sharer_id == member_id).values(first_sharer_id=None))
    await session.flush()  # their messages' shares went with the messages
    from bot.services.resources import shares_removed  # the resources service builds on this module

    await shares_removed(session, community_id, sorted(shared | saved | first))
    return len(ids)


async def answered_requests_of(session: AsyncSession, community_id: int, member_id: int) -> list[tuple[str, str, str]]:
    """Where the intro requests a member sent and an expert answered (or let expire) are, with their state (channel,
    message id, state; those known): each still quotes the member's question in the expert's DM, beside what became
    of it. Read before delete_questions_of detaches the requests from them."""
    return [(channel, ref, state) for channel, ref, state in (await session.execute(
        select(Intro.request_channel, Intro.request_ref, Intro.state).where(
            Intro.community_id == community_id, Intro.asker_id == member_id,
            Intro.state.in_([IntroState.ACCEPTED.value, IntroState.DECLINED.value, IntroState.NOT_MY_AREA.value,
                             IntroState.EXPIRED.value])))).all() if channel and ref]


async def delete_questions_of(session: AsyncSession, community_id: int, member_id: int,
                              now: datetime) -> list[tuple[str, str]]:
    """Remove the questions a member asked, and the experts' "not my area" topics copied from them (their words).
    The intro requests they sent stay, without the question and without who asked: each still counts against the
    weekly cap of the expert who received it (opting out and back in between requests sent an expert any number
    of them). A request not answered yet is withdrawn: returned are where those requests' messages are (channel,
    message id; those known), which quote the member's words."""
    asked = (Intro.community_id == community_id) & (Intro.asker_id == member_id)
    withdrawn = (await session.execute(update(Intro).where(asked, Intro.state == IntroState.REQUESTED.value)
                                       .values(state=IntroState.WITHDRAWN.value, decided_at=now)
                                       .returning(Intro.request_channel, Intro.request_ref))).all()
    metrics.INTROS.labels(IntroState.WITHDRAWN.value).inc(len(withdrawn))
    await session.execute(update(Intro).where(asked).values(asker_id=None, question_id=None))
    theirs = select(Question.id).where(Question.community_id == community_id, Question.asker_id == member_id)
    # An expert's "not my area" holds the question's words: it goes too.
    await session.execute(delete(NotMyArea).where(NotMyArea.question_id.in_(theirs)))
    await session.execute(delete(Question).where(Question.community_id == community_id,
                                                 Question.asker_id == member_id))
    await session.flush()
    return [(channel, ref) for channel, ref in withdrawn if channel and ref]


async def close_for_opt_out(session: AsyncSession, community_id: int, member_id: int,
                            now: datetime) -> tuple[list[int], list[tuple[str, str]]]:
    """What an opt-out closes beyond profiling data: their mentoring enrolment (their topics and time zone, what they
    said about themselves, as skills are) and the intro requests waiting for their answer (each asker is owed the next
    expert: the request told the expert what the bot learnt of them, and the asker waited a day for it to expire).
    Returns those requests' questions, and where the requests are (channel, message id; those known), so that they
    lose their buttons. Past pairs stay: whom they were paired with is the other member's history too."""
    await session.execute(delete(MentoringEnrolment).where(MentoringEnrolment.community_id == community_id,
                                                           MentoringEnrolment.member_id == member_id))
    closed = (await session.execute(
        update(Intro).where(Intro.community_id == community_id, Intro.expert_id == member_id,
                            Intro.state == IntroState.REQUESTED.value)
        .values(state=IntroState.WITHDRAWN.value, decided_at=now)
        .returning(Intro.question_id, Intro.request_channel, Intro.request_ref))).all()
    metrics.INTROS.labels(IntroState.WITHDRAWN.value).inc(len(closed))
    await session.flush()
    return ([q for q, _, _ in closed if q is not None],
            [(channel, ref) for _, channel, ref in closed if channel and ref])


async def forget_member_everywhere(session: AsyncSession, community_id: int, member_id: int, *,
                                   now: datetime | None = None) -> list[int]:
    """Beyond profiling data: mentoring enrolment, pairings and notices (and the rounds that left them unmatched),
    introductions received, who subscribed a channel to a digest. (The requests they sent are kept, detached from
    them, by delete_questions_of: they count against the experts' caps.) Returns the questions whose request to
    them was still open: their askers are owed an answer (the next expert)."""
    open_to_them = list(await session.scalars(select(Intro.question_id).where(
        Intro.community_id == community_id, Intro.expert_id == member_id, Intro.state == IntroState.REQUESTED.value,
        Intro.question_id.is_not(None))))
    await session.execute(delete(MentoringEnrolment).where(MentoringEnrolment.community_id == community_id,
                                                           MentoringEnrolment.member_id == member_id))
    # A pair not introduced yet is off: the other member is told so (not who left), and comes first next round.
    from bot.services import mentoring_notices  # the mentoring services build on this module

    theirs = (Pairing.mentor_id == member_id) | (Pairing.mentee_id == member_id)
    partner = case((Pairing.mentor_id == member_id, Pairing.mentee_id), else_=Pairing.mentor_id)
    for pairing_id, round_id, partner_id in (await session.execute(select(Pairing.id, Pairing.round_id, partner).where(
            Pairing.community_id == community_id, theirs, Pairing.introduced_at.is_(None),
            Pairing.intro_given_up_at.is_(None)))).all():
        await mentoring_notices.queue(session, community_id, round_id, [partner_id], mentoring_notices.PARTNER_GONE,
                                      now or datetime.now(UTC), pairing_id=pairing_id)
    await session.execute(delete(MentoringNotice).where(MentoringNotice.community_id == community_id,
                                                        MentoringNotice.member_id == member_id))
    await session.execute(delete(Pairing).where(Pairing.community_id == community_id, theirs))
    await session.execute(delete(Intro).where(Intro.community_id == community_id, Intro.expert_id == member_id))
    # A round they were left unmatched in still counts them, as nobody.
    for round_id, unmatched in (await session.execute(select(PairingRound.id, PairingRound.unmatched).where(
            PairingRound.community_id == community_id))).all():
        if any(u.get("member_id") == member_id for u in unmatched or []):
            await session.execute(update(PairingRound).where(PairingRound.id == round_id).values(unmatched=[
                {**u, "member_id": None} if u.get("member_id") == member_id else u for u in unmatched]))
    # The digests they subscribed channels to stay (the community's), without who did it.
    await session.execute(update(Digest).where(Digest.community_id == community_id, Digest.created_by_id == member_id)
                          .values(created_by_id=None))
    await session.flush()
    return open_to_them


async def ensure_members_bulk(session: AsyncSession, community_id: int,
                              people: dict[str, dict]) -> dict[str, int]:
    """external id -> member id, creating members not seen before (name, is_bot, timezone in the dict). A
    "deleted" flag, where the export has one, sets whether the account is deactivated, both ways. An entry marked
    "stale" (from an export older than what is stored) creates a member, but changes no name or flag of one.

    An existing member's is_bot follows the dict where it knows the account ("bot_known": users.json, an ordinary
    post, a bot id), both ways. Someone known only from bot posts ("bot_posts": their ids) becomes a bot only if
    every message stored under them is one of those posts: an earlier import that took an app's bot user for a
    person is put right, and a person with messages of their own is never turned into a bot."""
    rows = [{"community_id": community_id, "external_id": ext, "name": p.get("name") or ext,
             "is_bot": bool(p.get("is_bot")), "timezone": p.get("timezone"), "profiling_consent": True,
             "available_for_intros": True, "deactivated": bool(p.get("deleted"))} for ext, p in people.items()]
    for start in range(0, len(rows), 1000):
        await session.execute(insert_ignore(session, Member), rows[start : start + 1000])
    found = (await session.execute(
        select(Member.id, Member.external_id, Member.name, Member.timezone, Member.deactivated, Member.is_bot)
        .where(Member.community_id == community_id)
    )).all()
    out = {}
    flipped: dict[bool, list[int]] = {True: [], False: []}
    bots: dict[bool, list[int]] = {True: [], False: []}
    maybe_bots: dict[int, set[str]] = {}
    for mid, ext, name, tz, deactivated, is_bot in found:
        if ext in people:
            out[ext] = mid
            p = people[ext]
            # A name that is the member's id is none (an export without users.json): it renames nobody.
            given = p.get("name") if p.get("name") != ext else None
            if p.get("stale"):
                pass
            elif (given and given != name) or (p.get("timezone") and p["timezone"] != tz):
                member = await session.get(Member, mid)
                if member.profiling_consent:  # a forgotten member's name stays forgotten
                    member.name = given or member.name
                    member.timezone = p.get("timezone") or member.timezone
            if "deleted" in p and not p.get("stale") and bool(p["deleted"]) != deactivated:
                flipped[bool(p["deleted"])].append(mid)
            if p.get("bot_known") and bool(p.get("is_bot")) != is_bot:
                bots[bool(p.get("is_bot"))].append(mid)
            elif not p.get("bot_known") and p.get("is_bot") and not is_bot and "bot_posts" in p:
                maybe_bots[mid] = set(p["bot_posts"])
    if maybe_bots:
        for author, external_id in (await session.execute(
            select(Message.author_id, Message.external_id)
            .where(Message.community_id == community_id, Message.author_id.in_(maybe_bots))
        )).all():
            if external_id not in maybe_bots.get(author, ()):
                maybe_bots.pop(author, None)  # a message of their own: a person
        bots[True] += list(maybe_bots)
    for column, changes in (("deactivated", flipped), ("is_bot", bots)):
        for value, ids in changes.items():
            for start in range(0, len(ids), 1000):
                await session.execute(update(Member).where(Member.id.in_(ids[start : start + 1000]))
                                      .values({column: value}))
    return out
