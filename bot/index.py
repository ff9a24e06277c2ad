"""The retrieval index, kept in step with the corpus, stored in PostgreSQL (bot/store.py).

Ingest writes whole articles per transaction (a replaced article is deleted and inserted in the same
transaction), so a reader sees each article wholly old or wholly new, several processes can read while
one ingests, and a crash at any moment leaves a consistent index: the next sync finishes the job.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import shutil
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from bot.answer import Passage
from bot.articles import Article, Skipped, check_corpus, parse_date, read_corpus
from bot.embedding import DIMENSIONS, Embedder
from bot.errors import BotError
from bot.grounding import clause_windows, evidence_sentences
from bot.settings import BUNDLED_EMBED_MODEL, Settings
from bot.store import Store, int8_array_bytes, vector_bytes
from bot.wording import count

EMBED_GROUP = 64  # texts embedded together before their articles are written
# In a bulk load (an empty index), articles are committed together up to about this many passages: one
# commit per article would cost more than writing it. Each article is still wholly in or wholly out.
BULK_COMMIT_PASSAGES = 2000
HALF = ">f2"  # stored evidence vectors: float16, big-endian

if TYPE_CHECKING:
    import psycopg


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
    redated: list[str] = field(default_factory=list)  # unchanged files read with a new title or date
    skipped: list[Skipped] = field(default_factory=list)  # corpus files not indexed
    warnings: list[str] = field(default_factory=list)  # anything else worth telling
    chunks_embedded: int = 0
    seconds: float = 0.0
    index_seconds: float = 0.0  # building the search indexes after a bulk load

    @property
    def touched(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.redated)

    @property
    def messages(self) -> list[str]:
        """One line per skipped file, then the other warnings."""
        return [str(s) for s in self.skipped] + self.warnings

    def written_elsewhere(self, elsewhere: set[str]) -> None:
        """Another ingest of the same corpus wrote these very versions first: this one changed nothing of
        them, and two ingests started together must not both say they added them."""
        self.unchanged += [n for n in self.added + self.changed if n in elsewhere]
        self.added = [n for n in self.added if n not in elsewhere]
        self.changed = [n for n in self.changed if n not in elsewhere]

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed, "
            f"{len(self.unchanged)} unchanged"
            + (f" ({len(self.redated)} with a new title or date)" if self.redated else "")
            + f"; {count(self.chunks_embedded, 'passage')} embedded in {self.seconds:.1f}s"
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


def _compare(
    known: dict[str, tuple[str, str]], found: list[Article], chunking: str, report: SyncReport
) -> list[Article]:
    """Sort the corpus into `report`'s added, changed, removed and unchanged; return what to embed."""
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
    return to_embed


def _redated(
    stored: dict[str, tuple[str, str | None]], found: list[Article], report: SyncReport
) -> list[Article]:
    """The unchanged files whose title or date reads differently now than when they were indexed: a
    better date or title parser reaches an existing index without embedding an archive again."""
    unchanged = set(report.unchanged)
    redate = [a for a in found if a.name in unchanged and stored[a.name] != (a.title, a.date)]
    report.redated = [a.name for a in redate]
    return redate


def _set_titles_and_dates(
    conn: psycopg.Connection[Any], store: Store, articles: list[Article], report: SyncReport
) -> None:
    """Best effort: a read replica (or a read-only role) keeps answering with the old ones."""
    import psycopg.errors as pe

    try:
        with conn.transaction():
            for a in articles:
                published = parse_date(a.date)
                conn.execute(
                    store.q("UPDATE {s}.articles SET title = %s, date = %s, published = %s WHERE name = %s"),
                    (a.title, a.date, published, a.name),
                )
                conn.execute(  # only when it changed: each passage row rewrites its vector index entries
                    store.q(
                        "UPDATE {s}.passages SET published = %s "
                        "WHERE article = %s AND published IS DISTINCT FROM %s"
                    ),
                    (published, a.name, published),
                )
    except (pe.ReadOnlySqlTransaction, pe.InsufficientPrivilege):
        report.warnings.append(
            f"{count(len(articles), 'article')} would get a new title or date, but this database is "
            "read-only: run bot ingest against the primary"
        )
        report.redated = []


