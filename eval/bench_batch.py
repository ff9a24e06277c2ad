"""Batch Q&A against one process per question, end to end. Prints numbers; asserts nothing.

Side A is one `bot ask --file questions.txt --jsonl-out answers.jsonl`; side B is one `bot ask --json
QUESTION` per question, the way a shell loop would do it. Both are timed from process start to exit, on
the first N questions of eval/seed.jsonl, with the index built beforehand (ingest is in neither side).
Both sides answer through the same `Bot.ask`, so their answers are compared too.

Run: .venv/bin/python eval/bench_batch.py [--questions 50] [--model qwen2.5-1.5b|smollm2-135m]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SEED = Path(__file__).parent / "seed.jsonl"


def bot(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BOT_BACKEND": "embedded"}
    result = subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"bot {' '.join(args[:2])} failed: {result.stderr.strip()[-500:]}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--model", default="qwen2.5-1.5b")
    args = parser.parse_args()
    items = [json.loads(line) for line in SEED.read_text().splitlines() if line.strip()]
    questions = [i["question"] for i in items][: args.questions]

    with tempfile.TemporaryDirectory() as scratch:
        common = ["--model", args.model, "--data-dir", str(Path(scratch) / "data")]
        bot("ingest", *common[2:])
        listing = Path(scratch) / "questions.txt"
        listing.write_text("".join(q + "\n" for q in questions))
        out = Path(scratch) / "answers.jsonl"

        started = time.perf_counter()
        bot("ask", "--file", str(listing), "--jsonl-out", str(out), *common)
        batch = time.perf_counter() - started
        batch_answers = [json.loads(line)["answer"] for line in out.read_text().splitlines()]

        started = time.perf_counter()
        single_answers = [json.loads(bot("ask", "--json", q, *common).stdout)["answer"] for q in questions]
        separate = time.perf_counter() - started

    n = len(questions)
    same = sum(a == b for a, b in zip(batch_answers, single_answers, strict=True))
    print(f"model {args.model}, {n} seed questions, end to end (process start to exit):")
    print(f"  bot ask --file (one process):   {batch:8.1f} s  ({batch / n:.2f} s per question)")
    print(f"  bot ask per question ({n} runs): {separate:8.1f} s  ({separate / n:.2f} s per question)")
    print(f"  batch is {separate / batch:.1f}x faster; identical answers on both sides: {same}/{n}")


if __name__ == "__main__":
    main()
