"""A mentoring pair's introduction, on SQLite and PostgreSQL: sent once, retried when it fails (a platform error,
DMs closed, a process stopped mid-round), given up with a log line after its last attempt or when one of the pair
has gone; never twice, across replicas and restarts."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import select, update

from bot.actions import Action, OpenGroup
from bot.app import build_app
from bot.cli_pairs import format_stats
from bot.db.mentoring import Pairing
from bot.db.migrate import run_alembic, upgrade
from bot.services.mentoring import MentoringService
from bot.services.mentoring_cadence import Cadence
from bot.services.mentoring_intros import LEASE, MAX_ATTEMPTS, RETRY_AFTER
from bot.settings import Settings
from tests.test_mentoring import NOW, RecordingSender, _community_id, console, enrol_group

PERIOD = Cadence().next_round(NOW)


class FlakySender(RecordingSender):
    """Records what it sent; refuses the first `fail` introductions (a Slack error, a Discord outage)."""

    def __init__(self, fail: int = 0) -> None:
        super().__init__()
        self.fail = fail
        self.refused: list[Action] = []

    async def send(self, action: Action) -> None:
        if isinstance(action, OpenGroup) and self.fail:
            self.fail -= 1
            self.refused.append(action)
            raise RuntimeError("slack said: internal_error")
        await asyncio.sleep(0)  # lets another replica's tick run meanwhile
        self.sent.append(action)


def intros(actions: list[Action]) -> list[tuple[str, ...]]:
    return sorted(a.members for a in actions if isinstance(a, OpenGroup))


async def warned(app, sender) -> MentoringService:  # noqa: ANN001
    """The usual group enrolled and warned; the service that will run their round."""
    app.core.senders["console"] = sender
    await enrol_group(console(app))
    service = MentoringService(db=app.db, core=app.core, expertise=app.expertise)
    await service.tick(PERIOD.warn_at + timedelta(minutes=1))
    sender.take()
    return service


async def pairings(app) -> dict[tuple[int, int], Pairing]:  # noqa: ANN001
    async with app.db.sessions() as s:
        return {(p.mentor_id, p.mentee_id): p for p in await s.scalars(select(Pairing))}


async def test_a_failed_introduction_is_sent_again_later_once(app):
    sender = FlakySender(fail=1)
    service = await warned(app, sender)
    at = PERIOD.round_at + timedelta(minutes=1)
    await service.tick(at)
    first = intros(sender.take())
    assert len(first) == 1 and len(sender.refused) == 1  # one pair introduced, the other's failed
    [missed] = intros(sender.refused)
    rows = await pairings(app)
    assert sorted((p.introduced_at is not None, p.intro_attempts) for p in rows.values()) == [(False, 1), (True, 1)]

    await service.tick(at + RETRY_AFTER[0] - timedelta(minutes=1))
    assert sender.take() == []  # not before its pause
    await service.tick(at + RETRY_AFTER[0])
    assert intros(sender.take()) == [missed]  # the pair that missed it, and only them
    for minutes in (10, 60, 600):
        await service.tick(at + timedelta(minutes=minutes))
    assert intros(sender.take()) == []
    assert all(p.introduced_at is not None and p.intro_due_at is None for p in (await pairings(app)).values())


async def test_the_retried_introduction_says_what_the_first_said(app):
    sender = FlakySender(fail=2)
    service = await warned(app, sender)
    at = PERIOD.round_at + timedelta(minutes=1)
    await service.tick(at)
    refused = {a.members: a.doc.plain() for a in sender.refused}
    await service.tick(at + RETRY_AFTER[0])
    sent = {a.members: a.doc.plain() for a in sender.take() if isinstance(a, OpenGroup)}
    assert sent == refused and len(sent) == 2
    text = sent[("petra", "asha")]
    assert "Petra (mentor) and Asha (mentee)" in text and "postgres performance" in text
    assert "postgres query tuning" in text and "overlap by about" in text and "Conversation starters" in text


async def test_an_introduction_that_never_goes_out_is_given_up_with_a_log_line_and_never_checked_in(app, caplog):
    sender = FlakySender(fail=10_000)
    service = await warned(app, sender)
    at = PERIOD.round_at + timedelta(minutes=1)
    caplog.set_level(logging.WARNING, logger="bot.services.mentoring_intros")
    t = at
    await service.tick(t)
    for pause in RETRY_AFTER:
        t += pause
        await service.tick(t)
    assert len(sender.refused) == 2 * MAX_ATTEMPTS
    given_up = [r.getMessage() for r in caplog.records if "given up after" in r.getMessage()]
    assert len(given_up) == 2 and all(f"given up after {MAX_ATTEMPTS} attempts" in m for m in given_up), given_up
    sender.take()  # Lena's "no pair this round"
    for days in (1, 2, 8):
        await service.tick(at + timedelta(days=days))
    assert len(sender.refused) == 2 * MAX_ATTEMPTS and sender.take() == []  # no more tries; no check-in either
    rows = (await pairings(app)).values()
    assert all(p.introduced_at is None and p.intro_given_up_at is not None and p.intro_due_at is None for p in rows)
    stats = await service.stats(await _community_id(app))
    assert (stats.rounds[0].pairs, stats.rounds[0].introduced) == (2, 0)
    header, row = format_stats(stats).splitlines()[2:4]
    assert header.split()[:3] == ["round", "pairs", "introduced"] and row.split()[1:3] == ["2", "0"], (header, row)


async def test_two_replicas_ticking_together_introduce_each_pair_once(app):
    sender = FlakySender()
    service = await warned(app, sender)
    replica = MentoringService(db=app.db, core=app.core, expertise=app.expertise)
    at = PERIOD.round_at + timedelta(minutes=1)
    await asyncio.gather(service.tick(at), replica.tick(at))
    await asyncio.gather(service.tick(at + timedelta(minutes=5)), replica.tick(at + timedelta(minutes=5)))
    assert intros(sender.take()) == [("kenji", "omar"), ("petra", "asha")]


async def test_a_round_stopped_before_its_introductions_sends_them_after_a_restart(app, db_url):
    """The process stopped once the round's pairs were stored: they were never introduced, by it or anyone."""
    sender = FlakySender()
    service = await warned(app, sender)
    cid = await _community_id(app)
    at = PERIOD.round_at + timedelta(minutes=1)
    unmatched = await service.run_round(cid, PERIOD, at)  # stored; the process stops here
    assert not [a for a in unmatched if isinstance(a, OpenGroup)]
    async with app.db.sessions.begin() as s:  # and one introduction was being sent when it stopped
        first = min(await s.scalars(select(Pairing.id)))
        await s.execute(update(Pairing).where(Pairing.id == first).values(intro_attempts=1, intro_due_at=at + LEASE))

    restarted = build_app(Settings(database_url=db_url), embedder=app.embedder)
    try:
        restarted.core.senders["console"] = sender
        again = MentoringService(db=restarted.db, core=restarted.core, expertise=restarted.expertise)
        await again.tick(at + timedelta(minutes=5))
        assert len(intros(sender.take())) == 1  # the one nobody was sending
        await again.tick(at + LEASE + timedelta(minutes=1))  # the cut-off attempt's lease is over
        assert len(intros(sender.take())) == 1
        await again.tick(at + timedelta(hours=2))
        assert sender.take() == []
    finally:
        await restarted.close()


