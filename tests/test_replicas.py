"""Two real `connective run --platform slack` replicas (HTTP mode) on one PostgreSQL, behind a load balancer that
sends each request to one or the other: the product must behave as one bot."""
from __future__ import annotations

import asyncio
import copy
import itertools
import json
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from bot.app import build_app
from bot.settings import Settings
from tests.exports import TEAM, THREADS, USERS, write_slack_export
from tests.replicas import SECRET, Replica, wait_until
from tests.slack_fake import FakeSlack, sign
from tests.test_digest import pg_url  # noqa: F401  (fixture: a fresh PostgreSQL database)
from tests.test_slack_translate import load
from tests.waiting import until, waits_on_a_lock

_ids = itertools.count(1)


@dataclass
class Pair:
    fake: FakeSlack
    a: Replica
    b: Replica

    async def post(self, replica: Replica, body: str, content_type: str, headers: dict[str, str] | None = None) -> int:
        async with aiohttp.ClientSession() as http, http.post(
                f"http://127.0.0.1:{replica.http_port}/slack/events", data=body.encode(),
                headers={"Content-Type": content_type, **sign(SECRET, body), **(headers or {})}) as response:
            await response.read()
            return response.status

    async def command(self, replica: Replica, user: str, command: str, text: str) -> dict[str, Any]:
        """A slash command through `replica`; what was sent to its response_url."""
        form = {**load("command_whoknows.json"), "user_id": user, "command": command, "text": text,
                "response_url": self.fake.response_url(), "trigger_id": f"t{next(_ids)}"}
        before = len(self.fake.of("response_url"))
        assert await self.post(replica, urllib.parse.urlencode(form), "application/x-www-form-urlencoded") == 200
        return (await self.fake.wait_for("response_url", before + 1, timeout=120))[before]

    def click(self, user: str, action: str, value: str, *, channel: str = "C0GENERAL",
              message_ts: str = "") -> str:
        """A click's request body (one trigger_id), to post to one replica or more."""
        payload = copy.deepcopy(load("block_actions_message.json"))
        payload["user"]["id"] = user
        payload["trigger_id"] = f"click{next(_ids)}"
        payload["actions"][0].update(action_id=action, value=value)
        payload["channel"]["id"] = payload["container"]["channel_id"] = channel
        payload["response_url"] = self.fake.response_url()
        if message_ts:
            payload["container"].update(message_ts=message_ts, is_ephemeral=False)
        return urllib.parse.urlencode({"payload": json.dumps(payload)})

    def dm(self, user: str) -> list[dict[str, Any]]:
        return [m for m in self.fake.of("chat.postMessage") if m["channel"] == f"D{user}"]


def _buttons(message: dict[str, Any]) -> dict[str, str]:
    out = {}
    for block in message.get("blocks", []):
        if "accessory" in block:
            out.setdefault(block["accessory"]["action_id"], block["accessory"]["value"])
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            out.setdefault(element["action_id"], element["value"])
    return out


async def _imported(url: str, embedder, tmp_path) -> dict[str, dict]:  # noqa: ANN001
    """The test export imported into the database the replicas share; its members as users.info tells them."""
    app = build_app(Settings(database_url=url), embedder=embedder)
    try:
        await app.importer.import_slack(write_slack_export(tmp_path / "export", USERS, THREADS))
    finally:
        await app.close()
    return {uid: {"id": uid, "name": name.lower(), "real_name": name, "tz": "UTC", "is_bot": False,
                  "profile": {"display_name": name}} for uid, name in USERS.items()}


@pytest.fixture
async def pair(pg_url, embedder, tmp_path) -> AsyncIterator[Pair]:  # noqa: F811
    people = await _imported(pg_url, embedder, tmp_path)
    fake = await FakeSlack(team_id=TEAM, people=people, channels={"C0GENERAL": "general"}).start()
    logs = [open(tmp_path / f"replica{n}.log", "w") for n in range(2)]  # noqa: SIM115
    replicas = [await Replica.start(pg_url, fake.url, log=log) for log in logs]
    try:
        for replica in replicas:
            await replica.ready()
        yield Pair(fake, *replicas)
    finally:
        for replica in replicas:
            await replica.stop()
        for log in logs:
            log.close()
        await fake.stop()


