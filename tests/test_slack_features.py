"""Digests, /save, mentoring and admin settings over Slack: the real bolt AsyncApp (HTTP mode) against the fake
Slack Web API. Assertions are on the Web API calls the fake received and on what was stored."""
from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from adapters.slack.translate import Workspace as SlackWorkspace
from adapters.slack.translate import translate_command
from bot.db.mentoring import MentoringEnrolment
from bot.db.models import Channel, Community, Member, Message
from bot.db.resources import Digest
from bot.services.mentoring import MentoringService
from bot.services.mentoring_cadence import Cadence
from tests import test_slack_app
from tests.exports import TEAM
from tests.fake_platform import run_killed_while_posting
from tests.test_slack_app import buttons, fresh, text_of

slack = test_slack_app.slack  # the fixture: the real AsyncApp in HTTP mode against the fake Slack

NOW = datetime(2023, 11, 16, 12, tzinfo=UTC)  # a Thursday, two days after the exported history
LINK = "https://use-the-index-luke.com/sql/where-clause"
SAVED = "https://www.postgresql.org/docs/current/using-explain.html"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def at(clock: Clock, s) -> Clock:  # noqa: ANN001
    """The digest's clock; commands are stamped an hour earlier (inside the period being previewed)."""
    s.adapter.clock = lambda: clock() - timedelta(hours=1)
    s.app.digests.clock = clock
    return clock


async def share_and_save(s) -> dict:  # noqa: ANN001
    """Petra shares a link in #general (a live event) and Bruno thanks her with a reaction; Asha saves
    another link with `/save`. Returns Petra's message."""
    ts = f"{(NOW - timedelta(hours=3)).timestamp():.6f}"
    shared = fresh("event_message.json", ts=ts, event_ts=ts,
                   text=f"Best intro to indexes: <{LINK}|Use The Index, Luke>")
    assert await s.event(shared) == 200
    await s.adapter.idle()
    reaction = fresh("event_reaction_added.json", event_ts=ts)
    reaction["event"]["item"].update(channel="C0GENERAL", ts=ts)
    assert await s.event(reaction) == 200
    await s.adapter.idle()
    saved = await s.command("UASK1", "/save", f"{SAVED} read this before tuning")
    assert "Saved" in text_of(saved) and saved["response_type"] == "ephemeral"
    return shared["event"]


def resource_lines(message: dict) -> str:
    return "\n".join(b["text"]["text"] for b in message.get("blocks", []) if b.get("type") == "section")


async def test_save_then_digest_preview_renders_resources_in_block_kit(slack):
    at(Clock(NOW), slack)
    await share_and_save(slack)
    preview = await slack.command("UASK2", "/digest", "preview")
    assert preview["response_type"] == "ephemeral"
    lines = resource_lines(preview)
    assert f"• <{LINK}|Use The Index, Luke>" in lines
    assert "<https://acme.slack.com/archives/C0GENERAL/p" in lines and "|discussion>" in lines
    assert f"<{SAVED}|" in lines and "read this before tuning" in lines
    assert slack.fake.of("chat.postMessage") == []  # a preview posts nothing
    # The same commands as subcommands of /connective.
    assert "Use The Index, Luke" in text_of(await slack.command("UASK2", "/connective", "digest preview"))


async def test_a_scheduled_digest_is_posted_through_the_slack_sender_once(slack):
    clock = at(Clock(NOW), slack)
    await share_and_save(slack)
    refused = await slack.command("UASK2", "/digest", "subscribe <#C0GENERAL|general> 0 9 * * mon tz=UTC")
    assert "Only community admins" in text_of(refused)  # users.info says UASK2 is no admin
    slack.fake.people["UPG"]["is_admin"] = True
    answer = await slack.command("UPG", "/digest", "subscribe <#C0GENERAL|general> 0 9 * * mon tz=UTC")
    assert "#general" in text_of(answer) or "general" in text_of(answer)
    async with slack.app.db.sessions() as s:
        [digest] = list(await s.scalars(select(Digest)))
    assert digest.channel_external_id == "C0GENERAL" and digest.cron == "0 9 * * mon"

    await slack.app.digests.catch_up()  # not due before Monday 09:00
    assert slack.fake.of("chat.postMessage") == []
    clock.now = datetime(2023, 11, 20, 9, 0, 30, tzinfo=UTC)
    await slack.app.digests.catch_up()  # the scheduled job; a second run (another replica, a restart) …
    await slack.app.digests.catch_up()
    assert await slack.app.digests.run_due(digest.id) == "skipped"  # … finds the period done
    [post] = [m for m in slack.fake.of("chat.postMessage") if m["channel"] == "C0GENERAL"]
    assert len(slack.fake.of("chat.postMessage")) == 1
    assert post["unfurl_links"] in (False, "0", "false", "False")
    lines = resource_lines(post)
    assert f"<{LINK}|Use The Index, Luke>" in lines and f"<{SAVED}|" in lines
    assert "<!channel>" not in text_of(post) and "<!here>" not in text_of(post)


async def home_of(s, user: str) -> dict:  # noqa: ANN001
    before = len(s.fake.of("views.publish"))
    assert await s.event(fresh("event_app_home_opened.json", user=user)) == 200
    return (await s.fake.wait_for("views.publish", before + 1))[-1]


