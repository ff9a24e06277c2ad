"""Speed on the seed corpus with the embedded backend. Prints numbers; asserts nothing.

Side by side in one run, alternating per question (these machines are noisy): the prompt the bot sends
(the best evidence sentences) against the one it used to send (four whole passages), in prompt tokens
and time to first token on the same model.

Run: .venv/bin/python eval/benchmark.py [--questions 10]

`--scale 10000,100000` measures the index at archive scale instead (eval/bench_scale.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bot import Bot
from bot.grounding import REFUSAL
from bot.prompts import render

SEED = Path(__file__).parent / "seed.jsonl"
OLD_PROMPT = "Passages:\n{passages}\n\nQuestion: {question}\nAnswer with citations like [1]:"


def p50_p95(values: list[float]) -> str:
    ordered = sorted(values)
    return f"p50 {statistics.median(ordered):.2f}s, p95 {ordered[round(0.95 * (len(ordered) - 1))]:.2f}s"


def first_token(bot: Bot, user: str) -> tuple[float, int]:
    """Seconds to the first token and the prompt's token count, for one user message."""
    messages = [
        {"role": "system", "content": render("system", refusal=REFUSAL)},
        {"role": "user", "content": user},
    ]
    llama = bot.backend._load()  # type: ignore[attr-defined]
    tokens = len(llama.tokenize("\n".join(m["content"] for m in messages).encode()))
    started = time.perf_counter()
    for _ in bot.backend.stream_chat(messages, max_tokens=1, num_ctx=4096):
        break
    return time.perf_counter() - started, tokens


def main() -> None:
    if "--scale" in sys.argv:
        from bench_scale import main as scale

        scale()
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=10)
    args = parser.parse_args()
    items = [json.loads(line) for line in SEED.read_text().splitlines() if line.strip()]
    answerable = [i["question"] for i in items if i["answerable"]][: args.questions]

    with tempfile.TemporaryDirectory() as data_dir:
        started = time.perf_counter()
        bot = Bot.load(data_dir=data_dir, backend="embedded")
        print(f"load + ingest of seeds/: {time.perf_counter() - started:.2f}s ({bot.last_sync.summary()})")
        started = time.perf_counter()
        report = bot.reindex(rebuild=True)
        print(
            f"ingest (rebuild, embedder loaded): {time.perf_counter() - started:.2f}s, {report.chunks_embedded} passages"
        )
        started = time.perf_counter()
        bot.backend._load()  # type: ignore[attr-defined]
        print(f"model load ({bot.backend.model}): {time.perf_counter() - started:.2f}s")

        pipeline = []
        for q in [i["question"] for i in items]:
            started = time.perf_counter()
            bot.grounder.check(q, bot.retrieve(q), bot.index.texts)
            pipeline.append(time.perf_counter() - started)
        print(f"pipeline without the model (retrieve + check), over {len(items)} questions: "
              f"p50 {statistics.median(pipeline) * 1000:.0f} ms")  # fmt: skip

        old_t, new_t, old_n, new_n = [], [], [], []
        for q in answerable:
            passages = bot.retrieve(q)
            check = bot.grounder.check(q, passages, bot.index.texts)
            whole = "\n".join(f"[{p.number}] ({p.title})\n{p.text}" for p in passages)
            seconds, tokens = first_token(bot, OLD_PROMPT.format(passages=whole, question=q))
            old_t.append(seconds)
            old_n.append(tokens)
            seconds, tokens = first_token(bot, render("answer", excerpts=check.excerpts, question=q))
            new_t.append(seconds)
            new_n.append(tokens)
        print(f"prompt tokens, 4 whole passages: median {statistics.median(old_n):.0f}; "
              f"evidence sentences: median {statistics.median(new_n):.0f}")  # fmt: skip
        print(
            f"time to first token, 4 whole passages: {p50_p95(old_t)}; evidence sentences: {p50_p95(new_t)}"
        )

        totals, firsts = [], []
        for q in answerable:
            answer = bot.ask(q)
            totals.append(answer.timings["total"])
            if "first_token" in answer.timings:
                firsts.append(answer.timings["first_token"])
        print(f"Bot.ask over {len(answerable)} answerable seed questions: total {p50_p95(totals)}; "
              f"first token {p50_p95(firsts)}")  # fmt: skip


if __name__ == "__main__":
    main()
