"""`connective forget` at a community manager's hand: what /forget-me would have told the platform is sent by the
platform's own client where the bot's token is set (the real slack-sdk and discord.py clients, against the fakes),
and said to be left where it is not."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from bot.actions import DirectMessage, EditPost, UpdateMessage
from bot.cli_forget import forget_member, report, tell_platform
from bot.db.models import Community, Member
from bot.errors import UserError
from bot.outbox import decode
from tests.discord_fixtures import ASHA, GUILD, PETRA
from tests.discord_harness import running_bot
from tests.test_discord_bot import _intro_requested_of_petra, fake_discord  # noqa: F401  (fixture)
from tests.test_slack_app import TOKEN, buttons, slack, text_of  # noqa: F401  (fixture)


async def _community_id(app, platform: str, external_id: str) -> int:  # noqa: ANN001
    async with app.db.sessions() as s:
        return await s.scalar(select(Community.id).where(Community.platform == platform,
                                                          Community.external_id == external_id))


async def _slack_request(slack, asker: str, question: str) -> tuple[str, str]:  # noqa: ANN001, F811
    """Asker asks and requests an intro: the expert and the ts of the request in the expert's DM."""
    _, value = buttons(await slack.command(asker, "/whoknows", question))[0]
    await slack.click(asker, "intro.request", value)
    expert = value.split(":")[1]
    [sent] = [c.answer for c in slack.fake.calls if c.method == "chat.postMessage"
              and c.body["channel"] == f"D{expert}" and question in text_of(c.body)]
    return expert, sent["ts"]


async def test_a_forget_at_the_managers_hand_edits_the_experts_dms_and_the_app_home_on_slack(slack):  # noqa: F811
    """Asha wrote to the community manager to be forgotten. `connective forget UASK1` deleted her data, but Petra's DM
    still quoted Asha's question in the intro request ('/forget-me' edits it), and Asha's App Home still showed her
    profile: a command line has no Slack client, and only counted what it could not send. With SLACK_BOT_TOKEN set, it
    sends them with the bot token's client."""
    expert, ts = await _slack_request(slack, "UASK1", "postgres index ignored by the planner")
    slack.app.core.senders.pop("slack")  # no bot running: the command line alone
    updates = len(slack.fake.of("chat.update"))
    done = await forget_member(slack.app, await _community_id(slack.app, "slack", "TTEST0001"), "UASK1")
    assert [type(a) for a in done.not_sent] == [UpdateMessage], done.not_sent

    without = await tell_platform(slack.app, slack.app.settings, done)  # no token set
    assert (without.sent, len(without.left), without.home) == (0, 1, False)
    lines = report(done, without)
    assert "1 platform message(s) not sent (SLACK_BOT_TOKEN is not set)" in lines[1], lines
    assert "App Home shows their profile until they open it again" in lines[2], lines
    assert len(slack.fake.of("chat.update")) == updates and not slack.fake.of("views.publish")

    s = slack.app.settings.model_copy(update={"slack_bot_token": SecretStr(TOKEN),
                                              "slack_api_url": f"{slack.fake.url}/api"})
    told = await tell_platform(slack.app, s, done)
    assert (told.sent, told.left, told.home) == (1, [], True), told
    [edited] = [m for m in slack.fake.of("chat.update") if m["ts"] == ts]
    assert edited["channel"] == f"D{expert}" and "postgres" not in text_of(edited) and not buttons(edited)
    [home] = slack.fake.of("views.publish")
    assert home["user_id"] == "UASK1" and "postgres" not in str(home)
    lines = report(done, told)
    assert lines[1].startswith("Sent 1 platform message(s) on slack") and "App Home no longer" in lines[2], lines
    assert len(lines) == 3, lines
    assert "slack" not in slack.app.core.senders  # the command line's client is not left behind


