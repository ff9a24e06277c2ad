"""Per-item grounding metrics for the eval. Pure functions, so each is unit-tested on hand-made cases."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from bot.claims import is_quantity, names_in, numbers_in, split_sentences, strip_citations


def normalize(text: str) -> str:
    """Lower case, without punctuation or accents: "Chloe Zhao" states the fact "Chloé Zhao"."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w\s.]", " ", plain.lower().replace(",", "")).split())


def key_facts_present(answer: str, facts: list[str | list[str]]) -> float:
    """Share of facts the answer states: as written, or, for a fact that is only a quantity ("twice",
    "13,000", "1.2 million"), as the same number in other words ("2 times", "1,200,000"). A fact given as
    a list is stated by any one of its forms (RGB's "Oct 19, 2021" or "19 October 2021")."""
    if not facts:
        return 1.0
    got = normalize(answer)
    numbers = numbers_in(answer)

    def stated(form: str) -> bool:
        return bool(form.strip()) and (
            normalize(form) in got or (is_quantity(form) and numbers_in(form) <= numbers)
        )

    return sum(any(map(stated, f if isinstance(f, list) else [f])) for f in facts) / len(facts)


def token_f1(answer: str, reference: str) -> float:
    a, r = normalize(strip_citations(answer)).split(), normalize(reference).split()
    common = sum((Counter(a) & Counter(r)).values())
    if not a or not r or not common:
        return 0.0
    precision, recall = common / len(a), common / len(r)
    return 2 * precision * recall / (precision + recall)


def invented_facts(answer: str, sources: list[str]) -> list[str]:
    """Numbers and proper names in the answer that appear in no source text."""
    corpus = " ".join(sources)
    known_numbers = numbers_in(corpus)
    lower = corpus.lower()
    invented = [f"{n:g}" for n in sorted(numbers_in(answer) - known_numbers)]
    for sentence in split_sentences(strip_citations(answer)):
        invented += sorted(n for n in names_in(sentence, ordinary=corpus) if n.lower() not in lower)
    return invented


def faithfulness(supported: list[bool]) -> float | None:
    return sum(supported) / len(supported) if supported else None


def citation_precision(quotes: list[str], gold_sources: list[str]) -> float | None:
    """Share of cited quotes that are verbatim substrings of a gold source text."""
    if not quotes:
        return None
    return sum(any(q in g for g in gold_sources) for q in quotes) / len(quotes)


def retrieval_scores(passage_texts: list[str], gold_quotes: list[str]) -> dict[str, float]:
    """hit@k, reciprocal rank of the first passage holding gold evidence, and gold-evidence recall."""
    if not gold_quotes:
        return {}
    ranks = [i for i, text in enumerate(passage_texts, 1) if any(g in text for g in gold_quotes)]
    found = sum(any(g in text for text in passage_texts) for g in gold_quotes)
    return {
        "hit": float(bool(ranks)),
        "rr": 1.0 / ranks[0] if ranks else 0.0,
        "evidence_recall": found / len(gold_quotes),
    }


def refusal_scores(items: list[tuple[bool, bool]]) -> dict[str, float | None]:
    """Precision and recall of refusals; each item is (should_refuse, refused)."""
    refused = [s for s, r in items if r]
    should = [r for s, r in items if s]
    return {
        "refusal_precision": sum(refused) / len(refused) if refused else None,
        "refusal_recall": sum(should) / len(should) if should else None,
    }


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
