"""The real bolt AsyncApp in HTTP mode, driven by signed requests built from recorded payloads, talking to
a fake Slack Web API on 127.0.0.1. Assertions are on what the fake received and what was stored."""
from __future__ import annotations

import asyncio
import copy
import itertools
import json
import logging
import time
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from adapters.slack.listeners import SlackAdapter
from adapters.slack.runner import serve_http, web_client
from bot.app import App
from bot.core import ASK_LIKE_THIS
from bot.db.intros import Intro, IntroState
from bot.db.models import Community, Member, Message, Reaction
from tests.exports import TEAM, THREADS, USERS, write_slack_export
from tests.slack_fake import FakeSlack, sign
from tests.test_slack_translate import load

SECRET = "test-signing-secret"
TOKEN = "xoxb-test-token"
_ids = itertools.count(1)


@dataclass
class Slack:
    app: App
    fake: FakeSlack
    adapter: SlackAdapter
    url: str
    http: aiohttp.ClientSession
    last_trigger: str = ""  # the trigger_id of the last click

    async def post(self, body: str, content_type: str, *, secret: str = SECRET, timestamp: int | None = None,
                   headers: dict[str, str] | None = None) -> int:
        signed = sign(secret, body, timestamp)
        async with self.http.post(self.url, data=body.encode(), headers={
                "Content-Type": content_type, **signed, **(headers or {})}) as response:
            await response.read()
            return response.status

    async def event(self, payload: dict[str, Any], **kwargs: Any) -> int:
        return await self.post(json.dumps(payload), "application/json", **kwargs)

    async def command(self, user: str, command: str, text: str) -> dict[str, Any]:
        """Run a slash command; returns what was sent to its response_url."""
        form = {**load("command_whoknows.json"), "user_id": user, "command": command, "text": text,
                "response_url": self.fake.response_url(), "trigger_id": f"t{next(_ids)}"}
        before = len(self.fake.of("response_url"))
        assert await self.post(urllib.parse.urlencode(form), "application/x-www-form-urlencoded") == 200
        return (await self.fake.wait_for("response_url", before + 1))[before]

    async def click(self, user: str, action: str, value: str, *, channel: str = "C0GENERAL",
                    home: bool = False, message_ts: str = "") -> None:
        """A click on an ephemeral message (the fixture's), or with message_ts on a message the bot posted."""
        payload = copy.deepcopy(load("block_actions_home.json" if home else "block_actions_message.json"))
        payload["user"]["id"] = user
        payload["actions"][0].update(action_id=action, value=value)
        payload["trigger_id"] = self.last_trigger = f"t{next(_ids)}"  # one per click: the same one is the same click
        if not home:
            payload["channel"]["id"] = payload["container"]["channel_id"] = channel
            payload["response_url"] = self.fake.response_url()
        if message_ts:
            payload["container"].update(message_ts=message_ts, is_ephemeral=False)
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        assert await self.post(body, "application/x-www-form-urlencoded") == 200
        await self.adapter.idle()

    def dm(self, user: str) -> list[dict[str, Any]]:
        return [m for m in self.fake.of("chat.postMessage") if m["channel"] == f"D{user}"]


def fresh(fixture: str, **event_fields: Any) -> dict[str, Any]:
    payload = copy.deepcopy(load(fixture))
    payload["event_id"] = f"Ev{next(_ids):08d}"
    payload["event"].update(event_fields)
    return payload


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    return (message.get("view") or message).get("blocks", [])


def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for block in _blocks(message):
        if "accessory" in block:
            out.append((block["accessory"]["action_id"], block["accessory"]["value"]))
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            out.append((element["action_id"], element["value"]))
    return out


def text_of(message: dict[str, Any]) -> str:
    return message.get("text", "") + json.dumps(_blocks(message))


@pytest.fixture
async def slack(app, tmp_path):
    await app.importer.import_slack(write_slack_export(tmp_path / "export", USERS, THREADS))
    people = {uid: {"id": uid, "name": name.lower(), "real_name": name, "tz": "Europe/Berlin", "is_bot": False,
                    "profile": {"display_name": name}} for uid, name in USERS.items()}
    fake = await FakeSlack(team_id=TEAM, people=people, channels={"C0GENERAL": "general"}).start()
    adapter = await SlackAdapter.connect(app, web_client(TOKEN, f"{fake.url}/api"), signing_secret=SECRET)
    app.core.senders["slack"] = adapter.sender
    runner, port = await serve_http(adapter, port=0, host="127.0.0.1")
    async with aiohttp.ClientSession() as http:
        yield Slack(app, fake, adapter, f"http://127.0.0.1:{port}/slack/events", http)
        await adapter.idle()
    await runner.cleanup()
    await fake.stop()


async def test_http_mode_healthz_reports_the_bots_health(slack):
    """It answered "ok" whatever the state of the database or of Slack (deploy walk-through)."""
    healthz = slack.url.replace("/slack/events", "/healthz")
    async with slack.http.get(healthz) as response:  # the fixture never told the health Slack answered
        assert response.status == 503 and (await response.json())["platform_connected"] is False
    slack.app.health.connected("slack")
    async with slack.http.get(healthz) as response:
        assert response.status == 200 and (await response.json())["database"] is True


