"""Sentence embeddings, loaded offline from a local model folder.

By default ONNX Runtime is set up beside torch: the model is exported once from the local weights with
torch.onnx and kept in a cache folder, and tokenising and pooling stay sentence-transformers' own. Which
of the two is faster depends on the CPU (ONNX Runtime encoded chat messages 1.7-1.9x faster than torch on
one machine, 0.85x on another; a question in a third to two thirds of torch's time), so each kind of
input is encoded by the one measured faster here. The vectors are the same (checked at every load against
torch; any mismatch or failure leaves torch alone).
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from bot.errors import UserError

log = logging.getLogger(__name__)

# Chat messages are short; the rare long one is cut here rather than dominating a batch's padding.
MAX_SEQ_LENGTH = 128
# Bumped when the export changes, so that old cached files are not used.
EXPORT_VERSION = 1
ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# The load check: ONNX Runtime's vectors against torch's on these, to this tolerance.
PROBES = ["Why does Postgres ignore my index?", "ü 🙂 " * 40, "x"]
TOLERANCE = 1e-4
Runtime = Literal["onnx", "torch"]


class Embedder(Protocol):
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


class SentenceEmbedder:
    """all-MiniLM-L6-v2 (or another sentence-transformers model) on the CPU, normalised vectors."""

    dim = 384

    def __init__(self, model_path: str, *, batch_size: int = 64, runtime: Runtime = "onnx",
                 cache_dir: str | Path | None = None) -> None:
        self.model_path = model_path
        self.batch_size = batch_size
        self.runtime = runtime
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._model = None
        self._onnx: OnnxTransformer | None = None
        self.faster: dict[str, Runtime] = {}  # per kind of input (batch, one), with ONNX Runtime set up
        self._lock = threading.Lock()

    def _load(self):  # noqa: ANN202
        with self._lock:
            if self._model is None:
                if not os.path.isdir(self.model_path):
                    raise UserError(f"model_path (CONNECTIVE_MODEL_PATH): no model folder at {self.model_path}")
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
                from sentence_transformers import SentenceTransformer

                model = SentenceTransformer(self.model_path, device="cpu", local_files_only=True)
                model.max_seq_length = min(model.max_seq_length or MAX_SEQ_LENGTH, MAX_SEQ_LENGTH)
                self.dim = model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension") else (
                    model.get_sentence_embedding_dimension())
                if self.runtime == "onnx":
                    self._onnx = self._load_onnx(model)
                self.runtime = "onnx" if self._onnx else "torch"
                self._model = model
                log.info("loaded embedding model from %s (runtime: %s)", self.model_path, self.runtime)
        return self._model

    def _load_onnx(self, model) -> OnnxTransformer | None:  # noqa: ANN001
        try:
            onnx = OnnxTransformer.build(model, self.model_path, self.cache_dir)
        except Exception as exc:  # noqa: BLE001 - any failure (no onnxruntime, an unexportable model) keeps torch
            log.warning("embedding on torch: the ONNX runtime could not be set up (%s: %s)",
                        type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc) else "")
            return None
        return onnx

    @property
    def model(self):  # noqa: ANN201
        """The sentence-transformers model itself (its encode() runs on torch, whatever the runtime)."""
        return self._load()

    def encode(self, texts: list[str]) -> np.ndarray:
        """Normalised vectors, in the texts' order. Batches are made of texts of about the same number of
        tokens (longest first), so that little of a batch is padding: sentence-transformers sorts by
        characters, which left 38% of the tokens of chat messages padding (racket-2017), and the encode
        took 1.7x as long."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        order = token_order(model, texts)
        batches = [[texts[i] for i in order[start:start + self.batch_size]]
                   for start in range(0, len(texts), self.batch_size)]
        kind = "batch" if len(batches) > 1 else "one" if len(texts) == 1 else "small"
        if self._onnx is not None and kind not in self.faster:
            self.faster[kind] = self._time_runtimes(model, batches[len(batches) // 2], kind)  # a typical batch
        vectors = [self._encode_batch(model, batch, kind) for batch in batches]
        stacked = np.concatenate(vectors)
        result = np.empty_like(stacked)
        result[order] = stacked
        return result

    def encode_one(self, text: str) -> np.ndarray:
        """One text (a who-knows question), without encode()'s ordering: the same vector as encode([text])
        to float precision (tests/test_embedder.py)."""
        return self._encode_batch(self._load(), [text], "one")[0]

    def _encode_batch(self, model, texts: list[str], kind: str) -> np.ndarray:  # noqa: ANN001
        if self._onnx is None:
            return self._torch_batch(model, texts)
        if kind not in self.faster:
            self.faster[kind] = self._time_runtimes(model, texts, kind)
        if self.faster[kind] == "onnx":
            return self._onnx.encode_batch(texts)
        return self._torch_batch(model, texts)

    def _time_runtimes(self, model, texts: list[str], kind: str) -> Runtime:  # noqa: ANN001
        """Which runtime encodes inputs like `texts` faster on this machine: ONNX Runtime is 1.8x faster
        than torch on some CPUs and slower on others (racket-2017 in batches: 1.7x, then 0.85x on a CPU
        with AMX), so both are timed on a typical input of each kind (a batch, a question), best of
        three, and the vectors are the same either way (checked at load)."""
        timings: dict[Runtime, float] = {"onnx": np.inf, "torch": np.inf}
        for _ in range(3):  # the first run of a shape is slower on both
            for runtime, run in (("onnx", self._onnx.encode_batch), ("torch", lambda t: self._torch_batch(model, t))):
                start = time.perf_counter()
                run(texts)
                timings[runtime] = min(timings[runtime], time.perf_counter() - start)
        best: Runtime = min(timings, key=timings.get)
        log.info("encoding %s on %s (%.1f ms on onnx, %.1f ms on torch, %d texts)", kind, best,
                 1000 * timings["onnx"], 1000 * timings["torch"], len(texts))
        return best

    @staticmethod
    def _torch_batch(model, texts: list[str]) -> np.ndarray:  # noqa: ANN001
        import torch

        with torch.inference_mode():
            vector = model.forward(preparer(model)(texts))["sentence_embedding"]
            vector = torch.nn.functional.normalize(vector, dim=1)
        return vector.numpy().astype(np.float32, copy=False)


def token_order(model, texts: list[str]) -> np.ndarray:  # noqa: ANN001
    """Indices of `texts` by their number of tokens (as the model cuts them), longest first."""
    ids = model.tokenizer(texts, add_special_tokens=True, truncation=True, max_length=model.max_seq_length,
                          return_attention_mask=False, return_token_type_ids=False)["input_ids"]
    return np.argsort([-len(row) for row in ids], kind="stable")


def preparer(model):  # noqa: ANN001, ANN201
    """The model's tokenising step (`preprocess` in sentence-transformers 5+, `tokenize` before)."""
    return getattr(model, "preprocess", None) or model.tokenize


class OnnxTransformer:
    """A sentence-transformers model whose transformer runs on ONNX Runtime. Texts are tokenised and the
    token embeddings pooled by the model's own modules, so the vectors are the ones torch gives."""

    def __init__(self, model, session, inputs: list[str]) -> None:  # noqa: ANN001
        self.model = model
        self.session = session
        self.inputs = inputs
        self.pooling = list(model)[1:]
        self.prepare = preparer(model)

    @classmethod
    def build(cls, model, model_path: str, cache_dir: Path | None) -> OnnxTransformer:  # noqa: ANN001
        import onnxruntime

        transformer = list(model)[0]
        auto_model = getattr(transformer, "auto_model", None) or transformer.model
        inputs = [name for name in ONNX_INPUTS if name in preparer(model)(PROBES[:2])]
        path = cls._cache_path(model, model_path, cache_dir, inputs)
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = None
        if path.is_file():
            try:
                session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            except Exception as exc:  # noqa: BLE001 - a damaged cache file is exported again
                log.warning("exporting the model again: cached %s unreadable (%s)", path, type(exc).__name__)
        if session is None:
            data = cls._export(model, auto_model, inputs)
            path = cls._store(path, data)
            session = onnxruntime.InferenceSession(str(path) if path else data, options,
                                                   providers=["CPUExecutionProvider"])
        onnx = cls(model, session, inputs)
        onnx._check()
        return onnx

    @staticmethod
    def _cache_path(model, model_path: str, cache_dir: Path | None, inputs: list[str]) -> Path:  # noqa: ANN001
        """The export's file, named for everything it depends on: the model folder's files (name, size,
        modification time), the sequence length, the inputs and the torch version."""
        import torch

        if cache_dir is None:
            import platformdirs

            cache_dir = Path(platformdirs.user_cache_dir("connective", appauthor=False)) / "onnx"
        key = hashlib.sha256()
        root = Path(model_path)
        for file in sorted(root.rglob("*")):
            if file.is_file():
                stat = file.stat()
                key.update(f"{file.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns};".encode())
        key.update(f"{model.max_seq_length}:{','.join(inputs)}:{torch.__version__}:{EXPORT_VERSION}".encode())
        return cache_dir / f"{root.name}-{key.hexdigest()[:20]}.onnx"

    @staticmethod
    def _export(model, auto_model, inputs: list[str]) -> bytes:  # noqa: ANN001
        import torch

        class Hidden(torch.nn.Module):
            def __init__(self, inner: torch.nn.Module) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
                return self.inner(**dict(zip(inputs, tensors, strict=True))).last_hidden_state

        # Traced on two texts of different lengths, so that the attention mask stays in the graph (a batch
        # without padding could let the model skip it). The tracer's warnings are about these branches.
        features = preparer(model)(PROBES[:2])
        axes = {name: {0: "batch", 1: "tokens"} for name in [*inputs, "hidden"]}
        buffer = io.BytesIO()
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(Hidden(auto_model).eval(), tuple(features[name] for name in inputs), buffer,
                              input_names=inputs, output_names=["hidden"], dynamic_axes=axes,
                              opset_version=17, dynamo=False)
        return buffer.getvalue()

    @staticmethod
    def _store(path: Path, data: bytes) -> Path | None:
        """Writes the export atomically (processes exporting at once each rename a whole file); None when the
        cache folder cannot be written, and the export is used from memory."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as out:
                try:
                    out.write(data)
                except OSError:
                    os.unlink(out.name)
                    raise
            os.chmod(out.name, 0o644)  # temporary files are private; the export is for every user (a container's)
            os.replace(out.name, path)
        except OSError as exc:
            log.warning("the exported model is kept in memory: cannot write %s (%s)", path.parent, exc.strerror)
            return None
        log.info("exported the embedding model for ONNX Runtime to %s", path)
        return path

    def _check(self) -> None:
        import torch

        with torch.inference_mode():
            expected = self.model.encode(PROBES, normalize_embeddings=True, convert_to_numpy=True,
                                         show_progress_bar=False)
        got = self.encode_batch(PROBES)
        gap = float(np.abs(got - expected).max())
        if gap > TOLERANCE:
            raise ValueError(f"ONNX Runtime's vectors differ from torch's by {gap:.2g}")

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        """One batch: tokenised and pooled by the model's own modules, the transformer run by ONNX Runtime."""
        import torch

        features = self.prepare(texts)
        hidden = self.session.run(None, {name: features[name].numpy() for name in self.inputs})[0]
        features["token_embeddings"] = torch.from_numpy(hidden)
        with torch.inference_mode():
            for module in self.pooling:
                features = module(features)
            vector = torch.nn.functional.normalize(features["sentence_embedding"], dim=1)
        return vector.numpy().astype(np.float32, copy=False)
