"""The index at archive scale (`eval/benchmark.py --scale 10000,100000`). Prints numbers; asserts nothing.

A synthetic archive: articles of realistic length (passages of about 120 words, a log-normal number per
article, median 8) made of real news sentences (the RGB snippets in ../shared/eval-data and seeds/) with
made-up names mixed in, so the keyword side sees a long tail of rare words. Vectors are perturbed copies
of the real MiniLM vectors of the snippets the text came from (embedding a million passages would take
days on 2 cores), so a real question's vector lands among them. Evidence windows are cut by the real
code (bot/index.py evidence_windows) and written with their own perturbed vectors.

Per size, in a fresh embedded PostgreSQL of its own: ingest (COPY, embedding excluded; and with
embedding, from the embedder's measured rate), search index build time, disk size, a serving process's
memory and retrieval p50/p95 (dense, keyword, fused, fused with filters), and retrieve + grounding
checks ("ask minus the model"). Side by side at the sizes it can handle: the store news-bot used before
PostgreSQL (LlamaIndex SimpleVectorStore persisted as JSON + in-memory BM25): load time, memory, query
time. At the largest size up to 100k: the dense side's recall@10 against exact search per ef_search,
and how much the fused top 4 changes with more candidates. Retrieval quality on real data (hit@4, MRR):
the seed set, and all RGB snippets pooled into one index, new store against old.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.articles import Article  # noqa: E402
from bot.claims import sentence_spans  # noqa: E402
from bot.index import ArticleIndex, Prepared, evidence_windows  # noqa: E402
from bot.settings import BUNDLED_EMBED_MODEL, Settings  # noqa: E402
from bot.store import Store, embedded_server  # noqa: E402

RGB = REPO.parent / "shared" / "eval-data" / "rgb" / "en_fact.json"
SEED = REPO / "eval" / "seed.jsonl"
SEEDS = REPO / "seeds"
PASSAGE_CHARS = 450  # new text per passage: 160-token passages overlapping by 40 (seeds: 448)
MEDIAN_PASSAGES = 8  # per article (log-normal, sigma 0.5): a 1,000-word news story
SENTENCE_MIN = 60  # characters: RGB's snippets hold page fragments; news sentences are ~150 long
NOISE = 0.03  # per component: a perturbed copy has cosine ~0.86 with its real vector
NAMES = 200_000  # made-up names, drawn Zipf-like: the long tail of an archive's vocabulary
SCHEMA = "news_bot"
CHUNKING = "160/40"
INCREMENTAL = 1000  # passages ingested one article per transaction after the bulk load
OLD_MAX = 100_000  # the old in-memory store holds every vector as Python floats: ~20 GB at 1M
GENERATE_BATCH = 20_000  # passages generated (untimed) before each timed write: 1M at once would not fit


def pool() -> tuple[list[str], list[str]]:
    """Real news text: (snippets, questions). RGB's positive and negative snippets and the seed
    articles' paragraphs; the RGB queries and seed questions."""
    rows = [json.loads(line) for line in RGB.read_text().splitlines() if line.strip()]
    snippets = [s for r in rows for k in ("positive", "negative") for s in r[k] if len(s) > 40]
    snippets += [p for f in sorted(SEEDS.glob("*.txt")) for p in f.read_text().split("\n") if len(p) > 40]
    questions = [r["query"] for r in rows]
    questions += [json.loads(line)["question"] for line in SEED.read_text().splitlines() if line.strip()]
    return snippets, questions


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


