"""pgvector search: the vectors stay in PostgreSQL, an HNSW index answers nearest-neighbour queries."""
from __future__ import annotations

import numpy as np
from sqlalchemy import text

from bot.db.engine import Database


class PgVectorIndex:
    def __init__(self, db: Database, *, ef_search: int = 200) -> None:
        self.db = db
        self.ef_search = ef_search

    def add(self, community_id: int, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Nothing to do: vectors are rows of message_vector, written by the ingest service."""

    def remove(self, community_id: int, ids: list[int]) -> None:
        """Nothing to do: rows are deleted with their messages."""

    async def search(self, community_id: int, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        literal = _literal(query)
        async with self.db.engine.connect() as conn:
            # At most 1,000 (pgvector's limit); the iterative scan goes on for a larger k (a replay searches further).
            await conn.execute(text(f"SET LOCAL hnsw.ef_search = {min(max(self.ef_search, k), 1000)}"))
            await conn.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
            rows = await conn.execute(
                text("SELECT message_id, 1 - (embedding <=> CAST(:q AS vector)) AS sim FROM message_vector "
                     "WHERE community_id = :c ORDER BY embedding <=> CAST(:q AS vector) LIMIT :k"),
                {"q": literal, "c": community_id, "k": k},
            )
            return [(int(r[0]), float(r[1])) for r in rows]

    async def similarities(self, community_id: int, query: np.ndarray, ids: list[int]) -> dict[int, float]:
        if not ids:
            return {}
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT message_id, 1 - (embedding <=> CAST(:q AS vector)) FROM message_vector "
                     "WHERE community_id = :c AND message_id = ANY(:ids)"),
                {"q": _literal(query), "c": community_id, "ids": [int(i) for i in ids]},
            )
            return {int(r[0]): float(r[1]) for r in rows}


def _literal(vector: np.ndarray) -> str:
    """pgvector's text form of a vector."""
    return "[" + ",".join(f"{x:.6f}" for x in np.asarray(vector, dtype=np.float32)) + "]"
