"""Hybrid retrieval in one SQL statement: keyword (Postgres full-text search) and dense (pgvector)
results fused by reciprocal rank fusion.

Keyword search finds exact names and numbers that embeddings blur; embeddings find paraphrases that
keyword search misses. RRF needs no score calibration between the two, which is why it is the fusion used
here. The keyword side first requires every term of the question; when that finds fewer than the
candidate count it tops up with passages having any of the terms. One statement means one snapshot: the
passages and the article texts returned are always of the same version of each article.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from bot.answer import ALL_ARTICLES, Passage
from bot.errors import BotError
from bot.index import ArticleIndex
from bot.store import vector_literal

RRF_K = 60
# Candidates each side ranks before fusion, at least. Chosen with `eval/benchmark.py --scale 100000`
# (README, Index storage): fused top 4 against exact dense search.
MIN_CANDIDATES = 10
# The keyword side ranks at most this many matching passages per tier: a question whose words are all
# common would otherwise score a large share of the archive (seconds at 1M passages). Beyond the cap,
# matches are taken in storage order, so only very common wordings are affected.
KEYWORD_CAP = 2000
# Retrieval returns the best top_k passages, then more of the candidates until they hold top_k times this
# much text: a brief or a search snippet of one or two sentences is a fraction of a passage (160 tokens,
# ~650 characters), and four of them held the answer to fewer of RGB's questions (82 of 100) than eight
# (96). The cut is made in SQL, so a dropped candidate brings no article text.
TEXT_PER_PASSAGE = 300
NAMED_SOURCES = 3  # a refusal names up to this many chosen articles ("The chosen articles (a.txt, b.txt)")

SEARCH = """
WITH terms AS (
    SELECT plainto_tsquery('english', %(query)s) AS strict_q
), queries AS (
    SELECT strict_q,
           CASE WHEN strict_q::text = '' THEN strict_q
                ELSE replace(strict_q::text, ' & ', ' | ')::tsquery END AS loose_q
    FROM terms
), dense AS (
    SELECT id, distance, row_number() OVER (ORDER BY distance, id) AS rank
    FROM (SELECT id, embedding <=> %(vector)s::vector AS distance
          FROM {s}.passages p WHERE TRUE {filters}
          ORDER BY embedding <=> %(vector)s::vector LIMIT %(n)s) nearest
), strict_hits AS (
    SELECT m.id, ts_rank(m.tsv, queries.strict_q, 1) AS score
    FROM (SELECT p.id, p.tsv FROM {s}.passages p, queries
          WHERE p.tsv @@ queries.strict_q {filters} LIMIT %(cap)s) m, queries
    ORDER BY score DESC, m.id LIMIT %(n)s
), loose_hits AS (
    SELECT m.id, ts_rank(m.tsv, queries.loose_q, 1) AS score
    FROM (SELECT p.id, p.tsv FROM {s}.passages p, queries
          WHERE (SELECT count(*) FROM strict_hits) < %(n)s AND p.tsv @@ queries.loose_q {filters}
            AND p.id NOT IN (SELECT id FROM strict_hits) LIMIT %(cap)s) m, queries
    ORDER BY score DESC, m.id LIMIT %(n)s
), keyword AS (
    SELECT id, row_number() OVER (ORDER BY tier, score DESC, id) AS rank
    FROM (SELECT id, score, 0 AS tier FROM strict_hits
          UNION ALL SELECT id, score, 1 AS tier FROM loose_hits) hits
), fused AS (
    SELECT coalesce(d.id, k.id) AS id, k.rank AS keyword_rank, d.rank AS dense_rank, d.distance,
           coalesce(1.0::float8 / (%(rrf_k)s + d.rank), 0) + coalesce(1.0::float8 / (%(rrf_k)s + k.rank), 0)
               AS score
    FROM dense d FULL OUTER JOIN (SELECT * FROM keyword WHERE rank <= %(n)s) k ON d.id = k.id
    ORDER BY score DESC, k.rank NULLS LAST, d.rank, id
    LIMIT %(n)s
), ranked AS (
    SELECT f.*, p.article, p.text, p.start_char, p.end_char,
           row_number() OVER best AS position,
           coalesce(sum(length(p.text)) OVER (best ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
               AS held
    FROM fused f JOIN {s}.passages p ON p.id = f.id
    WINDOW best AS (ORDER BY f.score DESC, f.keyword_rank NULLS LAST, f.dense_rank, f.id)
)
SELECT r.article, a.title, a.date, r.text, r.start_char, r.end_char,
       r.score, r.keyword_rank, r.dense_rank, 1 - r.distance, a.text
FROM ranked r
JOIN {s}.articles a ON a.name = r.article
WHERE r.position <= %(top_k)s OR r.held < %(text)s
ORDER BY r.position
"""


def _as_date(value: object, option: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise BotError(f"{option} must be a date like 2026-03-05 (YYYY-MM-DD), not {value!r}.")


@dataclass(frozen=True)
class Filters:
    """What retrieval may return: articles published in [since, until] (both inclusive; an article
    without a date is left out whenever a date bound is given) and only the named articles (`sources`,
    file names relative to the corpus, as in each passage's `source`)."""

    since: date | None = None
    until: date | None = None
    sources: tuple[str, ...] = ()

    @classmethod
    def make(
        cls,
        since: date | str | None = None,
        until: date | str | None = None,
        sources: Iterable[str] | str | None = None,
        *,
        cli: bool = False,
    ) -> Filters:
        """Checked filters; `cli` names the command line's options in error messages."""
        names = ("--since", "--until", "--source") if cli else ("since", "until", "sources")
        start, end = _as_date(since, names[0]), _as_date(until, names[1])
        if start and end and start > end:
            raise BotError(f"{names[0]} ({start}) is after {names[1]} ({end}): no article can match.")
        if isinstance(sources, str):
            sources = [sources]
        listed = tuple(dict.fromkeys(sources or ()))
        if any(not isinstance(s, str) or not s.strip() for s in listed):
            raise BotError(f"{names[2]} takes article file names (text), e.g. 'world/election.txt'.")
        return cls(start, end, listed)

    @property
    def sql(self) -> str:
        """The conditions on passages `p` that SEARCH adds to each side (only those given, so the
        planner sees a plain nearest-neighbour query when there are none)."""
        conditions = []
        if self.sources:
            conditions.append("p.article = ANY(%(sources)s)")
        if self.since:
            conditions.append("p.published >= %(since)s")
        if self.until:
            conditions.append("p.published <= %(until)s")
        return "".join(f" AND {c}" for c in conditions)

    @property
    def articles(self) -> str:
        """The articles searched, as a refusal names them: "The articles dated 2021-01-01 to 2021-12-31
        (undated ones left out)": a date filter drops articles without a date, which a user may not expect."""
        subject = ALL_ARTICLES
        if self.sources:
            named = len(self.sources) <= NAMED_SOURCES
            subject = f"The chosen articles ({', '.join(self.sources)})" if named else "The chosen articles"
        if self.since and self.until:
            dated = f"dated {self.since} to {self.until}"
        elif self.since:
            dated = f"dated from {self.since}"
        elif self.until:
            dated = f"dated up to {self.until}"
        else:
            return subject
        return f"{subject} {dated} (undated ones left out)"

    def unknown_sources(self, index: ArticleIndex) -> list[str]:
        if not self.sources:
            return []
        rows = index.store.read("SELECT name FROM {s}.articles WHERE name = ANY(%s)", (list(self.sources),))
        return sorted(set(self.sources) - {r[0] for r in rows})


NO_FILTERS = Filters()


class HybridRetriever:
    def __init__(self, index: ArticleIndex, top_k: int) -> None:
        self.index = index
        self.top_k = top_k
        self.candidates = max(2 * top_k, MIN_CANDIDATES)

    def check(self, filters: Filters) -> None:
        """Every source the filters name is indexed: a typo is an error, not a refusal."""
        if unknown := filters.unknown_sources(self.index):
            names = list(self.index.texts)
            hints = {n for u in unknown for n in difflib.get_close_matches(u, names, n=2)}
            raise BotError(
                f"No article named {', '.join(map(repr, unknown))} is indexed"
                + (f" (did you mean {', '.join(map(repr, sorted(hints)))}?)" if hints else "")
                + '. A source is an article\'s file name relative to the corpus folder, as in the "source" '
                "of each passage of bot ask --json, or the chat's Articles tab."
            )

    def arguments(self, query: str, vector: str, filters: Filters = NO_FILTERS) -> dict[str, object]:
        """SEARCH's parameters for one question (`vector` as `vector_literal` writes it); the benchmark
        times the same statement with them."""
        return {
            "query": query,
            "vector": vector,
            "n": self.candidates,
            "cap": KEYWORD_CAP,
            "rrf_k": RRF_K,
            "top_k": self.top_k,
            "text": self.top_k * TEXT_PER_PASSAGE,
            "sources": list(filters.sources),
            "since": filters.since,
            "until": filters.until,
        }

    def retrieve(self, query: str, filters: Filters = NO_FILTERS) -> list[Passage]:
        self.check(filters)
        vector = vector_literal(self.index.embedder.model.get_query_embedding(query))
        rows = self.index.store.read(
            SEARCH.replace("{filters}", filters.sql), self.arguments(query, vector, filters)
        )
        if not rows and not self.index.passage_count():
            raise BotError(
                "No articles are indexed. Add .txt, .md or .html files to the corpus and run bot ingest."
            )
        self.index.texts.prime({row[0]: row[10] for row in rows})
        passages = []
        for number, row in enumerate(rows, start=1):
            source, title, date, text, start, end, score, keyword_rank, dense_rank, similarity, _ = row
            passages.append(
                Passage(
                    number=number,
                    source=source,
                    title=title,
                    date=date or None,
                    text=text,
                    start=start,
                    end=end,
                    score=float(score),
                    bm25_rank=int(keyword_rank) if keyword_rank is not None else None,
                    dense_rank=int(dense_rank) if dense_rank is not None else None,
                    dense_score=float(similarity) if similarity is not None else None,
                )
            )
        return passages