class Archive:
    """Yields synthetic articles (as Prepared, with vectors) until `passages` passages are made."""

    def __init__(self, snippets: list[str], vectors: np.ndarray, seed: int = 7) -> None:
        self.rng = np.random.default_rng(seed)
        self.vectors = vectors
        self.sentences: list[tuple[str, int]] = [
            (s[a:b], i) for i, s in enumerate(snippets) for a, b in sentence_spans(s) if b - a >= SENTENCE_MIN
        ]
        zipf = 1.0 / np.arange(1, NAMES + 1)
        self.name_p = zipf / zipf.sum()

    def articles(self, passages: int) -> Any:
        made, number = 0, 0
        start = date(2020, 1, 1)
        while made < passages:
            count = max(1, min(passages - made, round(self.rng.lognormal(np.log(MEDIAN_PASSAGES), 0.5))))
            yield self.article(number, count, start + timedelta(days=int(self.rng.integers(0, 2400))))
            made += count
            number += 1

    def article(self, number: int, count: int, published: date) -> Prepared:
        names = [f"Varn{k}" for k in self.rng.choice(NAMES, size=count * 2, p=self.name_p)]
        texts, bases = [], []
        for p in range(count):
            parts, length = [], 0
            picks = self.rng.integers(0, len(self.sentences), size=12)
            for k, pick in enumerate(picks):
                sentence, snippet = self.sentences[pick]
                if k == 1:
                    sentence = f"{names[2 * p]} {names[2 * p + 1]} said {sentence[:1].lower()}{sentence[1:]}"
                parts.append(sentence)
                length += len(sentence) + 1
                if length > PASSAGE_CHARS:
                    break
            texts.append(" ".join(parts))
            bases.append(self.sentences[picks[0]][1])
        title = f"{names[0]} and the {(texts[0].split() + ['news'] * 3)[2].strip(',.')} report"
        header = f"{title}\n\n{published.isoformat()}\n\n"
        spans, at = [], len(header)
        for t in texts:
            spans.append((at, at + len(t), t))
            at += len(t) + 2
        text = header + "\n\n".join(texts)
        article = Article(f"a{number:07d}.txt", title, published.isoformat(), text, f"{number:064x}")
        windows = evidence_windows(text, spans)
        base = self.vectors[bases]
        passage_vectors = unit(base + self.rng.normal(0, NOISE, base.shape)).astype(np.float32)
        owner = [min(range(len(spans)), key=lambda i: abs(spans[i][0] - s)) for s, _, _ in windows]
        window_base = passage_vectors[owner] if owner else np.zeros((0, base.shape[1]), np.float32)
        window_vectors = unit(window_base + self.rng.normal(0, NOISE, window_base.shape)).astype(np.float32)
        return Prepared(article, spans, windows, passage_vectors, window_vectors)


def p50_p95(values: list[float]) -> str:
    ordered = sorted(values)
    return (
        f"{statistics.median(ordered) * 1000:.1f} / {ordered[round(0.95 * (len(ordered) - 1))] * 1000:.1f} ms"
    )


def rss_mb(pid: int | None = None) -> float:
    import psutil

    return psutil.Process(pid or os.getpid()).memory_info().rss / 1024**2


def du_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1024**2


# -- the new store -----------------------------------------------------------------------------------


def load(url: str, archive: Archive, passages: int) -> dict[str, float]:
    """Bulk load through the ingest's own write path (COPY, whole articles per commit), then the search
    indexes, as `bot ingest` does into an empty index; then INCREMENTAL passages more, one transaction
    per article into the built indexes, as a later `bot ingest` does."""

    class NoEmbedder:
        model_id = BUNDLED_EMBED_MODEL

    store = Store(url, SCHEMA, "(benchmark)", True)
    store.drop()
    store.migrate(384, BUNDLED_EMBED_MODEL)
    store.drop_search_indexes()
    index = ArticleIndex(store, NoEmbedder())  # type: ignore[arg-type]
    source = archive.articles(passages + INCREMENTAL)
    articles, total, windows, sentences, load_s = 0, 0, 0, 0, 0.0
    begun = time.perf_counter()
    with store.writer() as conn:
        conn.execute("SET synchronous_commit = off")
        while total < passages:  # made a batch at a time, untimed: its time is not the database's
            batch: list[Prepared] = []
            while total < passages and sum(len(p.passages) for p in batch) < GENERATE_BATCH:
                batch.append(next(source))
                total += len(batch[-1].passages)
            articles += len(batch)
            windows += sum(len(p.windows) for p in batch)
            sentences += sum(len({(a, b) for a, b, _ in p.windows}) for p in batch)  # one row each
            started = time.perf_counter()
            index.write(conn, batch, CHUNKING, bulk=True)
            load_s += time.perf_counter() - started
    generated = list(source)  # the INCREMENTAL passages left
    generate_s = time.perf_counter() - begun - load_s
    build_s = store.build_search_indexes()
    started = time.perf_counter()
    with store.writer() as conn:
        conn.execute("SET synchronous_commit = off")
        index.write(conn, generated, CHUNKING)
    incremental_s = time.perf_counter() - started
    started = time.perf_counter()
    with store.writer() as conn:
        conn.execute("CHECKPOINT")
        conn.execute(f"VACUUM ANALYZE {SCHEMA}.articles, {SCHEMA}.passages, {SCHEMA}.sentences")
    size = store.read(
        "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
        (SCHEMA,),
    )[0][0]
    vacuum_s = time.perf_counter() - started
    return {
        "passages": total,
        "articles": articles,
        "windows_per_passage": windows / total,
        "load_s": load_s,
        "passages_per_s": total / load_s,
        "rows_per_s": (total + sentences + articles) / load_s,
        "index_build_s": build_s,
        "incremental_passages_per_s": sum(len(p.passages) for p in generated) / incremental_s,
        "disk_mb": float(size) / 1024**2,
        "generate_s": generate_s,
        "vacuum_s": vacuum_s,
    }