async def test_ask_by_command_mention_and_dm_answers_only_the_asker(slack):
    answer = await slack.command("UASK1", "/whoknows", "postgres index ignored by the planner")
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    first = [b for b in answer["blocks"] if "accessory" in b][0]
    assert first["text"]["text"].startswith("*1. <@UPG>*")
    assert buttons(answer)[0][0] == "intro.request" and buttons(answer)[0][1].endswith(":UPG")

    assert await slack.event(fresh("event_app_mention.json")) == 200
    [ephemeral] = await slack.fake.wait_for("chat.postEphemeral")
    assert ephemeral["user"] == "UASK2" and ephemeral["channel"] == "C0GENERAL"
    assert "<@UK8S>" in text_of(ephemeral)
    assert await slack.event(fresh("event_message_mentioning_bot.json")) == 200  # its twin: not answered again

    assert await slack.event(fresh("event_message_im.json")) == 200
    [dm] = await slack.fake.wait_for("chat.postMessage")
    assert dm["channel"] == "D0ASK1" and "<@UPG>" in text_of(dm)
    await slack.adapter.idle()
    # Nobody else heard of it: no DMs opened, no other posts, and the asked questions were not ingested.
    assert slack.fake.of("conversations.open") == [] and len(slack.fake.of("chat.postMessage")) == 1
    assert len(slack.fake.of("chat.postEphemeral")) == 1
    assert all(c.token == TOKEN for c in slack.fake.calls if c.method != "response_url")
    async with slack.app.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Message).where(Message.text.like("%who knows%"))) == 0


async def test_evidence_from_an_imported_export_links_to_the_workspace(slack):
    """A Slack export names no workspace host, so imported messages' permalinks were https://slack.com/archives/…;
    answered in the workspace, they are on its own host (auth.test's url)."""
    answer = await slack.command("UASK1", "/whoknows", "postgres index ignored by the planner")
    assert "<https://acme.slack.com/archives/C0GENERAL/p" in text_of(answer)
    assert "https://slack.com/archives/" not in text_of(answer)


async def test_connecting_moves_the_imported_links_to_the_workspace_for_every_reader(slack):
    """The adapter's rewrite covered only what it posts; `connective ask`, the console and the digest preview read the
    stored links. Connecting records the workspace's address and moves them; a later import goes there too."""
    async with slack.app.db.sessions() as s:
        links = list(await s.scalars(select(Message.permalink)))
        community = await s.scalar(select(Community))
    assert links and all(link.startswith("https://acme.slack.com/archives/C0GENERAL/p") for link in links)
    assert community.settings["workspace_url"] == "https://acme.slack.com/"
    found = await slack.app.expertise.rank(community.id, "postgres index ignored by the planner", top=3)
    shown = [link for f in found for link in f.permalinks if link]
    assert shown and all(link.startswith("https://acme.slack.com/archives/") for link in shown)


async def test_a_bare_mention_and_a_question_with_no_topic_are_told_how_to_ask(slack):
    for nothing in ("?", "who knows?"):
        answer = await slack.command("UASK1", "/whoknows", nothing)
        assert answer["text"] == "Ask me like this: `/whoknows postgres query plans`" and not buttons(answer)
    assert await slack.event(fresh("event_app_mention.json", text="<@UBOT>")) == 200
    [ephemeral] = await slack.fake.wait_for("chat.postEphemeral")
    assert ephemeral["text"] == ASK_LIKE_THIS

async def test_the_topic_is_echoed_as_it_was_typed(slack):
    """Slack sends `a < b` as `a &lt; b`: escaped again it showed as `&lt;`. A right-to-left override would turn
    the reply's words after it around."""
    answer = await slack.command("UASK1", "/whoknows", "postgres a &lt; b \u202eindex")
    assert answer["blocks"][0]["text"]["text"] == "People who can likely help with “postgres a &lt; b index”:"
    mention = fresh("event_app_mention.json", text="<@UBOT> who knows postgres a &lt; b \u202eindex?")
    assert await slack.event(mention) == 200
    [ephemeral] = await slack.fake.wait_for("chat.postEphemeral")
    assert ephemeral["text"] == "People who can likely help with “postgres a &lt; b index”:"

async def test_ingestion_follows_edits_reactions_and_deletions(slack):
    async def stored() -> list[tuple[str, str | None]]:
        async with slack.app.db.sessions() as s:
            return (await s.execute(select(Message.text, Message.permalink)
                                    .where(Message.external_id == "1700000100.000200"))).all()

    assert await slack.event(fresh("event_message.json")) == 200
    await slack.adapter.idle()
    [(text, link)] = await stored()
    assert text.startswith("EXPLAIN ANALYZE") and link == "https://acme.slack.com/archives/C0GENERAL/p1700000100000200"
    async with slack.app.db.sessions() as s:
        petra = await s.scalar(select(Member).where(Member.external_id == "UPG"))
        assert petra.name == "Petra"

    await slack.event(fresh("event_message_changed.json"))
    await slack.event(fresh("event_reaction_added.json"))
    await slack.adapter.idle()
    assert (await stored())[0][0] == "EXPLAIN (ANALYZE, BUFFERS) shows a seq scan"
    async with slack.app.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Reaction).where(Reaction.name == "pray")) == 1
    await slack.event(fresh("event_reaction_removed.json"))
    await slack.adapter.idle()
    async with slack.app.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Reaction).where(Reaction.name == "pray")) == 0
    await slack.event(fresh("event_message_deleted.json"))
    await slack.adapter.idle()
    assert await stored() == []
    assert slack.fake.of("chat.postMessage") == [] and slack.fake.of("chat.postEphemeral") == []


async def test_an_edit_and_a_reaction_sent_at_once_after_a_message_are_not_lost(slack):
    """Each listener is a task of its own, and a message waits on users.info and its embedding: a reaction sent at
    once after it (a burst, a Socket Mode backlog) overtook it, found no message and was lost (Slack walk-through).
    Events of a channel are now handled in the order they came, so its edit is too."""
    for fixture in ("event_message.json", "event_message_changed.json", "event_reaction_added.json"):
        assert await slack.event(fresh(fixture)) == 200
    await slack.adapter.idle()
    async with slack.app.db.sessions() as s:
        text = await s.scalar(select(Message.text).where(Message.external_id == "1700000100.000200"))
        reactions = await s.scalar(select(func.count()).select_from(Reaction).where(Reaction.name == "pray"))
    assert (text, reactions) == ("EXPLAIN (ANALYZE, BUFFERS) shows a seq scan", 1)
    assert slack.adapter.in_order._locks == {}  # nothing kept once a channel is quiet


