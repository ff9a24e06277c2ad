"""Calibrate the grounding thresholds on the `calibrate` half of eval/, and report them on the other.

- topic_threshold: the pre-generation gate refuses a question when even its best evidence sentence is
  this far off topic. The gate is meant to be permissive (the verifier guards what the model writes),
  so the cut is the highest one (in hundredths) that still lets through every answerable question.
- support_threshold: the similarity a claim needs to its evidence sentence; eval/claims.jsonl labels
  claims as supported or not. The cut with the best balanced accuracy of the whole support decision
  (rules, then the bundled model's yes/no where the rules are unsure).
- yes_threshold (`--yes`): how sure the bundled model must be of "yes" in the grounder's checks. Each
  candidate cut runs the calibrate half of seed.jsonl end to end through `Bot.ask` (model replies are
  memoised, so only the first run pays for the model); the cut with the best pass rate wins, ties to 0.5.

All use the same `Grounder` as `Bot.ask`.
Run: .venv/bin/python eval/calibrate.py [--yes]
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path

from bot import Backend, Bot
from bot.evaluation import run_eval
from bot.grounding import Grounder

HERE = Path(__file__).parent
YES_CUTS = (0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)  # a sweep of 0.1-0.9 fell off a cliff above 0.6


class Memo(Backend):
    """The bot's backend with every reply remembered, so a sweep over cuts asks each prompt once."""

    def __init__(self, inner: Backend) -> None:
        self.inner, self.name, self.model = inner, inner.name, inner.model
        self.replies: dict[str, list[str]] = {}
        self.verdicts: dict[str, float | None] = {}

    def stream_chat(self, messages: list[dict[str, str]], *, max_tokens: int, num_ctx: int) -> Iterator[str]:
        key = json.dumps([messages, max_tokens])
        if key not in self.replies:
            self.replies[key] = list(self.inner.stream_chat(messages, max_tokens=max_tokens, num_ctx=num_ctx))
        yield from self.replies[key]

    def yes_probability(self, messages: list[dict[str, str]], *, num_ctx: int) -> float | None:
        key = json.dumps(messages)
        if key not in self.verdicts:
            self.verdicts[key] = self.inner.yes_probability(messages, num_ctx=num_ctx)
        return self.verdicts[key]


def calibrate_yes(bot: Bot) -> None:
    memo = Bot(bot.settings, bot.embedder, bot.index, Memo(bot.backend))
    results = {}
    for cut in YES_CUTS:
        memo.grounder.yes_threshold = cut
        _, summary = run_eval(
            memo, "seed", rgb_path=None, limit=None, jobs=1, out_dir=HERE / "runs" / f"calibrate-yes-{cut}",
            judge="none", split="calibrate",
        )  # fmt: skip
        results[cut] = summary
        print(f"yes_threshold {cut:.2f}: pass {summary['pass_rate']:.3f} key facts {summary['key_facts']:.3f} "
              f"refusal recall {summary['refusal_recall']:.3f} precision {summary['refusal_precision']:.3f}",
              flush=True)  # fmt: skip
    best = max(YES_CUTS, key=lambda c: (results[c]["pass_rate"], -abs(c - 0.5)))
    print(f"yes_threshold {best:.2f} (best pass rate on the calibrate half)")


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (HERE / name).read_text().splitlines() if line.strip()]


def balanced_accuracy(pos: list[float], neg: list[float], cut: float) -> float:
    return (sum(p >= cut for p in pos) / len(pos) + sum(n < cut for n in neg) / len(neg)) / 2


def permissive_cut(pos: list[float]) -> float:
    """The highest cut in hundredths that keeps every answerable score: the gate refuses only clear cases."""
    return math.floor(min(pos) * 100) / 100


def best_cut(pos: list[float], neg: list[float]) -> float:
    """Best balanced accuracy; ties go to the lower cut (a refused true claim is a failure too)."""
    return max(sorted(set(pos + neg)), key=lambda cut: (balanced_accuracy(pos, neg, cut), -cut))


def split_scores(items: list[dict], score, label: str) -> dict[str, tuple[list[float], list[float]]]:
    halves: dict[str, tuple[list[float], list[float]]] = {"calibrate": ([], []), "report": ([], [])}
    for item in items:
        value = score(item)
        pos, neg = halves[item["split"]]
        (pos if item[label] else neg).append(value)
    return halves


def main() -> None:
    bot = Bot.load(backend="embedded")
    if "--yes" in sys.argv:
        calibrate_yes(bot)
        return
    # The pipeline's own rules and the bundled model's yes/no checks, with no cuts: the cuts are chosen here.
    rules = Grounder(bot.embedder, support_threshold=-1.0, topic_threshold=-1.0, ask_model=bot.ask_model)
    texts = bot.index.texts

    def topic(item: dict) -> float:
        check = rules.check(item["question"], bot.retrieve(item["question"]), texts)
        return -1.0 if check.refusal else rules.topic_score(item["question"], check.evidence)

    halves = split_scores(load("seed.jsonl"), topic, "answerable")
    cut = permissive_cut(halves["calibrate"][0])
    for name, (pos, neg) in halves.items():
        passed = sum(p >= cut for p in pos) / len(pos)
        refused = sum(n < cut for n in neg) / len(neg)
        print(f"topic_threshold {cut:.3f} on {name:9}: answerable let through {passed:.2f}, "
              f"unanswerable refused before the model {refused:.2f}")  # fmt: skip

    def support(item: dict) -> float:
        check = rules.check(item["claim"], bot.retrieve(item["claim"]), texts)
        check.question = ""  # a claim answers no question: every word of it must be in the evidence
        verdict = rules.support(item["claim"], check)
        return verdict.similarity if verdict.supported else -1.0

    halves = split_scores(load("claims.jsonl"), support, "supported")
    cut = best_cut(*halves["calibrate"])

    for name, (pos, neg) in halves.items():
        print(
            f"support_threshold {cut:.3f} on {name:9}: balanced accuracy {balanced_accuracy(pos, neg, cut):.2f}"
        )


if __name__ == "__main__":
    main()
