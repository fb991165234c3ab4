"""Mentoring on SQLite and PostgreSQL: enrolment commands, a round's warning, pairs, intros, the
unmatched told why, check-ins and their answers; exactly once across ticks and replicas. The clock
is passed in; actions go to a recording sender where a platform adapter would be."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from adapters.console import ConsoleAdapter
from bot import events as ev
from bot.actions import Action, DirectMessage, OpenGroup
from bot.db.mentoring import MentoringEnrolment, Pairing, PairingRound
from bot.db.models import Community, Member
from bot.services.mentoring import MentoringService
from bot.services.mentoring_cadence import Cadence

COMMUNITY = "T1"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[Action] = []

    async def send(self, action: Action) -> None:
        self.sent.append(action)

    def take(self) -> list[Action]:
        out, self.sent = self.sent, []
        return out


def console(app) -> ConsoleAdapter:
    return ConsoleAdapter(app.core.handle, community=COMMUNITY, clock=lambda: NOW)


async def say(adapter: ConsoleAdapter, user: str, line: str) -> str:
    [out] = await adapter.say(user, line, user_name=user.capitalize())
    return out


async def enrol_group(adapter: ConsoleAdapter) -> None:
    for user, line in [
        ("petra", "join mentor teach: postgres query tuning, indexes tz: Europe/Berlin capacity: 2"),
        ("kenji", "join mentor teach: kubernetes, helm charts tz: Europe/Paris"),
        ("asha", "join mentee learn: postgres performance tz: Europe/London"),
        ("omar", "join mentee learn: kubernetes deployments tz: Europe/Madrid"),
        ("lena", "join mentee learn: watercolour painting tz: Europe/Vienna"),
    ]:
        assert "You're in" in await say(adapter, user, f"/mentoring {line}")


async def test_enrolment_commands(app):
    adapter = console(app)
    out = await say(
        adapter, "petra", "/mentoring join mentor teach: postgres, query plans tz: europe/berlin capacity: 2"
    )
    assert "You're in the mentoring rounds as mentor" in out and "postgres, query plans" in out
    assert "Europe/Berlin" in out

    out = await say(adapter, "asha", "/mentoring join mentee learn: postgres tz: Europe/Berln")
    assert out.startswith("Not enrolled: unknown time zone 'Europe/Berln' (did you mean Europe/Berlin?)")
    assert "Not enrolled" in await say(
        adapter, "asha", "/mentoring join mentee tz: Europe/Berlin"
    )  # no topics
    assert "mentor, mentee or both" in await say(adapter, "asha", "/mentoring join teacher learn: x tz: UTC")
    assert "capacity" in await say(adapter, "asha", "/mentoring join mentor teach: x tz: UTC capacity: lots")
    assert "time zone" in await say(adapter, "asha", "/mentoring join mentee learn: postgres")
    async with app.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(MentoringEnrolment)) == 1

    # joining again changes only what is given
    out = await say(adapter, "petra", "/mentoring join both learn: rust")
    assert "as both" in out and "postgres, query plans" in out and "rust" in out

    out = await say(adapter, "petra", "/mentoring status")
    assert "Mentoring: both." in out and "Europe/Berlin" in out and "every 2 weeks" in out
    assert "sit out the next round (Mon 30 Nov, 11:00 Europe/Berlin)" in await say(
        adapter, "petra", "/mentoring skip"
    )
    assert "skipping the next round" in await say(adapter, "petra", "/mentoring status")
    assert "Paused" in await say(adapter, "petra", "/mentoring pause")
    assert "(paused)" in await say(adapter, "petra", "/mentoring status")
    assert "Welcome back" in await say(adapter, "petra", "/mentoring resume")
    assert "left" in await say(adapter, "petra", "/mentoring leave")
    assert "not in the mentoring rounds" in await say(adapter, "petra", "/mentoring status")
    assert "/mentoring join" in await say(adapter, "petra", "/mentoring")
    assert "don't know" in await say(adapter, "petra", "/mentoring frobnicate")

    await say(adapter, "olga", "/optout")
    assert "`/optin` first" in await say(adapter, "olga", "/mentoring join mentee learn: x tz: UTC")
    for name, args in (("optout", ""), ("mentoring", "join mentee learn: x tz: UTC")):
        slack = await app.core.handle(ev.CommandInvoked(community="TSLACK", platform="slack", user="olga",
                                                        channel="C1", name=name, args=args))
    assert "`/connective optin` first" in slack[0].doc.plain()  # as Slack has it


async def test_an_enrolled_member_who_opts_out_is_told_they_are_in_no_round(app):
    """Opted out, a member was left out of rounds in silence: status still showed the next round, /mentoring skip said
    "you'll sit out the next round", and a refused update said "Not enrolled" of an enrolment kept (walk-through).
    An enrolment kept from before opting out deleted it (below) is told so."""
    adapter = console(app)
    assert "You're in" in await say(adapter, "fatima", "/mentoring join mentor teach: mlops tz: Europe/Berlin")
    out = await say(adapter, "fatima", "/mentoring join mentor capacity: 0")
    assert out.startswith("Not changed: "), out
    async with app.db.sessions.begin() as s:  # opted out before /optout deleted the enrolment
        fatima = await s.scalar(select(Member).where(Member.external_id == "fatima"))
        fatima.profiling_consent = False
    assert "opted out of profiling: no pairs until you `/optin`" in await say(adapter, "fatima", "/mentoring status")
    for verb in ("skip", "resume"):
        out = await say(adapter, "fatima", f"/mentoring {verb}")
        assert out.startswith("You're opted out of profiling, so you're in no mentoring round"), out
    await say(adapter, "fatima", "/optin")
    assert "opted out" not in await say(adapter, "fatima", "/mentoring status")


async def test_opting_out_deletes_the_mentoring_enrolment(app):
    """/optout kept the enrolment (the topics a member can teach and wants to learn, their time zone): it removes
    their skills, and the enrolment says the same of them; it only kept them out of rounds, and /optin put them back
    in without asking. Opting out removes it, as its answer says; past pairs stay (the other member's history)."""
    adapter = console(app)
    assert "You're in" in await say(adapter, "fatima", "/mentoring join mentor teach: mlops tz: Europe/Berlin")
    out = await say(adapter, "fatima", "/optout")
    assert "your mentoring enrolment" in out
    async with app.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(MentoringEnrolment)) == 0
    assert "not enrolled" in await say(adapter, "fatima", "/me")
    await say(adapter, "fatima", "/optin")
    assert "You're not in the mentoring rounds" in await say(adapter, "fatima", "/mentoring status")
    # Forgotten, there is no enrolment to keep: never told there is (review).
    await say(adapter, "fatima", "/forget-me")
    assert "not in the mentoring rounds" in await say(adapter, "fatima", "/mentoring skip")