async def test_mentoring_over_slack_group_dm_buttons_and_app_home(slack):
    at(Clock(NOW), slack)
    home = await home_of(slack, "UPG")
    assert "Not enrolled" in text_of(home)
    joined = await slack.command("UPG", "/mentoring",
                                 "join mentor teach: postgres query tuning, indexes tz: Europe/Berlin capacity: 2")
    assert "You're in" in text_of(joined)
    assert "You're in" in text_of(await slack.command(
        "UASK1", "/mentoring", "join mentee learn: postgres performance tz: Europe/London"))

    home = await home_of(slack, "UPG")
    assert home["user_id"] == "UPG" and home["view"]["type"] == "home"
    shown = text_of(home)
    assert "Role: mentor" in shown and "postgres query tuning, indexes" in shown and "up to 2 mentees" in shown
    assert "Europe/Berlin" in shown and "In the next round" in shown
    assert ("home.mentoring", "pause") in buttons(home) and ("home.mentoring", "skip") in buttons(home)

    # A round over Slack: warnings as DMs with a Skip button, then a group DM with both.
    service = MentoringService(db=slack.app.db, core=slack.app.core, expertise=slack.app.expertise)
    period = Cadence().next_round(NOW)
    await service.tick(period.warn_at + timedelta(minutes=1))
    for user in ("UPG", "UASK1"):
        [warning] = slack.dm(user)
        assert ("mentoring.skip", period.key) in buttons(warning)
    await service.tick(period.round_at + timedelta(minutes=1))
    assert {"users": "UPG,UASK1"} in slack.fake.of("conversations.open")
    [intro] = [m for m in slack.fake.of("chat.postMessage") if m["channel"] == "GUPG-UASK1"]
    assert "Petra" in text_of(intro) and "postgres performance" in text_of(intro)

    # mentoring.* buttons reach the core; the Home buttons change the enrolment and the view follows.
    await slack.click("UPG", "mentoring.skip", period.key, channel="DUPG")  # its round ran: nothing to skip
    assert "already ran" in text_of(slack.fake.of("response_url")[-1])
    await slack.click("UPG", "home.mentoring", "skip", home=True)
    assert "Sitting out the next round" in text_of(await home_of(slack, "UPG"))
    await slack.click("UPG", "home.mentoring", "pause", home=True)
    async with slack.app.db.sessions() as s:
        enrolment = await s.scalar(select(MentoringEnrolment).join(Member, Member.id == MentoringEnrolment.member_id)
                                   .where(Member.external_id == "UPG"))
    assert enrolment.paused is True and enrolment.skip_next is True
    republished = slack.fake.of("views.publish")[-1]
    assert "Paused" in text_of(republished) and ("home.mentoring", "resume") in buttons(republished)


async def test_only_workspace_admins_turn_a_private_channel_on(slack):
    slack.fake.channels["CPRIV"] = "design-private"
    slack.fake.people["UREG"]["is_admin"] = True

    def private(text: str, n: int) -> dict:
        ts = f"{1_700_100_000 + n}.000100"
        return fresh("event_message.json", channel="CPRIV", channel_type="group", ts=ts, event_ts=ts, text=text)

    async def stored() -> list[str]:
        async with slack.app.db.sessions() as s:
            return list(await s.scalars(select(Message.text).join(Channel, Channel.id == Message.channel_id)
                                        .where(Channel.external_id == "CPRIV")))

    async def ingest() -> bool | None:
        async with slack.app.db.sessions() as s:
            return await s.scalar(select(Channel.ingest).where(Channel.external_id == "CPRIV"))

    # A reaction is the first sign of the channel; it must not make the channel look public.
    reaction = fresh("event_reaction_added.json")
    reaction["event"]["item"]["channel"] = "CPRIV"
    assert await slack.event(reaction) == 200
    assert await slack.event(private("secret roadmap: we drop the postgres cluster", 1)) == 200
    await slack.adapter.idle()
    assert await stored() == []

    refused = await slack.command("UASK1", "/connective", "ingest on <#CPRIV|design-private>")
    assert "Only workspace admins and owners" in text_of(refused) and await ingest() is None
    assert {"user": "UASK1"} in [{"user": c.get("user")} for c in slack.fake.of("users.info")]

    allowed = await slack.command("UREG", "/connective", "ingest on <#CPRIV|design-private>")
    assert "I'll learn from messages in <#CPRIV>" in text_of(allowed)
    assert await ingest() is True
    assert await slack.event(private("we tune autovacuum per table here", 2)) == 200
    await slack.adapter.idle()
    assert await stored() == ["we tune autovacuum per table here"]

    admin_checks = len([c for c in slack.fake.of("users.info") if c.get("user") == "UREG"])
    off = await slack.command("UREG", "/connective", "ingest off <#CPRIV|design-private>")
    assert "no longer read" in text_of(off) and await ingest() is False
    # users.info about admin rights is cached (a first lookup may also have fetched the name).
    assert len([c for c in slack.fake.of("users.info") if c.get("user") == "UREG"]) == admin_checks
    assert await slack.event(private("not stored any more", 3)) == 200
    await slack.adapter.idle()
    assert await stored() == ["we tune autovacuum per table here"]
    assert slack.fake.of("chat.postMessage") == []


async def test_a_group_dm_is_never_read_even_turned_on(slack):
    """A group DM the bot was added to was only private: an admin could turn it on, and its members' talk to each
    other went into the corpus, quoted as evidence. It is a direct conversation now, never read."""
    slack.fake.people["UREG"]["is_admin"] = True

    def said(text: str, n: int) -> dict:
        ts = f"{1_700_200_000 + n}.000100"
        return fresh("event_message.json", channel="GMPIM1", channel_type="mpim", ts=ts, event_ts=ts, text=text)

    assert await slack.event(said("between us: the postgres cluster goes next quarter", 1)) == 200
    await slack.adapter.idle()
    refused = await slack.command("UREG", "/connective", "ingest on <#GMPIM1|mpdm-ana--ben-1>")
    assert "direct conversation" in text_of(refused)
    assert await slack.event(said("and we tune autovacuum per table", 2)) == 200
    await slack.adapter.idle()
    async with slack.app.db.sessions() as s:
        channel = await s.scalar(select(Channel).where(Channel.external_id == "GMPIM1"))
        assert channel.is_dm and channel.ingest is None
        assert await s.scalar(select(func.count()).select_from(Message).where(Message.channel_id == channel.id)) == 0