async def test_a_token_of_another_workspace_sends_nothing(slack):  # noqa: F811
    await _slack_request(slack, "UASK1", "postgres index ignored by the planner")
    slack.app.core.senders.pop("slack")
    done = await forget_member(slack.app, await _community_id(slack.app, "slack", "TTEST0001"), "UASK1")
    slack.fake.team_id = "TOTHER"
    s = slack.app.settings.model_copy(update={"slack_bot_token": SecretStr(TOKEN),
                                              "slack_api_url": f"{slack.fake.url}/api"})
    updates = len(slack.fake.of("chat.update"))
    with pytest.raises(UserError, match="SLACK_BOT_TOKEN is workspace TOTHER's, not TTEST0001's"):
        await tell_platform(slack.app, s, done)
    assert len(slack.fake.of("chat.update")) == updates and not slack.fake.of("views.publish")


async def test_a_discord_token_whose_bot_is_not_in_the_server_sends_nothing(app, fake_discord):  # noqa: F811
    """The token of another deployment's bot (another application on the same database) reached none of the server's
    members: each DM it sent was refused and counted as a member who takes none, the asker offered the next expert for
    it. It is refused as Slack's token of another workspace is, and what was to be sent is kept for the running bot."""
    async with running_bot(app, fake_discord) as bot:
        await _intro_requested_of_petra(app, fake_discord, bot)
    done = await forget_member(app, await _community_id(app, "discord", GUILD), ASHA)
    fake_discord.guild = {**fake_discord.guild, "id": "1100000000000000999"}  # the token's bot is in another server
    s = app.settings.model_copy(update={"discord_token": SecretStr("fake-token"),
                                        "discord_api_url": fake_discord.api_url})
    sent = len([c for c in fake_discord.calls if c.method in ("POST", "PATCH")])
    with pytest.raises(UserError, match=f"DISCORD_TOKEN's bot is not in server {GUILD}"):
        await tell_platform(app, s, done)
    assert len([c for c in fake_discord.calls if c.method in ("POST", "PATCH")]) == sent
    assert "discord" not in app.core.senders


async def test_a_forget_at_the_managers_hand_edits_the_experts_dm_on_discord(app, fake_discord):  # noqa: F811
    """The same on Discord, with discord.py's REST client after login (no gateway): the request in Petra's DM no
    longer quotes the question of Asha, who was forgotten while no bot ran."""
    async with running_bot(app, fake_discord) as bot:
        petra_dm = "9" + PETRA[1:]
        asked = await _intro_requested_of_petra(app, fake_discord, bot)
    done = await forget_member(app, await _community_id(app, "discord", GUILD), ASHA)
    assert len(done.not_sent) == 1, done.not_sent
    assert not fake_discord.find("PATCH", rf"/channels/{petra_dm}/messages/{asked.answer['id']}")
    s = app.settings.model_copy(update={"discord_token": SecretStr("fake-token"),
                                        "discord_api_url": fake_discord.api_url})
    told = await tell_platform(app, s, done)
    assert (told.sent, told.left, told.home) == (1, [], False), told
    [edited] = fake_discord.find("PATCH", rf"/channels/{petra_dm}/messages/{asked.answer['id']}")
    assert "postgres index tuning" not in str(edited.json) and not edited.json.get("components"), edited.json
    assert report(done, told)[1].startswith("Sent 1 platform message(s) on discord"), report(done, told)
    assert "discord" not in app.core.senders