async def _paired(app, joins: list[tuple[str, str]]):  # noqa: ANN001, ANN202
    """Members joined (user, `/mentoring` arguments), warned of the next round and paired in it: the console adapter,
    what was sent, the service and the round's period."""
    adapter = console(app)
    sender = RecordingSender()
    app.core.senders["console"] = sender
    for user, line in joins:
        assert "You're in" in await say(adapter, user, f"/mentoring {line}")
    period = Cadence().next_round(NOW)
    service = MentoringService(db=app.db, core=app.core, expertise=app.expertise)
    await service.tick(period.warn_at + timedelta(minutes=1))
    await service.tick(period.round_at + timedelta(minutes=1))
    return adapter, sender, service, period


async def test_a_pairs_introduction_shows_members_words_and_never_links_or_pings_with_them(app):
    """Topics and names are the members' own words: a [masked](link) in a topic was a live link in the pair's
    Discord group, and <!channel> in it a ping in Slack's."""
    _, sender, _, _ = await _paired(app, [
        ("petra", "join mentor teach: postgres [tuning](https://evil.example/a) <!channel> tz: Europe/Berlin"),
        ("asha", "join mentee learn: postgres [tuning](https://evil.example/a) @everyone tz: Europe/London"),
    ])
    [group] = [a for a in sender.take() if isinstance(a, OpenGroup)]
    text = group.doc.plain()
    assert "postgres [tuning]" in text and "Conversation starters" in text
    assert "](https://evil" not in text and "<!channel>" not in text and "@everyone" not in text


async def test_a_pasted_topics_control_characters_are_not_stored_nor_shown(app):
    """A topic pasted with a NUL, a terminal colour (ESC [31m), a zero-width space or a right-to-left override kept
    them: stored, they reached `pairs plan` (the escape recoloured the admin's terminal) and the pair's introduction
    (the override turns the words after it around), and "post\u200bgres" was a topic of its own. They go where topics
    are stored, whichever way they come (the command, `pairs load`'s records, the form); a ping still pings nobody."""
    from bot.cli_pairs import format_plan
    from bot.services.mentoring_args import request_from_record

    adapter = console(app)
    sender = RecordingSender()
    app.core.senders["console"] = sender
    for user, line in (
        ("petra", "join mentor teach: \x1b[31mpost\u200bgres\x1b[0m tuning, \u202e@channel macros\x00 "
                  "tz: Europe/Berlin"),
        ("asha", "join mentee learn: postgres   tuning\t, @channel macros tz: Europe/London"),
    ):
        assert "You're in" in await say(adapter, user, f"/mentoring {line}")
    async with app.db.sessions() as session:
        enrolments = {e.role: e for e in await session.scalars(select(MentoringEnrolment))}
        community_id = await session.scalar(select(Community.id).where(Community.external_id == COMMUNITY))
    assert enrolments["mentor"].can_teach == ["postgres tuning", "@channel macros"]
    assert enrolments["mentee"].wants_to_learn == ["postgres tuning", "@channel macros"]
    service = MentoringService(db=app.db, core=app.core, expertise=app.expertise)
    plan = format_plan(await service.plan(community_id, seed=1, now=NOW))
    assert "postgres tuning" in plan and all(line.isprintable() for line in plan.splitlines()), plan
    period = Cadence().next_round(NOW)
    await service.tick(period.warn_at + timedelta(minutes=1))
    await service.tick(period.round_at + timedelta(minutes=1))
    [group] = [a for a in sender.take() if isinstance(a, OpenGroup)]
    text = group.doc.plain()
    assert "postgres tuning" in text and "@\u200bchannel macros" in text, text
    assert not any(c in text for c in ("\x1b", "\x00", "\u202e", "[31m", "@channel")), text
    record = request_from_record({"role": "mentee", "wants_to_learn": ["rust\u2066 ma\x7fcros", "\x9b1mnix\r\nos"]})
    assert record.wants_to_learn == ("rust macros", "nix", "os")


async def test_a_time_zone_given_as_an_abbreviation_or_offset_is_answered_with_the_form_to_give(app):
    """"tz: EST" enrolled a New York member at UTC-5 all year (an hour off all summer, in overlaps and the round's
    time told them), "tz: UTC+2" answered "did you mean UTC?". Both get one line naming the form; an enrolment stored
    with EST before still takes part in rounds."""
    adapter = console(app)
    out = await say(adapter, "petra", "/mentoring join mentor teach: rust tz: EST")
    assert "'EST' is an abbreviation" in out and "America/New_York" in out and "You're in" not in out, out
    out = await say(adapter, "petra", "/mentoring join mentor teach: rust tz: UTC+2")
    assert "'UTC+2' is an offset" in out and "Etc/GMT-2" in out and "did you mean" not in out, out
    assert "You're in" in await say(adapter, "petra", "/mentoring join mentor teach: rust tz: europe/berlin")
    assert "You're in" in await say(adapter, "asha", "/mentoring join mentee learn: rust tz: America/New_York")
    async with app.db.sessions.begin() as session:
        for e in await session.scalars(select(MentoringEnrolment)):
            e.timezone = "EST"  # as taken before
        community_id = await session.scalar(select(Community.id).where(Community.external_id == COMMUNITY))
    planned = await MentoringService(db=app.db, core=app.core, expertise=app.expertise).plan(community_id, seed=1,
                                                                                             now=NOW)
    assert len(planned.plan.pairs) == 1 and not planned.plan.unmatched, planned.plan
    # A schedule stored with EST before keeps running (read as stored: "a schedule stored wrong keeps rounds off")
    assert Cadence.from_settings({"mentoring": {"timezone": "est", "hour": 9}}).timezone == "EST"