def test_connective_ingest_translates_to_the_core_settings_command():
    ws = SlackWorkspace(team_id=TEAM, bot_user_id="UBOT")

    def parsed(command: str, text: str) -> tuple[str, str]:
        event = translate_command({"command": command, "text": text, "user_id": "U1", "team_id": TEAM}, ws)
        return event.name, event.args

    assert parsed("/connective", "ingest on <#C1|x>") == ("settings", "ingest <#C1|x> on")
    assert parsed("/connective", "INGEST <#C1|x> OFF") == ("settings", "ingest <#C1|x> off")
    assert parsed("/connective", "ingest maybe <#C1|x>") == ("settings", "ingest")
    assert parsed("/connective", "digest preview") == ("digest", "preview")
    assert parsed("/digest", "subscribe <#C1|x>") == ("digest", "subscribe <#C1|x>")
    assert parsed("/save", "https://a.example/ b") == ("save", "https://a.example/ b")
    assert parsed("/mentoring", "status") == ("mentoring", "status")


async def test_slack_tells_a_members_time_zone_to_commands(slack):
    """`/mentoring join mentee learn: …` without `tz:` answered "tell me your time zone" and `/connective me` said "time
    zone: unknown", though users.info (asked for the member's name on every command) says it (Slack walk-through)."""
    at(Clock(NOW), slack)
    assert "time zone: Europe/Berlin" in text_of(await slack.command("UASK1", "/connective", "me"))
    joined = await slack.command("UASK2", "/mentoring", "join mentee learn: postgres performance")
    assert "You're in" in text_of(joined) and "Europe/Berlin" in text_of(joined), text_of(joined)


async def test_slack_has_no_intro_channel_to_set(slack):
    """`/connective settings intro-channel #intros` answered "Intro channel: #intros." and `settings show` listed
    it, but on Slack an accepted intro opens a group DM: the channel was never used (Slack walk-through)."""
    slack.fake.people["UREG"]["is_admin"] = True
    answer = text_of(await slack.command("UREG", "/connective", "settings intro-channel <#C0GENERAL|general>"))
    assert "group DM" in answer and "Intro channel: <#C0GENERAL>" not in answer, answer
    shown = text_of(await slack.command("UREG", "/connective", "settings show"))
    assert "intro-channel" not in shown and "digest-channel: not set" in shown, shown
    usage = text_of(await slack.command("UREG", "/connective", "settings frobnicate"))
    assert "digest-channel" in usage and "intro-channel" not in usage, usage
    async with slack.app.db.sessions() as s:
        assert "intro_channel" not in (await s.scalar(select(Community.settings)) or {})


async def test_a_digest_slack_refuses_to_post_tells_the_admin_who_chose_the_channel(slack, caplog):
    """A digest subscribed to a channel the bot was not invited to was retried every 10 minutes for hours, each time
    an ERROR with a traceback in the log, and the admin who subscribed it never heard why no digest came (Slack
    walk-through: not_in_channel). They are told once, with what to do; the log has one line per attempt."""
    clock = at(Clock(NOW), slack)
    await share_and_save(slack)
    slack.fake.people["UPG"]["is_admin"] = True
    await slack.command("UPG", "/digest", "subscribe <#CANN|announcements> 0 9 * * mon tz=UTC")
    slack.fake.refused_channels["CANN"] = "not_in_channel"
    clock.now = datetime(2023, 11, 20, 9, 0, 30, tzinfo=UTC)
    assert await slack.app.digests.run_due(1) == "failed"
    [told] = slack.dm("UPG")
    assert "<#CANN>" in text_of(told) and "/invite" in text_of(told), text_of(told)
    clock.now += timedelta(minutes=10)
    assert await slack.app.digests.run_due(1) == "failed"  # tried again, not told again
    assert len(slack.dm("UPG")) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    del slack.fake.refused_channels["CANN"]  # invited
    clock.now += timedelta(minutes=10)
    assert await slack.app.digests.run_due(1) == "posted"
    assert len([c for c in slack.fake.calls if c.method == "chat.postMessage" and c.body["channel"] == "CANN"
                and c.answer["ok"]]) == 1


async def test_a_digest_refused_week_after_week_tells_the_admin_once(slack):
    """A channel that keeps refusing the digest (the bot never invited, a permission never given) had its admin told
    again at the first attempt of every period, a DM a week for as long as it lasted. They are told once a streak of
    refusals, periods included; once it posts, a later refusal is news again."""
    clock = at(Clock(NOW), slack)
    await share_and_save(slack)
    slack.fake.people["UPG"]["is_admin"] = True
    await slack.command("UPG", "/digest", "subscribe <#CANN|announcements> 0 9 * * mon tz=UTC")
    slack.fake.refused_channels["CANN"] = "not_in_channel"
    clock.now = datetime(2023, 11, 20, 9, 0, 30, tzinfo=UTC)
    assert await slack.app.digests.run_due(1) == "failed"
    assert len(slack.dm("UPG")) == 1
    clock.now = datetime(2023, 11, 27, 8, tzinfo=UTC)
    assert "Saved" in text_of(await slack.command("UASK1", "/save", "https://example.org/vacuum-guide"))
    clock.now = datetime(2023, 11, 27, 9, 0, 30, tzinfo=UTC)  # the next period, still refused
    assert await slack.app.digests.run_due(1) == "failed"
    assert len(slack.dm("UPG")) == 1
    del slack.fake.refused_channels["CANN"]
    clock.now += timedelta(minutes=10)
    assert await slack.app.digests.run_due(1) == "posted"


