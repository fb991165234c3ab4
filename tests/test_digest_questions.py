"""The digest's "Questions still waiting for an answer" lists open questions to the community only: not what was
said to one member, answered in the channel rather than in a thread, or said in reply to another member there
(bot/services/digest_questions.py; figures in tests/benchmarks/eval_waiting_questions.py)."""
from __future__ import annotations

import pytest

from tests.fake_platform import Clock, FakePlatform
from tests.test_digest import at, command, say, wire

OPEN = "How do I keep a postgres replica from lagging behind the primary during bulk loads?"


@pytest.fixture
async def platform():
    fake = await FakePlatform().start()
    yield fake
    await fake.stop()


async def waiting(app) -> str:  # noqa: ANN001
    preview = await command(app, "UASK", "digest", "preview", at(2024, 2, 29, 12))
    return preview.split("Questions still waiting for an answer", 1)[-1] if "still waiting" in preview else ""


async def test_a_question_said_to_one_member_is_not_waiting(app, platform):
    await wire(app, Clock(at(2024, 2, 29, 12)), platform)
    await say(app, "UASK", OPEN, at(2024, 2, 27, 8))
    await say(app, "UBR", "<@UCH> did the kubernetes ingress rewrite you tried fix the 502 errors?",
              at(2024, 2, 27, 9))
    await say(app, "UDAN", "Is this terraform state lock issue the same as "
              "https://acme.slack.com/archives/C1/p1709020000000100 ?", at(2024, 2, 27, 10))
    await say(app, "UK8S", "@chasote (not sure why I can't tab complete you?) the helm upgrade works now",
              at(2024, 2, 27, 11))  # a name typed, not a mention
    await say(app, "UPG", "Is this raco setup error a bug in 7.0? the path lost its leading slash (cc <@UCH>)",
              at(2024, 2, 27, 12))  # asks all, copying one member
    questions = await waiting(app)
    assert "postgres replica" in questions and "raco setup error" in questions
    assert "ingress rewrite" not in questions and "terraform state lock" not in questions
    assert "tab complete" not in questions


async def test_a_question_answered_in_the_channel_is_not_waiting(app, platform):
    """Answered right after in the channel, not in a thread: by meaning, so an unrelated message after a question
    does not take it off the list."""
    await wire(app, Clock(at(2024, 2, 29, 12)), platform)
    await say(app, "UBR", "How can I make pytest collection faster on a big python monorepo?", at(2024, 2, 27, 9))
    await say(app, "UCH", "pytest collection on a big monorepo gets much faster with --import-mode=importlib "
              "and narrow testpaths", at(2024, 2, 27, 9, 12))
    await say(app, "UASK", OPEN, at(2024, 2, 27, 14))
    await say(app, "UK8S", "Our helm chart for the kubernetes ingress controller is on version 4 now",
              at(2024, 2, 27, 14, 5))
    await say(app, "UDAN", "Why does my kubernetes pod get OOMKilled with exit code 137 when memory looks fine?",
              at(2024, 2, 28, 8))
    await say(app, "UPG", "Exit code 137 means your kubernetes pod was OOMKilled: the memory limit counts the page "
              "cache too", at(2024, 2, 28, 10, 30))  # a slow channel answers later
    questions = await waiting(app)
    assert "postgres replica" in questions
    assert "pytest collection" not in questions and "exit code 137" not in questions


async def test_a_question_that_answers_another_members_message_is_not_waiting(app, platform):
    """Said in the channel in reply to what another member had just asked there."""
    await wire(app, Clock(at(2024, 2, 29, 12)), platform)
    await say(app, "UCH", "My racket collection paths are not found when I run raco from the terminal, "
              "why are the collection paths missing?", at(2024, 2, 27, 9))
    await say(app, "UBR", "Are the racket collection paths missing from the terminal because of an environment "
              "variable not set for raco?", at(2024, 2, 27, 9, 20))
    await say(app, "UASK", OPEN, at(2024, 2, 27, 14))
    questions = await waiting(app)
    assert "postgres replica" in questions
    assert "environment variable" not in questions


async def test_a_short_reply_or_suggestion_in_the_channel_is_not_waiting(app, platform):
    """Worded as a reply to what was just said ("Maybe …?", "…, right?"), unless it turns to the community."""
    await wire(app, Clock(at(2024, 2, 29, 12)), platform)
    await say(app, "UASK", OPEN, at(2024, 2, 27, 8))
    await say(app, "UBR", "Maybe the `PLTCOLLECTS` environment variable is not set in that shell?",
              at(2024, 2, 27, 9))
    await say(app, "UCH", "every kubernetes pod restarts when the config map changes, right?",
              at(2024, 2, 27, 10))
    await say(app, "UDAN", "So does anyone know why raco setup ignores the PLTCOLLECTS variable?", at(2024, 2, 27, 11))
    questions = await waiting(app)
    assert "postgres replica" in questions and "does anyone know why raco setup" in questions
    assert "Maybe the" not in questions and "config map" not in questions


