"""What keeping an event in the inbox before its ack adds to the ack: Slack wants one within 3 s.

The real bolt app in HTTP mode (signatures verified) against the fake Slack, as tests/test_slack_app.py drives it:
N signed message events posted one after another, each waited for until handled (stored, embedded), alternating
between the inbox on and the inbox's insert skipped (the ack as it was before). Then bursts: B events posted at
once, without the inbox's insert and then with it (the ones before are being stored meanwhile). Prints the ack time
(request sent, response read): p50, p95 and max of each.

    python tests/benchmarks/bench_inbox_ack.py                     # SQLite in a temporary folder
    python tests/benchmarks/bench_inbox_ack.py --db pgserver       # a throwaway PostgreSQL
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for tests.* helpers

from bench_pg import database_url  # noqa: E402

TEAM = "TBENCH0001"
SECRET = "bench-signing-secret"


def _event(n: int) -> dict:
    ts = f"{1700000000 + n}.000100"
    return {"type": "event_callback", "token": "old-verification-token", "team_id": TEAM, "api_app_id": "A0BENCH",
            "event_id": f"EvBENCH{n:08d}", "event_time": 1700000000 + n,
            "event": {"type": "message", "user": f"U{n % 20:04d}", "channel": "CBENCH", "channel_type": "channel",
                      "ts": ts, "event_ts": ts, "text": f"message {n}: how do I tune autovacuum on table {n}?"}}


def _figures(name: str, times: list[float]) -> str:
    times = sorted(times)
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    return (f"{name:<30} n={len(times):<4} p50 {statistics.median(times) * 1000:7.2f} ms   "
            f"p95 {p95 * 1000:7.2f} ms   max {times[-1] * 1000:7.2f} ms")


async def bench(url: str, n: int, burst: int) -> None:
    import aiohttp

    from adapters.slack.listeners import SlackAdapter
    from adapters.slack.runner import serve_http, web_client
    from bot.app import build_app
    from bot.db.migrate import ensure_schema
    from bot.settings import Settings
    from tests.slack_fake import FakeSlack, sign

    app = build_app(Settings(database_url=url))
    await ensure_schema(app.db)
    people = {f"U{i:04d}": {"id": f"U{i:04d}", "name": f"user{i}", "real_name": f"User {i}", "tz": "UTC",
                            "is_bot": False} for i in range(20)}
    fake = await FakeSlack(team_id=TEAM, people=people, channels={"CBENCH": "general"}).start()
    adapter = await SlackAdapter.connect(app, web_client("xoxb-bench", f"{fake.url}/api"), signing_secret=SECRET)
    runner, port = await serve_http(adapter, port=0, host="127.0.0.1")
    keep = app.core.inbox.keep

    async def skipped(kept, body) -> None:  # noqa: ANN001 - the ack as it was: nothing written before it
        return None

    timings: dict[str, list[float]] = {"inbox on": [], "inbox insert skipped": []}
    try:
        async with aiohttp.ClientSession() as http:
            async def post(i: int) -> float:
                body = json.dumps(_event(i))
                started = time.perf_counter()
                async with http.post(f"http://127.0.0.1:{port}/slack/events", data=body.encode(), headers={
                        "Content-Type": "application/json", **sign(SECRET, body)}) as response:
                    await response.read()
                    assert response.status == 200, response.status
                return time.perf_counter() - started

            await post(0)  # the model loads with the first message
            await adapter.idle()
            for i in range(1, n + 1):
                on = i % 2 == 0
                app.core.inbox.keep = keep if on else skipped
                timings["inbox on" if on else "inbox insert skipped"].append(await post(i))
                await adapter.idle()
            bursts: dict[str, list[float]] = {}
            for first, (name, kept) in enumerate((("inbox insert skipped", skipped), ("inbox on", keep))):
                app.core.inbox.keep = kept
                start = n + 1 + first * burst
                bursts[f"{name}, burst of {burst}"] = list(
                    await asyncio.gather(*(post(start + i) for i in range(burst))))
                await adapter.idle()
            app.core.inbox.keep = keep
    finally:
        await runner.cleanup()
        await fake.stop()
        await app.close()
    print(f"database: {url.split('?')[0]}")  # (no socket path)
    for name, times in timings.items():
        print(_figures(name, times))
    for name, times in bursts.items():
        print(_figures(name, times))
    added = statistics.median(timings["inbox on"]) - statistics.median(timings["inbox insert skipped"])
    print(f"added by the inbox (p50): {added * 1000:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="a database URL, or pgserver (default: SQLite in a temporary folder)")
    parser.add_argument("--events", type=int, default=400, help="events posted one after another (half with the inbox)")
    parser.add_argument("--burst", type=int, default=100, help="events posted at once after them (each way)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, database_url(args.db) as url:
        asyncio.run(bench(url or f"sqlite:///{tmp}/bench.db", args.events, args.burst))


if __name__ == "__main__":
    main()
