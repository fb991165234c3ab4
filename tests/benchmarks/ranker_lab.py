"""Ranker lab: the who-knows fit and ranking of tune_whoknows.py replayed from cached features, so a way of fitting
is measured over several lag seeds in seconds rather than minutes.

Captured once per export and lag seed (under --work, beside tune_whoknows.py's imports, which it makes if missing):
the fit's replay examples (matching.fit.build_examples at that LAG_SEED) and every eval question's candidates and
features as the product ranks them (an untimed replay through ExpertiseService.rank). Then a fitter, a function from
replay examples [(features, truth index, weight)] to a scorer (a question's feature matrix -> one score per
candidate, highest first), is fitted per seed and scored with the eval tool's own metrics:

    python tests/benchmarks/ranker_lab.py PATH/TO/EXPORT [...] --eval PATH/TO/eval_whoknows.py --seeds 0 1 2 3

prints the product's fit (fit_weights' untimed model), which reproduces tune_whoknows.py --lag-seed N exactly (4 s for
the four dev communities and four seeds, once captured). `--fitter FILE.py:NAME` measures a fitter of your own beside
it; or import the module and pass yours to `measure(load_labs(...), fitter, ...)`. A capture is of the code that
made it: it is made again when FEATURES changed, and --recapture forces it (after a change to the features' values).

Untimed replays only (the eval tool's protocol); skills, "not my area" and claims play no part there.
"""
from __future__ import annotations

import asyncio
import pickle
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tune_whoknows import BASELINES, DEFAULT_CUT, exports_parser, load_eval, parse_exports, product_rankings

import matching.fit as fit
import matching.ranking as ranking

Scorer = Callable[[np.ndarray], np.ndarray]
Fitter = Callable[[list], Scorer]


async def capture(export: Path, work: Path, ev, seeds: list[int]) -> dict:
    """The eval questions' candidates (platform user ids) and features, and the replay examples for each seed."""
    from bot.app import build_app
    from bot.repo import list_communities
    from bot.settings import Settings

    asked: dict[str, tuple[list[str], np.ndarray]] = {}
    real, current = ranking.features, {}

    def spy(corpus, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        cands, feats, evidence = real(corpus, *args, **kwargs)
        current["question"] = ([corpus.members[int(m)] for m in cands], feats.copy())
        return cands, feats, evidence

    ranking.features = spy
    try:
        history, bots, questions, rankings = await product_rankings(
            export, work, ev, refit=False, weights=ranking.DEFAULT_MODEL, top=10,
            on_ranked=lambda q: asked.__setitem__(q["id"], current.pop("question")) if "question" in current else None)
    finally:
        ranking.features = real
    del rankings
    app = build_app(Settings(database_url=f"sqlite:///{work / f'{export.name}.db'}"))
    async with app.db.sessions() as s:
        cid = (await list_communities(s))[0].id
    corpus = (await app.expertise.corpus(cid)).frozen()
    vectors, has = await app.expertise._aligned_vectors(cid, corpus)
    await app.close()
    replay = {}
    saved = fit.LAG_SEED
    try:
        for seed in seeds:
            fit.LAG_SEED = seed
            replay[seed] = fit.build_examples(corpus, vectors, has)[1]
    finally:
        fit.LAG_SEED = saved
    return {"features": list(ranking.FEATURES), "eval": asked, "questions": questions, "replay": replay,
            "regulars": frozenset(u for u, _ in ev.top_answerers(history, bots).most_common(5))}


async def load_labs(exports: list[Path], work: Path, ev, seeds: list[int], *, recapture: bool = False) -> dict:
    labs = {}
    for export in exports:
        path = work / f"{export.name}.lab.pkl"
        lab = pickle.loads(path.read_bytes()) if path.exists() and not recapture else None
        if lab is None or lab["features"] != list(ranking.FEATURES) or not set(seeds) <= set(lab["replay"]):
            lab = await capture(export, work, ev, seeds)
            path.write_bytes(pickle.dumps(lab))
        labs[export.name] = lab
    return labs


def score_questions(lab: dict, scorer: Scorer, ev) -> tuple[float, float]:
    """MRR and long-tail MRR of a scorer on the lab's eval questions (the eval tool's metrics)."""
    rankings = {}
    for qid, (users, feats) in lab["eval"].items():
        order = np.argsort(-scorer(feats), kind="stable")[:10]  # as rank_experts orders
        rankings[qid] = [users[i] for i in order]
    m = ev.metrics(rankings, lab["questions"])
    lt = ev.metrics(rankings, lab["questions"], exclude=lab["regulars"])
    return m["mrr"], lt["mrr"]


def measure(labs: dict, fitter: Fitter, ev, seeds: list[int], label: str = "") -> dict[str, np.ndarray]:
    """Per export, per seed: the MRR and long-tail MRR as ratios to the best baselines (tune_whoknows.BASELINES).
    Prints the seed-averaged ratios and the long-tail mean over the exports."""
    t = time.perf_counter()
    out = {}
    for name, lab in labs.items():
        base, base_lt = BASELINES.get(name, (float("nan"), float("nan")))
        rows = []
        for seed in seeds:
            mrr, lt = score_questions(lab, fitter(lab["replay"][seed]), ev)
            rows.append((mrr / base, lt / base_lt))
        out[name] = np.array(rows)
    means = "  ".join(f"{name} {r[:, 0].mean():.3f}" for name, r in out.items())
    lt_mean = np.mean([r[:, 1] for r in out.values()])
    print(f"{means}  long tail {lt_mean:.3f}  ({time.perf_counter() - t:.0f} s) {label}")
    for name, r in out.items():
        print(f"  {name}: " + " ".join(f"{x:.2f}/{y:.2f}" for x, y in r))
    return out


def product_fitter(replay: list) -> Scorer:
    """The product's untimed model: fit_weights on these replay examples (its live model is fitted and unused)."""
    result = fit.fit_weights(replay, replay)
    model = ranking.DEFAULT_MODEL if result is None else result.untimed
    return lambda feats: ranking.mixture(feats, model)


async def main() -> None:
    p = exports_parser("/tmp/connective-tune")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3], help="lag seeds (matching.fit.LAG_SEED)")
    p.add_argument("--recapture", action="store_true", help="capture again (the features' values changed)")
    p.add_argument("--fitter", action="append", default=[], help="FILE.py:NAME, a fitter to measure as well")
    a, ev = parse_exports(p)
    labs = await load_labs(a.exports, a.work, ev, a.seeds, recapture=a.recapture)
    measure(labs, product_fitter, ev, a.seeds, "the product's fit")
    for spec in a.fitter:
        file, _, name = spec.rpartition(":")
        measure(labs, getattr(load_eval(Path(file)), name), ev, a.seeds, spec)


if __name__ == "__main__":
    assert DEFAULT_CUT == 0.7, "the lab compares with tune_whoknows.BASELINES, measured at the eval tool's cut"
    asyncio.run(main())