async def test_a_round_warns_pairs_introduces_and_checks_in_exactly_once(app):
    adapter = console(app)
    sender = RecordingSender()
    app.core.senders["console"] = sender
    await enrol_group(adapter)
    service = MentoringService(db=app.db, core=app.core, expertise=app.expertise)
    replica = MentoringService(db=app.db, core=app.core, expertise=app.expertise)
    period = Cadence().next_round(NOW)

    await service.tick(period.warn_at - timedelta(minutes=5))
    assert sender.take() == []  # too early for anything

    await service.tick(period.warn_at + timedelta(minutes=1))
    warnings = sender.take()
    assert {a.user for a in warnings} == {"petra", "kenji", "asha", "omar", "lena"}
    assert all(isinstance(a, DirectMessage) and "Skip this round" in a.doc.plain() for a in warnings)
    await replica.tick(period.warn_at + timedelta(minutes=6))
    assert sender.take() == []  # warned once

    # Lena skips with the warning's button; the round at its time pairs the others.
    [out] = await adapter.say("lena", "/click mentoring.skip " + period.key)
    assert "sit out" in out
    await service.tick(period.round_at + timedelta(minutes=2))
    sent = sender.take()
    await replica.tick(period.round_at + timedelta(minutes=3))
    await service.tick(period.round_at + timedelta(minutes=7))
    assert sender.take() == []  # one round per period, whoever ticks

    intros = [a for a in sent if isinstance(a, OpenGroup)]
    assert sorted(a.members for a in intros) == [("kenji", "omar"), ("petra", "asha")]
    petra_asha = next(a for a in intros if a.members == ("petra", "asha"))
    text = petra_asha.doc.plain()
    assert "Petra (mentor) and Asha (mentee)" in text and "Conversation starters" in text
    assert "postgres performance" in text and "postgres query tuning" in text
    assert not [a for a in sent if isinstance(a, DirectMessage)]  # nobody left out; Lena skipped

    async with app.db.sessions() as s:
        [row] = list(await s.scalars(select(PairingRound)))
        assert row.ran_at is not None and row.seed is not None and row.period_key == period.key
        assert await s.scalar(select(func.count()).select_from(Pairing)) == 2
        lena = await s.scalar(
            select(MentoringEnrolment)
            .join(Member, Member.id == MentoringEnrolment.member_id)
            .where(Member.external_id == "lena")
        )
        assert lena.skip_next is False  # back in for the next round
    assert "your mentor is Petra" in await say(adapter, "asha", "/mentoring status")

    # A week later: check-ins to both sides, once; answers stored and counted.
    await service.tick(period.round_at + timedelta(days=7, minutes=5))
    checkins = sender.take()
    assert sorted(a.user for a in checkins) == ["asha", "kenji", "omar", "petra"]
    assert all(
        "Did you manage to meet?" in a.doc.plain() and "Yes, we met" in a.doc.plain() for a in checkins
    )
    await replica.tick(period.round_at + timedelta(days=7, minutes=10))
    assert sender.take() == []
    pairing_of = {a.user: a.doc.sections[0].buttons[0].value for a in checkins}
    assert pairing_of["asha"] == pairing_of["petra"] != pairing_of["omar"]
    [out] = await adapter.say("asha", f"/click mentoring.met {pairing_of['asha']}")
    assert "thanks" in out.lower()
    await adapter.say("petra", f"/click mentoring.met {pairing_of['petra']}")
    await adapter.say("omar", f"/click mentoring.notmet {pairing_of['omar']}")
    [out] = await adapter.say("lena", f"/click mentoring.met {pairing_of['asha']}")
    assert "isn't yours" in out

    stats = await service.stats(await _community_id(app))
    [r] = stats.rounds
    assert (r.pairs, r.checkins, r.answered, r.met, r.not_met) == (2, 2, 2, 1, 1)
    assert stats.enrolled == {"mentor": 2, "mentee": 3}
    assert {(p["mentor"], p["mentee_met"]) for p in stats.latest_pairs} == {("Petra", True), ("Kenji", False)}

    # The next round does not repeat last round's pairs: with one mentor per topic, nobody is paired,
    # and each is told why.
    following = Cadence().period(period.index + 1)
    await service.tick(following.warn_at + timedelta(minutes=1))
    sender.take()
    await service.tick(following.round_at + timedelta(minutes=1))
    sent = sender.take()
    told = {a.user: a.doc.plain() for a in sent if isinstance(a, DirectMessage)}
    assert not [a for a in sent if isinstance(a, OpenGroup)]
    assert "recently paired with every mentor who would fit" in told["asha"]
    assert "no mentor teaches something close enough" in told["lena"]
    assert "recently paired with every mentee" in told["petra"]


async def test_a_late_warning_delays_the_round_and_nobody_enrolled_is_quiet(app):
    sender = RecordingSender()
    app.core.senders["console"] = sender
    service = MentoringService(db=app.db, core=app.core, expertise=app.expertise)
    period = Cadence().next_round(NOW)
    await service.tick(period.round_at + timedelta(hours=1))  # a community without enrolments
    assert sender.take() == []

    adapter = console(app)
    await enrol_group(adapter)
    # The bot was down during the warning window: it warns now and pairs a full warning period later.
    late = period.round_at + timedelta(hours=2)
    await service.tick(late)
    warnings = sender.take()
    assert len(warnings) == 5 and all(isinstance(a, DirectMessage) for a in warnings)
    await service.tick(late + timedelta(hours=23))
    assert sender.take() == []
    await service.tick(late + timedelta(hours=24, minutes=1))
    assert len([a for a in sender.take() if isinstance(a, OpenGroup)]) == 2


