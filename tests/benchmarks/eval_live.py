"""Who-knows quality as the live bot ranks: knowing when each question is asked.

shared/tools/eval_whoknows.py replays the questions without their time (its JSON lines carry id, text and
asker), so it measures `connective ask` as a replay. A live `/whoknows` or mention knows the moment it was
asked, and the ranking uses it: who is usually around at that hour of the day. This script runs the same
protocol through the same CLI, imported from the tool itself (its split, its baselines, its metrics), and
asks twice: once as the tool does, once with each question's time in the JSON line (`"ts"`, the thread
root's Slack ts). It adds one baseline that knows the time as well, so the comparison stays fair:
"answers-at-hour", the members who answered most in others' threads within an hour of the question's
hour of the day.

    python tests/benchmarks/eval_live.py ../shared/data/dev/racket-2019 --connective .venv/bin/connective
"""
from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import subprocess
import tempfile
import time
from pathlib import Path

from bot.services.evaluation import answerers_at_hour
from matching.ranking import hour_of

TOOL = Path(__file__).resolve().parents[3] / "shared" / "tools" / "eval_whoknows.py"


def load_tool(path: Path):
    spec = importlib.util.spec_from_file_location("eval_whoknows", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def answers_at_hour(tool, history, questions, bots) -> dict[str, list[str]]:
    """Top answerers (the tool's definition) counted only at the question's hour of the day, +-1 hour."""
    roots = {m["ts"]: m["user"] for m in history if m.get("thread_ts") == m["ts"]}
    by_hour = collections.defaultdict(collections.Counter)
    for m in history:
        if m["user"] not in bots and m.get("thread_ts") and roots.get(m["thread_ts"]) not in (None, m["user"]):
            by_hour[hour_of(float(m["ts"]))][m["user"]] += 1
    overall = tool.top_answerers(history, bots)
    return {q["id"]: answerers_at_hour(overall, by_hour, hour_of(float(q["id"])), q["asker"]) for q in questions}


def ask(connective: list[str], db: str, questions, *, timed: bool) -> dict[str, list[str]]:
    lines = "".join(json.dumps({"id": q["id"], "text": q["text"], "asker": q["asker"],
                                **({"ts": q["id"]} if timed else {})}) + "\n" for q in questions)
    r = subprocess.run([*connective, "--db", db, "ask", "--json", "--top", "10"], input=lines,
                       capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"ask failed ({r.returncode}): {r.stderr[-2000:]}")
    rows = (json.loads(line) for line in r.stdout.splitlines() if line.strip())
    return {row["id"]: [e["user"] for e in row["experts"]] for row in rows}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("export", type=Path)
    p.add_argument("--connective", default="connective")
    p.add_argument("--tool", type=Path, default=TOOL, help="shared/tools/eval_whoknows.py")
    p.add_argument("--cut", type=float, default=0.7)
    a = p.parse_args()
    tool = load_tool(a.tool)
    users, channels, msgs, bots = tool.load(a.export)
    _, history, questions = tool.split(msgs, bots, a.cut)
    results, _ = tool.baselines(history, questions, bots)
    results["answers-at-hour"] = answers_at_hour(tool, history, questions, bots)
    with tempfile.TemporaryDirectory() as tmp:
        hist = Path(tmp) / "history"
        tool.write_history(a.export, users, channels, history, hist)
        db = f"sqlite:///{Path(tmp) / 'eval.db'}"
        cmd = a.connective.split()
        t = time.perf_counter()
        r = subprocess.run([*cmd, "--db", db, "import", "slack", str(hist)], capture_output=True, text=True)
        if r.returncode:
            raise SystemExit(f"import failed ({r.returncode}): {r.stderr[-2000:]}")
        print(f"{a.export.name}: imported {len(history)} messages in {time.perf_counter() - t:.0f} s; "
              f"{sum(q['answerable'] for q in questions)} answerable questions")
        product = {"replay": ask(cmd, db, questions, timed=False), "live": ask(cmd, db, questions, timed=True)}
    rankings = {**results, **{f"connective-{k}": v for k, v in product.items()}}
    table = report(tool, history, bots, questions, rankings)
    for mode, also in (("replay", ()), ("live", ("answers-at-hour",))):
        compare(mode, table[f"connective-{mode}"],
                {n: v for n, v in table.items() if n in results and (n != "answers-at-hour" or n in also)})


def report(tool, history, bots, questions, rankings: dict[str, dict[str, list[str]]]) -> dict[str, tuple]:
    """Each system's metrics and long-tail metrics (the tool's regulars), printed as a table."""
    regulars = frozenset(u for u, _ in tool.top_answerers(history, bots).most_common(5))
    table = {name: (tool.metrics(rk, questions), tool.metrics(rk, questions, exclude=regulars))
             for name, rk in rankings.items()}
    print(f"{'system':18} {'n':>5} {'MRR':>6} {'hit@1':>6} {'hit@5':>6} {'hit@10':>6} {'longtail':>8}")
    for name, (m, lt) in table.items():
        print(f"{name:18} {m['n']:5d} {m['mrr']:6.3f} {m['hit@1']:6.3f} {m['hit@5']:6.3f} {m['hit@10']:6.3f} "
              f"{lt['mrr']:8.3f}")
    return table


def compare(label: str, mine: tuple, baselines: dict[str, tuple]) -> None:
    """Ours against the best baseline, on MRR and on long-tail MRR, as the tool's last line says it."""
    best = max((v[0]["mrr"], n) for n, v in baselines.items())
    best_lt = max((v[1]["mrr"], n) for n, v in baselines.items())
    print(f"{label}: MRR {mine[0]['mrr']:.3f} = {mine[0]['mrr'] / best[0]:.2f}x best baseline ({best[1]} "
          f"{best[0]:.3f}); long-tail MRR {mine[1]['mrr']:.3f} = {mine[1]['mrr'] / max(best_lt[0], 1e-9):.2f}x "
          f"({best_lt[1]} {best_lt[0]:.3f})")

if __name__ == "__main__":
    main()
