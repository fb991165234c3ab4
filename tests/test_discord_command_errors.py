"""What a member meets when a slash command cannot run: discord.py hands what fails before the command's callback (a
command Discord still offers that this version no longer has, options of another version, an option it cannot read)
to the command tree's on_error, which only logged it: the member got "The application did not respond". The real
discord.py client against the fake Discord."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.discord_fixtures import BOT
from tests.discord_harness import running_bot, send, started_fake_discord
from tests.test_discord_features import answer, command, sub
from tests.test_discord_modals import EPHEMERAL, callback, modal_submit

OUTDATED = ("That command has changed since Discord loaded it (connective was updated): reload Discord "
            "(Ctrl+R, or restart the app) and try again.")


@pytest.fixture
async def fake_discord():
    async for fake in started_fake_discord():
        yield fake


def _mentions_token(caplog, payload: dict[str, Any]) -> bool:  # noqa: ANN001
    """Whether the bot's log names the interaction's token (the fake Discord's own access log aside)."""
    return any(payload["token"] in r.getMessage() + (r.exc_text or "") for r in caplog.records
               if not r.name.startswith("aiohttp"))


def _told(response: dict[str, Any]) -> str:
    """The one ephemeral line an interaction was answered with."""
    assert response["type"] == 4 and response["data"]["flags"] == EPHEMERAL, response
    assert response["data"]["allowed_mentions"] == {"parse": []}
    return response["data"]["content"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_stale_command_is_answered_with_one_line_and_logged_once(app, fake_discord, caplog):
    """After an upgrade Discord may still offer a command as it was (a member's app loaded the list before): one this
    version no longer has, a subcommand gone, a group called as a command, or options named as before."""
    caplog.set_level(logging.INFO)
    stale = [
        command("askexpert", [{"name": "topic", "type": 3, "value": "postgres"}]),  # a command no longer there
        command("digest", [sub("archive")]),  # a subcommand no longer there
        command("digest", []),  # a group, as the command it once was
        command("whoknows", [{"name": "question", "type": 3, "value": "postgres"}]),  # an option renamed since
    ]
    async with running_bot(app, fake_discord) as bot:
        for payload in stale:
            caplog.clear()
            await send(fake_discord, bot, "INTERACTION_CREATE", payload)
            assert _told(await callback(fake_discord, payload)) == OUTDATED
            lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
            assert len(lines) == 1 and lines[0].exc_info is None, [r.getMessage() for r in lines]
            assert f"interaction {payload['id']}" in lines[0].getMessage()
            assert not _mentions_token(caplog, payload)
        # The commands as they are still work.
        assert "postgres" in (await answer(fake_discord, bot, command("whoknows", [
            {"name": "topic", "type": 3, "value": "postgres"}])))["content"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_an_option_that_cannot_be_read_is_answered(app, fake_discord, caplog):
    """/connective intro-channel takes a text channel, which discord.py looks up in its cache: a channel it does not
    hold (here: a forum post offered by an older registration) failed before the command ran."""
    payload = command("connective", [sub("intro-channel", channel="1100000000000000499")], manage_server=True)
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "INTERACTION_CREATE", payload)
        told = _told(await callback(fake_discord, payload))
    assert told == "I couldn't use the channel you picked there: pick another one, or try again."
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and lines[0].exc_info is None, [r.getMessage() for r in lines]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_failure_of_the_tree_itself_is_answered_and_its_traceback_logged_once(app, fake_discord, caplog,
                                                                                       monkeypatch):
    """Anything else the tree hands to on_error (here: the callback failing outside the bot's own handling)."""
    async def broken(interaction: Any) -> None:
        raise RuntimeError("a bug")

    async with running_bot(app, fake_discord) as bot:
        payload = command("me", [])
        monkeypatch.setattr(bot.tree.get_command("me"), "_callback", broken)
        await send(fake_discord, bot, "INTERACTION_CREATE", payload)
        assert _told(await callback(fake_discord, payload)) == "Sorry, something went wrong on my side; it has " \
                                                               "been logged."
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1 and str(tracebacks[0].exc_info[1]) == "a bug"
    assert not _mentions_token(caplog, payload)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_an_enrolment_form_whose_handling_fails_is_answered(app, fake_discord, monkeypatch, caplog):
    """The mentoring form sent, "thinking…", then its enrolment failed: it was only logged, and the member saw
    "thinking…" until the interaction expired (15 minutes); with the database down, a traceback."""
    async def failing(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(app.mentoring, "submit_form", failing)
    form = modal_submit({"role": "mentee", "learn": "postgres", "timezone": "Europe/London", "capacity": "1"})
    async with running_bot(app, fake_discord) as bot:
        await send(fake_discord, bot, "INTERACTION_CREATE", form)
        assert (await callback(fake_discord, form))["type"] == 5  # thinking…
        [told] = await fake_discord.wait_for("POST", rf"/webhooks/{BOT}/{form['token']}$")
    assert told.json["content"] == "Sorry, something went wrong on my side; it has been logged."
    assert told.json["flags"] == EPHEMERAL and told.json["allowed_mentions"] == {"parse": []}
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1 and str(tracebacks[0].exc_info[1]) == "a bug"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_member_without_manage_server_is_told_in_one_line_only_they_see(app, fake_discord):
    """The /connective commands are hidden from members without Manage Server, but a server can show them to others
    (Server Settings → Integrations): the bot checks again, and says so."""
    payload = command("connective", [sub("ingest", channel="1100000000000000301", enabled=True)])
    async with running_bot(app, fake_discord) as bot:
        body = await answer(fake_discord, bot, payload)
        ack = await callback(fake_discord, payload)
    assert ack == {"type": 5, "data": {"flags": EPHEMERAL}}  # "thinking…" only they see, then the answer in its place
    assert body["content"] == "Only members who can manage the server can change connective's settings."