async def test_members_who_join_after_a_round_fell_due_are_not_warned_of_it(app):
    """Members who joined a day after a round fell due (nobody was in it) were told "Next round: <the one after>",
    then warned minutes later of that past round, run late as if the bot had been down, and of the next one too
    (Slack walk-through: joined Monday 08:50, told "Mon 14 Dec", warned of a round that day)."""
    sender = RecordingSender()
    app.core.senders["console"] = sender
    service = MentoringService(db=app.db, core=app.core, expertise=app.expertise)
    missed = Cadence().next_round(NOW)
    joined_at = missed.round_at + timedelta(days=1)
    adapter = ConsoleAdapter(app.core.handle, community=COMMUNITY, clock=lambda: joined_at)
    out = await say(adapter, "petra", "/mentoring join mentor teach: postgres tz: Europe/Berlin")
    await say(adapter, "asha", "/mentoring join mentee learn: postgres performance tz: Europe/London")
    following = Cadence().period(missed.index + 1)
    assert following.round_at.strftime("%d %b") in out, out
    await service.tick(joined_at + timedelta(minutes=5))
    await service.tick(joined_at + timedelta(hours=25))
    assert sender.take() == []
    await service.tick(following.warn_at + timedelta(minutes=1))  # the round they were told of
    assert {a.user for a in sender.take()} == {"petra", "asha"}


async def test_plan_is_a_dry_run_and_replays_with_its_seed(app):
    adapter = console(app)
    await enrol_group(adapter)
    service = MentoringService(db=app.db, core=app.core, expertise=app.expertise)
    cid = await _community_id(app)
    first = await service.plan(cid, now=NOW, seed=42)
    again = await service.plan(cid, now=NOW, seed=42)
    assert first.seed == 42 and first.plan == again.plan
    assert {(p.mentor, p.mentee) for p in first.plan.pairs} == {("petra", "asha"), ("kenji", "omar")}
    assert {u.key: u.reason for u in first.plan.unmatched} == {"lena": "topics"}
    async with app.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(PairingRound)) == 0

    async with app.db.sessions.begin() as s:  # a later export says Kenji's account was closed
        kenji = await s.scalar(select(Member).where(Member.external_id == "kenji"))
        kenji.deactivated = True
    later = await service.plan(cid, now=NOW, seed=42)
    assert "kenji" not in {p.mentor for p in later.plan.pairs} | {u.key for u in later.plan.unmatched}


async def _community_id(app) -> int:
    from bot.db.models import Community

    async with app.db.sessions() as s:
        return await s.scalar(select(Community.id).where(Community.external_id == COMMUNITY))


async def test_forget_me_takes_the_member_off_the_rounds_that_left_them_unmatched(app):
    """A round keeps whom it left unmatched and why (pairing_round.unmatched: member id, reason): /forget-me
    deleted the member's enrolment and pairs and left them there, with why nobody fit them (forget-me audit). The
    round still counts them (its stats), as nobody."""
    adapter = console(app)
    app.core.senders["console"] = RecordingSender()
    await enrol_group(adapter)
    service = MentoringService(db=app.db, core=app.core, expertise=app.expertise)
    cid = await _community_id(app)
    await service.run_round(cid, Cadence().next_round(NOW), NOW)
    async with app.db.sessions() as s:
        lena = await s.scalar(select(Member.id).where(Member.external_id == "lena"))
        [unmatched] = await s.scalars(select(PairingRound.unmatched))
    assert lena in {u["member_id"] for u in unmatched}
    await adapter.say("lena", "/forget-me")
    async with app.db.sessions() as s:
        [after] = await s.scalars(select(PairingRound.unmatched))
    assert len(after) == len(unmatched) and lena not in {u["member_id"] for u in after}, after


async def test_a_warnings_skip_button_clicked_after_its_round_ran_does_not_skip_the_next_round(app):
    """The Skip button of a round's warning stays in the member's DMs: clicked after that round had run, it said
    "you'll sit out this round" and took the member out of the next one, which they had never been warned about."""
    adapter = console(app)
    app.core.senders["console"] = RecordingSender()
    await enrol_group(adapter)
    service = MentoringService(db=app.db, core=app.core, expertise=app.expertise)
    period = Cadence().next_round(NOW)
    await service.tick(period.warn_at + timedelta(minutes=1))
    await service.tick(period.round_at + timedelta(minutes=1))
    [out] = await adapter.say("asha", "/click mentoring.skip " + period.key)
    assert "already ran" in out and "/mentoring skip" in out, out
    async with app.db.sessions() as s:
        assert not any(await s.scalars(select(MentoringEnrolment.skip_next)))
    # Before its round runs, the button still skips it.
    following = Cadence().period(period.index + 1)
    await service.tick(following.warn_at + timedelta(minutes=1))
    [out] = await adapter.say("asha", "/click mentoring.skip " + following.key)
    assert "sit out this round" in out


async def test_a_process_that_does_not_run_the_communitys_platform_leaves_its_rounds_alone(app):
    """One process per platform on a shared database (`run --platform slack` and `run --platform discord`): each
    ticked every community's rounds, so the Slack process could claim a Discord community's warning and round and
    deliver none of it ('no discord adapter running'): nobody warned, nobody told they were left out."""
    from bot.db.models import Community

    adapter = console(app)
    await enrol_group(adapter)
    slack_only = RecordingSender()
    app.core.senders.pop("console", None)
    app.core.senders["slack"] = slack_only
    service = MentoringService(db=app.db, core=app.core, expertise=app.expertise)
    period = Cadence().next_round(NOW)
    await service.tick(period.warn_at + timedelta(minutes=1))
    async with app.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(PairingRound)) == 0
        assert await s.scalar(select(Community.platform)) == "console"
    sender = RecordingSender()
    app.core.senders["console"] = sender  # the process that runs it
    await service.tick(period.warn_at + timedelta(minutes=6))
    assert len(sender.take()) == 5 and slack_only.take() == []


async def test_a_pairs_check_in_and_status_show_the_others_words_never_as_links(app):
    """The introduction breaks a [masked](link) in a topic apart; the check-in a week later (a DM to the mentor
    quoting the mentee's topics) and `/mentoring status` did not: a live link whose target nobody sees."""
    adapter, sender, service, period = await _paired(app, [
        ("petra", "join mentor teach: postgres tuning tz: Europe/Berlin"),
        ("asha", "join mentee learn: postgres [tuning](https://evil.example/a) tz: Europe/London"),
    ])
    await service.tick(period.round_at + timedelta(days=7, minutes=5))
    checkin = {a.user: a.doc.plain() for a in sender.take()
               if isinstance(a, DirectMessage) and "meet?" in a.doc.plain()}
    assert "postgres [tuning]" in checkin["petra"] and "](https://evil" not in checkin["petra"], checkin
    status = await say(adapter, "petra", "/mentoring status")
    assert "This round you mentor Asha" in status and "](https://evil" not in status, status


