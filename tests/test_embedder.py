"""The embedder: one question encoded on the short path equals the batch encode."""
from __future__ import annotations

import numpy as np


def test_encode_one_matches_batch_encode(embedder):
    texts = ["Why does Postgres ignore my index?", "", "ü 🙂 " * 200, "x"]
    batch = embedder.encode(texts)
    for text, expected in zip(texts, batch, strict=True):
        one = embedder.encode_one(text)
        assert one.shape == expected.shape and one.dtype == np.float32
        assert np.allclose(one, expected, atol=1e-5), text[:20]
        assert abs(float(np.linalg.norm(one)) - 1.0) < 1e-5
