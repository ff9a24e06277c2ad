"""Evaluated prompts kept for reuse by the bundled model, so a prompt that starts like an earlier one
evaluates only the rest.

llama.cpp keeps one evaluated sequence and reuses its common prefix with the next prompt. Every question
alternates an answer prompt and yes/no check prompts, so by the next question only the system prompt is
left to share; the excerpts a rephrased question shares with an earlier one, or the evidence a second
check shares with the first, are evaluated again. Prompt evaluation is most of a question's time on a
CPU, so a batch, an eval or a chat keeps the last few sequences (their KV cells, a few MB each) and
starts each prompt from whichever shares the longest beginning with it.
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import llama_cpp
import numpy as np

SEQUENCE = 0  # llama-cpp-python evaluates everything as sequence 0


class PromptCache:
    """The sequences a llama.cpp context evaluated, least recently used first, up to `capacity` bytes."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._states: OrderedDict[tuple[int, ...], ctypes.Array[ctypes.c_uint8]] = OrderedDict()
        self.reused_tokens = 0  # prompt tokens not evaluated thanks to a kept sequence

    @property
    def size(self) -> int:
        return sum(len(state) for state in self._states.values())

    def prepare(self, llama: Any, prompt: Sequence[int]) -> None:
        """Before `llama` evaluates `prompt`: keep the sequence it holds if the prompt would cut it short,
        and load a kept one instead when that shares more of the prompt."""
        live = tuple(llama.input_ids[: llama.n_tokens].tolist())
        live_shared = _shared(live, prompt)
        best, best_shared = max(
            ((key, _shared(key, prompt)) for key in self._states), key=lambda kv: kv[1], default=((), 0)
        )
        outgoing = self._save(llama) if live_shared < len(live) and live not in self._states else None
        if best_shared > live_shared and self._load(llama, best):
            self.reused_tokens += best_shared - live_shared
        if outgoing is not None:
            self._states[live] = outgoing
            while self.size > self.capacity:
                self._states.popitem(last=False)

    def _save(self, llama: Any) -> ctypes.Array[ctypes.c_uint8] | None:
        size = llama_cpp.llama_state_seq_get_size(llama.ctx, SEQUENCE)
        state = (ctypes.c_uint8 * size)()
        return state if llama_cpp.llama_state_seq_get_data(llama.ctx, state, size, SEQUENCE) == size else None

    def _load(self, llama: Any, tokens: tuple[int, ...]) -> bool:
        state = self._states[tokens]
        self._states.move_to_end(tokens)
        if not llama_cpp.llama_state_seq_set_data(llama.ctx, state, len(state), SEQUENCE):
            del self._states[tokens]
            llama._ctx.kv_cache_clear()  # a failed load may leave cells half written
            llama.n_tokens = 0
            return False
        llama.input_ids[: len(tokens)] = np.asarray(tokens, dtype=llama.input_ids.dtype)
        llama.n_tokens = len(tokens)
        llama._requires_eval = True  # the logits are not this sequence's: evaluate at least one token
        return True


class CachingLlama(llama_cpp.Llama):
    """A `Llama` whose every generation starts from the best kept sequence (see `PromptCache`)."""

    def __init__(self, *args: Any, prompt_cache: PromptCache, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prompt_cache = prompt_cache

    def generate(self, tokens: Sequence[int], *args: Any, **kwargs: Any) -> Any:
        tokens = list(tokens)
        if kwargs.get("reset", True):  # without a reset the tokens continue what is live
            self.prompt_cache.prepare(self, tokens)
        return super().generate(tokens, *args, **kwargs)


def _shared(a: Sequence[int], b: Sequence[int]) -> int:
    """How many tokens `a` and `b` share from their start."""
    n = min(len(a), len(b))
    if n == 0:
        return 0
    differ = np.flatnonzero(np.asarray(a[:n]) != np.asarray(b[:n]))
    return int(differ[0]) if len(differ) else n
