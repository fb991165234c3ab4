"""Nearest messages to a query vector, behind one interface.

NumpyVectorIndex: in process (the default). Up to LARGE rows the search is an exact scan; above,
a scan over a PCA projection (a quarter of the bytes: the scan is memory-bound) picks candidates
that are then re-scored exactly, so the top hits are exact cosine similarities. The pgvector index
lives in bot/ because it queries the database; both return (message id, cosine similarity) pairs,
best first.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np


class VectorIndex(Protocol):
    async def search(self, community_id: int, query: np.ndarray, k: int) -> list[tuple[int, float]]: ...

    def add(self, community_id: int, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, community_id: int, ids: list[int]) -> None: ...


LARGE = 50_000  # rows from which the two-stage search pays off
REDUCED_DIM = 96
CANDIDATES = 20  # candidates per wanted hit re-scored exactly


class _Block:
    """Vectors of one community in a growable matrix (appends are amortised O(1))."""

    def __init__(self, dim: int) -> None:
        self.ids = np.zeros(0, dtype=np.int64)
        self.matrix = np.zeros((0, dim), dtype=np.float32)
        self.n = 0
        self.dead: set[int] = set()
        self.projection: np.ndarray | None = None  # dim x REDUCED_DIM
        self.reduced: np.ndarray | None = None  # rows projected when it was built
        self.reduced_n = 0

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
        self.dead.difference_update(int(i) for i in ids)

    def _ensure_reduced(self) -> None:
        if self.reduced is not None and self.n < 1.2 * self.reduced_n:
            return  # rows added since are scanned exactly
        rng = np.random.default_rng(0)
        sample = self.matrix[rng.choice(self.n, size=min(self.n, 20_000), replace=False)]
        # Principal directions of this community's vectors (uncentred: similarities are dot products).
        _, _, vt = np.linalg.svd(sample, full_matrices=False)
        self.projection = np.ascontiguousarray(vt[:REDUCED_DIM].T)
        self.reduced = self.matrix[: self.n] @ self.projection
        self.reduced_n = self.n

    def top(self, query: np.ndarray, want: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows and exact similarities of the `want` best rows (unordered)."""
        if self.n < LARGE:
            sims = self.matrix[: self.n] @ query
            rows = np.argpartition(-sims, want - 1)[:want] if want < self.n else np.arange(self.n)
            return rows, sims[rows]
        self._ensure_reduced()
        approx = self.reduced @ (self.projection.T @ query)
        pool = min(want * CANDIDATES, self.reduced_n)
        rows = np.argpartition(-approx, pool - 1)[:pool]
        if self.n > self.reduced_n:
            rows = np.concatenate([rows, np.arange(self.reduced_n, self.n)])
        sims = self.matrix[rows] @ query
        best = np.argpartition(-sims, want - 1)[:want] if want < len(rows) else np.arange(len(rows))
        return rows[best], sims[best]


class NumpyVectorIndex:
    def __init__(self, dim: int = 384) -> None:
        self.dim = dim
        self._blocks: dict[int, _Block] = {}

    def reserve(self, community_id: int, rows: int) -> None:
        """Allocate room for `rows` vectors at once (a load then never copies the matrix to grow it)."""
        self._blocks.setdefault(community_id, _Block(self.dim)).reserve(rows)

    def add(self, community_id: int, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self._blocks.setdefault(community_id, _Block(self.dim)).add(
                np.asarray(ids, dtype=np.int64), np.asarray(vectors, dtype=np.float32)
            )

    def remove(self, community_id: int, ids: list[int]) -> None:
        block = self._blocks.get(community_id)
        if block is not None:
            block.dead.update(ids)

    def size(self, community_id: int) -> int:
        block = self._blocks.get(community_id)
        return block.n if block else 0

    async def search(self, community_id: int, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        return self.search_sync(community_id, query, k)

    def search_sync(self, community_id: int, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        block = self._blocks.get(community_id)
        if block is None or block.n == 0:
            return []
        want = min(k + len(block.dead), block.n)
        rows, sims = block.top(np.asarray(query, dtype=np.float32), want)
        order = np.argsort(-sims, kind="stable")
        out = []
        for i in order:
            mid = int(block.ids[rows[i]])
            if mid not in block.dead:
                out.append((mid, float(sims[i])))
                if len(out) == k:
                    break
        return out