async def test_a_question_is_answered_while_its_channel_waits(slack):
    """A question is not stored, so it does not wait its turn in the channel: the first one loads the corpus (15-27 s
    at 200,000 messages), and the channel's messages would wait behind it, and it behind them."""
    async with slack.adapter.in_order.of(TEAM, "C0GENERAL"):  # the channel busy with an event before
        assert await slack.event(fresh("event_app_mention.json")) == 200
        [answer] = await slack.fake.wait_for("chat.postEphemeral")
        assert "<@UK8S>" in text_of(answer)
        assert await slack.event(fresh("event_message.json")) == 200
        await asyncio.sleep(0.2)
        async with slack.app.db.sessions() as s:  # a message waits for the channel's turn
            assert await s.scalar(select(func.count()).select_from(Message)
                                  .where(Message.external_id == "1700000100.000200")) == 0
    await slack.adapter.idle()
    async with slack.app.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Message)
                              .where(Message.external_id == "1700000100.000200")) == 1


async def test_a_deleted_thread_parent_is_deleted_and_its_replies_kept(slack):
    """Slack tells the deletion of a message with replies as an edit into a tombstone, not as message_deleted."""
    root = "1700000150.000100"
    await slack.event(fresh("event_message.json", user="UASK1", ts=root, event_ts=root,
                            text="How do I roll back a kubernetes deployment that went bad?"))
    await slack.event(fresh("event_thread_reply.json"))
    await slack.adapter.idle()
    assert await slack.event(fresh("event_message_tombstone.json")) == 200
    await slack.adapter.idle()
    async with slack.app.db.sessions() as s:
        left = (await s.execute(select(Message.external_id, Message.text)
                                .where(Message.external_id.in_([root, "1700000200.000300"])))).all()
    assert left == [("1700000200.000300", "kubectl rollout undo deployment/web")]

async def test_a_retried_event_is_processed_once(slack):
    payload = fresh("event_message_im.json")
    assert await slack.event(payload) == 200
    assert await slack.event(payload, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}) == 200
    assert await slack.event(payload, headers={"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_timeout"}) == 200
    await slack.fake.wait_for("chat.postMessage")
    await slack.adapter.idle()
    assert len(slack.fake.of("chat.postMessage")) == 1


async def _is_bot(app: App) -> dict[str, bool]:
    async with app.db.sessions() as s:
        return dict((await s.execute(select(Member.external_id, Member.is_bot))).all())


async def test_an_apps_posts_are_a_bots_and_a_person_posting_through_an_app_stays_a_person(slack):
    """A post with a bot_id is a bot's, as the import reads it: its user, seen first so, is a bot member; Petra's post
    through a workflow neither counts as hers nor makes her a bot; a person first seen through an app is a person
    from their first ordinary post; and a bot's post that mentions the bot asks nothing."""
    app_post = {"user": "UAPP", "bot_id": "BQUUX", "text": "frobnicator calibrated", "ts": "1700000300.000100",
                "event_ts": "1700000300.000100"}
    workflow = {"user": "UPG", "bot_id": "BFLOW", "text": "zorblax sprocket tuned", "ts": "1700000301.000100",
                "event_ts": "1700000301.000100"}
    giphy = {"user": "UNEWBIE", "bot_id": "BGIPHY", "text": "giphy: cat", "ts": "1700000302.000100",
             "event_ts": "1700000302.000100"}
    for event in (app_post, workflow, giphy):
        assert await slack.event(fresh("event_message.json", **event)) == 200
    await slack.adapter.idle()
    assert {k: v for k, v in (await _is_bot(slack.app)).items() if k in ("UAPP", "UPG", "UNEWBIE")} == {
        "UAPP": True, "UPG": False, "UNEWBIE": True}
    slack.fake.people["UNEWBIE"] = {"id": "UNEWBIE", "name": "nina", "profile": {"display_name": "Nina"}}
    await slack.event(fresh("event_message.json", user="UNEWBIE", text="a plain hello", ts="1700000303.000100",
                            event_ts="1700000303.000100"))
    before = len(slack.fake.of("chat.postMessage")) + len(slack.fake.of("chat.postEphemeral"))
    await slack.event(fresh("event_app_mention.json", user="UAPP", bot_id="BQUUX", text="<@UBOT> who knows postgres?"))
    await slack.adapter.idle()
    assert (await _is_bot(slack.app))["UNEWBIE"] is False
    assert len(slack.fake.of("chat.postMessage")) + len(slack.fake.of("chat.postEphemeral")) == before
    async with slack.app.db.sessions() as s:
        stored = set(await s.scalars(select(Message.text)))
    assert not {"frobnicator calibrated", "zorblax sprocket tuned", "giphy: cat"} & stored


def _experts(answer: dict[str, Any]) -> list[str]:
    return [value.rsplit(":", 1)[1] for action, value in buttons(answer) if action == "intro.request"]


async def test_a_deactivated_account_is_not_suggested_nor_asked_until_reactivated(slack):
    """user_change with `deleted: true` (an admin deactivated Petra): no longer suggested, and an intro request from
    an answer shown before is refused; reactivated (`deleted: false`), she is back."""
    asked = await slack.command("UASK1", "/whoknows", "postgres index ignored by the planner")
    assert _experts(asked)[0] == "UPG"
    request = next(value for action, value in buttons(asked) if value.endswith(":UPG"))

    assert await slack.event(fresh("event_user_change_deactivated.json")) == 200
    await slack.adapter.idle()
    assert "UPG" not in _experts(await slack.command("UASK2", "/whoknows", "postgres index ignored by the planner"))
    await slack.click("UASK1", "intro.request", request)
    assert slack.dm("UPG") == []
    async with slack.app.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Intro)) == 0

    back = fresh("event_user_change_deactivated.json")
    back["event"]["user"]["deleted"] = False
    assert await slack.event(back) == 200
    await slack.adapter.idle()
    assert _experts(await slack.command("UASK2", "/whoknows", "postgres index ignored by the planner"))[0] == "UPG"