def serve(url: str, questions: list[str]) -> dict[str, Any]:
    """In a fresh process: open the index as `bot ask` does, then time each retrieval side on real
    questions (the query vector embedded once, outside the timings), fused with filters, and retrieve +
    the grounding checks with stored vectors. Memory is this process's RSS (it is not the benchmark's
    driver) once the index is open and the embedder loaded, and again after answering every question;
    and the RSS of the PostgreSQL backend that served it (shared buffers it touched included)."""
    from bot.embedding import Embedder
    from bot.grounding import Grounder
    from bot.retrieval import SEARCH, Filters, HybridRetriever
    from bot.store import vector_literal

    embedder = Embedder(BUNDLED_EMBED_MODEL)
    index = ArticleIndex(Store(url, SCHEMA, "(benchmark)", True), embedder)
    retriever = HybridRetriever(index, 4)
    grounder = Grounder(
        embedder, support_threshold=Settings.support_threshold, topic_threshold=Settings.topic_threshold
    )
    vectors = [vector_literal(embedder.model.get_query_embedding(q)) for q in questions]
    index.passage_count()  # opens the connection, as the first question would
    loaded_mb = rss_mb()
    dense = "SELECT id FROM {s}.passages ORDER BY embedding <=> %(vector)s::vector LIMIT %(n)s"
    keyword = (
        "SELECT id FROM (SELECT id, tsv FROM {s}.passages WHERE tsv @@ plainto_tsquery('english', %(query)s) "
        "LIMIT %(cap)s) m ORDER BY ts_rank(tsv, plainto_tsquery('english', %(query)s), 1) DESC LIMIT %(n)s"
    )
    names = [r[0] for r in index.store.read("SELECT name FROM {s}.articles ORDER BY random() LIMIT 5")]
    filtered = {
        "fused": Filters(),
        "fused, one year": Filters(since=date(2023, 1, 1), until=date(2023, 12, 31)),
        "fused, 5 sources": Filters(sources=tuple(names[:5])),
    }
    times: dict[str, list[float]] = {k: [] for k in ["dense", "keyword", *filtered, "retrieve + check"]}
    for _ in range(2):  # the first round warms the caches; the second is timed
        for k in times:
            times[k].clear()
        for q, v in zip(questions, vectors, strict=True):
            for label, sql in (("dense", dense), ("keyword", keyword)):
                started = time.perf_counter()
                index.store.read(sql, retriever.arguments(q, v))
                times[label].append(time.perf_counter() - started)
            for label, f in filtered.items():
                args = retriever.arguments(q, v, f)
                started = time.perf_counter()
                index.store.read(SEARCH.replace("{filters}", f.sql), args)
                times[label].append(time.perf_counter() - started)
            started = time.perf_counter()
            passages = retriever.retrieve(q)
            grounder.check(q, passages, index.texts, index.stored_vectors)
            times["retrieve + check"].append(time.perf_counter() - started)
    backend = int(index.store.read("SELECT pg_backend_pid()")[0][0])  # one thread: one pooled connection
    return {
        **{k: p50_p95(v) for k, v in times.items()},
        "rss_loaded_mb": loaded_mb,
        "rss_mb": rss_mb(),
        "backend_rss_mb": rss_mb(backend),
    }