def _keep_stored(recorded: str | None, here: str, data_dir: Path, report: SyncReport) -> None:
    """Refuse a sync that would drop the articles of another corpus folder than `here` (a data dir given
    with the wrong --corpus), or every article because the folder holds none now (a network share that
    is not mounted): embedding them again costs as long as their first ingest. A corpus folder that
    moved keeps its index, since its files are all still there."""
    if report.removed and recorded and recorded != here:
        raise BotError(
            f"The index in {data_dir} holds the articles of {recorded}, not of {here}, and syncing would "
            f"remove {len(report.removed)} of them; nothing was changed. Pass --corpus {recorded}, or "
            f"another --data-dir, or replace that index: bot ingest --rebuild --corpus {here} --data-dir {data_dir}"
        )
    if report.removed and not (report.added or report.changed or report.unchanged):
        raise BotError(
            f"The corpus folder {here} holds no articles now, and syncing would remove the "
            f"{count(len(report.removed), 'article')} indexed from it; nothing was changed. If it is a share, mount it; to empty the "
            f"index on purpose: bot ingest --rebuild --corpus {here} --data-dir {data_dir}"
        )


def _dimensions(embedder: Embedder) -> int:
    if embedder.model_id == BUNDLED_EMBED_MODEL:
        return DIMENSIONS
    return len(embedder.model.get_text_embedding("dimensions"))


def delete_articles(conn: psycopg.Connection[Any], store: Store, names: list[str]) -> None:
    """Remove articles with their passages (by cascade) and their sentences (which have no foreign key)."""
    conn.execute(store.q("DELETE FROM {s}.sentences WHERE article = ANY(%s)"), (names,))
    conn.execute(store.q("DELETE FROM {s}.articles WHERE name = ANY(%s)"), (names,))


