"""The retrieval index, kept in step with the corpus, stored in PostgreSQL (bot/store.py).

Ingest writes one transaction per article (a replaced article is deleted and inserted in the same
transaction), so a reader sees each article wholly old or wholly new, several processes can read while
one ingests, and a crash at any moment leaves a consistent index: the next sync finishes the job.
"""

from __future__ import annotations

import shutil
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bot.articles import Article, read_corpus
from bot.claims import sentence_spans
from bot.embedding import DIMENSIONS, Embedder
from bot.errors import BotError
from bot.settings import BUNDLED_EMBED_MODEL, Settings
from bot.store import Store, vector_literal

EMBED_GROUP = 64  # texts embedded together before their articles are written


@dataclass(frozen=True)
class IndexedArticle:
    name: str
    title: str
    date: str | None
    sha256: str
    chunks: int


@dataclass(frozen=True)
class StoredPassage:
    source: str
    seq: int
    start: int
    end: int
    text: str


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    chunks_embedded: int = 0
    seconds: float = 0.0

    @property
    def touched(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed, "
            f"{len(self.unchanged)} unchanged; {self.chunks_embedded} passages embedded in {self.seconds:.1f}s"
        )


class ArticleTexts(Mapping[str, str]):
    """Article name -> the text that passages, offsets and quotes refer to, read from the database on
    demand. Retrieval primes it with the texts of the articles it returns, read in the same statement as
    the passages, so the grounder always sees the version of an article its passages came from."""

    def __init__(self, store: Store, cache_size: int = 512) -> None:
        self._store = store
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._cache_size = cache_size

    def prime(self, texts: Mapping[str, str]) -> None:
        for name, text in texts.items():
            self._cache[name] = text
            self._cache.move_to_end(name)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def __getitem__(self, name: str) -> str:
        if name in self._cache:
            self._cache.move_to_end(name)
            return self._cache[name]
        rows = self._store.read("SELECT text FROM {s}.articles WHERE name = %s", (name,))
        if not rows:
            raise KeyError(name)
        self.prime({name: rows[0][0]})
        return str(rows[0][0])

    def __iter__(self) -> Iterator[str]:
        return iter([r[0] for r in self._store.read("SELECT name FROM {s}.articles ORDER BY name")])

    def __len__(self) -> int:
        return int(self._store.read("SELECT count(*) FROM {s}.articles")[0][0])


def legacy_index(data_dir: Path) -> bool:
    """The JSON format of news-bot before Postgres: a CURRENT pointer to a version folder."""
    return (data_dir / "CURRENT").is_file()


def _remove_legacy(data_dir: Path) -> None:
    for old in data_dir.glob("v*-*"):
        if old.is_dir() and (old / "manifest.json").is_file():
            shutil.rmtree(old, ignore_errors=True)
    (data_dir / "CURRENT").unlink(missing_ok=True)


def _dimensions(embedder: Embedder) -> int:
    if embedder.model_id == BUNDLED_EMBED_MODEL:
        return DIMENSIONS
    return len(embedder.model.get_text_embedding("dimensions"))


@dataclass
class _Prepared:
    article: Article
    passages: list[tuple[int, int, str]]  # (start, end, text)
    sentences: list[tuple[int, int]]
    vectors: list[str] = field(default_factory=list)  # passages' then sentences', as pgvector literals


