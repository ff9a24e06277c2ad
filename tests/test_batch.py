"""Batch Q&A through the real bundled model (SmolLM2: the batch machinery, not answer quality, is under
test), real files and the real `bot` command, and the one JSON shape of an answer record."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import Bot, BotError
from bot.answer import Answer, Passage
from bot.batch import SCHEMA_PATH, BatchResult, read_items
from tests.schema_check import problems

SEEDS = Path(__file__).parent.parent / "seeds"
SCHEMA = json.loads(SCHEMA_PATH.read_text())
SMALL_MODEL = "smollm2-135m"
MILITARY = "How large is North Korea's military?"
FOLLOW_UP = {
    "id": "f1",
    "question": "When did he confirm it?",
    "history": [
        {"role": "user", "content": "Who confirmed that North Korea has dispatched troops to Russia?"},
        {"role": "assistant", "content": "U.S. Secretary of Defense Lloyd Austin."},
    ],
}
# (line of the input file, the id its record must carry, a phrase its error must contain or None)
LINES: list[tuple[str, object, str | None]] = [
    (json.dumps({"id": "mil", "question": MILITARY}), "mil", None),
    (json.dumps({"question": "How many containers has North Korea delivered to Russia?"}), 2, None),
    ("this is not json", 3, "line 3 is not valid JSON"),
    (json.dumps(FOLLOW_UP), "f1", None),
    ("42", 5, "expected a question or an object with a question, got a number"),
    (json.dumps({"id": "noq"}), "noq", '"question" must be text, got nothing'),
    (json.dumps({"id": "empty", "question": "   "}), "empty", "empty"),
    (json.dumps({"id": "long", "question": "why " * 300}), "long", "1000"),
    (
        json.dumps({"id": "hist", "question": "Who?", "history": "not a list"}),
        "hist",
        '"history": The history must be',
    ),
    (json.dumps({"id": True, "question": "Who?"}), 10, '"id" must be a string or a whole number'),
    ("", None, None),  # a blank line is skipped, not a record
    (json.dumps({"id": "boil", "question": "What is the boiling point of water?"}), "boil", None),
    (
        json.dumps({"id": 99, "question": "Where was Lloyd Austin when he confirmed the deployment?"}),
        99,
        None,
    ),
    (json.dumps({"question": "Which Russian region did the North Korean troops arrive in?"}), 14, None),
    (json.dumps({"question": "How many nuclear tests has North Korea conducted?"}), 15, None),
    (json.dumps({"question": "Who is Carl Schuster?"}), 16, None),
    (
        json.dumps({"question": "How many Russian soldiers have died since the invasion?", "extra": 1}),
        17,
        None,
    ),
    (json.dumps({"question": "When did Kim Jong-un and Putin sign their treaty?"}), 18, None),
    (json.dumps({"question": "What did Putin say about the troops?"}), 19, None),
    (json.dumps({"question": "Who won the 2022 football World Cup?"}), 20, None),
    (json.dumps({"question": "What is Russia's veto likely to block?"}), 21, None),
]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], capture_output=True, text=True, timeout=900,
        env={**os.environ, "BOT_BACKEND": "embedded"},
    )  # fmt: skip


@pytest.fixture(scope="module")
def small_bot(seed_data_dir: Path) -> Bot:
    return Bot.load(corpus=SEEDS, data_dir=seed_data_dir, backend="embedded", embedded_model=SMALL_MODEL)


def test_cli_answers_a_file_of_20_in_input_order_with_bad_lines_as_error_records(
    seed_data_dir: Path, tmp_path: Path
) -> None:
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(line + "\n" for line, _, _ in LINES))
    out = tmp_path / "out" / "answers.jsonl"
    result = run_cli("ask", "--file", str(questions), "--jsonl-out", str(out), "--model", SMALL_MODEL,
                     "--data-dir", str(seed_data_dir))  # fmt: skip
    assert result.returncode == 1, result.stderr  # every line answered, but some became errors
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert "20/20" in result.stderr  # the progress bar
    assert "20 questions" in result.stderr and "7 errors." in result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    expected = [(item_id, error) for line, item_id, error in LINES if line]
    assert len(records) == len(expected) == 20
    for record, (item_id, error) in zip(records, expected, strict=True):
        assert problems(record, SCHEMA) == [], record
        assert record["id"] == item_id
        if error is None:
            assert "error" not in record and record["answer"] and record["backend"] == "embedded"
        else:
            assert error in record["error"] and "answer" not in record
    by_id = {r["id"]: r for r in records}
    assert by_id["boil"]["refused"] and by_id["boil"]["citations"] == []
    assert by_id["f1"]["rewritten_query"] != FOLLOW_UP["question"]  # the history was used
    for record in records:
        for c in record.get("citations", []):
            assert c["quote"] == (SEEDS / c["source"]).read_text()[c["start"] : c["end"]]


def test_cli_plain_text_file_to_stdout_and_ask_json_share_the_schema(
    seed_data_dir: Path, tmp_path: Path
) -> None:
    questions = tmp_path / "questions.txt"
    questions.write_text("What is the boiling point of water?\n\n   \nWho won the 2022 football World Cup?\n")
    batch = run_cli("ask", "--file", str(questions), "--model", SMALL_MODEL, "--data-dir", str(seed_data_dir))
    assert batch.returncode == 0, batch.stderr
    records = [json.loads(line) for line in batch.stdout.splitlines()]
    assert [r["id"] for r in records] == [1, 4]  # line numbers; blank lines skipped
    single = run_cli("ask", "--json", "What is the boiling point of water?", "--model", SMALL_MODEL,
                     "--data-dir", str(seed_data_dir))  # fmt: skip
    assert single.returncode == 0, single.stderr
    answer = json.loads(single.stdout)
    assert problems(answer, SCHEMA) == [] and problems(records[0], SCHEMA) == []
    assert set(records[0]) - set(answer) == {"id"}
    assert {k: v for k, v in records[0].items() if k not in ("id", "timings")} == {
        k: v for k, v in answer.items() if k != "timings"
    }


def test_ask_many_streams_in_order_and_matches_ask(small_bot: Bot) -> None:
    pulled: list[object] = []

    def items() -> Iterator[object]:
        for item in [
            MILITARY,
            {"id": "x", "question": "What is the boiling point of water?"},
            None,
            {"question": 5},
            {"id": "x", "question": "Who is Carl Schuster?"},  # its answer could pass for the first x's
        ]:
            pulled.append(item)
            yield item

    results = small_bot.ask_many(items())
    first = next(results)
    assert len(pulled) == 1  # answered as it goes, not after reading everything
    rest = list(results)
    assert [r.id for r in [first, *rest]] == [1, "x", 3, 4, "x"]
    assert isinstance(first, BatchResult) and first.answer is not None
    assert first.answer.text == small_bot.ask(MILITARY).text  # the one answer path
    assert rest[0].answer is not None and rest[0].answer.refused
    assert rest[1].error and rest[2].error == '"question" must be text, got a number'
    assert rest[3].error == '"id" "x" is taken by an earlier question: give each question its own "id"'
    for result in [first, *rest]:
        assert problems(result.to_dict(), SCHEMA) == []
    [alone] = small_bot.ask_many("Who is Carl Schuster?")  # one question, not one per character
    assert alone.id == 1 and alone.answer and alone.answer.question == "Who is Carl Schuster?"
    [paired] = small_bot.ask_many(
        [{"question": "When?", "history": [["Who is Carl Schuster?", "An analyst."]]}]
    )
    assert paired.answer, paired.error  # a (question, answer) pair, as `ask` takes it
    first_id, clash = small_bot.ask_many([{"id": 2, "question": MILITARY}, "Who is Carl Schuster?"])
    assert first_id.answer and clash.error
    assert clash.error.startswith('"id" 2 (its number in the input) is taken by an earlier question')
    with pytest.raises(BotError, match="No article named 'nope.txt'"):  # once, not once per question
        next(small_bot.ask_many([MILITARY, MILITARY], sources=["nope.txt"]))


def test_the_schema_check_rejects_what_the_schema_forbids() -> None:
    error = BatchResult(3, None, error="bad line").to_dict()
    assert problems(error, SCHEMA) == []
    assert problems({**error, "answer": "x"}, SCHEMA)  # neither an answer nor an error record
    assert problems({"id": 1, "error": "x"}, SCHEMA)  # question must be present (null when unknown)
    assert problems({"id": 1.5, "question": None, "error": "x"}, SCHEMA)


def test_a_record_gives_each_passage_date_as_written_and_as_iso() -> None:
    """A script filtering answers by date had to parse "Oct. 23, 2024" itself."""
    passages = [
        Passage(n, f"{n}.md", "T", written, "text", 0, 4, 0.5)
        for n, written in enumerate(["Oct. 23, 2024", "5 March 2026", "2025-06-14", None], 1)
    ]
    record = Answer("Q?", "A [1].", False, [], passages, "Q?", "embedded", "m").to_dict()
    assert [(p["date"], p["published"]) for p in record["passages"]] == [
        ("Oct. 23, 2024", "2024-10-23"),
        ("5 March 2026", "2026-03-05"),
        ("2025-06-14", "2025-06-14"),
        (None, None),
    ]
    assert problems({"id": 1, **record}, SCHEMA) == []
    assert problems(
        {"id": 1, **record, "passages": [{**record["passages"][0], "published": "Oct 23"}]}, SCHEMA
    )


def test_a_json_file_of_one_object_a_line_is_read_as_json_lines(tmp_path: Path) -> None:
    """A "questions.json" was asked as raw text: '{"id": "x", "question": …}' went to the model."""
    for name in ("questions.json", "questions.ndjson", "questions.jsonl"):
        path = tmp_path / name
        path.write_text('{"id": "x", "question": "Who confirmed the deployment?"}\n')
        [item] = read_items(path)
        assert (item.id, item.question) == ("x", "Who confirmed the deployment?"), name
    path = tmp_path / "questions.txt"
    path.write_text("Who confirmed the deployment?\n")
    assert read_items(path)[0].question == "Who confirmed the deployment?"


def test_cli_output_problems_are_one_line_and_keep_what_is_stored(
    seed_data_dir: Path, tmp_path: Path
) -> None:
    questions = tmp_path / "questions.txt"
    questions.write_text("\ufeffWho is Carl Schuster?\nWho is Lloyd Austin?\n")  # a BOM is no text
    kept = tmp_path / "kept.jsonl"
    kept.write_text("earlier answers\n")
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    cases = [
        (["--jsonl-out", str(questions)], "is the question file itself"),
        (["--jsonl-out", str(a_file / "answers.jsonl")], "is a file, not a folder"),
        (["--jsonl-out", str(kept)], f"--jsonl-out {kept} exists: choose another file, or pass --force"),
        (["--jsonl-out", str(kept), "--force", "--source", "nope.txt"], "No article named 'nope.txt'"),
        (["--jsonl-out", "/dev/full", "--force"], "Cannot write the answers to /dev/full"),
    ]
    for options, message in cases:
        result = run_cli("ask", "--file", str(questions), *options, "--model", SMALL_MODEL,
                         "--data-dir", str(seed_data_dir))  # fmt: skip
        assert result.returncode == 1 and "Traceback" not in result.stderr, result
        assert message in result.stderr.strip().splitlines()[-1], result.stderr
    assert (
        questions.read_text().startswith("\ufeffWho is Carl Schuster?")
        and kept.read_text() == "earlier answers\n"
    )
    assert read_items(questions)[0].question == "Who is Carl Schuster?"


def _ctrl_c_as_in_a_terminal() -> None:
    """A shell starts a background job (`cmd &`, as CI may run the tests) with Ctrl-C ignored, and its
    children inherit that: the bot then rightly answered every question. A user's terminal does not."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_mid_batch_exits_130_keeping_whole_records(seed_data_dir: Path, tmp_path: Path) -> None:
    # Interrupted while the model computes, the process once died of a segmentation fault about every
    # other time (interpreter shutdown freed what llama.cpp was computing with): try a few moments.
    questions = tmp_path / "questions.txt"
    questions.write_text(f"{MILITARY}\nWho is Carl Schuster?\nHow many containers were delivered?\n" * 10)
    for attempt in range(4):
        out = tmp_path / f"answers-{attempt}.jsonl"
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "ask", "--file", str(questions), "--jsonl-out", str(out),
             "--model", SMALL_MODEL, "--data-dir", str(seed_data_dir)],
            stderr=subprocess.PIPE, text=True, env={**os.environ, "BOT_BACKEND": "embedded"},
            preexec_fn=_ctrl_c_as_in_a_terminal,
        )  # fmt: skip
        deadline = time.monotonic() + 300
        while not (out.exists() and out.read_text().count("\n") >= 1 + attempt % 2):
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()  # type: ignore[union-attr]
            time.sleep(0.05)
        time.sleep(0.15 * attempt)  # somewhere in the next answer
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 130, (attempt, process.returncode, stderr[-800:])
        assert stderr.rstrip().endswith("Interrupted."), stderr[-800:]
        assert all(json.loads(line)["answer"] for line in out.read_text().splitlines())