async def test_a_member_gone_before_the_retry_is_not_introduced(app, caplog):
    sender = FlakySender(fail=2)
    service = await warned(app, sender)
    at = PERIOD.round_at + timedelta(minutes=1)
    await service.tick(at)
    adapter = console(app)
    await adapter.say("omar", "/mentoring leave")
    await adapter.say("asha", "/optout")
    caplog.set_level(logging.WARNING, logger="bot.services.mentoring_intros")
    await service.tick(at + RETRY_AFTER[0])
    assert intros(sender.take()) == []
    said = caplog.text
    assert "not introduced, given up: the mentee has left the mentoring rounds" in said
    assert "not introduced, given up: the mentee has opted out" in said


async def test_introductions_made_before_the_upgrade_are_not_sent_again(app):
    """Pairings of rounds run under the release before (introduced once, or never) are not introduced after it."""
    sender = FlakySender()
    service = await warned(app, sender)
    at = PERIOD.round_at + timedelta(minutes=1)
    await service.tick(at)
    assert len(intros(sender.take())) == 2
    await run_alembic(app.db, "downgrade", "0024")
    await upgrade(app.db)
    await service.tick(at + timedelta(minutes=10))
    assert sender.take() == []
    await service.tick(at + timedelta(days=7, minutes=5))
    assert len(sender.take()) == 4  # the check-ins still come


