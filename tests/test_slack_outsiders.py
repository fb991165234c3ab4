"""People who are no members of the community (adapters/slack/outsiders.py): people of another organisation in a
Slack Connect channel, and guests. The real bolt app and slack_sdk client against the fake Slack."""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from bot.db.models import Member, Message, Reaction
from tests import test_slack_app, test_slack_catch_up
from tests.exports import TEAM, write_slack_export
from tests.test_slack_app import fresh, text_of
from tests.test_slack_catch_up import GENERAL, _stored

slack, away = test_slack_app.slack, test_slack_catch_up.away  # their fixtures

OTHER = "TOTHER0001"  # the other organisation's workspace
EXTERNAL = {"id": "UEXT", "team_id": OTHER, "name": "eve", "real_name": "Eve", "is_bot": False,
            "profile": {"display_name": "Eve", "team": OTHER}}
GUESTS = {"UGUEST": {"id": "UGUEST", "team_id": TEAM, "name": "gus", "real_name": "Gus", "is_restricted": True,
                     "profile": {"display_name": "Gus", "team": TEAM}},
          "UONE": {"id": "UONE", "team_id": TEAM, "name": "una", "real_name": "Una", "is_restricted": True,
                   "is_ultra_restricted": True, "profile": {"display_name": "Una", "team": TEAM}}}
ROOT = "1700000400.000100"


def shared(fixture: str, user: str, **fields: Any) -> dict[str, Any]:
    """An event of a Slack Connect channel, as Slack sends it: the author's workspace in user_team (and team,
    source_team), the envelope marked is_ext_shared_channel."""
    payload = fresh(fixture, user=user, **fields)
    if user == "UEXT":
        payload["event"].update(user_team=OTHER, source_team=OTHER, team=OTHER)
    payload["is_ext_shared_channel"] = True
    return payload


async def _messages(app) -> dict[str, Message]:
    async with app.db.sessions() as s:
        return {m.text: m for m in await s.scalars(select(Message))}


async def _members(app) -> set[str]:
    async with app.db.sessions() as s:
        return set(await s.scalars(select(Member.external_id)))


async def test_a_shared_channels_other_organisation_is_not_stored_and_our_members_replies_are(slack):
    """Eve, of another organisation, posts a link in a Slack Connect channel and reacts; Petra answers in her thread.
    Eve's message and reaction were stored and profiled as a member's (her link a digest's resource); now nothing
    of hers is, and Petra's reply is stored in Eve's thread."""
    slack.fake.people["UEXT"] = EXTERNAL
    link = "https://example.org/pg-partitioning-guide"
    assert await slack.event(shared("event_message.json", "UEXT", ts=ROOT, event_ts=ROOT,
                                    text=f"how do you partition a huge postgres table? {link}")) == 200
    reply = "1700000401.000100"
    said = "declarative partitioning by range on created_at, then detach old ones"
    assert await slack.event(shared("event_message.json", "UPG", ts=reply, event_ts=reply, thread_ts=ROOT,
                                    text=said)) == 200
    await slack.adapter.idle()
    assert await slack.event(shared("event_reaction_added.json", "UEXT", item={
        "type": "message", "channel": "C0GENERAL", "ts": reply})) == 200
    await slack.adapter.idle()
    messages = await _messages(slack.app)
    assert not [text for text in messages if "partition a huge" in text]
    answer = messages[said]
    assert answer.thread_external_id == ROOT
    assert "UEXT" not in await _members(slack.app)
    async with slack.app.db.sessions() as s:
        assert list(await s.scalars(select(Reaction.user_external_id).where(Reaction.message_id == answer.id))) == []


async def test_an_event_naming_another_workspace_is_skipped_where_users_info_says_nothing(slack):
    """users.info may not answer for another organisation's account: the event's own user_team tells it."""
    assert await slack.event(shared("event_message.json", "UEXT", ts=ROOT, event_ts=ROOT,
                                    text="our vendor's kafka cluster drops messages")) == 200
    await slack.adapter.idle()
    assert not [text for text in await _messages(slack.app) if "kafka" in text]