async def test_askers_waiting_on_a_forgotten_expert_are_offered_the_next_one_from_the_command_line(slack):  # noqa: F811
    """Petra, asked for an intro by Asha and not yet answering, is forgotten at the manager's hand: Asha waited on a
    request nobody would answer until it expired. The command line offers her the next expert, as /forget-me does."""
    expert, _ = await _slack_request(slack, "UASK1", "postgres index ignored by the planner")
    slack.app.core.senders.pop("slack")
    dms = len(slack.dm("UASK1"))
    done = await forget_member(slack.app, await _community_id(slack.app, "slack", "TTEST0001"), expert)
    assert done.not_sent, done
    s = slack.app.settings.model_copy(update={"slack_bot_token": SecretStr(TOKEN),
                                              "slack_api_url": f"{slack.fake.url}/api"})
    told = await tell_platform(slack.app, s, done)
    assert told.sent == len(done.not_sent) and not told.left, told
    offered = slack.dm("UASK1")[dms:]
    assert offered and "postgres index ignored" in text_of(offered[-1]), offered
    assert f"<@{expert}>" not in str(offered[-1])


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_connective_forget_reads_the_bot_token_as_run_does_and_says_what_it_sent(slack):  # noqa: F811
    import asyncio
    import os
    import sys

    expert, ts = await _slack_request(slack, "UASK1", "postgres index ignored by the planner")
    slack.app.core.senders.pop("slack")
    env = {**os.environ, "SLACK_BOT_TOKEN": TOKEN, "CONNECTIVE_SLACK_API_URL": f"{slack.fake.url}/api"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "--db", slack.app.settings.database_url, "forget", "UASK1", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 600)
    assert process.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert " (UASK1) in slack:TTEST0001:" in lines[0] and lines[0].startswith("Forgot "), lines
    assert lines[1:] == ["Sent 1 platform message(s) on slack (the intro requests they sent no longer quote their "
                         "question; askers waiting on them were offered the next expert).",
                         "Their App Home no longer shows their profile."], lines
    [edited] = [m for m in slack.fake.of("chat.update") if m["ts"] == ts]
    assert "postgres" not in text_of(edited) and TOKEN not in err.decode()


async def test_what_a_forget_without_the_token_could_not_send_is_kept_for_the_running_bot(slack):  # noqa: F811
    """Without SLACK_BOT_TOKEN where the manager ran it, `connective forget` only counted what it could not send: the
    expert's DM quoted the forgotten asker's question for good. It is kept in the database now, and the running bot
    sends it once (its outbox sweep), whichever replica sweeps."""
    from bot.cli_forget import keep_for_the_bot
    from bot.db.models import OutboxAction
    from bot.outbox import Outbox

    expert, ts = await _slack_request(slack, "UASK1", "postgres index ignored by the planner")
    running = slack.app.core.senders.pop("slack")
    done = await forget_member(slack.app, await _community_id(slack.app, "slack", "TTEST0001"), "UASK1")
    told = await tell_platform(slack.app, slack.app.settings, done)
    told.kept = await keep_for_the_bot(slack.app, done, told)
    assert told.kept == 1
    assert "1 platform message(s) not sent from here (SLACK_BOT_TOKEN is not set), kept for the running bot" in (
        report(done, told)[1]), report(done, told)
    assert await Outbox(db=slack.app.db, core=slack.app.core).send_due() == 0  # no Slack bot running here
    slack.app.core.senders["slack"] = running
    assert await slack.app.outbox.send_due() == 1
    assert await Outbox(db=slack.app.db, core=slack.app.core).send_due() == 0  # once
    [edited] = [m for m in slack.fake.of("chat.update") if m["ts"] == ts]
    assert edited["channel"] == f"D{expert}" and "postgres" not in text_of(edited) and not buttons(edited)
    async with slack.app.db.sessions() as s:
        assert await s.scalar(select(OutboxAction.id)) is None


def test_a_kept_action_reads_back_as_it_was():
    from bot.actions import Button, Document, Evidence, ExpertCard, OpenGroup, ResourceItem, Section
    from bot.outbox import decode, encode

    doc = Document(text="t", sections=(Section(heading="h", quotes=(Evidence("q", None),), experts=(
        ExpertCard(user="U1", name="P", score=0.5, why=(Evidence("w", "https://x/p"),),
                   buttons=(Button("Ask", "intro.request", "1:U1", "primary"),)),),
        resources=(ResourceItem("r", "https://x"),)),))
    for action in (UpdateMessage(community="T", channel="D1", message_ref="1.2", doc=doc),
                   OpenGroup(community="T", members=("U1", "U2"), doc=doc, key="intro:3"),
                   EditPost(community="T", channel="C1", key="digest:1:2023-11-20T09:00", doc=doc,
                            since=datetime(2023, 11, 20, 8, tzinfo=UTC), until=datetime(2023, 12, 25, 9, tzinfo=UTC))):
        assert decode(encode(action)) == action
    with pytest.raises(ValueError, match="unknown kind"):
        decode('{"kind": "Shout", "action": {}}')


