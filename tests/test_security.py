"""The security audit's findings, as an attacker or a careless member would meet them: forged button values, text
that makes the project's regexes take seconds, links that show one address and open another. On SQLite and
PostgreSQL where the database is involved."""
from __future__ import annotations

import json
import logging
import urllib.parse
from datetime import timedelta

import pytest
from sqlalchemy import select

from adapters.console import ConsoleAdapter
from adapters.discord.render import render_document
from bot.actions import Reply
from bot.db.models import Community
from tests import test_slack_app
from tests.exports import TEAM
from tests.slack_fake import sign
from tests.test_intros import _setup
from tests.test_slack_app import fresh
from tests.test_slack_features import NOW, Clock, at, resource_lines

slack = test_slack_app.slack  # the fixture: the real AsyncApp in HTTP mode against the fake Slack

# Values a member can put in a forged click (a Discord client sending its own INTERACTION_CREATE, a Slack payload
# replayed with another value): digits of other scripts, which str.isdigit() takes and int() refuses; numbers past
# an INTEGER key; more digits than int() reads.
FORGED_IDS = ("²", "٤٢", "99999999999999999999", "2147483648", "1" * 5000)


async def test_forged_button_values_are_refused_with_one_line_not_a_traceback(app, tmp_path, caplog):
    console, _ = await _setup(app, tmp_path)
    caplog.set_level(logging.WARNING)
    for forged in FORGED_IDS:
        for line in (f"/click intro.request {forged}:UPG", f"/click intro.accept {forged}",
                     f"/click intro.decline {forged}", f"/click mentoring.met {forged}"):
            before = len(console.sent)
            await console.say("UASK1", line)
            out = console.sent[before:]
            assert len(out) == 1 and isinstance(out[0], Reply), (line[:60], out)
            assert "went wrong" not in out[0].doc.text, line[:60]
        await console.say("UASK1", f"/click home.cap {forged}")  # nothing to say; nothing changed
    assert "Traceback" not in caplog.text and "failed to handle" not in caplog.text, caplog.text[-2000:]


async def test_a_forged_button_value_is_logged_by_its_kind_not_its_words(app, tmp_path, caplog):
    """A forged click's value was quoted in the log, 100 characters of it: whatever a member put there (their words,
    a token pasted) went to the log. It is shown when it is an id ('12:UPG'), else by its type."""
    console, _ = await _setup(app, tmp_path)
    caplog.set_level(logging.WARNING)
    words = "my manager ignores me, xoxb-1234"
    for line in (f"/click intro.request '{words}'", f"/click intro.accept '{words}'",
                 f"/click mentoring.met '{words}'"):
        caplog.clear()
        await console.say("UASK1", line)
        [logged] = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()
                    or "unknown mentoring button" in r.getMessage()]
        assert "(str)" in logged and "manager" not in logged and "xoxb" not in logged, logged


@pytest.mark.parametrize("capacity", ["²", "99999999999999999999", "1" * 5000])
async def test_a_forged_mentoring_capacity_is_told_not_a_traceback(app, capacity, caplog):
    console = ConsoleAdapter(app.core.handle, community="T1")
    caplog.set_level(logging.WARNING)
    [out] = await console.say("petra", f"/mentoring join mentor teach: postgres tz: UTC capacity: {capacity}")
    assert "capacity is the number of mentees" in out and "went wrong" not in out
    assert "failed to handle" not in caplog.text


# Member text against the regexes that read every message (stored, quoted, titled): each was tried from every
# character of a long run, so that the time grew with the square of the run. One such message took the bot's one event
# loop for tens of seconds where it was stored (its link's title), quoted, or loaded into the corpus.
SLOW_TEXTS = {
    "a mention, then newlines": "<@U1>" + "\n" * 10_000 + "x https://example.com/page",
    "a mention, spaces, a control character": "a <@U2>" + " " * 10_000 + "\x01x",
    "a run of symbols": "/" * 20_000 + " x",
    "control characters between spaces": "a" + " \x01" * 10_000 + "x",
    "a comma, then control characters between spaces": "," + " \x01" * 10_000 + "x",
}


@pytest.mark.parametrize("name", SLOW_TEXTS)
def test_no_regex_takes_long_on_a_long_run_in_a_message(name):
    import time
    from datetime import UTC, datetime

    from bot.services.resources import shares_in
    from matching.text import asks, carries_expertise, clean, is_thanks, links_only, shown

    text = SLOW_TEXTS[name]
    for read in (shown, clean, asks, is_thanks, carries_expertise, lambda t: links_only(t),
                 lambda t: links_only(clean(t)),
                 lambda t: shares_in(t, member_id=1, shared_at=datetime.now(UTC), message_id=None)):
        started = time.perf_counter()
        read(text)
        assert time.perf_counter() - started < 1.0, (name, getattr(read, "__name__", read))



