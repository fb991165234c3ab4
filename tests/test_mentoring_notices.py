"""A round's direct messages to members, on SQLite and PostgreSQL: the warning before it, "no pair for you this
round" and "your pair is off", each sent once and retried when sending fails, never twice across replicas and
restarts; a member whose partner leaves (forget-me, opt-out, /mentoring leave, the workspace) before they are
introduced, or while the round is made, is told and comes first in the next round."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import select

from bot import events as ev
from bot.actions import Action, DirectMessage, OpenGroup
from bot.db.mentoring import MentoringNotice, Pairing, PairingRound
from bot.db.models import Community, Member
from bot.errors import Undelivered
from bot.services.mentoring import MentoringService
from bot.services.mentoring_cadence import Cadence
from bot.services.mentoring_intros import RETRY_AFTER
from tests.test_mentoring import COMMUNITY, NOW, RecordingSender, _community_id, console, enrol_group

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


async def _intro_failed(app) -> tuple[MentoringService, FlakyDMs]:  # noqa: ANN001
    """The usual group warned and paired; the introductions failed (to be retried)."""
    sender = FlakyDMs()
    service = await enrolled(app, sender)
    await service.tick(PERIOD.warn_at + timedelta(minutes=1))
    sender.fail_intros = True
    await service.tick(PERIOD.round_at + timedelta(minutes=1))
    sender.take()
    sender.fail_intros = False
    return service, sender


async def _waiting(app, service) -> set[str]:  # noqa: ANN001
    async with app.db.sessions() as s:
        return await service._waiting(s, await _community_id(app))


async def test_the_partner_of_a_member_forgotten_before_the_introduction_is_told_and_comes_first_next(app):
    service, sender = await _intro_failed(app)
    await console(app).say("asha", "/forget-me")
    await service.tick(PERIOD.round_at + RETRY_AFTER[0] + timedelta(minutes=1))
    sent = sender.take()
    assert [a.members for a in sent if isinstance(a, OpenGroup)] == [("kenji", "omar")]
    [told] = [a for a in sent if isinstance(a, DirectMessage)]
    text = told.doc.plain()
    assert told.user == "petra" and "pair this round" in text and "is off" in text and "come first" in text
    assert "Asha" not in text
    assert await _waiting(app, service) >= {"petra"}
    async with app.db.sessions() as s:  # nothing of Asha's is kept for it
        asha = await s.scalar(select(Member.id).where(Member.external_id == "asha"))
        assert not list(await s.scalars(select(MentoringNotice).where(MentoringNotice.member_id == asha)))


async def test_the_partner_of_a_member_who_opts_out_or_leaves_before_the_introduction_is_told(app):
    service, sender = await _intro_failed(app)
    await console(app).say("asha", "/optout")
    await app.core.handle(ev.MemberLeft(community=COMMUNITY, platform="console", user="omar", channel=""))
    await service.tick(PERIOD.round_at + RETRY_AFTER[0] + timedelta(minutes=1))
    sent = sender.take()
    assert not [a for a in sent if isinstance(a, OpenGroup)]
    assert dms(sent) == ["kenji", "petra"]
    assert all("is off" in a.doc.plain() for a in sent)
    assert await _waiting(app, service) >= {"kenji", "petra"}
    await service.tick(PERIOD.round_at + timedelta(hours=3))
    assert sender.take() == []  # once


async def test_status_does_not_name_a_partner_who_left_before_the_introduction(app):
    """/mentoring status named the member who opted out ('This round's pair with Asha did not go ahead') to one who
    never heard of them, and whom the notice told without a name."""
    service, sender = await _intro_failed(app)
    adapter = console(app)
    await adapter.say("asha", "/optout")
    await service.tick(PERIOD.round_at + RETRY_AFTER[0] + timedelta(minutes=1))
    [out] = await adapter.say("petra", "/mentoring status")
    assert "Asha" not in out and "This round's pair is off" in out, out


async def test_a_member_forgotten_while_the_round_is_made_is_not_paired_and_their_partner_is_told(app):
    sender = FlakyDMs()
    service = await enrolled(app, sender)
    await service.tick(PERIOD.warn_at + timedelta(minutes=1))
    sender.take()
    plan = service.plan

    async def plan_then_forget(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        planned = await plan(*args, **kwargs)
        await console(app).say("asha", "/forget-me")  # as the round is planned
        return planned

    service.plan = plan_then_forget
    await service.tick(PERIOD.round_at + timedelta(minutes=1))
    sent = sender.take()
    assert [a.members for a in sent if isinstance(a, OpenGroup)] == [("kenji", "omar")]
    told = {a.user: a.doc.plain() for a in sent if isinstance(a, DirectMessage)}
    assert "stopped taking part as the round was made" in told["petra"], told
    async with app.db.sessions() as s:
        asha = await s.scalar(select(Member.id).where(Member.external_id == "asha"))
        assert asha not in {p.mentee_id for p in await s.scalars(select(Pairing))}
        [round_] = await s.scalars(select(PairingRound))
        assert asha not in {u["member_id"] for u in round_.unmatched}
    assert "petra" in await _waiting(app, service)


async def test_a_check_in_that_fails_is_sent_again_and_a_mentor_of_two_is_asked_of_each(app):
    sender = FlakyDMs()
    adapter = console(app)
    app.core.senders["console"] = sender
    for user, line in [
        ("petra", "join mentor teach: postgres query tuning, kubernetes tz: Europe/Berlin capacity: 2"),
        ("asha", "join mentee learn: postgres performance tz: Europe/London"),
        ("omar", "join mentee learn: kubernetes deployments tz: Europe/Madrid"),
    ]:
        [out] = await adapter.say(user, f"/mentoring {line}", user_name=user.capitalize())
        assert "You're in" in out
    service = MentoringService(db=app.db, core=app.core, expertise=app.expertise)
    await service.tick(PERIOD.warn_at + timedelta(minutes=1))
    await service.tick(PERIOD.round_at + timedelta(minutes=1))
    assert len([a for a in sender.take() if isinstance(a, OpenGroup)]) == 2
    sender.left = {"asha": 1, "petra": 1}
    at = PERIOD.round_at + timedelta(days=7, minutes=5)
    await service.tick(at)
    first = sender.take()
    assert dms(first) == ["omar", "petra"] and dms(sender.failed) == ["asha", "petra"]
    await service.tick(at + RETRY_AFTER[0])
    again = sender.take()
    assert dms(again) == ["asha", "petra"]
    petra = [a.doc.plain() for a in first + again if a.user == "petra"]
    assert sorted("Asha" in t for t in petra) == [False, True] and all("Did you manage to meet?" in t for t in petra)
    for hours in (1, 8, 30):
        await service.tick(at + timedelta(hours=hours))
    assert sender.take() == []


async def test_a_warning_retried_after_rounds_were_switched_off_is_given_up(app):
    """A warning that failed was sent again after the admin switched rounds off: 'Heads up: the next mentoring round
    is Mon 30 Nov' of a round that never runs."""
    sender = FlakyDMs({"asha"}, fail=1)
    service = await enrolled(app, sender)
    await service.tick(PERIOD.warn_at + timedelta(minutes=1))
    sender.take()
    async with app.db.sessions.begin() as s:
        [community] = await s.scalars(select(Community))
        community.settings = {**(community.settings or {}), "mentoring": Cadence(enabled=False).as_settings()}
    await service.tick(PERIOD.warn_at + RETRY_AFTER[0] + timedelta(minutes=1))
    assert sender.take() == []
    [asha] = [n for n in await notices(app) if n.sent_at is None]
    assert asha.given_up_at is not None and asha.error == "mentoring rounds are off in this community"


async def test_a_mentor_of_two_whose_one_mentee_left_is_told_that_one_pair_is_off(app):
    """A mentor of two was told 'Your mentoring pair this round is off' when one of their two mentees left, as their
    other pair was introduced."""
    sender = FlakyDMs()
    adapter = console(app)
    app.core.senders["console"] = sender
    for user, line in [
        ("petra", "join mentor teach: postgres query tuning, kubernetes tz: Europe/Berlin capacity: 2"),
        ("asha", "join mentee learn: postgres performance tz: Europe/London"),
        ("omar", "join mentee learn: kubernetes deployments tz: Europe/Madrid"),
    ]:
        [out] = await adapter.say(user, f"/mentoring {line}", user_name=user.capitalize())
        assert "You're in" in out
    service = MentoringService(db=app.db, core=app.core, expertise=app.expertise)
    await service.tick(PERIOD.warn_at + timedelta(minutes=1))
    sender.fail_intros = True
    await service.tick(PERIOD.round_at + timedelta(minutes=1))
    sender.take()
    sender.fail_intros = False
    await adapter.say("asha", "/optout")
    await service.tick(PERIOD.round_at + RETRY_AFTER[0] + timedelta(minutes=1))
    sent = sender.take()
    assert [a.members for a in sent if isinstance(a, OpenGroup)] == [("petra", "omar")]
    [told] = [a for a in sent if isinstance(a, DirectMessage)]
    assert told.user == "petra" and told.doc.plain().startswith("One of your mentoring pairs this round"), told


async def test_a_warning_still_retried_when_its_round_is_closed_is_given_up(app, caplog):
    """Asha's warning failed once and was to be retried; the bot was away until after the next round was due, and
    its round closed as missed (or cancelled, rounds switched off). The retry then went out all the same: "Heads up:
    the next mentoring round is Mon 30 Nov", a round past and never to run. It is given up; she is warned of the
    next round only."""
    sender = FlakyDMs({"asha"}, fail=1)
    service = await enrolled(app, sender)
    await service.tick(PERIOD.warn_at + timedelta(minutes=1))
    assert dms(sender.failed) == ["asha"]
    sender.take()
    caplog.set_level(logging.INFO, logger="bot.services.mentoring_notices")
    following = Cadence().period(PERIOD.index + 1)
    await service.tick(following.round_at + timedelta(hours=2))
    asha = [a.doc.plain() for a in sender.take() if isinstance(a, DirectMessage) and a.user == "asha"]
    assert len(asha) == 1 and "Heads up" in asha[0] and "Mon 30 Nov" not in asha[0], asha
    assert "the round will not run" in caplog.text
