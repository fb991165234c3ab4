"""The workspace changing under the running bot: the app uninstalled or its token revoked (an event, or every call
refused after). `connective run` (adapters.slack.runner.run) against the fake Slack, with the real bolt and
slack_sdk clients."""
from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from adapters.slack import runner
from adapters.slack.directory import CHANNEL_TTL
from adapters.slack.runner import serve_http
from bot.actions import Document, PostToChannel
from bot.db.models import Channel, Message
from bot.errors import Unavailable, UserError
from tests.exports import TEAM, THREADS, USERS, write_slack_export
from tests.slack_fake import FakeSlack, sign
from tests.test_slack_app import TOKEN, fresh, slack  # noqa: F401 - the fixture

SECRET = "lifecycle-secret"

# What connective logs (a discord.py task of an earlier test, cut off by its close, may log at any time).
OURS = ("bot", "adapters", "slack_bolt", "slack_sdk")


async def _stored(app) -> int:  # noqa: ANN001
    async with app.db.sessions() as session:
        return await session.scalar(select(func.count()).select_from(Message))


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith(OURS) and r.exc_info]


async def _socket_mode(app, fake: FakeSlack) -> asyncio.Future:  # noqa: ANN001
    app.settings = app.settings.model_copy(update={
        "slack_bot_token": SecretStr(TOKEN), "slack_app_token": SecretStr("xapp-test"),
        "slack_api_url": f"{fake.url}/api/"})
    running = asyncio.ensure_future(runner.run(app))
    await fake.wait_for("apps.connections.open", count=2)  # the token's check, then the handler's own
    for _ in range(200):
        if fake.sockets:
            break
        await asyncio.sleep(0.05)
    return running


async def _http_mode(app, fake: FakeSlack, monkeypatch) -> tuple[asyncio.Future, str]:  # noqa: ANN001
    listening: list[int] = []

    async def on_port_0(adapter, **_: Any):  # noqa: ANN001, ANN202
        served = await serve_http(adapter, port=0, host="127.0.0.1")
        listening.append(served[1])
        return served

    monkeypatch.setattr(runner, "serve_http", on_port_0)
    app.settings = app.settings.model_copy(update={
        "slack_bot_token": SecretStr(TOKEN), "slack_signing_secret": SecretStr(SECRET),
        "slack_api_url": f"{fake.url}/api/"})
    running = asyncio.ensure_future(runner.run(app))
    for _ in range(200):
        if listening:
            break
        await asyncio.sleep(0.05)
    return running, f"http://127.0.0.1:{listening[0]}/slack/events"


async def _post_event(url: str, payload: dict[str, Any]) -> int:
    import aiohttp

    body = json.dumps(payload)
    async with aiohttp.ClientSession() as http, http.post(url, data=body.encode(), headers={
            "Content-Type": "application/json", **sign(SECRET, body)}) as response:
        return response.status


async def _ended(running: asyncio.Future) -> BaseException:
    try:
        await asyncio.wait_for(running, 30)
    except (UserError, TimeoutError) as exc:
        return exc
    raise AssertionError("the run went on")


