"""A member's privacy, told as their story: what each surface shows or stores after they opt out or ask to be
forgotten, on SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
import logging
import re
import subprocess
import sys
import urllib.parse
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from adapters.console import ConsoleAdapter
from bot import events as ev
from bot import inbox
from bot.app import build_app
from bot.db.models import Member, Message, Question
from bot.logs import setup_logging
from bot.settings import Settings
from tests.discord_fixtures import KENJI
from tests.discord_fixtures import load as load_discord
from tests.discord_harness import running_bot, send, started_fake_discord
from tests.exports import TEAM, THREADS, USERS, write_slack_export
from tests.test_inbox import _killed, _later, _restart, _rows
from tests.test_intros import _ask, _setup
from tests.test_slack_app import buttons, slack  # noqa: F401  (fixture)
from tests.test_slack_translate import load


async def test_opting_out_takes_the_member_off_the_questions_they_were_suggested_for(app, tmp_path):
    """Kenji is suggested for Bruno's question; he opts out. Whom the ranking took for an expert on what is a profile of
    him, and opting out removes the existing data: the question listed his id until he asked to be forgotten."""
    console, _ = await _setup(app, tmp_path)
    cards = await _ask(console, "UASK2", "who knows kubernetes pods rollout?")
    assert "UK8S" in [user for user, _ in cards]
    await console.say("UK8S", "/optout")
    async with app.db.sessions() as s:
        [suggested] = await s.scalars(select(Question.suggested))
    assert suggested and "UK8S" not in suggested, suggested


@pytest.mark.parametrize("dies_in", ["before its claim", "while removing their data"])
async def test_a_forget_me_lost_with_its_process_after_the_ack_is_done_by_the_next_start(
        slack, monkeypatch, dies_in):  # noqa: F811
    """Kenji types `/connective forget-me` on Slack; the ack goes back and the process dies (a SIGKILL, an OOM kill)
    before his data is deleted. Slack echoes no command and sends none again: his messages stayed, and he was told
    nothing. The request is now kept before its ack (without its response_url, a credential), the next start does it,
    and tells him by DM."""
    async def kenjis() -> int:
        async with slack.app.db.sessions() as s:
            return await s.scalar(select(func.count()).select_from(Message).join(Member, Member.id == Message.author_id)
                                  .where(Member.external_id == "UK8S"))

    assert await kenjis() > 0
    target, name = ((slack.app.core, "handle") if dies_in == "before its claim"
                    else (slack.app.core, "_remove_member_data"))
    calls = _killed(monkeypatch, target, name)
    response_url = slack.fake.response_url()
    form = {**load("command_whoknows.json"), "user_id": "UK8S", "command": "/connective", "text": "forget-me",
            "response_url": response_url, "trigger_id": "t-forget-kenji"}
    assert await slack.post(urllib.parse.urlencode(form), "application/x-www-form-urlencoded") == 200
    await slack.adapter.idle()
    assert calls == [1] and await kenjis() > 0
    [row] = await _rows(slack.app)
    assert response_url not in row.body and "forget-me" in row.body

    adapter = await _restart(slack)
    await _later(slack.app, inbox.GRACE + timedelta(seconds=1))
    handled = await slack.app.core.inbox.sweep()
    if dies_in == "while removing their data":  # claimed by the process that died: taken over once stale
        assert handled == 0
        await _later(slack.app, inbox.LEASE + timedelta(seconds=1))
        handled = await slack.app.core.inbox.sweep()
    await adapter.idle()
    assert handled == 1 and await kenjis() == 0 and await _rows(slack.app) == []
    async with slack.app.db.sessions() as s:
        assert await s.scalar(select(Member.profiling_consent).where(Member.external_id == "UK8S")) is False
    [told] = slack.dm("UK8S")
    assert "deleted everything" in str(told), told
    assert slack.fake.of("response_url") == []  # nothing went to the credential


async def test_an_app_home_opt_out_lost_with_its_process_after_the_ack_is_done_by_the_next_start(
        slack, monkeypatch):  # noqa: F811
    """Petra clicks "Opt out" in the bot's App Home; the ack goes back and the process dies before her data is deleted.
    The click is kept as /connective optout is, and the next start does it, tells her by DM, and shows her Home with
    "Opt back in"."""
    async def petra() -> tuple[bool, int]:
        async with slack.app.db.sessions() as s:
            member = await s.scalar(select(Member).where(Member.external_id == "UPG"))
            said = await s.scalar(select(func.count()).select_from(Message).where(Message.author_id == member.id))
        return member.profiling_consent, said

    consents, said = await petra()
    assert consents and said > 0
    calls = _killed(monkeypatch, slack.app.core, "handle")
    await slack.click("UPG", "home.optout", "off", home=True)
    assert calls == [1] and await petra() == (True, said)
    [row] = await _rows(slack.app)
    assert "home.optout" in row.body

    adapter = await _restart(slack)
    await _later(slack.app, inbox.GRACE + timedelta(seconds=1))
    assert await slack.app.core.inbox.sweep() == 1
    await adapter.idle()
    assert await petra() == (False, 0) and await _rows(slack.app) == []
    [told] = slack.dm("UPG")
    assert "opted out" in str(told), told
    assert ("home.optin", "on") in buttons(slack.fake.of("views.publish")[-1])

async def test_a_forget_me_handled_live_leaves_nothing_in_the_inbox(slack):  # noqa: F811
    answer = await slack.command("UK8S", "/connective", "forget-me")
    assert "deleted everything" in str(answer)
    await slack.adapter.idle()
    assert await _rows(slack.app) == [] and slack.dm("UK8S") == []


@pytest.fixture
async def fake_discord():
    async for fake in started_fake_discord():
        yield fake


@pytest.mark.parametrize("dies_in", ["before its claim", "while removing their data"])
async def test_a_discord_forget_me_lost_with_its_process_after_the_ack_is_done_by_the_next_sweep(
        app, fake_discord, monkeypatch, dies_in):
    """On Discord, Kenji's /forget-me is deferred ("thinking…") and the process dies before his data is deleted:
    Discord sends no interaction again, and his message stayed. It is now kept before the ack (without the
    interaction's token), and the next sweep does it and tells him by DM."""
    async def kenjis() -> int:
        async with app.db.sessions() as s:
            return await s.scalar(select(func.count()).select_from(Message).join(Member, Member.id == Message.author_id)
                                  .where(Member.external_id == KENJI))

    real_handle = app.core.handle
    cut: list[str] = []

    async def dies(event, **kwargs):  # noqa: ANN001, ANN003, ANN202
        if isinstance(event, ev.CommandInvoked) and not cut:
            cut.append(event.name)
            raise asyncio.CancelledError
        return await real_handle(event, **kwargs)

    if dies_in == "before its claim":
        monkeypatch.setattr(app.core, "handle", dies)
    else:
        _killed(monkeypatch, app.core, "_remove_member_data")
    async with running_bot(app, fake_discord) as bot:
        forget = load_discord("interaction_skills_add")  # Kenji's slash command, as /forget-me
        forget["data"].update(name="forget-me", options=[])
        said = load_discord("message_create")
        said["author"] = forget["member"]["user"]
        await send(fake_discord, bot, "MESSAGE_CREATE", said)
        assert await kenjis() == 1
        await send(fake_discord, bot, "INTERACTION_CREATE", forget)
        await fake_discord.wait_for("POST", rf"/interactions/{forget['id']}/[^/]+/callback")  # the ack ("thinking…")
        for _ in range(200):
            if await _rows(app):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # the handling was cut off
        assert await kenjis() == 1
        [row] = await _rows(app)
        assert row.platform == "discord" and forget["token"] not in row.body

        await _later(app, inbox.GRACE + timedelta(seconds=1))
        handled = await app.core.inbox.sweep()
        if dies_in == "while removing their data":  # claimed by the process that died: taken over once stale
            assert handled == 0
            await _later(app, inbox.LEASE + timedelta(seconds=1))
            handled = await app.core.inbox.sweep()
        assert handled == 1 and await kenjis() == 0 and await _rows(app) == []
        [told] = await fake_discord.wait_for("POST", r"/channels/9\d+/messages")
        assert "deleted everything" in told.json["content"], told.json


async def test_a_replica_that_had_the_forgotten_member_in_memory_stops_suggesting_and_quoting_them(
        app, db_url, embedder, tmp_path):
    """Two replicas share the database. Replica B has answered a question with Kenji and his words in memory; Kenji
    asks to be forgotten on replica A. B's next answer neither suggests him nor quotes him, without a restart."""
    console_a, _ = await _setup(app, tmp_path)
    second = build_app(Settings(database_url=db_url), embedder=embedder)
    try:
        console_b = ConsoleAdapter(second.core.handle, community=TEAM, platform="slack")
        [before] = await console_b.say("UASK2", "who knows kubernetes pods rollout?")
        assert "Kenji" in before and "kubectl rollout" in before, before
        await console_a.say("UK8S", "/forget-me")
        [after] = await console_b.say("UASK2", "who knows kubernetes pods rollout?")
        assert "Kenji" not in after and "kubectl rollout" not in after, after
    finally:
        await second.close()


async def test_a_member_who_left_is_forgotten_by_the_community_manager(app, tmp_path):
    """Kenji left the workspace and writes to the community manager to be forgotten: he can no longer type /forget-me,
    and nothing else did it. `connective forget Kenji` does what his command does: his messages, profile and
    suggestions go, and an import of an export still holding him stores nothing of his."""
    from bot.cli_forget import forget_member, report

    console, _ = await _setup(app, tmp_path)
    await console.say("UK8S", "/skills add helm")
    async with app.db.sessions() as s:
        kenji = await s.scalar(select(Member).where(Member.external_id == "UK8S"))
    done = await forget_member(app, kenji.community_id, "Kenji")
    assert done.user == "UK8S" and done.messages == 2, done
    # Named by the manager, said by name too (it said "Forgot UK8S": was that Kenji?)
    assert report(done)[0].startswith("Forgot Kenji (UK8S) in slack:TTEST0001: 2 message(s) removed"), report(done)
    await app.importer.import_slack(tmp_path / "export")
    async with app.db.sessions() as s:
        kenji = await s.scalar(select(Member).where(Member.external_id == "UK8S"))
        assert (kenji.name, kenji.profiling_consent) == ("", False)
        assert await s.scalar(select(func.count()).select_from(Message).where(Message.author_id == kenji.id)) == 0
    [answer] = await console.say("UASK2", "who knows kubernetes pods rollout?")
    assert "Kenji" not in answer and "kubectl rollout" not in answer, answer


async def test_someone_the_bot_has_not_seen_is_recorded_as_forgotten_and_a_typo_is_refused(app, tmp_path):
    from bot.cli_forget import forget_member
    from bot.errors import UserError

    console, _ = await _setup(app, tmp_path)
    async with app.db.sessions() as s:
        community_id = await s.scalar(select(Member.community_id).limit(1))
    with pytest.raises(UserError, match="no member 'Kenjj'"):
        await forget_member(app, community_id, "Kenjj")
    done = await forget_member(app, community_id, "U0NEWCOMER")
    assert done.messages == 0
    await app.core.handle(ev.MessagePosted(community=TEAM, platform="slack", user="U0NEWCOMER", channel="C0GENERAL",
                                           message_id="1800000000.000200", text="helm charts need a values schema",
                                           user_name="Newcomer", event_id="m-newcomer-1"))
    async with app.db.sessions() as s:
        newcomer = await s.scalar(select(Member).where(Member.external_id == "U0NEWCOMER"))
        assert newcomer.profiling_consent is False and newcomer.name == ""
        assert await s.scalar(select(func.count()).select_from(Message)
                              .where(Message.author_id == newcomer.id)) == 0


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_connective_forget_on_the_command_line(app, tmp_path):
    await app.importer.import_slack(write_slack_export(tmp_path / "export", USERS, THREADS))
    out = subprocess.run([sys.executable, "-m", "bot.cli", "--db", app.settings.database_url, "forget", "UPG"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert re.match(r"Forgot \S.* \(UPG\) in slack:TTEST0001:", out.stdout), out.stdout
    async with app.db.sessions() as s:
        assert await s.scalar(select(Member.profiling_consent).where(Member.external_id == "UPG")) is False


async def test_forget_me_keeps_only_the_platform_id_not_the_members_own_choices(app, tmp_path):
    """/forget-me says "I keep only your platform id, marked opted out", and kept the weekly intro cap and the paused
    intros Kenji had chosen (and when he had last opted back in): /me showed them after he opted in again."""
    console, _ = await _setup(app, tmp_path)
    await console.say("UK8S", "/click home.cap 1")
    await console.say("UK8S", "/click home.unavailable off")
    await console.say("UK8S", "/optout")
    await console.say("UK8S", "/optin")
    async with app.db.sessions() as s:
        kenji = await s.scalar(select(Member).where(Member.external_id == "UK8S"))
    assert (kenji.weekly_intro_cap, kenji.available_for_intros) == (1, False) and kenji.opted_in_at is not None
    await console.say("UK8S", "/forget-me")
    async with app.db.sessions() as s:
        kenji = await s.scalar(select(Member).where(Member.external_id == "UK8S"))
    assert (kenji.name, kenji.timezone, kenji.weekly_intro_cap, kenji.available_for_intros, kenji.opted_in_at,
            kenji.profiling_consent) == ("", None, None, True, None, False)
    await console.say("UK8S", "/optin")
    [me] = await console.say("UK8S", "/me")
    assert "available for intros: yes · weekly intro cap: 3" in me, me


async def test_debug_logging_writes_no_member_words_nor_response_urls(slack, capsys):  # noqa: F811
    """`--log-level DEBUG` let slack_sdk write every request and answer whole: Asha's question, the answer quoting
    what Petra said, the members' names, and the command's response_url (a credential for 30 minutes). The deploy docs
    say message text is never logged; our own DEBUG lines still are."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    levels = {name: logger.level for name, logger in logging.Logger.manager.loggerDict.items()
              if isinstance(logger, logging.Logger)}
    try:
        setup_logging("DEBUG")
        answer = await slack.command("UASK1", "/whoknows", "postgres index ignored by the planner giraffe")
        await slack.adapter.idle()
        logging.getLogger("bot.test").debug("a debug line of ours")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        for name, was in levels.items():
            logging.getLogger(name).setLevel(was)
    assert "<@UPG>" in str(answer) and "EXPLAIN" in str(answer)  # Petra suggested, with what she said
    err = capsys.readouterr().err
    assert "a debug line of ours" in err, err
    for words in ("giraffe", "EXPLAIN", "Asha", "/response/"):  # users.info told the asker's name
        assert words not in err, (words, err)


async def test_forget_me_in_one_discord_server_says_the_others_still_know_the_member(app):
    """One bot serves two Discord servers where Kenji talks (one Discord account). /forget-me in the first told him "I
    deleted everything I had about you" while what he said in the second stayed: it now says that was for this server,
    and in how many others he is known."""
    for guild in ("G1", "G2"):
        await app.core.handle(ev.MessagePosted(
            community=guild, platform="discord", user="4242", channel="77", message_id=f"9{guild[-1]}00",
            text="helm rollback --wait restores the previous release", user_name="Kenji", event_id=f"m-{guild}"))
    first = ConsoleAdapter(app.core.handle, community="G1", platform="discord")
    [done] = await first.say("4242", "/forget-me")
    assert "deleted everything" in done and "I also know you in 1 other server(s) I serve" in done, done
    second = ConsoleAdapter(app.core.handle, community="G2", platform="discord")
    [done] = await second.say("4242", "/forget-me")
    assert "deleted everything" in done and "also know you" not in done, done