async def test_what_a_forget_without_the_token_kept_is_sent_by_the_running_discord_bot(app, fake_discord):  # noqa: F811
    from bot.cli_forget import keep_for_the_bot

    petra_dm = "9" + PETRA[1:]
    async with running_bot(app, fake_discord) as bot:
        asked = await _intro_requested_of_petra(app, fake_discord, bot)
    done = await forget_member(app, await _community_id(app, "discord", GUILD), ASHA)
    told = await tell_platform(app, app.settings, done)
    assert await keep_for_the_bot(app, done, told) == 1 and told.why == "DISCORD_TOKEN is not set"
    request = rf"/channels/{petra_dm}/messages/{asked.answer['id']}"
    async with running_bot(app, fake_discord):
        assert await app.outbox.send_due() == 1
    [edited] = fake_discord.find("PATCH", request)
    assert "postgres index tuning" not in str(edited.json) and not edited.json.get("components"), edited.json


async def test_kept_actions_naming_a_member_who_opts_out_or_is_forgotten_are_not_sent(slack):  # noqa: F811
    """An offer of the next expert kept for the running bot (to Bruno, with Petra's card and what she said) was sent
    after Bruno asked to be forgotten, or Petra opted out: what is kept naming either goes with their data."""
    from bot.actions import Document, ExpertCard, Section
    from bot.db.models import OutboxAction
    from bot.outbox import keep

    community_id = await _community_id(slack.app, "slack", "TTEST0001")

    def offer(to: str, expert: str) -> DirectMessage:
        return DirectMessage(community="TTEST0001", user=to, key="", doc=Document(
            text="next expert", sections=(Section(experts=(ExpertCard(user=expert, name="E", score=1.0),)),)))

    await keep(slack.app.db, community_id, "slack", [offer("UASK2", "UK8S"), offer("UASK1", "UPG")])
    await slack.command("UPG", "/connective", "optout")
    await slack.adapter.idle()
    async with slack.app.db.sessions() as s:
        assert [DirectMessage] == [type(decode(b)) for b in await s.scalars(select(OutboxAction.body))]
        assert "UASK2" in await s.scalar(select(OutboxAction.body))
    await slack.command("UASK2", "/connective", "forget-me")
    await slack.adapter.idle()
    async with slack.app.db.sessions() as s:
        assert await s.scalar(select(OutboxAction.id)) is None


async def test_a_kept_action_the_platform_fails_is_tried_again_then_removed(slack, caplog):  # noqa: F811
    from datetime import timedelta

    from bot.actions import Document
    from bot.db.models import OutboxAction
    from bot.events import utcnow
    from bot.outbox import MAX_ATTEMPTS, Outbox, keep

    class Failing:
        calls = 0

        async def send(self, action) -> None:  # noqa: ANN001
            Failing.calls += 1
            raise RuntimeError("Slack is having a moment")

    now = utcnow()
    community_id = await _community_id(slack.app, "slack", "TTEST0001")
    await keep(slack.app.db, community_id, "slack",
               [DirectMessage(community="TTEST0001", user="UASK1", doc=Document(text="next expert"))], now)
    slack.app.core.senders["slack"] = Failing()
    outbox = Outbox(db=slack.app.db, core=slack.app.core)
    for minutes in range(0, 60 * 24, 5):
        assert await outbox.send_due(now + timedelta(minutes=minutes)) == 0
    assert Failing.calls == MAX_ATTEMPTS
    async with slack.app.db.sessions() as s:
        assert await s.scalar(select(OutboxAction.id)) is None  # not kept unsent for ever
    assert "given up: slack failed it 5 times" in caplog.text