def test_only_a_line_feed_ends_a_line_and_stdin_and_stdout_are_dash(
    seed_data_dir: Path, tmp_path: Path
) -> None:
    """JSON written with ensure_ascii=False may hold U+2028 or U+0085 in a string: `splitlines` cut such
    a valid file into broken lines."""
    questions = tmp_path / "questions.jsonl"
    odd = "Who is Carl\u2028Schuster?"
    questions.write_text(
        json.dumps({"id": "x", "question": odd}, ensure_ascii=False) + "\r\n", encoding="utf-8"
    )
    [item] = read_items(questions)
    assert (item.id, item.question, item.error) == ("x", odd, None)
    piped = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "--file", "-", "--jsonl-out", "-", "--model", SMALL_MODEL,
         "--data-dir", str(seed_data_dir)],
        input="What is the boiling point of water?\n\nWho is Carl Schuster?\n", capture_output=True, text=True,
        timeout=900, env={**os.environ, "BOT_BACKEND": "embedded"},
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert [json.loads(line)["id"] for line in piped.stdout.splitlines()] == [1, 3]
    assert not Path("-").exists()


def test_an_answer_printed_into_a_full_disk_is_one_line(seed_data_dir: Path) -> None:
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "bot", "ask", "--json", "Who is Carl Schuster?", "--model", SMALL_MODEL,
             "--data-dir", str(seed_data_dir)],
            stdout=full, stderr=subprocess.PIPE, text=True, timeout=900, env={**os.environ, "BOT_BACKEND": "embedded"},
        )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: cannot write the output (No space left on device): free some space, or write elsewhere."
    ), result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
