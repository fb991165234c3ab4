"""The mentoring enrolment modal over Slack: the real bolt AsyncApp (HTTP mode) against the fake Slack Web API.
`/mentoring join` and the App Home button open it (views.open); a view_submission is answered with field
errors or stored through the core's enrolment path."""
from __future__ import annotations

import copy
import json
import urllib.parse
from typing import Any

from sqlalchemy import select, update

from bot.db.mentoring import MentoringEnrolment
from bot.db.models import Member
from tests import test_slack_app
from tests.slack_fake import sign
from tests.test_slack_app import SECRET, buttons, fresh, load, text_of

slack = test_slack_app.slack  # the fixture: the real AsyncApp in HTTP mode against the fake Slack


async def open_by_command(s, user: str, text: str = "join") -> tuple[dict[str, Any], str]:  # noqa: ANN001
    """`/mentoring join` with no arguments; returns the views.open call and the command's response_url."""
    before = len(s.fake.of("views.open"))
    response_url = s.fake.response_url()
    form = {**load("command_whoknows.json"), "user_id": user, "command": "/mentoring", "text": text,
            "response_url": response_url, "trigger_id": f"trigger-{user}"}
    assert await s.post(urllib.parse.urlencode(form), "application/x-www-form-urlencoded") == 200
    return (await s.fake.wait_for("views.open", before + 1))[before], response_url


def filled(view: dict[str, Any], **values: str) -> dict[str, Any]:
    """The view_submission Slack sends for this view with these inputs (a select gives its option)."""
    state: dict[str, Any] = {}
    for block in view["blocks"]:
        element = block["element"]
        value = values.get(block["block_id"])
        if element["type"] == "static_select":
            entry = {"type": "static_select",
                     "selected_option": next((o for o in element["options"] if o["value"] == value), None)}
        else:
            entry = {"type": element["type"], "value": value}
        state[block["block_id"]] = {element["action_id"]: entry}
    return {"type": "view_submission", "team": {"id": "TTEST0001", "domain": "acme"},
            "user": {"id": values.get("user", "UPG"), "team_id": "TTEST0001", "name": "petra"},
            "api_app_id": "A0CONNECT", "trigger_id": "9.9.sub",
            "view": {**copy.deepcopy(view), "id": "V0MODAL", "team_id": "TTEST0001", "state": {"values": state},
                     "hash": "1700002000.xyz"}}


async def submit(s, payload: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:  # noqa: ANN001
    """POST the interaction; returns the HTTP status and the JSON Slack gets back (the ack), if any."""
    body = urllib.parse.urlencode({"payload": json.dumps(payload)})
    async with s.http.post(s.url, data=body.encode(), headers={
            "Content-Type": "application/x-www-form-urlencoded", **sign(SECRET, body)}) as response:
        raw = await response.text()
        status = response.status
    await s.adapter.idle()
    return status, json.loads(raw) if raw.strip() else None


async def enrolment_of(s, user: str) -> MentoringEnrolment | None:  # noqa: ANN001
    async with s.app.db.sessions() as session:
        return await session.scalar(select(MentoringEnrolment).join(Member, Member.id == MentoringEnrolment.member_id)
                                    .where(Member.external_id == user))


def elements(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b["element"] for b in view["blocks"]}


async def test_mentoring_join_opens_the_modal_and_a_submission_enrols(slack):
    async with slack.app.db.sessions.begin() as session:  # Petra's time zone is known from before
        await session.execute(update(Member).where(Member.external_id == "UPG").values(timezone="America/Chicago"))
    opened, response_url = await open_by_command(slack, "UPG")
    assert opened["trigger_id"] == "trigger-UPG"
    view = opened["view"]
    assert view["type"] == "modal" and view["callback_id"] == "mentoring.form"
    assert [b["type"] for b in view["blocks"]] == ["input"] * 5
    fields = elements(view)
    assert list(fields) == ["role", "teach", "learn", "timezone", "capacity"]
    assert fields["role"]["type"] == "static_select"
    assert [o["value"] for o in fields["role"]["options"]] == ["mentor", "mentee", "both"]
    assert fields["teach"]["type"] == fields["learn"]["type"] == "plain_text_input"
    assert fields["timezone"]["initial_value"] == "America/Chicago"
    assert fields["capacity"]["type"] == "number_input" and fields["capacity"]["is_decimal_allowed"] is False
    assert slack.fake.of("response_url") == []  # no usage line: the form is the answer

    # A bad time zone (and a mentor with nothing to teach): errors on their blocks, nothing stored.
    status, ack = await submit(slack, filled(view, role="mentor", teach=" ", timezone="Mars/Olympus_Mons"))
    assert status == 200 and ack["response_action"] == "errors"
    assert set(ack["errors"]) == {"timezone", "teach"}
    assert "unknown time zone" in ack["errors"]["timezone"]
    assert await enrolment_of(slack, "UPG") is None and slack.fake.of("response_url") == []

    status, ack = await submit(slack, filled(view, role="mentor", teach="postgres query tuning, indexes",
                                             timezone="europe/berlin", capacity="2"))
    assert status == 200 and ack is None  # an empty ack closes the modal
    enrolment = await enrolment_of(slack, "UPG")
    assert (enrolment.role, enrolment.can_teach, enrolment.timezone, enrolment.capacity) == (
        "mentor", ["postgres query tuning", "indexes"], "Europe/Berlin", 2)
    [answer] = await slack.fake.wait_for("response_url")
    assert "You're in the mentoring rounds as mentor" in text_of(answer)
    assert answer["response_type"] == "ephemeral"

    # `/mentoring join` opens the form again, now filled in from the enrolment.
    reopened, _ = await open_by_command(slack, "UPG")
    fields = elements(reopened["view"])
    assert fields["role"]["initial_option"]["value"] == "mentor"
    assert fields["teach"]["initial_value"] == "postgres query tuning, indexes"
    assert fields["timezone"]["initial_value"] == "Europe/Berlin" and fields["capacity"]["initial_value"] == "2"


async def test_app_home_button_opens_the_modal_and_the_home_follows(slack):
    assert await slack.event(fresh("event_app_home_opened.json", user="UASK1")) == 200
    [home] = await slack.fake.wait_for("views.publish")
    assert ("mentoring.form", "join") in buttons(home)
    await slack.click("UASK1", "mentoring.form", "join", home=True)
    [opened] = await slack.fake.wait_for("views.open")
    view = opened["view"]
    assert opened["trigger_id"] == slack.last_trigger and view["private_metadata"] == ""
    assert elements(view)["timezone"]["initial_value"] == "Europe/Berlin"  # from users.info: none stored

    published = len(slack.fake.of("views.publish"))
    status, ack = await submit(slack, filled(view, user="UASK1", role="mentee", learn="postgres performance",
                                             timezone="Europe/London"))
    assert status == 200 and ack is None
    enrolment = await enrolment_of(slack, "UASK1")
    assert (enrolment.role, enrolment.wants_to_learn, enrolment.capacity) == ("mentee", ["postgres performance"], 1)
    [dm] = [m for m in slack.fake.of("chat.postMessage") if m["channel"] == "DUASK1"]
    assert "as mentee" in text_of(dm)
    home = (await slack.fake.wait_for("views.publish", published + 1))[-1]
    assert "Role: mentee" in text_of(home) and ("mentoring.form", "edit") in buttons(home)