async def test_a_check_in_asks_only_those_still_here_and_keeps_no_answer_of_an_opted_out_member(app):
    """A week after the round each side was asked whether they met: also a member who had left the workspace since (a
    DM the platform refuses, logged with a traceback) and one who had opted out, whose answer was then stored,
    although after /optout nothing further is kept about them."""
    adapter = console(app)
    sender = RecordingSender()
    app.core.senders["console"] = sender
    await enrol_group(adapter)
    service = MentoringService(db=app.db, core=app.core, expertise=app.expertise)
    period = Cadence().next_round(NOW)
    await service.tick(period.warn_at + timedelta(minutes=1))
    await service.tick(period.round_at + timedelta(minutes=1))
    sender.take()
    await adapter.say("asha", "/optout")
    await app.core.handle(ev.MemberLeft(community=COMMUNITY, platform="console", user="omar"))
    await service.tick(period.round_at + timedelta(days=7, minutes=5))
    checkins = sender.take()
    assert sorted(a.user for a in checkins) == ["kenji", "petra"]
    pairing = checkins[0].doc.sections[0].buttons[0].value if checkins[0].user == "petra" else \
        checkins[1].doc.sections[0].buttons[0].value
    [out] = await adapter.say("asha", f"/click mentoring.met {pairing}")
    assert "opted out" in out
    async with app.db.sessions() as s:
        assert await s.scalar(select(Pairing.mentee_met).where(Pairing.id == int(pairing))) is None


async def test_a_mentee_left_out_of_a_round_is_paired_first_in_the_next(app):
    """Two mentors and three mentees of postgres: the one who fits a little less was left out of the first round and
    again of the second (the others, not repeating, swapped mentors), told each time 'the mentors who fit you were
    fully booked by mentees they fit better'."""
    adapter = console(app)
    sender = RecordingSender()
    app.core.senders["console"] = sender
    for user, line in [
        ("petra", "join mentor teach: postgres tz: Europe/Berlin"),
        ("kenji", "join mentor teach: postgres tz: Europe/Berlin"),
        ("asha", "join mentee learn: postgres tz: Europe/Berlin"),
        ("omar", "join mentee learn: postgres tz: Europe/Berlin"),
        ("lena", "join mentee learn: postgres replication tz: Europe/Berlin"),
    ]:
        assert "You're in" in await say(adapter, user, f"/mentoring {line}")
    service = MentoringService(db=app.db, core=app.core, expertise=app.expertise)
    period = Cadence().next_round(NOW)
    left_out = []
    for _ in range(2):
        await service.tick(period.warn_at + timedelta(minutes=1))
        await service.tick(period.round_at + timedelta(minutes=1))
        sent = sender.take()
        left_out.append({a.user for a in sent if isinstance(a, DirectMessage) and "No mentoring pair" in a.doc.plain()})
        period = Cadence().period(period.index + 1)
    assert left_out[0] == {"lena"} and "lena" not in left_out[1], left_out


async def test_a_check_in_says_when_the_pair_was_made(app):
    """The check-in said "A week ago I paired you" whatever the community's checkin_days (3 here), and also where the
    bot was down and asks late (mentoring audit)."""
    _, sender, service, period = await _paired(app, [
        ("petra", "join mentor teach: postgres tuning tz: Europe/Berlin"),
        ("asha", "join mentee learn: postgres tuning tz: Europe/London"),
    ])
    sender.take()
    async with app.db.sessions() as s:
        community_id = await s.scalar(select(Member.community_id).where(Member.external_id == "petra"))
    later = period.round_at + timedelta(days=3, hours=1)
    assert await service.checkins(community_id, later, Cadence(checkin_days=3)) == []  # stored, sent as notices
    await service.notices.send_due(community_id, later)
    checkins = sender.take()
    assert len(checkins) == 2
    assert all(a.doc.text.startswith("3 days ago I paired you with") for a in checkins), [a.doc.text for a in checkins]
    assert "A week ago" not in checkins[0].doc.text


async def test_stats_count_apart_the_enrolled_who_opted_out_or_left(app):
    """`pairs stats` counted a member who had opted out, or left the workspace, as enrolled (their role's count), though
    no round pairs them (mentoring audit): an admin read 2 mentors where one could be paired."""
    from sqlalchemy import update

    from bot.cli_pairs import format_stats

    adapter = console(app)
    await enrol_group(adapter)
    async with app.db.sessions.begin() as s:  # Kenji opted out before /optout deleted the enrolment
        await s.execute(update(Member).where(Member.external_id == "kenji").values(profiling_consent=False))
        await s.execute(update(Member).where(Member.external_id == "lena").values(deactivated=True))
    stats = await MentoringService(db=app.db, core=app.core, expertise=app.expertise).stats(await _community_id(app))
    assert stats.enrolled == {"mentor": 1, "mentee": 2} and stats.away == 2
    assert "enrolled: 2 mentee, 1 mentor; 0 paused, 0 skipping the next round; 2 away" in format_stats(stats)


async def test_the_introduction_gives_the_check_in_day_as_each_of_the_pair_reads_it(app):
    """The introduction, one message to both, gave the check-in in the mentee's time zone only: the mentor in Los
    Angeles read 'Tue 8 Dec', their Monday evening."""
    _, sender, _, _ = await _paired(app, [
        ("petra", "join mentor teach: postgres query tuning tz: America/Los_Angeles"),
        ("asha", "join mentee learn: postgres performance tz: Pacific/Kiritimati"),
    ])
    [group] = [a for a in sender.take() if isinstance(a, OpenGroup)]
    text = group.doc.plain()
    assert ("I'll check in on Mon 7 Dec, 02:01 America/Los_Angeles for Petra and Tue 8 Dec, 00:01 Pacific/Kiritimati "
            "for Asha.") in text, text


async def test_the_introduction_gives_one_check_in_time_where_the_pair_reads_it_alike(app):
    _, sender, _, _ = await _paired(app, [
        ("petra", "join mentor teach: postgres query tuning tz: Europe/Berlin"),
        ("asha", "join mentee learn: postgres performance tz: Europe/Paris"),
    ])
    [group] = [a for a in sender.take() if isinstance(a, OpenGroup)]
    assert "I'll check in on Mon 7 Dec, 11:01 Europe/Paris." in group.doc.plain()