async def test_a_forget_without_the_token_keeps_the_digest_edits_for_the_running_bot(slack):  # noqa: F811
    """`connective forget` does what /forget-me does to the digests posted lately that named the member: where the
    bot's token is not set, the edit is kept for the running bot, which makes it (the post found by its metadata)."""
    from bot.cli_forget import keep_for_the_bot
    from tests.test_slack_features import LINK, NOW, SAVED, Clock, at, resource_lines, subscribed_digest

    clock = at(Clock(NOW), slack)
    digest_id = await subscribed_digest(slack, clock)
    assert await slack.app.digests.run_due(digest_id) == "posted"
    [post] = [m for m in slack.fake.history["C0GENERAL"] if m.get("metadata")]
    post["ts"] = ts = f"{clock.now.timestamp():.6f}"  # posted at the bot's time (the fake stamps its own)
    running = slack.app.core.senders.pop("slack")
    done = await forget_member(slack.app, await _community_id(slack.app, "slack", "TTEST0001"), "UASK1",
                               now=clock.now + timedelta(days=2))
    assert [type(a) for a in done.not_sent] == [EditPost], done.not_sent
    told = await tell_platform(slack.app, slack.app.settings, done)
    told.kept = await keep_for_the_bot(slack.app, done, told)
    lines = report(done, told)
    assert "1 digest(s) posted in the last 90 days quoted or named them: none edited yet, 1 left" in lines[1], lines
    assert "kept for the running bot" in lines[2], lines
    # Petra, who shared the other link, forgotten the same way: her edit (without either) replaces the one kept.
    done = await forget_member(slack.app, await _community_id(slack.app, "slack", "TTEST0001"), "UPG",
                               now=clock.now + timedelta(days=3))
    await keep_for_the_bot(slack.app, done, await tell_platform(slack.app, slack.app.settings, done))
    slack.app.core.senders["slack"] = running
    assert await slack.app.outbox.send_due() == 1
    [edited] = slack.fake.of("chat.update")
    assert edited["ts"] == ts and SAVED not in resource_lines(edited) and "read this before tuning" not in str(edited)
    assert LINK not in str(edited) and "taken out" in text_of(edited)


@pytest.mark.parametrize("error", ["message_not_found", "channel_not_found", "cant_update_message"])
async def test_a_kept_edit_of_a_slack_message_no_longer_there_is_done_at_once(slack, error, caplog):  # noqa: F811
    """The intro request a kept edit was to change was deleted since (or its DM went): Slack's answer was taken as a
    failure, and the edit tried again five times over four hours, a warning each time. There is nothing left to edit:
    done after the first."""
    from bot.actions import Document
    from bot.db.models import OutboxAction
    from bot.events import utcnow
    from bot.outbox import keep

    now = utcnow()
    await keep(slack.app.db, await _community_id(slack.app, "slack", "TTEST0001"), "slack",
               [UpdateMessage(community="TTEST0001", channel="DUPG", message_ref="1700000000.000100",
                              doc=Document(text="This request was withdrawn."))], now)
    slack.fake.refused["chat.update"] = error
    for minutes in range(0, 60 * 6, 5):
        await slack.app.outbox.send_due(now + timedelta(minutes=minutes))
    assert len(slack.fake.of("chat.update")) == 1
    async with slack.app.db.sessions() as s:
        assert await s.scalar(select(OutboxAction.id)) is None
    assert "given up" not in caplog.text and error in caplog.text