async def test_forged_and_stale_signatures_are_refused(slack, caplog):
    """Refused, and logged without the request's body: slack_bolt logged it whole, a member's message in it, and a
    server clock a few minutes off logs every event so (deploy walk-through)."""
    caplog.set_level(logging.INFO)
    payload = fresh("event_message_im.json")
    assert await slack.event(payload, secret="not-the-secret") == 401
    text = payload["event"]["text"]
    assert "Invalid request signature detected" in caplog.text and text not in caplog.text, caplog.text
    assert await slack.event(payload, timestamp=int(time.time()) - 600) == 401
    body = json.dumps(payload)
    async with slack.http.post(slack.url, data=body, headers={"Content-Type": "application/json"}) as response:
        assert response.status == 401  # unsigned
    await slack.adapter.idle()
    assert slack.fake.of("chat.postMessage") == []
    async with slack.app.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Member).where(Member.external_id == "UBOT")) == 0
    assert await slack.event(payload) == 200  # the genuine request still works
    await slack.fake.wait_for("chat.postMessage")


async def test_rate_limited_call_is_retried_after_retry_after(slack):
    slack.fake.rate_limited["chat.postMessage"] = 1
    assert await slack.event(fresh("event_message_im.json")) == 200
    [dm] = await slack.fake.wait_for("chat.postMessage")
    assert dm["channel"] == "D0ASK1"
    assert [c.method for c in slack.fake.calls if "chat.postMessage" in c.method] == [
        "429:chat.postMessage", "chat.postMessage"]


async def test_a_reply_through_response_url_slack_rate_limited_is_sent_after_retry_after(slack, caplog):
    """Slack rate-limited a command's answer through its response_url (429, Retry-After): bolt's respond has no 429
    handler, as the Web API client has, so the member never got the answer, and nothing was logged. It is sent again
    after Retry-After."""
    slack.fake.rate_limited["response_url"] = 1
    answer = await slack.command("UASK1", "/whoknows", "postgres index ignored by the planner")
    assert "postgres" in text_of(answer).lower() or buttons(answer)
    assert [c.method for c in slack.fake.calls if "response_url" in c.method] == ["429:response_url", "response_url"]
    assert not [r for r in caplog.records if r.name == "adapters.slack.outbox" and r.levelno >= logging.WARNING]


async def test_a_reply_through_response_url_slack_refuses_is_one_log_line_without_the_url(slack, caplog):
    """A reply response_url refused (rate-limited beyond the retries, expired after 30 minutes) went nowhere with
    nothing logged. One line says so; the URL, a credential, is not in it."""
    from adapters.slack.outbox import RESPOND_RATE_LIMIT_RETRIES

    slack.fake.retry_after = 0
    slack.fake.rate_limited["response_url"] = RESPOND_RATE_LIMIT_RETRIES + 1
    form = {**load("command_whoknows.json"), "user_id": "UASK1", "text": "postgres index ignored by the planner",
            "response_url": slack.fake.response_url(), "trigger_id": f"t{next(_ids)}"}
    assert await slack.post(urllib.parse.urlencode(form), "application/x-www-form-urlencoded") == 200
    await slack.fake.wait_for("429:response_url", RESPOND_RATE_LIMIT_RETRIES + 1)
    await slack.adapter.idle()
    [refused] = [r.getMessage() for r in caplog.records if r.name == "adapters.slack.outbox"]
    assert "Slack refused the reply through response_url: 429" in refused and "/response/" not in refused


async def test_an_intro_request_to_a_deactivated_member_offers_the_next_expert_at_once(slack, caplog):
    """Slack opens no DM with a deactivated member (user_disabled): the request was logged as a traceback ('sending
    DirectMessage to Slack failed'), and the asker waited a day for the timeout to be offered someone else. Now one
    line, and the next expert is offered at once, as on Discord for a member who takes no DMs."""
    caplog.set_level(logging.INFO)
    slack.fake.refused_users["UPG"] = "user_disabled"
    answer = await slack.command("UASK1", "/whoknows", "postgres index ignored by the planner")
    _, value = buttons(answer)[0]
    assert value.endswith(":UPG")
    await slack.click("UASK1", "intro.request", value)
    assert slack.dm("UPG") == []
    [offer] = slack.dm("UASK1")
    assert "could not happen" in text_of(offer) and "UPG" not in text_of(offer)
    ours = [r for r in caplog.records if r.name.startswith(("adapters", "bot"))]
    assert not [r for r in ours if r.exc_info], [r.getMessage() for r in ours if r.exc_info]
    [refused] = [r for r in ours if "user_disabled" in r.getMessage()]
    assert refused.levelno == logging.WARNING and "deactivated" in refused.getMessage()

    slack.fake.refused["chat.postEphemeral"] = "missing_scope"  # a scope the app was installed without
    caplog.clear()
    assert await slack.event(fresh("event_app_mention.json")) == 200
    await slack.adapter.idle()
    ours = [r for r in caplog.records if r.name.startswith(("adapters", "bot"))]
    assert not [r for r in ours if r.exc_info]
    assert any(r.getMessage().startswith("Slack refused Reply: missing_scope") for r in ours), \
        [r.getMessage() for r in ours]


async def test_a_listener_during_a_database_outage_is_one_line_not_a_traceback(slack, monkeypatch, caplog):
    from sqlalchemy.exc import DBAPIError

    async def outage(event, **kwargs):  # noqa: ANN001, ANN003, ANN202
        raise DBAPIError("SELECT 1", {}, ConnectionRefusedError("refused"), connection_invalidated=True)

    caplog.set_level(logging.INFO)
    monkeypatch.setattr(slack.app.core, "handle", outage)
    assert await slack.event(fresh("event_app_mention.json")) == 200
    await slack.adapter.idle()
    said = [r for r in caplog.records if r.name == "adapters.slack.listeners" and "unreachable" in r.getMessage()]
    assert [(r.levelno, r.exc_info, r.getMessage()) for r in said] == [
        (logging.WARNING, None, "handling MessagePosted: the database is unreachable (ConnectionRefusedError)")]
    assert not [r for r in caplog.records if r.exc_info and r.name.startswith("adapters")]


