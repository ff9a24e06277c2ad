"""The Ollama backend over real HTTP, against a stand-in that speaks Ollama's API."""

from __future__ import annotations

import functools
import http.server
import socket
import threading
from pathlib import Path

import ollama
import pytest

from bot import Bot, BotError, Timeout
from bot.backends import create_backend
from bot.doctor import run_checks
from bot.settings import Settings
from tests.ollama_standin import Script, standin_ollama

HALLUCINATED = "North Korea has a military of about 1.5 million personnel [1]. Its leader is Kim Jong-un [2]."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ollama_bot(embedded_bot: Bot, host: str, **overrides: object) -> Bot:
    settings = Settings.resolve(
        corpus=embedded_bot.settings.corpus, data_dir=embedded_bot.settings.data_dir,
        backend="ollama", ollama_host=host, **overrides,
    )  # fmt: skip
    return Bot(settings, embedded_bot.embedder, embedded_bot.index, create_backend(settings))


def test_hallucinated_number_from_ollama_never_reaches_the_user(embedded_bot: Bot) -> None:
    script = Script(replies=[HALLUCINATED])
    with standin_ollama(script) as host:
        bot = ollama_bot(embedded_bot, host)
        events = list(bot.stream("How large is North Korea's military?"))
    answer = events[-1]
    drafts = "".join(e for e in events[:-1] if isinstance(e, str))
    assert "1.5 million" in drafts  # the draft streamed as the model wrote it...
    assert "1.5 million" not in answer.text  # ...but the verified answer drops the invented figure
    assert answer.refused  # the articles' "1.2 million" is another answer, not the draft's in other words
    assert (answer.backend, answer.model) == ("ollama", "qwen2.5:7b")
    chat = [r for r in script.requests if r["path"] == "/api/chat"][0]
    assert chat["stream"] is True and chat["keep_alive"] == "10m"
    assert chat["options"]["num_ctx"] >= 2048 and chat["options"]["num_predict"] == 200


@pytest.mark.parametrize(
    ("version", "verdict", "p_yes", "expected"),
    [
        ("0.13.0", "yes", 0.3, 0.3),  # how sure the model is, not the word it happened to pick
        ("0.13.0", "no", 0.8, 0.8),
        ("0.12.6", "yes", 0.3, 1.0),  # before 0.12.11 Ollama ignores `logprobs`: the word is all there is
        ("0.12.6", "no", 0.8, 0.0),
    ],
)
def test_yes_no_checks_read_ollamas_token_probabilities(
    version: str, verdict: str, p_yes: float, expected: float
) -> None:
    """Every check read the reply word alone (1.0 or 0.0), so the cut calibrated on the bundled model's
    probabilities meant nothing on Ollama."""
    script = Script(replies=["x"], verdict=verdict, p_yes=p_yes, version=version)
    question = [{"role": "user", "content": "Does the text answer it? Reply with one word: yes or no."}]
    with standin_ollama(script) as host:
        backend = create_backend(Settings.resolve(backend="ollama", ollama_host=host))
        assert backend.yes_probability(question, num_ctx=2048) == pytest.approx(expected)
    chat = script.requests[-1]
    assert chat["stream"] is False and chat["think"] is False
    assert chat["logprobs"] is True and chat["top_logprobs"] == 20 and chat["options"]["num_predict"] == 2


def test_a_yes_no_check_that_gets_no_reply_says_why(tmp_path: Path) -> None:
    script = Script(replies=["x"], hang_on=("/api/chat",))
    question = [{"role": "user", "content": "Does the text answer it? Reply with one word: yes or no."}]
    with standin_ollama(script) as host, pytest.raises(Timeout, match="still loading qwen2.5:7b"):
        settings = Settings.resolve(corpus=tmp_path, backend="ollama", ollama_host=host, ttft_timeout=1.0)
        create_backend(settings).yes_probability(question, num_ctx=2048)


def test_doctor_says_when_ollama_is_too_old_for_token_probabilities() -> None:
    for version, old in (("0.12.6", True), ("0.12.11", False), ("0.13.0-rc1", False), ("0.0.0", False)):
        with standin_ollama(Script(replies=["x"], version=version)) as host:
            line = next(line for _, line in run_checks(ollama_host=host) if line.startswith("Ollama "))
        assert line.startswith(f"Ollama {version} answers at") and ("older than 0.12.11" in line) is old, line


