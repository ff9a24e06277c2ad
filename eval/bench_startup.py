"""What the `bot` command costs before and around the model, in fresh processes. Prints numbers only.

- `bot --help` and `bot ask ""` (refused before anything loads): wall time per run.
- a cold `bot ask --json QUESTION` on seeds/ with the index already built (a temporary data dir, ingested
  first; the embedded PostgreSQL starts in each run, as it does for a user), split into:
  start-up = wall time minus Bot.ask's own total (imports, opening the index, picking the backend, exit);
  retrieve + check (the embedder loads on the first query); first token after that (the LLM loads, then
  reads the prompt); the rest of the answer (decoding and the verifier's yes/no checks: the model).
- the LLM's load alone, in a fresh process, to read the first-token figure with.

Run: .venv/bin/python eval/bench_startup.py [--runs 5] [--model qwen2.5-1.5b]
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

BOT = str(Path(sys.executable).with_name("bot"))
QUESTION = "How large is North Korea's military?"
LLM_LOAD = """
import sys, time
from bot.backends.embedded import EmbeddedBackend
from bot.settings import Settings
backend = EmbeddedBackend(Settings.resolve(embedded_model=sys.argv[1]))
started = time.perf_counter()
backend._load()
print(time.perf_counter() - started)
"""


def wall(command: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - started, done


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f}s, min {min(values):.2f}s, max {max(values):.2f}s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per measurement")
    parser.add_argument("--model", default="qwen2.5-1.5b", help="bundled model (BOT_EMBEDDED_MODEL)")
    args = parser.parse_args()
    env = {**os.environ, "BOT_EMBEDDED_MODEL": args.model, "BOT_BACKEND": "embedded"}
    print(f"{os.cpu_count()} cores, {args.runs} runs each, model {args.model}")

    for label, command in (("bot --help", [BOT, "--help"]), ('bot ask ""', [BOT, "ask", ""])):
        times = [wall(command, env)[0] for _ in range(args.runs)]
        print(f"{label:<12} {summary(times)}")

    with tempfile.TemporaryDirectory(prefix="bench-startup-") as data_dir:
        env["BOT_DATA_DIR"] = data_dir
        done = subprocess.run([BOT, "ingest"], env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(done.stderr[-2000:])
        parts: dict[str, list[float]] = {
            "wall": [],
            "start-up": [],
            "retrieve+check": [],
            "first token": [],
            "rest": [],
        }
        for _ in range(args.runs):
            seconds, done = wall([BOT, "ask", "--json", QUESTION], env)
            if done.returncode != 0:
                raise SystemExit(done.stderr[-2000:])
            timings = json.loads(done.stdout)["timings"]
            before_model = timings["retrieve"] + timings["check"]
            first = timings.get("first_token", timings["total"]) - before_model - timings["condense"]
            parts["wall"].append(seconds)
            parts["start-up"].append(seconds - timings["total"])
            parts["retrieve+check"].append(before_model)
            parts["first token"].append(first)
            parts["rest"].append(timings["total"] - timings.get("first_token", timings["total"]))
    print(f"cold bot ask, index built ({QUESTION!r}):")
    for name, values in parts.items():
        print(f"  {name:<15} {summary(values)}")

    loads = []
    for _ in range(args.runs):
        done = subprocess.run(
            [sys.executable, "-c", LLM_LOAD, args.model], env=env, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise SystemExit(done.stderr[-2000:])
        loads.append(float(done.stdout.strip().splitlines()[-1]))
    print(f"LLM load alone ({args.model}, fresh process): {summary(loads)}")


if __name__ == "__main__":
    main()