async def subscribed_digest(s, clock: Clock) -> int:  # noqa: ANN001
    shared = await share_and_save(s)
    s.fake.people["UPG"]["is_admin"] = True
    await s.command("UPG", "/digest", "subscribe <#C0GENERAL|general> 0 9 * * mon tz=UTC")
    s.fake.keeps_posts = True
    # Read back: what was said there (a share is looked up before it is shown) and what the bot posts there.
    s.fake.history.setdefault("C0GENERAL", []).append(shared)
    clock.now = datetime(2023, 11, 20, 9, 0, 30, tzinfo=UTC)
    async with s.app.db.sessions() as session:
        return await session.scalar(select(Digest.id))


def looked_for_posts(s) -> list[dict]:  # noqa: ANN001
    """The reads of a channel looking for the bot's own post (SlackSender.find_post), not of a message to be shown."""
    return [c for c in s.fake.of("conversations.history") if c.get("include_all_metadata")]


def digest_posts(s) -> list[dict]:  # noqa: ANN001
    return [c.body for c in s.fake.calls if c.method == "chat.postMessage" and c.body["channel"] == "C0GENERAL"
            and c.answer["ok"]]


async def digest_runs_of(s) -> list[tuple[str, int, list[int]]]:  # noqa: ANN001
    from bot.db.resources import DigestRun

    async with s.app.db.sessions() as session:
        return [(r.state, r.attempts, r.resource_ids) for r in await session.scalars(select(DigestRun))]


async def test_a_digest_slack_took_before_the_process_was_killed_is_not_posted_again(slack):
    """Killed between Slack's 200 for the digest and the database's record of it, the period stayed claimed; after the
    restart (or on another replica) the claim was taken over once old and the digest posted a second time. The post
    carries its period in its metadata now, and whoever takes a period over that may have been posted looks in the
    channel first: one post, recorded as posted with what it showed."""
    from bot.services import digest_runs as runs

    clock = at(Clock(NOW), slack)
    digest_id = await subscribed_digest(slack, clock)
    await run_killed_while_posting(slack.app, "slack", digest_id, after=True)
    [(state, _, shown)] = await digest_runs_of(slack)
    assert state == "posting" and len(shown) == 2
    [post] = digest_posts(slack)
    assert post["metadata"] == {"event_type": "connective_post",
                                "event_payload": {"key": f"digest:{digest_id}:2023-11-20T09:00"}}

    # restarted
    assert await slack.app.digests.run_due(digest_id) == "skipped"  # the claim is recent: its process may be alive
    clock.now += runs.CLAIM_TIMEOUT + timedelta(minutes=1)
    assert await slack.app.digests.run_due(digest_id) == "posted"
    assert await slack.app.digests.run_due(digest_id) == "skipped"
    assert len(digest_posts(slack)) == 1
    [looked] = looked_for_posts(slack)
    assert looked["channel"] == "C0GENERAL" and looked["include_all_metadata"] in (True, "1", "true", "True")
    assert await digest_runs_of(slack) == [("posted", 2, shown)]  # next week leaves out what it showed


async def test_a_digest_whose_process_was_killed_before_it_reached_slack_is_posted(slack):
    from bot.services import digest_runs as runs

    clock = at(Clock(NOW), slack)
    digest_id = await subscribed_digest(slack, clock)
    await run_killed_while_posting(slack.app, "slack", digest_id, after=False)
    assert digest_posts(slack) == []
    clock.now += runs.CLAIM_TIMEOUT + timedelta(minutes=1)
    assert await slack.app.digests.run_due(digest_id) == "posted"
    assert len(digest_posts(slack)) == 1 and len(looked_for_posts(slack)) == 1
    assert [(state, attempts) for state, attempts, _ in await digest_runs_of(slack)] == [("posted", 2)]


async def test_a_digest_posted_before_the_bot_was_removed_from_the_channel_is_not_posted_again(slack, caplog):
    """The digest went out, the process was killed before recording it, and the bot was removed from the channel
    before the restart: the channel cannot be read to see whether it went out (nor posted to). Each attempt fails with
    one log line saying why; once the bot is back, the post is found there and not made again."""
    from bot.services import digest_runs as runs

    clock = at(Clock(NOW), slack)
    digest_id = await subscribed_digest(slack, clock)
    await run_killed_while_posting(slack.app, "slack", digest_id, after=True)
    slack.fake.unreadable["C0GENERAL"] = slack.fake.refused_channels["C0GENERAL"] = "not_in_channel"
    clock.now += runs.CLAIM_TIMEOUT + timedelta(minutes=1)
    with caplog.at_level(logging.INFO):
        assert await slack.app.digests.run_due(digest_id) == "failed"
    assert "slack did not let me read the channel: I'm not in that channel" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    del slack.fake.unreadable["C0GENERAL"], slack.fake.refused_channels["C0GENERAL"]  # invited again
    clock.now += runs.RETRY_AFTER + timedelta(minutes=1)
    assert await slack.app.digests.run_due(digest_id) == "posted"
    assert len(digest_posts(slack)) == 1
    assert [(state, attempts) for state, attempts, _ in await digest_runs_of(slack)] == [("posted", 3)]


