"""One small interface for every LLM backend, and the registry that picks one.

Backends are plugins: the built-in ones are registered through the `bot.backends` entry-point group
(see pyproject.toml), and `register_backend` adds one at run time (the tests' scripted model uses it).
"""

from __future__ import annotations

import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import ClassVar

from bot.errors import BotError, Timeout
from bot.settings import Settings

Message = dict[str, str]
YES_NO_TOKENS = 2  # "yes" or "no", and room for a full stop


class Backend(ABC):
    name: ClassVar[str]
    can_stream: ClassVar[bool] = True
    model: str
    note: str = ""  # why this backend was chosen, shown by `bot doctor` and the UI

    @property
    def label(self) -> str:
        return f"{self.name} · {self.model}"

    def check(self) -> None:  # noqa: B027 - optional hook, most backends have nothing to check
        """Raise BotError with the fix if this backend cannot answer right now."""

    def check_quickly(self) -> None:
        """Like check(), but within 2 s at most: what `--backend auto` can afford to wait."""
        self.check()

    def explain_silence(self, waited: float) -> BotError | None:
        """Why no first token came within `waited` seconds, if this backend can find out quickly (at most
        ~2 s); None keeps the generic message. Ollama asks its server whether it is hung or loading."""
        return None

    @abstractmethod
    def stream_chat(self, messages: list[Message], *, max_tokens: int, num_ctx: int) -> Iterator[str]:
        """Yield the reply in pieces as the model produces them."""

    def yes_probability(self, messages: list[Message], *, num_ctx: int) -> float | None:
        """How likely the model's one-word reply is "yes" rather than "no". The grounder compares it with
        a cut calibrated on the eval set; a backend that exposes no token probabilities gives its reply
        as 1.0 or 0.0 (None when the reply is neither word)."""
        return word_probability(
            "".join(self.stream_chat(messages, max_tokens=YES_NO_TOKENS, num_ctx=num_ctx))
        )


def word_probability(reply: str) -> float | None:
    """A yes/no reply read without token probabilities: 1.0 for yes, 0.0 for no, None for neither."""
    word = reply.strip().lower()
    return 1.0 if word.startswith("yes") else 0.0 if word.startswith("no") else None


BackendFactory = Callable[[Settings], Backend]
_registry: dict[str, BackendFactory] = {}


def register_backend(name: str, factory: BackendFactory) -> None:
    _registry[name] = factory


def backend_names() -> list[str]:
    """Every backend `--backend` can name, without importing any of them (the CLI lists them in --help)."""
    return sorted({*_registry, *(ep.name for ep in entry_points(group="bot.backends"))})


def available_backends() -> dict[str, BackendFactory]:
    for ep in entry_points(group="bot.backends"):
        _registry.setdefault(ep.name, ep.load())
    return dict(_registry)


def check_backend_name(name: str) -> None:
    """A backend no plugin registers is one error, the same from `bot doctor` as from any command."""
    if name != "auto" and name not in (names := backend_names()):
        raise BotError(
            f"Unknown backend {name!r} (BOT_BACKEND / --backend): choose auto (Ollama if it "
            f"answers, else embedded) or one of {', '.join(names)}."
        )


def create_backend(settings: Settings) -> Backend:
    check_backend_name(settings.backend)
    backends = available_backends()
    if settings.backend != "auto":
        return backends[settings.backend](settings)
    ollama = backends["ollama"](settings)
    try:
        ollama.check_quickly()
        ollama.note = "Ollama answered"
        return ollama
    except BotError as err:
        embedded = backends["embedded"](settings)
        embedded.note = f"auto: {err}"
        return embedded


def with_deadlines(
    chunks: Iterator[str],
    *,
    first_token: float,
    total: float,
    label: str,
    explain: Callable[[float], BotError | None] | None = None,
) -> Iterator[str]:
    """Enforce a time-to-first-token limit and a total limit on any stream, whatever the backend.

    The stream is pumped from a worker thread so a stalled server cannot block the caller past its limit.
    When the first token is late, `explain` (a backend's explain_silence) may say why, in a second or two.
    """
    box: queue.Queue[tuple[str, object]] = queue.Queue()
    stop = threading.Event()

    def pump() -> None:
        try:
            for chunk in chunks:
                if stop.is_set():
                    break
                box.put(("chunk", chunk))
            box.put(("done", None))
        except BaseException as err:  # noqa: BLE001 - handed to the consumer thread
            box.put(("error", err))

    threading.Thread(target=pump, daemon=True, name=f"{label}-stream").start()
    started = time.monotonic()
    first = True
    try:
        while True:
            limit = first_token if first else total - (time.monotonic() - started)
            try:
                kind, value = box.get(timeout=max(limit, 0.001))
            except queue.Empty:
                if first:
                    reason = explain(first_token) if explain else None
                    if reason is not None:
                        raise reason from None
                    raise Timeout(
                        f"{label} sent no answer within {first_token:g}s. It may be loading the model; "
                        "try again, or raise BOT_TTFT_TIMEOUT."
                    ) from None
                raise Timeout(
                    f"{label} did not finish within {total:g}s; raise BOT_TIMEOUT for long answers."
                ) from None
            if kind == "done":
                return
            if kind == "error":
                raise value  # type: ignore[misc]
            first = False
            yield value  # type: ignore[misc]
    finally:
        stop.set()
