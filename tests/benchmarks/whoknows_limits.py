"""Where "who knows X?" loses to the activity baselines in the shared eval's replay, and how far any fixed order
of members could go: the analysis behind issue 3's closing notes, kept runnable.

For each export, with the eval tool's split and questions and the product's rankings (tune_whoknows' cached
import and current code):
- MRR on the questions a regular answered (one of the five top answerers) and on the long tail, for the
  product and for "top answerers";
- the paired bootstrap of the product's MRR over top answerers' and over most active's (the same resampled
  questions for both; 5,000 resamples, 95% interval);
- the ceiling of any fixed order of members: members ordered by how many of the evaluation questions they
  answered first, which knows the answers (an activity prior can only do worse).

    python tests/benchmarks/whoknows_limits.py ../shared/data/dev/racket-2017 [more exports...]
"""
from __future__ import annotations

import asyncio
import collections
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tune_whoknows import (  # noqa: E402
    exports_parser,
    fixed_order,
    parse_exports,
    product_rankings,
    reciprocal_ranks,
)

RESAMPLES = 5000


def bootstrap(mine: np.ndarray, theirs: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    picks = rng.integers(0, len(mine), size=(RESAMPLES, len(mine)))
    ratios = mine[picks].mean(1) / np.maximum(theirs[picks].mean(1), 1e-12)
    return float(np.quantile(ratios, 0.025)), float(np.quantile(ratios, 0.975))


async def analyse(export: Path, work: Path, ev) -> None:
    history, bots, questions, rankings = await product_rankings(export, work, ev, refit=True)
    questions = [q for q in questions if q["answerable"]]
    answers = ev.top_answerers(history, bots)
    regulars = {u for u, _ in answers.most_common(5)}
    active = collections.Counter(m["user"] for m in history if m["user"] not in bots)
    systems = {"product": rankings,
               "top-answerers": fixed_order([u for u, _ in answers.most_common()], questions),
               "most-active": fixed_order([u for u, _ in active.most_common()], questions)}
    rr = {name: reciprocal_ranks(r, questions) for name, r in systems.items()}
    is_regular = np.array([q["answerer"] in regulars for q in questions])
    print(f"{export.name}: {len(questions)} answerable questions, {int(is_regular.sum())} answered by a regular")
    for name in ("product", "top-answerers"):
        print(f"  {name:14} MRR {rr[name].mean():.3f}  regulars' questions {rr[name][is_regular].mean():.3f}  "
              f"long tail {rr[name][~is_regular].mean():.3f}")
    rng = np.random.default_rng(0)
    for name in ("top-answerers", "most-active"):
        low, high = bootstrap(rr["product"], rr[name], rng)
        print(f"  product / {name}: {rr['product'].mean() / max(rr[name].mean(), 1e-12):.2f}x "
              f"(95% interval {low:.2f}-{high:.2f})")
    first = collections.Counter(q["answerer"] for q in questions)
    oracle = reciprocal_ranks(fixed_order([u for u, _ in first.most_common()], questions), questions).mean()
    best = max(rr["top-answerers"].mean(), rr["most-active"].mean())
    print(f"  best fixed order, knowing the answers: MRR {oracle:.3f} = {oracle / best:.2f}x the better of "
          f"top-answerers and most-active ({best:.3f}); the bar is 1.1x the best of all four baselines")


async def main() -> None:
    a, ev = parse_exports(exports_parser("/tmp/connective-tune"))
    for export in a.exports:
        await analyse(export, a.work, ev)


if __name__ == "__main__":
    asyncio.run(main())
