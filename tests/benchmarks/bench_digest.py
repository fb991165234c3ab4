"""Digest composition for a busy week: 10,000 resources shared (with re-shares, replies, reactions,
saves and message vectors), composed end to end: SQL loading, scoring, discussion vectors, sharer
expertise, topic grouping, questions, and the Document.

    python tests/benchmarks/bench_digest.py [--resources 10000] [--db postgresql://…]

The target is under 1 s; the figure printed is the median of 5 runs after one warm-up.
"""
from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import insert

from bot.app import build_app
from bot.db.migrate import ensure_schema
from bot.db.models import Channel, Community, Member, Message, MessageVector, Reaction
from bot.db.resources import Resource, ResourceSave, ResourceShare
from bot.services.digest_compose import compose, to_document
from bot.settings import Settings

WORDS = ("postgres index vacuum planner kubernetes pod deploy helm react hook render css grid rust borrow "
         "async tokio python typing packaging pandas spark kafka terraform docker nginx oauth redis graphql "
         "vite pytest ci git linux profiler").split()
START = datetime(2024, 3, 4, 9, tzinfo=UTC)
END = START + timedelta(days=7)


class NoEmbedder:
    """Every shortlisted resource has discussion vectors here; the model is never asked."""

    dim = 384

    def encode(self, texts: list[str]) -> np.ndarray:
        raise AssertionError("the benchmark's resources all have vectors")


async def populate(app, n: int, rng: random.Random) -> int:  # noqa: ANN001
    async with app.db.sessions.begin() as s:
        cid = (await s.execute(insert(Community).returning(Community.id),
                               [{"platform": "slack", "external_id": "TBENCH", "name": "bench", "settings": {}}])).scalar()  # noqa: E501
        members = list((await s.execute(insert(Member).returning(Member.id), [
            {"community_id": cid, "external_id": f"U{i}", "name": f"Member {i}", "profiling_consent": True,
             "available_for_intros": True, "is_bot": False} for i in range(300)])).scalars())
        channels = list((await s.execute(insert(Channel).returning(Channel.id), [
            {"community_id": cid, "external_id": f"C{i}", "name": f"chan{i}", "is_private": False}
            for i in range(8)])).scalars())
        topics = np.random.default_rng(7).normal(size=(12, 384)).astype(np.float32)
        share_rows, reply_rows = [], []
        for i in range(n):
            when = START + timedelta(seconds=rng.uniform(0, 7 * 86400 - 1))
            ch = rng.choice(channels)
            share_rows.append({"community_id": cid, "channel_id": ch, "author_id": rng.choice(members),
                               "external_id": f"s{i}", "thread_external_id": f"s{i}",
                               "text": f"{' '.join(rng.sample(WORDS, 4))} https://example.com/{i}",
                               "created_at": when, "permalink": f"https://x.slack.com/archives/C/p{i}"})
            for j in range(rng.choice((0, 0, 1, 2, 4))):
                reply_rows.append({"community_id": cid, "channel_id": ch, "author_id": rng.choice(members),
                                   "external_id": f"r{i}-{j}", "thread_external_id": f"s{i}",
                                   "text": "reply " + " ".join(rng.sample(WORDS, 5)),
                                   "created_at": when + timedelta(minutes=j + 1)})
        share_ids = list((await s.execute(insert(Message).returning(Message.id), share_rows)).scalars())
        reply_ids = list((await s.execute(insert(Message).returning(Message.id), reply_rows)).scalars())
        vectors = []
        for mid in share_ids + reply_ids:
            v = topics[mid % 12] + rng.gauss(0, 1) * 0.3
            vectors.append({"message_id": mid, "community_id": cid, "embedding": v / np.linalg.norm(v)})
        for k in range(0, len(vectors), 5000):
            await s.execute(insert(MessageVector), vectors[k : k + 5000])
        resources = list((await s.execute(insert(Resource).returning(Resource.id), [
            {"community_id": cid, "url": f"https://example.com/{i}", "link": f"https://example.com/{i}",
             "title": " ".join(rng.sample(WORDS, 3)), "title_source": 1, "first_sharer_id": row["author_id"],
             "first_message_id": mid, "first_shared_at": row["created_at"]}
            for i, (mid, row) in enumerate(zip(share_ids, share_rows, strict=True))])).scalars())
        await s.execute(insert(ResourceShare), [
            {"community_id": cid, "resource_id": rid, "message_id": mid, "member_id": row["author_id"],
             "shared_at": row["created_at"]} for rid, mid, row in zip(resources, share_ids, share_rows, strict=True)])
        reactions = {(rng.choice(share_ids), f"U{rng.randrange(300)}", rng.choice(("+1", "pushpin", "eyes", "star")))
                     for _ in range(2 * n)}
        await s.execute(insert(Reaction), [{"community_id": cid, "message_id": m, "user_external_id": u, "name": r}
                                           for m, u, r in reactions])
        saves = {(rng.choice(resources), rng.choice(members)) for _ in range(n // 10)}
        await s.execute(insert(ResourceSave), [{"community_id": cid, "resource_id": r, "member_id": m, "note": "",
                                                "saved_at": START + timedelta(days=1)} for r, m in saves])
    return cid


async def main(n: int, db_url: str | None) -> None:
    tmp = tempfile.mkdtemp(prefix="bench-digest-")
    app = build_app(Settings(database_url=db_url or f"sqlite:///{tmp}/bench.db"), embedder=NoEmbedder())
    await ensure_schema(app.db)
    try:
        cid = await populate(app, n, random.Random(7))
        async with app.db.engine.connect() as conn:  # fresh statistics, as a live database has them
            await conn.exec_driver_sql("ANALYZE")
            await conn.commit()
        await app.digests.compose(cid, START, END)  # warm-up
        times, content = [], None
        for _ in range(5):
            t = time.perf_counter()
            content = await app.digests.compose(cid, START, END)
            to_document(content, now=END)
            times.append(time.perf_counter() - t)
        short = [c for _, items in content.groups for c in items]
        t = time.perf_counter()
        compose(short * 1, [], period="x")
        pure = time.perf_counter() - t
        print(f"digest composition, {n} resources ({app.db.dialect}): median {statistics.median(times) * 1000:.0f} ms "
              f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}); grouping alone {pure * 1000:.1f} ms; "
              f"{len(content.resource_ids)} resources in {len(content.groups)} topics")
        print("target < 1000 ms:", "met" if statistics.median(times) < 1.0 else "NOT met")
    finally:
        await app.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    asyncio.run(main(args.resources, args.db))
