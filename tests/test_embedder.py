"""The embedder: one question encoded on the short path equals the batch encode; ONNX Runtime gives
torch's vectors, its export is cached, and any trouble with it falls back to torch."""
from __future__ import annotations

import logging

import numpy as np
import pytest

import bot.embedder as embedder_module
from bot.embedder import SentenceEmbedder
from bot.settings import Settings


def test_encode_one_matches_batch_encode(embedder):
    texts = ["Why does Postgres ignore my index?", "", "ü 🙂 " * 200, "x"]
    batch = embedder.encode(texts)
    for text, expected in zip(texts, batch, strict=True):
        one = embedder.encode_one(text)
        assert one.shape == expected.shape and one.dtype == np.float32
        assert np.allclose(one, expected, atol=1e-5), text[:20]
        assert abs(float(np.linalg.norm(one)) - 1.0) < 1e-5


@pytest.fixture(scope="module")
def torch_embedder():
    model = SentenceEmbedder(Settings().resolved_model_path(), runtime="torch")
    model.encode(["warm up"])
    return model


TEXTS = ["Why does Postgres ignore my index?", "", "ü 🙂 \u200b\u202e" * 300, "x", "a" * 40_000,
         *[f"message {i} about racket macros and contracts " * (i % 9 + 1) for i in range(150)]]


def test_onnx_runtime_gives_torchs_vectors(embedder, torch_embedder):
    assert embedder.runtime == "onnx"  # the suite runs the default runtime, not a silent fallback
    assert torch_embedder.runtime == "torch"
    onnx, torch = embedder.encode(TEXTS), torch_embedder.encode(TEXTS)
    assert onnx.shape == torch.shape == (len(TEXTS), 384) and onnx.dtype == np.float32
    # Mixed lengths over several batches: each vector comes back in its text's place.
    assert float(np.abs(onnx - torch).max()) < 1e-4
    assert float(np.abs(embedder.encode_one(TEXTS[0]) - torch_embedder.encode_one(TEXTS[0])).max()) < 1e-4


def test_export_is_cached_and_reused(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="bot.embedder")
    first = SentenceEmbedder(Settings().resolved_model_path(), cache_dir=tmp_path)
    first.encode(["warm up"])
    [export] = tmp_path.glob("*.onnx")
    assert first.runtime == "onnx" and "exported the embedding model" in caplog.text
    assert export.stat().st_mode & 0o004  # readable by other users: an image's export, run as a non-root user
    stamp = export.stat().st_mtime_ns
    caplog.clear()
    second = SentenceEmbedder(Settings().resolved_model_path(), cache_dir=tmp_path)
    assert np.allclose(second.encode(["hello"]), first.encode(["hello"]), atol=1e-6)
    assert second.runtime == "onnx" and "exported" not in caplog.text and export.stat().st_mtime_ns == stamp

    export.write_bytes(b"not a model")  # a damaged cache file is exported again
    caplog.clear()
    third = SentenceEmbedder(Settings().resolved_model_path(), cache_dir=tmp_path)
    assert np.allclose(third.encode(["hello"]), first.encode(["hello"]), atol=1e-6)
    assert third.runtime == "onnx" and "unreadable" in caplog.text and export.stat().st_size > 1_000_000


def test_unwritable_cache_keeps_the_export_in_memory(tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    model = SentenceEmbedder(Settings().resolved_model_path(), cache_dir=blocker / "onnx")
    assert model.encode(["hello"]).shape == (1, 384)
    assert model.runtime == "onnx" and "kept in memory" in caplog.text


def test_falls_back_to_torch_when_vectors_differ(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(embedder_module, "TOLERANCE", -1.0)
    model = SentenceEmbedder(Settings().resolved_model_path(), cache_dir=tmp_path)
    vector = model.encode(["hello"])
    assert model.runtime == "torch" and "differ from torch" in caplog.text
    assert vector.shape == (1, 384) and abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5
