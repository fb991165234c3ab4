"""Sentence embeddings, loaded offline from a local model folder."""
from __future__ import annotations

import logging
import os
import threading
from typing import Protocol

import numpy as np

from bot.errors import UserError

log = logging.getLogger(__name__)

# Chat messages are short; the rare long one is cut here rather than dominating a batch's padding.
MAX_SEQ_LENGTH = 128


class Embedder(Protocol):
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


class SentenceEmbedder:
    """all-MiniLM-L6-v2 (or another sentence-transformers model) on the CPU, normalised vectors."""

    dim = 384

    def __init__(self, model_path: str, *, batch_size: int = 64) -> None:
        self.model_path = model_path
        self.batch_size = batch_size
        self._model = None
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
                self._model = model
                log.info("loaded embedding model from %s", self.model_path)
        return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        vectors = model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                               convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def encode_one(self, text: str) -> np.ndarray:
        """One text (a who-knows question): the model's modules called directly, skipping encode()'s
        batching machinery (sorting, chunking, progress, conversions), about 1.5 ms of a 7 ms encode.
        The same vector as encode([text]) to float precision (tests/test_embedder.py)."""
        import torch

        model = self._load()
        prepare = getattr(model, "preprocess", None) or model.tokenize
        features = prepare([text])
        with torch.inference_mode():
            vector = model.forward(features)["sentence_embedding"]
            vector = torch.nn.functional.normalize(vector, dim=1)
        return vector[0].numpy().astype(np.float32, copy=False)
