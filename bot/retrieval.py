"""Hybrid retrieval in one SQL statement: keyword (Postgres full-text search) and dense (pgvector)
results fused by reciprocal rank fusion.

Keyword search finds exact names and numbers that embeddings blur; embeddings find paraphrases that
keyword search misses. RRF needs no score calibration between the two, which is why it is the fusion used
here. The keyword side first requires every term of the question; when that finds fewer than the
candidate count it tops up with passages having any of the terms. One statement means one snapshot: the
passages and the article texts returned are always of the same version of each article.
"""

from __future__ import annotations

from bot.answer import Passage
from bot.errors import BotError
from bot.index import ArticleIndex
from bot.store import vector_literal

RRF_K = 60

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
          FROM {s}.passages ORDER BY embedding <=> %(vector)s::vector LIMIT %(n)s) nearest
), strict_hits AS (
    SELECT p.id, ts_rank(p.tsv, queries.strict_q, 1) AS score
    FROM {s}.passages p, queries WHERE p.tsv @@ queries.strict_q
    ORDER BY score DESC, p.id LIMIT %(n)s
), loose_hits AS (
    SELECT p.id, ts_rank(p.tsv, queries.loose_q, 1) AS score
    FROM {s}.passages p, queries
    WHERE (SELECT count(*) FROM strict_hits) < %(n)s AND p.tsv @@ queries.loose_q
      AND p.id NOT IN (SELECT id FROM strict_hits)
    ORDER BY score DESC, p.id LIMIT %(n)s
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
    LIMIT %(top_k)s
)
SELECT p.article, a.title, a.date, p.text, p.start_char, p.end_char,
       f.score, f.keyword_rank, f.dense_rank, 1 - f.distance, a.text
FROM fused f
JOIN {s}.passages p ON p.id = f.id
JOIN {s}.articles a ON a.name = p.article
ORDER BY f.score DESC, f.keyword_rank NULLS LAST, f.dense_rank, f.id
"""


class HybridRetriever:
    def __init__(self, index: ArticleIndex, top_k: int) -> None:
        self.index = index
        self.top_k = top_k
        self.candidates = max(2 * top_k, 10)

    def retrieve(self, query: str) -> list[Passage]:
        vector = self.index.embedder.model.get_query_embedding(query)
        rows = self.index.store.read(
            SEARCH,
            {
                "query": query,
                "vector": vector_literal(vector),
                "n": self.candidates,
                "rrf_k": RRF_K,
                "top_k": self.top_k,
            },
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
