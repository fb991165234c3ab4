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
        literal = "[" + ",".join(f"{x:.6f}" for x in np.asarray(query, dtype=np.float32)) + "]"
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
