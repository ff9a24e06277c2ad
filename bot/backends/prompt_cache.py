"""Evaluated prompt beginnings kept for reuse by the bundled model, cut at fixed places, so that a prompt
gets the same numbers whatever was asked before it.

llama.cpp's numbers for a token depend a little on how the tokens before it were batched. This module
used to start each prompt from whichever earlier evaluation shared the longest beginning with it. That
made answers depend on the questions asked before them: a yes/no check came out at P(yes) 0.481 after
another prompt where a fresh model gave 0.498, and over 30 seed questions asked forwards and then
backwards one answer in 30 changed; in a shared chat, one person's answer depended on what another had
asked. So every prompt is evaluated in parts cut at two places that depend on nothing but its own text:
after its first message (the system prompt, the same for the answer and its checks) and after the
first blank line that follows (a check's evidence, "Text: …", which a second check on the same sentence
shares; an answer's excerpts, which a rephrased question shares). Each part is evaluated in one go from
the kept state of the parts before it, so the same question gets the same answer in the chat, the CLI,
a batch and an eval, in any order.
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import llama_cpp

SEQUENCE = 0  # llama-cpp-python evaluates everything as sequence 0
KEPT_BYTES = 256 * 2**20  # states at cuts, a few MB each: the last few dozen prompts' beginnings
MESSAGE_END = b"\n"  # a chat format ends each message with its end-of-turn token, then a newline
BLANK_LINE = b"\n\n"


class CachingLlama(llama_cpp.Llama):
    """A `Llama` that evaluates every prompt in parts cut at fixed places, each from the kept state of
    the parts before it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kept: OrderedDict[tuple[int, ...], ctypes.Array[ctypes.c_uint8]] = OrderedDict()

    def generate(self, tokens: Sequence[int], *args: Any, **kwargs: Any) -> Any:
        tokens = list(tokens)
        if kwargs.get("reset", True):  # without a reset the tokens continue what is live
            self._evaluate_to_last_cut(tokens)
        return super().generate(tokens, *args, **kwargs)

    def _cuts(self, tokens: Sequence[int]) -> list[int]:
        """After the first message (its end-of-turn token and newline) and after the first blank line that
        follows; never at the very end, whose last token `generate` must evaluate."""
        end_of_turn = self.token_eos()
        system = next((i for i in range(1, len(tokens)) if tokens[i - 1] == end_of_turn), 0)
        if not system or system >= len(tokens) - 1 or self.detokenize([tokens[system]]) != MESSAGE_END:
            return []
        blank = next(
            (
                i + 1
                for i in range(system + 1, len(tokens) - 1)
                if self.detokenize([tokens[i]]).endswith(BLANK_LINE)
            ),
            None,
        )
        return [system + 1] if blank is None else [system + 1, blank]

    def _evaluate_to_last_cut(self, tokens: list[int]) -> None:
        """Leave live exactly the prompt up to its last cut, part by part from the longest kept beginning,
        so that `generate` evaluates the rest in one go; what was live before is not reused."""
        cuts = self._cuts(tokens)
        start = next((cut for cut in reversed(cuts) if self._load(tuple(tokens[:cut]))), 0)
        self.n_tokens = start  # eval() and generate() drop every cell from here on
        for cut in (c for c in cuts if c > start):
            self.eval(tokens[start:cut])
            self._keep(tuple(tokens[:cut]))
            start = cut

    def _keep(self, tokens: tuple[int, ...]) -> None:
        size = llama_cpp.llama_state_seq_get_size(self.ctx, SEQUENCE)
        state = (ctypes.c_uint8 * size)()
        if size > KEPT_BYTES or llama_cpp.llama_state_seq_get_data(self.ctx, state, size, SEQUENCE) != size:
            return
        self._kept[tokens] = state
        while sum(len(s) for s in self._kept.values()) > KEPT_BYTES:
            self._kept.popitem(last=False)

    def _load(self, tokens: tuple[int, ...]) -> bool:
        state = self._kept.get(tokens)
        if state is None:
            return False
        self._kept.move_to_end(tokens)
        self._ctx.kv_cache_clear()
        if not llama_cpp.llama_state_seq_set_data(self.ctx, state, len(state), SEQUENCE):
            del self._kept[tokens]
            self._ctx.kv_cache_clear()  # a failed load may leave cells half written
            return False
        self.input_ids[: len(tokens)] = tokens
        return True
