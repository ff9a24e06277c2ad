"""The Ollama backend, through LlamaIndex's Ollama integration, for users who run a real model."""

from __future__ import annotations

import math
import queue
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from bot.backends.base import YES_NO_TOKENS, Backend, Message, word_probability
from bot.errors import BotError, Timeout
from bot.settings import Settings

PROBE_TIMEOUT = 1.0  # one quick request to a live Ollama (/api/version, /api/ps) answers in milliseconds
ERROR_CHARS = 300  # of an error reply shown to the user: enough for Ollama's own messages
# `--backend auto` waits at most this long for /api/version plus /api/tags (limit: 2 s). 1.8 left too little
# for the rest of the choice on a busy machine (2.06 s in a CI run that shared its cores).
AUTO_BUDGET = 1.5
TOP_LOGPROBS = 20  # Ollama's most: "yes" and "no" in their spellings ("Yes", " yes") are usually among them
LOGPROBS_SINCE = (0, 12, 11)  # the first Ollama whose /api/chat returns token log probabilities


def gives_logprobs(version: str) -> bool:
    """Does an Ollama of this version ("0.12.11", "0.13.0-rc1") return token log probabilities? A build
    from source says "0.0.0": it is taken to be new."""
    numbers = tuple(int(n) for n in re.findall(r"\d+", str(version))[:3])
    return numbers >= LOGPROBS_SINCE or not any(numbers)


class _NoAnswer(Exception):
    """Nothing came back in time: from a server that took the connection, or (`connected` False) from an
    address where nothing took it (a firewall that drops packets, a wrong host)."""

    def __init__(self, path: str, *, connected: bool) -> None:
        super().__init__(path)
        self.connected = connected


def _full_name(model: str) -> str:
    """A model name as Ollama compares them: case-insensitive, without the default registry and library
    ("registry.ollama.ai/library/qwen2.5:7b" is "qwen2.5:7b"), with a tag (":latest" unless given; a
    colon in a registry's port is no tag)."""
    name = model.lower().removeprefix("registry.ollama.ai/").removeprefix("library/")
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


