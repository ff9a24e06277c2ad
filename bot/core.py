"""`Bot`: the one answer path. The CLI, the Gradio UI, the eval runner and Python scripts all call it.

How a question flows: validate -> condense a follow-up into a standalone question -> hybrid retrieval
-> check the passages can answer it -> the LLM drafts an answer from numbered passages (streamed) ->
every sentence is verified against the passages -> verified answer, extractive fallback, or refusal.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.answer import Answer, Citation, Passage
from bot.backends import Backend, create_backend, with_deadlines
from bot.claims import strip_citations
from bot.embedding import Embedder
from bot.errors import BotError
from bot.grounding import EvidenceSet, Verdict, answers_question, is_model_refusal
from bot.index import ArticleIndex, IndexedArticle, SyncReport
from bot.prompts import REFUSAL, render
from bot.retrieval import HybridRetriever
from bot.settings import Settings

History = Sequence[dict[str, str]] | Sequence[tuple[str, str]]
Event = str | Answer


class Bot:
    def __init__(self, settings: Settings, embedder: Embedder, index: ArticleIndex, backend: Backend) -> None:
        self.settings = settings
        self.embedder = embedder
        self.backend = backend
        self._use_index(index)

    @classmethod
    def load(
        cls,
        corpus: str | Path | None = None,
        data_dir: str | Path | None = None,
        backend: str | None = None,
        *,
        progress: bool = False,
        **overrides: Any,
    ) -> Bot:
        """Open the index for `corpus`, ingesting new or changed articles first, and pick a backend."""
        settings = Settings.resolve(corpus=corpus, data_dir=data_dir, backend=backend, **overrides)
        embedder = Embedder(settings.embed_model)
        index, report = ArticleIndex.sync(settings, embedder, progress=progress)
        bot = cls(settings, embedder, index, create_backend(settings))
        bot.last_sync = report
        return bot

    def _use_index(self, index: ArticleIndex) -> None:
        self.index = index
        self._retriever = HybridRetriever(index, self.settings.top_k) if index.nodes else None

    def for_corpus(self, corpus: Path, data_dir: Path) -> Bot:
        """Another corpus served by this bot's already-loaded embedder and model (eval corpora, tests)."""
        settings = replace(self.settings, corpus=Path(corpus), data_dir=Path(data_dir))
        index, report = ArticleIndex.sync(settings, self.embedder)
        bot = Bot(settings, self.embedder, index, self.backend)
        bot.last_sync = report
        return bot

    def reindex(self, *, rebuild: bool = False, progress: bool = False) -> SyncReport:
        index, report = ArticleIndex.sync(self.settings, self.embedder, rebuild=rebuild, progress=progress)
        self._use_index(index)
        self.last_sync = report
        return report

    @property
    def articles(self) -> list[IndexedArticle]:
        return sorted(self.index.articles.values(), key=lambda a: a.name)

    # -- asking ------------------------------------------------------------------------------------

    def retrieve(self, query: str) -> list[Passage]:
        """The hybrid retrieval step alone (calibration and benchmarks use it; it answers nothing)."""
        if self._retriever is None:
            raise BotError(
                f"No articles are indexed from {self.settings.corpus}. Add .txt, .md or .html files."
            )
        return self._retriever.retrieve(query)

    def ask(self, question: str, history: History | None = None) -> Answer:
        for event in self.stream(question, history):
            if isinstance(event, Answer):
                return event
        raise AssertionError("stream() always ends with an Answer")

    def stream(self, question: str, history: History | None = None) -> Iterator[Event]:
        """Yield draft text pieces as the model writes them, then the verified Answer (always last)."""
        started = time.perf_counter()
        timings: dict[str, float] = {}
        question = self._validate(question)
        turns = _normalize_history(history)
        mark = time.perf_counter()
        query = self._condense(question, turns) if turns else question
        timings["condense"] = time.perf_counter() - mark

        mark = time.perf_counter()
        passages = self.retrieve(query)
        timings["retrieve"] = time.perf_counter() - mark

        mark = time.perf_counter()
        evidence = EvidenceSet(passages, self.index.texts, self.embedder)
        ranked = evidence.rank_for_question(query)
        unknown = evidence.unknown_names(query)
        answerable = bool(ranked) and ranked[0][1] >= self.settings.relevance_threshold and not unknown
        timings["check"] = time.perf_counter() - mark

        def finish(
            text: str, refused: bool, verdicts: list[Verdict], extractive: bool = False, draft: str = ""
        ) -> Answer:
            timings["total"] = time.perf_counter() - started
            kept = [v for v in verdicts if v.supported]
            return Answer(
                question=question,
                text=text,
                refused=refused,
                citations=_unique_citations(v.evidence.citation() for v in kept if v.evidence),
                passages=passages,
                rewritten_query=query,
                backend=self.backend.name,
                model=self.backend.model,
                timings={k: round(v, 4) for k, v in timings.items()},
                removed_sentences=[v.sentence for v in verdicts if not v.supported],
                extractive=extractive,
                draft=draft,
            )

        if not answerable:
            about = f" anything about {', '.join(unknown)}" if unknown else ""
            yield finish(REFUSAL.replace(" say", f" say{about}"), True, [])
            return

        mark = time.perf_counter()
        draft = ""
        for piece in self._generate(query, passages):
            if not draft:
                timings["first_token"] = time.perf_counter() - started
            draft += piece
            yield piece
        timings["generate"] = time.perf_counter() - mark

        mark = time.perf_counter()
        if is_model_refusal(draft):
            timings["verify"] = time.perf_counter() - mark
            yield finish(REFUSAL, True, [], draft=draft)
            return
        verdicts = evidence.verify(draft, self.settings.support_threshold)
        kept = [v for v in verdicts if v.supported]
        extractive = not kept or not answers_question(" ".join(v.sentence for v in kept), query)
        if extractive:
            best = [(ev, score) for ev, score in ranked[:2] if score >= self.settings.relevance_threshold]
            best = best[:1] if len(best) < 2 or best[1][1] < best[0][1] - 0.1 else best
            verdicts = [Verdict(ev.quote, ev, score) for ev, score in best] + [
                v for v in verdicts if not v.supported
            ]
        timings["verify"] = time.perf_counter() - mark
        shown = [v for v in verdicts if v.supported or self.settings.grounding == "lenient"]
        if not any(v.supported for v in verdicts):
            yield finish(REFUSAL, True, verdicts, draft=draft)
            return
        yield finish(_compose(shown), False, verdicts, extractive=extractive, draft=draft)

    # -- steps -------------------------------------------------------------------------------------

    def _validate(self, question: str) -> str:
        if not isinstance(question, str) or not question.strip():
            raise BotError("The question is empty: type a question about the articles.")
        question = " ".join(question.split())
        if len(question) > self.settings.max_question_chars:
            raise BotError(
                f"The question is {len(question)} characters long; the limit is {self.settings.max_question_chars}. "
                "Ask something shorter."
            )
        return question

    def _complete(self, messages: list[dict[str, str]], max_tokens: int) -> Iterator[str]:
        chars = sum(len(m["content"]) for m in messages)
        num_ctx = max(2048, -(-(chars // 3 + max_tokens + 256) // 1024) * 1024)
        chunks = self.backend.stream_chat(messages, max_tokens=max_tokens, num_ctx=num_ctx)
        return with_deadlines(
            chunks,
            first_token=self.settings.ttft_timeout,
            total=self.settings.total_timeout,
            label=self.backend.label,
        )

    def _generate(self, question: str, passages: list[Passage]) -> Iterator[str]:
        messages = [
            {"role": "system", "content": render("system", refusal=REFUSAL)},
            {"role": "user", "content": render("answer", passages=passages, question=question)},
        ]
        return self._complete(messages, self.settings.max_answer_tokens)

    def _condense(self, question: str, turns: list[dict[str, str]]) -> str:
        """Rewrite a follow-up as a standalone question; fall back to plain context if the model flubs it."""
        prompt = render("condense", history=turns[-6:], question=question)
        reply = "".join(self._complete([{"role": "user", "content": prompt}], 60))
        line = next((ln.strip() for ln in reply.splitlines() if ln.strip()), "")
        line = re.sub(r"^(?:rewritten question|question)\s*:\s*", "", line, flags=re.I).strip(" \"'“”")
        previous = next((t["content"] for t in reversed(turns) if t["role"] == "user"), "")
        if not line or len(line) > 300 or not line.endswith("?"):
            return f"{previous} {question}".strip()
        return line


def _normalize_history(history: History | None) -> list[dict[str, str]]:
    turns: list[dict[str, str]] = []
    for item in history or []:
        if isinstance(item, dict):
            content = item.get("content")
            if isinstance(content, str) and item.get("role") in ("user", "assistant") and content.strip():
                turns.append({"role": item["role"], "content": content})
        else:
            user, assistant = item
            turns += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant or ""}]
    return turns


_PREAMBLE = re.compile(r"^(?:the answer is|answer|according to the (?:articles?|passages?))\s*[:,]\s*", re.I)


def _compose(verdicts: list[Verdict]) -> str:
    parts = []
    for v in verdicts:
        sentence = _PREAMBLE.sub("", strip_citations(v.sentence)).strip()
        if sentence.startswith("(") and sentence.endswith(")"):
            sentence = sentence[1:-1]
        marker = f" [{v.evidence.passage.number}]" if v.evidence else " [unsupported]"
        body, end = re.fullmatch(r"(.*?)([.!?]*[\"”’]?)", sentence, flags=re.S).groups()  # type: ignore[union-attr]
        parts.append(f"{body}{marker}{end or '.'}")
    return " ".join(parts)


def _unique_citations(citations: Iterator[Citation]) -> list[Citation]:
    seen: dict[tuple[str, int, int], Citation] = {}
    for c in citations:
        seen.setdefault((c.source, c.start, c.end), c)
    return list(seen.values())
