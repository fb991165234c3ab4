"""The embedder: one question encoded on the short path equals the batch encode; ONNX Runtime gives
torch's vectors, its export is cached, and any trouble with it falls back to torch."""
from __future__ import annotations

import copy
import json
import logging
import time
from pathlib import Path

import numpy as np
import pytest

import bot.embedder as embedder_module
from bot.embedder import Pipeline, SentenceEmbedder, is_default_model, token_lengths
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


ALL_ON = {kind: "onnx" for kind in ("batch", "small", "one")}


def test_onnx_runtime_gives_torchs_vectors(embedder, torch_embedder, monkeypatch):
    assert embedder.runtime == "onnx"  # the suite runs the default runtime, not a silent fallback
    assert torch_embedder.runtime == "torch"
    monkeypatch.setattr(embedder, "faster", dict(ALL_ON))  # ONNX Runtime for every input, however fast it is here
    onnx, torch = embedder.encode(TEXTS), torch_embedder.encode(TEXTS)
    assert onnx.shape == torch.shape == (len(TEXTS), 384) and onnx.dtype == np.float32
    # Mixed lengths over several batches: each vector comes back in its text's place.
    assert float(np.abs(onnx - torch).max()) < 1e-4
    assert float(np.abs(embedder.encode_one(TEXTS[0]) - torch_embedder.encode_one(TEXTS[0])).max()) < 1e-4
    # ... and they are sentence-transformers' own vectors, batched its way.
    reference = torch_embedder.model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert float(np.abs(torch - reference).max()) < 1e-5


def test_batches_are_texts_of_about_the_same_number_of_tokens(embedder):
    # As long in characters, far apart in tokens: a word repeated, letters spaced out.
    texts = ["macro " * 8, "a b c d e f g h i j k l m n o p q r s t u v w x"[:47], "ok", "x" * 47, "q w e r t y"]
    model = embedder.model
    lengths = np.array([len(ids) for ids in model.tokenizer(texts)["input_ids"]])
    order = np.argsort(-token_lengths(model, texts), kind="stable")
    assert (Pipeline.of(Settings().resolved_model_path()).lengths(texts) == lengths).all()  # without torch too
    assert sorted(order.tolist()) == list(range(len(texts)))
    assert (np.diff(lengths[order]) <= 0).all()  # longest first
    by_chars = np.argsort([-len(text) for text in texts], kind="stable")
    assert (np.diff(lengths[by_chars]) > 0).any()  # what sorting by characters would have mixed up


def test_the_faster_runtime_on_this_machine_encodes(embedder, monkeypatch):
    texts = [f"message {i} about racket macros" for i in range(200)]  # several batches

    # The clock the embedder times runtimes by: a slowed runtime's every run takes ten seconds more on it, slower
    # whichever runtime is natively faster here (batches 0.85-1.9x; one short question, ONNX up to ~6x), and
    # whatever else the machine is doing. Slowed by sleeping five times its own time and 0.3 s, it still came out
    # faster once, on a machine busy with other tests (torch then took longer than all of that).
    late = [0.0]
    clock = time.perf_counter
    monkeypatch.setattr(embedder_module.time, "perf_counter", lambda: clock() + late[0])

    def slowed(run):
        def slow(*args):
            out = run(*args)
            late[0] += 10.0
            return out
        return slow

    embedder.model  # noqa: B018 - both runtimes loaded, as on the load that exports the model
    for slow_runtime, expected in (("onnx", "torch"), ("torch", "onnx")):
        model = copy.copy(embedder)
        model.faster = {}
        if slow_runtime == "onnx":
            monkeypatch.setattr(model, "_onnx", copy.copy(embedder._onnx))
            monkeypatch.setattr(model._onnx, "encode_batch", slowed(embedder._onnx.encode_batch))
        else:
            monkeypatch.setattr(model, "_torch_batch", slowed(embedder._torch_batch))
        vectors = model.encode(texts)
        one = model.encode_one(texts[0])
        assert model.faster == {"batch": expected, "one": expected}
        assert np.allclose(vectors, embedder.encode(texts), atol=1e-4) and np.allclose(one, vectors[0], atol=1e-4)


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
    # The export was checked against torch when it was made: later loads run it without torch.
    assert first.torch_loaded and not second.torch_loaded
    assert np.allclose(second.encode(TEXTS), first.model.encode(TEXTS, normalize_embeddings=True), atol=1e-4)

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
    assert not list(tmp_path.glob("*.onnx"))  # an export that failed its check is not kept for later loads


def model_copy(folder: Path, *, link: bool = True) -> Path:
    """The test model's files in `folder`: linked, or copied (new file times)."""
    source = Path(Settings().resolved_model_path())
    for file in source.rglob("*"):
        if file.is_file():
            target = folder / file.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            if link:
                target.symlink_to(file)
            else:
                target.write_bytes(file.read_bytes())
    return folder


