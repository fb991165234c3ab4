"""Mentoring pairing figures on a synthetic community of free-text topics and real time zones.

1. Planning time for N participants (default 5,000): assign_pairs with the solver it picks, from
   fit matrix to pairs and reasons (target: under 10 s). Embedding the distinct topics with the real
   model is reported apart: the service embeds each distinct topic once and keeps it.
2. Quality of the sparse candidate solver against the exact optimum (linear_sum_assignment over all
   capacity slots) on the same instances: total fit of sparse / exact (target: at least 99%).
3. A second round with the first round as history (no repeats), and a greedy baseline (best fit
   first) for scale.

    python tests/benchmarks/bench_pairing.py                 # 5,000 participants, compares at 1,500 and 5,000
    python tests/benchmarks/bench_pairing.py --participants 20000 --compare 2000
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from datetime import date

import numpy as np

from bot.embedder import SentenceEmbedder
from bot.settings import Settings
from matching.pairing import PairingRules, Participant, assign_pairs, topic_fit_matrix
from matching.timezones import overlap_matrix

SUBJECTS = (
    "postgres query tuning, kubernetes operators, helm charts, react hooks, css grid layout, rust ownership, "
    "async python, python packaging, type hints and mypy, pandas dataframes, apache spark, kafka streams, "
    "terraform modules, docker images, nginx and tls, oauth and jwt, redis caching, graphql schemas, "
    "webpack and vite, pytest fixtures, ci pipelines, git workflows, linux performance, memory profiling, "
    "system design interviews, staff engineering, engineering management, giving feedback, "
    "salary negotiation, "
    "public speaking, technical writing, accessibility, design systems, mobile apps with swift, android and "
    "kotlin, go concurrency, java virtual threads, c++ templates, webassembly, machine learning basics, "
    "llm fine-tuning, prompt engineering, mlops pipelines, experiment tracking, data visualisation, "
    "dbt models, "
    "airflow dags, observability with prometheus, opentelemetry tracing, slos and error budgets, incident "
    "response, on-call, security reviews, threat modelling, cryptography basics, distributed systems, "
    "consensus algorithms, event sourcing, domain-driven design, microservices, api design, rest vs grpc, "
    "sql window functions, database indexing, geospatial data, time series databases, elasticsearch, "
    "search relevance, recommender systems, computer vision, nlp pipelines, statistics for engineers, "
    "a/b testing, product analytics, open source maintenance, code review, refactoring legacy code, "
    "test-driven development, functional programming, haskell, elixir and phoenix, ruby on rails, django, "
    "fastapi, flask, node.js, typescript generics, svelte, vue, angular, game development with unity, "
    "embedded c, rust on microcontrollers, fpga basics, robotics with ros, cloud costs, aws networking, "
    "gcp bigquery, azure devops, serverless functions, edge computing"
).split(", ")
QUALIFIERS = ("", "intro to ", "advanced ", "{} in production", "{} for beginners", "debugging {}")
ZONES = (
    ("America/Los_Angeles", 10),
    ("America/Denver", 3),
    ("America/Chicago", 6),
    ("America/New_York", 12),
    ("America/Toronto", 4),
    ("America/Sao_Paulo", 5),
    ("America/Mexico_City", 3),
    ("Europe/London", 10),
    ("Europe/Dublin", 2),
    ("Europe/Berlin", 10),
    ("Europe/Paris", 6),
    ("Europe/Madrid", 4),
    ("Europe/Warsaw", 4),
    ("Europe/Kyiv", 3),
    ("Africa/Lagos", 3),
    ("Africa/Nairobi", 2),
    ("Asia/Dubai", 2),
    ("Asia/Kolkata", 10),
    ("Asia/Singapore", 3),
    ("Asia/Shanghai", 4),
    ("Asia/Tokyo", 4),
    ("Australia/Sydney", 3),
    ("Pacific/Auckland", 1),
    ("UTC", 1),
)
DAY = date(2026, 12, 7)


def phrase(rng: random.Random) -> str:
    subject, q = rng.choice(SUBJECTS), rng.choice(QUALIFIERS)
    return q.format(subject) if "{}" in q else q + subject


def community(n: int, seed: int) -> list[Participant]:
    rng = random.Random(seed)
    zones, weights = zip(*ZONES, strict=True)
    people = []
    for k in range(n):
        role = rng.choices(("mentor", "mentee", "both"), weights=(25, 55, 20))[0]
        teach = tuple({phrase(rng) for _ in range(rng.randint(2, 4))}) if role != "mentee" else ()
        learn = tuple({phrase(rng) for _ in range(rng.randint(1, 3))}) if role != "mentor" else ()
        people.append(
            Participant(
                f"U{k:05d}",
                role,
                rng.choices(zones, weights)[0],
                can_teach=teach,
                wants_to_learn=learn,
                capacity=rng.choice((1, 1, 1, 2, 3)) if teach else 1,
            )
        )
    return people


def greedy_total(people: list[Participant], vectors: dict, rules: PairingRules) -> float:
    """Best fit first under the same constraints (threshold, time zones, capacity, nobody with themself)."""
    mentors = [p for p in people if p.mentors]
    mentees = [p for p in people if p.learns]
    fit = topic_fit_matrix([p.wants_to_learn for p in mentees], [p.can_teach for p in mentors], vectors)
    zones = sorted({p.timezone for p in people})
    overlap = overlap_matrix(zones, DAY, rules.working_hours)
    zi = {z: i for i, z in enumerate(zones)}
    tz_ok = (
        overlap[
            np.array([zi[p.timezone] for p in mentees])[:, None],
            np.array([zi[p.timezone] for p in mentors])[None, :],
        ]
        >= rules.min_overlap_hours
    )
    fit = np.where(tz_ok, fit, 0.0)
    order = np.argsort(-fit, axis=None)
    left = [p.capacity for p in mentors]
    taken = np.zeros(len(mentees), dtype=bool)
    total = 0.0
    for flat in order:
        i, j = divmod(int(flat), len(mentors))
        if fit[i, j] < rules.min_fit:
            break
        if taken[i] or left[j] == 0 or mentees[i].key == mentors[j].key:
            continue
        taken[i], left[j] = True, left[j] - 1
        total += float(fit[i, j])
    return total


def timed_plan(people, vectors, seed, solver, history=()):  # noqa: ANN001, ANN201
    started = time.perf_counter()
    plan = assign_pairs(
        people, topic_vectors=vectors, rng=random.Random(seed), on=DAY, history=history, solver=solver
    )
    return plan, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--participants", type=int, default=5000)
    parser.add_argument(
        "--compare",
        type=int,
        nargs="*",
        default=[1500, 5000],
        help="sizes at which the sparse solver is compared with the exact optimum",
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(f"seed {args.seed} (tie-breaking and the synthetic community)")

    embedder = SentenceEmbedder(Settings().resolved_model_path())
    embedder.encode(["warm up"])
    people = community(args.participants, args.seed)
    topics = sorted({t for p in people for t in (*p.can_teach, *p.wants_to_learn)})
    started, cpu = time.perf_counter(), time.process_time()
    vectors = dict(zip(topics, embedder.encode(topics), strict=True))
    embed_s, embed_cpu = time.perf_counter() - started, time.process_time() - cpu
    plan, plan_s = timed_plan(people, vectors, args.seed, "auto")
    n_mentees = sum(p.learns for p in people)
    print(
        f"\n1. {args.participants} participants ({n_mentees} mentees, {plan.stats['mentors']} mentors, "
        f"{plan.stats['slots']} capacity slots), {len(topics)} distinct topics"
    )
    print(f"   plan {plan_s:.2f} s ({plan.solver} solver)   [target < 10 s]")
    print(
        f"   embedding the {len(topics)} distinct topics (once; cached by the service): "
        f"{embed_s:.2f} s wall, "
        f"{embed_cpu:.2f} s CPU"
    )
    print(
        f"   {len(plan.pairs)} pairs, total fit {plan.total_fit:.1f}, mean fit "
        f"{plan.total_fit / max(1, len(plan.pairs)):.3f}, {len(plan.unmatched)} unmatched"
    )
    reasons: dict[str, int] = {}
    for u in plan.unmatched:
        reasons[u.reason] = reasons.get(u.reason, 0) + 1
    print(
        "   unmatched by reason: "
        + ", ".join(f"{r} {n}" for r, n in sorted(reasons.items(), key=lambda x: -x[1]))
    )
    greedy = greedy_total(people, vectors, PairingRules())
    print(
        f"   baseline, greedy best fit first under the same constraints: total fit {greedy:.1f} "
        f"({100 * greedy / plan.total_fit:.1f}% of this plan)"
    )

    second, second_s = timed_plan(
        people, vectors, args.seed + 1, "auto", history=[[(p.mentor, p.mentee) for p in plan.pairs]]
    )
    repeats = {(p.mentor, p.mentee) for p in plan.pairs} & {(p.mentor, p.mentee) for p in second.pairs}
    print(
        f"   next round with this one as history: {second_s:.2f} s, {len(second.pairs)} pairs, "
        f"{len(repeats)} repeated"
    )

    ok = plan_s < 10 and not repeats
    print("\n2. sparse candidate solver vs the exact optimum (same instance, same seed)")
    for n in args.compare:
        sample = community(n, args.seed + n)
        sample_topics = sorted({t for p in sample for t in (*p.can_teach, *p.wants_to_learn)})
        missing = [t for t in sample_topics if t not in vectors]
        if missing:
            vectors.update(zip(missing, embedder.encode(missing), strict=True))
        sparse, sparse_s = timed_plan(sample, vectors, args.seed, "sparse")
        exact, exact_s = timed_plan(sample, vectors, args.seed, "exact")
        ratio = sparse.total_fit / exact.total_fit if exact.total_fit else 1.0
        ok &= ratio >= 0.99
        print(
            f"   {n:>6} participants: exact {exact.total_fit:.2f} in {exact_s:.2f} s "
            f"({len(exact.pairs)} pairs); "
            f"sparse {sparse.total_fit:.2f} in {sparse_s:.2f} s ({len(sparse.pairs)} pairs): "
            f"{100 * ratio:.2f}% of optimum   [target >= 99%]"
        )
    print(f"\npeak resident memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print("OK" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
