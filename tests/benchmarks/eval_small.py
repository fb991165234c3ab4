"""Who-knows quality in a small community, where the ranking runs on its default weights (too few messages to fit).

Each window of --window consecutive messages of an export is a whole community's history; the threads that start
in the next --follow messages and get a reply are its questions (the protocol of shared/tools/eval_whoknows.py,
on the window). The product ranks them with its default weights; the eval tool's four baselines rank the same
questions from the same window. Windows start every --step messages.

    python tests/benchmarks/eval_small.py ../shared/data/dev/racket-2019 [more exports...] [--window 150 --follow 60]
"""
from __future__ import annotations

import asyncio
import collections
import sys
import tempfile
from pathlib import Path

import numpy as np

from bot.app import build_app
from bot.db.migrate import ensure_schema
from bot.repo import list_communities
from bot.services.expertise import MIN_FIT_MESSAGES
from bot.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tune_whoknows import exports_parser, parse_exports  # noqa: E402


async def product(export: Path, ev, users, channels, history, questions) -> dict[str, list[str]]:  # noqa: ANN001
    with tempfile.TemporaryDirectory() as tmp:
        ev.write_history(export, users, channels, history, Path(tmp) / "history")
        app = build_app(Settings(database_url=f"sqlite:///{tmp}/small.db"))
        await ensure_schema(app.db)
        report = await app.importer.import_slack(Path(tmp) / "history")
        assert report.fitted is None, "the window is big enough to fit: this measures the default weights"
        async with app.db.sessions() as s:
            cid = (await list_communities(s))[0].id
        rankings = {q["id"]: [e.user for e in await app.expertise.rank(cid, q["text"], asker=q["asker"], top=10)]
                    for q in questions}
        await app.close()
    return rankings


async def main() -> None:
    p = exports_parser("/tmp/connective-small")
    p.add_argument("--window", type=int, default=150, help=f"messages of history (fewer than {MIN_FIT_MESSAGES})")
    p.add_argument("--follow", type=int, default=60, help="messages after the window whose threads are questions")
    p.add_argument("--step", type=int, default=400)
    a, ev = parse_exports(p)
    reciprocal: dict[str, list[float]] = collections.defaultdict(list)
    for export in a.exports:
        users, channels, msgs, bots = ev.load(export)
        windows = 0
        for start in range(0, len(msgs) - a.window - a.follow, a.step):
            part = msgs[start : start + a.window + a.follow]
            _, history, questions = ev.split(part, bots, a.window / (a.window + a.follow))
            questions = [q for q in questions if q["answerable"]]
            if not questions:
                continue
            windows += 1
            rankings, _ = ev.baselines(history, questions, bots)
            rankings["product"] = await product(export, ev, users, channels, history, questions)
            for name, ranked in rankings.items():
                for q in questions:
                    r = ev.rank_of(ranked.get(q["id"], []), [q["answerer"]])
                    reciprocal[name].append(1 / r if r else 0.0)
        print(f"{export.name}: {windows} windows, {len(reciprocal['product'])} questions so far", flush=True)
    mrr = {name: float(np.mean(v)) for name, v in reciprocal.items()}
    mine = mrr.pop("product")
    best = max(mrr, key=mrr.get)
    print("  ".join(f"{name} {v:.3f}" for name, v in mrr.items()))
    print(f"product MRR {mine:.3f} = {mine / best_value:.2f}x best baseline ({best} {best_value:.3f}), "
          f"{len(reciprocal['product'])} questions" if (best_value := mrr[best]) else f"product MRR {mine:.3f}")


if __name__ == "__main__":
    asyncio.run(main())
