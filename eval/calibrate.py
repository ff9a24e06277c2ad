"""Calibrate the two grounding thresholds on the seed corpus (no LLM involved).

- relevance_threshold: the best evidence score for a question; answerable seed questions must clear it,
  unanswerable ones must not (eval/seed.jsonl).
- support_threshold: the similarity a claim needs to its evidence sentence; eval/claims.jsonl labels
  hand-written claims as supported or not by the seed articles.

Run: python eval/calibrate.py   (prints scores and the threshold that separates each set best)
"""

from __future__ import annotations

import json
from pathlib import Path

from bot import Bot
from bot.grounding import EvidenceSet

HERE = Path(__file__).parent


def best_threshold(pos: list[float], neg: list[float]) -> tuple[float, float]:
    """The cut with the best balanced accuracy; ties go to the lower cut, since the verifier still guards
    every sentence that passes and a refused answerable question is a failure too."""
    best = (0.0, 0.0)
    for cut in sorted(set(pos + neg)):
        acc = (sum(p >= cut for p in pos) / len(pos) + sum(n < cut for n in neg) / len(neg)) / 2
        if acc > best[1]:
            best = (cut, acc)
    return best


def main() -> None:
    bot = Bot.load(backend="embedded")
    texts = bot.index.texts
    pos, neg = [], []
    for line in (HERE / "seed.jsonl").read_text().splitlines():
        item = json.loads(line)
        passages = bot.retrieve(item["question"])
        ev = EvidenceSet(passages, texts, bot.embedder)
        score = ev.rank_for_question(item["question"])[0][1]
        blocked = bool(ev.unknown_names(item["question"]))
        (pos if item["answerable"] else neg).append(-1.0 if blocked else score)
        print(f"{item['id']} answerable={item['answerable']!s:5} score={score:.3f} unknown_names={blocked}")
    cut, acc = best_threshold(pos, neg)
    print(f"relevance_threshold: best cut {cut:.3f} (balanced accuracy {acc:.2f})\n")

    pos, neg = [], []
    for line in (HERE / "claims.jsonl").read_text().splitlines():
        item = json.loads(line)
        passages = bot.retrieve(item["claim"])
        verdict = EvidenceSet(passages, texts, bot.embedder).support(item["claim"], threshold=-1.0)
        score = verdict.similarity if verdict.supported else -1.0
        (pos if item["supported"] else neg).append(score)
        print(f"supported={item['supported']!s:5} sim={score:.3f} {item['claim']}")
    cut, acc = best_threshold(pos, neg)
    print(f"support_threshold: best cut {cut:.3f} (balanced accuracy {acc:.2f})")


if __name__ == "__main__":
    main()