class ArticleIndex:
    def __init__(self, store: Store, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder
        self.texts = ArticleTexts(store)

    @property
    def articles(self) -> dict[str, IndexedArticle]:
        """What is indexed now (read from the database at each access: other processes may ingest)."""
        rows = self.store.read("SELECT name, title, date, sha256, passages FROM {s}.articles ORDER BY name")
        return {r[0]: IndexedArticle(*r) for r in rows}

    def article_text(self, name: str) -> str:
        return self.texts[name]

    def passage_count(self) -> int:
        return int(self.store.read("SELECT count(*) FROM {s}.passages")[0][0])

    def passages(self) -> list[StoredPassage]:
        rows = self.store.read(
            "SELECT article, seq, start_char, end_char, text FROM {s}.passages ORDER BY article, seq"
        )
        return [StoredPassage(*r) for r in rows]

    # -- loading -----------------------------------------------------------------------------------

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder) -> ArticleIndex | None:
        """The existing index, or None if there is none yet. Writes nothing (works on a read replica)."""
        store = Store.connect(settings, create=False)
        if store is None:
            return None
        version = store.schema_version()
        if version is None:
            return None
        store.check_version(version, writable=False)
        cls._check_model(store, embedder, settings)
        return cls(store, embedder)

    @staticmethod
    def _check_model(store: Store, embedder: Embedder, settings: Settings) -> None:
        built_with = store.meta().get("embed_model")
        if built_with != embedder.model_id:
            raise BotError(
                f"The index for {settings.data_dir} was built with the embedding model {built_with!r}, "
                f"but this run uses {embedder.model_id!r}. Re-ingest: bot ingest --rebuild"
            )

    @classmethod
    def sync(
        cls, settings: Settings, embedder: Embedder, *, rebuild: bool = False, progress: bool = False
    ) -> tuple[ArticleIndex, SyncReport]:
        """Bring the index in line with the corpus: embed only new or changed files, drop deleted ones."""
        started = time.perf_counter()
        found, warnings = read_corpus(settings.corpus)
        report = SyncReport(warnings=warnings)
        store = Store.connect(settings, create=True)
        assert store is not None
        if rebuild:
            store.drop()
        store.migrate(_dimensions(embedder), embedder.model_id)
        cls._check_model(store, embedder, settings)
        index = cls(store, embedder)

        chunking = f"{settings.chunk_size}/{settings.chunk_overlap}"
        known = {r[0]: (r[1], r[2]) for r in store.read("SELECT name, sha256, chunking FROM {s}.articles")}
        current = {a.name: a for a in found}
        report.removed = sorted(set(known) - set(current))
        to_embed: list[Article] = []
        for name, article in sorted(current.items()):
            if name not in known:
                report.added.append(name)
                to_embed.append(article)
            elif known[name] != (article.sha256, chunking):
                report.changed.append(name)  # new content, or chunking changed: cut it again
                to_embed.append(article)
            else:
                report.unchanged.append(name)

        with store.writer() as conn:
            for name in report.removed:
                with conn.transaction():
                    conn.execute(store.q("DELETE FROM {s}.articles WHERE name = %s"), (name,))
            report.chunks_embedded = index._add(conn, to_embed, settings, chunking, progress)
        if legacy_index(settings.data_dir):
            _remove_legacy(settings.data_dir)
            report.warnings.append(
                f"the old JSON index in {settings.data_dir} was rebuilt in PostgreSQL from the corpus "
                "and its files removed"
            )
        report.seconds = time.perf_counter() - started
        return index, report

    # -- changing ----------------------------------------------------------------------------------

    def _add(self, conn, articles: list[Article], settings: Settings, chunking: str, progress: bool) -> int:  # type: ignore[no-untyped-def]
        from llama_index.core import Document
        from llama_index.core.node_parser import SentenceSplitter

        splitter = SentenceSplitter(chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap)
        prepared: list[_Prepared] = []
        for article in tqdm(articles, desc="Reading articles", unit="file", disable=not progress):
            # The same document and metadata as ever: the splitter leaves room for the metadata, so this
            # keeps the passages (and their offsets) those of earlier versions.
            document = Document(
                text=article.text,
                doc_id=article.name,
                metadata={"source": article.name, "title": article.title, "date": article.date or ""},
            )
            chunks = splitter.get_nodes_from_documents([document])
            passages = [(n.start_char_idx or 0, n.end_char_idx or 0, n.get_content()) for n in chunks]
            prepared.append(_Prepared(article, passages, sentence_spans(article.text)))
        total = sum(len(p.passages) for p in prepared)
        with tqdm(total=total, desc="Embedding passages", unit="passage", disable=not progress) as bar:
            group: list[_Prepared] = []
            for item in prepared:
                group.append(item)
                if sum(len(p.passages) + len(p.sentences) for p in group) >= EMBED_GROUP:
                    self._embed_and_write(conn, group, chunking)
                    bar.update(sum(len(p.passages) for p in group))
                    group = []
            if group:
                self._embed_and_write(conn, group, chunking)
                bar.update(sum(len(p.passages) for p in group))
        return total

    def _embed_and_write(self, conn, group: list[_Prepared], chunking: str) -> None:  # type: ignore[no-untyped-def]
        texts: list[str] = []
        for item in group:
            texts += [text for _, _, text in item.passages]
            texts += [item.article.text[s:e] for s, e in item.sentences]
        vectors = np.asarray(self.embedder.model.get_text_embedding_batch(texts), dtype=np.float32)
        vectors /= np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
        literals = [vector_literal(v) for v in vectors]
        at = 0
        for item in group:
            item.vectors = literals[at : at + len(item.passages) + len(item.sentences)]
            at += len(item.vectors)
            self._write(conn, item, chunking)

    def _write(self, conn, item: _Prepared, chunking: str) -> None:  # type: ignore[no-untyped-def]
        """One article, one transaction: readers and a crash see it wholly old or wholly new."""
        a, q = item.article, self.store.q
        with conn.transaction():
            # Another process may be ingesting the same corpus: one writer per article at a time.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{self.store.schema}/{a.name}",))
            row = conn.execute(q("SELECT sha256, chunking FROM {s}.articles WHERE name = %s"), (a.name,))
            if row.fetchone() == (a.sha256, chunking):
                return  # the other process wrote this very version meanwhile
            conn.execute(q("DELETE FROM {s}.articles WHERE name = %s"), (a.name,))
            conn.execute(
                q("INSERT INTO {s}.articles (name, sha256, title, date, text, chunking, passages) "
                  "VALUES (%s, %s, %s, %s, %s, %s, %s)"),
                (a.name, a.sha256, a.title, a.date, a.text, chunking, len(item.passages)),
            )  # fmt: skip
            passage_vectors, sentence_vectors = (
                item.vectors[: len(item.passages)],
                item.vectors[len(item.passages) :],
            )
            with conn.cursor() as cursor:
                cursor.executemany(
                    q("INSERT INTO {s}.passages (article, seq, start_char, end_char, text, embedding) "
                      "VALUES (%s, %s, %s, %s, %s, %s::vector)"),
                    [
                        (a.name, seq, start, end, text, vector)
                        for seq, ((start, end, text), vector) in enumerate(
                            zip(item.passages, passage_vectors, strict=True)
                        )
                    ],
                )  # fmt: skip
                cursor.executemany(
                    q("INSERT INTO {s}.sentences (article, start_char, end_char, embedding) "
                      "VALUES (%s, %s, %s, %s::vector)"),
                    [
                        (a.name, start, end, vector)
                        for (start, end), vector in zip(item.sentences, sentence_vectors, strict=True)
                    ],
                )  # fmt: skip