async def test_a_digest_waiting_out_slacks_retry_after_past_its_claim_is_posted_once(slack):
    """chat.postMessage answered 429 and the bot waiting out its Retry-After (slack_sdk's handler) while its claim grew
    older than CLAIM_TIMEOUT: another replica took the period over as abandoned, found no digest in the channel yet,
    and posted it; then the first one's went out too. The holder renews its claim while it waits, and the other
    replica leaves the period to it."""
    import asyncio

    from bot.db.resources import DigestRun
    from bot.services import digest_runs as runs
    from bot.services.digest import DigestService

    clock = at(Clock(NOW), slack)
    digest_id = await subscribed_digest(slack, clock)
    mine = slack.app.digests
    other = DigestService(db=slack.app.db, core=slack.app.core, expertise=slack.app.expertise,
                          scheduler=slack.app.scheduler, resources=mine.resources, clock=clock)  # another replica
    mine.renew_seconds = 0.02
    slack.fake.rate_limited["chat.postMessage"], slack.fake.retry_after = 1, 3
    posting = asyncio.create_task(mine.run_due(digest_id))
    await slack.fake.wait_for("429:chat.postMessage")
    clock.now += runs.CLAIM_TIMEOUT + timedelta(minutes=1)
    for _ in range(100):  # the holder, alive and waiting, renews its claim
        async with slack.app.db.sessions() as session:
            claimed_at = await session.scalar(select(DigestRun.claimed_at))
        if claimed_at.replace(tzinfo=UTC) == clock.now:
            break
        await asyncio.sleep(0.01)
    assert await other.run_due(digest_id) == "skipped"
    assert await posting == "posted"
    assert len(digest_posts(slack)) == 1
    assert [(state, attempts) for state, attempts, _ in await digest_runs_of(slack)] == [("posted", 1)]


async def test_a_digest_whose_connection_dropped_after_slack_took_it_is_not_sent_again_blind(slack):
    """Slack took the digest and the connection dropped before its answer (a reset, a proxy closing it): slack_sdk's
    connection-error handler sent the same chat.postMessage again at once, and the channel had the digest twice. A
    keyed post is not sent again blind: the attempt fails, and the retry finds it in the channel."""
    from bot.services import digest_runs as runs

    clock = at(Clock(NOW), slack)
    digest_id = await subscribed_digest(slack, clock)
    slack.fake.answers_lost["chat.postMessage"] = 1
    assert await slack.app.digests.run_due(digest_id) == "failed"
    assert len(digest_posts(slack)) == 1
    clock.now += runs.RETRY_AFTER + timedelta(minutes=1)
    assert await slack.app.digests.run_due(digest_id) == "posted"
    assert len(digest_posts(slack)) == 1 and len(looked_for_posts(slack)) == 1
    assert [(state, attempts) for state, attempts, _ in await digest_runs_of(slack)] == [("posted", 2)]


class AnswerLost:
    """Slack took the post and its answer never came back (a timeout, a connection reset)."""

    def __init__(self, sender) -> None:  # noqa: ANN001
        self.sender = sender

    async def send(self, action) -> None:  # noqa: ANN001
        await self.sender.send(action)
        raise TimeoutError


async def test_a_digest_whose_answer_was_lost_is_not_posted_again_on_the_retry(slack):
    """A post whose answer never came (a timeout) is a failure to retry, and it may have reached the channel: the retry
    five minutes later posted it a second time. It looks first; a post Slack refused is retried without looking."""
    from bot.services import digest_runs as runs

    clock = at(Clock(NOW), slack)
    digest_id = await subscribed_digest(slack, clock)
    slack.app.core.senders["slack"] = AnswerLost(slack.adapter.sender)
    assert await slack.app.digests.run_due(digest_id) == "failed"
    assert [state for state, _, _ in await digest_runs_of(slack)] == ["failed-posting"]
    slack.app.core.senders["slack"] = slack.adapter.sender
    clock.now += runs.RETRY_AFTER + timedelta(minutes=1)
    assert await slack.app.digests.run_due(digest_id) == "posted"
    assert len(digest_posts(slack)) == 1 and len(looked_for_posts(slack)) == 1


async def test_a_refused_digest_after_a_restart_tells_the_admin_once(slack):
    """Only the first attempt of a period told the admin that the channel refused the digest: where that attempt was
    cut short (a restart before it posted), every later one was refused in silence, and nobody heard why no digest
    came. The first refused attempt tells them now, once, whichever it is."""
    from bot.services import digest_runs as runs

    clock = at(Clock(NOW), slack)
    digest_id = await subscribed_digest(slack, clock)
    await run_killed_while_posting(slack.app, "slack", digest_id, after=False)
    slack.fake.refused_channels["C0GENERAL"] = "is_archived"
    clock.now += runs.CLAIM_TIMEOUT + timedelta(minutes=1)
    assert await slack.app.digests.run_due(digest_id) == "failed"
    clock.now += runs.RETRY_AFTER + timedelta(minutes=1)
    assert await slack.app.digests.run_due(digest_id) == "failed"
    [told] = slack.dm("UPG")
    assert "<#C0GENERAL>" in text_of(told) and "archived" in text_of(told), text_of(told)


async def test_a_posted_digest_is_edited_without_a_member_who_is_forgotten_or_opts_out(slack):
    """A posted digest went on quoting and naming a member after /forget-me or /optout: Asha's note on the link she
    saved, Petra's name on the link she shared. The digests posted lately are edited now (chat.update of the post found
    by its metadata, which it keeps) without the entries naming them; a member it does not name changes nothing."""
    clock = at(Clock(NOW), slack)
    digest_id = await subscribed_digest(slack, clock)
    assert await slack.app.digests.run_due(digest_id) == "posted"
    [post] = digest_posts(slack)
    [kept] = [m for m in slack.fake.history["C0GENERAL"] if m.get("metadata")]
    kept["ts"] = ts = f"{clock.now.timestamp():.6f}"  # posted at the bot's time (the fake stamps its own)
    assert SAVED in resource_lines(post) and "read this before tuning" in resource_lines(post)
    assert LINK in resource_lines(post)

    clock.now += timedelta(days=3)
    await slack.command("UASK2", "/connective", "forget-me")  # not in the digest
    await slack.adapter.idle()
    assert slack.fake.of("chat.update") == []
    await slack.command("UASK1", "/connective", "forget-me")
    await slack.adapter.idle()
    [edited] = slack.fake.of("chat.update")
    assert (edited["channel"], edited["ts"]) == ("C0GENERAL", ts)
    assert SAVED not in resource_lines(edited) and "read this before tuning" not in text_of(edited)
    assert LINK in resource_lines(edited)
    assert edited["metadata"] == post["metadata"]

    await slack.command("UPG", "/connective", "optout")
    await slack.adapter.idle()
    [_, emptied] = slack.fake.of("chat.update")
    assert emptied["ts"] == ts and LINK not in text_of(emptied) and "taken out" in text_of(emptied)


