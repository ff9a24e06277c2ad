"""`bot eval --dataset FILE.jsonl` on a user's own set, and `bot eval generate` drafting one, through the
real bundled model (Qwen: generated questions must be usable), real files and the real `bot` command."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot import Bot, BotError
from bot.evaluation import check_evidence, dataset_items
from bot.generate import (
    ABSENT_DETAILS,
    Candidate,
    _answerable_checks,
    _duplicate,
    _never_mentioned,
    _question,
    facts_in,
)
from bot.index import StoredPassage

SEEDS = Path(__file__).parent.parent / "seeds"
HARBOUR = (
    "# Harbour bridge reopens\n\nThe Elmsworth harbour bridge reopened on 2026-03-14 after repairs costing "
    "4.7 million euros. Mayor Ilse Brandt said 30,000 vehicles cross it every day.\n"
)
NOT_APPLICABLE = ("key_facts", "token_f1", "hit_at_k", "mrr", "evidence_recall")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], capture_output=True, text=True, timeout=1800,
        env={**os.environ, "BOT_BACKEND": "embedded"},
    )  # fmt: skip


def write_jsonl(path: Path, items: list[dict[str, object]]) -> Path:
    """As `bot eval generate` writes: non-ASCII as is, U+2028 included."""
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    return path


def test_eval_on_a_user_file_with_only_question_and_answerable(tmp_path: Path) -> None:
    corpus = tmp_path / "news"
    corpus.mkdir()
    (corpus / "harbour.md").write_text(HARBOUR)
    dataset = write_jsonl(tmp_path / "mine.jsonl", [
        {"question": "How much did the harbour bridge repairs cost?", "answerable": True},
        {"question": "How many vehicles cross the Elmsworth harbour bridge every day?", "answerable": True},
        {"question": "Who designed the Elmsworth harbour bridge?", "answerable": False},
    ])  # fmt: skip
    out = tmp_path / "runs"
    result = run_cli("eval", "--dataset", str(dataset), "--corpus", str(corpus), "--data-dir",
                     str(tmp_path / "data"), "--judge", "none", "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    (run,) = out.iterdir()
    assert run.name.endswith("-mine")
    summary = json.loads((run / "summary.json").read_text())
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert summary["items"] == 3 and summary["errors"] == 0 and summary["dataset"] == str(dataset)
    for metric in NOT_APPLICABLE:  # need key_facts, reference or evidence: not applicable, not zero
        assert summary[metric] is None, metric
    for metric in ("pass_rate", "refusal_recall", "latency_total_p50", "invented_facts_per_answer"):
        assert summary[metric] is not None, metric
    assert set(summary["by_setting"]) == {"answerable", "unanswerable"}
    assert [r["id"] for r in rows] == ["line1", "line2", "line3"]
    assert "4.7 million euros" in rows[0]["answer"] and rows[0]["passed"]
    report = (run / "report.html").read_text()
    assert "Not applicable to this set (n/a): " in report and "token_f1" in report.split("(n/a): ")[1]


def test_a_bad_dataset_line_is_one_error_naming_the_line(tmp_path: Path) -> None:
    dataset = tmp_path / "bad.jsonl"
    dataset.write_text(
        '{"question": "Who?", "answerable": true}\n{"question": "Why?", "answerable": "yes"}\n\n[1]\n'
        '{"question": "When?", "answerabel": true}\n{"question": "How?", "answerable": false, "kind": 5}\n'
        '{"question": "On?", "answerable": true, "key_facts": [["Oct 19, 2021", "19 October 2021"]]}\n'
        '{"question": "At?", "answerable": true, "key_facts": [[]]}\n'
    )
    with pytest.raises(BotError) as raised:
        dataset_items(dataset)
    assert str(raised.value) == (
        f'{dataset} line 2: "answerable" must be true or false; line 4: each line must be a JSON object; '
        'line 5: "answerable" is missing ("answerabel" is not a field: did you mean "answerable"?); '
        'line 6: "kind" must be text; line 8: "key_facts" must be a list of non-empty strings (or of lists '
        "of them: any one form counts). The format is in eval/README.md."
    )
    with pytest.raises(BotError, match="no such file"):
        dataset_items(tmp_path / "missing.jsonl")
    result = run_cli("eval", "--dataset", str(dataset))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"Error: {raised.value}"]
    (not_utf8 := tmp_path / "latin1.jsonl").write_bytes(
        '{"question": "Où?", "answerable": true}'.encode("latin-1")
    )
    with pytest.raises(BotError, match="is not UTF-8 text"):
        dataset_items(not_utf8)
    (with_bom := tmp_path / "bom.jsonl").write_text('\ufeff{"question": "Who?", "answerable": true}\n')
    assert dataset_items(with_bom)[0]["question"] == "Who?"


def test_an_unreadable_dataset_is_one_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As root (CI) no file is unreadable, so the OS's refusal is raised where the file is read."""
    from bot import evaluation

    (dataset := tmp_path / "secret.jsonl").write_text('{"question": "Who?", "answerable": true}\n')

    def refused(path: Path) -> list[str]:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(evaluation, "read_lines", refused)
    with pytest.raises(BotError, match=f"--dataset {dataset} cannot be read: Permission denied"):
        dataset_items(dataset)