@pytest.mark.parametrize("fixture", ["event_app_uninstalled.json", "event_tokens_revoked.json"])
async def test_the_app_uninstalled_stops_the_bot_with_one_line_and_keeps_its_data(app, tmp_path, caplog, fixture):
    """app_uninstalled (or tokens_revoked naming the bot) was 'acknowledged and not used': Socket Mode went on, every
    event, job and retry after failed with a traceback of its own (invalid_auth), and /healthz said all was well. The
    bot stops now (exit 2, as for a token refused at start) with one line saying what to do; what it stored is kept."""
    await app.importer.import_slack(write_slack_export(tmp_path / "export", USERS, THREADS))
    stored = await _stored(app)
    fake = await FakeSlack(team_id=TEAM).start()
    try:
        running = await _socket_mode(app, fake)
        await fake.envelopes.put({"envelope_id": "env-gone", "type": "events_api", "accepts_response_payload": False,
                                  "retry_attempt": 0, "retry_reason": "", "payload": fresh(fixture)})
        ended = await _ended(running)
    finally:
        await fake.stop()
    assert isinstance(ended, UserError) and not isinstance(ended, Unavailable), ended  # exit 2
    said = str(ended)
    assert "app_uninstalled" in said or "tokens_revoked" in said, said
    assert "SLACK_BOT_TOKEN" in said and "kept" in said and TOKEN not in said, said
    assert {"envelope_id": "env-gone"} in [{"envelope_id": a.get("envelope_id")} for a in fake.socket_acks]
    assert not _tracebacks(caplog)
    assert not app.health.platform_connected and "slack" not in app.core.senders
    assert await _stored(app) == stored


async def test_a_members_token_revoked_is_not_the_bots(app, tmp_path):
    """tokens_revoked lists user tokens too (a member who authorized the app): the bot's own goes on."""
    fake = await FakeSlack(team_id=TEAM).start()
    try:
        running = await _socket_mode(app, fake)
        payload = fresh("event_tokens_revoked.json")
        payload["event"]["tokens"] = {"oauth": ["UPG"], "bot": []}
        await fake.envelopes.put({"envelope_id": "env-user", "type": "events_api", "accepts_response_payload": False,
                                  "retry_attempt": 0, "retry_reason": "", "payload": payload})
        for _ in range(100):
            if any(a.get("envelope_id") == "env-user" for a in fake.socket_acks):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        assert not running.done()
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await fake.stop()


@pytest.mark.parametrize("error", ["token_revoked", "invalid_auth", "account_inactive"])
async def test_a_token_refused_while_running_stops_the_bot_in_one_line(app, tmp_path, caplog, monkeypatch, error):
    """An answer, a digest or an intro sent after the token was revoked (no event came: the app was not subscribed to
    it, or another replica got it) failed with a traceback each, and again at each retry, for ever, the bot looking up.
    The first call refused so stops the bot (exit 2) with one line; the jobs meeting it meanwhile log one line each."""
    await app.importer.import_slack(write_slack_export(tmp_path / "export", USERS, THREADS))
    fake = await FakeSlack(team_id=TEAM).start()
    try:
        running, url = await _http_mode(app, fake, monkeypatch)
        fake.refused["chat.postMessage"] = fake.refused["conversations.open"] = error
        assert await _post_event(url, fresh("event_message_im.json")) == 200  # a question: its answer is refused
        # A scheduled post meanwhile (a digest): not delivered, to be tried again after the restart; one line.
        action = PostToChannel(community=TEAM, channel="C0GENERAL", doc=Document(text="digest"))
        assert await app.core.deliver("slack", [action]) == [action]
        ended = await _ended(running)
    finally:
        await fake.stop()
    assert isinstance(ended, UserError) and not isinstance(ended, Unavailable), ended
    assert f"Slack refused the bot token (SLACK_BOT_TOKEN) while running: {error}" in str(ended)
    assert TOKEN not in str(ended)
    assert not _tracebacks(caplog), _tracebacks(caplog)
    errors = [r.getMessage() for r in caplog.records if r.name.startswith(OURS) and r.levelno >= logging.ERROR]
    assert errors == [str(ended)]