class OllamaBackend(Backend):
    name = "ollama"

    def __init__(self, settings: Settings) -> None:
        self.host = settings.ollama_host
        self.shown = re.sub(r"//[^/@]*@", "//", self.host)  # in messages: never a user:password in the URL
        self.model = settings.ollama_model
        # Ollama reads a JSON string as a Go duration ("10m"), so a bare number of seconds ("300", "-1")
        # must go as a number: as a string it fails every request with HTTP 400.
        keep = settings.keep_alive
        self.keep_alive: str | int = int(keep) if re.fullmatch(r"-?\d+", keep) else keep
        self.ttft_timeout = settings.ttft_timeout
        self._client: Any = None  # the `ollama` client of the yes/no checks, made on first use

    @property
    def label(self) -> str:
        return f"Ollama · {self.model}"

    def _unreachable(self) -> BotError:
        return BotError(
            f"Cannot reach Ollama at {self.shown}. Start it with `ollama serve`, point OLLAMA_HOST at it, "
            "or use --backend embedded."
        )

    def _answered_wrongly(self, path: str, err: Exception) -> BotError:
        """A server that answers, but not as Ollama: another web server, or a proxy that wants a login."""
        if isinstance(err, httpx.HTTPStatusError):
            got = f"HTTP {err.response.status_code}"
            if err.response.status_code in (401, 403, 407):
                return BotError(
                    f"The server at {self.shown} wants a login for {path} ({got}): point OLLAMA_HOST at Ollama "
                    "itself, or use --backend embedded."
                )
        else:
            got = "a reply that is not Ollama's JSON"
        return self._not_ollama(got, path)

    def _not_ollama(self, got: str, path: str) -> BotError:
        return BotError(
            f"The server at {self.shown} is not Ollama ({got} for {path}): point OLLAMA_HOST at Ollama, or use "
            "--backend embedded."
        )

    def _silent(self, path: str, *, connected: bool = True) -> BotError:
        if not connected:
            return BotError(
                f"Nothing at {self.shown} accepted a connection in time (a firewall dropping it, or a wrong "
                "host): check OLLAMA_HOST and that Ollama runs there, or use --backend embedded."
            )
        return BotError(
            f"Ollama at {self.shown} accepted the connection but does not answer (not even {path}): "
            "restart it (`ollama serve`) or use --backend embedded."
        )

    def _not_pulled(self) -> BotError:
        return BotError(f"Ollama has no model {self.model!r}. Run: ollama pull {self.model}")

    def _refused(self, status: int, error: str) -> BotError:
        """An error reply to /api/chat. Ollama's own say what is wrong ("model 'x' not found" for one not
        pulled); a web page or a bare 404/405/501 means OLLAMA_HOST is some other server."""
        if status == 404 and "model" in error.lower():
            return self._not_pulled()
        if status < 0:  # an {"error": …} line after the stream began (HTTP 200): the client has no status
            return BotError(f"Ollama stopped mid-answer with an error: {error[:ERROR_CHARS]}")
        if status in (404, 405, 501) or error.startswith("<"):
            return self._not_ollama(f"HTTP {status}", "/api/chat")
        return BotError(f"Ollama answered with an error (HTTP {status}): {error[:ERROR_CHARS]}")

    def _get_json(self, path: str, timeout: float) -> Any:
        """GET `path` and parse it, giving up after `timeout` seconds in all.

        httpx's timeout bounds each phase (connect, every read) rather than the whole request, so the
        request runs in a daemon thread and the caller stops waiting at the deadline whatever happens.
        Raises _NoAnswer on a timeout, httpx.HTTPError or ValueError on anything else that goes wrong.
        """
        box: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)
        connected = threading.Event()

        def trace(event: str, _info: dict[str, Any]) -> None:
            if event == "connection.connect_tcp.complete":
                connected.set()

        def fetch() -> None:
            try:
                with httpx.Client(timeout=timeout) as client:
                    response = client.get(f"{self.host}{path}", extensions={"trace": trace})
                response.raise_for_status()
                box.put((True, response.json()))
            except Exception as err:  # noqa: BLE001 - handed to the waiting thread
                box.put((False, err))

        threading.Thread(target=fetch, daemon=True, name=f"ollama-probe{path}").start()
        try:
            ok, value = box.get(timeout=max(timeout, 0.001))
        except queue.Empty:
            raise _NoAnswer(path, connected=connected.is_set()) from None
        if ok:
            return value
        if isinstance(value, httpx.TimeoutException):
            raise _NoAnswer(path, connected=connected.is_set()) from None
        raise value

    def pulled_models(self, timeout: float) -> list[str]:
        try:
            tags = self._get_json("/api/tags", timeout)
            return [m.get("model") or m.get("name", "") for m in tags.get("models", [])]
        except _NoAnswer:
            raise BotError(
                f"Ollama at {self.shown} answers /api/version but not /api/tags within {timeout:.1f}s: "
                "restart it (`ollama serve`) or use --backend embedded."
            ) from None
        except (httpx.HTTPStatusError, ValueError, AttributeError) as err:
            raise self._answered_wrongly("/api/tags", err) from None
        except httpx.HTTPError:
            raise self._unreachable() from None

    def loaded_models(self, timeout: float = PROBE_TIMEOUT) -> list[str]:
        """The models Ollama holds in memory (GET /api/ps). Ollama lists a model from the moment it
        starts loading it, so a model missing here is certainly not ready."""
        ps = self._get_json("/api/ps", timeout)
        return [m.get("model") or m.get("name", "") for m in ps.get("models", [])]

    def version(self, timeout: float = PROBE_TIMEOUT) -> str:
        try:
            return self._get_json("/api/version", timeout)["version"]
        except _NoAnswer as err:
            raise self._silent("/api/version", connected=err.connected) from None
        except (httpx.HTTPStatusError, ValueError, KeyError, TypeError) as err:
            raise self._answered_wrongly("/api/version", err) from None
        except httpx.HTTPError:
            raise self._unreachable() from None

    def check_quickly(self) -> None:
        """Used by `--backend auto`: within AUTO_BUDGET seconds in all, is Ollama up with our model pulled?

        A server that accepts connections but never answers fails /api/version after PROBE_TIMEOUT."""
        deadline = time.monotonic() + AUTO_BUDGET
        self.version(PROBE_TIMEOUT)
        self._require_model(max(deadline - time.monotonic(), 0.001))

    def check(self) -> None:
        self._require_model(10.0)

    def _require_model(self, timeout: float) -> None:
        if _full_name(self.model) not in {_full_name(m) for m in self.pulled_models(timeout)}:
            raise self._not_pulled()

    def explain_silence(self, waited: float) -> BotError:
        """Why no first token came within `waited` seconds, from two quick probes (at most ~2 s): a hung
        server, a model still loading, and a loaded but busy model each need different advice. A server that
        answers is a Timeout (one question's problem); one that does not is the plain BotError of `version`."""
        try:
            self.version(PROBE_TIMEOUT)
        except BotError as err:
            return err
        lead = f"Ollama at {self.shown} sent no answer within {waited:g}s"
        try:
            loaded = {_full_name(m) for m in self.loaded_models(PROBE_TIMEOUT)}
        except (_NoAnswer, httpx.HTTPError, ValueError, AttributeError):
            return Timeout(
                f"{lead}; it may be loading the model: wait and ask again, or raise BOT_TTFT_TIMEOUT."
            )
        if _full_name(self.model) not in loaded:
            return Timeout(
                f"{lead}: it is still loading {self.model} into memory (not in /api/ps yet); "
                "wait and ask again, or raise BOT_TTFT_TIMEOUT."
            )
        return Timeout(
            f"{lead} although {self.model} is in memory (/api/ps lists it): it is busy with other requests "
            "or still finishing the load; raise BOT_TTFT_TIMEOUT, or restart Ollama if it stays silent."
        )

    def _llm(self, num_ctx: int, max_tokens: int) -> Any:
        from llama_index.llms.ollama import Ollama

        return Ollama(
            model=self.model,
            base_url=self.host,
            # The client's timeout bounds each wait for data, i.e. the wait for the first token.
            request_timeout=self.ttft_timeout,
            context_window=num_ctx,  # sent as num_ctx, so Ollama never truncates the prompt silently
            keep_alive=self.keep_alive,
            # Ollama turns on a reasoning model's thinking (qwen3, deepseek-r1) unless told not to: it would
            # spend the two tokens of every yes/no check, and stream nothing the bot counts as an answer.
            thinking=False,
            temperature=0.1,
            additional_kwargs={"num_predict": max_tokens},
        )

    def stream_chat(self, messages: list[Message], *, max_tokens: int, num_ctx: int) -> Iterator[str]:
        from llama_index.core.llms import ChatMessage

        def pieces() -> Iterator[str]:
            chat = [ChatMessage(role=m["role"], content=m["content"]) for m in messages]
            for response in self._llm(num_ctx, max_tokens).stream_chat(chat):
                if response.delta:
                    yield response.delta

        return self._guarded(pieces())

    def yes_probability(self, messages: list[Message], *, num_ctx: int) -> float | None:
        """P(yes) / (P(yes) + P(no)) over the first reply token's likeliest alternatives, as the embedded
        backend reads them from its logits, so the grounder's cut is on the same scale on both. Ollama
        returns them since 0.12.11; an older one ignores the request, and then, as when neither word is
        among the alternatives, the reply word counts: 1.0 or 0.0, None if it is neither."""
        import ollama

        def ask() -> Iterator[Any]:
            if self._client is None:
                self._client = ollama.Client(host=self.host, timeout=self.ttft_timeout)
            yield self._client.chat(
                model=self.model,
                messages=messages,
                think=False,
                logprobs=True,
                top_logprobs=TOP_LOGPROBS,
                keep_alive=self.keep_alive,
                options={"num_ctx": num_ctx, "num_predict": YES_NO_TOKENS, "temperature": 0.0},
            )

        response = next(self._guarded(ask()))
        p = {"yes": 0.0, "no": 0.0}
        for alt in (response.logprobs[0].top_logprobs or []) if response.logprobs else []:
            if (word := alt.token.strip().lower()) in p:
                p[word] += math.exp(alt.logprob)
        if p["yes"] + p["no"]:
            return p["yes"] / (p["yes"] + p["no"])
        return word_probability(response.message.content or "")

    def _guarded(self, replies: Iterator[Any]) -> Iterator[Any]:
        """`replies` from /api/chat, with what can go wrong on the way told as Ollama's problem and its fix."""
        import ollama

        started = False
        try:
            for reply in replies:
                started = True
                yield reply
        except ollama.ResponseError as err:
            raise self._refused(err.status_code, " ".join(str(err.error).split())) from None
        except (httpx.ConnectError, ConnectionError):
            raise self._unreachable() from None
        except httpx.TimeoutException:
            if not started:
                raise self.explain_silence(self.ttft_timeout) from None
            raise Timeout(
                f"Ollama at {self.shown} stopped sending data for {self.ttft_timeout:g}s; raise BOT_TTFT_TIMEOUT."
            ) from None
        except httpx.TransportError as err:  # restarted or killed mid-answer, or a proxy cut the line
            raise BotError(
                f"Ollama at {self.shown} closed the connection mid-answer ({type(err).__name__}): see its log, "
                "and ask again."
            ) from None
        except ValueError:  # a 200 reply that is not Ollama's JSON (a proxy's or another server's page)
            raise self._not_ollama("HTTP 200", "/api/chat") from None