def test_fields_the_eval_does_not_know_are_ignored_whatever_their_type(tmp_path: Path) -> None:
    """ "setting" once named the report's groups and crashed the summary when it was a list."""
    (dataset := tmp_path / "mine.jsonl").write_text(
        '{"question": "Who?", "answerable": true, "setting": ["a"]}\n'
        '{"question": "Why?", "answerable": false, "kind": "off_topic", "setting": 2, "style": {}}\n'
    )
    assert [i["setting"] for i in dataset_items(dataset)] == ["answerable", "off_topic"]


def test_a_dataset_line_bot_ask_would_refuse_is_refused_up_front(tmp_path: Path) -> None:
    """They became error rows after the model loaded, and the run exited 0."""
    dataset = write_jsonl(tmp_path / "asks.jsonl", [
        {"question": "why " * 300, "answerable": True},
        {"question": "Who\u0007?", "answerable": True},
        {"question": "When?", "answerable": True, "history": [1, 2]},
        {"question": "Who is the harbour\u2028master?", "answerable": True},  # a line separator is text
    ])  # fmt: skip
    with pytest.raises(BotError) as raised:
        dataset_items(dataset)
    message = str(raised.value)
    assert "line 1: The question is 1199 characters long; the limit is 1000." in message, message
    assert "; line 2: " in message and "; line 3: History item 1: " in message and "line 4" not in message
    with pytest.raises(BotError) as longer:  # the bot's own limit is the one applied
        dataset_items(dataset, max_question_chars=2000)
    assert "line 1" not in str(longer.value)


def test_evidence_must_be_verbatim_in_the_corpus(scripted_bot: Bot, tmp_path: Path) -> None:
    source = "000_6519782bd4111da1.txt"
    good = {
        "question": "How large?",
        "answerable": True,
        "evidence": [{"source": source, "quote": "1.2 million"}],
    }
    path = write_jsonl(tmp_path / "set.jsonl", [good])
    check_evidence(dataset_items(path), scripted_bot, path)
    typo = {**good, "evidence": [{"source": source, "quote": "1.3 million"}]}
    path = write_jsonl(tmp_path / "set.jsonl", [good, typo])
    with pytest.raises(BotError, match="line 2: the evidence quote is not verbatim"):
        check_evidence(dataset_items(path), scripted_bot, path)
    elsewhere = {**good, "evidence": [{"source": "other.txt", "quote": "1.2 million"}]}
    path = write_jsonl(tmp_path / "set.jsonl", [elsewhere])
    with pytest.raises(BotError, match="'other.txt' is not an article in"):
        check_evidence(dataset_items(path), scripted_bot, path)


def test_generate_on_the_seeds_writes_a_file_that_eval_accepts(seed_data_dir: Path, tmp_path: Path) -> None:
    drafted = tmp_path / "drafts" / "generated.jsonl"
    # the corpus options may also come before `generate`
    result = run_cli("eval", "--data-dir", str(seed_data_dir), "generate", "--out", str(drafted), "--n", "4")
    assert result.returncode == 0, result.stderr
    assert f"to {drafted}" in result.stdout and f"--data-dir {seed_data_dir}" in result.stdout
    drafted_text = drafted.read_text()
    items = [json.loads(line) for line in drafted_text.splitlines()]
    # A second run does not overwrite a set that may have been reviewed, and a bad --out fails up front.
    again = run_cli("eval", "generate", "--out", str(drafted), "--data-dir", str(seed_data_dir))
    under_a_file = run_cli(
        "eval", "generate", "--out", str(drafted / "x.jsonl"), "--data-dir", str(seed_data_dir)
    )
    for refused, message in ((again, "exists and may be a set you reviewed"), (under_a_file, "is a file")):
        assert refused.returncode == 1 and message in refused.stderr and "Traceback" not in refused.stderr
    assert drafted.read_text() == drafted_text
    assert 1 <= len(items) <= 4 and all(i["generated"] is True for i in items)
    assert len({i["id"] for i in items}) == len(items) and len({i["question"] for i in items}) == len(items)
    answerable = [i for i in items if i["answerable"]]
    assert answerable, items
    for item in answerable:
        (evidence,) = item["evidence"]
        article = (SEEDS / evidence["source"]).read_text()
        passage = item["passage"]
        assert article[passage["start"] : passage["end"]] == passage["text"]
        assert evidence["quote"] in passage["text"]
        assert all(
            f in evidence["quote"] and f.lower() not in item["question"].lower() for f in item["key_facts"]
        )
        assert item["question"].endswith("?")
    for item in items:
        if not item["answerable"]:
            assert item["kind"] in ("off_topic", "not_given") and item["key_facts"] == []
    out = tmp_path / "runs"
    run = run_cli("eval", "--dataset", str(drafted), "--data-dir", str(seed_data_dir), "--judge", "none",
                  "--out", str(out))  # fmt: skip
    assert run.returncode == 0, run.stderr
    (folder,) = out.iterdir()
    summary = json.loads((folder / "summary.json").read_text())
    errors = [
        r["error"]
        for r in map(json.loads, (folder / "results.jsonl").read_text().splitlines())
        if "error" in r
    ]
    assert summary["items"] == len(items) and errors == []
    assert summary["hit_at_k"] is not None and summary["key_facts"] is not None