async def test_a_channel_renamed_is_stored_under_its_new_name(slack):  # noqa: F811
    """A channel's name was asked of Slack once a process: renamed, each message said in it wrote the old name back,
    and answers and digests named it so until a restart. channel_rename (group_rename for a private one) tells the
    replica that gets it; another asks Slack again within CHANNEL_TTL."""
    async def name() -> str:
        async with slack.app.db.sessions() as session:
            return await session.scalar(select(Channel.name).where(Channel.external_id == "C0GENERAL"))

    async def said(text: str) -> None:
        assert await slack.event(fresh("event_message.json", ts=f"{1700000200 + len(text)}.000100", text=text)) == 200
        await slack.adapter.idle()

    await said("postgres vacuum tuning notes")
    assert await name() == "general"
    slack.fake.channels["C0GENERAL"] = "help-desk"
    assert await slack.event(fresh("event_channel_rename.json")) == 200
    await slack.adapter.idle()
    await said("the autovacuum scale factor matters more than the threshold")
    assert await name() == "help-desk"

    now = [1000.0]  # renamed again; the event went to another replica
    slack.adapter.directory.monotonic = lambda: now[0]
    slack.adapter.directory.learn_channel("C0GENERAL", "help-desk")
    slack.fake.channels["C0GENERAL"] = "support"
    await said("pg_stat_user_tables shows when autovacuum last ran")
    assert await name() == "help-desk"
    now[0] += CHANNEL_TTL
    await said("lower autovacuum_vacuum_cost_delay for big tables, it helps a lot")
    assert await name() == "support"


async def test_a_digest_whose_channel_is_archived_is_paused_until_unarchived(slack, caplog):  # noqa: F811
    """A digest's channel archived: each period was refused (is_archived), 20 times every 10 minutes, and the admin who
    set it up was told again every week, for as long as the subscription stayed. Now it is paused when Slack says the
    channel was archived, the admin told once; unarchived, it goes on, the admin told so, and the period due is
    posted."""
    from tests.test_slack_app import text_of
    from tests.test_slack_features import NOW, Clock, at, share_and_save

    clock = at(Clock(NOW), slack)
    await share_and_save(slack)
    slack.fake.people["UPG"]["is_admin"] = True
    await slack.command("UPG", "/digest", "subscribe <#CANN|announcements> 0 9 * * mon tz=UTC")
    slack.fake.refused_channels["CANN"] = "is_archived"
    archived = fresh("event_channel_archive.json")
    assert await slack.event(archived) == 200
    assert await slack.event(archived, headers={"X-Slack-Retry-Num": "1"}) == 200  # Slack's retry: told once
    await slack.adapter.idle()
    [told] = slack.dm("UPG")
    assert "<#CANN>" in text_of(told) and "archived" in text_of(told) and "/digest unsubscribe" in text_of(told)
    assert "paused: its channel was archived" in text_of(await slack.command("UASK2", "/digest", "list"))

    for _ in range(3):  # its Monday, and the catch-ups after
        clock.now = datetime(2023, 11, 20, 9, 0, 30, tzinfo=UTC) + timedelta(minutes=10 * _)
        assert await slack.app.digests.run_due(1) == "paused"
    assert not [c for c in slack.fake.calls if c.method == "chat.postMessage" and c.body["channel"] == "CANN"]
    assert len(slack.dm("UPG")) == 1

    del slack.fake.refused_channels["CANN"]
    assert await slack.event(fresh("event_channel_archive.json", type="channel_unarchive")) == 200
    await slack.adapter.idle()
    assert "is back" in text_of(slack.dm("UPG")[-1]) and len(slack.dm("UPG")) == 2
    assert await slack.app.digests.run_due(1) == "posted"
    assert not [r for r in caplog.records if r.name.startswith(OURS) and r.levelno >= logging.ERROR], caplog.text


async def test_a_replica_no_event_reaches_learns_its_access_ended_within_minutes(app, monkeypatch):
    """app_uninstalled reaches one replica; another, to which no event came and which had nothing to send, stayed up
    and ready, unable to do anything, until its next digest or restart. Every replica asks auth.test every
    ACCESS_CHECK_SECONDS, and stops as the one told did."""
    monkeypatch.setattr(runner, "ACCESS_CHECK_SECONDS", 0.2, raising=False)
    fake = await FakeSlack(team_id=TEAM).start()
    try:
        running, _ = await _http_mode(app, fake, monkeypatch)
        fake.refused["auth.test"] = "invalid_auth"
        ended = await _ended(running)
    finally:
        await fake.stop()
    assert isinstance(ended, UserError) and not isinstance(ended, Unavailable), ended
    assert "Slack refused the bot token (SLACK_BOT_TOKEN) while running: invalid_auth" in str(ended)