async def _warned_at(app, at: datetime):  # noqa: ANN001, ANN202
    adapter = console(app)
    sender = RecordingSender()
    app.core.senders["console"] = sender
    await enrol_group(adapter)
    service = MentoringService(db=app.db, core=app.core, expertise=app.expertise)
    await service.tick(at)
    return sender, service


async def test_a_warning_a_tick_late_keeps_the_rounds_time(app):
    """Every warning came a tick after its time and moved the round by as much: 'the next round is Mon 30 Nov, 11:04
    Europe/Berlin' of a round set for 11:00, run at the first tick after 11:04."""
    period = Cadence().next_round(NOW)
    sender, service = await _warned_at(app, period.warn_at + timedelta(minutes=4))
    warning = next(a for a in sender.take() if a.user == "petra")
    assert "the next mentoring round is Mon 30 Nov, 11:00 Europe/Berlin" in warning.doc.plain()
    await service.tick(period.round_at + timedelta(minutes=1))
    assert len([a for a in sender.take() if isinstance(a, OpenGroup)]) == 2


async def test_a_warned_round_runs_when_members_were_told_whatever_the_schedule_says_since(app):
    """An admin changing the schedule after the warning moved the round away from the time members were told: to the
    new weekday (two days later, unannounced), or nowhere, where the new interval has no period of its week."""
    period = Cadence().next_round(NOW)
    sender, service = await _warned_at(app, period.warn_at + timedelta(minutes=1))
    sender.take()
    async with app.db.sessions.begin() as s:
        [community] = await s.scalars(select(Community))
        community.settings = {**(community.settings or {}),
                              "mentoring": Cadence(every_weeks=3, weekday=2).as_settings()}
    await service.tick(period.round_at + timedelta(minutes=1))
    assert len([a for a in sender.take() if isinstance(a, OpenGroup)]) == 2
    for days in (1, 2, 3):
        await service.tick(period.round_at + timedelta(days=days))
    assert not [a for a in sender.take() if isinstance(a, OpenGroup)]  # once


async def test_status_skip_and_join_name_the_round_a_late_warning_announced(app):
    """The bot was down when a round fell due: its warning came late and the round a warning period after it, while
    /mentoring status and join named the round after, and /mentoring skip said 'You'll sit out the next round (Mon 14
    Dec)' and took the member out of the one the next day."""
    period = Cadence().next_round(NOW)
    at = period.round_at + timedelta(hours=2)  # back up two hours after the round's time
    sender, service = await _warned_at(app, at)
    warning = next(a for a in sender.take() if a.user == "petra")
    assert "is Tue 1 Dec, 13:00 Europe/Berlin" in warning.doc.plain()
    adapter = ConsoleAdapter(app.core.handle, community=COMMUNITY, clock=lambda: at + timedelta(hours=1))
    assert "the next one is Tue 1 Dec, 13:00 Europe/Berlin" in await say(adapter, "petra", "/mentoring status")
    assert "(Tue 1 Dec, 12:00 Europe/London)" in await say(adapter, "asha", "/mentoring skip")
    out = await say(adapter, "zoe", "/mentoring join mentee learn: helm charts tz: Europe/Berlin")
    assert "Tue 1 Dec, 13:00 Europe/Berlin" in out, out
    await service.tick(at + timedelta(days=1, minutes=1))
    pairs = [a.members for a in sender.take() if isinstance(a, OpenGroup)]
    assert pairs and not [p for p in pairs if "asha" in p]  # the round ran the next day, and Asha sat it out


async def test_with_rounds_off_no_next_round_is_promised(app):
    """With rounds switched off by the admin (pairs schedule --off), /mentoring join said 'Next round: Mon 30 Nov …
    I'll warn you the day before', status named the next round and skip said 'You'll sit out the next round': none
    was coming."""
    adapter = console(app)
    assert "Next round: Mon 30 Nov" in await say(adapter, "petra", "/mentoring join mentor teach: postgres tz: UTC")
    async with app.db.sessions.begin() as s:
        [community] = await s.scalars(select(Community))
        community.settings = {**(community.settings or {}), "mentoring": Cadence(enabled=False).as_settings()}
    out = await say(adapter, "asha", "/mentoring join mentee learn: postgres tz: Europe/London")
    assert "You're in the mentoring rounds as mentee" in out and "rounds are off in this community" in out, out
    assert "Next round" not in out and "warn you" not in out
    out = await say(adapter, "petra", "/mentoring status")
    assert "rounds are off in this community" in out and "the next one is" not in out, out
    assert "no round to skip" in await say(adapter, "petra", "/mentoring skip")
    assert "skipping" not in await say(adapter, "petra", "/mentoring status")


async def test_a_check_in_answered_after_the_other_was_forgotten_says_the_pair_is_gone(app):
    """The check-in's button, clicked after the other member asked to be forgotten (their pairs deleted), answered
    'That check-in isn't yours' to the member it was sent to."""
    adapter, sender, service, period = await _paired(app, [
        ("petra", "join mentor teach: postgres tuning tz: Europe/Berlin"),
        ("asha", "join mentee learn: postgres tuning tz: Europe/London"),
    ])
    await service.tick(period.round_at + timedelta(days=7, minutes=5))
    [petra] = [a for a in sender.take() if isinstance(a, DirectMessage) and a.user == "petra"
               and "Did you manage to meet?" in a.doc.plain()]
    await say(adapter, "asha", "/forget-me")
    out = await say(adapter, "petra", f"/click mentoring.met {petra.doc.sections[0].buttons[0].value}")
    assert "no longer stored" in out and "isn't yours" not in out, out


