"""Nearest messages to a query vector, behind one interface.

NumpyVectorIndex: exact, in process (the default). The pgvector index lives in bot/ because it
queries the database; both return (message id, cosine similarity) pairs, best first.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np


class VectorIndex(Protocol):
    async def search(self, community_id: int, query: np.ndarray, k: int) -> list[tuple[int, float]]: ...

    def add(self, community_id: int, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, community_id: int, ids: list[int]) -> None: ...


class _Block:
    """Vectors of one community in a growable matrix (appends are amortised O(1))."""

    def __init__(self, dim: int) -> None:
        self.ids = np.zeros(0, dtype=np.int64)
        self.matrix = np.zeros((0, dim), dtype=np.float32)
        self.n = 0
        self.dead: set[int] = set()

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        need = self.n + len(ids)
        if need > len(self.ids):
            cap = max(need, 2 * len(self.ids), 1024)
            ids_new = np.zeros(cap, dtype=np.int64)
            mat_new = np.zeros((cap, self.matrix.shape[1]), dtype=np.float32)
            ids_new[: self.n] = self.ids[: self.n]
            mat_new[: self.n] = self.matrix[: self.n]
            self.ids, self.matrix = ids_new, mat_new
        self.ids[self.n : need] = ids
        self.matrix[self.n : need] = vectors
        self.n = need
        self.dead.difference_update(int(i) for i in ids)


class NumpyVectorIndex:
    def __init__(self, dim: int = 384) -> None:
        self.dim = dim
        self._blocks: dict[int, _Block] = {}

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
        sims = block.matrix[: block.n] @ np.asarray(query, dtype=np.float32)
        want = min(k + len(block.dead), block.n)
        top = np.argpartition(-sims, want - 1)[:want] if want < block.n else np.arange(block.n)
        top = top[np.argsort(-sims[top], kind="stable")]
        out = []
        for i in top:
            mid = int(block.ids[i])
            if mid not in block.dead:
                out.append((mid, float(sims[i])))
                if len(out) == k:
                    break
        return out