async def test_a_digest_whose_channel_removed_the_bot_is_paused_until_it_is_invited_again(slack):  # noqa: F811
    """The bot removed from a digest's channel (/remove): each period was refused (not_in_channel), 20 times every 10
    minutes, the admin told again every period. channel_left pauses it, the admin told once how to go on; the bot
    invited again (its own member_joined_channel), it goes on. An unarchive does not undo it."""
    from tests.test_slack_app import text_of
    from tests.test_slack_features import NOW, Clock, at, share_and_save

    clock = at(Clock(NOW), slack)
    await share_and_save(slack)
    slack.fake.people["UPG"]["is_admin"] = True
    await slack.command("UPG", "/digest", "subscribe <#CANN|announcements> 0 9 * * mon tz=UTC")
    slack.fake.refused_channels["CANN"] = "not_in_channel"
    left = fresh("event_channel_archive.json", type="channel_left", actor_id="UREG")
    del left["event"]["user"]
    assert await slack.event(left) == 200
    await slack.adapter.idle()
    [told] = slack.dm("UPG")
    assert "removed from <#CANN>" in text_of(told) and "/invite" in text_of(told), text_of(told)
    assert "paused: I was removed from its channel" in text_of(await slack.command("UASK2", "/digest", "list"))
    clock.now = datetime(2023, 11, 20, 9, 0, 30, tzinfo=UTC)
    assert await slack.app.digests.run_due(1) == "paused"
    assert await slack.event(fresh("event_channel_archive.json", type="channel_unarchive")) == 200
    await slack.adapter.idle()
    assert await slack.app.digests.run_due(1) == "paused" and len(slack.dm("UPG")) == 1

    del slack.fake.refused_channels["CANN"]
    assert await slack.event(fresh("event_member_joined_channel.json", user="UBOT", channel="CANN",
                                   inviter="UPG")) == 200
    await slack.adapter.idle()
    assert "is back" in text_of(slack.dm("UPG")[-1])
    assert await slack.app.digests.run_due(1) == "posted"


async def test_a_channel_deleted_takes_its_messages_with_it_and_one_archived_keeps_them(slack):  # noqa: F811
    """A channel deleted on Slack: its messages stayed stored, quoted as evidence of "who knows X?" with dead links
    and in digests. channel_deleted (group_deleted for a private one) deletes them here too, as each one's deletion
    is, and remembers them, so an export made before does not bring them back; an archived channel keeps its own."""
    from bot.db.models import DeletedMessage

    async def stored() -> dict[str, int]:
        async with slack.app.db.sessions() as session:
            return dict((await session.execute(select(Channel.external_id, func.count(Message.id)).join(
                Message, Message.channel_id == Channel.id).group_by(Channel.external_id))).all())

    general = (await stored()).get("C0GENERAL", 0)
    for i, channel in enumerate(["C0GENERAL", "CANN", "CANN", "CANN"]):
        assert await slack.event(fresh("event_message.json", channel=channel, ts=f"{1700000300 + i}.000100",
                                       text=f"postgres vacuum tuning note number {i} for the team")) == 200
    await slack.adapter.idle()
    assert await stored() == {"C0GENERAL": general + 1, "CANN": 3}
    assert await slack.event(fresh("event_channel_archive.json")) == 200
    await slack.adapter.idle()
    assert await stored() == {"C0GENERAL": general + 1, "CANN": 3}  # archived: kept

    assert await slack.event(fresh("event_channel_archive.json", type="channel_deleted")) == 200
    await slack.adapter.idle()
    assert await stored() == {"C0GENERAL": general + 1}
    async with slack.app.db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(DeletedMessage)) == 3