async def test_a_question_that_carries_on_the_askers_conversation_is_not_waiting(app, platform):
    """Asked by a member who was talking with another member in the channel just before: a follow-up in that
    conversation, which the other member is answering, not a question to the community."""
    await wire(app, Clock(at(2024, 2, 29, 12)), platform)
    await say(app, "UBR", "I moved our websockets behind the new nginx ingress yesterday", at(2024, 2, 27, 9))
    await say(app, "UCH", "nice, the annotations for timeouts are the tricky part", at(2024, 2, 27, 9, 5))
    await say(app, "UBR", "Is the proxy-read-timeout annotation applied per ingress resource or per service?",
              at(2024, 2, 27, 9, 15))
    await say(app, "UASK", OPEN, at(2024, 2, 27, 14))
    questions = await waiting(app)
    assert "postgres replica" in questions
    assert "proxy-read-timeout" not in questions


async def test_a_paste_a_quote_or_a_withdrawn_question_is_not_waiting(app, platform):
    """A short message whose only "?" is in code it pastes, one that opens quoting another message, one worded as
    a reply to it ("That looks like …"), and one whose asker says "never mind" in it."""
    await wire(app, Clock(at(2024, 2, 29, 12)), platform)
    await say(app, "UASK", OPEN, at(2024, 2, 27, 8))
    await say(app, "UBR", "Also available for the postgres pool: `(ifn? conn-pool)`", at(2024, 2, 27, 9))
    await say(app, "UCH", "&gt; the helm chart pins ingress-nginx 4.0\nWhich kubernetes version does that helm chart "
              "need?", at(2024, 2, 27, 10))
    await say(app, "UDAN", "That looks like the kubernetes bug fixed in 1.29, are you on an older version?",
              at(2024, 2, 27, 11))
    await say(app, "UK8S", "Never mind: the terraform plan error was a typo in my variables file. Should the docs "
              "warn about it?", at(2024, 2, 27, 12))
    await say(app, "UPG", "Something still confuses me about postgres planner estimates: on one hand the rows look "
              "right, on the other hand the plan is wrong ```select * from t where x ~ '^a?'```", at(2024, 2, 27, 13))
    questions = await waiting(app)
    assert "postgres replica" in questions and "planner estimates" in questions  # asks in words, no "?" but code's
    for said in ("conn-pool", "helm chart", "bug fixed in 1.29", "terraform plan"):
        assert said not in questions, said


async def test_a_question_answered_to_its_asker_in_the_channel_is_not_waiting(app, platform):
    """Another member answered the asker in the channel, mentioning them, within the hour ("@shery info.rkt is
    the analogous file"), in words too few or too different to match the question."""
    await wire(app, Clock(at(2024, 2, 29, 12)), platform)
    await say(app, "UDAN", "Which terraform provider version supports the new s3 backend locking?", at(2024, 2, 27, 9))
    await say(app, "UPG", "<@UDAN> 5.40 and up", at(2024, 2, 27, 9, 30))
    await say(app, "UASK", OPEN, at(2024, 2, 27, 14))
    await say(app, "UPG", "<@UASK> are you coming to the meetup on Friday?", at(2024, 2, 27, 17))  # hours later
    questions = await waiting(app)
    assert "postgres replica" in questions
    assert "s3 backend locking" not in questions


async def test_a_question_its_asker_answered_is_not_waiting(app, platform):
    """Its asker said in the channel soon after that they had found the answer ("Ah duh. `lein pprint` can do it
    natively"); an asker who is still stuck keeps their question listed."""
    await wire(app, Clock(at(2024, 2, 29, 12)), platform)
    await say(app, "UBR", "Is there a way to print the merged leiningen project map with all profiles applied?",
              at(2024, 2, 27, 9))
    await say(app, "UBR", "Ah duh. `lein pprint` can do it natively", at(2024, 2, 27, 9, 3))
    await say(app, "UASK", OPEN, at(2024, 2, 27, 14))
    await say(app, "UASK", "still stuck on the replica lag, any pointers welcome", at(2024, 2, 27, 14, 20))
    questions = await waiting(app)
    assert "postgres replica" in questions
    assert "leiningen project map" not in questions
