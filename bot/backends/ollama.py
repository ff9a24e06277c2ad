"""The Ollama backend, through LlamaIndex's Ollama integration, for users who run a real model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from bot.backends.base import Backend, Message
from bot.errors import BotError
from bot.settings import Settings

PROBE_TIMEOUT = 1.0


def _full_name(model: str) -> str:
    return model if ":" in model else f"{model}:latest"


class OllamaBackend(Backend):
    name = "ollama"

    def __init__(self, settings: Settings) -> None:
        self.host = settings.ollama_host
        self.model = settings.ollama_model
        self.keep_alive = settings.keep_alive
        self.ttft_timeout = settings.ttft_timeout

    @property
    def label(self) -> str:
        return f"Ollama · {self.model}"

    def _unreachable(self) -> BotError:
        return BotError(
            f"Cannot reach Ollama at {self.host}. Start it with `ollama serve`, point OLLAMA_HOST at it, "
            "or use --backend embedded."
        )

    def _not_pulled(self) -> BotError:
        return BotError(f"Ollama has no model {self.model!r}. Run: ollama pull {self.model}")

    def pulled_models(self, timeout: float) -> list[str]:
        try:
            response = httpx.get(f"{self.host}/api/tags", timeout=timeout)
            response.raise_for_status()
        except httpx.HTTPError:
            raise self._unreachable() from None
        return [m.get("model") or m.get("name", "") for m in response.json().get("models", [])]

    def version(self, timeout: float = PROBE_TIMEOUT) -> str:
        try:
            return httpx.get(f"{self.host}/api/version", timeout=timeout).json()["version"]
        except (httpx.HTTPError, ValueError, KeyError):
            raise self._unreachable() from None

    def check_quickly(self) -> None:
        """Used by `--backend auto`: within about a second, is Ollama up with our model pulled?"""
        self.version(PROBE_TIMEOUT)
        self._require_model(PROBE_TIMEOUT)

    def check(self) -> None:
        self._require_model(10.0)

    def _require_model(self, timeout: float) -> None:
        if _full_name(self.model) not in {_full_name(m) for m in self.pulled_models(timeout)}:
            raise self._not_pulled()

    def _llm(self, num_ctx: int, max_tokens: int) -> Any:
        from llama_index.llms.ollama import Ollama

        return Ollama(
            model=self.model,
            base_url=self.host,
            # The client's timeout bounds each wait for data, i.e. the wait for the first token.
            request_timeout=self.ttft_timeout,
            context_window=num_ctx,  # sent as num_ctx, so Ollama never truncates the prompt silently
            keep_alive=self.keep_alive,
            temperature=0.1,
            additional_kwargs={"num_predict": max_tokens},
        )

    def stream_chat(self, messages: list[Message], *, max_tokens: int, num_ctx: int) -> Iterator[str]:
        import ollama
        from llama_index.core.llms import ChatMessage

        chat = [ChatMessage(role=m["role"], content=m["content"]) for m in messages]
        try:
            for response in self._llm(num_ctx, max_tokens).stream_chat(chat):
                if response.delta:
                    yield response.delta
        except ollama.ResponseError as err:
            if err.status_code == 404:
                raise self._not_pulled() from None
            raise BotError(f"Ollama answered with an error: {err.error}") from None
        except (httpx.ConnectError, ConnectionError):
            raise self._unreachable() from None
        except httpx.TimeoutException:
            raise BotError(
                f"Ollama at {self.host} stopped sending data for {self.ttft_timeout:g}s; raise BOT_TTFT_TIMEOUT."
            ) from None