async def test_a_digest_link_never_shows_another_address_than_it_opens(slack):
    """A member's link label (Slack's `<https://evil.example/login|https://use-the-index-luke.com/sql>`, a Markdown
    `[paypal.com](https://evil.example/pay)` on Discord) was the digest's link text: it read one address and opened
    another."""
    at(Clock(NOW), slack)
    for hours, text in ((3, "The best intro to indexes: <https://evil.example/login|https://use-the-index-luke.com/sql>"),
                        (2, "Pay your dues here: [paypal.com](https://evil.example/pay)")):
        ts = f"{(NOW - timedelta(hours=hours)).timestamp():.6f}"
        assert await slack.event(fresh("event_message.json", ts=ts, event_ts=ts, text=text)) == 200
        await slack.adapter.idle()
        reaction = fresh("event_reaction_added.json", event_ts=ts)  # a signal: worth a digest
        reaction["event"]["item"].update(channel="C0GENERAL", ts=ts)
        assert await slack.event(reaction) == 200
    await slack.adapter.idle()
    lines = resource_lines(await slack.command("UASK2", "/digest", "preview"))
    assert "<https://evil.example/login|evil.example/login>" in lines, lines
    assert "<https://evil.example/pay|evil.example/pay>" in lines, lines
    assert "use-the-index-luke.com" not in lines and "paypal.com" not in lines, lines
    # Discord renders the same document: its masked links read as they go.
    doc = await slack.app.digests.preview(await _community_id(slack.app, TEAM))
    rendered = "\n".join(e.description or "" for e in render_document(doc).embeds)
    assert "(https://evil.example/login)" in rendered and "use-the-index-luke.com" not in rendered, rendered
    assert "paypal" not in rendered, rendered


async def _community_id(app, external_id: str) -> int:
    async with app.db.sessions() as session:
        return await session.scalar(select(Community.id).where(Community.external_id == external_id))


async def test_one_asker_cannot_use_up_the_experts_intro_caps(app, tmp_path):
    """Each request takes a place in its expert's weekly cap: a member clicking every "Request intro" of question after
    question left no expert for anyone else that week. An asker has at most 3 requests waiting for an answer, and sends
    at most 10 a week."""
    from datetime import timedelta

    from bot.actions import DirectMessage
    from tests.test_intros import T0, _act, _ask, _button

    console, _ = await _setup(app, tmp_path)
    for expert in ("UPG", "UK8S", "UCSS", "UREG", "UASK2"):
        await _act(console, expert, "/click home.cap 50")
    requested: list[DirectMessage] = []
    for n, question in enumerate(("postgres index", "kubernetes rollback", "css grid", "postgres vacuum")):
        console.clock = lambda n=n: T0 + timedelta(minutes=n)
        expert, value = (await _ask(console, "UASK1", f"who knows {question}?"))[0]
        out = await _act(console, "UASK1", f"/click intro.request {value}")
        if n < 3:
            requested += [a for a in out if isinstance(a, DirectMessage) and a.user == expert]
            assert len(requested) == n + 1, out
        else:  # the fourth waits for an answer to one of the three
            [refused] = out
            assert "3 intro requests waiting for an answer" in refused.doc.text, refused.doc.text
    await _act(console, requested[0].user, f"/click intro.decline {_button(requested[0], 'intro.decline')}")
    out = await _act(console, "UASK1", f"/click intro.request {value}")
    assert any(isinstance(a, DirectMessage) and a.user == expert for a in out), out

    # Answered as fast as they are sent, ten a week.
    sent = 4
    for n in range(20):
        console.clock = lambda n=n: T0 + timedelta(hours=1, minutes=n)
        for request in [a for a in out if isinstance(a, DirectMessage) and _has(a, "intro.decline")]:
            await _act(console, request.user, f"/click intro.decline {_button(request, 'intro.decline')}")
        cards = await _ask(console, "UASK1", f"who knows postgres index tuning {n}?")
        out = await _act(console, "UASK1", f"/click intro.request {cards[0][1]}")
        if any(isinstance(a, DirectMessage) and _has(a, "intro.decline") for a in out):
            sent += 1
            continue
        [refused] = out
        assert "10 intro requests this week" in refused.doc.text, refused.doc.text
        break
    assert sent == 10


