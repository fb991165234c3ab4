"""`connective db upgrade` and friends: Alembic driven from code, no alembic.ini needed."""
from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncConnection

import migrations
from bot.db.engine import SQLITE_BUSY_MS, Database, unlimited
from bot.errors import UserError

SCRIPT_LOCATION = Path(migrations.__file__).parent
SQLITE_MIGRATION_WAIT_MS = 600_000  # a command started during another's migration waits for it (a big table's rebuild)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _run(connection: object, url: str, fn_name: str, *args: object) -> None:
    cfg = alembic_config(url)
    cfg.attributes["connection"] = connection
    getattr(command, fn_name)(cfg, *args)


def _current(connection: object) -> str | None:
    from alembic.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def newer_schema(revision: str | None) -> str | None:
    """Why a schema this release cannot run on, or None: one a newer release upgraded (its revision unknown here).
    Alembic failed on it with a traceback ("Can't locate revision identified by '0034'"), at `run`'s start too: the
    previous release run against the upgraded database without restoring the backup (deploy/README.md, Upgrading),
    or an old replica restarted during a rolling update."""
    if revision is None:
        return None
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(SCRIPT_LOCATION))
    known = {rev.revision for rev in script.walk_revisions()}
    if revision in known:
        return None
    return (f"the database's schema is at revision {revision}, which this release does not know (its newest is "
            f"{script.get_current_head()}): a newer release of connective upgraded it. Run that release, or restore "
            "the backup taken before the upgrade (deploy/README.md, Upgrading)")


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        return await conn.run_sync(_current)


async def run_alembic(db: Database, fn_name: str, *args: object) -> str | None:
    """Run an Alembic command; returns the revision the schema had just before it (None: no schema yet)."""
    async with db.engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # Batch mode rebuilds a table by dropping the old one; with foreign keys on, that drop deletes every
            # row referring to it (ON DELETE CASCADE). Off for the migration (outside its transaction, where
            # SQLite ignores the pragma), and on again before the connection goes back to the pool.
            await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await conn.commit()
        try:
            async with conn.begin():
                if sqlite:
                    # One migration at a time, all or nothing: the driver sends no BEGIN before DDL, so each statement
                    # was committed as it ran. Two commands started together on a database a release behind both
                    # upgraded it: one failed ("duplicate column name") and left a half-made _alembic_tmp_ table that
                    # would fail the next migration. Under BEGIN IMMEDIATE the second waits, then finds it done.
                    await conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_MIGRATION_WAIT_MS}")
                    await conn.exec_driver_sql("BEGIN IMMEDIATE")
                await _prepare(conn)
                before = await conn.run_sync(_current)
                if problem := newer_schema(before):
                    raise UserError(problem)
                await conn.run_sync(_run, db.url, fn_name, *args)
        finally:
            if sqlite:
                await conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
                await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                await conn.commit()
    return before


async def _prepare(conn: AsyncConnection) -> None:
    if conn.dialect.name == "postgresql":
        from sqlalchemy import text
        from sqlalchemy.exc import DBAPIError

        # A migration rewrites whole tables and waits for the locks of a running bot: not cut off at the pool's
        # statement timeout (CONNECTIVE_DATABASE_STATEMENT_TIMEOUT_SECONDS), for this transaction only.
        await unlimited(conn)

        try:
            async with conn.begin_nested():
                await conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
        except DBAPIError as exc:
            raise UserError("PostgreSQL needs the pgvector extension (CREATE EXTENSION vector failed: "
                            f"{str(exc.orig).splitlines()[0]})") from None


async def upgrade(db: Database, revision: str = "heads") -> str | None:
    """Upgrade to `revision`; returns the revision the schema had before (None: created)."""
    return await run_alembic(db, "upgrade", revision)


def upgrade_sync(url: str) -> None:
    db = Database(url)

    async def go() -> None:
        try:
            await upgrade(db)
        finally:
            await db.dispose()

    asyncio.run(go())


async def ensure_schema(db: Database, *, index_memory_mb: int = 2048) -> str | None:
    """Upgrade to head; on PostgreSQL under an advisory lock so replicas starting together take turns, then
    rebuild the vector index if an interrupted bulk load left it missing, with at most `index_memory_mb` of
    maintenance_work_mem (CONNECTIVE_INDEX_BUILD_MEMORY_MB). Returns the revision found before."""
    if db.dialect == "postgresql":
        from sqlalchemy import text

        from bot.db.vector_index import ensure_vector_index

        async with db.engine.connect() as conn:
            await unlimited(conn)  # another replica's migration may take minutes: waited for, not cut off
            await conn.execute(text("SELECT pg_advisory_lock(7320151)"))
            try:
                await conn.commit()
                before = await upgrade(db)
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(7320151)"))
                await conn.commit()
        await ensure_vector_index(db, memory_cap_mb=index_memory_mb)
        return before
    return await upgrade(db)
