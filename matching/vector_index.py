"""Nearest messages to a query vector, behind one interface.

NumpyVectorIndex: in process (the default). Up to LARGE rows the search is an exact scan; above,
the rows are partitioned once by spherical k-means (an inverted file, as IVF indexes do) and a query
scans exactly only the partitions whose centroids are nearest to it, at least PROBE_SHARE of the rows:
the hits are exact cosine similarities, only a few far ones can be missed. Rows added after the
partitioning are scanned exactly until they reach a fifth of the block, then it is re-partitioned in
a worker thread (searches meanwhile use the old partitions). A removed or replaced row is retired where
it stands (its id no longer names a message) rather than moved out, which would undo the partition order.
The pgvector index lives in bot/ because it queries the database; both keep one vector per message (the
latest added) and return (message id, cosine similarity) pairs, best first, each message once; `similarities` gives
the similarity of given messages however far they are (the evidence shown is held to it).
"""
from __future__ import annotations

import asyncio
import logging
from functools import cache
from typing import Protocol

import numpy as np
from scipy import sparse
from threadpoolctl import ThreadpoolController


class VectorIndex(Protocol):
    async def search(self, community_id: int, query: np.ndarray, k: int) -> list[tuple[int, float]]: ...

    async def similarities(self, community_id: int, query: np.ndarray, ids: list[int]) -> dict[int, float]:
        """The cosine similarity of each of these messages to the query (those with a vector), however far."""

    def add(self, community_id: int, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Vectors of stored messages; one for a message the index has replaces its old one (an edit)."""

    def remove(self, community_id: int, ids: list[int]) -> None: ...


log = logging.getLogger(__name__)

LARGE = 50_000  # rows from which the partitioned search pays off
PROBE_SHARE = 1 / 24  # share of the rows a query scans at least (nearest partitions first)
KMEANS_ROUNDS = 6
RETIRED = -1  # the id of a row whose message was removed or has a newer vector


def spherical_kmeans(sample: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k unit centroids of unit vectors (cosine k-means); a few rounds suffice for partitioning."""
    centroids = sample[rng.choice(len(sample), size=k, replace=False)].copy()
    for _ in range(KMEANS_ROUNDS):
        assign = np.argmax(sample @ centroids.T, axis=1)
        onehot = sparse.csr_matrix((np.ones(len(sample), dtype=np.float32), (assign, np.arange(len(sample)))),
                                   shape=(k, len(sample)))
        sums = np.asarray(onehot @ sample)
        norms = np.linalg.norm(sums, axis=1)
        empty = norms == 0  # a centroid nobody chose restarts on a random row
        sums[empty] = sample[rng.choice(len(sample), size=int(empty.sum()))]
        centroids = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    return centroids.astype(np.float32)


@cache
def _blas() -> ThreadpoolController:
    return ThreadpoolController()


def one_blas_thread():  # noqa: ANN201 (threadpoolctl's context manager)
    """BLAS on one thread for the block: many small products (a scan, a fit's loss) spend more time waking a
    second thread than computing, and stall when the other core is busy."""
    return _blas().limit(limits=1, user_api="blas")


class _Block:
    """Vectors of one community in a growable matrix (appends are amortised O(1))."""

    def __init__(self, dim: int) -> None:
        self.ids = np.zeros(0, dtype=np.int64)
        self.matrix = np.zeros((0, dim), dtype=np.float32)
        self.n = 0
        self.retired = 0  # rows that are no message's any more (a search asks for as many more)
        self.centroids: np.ndarray | None = None  # partitions, when the block is large
        self.starts: np.ndarray | None = None  # where each partition's rows begin (rows are kept in partition order)
        self.partitioned_n = 0

    def reserve(self, rows: int) -> None:
        if rows > len(self.ids):
            ids_new = np.zeros(rows, dtype=np.int64)
            mat_new = np.zeros((rows, self.matrix.shape[1]), dtype=np.float32)
            ids_new[: self.n] = self.ids[: self.n]
            mat_new[: self.n] = self.matrix[: self.n]
            self.ids, self.matrix = ids_new, mat_new

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        need = self.n + len(ids)
        if need > len(self.ids):
            self.reserve(max(need, 2 * len(self.ids), 1024))
        self.ids[self.n : need] = ids
        self.matrix[self.n : need] = vectors
        self.n = need

    def retire(self, ids: np.ndarray) -> None:
        """Rows of these messages are no longer returned. A scan of the ids: under 1 ms at 1M rows for a live
        message; a 1M-row load in 5,000-row parts spends 0.12 s in it (0.5 s when the rows come shuffled)."""
        if len(ids) and self.n:
            rows = np.isin(self.ids[: self.n], ids)
            self.ids[: self.n][rows] = RETIRED
            self.retired += int(rows.sum())

    def stale(self) -> bool:
        """Large, and not partitioned yet or grown by a fifth since (new rows are scanned exactly until then)."""
        return self.n >= LARGE and (self.centroids is None or self.n >= 1.2 * self.partitioned_n)

    def plan(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Centroids, and the partition of each of the first `n` rows. Only reads those rows, which appends
        never change (a reallocated matrix holds the same), so it can run off the event loop."""
        matrix = self.matrix
        rng = np.random.default_rng(0)
        k = max(int(np.sqrt(n)), 1)
        sample = matrix[np.sort(rng.choice(n, size=min(n, 40 * k), replace=False))]
        centroids = spherical_kmeans(sample, k, rng)
        # In slices of 10,000 rows: the similarities of a slice to ~450 centroids (200k rows) are then 18 MB
        # at a time, not the 90 MB that peaked the memory of a load.
        assign = np.concatenate([np.argmax(matrix[i : min(i + 10_000, n)] @ centroids.T, axis=1)
                                 for i in range(0, n, 10_000)])
        return centroids, assign

    def apply(self, n: int, centroids: np.ndarray, assign: np.ndarray) -> None:
        """Take the plan for the first `n` rows: they move into partition order, so a probe reads contiguous
        slices instead of gathering scattered rows (4x faster); a few columns at a time, so the move needs
        little memory. Rows appended after the first `n` stay where they are and are scanned exactly."""
        order = np.argsort(assign, kind="stable")
        for j in range(0, self.matrix.shape[1], 32):
            self.matrix[:n, j : j + 32] = self.matrix[order, j : j + 32]
        self.ids[:n] = self.ids[order]
        self.starts = np.searchsorted(assign[order], np.arange(len(centroids) + 1))
        self.centroids, self.partitioned_n = centroids, n

    def top(self, query: np.ndarray, want: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows and exact similarities of the `want` best rows (unordered)."""
        if self.centroids is None:  # small, or large and not partitioned yet
            sims = self.matrix[: self.n] @ query
            rows = np.argpartition(-sims, want - 1)[:want] if want < self.n else np.arange(self.n)
            return rows, sims[rows]
        nearest = np.argsort(-(self.centroids @ query))
        sizes = np.diff(self.starts)[nearest]
        enough = int(np.searchsorted(np.cumsum(sizes), max(PROBE_SHARE * self.partitioned_n, 20 * want))) + 1
        spans = [(self.starts[c], self.starts[c + 1]) for c in nearest[:enough]]
        if self.n > self.partitioned_n:
            spans.append((self.partitioned_n, self.n))
        rows = np.concatenate([np.arange(lo, hi) for lo, hi in spans])
        sims = np.concatenate([self.matrix[lo:hi] @ query for lo, hi in spans])
        best = np.argpartition(-sims, want - 1)[:want] if want < len(rows) else np.arange(len(rows))
        return rows[best], sims[best]


class NumpyVectorIndex:
    def __init__(self, dim: int = 384) -> None:
        self.dim = dim
        self._blocks: dict[int, _Block] = {}
        self._repartitions: dict[int, asyncio.Task] = {}
        self._fixed: dict[int, asyncio.Lock] = {}

    def rows_fixed(self, community_id: int) -> asyncio.Lock:
        """Held, no re-partitioning moves a block's rows: they can be read off the event loop (appends only add rows
        past the first `n`, and a reallocation leaves the old matrix as it was)."""
        return self._fixed.setdefault(community_id, asyncio.Lock())

    def reserve(self, community_id: int, rows: int) -> None:
        """Allocate room for `rows` vectors at once (a load then never copies the matrix to grow it)."""
        self._blocks.setdefault(community_id, _Block(self.dim)).reserve(rows)

    def add(self, community_id: int, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Appended, after retiring the rows the messages had: an edited message's old vector must not be
        found beside its new one (its old similarity would stand for its new text)."""
        if len(ids):
            ids = np.asarray(ids, dtype=np.int64)
            block = self._blocks.setdefault(community_id, _Block(self.dim))
            block.retire(ids)
            block.add(ids, np.asarray(vectors, dtype=np.float32))

    def remove(self, community_id: int, ids: list[int]) -> None:
        block = self._blocks.get(community_id)
        if block is not None:
            block.retire(np.asarray(ids, dtype=np.int64))

    def prepare(self, community_id: int) -> None:
        """Partition a large block now (after a load, before anything else can use it; blocking)."""
        block = self._blocks.get(community_id)
        if block is not None and block.stale():
            block.apply(block.n, *block.plan(block.n))

    async def _repartition(self, community_id: int, block: _Block) -> None:
        """Partition a block that grew, off the event loop; searches meanwhile use the old partitions and
        scan the new rows exactly. Only the move of the rows into the new order runs on the loop."""
        try:
            n = block.n
            plan = await asyncio.to_thread(block.plan, n)
            async with self.rows_fixed(community_id):
                if self._blocks.get(community_id) is block:  # not forgotten meanwhile
                    block.apply(n, *plan)
        except Exception:  # the search still works unpartitioned: log, and try again on a later search
            log.exception("re-partitioning the vectors of community %d failed", community_id)
        finally:
            if self._repartitions.get(community_id) is asyncio.current_task():  # not a newer block's
                del self._repartitions[community_id]

    def size(self, community_id: int) -> int:
        block = self._blocks.get(community_id)
        return block.n if block else 0

    async def search(self, community_id: int, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        block = self._blocks.get(community_id)
        if block is not None and block.stale() and community_id not in self._repartitions:
            self._repartitions[community_id] = asyncio.create_task(self._repartition(community_id, block))
        return self.search_sync(community_id, query, k)

    async def similarities(self, community_id: int, query: np.ndarray, ids: list[int]) -> dict[int, float]:
        block = self._blocks.get(community_id)
        if block is None or not ids:
            return {}
        # A scan of the ids (retired rows hold RETIRED, never a message's id): 0.9 ms for 50 ids of 200,000 rows.
        rows = np.flatnonzero(np.isin(block.ids[: block.n], np.asarray(ids, dtype=np.int64)))
        sims = block.matrix[rows] @ np.asarray(query, dtype=np.float32)
        return {int(block.ids[r]): float(s) for r, s in zip(rows, sims, strict=True)}

    def search_sync(self, community_id: int, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        block = self._blocks.get(community_id)
        if block is None or block.n == 0:
            return []
        want = min(k + block.retired, block.n)
        # One BLAS thread: the scan is memory-bound, and a second thread only stalls when the other core is
        # busy (encoding, another process), which made searches 4x slower under load.
        with one_blas_thread():
            rows, sims = block.top(np.asarray(query, dtype=np.float32), want)
        order = np.argsort(-sims, kind="stable")
        out = []
        for i in order:
            mid = int(block.ids[rows[i]])
            if mid != RETIRED:
                out.append((mid, float(sims[i])))
                if len(out) == k:
                    break
        return out