def _has(action, name: str) -> bool:  # noqa: ANN001
    return any(b.action == name for section in action.doc.sections for b in section.buttons)


async def test_a_members_name_is_no_masked_link_in_the_bots_discord_messages(app, tmp_path):
    """A display name "[Asha](https://evil.example/a)" (Discord shows names as typed) was written into the intro the
    bot opens as it was: a link of the bot's, reading "Asha", to evil.example."""
    from tests.test_intros import _act, _ask, _button

    console, _ = await _setup(app, tmp_path)
    spoof = "[Asha](https://evil.example/a)"
    await console.say("UASK1", "/me", user_name=spoof)  # the name the platform gives with each command
    cards = await _ask(console, "UASK1", "who knows why postgres ignores my index?")
    await console.say("UASK1", f"/click intro.request {cards[0][1]}")
    request = console.sent[-1]
    out = await _act(console, "UPG", f"/click intro.accept {_button(request, 'intro.accept')}")
    contents = [render_document(a.doc).content for a in out if hasattr(a, "doc")]
    assert any("Asha" in c for c in contents), contents
    assert not any("](https://evil.example" in c for c in contents), contents


async def test_a_malformed_body_to_the_http_endpoint_is_refused_without_a_traceback(slack, caplog):
    """Bolt reads the body before it checks the signature: anyone reaching /slack/events with a body that is not
    JSON (or a JSON list, or a form whose payload is not JSON) got a 500, and the log a traceback per request."""
    caplog.set_level(logging.INFO)
    form = "application/x-www-form-urlencoded"
    bodies = [("{not json", "application/json"), ("[]", "application/json"), ("\u00ff\u00fe", "application/json"),
              ("payload=%7Bnot", form), ("payload=%5B%5D", form)]
    for body, content_type in bodies:
        for headers in ({}, sign("not-the-secret", body)):
            async with slack.http.post(slack.url, data=body.encode(), headers={"Content-Type": content_type,
                                                                               **headers}) as response:
                assert response.status in (400, 401), (body, response.status)
    big = "x" * (2 * 1024 * 1024)
    async with slack.http.post(slack.url, data=big, headers={"Content-Type": "application/json"}) as response:
        assert response.status == 413
    await slack.adapter.idle()
    assert "Traceback" not in caplog.text and "Error handling request" not in caplog.text, caplog.text[-3000:]
    assert slack.fake.of("chat.postMessage") == []
    assert await slack.event(fresh("event_message_im.json")) == 200  # a genuine request still works


async def test_a_signed_request_of_an_unknown_shape_gets_a_clean_answer_and_one_line(slack, caplog):
    """A correctly signed request missing a field bolt reads (an `event` that is no object, an action without its
    action_id, a modal without its type) got a 500 and a traceback; an event type nothing listens to (one the app's
    Event Subscriptions ask for and connective does not use) a 404, which Slack sends again and counts against the
    app, and a warning of many lines suggesting code to write. Now: 200 for the event, 400 for the rest, one line."""
    caplog.set_level(logging.INFO)
    form = "application/x-www-form-urlencoded"

    def payload(fields: dict) -> str:
        return urllib.parse.urlencode({"payload": json.dumps({"team": {"id": TEAM}, "user": {"id": "UASK1"},
                                                              **fields})})
    requests = [
        (json.dumps({"type": "event_callback", "team_id": TEAM, "event_id": "EvX1", "event": {"type": "frobnicate"}}),
         "application/json", 200),
        (json.dumps({"type": "event_callback", "team_id": TEAM, "event_id": "EvX2", "event": "x"}),
         "application/json", 400),
        (json.dumps({"type": "event_callback", "team_id": TEAM}), "application/json", 400),
        (json.dumps({"type": "something_new"}), "application/json", 400),
        (payload({"type": "block_actions", "actions": [{}]}), form, 400),
        (payload({"type": "view_submission", "view": {"callback_id": "mentoring.enrol"}}), form, 400),
        # A command of the app's that connective has not (another version's): answered with one line, 200.
        (urllib.parse.urlencode({"command": "/not-ours", "team_id": TEAM, "user_id": "UASK1"}), form, 200),
    ]
    for body, content_type, status in requests:
        caplog.clear()
        assert await slack.post(body, content_type) == status, body
        await slack.adapter.idle()
        lines = [r for r in caplog.records if r.levelno >= logging.INFO and r.name.startswith(("slack_bolt", "adapters",
                                                                                               "aiohttp"))]
        assert len(lines) == 1 and lines[0].exc_info is None and "\n" not in lines[0].getMessage(), \
            (body, [r.getMessage() for r in lines])
        assert "UASK1" not in lines[0].getMessage()
    assert slack.fake.of("chat.postMessage") == []
    assert await slack.event(fresh("event_message_im.json")) == 200  # a genuine request still works
    await slack.fake.wait_for("chat.postMessage")