def recall_sweep(url: str, vectors: list[str], questions: list[str]) -> list[str]:
    """recall@10 of HNSW against exact search, per ef_search; how much of the fused top 4 changes when
    each side ranks more candidates."""
    import psycopg

    from bot.retrieval import KEYWORD_CAP, RRF_K, SEARCH

    dense = f"SELECT id FROM {SCHEMA}.passages ORDER BY embedding <=> %s::vector LIMIT 10"
    lines = []
    with psycopg.connect(url, autocommit=True) as conn:
        exact = []
        with conn.transaction():
            conn.execute("SET LOCAL enable_indexscan = off")
            for v in vectors:
                exact.append({r[0] for r in conn.execute(dense, (v,), prepare=False).fetchall()})
        conn.execute("SET enable_seqscan = off")  # HNSW itself: a small table is otherwise scanned at high ef
        for ef in (20, 40, 64, 100, 200):
            conn.execute(f"SET hnsw.ef_search = {ef}")
            hits, took = 0, []
            for v, truth in zip(vectors, exact, strict=True):
                started = time.perf_counter()
                rows = conn.execute(dense, (v,), prepare=False).fetchall()
                took.append(time.perf_counter() - started)
                hits += len(truth & {r[0] for r in rows})
            lines.append(
                f"ef_search {ef}: dense recall@10 vs exact {hits / (10 * len(vectors)):.3f}, p50 / p95 {p50_p95(took)}"
            )
        conn.execute("RESET enable_seqscan")
        conn.execute("SET hnsw.ef_search = 100")
        conn.execute("SET hnsw.iterative_scan = relaxed_order")
        sql = SEARCH.replace("{filters}", "").replace("{s}", SCHEMA)
        tops: dict[int, list[set[str]]] = {}
        for n in (10, 20, 40):
            tops[n] = []
            for q, v in zip(questions, vectors, strict=True):
                args = {
                    "query": q,
                    "vector": v,
                    "n": n,
                    "cap": KEYWORD_CAP,
                    "rrf_k": RRF_K,
                    "top_k": 4,
                    "text": 0,
                }
                tops[n].append({f"{r[0]}:{r[4]}" for r in conn.execute(sql, args).fetchall()})
        for n in (20, 40):
            same = statistics.mean(len(a & b) / 4 for a, b in zip(tops[10], tops[n], strict=True))
            lines.append(f"fused top 4 with {n} candidates per side: {same:.3f} the same as with 10")
    return lines


# -- the store before PostgreSQL (git show 85d2f8a:bot/index.py, bot/retrieval.py) --------------------


class OldStore:
    """LlamaIndex's SimpleVectorStore persisted as JSON, and BM25 built in memory at every start."""

    def __init__(self, folder: Path) -> None:
        import Stemmer
        from llama_index.core import MockEmbedding, StorageContext, load_index_from_storage
        from llama_index.retrievers.bm25 import BM25Retriever

        storage = StorageContext.from_defaults(persist_dir=str(folder))
        self.index = load_index_from_storage(storage, embed_model=MockEmbedding(embed_dim=384))
        nodes = list(self.index.docstore.docs.values())
        self.bm25 = BM25Retriever.from_defaults(
            nodes=nodes, similarity_top_k=10, stemmer=Stemmer.Stemmer("english"), language="english"
        )

    @staticmethod
    def build(folder: Path, passages: list[tuple[str, int, int, str, list[float]]]) -> None:
        from llama_index.core import MockEmbedding, StorageContext, VectorStoreIndex
        from llama_index.core.schema import TextNode

        nodes = [
            TextNode(
                text=text,
                embedding=vector,
                metadata={"source": source},
                start_char_idx=start,
                end_char_idx=end,
            )  # fmt: skip
            for source, start, end, text, vector in passages
        ]
        index = VectorStoreIndex(
            nodes=nodes,
            embed_model=MockEmbedding(embed_dim=384),
            storage_context=StorageContext.from_defaults(),
        )
        index.storage_context.persist(persist_dir=str(folder))

    def dense(self, vector: list[float]) -> list[str]:
        from llama_index.core.vector_stores.types import VectorStoreQuery

        found = self.index.vector_store.query(VectorStoreQuery(query_embedding=vector, similarity_top_k=10))
        return list(found.ids or [])

    def keyword(self, question: str) -> list[str]:
        return [hit.node.node_id for hit in self.bm25.retrieve(question) if (hit.score or 0) > 0]

    def fused(self, question: str, vector: list[float]) -> list[Any]:
        """The old HybridRetriever's top 4: reciprocal rank fusion of the two lists."""
        score: dict[str, float] = {}
        for hits in (self.keyword(question), self.dense(vector)):
            for rank, node_id in enumerate(hits, start=1):
                score[node_id] = score.get(node_id, 0.0) + 1.0 / (60 + rank)
        best = sorted(score, key=lambda i: score[i], reverse=True)[:4]
        return [self.index.docstore.get_node(i) for i in best]


