"""The pgvector HNSW index around bulk loads: large loads go in without it and it is built once afterwards.

Inserting into a live HNSW index costs a graph search per vector (a few hundred vectors a second on two
cores); building the graph once over the loaded table is far faster, as pgvector's documentation advises
("it's faster to create an index after loading your initial data"). While the index is missing, vector
queries stay correct: PostgreSQL falls back to an exact scan of the community's vectors.

Both the drop and the build are CONCURRENTLY, so replicas serving live traffic are never blocked. A
shared advisory lock marks a bulk load in progress: the last load to finish builds the index, and
`ensure_vector_index` (run with every schema upgrade) rebuilds an index that a killed load left missing
or invalid, unless a load is still running.
"""
from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.db.engine import Database
from bot.db.types import EMBEDDING_DIM

log = logging.getLogger(__name__)

HNSW_INDEX = "ix_message_vector_embedding_hnsw"  # as created by migration 0001 and declared on MessageVector
CREATE_HNSW = (f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {HNSW_INDEX} ON message_vector "
               "USING hnsw (embedding vector_cosine_ops)")
BULK_LOAD_LOCK = 7320152  # advisory lock key: shared while a bulk load runs, exclusive while rebuilding

# Rebuild only for loads of at least this many vectors, and only when the load is a sizeable share of
# what is already indexed (rebuilding a large index for a small addition would cost more than it saves).
MIN_BULK_VECTORS = 20_000
MAX_EXISTING_PER_NEW = 4

# In-memory HNSW graph per vector: the vector itself plus neighbour lists and bookkeeping (m = 16). Measured
# with pgvector 0.8 on PostgreSQL 18: about 2,330 bytes for 384 dimensions (the "no longer fits" notice
# came after 45,402 vectors in 100 MB); this and the 10% on top leave some room.
GRAPH_BYTES_PER_VECTOR = EMBEDDING_DIM * 4 + 1024


def build_memory_mb(rows: int, cap_mb: int) -> int:
    """maintenance_work_mem for building the graph of `rows` vectors: enough to keep it in memory (the fast
    path), never more than `cap_mb`, never below PostgreSQL's default of 64 MB."""
    need = rows * GRAPH_BYTES_PER_VECTOR * 1.1 / 2**20
    return int(max(64, min(cap_mb, need)))


async def _autocommit(db: Database) -> AsyncConnection:
    """A connection outside any transaction (CREATE INDEX CONCURRENTLY takes none), with no statement timeout: the
    build, the locks it waits for and ANALYZE run as long as they take (minutes at a million vectors). _release
    gives it back to the pool with the pool's timeout again."""
    conn = await db.engine.connect()
    await conn.execution_options(isolation_level="AUTOCOMMIT")
    await conn.execute(text("SET statement_timeout = 0"))  # ours (`run`'s) or one the role sets
    return conn


async def _release(conn: AsyncConnection) -> None:
    try:
        await conn.execute(text("RESET statement_timeout"))  # the connection's own setting (the pool's) again
    except Exception:  # noqa: BLE001 - a connection that broke is not reused: the pool replaces it
        await conn.invalidate()
    await conn.close()


async def _index_state(conn: AsyncConnection) -> str:
    """'valid', 'invalid' (a failed concurrent build) or 'missing'."""
    valid = await conn.scalar(text(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = :name AND pg_table_is_visible(c.oid)"), {"name": HNSW_INDEX})
    return "missing" if valid is None else "valid" if valid else "invalid"


async def vector_index_state(db: Database) -> str:
    """'valid', 'invalid' or 'missing' (PostgreSQL), 'none' elsewhere (no HNSW index to have)."""
    if db.dialect != "postgresql":
        return "none"
    async with db.engine.connect() as conn:
        return await _index_state(conn)


async def _build(conn: AsyncConnection, memory_cap_mb: int) -> float:
    """Build the index (dropping an invalid leftover first); the caller holds the exclusive lock."""
    state = await _index_state(conn)
    if state == "valid":
        return 0.0
    if state == "invalid":
        await conn.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {HNSW_INDEX}"))
    rows = int(await conn.scalar(text("SELECT count(*) FROM message_vector")) or 0)
    memory = build_memory_mb(rows, memory_cap_mb)
    started = time.perf_counter()
    await conn.execute(text(f"SET maintenance_work_mem = '{memory}MB'"))
    try:
        await conn.execute(text(CREATE_HNSW))
    finally:
        await conn.execute(text("RESET maintenance_work_mem"))
    took = time.perf_counter() - started
    log.info("built the vector index over %d vectors in %.1f s (maintenance_work_mem %d MB)", rows, took, memory)
    return took


async def ensure_vector_index(db: Database, *, memory_cap_mb: int = 2048) -> None:
    """Rebuild the HNSW index if it is missing or invalid and no bulk load is running (PostgreSQL only)."""
    if db.dialect != "postgresql":
        return
    conn = await _autocommit(db)
    try:
        if await _index_state(conn) == "valid":
            return
        if not await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": BULK_LOAD_LOCK}):
            return  # a bulk load is running and will build it when it ends
        try:
            log.warning("the vector index is missing (an interrupted bulk load?); rebuilding it")
            await _build(conn, memory_cap_mb)
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": BULK_LOAD_LOCK})
    finally:
        await _release(conn)


async def worth_rebuilding(db: Database, expected_vectors: int) -> bool:
    if db.dialect != "postgresql" or expected_vectors < MIN_BULK_VECTORS:
        return False
    async with db.engine.connect() as conn:
        existing = await conn.scalar(text(
            "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE relname = 'message_vector' "
            "AND pg_table_is_visible(oid)"))
    return int(existing or 0) <= expected_vectors * MAX_EXISTING_PER_NEW


@asynccontextmanager
async def bulk_vector_load(db: Database, expected_vectors: int, *,
                           memory_cap_mb: int = 2048) -> AsyncIterator[bool]:
    """Around a load of about `expected_vectors` vectors: on PostgreSQL, when that is large, drop the HNSW
    index for the load and build it afterwards. Yields whether the index was dropped."""
    if not await worth_rebuilding(db, expected_vectors):
        yield False
        return
    conn = await _autocommit(db)
    try:
        await conn.execute(text("SELECT pg_advisory_lock_shared(:k)"), {"k": BULK_LOAD_LOCK})
        try:
            await conn.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {HNSW_INDEX}"))
            log.info("bulk load of about %d vectors: vector index dropped until the load ends", expected_vectors)
            yield True
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock_shared(:k)"), {"k": BULK_LOAD_LOCK})
            # The last load to finish builds it; a load still running will build it when it ends.
            # Fresh planner statistics for the loaded tables, so the new index and rows are costed right.
            await conn.execute(text("ANALYZE message, message_vector"))
            if await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": BULK_LOAD_LOCK}):
                try:
                    await _build(conn, memory_cap_mb)
                finally:
                    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": BULK_LOAD_LOCK})
    finally:
        await _release(conn)