def model_variant(folder: Path, config_file: str, changes: dict) -> Path:
    """The test model in `folder` (its files linked, not copied), with `changes` made to one JSON config file."""
    model_copy(folder)
    config = folder / config_file
    values = json.loads(config.read_text())
    config.unlink()
    config.write_text(json.dumps({**values, **changes}))
    return folder


def test_other_model_layouts_pool_with_their_own_modules(tmp_path):
    # The same model with CLS pooling: the torch-free pipeline knows mean pooling only, so the model's own
    # modules pool ONNX Runtime's output, and the vectors are still torch's.
    source = Path(Settings().resolved_model_path())
    folder = model_variant(tmp_path / "cls-model", "1_Pooling/config.json",
                           {"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True})
    assert Pipeline.of(str(folder)) is None and Pipeline.of(str(source)) is not None
    model = SentenceEmbedder(str(folder), cache_dir=tmp_path / "cache")
    vectors = model.encode(TEXTS[:5])
    assert model.runtime == "onnx" and model.torch_loaded
    assert np.allclose(vectors, model.model.encode(TEXTS[:5], normalize_embeddings=True), atol=1e-4)


@pytest.mark.parametrize(("config", "query_prompt", "document_prompt"), [
    ({"prompts": {"query": "query: ", "passage": "passage: "}}, "query: ", "passage: "),  # e5-style
    ({"prompts": {"retrieval": "Represent this for retrieval: "}, "default_prompt_name": "retrieval"},
     "Represent this for retrieval: ", "Represent this for retrieval: "),
])
def test_models_that_name_prompts_get_them(tmp_path, config, query_prompt, document_prompt):
    # Messages are documents and a question is a query, on either runtime and after the torch-free reload.
    folder = model_variant(tmp_path / "prompt-model", "config_sentence_transformers.json", config)
    question, messages = "Why does Postgres ignore my index?", TEXTS[:4] + TEXTS[5:30]
    models = [SentenceEmbedder(str(folder), cache_dir=tmp_path / "cache", runtime=runtime)
              for runtime in ("onnx", "torch", "onnx")]
    reference = models[1].model
    documents = reference.encode(messages, prompt=document_prompt, normalize_embeddings=True)
    query = reference.encode([question], prompt=query_prompt, normalize_embeddings=True)[0]
    assert not np.allclose(documents, reference.encode(messages, prompt="", normalize_embeddings=True), atol=1e-3)
    for model in models:
        assert np.allclose(model.encode(messages), documents, atol=1e-4), model.runtime
        assert np.allclose(model.encode_one(question), query, atol=1e-4), model.runtime
        assert np.allclose(model.encode([question], query=True), query, atol=1e-4), model.runtime
    assert [m.runtime for m in models] == ["onnx", "torch", "onnx"] and not models[2].torch_loaded



def test_the_fingerprint_follows_the_weights_not_the_file_times(tmp_path):
    # Fine-tuned weights of the same architecture have the same size: the contents tell them apart. Reinstalling
    # the same model (new file times) must not make every stored vector again.
    source = Path(Settings().resolved_model_path())
    folders = {name: model_copy(tmp_path / name / source.name, link=False) for name in ("reinstalled", "tuned")}
    weights = folders["tuned"] / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1000] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert weights.stat().st_size == (source / "model.safetensors").stat().st_size

    def digest(folder: Path) -> str:
        return embedder_module.model_fingerprint(str(folder)).rsplit(":", 1)[1]

    assert digest(folders["reinstalled"]) == digest(source)
    assert digest(folders["tuned"]) != digest(source)


def test_a_model_on_another_scale_of_similarity_is_named_when_it_loads(tmp_path, caplog, embedder):
    # connective's similarity bars were set on all-MiniLM-L6-v2, which finds unrelated sentences 0.04 alike. The
    # same model with a long prompt before every text (mean pooling shares the prompt's tokens) finds them 0.42
    # alike, as e5-style models do: it is named in a warning, the shipped model is not.
    prompt = ("Represent this message from a chat community of software developers for retrieving related "
              "messages: ")
    folder = model_variant(tmp_path / "anisotropic", "config_sentence_transformers.json",
                           {"prompts": {"query": prompt, "passage": prompt}})
    assert is_default_model(Settings().resolved_model_path()) and not is_default_model(str(folder))
    with caplog.at_level(logging.WARNING, logger="bot.embedder"):
        assert embedder.check_scale() < 0.1
        assert not caplog.records
        SentenceEmbedder(str(folder), runtime="torch").encode(["x"])
    [warning] = caplog.records
    assert str(folder) in warning.getMessage() and "unrelated sentences 0.4" in warning.getMessage()
