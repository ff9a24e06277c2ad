"""`Bot`: the one answer path. The CLI, the Gradio UI, the eval runner and Python scripts all call it.

How a question flows: validate -> condense a follow-up into a standalone question -> hybrid retrieval
-> the Grounder checks the passages are on topic and picks the evidence sentences -> the LLM drafts an
answer from them (streamed) -> the Grounder verifies every sentence -> verified answer, quoted
evidence, or refusal. Every grounding rule lives in bot/grounding.py; this module only orchestrates.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from bot.answer import Answer, Passage
from bot.backends import Backend, create_backend, with_deadlines
from bot.backends.base import YES_NO_TOKENS, check_backend_name
from bot.batch import BatchResult, to_items
from bot.embedding import Embedder
from bot.errors import BotError
from bot.grounding import REFUSAL, Check, Grounder, Outcome
from bot.index import ArticleIndex, IndexedArticle, SyncReport
from bot.prompts import render
from bot.retrieval import NO_FILTERS, Filters, HybridRetriever
from bot.settings import Settings
from bot.validation import validate_input

# Pronouns that leave a question handed back unchanged unresolved. Not "that" or "this": "What did Apple
# announce this week?" stands alone.
_PRONOUN = re.compile(r"\b(?:he|she|it|they|them|their|his|her|its|him)\b", re.I)

History = Sequence[dict[str, str]] | Sequence[tuple[str, str]]
Event = str | Answer


class Bot:
    def __init__(self, settings: Settings, embedder: Embedder, index: ArticleIndex, backend: Backend) -> None:
        self.settings = settings
        self.embedder = embedder
        self.backend = backend
        self.grounder = Grounder(
            embedder,
            support_threshold=settings.support_threshold,
            topic_threshold=settings.topic_threshold,
            yes_threshold=settings.yes_threshold,
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
        check_backend_name(settings.backend)  # a typo is one error now, not after the ingest
        embedder = Embedder(settings.embed_model)
        index, report = ArticleIndex.sync(settings, embedder, progress=progress, allow_read_only=True)
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

    def reindex(self, *, rebuild: bool = False, progress: bool = False, removing: bool = False) -> SyncReport:
        """Sync the index with the corpus; `removing` when the caller has just deleted an article on
        purpose, so that deleting the last one may empty the index."""
        index, report = ArticleIndex.sync(
            self.settings,
            self.embedder,
            rebuild=rebuild,
            progress=progress,
            allow_read_only=True,
            allow_emptying=removing,
        )
        self._use_index(index)
        self.last_sync = report
        return report

    @property
    def articles(self) -> list[IndexedArticle]:
        return sorted(self.index.articles.values(), key=lambda a: a.name)

    # -- asking ------------------------------------------------------------------------------------

    def retrieve(self, query: str, filters: Filters = NO_FILTERS) -> list[Passage]:
        """The hybrid retrieval step alone (calibration and benchmarks use it; it answers nothing)."""
        return self._searcher(filters).retrieve(query, filters)

    def check_filters(self, **options: Any) -> None:
        """Fail now if no question could be answered with these `ask` options (no article indexed, a bad
        date, an unknown source), rather than once per question of a batch or an eval."""
        self._searcher(Filters.make(options.get("since"), options.get("until"), options.get("sources")))

    def _searcher(self, filters: Filters) -> HybridRetriever:
        if self._retriever is None:
            raise BotError(
                f"No articles are indexed from {self.settings.corpus}. Add .txt, .md or .html files."
            )
        self._retriever.check(filters)
        return self._retriever

    def ask(
        self,
        question: str,
        history: History | None = None,
        *,
        since: date | str | None = None,
        until: date | str | None = None,
        sources: Iterable[str] | None = None,
    ) -> Answer:
        """The verified Answer; see `stream` for the filters."""
        for event in self.stream(question, history, since=since, until=until, sources=sources):
            if isinstance(event, Answer):
                return event
        raise AssertionError("stream() always ends with an Answer")

    def ask_many(self, questions: Iterable[object], **options: Any) -> Iterator[BatchResult]:
        """Answer question strings or `{question, history?, id?}` objects one after another with this
        loaded bot, yielding results in input order as each is ready. A bad item becomes an error
        result in its place: one bad line never stops a long run. `options` go to every `ask`; options
        no question could be answered with are one BotError before the first result."""
        self.check_filters(**options)
        for item in to_items(questions):
            if item.error is not None:
                yield BatchResult(item.id, item.question, error=item.error)
                continue
            try:
                answer = self.ask(item.question or "", item.history, **options)
            except BotError as err:
                yield BatchResult(item.id, item.question, error=str(err))
                continue
            yield BatchResult(item.id, item.question, answer)

    def stream(
        self,
        question: str,
        history: History | None = None,
        *,
        since: date | str | None = None,
        until: date | str | None = None,
        sources: Iterable[str] | None = None,
    ) -> Iterator[Event]:
        """Yield draft text pieces as the model writes them, then the verified Answer (always last).

        Only passages of articles published from `since` to `until` (dates or ISO strings, inclusive;
        articles without a date are then left out) and of the articles named in `sources` (file names
        relative to the corpus) are retrieved."""
        started = time.perf_counter()
        filters = Filters.make(since, until, sources)
        timings: dict[str, float] = {}

        def timed(stage: str, mark: float) -> None:
            timings[stage] = round(time.perf_counter() - mark, 4)

        question, turns = validate_input(
            question,
            history,
            max_question_chars=self.settings.max_question_chars,
            max_history_tokens=self.settings.max_history_tokens,
        )
        mark = time.perf_counter()
        query = self._condense(question, turns) if turns else question
        timed("condense", mark)
        mark = time.perf_counter()
        passages = self.retrieve(query, filters)
        timed("retrieve", mark)
        mark = time.perf_counter()
        check = self.grounder.check(
            query, passages, self.index.texts, self.index.stored_vectors, filters.articles
        )
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

    @staticmethod
    def context_size(messages: list[dict[str, str]], max_tokens: int) -> int:
        """The context window to ask Ollama for: prompt and reply fit, in whole kilotokens."""
        chars = sum(len(m["content"]) for m in messages)
        return max(2048, -(-(chars // 3 + max_tokens + 256) // 1024) * 1024)

    def _complete(self, messages: list[dict[str, str]], max_tokens: int) -> Iterator[str]:
        num_ctx = self.context_size(messages, max_tokens)
        chunks = self.backend.stream_chat(messages, max_tokens=max_tokens, num_ctx=num_ctx)
        return with_deadlines(
            chunks,
            first_token=self.settings.ttft_timeout,
            total=self.settings.total_timeout,
            label=self.backend.label,
            explain=self.backend.explain_silence,
        )

    def _generate(self, check: Check) -> Iterator[str]:
        # The system prompt is the same for every question, so its evaluation is kept and reused.
        messages = [
            {"role": "system", "content": render("system", refusal=REFUSAL)},
            {"role": "user", "content": render("answer", excerpts=check.excerpts, question=check.question)},
        ]
        return self._complete(messages, self.settings.max_answer_tokens)

    def ask_model(self, template: str, **variables: str) -> float | None:
        """How sure the model is that the answer to a yes/no check is yes, for the checks the grounder
        cannot settle by rule. The system prompt is the answering one, so its kept evaluation is reused."""
        messages = [
            {"role": "system", "content": render("system", refusal=REFUSAL)},
            {"role": "user", "content": render(template, **variables)},
        ]
        num_ctx = self.context_size(messages, YES_NO_TOKENS)
        verdict = (self.backend.yes_probability(messages, num_ctx=num_ctx) for _ in range(1))
        return next(
            with_deadlines(
                verdict,
                first_token=self.settings.ttft_timeout,
                total=self.settings.total_timeout,
                label=self.backend.label,
                explain=self.backend.explain_silence,
            )
        )

    def write(self, template: str, *, system: str, max_tokens: int, **variables: Any) -> str:
        """Free text from the model for tasks other than answering (drafting eval questions), through the
        same backend and deadlines as answers; `system` and `template` name prompts/*.j2."""
        messages = [
            {"role": "system", "content": render(system)},
            {"role": "user", "content": render(template, **variables)},
        ]
        return "".join(self._complete(messages, max_tokens)).strip()

    def _condense(self, question: str, turns: list[dict[str, str]]) -> str:
        """Rewrite a follow-up as a standalone question; fall back to plain context if the model flubs it."""
        prompt = render("condense", history=turns[-6:], question=question)
        reply = "".join(self._complete([{"role": "user", "content": prompt}], 60))
        line = next((ln.strip() for ln in reply.splitlines() if ln.strip()), "")
        line = re.sub(r"^(?:rewritten question|question)\s*:\s*", "", line, flags=re.I).strip(" \"'“”")
        previous = next((t["content"] for t in reversed(turns) if t["role"] == "user"), "")
        # The question handed back as it came, pronouns and all, resolved nothing: "What could they get if
        # they succeed?" is about the troops of the question before it, which then goes with it.
        unchanged = line.lower() == question.strip().lower() and _PRONOUN.search(question)
        if not line or len(line) > 300 or not line.endswith("?") or unchanged:
            return f"{previous} {question}".strip()
        return line
