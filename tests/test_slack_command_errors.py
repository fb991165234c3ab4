"""What a member sees when a Slack slash command or button fails: a command or button of another version (bolt
answered 400, and Slack showed "failed with the error" or a warning sign), or a failure on the bot's side after the
ack (the member heard nothing). One line only they see; the traceback once in the log, without tokens. The real bolt
and slack_sdk clients against the fake Slack."""
from __future__ import annotations

import json
import urllib.parse

from sqlalchemy import select

from adapters.slack.listeners import SORRY, SORRY_UNREACHABLE, STALE_BUTTON, STALE_COMMAND, STALE_FORM
from bot.db.models import Member
from tests.slack_fake import sign
from tests.test_slack_app import TOKEN, fresh, slack, text_of  # noqa: F401 - the fixture
from tests.test_slack_translate import load

SIGNING = "test-signing-secret"


async def _command(s, command: str, text: str, *, user: str = "UASK1") -> tuple[int, str, str]:  # noqa: ANN001
    """A slash command: the HTTP status, the body Slack got back (its ack) and the response_url."""
    url = s.fake.response_url()
    form = urllib.parse.urlencode({**load("command_whoknows.json"), "user_id": user, "command": command,
                                   "text": text, "response_url": url, "trigger_id": f"t-{command}-{text}"})
    async with s.http.post(s.url, data=form.encode(), headers={
            "Content-Type": "application/x-www-form-urlencoded", **sign(SIGNING, form)}) as response:
        return response.status, await response.text(), url


def _no_tokens(caplog) -> None:  # noqa: ANN001
    assert TOKEN not in caplog.text and SIGNING not in caplog.text


async def test_a_command_of_another_version_is_one_line_to_the_member(slack, caplog):  # noqa: F811
    status, body, _ = await _command(slack, "/askexpert", "postgres")
    assert status == 200
    answer = json.loads(body)
    assert answer["response_type"] == "ephemeral"
    assert answer["text"] == STALE_COMMAND.format(command="/askexpert")
    assert "'/askexpert' is none of connective's" in caplog.text
    _no_tokens(caplog)


async def test_a_button_of_an_older_version_is_one_line_to_the_member(slack, caplog):  # noqa: F811
    await slack.click("UASK1", "oldfeature.go", "1")  # (asserts Slack got 200)
    [told] = await slack.fake.wait_for("response_url")
    assert told["text"] == STALE_BUTTON and told["response_type"] == "ephemeral"
    assert "oldfeature.go" in caplog.text and not any(r.exc_info for r in caplog.records)


async def test_a_command_failing_after_its_ack_is_one_line_to_the_member_and_one_traceback(slack, caplog):  # noqa: F811
    """Slack would not open the mentoring form (the trigger expired: the lazy listener ran late)."""
    slack.fake.refused["views.open"] = "expired_trigger_id"
    status, _, _ = await _command(slack, "/mentoring", "join")
    assert status == 200
    [told] = await slack.fake.wait_for("response_url")
    await slack.adapter.idle()
    assert told["text"] == SORRY and told["response_type"] == "ephemeral"
    assert len([r for r in caplog.records if r.exc_info]) == 1
    _no_tokens(caplog)


async def test_a_click_whose_handling_fails_is_one_line_to_the_member(slack, monkeypatch, caplog):  # noqa: F811
    async def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("the core failed")

    monkeypatch.setattr(slack.app.core, "handle", broken)
    await slack.click("UASK1", "intro.request", "1:UPG")
    [told] = await slack.fake.wait_for("response_url")
    assert told["text"] == SORRY
    assert len([r for r in caplog.records if r.exc_info]) == 1


async def test_an_erasure_that_cannot_be_kept_is_one_line_saying_nothing_was_done(slack, monkeypatch, caplog):  # noqa: F811
    """/connective forget-me with the database down: it was answered 503 (Slack sends no command again) and the
    member saw "failed with the error". They are told nothing was done; their data stays until they try again."""
    async def down(kept, body):  # noqa: ANN001, ANN202
        raise OSError("database unreachable")

    monkeypatch.setattr(slack.app.core.inbox, "keep", down)
    status, body, _ = await _command(slack, "/connective", "forget-me", user="UPG")
    await slack.adapter.idle()
    assert status == 200 and json.loads(body) == {"response_type": "ephemeral", "text": SORRY_UNREACHABLE}
    assert slack.fake.of("response_url") == []  # not handled from memory
    async with slack.app.db.sessions() as s:
        assert await s.scalar(select(Member.profiling_consent).where(Member.external_id == "UPG")) is True
    _no_tokens(caplog)


async def test_a_form_of_an_older_version_says_so_in_its_place(slack, caplog):  # noqa: F811
    payload = {"type": "view_submission", "team": {"id": "TTEST0001"}, "user": {"id": "UASK1"},
               "trigger_id": "t-form", "view": {"id": "V1", "type": "modal", "callback_id": "mentoring.old_form",
                                                "state": {"values": {}}}}
    form = urllib.parse.urlencode({"payload": json.dumps(payload)})
    async with slack.http.post(slack.url, data=form.encode(), headers={
            "Content-Type": "application/x-www-form-urlencoded", **sign(SIGNING, form)}) as response:
        assert response.status == 200
        answer = await response.json()
    assert answer["response_action"] == "update" and STALE_FORM in json.dumps(answer["view"])
    assert "mentoring.old_form" in caplog.text and not any(r.exc_info for r in caplog.records)


async def test_app_homes_opt_out_that_cannot_be_kept_is_a_dm_saying_nothing_was_done(slack, monkeypatch):  # noqa: F811
    """The click was answered 503 (Slack sends no click again): a warning sign beside the button, and the member's
    data left in place with nothing said."""
    async def down(kept, body):  # noqa: ANN001, ANN202
        raise OSError("database unreachable")

    monkeypatch.setattr(slack.app.core.inbox, "keep", down)
    await slack.click("UPG", "home.optout", "", home=True)  # (asserts Slack got 200)
    [told] = slack.dm("UPG")
    assert told["text"] == SORRY_UNREACHABLE
    async with slack.app.db.sessions() as s:
        assert await s.scalar(select(Member.profiling_consent).where(Member.external_id == "UPG")) is True