async def test_a_kept_edit_of_a_discord_message_no_longer_there_is_done_at_once(app, fake_discord, caplog):  # noqa: F811
    """The same on Discord: 404 Unknown Message for the request in Petra's DM, deleted since, is done."""
    from bot.actions import Document
    from bot.db.models import OutboxAction
    from bot.events import utcnow
    from bot.outbox import keep
    from bot.repo import ensure_community

    petra_dm = "9" + PETRA[1:]
    async with app.db.sessions.begin() as s:
        community_id = (await ensure_community(s, "discord", GUILD)).id
    async with running_bot(app, fake_discord):
        now = utcnow()
        await keep(app.db, community_id, "discord",
                   [UpdateMessage(community=GUILD, channel=petra_dm, message_ref="1100000000000000900",
                                  doc=Document(text="This request was withdrawn."))], now)
        edit = rf"/channels/{petra_dm}/messages/1100000000000000900"
        fake_discord.failing.append(("PATCH", edit, 404, 10))
        for minutes in range(0, 60 * 6, 5):
            await app.outbox.send_due(now + timedelta(minutes=minutes))
    assert len(fake_discord.find("PATCH", edit)) == 1
    async with app.db.sessions() as s:
        assert await s.scalar(select(OutboxAction.id)) is None
    assert "given up" not in caplog.text and "Unknown Message" in caplog.text


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_connective_outbox_shows_a_manager_what_erasures_still_have_the_platform_do(slack):  # noqa: F811
    """An edit kept after /forget-me that Slack keeps failing was in the log only (`outbox_action.error` was written
    and never read): a manager could not see that a member's words were still posted. `connective outbox` lists each
    kept action, where it goes, how it fared and when it is tried next, without its text."""
    import asyncio
    import os
    import sys

    from bot import metrics
    from bot.actions import Document
    from bot.events import utcnow
    from bot.outbox import keep

    class Failing:
        async def send(self, action) -> None:  # noqa: ANN001
            raise RuntimeError("Slack is having a moment")

    async def connective_outbox() -> list[str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "--db", slack.app.settings.database_url, "outbox",
            env={**os.environ, "SLACK_BOT_TOKEN": ""}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), 600)
        assert process.returncode == 0, err.decode()
        return out.decode().splitlines()

    assert await connective_outbox() == ["Nothing kept: the platform has been told all members' erasures had it do."]
    now = utcnow()
    community_id = await _community_id(slack.app, "slack", "TTEST0001")
    await keep(slack.app.db, community_id, "slack", [
        EditPost(community="TTEST0001", channel="C0GENERAL", key="digest:1:2023-11-20T09:00",
                 doc=Document(text="Asha's secret note"), since=now, until=now),
        UpdateMessage(community="TTEST0001", channel="DUPG", message_ref="1.2", doc=Document(text="withdrawn"))], now)
    slack.app.core.senders["slack"] = Failing()

    def failed() -> float:
        return metrics.REGISTRY.get_sample_value("connective_outbox_actions_total",
                                                 {"platform": "slack", "outcome": "failed"}) or 0.0

    before = failed()
    assert await slack.app.outbox.send_due(now) == 0  # both failed once
    assert failed() == before + 2  # /metrics counts them
    await keep(slack.app.db, community_id, "slack", [
        UpdateMessage(community="TTEST0001", channel="DUPG", message_ref="1.3", doc=Document(text="withdrawn")),
        DirectMessage(community="TTEST0001", user="UPG", doc=Document(text="the next expert"))], now)
    async with slack.app.db.sessions() as s:
        petra = await s.scalar(select(Member.name).where(Member.external_id == "UPG"))
    lines = await connective_outbox()
    assert lines[0].startswith("4 action(s) kept for the running bot, 2 of them failed so far"), lines
    # The member and the channel by the names the manager knows (it said "DM to UPG", "in C0GENERAL").
    assert " slack:TTEST0001 EditPost (post digest:1:2023-11-20T09:00 in #general), kept since " in lines[1], lines
    assert petra and f"DirectMessage (DM to {petra} (UPG))" in lines[4], lines
    retry = now + timedelta(minutes=5)
    assert lines[1].endswith(f": slack failed it (attempt 1 of 5); next try {retry:%Y-%m-%d %H:%M} UTC"), lines
    assert "UpdateMessage (in DUPG)" in lines[2] and "attempt 1 of 5" in lines[2], lines
    assert "UpdateMessage (in DUPG)" in lines[3] and "not tried yet; a running bot of slack" in lines[3], lines
    assert len(lines) == 5 and "secret" not in "\n".join(lines)
