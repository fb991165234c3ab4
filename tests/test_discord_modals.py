"""The mentoring enrolment modal on Discord: the real discord.py client against the fake Discord.
`/mentoring join` without options is answered with a modal (interaction response type 9); its MODAL_SUBMIT
goes through the core's enrolment path; field errors are answered ephemerally."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.db.mentoring import MentoringEnrolment
from bot.db.models import Member
from bot.events import CommandInvoked
from bot.repo import ensure_community, ensure_member
from tests.discord_fixtures import ASHA, BOT, GUILD, load
from tests.discord_harness import running_bot, send, started_fake_discord
from tests.test_discord_features import _interaction_ids, command, sub

EPHEMERAL = 1 << 6


@pytest.fixture
async def fake_discord():
    async for fake in started_fake_discord():
        yield fake


def modal_submit(values: dict[str, str], *, user: str = ASHA) -> dict[str, Any]:
    """An INTERACTION_CREATE of type MODAL_SUBMIT for the enrolment form, one action row per text input."""
    payload = load("interaction_whoknows")
    interaction_id = str(next(_interaction_ids))  # one counter: the features tests' ids grew into a range of its own
    payload.update(id=interaction_id, token=f"token-{interaction_id}", type=5)
    payload["data"] = {
        "custom_id": "mentoring.form",
        "components": [
            {"type": 1, "components": [{"type": 4, "custom_id": key, "value": value}]} for key, value in values.items()
        ],
    }
    payload["member"]["user"]["id"] = user
    return payload


async def callback(fake, payload: dict[str, Any]) -> dict[str, Any]:  # noqa: ANN001
    [call] = await fake.wait_for("POST", rf"/interactions/{payload['id']}/{payload['token']}/callback")
    return call.json


async def enrolment_of(app, user: str) -> MentoringEnrolment | None:  # noqa: ANN001
    async with app.db.sessions() as session:
        return await session.scalar(select(MentoringEnrolment).join(Member, Member.id == MentoringEnrolment.member_id)
                                    .where(Member.external_id == user))


def inputs(modal: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}

    def walk(component: dict[str, Any]) -> None:
        if component.get("type") == 4:
            found[component["custom_id"]] = component
        for child in component.get("components") or []:
            walk(child)
        if isinstance(component.get("component"), dict):
            walk(component["component"])

    for component in modal["components"]:
        walk(component)
    return found


async def test_mentoring_join_without_options_answers_with_a_modal_whose_submission_enrols(app, fake_discord):
    async with app.db.sessions.begin() as session:  # Asha's time zone is known from before
        community = await ensure_community(session, "discord", GUILD)
        await ensure_member(session, community.id, ASHA, name="Asha Rao", timezone="Asia/Kolkata")
    async with running_bot(app, fake_discord) as bot:
        opened = command("mentoring", [sub("join")])
        await send(fake_discord, bot, "INTERACTION_CREATE", opened)
        response = await callback(fake_discord, opened)
        assert response["type"] == 9  # MODAL
        modal = response["data"]
        assert modal["custom_id"] == "mentoring.form" and modal["title"] == "Mentoring enrolment"
        fields = inputs(modal)
        assert list(fields) == ["role", "teach", "learn", "timezone", "capacity"]
        assert fields["timezone"]["value"] == "Asia/Kolkata"
        assert fields["learn"]["style"] == 2 and fields["role"]["required"] is True
        assert not fake_discord.find("PATCH", rf"/webhooks/{BOT}/.*")  # no "thinking…" answer before it

        # An unknown time zone: an ephemeral answer naming the field; nothing stored.
        bad = modal_submit({"role": "mentee", "learn": "postgres performance", "timezone": "Mars/Olympus"})
        await send(fake_discord, bot, "INTERACTION_CREATE", bad)
        refused = await callback(fake_discord, bad)
        assert refused["type"] == 4 and refused["data"]["flags"] & EPHEMERAL
        assert "timezone: unknown time zone" in refused["data"]["content"]
        assert refused["data"]["allowed_mentions"] == {"parse": []}
        assert await enrolment_of(app, ASHA) is None

        good = modal_submit({"role": "Mentee", "teach": "", "learn": "postgres performance, indexes",
                             "timezone": "europe/london", "capacity": ""})
        await send(fake_discord, bot, "INTERACTION_CREATE", good)
        deferred = await callback(fake_discord, good)
        assert deferred["type"] == 5 and deferred["data"]["flags"] & EPHEMERAL
        [answer] = await fake_discord.wait_for("PATCH", rf"/webhooks/{BOT}/{good['token']}/messages/@original")
        assert "You're in the mentoring rounds as mentee" in answer.json["content"]
        enrolment = await enrolment_of(app, ASHA)
        assert (enrolment.role, enrolment.wants_to_learn, enrolment.timezone, enrolment.capacity) == (
            "mentee", ["postgres performance", "indexes"], "Europe/London", 1)

        # The form again: filled in from the enrolment.
        again = command("mentoring", [sub("join")])
        await send(fake_discord, bot, "INTERACTION_CREATE", again)
        fields = inputs((await callback(fake_discord, again))["data"])
        assert fields["role"]["value"] == "mentee" and fields["learn"]["value"] == "postgres performance, indexes"
        assert fields["timezone"]["value"] == "Europe/London"


async def test_mentoring_join_while_the_database_is_unreachable_is_answered(app, fake_discord, monkeypatch, caplog):
    """The form's values are read before any answer: with the database down, discord.py only logged the failure and
    the member got "The application did not respond"."""
    async def unreachable(*args: Any, **kwargs: Any) -> dict[str, str]:
        raise ConnectionRefusedError(111, "Connect call failed")

    monkeypatch.setattr(app.mentoring, "form_values", unreachable)
    async with running_bot(app, fake_discord) as bot:
        opened = command("mentoring", [sub("join")])
        await send(fake_discord, bot, "INTERACTION_CREATE", opened)
        response = await callback(fake_discord, opened)
    assert response["type"] == 4 and response["data"]["flags"] == EPHEMERAL
    assert response["data"]["content"].startswith("I can't reach my database right now")
    assert response["data"]["allowed_mentions"] == {"parse": []}
    assert "the database is unreachable (ConnectionRefusedError)" in caplog.text
    assert not [r for r in caplog.records if r.exc_info and r.name.startswith(("adapters", "discord"))]


async def test_a_command_that_fails_after_thinking_says_so(app, fake_discord, monkeypatch, caplog):
    """Acknowledged with "thinking…", then failed (here: in the core): the member saw "thinking…" for 15 minutes."""
    handle = app.core.handle

    async def failing(event: Any, **kwargs: Any) -> list:
        if isinstance(event, CommandInvoked):
            raise RuntimeError("a bug")
        return await handle(event, **kwargs)

    monkeypatch.setattr(app.core, "handle", failing)
    async with running_bot(app, fake_discord) as bot:
        me = command("me", [])
        await send(fake_discord, bot, "INTERACTION_CREATE", me)
        assert (await callback(fake_discord, me)) == {"type": 5, "data": {"flags": EPHEMERAL}}
        [told] = await fake_discord.wait_for("POST", rf"/webhooks/{BOT}/{me['token']}$")
    assert told.json["content"] == "Sorry, something went wrong on my side; it has been logged."
    assert told.json["flags"] == EPHEMERAL and told.json["allowed_mentions"] == {"parse": []}
    [failed] = [r for r in caplog.records if r.exc_info]
    assert failed.getMessage() == f"interaction {me['id']} failed" and str(failed.exc_info[1]) == "a bug"
