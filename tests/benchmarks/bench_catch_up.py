"""The Slack catch-up after a restart: N real messages said in one channel while the bot was away, fetched from the
fake Slack Web API (conversations.history, the real slack_sdk client) and stored; the same N handed to the core one
at a time, as the catch-up did before it stored a channel in one batch, is the baseline measured in the same run, and
so is the bare encode of the texts stored (the model's own share of the work, its bound). Each run has a fresh
database holding one message said before the bot went away (where the catch-up picks up); both start with the model
loaded. Prints the seconds and messages a second of each, and the ratios; both runs must store as many.

    python tests/benchmarks/bench_catch_up.py --export /work/shared/data/dev/racket-2019 --messages 2000
    python tests/benchmarks/bench_catch_up.py --export /work/shared/data/dev/racket-2019 --db pgserver
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for tests.* helpers

from bench_pg import throwaway_server  # noqa: E402

TEAM = "TBENCH0001"
CHANNEL = "CBENCHGEN"
TOKEN = "xoxb-bench"


def read_export(export: Path, n: int) -> tuple[list[dict], dict[str, dict]]:
    """The first n plain messages of members (all channels, in time order) and the people, as users.info lists them."""
    people = {u["id"]: {"id": u["id"], "name": u.get("name", u["id"]), "real_name": u.get("real_name", ""),
                        "tz": "UTC", "is_bot": bool(u.get("is_bot")), "profile": {"display_name": u.get("name", "")}}
              for u in json.loads((export / "users.json").read_text())}
    messages = []
    for day in sorted(export.glob("*/*.json")):
        messages += [m for m in json.loads(day.read_text())
                     if m.get("user") in people and not m.get("subtype") and (m.get("text") or "").strip()]
    messages.sort(key=lambda m: float(m["ts"]))
    if len(messages) < n:
        raise SystemExit(f"{export} has only {len(messages)} messages")
    return messages[:n], people


def said_while_away(messages: list[dict], now: float) -> list[dict]:
    """The messages as said in the two hours before now, in their order, in one channel (no threads)."""
    step = 7000.0 / len(messages)
    return [{"type": "message", "user": m["user"], "text": m["text"], "ts": f"{now - 7200 + i * step:.6f}"}
            for i, m in enumerate(messages)]


async def run(url: str, history: list[dict], people: dict[str, dict], *,
              one_by_one: bool) -> tuple[float, int, float]:
    """(seconds, messages stored, seconds of a bare encode of what was encoded, after the run)"""
    from sqlalchemy import func, select

    from adapters.slack.listeners import SlackAdapter
    from adapters.slack.runner import web_client
    from bot import events as ev
    from bot.app import build_app
    from bot.db.migrate import ensure_schema
    from bot.db.models import Message
    from bot.settings import Settings
    from matching.text import carries_expertise, clean
    from tests.slack_fake import FakeSlack

    app = build_app(Settings(database_url=url))
    await ensure_schema(app.db)
    fake = await FakeSlack(team_id=TEAM, people=people, channels={CHANNEL: "general"},
                           member_of=[{"id": CHANNEL, "name": "general", "is_channel": True, "is_private": False}],
                           history={CHANNEL: list(history)}).start()
    try:
        adapter = await SlackAdapter.connect(app, web_client(TOKEN, f"{fake.url}/api"), signing_secret="bench")
        first = float(history[0]["ts"]) - 3600
        user = history[0]["user"]
        # Said before the bot went away (and stored live): the catch-up reads after it. Loads the model too.
        await app.core.handle(ev.MessagePosted(
            community=TEAM, platform="slack", user=user, channel=CHANNEL, event_id="EvBENCHSEED",
            message_id=f"{first:.6f}", text="the last message before the restart: how do I profile a slow loop?",
            time=datetime.fromtimestamp(first, UTC), channel_name="general"))
        if one_by_one:  # as the catch-up handed a channel's events before they were stored in one batch
            async def each(events: list[ev.Event]) -> bool:
                for event in events:
                    await adapter.on_caught_up_question(event)
                return True

            adapter._handle_caught_up = each  # type: ignore[method-assign]
        started = time.perf_counter()
        await adapter.catch_up(datetime.now(UTC))
        await adapter.idle()
        seconds = time.perf_counter() - started
        async with app.db.sessions() as s:
            stored = int(await s.scalar(select(func.count()).select_from(Message)) or 0) - 1
        texts = [t for m in history if carries_expertise(t := clean(m["text"]))]
        encode = time.perf_counter()
        app.embedder.encode(list(dict.fromkeys(texts)))
        return seconds, stored, time.perf_counter() - encode
    finally:
        await fake.stop()
        await app.close()


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--export", type=Path, required=True, help="a Slack export folder (its messages' texts and people)")
    p.add_argument("--messages", type=int, default=2000, help="said in one channel while away (at most 2,000 read)")
    p.add_argument("--db", choices=["sqlite", "pgserver"], default="sqlite")
    p.add_argument("--no-baseline", action="store_true", help="only the catch-up as it is (no one-at-a-time run)")
    args = p.parse_args()
    messages, people = read_export(args.export, args.messages)
    history = said_while_away(messages, time.time() - 120)
    results: dict[str, tuple[float, int, float]] = {}
    with tempfile.TemporaryDirectory(prefix="connective-bench-") as tmp:
        server = throwaway_server() if args.db == "pgserver" else None
        create = server.__enter__() if server is not None else None
        try:
            modes = [("batched", False)] + ([] if args.no_baseline else [("one at a time", True)])
            for n, (name, one_by_one) in enumerate(modes):
                url = create(f"bench{n}") if create is not None else f"sqlite:///{tmp}/bench{n}.db"
                results[name] = await run(url, history, people, one_by_one=one_by_one)
                seconds, stored, bare = results[name]
                print(f"{name:<14} {args.db:<8} {stored} stored in {seconds:7.1f} s  {stored / seconds:7.1f} msgs/s "
                      f"(bare encode of their texts: {bare:5.1f} s, {seconds / bare:.2f}x)", flush=True)
        finally:
            if server is not None:
                server.__exit__(None, None, None)
    if "one at a time" in results:
        (fast, n_fast, _), (slow, n_slow, _) = results["batched"], results["one at a time"]
        if n_fast != n_slow:
            raise SystemExit(f"stored {n_fast} batched but {n_slow} one at a time")
        print(f"batched is {slow / fast:.1f}x as fast as one at a time ({args.messages} messages, {args.db})")


if __name__ == "__main__":
    asyncio.run(main())
