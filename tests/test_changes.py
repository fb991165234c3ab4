"""The change log replicas follow (bot.services.changes), on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, insert, select

from bot.db.models import Community, CorpusChange
from bot.events import utcnow
from bot.services.changes import RELOAD_AT, ChangeLog


async def test_late_commits_are_read_own_changes_skipped_and_old_rows_pruned(app):
    async with app.db.sessions.begin() as s:
        cid = (await s.scalars(insert(Community).returning(Community.id),
                               [{"platform": "slack", "external_id": "TLOG", "name": "", "settings": {}}])).one()
    log = ChangeLog()

    async def write(rows: list[dict]) -> None:
        async with app.db.sessions.begin() as s:
            await s.execute(insert(CorpusChange), [{"community_id": cid, **row} for row in rows])

    async def pending() -> list[int] | None:
        async with app.db.sessions() as s:
            return await log.pending(s, cid)

    async with app.db.sessions() as s:
        await log.start(s, cid)
    assert await pending() == []
    await write([{"id": 100, "message_id": 7}, {"id": 101, "message_id": 8}, {"id": 102, "message_id": 7}])
    assert await pending() == [7, 8]
    await write([{"id": 60, "message_id": 9}])  # inserted before 100 but committed after it was read
    assert await pending() == [9]
    assert await pending() == []
    async with app.db.sessions.begin() as s:
        await log.note(s, cid, [10, 11], own=True)  # followed in memory by whoever wrote them
    assert await pending() == []
    await write([{"id": 200, "message_id": None}])  # a member's messages removed
    assert await pending() is None
    await write([{"id": 300 + i, "message_id": i} for i in range(RELOAD_AT + 1)])  # an import elsewhere
    assert await pending() is None

    await write([{"id": 50, "message_id": 1, "created_at": utcnow() - timedelta(days=2)}])
    async with app.db.sessions.begin() as s:
        assert await ChangeLog.prune(s) == 1
        assert await s.scalar(select(func.count()).where(CorpusChange.id == 50)) == 0
        assert await s.scalar(select(func.count()).select_from(CorpusChange)) == RELOAD_AT + 8


async def test_event_ids_are_forgotten_after_a_week_and_redeliveries_within_it_still_ignored(app):
    """processed_event held one row per event for ever (audit 9): ids older than a week are pruned by the hourly job,
    and a redelivery of a recent event is still recognised."""
    from bot import events as ev
    from bot.db.models import Message, ProcessedEvent

    message = ev.MessagePosted(community="TPRUNE", platform="slack", user="U1", channel="C1", message_id="1.000100",
                               event_id="EvRecent", text="how do I pin a helm chart version?")
    await app.core.handle(message)
    async with app.db.sessions.begin() as s:
        cid = await s.scalar(select(Community.id).where(Community.external_id == "TPRUNE"))
        await s.execute(insert(ProcessedEvent).values(community_id=cid, event_id="EvOld",
                                                      created_at=utcnow() - timedelta(days=8)))
    assert app.scheduler.has("events:prune")
    assert await app.core.prune_processed_events() == 1
    async with app.db.sessions() as s:
        assert set(await s.scalars(select(ProcessedEvent.event_id))) == {"EvRecent"}
    await app.core.handle(message)  # redelivered: stored once
    async with app.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Message)) == 1
