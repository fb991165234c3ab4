"""Large loads on PostgreSQL go in without the HNSW index, which is built afterwards; searches stay exact
meanwhile, the schema is whole again after the load, and a load that died leaves nothing broken."""
from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select, text

from bot.db import vector_index
from bot.db.migrate import ensure_schema, run_alembic
from bot.db.models import MessageVector
from bot.db.vector_index import BULK_LOAD_LOCK, HNSW_INDEX, bulk_vector_load, vector_index_state
from tests.conftest import SAMPLE

pg_only = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


async def _exact_top(app, cid: int, query: np.ndarray, k: int) -> list[int]:
    async with app.db.sessions() as s:
        rows = (await s.execute(select(MessageVector.message_id, MessageVector.embedding)
                                .where(MessageVector.community_id == cid))).all()
    sims = np.stack([r[1] for r in rows]) @ query
    return [rows[i][0] for i in np.argsort(-sims)[:k]]


@pg_only
async def test_a_large_import_loads_without_the_index_and_builds_it_after(app, monkeypatch):
    monkeypatch.setattr(vector_index, "MIN_BULK_VECTORS", 10)  # the sample counts as large
    query = app.embedder.encode(["kubernetes pod memory limits"])[0]
    during: list[tuple[str, bool]] = []

    async def watch(cid, messages, result):  # noqa: ANN001  (runs after each stored chunk, inside the load)
        found = [m for m, _ in await app.vectors.search(cid, query, 5)]
        during.append((await vector_index_state(app.db), found == await _exact_top(app, cid, query, 5)))

    app.ingest.after_store.append(watch)
    report = await app.importer.import_slack(SAMPLE)
    assert report.embedded > 10 and during
    assert all(state == "missing" for state, _ in during)
    assert all(exact for _, exact in during)  # no index: PostgreSQL scans, and the answer is the exact one
    assert await vector_index_state(app.db) == "valid"
    await run_alembic(app.db, "check")  # the index is part of the schema again: no drift
    async with app.db.engine.connect() as conn:  # usable by the planner (a table this small is scanned anyway)
        await conn.execute(text("SET enable_seqscan = off"))
        plan = "\n".join(r[0] for r in await conn.execute(text(
            "EXPLAIN SELECT message_id FROM message_vector ORDER BY embedding <=> CAST(:q AS vector) LIMIT 5"),
            {"q": str([0.05] * 384)}))
    assert HNSW_INDEX in plan


@pg_only
async def test_a_small_import_keeps_the_index_up_to_date(app):
    states: list[str] = []

    async def watch(cid, messages, result):  # noqa: ANN001
        states.append(await vector_index_state(app.db))

    app.ingest.after_store.append(watch)
    await app.importer.import_slack(SAMPLE)
    assert states and set(states) == {"valid"}


@pg_only
async def test_a_failed_load_still_leaves_the_index_built(app, monkeypatch):
    monkeypatch.setattr(vector_index, "MIN_BULK_VECTORS", 10)
    with pytest.raises(RuntimeError, match="export broke"):
        async with bulk_vector_load(app.db, 100) as dropped:
            assert dropped and await vector_index_state(app.db) == "missing"
            raise RuntimeError("export broke")
    assert await vector_index_state(app.db) == "valid"


@pg_only
async def test_upgrade_rebuilds_an_index_a_killed_load_left_missing_or_invalid_unless_a_load_runs(app):
    await app.importer.import_slack(SAMPLE)
    async with app.db.engine.connect() as conn:  # a killed load: the index dropped, never rebuilt
        await conn.execute(text(f"DROP INDEX {HNSW_INDEX}"))
        await conn.commit()
    async with app.db.engine.connect() as load:  # ... while another load is still running
        await load.execute(text("SELECT pg_advisory_lock_shared(:k)"), {"k": BULK_LOAD_LOCK})
        await ensure_schema(app.db)
        assert await vector_index_state(app.db) == "missing"  # that load will build it when it ends
        await load.execute(text("SELECT pg_advisory_unlock_shared(:k)"), {"k": BULK_LOAD_LOCK})
        await load.commit()
    await ensure_schema(app.db)
    assert await vector_index_state(app.db) == "valid"

    async with app.db.engine.connect() as conn:  # a concurrent build that failed leaves an invalid index
        await conn.execute(text("UPDATE pg_index SET indisvalid = false WHERE indexrelid = CAST(:n AS regclass)"),
                           {"n": HNSW_INDEX})
        await conn.commit()
    assert await vector_index_state(app.db) == "invalid"
    await ensure_schema(app.db)
    assert await vector_index_state(app.db) == "valid"
    await run_alembic(app.db, "check")


async def test_bulk_loads_leave_sqlite_alone(app):
    async with bulk_vector_load(app.db, 10**6) as dropped:
        assert dropped is (app.db.dialect == "postgresql")
    assert await vector_index_state(app.db) in ("valid", "none")