def old_passages(work: Path, passages: int) -> list[tuple[str, int, int, str, list[float]]]:
    snippets, _ = pool()
    archive = Archive(snippets, np.load(work / "pool.npy"))
    rows = []
    for p in archive.articles(passages):
        for (start, end, text), vector in zip(p.passages, p.passage_vectors, strict=True):  # type: ignore[arg-type]
            rows.append((p.article.name, start, end, text, vector.tolist()))
    return rows[:passages]


def old_serve(folder: Path, questions: list[str], vectors: list[list[float]]) -> dict[str, Any]:
    import Stemmer  # noqa: F401  # imported before the clock starts: load time is the index's
    from llama_index.core import StorageContext  # noqa: F401
    from llama_index.retrievers.bm25 import BM25Retriever  # noqa: F401

    started = time.perf_counter()
    store = OldStore(folder)
    loaded = time.perf_counter() - started
    times: dict[str, list[float]] = {"dense": [], "keyword": [], "fused": []}
    for q, v in zip(questions, vectors, strict=True):
        for label in times:
            started = time.perf_counter()
            if label == "dense":
                store.dense(v)
            elif label == "keyword":
                store.keyword(q)
            else:
                store.fused(q, v)
            times[label].append(time.perf_counter() - started)
    return {"load_s": loaded, **{k: p50_p95(t) for k, t in times.items()}, "rss_mb": rss_mb()}


# -- retrieval quality on real data ------------------------------------------------------------------


def quality(url: str, work: Path) -> list[str]:
    """hit@4 and MRR, new store against old, on the same passages and vectors: the seed set (gold
    evidence quotes), and RGB's snippets pooled into one index (gold: the query's positive snippets)."""
    from bot.embedding import Embedder
    from bot.metrics import retrieval_scores
    from bot.retrieval import HybridRetriever
    from bot.settings import Settings

    embedder = Embedder(BUNDLED_EMBED_MODEL)
    rgb_corpus = work / "rgb-corpus"
    rgb_corpus.mkdir(exist_ok=True)
    rows = [json.loads(line) for line in RGB.read_text().splitlines() if line.strip()]
    for r in rows:
        for kind in ("positive", "negative"):
            for k, snippet in enumerate(r[kind]):
                (rgb_corpus / f"q{r['id']:03d}-{kind[0]}{k}.txt").write_text(snippet)
    seed_items = [json.loads(line) for line in SEED.read_text().splitlines() if line.strip()]
    sets = {
        "seed set": (
            SEEDS,
            [(i["question"], [e["quote"] for e in i["evidence"]]) for i in seed_items if i.get("evidence")],
        ),
        "RGB pooled": (rgb_corpus, [(r["query"], [f"q{r['id']:03d}-p"]) for r in rows]),
    }
    lines = []
    for label, (corpus, items) in sets.items():
        settings = Settings.resolve(corpus=corpus, data_dir=work / label.replace(" ", "-"), database_url=url,
                                    database_schema=f"quality_{label.split()[0].lower()}")  # fmt: skip
        index, report = ArticleIndex.sync(settings, embedder)
        new = {n: HybridRetriever(index, 4) for n in (10, 20, 40)}  # candidates per side
        for n, retriever in new.items():
            retriever.candidates = n
        stored = index.store.read(
            "SELECT article, start_char, end_char, text, embedding::text FROM {s}.passages"
        )
        old_dir = work / f"old-{label.split()[0]}"
        OldStore.build(old_dir, [(a, s, e, t, json.loads(v)) for a, s, e, t, v in stored])
        old = OldStore(old_dir)
        scores: dict[str, list[dict[str, float]]] = {
            f"new store, {n} candidates per side": [] for n in new
        } | {"old store": []}
        for question, gold in items:
            vector = embedder.model.get_query_embedding(question)
            found = {
                # the best four: retrieval adds more when they are short, the old store never did
                f"new store, {n} candidates per side": [(p.source, p.text) for p in r.retrieve(question)[:4]]
                for n, r in new.items()
            }
            found["old store"] = [
                (n.metadata["source"], n.get_content()) for n in old.fused(question, vector)
            ]
            for which, hits in found.items():
                if corpus == SEEDS:
                    scores[which].append(retrieval_scores([t for _, t in hits], gold))
                else:
                    ranks = [i for i, (source, _) in enumerate(hits, 1) if source.startswith(gold[0])]
                    scores[which].append({"hit": float(bool(ranks)), "rr": 1 / ranks[0] if ranks else 0.0})
        for which, s in scores.items():
            lines.append(f"{label} ({len(items)} questions, {index.passage_count()} passages), {which}: "
                         f"hit@4 {statistics.mean(x['hit'] for x in s):.3f}, MRR {statistics.mean(x['rr'] for x in s):.3f}")  # fmt: skip
    return lines


