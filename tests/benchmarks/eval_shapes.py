"""Who-knows quality when the same conversations arrive in the other shapes the bot meets.

A Slack export has each thread's root name its thread. Live, the Slack adapter stores a root before anyone
replies, so only the replies name it; and on Discord, outside threads, a conversation is a chain of replies
(`reference`). This replays each export's history (the split of shared/tools/eval_whoknows.py) in four
shapes and ranks the same questions, so the figures compare like with like:

- slack: the export as it is;
- live-slack: thread roots without their thread_ts (as stored live);
- discord-root: a DiscordChatExporter export without threads, each thread reply answering the root;
- discord-chain: the same, each reply answering the message before it in the thread.

    python tests/benchmarks/eval_shapes.py ../shared/data/dev/racket-2019 [more exports...]
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
import sys
from pathlib import Path

from bot.app import build_app
from bot.db.migrate import ensure_schema
from bot.repo import list_communities
from bot.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tune_whoknows import exports_parser, parse_exports  # noqa: E402

SHAPES = ("slack", "live-slack", "discord-root", "discord-chain")


def as_live_slack(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in m.items() if not (k in ("thread_ts", "replies", "reply_count", "reply_users")
                                                 and m.get("thread_ts") == m["ts"])} for m in history]


def write_discord(users: dict, channels: list[dict], history: list[dict], bots: set[str], out: Path,
                  *, chain: bool) -> None:
    """One DiscordChatExporter file per channel, threads flattened into replies."""
    ids: dict[str, str] = {}
    for ch in channels:
        last: dict[str, str] = {}  # thread -> the latest message in it
        rows = []
        for m in (m for m in history if m["_channel"] == ch["name"]):
            mid = ids.setdefault(m["ts"], str(10**17 + len(ids)))
            row = {"id": mid, "type": "Default", "content": m.get("text", ""),
                   "timestamp": dt.datetime.fromtimestamp(float(m["ts"]), dt.UTC).isoformat(),
                   "author": {"id": m["user"], "name": users.get(m["user"], {}).get("name", m["user"]),
                              "isBot": m["user"] in bots},
                   "reactions": [{"emoji": {"name": r["name"]}, "count": r.get("count", 1)}
                                 for r in m.get("reactions", [])]}
            thread = m.get("thread_ts")
            if thread and thread != m["ts"] and thread in ids:
                row["type"] = "Reply"
                row["reference"] = {"messageId": last.get(thread, ids[thread]) if chain else ids[thread],
                                    "channelId": ch["id"]}
            if thread:
                last[thread] = mid
            rows.append(row)
        (out / f"{ch['name']}.json").write_text(json.dumps({
            "guild": {"id": "1", "name": "replayed"}, "messages": rows,
            "channel": {"id": ch["id"], "type": "GuildTextChat", "name": ch["name"]}}))


async def measure(export: Path, shape: str, work: Path, ev) -> dict:
    users, channels, msgs, bots = ev.load(export)
    _, history, questions = ev.split(msgs, bots, 0.7)
    folder = work / f"{export.name}-{shape}"
    shutil.rmtree(folder, ignore_errors=True)
    db = folder.with_suffix(".db")
    db.unlink(missing_ok=True)
    app = build_app(Settings(database_url=f"sqlite:///{db}"))
    await ensure_schema(app.db)
    if shape.startswith("discord"):
        folder.mkdir(parents=True)
        write_discord({u["id"]: u for u in users.values()}, channels, history, bots, folder,
                      chain=shape == "discord-chain")
        await app.importer.import_discord([folder])
    else:
        ev.write_history(export, users, channels, as_live_slack(history) if shape == "live-slack" else history,
                         folder)
        await app.importer.import_slack(folder)
    async with app.db.sessions() as s:
        cid = (await list_communities(s))[0].id
    fitted = await app.expertise.weights(cid) is not None
    vectors = app.embedder.encode([q["text"] for q in questions], query=True)
    rankings = {}
    for q, v in zip(questions, vectors, strict=True):
        found = await app.expertise.rank(cid, q["text"], asker=q["asker"], top=10, query_vector=v)
        rankings[q["id"]] = [e.user for e in found]
    await app.close()
    regulars = frozenset(u for u, _ in ev.top_answerers(history, bots).most_common(5))
    m, lt = ev.metrics(rankings, questions), ev.metrics(rankings, questions, exclude=regulars)
    return {"export": export.name, "shape": shape, "fitted": fitted, "mrr": round(m["mrr"], 3),
            "longtail": round(lt["mrr"], 3)}


async def main() -> None:
    p = exports_parser("/tmp/connective-shapes")
    p.add_argument("--shapes", nargs="+", choices=SHAPES, default=list(SHAPES))
    a, ev = parse_exports(p)
    for export in a.exports:
        for shape in a.shapes:
            print(json.dumps(await measure(export, shape, a.work, ev)), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
