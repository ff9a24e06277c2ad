"""The real bundled model and embedder, through the Python API and the `bot` command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot import Answer, Bot

SEED_TEXTS = {p.name: p.read_text() for p in (Path(__file__).parent.parent / "seeds").glob("*.txt")}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], capture_output=True, text=True, timeout=600,
        env={**os.environ, "BOT_BACKEND": "embedded", **(env or {})},
    )  # fmt: skip


def test_military_size_is_answered_with_a_verbatim_seed_quote(embedded_bot: Bot) -> None:
    answer = embedded_bot.ask("How large is North Korea's military?")
    assert not answer.refused
    assert "1.2 million" in answer.text
    assert answer.backend == "embedded" and "Qwen2.5" in answer.model
    assert answer.citations
    for c in answer.citations:
        assert SEED_TEXTS[c.source][c.start : c.end] == c.quote
    assert {"retrieve", "check", "generate", "verify", "total"} <= set(answer.timings)


def test_a_reminders_again_is_not_read_as_a_second_event(embedded_bot: Bot) -> None:
    # With its "again" the model drafted a second invasion ("October 24, 2022") and the bot refused.
    answer = embedded_bot.ask("when did russia invade ukraine again")
    assert not answer.refused and "February 2022" in answer.text, answer.text


def test_a_follow_up_the_model_cannot_rewrite_is_read_with_the_question_before_it(embedded_bot: Bot) -> None:
    # The model hands this one back unchanged, "they" and all, and the bot refused it for want of a topic.
    history = [
        {"role": "user", "content": "What kind of troops is North Korea sending?"},
        {"role": "assistant", "content": "Analysts say elite troops rather than conventional forces."},
    ]
    answer = embedded_bot.ask("What could they get if they succeed?", history=history)
    assert answer.rewritten_query.startswith("What kind of troops is North Korea sending?")
    assert not answer.refused and "recognition" in answer.text, answer.text


def test_how_many_were_sent_is_refused_as_the_articles_give_only_the_armys_size(embedded_bot: Bot) -> None:
    # The model drafts "North Korea sent approximately 1.2 million troops" and its own checks agree.
    answer = embedded_bot.ask("How many troops did North Korea send?")
    assert answer.refused and "1.2 million" in answer.draft, (answer.draft, answer.text)


@pytest.mark.parametrize(
    "question", ["What is the population of North Korea?", "How many people live in North Korea?"]
)
def test_the_armys_size_is_no_answer_to_the_population(embedded_bot: Bot, question: str) -> None:
    # The model drafts "… approximately 1.2 million", the army's size, and its own checks agree.
    answer = embedded_bot.ask(question)
    assert answer.refused and "1.2 million" in answer.draft, (answer.draft, answer.text)


def test_stream_yields_draft_tokens_then_the_verified_answer(embedded_bot: Bot) -> None:
    events = list(embedded_bot.stream("How many containers has North Korea delivered to Russia?"))
    assert isinstance(events[-1], Answer)
    assert any(isinstance(e, str) for e in events[:-1])
    assert "13,000" in events[-1].text


def test_cli_json_refuses_an_off_topic_question(seed_data_dir: Path) -> None:
    result = run_cli("ask", "--json", "What is the boiling point of water?", "--data-dir", str(seed_data_dir))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["refused"] is True and data["citations"] == []
    assert {"answer", "refused", "citations", "backend", "model", "timings", "passages"} <= set(data)


def test_cli_answers_about_any_folder(tmp_path: Path) -> None:
    corpus = tmp_path / "news"
    corpus.mkdir()
    (corpus / "harbour.md").write_text(
        "# Harbour bridge reopens\n\nThe Elmsworth harbour bridge reopened on 2026-03-14 after repairs costing "
        "4.7 million euros. Mayor Ilse Brandt said 30,000 vehicles cross it every day.\n"
    )
    result = run_cli("ask", "--json", "How much did the harbour bridge repairs cost?",
                     "--corpus", str(corpus), "--data-dir", str(tmp_path / "data"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert not data["refused"] and "4.7 million euros" in data["answer"]
    assert data["citations"][0]["source"] == "harbour.md"
    assert data["citations"][0]["quote"] in (corpus / "harbour.md").read_text()
