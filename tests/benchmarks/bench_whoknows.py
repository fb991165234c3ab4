"""Who-knows performance figures, each against a baseline measured in the same run.

1. Import throughput: `connective import slack` (parse, store, embed, fit) on a real export, against
   bare `SentenceTransformer.encode(batch_size=64)` of the same messages' texts.
2. Ask latency on a synthetic community (default 200,000 messages, 5,000 members, 20 channels; vectors are random
   unit vectors written straight to the database, since encoding 200k texts would take half an hour):
   p50/p95 of ExpertiseService.rank as a live ask (with its time) including the query encode, against
   the median bare encode of one query (the two alternate query by query); resident memory after
   loading; the load average, since figures on a shared 2-core machine move with anything else running.

    python tests/benchmarks/bench_whoknows.py --export ../shared/data/dev/racket-2019
    python tests/benchmarks/bench_whoknows.py --messages 200000 --members 5000 --skip-import
    python tests/benchmarks/bench_whoknows.py --messages 200000 --members 5000 --skip-import --no-baseline  # memory
    python tests/benchmarks/bench_whoknows.py --messages 1000000 --members 20000 --queries 100 --db pgserver
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from bench_pg import database_url  # this folder (the scripts run as files)
from sqlalchemy import func, insert, select, text

from bot.app import build_app
from bot.db.migrate import ensure_schema
from bot.db.models import Channel, Community, Member, Message, MessageVector
from bot.db.vector_index import bulk_vector_load
from bot.settings import Settings
from matching.text import TEXT_RULES

WORDS = ("postgres index vacuum planner kubernetes pod deploy helm react hook render css grid flexbox rust "
         "borrow lifetime async tokio python typing mypy packaging wheel pandas dataframe groupby spark "
         "kafka consumer offset terraform module state docker image layer cache nginx proxy tls cert "
         "oauth token jwt redis cluster eviction graphql schema resolver webpack bundle vite test pytest "
         "fixture mock ci pipeline runner git rebase merge conflict linux kernel memory leak profiler").split()


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def bench_import(export: Path) -> dict:
    from bot.importers.slack_export import SYSTEM_SUBTYPES

    texts = []
    for day in sorted(export.glob("*/*.json")):
        for m in json.loads(day.read_text()):
            if m.get("user") and m.get("subtype") not in SYSTEM_SUBTYPES and m.get("text", "").strip():
                texts.append(m["text"])
    settings = Settings()
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(settings.resolved_model_path(), device="cpu")
    model.encode(texts[:64], batch_size=64)
    t = time.perf_counter()
    model.encode(texts, batch_size=64, normalize_embeddings=True)
    bare = len(texts) / (time.perf_counter() - t)
    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(Settings(database_url=f"sqlite:///{tmp}/bench.db"))
        await ensure_schema(app.db)
        app.embedder.encode(["warm up"])  # both sides measured with the model loaded
        t = time.perf_counter()
        report = await app.importer.import_slack(export)
        ours = report.messages_seen / (time.perf_counter() - t)
        await app.close()
    return {"messages": len(texts), "bare_encode_msgs_per_s": round(bare, 1),
            "import_msgs_per_s": round(ours, 1), "ratio": round(ours / bare, 2)}


async def build_synthetic(app, n_messages: int, n_members: int, rng: random.Random,
                          n_channels: int = 1) -> tuple[int, float]:
    """The synthetic community, loaded as a bulk import is (on PostgreSQL the HNSW index is built after the
    load); returns its id and the seconds spent building the index."""
    async with bulk_vector_load(app.db, n_messages, memory_cap_mb=app.settings.index_build_memory_mb):
        cid = await _insert_synthetic(app, n_messages, n_members, rng, n_channels)
        loaded = time.perf_counter()
    return cid, time.perf_counter() - loaded


async def _insert_synthetic(app, n_messages: int, n_members: int, rng: random.Random, n_channels: int = 1) -> int:
    nprng = np.random.default_rng(rng.randrange(2**32))
    async with app.db.sessions.begin() as s:
        # Stamped with the text rules its messages were stored under, as a community the bot stored is: the one-time
        # scan an upgrade to new rules makes (ExpertiseService._embed_by_rules) is no part of loading it.
        c = Community(platform="slack", external_id="TSYNTH", name="synthetic", settings={"text_rules": TEXT_RULES})
        s.add(c)
        await s.flush()
        channels = [Channel(community_id=c.id, external_id=f"CSYNTH{i}" if i else "CSYNTH",
                            name=f"topic-{i}" if i else "general", is_private=False) for i in range(n_channels)]
        s.add_all(channels)
        await s.flush()
        await s.execute(insert(Member), [{"community_id": c.id, "external_id": f"U{i:05d}", "name": f"member{i}",
                                          "is_bot": False, "profiling_consent": True,
                                          "available_for_intros": True} for i in range(n_members)])
        cid, chids = c.id, [ch.id for ch in channels]
    from sqlalchemy import select

    async with app.db.sessions() as s:
        member_ids = list(await s.scalars(select(Member.id).where(Member.community_id == cid).order_by(Member.id)))
    # Zipf-like activity: a few regulars write most messages.
    weights = 1 / np.arange(1, n_members + 1) ** 0.9
    weights /= weights.sum()
    channel_weights = 1 / np.arange(1, n_channels + 1)  # each thread in one channel, a few channels busiest
    channel_weights /= channel_weights.sum()
    t0 = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
    batch = 20000
    root = None
    for start in range(0, n_messages, batch):
        rows = []
        n = min(batch, n_messages - start)
        authors = nprng.choice(n_members, size=n, p=weights)
        vecs = nprng.standard_normal((n, 384)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        for i in range(n):
            k = start + i
            if k % 6 == 0:
                root = f"{t0 + k * 60:.6f}"
                chid = chids[int(nprng.choice(n_channels, p=channel_weights))] if n_channels > 1 else chids[0]
            text = " ".join(rng.choices(WORDS, k=rng.randint(5, 25)))
            rows.append({"community_id": cid, "channel_id": chid, "author_id": member_ids[int(authors[i])],
                         "external_id": f"{t0 + k * 60:.6f}", "thread_external_id": root, "text": text,
                         "created_at": datetime.fromtimestamp(t0 + k * 60, UTC)})
        async with app.db.sessions.begin() as s:
            ids = list(await s.scalars(insert(Message).returning(Message.id), rows))
            await s.execute(insert(MessageVector), [{"message_id": mid, "community_id": cid, "embedding": v}
                                                    for mid, v in zip(ids, vecs, strict=True)])
    return cid


async def bench_ask(n_messages: int, n_members: int, n_queries: int, db_url: str | None,
                    baseline: bool = True, n_channels: int = 1) -> dict:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(Settings(database_url=db_url or f"sqlite:///{tmp}/synthetic.db"))
        await ensure_schema(app.db)
        t = time.perf_counter()
        cid = await _existing_synthetic(app, n_messages)
        if cid is None:
            cid, index_s = await build_synthetic(app, n_messages, n_members, rng, n_channels)
            built: float | None = time.perf_counter() - t
        else:  # a database URL given again: measure the asks on the community built last time
            built = index_s = None
        qrng = random.Random(8)  # the same queries whether the community was built now or last time
        queries = [" ".join(qrng.choices(WORDS, k=qrng.randint(4, 12))) for _ in range(n_queries)]
        # The baseline's model (sentence-transformers on torch) is loaded before the corpus, as a process that
        # encodes on torch loads it: loaded after 200k messages' arrays, its encode took 13 ms instead of 8.
        bare_model = app.embedder.model if baseline else None
        app.embedder.encode(["warm up"])
        uses_hnsw = await _plan_uses_hnsw(app, cid) if app.db.dialect == "postgresql" else None
        t = time.perf_counter()
        # Asked as the live bot asks (/whoknows knows when it was asked): availability at that hour included.
        await app.expertise.rank(cid, queries[0], asker="U00001", now=datetime.now(UTC))  # loads the corpus
        load_s = time.perf_counter() - t
        # The baseline and the asks alternate query by query, so both see the same machine. The baseline is
        # sentence-transformers' own encode on torch, whatever runtime the product encodes with.
        bare, times = [], []
        for i, q in enumerate(queries):
            if bare_model is not None:
                t = time.perf_counter()
                bare_model.encode([q], normalize_embeddings=True)
                bare.append(1000 * (time.perf_counter() - t))
            t = time.perf_counter()
            await app.expertise.rank(cid, q, asker=f"U{i % n_members:05d}", now=datetime.now(UTC))
            times.append(1000 * (time.perf_counter() - t))
        await app.close()
    times.sort()
    p50 = statistics.median(times)
    p95 = times[int(0.95 * (len(times) - 1))]
    bare_ms = statistics.median(bare) if bare else None
    return {"db": "postgresql" if db_url else "sqlite", "messages": n_messages, "members": n_members,
            "channels": n_channels,
            "build_s": built and round(built, 1), "index_build_s": index_s and round(index_s, 1),
            "load_s": round(load_s, 1),
            "bare_query_encode_ms": bare_ms and round(bare_ms, 1), "ask_p50_ms": round(p50, 1),
            "ask_p95_ms": round(p95, 1), "p50_vs_bare_encode": bare_ms and round(p50 / bare_ms, 2),
            "max_rss_mb": round(rss_mb()), "torch_loaded": app.embedder.torch_loaded,
            "load_average_1m": round(os.getloadavg()[0], 2),
            **({"query_plan_uses_hnsw": uses_hnsw} if uses_hnsw is not None else {})}


async def _existing_synthetic(app, n_messages: int) -> int | None:
    async with app.db.sessions() as s:
        cid = await s.scalar(select(Community.id).where(Community.external_id == "TSYNTH"))
        if cid is None:
            return None
        stored = await s.scalar(select(func.count()).select_from(Message).where(Message.community_id == cid))
    if stored != n_messages:
        raise SystemExit(f"the database holds a synthetic community of {stored} messages, not {n_messages}")
    return cid


async def _plan_uses_hnsw(app, cid: int) -> bool:
    """Whether PostgreSQL answers the vector search (PgVectorIndex's query) with the HNSW index."""
    q = "[" + ",".join(["0.05"] * 384) + "]"
    async with app.db.engine.connect() as conn:
        plan = "\n".join(r[0] for r in await conn.execute(text(
            "EXPLAIN SELECT message_id FROM message_vector WHERE community_id = :c "
            "ORDER BY embedding <=> CAST(:q AS vector) LIMIT 50"), {"c": cid, "q": q}))
    return "ix_message_vector_embedding_hnsw" in plan


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--export", type=Path, help="a Slack export for the import-throughput figure")
    p.add_argument("--messages", type=int, default=200_000)
    p.add_argument("--members", type=int, default=5_000)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--channels", type=int, default=20,
                   help="channels the synthetic community talks in (each thread in one; a few busiest)")
    p.add_argument("--db", help="database URL for the synthetic community (default: temporary SQLite); "
                                "`pgserver` starts a throwaway PostgreSQL + pgvector")
    p.add_argument("--skip-import", action="store_true")
    p.add_argument("--skip-ask", action="store_true")
    p.add_argument("--no-baseline", action="store_true",
                   help="asks only, without the torch baseline in the process: the product's own memory")
    a = p.parse_args()
    if a.export and not a.skip_import:
        print(json.dumps({"import": await bench_import(a.export)}), flush=True)
    if not a.skip_ask:
        with database_url(a.db) as url:
            print(json.dumps({"ask": await bench_ask(a.messages, a.members, a.queries, url,
                                                            baseline=not a.no_baseline, n_channels=a.channels)}),
                  flush=True)


if __name__ == "__main__":
    asyncio.run(main())
