"""`connective eval`'s service: the questions it asks, a sample of them, and the progress it reports."""
from __future__ import annotations

import random
from contextlib import contextmanager

from sqlalchemy import select

from bot.db.models import Community
from bot.services.evaluation import EvalQuestion, evaluate, sample_questions


def _questions(n: int) -> list[EvalQuestion]:
    return [EvalQuestion(i, f"question {i}", "UASK", "UANS", 1_700_000_000.0 + 60 * i) for i in range(n)]


def test_a_sample_is_the_same_for_the_same_seed_and_in_time_order():
    questions = _questions(100)
    first = sample_questions(questions, 10, random.Random(7))
    assert first == sample_questions(questions, 10, random.Random(7))
    assert first != sample_questions(questions, 10, random.Random(8))
    assert len(first) == 10 and first == sorted(first, key=lambda q: q.ts)
    assert sample_questions(questions, None, random.Random(7)) == questions  # the default: all of them
    assert sample_questions(questions, 500, random.Random(7)) == questions


async def test_evaluate_asks_a_sample_and_reports_its_progress(sample_app):
    bars: list[tuple[str, int, list[int]]] = []

    @contextmanager
    def progress(total: int, label: str):  # noqa: ANN202
        bars.append((label, total, []))
        yield bars[-1][2].append

    async with sample_app.db.sessions() as session:
        cid = await session.scalar(select(Community.id).where(Community.platform == "slack"))
    result = await evaluate(sample_app.expertise, cid, sample=3, rng=random.Random(0), progress=progress)
    assert result["questions"] == 3 < result["answered_questions"]
    assert all(row["n"] == 3 for row in result["systems"].values())
    [(label, total, steps)] = [bar for bar in bars if bar[0].startswith("asking")]
    assert total == 3 and sum(steps) == 3