async def test_a_failed_expertise_lookup_logs_its_kind_not_the_topic(app, caplog):
    """Pairing goes on without the expertise profile when the lookup fails; the log line named the wanted topic (a
    member's words) and carried a traceback, which may quote it again. It says the community, how many topics and
    the error's kind now (privacy audit)."""
    adapter = console(app)
    await enrol_group(adapter)

    class FailingExpertise:
        def __getattr__(self, name: str):  # noqa: ANN204
            return getattr(app.expertise, name)

        async def rank(self, community_id: int, topic: str, **kw):  # noqa: ANN003, ANN201
            raise RuntimeError(f"index unavailable while ranking {topic!r}")

    service = MentoringService(db=app.db, core=app.core, expertise=FailingExpertise())
    cid = await _community_id(app)
    planned = await service.plan(cid, now=NOW, seed=42)
    assert {(p.mentor, p.mentee) for p in planned.plan.pairs} == {("petra", "asha"), ("kenji", "omar")}
    lines = [r for r in caplog.records if "expertise" in r.getMessage()]
    assert [r.getMessage() for r in lines] == [
        f"mentoring: community {cid}, the expertise of 3 wanted topic(s) unavailable (RuntimeError); pairing goes "
        "on without it"]
    assert not any(r.exc_info for r in lines)


async def _rounds_switched(app, *, on: bool) -> None:  # noqa: ANN001
    """As `connective pairs schedule --off` / `--on` does it."""
    async with app.db.sessions.begin() as s:
        [community] = await s.scalars(select(Community))
        community.settings = {**(community.settings or {}),
                              "mentoring": Cadence.from_settings(community.settings, {"enabled": on}).as_settings()}


async def test_members_warned_of_a_round_switched_off_are_told_once_it_will_not_run(app):
    """The admin switched rounds off (pairs schedule --off) after the warning 'the next mentoring round is Mon 30 Nov,
    11:00': the round did not run, and nobody said so; the warned waited for a pair that never came. At its time, each
    warned member is told once that it will not run (Lena, who skipped it, is not, and her skip is spent); switched on
    again later, the round stays cancelled."""
    period = Cadence().next_round(NOW)
    sender, service = await _warned_at(app, period.warn_at + timedelta(minutes=1))
    assert {a.user for a in sender.take()} == {"petra", "kenji", "asha", "omar", "lena"}
    adapter = ConsoleAdapter(app.core.handle, community=COMMUNITY, clock=lambda: period.warn_at + timedelta(hours=1))
    assert "sit out" in await say(adapter, "lena", "/click mentoring.skip " + period.key)
    await _rounds_switched(app, on=False)
    await service.tick(period.round_at - timedelta(minutes=5))
    assert sender.take() == []  # not before the round's time: rounds may be switched on again
    await service.tick(period.round_at + timedelta(minutes=1))
    told = sender.take()
    assert sorted(a.user for a in told) == ["asha", "kenji", "omar", "petra"], told
    assert all(isinstance(a, DirectMessage) for a in told)
    assert "round of Mon 30 Nov, 11:00 Europe/Berlin I warned you about will not run" in told[0].doc.plain(), told
    await service.tick(period.round_at + timedelta(minutes=6))
    await _rounds_switched(app, on=True)
    await service.tick(period.round_at + timedelta(hours=2))
    assert sender.take() == []  # told once; the round stays cancelled
    async with app.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Pairing)) == 0
        assert not any(await s.scalars(select(MentoringEnrolment.skip_next)))
    # The cancelled round's warning still has its button: a click took Petra out of the next round instead.
    assert "nothing to skip" in await say(adapter, "petra", "/click mentoring.skip " + period.key)
    async with app.db.sessions() as s:
        assert not any(await s.scalars(select(MentoringEnrolment.skip_next)))


async def test_rounds_switched_off_and_on_again_before_the_round_keep_it_and_tell_nobody_it_was_cancelled(app):
    period = Cadence().next_round(NOW)
    sender, service = await _warned_at(app, period.warn_at + timedelta(minutes=1))
    sender.take()
    await _rounds_switched(app, on=False)
    await service.tick(period.warn_at + timedelta(hours=1))
    await _rounds_switched(app, on=True)
    await service.tick(period.round_at + timedelta(minutes=1))
    sent = sender.take()
    assert len([a for a in sent if isinstance(a, OpenGroup)]) == 2, sent
    assert not [a for a in sent if "will not run" in a.doc.plain()], sent


async def test_a_warned_round_the_bot_was_away_for_until_the_next_was_due_is_closed_and_the_warned_told(app):
    """Warned of the round of Mon 30 Nov, then the bot was away (down, or out of the Discord server) until after the
    next round of the schedule was due: the warned round never ran and nobody was told; it stayed warned for good,
    and `pairs stats` did not show it. Now it is closed as missed: each warned member (not Lena, who skipped it) is
    told once, with the next round's time; Lena's skip is spent (she is warned of the next one); `pairs stats` and
    the old warning's button say it did not run."""
    from bot.cli_pairs import format_stats

    period = Cadence().next_round(NOW)
    sender, service = await _warned_at(app, period.warn_at + timedelta(minutes=1))
    assert {a.user for a in sender.take()} == {"petra", "kenji", "asha", "omar", "lena"}
    adapter = ConsoleAdapter(app.core.handle, community=COMMUNITY, clock=lambda: period.warn_at + timedelta(hours=1))
    assert "sit out" in await say(adapter, "lena", "/click mentoring.skip " + period.key)
    following = Cadence().period(period.index + 1)
    away = format_stats(await service.stats(await _community_id(app)), now=period.round_at + timedelta(hours=1))
    assert (f"round {period.key} warned for Mon 30 Nov 2026 10:00 UTC, not run yet: overdue, the bot is not serving "
            "this community") in away, away
    back = following.round_at + timedelta(hours=2)  # the bot is back two hours after the next round was due
    await service.tick(back)
    replica = MentoringService(db=app.db, core=app.core, expertise=app.expertise)
    await replica.tick(back + timedelta(minutes=5))
    sent = sender.take()
    missed = {a.user: a.doc.plain() for a in sent if "did not run" in a.doc.plain()}
    assert sorted(missed) == ["asha", "kenji", "omar", "petra"], sent
    assert ("round of Mon 30 Nov, 11:00 Europe/Berlin I warned you about did not run" in missed["petra"]
            and "The next round is Tue 15 Dec, 13:00 Europe/Berlin" in missed["petra"]), missed["petra"]
    warned = [a.user for a in sent if "Heads up" in a.doc.plain()]
    assert sorted(warned) == ["asha", "kenji", "lena", "omar", "petra"], sent  # of the next round, Lena too
    assert not [a for a in sent if isinstance(a, OpenGroup)]  # the missed round is not run on top of the next one

    stats = format_stats(await service.stats(await _community_id(app)), now=back)
    assert (f"round {period.key} did not run (Mon 30 Nov 2026 10:00 UTC): the bot was away from its time until the "
            "next round was due; 4 warned member(s) told") in stats, stats
    assert f"round {following.key} warned for Tue 15 Dec 2026 12:00 UTC, not run yet\n" in stats + "\n", stats
    out = await say(adapter, "asha", "/click mentoring.skip " + period.key)
    assert "did not run" in out and "nothing to skip" in out, out

    await service.tick(back + timedelta(days=1, minutes=1))
    assert len([a for a in sender.take() if isinstance(a, OpenGroup)]) == 2  # the next round, once
    async with app.db.sessions() as s:
        rounds = {r.period_key: r for r in await s.scalars(select(PairingRound))}
    assert rounds[period.key].ran_at is None and rounds[period.key].cancel_reason == "missed"
    assert rounds[following.key].ran_at is not None


