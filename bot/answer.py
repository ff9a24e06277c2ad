"""The typed result of `Bot.ask`: what every interface (CLI, UI, eval, Python) receives."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from bot.articles import parse_date
from bot.wording import count

# What a refusal says was searched when no filter narrowed the articles ("The articles don't say."); a
# filter's wording is Filters.articles.
ALL_ARTICLES = "The articles"
UNSUPPORTED_MARK = "[unsupported]"  # after a sentence that lenient grounding keeps without evidence


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk of one article; `start`/`end` are character offsets into the article text."""

    number: int
    source: str
    title: str
    date: str | None
    text: str
    start: int
    end: int
    score: float
    bm25_rank: int | None = None
    dense_rank: int | None = None
    dense_score: float | None = None


@dataclass(frozen=True)
class Citation:
    """A verbatim quote: `article_text[start:end] == quote` for the article named by `source`."""

    number: int
    source: str
    title: str
    quote: str
    start: int
    end: int


@dataclass
class Answer:
    question: str
    text: str
    refused: bool
    citations: list[Citation]
    passages: list[Passage]
    rewritten_query: str
    backend: str
    model: str
    timings: dict[str, float] = field(default_factory=dict)
    removed_sentences: list[str] = field(default_factory=list)
    extractive: bool = False
    draft: str = ""

    def verifier_note(self) -> str:
        """What the verifier did with the draft's unsupported sentences, for a footer: in lenient grounding
        they stay in the text, marked [unsupported], so "removed" would be untrue."""
        n = len(self.removed_sentences)
        if not n:
            return ""
        sentences = count(n, "unsupported sentence")
        if UNSUPPORTED_MARK in self.text:
            return f"{sentences} kept and marked {UNSUPPORTED_MARK} (lenient grounding)."
        return f"{sentences} removed by the verifier."

    def to_dict(self) -> dict[str, Any]:
        """The JSON record; each passage's `date` as its article writes it ("Oct. 23, 2024") and as
        `published` ("2024-10-23", null when there is none or it is no real date), so a script need not parse dates."""
        data = asdict(self)
        data["answer"] = data.pop("text")
        for passage in data["passages"]:
            published = parse_date(passage["date"])
            passage["published"] = published.isoformat() if published else None
        return data