async def test_intro_state_machine_over_slack(slack):
    fake = slack.fake
    # 1. Request → the expert gets a DM with the question, the evidence and three buttons.
    answer = await slack.command("UASK1", "/whoknows", "postgres index ignored by the planner")
    _, value = buttons(answer)[0]
    assert value.endswith(":UPG")
    await slack.click("UASK1", "intro.request", value)
    note = fake.of("response_url")[-1]
    assert "I asked Petra" in text_of(note) and note["response_type"] == "ephemeral"
    assert fake.of("conversations.open")[-1]["users"] == "UPG"
    [request] = slack.dm("UPG")
    assert "postgres index ignored" in text_of(request)
    choices = dict(buttons(request))
    assert set(choices) == {"intro.accept", "intro.decline", "intro.notmine"}
    intro_id = choices["intro.accept"]

    # 2. Accept → a group DM with both, a note to the asker; the request says so, and its buttons are gone (they
    # stayed, to be clicked again).
    await slack.click("UPG", "intro.accept", intro_id, channel="DUPG", message_ts="1700009999.000100")
    assert {"users": "UASK1,UPG"} in fake.of("conversations.open")
    [group] = [m for m in fake.of("chat.postMessage") if m["channel"] == "GUASK1-UPG"]
    assert "postgres index ignored" in text_of(group)
    assert "accepted" in text_of(slack.dm("UASK1")[-1])
    [settled] = fake.of("chat.update")
    assert (settled["channel"], settled["ts"]) == ("DUPG", "1700009999.000100") and not buttons(settled)
    assert "postgres index ignored" in text_of(settled) and "You accepted" in text_of(settled)
    await slack.click("UPG", "intro.decline", intro_id, channel="DUPG")
    assert "no longer open" in text_of(fake.of("response_url")[-1])
    assert len(fake.of("chat.update")) == 1  # an ephemeral message is not one chat.update can change

    # 3. Decline → the asker is offered someone else, without learning who declined.
    answer = await slack.command("UASK2", "/whoknows", "kubernetes rollout undo")
    _, value = buttons(answer)[0]
    assert value.endswith(":UK8S")
    await slack.click("UASK2", "intro.request", value)
    intro_id = dict(buttons(slack.dm("UK8S")[-1]))["intro.decline"]
    await slack.click("UK8S", "intro.decline", intro_id, channel="DUK8S")
    [offer] = slack.dm("UASK2")
    assert "could not happen" in text_of(offer) and "UK8S" not in text_of(offer)
    [(action, next_value)] = buttons(offer)
    assert action == "intro.request" and not next_value.endswith(":UK8S")

    # 4. "Not my area" from the next expert → the same kind of offer again.
    await slack.click("UASK2", "intro.request", next_value)
    second_expert = next_value.split(":")[1]
    intro_id = dict(buttons(slack.dm(second_expert)[-1]))["intro.notmine"]
    await slack.click(second_expert, "intro.notmine", intro_id, channel=f"D{second_expert}")
    assert "could not happen" in text_of(slack.dm("UASK2")[-1])

    # 5. No answer → after the timeout the scheduled sweep offers the next expert, once.
    answer = await slack.command("UASK1", "/whoknows", "css grid centering")
    _, value = buttons(answer)[0]
    await slack.click("UASK1", "intro.request", value)
    before = len(slack.dm("UASK1"))
    slack.app.intros.clock = lambda: datetime.now(UTC) + timedelta(hours=24, minutes=5)
    assert await slack.app.intros.sweep() == 1
    assert await slack.app.intros.sweep() == 0
    assert len(slack.dm("UASK1")) == before + 1
    assert "could not happen" in text_of(slack.dm("UASK1")[-1])
    # The request the expert did not answer says it expired, and its buttons are gone (they were left to be clicked)
    expert = value.split(":")[1]
    [expired] = [m for m in fake.of("chat.update") if m["channel"] == f"D{expert}"]
    assert "css grid centering" in text_of(expired) and "expired" in text_of(expired) and not buttons(expired)
    async with slack.app.db.sessions() as s:
        sent = await s.scalar(select(Intro.request_ref).where(Intro.state == IntroState.EXPIRED))
    [request] = [c.answer for c in fake.calls if c.method == "chat.postMessage" and c.body["channel"] == f"D{expert}"]
    assert expired["ts"] == sent == request["ts"]

    async with slack.app.db.sessions() as s:
        states = sorted(s for s in await s.scalars(select(Intro.state)))
    assert states == sorted([IntroState.ACCEPTED, IntroState.DECLINED, IntroState.NOT_MY_AREA, IntroState.EXPIRED])


async def test_a_request_whose_asker_opts_out_or_is_forgotten_drops_their_words_from_the_experts_dm(slack):
    """The request quotes the asker's question: when they opt out (or ask to be forgotten) before the expert answers,
    it says it was withdrawn, without their words and without its buttons. It stayed as it was, clickable."""
    fake = slack.fake
    for asker, command, question in (("UASK1", "optout", "postgres index ignored by the planner"),
                                     ("UASK2", "forget-me", "kubernetes rollout undo")):
        answer = await slack.command(asker, "/whoknows", question)
        _, value = buttons(answer)[0]
        await slack.click(asker, "intro.request", value)
        expert = value.split(":")[1]
        [request] = [c.answer for c in fake.calls
                     if c.method == "chat.postMessage" and c.body["channel"] == f"D{expert}"]
        await slack.command(asker, "/connective", command)
        await slack.adapter.idle()
        [withdrawn] = [m for m in fake.of("chat.update") if m["channel"] == f"D{expert}"]
        assert withdrawn["ts"] == request["ts"] and "withdrawn" in text_of(withdrawn)
        assert question.split()[0] not in text_of(withdrawn) and not buttons(withdrawn)
    async with slack.app.db.sessions() as s:
        assert set(await s.scalars(select(Intro.state))) == {IntroState.WITHDRAWN}


