"""The in-process vector index: exact below LARGE rows; partitioned (inverted file) above, still returning
exact similarities, finding rows added after the partitioning and never returning removed ones."""
from __future__ import annotations

import numpy as np
import pytest

import matching.vector_index as vi


def _clustered(n: int, rng: np.random.Generator) -> np.ndarray:
    topics = rng.standard_normal((40, 384)).astype(np.float32)
    m = topics[rng.integers(0, 40, n)] * 0.35 + rng.standard_normal((n, 384)).astype(np.float32) * 0.1
    return m / np.linalg.norm(m, axis=1, keepdims=True)


@pytest.fixture
def small_large(monkeypatch):
    monkeypatch.setattr(vi, "LARGE", 1_000)


async def test_partitioned_search_matches_exact_search(small_large):
    rng = np.random.default_rng(3)
    matrix = _clustered(6_000, rng)
    index = vi.NumpyVectorIndex()
    index.add(1, np.arange(10_000, 16_000), matrix)
    index.prepare(1)  # as a load does
    recalls = []
    for q in matrix[rng.choice(6_000, 30, replace=False)]:
        found = await index.search(1, q, 20)
        exact = set((np.argsort(-(matrix @ q))[:20] + 10_000).tolist())
        recalls.append(len({mid for mid, _ in found} & exact) / 20)
        for mid, sim in found:  # similarities are exact, best first
            assert sim == pytest.approx(float(matrix[mid - 10_000] @ q), abs=1e-5)
        assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
    assert index._blocks[1].centroids is not None  # the partitioned path ran
    assert np.mean(recalls) >= 0.95


async def test_partitioned_search_sees_new_and_not_removed_rows(small_large):
    rng = np.random.default_rng(4)
    matrix = _clustered(3_000, rng)
    index = vi.NumpyVectorIndex()
    index.add(7, np.arange(3_000), matrix)
    query = _clustered(1, rng)[0]
    index.prepare(7)
    index.add(7, np.array([99_999]), query[None, :])  # a new message saying exactly the question
    found = await index.search(7, query, 5)
    assert found[0] == (99_999, pytest.approx(1.0, abs=1e-5))
    index.remove(7, [99_999, found[1][0]])
    again = [mid for mid, _ in await index.search(7, query, 5)]
    assert 99_999 not in again and found[1][0] not in again and len(again) == 5
    assert await index.search(8, query, 5) == []  # another community sees nothing


async def test_a_block_that_grew_is_repartitioned_in_the_background_and_searches_stay_exact(small_large):
    rng = np.random.default_rng(5)
    matrix = _clustered(3_000, rng)
    index = vi.NumpyVectorIndex()
    index.add(2, np.arange(2_000), matrix[:2_000])
    index.prepare(2)
    block = index._blocks[2]
    assert block.partitioned_n == 2_000
    index.add(2, np.arange(2_000, 3_000), matrix[2_000:])  # live messages: half as many again
    queries = matrix[rng.choice(3_000, 20, replace=False)]

    async def check() -> None:
        for q in queries:
            found = await index.search(2, q, 10)
            exact = np.argsort(-(matrix @ q))[:10]
            assert found[0][0] == exact[0]  # the message itself, new or old
            for mid, sim in found:
                assert sim == pytest.approx(float(matrix[mid] @ q), abs=1e-5)

    await check()  # the first search starts the re-partitioning and does not wait for it
    task = index._repartitions[2]
    assert block.partitioned_n == 2_000  # old partitions (and an exact scan of the new rows) meanwhile
    await task
    assert block.partitioned_n == 3_000 and 2 not in index._repartitions
    await check()  # the same answers from the rows in their new order
    ids = set(block.ids[: block.n].tolist())
    assert ids == set(range(3_000))  # every row kept, once


@pytest.mark.parametrize("rows", [500, 3_000], ids=["exact", "partitioned"])
async def test_a_message_added_again_is_found_once_with_its_new_vector(small_large, rows):
    """An edit stores a message's vector again: it replaces the old one, as the one row per message of pgvector
    does (the old row stayed beside it, and its similarity stood for the new text)."""
    rng = np.random.default_rng(6)
    matrix = _clustered(rows, rng)
    index = vi.NumpyVectorIndex()
    index.add(3, np.arange(rows), matrix)
    index.prepare(3)
    query = matrix[10]
    elsewhere = -query  # the edit says something else entirely
    index.add(3, np.array([10]), elsewhere[None, :])
    found = await index.search(3, query, rows)
    assert len(found) == len({mid for mid, _ in found}) == rows
    assert dict(found)[10] == pytest.approx(-1.0, abs=1e-5) and found[-1][0] == 10
    assert await index.similarities(3, query, [10, 11]) == {10: pytest.approx(-1.0, abs=1e-5),
                                                            11: pytest.approx(float(matrix[11] @ query), abs=1e-5)}
    index.add(3, np.array([10]), query[None, :])  # and back
    again = await index.search(3, query, 5)
    assert again[0] == (10, pytest.approx(1.0, abs=1e-5)) and 10 not in [mid for mid, _ in again[1:]]
    index.remove(3, [10])
    assert 10 not in [mid for mid, _ in await index.search(3, query, rows)]
    assert (await index.similarities(3, query, [10, 11])).keys() == {11}  # removed: no similarity either
    assert await index.similarities(4, query, [11]) == {}  # another community's message is not this one's
