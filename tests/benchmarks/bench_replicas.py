"""Live ingest throughput: one `connective run --platform slack` replica against two, on one PostgreSQL.

N real chat messages (a Slack export's channel, in time order, threads kept) are posted as signed Events
API requests to real replica processes (HTTP mode, a fake Slack Web API for users.info and friends). Each
replica acknowledges first and stores the message through the ordinary path (translate, Core.handle,
ingest: message row, embedding, vector) after the ack.

How replicas receive events: Slack's Events API behind a load balancer (and Socket Mode across several
connections) delivers each event to one replica, so the two-replica run deals the events out round-robin.
A retry (Slack re-sends when an ack is late) can land on any replica: `--redeliver` sends that share of
the events a second time, to the other replica (to the same one when there is only one), so the figure
includes the duplicate checks. Each run uses a fresh database on the same server; it ends when all N
messages are stored, and the count stored must be exactly N.

    python tests/benchmarks/bench_replicas.py --export /work/shared/data/dev/racket-2019 --messages 5000
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for tests.* helpers

from bench_pg import throwaway_server  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bot.db.engine import Database  # noqa: E402
from bot.db.migrate import ensure_schema  # noqa: E402
from bot.db.models import Message, MessageVector  # noqa: E402
from tests.replicas import Replica, wait_until  # noqa: E402
from tests.slack_fake import FakeSlack  # noqa: E402

TEAM = "TBENCH0001"
CHANNEL = "CBENCHGEN"


def read_export(export: Path, n: int) -> tuple[list[dict], dict[str, dict]]:
    """The first n human messages of the export (all channels, in time order) and its people."""
    people = {u["id"]: {"id": u["id"], "name": u.get("name", u["id"]), "real_name": u.get("real_name", ""),
                        "tz": "UTC", "is_bot": bool(u.get("is_bot"))}
              for u in json.loads((export / "users.json").read_text())}
    messages = []
    for day in sorted(export.glob("*/*.json")):
        messages += [m for m in json.loads(day.read_text())
                     if m.get("user") in people and not m.get("subtype") and m.get("text", "").strip()]
    messages.sort(key=lambda m: float(m["ts"]))
    if len(messages) < n:
        raise SystemExit(f"{export} has only {len(messages)} messages")
    return messages[:n], people


def payload(m: dict, n: int) -> dict:
    event = {"type": "message", "user": m["user"], "text": m["text"], "ts": m["ts"], "team": TEAM,
             "channel": CHANNEL, "event_ts": m["ts"], "channel_type": "channel"}
    if m.get("thread_ts"):
        event["thread_ts"] = m["thread_ts"]
        if m.get("parent_user_id"):
            event["parent_user_id"] = m["parent_user_id"]
    return {"token": "unused", "team_id": TEAM, "context_team_id": TEAM, "api_app_id": "A0BENCH",
            "event": event, "type": "event_callback", "event_id": f"EvBENCH{n:07d}",
            "event_time": int(float(m["ts"])), "authorizations": [
                {"enterprise_id": None, "team_id": TEAM, "user_id": "UBOT", "is_bot": True}]}


async def stored(db: Database) -> tuple[int, int]:
    async with db.sessions() as s:
        messages = await s.scalar(select(func.count()).select_from(Message))
        vectors = await s.scalar(select(func.count()).select_from(MessageVector))
    return int(messages or 0), int(vectors or 0)


async def run(url: str, fake: FakeSlack, deliveries: list[tuple[int, dict]], n_replicas: int, n: int,
              concurrency: int) -> dict:
    db = Database(url)
    await ensure_schema(db)
    logs = [tempfile.NamedTemporaryFile(prefix=f"connective-replica{i}-", suffix=".log", delete=False)
            for i in range(n_replicas)]
    replicas = [await Replica.start(url, fake.url, log=f) for f in logs]
    try:
        for r in replicas:
            await r.ready()
        gate = asyncio.Semaphore(concurrency)
        statuses: list[int] = []

        async def deliver(target: int, body: dict) -> None:
            async with gate:
                statuses.append(await replicas[target % n_replicas].event(body))

        started = time.perf_counter()
        await asyncio.gather(*(deliver(t, b) for t, b in deliveries))
        acked = time.perf_counter() - started

        async def all_seen() -> bool:
            seen = [await r.metric("connective_events_ingested_total") + await r.metric(
                "connective_events_duplicate_total") for r in replicas]
            return sum(seen) >= len(deliveries) and (await stored(db))[0] >= n
        await wait_until(all_seen, timeout=3600)
        took = time.perf_counter() - started
        messages, vectors = await stored(db)
        per_replica = [int(await r.metric("connective_events_ingested_total")) for r in replicas]
        duplicates = sum([int(await r.metric("connective_events_duplicate_total")) for r in replicas])
        codes = [code for code, _ in [await r.stop() for r in replicas]]
        errors = 0
        for f in logs:
            f.seek(0)
            errors += sum(b'"level": "ERROR"' in line or b"Traceback" in line for line in f)
    finally:
        for r in replicas:
            await r.stop()
        for f in logs:
            f.close()
        await db.dispose()
    return {"replicas": n_replicas, "events_sent": len(deliveries), "messages": n, "seconds": round(took, 1),
            "all_acked_after_s": round(acked, 1), "messages_per_s": round(n / took, 1),
            "stored_messages": messages, "stored_vectors": vectors, "handled_per_replica": per_replica,
            "duplicates_detected": duplicates, "non_200": sum(s != 200 for s in statuses),
            "replica_errors": errors, "exit_codes": codes, "exact": messages == n,
            "logs": [f.name for f in logs]}


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--export", type=Path, default=Path("/work/shared/data/dev/racket-2019"))
    p.add_argument("--messages", type=int, default=5000)
    p.add_argument("--redeliver", type=float, default=0.05, help="share of events sent twice (retries)")
    p.add_argument("--concurrency", type=int, default=16, help="requests in flight from the sender")
    a = p.parse_args()
    messages, people = read_export(a.export, a.messages)
    rng = random.Random(11)
    again = set(rng.sample(range(len(messages)), int(a.redeliver * len(messages))))
    fake = await FakeSlack(team_id=TEAM, people=people, channels={CHANNEL: "general"}).start()
    try:
        with throwaway_server() as create:
            for n_replicas in (1, 2):
                deliveries = []
                for i, m in enumerate(messages):  # round-robin; a retry goes to the other replica
                    deliveries.append((i, payload(m, i)))
                    if i in again:
                        deliveries.append((i + 1, payload(m, i)))
                result = await run(create(f"replicas{n_replicas}"), fake, deliveries, n_replicas, len(messages),
                                   a.concurrency)
                print(json.dumps({"ingest": result}), flush=True)
    finally:
        await fake.stop()


if __name__ == "__main__":
    asyncio.run(main())
