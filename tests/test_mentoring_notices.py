"""A round's direct messages to members, on SQLite and PostgreSQL: the warning before it and "no pair for you this
round", each sent once and retried when sending fails, never twice across replicas and restarts."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import select

from bot.actions import Action, DirectMessage, OpenGroup
from bot.db.mentoring import MentoringNotice
from bot.errors import Undelivered
from bot.services.mentoring import MentoringService
from bot.services.mentoring_cadence import Cadence
from bot.services.mentoring_intros import RETRY_AFTER
from tests.test_mentoring import NOW, RecordingSender, console, enrol_group

PERIOD = Cadence().next_round(NOW)


class FlakyDMs(RecordingSender):
    """Records what it sent; fails the first `fail` direct messages to each of `users` (a Slack error), or refuses
    them for good (`refuse`: a member who takes no DMs); fails introductions while `fail_intros`."""

    def __init__(self, users: set[str] = frozenset(), fail: int = 0, *, refuse: bool = False) -> None:
        super().__init__()
        self.left = dict.fromkeys(users, fail)
        self.refuse = refuse
        self.fail_intros = False
        self.failed: list[Action] = []

    async def send(self, action: Action) -> None:
        if isinstance(action, DirectMessage) and self.left.get(action.user):
            self.left[action.user] -= 1
            self.failed.append(action)
            if self.refuse:
                raise Undelivered("the member takes no DMs")
            raise RuntimeError("slack said: internal_error")
        if isinstance(action, OpenGroup) and self.fail_intros:
            self.failed.append(action)
            raise RuntimeError("slack said: internal_error")
        await asyncio.sleep(0)  # lets another replica's tick run meanwhile
        self.sent.append(action)


def dms(actions: list[Action]) -> list[str]:
    return sorted(a.user for a in actions if isinstance(a, DirectMessage))


async def enrolled(app, sender) -> MentoringService:  # noqa: ANN001
    app.core.senders["console"] = sender
    await enrol_group(console(app))
    return MentoringService(db=app.db, core=app.core, expertise=app.expertise)


async def notices(app) -> list[MentoringNotice]:  # noqa: ANN001
    async with app.db.sessions() as s:
        return list(await s.scalars(select(MentoringNotice).order_by(MentoringNotice.id)))


async def test_a_warning_that_fails_is_sent_again_later_once_whoever_ticks(app):
    sender = FlakyDMs({"asha", "omar"}, fail=2)
    service = await enrolled(app, sender)
    replica = MentoringService(db=app.db, core=app.core, expertise=app.expertise)
    at = PERIOD.warn_at + timedelta(minutes=1)
    await asyncio.gather(service.tick(at), replica.tick(at))
    assert dms(sender.take()) == ["kenji", "lena", "petra"]
    assert dms(sender.failed) == ["asha", "omar"]
    await asyncio.gather(service.tick(at + RETRY_AFTER[0]), replica.tick(at + RETRY_AFTER[0]))
    assert sender.take() == []  # failed again
    t = at + RETRY_AFTER[0] + RETRY_AFTER[1]
    await asyncio.gather(service.tick(t), replica.tick(t))
    warnings = sender.take()
    assert dms(warnings) == ["asha", "omar"]  # once each, the third time
    assert all("Skip this round" in a.doc.plain() and "Mon 30 Nov" in a.doc.plain() for a in warnings)
    for hours in (1, 3, 8):
        await asyncio.gather(service.tick(t + timedelta(hours=hours)), replica.tick(t + timedelta(hours=hours)))
    assert dms(sender.take()) == []
    assert all(n.sent_at is not None and n.due_at is None for n in await notices(app))


async def test_a_warning_not_out_before_the_round_runs_is_given_up(app, caplog):
    sender = FlakyDMs({"asha"}, fail=10_000)
    service = await enrolled(app, sender)
    await service.tick(PERIOD.warn_at + timedelta(minutes=1))
    sender.take()
    caplog.set_level(logging.INFO, logger="bot.services.mentoring_notices")
    await service.tick(PERIOD.round_at + timedelta(minutes=1))
    assert not [a for a in sender.take() if isinstance(a, DirectMessage) and "Heads up" in a.doc.plain()]
    assert "warning to member" in caplog.text and "the round ran before the warning could go out" in caplog.text


async def test_no_pair_this_round_that_fails_is_sent_again(app):
    sender = FlakyDMs({"lena"}, fail=1)
    service = await enrolled(app, sender)
    sender.left["lena"] = 0  # her warning goes out
    await service.tick(PERIOD.warn_at + timedelta(minutes=1))
    sender.take()
    sender.left["lena"] = 1
    at = PERIOD.round_at + timedelta(minutes=1)
    await service.tick(at)
    assert "lena" not in dms(sender.take()) and dms(sender.failed) == ["lena"]
    await service.tick(at + RETRY_AFTER[0])
    [told] = sender.take()
    assert told.user == "lena" and told.doc.plain().startswith(f"No mentoring pair for you this round ({PERIOD.key})")
    assert "no mentor teaches something close enough" in told.doc.plain()
    await service.tick(at + timedelta(hours=2))
    assert sender.take() == []


async def test_a_member_who_takes_no_dms_is_not_asked_again(app, caplog):
    sender = FlakyDMs({"lena"}, fail=10_000, refuse=True)
    service = await enrolled(app, sender)
    caplog.set_level(logging.WARNING, logger="bot.services.mentoring_notices")
    at = PERIOD.warn_at + timedelta(minutes=1)
    for minutes in (0, 5, 20, 90):
        await service.tick(at + timedelta(minutes=minutes))
    assert dms(sender.failed) == ["lena"]
    assert "given up: console refused it (attempt 1 of" in caplog.text
