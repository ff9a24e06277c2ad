"""The persisted retrieval index: article chunks with their embeddings, kept in step with the corpus.

Each sync writes a complete new version folder and then switches the `CURRENT` pointer with an atomic
rename, so a failed or interrupted ingest leaves the previous index exactly as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from bot.articles import Article, read_corpus
from bot.embedding import Embedder
from bot.errors import BotError
from bot.settings import Settings

if TYPE_CHECKING:
    from llama_index.core import VectorStoreIndex
    from llama_index.core.schema import TextNode

FORMAT_VERSION = 1
EMBED_BATCH = 32


@dataclass(frozen=True)
class IndexedArticle:
    name: str
    title: str
    date: str | None
    sha256: str
    chunks: int


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


class ArticleIndex:
    def __init__(
        self,
        vector_index: VectorStoreIndex,
        articles: dict[str, IndexedArticle],
        texts: dict[str, str],
        chunking: tuple[int | None, int | None] = (None, None),
    ) -> None:
        self.vector_index = vector_index
        self.articles = articles
        self._texts = texts
        self._chunking = chunking

    @property
    def nodes(self) -> list[TextNode]:
        return list(self.vector_index.docstore.docs.values())  # type: ignore[arg-type]

    @property
    def texts(self) -> dict[str, str]:
        """Article name -> the text that passages, offsets and quotes refer to."""
        return self._texts

    def article_text(self, name: str) -> str:
        return self._texts[name]

    # -- loading -----------------------------------------------------------------------------------

    @staticmethod
    def current_dir(data_dir: Path) -> Path | None:
        pointer = data_dir / "CURRENT"
        if not pointer.is_file():
            return None
        version = data_dir / pointer.read_text().strip()
        return version if (version / "manifest.json").is_file() else None

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder) -> ArticleIndex | None:
        """Load the current index, or None if there is none yet."""
        version = cls.current_dir(settings.data_dir)
        if version is None:
            return None
        manifest = json.loads((version / "manifest.json").read_text())
        built_with = manifest.get("embed_model")
        if built_with != embedder.model_id:
            raise BotError(
                f"The index in {settings.data_dir} was built with the embedding model {built_with!r}, "
                f"but this run uses {embedder.model_id!r}. Re-ingest: bot ingest --rebuild"
            )
        from llama_index.core import StorageContext, load_index_from_storage

        storage = StorageContext.from_defaults(persist_dir=str(version / "llama"))
        vector_index = load_index_from_storage(storage, embed_model=embedder.model)
        articles = {a["name"]: IndexedArticle(**a) for a in manifest["articles"]}
        texts = json.loads((version / "texts.json").read_text())
        return cls(vector_index, articles, texts, (manifest.get("chunk_size"), manifest.get("chunk_overlap")))

    @classmethod
    def sync(
        cls, settings: Settings, embedder: Embedder, *, rebuild: bool = False, progress: bool = False
    ) -> tuple[ArticleIndex, SyncReport]:
        """Bring the index in line with the corpus: embed only new or changed files, drop deleted ones."""
        started = time.perf_counter()
        found, warnings = read_corpus(settings.corpus)
        report = SyncReport(warnings=warnings)
        index = None if rebuild else cls.open(settings, embedder)
        if index is not None and index._chunking != (settings.chunk_size, settings.chunk_overlap):
            index = None  # chunking changed: every passage must be cut again
        if index is None:
            from llama_index.core import StorageContext, VectorStoreIndex

            vector_index = VectorStoreIndex(
                nodes=[], embed_model=embedder.model, storage_context=StorageContext.from_defaults()
            )
            index = cls(vector_index, {}, {})

        current = {a.name: a for a in found}
        for name in sorted(set(index.articles) - set(current)):
            report.removed.append(name)
        to_embed: list[Article] = []
        for name, article in current.items():
            known = index.articles.get(name)
            if known is None:
                report.added.append(name)
                to_embed.append(article)
            elif known.sha256 != article.sha256:
                report.changed.append(name)
                to_embed.append(article)
            else:
                report.unchanged.append(name)

        if report.touched or cls.current_dir(settings.data_dir) is None:
            for name in report.removed + report.changed:
                index._forget(name)
            report.chunks_embedded = index._add(to_embed, settings, embedder, progress)
            index._persist(settings)
        report.seconds = time.perf_counter() - started
        return index, report

    # -- changing ----------------------------------------------------------------------------------

    def _forget(self, name: str) -> None:
        self.vector_index.delete_ref_doc(name, delete_from_docstore=True)
        self.articles.pop(name, None)
        self._texts.pop(name, None)

    def _add(self, articles: list[Article], settings: Settings, embedder: Embedder, progress: bool) -> int:
        from llama_index.core import Document
        from llama_index.core.node_parser import SentenceSplitter

        splitter = SentenceSplitter(chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap)
        nodes: list[TextNode] = []
        for article in tqdm(articles, desc="Reading articles", unit="file", disable=not progress):
            document = Document(
                text=article.text,
                doc_id=article.name,
                metadata={"source": article.name, "title": article.title, "date": article.date or ""},
            )
            chunks = splitter.get_nodes_from_documents([document])
            for node in chunks:
                node.excluded_embed_metadata_keys = list(node.metadata)
                node.excluded_llm_metadata_keys = list(node.metadata)
            nodes.extend(chunks)
            self.articles[article.name] = IndexedArticle(
                article.name, article.title, article.date, article.sha256, len(chunks)
            )
            self._texts[article.name] = article.text
        with tqdm(total=len(nodes), desc="Embedding passages", unit="passage", disable=not progress) as bar:
            for start in range(0, len(nodes), EMBED_BATCH):
                batch = nodes[start : start + EMBED_BATCH]
                vectors = embedder.model.get_text_embedding_batch([n.text for n in batch])
                for node, vector in zip(batch, vectors, strict=True):
                    node.embedding = vector
                bar.update(len(batch))
        if nodes:
            self.vector_index.insert_nodes(nodes)
        return len(nodes)

    def _persist(self, settings: Settings) -> None:
        data_dir = settings.data_dir
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise BotError(
                f"Cannot create the data dir {data_dir}: {err.strerror}. Pass --data-dir."
            ) from None
        name = f"v{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:6]}"
        version = data_dir / name
        self.vector_index.storage_context.persist(persist_dir=str(version / "llama"))
        (version / "texts.json").write_text(json.dumps(self._texts, ensure_ascii=False))
        manifest = {
            "format": FORMAT_VERSION,
            "embed_model": settings.embed_model,
            "chunk_size": settings.chunk_size,
            "chunk_overlap": settings.chunk_overlap,
            "corpus": str(settings.corpus.resolve()),
            "articles": [asdict(a) for a in sorted(self.articles.values(), key=lambda a: a.name)],
        }
        (version / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
        pointer = data_dir / f"CURRENT.{name}.tmp"
        pointer.write_text(name)
        os.replace(pointer, data_dir / "CURRENT")
        self._chunking = (settings.chunk_size, settings.chunk_overlap)
        for old in data_dir.glob("v*-*"):
            if old.is_dir() and old.name != name:
                shutil.rmtree(old, ignore_errors=True)
