"""Speed baselines on the seed corpus with the embedded backend. Prints numbers; asserts nothing.

Run: .venv/bin/python eval/benchmark.py
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

from bot import Bot
from bot.grounding import EvidenceSet

QUESTIONS = [
    json.loads(line)["question"] for line in (Path(__file__).parent / "seed.jsonl").read_text().splitlines()
]


def main() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        started = time.perf_counter()
        bot = Bot.load(data_dir=data_dir, backend="embedded")
        print(
            f"cold load + ingest of seeds/: {time.perf_counter() - started:.2f}s ({bot.last_sync.summary()})"
        )
        started = time.perf_counter()
        report = bot.reindex(rebuild=True)
        print(
            f"ingest (rebuild, models loaded): {time.perf_counter() - started:.2f}s, {report.chunks_embedded} passages"
        )

        pipeline = []
        for q in QUESTIONS:
            started = time.perf_counter()
            EvidenceSet(bot.retrieve(q), bot.index.texts, bot.embedder).rank_for_question(q)
            pipeline.append(time.perf_counter() - started)
        print(
            f"pipeline without the LLM (retrieve + evidence check), p50 over {len(QUESTIONS)}: "
            f"{statistics.median(pipeline) * 1000:.0f} ms"
        )

        totals, firsts = [], []
        for q in QUESTIONS[:10]:
            answer = bot.ask(q)
            totals.append(answer.timings["total"])
            if "first_token" in answer.timings:
                firsts.append(answer.timings["first_token"])
        print(
            f"answer time, embedded backend, p50 of 10 questions: {statistics.median(totals):.2f}s "
            f"(max {max(totals):.2f}s; time to first token p50 {statistics.median(firsts):.2f}s)"
        )


if __name__ == "__main__":
    main()