async def test_a_digest_to_edit_in_a_channel_slack_refuses_to_read_is_one_log_line(slack, caplog):
    """/forget-me of a member a posted digest names, in a channel the bot was removed from since: the post cannot be
    found to edit. One log line says what to do; no traceback."""
    clock = at(Clock(NOW), slack)
    digest_id = await subscribed_digest(slack, clock)
    assert await slack.app.digests.run_due(digest_id) == "posted"
    slack.fake.unreadable["C0GENERAL"] = "not_in_channel"
    clock.now += timedelta(days=3)
    with caplog.at_level(logging.WARNING):
        await slack.command("UASK1", "/connective", "forget-me")
        await slack.adapter.idle()
    assert "EditPost not delivered: I'm not in that channel" in caplog.text, caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert slack.fake.of("chat.update") == []


async def test_a_digest_posted_long_before_a_member_is_forgotten_is_not_edited_nor_kept(slack):
    """A digest whose period ended more than 90 days before the member is forgotten stays as posted (months back, and
    each edit searches the channel's history); what was kept of it, their words and name among the rest, goes."""
    from bot.db.resources import DigestRun

    clock = at(Clock(NOW), slack)
    digest_id = await subscribed_digest(slack, clock)
    assert await slack.app.digests.run_due(digest_id) == "posted"
    slack.adapter.clock = lambda: NOW + timedelta(days=120)
    await slack.command("UASK1", "/connective", "forget-me")
    await slack.adapter.idle()
    assert slack.fake.of("chat.update") == []
    async with slack.app.db.sessions() as session:
        assert await session.scalar(select(DigestRun.posted)) is None


async def test_an_unreadable_kept_digest_does_not_stop_a_member_being_forgotten(slack, caplog):
    """What was kept of a posted digest, not as this release reads it (cut short, another release's): /forget-me
    failed with it, and the member stayed stored. It is dropped with one log line, and the member is forgotten."""
    from bot.db.resources import DigestRun

    clock = at(Clock(NOW), slack)
    digest_id = await subscribed_digest(slack, clock)
    assert await slack.app.digests.run_due(digest_id) == "posted"
    async with slack.app.db.sessions.begin() as session:
        run = await session.scalar(select(DigestRun))
        run.posted = {**run.posted, "named": [[["UASK1"]]]}  # one entry named where the post shows two
    with caplog.at_level(logging.WARNING):
        answer = await slack.command("UASK1", "/connective", "forget-me")
        await slack.adapter.idle()
    assert "deleted" in text_of(answer), text_of(answer)
    assert "what was kept of its post is unreadable (ValueError); dropped" in caplog.text
    async with slack.app.db.sessions() as session:
        assert await session.scalar(select(DigestRun.posted)) is None
        asha = await session.scalar(select(Member).where(Member.external_id == "UASK1"))
        assert (asha.profiling_consent, asha.name) == (False, "")