async def test_a_pair_never_introduced_may_be_paired_again_next_round(app):
    """Repeat avoidance kept a pair whose introduction was given up apart for three rounds: two people who never
    heard of each other could not be paired, though each was the only fit for the other."""
    sender = FlakySender(fail=10_000)
    service = await warned(app, sender)
    t = PERIOD.round_at + timedelta(minutes=1)
    await service.tick(t)
    for pause in RETRY_AFTER:
        t += pause
        await service.tick(t)
    sender.fail, sender.refused = 0, []
    sender.take()
    following = Cadence().period(PERIOD.index + 1)
    await service.tick(following.warn_at + timedelta(minutes=1))
    await service.tick(following.round_at + timedelta(minutes=1))
    assert intros(sender.take()) == [("kenji", "omar"), ("petra", "asha")]


async def test_status_does_not_name_a_pair_that_was_never_introduced_as_the_current_one(app):
    """/mentoring status said "This round your mentor is Petra" of a pair whose introduction was given up: a pair
    the member never heard of, and never will."""
    sender = FlakySender(fail=10_000)
    service = await warned(app, sender)
    t = PERIOD.round_at + timedelta(minutes=1)
    await service.tick(t)
    adapter = console(app)
    [pending] = await adapter.say("asha", "/mentoring status")
    assert "your mentor is Petra" in pending  # still being tried
    for pause in RETRY_AFTER:
        t += pause
        await service.tick(t)
    [out] = await adapter.say("asha", "/mentoring status")
    assert "your mentor is" not in out and "pair with Petra did not go ahead" in out, out


async def test_one_pair_that_cannot_be_introduced_holds_up_no_other(app):
    sender = FlakySender()
    service = await warned(app, sender)
    cid = await _community_id(app)
    at = PERIOD.round_at + timedelta(minutes=1)
    await service.run_round(cid, PERIOD, at)
    async with app.db.sessions.begin() as s:  # a value no introduction can be made of (damaged by hand, say)
        first = min(await s.scalars(select(Pairing.id)))
        await s.execute(update(Pairing).where(Pairing.id == first).values(taught=None, topics=None))
    await service.tick(at + timedelta(minutes=1))
    assert len(intros(sender.take())) == 1


async def test_a_pair_never_introduced_comes_first_in_the_next_round(app):
    """Both of a pair whose introduction was given up (the platform failed it every time) met nobody that round, and
    were not among those who come first in the next one, as the unmatched are."""
    sender = FlakySender(fail=10_000)
    service = await warned(app, sender)
    t = PERIOD.round_at + timedelta(minutes=1)
    await service.tick(t)
    for pause in RETRY_AFTER:
        t += pause
        await service.tick(t)
    async with app.db.sessions() as s:
        waiting = await service._waiting(s, await _community_id(app))
    assert waiting >= {"petra", "asha", "kenji", "omar"}, waiting


async def test_both_of_a_pair_never_introduced_are_told_once(app):
    """A pair whose introduction was given up heard nothing: each waited for an introduction that never came."""
    sender = FlakySender(fail=10_000)
    service = await warned(app, sender)
    t = PERIOD.round_at + timedelta(minutes=1)
    await service.tick(t)
    sender.take()  # Lena's "no pair this round"
    for pause in RETRY_AFTER:
        t += pause
        await service.tick(t)
    told = sender.take()
    assert sorted(a.user for a in told) == ["asha", "kenji", "omar", "petra"]
    assert all(a.doc.plain().startswith("I couldn't introduce you to your mentoring pair this round") for a in told)
    await service.tick(t + timedelta(hours=9))
    assert sender.take() == []
