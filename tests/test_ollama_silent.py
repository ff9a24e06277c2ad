"""An Ollama that takes the request and never answers, over real HTTP (issue 9, item 8).

Each case must be told apart within the first-token limit plus the ~2 s of probing, with its own fix:
a hung server (not even /api/version answers), a model still loading (not in /api/ps), a loaded model
that stays silent (busy). `--backend auto` must give up on a hung server within 2 s.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from bot import BotError, Timeout
from bot.backends import Backend, create_backend, with_deadlines
from bot.backends.embedded import EmbeddedBackend
from bot.backends.ollama import OllamaBackend
from bot.settings import Settings
from tests.ollama_standin import Script, silent_server, standin_ollama, unreachable_server

TTFT = 1.0  # BOT_TTFT_TIMEOUT for these tests
PROBING = 2.0  # /api/version and /api/ps, one second each at most
SLACK = 0.5  # thread start-up and a loaded CI machine
MESSAGES = [{"role": "user", "content": "How large is North Korea's military?"}]


def backend(tmp_path: Path, host: str) -> OllamaBackend:
    settings = Settings.resolve(corpus=tmp_path, backend="ollama", ollama_host=host, ttft_timeout=TTFT)
    return OllamaBackend(settings)


def first_token_failure(ollama: OllamaBackend, *, deadlines: bool = True) -> tuple[str, float]:
    """Ask as the bot does (the stream under with_deadlines, or bare); the error and how long it took.
    A server that answers its probes is slow, a Timeout (one question's problem, which a batch or `bot
    eval generate` goes on after); one that does not is not."""
    started = time.monotonic()
    chunks = ollama.stream_chat(MESSAGES, max_tokens=20, num_ctx=2048)
    if deadlines:
        chunks = with_deadlines(
            chunks, first_token=TTFT, total=30.0, label=ollama.label, explain=ollama.explain_silence
        )
    with pytest.raises(BotError) as err:
        list(chunks)
    answering = not re.search("does not answer|Nothing at", str(err.value))
    assert isinstance(err.value, Timeout) == answering, (type(err.value), str(err.value))
    return str(err.value), time.monotonic() - started


def assert_reported_in_time(elapsed: float) -> None:
    assert TTFT - 0.05 <= elapsed < TTFT + PROBING + SLACK, elapsed


def test_hung_server_is_told_apart_from_loading(tmp_path: Path) -> None:
    with silent_server() as host:
        message, elapsed = first_token_failure(backend(tmp_path, host))
    assert message == (
        f"Ollama at {host} accepted the connection but does not answer (not even /api/version): "
        "restart it (`ollama serve`) or use --backend embedded."
    )
    assert_reported_in_time(elapsed)


def test_an_address_that_takes_no_connection_is_not_called_a_hung_server(tmp_path: Path) -> None:
    """A firewall that drops packets was reported as an Ollama that "accepted the connection"."""
    with unreachable_server() as host:
        message, elapsed = first_token_failure(backend(tmp_path, host))
        chosen = create_backend(Settings.resolve(corpus=tmp_path, backend="auto", ollama_host=host))
    assert message == (
        f"Nothing at {host} accepted a connection in time (a firewall dropping it, or a wrong host): "
        "check OLLAMA_HOST and that Ollama runs there, or use --backend embedded."
    )
    assert_reported_in_time(elapsed)
    assert chosen.name == "embedded" and "Nothing at" in chosen.note


def test_hung_server_is_reported_in_time_without_the_bots_deadlines(tmp_path: Path) -> None:
    """The Ollama client's own timeout bounds the wait for the first token, whoever calls stream_chat."""
    with silent_server() as host:
        message, elapsed = first_token_failure(backend(tmp_path, host), deadlines=False)
    assert "does not answer (not even /api/version)" in message
    assert_reported_in_time(elapsed)


def test_model_missing_from_api_ps_is_reported_as_loading(tmp_path: Path) -> None:
    script = Script(replies=["x"], hang_on=("/api/chat",), loaded=["llama3.2:3b"])
    with standin_ollama(script) as host:
        message, elapsed = first_token_failure(backend(tmp_path, host))
    assert message == (
        f"Ollama at {host} sent no answer within 1s: it is still loading qwen2.5:7b into memory "
        "(not in /api/ps yet); wait and ask again, or raise BOT_TTFT_TIMEOUT."
    )
    assert_reported_in_time(elapsed)


def test_loaded_but_silent_model_is_reported_as_busy(tmp_path: Path) -> None:
    script = Script(replies=["x"], hang_on=("/api/chat",), loaded=["qwen2.5:7b"])
    with standin_ollama(script) as host:
        message, elapsed = first_token_failure(backend(tmp_path, host))
    assert message.startswith(f"Ollama at {host} sent no answer within 1s although qwen2.5:7b is in memory")
    assert "busy" in message and "raise BOT_TTFT_TIMEOUT" in message and "still loading qwen" not in message
    assert "\n" not in message
    assert_reported_in_time(elapsed)


def test_probing_is_bounded_even_when_api_ps_hangs_too(tmp_path: Path) -> None:
    script = Script(replies=["x"], hang_on=("/api/chat", "/api/ps"))
    with standin_ollama(script) as host:
        message, elapsed = first_token_failure(backend(tmp_path, host))
    assert message.startswith(f"Ollama at {host} sent no answer within 1s; it may be loading the model")
    assert_reported_in_time(elapsed)


def timed_auto(host: str, corpus: Path) -> tuple[Backend, float]:
    """The backend `--backend auto` picks against `host`, and the seconds it took to pick."""
    started = time.monotonic()
    chosen = create_backend(Settings.resolve(corpus=corpus, backend="auto", ollama_host=host))
    return chosen, time.monotonic() - started


def test_auto_leaves_a_hung_server_for_the_bundled_model_within_2s(tmp_path: Path) -> None:
    with silent_server() as host:
        chosen, elapsed = timed_auto(host, tmp_path)
    assert isinstance(chosen, EmbeddedBackend), chosen
    assert chosen._llama is None  # chosen, not loaded: the model loads on the first question
    assert "does not answer (not even /api/version)" in chosen.note
    assert elapsed < 2.0, elapsed


def test_auto_gives_up_within_2s_when_only_api_tags_hangs(tmp_path: Path) -> None:
    with standin_ollama(Script(replies=["x"], hang_on=("/api/tags",))) as host:
        chosen, elapsed = timed_auto(host, tmp_path)
    assert chosen.name == "embedded" and "answers /api/version but not /api/tags" in chosen.note
    assert elapsed < 2.0, elapsed


def test_auto_gives_up_within_2s_on_an_answer_that_drips(tmp_path: Path) -> None:
    """httpx's timeout bounds each read, not the request: a byte every 0.3 s would hold it for 6 s."""
    with standin_ollama(Script(replies=["x"], drip_on=("/api/version",))) as host:
        chosen, elapsed = timed_auto(host, tmp_path)
    assert chosen.name == "embedded" and "does not answer (not even /api/version)" in chosen.note
    assert elapsed < 2.0, elapsed
