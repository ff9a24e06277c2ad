"""`Bot`: the one answer path. The CLI, the Gradio UI, the eval runner and Python scripts all call it.

How a question flows: validate -> condense a follow-up into a standalone question -> hybrid retrieval
-> the Grounder checks the passages are on topic and picks the evidence sentences -> the LLM drafts an
answer from them (streamed) -> the Grounder verifies every sentence -> verified answer, quoted
evidence, or refusal. Every grounding rule lives in bot/grounding.py; this module only orchestrates.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.answer import Answer, Passage
from bot.backends import Backend, create_backend, with_deadlines
from bot.embedding import Embedder
from bot.errors import BotError
from bot.grounding import REFUSAL, Check, Grounder, Outcome
from bot.index import ArticleIndex, IndexedArticle, SyncReport
from bot.prompts import render
from bot.retrieval import HybridRetriever
from bot.settings import Settings

History = Sequence[dict[str, str]] | Sequence[tuple[str, str]]
Event = str | Answer
YES_NO_TOKENS = 2


class Bot:
    def __init__(self, settings: Settings, embedder: Embedder, index: ArticleIndex, backend: Backend) -> None:
        self.settings = settings
        self.embedder = embedder
        self.backend = backend
        self.grounder = Grounder(
            embedder,
            support_threshold=settings.support_threshold,
            topic_threshold=settings.topic_threshold,
            lenient=settings.grounding == "lenient",
            ask_model=self.ask_model,
        )
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
        self._retriever = HybridRetriever(index, self.settings.top_k) if index.passage_count() else None

    def for_corpus(self, corpus: Path, data_dir: Path) -> Bot:
        """Another corpus served by this bot's already-loaded embedder and model (eval corpora, tests)."""
        # Its index goes into this bot's database (its own schema there), not into a new embedded server
        # per corpus: eval runs make one corpus per question.
        settings = replace(
            self.settings,
            corpus=Path(corpus),
            data_dir=Path(data_dir),
            database_url=self.settings.database_url or self.index.store.url,
            database_schema=None,
        )
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

        def timed(stage: str, mark: float) -> None:
            timings[stage] = round(time.perf_counter() - mark, 4)

        question = self._validate(question)
        turns = _normalize_history(history)
        mark = time.perf_counter()
        query = self._condense(question, turns) if turns else question
        timed("condense", mark)
        mark = time.perf_counter()
        passages = self.retrieve(query)
        timed("retrieve", mark)
        mark = time.perf_counter()
        check = self.grounder.check(query, passages, self.index.texts)
        timed("check", mark)

        draft = ""
        if check.refusal:
            outcome = Outcome(check.refusal, True, [])
        else:
            mark = time.perf_counter()
            for piece in self._generate(check):
                if not draft:
                    timed("first_token", started)
                draft += piece
                yield piece
            timed("generate", mark)
            mark = time.perf_counter()
            outcome = self.grounder.finish(check, draft)
            timed("verify", mark)
        timed("total", started)
        yield Answer(
            question=question,
            text=outcome.text,
            refused=outcome.refused,
            citations=outcome.citations,
            passages=passages,
            rewritten_query=query,
            backend=self.backend.name,
            model=self.backend.model,
            timings=timings,
            removed_sentences=[v.sentence for v in outcome.verdicts if not v.supported],
            extractive=outcome.extractive,
            draft=draft,
        )

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

    def _generate(self, check: Check) -> Iterator[str]:
        # The system prompt is the same for every question, so llama.cpp reuses its cached prefix.
        messages = [
            {"role": "system", "content": render("system", refusal=REFUSAL)},
            {"role": "user", "content": render("answer", excerpts=check.excerpts, question=check.question)},
        ]
        return self._complete(messages, self.settings.max_answer_tokens)

    def ask_model(self, template: str, **variables: str) -> bool | None:
        """A one-word verdict from the model, for the checks the grounder cannot settle by rule. The
        system prompt is the answering one, so llama.cpp keeps reusing its cached prefix."""
        messages = [
            {"role": "system", "content": render("system", refusal=REFUSAL)},
            {"role": "user", "content": render(template, **variables)},
        ]
        reply = "".join(self._complete(messages, YES_NO_TOKENS)).strip().lower()
        return True if reply.startswith("yes") else False if reply.startswith("no") else None

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