async def test_a_signed_command_without_a_response_url_is_answered_by_dm_without_a_traceback(slack, caplog):
    """A correctly signed slash command with no response_url (or a blank one; Slack sends one with every command) was
    acknowledged, and then bolt's respond raised: a traceback in the log for each, and the member heard nothing.
    Now it is answered by DM, as a command replayed from the inbox is, and the log says so in one line."""
    caplog.set_level(logging.INFO)
    command = test_slack_app.load("command_whoknows.json")
    for response_url in (None, "", "not-a-url"):
        caplog.clear()
        form = {**command, "text": "postgres index ignored by the planner", "trigger_id": f"t-{response_url}"}
        if response_url is None:
            del form["response_url"]
        else:
            form["response_url"] = response_url
        before = len(slack.dm("UASK1"))
        assert await slack.post(urllib.parse.urlencode(form), "application/x-www-form-urlencoded") == 200
        await slack.adapter.idle()
        # (The look-up of the evidence before it is shown warns that the fake lists no history for its channel.)
        warned = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name != "adapters.slack.still_there"]
        assert not warned, caplog.text[-3000:]
        assert "Traceback" not in caplog.text
        [answer] = slack.dm("UASK1")[before:]
        assert "<@UPG>" in test_slack_app.text_of(answer)
    assert slack.fake.of("response_url") == []


async def test_a_refused_slack_requests_log_line_keeps_to_kinds_and_ids(caplog):
    """A request bolt could not read was logged with 80 characters of the error's text, and the error can quote what
    it read (bolt's parse_query quotes the whole query it refuses: a member's words, a token); a field holding words
    where a type or a command's name belongs was quoted too. Now the line names the error's kind, and such a field
    by its type only."""
    from slack_bolt.request.async_request import AsyncBoltRequest
    from slack_bolt.request.internals import parse_query
    from slack_bolt.response import BoltResponse

    from adapters.slack.refusals import refused

    caplog.set_level(logging.INFO)
    words = "my manager keeps ignoring my questions"
    try:
        parse_query({"text": words, "token": "xoxb-12345-secret", "n": 1})  # raised in bolt's own code
    except ValueError as exc:
        error = exc
    body = json.dumps({"type": "block_actions", "command": f"/{words}", "user": {"id": "UASK1"}})
    request = AsyncBoltRequest(body=body, headers={"content-type": ["application/json"]})
    answer = await refused(error, request, BoltResponse(status=200, body=""))
    assert answer is not None and answer.status == 400
    [line] = [r.getMessage() for r in caplog.records]
    assert "ValueError" in line and "'block_actions'" in line and "command (str)" in line, line
    assert "manager" not in line and "xoxb" not in line, line


async def test_a_users_info_slack_refuses_is_one_log_line_with_its_error_code(slack, caplog):
    """A users.info Slack refused was logged with the SlackApiError's text: several lines, the whole answer quoted."""
    caplog.set_level(logging.INFO)
    slack.fake.refused["users.info"] = "user_not_found"
    slack.adapter.directory._people.clear()
    assert await slack.event(fresh("event_message_im.json")) == 200
    await slack.adapter.idle()
    lines = [r.getMessage() for r in caplog.records if "users.info" in r.getMessage()]
    assert lines and all(line == "users.info 'UASK1' failed: 'user_not_found'" for line in lines), lines