def test_a_hesitant_yes_from_ollama_is_no_yes(embedded_bot: Bot) -> None:
    """A right answer needs the model's yes that the evidence shows it: one it gives at 0.4 is a no."""
    right = "North Korea has a military of approximately 1.2 million personnel [1]."
    question = "How large is North Korea's military?"
    for p_yes, refused in ((0.9, False), (0.4, True)):
        with standin_ollama(Script(replies=[right], p_yes=p_yes)) as host:
            assert ollama_bot(embedded_bot, host).ask(question).refused is refused, p_yes


def test_unreachable_host_says_how_to_fix(embedded_bot: Bot) -> None:
    bot = ollama_bot(embedded_bot, f"http://127.0.0.1:{free_port()}")
    with pytest.raises(BotError, match="Cannot reach Ollama.*ollama serve"):
        bot.ask("How large is North Korea's military?")


def test_missing_model_gives_the_pull_command(embedded_bot: Bot) -> None:
    with standin_ollama(Script(models=["llama3.2:3b"], replies=["x"])) as host:
        bot = ollama_bot(embedded_bot, host, ollama_model="qwen2.5:7b")
        with pytest.raises(BotError, match="ollama pull qwen2.5:7b"):
            bot.ask("How large is North Korea's military?")
        with pytest.raises(BotError, match="ollama pull qwen2.5:7b"):
            bot.backend.check()


def test_a_host_that_is_not_ollama_says_so_in_one_line(embedded_bot: Bot, tmp_path: Path) -> None:
    # A real web server that is not Ollama: Python's own, which answers a POST with an HTML error page.
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        bot = ollama_bot(embedded_bot, f"http://127.0.0.1:{server.server_address[1]}")
        with pytest.raises(BotError) as raised:
            bot.ask("How large is North Korea's military?")
        with pytest.raises(BotError) as checked:  # bot doctor's and --backend auto's check
            bot.backend.check()
        server.shutdown()
    message = str(raised.value)
    assert "is not Ollama (HTTP 501 for /api/chat)" in message and "<" not in message and "\n" not in message
    assert "is not Ollama (HTTP 404 for /api/tags)" in str(checked.value)  # it said "Cannot reach Ollama"


def test_slow_first_token_hits_the_ttft_timeout(embedded_bot: Bot) -> None:
    with standin_ollama(Script(replies=["x"], first_token_delay=3.0)) as host:
        bot = ollama_bot(embedded_bot, host, ttft_timeout=1.0)
        # The bot asks the server why (tests/test_ollama_silent.py has every case): nothing in /api/ps.
        with pytest.raises(BotError, match="no answer within 1s: it is still loading qwen2.5:7b"):
            bot.ask("How large is North Korea's military?")


def test_auto_picks_ollama_when_it_answers_and_embedded_otherwise(tmp_path: Path) -> None:
    with standin_ollama(Script(replies=["x"])) as host:
        assert create_backend(Settings.resolve(corpus=tmp_path, ollama_host=host)).name == "ollama"
    fallback = create_backend(Settings.resolve(corpus=tmp_path, ollama_host=f"127.0.0.1:{free_port()}"))
    assert fallback.name == "embedded" and "Cannot reach Ollama" in fallback.note


def test_standin_speaks_the_protocol_the_official_client_expects() -> None:
    with standin_ollama(Script(replies=["Hello there"])) as host:
        client = ollama.Client(host=host)
        assert [m.model for m in client.list().models] == ["qwen2.5:7b"]
        assert client.show("qwen2.5:7b").modelinfo["qwen2.context_length"] == 32768
        whole = client.chat(model="qwen2.5:7b", messages=[{"role": "user", "content": "hi"}], stream=False)
        assert whole.message.content == "Hello there" and whole.done
        pieces = client.chat(model="qwen2.5:7b", messages=[{"role": "user", "content": "hi"}], stream=True)
        assert "".join(p.message.content or "" for p in pieces) == "Hello there"