async def test_outsiders_asking_get_one_line_and_no_members_profile(slack):
    """Eve (another organisation) and two guests ask by command and by mention: each was answered with the members
    who know postgres, their evidence quoted from channels a guest may not read. Each is told in one line, only to
    them, that the bot answers full members; a guest's /connective forget-me still works."""
    slack.fake.people.update(UEXT=EXTERNAL, **GUESTS)
    for user, said in (("UEXT", "other organisations"), ("UGUEST", "not guests"), ("UONE", "not guests")):
        answer = await slack.command(user, "/whoknows", "postgres index ignored by the planner")
        assert said in answer["text"] and "UPG" not in text_of(answer) and answer["response_type"] == "ephemeral"
    before = len(slack.fake.of("chat.postEphemeral"))
    assert await slack.event(shared("event_app_mention.json", "UEXT", text="<@UBOT> who knows postgres?")) == 200
    await slack.adapter.idle()
    [told] = slack.fake.of("chat.postEphemeral")[before:]
    assert told["user"] == "UEXT" and "other organisations" in told["text"] and "UPG" not in text_of(told)
    assert slack.fake.of("chat.postMessage") == []
    erased = await slack.command("UGUEST", "/connective", "forget-me")
    assert "not guests" not in erased["text"]


async def test_a_guests_messages_are_not_stored_nor_suggested(slack):
    """A guest's answers made them an expert suggested to members, and offered intros; now they are not stored."""
    slack.fake.people.update(GUESTS)
    for n, user in enumerate(("UGUEST", "UONE")):
        ts = f"1700000500.00010{n}"
        assert await slack.event(fresh("event_message.json", user=user, ts=ts, event_ts=ts,
                                       text=f"zorblax flux capacitor calibration, take {n}")) == 200
    await slack.adapter.idle()
    assert not [text for text in await _messages(slack.app) if "zorblax" in text]
    assert not {"UGUEST", "UONE"} & await _members(slack.app)


async def test_what_another_organisation_said_while_the_bot_was_away_is_not_caught_up(away):
    """conversations.history lists a Slack Connect channel's messages with their author's user_team; users.info
    gives their team_id. Eve's message, and her reaction, were stored as a member's; our member's reply is."""
    away.fake.people["UEXT"] = EXTERNAL
    before = len(await _stored(away.app))
    root = away.said(GENERAL, "any postgres partitioning advice?", by="UEXT", ago=600, user_team=OTHER,
                     source_team=OTHER, team=OTHER)
    away.said(GENERAL, "partition by range and detach old partitions", by="UPG", ago=500, thread=root,
              reactions=[{"name": "+1", "users": ["UEXT", "UASK1"], "count": 2}])
    await away.restart()
    stored = await _stored(away.app)
    assert [(m.text, m.thread_external_id) for m in stored[before:]] == [
        ("partition by range and detach old partitions", root)]
    async with away.app.db.sessions() as s:
        given = list(await s.scalars(select(Reaction.user_external_id).where(Reaction.message_id == stored[-1].id)))
    assert given == ["UASK1"]


async def test_an_export_of_a_shared_channel_imports_no_outsider(app, tmp_path):
    """`connective import slack` of an export whose users.json lists Eve with another organisation's team_id and a
    guest, and whose messages hold Ivo, of another organisation, not listed at all (only his message's user_team).
    Each was imported as a member: their messages as expertise, their reactions as signals. Now none is, our members'
    replies in their threads are, and one note says how many were left out."""
    root = write_slack_export(tmp_path / "export", {"UPG": "Petra", "UASK1": "Asha", "UEXT": "Eve", "UGUEST": "Gus"},
                              [[("UEXT", "how do you partition a huge postgres table?"),
                                ("UPG", "declarative partitioning by range, then detach old partitions")],
                               [("UGUEST", "zorblax flux capacitor calibration is done with a torque wrench")]],
                              extra=[{"type": "message", "user": "UIVO", "text": "our kafka cluster drops messages",
                                      "ts": "1700090000.000100", "user_team": OTHER, "team": OTHER,
                                      "user_profile": {"display_name": "Ivo"}},
                                     {"type": "message", "user": "UASK1", "text": "the planner ignores my index",
                                      "ts": "1700090100.000100", "team": TEAM,
                                      "reactions": [{"name": "+1", "users": ["UEXT", "UPG"], "count": 2}]}])
    users = json.loads((root / "users.json").read_text())
    for u in users:
        if u["id"] == "UEXT":
            u["team_id"] = u["profile"]["team"] = OTHER
        if u["id"] == "UGUEST":
            u["is_restricted"] = True
    (root / "users.json").write_text(json.dumps(users))
    report = await app.importer.import_slack(root)
    messages = await _messages(app)
    assert set(messages) == {"declarative partitioning by range, then detach old partitions",
                             "the planner ignores my index"}
    assert messages["declarative partitioning by range, then detach old partitions"].thread_external_id == \
        "1700000000.000000"
    assert {"UEXT", "UGUEST", "UIVO"}.isdisjoint(await _members(app))
    async with app.db.sessions() as s:
        assert list(await s.scalars(select(Reaction.user_external_id))) == ["UPG"]
    assert report.community == f"slack:{TEAM}"
    assert "3 messages of 2 people of other organisations (Slack Connect) and 1 guest not imported" in \
        " ".join(report.notes)


