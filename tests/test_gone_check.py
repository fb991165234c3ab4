"""What an answer quotes or links is asked of the platform first (ExpertiseService.gone_check, wired by the core to
the platform sender's `look_up`): a message the platform no longer has is deleted as a live deletion is, and the ask
ranks again without it. On the sample community with a fake sender."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from bot.actions import LookedUp
from bot.db.models import Community, DeletedMessage, Message
from bot.services.expertise import GONE_RANKINGS

TEAM = "T0SAMPLE01"
QUESTION = "Why does Postgres ignore my index and do a sequential scan?"


class FakeSender:
    """Says the links in `gone` are gone; records what it was asked."""

    def __init__(self, gone: set[str] | None = None) -> None:
        self.asked: list[list[str]] = []
        self.missing = gone or set()

    async def send(self, action) -> None:  # noqa: ANN001
        pass

    async def look_up(self, community: str, permalinks: list[str]) -> LookedUp:
        assert community == TEAM
        self.asked.append(permalinks)
        return LookedUp(gone=frozenset(self.missing & set(permalinks)))


async def _community_id(app) -> int:
    async with app.db.sessions() as s:
        return (await s.scalar(select(Community).where(Community.external_id == TEAM))).id


async def test_a_message_gone_from_the_platform_is_not_shown_and_is_deleted(sample_app):
    cid = await _community_id(sample_app)
    now = datetime.now(UTC)
    [before] = await sample_app.expertise.rank(cid, QUESTION, top=1, now=now)
    quoted = [link for link in before.permalinks if link]
    assert quoted
    sender = FakeSender(gone={quoted[0]})
    sample_app.core.senders["slack"] = sender
    [after] = await sample_app.expertise.rank(cid, QUESTION, top=1, now=now)
    assert quoted[0] in sender.asked[0] and len(sender.asked) == 2  # asked, then ranked again and asked again
    assert quoted[0] not in after.permalinks
    async with sample_app.db.sessions() as s:
        assert not await s.scalar(select(Message.id).where(Message.permalink == quoted[0]))
        assert await s.scalar(select(DeletedMessage.id).where(DeletedMessage.community_id == cid))


async def test_only_the_messages_shown_are_asked_about(sample_app):
    cid = await _community_id(sample_app)
    now = datetime.now(UTC)
    sender = FakeSender()
    sample_app.core.senders["slack"] = sender
    found = await sample_app.expertise.rank(cid, QUESTION, top=3, now=now)
    assert {link for f in found for link in f.permalinks if link} <= set(sender.asked[0])
    sender.asked.clear()
    # An intro request shows one expert's evidence only: only theirs is asked about.
    expert = found[1]
    await sample_app.expertise.rank(cid, QUESTION, top=3, now=now, shown_of={expert.user})
    async with sample_app.db.sessions() as s:
        authors = set(await s.scalars(select(Message.author_id).where(Message.permalink.in_(sender.asked[0]))))
        ids = set(await s.scalars(select(Message.author_id).where(Message.permalink.in_(
            [link for link in expert.permalinks if link]))))
    assert authors and authors == ids
    # A mentoring round's topic fit reads the scores only: nothing is asked.
    sender.asked.clear()
    await sample_app.expertise.rank(cid, QUESTION, top=3, now=now, shown_of=set())
    assert sender.asked == []
    # A replay (an evaluation) shows nothing to anyone: nothing is asked.
    sender.asked.clear()
    await sample_app.expertise.rank(cid, QUESTION, top=3, now=now, replay=True)
    assert sender.asked == []


class EverythingGone(FakeSender):
    """Every message asked about is gone (a member who deleted all they wrote while the bot was away)."""

    async def look_up(self, community: str, permalinks: list[str]) -> LookedUp:
        self.asked.append(permalinks)
        return LookedUp(gone=frozenset(permalinks))


async def test_the_last_ranking_shows_none_of_the_messages_found_gone(sample_app):
    cid = await _community_id(sample_app)
    sender = EverythingGone()
    sample_app.core.senders["slack"] = sender
    found = await sample_app.expertise.rank(cid, QUESTION, top=3, now=datetime.now(UTC))
    gone = {link for asked in sender.asked for link in asked}
    assert len(sender.asked) == GONE_RANKINGS and gone
    assert not gone & {link for f in found for link in f.permalinks}
