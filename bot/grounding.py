"""Grounding enforcement: nothing reaches the user unless a retrieved passage supports it.

The model is never trusted. Each answer sentence is kept only if one passage contains every number and
proper name in it *and* has a sentence close to it in meaning; that passage sentence becomes the
citation's verbatim quote. The same evidence decides whether the passages answer the question at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from bot.answer import Citation, Passage
from bot.claims import (
    contains_name,
    content_words,
    names_in,
    numbers_in,
    sentence_spans,
    split_sentences,
    strip_citations,
)
from bot.embedding import Embedder

_REFUSAL = re.compile(
    r"\b(?:articles?|passages?|sources?|context|text)\b[^.]*\b(?:do(?:es)?n[o’']?t|do(?:es)? not|never)\s+"
    r"(?:say|mention|state|specify|provide|contain|include)|\bno (?:information|mention)\b|\bnot mentioned\b",
    re.IGNORECASE,
)
_NEEDS_NUMBER = re.compile(
    r"^\s*(?:how (?:many|much|large|big|long|old|far|often)|what (?:number|percentage|share))\b", re.I
)
_NEEDS_TIME = re.compile(r"^\s*(?:when|in what year|what year|what date|on what date)\b", re.I)


_MONTH_NAMES = "January|February|March|April|May|June|July|August|September|October|November|December"


@dataclass(frozen=True)
class Evidence:
    """One sentence of a retrieved passage, located verbatim in its article."""

    passage: Passage
    quote: str
    start: int
    end: int

    def citation(self) -> Citation:
        p = self.passage
        return Citation(
            number=p.number, source=p.source, title=p.title, quote=self.quote, start=self.start, end=self.end
        )


@dataclass
class Verdict:
    sentence: str
    evidence: Evidence | None
    similarity: float
    missing: list[str] = field(default_factory=list)

    @property
    def supported(self) -> bool:
        return self.evidence is not None


def expected_answer_kind(question: str) -> str | None:
    if _NEEDS_NUMBER.search(question):
        return "number"
    if _NEEDS_TIME.search(question):
        return "time"
    return None


_DAY_OF_MONTH = re.compile(rf"\b(?:{_MONTH_NAMES})\s+\d{{1,2}}\b|\b\d{{1,2}}\s+(?:{_MONTH_NAMES})\b")
_QUANTITY_FOCUS = re.compile(r"^\s*(?i:how many)\s+((?:[A-Z][\w’'-]*\s+)*)([a-z][\w-]*)")


def quantity_focus(question: str) -> str | None:
    """The thing counted in "how many X" (skipping names: "how many North Korean troops" -> "troops")."""
    match = _QUANTITY_FOCUS.search(question)
    return match.group(2) if match and content_words(match.group(2)) else None


def answers_kind(text: str, kind: str | None, focus: str | None = None) -> bool:
    """A "how many X" question needs a number (not a day of a month) next to X; "when" needs a date."""
    if kind == "number":
        if not numbers_in(_DAY_OF_MONTH.sub(" ", text)):
            return False
        return focus is None or bool(content_words(focus) & content_words(text))
    if kind == "time":
        return bool(numbers_in(text)) or bool(
            re.search(rf"\b(?:{_MONTH_NAMES}|yesterday|last (?:year|month|week))\b", text)
        )
    return True


def _clause_windows(sentence: str) -> list[str]:
    clauses = [c.strip() for c in re.split(r"[,;:]\s+|\s+[—–-]\s+", sentence) if len(c.strip()) > 12]
    windows = [sentence]
    if len(clauses) > 1:
        windows += clauses + [f"{a}, {b}" for a, b in zip(clauses, clauses[1:], strict=False)]
    return list(dict.fromkeys(windows))


def answers_question(text: str, question: str) -> bool:
    return answers_kind(text, expected_answer_kind(question), quantity_focus(question))


def is_model_refusal(text: str) -> bool:
    return bool(_REFUSAL.search(text))


class EvidenceSet:
    """The sentences of the retrieved passages, embedded once per question."""

    def __init__(self, passages: list[Passage], article_texts: dict[str, str], embedder: Embedder) -> None:
        self.passages = passages
        self.embedder = embedder
        self.items: list[Evidence] = []
        windows: list[
            str
        ] = []  # each sentence, and its clauses, so a claim about part of a long sentence matches
        self._owner: list[int] = []
        seen: set[tuple[str, int]] = set()
        for p in passages:
            article = article_texts[p.source]
            for s, e in sentence_spans(p.text):
                start, end = p.start + s, p.start + e
                quote = article[start:end]
                if quote != p.text[s:e] or len(quote) < 3 or (p.source, start) in seen:
                    continue  # overlapping chunks repeat sentences; keep the best-ranked copy
                seen.add((p.source, start))
                self.items.append(Evidence(p, quote, start, end))
                for window in _clause_windows(quote):
                    windows.append(window)
                    self._owner.append(len(self.items) - 1)
        self._window_vectors = embedder.vectors(windows)
        self._lower = {p.number: p.text.lower() for p in passages}
        self._all_text = " ".join(p.text for p in passages)
        self._all_lower = self._all_text.lower()

    def similarities(self, text: str) -> np.ndarray:
        """Per evidence sentence, the best cosine similarity of `text` to the sentence or one of its clauses."""
        sims = self._window_vectors @ self.embedder.vectors([text])[0]
        best = np.full(len(self.items), -1.0, dtype=np.float32)
        np.maximum.at(best, np.asarray(self._owner, dtype=np.int64), sims)
        return best

    def missing_facts(self, sentence: str, ev: Evidence) -> list[str]:
        """Numbers must stand in the quoted sentence itself; names anywhere in its passage."""
        missing = [f"{n:g}" for n in numbers_in(sentence) - numbers_in(ev.quote)]
        lower = self._lower[ev.passage.number]
        names = names_in(sentence, ordinary=self._all_text)
        missing += sorted(n for n in names if not contains_name(lower, n))
        return missing

    def unknown_names(self, question: str) -> list[str]:
        """Names in a question that no retrieved passage mentions: a premise the articles don't share."""
        return sorted(n for n in names_in(question, self._all_text) if not contains_name(self._all_lower, n))

    def support(self, sentence: str, threshold: float) -> Verdict:
        claim = strip_citations(sentence)
        if not self.items or not claim:
            return Verdict(sentence, None, 0.0, [])
        sims = self.similarities(claim)
        best: Verdict | None = None
        fallback_missing: list[str] = []
        for i in np.argsort(-sims):
            ev = self.items[i]
            missing = self.missing_facts(claim, ev)
            if missing:
                fallback_missing = fallback_missing or missing
                continue
            best = Verdict(sentence, ev if sims[i] >= threshold else None, float(sims[i]))
            break
        if best is None:
            return Verdict(sentence, None, float(sims.max()), fallback_missing)
        return best

    def verify(self, answer: str, threshold: float) -> list[Verdict]:
        return [self.support(s, threshold) for s in split_sentences(answer) if strip_citations(s)]

    def rank_for_question(self, question: str) -> list[tuple[Evidence, float]]:
        """Evidence sentences by how well they answer the question: meaning first, shared words second."""
        if not self.items:
            return []
        sims = self.similarities(question)
        terms = content_words(question)
        kind = expected_answer_kind(question)
        focus = quantity_focus(question)
        scored = []
        for ev, sim in zip(self.items, sims, strict=True):
            overlap = len(terms & content_words(ev.quote)) / len(terms) if terms else 0.0
            score = float(sim) * 0.7 + overlap * 0.3
            if not answers_kind(ev.quote, kind, focus):
                score -= 1.0
            scored.append((ev, score))
        scored.sort(key=lambda pair: pair[1], reverse=True)
        return scored