async def _requested(pair: Pair) -> str:
    """Asha asks on replica A and requests an intro to Petra there; the id of the intro Petra is asked to accept."""
    answer = await pair.command(pair.a, "UASK1", "/whoknows", "postgres index ignored by the planner")
    request = _buttons(answer)["intro.request"]
    assert request.endswith(":UPG")
    assert await pair.post(pair.a, pair.click("UASK1", "intro.request", request),
                           "application/x-www-form-urlencoded") == 200
    await pair.fake.wait_for("chat.postMessage", 1)
    [asked] = pair.dm("UPG")
    return _buttons(asked)["intro.accept"]


async def test_a_click_delivered_to_both_replicas_is_handled_once(pair):
    """An Accept whose request reached both replicas (a retry sent to the other one) opened the conversation once,
    but the expert was also told 'that intro request is no longer open', and the request they had accepted was
    changed to say it was closed."""
    fake = pair.fake
    intro = await _requested(pair)

    before = len(fake.of("response_url"))
    accept = pair.click("UPG", "intro.accept", intro, channel="DUPG", message_ts="1700009999.000100")
    assert await asyncio.gather(
        pair.post(pair.b, accept, "application/x-www-form-urlencoded"),
        pair.post(pair.a, accept, "application/x-www-form-urlencoded", {"X-Slack-Retry-Num": "1"})) == [200, 200]

    async def both_saw_it() -> bool:  # the click before: one request, one ActionClicked
        seen = [await r.metric("connective_events_ingested_total", kind="ActionClicked")
                + await r.metric("connective_events_duplicate_total") for r in (pair.a, pair.b)]
        return sum(seen) >= 3 and len(fake.of("chat.update")) >= 1
    await wait_until(both_saw_it, 60)
    await asyncio.sleep(1)  # the duplicate's own reply, if any, would have been sent by now
    answers = [m.get("text", "") for m in fake.of("response_url")[before:]]
    assert len(answers) == 1 and "no longer open" not in answers[0], answers
    assert len([c for c in fake.of("conversations.open") if "," in c["users"]]) == 1
    assert len([m for m in fake.of("chat.postMessage") if m["channel"].startswith("G")]) == 1
    assert len(pair.dm("UASK1")) == 1
    [settled] = fake.of("chat.update")
    assert "You accepted" in json.dumps(settled["blocks"])


async def test_an_accept_clicked_twice_on_two_replicas_leaves_the_request_saying_it_was_accepted(pair):
    """A double click on Accept, each click reaching another replica: the click that lost changed the request the
    expert had accepted to say 'This intro request is closed: it was answered, it expired or it was withdrawn'."""
    fake = pair.fake
    intro = await _requested(pair)
    clicks = [pair.click("UPG", "intro.accept", intro, channel="DUPG", message_ts="1700009999.000100")
              for _ in range(2)]
    assert await asyncio.gather(*(pair.post(r, c, "application/x-www-form-urlencoded")
                                  for r, c in zip((pair.a, pair.b), clicks, strict=True))) == [200, 200]
    updates = await fake.wait_for("chat.update", 2, timeout=60)
    assert len([c for c in fake.of("conversations.open") if "," in c["users"]]) == 1
    assert len(pair.dm("UASK1")) == 1
    assert all("You accepted" in json.dumps(u["blocks"]) and "closed" not in json.dumps(u["blocks"])
               for u in updates), [json.dumps(u["blocks"])[-300:] for u in updates]