async def test_skip_while_paused_says_the_member_is_in_no_round(app):
    """`/mentoring skip` of a paused member (or a warning's Skip button) answered "You'll sit out the next round (…);
    you're back in the one after", and set a skip: they were in no round, and would not be back after it (console
    walk-through)."""
    adapter = console(app)
    assert "You're in" in await say(adapter, "petra", "/mentoring join mentor teach: postgres tz: Europe/Berlin")
    await say(adapter, "petra", "/mentoring pause")
    out = await say(adapter, "petra", "/mentoring skip")
    assert out == "You're paused, so you're in no round to skip; `/mentoring resume` when you want pairs again.", out
    assert "(paused)" in await say(adapter, "petra", "/mentoring status")
    # The Skip button of a warning that came before the pause, the same.
    async with app.db.sessions.begin() as s:
        s.add(PairingRound(community_id=await _community_id(app), period_key="2026-W49", scheduled_for=NOW,
                           warned_at=NOW, solver="", unmatched=[], created_at=NOW))
    assert await say(adapter, "petra", "/click mentoring.skip 2026-W49") == out
    async with app.db.sessions() as s:
        assert not any(await s.scalars(select(MentoringEnrolment.skip_next)))


async def test_joining_again_while_skipping_says_the_next_round_is_sat_out(app):
    """A member skipping the next round who joined again (more capacity, other topics) was told "Next round: Mon 30 Nov
    … I'll warn you the day before, so you can `/mentoring skip`", while their skip was kept (console walk-through)."""
    adapter = console(app)
    assert "You're in" in await say(adapter, "petra", "/mentoring join mentor teach: postgres tz: Europe/Berlin")
    await say(adapter, "petra", "/mentoring skip")
    out = await say(adapter, "petra", "/mentoring join mentor capacity: 3")
    assert ("Next round: Mon 30 Nov, 11:00 Europe/Berlin, which you sit out as you asked (`/mentoring resume` takes "
            "you back in).") in out, out
    assert "I'll warn you" not in out
    assert "skipping the next round" in await say(adapter, "petra", "/mentoring status")


async def test_a_skip_button_naming_no_warned_round_skips_nothing(app):
    """A Skip button whose value names no round the bot warned of (a forged click, a round not warned yet) answered
    "Done: you'll sit out this round" and took the member out of the next round, which nobody had warned them of."""
    adapter = console(app)
    assert "You're in" in await say(adapter, "petra", "/mentoring join mentor teach: postgres tz: Europe/Berlin")
    for value in ("2099-W01", Cadence().next_round(NOW).key):
        out = await say(adapter, "petra", f"/click mentoring.skip {value}")
        assert out.startswith("That button names no round I warned of, so nothing was skipped"), out
    async with app.db.sessions() as s:
        assert not any(await s.scalars(select(MentoringEnrolment.skip_next)))


async def test_a_topic_with_a_broadcast_in_it_reads_whole_in_the_pairs_messages_and_pings_nobody(app):
    """"@channel macros" typed in Slack's `/connective mentoring join` arrives as `<!channel> macros`: the enrolment
    and `/skills` showed it as "@channel macros" (neutralised), the pair's introduction, status and check-in as
    "macros", and a topic "@here" as nothing at all ("your mentor is Petra ()")."""
    adapter, sender, service, period = await _paired(app, [
        ("petra", "join mentor teach: <!channel> macros, <!here> tz: Europe/Berlin"),
        ("asha", "join mentee learn: <!channel> macros, <!here|here> tz: Europe/London"),
    ])
    [group] = [a for a in sender.take() if isinstance(a, OpenGroup)]
    assert "@\u200bchannel macros" in group.doc.plain(), group.doc.plain()
    status = await say(adapter, "asha", "/mentoring status")
    assert "your mentor is Petra (@\u200bchannel macros, @\u200bhere)" in status, status
    await service.tick(period.round_at + timedelta(days=7, minutes=5))
    checkin = next(a for a in sender.take() if a.user == "asha").doc.plain()
    assert "@\u200bchannel macros, @\u200bhere" in checkin, checkin
    for text in (group.doc.plain(), status, checkin):
        assert "<!" not in text and "@channel" not in text and "@here" not in text


async def test_a_warned_round_missed_past_the_next_ones_catch_up_names_the_round_after(app):
    """Back after the next round's catch-up too (the first half of its period): the missed round's notice names the
    round after, the one the schedule runs next, and no other round is warned or run late."""
    period = Cadence().next_round(NOW)
    sender, service = await _warned_at(app, period.warn_at + timedelta(minutes=1))
    sender.take()
    following = Cadence().period(period.index + 1)
    await service.tick(following.catch_up_until + timedelta(hours=1))
    sent = sender.take()
    assert sorted(a.user for a in sent) == ["asha", "kenji", "lena", "omar", "petra"], sent
    assert all("did not run" in a.doc.plain() and "The next round is Mon 28 Dec, 11:00 Europe/Berlin" in a.doc.plain()
               for a in sent if a.user == "petra"), sent
    assert not [a for a in sent if "Heads up" in a.doc.plain() or isinstance(a, OpenGroup)]