def forgets_while_composed(slack, user: str) -> None:  # noqa: ANN001
    """`user` asks to be forgotten while the next digest is being composed (after its links are read, before it is
    posted)."""
    compose = slack.app.digests.compose

    async def forgotten_meanwhile(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        content = await compose(*args, **kwargs)
        await slack.command(user, "/connective", "forget-me")
        return content

    slack.app.digests.compose = forgotten_meanwhile


async def test_a_link_others_shared_too_stays_when_its_first_sharer_is_forgotten_while_it_is_composed(slack):
    """Petra was forgotten while the digest was being composed: the link she shared first went from it, though Bruno
    had shared it too. It goes out credited to Bruno, linking his message."""
    clock = at(Clock(NOW), slack)
    digest_id = await subscribed_digest(slack, clock)
    ts = f"{(NOW - timedelta(hours=2)).timestamp():.6f}"
    again = fresh("event_message.json", ts=ts, event_ts=ts, user="UBR", text=f"+1 to this: <{LINK}>")
    assert await slack.event(again) == 200
    await slack.adapter.idle()
    slack.fake.history["C0GENERAL"].append(again["event"])
    forgets_while_composed(slack, "UPG")
    assert await slack.app.digests.run_due(digest_id) == "posted"
    [post] = digest_posts(slack)
    lines = resource_lines(post)
    assert LINK in lines and "Petra" not in text_of(post), lines
    assert f"/p{ts.replace('.', '')}" in lines, lines


async def test_a_digest_posted_by_a_process_killed_before_recording_it_is_edited_too(slack):
    """Killed after Slack took the digest and before its period was recorded as posted: the post is out and names
    Asha, and her /forget-me left it as it was (only periods recorded as posted were edited), and what was kept of it
    quoted her. The period is edited as the others."""
    clock = at(Clock(NOW), slack)
    digest_id = await subscribed_digest(slack, clock)
    await run_killed_while_posting(slack.app, "slack", digest_id, after=True)
    [kept] = [m for m in slack.fake.history["C0GENERAL"] if m.get("metadata")]
    kept["ts"] = ts = f"{clock.now.timestamp():.6f}"  # posted at the bot's time (the fake stamps its own)
    await slack.command("UASK1", "/connective", "forget-me")
    await slack.adapter.idle()
    [edited] = slack.fake.of("chat.update")
    assert edited["ts"] == ts and SAVED not in resource_lines(edited) and LINK in resource_lines(edited)


async def test_a_member_forgotten_while_the_digest_is_composed_is_not_in_it(slack):
    """Asha asked to be forgotten while her digest was being composed (its messages are looked up on the platform
    first: seconds): her forgetting found no kept post to edit, and the digest went out quoting her note. What is
    composed is read against the members' consent right before it is posted."""
    clock = at(Clock(NOW), slack)
    digest_id = await subscribed_digest(slack, clock)
    forgets_while_composed(slack, "UASK1")
    assert await slack.app.digests.run_due(digest_id) == "posted"
    [post] = digest_posts(slack)
    assert SAVED not in resource_lines(post) and "read this before tuning" not in text_of(post)
    assert LINK in resource_lines(post)


async def test_a_digest_edit_slack_fails_after_forget_me_is_kept_and_sent_by_the_outbox(slack, caplog):
    """Slack failed the edit of the digest that named Asha when she asked to be forgotten (a 503): it was logged and
    never tried again, and her note stayed posted. It is kept in the outbox, its live attempt the first, and the sweep
    five minutes later makes it; the answer to her is not kept (nothing of another event is either)."""
    from bot.db.models import OutboxAction
    from bot.events import utcnow
    from bot.outbox import RETRY_AFTER, decode

    clock = at(Clock(NOW), slack)
    digest_id = await subscribed_digest(slack, clock)
    assert await slack.app.digests.run_due(digest_id) == "posted"
    [kept] = [m for m in slack.fake.history["C0GENERAL"] if m.get("metadata")]
    kept["ts"] = ts = f"{clock.now.timestamp():.6f}"
    slack.fake.unavailable["chat.update"] = 1
    with caplog.at_level(logging.WARNING):
        answer = await slack.command("UASK1", "/connective", "forget-me")
        await slack.adapter.idle()
    assert "deleted" in text_of(answer) and slack.fake.of("chat.update") == []
    assert "outbox: EditPost on slack failed; kept" in caplog.text and "read this before tuning" not in caplog.text
    async with slack.app.db.sessions() as session:
        [(body, attempts)] = (await session.execute(select(OutboxAction.body, OutboxAction.attempts))).all()
    assert type(decode(body)).__name__ == "EditPost" and attempts == 1

    assert await slack.app.outbox.send_due() == 0  # not due before its pause
    assert await slack.app.outbox.send_due(utcnow() + RETRY_AFTER[0] + timedelta(minutes=1)) == 1
    [edited] = slack.fake.of("chat.update")
    assert edited["ts"] == ts and SAVED not in resource_lines(edited) and LINK in resource_lines(edited)
    async with slack.app.db.sessions() as session:
        assert await session.scalar(select(OutboxAction.id)) is None


async def test_a_failed_digest_edit_overtaken_by_a_later_one_is_not_kept(slack):
    """Asha's and then Petra's forgetting a moment apart: Petra's edit (without either) went out while Asha's (without
    her only) was still waiting on Slack, which then failed it. Kept and sent minutes later, it would show Petra's link
    and name again. An edit whose post has been edited on since is not kept; the latest one is."""
    from bot.actions import Document, EditPost
    from bot.db.models import OutboxAction
    from bot.db.resources import DigestRun
    from bot.events import CommandInvoked, utcnow
    from bot.outbox import build, keep_failed

    clock = at(Clock(NOW), slack)
    digest_id = await subscribed_digest(slack, clock)
    assert await slack.app.digests.run_due(digest_id) == "posted"
    [kept] = [m for m in slack.fake.history["C0GENERAL"] if m.get("metadata")]
    kept["ts"] = f"{clock.now.timestamp():.6f}"
    async with slack.app.db.sessions() as session:
        run = await session.scalar(select(DigestRun))
    await slack.command("UASK1", "/connective", "forget-me")  # edited: without Asha's note
    await slack.adapter.idle()
    [edited] = slack.fake.of("chat.update")
    forgetting = CommandInvoked(community=TEAM, platform="slack", user="UPG", channel="", time=utcnow(),
                                name="forget-me", event_id="e1")

    def edit_to(doc: Document) -> EditPost:
        return EditPost(community=TEAM, channel="C0GENERAL", key=f"digest:{digest_id}:{run.period_key}", doc=doc,
                        since=run.window_end - timedelta(days=1), until=run.window_end + timedelta(days=8))

    overtaken = edit_to(build(Document, run.posted["doc"]))  # as it was before Asha's edit
    assert not await keep_failed(slack.app.db, "slack", forgetting, overtaken)
    async with slack.app.db.sessions() as session:
        assert await session.scalar(select(OutboxAction.id)) is None
        latest = build(Document, (await session.scalar(select(DigestRun.posted)))["doc"])
    assert "read this before tuning" not in latest.plain() and edited
    assert await keep_failed(slack.app.db, "slack", forgetting, edit_to(latest))


async def test_a_posted_digest_is_edited_without_a_message_its_author_deleted(slack):
    """Petra deleted the message she shared the link in: the digest posted in #general went on linking it, "shared by"
    her. The digests posted lately that quote or link a message deleted are edited without that entry; the rest
    stays."""
    from tests.test_slack_app import fresh

    clock = at(Clock(NOW), slack)
    digest_id = await subscribed_digest(slack, clock)
    assert await slack.app.digests.run_due(digest_id) == "posted"
    [post] = digest_posts(slack)
    [kept] = [m for m in slack.fake.history["C0GENERAL"] if m.get("metadata")]
    kept["ts"] = ts = f"{clock.now.timestamp():.6f}"
    assert LINK in resource_lines(post) and SAVED in resource_lines(post)
    shared = [m for m in slack.fake.history["C0GENERAL"] if LINK in str(m.get("text"))][0]

    deleted = fresh("event_message_deleted.json", event_ts=f"{clock.now.timestamp() + 60:.6f}")
    deleted["event"].update(deleted_ts=shared["ts"], previous_message={**deleted["event"]["previous_message"],
                                                                      "ts": shared["ts"]})
    assert await slack.event(deleted) == 200
    await slack.adapter.idle()
    [edited] = slack.fake.of("chat.update")
    assert edited["ts"] == ts and LINK not in str(edited) and SAVED in resource_lines(edited)
    assert edited["metadata"] == post["metadata"]


async def test_a_posted_digest_is_edited_without_the_shares_of_a_channel_deleted_since(slack):
    """A channel deleted on Slack: the digest posted in #general went on linking the messages shared there (dead
    links), "shared by" their authors. channel_deleted deletes the channel's messages here, and the digests posted
    lately are edited without them, in one edit each; the rest stays."""
    clock = at(Clock(NOW), slack)
    ts = f"{(NOW - timedelta(hours=2)).timestamp():.6f}"
    guide = "https://wiki.postgresql.org/wiki/Introduction_to_VACUUM"
    shared = fresh("event_message.json", channel="CANN", ts=ts, event_ts=ts,
                   text=f"Read this on vacuum: <{guide}|Introduction to VACUUM>")
    assert await slack.event(shared) == 200
    reaction = fresh("event_reaction_added.json", event_ts=ts)
    reaction["event"]["item"].update(channel="CANN", ts=ts)
    assert await slack.event(reaction) == 200
    await slack.adapter.idle()
    digest_id = await subscribed_digest(slack, clock)
    slack.fake.history.setdefault("CANN", []).append(shared["event"])
    assert await slack.app.digests.run_due(digest_id) == "posted"
    [post] = digest_posts(slack)
    assert guide in resource_lines(post) and LINK in resource_lines(post)
    [kept] = [m for m in slack.fake.history["C0GENERAL"] if m.get("metadata")]
    kept["ts"] = posted_ts = f"{clock.now.timestamp():.6f}"

    gone = fresh("event_channel_archive.json", type="channel_deleted", event_ts=f"{clock.now.timestamp() + 60:.6f}")
    assert await slack.event(gone) == 200
    await slack.adapter.idle()
    [edited] = slack.fake.of("chat.update")
    assert edited["ts"] == posted_ts and guide not in str(edited) and LINK in resource_lines(edited)


async def test_a_digest_posted_in_a_channel_deleted_since_is_not_edited(slack, caplog):
    """The channel a digest was posted in deleted: the post went with it, and the edit of it without the channel's
    messages was refused (channel_not_found), then kept and tried again by the outbox for hours. It is not sent."""
    from bot.db.models import OutboxAction

    clock = at(Clock(NOW), slack)
    digest_id = await subscribed_digest(slack, clock)
    assert await slack.app.digests.run_due(digest_id) == "posted"
    assert LINK in resource_lines(digest_posts(slack)[0])
    [kept] = [m for m in slack.fake.history["C0GENERAL"] if m.get("metadata")]
    kept["ts"] = f"{clock.now.timestamp():.6f}"
    slack.fake.refused_channels["C0GENERAL"] = "channel_not_found"
    calls = len(slack.fake.calls)
    gone = fresh("event_channel_archive.json", type="channel_deleted", channel="C0GENERAL",
                 event_ts=f"{clock.now.timestamp() + 60:.6f}")
    assert await slack.event(gone) == 200
    await slack.adapter.idle()
    assert not [c.method for c in slack.fake.calls[calls:] if c.body.get("channel") == "C0GENERAL"]
    async with slack.app.db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxAction)) == 0