async def test_a_button_of_another_community_changes_nothing_there(app, tmp_path):
    """Two workspaces in one database, the same member ids in both (a Discord user is one id in every server): a click
    in the second naming the first's question or intro is refused, and the first's intro stays as it was."""
    from bot.db.intros import Intro, IntroState
    from tests.test_intros import _act, _ask, _button

    first, _ = await _setup(app, tmp_path)
    cards = await _ask(first, "UASK1", "who knows why postgres ignores my index?")
    await _act(first, "UASK1", f"/click intro.request {cards[0][1]}")
    intro_id = _button(first.sent[-1], "intro.accept")
    other = ConsoleAdapter(app.core.handle, community="T-OTHER", platform="slack", clock=first.clock)
    for user, line, said in (("UPG", f"/click intro.accept {intro_id}", "isn't addressed to you"),
                             ("UPG", f"/click intro.decline {intro_id}", "isn't addressed to you"),
                             ("UASK1", f"/click intro.request {cards[1][1]}", "question is gone")):
        [reply] = await _act(other, user, line)
        assert said in reply.doc.text, (line, reply.doc.text)
    await other.say("UASK1", "/mentoring status")  # a member there now
    [reply] = await _act(other, "UASK1", f"/click mentoring.met {intro_id}")  # (no pairing there has that id)
    assert reply.doc.text == "That pair is no longer stored, so there is nothing to answer."  # as for a deleted one
    async with app.db.sessions() as session:
        assert (await session.get(Intro, int(intro_id))).state == IntroState.REQUESTED.value


async def test_a_member_asking_without_pause_is_told_to_wait(app, tmp_path):
    """Each question ranks the whole community's history: a member (or their script) asking without pause slowed
    every other member's answers. 30 questions an hour are answered; the next is told when to ask again."""
    from datetime import timedelta

    from tests.test_intros import T0

    console, _ = await _setup(app, tmp_path)
    for n in range(30):
        console.clock = lambda n=n: T0 + timedelta(minutes=n)
        [answer] = await console.say("UASK1", f"/whoknows postgres index {n}")
        assert "People who can likely help" in answer, (n, answer)
    [refused] = await console.say("UASK1", "/whoknows postgres vacuum")
    assert "30 questions in the last hour" in refused and "10:00 UTC" in refused, refused
    [other] = await console.say("UASK2", "who knows postgres vacuum?")  # another member is answered
    assert "People who can likely help" in other
    console.clock = lambda: T0 + timedelta(hours=1)
    [answer] = await console.say("UASK1", "/whoknows postgres vacuum")
    assert "People who can likely help" in answer, answer


def test_a_bracket_in_a_shared_link_ends_no_discord_link_early():
    """A link's "#/" fragment is kept (single-page apps address content with it), brackets and all: on Discord its ")"
    ended the digest's link, and the rest, "[Login](https://evil.example/x)", was a masked link of the bot's."""
    from datetime import UTC, datetime

    from bot.services.digest_compose import Candidate, DigestContent, to_document
    from bot.services.resources import shares_in

    [share] = shares_in("the docs: https://good.example/#/)[Login](https://evil.example/x", member_id=1,
                        shared_at=datetime(2024, 3, 5, tzinfo=UTC), message_id=None)
    content = DigestContent(period="Mar 4 – Mar 11, 2024", groups=[("Docs", [Candidate(
        resource_id=1, title=share.title, link=share.link, sharer="Petra", reactions=2,
        permalink="https://discord.com/channels/1/2/3#)[x](https://evil.example/y)")])], questions=[])
    rendered = "\n".join(e.description or "" for e in render_document(to_document(content, now=NOW)).embeds)
    assert "](https://evil.example" not in rendered and "[Login]" not in rendered, rendered
    assert "(https://good.example/#/%29%5BLogin%5D%28https://evil.example/x" in rendered, rendered


async def test_a_malformed_event_is_logged_by_its_kind_not_by_what_its_fields_hold(app, caplog):
    """A field of another shape was quoted in the log line (40 characters of a 'user' or 'thread' that is no id): a
    payload that put a member's words there had them logged. Ids, times and types are shown; anything else only by
    its type (privacy audit)."""
    from bot import events as ev

    words = "my vpn password is hunter2, please keep it between us " * 2
    for field, value in (("user", words), ("thread", words), ("channel", ["a", "list"])):
        event = ev.MessagePosted(**{"community": "T1", "platform": "console", "user": "U1", "channel": "C1",
                                    "message_id": "1", "event_id": f"e-{field}", "text": "hello", field: value})
        assert await app.core.handle(event) == []
    lines = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert lines == ["malformed console MessagePosted event skipped: user (str) is not an id",
                     "malformed console MessagePosted event skipped: thread (str) is not an id",
                     "malformed console MessagePosted event skipped: channel (list) is not an id"]
    long_id = "U" * 100  # an id, only too long: still shown, cut
    why = ev.malformed(ev.MessagePosted(community="T1", platform="console", user=long_id, channel="C1",
                                        message_id="1", event_id="e", text="x"))
    assert why == f"user {'U' * 40 + '…'!r} is not an id"
