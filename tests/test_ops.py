"""Operations: /healthz and /metrics, a graceful stop on SIGTERM, and two real `connective run` replicas
on one PostgreSQL doing no work twice."""
from __future__ import annotations

import copy
import itertools
import json
from datetime import UTC, datetime, timedelta

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from adapters.console.adapter import ConsoleAdapter
from adapters.ops.server import start_ops_server
from bot.db.engine import Database
from bot.db.models import Message, MessageVector, ProcessedEvent
from bot.db.resources import DigestRun
from bot.health import Health
from bot.services.digest_periods import latest_tick, trigger_for
from tests.replicas import Replica, wait_until
from tests.slack_fake import FakeSlack
from tests.test_digest import (
    PEOPLE,
    TEAM,
    another_app,
    pg_url,  # noqa: F401  (fixture: a fresh PostgreSQL database)
    share_with_interest,
    subscribe,
)
from tests.test_slack_translate import load

_ids = itertools.count(1)


async def _get(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}{path}") as r:
        return r.status, await r.text()


def _sample(text: str, name: str, **labels: str) -> float:
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


async def test_healthz_and_metrics(app):
    runner, port = await start_ops_server(app.health, port=0, host="127.0.0.1")
    try:
        status, body = await _get(port, "/healthz")
        assert status == 503 and json.loads(body)["database"] is True
        assert json.loads(body)["platform_connected"] is False
        app.health.connected("console")
        status, body = await _get(port, "/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"

        _, before = await _get(port, "/metrics")
        console = ConsoleAdapter(app.core.handle, community="metrics-test")
        await console.say("U1", "who knows secret-project-zebra rollouts?")
        _, after = await _get(port, "/metrics")
        for name, labels in (("connective_asks_served_total", {"platform": "console"}),
                             ("connective_ask_seconds_count", {"platform": "console"}),
                             ("connective_events_ingested_total", {"platform": "console", "kind": "MessagePosted"})):
            assert _sample(after, name, **labels) == _sample(before, name, **labels) + 1, name
        assert "zebra" not in after and "U1" not in after  # no message text or user ids in labels
        # "plus the Python process's own" (deploy/README.md): a memory alert needs them
        assert _sample(after, "process_resident_memory_bytes") > 0 and _sample(after, "process_start_time_seconds") > 0
        assert "python_info" in after and "python_gc_objects_collected_total" in after

        app.health.stopping = True  # after SIGTERM: not ready any more
        assert (await _get(port, "/healthz"))[0] == 503
    finally:
        await runner.cleanup()


async def test_healthz_reports_an_unreachable_database():
    db = Database("postgresql://nobody:secret@127.0.0.1:1/none")
    health = Health(db, timeout=5)
    health.connected("slack")
    runner, port = await start_ops_server(health, port=0, host="127.0.0.1")
    try:
        status, body = await _get(port, "/healthz")
        assert status == 503 and json.loads(body)["database"] is False and "secret" not in body
        # Not ready, but alive: a liveness probe on /livez leaves the replica running, to be ready again as soon as
        # the database answers (restarted, it would exit at start while the database is down, and back off).
        status, body = await _get(port, "/livez")
        assert status == 200 and json.loads(body)["status"] == "alive"
    finally:
        await runner.cleanup()
        await db.dispose()


async def test_the_log_says_when_the_database_answers_again(app, caplog):
    """An outage logged 'health: database unreachable' once, and nothing when it was over: an operator reading the
    log could not tell whether it still lasted."""
    import logging

    caplog.set_level(logging.INFO, logger="bot.health")
    unreachable = Database("postgresql://nobody:secret@127.0.0.1:1/none")
    health = Health(unreachable, timeout=5)
    try:
        assert not await health.database_ok() and not await health.database_ok()
        health.db = app.db  # it is back
        assert await health.database_ok() and await health.database_ok()
    finally:
        await unreachable.dispose()
    said = [r.getMessage() for r in caplog.records if r.name == "bot.health"]
    assert len(said) == 2 and said[0].startswith("health: database unreachable (") and "secret" not in said[0]
    assert said[1].startswith("health: database answers again (unreachable for "), said


async def test_a_database_outage_is_one_line_per_scheduled_job_not_a_traceback(embedder, caplog):
    """While the database was down, every scheduled job (intro timeouts, digests, the inbox's sweep each minute…)
    logged 'scheduled job … failed' with a traceback of the same refused connection at each tick. Now one line that
    says so; a job's own error keeps its traceback."""
    import logging

    from bot.app import build_app
    from bot.settings import Settings

    caplog.set_level(logging.INFO)
    app = build_app(Settings(database_url="postgresql://nobody:secret@127.0.0.1:1/none"), embedder=embedder)

    async def broken() -> None:
        raise ValueError("a bug of ours")

    try:
        await app.scheduler._guard("intros:timeouts", app.intros.sweep)()
        await app.scheduler._guard("digests:catch-up", app.digests.catch_up)()
        await app.scheduler._guard("broken", broken)()
    finally:
        await app.close()
    said = [r for r in caplog.records if r.name == "bot.scheduler"]
    assert [(r.levelno, r.getMessage(), r.exc_info is None) for r in said[:2]] == [
        (logging.WARNING, f"scheduled job {name} skipped: the database is unreachable (ConnectionRefusedError)", True)
        for name in ("intros:timeouts", "digests:catch-up")]
    assert said[2].getMessage() == "scheduled job broken failed" and said[2].exc_info is not None
    assert len(said) == 3 and "secret" not in caplog.text


async def test_a_member_who_asks_during_a_database_outage_is_told_so(embedder, caplog):
    """A command, a click or a question to the bot while the database was down got no answer at all (Slack: the
    command acknowledged, then nothing), though the deploy docs said the member sees an error. They are told now;
    other events fail as before (Slack's stay in the inbox, to be replayed)."""
    import logging

    import pytest

    from bot import events as ev
    from bot.app import build_app
    from bot.settings import Settings

    caplog.set_level(logging.INFO)
    app = build_app(Settings(database_url="postgresql://nobody:secret@127.0.0.1:1/none"), embedder=embedder)
    told = "I can't reach my database right now, so I couldn't do that. Please try again in a few minutes."
    try:
        common = {"community": "TOUT", "platform": "slack", "user": "U1", "channel": "C1"}
        for event in (ev.CommandInvoked(**common, event_id="E1", name="whoknows", args="postgres"),
                      ev.ActionClicked(**common, event_id="E2", action="intro.accept", value="3"),
                      ev.MessagePosted(**common, event_id="E3", message_id="1.1", text="who knows bloat?",
                                       mentions_bot=True)):
            [reply] = await app.core.handle(event)
            assert reply.doc.text == told and reply.ephemeral and reply.user == "U1"
        with pytest.raises(OSError):  # not a question: it fails as before
            await app.core.handle(ev.MessagePosted(**common, event_id="E4", message_id="1.2", text="bloat again"))
    finally:
        await app.close()
    said = [r for r in caplog.records if r.name == "bot.core"]
    assert [r.getMessage() for r in said] == [
        f"slack {kind} not handled: the database is unreachable (ConnectionRefusedError)"
        for kind in ("CommandInvoked", "ActionClicked", "MessagePosted")]
    assert all(r.exc_info is None for r in said)


def _event(fixture: str, event_id: str, **fields: str) -> dict:
    payload = copy.deepcopy(load(fixture))
    payload.update(event_id=event_id, team_id=TEAM, context_team_id=TEAM)
    payload["authorizations"][0]["team_id"] = TEAM
    payload["event"].update(team=TEAM, **fields)
    return payload


async def _prepare_due_digest(pg_url: str, embedder) -> None:  # noqa: ANN001, F811
    """A digest subscribed two weeks ago with a valued resource in the period that ended last."""
    from tests.fake_platform import Clock, FakePlatform

    now = datetime.now(UTC)
    tick = latest_tick(trigger_for("0 9 * * mon", "Europe/Berlin"), now)
    platform = await FakePlatform().start()
    app = await another_app(pg_url, embedder, Clock(tick - timedelta(days=14)), platform)
    try:
        await subscribe(app, tick - timedelta(days=14))
        await share_with_interest(app, "<https://example.com/brin|BRIN indexes explained>", tick - timedelta(days=2))
    finally:
        await app.close()
        await platform.stop()


async def test_two_replicas_do_no_work_twice_and_stop_cleanly(pg_url, embedder):  # noqa: F811
    await _prepare_due_digest(pg_url, embedder)
    fake = await FakeSlack(team_id=TEAM, people={u: {"id": u, "name": n, "real_name": n, "tz": "UTC"}
                                                 for u, n in PEOPLE.items()},
                           channels={"C1": "general", "C2": "help"}).start()
    replicas = [await Replica.start(pg_url, fake.url) for _ in range(2)]
    try:
        for r in replicas:
            assert (await r.ready())["platform"] == "slack"

        # A digest period due at start: both replicas catch up, one posts.
        async def both_ran() -> bool:
            return sum([await r.metric("connective_digests_total") for r in replicas]) >= 2
        await wait_until(both_ran, 120)
        digest_posts = [m for m in fake.of("chat.postMessage") if m.get("channel") == "C1"]
        assert len(digest_posts) == 1
        assert sorted([await r.metric("connective_digests_total", outcome="posted") for r in replicas]) == [0, 1]

        # The same Slack event delivered to both replicas (a retry landing elsewhere) is handled once.
        mention = _event("event_app_mention.json", "EvREPLICA1", channel="C2", user="UASK",
                         text="<@UBOT> who knows BRIN indexes?", ts="1700000900.000100")
        assert [await r.event(mention) for r in replicas] == [200, 200]

        async def both_saw_it() -> bool:
            seen = [await r.metric("connective_events_ingested_total") + await r.metric(
                "connective_events_duplicate_total") for r in replicas]
            return seen == [1, 1]
        await wait_until(both_saw_it, 60)

        async def answered() -> bool:
            return sum([await r.metric("connective_asks_served_total") for r in replicas]) == 1
        await wait_until(answered, 60)
        await fake.wait_for("chat.postEphemeral", 1)
        replies = [c for c in fake.calls if c.method in ("chat.postMessage", "chat.postEphemeral")
                   and c.body.get("channel") == "C2"]
        assert len(replies) == 1

        # Messages acknowledged just before SIGTERM are all stored, each with its vector: the stop
        # finishes the events in hand and leaves nothing half-written.
        first = replicas[0]
        texts = [f"To speed up range scans on append-only tables use a BRIN index, tip number {n}"
                 for n in range(8)]
        for n, text in enumerate(texts):
            payload = _event("event_message.json", f"EvSTOP{n}", channel="C1", user="UPG", text=text,
                             ts=f"1700001{n:03d}.000100")
            payload["event"].pop("blocks", None)
            assert await first.event(payload) == 200
        codes = [await r.stop() for r in replicas]
        assert [code for code, _ in codes] == [0, 0], [err[-3000:] for _, err in codes]
        assert all("Traceback" not in err and TOKEN_PART not in err for _, err in codes)
    finally:
        for r in replicas:
            await r.stop()
        await fake.stop()

    db = Database(pg_url)
    try:
        async with db.sessions() as session:
            claimed = await session.scalar(select(func.count()).select_from(ProcessedEvent).where(
                ProcessedEvent.event_id.like("EvSTOP%")))
            stored = list(await session.scalars(select(Message.id).where(Message.external_id.like("1700001%"))))
            vectors = await session.scalar(select(func.count()).select_from(MessageVector).where(
                MessageVector.message_id.in_(stored)))
            runs = list(await session.scalars(select(DigestRun)))
        assert claimed == len(stored) == vectors == len(texts)
        assert [(r.state, r.attempts) for r in runs] == [("posted", 1)]
    finally:
        await db.dispose()


TOKEN_PART = "replica-token"


async def test_a_burst_of_acknowledged_messages_is_stored_whole_with_a_small_pool(db_url, embedder):
    """Adapters acknowledge before handling, so a burst arrives as many handlers at once: they take turns
    instead of timing out on the connection pool (which would lose messages already acknowledged)."""
    import asyncio

    from bot import events as ev
    from bot.app import build_app
    from bot.db.migrate import ensure_schema
    from bot.settings import Settings

    app = build_app(Settings(database_url=db_url), embedder=embedder,
                    db=Database(db_url, pool_size=2, max_overflow=0, pool_timeout=0.3))
    try:
        await ensure_schema(app.db)
        burst = [ev.MessagePosted(community="TBURST", platform="slack", user=f"U{n % 7}", channel="C1",
                                  message_id=f"17000{n:05d}.0001", event_id=f"EvBURST{n}",
                                  text=f"Partial indexes keep hot rows small, note {n}") for n in range(60)]
        outcomes = await asyncio.gather(*(app.core.handle(e) for e in burst), return_exceptions=True)
        assert [o for o in outcomes if isinstance(o, BaseException)] == []
        async with app.db.sessions() as session:
            stored = await session.scalar(select(func.count()).select_from(Message))
        assert stored == len(burst)
    finally:
        await app.close()


async def test_the_log_at_info_is_not_flooded_by_the_scheduler(capsys):
    """At the default INFO level, `connective run --platform slack` logged two lines every 30 s (the Socket Mode check),
    'Running job "Scheduler._guard.<locals>.run (trigger: interval[0:00:30] …' and '… executed successfully', plus
    one per other job: 5,760 lines a day that name no job (Slack walk-through, bot.log). APScheduler speaks at
    WARNING and above, as the other libraries' loggers do; the jobs' own failures are logged by the Scheduler."""
    import asyncio
    import logging

    from bot.logs import setup_logging
    from bot.scheduler import Scheduler

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    ran = asyncio.Event()

    async def job() -> None:
        ran.set()

    try:
        setup_logging("INFO")
        scheduler = Scheduler()
        scheduler.every("slack-socket", 30, job, start_now=True)
        scheduler.start()
        await asyncio.wait_for(ran.wait(), 10)
        await asyncio.sleep(0.1)
        scheduler._scheduler.shutdown(wait=False)
        logging.getLogger("bot.test").info("a line of ours")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    err = capsys.readouterr().err
    assert "a line of ours" in err and "apscheduler" not in err, err


async def _true(value: bool) -> bool:
    return value


class _SlowSlack(FakeSlack):
    """users.info answers after 8 s (past the grace period below): a message from a newcomer stays in hand."""

    asked: list[str] = []

    async def _api(self, request):  # noqa: ANN001, ANN202
        if request.match_info["method"] == "users.info":
            import asyncio

            self.asked.append("users.info")
            await asyncio.sleep(8)
        return await super()._api(request)


async def test_a_stop_with_an_event_still_in_hand_exits_0_within_the_grace_period(tmp_path, monkeypatch):
    """The Slack runner waited a whole grace period of its own for the requests in hand, after the scheduler's, and
    then let the TimeoutError out: `connective run` said "error: cannot reach Slack …: TimeoutError" and exited 2
    after twice CONNECTIVE_SHUTDOWN_GRACE_SECONDS, past what terminationGracePeriodSeconds allows for (ops walk-through,
    a real process against a slow fake Slack)."""
    grace = 3
    monkeypatch.setenv("CONNECTIVE_SHUTDOWN_GRACE_SECONDS", str(grace))
    fake = await _SlowSlack(team_id=TEAM, channels={"C1": "general"}).start()
    replica = await Replica.start(f"sqlite:///{tmp_path / 'stop.db'}", fake.url)
    try:
        await replica.ready()
        payload = _event("event_message.json", "EvSLOWSTOP", channel="C1", user="UNEWCOMER",
                         text="BRIN indexes suit append-only tables", ts="1700002000.000100")
        payload["event"].pop("blocks", None)
        assert await replica.event(payload) == 200
        await wait_until(lambda: _true(bool(fake.asked)), 30)
        code, err = await replica.stop()
    finally:
        await replica.stop()
        await fake.stop()
    assert code == 0, err[-2000:]
    assert "still being handled" in err and "cannot reach" not in err
    logged = {line["message"]: datetime.fromisoformat(line["time"])
              for line in map(json.loads, err.splitlines()) if line["logger"] == "bot.serve"}
    signalled = next(at for message, at in logged.items() if message.startswith("stop signal"))
    assert (logged["stopped"] - signalled).total_seconds() < grace + 1


def test_with_json_logs_the_line_a_command_stops_with_is_json_too(tmp_path):
    """deploy/README.md: with CONNECTIVE_LOG_JSON=true "each line on stderr is one JSON object", but the line saying
    why `run` (or an init container's `db upgrade`) stopped was plain "error: …" among them: a log pipeline that parses
    the lines lost exactly that one (ops walk)."""
    import os
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_", "CONNECTIVE_"))}
    for args, said in ((["db", "upgrade"], "database (--db / CONNECTIVE_DATABASE_URL) not reachable: "),
                       (["run", "--platform", "discord"], "DISCORD_TOKEN (CONNECTIVE_DISCORD_TOKEN) is not set")):
        out = subprocess.run([sys.executable, "-m", "bot.cli", "--db", "postgresql://u:s3cretpw@127.0.0.1:1/none",
                              *args], capture_output=True, text=True, timeout=300,
                             env={**clean, "CONNECTIVE_LOG_JSON": "true"})
        assert out.returncode in (1, 2) and out.stderr, out
        lines = [json.loads(line) for line in out.stderr.splitlines()]  # each one JSON object
        assert lines[-1]["level"] == "ERROR" and lines[-1]["message"].startswith(said), lines
        assert "s3cretpw" not in out.stderr
    plain = subprocess.run([sys.executable, "-m", "bot.cli", "--db", "postgresql://u:s3cretpw@127.0.0.1:1/none", "db",
                            "upgrade"], capture_output=True, text=True, timeout=300, env=clean)
    assert plain.stderr.startswith("error: database (--db / CONNECTIVE_DATABASE_URL) not reachable: "), plain.stderr


def test_json_log_lines_carry_an_iso_8601_time_in_utc():
    """The time was local, without a zone, with a comma before the milliseconds: "2026-12-07 08:58:00,378"."""
    import logging
    import time

    from bot.logs import JsonFormatter

    record = logging.LogRecord("connective", logging.WARNING, __file__, 1, "stored %d", (3,), None)
    record.created = time.time()
    line = json.loads(JsonFormatter().format(record))
    at = datetime.fromisoformat(line["time"])
    assert at.utcoffset() == timedelta(0) and abs(at.timestamp() - record.created) < 0.001
    assert line["message"] == "stored 3" and line["level"] == "WARNING"


async def test_a_socket_mode_stop_finishes_the_events_acknowledged_on_the_socket(tmp_path):
    """Socket Mode closed the socket and stopped at once: a message acknowledged on the socket and still waiting on its
    author's name (users.info) at SIGTERM was never stored, and Slack does not send an acknowledged event again."""
    import asyncio
    import os
    import sqlite3
    import sys

    from tests.replicas import free_port

    class SlowNames(FakeSlack):
        async def _api(self, request):  # noqa: ANN001, ANN202
            if request.match_info["method"] == "users.info":
                await asyncio.sleep(2)
            return await super()._api(request)

    database = tmp_path / "socket.db"
    newcomer = {"id": "UNEW", "name": "new", "real_name": "New", "tz": "UTC"}
    fake = await SlowNames(team_id=TEAM, people={"UNEW": newcomer}, channels={"C1": "general"}).start()
    metrics_port = free_port()
    env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-socket", "SLACK_APP_TOKEN": "xapp-socket",
           "CONNECTIVE_SLACK_API_URL": f"{fake.url}/api/", "CONNECTIVE_METRICS_PORT": str(metrics_port),
           "CONNECTIVE_METRICS_HOST": "127.0.0.1", "CONNECTIVE_LOG_JSON": "true",
           "CONNECTIVE_SHUTDOWN_GRACE_SECONDS": "15", "HF_HUB_OFFLINE": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "--db", f"sqlite:///{database}", "run", "--platform", "slack", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        replica = Replica(proc, 0, metrics_port)
        await replica.ready()
        await wait_until(lambda: _true(bool(fake.sockets)), 30)
        payload = _event("event_message.json", "EvSOCKETSTOP", channel="C1", user="UNEW",
                         text="BRIN indexes suit append-only tables", ts="1700003000.000100")
        payload["event"].pop("blocks", None)
        await fake.envelopes.put({"envelope_id": "env-stop", "type": "events_api", "accepts_response_payload": False,
                                  "payload": payload})
        await wait_until(lambda: _true(bool(fake.socket_acks)), 30)
        code, err = await replica.stop()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.communicate()
        await fake.stop()
    assert code == 0, err[-2000:]
    with sqlite3.connect(database) as stored:
        assert stored.execute("SELECT count(*) FROM message").fetchone() == (1,)


async def test_a_failed_statement_never_puts_its_parameters_in_the_log(db_url):
    """SQLAlchemy's errors name the statement's parameters, and a failed event's traceback is logged: a database
    outage while a message was stored wrote the member's message into the logs."""
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    db = Database(db_url)
    try:
        with pytest.raises(DBAPIError) as failed:
            async with db.engine.connect() as conn:
                await conn.execute(text("INSERT INTO no_such_table VALUES (:said)"), {"said": "my private words"})
    finally:
        await db.dispose()
    assert "no_such_table" in str(failed.value) and "my private words" not in str(failed.value)


async def test_livez_fails_only_when_the_platform_connection_is_stuck(app, monkeypatch):
    """Liveness: not the database (an outage would restart every replica), but a platform connection that has been
    down for minutes (Socket Mode or the gateway stuck reconnecting), which a restart mends."""
    import types

    import bot.health

    # Health's clock, moved by the test: with 0.3 s of real time as "minutes", a busy machine took longer than that
    # between the disconnection and the request that had to find the connection still reconnecting.
    now = [1000.0]
    monkeypatch.setattr(bot.health, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    app.health.stuck_seconds = 300
    runner, port = await start_ops_server(app.health, port=0, host="127.0.0.1")
    try:
        app.health.connected("slack")
        now[0] += 400
        assert (await _get(port, "/livez"))[0] == 200
        app.health.connected("slack", False)
        assert (await _get(port, "/livez"))[0] == 200  # reconnecting
        now[0] += 299
        assert (await _get(port, "/livez"))[0] == 200
        now[0] += 2
        status, body = await _get(port, "/livez")
        assert status == 503 and json.loads(body)["status"] == "platform connection stuck"
        app.health.connected("slack")
        assert (await _get(port, "/livez"))[0] == 200
    finally:
        await runner.cleanup()


async def test_a_question_after_a_database_restart_is_answered(pg_url, pg_server, embedder, tmp_path):  # noqa: F811
    """After a PostgreSQL restart or a failover, the pool's connections are dead: the first request on each failed
    ('connection was closed in the middle of operation') until the pool had thrown them all away."""
    from adapters.console import ConsoleAdapter
    from bot.app import build_app
    from bot.db.migrate import ensure_schema
    from bot.settings import Settings
    from tests.exports import TEAM, THREADS, USERS, write_slack_export

    app = build_app(Settings(database_url=pg_url), embedder=embedder)
    try:
        await ensure_schema(app.db)
        await app.importer.import_slack(write_slack_export(tmp_path / "export", USERS, THREADS))
        console = ConsoleAdapter(app.core.handle, community=TEAM, platform="slack")
        [answer] = await console.say("UASK1", "who knows why postgres ignores my index?")
        assert "Petra" in answer
        database = make_url(pg_url).database
        killed = pg_server.psql(f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                f"WHERE datname = '{database}';")
        assert " 0\n" not in killed, killed  # the pool's connections were dropped
        [answer] = await console.say("UASK1", "who knows why postgres ignores my index?")
        assert "Petra" in answer, answer
    finally:
        await app.close()