async def test_a_message_found_deleted_while_the_bot_was_away_is_taken_out_of_the_digests_too(slack, monkeypatch):
    """Petra deleted her share while the bot was away: found gone when it was next about to be shown (asked of Slack),
    it was deleted here, but the digest posted before went on linking it, "shared by" her. It is edited as after a
    live deletion."""
    from bot.db.models import Message
    from bot.services import digest_unquote

    # Found gone now (the wall clock), the digest is of the fixture's 2023: within the edits' 90 days all the same.
    monkeypatch.setattr(digest_unquote, "EDIT_WITHIN", datetime.now(UTC) - NOW + timedelta(days=90))
    clock = at(Clock(NOW), slack)
    digest_id = await subscribed_digest(slack, clock)
    assert await slack.app.digests.run_due(digest_id) == "posted"
    [kept] = [m for m in slack.fake.history["C0GENERAL"] if m.get("metadata")]
    kept["ts"] = ts = f"{clock.now.timestamp():.6f}"
    shared = [m for m in slack.fake.history["C0GENERAL"] if LINK in str(m.get("text"))][0]
    slack.fake.history["C0GENERAL"].remove(shared)  # deleted while the bot was away
    slack.adapter.sender.still_there.away_until(datetime.now(UTC).timestamp())  # and connected again
    async with slack.app.db.sessions() as session:
        community_id = await session.scalar(select(Community.id))
        link = await session.scalar(select(Message.permalink).where(Message.external_id == shared["ts"]))
    assert await slack.app.core.gone_from_platform(community_id, [link]) == 1
    [edited] = slack.fake.of("chat.update")
    assert edited["ts"] == ts and LINK not in str(edited) and SAVED in resource_lines(edited)