async def test_an_opt_out_on_one_replica_while_the_other_stores_their_message_leaves_nothing_of_it(
        pg_url, embedder, tmp_path, monkeypatch):  # noqa: F811
    """Replica B stores Petra's new message while she opts out on replica A: B had read her consent before A's
    opt-out committed, and committed the message after A deleted her messages. It stayed stored, embedded, and she
    was suggested from it (the two replicas' transactions, one after the other at the step that matters)."""
    from sqlalchemy import func, select

    import bot.services.ingest as ingest
    from bot import events as ev
    from bot.db.models import Member, Message

    first = build_app(Settings(database_url=pg_url), embedder=embedder)
    second = build_app(Settings(database_url=pg_url), embedder=embedder)
    try:
        await first.importer.import_slack(write_slack_export(tmp_path / "export", USERS, THREADS))
        optout = ev.CommandInvoked(community=TEAM, platform="slack", user="UPG", channel="C0GENERAL", name="optout",
                                   args="", event_id="optout-1")
        running: list[asyncio.Task] = []
        stored_then = ingest.mark_openers_gone  # called in the storing transaction, after the insert

        async def opted_out_meanwhile(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            if not running:
                running.append(asyncio.create_task(first.core.handle(optout)))
                # The opt-out runs to its end here, unless it waits for this store.
                await until(lambda: running[0].done() or waits_on_a_lock(first.db), what="the opt-out ended or waited")
            return await stored_then(*args, **kwargs)

        monkeypatch.setattr(ingest, "mark_openers_gone", opted_out_meanwhile)
        await second.core.handle(ev.MessagePosted(
            community=TEAM, platform="slack", user="UPG", channel="C0GENERAL", message_id="1800000000.000100",
            event_id="EvLATE", text="BRIN indexes suit append-only tables ordered by time, like event logs"))
        await running[0]
        async with first.db.sessions() as session:
            petra = await session.scalar(select(Member).where(Member.external_id == "UPG"))
            left = await session.scalar(select(func.count()).select_from(Message).where(Message.author_id == petra.id))
        assert petra.profiling_consent is False and left == 0
    finally:
        await first.close()
        await second.close()


async def test_an_opt_out_on_one_replica_while_the_other_stores_their_reaction_leaves_nothing_of_it(
        pg_url, embedder, tmp_path, monkeypatch):  # noqa: F811
    """The same for a reaction: replica B read Petra's consent, replica A's opt-out deleted her reactions and
    committed, then B stored her new one, which stayed (a curation signal of someone who opted out)."""
    from sqlalchemy import func, select

    import bot.core as core
    from bot import events as ev
    from bot.db.models import Reaction

    first = build_app(Settings(database_url=pg_url), embedder=embedder)
    second = build_app(Settings(database_url=pg_url), embedder=embedder)
    try:
        await first.importer.import_slack(write_slack_export(tmp_path / "export", USERS, THREADS))
        async with first.db.sessions() as session:
            ts = await session.scalar(select(core.Message.external_id).order_by(core.Message.id).limit(1))
        optout = ev.CommandInvoked(community=TEAM, platform="slack", user="UPG", channel="C0GENERAL", name="optout",
                                   args="", event_id="optout-1")
        running: list[asyncio.Task] = []
        found = core.get_message  # looked for in the reaction's transaction, after the consent was read

        async def opted_out_meanwhile(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            running.append(asyncio.create_task(first.core.handle(optout)))
            # The opt-out runs to its end here, unless it waits for this reaction.
            await until(lambda: running[0].done() or waits_on_a_lock(first.db), what="the opt-out ended or waited")
            return await found(*args, **kwargs)

        monkeypatch.setattr(core, "get_message", opted_out_meanwhile)
        await second.core.handle(ev.ReactionAdded(community=TEAM, platform="slack", user="UPG", channel="C0GENERAL",
                                                  message_id=ts, reaction="bookmark", event_id="EvREACT"))
        await running[0]
        async with first.db.sessions() as session:
            left = await session.scalar(select(func.count()).select_from(Reaction).where(
                Reaction.user_external_id == "UPG"))
        assert left == 0
    finally:
        await first.close()
        await second.close()


@dataclass
class SlowToPost(FakeSlack):
    """A Slack that takes a few seconds to answer chat.postMessage (it has posted the message already)."""

    posting: asyncio.Event = field(default_factory=asyncio.Event)

    async def _api(self, request):  # noqa: ANN001, ANN202
        response = await super()._api(request)
        if request.match_info["method"] == "chat.postMessage":
            self.posting.set()
            await asyncio.sleep(4)
        return response


async def test_a_replica_stopped_while_it_posts_a_digest_records_it_as_posted(pg_url, embedder):  # noqa: F811
    """A rolling deploy's SIGTERM reached a replica while Slack was taking the weekly digest: the stop did not wait
    for the scheduled job, which was cut off after Slack had posted it and before the period was recorded as posted.
    Left claimed, the period was posted again by the next replica once the claim timed out (15 minutes later)."""
    from sqlalchemy import select

    from bot.db.engine import Database
    from bot.db.resources import DigestRun
    from tests.test_digest import PEOPLE
    from tests.test_digest import TEAM as DIGEST_TEAM
    from tests.test_ops import _prepare_due_digest

    await _prepare_due_digest(pg_url, embedder)
    fake = await SlowToPost(team_id=DIGEST_TEAM, people={u: {"id": u, "name": n, "real_name": n, "tz": "UTC"}
                                                         for u, n in PEOPLE.items()},
                            channels={"C1": "general"}).start()
    replica = await Replica.start(pg_url, fake.url)
    try:
        await replica.ready()
        await asyncio.wait_for(fake.posting.wait(), 120)  # the digest is being posted
        code, err = await replica.stop()
        assert code == 0, err[-3000:]
    finally:
        await replica.stop()
        await fake.stop()
    db = Database(pg_url)
    try:
        async with db.sessions() as session:
            runs = list(await session.scalars(select(DigestRun)))
    finally:
        await db.dispose()
    assert len(fake.of("chat.postMessage")) == 1
    assert [(r.state, r.attempts) for r in runs] == [("posted", 1)]


async def test_an_event_acknowledged_by_a_replica_killed_before_handling_it_is_handled_once_by_the_next_ones(
        pg_url, embedder, tmp_path):  # noqa: F811
    """Slack sends no acknowledged event again: a question acknowledged by a replica SIGKILLed (an OOM kill, a lost
    node) while it looked up its asker was never answered, nor a message stored. Kept in the inbox before the ack, it
    is handled by the replicas that start next (both sweep at start, on one PostgreSQL), once."""
    from sqlalchemy import func, select

    from bot.db.engine import Database
    from bot.db.models import InboxEvent
    from bot.inbox import GRACE

    people = await _imported(pg_url, embedder, tmp_path)
    # users.info is answered after 10 s (429, Retry-After): the replica holds the acknowledged question meanwhile.
    fake = await FakeSlack(team_id=TEAM, people=people, channels={"C0GENERAL": "general"},
                           rate_limited={"users.info": 1}, retry_after=10).start()
    db = Database(pg_url)
    logs = [open(tmp_path / f"replica{n}.log", "w") for n in range(3)]  # noqa: SIM115
    replicas: list[Replica] = []
    try:
        killed = await Replica.start(pg_url, fake.url, log=logs[0])
        replicas.append(killed)
        await killed.ready()
        question = {**load("event_message_im.json"), "event_id": "EvKILLED1"}
        assert await killed.event(question) == 200
        await fake.wait_for("429:users.info")
        killed.proc.kill()  # SIGKILL: no graceful stop
        await killed.proc.wait()
        assert _answers(fake) == []
        async with db.sessions.begin() as session:  # a while later
            [row] = await session.scalars(select(InboxEvent))
            row.received_at -= GRACE * 2
        fake.rate_limited.clear()
        for log in logs[1:]:
            replicas.append(await Replica.start(pg_url, fake.url, log=log))
        for replica in replicas[1:]:
            await replica.ready()

        async def handled() -> bool:
            async with db.sessions() as session:
                return await session.scalar(select(func.count()).select_from(InboxEvent)) == 0

        await wait_until(handled, timeout=120)
        await asyncio.sleep(2)  # an answer sent twice would be here by now
        [answer] = _answers(fake)
        assert "<@UPG>" in json.dumps(answer)
    finally:
        for replica in replicas:
            await replica.stop()
        for log in logs:
            log.close()
        await db.dispose()
        await fake.stop()


def _answers(fake: FakeSlack) -> list[dict[str, Any]]:
    return [m for m in fake.of("chat.postMessage") if m["channel"] == "D0ASK1"]