async def test_requests_answered_before_their_asker_left_drop_their_words_from_the_experts_dms(slack):
    """A request an expert had answered (accepted, declined, not my area) or let expire kept the asker's question in
    the expert's DM after the asker asked to be forgotten or opted out: only those nobody had answered were changed.
    Each now says only what became of it; the conversation an accepted intro opened is the expert's too, left as is."""
    fake = slack.fake

    async def request(asker: str, question: str) -> tuple[str, str, str]:
        """The expert asked, their request's ts, and the value of its buttons."""
        _, value = buttons(await slack.command(asker, "/whoknows", question))[0]
        await slack.click(asker, "intro.request", value)
        expert = value.split(":")[1]
        [sent] = [c.answer for c in fake.calls if c.method == "chat.postMessage" and c.body["channel"] == f"D{expert}"
                  and question in text_of(c.body)]
        return expert, sent["ts"], dict(buttons(slack.dm(expert)[-1]))["intro.accept"]

    asked = {}
    for asker, question, click in (("UASK1", "postgres index ignored by the planner", "intro.accept"),
                                   ("UASK1", "kubernetes rollout undo", "intro.decline"),
                                   ("UASK2", "postgres vacuum bloat", "intro.notmine")):
        expert, ts, value = await request(asker, question)
        await slack.click(expert, click, value, channel=f"D{expert}", message_ts=ts)
        asked[ts] = (expert, question)
    expert, ts, _ = await request("UASK1", "css grid centering")
    slack.app.intros.clock = lambda: datetime.now(UTC) + timedelta(hours=24, minutes=5)
    assert await slack.app.intros.sweep() == 1
    asked[ts] = (expert, "css grid centering")
    [group] = [m for m in fake.of("chat.postMessage") if m["channel"].startswith("G")]
    assert "postgres index ignored" in text_of(group)
    for ts, (_, question) in asked.items():  # each answered request quotes its question
        assert question in text_of([m for m in fake.of("chat.update") if m["ts"] == ts][-1])

    await slack.command("UASK1", "/connective", "forget-me")
    await slack.command("UASK2", "/connective", "optout")
    await slack.adapter.idle()
    outcomes = ["You accepted", "You declined", "not your area", "expired"]
    for (ts, (expert, question)), outcome in zip(asked.items(), outcomes, strict=True):
        last = [m for m in fake.of("chat.update") if m["ts"] == ts][-1]
        assert last["channel"] == f"D{expert}" and outcome in text_of(last), text_of(last)
        assert question.split()[0] not in text_of(last) and "Asha" not in text_of(last) and not buttons(last)
    assert not [m for m in fake.of("chat.update") if m["channel"].startswith("G")]  # the conversation stays


async def test_app_home_shows_the_profile_and_toggles_change_stored_state(slack):
    assert await slack.event(fresh("event_app_home_opened.json")) == 200
    [published] = await slack.fake.wait_for("views.publish")
    assert published["user_id"] == "UPG" and published["view"]["type"] == "home"
    assert "#general" in text_of(published) and ("home.unavailable", "off") in buttons(published)

    async def petra() -> Member:
        async with slack.app.db.sessions() as s:
            return await s.scalar(select(Member).where(Member.external_id == "UPG"))

    await slack.click("UPG", "home.unavailable", "off", home=True)
    assert (await petra()).available_for_intros is False
    assert ("home.available", "on") in buttons(slack.fake.of("views.publish")[-1])
    await slack.click("UPG", "home.cap", "1", home=True)
    assert (await petra()).weekly_intro_cap == 1
    await slack.click("UPG", "home.available", "on", home=True)
    assert (await petra()).available_for_intros is True
    await slack.click("UPG", "home.optout", "off", home=True)
    member = await petra()
    assert member.profiling_consent is False
    async with slack.app.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Message).where(Message.author_id == member.id)) == 0
    assert ("home.optin", "on") in buttons(slack.fake.of("views.publish")[-1])
    assert len(slack.fake.of("views.publish")) == 5


async def test_app_home_follows_optout_optin_and_forget_me_typed_as_commands(slack):
    """After `/connective forget-me` (or optout) the member's App Home still showed their profile (the channels they
    answer in, their skills) and "Opt out" until they opened it again: it is published again, as its buttons do."""
    assert await slack.event(fresh("event_app_home_opened.json")) == 200
    [published] = await slack.fake.wait_for("views.publish")
    assert "#general" in text_of(published) and ("home.optout", "off") in buttons(published)
    for text, shown in (("optout", ("home.optin", "on")), ("optin", ("home.optout", "off")),
                        ("forget-me", ("home.optin", "on"))):
        before = len(slack.fake.of("views.publish"))
        await slack.command("UPG", "/connective", text)
        await slack.adapter.idle()
        [home] = slack.fake.of("views.publish")[before:]
        assert home["user_id"] == "UPG" and home["view"]["type"] == "home"
        assert shown in buttons(home) and "#general" not in text_of(home), (text, text_of(home))