async def test_a_guests_app_home_offers_no_profile_mentoring_or_intro_toggles(slack):
    """A guest opening the App Home got a member's Home (a member row made for them) with "Join mentoring" and the
    intro toggles: the form enrolled them, and a round paired them. Their Home says in one line that connective is
    for full members; its buttons (one shown before they were made a guest) and the form do nothing."""
    from tests.test_slack_modals import enrolment_of, filled

    slack.fake.people.update(GUESTS)
    members = await _members(slack.app)
    assert await slack.event(fresh("event_app_home_opened.json", user="UGUEST")) == 200
    [home] = await slack.fake.wait_for("views.publish")
    assert home["user_id"] == "UGUEST" and "not guests" in text_of(home) and "mentoring.form" not in text_of(home)
    await slack.click("UGUEST", "mentoring.form", "join", home=True)
    await slack.click("UGUEST", "home.unavailable", "off", home=True)
    assert slack.fake.of("views.open") == []
    from adapters.slack.modals import enrolment_modal
    from tests.test_slack_modals import submit
    view = enrolment_modal({"timezone": "Europe/London"})
    status, _ = await submit(slack, filled(view, user="UGUEST", role="mentee", learn="postgres performance",
                                           timezone="Europe/London"))
    assert status == 200 and await enrolment_of(slack, "UGUEST") is None
    assert await _members(slack.app) == members


async def test_a_command_whose_payload_names_the_other_workspace_is_still_refused(slack):
    """A person of another organisation's request may carry their own workspace's team_id: compared with it, their
    account's team was "this workspace" and they were answered with members' profiles."""
    import urllib.parse

    from tests.test_slack_app import load

    slack.fake.people["UEXT"] = EXTERNAL
    form = {**load("command_whoknows.json"), "user_id": "UEXT", "team_id": OTHER, "command": "/whoknows",
            "text": "postgres index ignored by the planner", "response_url": slack.fake.response_url(),
            "trigger_id": "t-other"}
    assert await slack.post(urllib.parse.urlencode(form), "application/x-www-form-urlencoded") == 200
    [answer] = await slack.fake.wait_for("response_url")
    assert "other organisations" in answer["text"] and "UPG" not in text_of(answer)


async def test_a_member_made_a_guest_is_no_longer_suggested_until_a_full_member_again(slack):
    """An admin makes Petra a guest (user_change, is_restricted): she was still suggested as the expert on postgres,
    her stored answers quoted to members of channels she can no longer read. She is not now; made a full member
    again, she is back (her history was kept)."""
    from tests.test_slack_app import _experts

    question = "postgres index ignored by the planner"
    assert _experts(await slack.command("UASK1", "/whoknows", question))[0] == "UPG"
    guest = fresh("event_user_change_deactivated.json")
    guest["event"]["user"].update(deleted=False, is_restricted=True)
    assert await slack.event(guest) == 200
    await slack.adapter.idle()
    assert "UPG" not in _experts(await slack.command("UASK2", "/whoknows", question))
    back = fresh("event_user_change_deactivated.json")
    back["event"]["user"].update(deleted=False, is_restricted=False)
    assert await slack.event(back) == 200
    await slack.adapter.idle()
    assert _experts(await slack.command("UASK2", "/whoknows", question))[0] == "UPG"


async def test_an_account_of_another_organisation_deactivated_is_not_stored(slack):
    """user_change of a shared channel's person of another organisation, deactivated there: stored as a member who
    left, by their name. Nothing of them is stored; a member of ours deactivated still leaves."""
    for user, team in (("UEXT1", "T0OTHER"), ("UPG", TEAM)):
        change = fresh("event_user_change_deactivated.json")
        change["event"]["user"].update(id=user, team_id=team, deleted=True)
        change["event"]["user"]["profile"].update(display_name=f"{user} there", team=team)
        assert await slack.event(change) == 200
        await slack.adapter.idle()
    async with slack.app.db.sessions() as s:
        assert not await s.scalar(select(Member.id).where(Member.external_id == "UEXT1"))
        assert await s.scalar(select(Member.deactivated).where(Member.external_id == "UPG"))
