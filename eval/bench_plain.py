"""This bot against the plain LlamaIndex RAG a user would write instead, side by side. Prints a table.

The plain pipeline is `VectorStoreIndex.from_documents(...).as_query_engine(llm=LlamaCPP(...))` with
LlamaIndex's defaults (1,024-token chunks, top 2, its own QA prompt), the same GGUF and the same
embedder; only the chat template is set to ChatML, as the model needs. Each side runs in its own worker
process (so each has its own peak memory) and the two answer the same questions alternately (these
machines are noisy). Scoring is the eval's: an answerable question is right when the answer states its
key facts; a refusal is recognised by the grounder's own rule for a model's refusal; invented facts are
numbers and names found in no seed article.

Needs the benchmark extra: pip install -e ".[bench]"
Run: .venv/bin/python eval/bench_plain.py [--answerable 20] [--unanswerable 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SEED = HERE / "seed.jsonl"
MAX_NEW_TOKENS = 256  # LlamaIndex's default number of output tokens
CONTEXT_WINDOW = 4096  # the bot's own context for the bundled model


def chatml(messages: list[tuple[str, str]]) -> str:
    turns = "".join(f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in messages)
    return f"{turns}<|im_start|>assistant\n"


class PlainRag:
    """What the LlamaIndex starter tutorial builds, pointed at the bundled model and embedder."""

    def __init__(self, corpus: Path) -> None:
        from llama_index.core import Settings, SimpleDirectoryReader, VectorStoreIndex
        from llama_index.llms.llama_cpp import LlamaCPP

        from bot.backends.embedded import extra_buffer_types
        from bot.embedding import onnx_embedding
        from bot.models import qwen_path

        Settings.embed_model = onnx_embedding()
        with extra_buffer_types():  # the same kernels as the bot
            Settings.llm = LlamaCPP(
                model_path=str(qwen_path()),
                temperature=0.0,
                max_new_tokens=MAX_NEW_TOKENS,
                context_window=CONTEXT_WINDOW,
                model_kwargs={
                    "seed": 0,
                    "n_threads": os.cpu_count() or 1,
                },  # as the bot; llama.cpp defaults to half
                messages_to_prompt=lambda ms: chatml([(m.role.value, m.content or "") for m in ms]),
                completion_to_prompt=lambda text: chatml([("user", text)]),
                verbose=False,
            )
        documents = SimpleDirectoryReader(str(corpus)).load_data()
        self.engine = VectorStoreIndex.from_documents(documents).as_query_engine(streaming=True)

    def answer(self, question: str) -> dict[str, Any]:
        started = time.perf_counter()
        first = None
        parts = []
        for token in self.engine.query(question).response_gen:
            first = first or time.perf_counter() - started
            parts.append(token)
        return {"text": "".join(parts).strip(), "first_token": first, "total": time.perf_counter() - started}


class ThisBot:
    def __init__(self, data_dir: Path) -> None:
        from bot import Bot

        self.bot = Bot.load(data_dir=data_dir, backend="embedded")
        self.bot.backend._load()  # type: ignore[attr-defined]  # in start-up, as LlamaCPP loads it there

    def answer(self, question: str) -> dict[str, Any]:
        answer = self.bot.ask(question)
        return {
            "text": answer.text,
            "refused": answer.refused,
            "first_token": answer.timings.get("first_token"),
            "total": answer.timings["total"],
        }


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker(side: str, scratch: Path) -> None:
    """Serve one side over stdin/stdout, one JSON object per line."""
    from bot.paths import bundled_dir

    started = time.perf_counter()
    pipeline = PlainRag(bundled_dir("seeds")) if side == "plain" else ThisBot(scratch / "data")
    print(json.dumps({"start": time.perf_counter() - started}), flush=True)
    for line in sys.stdin:
        print(json.dumps(pipeline.answer(json.loads(line)["question"])), flush=True)
    print(json.dumps({"peak_rss_mb": peak_rss_mb()}), flush=True)


class Side:
    def __init__(self, side: str, scratch: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--worker", side, "--scratch", str(scratch)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.start = self._read()["start"]
        self.rows: list[dict[str, Any]] = []

    def _read(self) -> dict[str, Any]:
        line = self.process.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise SystemExit(f"a worker stopped (exit code {self.process.wait()})")
        return json.loads(line)

    def ask(self, item: dict[str, Any]) -> None:
        self.process.stdin.write(json.dumps({"question": item["question"]}) + "\n")  # type: ignore[union-attr]
        self.process.stdin.flush()  # type: ignore[union-attr]
        self.rows.append({**self._read(), "item": item})

    def close(self) -> float:
        self.process.stdin.close()  # type: ignore[union-attr]
        peak = self._read()["peak_rss_mb"]
        self.process.wait()
        return peak


def share(flags: list[bool]) -> float | str:
    """A group the run did not ask about (--unanswerable 0) has no share, not a division by zero."""
    return sum(flags) / len(flags) if flags else "n/a"


def count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def score(rows: list[dict[str, Any]], sources: list[str]) -> dict[str, Any]:
    from bot.grounding import is_model_refusal
    from bot.metrics import invented_facts, key_facts_present, percentile

    answerable = [r for r in rows if r["item"]["answerable"]]
    unanswerable = [r for r in rows if not r["item"]["answerable"]]
    for r in rows:
        r["refused"] = r.get("refused") or is_model_refusal(r["text"])
    answered = [r for r in rows if not r["refused"]]
    firsts = [r["first_token"] for r in rows if r["first_token"] is not None]
    totals = [r["total"] for r in rows]
    return {
        "correct answers": share([
            not r["refused"] and key_facts_present(r["text"], r["item"]["key_facts"]) == 1.0
            for r in answerable
        ]),
        "correct refusals": share([r["refused"] for r in unanswerable]),
        "wrong refusals": share([r["refused"] for r in answerable]),
        "invented facts per answer": statistics.fmean(len(invented_facts(r["text"], sources)) for r in answered)
        if answered
        else 0.0,
        "first token p50 / p95 (s)": f"{statistics.median(firsts):.1f} / {percentile(firsts, 0.95):.1f}"
        if firsts
        else "n/a",
        "total p50 / p95 (s)": f"{statistics.median(totals):.1f} / {percentile(totals, 0.95):.1f}",
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--answerable", type=count, default=20)
    parser.add_argument("--unanswerable", type=count, default=10)
    parser.add_argument("--split", default="report", help="seed half to draw questions from")
    parser.add_argument("--worker", choices=["bot", "plain"], help=argparse.SUPPRESS)
    parser.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.scratch)
        return

    from bot.paths import bundled_dir

    items = [json.loads(line) for line in SEED.read_text().splitlines() if line.strip()]
    items = [i for i in items if i["split"] == args.split]
    # Every other item, so each fact and each kind of unanswerable question is represented.
    chosen = [i for i in items if i["answerable"]][::2][: args.answerable] + [
        i for i in items if not i["answerable"]
    ][::2][: args.unanswerable]
    if not chosen:
        parser.error("no questions chosen: give --answerable or --unanswerable a number above 0")
    sources = [p.read_text(encoding="utf-8") for p in sorted(bundled_dir("seeds").glob("*")) if p.is_file()]

    with tempfile.TemporaryDirectory() as scratch:
        sides = {"this bot": Side("bot", Path(scratch)), "plain LlamaIndex RAG": Side("plain", Path(scratch))}
        for n, item in enumerate(chosen, 1):
            for side in sides.values() if n % 2 else reversed(sides.values()):
                side.ask(item)
            print(f"{n}/{len(chosen)}", file=sys.stderr, flush=True)
        starts = {name: side.start for name, side in sides.items()}
        peaks = {name: side.close() for name, side in sides.items()}
        tables = {name: score(side.rows, sources) for name, side in sides.items()}

    print(f"{len(chosen)} seed questions ({args.split} half): "
          f"{sum(i['answerable'] for i in chosen)} answerable, {sum(not i['answerable'] for i in chosen)} not")  # fmt: skip
    names = list(sides)
    print(f"| | {' | '.join(names)} |\n| --- |{' --- |' * len(names)}")
    for metric in tables[names[0]]:
        cells = [tables[n][metric] for n in names]
        print(f"| {metric} | {' | '.join(f'{c:.2f}' if isinstance(c, float) else str(c) for c in cells)} |")
    print(f"| start (index + model load, s) | {' | '.join(f'{starts[n]:.1f}' for n in names)} |")
    print(f"| peak memory (MB) | {' | '.join(f'{peaks[n]:.0f}' for n in names)} |")
    (HERE / "runs").mkdir(exist_ok=True)
    out = HERE / "runs" / f"plain-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    with out.open("w") as f:
        for name, side in sides.items():
            for r in side.rows:
                f.write(json.dumps({"side": name, **r}) + "\n")
    print(f"answers: {out}")


if __name__ == "__main__":
    main()