async def test_socket_mode_run_answers_an_envelope_and_acks_it(app, tmp_path):
    """`run(app)` with SLACK_APP_TOKEN: Socket Mode against the fake (apps.connections.open + a websocket)."""
    import asyncio

    from pydantic import SecretStr

    from adapters.slack.runner import run

    await app.importer.import_slack(write_slack_export(tmp_path / "export", USERS, THREADS))
    fake = await FakeSlack(team_id=TEAM, channels={"C0GENERAL": "general"}).start()  # the imported channel is there
    app.settings = app.settings.model_copy(update={
        "slack_bot_token": SecretStr(TOKEN), "slack_app_token": SecretStr("xapp-test"),
        "slack_api_url": f"{fake.url}/api/"})
    running = asyncio.ensure_future(run(app))
    try:
        await fake.wait_for("apps.connections.open", count=2)  # the token's check, then the handler's own
        assert [c.token for c in fake.calls if c.method == "apps.connections.open"] == ["xapp-test"] * 2
        await fake.envelopes.put({"envelope_id": "env-1", "type": "events_api", "accepts_response_payload": False,
                                  "retry_attempt": 0, "retry_reason": "", "payload": fresh("event_message_im.json")})
        [dm] = await fake.wait_for("chat.postMessage")
        assert dm["channel"] == "D0ASK1" and "<@UPG>" in text_of(dm)
        assert {"envelope_id": "env-1"} in [{"envelope_id": a.get("envelope_id")} for a in fake.socket_acks]
        assert "slack" in app.core.senders  # scheduled actions (intro timeouts) can be delivered
        assert app.scheduler._scheduler.get_job("intro-timeouts") is not None  # the sweep runs
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await fake.stop()
    assert "slack" not in app.core.senders


@pytest.mark.parametrize(("method", "error", "said"), [
    ("auth.test", "invalid_auth",
     "Slack refused the bot token (SLACK_BOT_TOKEN): invalid_auth; see deploy/slack/README.md"),
    ("apps.connections.open", "invalid_auth",
     "Slack refused the app-level token (SLACK_APP_TOKEN): invalid_auth; see deploy/slack/README.md"),
    ("auth.test", "internal_error", "Slack answered auth.test with internal_error; try again later")])
async def test_a_token_slack_refuses_is_one_line_not_a_traceback_or_retries(app, method, error, said):
    """A wrong bot token ended in a 72-line traceback; a wrong app token was retried for ever, a traceback every 5 s,
    while /healthz said the bot was up (deploy walk-through)."""
    from pydantic import SecretStr

    from adapters.slack.runner import run
    from bot.errors import Unavailable, UserError

    fake = await FakeSlack(team_id=TEAM, refused={method: error}).start()
    app.settings = app.settings.model_copy(update={
        "slack_bot_token": SecretStr(TOKEN), "slack_app_token": SecretStr("xapp-test"),
        "slack_api_url": f"{fake.url}/api/"})
    try:
        with pytest.raises(UserError) as refused:
            await asyncio.wait_for(run(app), 30)
    finally:
        await fake.stop()
    assert str(refused.value) == said
    # A refused token is a setting to correct (exit 2); Slack failing is no mistake of the set-up (exit 1, as for an
    # unreachable database).
    assert isinstance(refused.value, Unavailable) == ("try again later" in said)
    assert not app.health.platform_connected


async def test_socket_mode_health_follows_the_connection(app, tmp_path, monkeypatch):
    """/healthz said "connected" from auth.test on, whatever became of the socket: a probe never restarted a bot whose
    Socket Mode connection was down."""
    from pydantic import SecretStr

    from adapters.slack import runner

    monkeypatch.setattr(runner, "SOCKET_CHECK_SECONDS", 0.2)
    fake = await FakeSlack(team_id=TEAM).start()
    app.settings = app.settings.model_copy(update={
        "slack_bot_token": SecretStr(TOKEN), "slack_app_token": SecretStr("xapp-test"),
        "slack_api_url": f"{fake.url}/api/"})
    running = asyncio.ensure_future(runner.run(app))
    try:
        await fake.wait_for("apps.connections.open", count=2)  # the check, then the handler's own
        for _ in range(100):
            await asyncio.sleep(0.1)
            if app.health.platform_connected and app.scheduler.has("slack-socket"):
                break
        assert app.health.platform_connected
        fake.refused["apps.connections.open"] = "invalid_auth"  # the socket closes, and cannot open again
        await fake.close_sockets()
        for _ in range(100):
            await asyncio.sleep(0.1)
            if not app.health.platform_connected:
                break
        assert not app.health.platform_connected
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await fake.stop()


async def test_http_mode_is_ready_only_once_it_listens(app, monkeypatch):
    """/healthz said ready from auth.test on, before /slack/events listened: a load balancer could send Slack's requests
    to a port not open yet (or taken by another process, where the run then failed)."""
    from pydantic import SecretStr

    from adapters.slack import runner

    ready_before_listening = []

    async def watched(adapter, **_):  # noqa: ANN001, ANN202
        ready_before_listening.append(app.health.platform_connected)
        return await serve_http(adapter, port=0, host="127.0.0.1")

    monkeypatch.setattr(runner, "serve_http", watched)
    fake = await FakeSlack(team_id=TEAM).start()
    app.settings = app.settings.model_copy(update={
        "slack_bot_token": SecretStr(TOKEN), "slack_signing_secret": SecretStr("http-secret"),
        "slack_api_url": f"{fake.url}/api/"})
    running = asyncio.ensure_future(runner.run(app))
    try:
        for _ in range(100):
            await asyncio.sleep(0.05)
            if app.health.platform_connected:
                break
        assert app.health.platform_connected and ready_before_listening == [False]
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await fake.stop()


async def test_a_member_renamed_on_slack_keeps_the_new_name(slack):
    """Names were asked of users.info once per process: after a user_change renaming Petra, her next message wrote
    the old name back over the new one."""
    assert await slack.event(fresh("event_message.json")) == 200
    await slack.adapter.idle()
    renamed = fresh("event_user_change_deactivated.json")
    renamed["event"]["user"].update(deleted=False)
    renamed["event"]["user"]["profile"]["display_name"] = "Petra K."
    assert await slack.event(renamed) == 200
    await slack.adapter.idle()
    assert await slack.event(fresh("event_message.json", ts="1700000200.000300", client_msg_id="x-2",
                                   text="and ANALYZE the table after a bulk load")) == 200
    await slack.adapter.idle()
    async with slack.app.db.sessions() as s:
        assert await s.scalar(select(Member.name).where(Member.external_id == "UPG")) == "Petra K."