def test_a_reasoning_model_and_a_keep_alive_in_seconds_are_asked_as_ollama_reads_them(
    embedded_bot: Bot,
) -> None:
    """Ollama turns on thinking unless told not to (every yes/no check then got no answer, and every
    answer was refused), and reads a keep_alive string as a Go duration ("-1" was HTTP 400 every time)."""
    script = Script(
        replies=["North Korea has a military of approximately 1.2 million personnel [1]."], thinks=True
    )
    with standin_ollama(script) as host:
        answer = ollama_bot(embedded_bot, host, keep_alive="-1").ask("How large is North Korea's military?")
    assert "1.2 million" in answer.text and not answer.refused, answer.text
    chats = [r for r in script.requests if r["path"] == "/api/chat"]
    assert chats and all(r["think"] is False and r["keep_alive"] == -1 for r in chats)


@pytest.mark.parametrize(
    ("trouble", "message"),
    [
        ({"fail_mid_stream": "model runner has unexpectedly stopped"},
         "Ollama stopped mid-answer with an error: model runner has unexpectedly stopped"),
        ({"drop_mid_stream": True}, "closed the connection mid-answer"),
    ],
)  # fmt: skip
def test_an_answer_cut_off_mid_stream_is_one_line(embedded_bot: Bot, trouble: dict, message: str) -> None:
    """They read "HTTP -1", or ended in a traceback that stopped a whole batch."""
    script = Script(
        replies=["North Korea has a military of approximately 1.2 million personnel [1]."], **trouble
    )
    with standin_ollama(script) as host, pytest.raises(BotError, match=message):
        ollama_bot(embedded_bot, host).ask("How large is North Korea's military?")


def test_the_judge_asks_ollama_for_the_context_the_answers_use(embedded_bot: Bot) -> None:
    """It asked for 4096 against the answers' 2048: Ollama reloads a model whose num_ctx changes, twice
    an item."""
    from bot.evaluation import Judge

    script = Script(replies=["North Korea has a military of approximately 1.2 million personnel [1]."])
    with standin_ollama(script) as host:
        bot = ollama_bot(embedded_bot, host)
        assert Judge(bot, "ollama").faithful(bot.ask("How large is North Korea's military?")) is not None
    assert {r["options"]["num_ctx"] for r in script.requests if r["path"] == "/api/chat"} == {2048}


def test_a_judge_whose_ollama_drops_the_connection_leaves_one_answer_unjudged_not_the_run_ended(
    embedded_bot: Bot,
) -> None:
    from bot.evaluation import Judge

    script = Script(replies=["North Korea has a military of approximately 1.2 million personnel [1]."])
    with standin_ollama(script) as host:
        bot = ollama_bot(embedded_bot, host)
        answer, judge = bot.ask("How large is North Korea's military?"), Judge(bot, "ollama")
        script.drop_mid_stream = True  # Ollama restarted while judging
        assert judge.faithful(answer) is None and judge.relevant(answer) is None


def test_model_names_compare_as_ollama_compares_them() -> None:
    from bot.backends.ollama import _full_name

    assert _full_name("Qwen2.5:7B") == _full_name("registry.ollama.ai/library/qwen2.5:7b") == "qwen2.5:7b"
    assert _full_name("llama3") == "llama3:latest" and _full_name("host:5000/m") == "host:5000/m:latest"


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("localhost", "http://localhost:11434"),
        ("0.0.0.0:11434", "http://127.0.0.1:11434"),
        (":11434", "http://127.0.0.1:11434"),
        ("[::]:11434", "http://[::1]:11434"),
        ("http://ollama.lan", "http://ollama.lan:80"),  # behind a proxy: it was sent to port 11434
        ("https://ollama.example.com/", "https://ollama.example.com:443"),
        ("http://[::1]:8080/ollama/", "http://[::1]:8080/ollama"),
    ],
)
def test_ollama_host_is_read_as_ollama_reads_it(given: str, url: str) -> None:
    from bot.settings import normalize_host

    assert normalize_host(given) == url


def test_a_login_in_ollama_host_never_reaches_a_message(tmp_path: Path) -> None:
    """OLLAMA_HOST=http://user:secret@host put the password in every error, on screen and in logs."""
    port = free_port()
    settings = Settings.resolve(
        corpus=tmp_path, backend="ollama", ollama_host=f"http://me:s3cret@127.0.0.1:{port}"
    )
    with pytest.raises(BotError) as raised:
        create_backend(settings).check()
    assert f"Cannot reach Ollama at http://127.0.0.1:{port}" in str(raised.value) and "s3cret" not in str(
        raised.value
    )