# -- the generator's rules, on hand-made drafts (no model) ------------------------------------------


SENTENCE = "On October 23 in Rome, U.S. Secretary of Defense Lloyd Austin confirmed that North Korea has sent troops."
PASSAGE = StoredPassage("a.txt", 0, 0, len(SENTENCE) + 10, SENTENCE + " More text.")
CANDIDATE = Candidate(PASSAGE, "Title", SENTENCE, "October 23")


def test_facts_are_dates_and_numbers_first_and_never_the_story_subject() -> None:
    article = " ".join([SENTENCE] + ["North Korea is in the news."] * 3)
    facts = facts_in(SENTENCE, article)
    assert facts[0] == "October 23" and "Rome" in facts
    assert "North Korea" not in facts  # named four times in the article: the subject, not an answer
    assert facts_in("It has 1.2 million personnel and conducted six tests.", "") == ["1.2 million", "six"]


@pytest.mark.parametrize(
    ("reply", "kept"),
    [
        ("When did Lloyd Austin confirm that North Korea has sent troops?", True),
        (
            "Question: **When did Lloyd Austin confirm that North Korea sent troops?** Answer: October 23",
            True,
        ),
        ("When did Lloyd Austin confirm it, on October 23?", False),  # gives the answer away
        ("What date does the passage give for Lloyd Austin's confirmation?", False),  # about the text
        ("When did the ceremony start?", False),  # not about the sentence
        ("Lloyd Austin confirmed it.", False),  # not a question
    ],
)
def test_answerable_drafts_are_checked(reply: str, kept: bool) -> None:
    question = _question(reply)
    assert bool(question and _answerable_checks(question, CANDIDATE)) is kept


def test_near_duplicate_questions_are_dropped(scripted_bot: Bot) -> None:
    seen = ["How large is North Korea's military?"]
    assert _duplicate(scripted_bot, "how large is North Korea's military", seen)
    assert _duplicate(scripted_bot, "How big is the North Korean military?", seen)
    assert not _duplicate(scripted_bot, "When did Ukraine announce that North Korean troops arrived?", seen)


def test_an_on_topic_question_is_unanswered_only_if_no_retrieved_article_mentions_its_kind_of_detail(
    scripted_bot: Bot,
) -> None:
    details = {d.name: d for d in ABSENT_DETAILS}
    asks_money, money = details["an amount of money"].asks, details["an amount of money"].mention
    assert asks_money.search("How much did the deal cost?") and not asks_money.search("How many troops?")
    assert money.search("a $2 million deal") and money.search("40 million euros") and not money.search("won")
    percentage = details["a percentage"].mention
    assert percentage.search("up 4%") and percentage.search("12 per cent")
    # The seeds never give a sum of money; a month they do give.
    assert _never_mentioned(scripted_bot, "How much is Russia paying North Korea for its troops?", money)
    october = re.compile(r"\bOctober\b")
    assert not _never_mentioned(scripted_bot, "When did Lloyd Austin confirm the deployment?", october)


def test_a_draft_the_model_takes_too_long_on_is_dropped_not_the_run(
    scripted_bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One timeout ended `bot eval generate`, losing the items kept so far."""
    from bot import Timeout
    from bot.generate import generate

    def too_slow(*args: object, **kwargs: object) -> None:
        raise Timeout("Bundled model did not finish within 1.2s; raise BOT_TIMEOUT for long answers.")

    monkeypatch.setattr(scripted_bot, "write", too_slow)
    monkeypatch.setattr(scripted_bot, "ask_model", too_slow)
    assert generate(scripted_bot, 3, progress=False) == []