async def test_an_app_mentioned_in_an_endorsement_is_no_member_to_endorse(slack):
    """`/connective skills endorse @connective postgres` stored the bot (or any app) as a person with that skill, and
    "who knows postgres?" then suggested it, with a Request intro button (Slack walk-through). users.info says which
    mentioned accounts are bots."""
    slack.fake.people["UBOT"] = {"id": "UBOT", "name": "connective", "is_bot": True,
                                 "profile": {"display_name": "connective"}}
    slack.fake.people["UPOLLY"] = {"id": "UPOLLY", "name": "polly", "is_bot": True,
                                   "profile": {"display_name": "Polly"}}
    for endorser in ("UASK1", "UASK2", "UCSS"):
        for bot in ("<@UBOT|connective>", "<@UPOLLY|polly>"):
            answer = await slack.command(endorser, "/connective", f"skills endorse {bot} zebrafish husbandry")
            assert "bot" in text_of(answer) and "Endorsed" not in text_of(answer), text_of(answer)
    answer = await slack.command("UREG", "/whoknows", "zebrafish husbandry")
    assert "UBOT" not in text_of(answer) and "UPOLLY" not in text_of(answer)


async def test_a_greeting_or_a_colon_before_who_knows_is_not_the_topic(slack):
    """"hey @connective, who knows X?" and "@connective: who knows X?" were answered as questions about "hey  who knows
    X?" and ": who knows X?", and kept so for the expert's intro request (Slack walk-through)."""
    for n, text in enumerate(("hey <@UBOT>, who knows kubernetes rollouts?", "<@UBOT>: who knows kubernetes rollouts?",
                              "<@UBOT> hi! who knows kubernetes rollouts?")):
        assert await slack.event(fresh("event_app_mention.json", text=text, ts=f"1700000900.00010{n}")) == 200
        answer = (await slack.fake.wait_for("chat.postEphemeral", n + 1))[n]
        assert answer["text"] == "People who can likely help with “kubernetes rollouts”:", answer["text"]


async def test_an_intro_request_says_the_answer_comes_as_a_direct_message(slack):
    """Asked in #general, the request said "I will message you here when there is an answer"; the answer came in a DM
    with the bot, which the asker was not told to look at (Slack walk-through)."""
    answer = await slack.command("UASK1", "/whoknows", "postgres index ignored by the planner")
    await slack.click("UASK1", "intro.request", buttons(answer)[0][1])
    note = text_of(slack.fake.of("response_url")[-1])
    assert "I asked Petra" in note and "direct message" in note and " here " not in note, note
    intro_id = dict(buttons(slack.dm("UPG")[-1]))["intro.accept"]
    await slack.click("UPG", "intro.accept", intro_id, channel="DUPG")
    assert "accepted" in text_of(slack.dm("UASK1")[-1])


async def test_a_start_with_slack_bot_token_set_logs_no_false_warning(app, caplog, monkeypatch):
    """`connective run --platform slack` logged "WARNING slack_bolt: As you gave `client` as well, `token` will be
    unused." at every start: bolt reads SLACK_BOT_TOKEN from the environment itself, where the documented set-up puts
    it, though the bot hands it its own client (Slack walk-through). A warning that fires on every healthy start
    teaches operators to ignore warnings."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    caplog.set_level(logging.INFO)
    fake = await FakeSlack(team_id=TEAM).start()
    try:
        await SlackAdapter.connect(app, web_client(TOKEN, f"{fake.url}/api"), signing_secret=SECRET)
    finally:
        await fake.stop()
    assert "will be unused" not in caplog.text and "WARNING" not in [r.levelname for r in caplog.records], caplog.text


async def test_help_hello_and_thanks_to_the_bot_are_no_questions(slack):
    """"@connective help", "@connective hi" and "@connective thanks!" each got "People who can likely help with “help”:"
    and five members, with Request intro buttons (Slack walk-through, the first thing a new member tries); so did a
    longer thanks ("thanks, that was exactly what I needed!")."""
    said = {}
    for n, text in enumerate(("<@UBOT> help", "<@UBOT> hi", "<@UBOT> thanks!", "hey <@UBOT> thank you :)",
                              "<@UBOT> what can you do?", "<@UBOT> thanks, that was exactly what I needed!")):
        assert await slack.event(fresh("event_app_mention.json", text=text, ts=f"1700000950.00010{n}")) == 200
        said[text] = (await slack.fake.wait_for("chat.postEphemeral", n + 1))[n]
    for text, answer in said.items():
        assert not buttons(answer) and "People who can likely help" not in text_of(answer), (text, text_of(answer))
    assert "/whoknows" in text_of(said["<@UBOT> help"]) and "/whoknows" in text_of(said["<@UBOT> what can you do?"])
    assert said["<@UBOT> hi"]["text"] == ASK_LIKE_THIS
    assert said["<@UBOT> thanks, that was exactly what I needed!"]["text"] == ASK_LIKE_THIS
    assert await slack.event(fresh("event_message_im.json", text="help")) == 200
    [dm] = await slack.fake.wait_for("chat.postMessage")
    assert "/whoknows" in text_of(dm) and not buttons(dm)
    # A topic that starts like them is still one, and so is a thanks that asks.
    answer = await slack.command("UASK1", "/whoknows", "helm charts for postgres")
    assert buttons(answer) and "helm charts for postgres" in answer["text"], text_of(answer)
    for text in ("thanks in advance, looking for someone with helm charts", "thanks! who knows helm charts?"):
        answer = await slack.command("UASK1", "/whoknows", text)
        assert buttons(answer) and "helm charts" in answer["text"], text