# -- orchestration -----------------------------------------------------------------------------------


def child(*args: str) -> dict[str, Any]:
    """This script in a fresh process (memory is measured per process); its last line is JSON."""
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{args[0]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ingest_rates(embedder: Any, archive: Archive) -> tuple[float, float]:
    """Seconds to embed one passage with its evidence windows, as ingest does (MiniLM on this machine),
    and passages per second of the splitter that cuts articles into passages."""
    from llama_index.core import Document
    from llama_index.core.node_parser import SentenceSplitter

    sample = list(archive.articles(40))
    texts = [t for p in sample for t in p.texts]
    started = time.perf_counter()
    embedder.model.get_text_embedding_batch(texts)
    per_passage = (time.perf_counter() - started) / 40
    splitter = SentenceSplitter(chunk_size=160, chunk_overlap=40)
    splitter.get_nodes_from_documents([Document(text=sample[0].article.text)])  # loads its tokenizer
    started = time.perf_counter()
    made = sum(len(splitter.get_nodes_from_documents([Document(text=p.article.text)])) for p in sample)
    return per_passage, made / (time.perf_counter() - started)


def stop_server(data: Path, url: str, keep: bool) -> None:
    """Stop the embedded server in `data` (this process started it) and, unless `keep`, delete it."""
    from bot import store

    with store._readers_lock:  # this process's pooled connections to it
        pool = store._readers.pop(url, None)
    for conn in pool.idle if pool else []:
        conn.close()
    pgdata = (data / "pg").expanduser().resolve()
    server = store._pgserver().PostgresServer._instances.get(pgdata)
    if server is not None:
        server.cleanup()
    if not keep:
        shutil.rmtree(data, ignore_errors=True)


def run(sizes: list[int], work: Path, questions_limit: int, keep: bool, quality_too: bool) -> None:
    from bot.embedding import Embedder

    work.mkdir(parents=True, exist_ok=True)
    snippets, questions = pool()
    questions = questions[:questions_limit]
    embedder = Embedder(BUNDLED_EMBED_MODEL)
    started = time.perf_counter()
    vectors = unit(np.asarray(embedder.model.get_text_embedding_batch(snippets), dtype=np.float32))
    embed_rate = len(snippets) / (time.perf_counter() - started)
    np.save(work / "pool.npy", vectors)
    (work / "questions.json").write_text(json.dumps(questions))
    query_vectors = [embedder.model.get_query_embedding(q) for q in questions]
    per_passage, chunking_rate = ingest_rates(embedder, Archive(snippets, vectors, seed=3))
    (work / "query_vectors.json").write_text(json.dumps(query_vectors))
    print(
        f"pool: {len(snippets)} real snippets embedded at {embed_rate:.0f} texts/s; {len(questions)} questions"
    )
    for size in sizes:
        data = work / f"n{size}"
        shutil.rmtree(data, ignore_errors=True)
        url = embedded_server(data).url
        archive = Archive(snippets, vectors)
        size_started = time.perf_counter()
        numbers = load(url, archive, size)
        with_embedding = 1 / (1 / numbers["passages_per_s"] + per_passage)
        print(f"\n== {size:,} passages ({numbers['articles']:,} articles, {numbers['windows_per_passage']:.1f} "
              f"evidence windows per passage) ==")  # fmt: skip
        print(f"bulk load (COPY, embedding excluded): {numbers['load_s']:.1f}s = {numbers['passages_per_s']:,.0f} "
              f"passages/s ({numbers['rows_per_s']:,.0f} rows/s); with embedding (MiniLM, each passage and its "
              f"windows): {with_embedding:,.1f} passages/s; the real ingest's chunking alone (LlamaIndex "
              f"SentenceSplitter): {chunking_rate:,.0f} passages/s")  # fmt: skip
        print(f"search index build (HNSW + GIN): {numbers['index_build_s']:.1f}s; incremental ingest after it: "
              f"{numbers['incremental_passages_per_s']:,.0f} passages/s; disk {numbers['disk_mb']:,.0f} MB "
              f"(data dir {du_mb(data / 'pg'):,.0f} MB); generating the synthetic archive took "
              f"{numbers['generate_s']:.0f}s, CHECKPOINT + VACUUM ANALYZE {numbers['vacuum_s']:.0f}s")  # fmt: skip
        served = child("--serve", url, str(work))
        print(f"serving process (a separate one) RSS {served.pop('rss_loaded_mb'):.0f} MB once loaded, "
              f"{served.pop('rss_mb'):.0f} MB after {len(questions)} questions x 2 rounds (its PostgreSQL "
              f"backend {served.pop('backend_rss_mb'):.0f} MB); p50 / p95: "
              + "; ".join(f"{k} {v}" for k, v in served.items()))  # fmt: skip
        if size <= 100_000 and size == max(s for s in sizes if s <= 100_000):
            for line in recall_sweep(url, [json.dumps(v) for v in query_vectors], questions):
                print(line)
        if size <= OLD_MAX:
            folder = work / f"old{size}"
            started = time.perf_counter()
            try:  # its memory grows with the archive: a failure here must not cost the sizes still to come
                child("--old-build", str(work), str(size), str(folder))
                build = time.perf_counter() - started
                old = child("--old-serve", str(work), str(folder))
                print(f"old in-memory store (separate processes): generate + build + persist {build:.0f}s, JSON "
                      f"{du_mb(folder):,.0f} MB; start (load + BM25) {old.pop('load_s'):.1f}s, RSS "
                      f"{old.pop('rss_mb'):.0f} MB; p50 / p95 over {min(50, len(questions))} questions: "
                      + "; ".join(f"{k} {v}" for k, v in old.items()))  # fmt: skip
            except SystemExit as err:
                print(f"old in-memory store: failed after {time.perf_counter() - started:.0f}s: {err}")
            shutil.rmtree(folder, ignore_errors=True)
        stop_server(data, url, keep)
        print(f"({time.perf_counter() - size_started:.0f}s for this size)")
    if quality_too:
        data = work / "quality"
        shutil.rmtree(data, ignore_errors=True)
        url = embedded_server(data).url
        print()
        for line in quality(url, work):
            print(line)
        stop_server(data, url, keep)
        if not keep:  # RGB's snippets (licensed data) as files and old-store JSON: only ever in `work`
            for folder in ("rgb-corpus", "old-RGB", "old-seed", "RGB-pooled", "seed-set"):
                shutil.rmtree(work / folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", required=True, help="passages per archive, comma-separated: 10000,100000")
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "news-bot-scale"))
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep each size's database")
    parser.add_argument("--no-quality", action="store_true", help="skip hit@4 / MRR on the seed set and RGB")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # each line as soon as measured
    run(
        [int(n) for n in args.scale.split(",")],
        Path(args.work),
        args.questions,
        args.keep,
        not args.no_quality,
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        work = Path(sys.argv[3])
        print(json.dumps(serve(sys.argv[2], json.loads((work / "questions.json").read_text()))))
    elif sys.argv[1:2] == ["--old-build"]:
        OldStore.build(Path(sys.argv[4]), old_passages(Path(sys.argv[2]), int(sys.argv[3])))
        print("{}")
    elif sys.argv[1:2] == ["--old-serve"]:
        work = Path(sys.argv[2])
        qs = json.loads((work / "questions.json").read_text())[:50]
        vs = json.loads((work / "query_vectors.json").read_text())[:50]
        print(json.dumps(old_serve(Path(sys.argv[3]), qs, vs)))
    else:
        main()
