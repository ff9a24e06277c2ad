"""`bot eval` end to end with the real bundled model: run folder, floors, comparison, and the RGB adapter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot import Bot
from bot.evaluation import _new_folder, compare, read_summary, rgb_items, run_eval

RGB_LIKE = {
    "id": 7,
    "query": "Where was the 2026 Harbour Cup final played?",
    "answer": ["Elmsworth Arena"],
    "positive": ["The 2026 Harbour Cup final was played at Elmsworth Arena on 14 March 2026."],
    "negative": ["Ticket prices for the Harbour Cup rose by 12 percent this year."],
    "positive_wrong": ["The 2026 Harbour Cup final was played at Brandt Stadium on 14 March 2026."],
    "fakeanswer": "Brandt Stadium",
}


def test_cli_writes_the_run_folder_and_enforces_floors(seed_data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "eval", "--limit", "2", "--out", str(out), "--data-dir", str(seed_data_dir),
         "--judge", "none", "--min", "key_facts=0.5", "--min", "token_f1=2"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "BOT_BACKEND": "embedded"},
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert (
        "below the floor: token_f1" in result.stderr and "key_facts" not in result.stderr.split("floor:")[1]
    )
    (run,) = out.iterdir()
    assert json.loads(result.stdout)["items"] == 2  # stdout is the summary alone
    assert f"Report: {run / 'report.html'}" in result.stderr
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    summary = json.loads((run / "summary.json").read_text())
    assert len(rows) == 2 and {"question", "answer", "draft", "citations", "total", "passed"} <= set(rows[0])
    assert summary["judge"] == "none" and summary["faithfulness_judge"] is None
    assert summary["items"] == 2 and summary["hit_at_k"] is not None
    report = (run / "report.html").read_text()
    assert report.count("<svg") == 2 and rows[0]["id"] in report
    assert any(
        line.startswith("key_facts") and "(+0.0000)" in line for line in compare(summary, read_summary(run))
    )


def test_cli_refuses_a_misspelt_floor_and_an_empty_corpus_before_any_question(tmp_path: Path) -> None:
    (empty := tmp_path / "empty").mkdir()
    (mine := tmp_path / "mine.jsonl").write_text('{"question": "Who won?", "answerable": true}\n')
    common = ["--judge", "none", "--out", str(tmp_path / "runs"), "--data-dir", str(tmp_path / "data")]
    (news := tmp_path / "news").mkdir()
    (news / "harbour.md").write_text("# Harbour\n\nThe harbour bridge reopened on 2026-03-14.\n")
    (listed := tmp_path / "listed").mkdir()
    (listed / "summary.json").write_text("[1, 2]")
    (not_rgb := tmp_path / "en_fact.json").write_text(
        '{"id": 0, "query": "Who?", "answer": "Ann", "positive": ["Ann won."], "negative": []}\n{"id": 1}\n'
    )
    cases = [
        (["--min", "pass_rat=0.8"], "no metric named 'pass_rat'; did you mean pass_rate?"),
        (["--min", "key_facts=nan"], "--min takes METRIC=NUMBER with a finite number, got 'key_facts=nan'"),
        (["--compare", str(tmp_path)], f"--compare {tmp_path} holds no summary.json"),
        (["--compare", str(listed)], f"--compare {listed / 'summary.json'} is not a run's summary"),
        (
            ["--dataset", "rgb", "--rgb-path", str(not_rgb)],
            f"--rgb-path {not_rgb} line 2 is not an RGB query",
        ),
        (["--dataset", "rgb", "--rgb-path", str(tmp_path / "no.json")], "RGB file not found"),
        (["--dataset", str(mine), "--corpus", str(empty)], f"No articles are indexed from {empty}"),
        (
            ["--corpus", str(news)],
            f"The seed set asks about the bundled seeds/ articles, which are not in {news}",
        ),
        (
            ["--dataset", str(mine), "generate", "--out", str(tmp_path / "g.jsonl")],
            "--dataset is an option of bot eval, not of bot eval generate",
        ),
    ]
    for options, message in cases:
        result = subprocess.run(
            [sys.executable, "-m", "bot", "eval", *options, *common], capture_output=True, text=True,
            timeout=600, env={**os.environ, "BOT_BACKEND": "embedded"},
        )  # fmt: skip
        assert result.returncode == 1 and "Traceback" not in result.stderr, result
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "runs").exists()


def test_rgb_adapter_builds_three_settings_with_their_own_corpora(embedded_bot: Bot, tmp_path: Path) -> None:
    path = tmp_path / "en_fact.json"
    path.write_text(json.dumps(RGB_LIKE) + "\n")
    items = list(rgb_items(path))
    assert [i["setting"] for i in items] == ["answer", "negative", "fakeanswer"]
    assert [i["answerable"] for i in items] == [True, False, True]
    run, summary = run_eval(embedded_bot, "rgb", rgb_path=path, limit=None, jobs=1, out_dir=tmp_path / "runs")
    rows = {r["setting"]: r for r in map(json.loads, (run / "results.jsonl").read_text().splitlines())}
    assert set(summary["by_setting"]) == {"answer", "negative", "fakeanswer"}
    # With no Ollama, the bundled model judges, with its own prompts, and says so.
    assert summary["judge"].startswith("embedded · Qwen2.5") and summary["judged_answers"] == 2
    assert rows["answer"]["faithfulness_judge"] is True and rows["answer"]["answer_relevance"] is True
    assert "Elmsworth Arena" in rows["answer"]["answer"]
    assert rows["negative"]["refused"]
    assert "Brandt Stadium" in rows["fakeanswer"]["answer"]  # the sources win over anything remembered


def test_two_runs_of_one_set_in_the_same_second_keep_both_folders(tmp_path: Path) -> None:
    """The second run's results replaced the first's."""
    first, second = (
        _new_folder(tmp_path, "20261130-090448-mine"),
        _new_folder(tmp_path, "20261130-090448-mine"),
    )
    assert (first.name, second.name) == ("20261130-090448-mine", "20261130-090448-mine-2")


def test_a_judge_that_takes_too_long_leaves_one_answer_unjudged_not_the_run_ended(
    scripted_bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot import evaluation
    from bot.evaluation import Judge

    class Stalled(type(scripted_bot.backend)):  # type: ignore[misc]
        def stream_chat(self, messages, *, max_tokens, num_ctx):  # type: ignore[no-untyped-def]
            time.sleep(1.0)
            yield "yes"

    monkeypatch.setattr(evaluation, "JUDGE_FIRST_TOKEN_SECONDS", 0.2)
    judge = Judge(scripted_bot, "none")
    judge.backend = Stalled(scripted_bot.settings)
    answer = scripted_bot.ask("How large is North Korea's military?")
    assert judge.faithful(answer) is None and judge.relevant(answer) is None


def test_a_row_keeps_the_models_draft_so_a_refusal_by_the_checks_can_be_told_apart(scripted_bot: Bot) -> None:
    from bot.evaluation import Judge, score_item

    draft = "North Korea has a military of approximately 9.9 million personnel [1]."  # no article says 9.9
    scripted_bot.backend.replies = [draft]  # type: ignore[attr-defined]
    item = {"id": "x", "setting": "seed", "question": "How large is North Korea's military?",
            "answerable": True, "reference": "1.2 million", "key_facts": ["1.2 million"]}  # fmt: skip
    row = score_item(scripted_bot, item, Judge(scripted_bot, "none"))
    assert row["refused"] and row["draft"].strip() == draft, row
