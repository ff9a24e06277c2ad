"""Hybrid retrieval: BM25 and dense results fused by reciprocal rank fusion.

BM25 finds exact names and numbers that embeddings blur; embeddings find paraphrases that BM25 misses.
RRF needs no score calibration between the two, which is why it is the fusion used here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.answer import Passage
from bot.errors import BotError
from bot.index import ArticleIndex

if TYPE_CHECKING:
    from llama_index.core.schema import NodeWithScore

RRF_K = 60


class HybridRetriever:
    def __init__(self, index: ArticleIndex, top_k: int) -> None:
        nodes = index.nodes
        if not nodes:
            raise BotError(
                "No articles are indexed. Add .txt, .md or .html files to the corpus and run bot ingest."
            )
        import Stemmer
        from llama_index.retrievers.bm25 import BM25Retriever

        self.top_k = top_k
        candidates = min(len(nodes), max(2 * top_k, 10))
        self._bm25 = BM25Retriever.from_defaults(
            nodes=nodes, similarity_top_k=candidates, stemmer=Stemmer.Stemmer("english"), language="english"
        )
        self._dense = index.vector_index.as_retriever(similarity_top_k=candidates)

    def retrieve(self, query: str) -> list[Passage]:
        bm25 = self._bm25.retrieve(query)
        dense = self._dense.retrieve(query)
        fused: dict[str, float] = {}
        by_id: dict[str, NodeWithScore] = {}
        bm25_rank: dict[str, int] = {}
        dense_rank: dict[str, int] = {}
        dense_score: dict[str, float] = {}
        for ranks, hits in ((bm25_rank, bm25), (dense_rank, dense)):
            for rank, hit in enumerate(hits, start=1):
                node_id = hit.node.node_id
                if ranks is bm25_rank and (hit.score or 0.0) <= 0.0:
                    continue  # no query term in common: not a BM25 match at all
                ranks[node_id] = rank
                by_id[node_id] = hit
                fused[node_id] = fused.get(node_id, 0.0) + 1.0 / (RRF_K + rank)
                if ranks is dense_rank:
                    dense_score[node_id] = float(hit.score or 0.0)
        best = sorted(fused, key=lambda i: fused[i], reverse=True)[: self.top_k]
        passages = []
        for number, node_id in enumerate(best, start=1):
            node = by_id[node_id].node
            meta = node.metadata
            passages.append(
                Passage(
                    number=number,
                    source=meta["source"],
                    title=meta["title"],
                    date=meta.get("date") or None,
                    text=node.get_content(),
                    start=node.start_char_idx or 0,
                    end=node.end_char_idx or 0,
                    score=fused[node_id],
                    bm25_rank=bm25_rank.get(node_id),
                    dense_rank=dense_rank.get(node_id),
                    dense_score=dense_score.get(node_id),
                )
            )
        return passages