def _by_sentence(windows: list[tuple[int, int, str]]) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Each sentence with the slice of `windows` that holds its windows (evidence_windows lists a
    sentence's windows together)."""
    groups: list[tuple[tuple[int, int], tuple[int, int]]] = []
    first = 0
    for span, run in itertools.groupby(windows, key=lambda w: (w[0], w[1])):
        last = first + sum(1 for _ in run)
        groups.append((span, (first, last)))
        first = last
    return groups


def _bulk_groups(items: Iterable[Prepared]) -> Iterator[list[Prepared]]:
    group: list[Prepared] = []
    size = 0
    for item in items:
        group.append(item)
        size += len(item.passages)
        if size >= BULK_COMMIT_PASSAGES:
            yield group
            group, size = [], 0
    if group:
        yield group


def window_hash(text: str) -> int:
    """A signed 64-bit key for an evidence window's text (its vector depends on nothing else)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)


def evidence_windows(text: str, passages: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """(start, end, window text) of every evidence sentence of every passage, as the grounder's
    EvidenceSet cuts them (`evidence_sentences`: whole sentences of the article, even where a passage
    starts or ends inside one) with their clause windows, each once per sentence."""
    # Each sentence once, however many overlapping passages offer it: a sentence that runs on for the
    # whole file (a file with no sentence ends) would otherwise be cut and split once per passage.
    sentences = dict.fromkeys(span for passage in passages for span in evidence_sentences(text, *passage))
    return [(start, end, window) for start, end in sentences for window in clause_windows(text[start:end])]


@dataclass
class Prepared:
    """One article cut into passages and evidence windows, with their vectors once embedded."""

    article: Article
    passages: list[tuple[int, int, str]]  # (start, end, text)
    windows: list[tuple[int, int, str]]  # (sentence start, sentence end, window text)
    passage_vectors: np.ndarray | None = None
    window_vectors: np.ndarray | None = None

    @property
    def texts(self) -> list[str]:
        return [text for _, _, text in self.passages] + [window for _, _, window in self.windows]


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
        cls,
        settings: Settings,
        embedder: Embedder,
        *,
        rebuild: bool = False,
        progress: bool = False,
        allow_read_only: bool = False,
        allow_emptying: bool = False,
    ) -> tuple[ArticleIndex, SyncReport]:
        """Bring the index in line with the corpus: embed only new or changed files, drop deleted ones.

        Ingests in several processes at once are safe (per-article transactions and locks); a rebuild
        fills a staging schema and swaps it in whole, waiting for running ingests first. With
        `allow_read_only` (asking, not `bot ingest`), a data dir that cannot be written is answered from
        its existing index, with a warning that what changed in the corpus is not indexed. A sync that
        would remove every article is refused (see _keep_stored) unless `allow_emptying` (the chat UI
        removing the last one)."""
        started = time.perf_counter()
        check_corpus(settings.corpus)  # a wrong --corpus fails before a server starts
        store = Store.connect(
            settings, create=True, replace_damaged=rebuild, allow_read_only=allow_read_only and not rebuild
        )
        assert store is not None
        report = SyncReport(warnings=list(store.notes))
        chunking = f"{settings.chunk_size}/{settings.chunk_overlap}"
        if store.read_only:
            found, report.skipped = read_corpus(settings.corpus)
            return cls._read_only(store, embedder, settings, found, chunking, report), report

        with store.ingest_lock(exclusive=rebuild):
            # Read under the lock: a rebuild that read the folder before another writer added an upload
            # would swap in an index without it.
            found, report.skipped = read_corpus(settings.corpus)
            store.check_ours()  # before any table is added to it, or it is dropped
            staging = store.staging()
            if rebuild or staging.exists():  # what an interrupted rebuild left (none runs: we hold the lock)
                staging.drop()
            target = staging if rebuild else store
            target.migrate(_dimensions(embedder), embedder.model_id)
            cls._check_model(target, embedder, settings)
            index = cls(target, embedder)
            rows = target.read("SELECT name, sha256, chunking, title, date FROM {s}.articles")
            known = {r[0]: (r[1], r[2]) for r in rows}
            to_embed = _compare(known, found, chunking, report)
            redate = _redated({r[0]: (r[3], r[4]) for r in rows}, found, report)
            here, recorded = str(settings.corpus.resolve()), target.meta().get("corpus")
            if not (rebuild or allow_emptying):
                _keep_stored(recorded, here, settings.data_dir, report)
            bulk = not known and bool(to_embed)  # an empty index: build the search indexes once, after
            if bulk:
                target.drop_search_indexes()
            with target.writer() as conn:
                conn.execute("SET synchronous_commit = off")  # see _write_group
                if recorded != here:  # only then: a sync with nothing to do writes nothing (a read replica)
                    target.set_meta(conn, "corpus", here)
                for name in report.removed:
                    with conn.transaction():
                        delete_articles(conn, target, [name])
                _set_titles_and_dates(conn, target, redate, report)
                report.chunks_embedded, elsewhere = index._add(
                    conn, to_embed, settings, chunking, progress, bulk=bulk
                )
                report.written_elsewhere(elsewhere)
            report.index_seconds = target.build_search_indexes()  # also those an interrupted load left out
            if rebuild:
                store.replace_with(target)
                index = cls(store, embedder)
        if legacy_index(settings.data_dir):
            _remove_legacy(settings.data_dir)
            report.warnings.append(
                f"the old JSON index in {settings.data_dir} was rebuilt in PostgreSQL from the corpus "
                "and its files removed"
            )
        report.seconds = time.perf_counter() - started
        return index, report

    @classmethod
    def _read_only(
        cls,
        store: Store,
        embedder: Embedder,
        settings: Settings,
        found: list[Article],
        chunking: str,
        report: SyncReport,
    ) -> ArticleIndex:
        version = store.schema_version()
        if version is None:
            raise BotError(
                f"The data dir {settings.data_dir} is read-only and holds no index: pass --data-dir with a "
                "folder you can write to."
            )
        store.check_version(version, writable=False)
        cls._check_model(store, embedder, settings)
        known = {r[0]: (r[1], r[2]) for r in store.read("SELECT name, sha256, chunking FROM {s}.articles")}
        pending = SyncReport()
        _compare(known, found, chunking, pending)
        report.unchanged = pending.unchanged
        stale = len(pending.added) + len(pending.changed) + len(pending.removed)
        report.warnings.append(
            f"the data dir {settings.data_dir} is read-only: answering from a temporary copy of its index"
            + (f"; not indexed: {count(stale, 'new, changed or removed article')}" if stale else "")
            + " (make it writable, or pass --data-dir, to update it)"
        )
        return cls(store, embedder)

    # -- changing ----------------------------------------------------------------------------------

    def _add(
        self,
        conn: psycopg.Connection[Any],
        articles: list[Article],
        settings: Settings,
        chunking: str,
        progress: bool,
        *,
        bulk: bool = False,
    ) -> tuple[int, set[str]]:
        """Passages embedded, and the articles another ingest had written meanwhile (see `write`)."""
        if not articles:  # the usual case when asking: skip importing LlamaIndex's splitter (~1 s)
            return 0, set()
        from llama_index.core import Document
        from llama_index.core.node_parser import SentenceSplitter
        from llama_index.core.utils import get_tokenizer

        splitter = SentenceSplitter(chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap)
        tokens = get_tokenizer()  # the splitter's own
        prepared: list[Prepared] = []
        for article in tqdm(articles, desc="Reading articles", unit="file", disable=not progress):
            # The same document and metadata as ever: the splitter leaves room for the metadata, so this
            # keeps the passages (and their offsets) those of earlier versions. Metadata longer than half a
            # passage is left out: a long title or file name cut passages to a few words (a 56-character
            # Japanese file name: 6 characters each), and one longer than a passage stopped the ingest.
            document = Document(
                text=article.text,
                doc_id=article.name,
                metadata={"source": article.name, "title": article.title, "date": article.date or ""},
            )
            if len(tokens(document.get_metadata_str())) > settings.chunk_size // 2:
                document = Document(text=article.text, doc_id=article.name)
            chunks = splitter.get_nodes_from_documents([document])
            passages = [(n.start_char_idx or 0, n.end_char_idx or 0, n.get_content()) for n in chunks]
            prepared.append(Prepared(article, passages, evidence_windows(article.text, passages)))
        total = sum(len(p.passages) for p in prepared)
        with tqdm(total=total, desc="Embedding passages", unit="passage", disable=not progress) as bar:
            elsewhere = self.write(conn, self._embedded(prepared, bar), chunking, bulk=bulk)
        return total, elsewhere

    def _embedded(self, prepared: list[Prepared], bar: tqdm[Any]) -> Iterator[Prepared]:
        """`prepared` with vectors, embedded EMBED_GROUP texts at a time (a window repeated in the group
        is embedded once)."""
        group: list[Prepared] = []
        for position, item in enumerate(prepared):
            group.append(item)
            if sum(len(p.texts) for p in group) < EMBED_GROUP and position < len(prepared) - 1:
                continue
            texts = list(dict.fromkeys(t for p in group for t in p.texts))
            vectors = np.asarray(self.embedder.model.get_text_embedding_batch(texts), dtype=np.float32)
            vectors /= np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
            row = {text: i for i, text in enumerate(texts)}
            for p in group:
                at = [row[t] for t in p.texts]
                p.passage_vectors = vectors[at[: len(p.passages)]]
                p.window_vectors = vectors[at[len(p.passages) :]]
                yield p
                bar.update(len(p.passages))
            group = []

    def write(
        self, conn: psycopg.Connection[Any], items: Iterable[Prepared], chunking: str, *, bulk: bool = False
    ) -> set[str]:
        """Write embedded articles: one transaction per article, or in a bulk load, groups of whole
        articles of about BULK_COMMIT_PASSAGES passages, every other group on a second connection in a
        thread: a single writer keeps one server process busy and leaves the other core idle. Returns the
        articles left as they were because another ingest had written the same version meanwhile."""
        if not bulk:
            return {name for item in items for name in self._write_group(conn, [item], chunking)}
        from concurrent.futures import Future, ThreadPoolExecutor

        with self.store.writer() as second, ThreadPoolExecutor(1) as other:
            second.execute("SET synchronous_commit = off")  # see _write_group
            pending: Future[set[str]] | None = None
            elsewhere: set[str] = set()
            try:
                for group in _bulk_groups(items):
                    if pending is None:
                        pending = other.submit(self._write_group, second, group, chunking)
                    else:
                        elsewhere |= self._write_group(conn, group, chunking)
                        elsewhere |= pending.result()
                        pending = None
                if pending is not None:
                    elsewhere |= pending.result()
            except BaseException:
                if pending is not None and not pending.done():
                    second.cancel_safe()  # the other group rolls back before its connection closes
                    with contextlib.suppress(Exception):
                        pending.result()
                raise
        return elsewhere

    def _write_group(self, conn: psycopg.Connection[Any], group: list[Prepared], chunking: str) -> set[str]:
        """Whole articles in one transaction, rows in with binary COPY: readers and a crash see each
        article wholly old or wholly new. The ingest connection commits without waiting for the disk
        (synchronous_commit off): a server crash may lose the last moments of commits, never part of an
        article, and the next ingest writes them again."""
        from psycopg.copy import QueuedLibpqWriter  # rows are encoded while a thread sends the last ones

        q = self.store.q
        names = [p.article.name for p in group]
        with conn.transaction():
            # Another process may be ingesting the same corpus: one writer per article at a time.
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s || '/' || n)) FROM unnest(%s::text[]) n ORDER BY n",
                (self.store.schema, names),
            )
            known = dict(
                (r[0], (r[1], r[2]))
                for r in conn.execute(
                    q("SELECT name, sha256, chunking FROM {s}.articles WHERE name = ANY(%s)"), (names,)
                )
            )
            # the other process may have written this very version meanwhile
            elsewhere = {
                p.article.name for p in group if known.get(p.article.name) == (p.article.sha256, chunking)
            }
            group = [p for p in group if p.article.name not in elsewhere]
            if not group:
                return elsewhere
            replaced = [p.article.name for p in group if p.article.name in known]
            if replaced:
                delete_articles(conn, self.store, replaced)
            with conn.cursor() as cursor:
                with cursor.copy(
                    q("COPY {s}.articles (name, sha256, title, date, published, text, chunking, passages) "
                      "FROM STDIN (FORMAT BINARY)"), writer=QueuedLibpqWriter(cursor)
                ) as copy:  # fmt: skip
                    copy.set_types(["text", "text", "text", "text", "date", "text", "text", "int4"])
                    for p in group:
                        a = p.article
                        published = parse_date(a.date)
                        copy.write_row(
                            (a.name, a.sha256, a.title, a.date, published, a.text, chunking, len(p.passages))
                        )
                with cursor.copy(
                    q("COPY {s}.passages (article, seq, start_char, end_char, text, published, embedding) "
                      "FROM STDIN (FORMAT BINARY)"), writer=QueuedLibpqWriter(cursor)
                ) as copy:  # fmt: skip
                    copy.set_types(["text", "int4", "int4", "int4", "text", "date", "bytea"])
                    for p in group:
                        assert p.passage_vectors is not None
                        published = parse_date(p.article.date)
                        for seq, ((start, end, text), vector) in enumerate(
                            zip(p.passages, vector_bytes(p.passage_vectors), strict=True)
                        ):
                            copy.write_row((p.article.name, seq, start, end, text, published, vector))
                with cursor.copy(
                    q("COPY {s}.sentences (article, start_char, end_char, window_hashes, embeddings) "
                      "FROM STDIN (FORMAT BINARY)"), writer=QueuedLibpqWriter(cursor)
                ) as copy:  # fmt: skip
                    # window_hashes goes in pre-encoded: binary COPY sends a value's bytes as they are
                    copy.set_types(["text", "int4", "int4", "bytea", "bytea"])
                    for p in group:
                        assert p.window_vectors is not None
                        half = np.ascontiguousarray(p.window_vectors, dtype=HALF)
                        for (start, end), (first, last) in _by_sentence(p.windows):
                            hashes = int8_array_bytes([window_hash(w[2]) for w in p.windows[first:last]])
                            copy.write_row((p.article.name, start, end, hashes, half[first:last].tobytes()))
        return elsewhere

    # -- reading stored vectors ------------------------------------------------------------------

    def stored_vectors(
        self, passages: list[Passage], windows: list[tuple[str, str]]
    ) -> list[np.ndarray | None]:
        """The vectors stored at ingest for (article, window text) pairs of the retrieved `passages`'
        sentences, None where none is stored (the article changed since, or the grounder cuts windows
        differently now): the grounder embeds only those."""
        if not passages or not windows:
            return [None] * len(windows)
        rows = self.store.read(
            """SELECT s.article, s.window_hashes, s.embeddings FROM {s}.sentences s
               JOIN unnest(%s::text[], %s::int[], %s::int[]) r (article, lo, hi)
                 ON s.article = r.article AND s.end_char > r.lo AND s.start_char < r.hi""",
            ([p.source for p in passages], [p.start for p in passages], [p.end for p in passages]),
            binary=True,
        )
        found: dict[tuple[str, int], np.ndarray] = {}
        for article, hashes, data in rows:
            vectors = np.frombuffer(data, dtype=HALF).reshape(len(hashes), -1).astype(np.float32)
            found.update(zip(((article, h) for h in hashes), vectors, strict=True))
        return [found.get((source, window_hash(window))) for source, window in windows]
