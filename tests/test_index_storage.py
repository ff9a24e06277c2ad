"""The PostgreSQL index's own features: filters by date and article, the bulk load (COPY, search indexes
built after loading), stored evidence vectors used at question time, the connection pool, and the
migration from schema version 1. Real PostgreSQL (the session's server from conftest.py), real embedder.
"""

from __future__ import annotations

import json
import threading
from datetime import date
from pathlib import Path

import numpy as np
import pytest

import bot.index as index_module
from bot import Bot, BotError
from bot.index import ArticleIndex, evidence_windows
from bot.retrieval import Filters
from bot.settings import Settings
from bot.store import (
    INLINE_TABLES,
    MIGRATIONS,
    PAGE_OVERHEAD_BYTES,
    POOL_SIZE,
    SCHEMA_VERSION,
    SEARCH_INDEXES,
    _readers,
)
from tests.conftest import ScriptedBackend
from tests.scripted_plugin import error_line, plugin_env, run_bot
from tests.test_store import assert_passages_match_texts, inconsistent_articles

SEED_QUESTIONS = [
    json.loads(line)["question"]
    for line in (Path(__file__).parent.parent / "eval" / "seed.jsonl").read_text().splitlines()[:12]
]

# Three articles on one made-up subject: two dated (in the formats the reader finds), one not.
DATED = {
    "march/early.txt": "Quarrels over Veltmoor\n\n2026-03-05\n\n"
    "The Veltmoor council approved a new harbour tax of 4 percent. Fishermen protested the harbour tax.",
    "march/late.md": "# Veltmoor harbour reopens\n\nMarch 20, 2026\n\n"
    "The Veltmoor harbour reopened after repairs costing 12 million euros. Ferries returned at dawn.",
    "undated.txt": "Veltmoor notes\n\nThe Veltmoor lighthouse keeper retired after forty years of service. "
    "Visitors still climb the lighthouse stairs.",
}


@pytest.fixture(scope="module")
def dated_bot(embedded_bot: Bot, tmp_path_factory: pytest.TempPathFactory) -> Bot:
    corpus = tmp_path_factory.mktemp("dated-corpus")
    for name, text in DATED.items():
        (corpus / name).parent.mkdir(parents=True, exist_ok=True)
        (corpus / name).write_text(text)
    loaded = embedded_bot.for_corpus(corpus, tmp_path_factory.mktemp("dated-data"))
    return Bot(loaded.settings, loaded.embedder, loaded.index, ScriptedBackend(loaded.settings))


def sources_of(bot: Bot, question: str, **filters: object) -> set[str]:
    return {p.source for p in bot.retrieve(question, Filters.make(**filters))}  # type: ignore[arg-type]


def test_dates_are_stored_as_dates_and_articles_without_one_have_none(dated_bot: Bot) -> None:
    rows = dict(dated_bot.index.store.read("SELECT name, published FROM {s}.articles"))
    assert rows == {
        "march/early.txt": date(2026, 3, 5),
        "march/late.md": date(2026, 3, 20),
        "undated.txt": None,
    }
    passages = dated_bot.index.store.read("SELECT DISTINCT article, published FROM {s}.passages")
    assert dict(passages) == rows


def test_filters_by_date_and_source_apply_to_both_sides(dated_bot: Bot) -> None:
    question = "What happened in Veltmoor harbour?"
    assert sources_of(dated_bot, question) == set(DATED)
    assert sources_of(dated_bot, question, since="2026-03-10") == {"march/late.md"}
    assert sources_of(dated_bot, question, until=date(2026, 3, 10)) == {"march/early.txt"}
    # Both bounds inclusive; the undated article is left out whenever a date bound is given.
    assert sources_of(dated_bot, question, since="2026-03-05", until="2026-03-20") == {
        "march/early.txt",
        "march/late.md",
    }
    assert sources_of(dated_bot, question, since="2026-03-21") == set()
    assert sources_of(dated_bot, question, sources=["undated.txt"]) == {"undated.txt"}
    assert sources_of(dated_bot, question, sources="march/late.md", until="2026-03-10") == set()
    # "lighthouse" is only in the undated article: filtered away, the keyword side finds nothing.
    kept = dated_bot.retrieve("lighthouse keeper", Filters.make(sources=["march/early.txt"]))
    assert kept and all(p.source == "march/early.txt" and p.bm25_rank is None for p in kept)


def test_ask_and_stream_take_the_filters(dated_bot: Bot) -> None:
    dated_bot.backend.replies = ["The harbour reopened after repairs [1]."]  # type: ignore[attr-defined]
    answer = dated_bot.ask("What happened to the Veltmoor harbour?", sources=["march/late.md"])
    assert {p.source for p in answer.passages} == {"march/late.md"}
    events = list(
        dated_bot.stream("What did the council approve?", since=date(2026, 3, 1), until="2026-03-06")
    )
    assert {p.source for p in events[-1].passages} == {"march/early.txt"}  # type: ignore[union-attr]
    nothing = dated_bot.ask("What did the council approve?", since="2027-01-01")
    assert nothing.refused and not nothing.passages
    # a refusal says which articles were searched: the answer may be in one the filters left out
    assert nothing.text == "The articles dated from 2027-01-01 (undated ones left out) don't say.", (
        nothing.text
    )
    chosen = dated_bot.ask(
        "How high is the Veltmoor harbour tax?", sources=["undated.txt"], until="2026-12-31"
    )
    assert chosen.text.startswith(
        "The chosen articles (undated.txt) dated up to 2026-12-31 (undated ones left out) don't say"
    ), chosen.text


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"since": "March 5"}, "since must be a date like 2026-03-05"),
        ({"until": "2026-02-30"}, "until must be a date"),
        ({"since": 20260305}, "since must be a date"),
        ({"since": "2026-04-01", "until": "2026-03-01"}, r"since \(2026-04-01\) is after until"),
        ({"sources": [""]}, "sources takes article file names"),
    ],
)
def test_bad_filters_are_one_line_errors(dated_bot: Bot, filters: dict[str, object], message: str) -> None:
    with pytest.raises(BotError, match=message):
        dated_bot.ask("What happened?", **filters)  # type: ignore[arg-type]


def test_an_unknown_source_says_how_to_name_one(dated_bot: Bot) -> None:
    with pytest.raises(
        BotError, match=r"No article named 'march/erly.txt' is indexed \(did you mean 'march/early.txt'"
    ) as err:
        dated_bot.ask("What happened?", sources=["march/erly.txt"])
    assert "relative to the corpus folder" in str(err.value) and "bot ask --json" in str(err.value)


def test_cli_filters(dated_bot: Bot, tmp_path: Path) -> None:
    env = plugin_env(tmp_path / "plugin")
    where = ["--corpus", str(dated_bot.settings.corpus), "--data-dir", str(dated_bot.settings.data_dir)]
    line = error_line(run_bot(env, "ask", "What happened?", "--since", "2026-3-5", *where))
    assert "--since must be a date like 2026-03-05" in line
    line = error_line(run_bot(env, "ask", "What happened?", "--source", "nope.txt", *where))
    assert "No article named 'nope.txt'" in line and "--json" in line
    done = run_bot(env, "ask", "What happened to the harbour?", "--json", "--source", "march/late.md",
                   "--source", "undated.txt", "--until", "2026-12-31", *where)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert {p["source"] for p in json.loads(done.stdout)["passages"]} == {"march/late.md"}


def test_a_bulk_load_builds_the_search_indexes_after_loading(
    embedded_bot: Bot, corpus: Path, tmp_path: Path
) -> None:
    settings = Settings.resolve(corpus=corpus, data_dir=tmp_path / "data")
    index, report = ArticleIndex.sync(settings, embedded_bot.embedder)
    assert report.index_seconds > 0 and index.store.search_indexes() == sorted(SEARCH_INDEXES)
    oids = index.store.read(
        "SELECT relname, oid FROM pg_class WHERE relname = ANY(%s)", (list(SEARCH_INDEXES),)
    )
    assert_passages_match_texts(index, index.passages())  # type: ignore[arg-type]
    # Incremental afterwards: a new article goes into the existing indexes, found by both sides.
    (corpus / "zz_new.txt").write_text("Quixotic Zorblatnik\n\nThe Zorblatnik festival drew 5,000 visitors.")
    index, report = ArticleIndex.sync(settings, embedded_bot.embedder)
    assert report.added == ["zz_new.txt"] and report.index_seconds == 0
    assert (
        index.store.read("SELECT relname, oid FROM pg_class WHERE relname = ANY(%s)", (list(SEARCH_INDEXES),))
        == oids
    )
    bot = Bot(settings, embedded_bot.embedder, index, ScriptedBackend(settings))
    top = bot.retrieve("Zorblatnik festival")[0]
    assert top.source == "zz_new.txt" and top.bm25_rank == 1 and top.dense_rank == 1
    # A bulk load interrupted before its indexes were built: the next ingest builds them.
    with index.store.writer() as conn:
        conn.execute(index.store.q("DROP INDEX {s}.passages_embedding"))
    index, report = ArticleIndex.sync(settings, embedded_bot.embedder)
    assert not report.touched and report.index_seconds > 0
    assert index.store.search_indexes() == sorted(SEARCH_INDEXES) and inconsistent_articles(index) == []


def test_a_bulk_load_in_many_groups_writes_every_article_whole(
    embedded_bot: Bot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Groups of one article each, written two at a time on two connections; a group that fails stops
    the load with its error, and what was written is whole articles that the next ingest completes."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    names = [f"a{n}.txt" for n in range(9)]
    for n, name in enumerate(names):
        (corpus / name).write_text(
            f"Story {n}\n\n" + f"The town of Vel{n}ora counted {n + 2} new bridges. " * 30
        )
    monkeypatch.setattr(index_module, "BULK_COMMIT_PASSAGES", 1)
    write_group = ArticleIndex._write_group
    connections: set[int] = set()

    def failing_on_a6(self: ArticleIndex, conn: object, group: list, chunking: str) -> set[str]:  # type: ignore[type-arg]
        connections.add(id(conn))
        if group[0].article.name == "a6.txt":
            raise RuntimeError("disk full")
        return write_group(self, conn, group, chunking)  # type: ignore[arg-type]

    monkeypatch.setattr(ArticleIndex, "_write_group", failing_on_a6)
    settings = Settings.resolve(corpus=corpus, data_dir=tmp_path / "data")
    with pytest.raises(RuntimeError, match="disk full"):
        ArticleIndex.sync(settings, embedded_bot.embedder)
    assert len(connections) == 2
    index = ArticleIndex.open(settings, embedded_bot.embedder)
    assert index is not None and "a6.txt" not in index.articles and inconsistent_articles(index) == []
    monkeypatch.setattr(ArticleIndex, "_write_group", write_group)
    index, report = ArticleIndex.sync(settings, embedded_bot.embedder)
    assert sorted(index.articles) == names and "a6.txt" in report.added
    assert all(len([p for p in index.passages() if p.source == name]) > 1 for name in names)
    assert inconsistent_articles(index) == [] and index.store.search_indexes() == sorted(SEARCH_INDEXES)


def test_stored_vectors_are_what_the_grounder_would_embed(scripted_bot: Bot) -> None:
    index = scripted_bot.index
    embedder = scripted_bot.embedder
    name = sorted(index.articles)[0]
    text = index.texts[name]
    passages = [(p.start, p.end, p.text) for p in index.passages() if p.source == name]
    stored = index.store.read(
        "SELECT sum(cardinality(window_hashes)) FROM {s}.sentences WHERE article = %s", (name,)
    )
    assert stored[0][0] == len(evidence_windows(text, passages)) > len(passages)
    question = SEED_QUESTIONS[0]
    retrieved = scripted_bot.retrieve(question)
    windows = [
        (p.source, w)
        for p in retrieved
        for _, _, w in evidence_windows(index.texts[p.source], [(p.start, p.end, p.text)])
    ]
    vectors = index.stored_vectors(retrieved, windows)
    assert all(v is not None for v in vectors)
    fresh = embedder.vectors([w for _, w in windows])
    assert np.abs(np.stack(vectors) - fresh).max() < 2e-3  # halfvec precision  # type: ignore[arg-type]
    # A window the index never stored (the grounder cut it differently) comes back as None.
    assert index.stored_vectors(retrieved, [(retrieved[0].source, "never stored")]) == [None]


def test_passages_and_window_vectors_stay_in_their_tables(
    embedded_bot: Bot, corpus: Path, tmp_path: Path
) -> None:
    """Seed passages and sentences pass the default 2 KB TOAST threshold: without the storage setting
    their vectors would be moved out to TOAST tables, a second write and read per row. An index written
    without it (before the setting existed) gets it from the next ingest."""
    settings = Settings.resolve(corpus=corpus, data_dir=tmp_path / "data")
    store = ArticleIndex.sync(settings, embedded_bot.embedder)[0].store

    def storage(table: str) -> tuple[list[str], int]:
        options, toast_bytes = store.read(
            "SELECT c.reloptions, pg_relation_size(c.reltoastrelid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
            (store.schema, table),
        )[0]
        return options or [], toast_bytes

    block = int(store.read("SELECT current_setting('block_size')")[0][0])
    target = f"toast_tuple_target={block - PAGE_OVERHEAD_BYTES}"
    assert all(storage(table) == ([target], 0) for table in INLINE_TABLES)
    widest = store.read("SELECT max(pg_column_size(s.*)) FROM {s}.sentences s")[0][0]
    assert 2048 < widest < block - PAGE_OVERHEAD_BYTES  # the premise: some rows pass the default 2 KB
    with store.writer() as conn:
        for table in INLINE_TABLES:
            conn.execute(store.q(f"ALTER TABLE {{s}}.{table} RESET (toast_tuple_target)"))
    assert all(storage(table)[0] == [] for table in INLINE_TABLES)
    ArticleIndex.sync(settings, embedded_bot.embedder)
    assert all(storage(table)[0] == [target] for table in INLINE_TABLES)


def test_checks_with_stored_vectors_decide_as_with_fresh_ones(
    scripted_bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    grounder, index = scripted_bot.grounder, scripted_bot.index
    embedded: list[str] = []
    real = scripted_bot.embedder.vectors

    def counting(texts: list[str]):  # type: ignore[no-untyped-def]
        embedded.extend(texts)
        return real(texts)

    for question in SEED_QUESTIONS:
        passages = scripted_bot.retrieve(question)
        fresh = grounder.check(question, passages, index.texts)
        monkeypatch.setattr(scripted_bot.embedder, "vectors", counting)
        embedded.clear()
        stored = grounder.check(question, passages, index.texts, index.stored_vectors)
        monkeypatch.undo()
        assert set(embedded) == {question}  # only the question is embedded at question time
        assert stored.refusal == fresh.refusal and stored.shown == fresh.shown
        assert [e for e, _ in stored.ranked] == [e for e, _ in fresh.ranked]
        assert np.allclose([s for _, s in stored.ranked], [s for _, s in fresh.ranked], atol=2e-3)


def test_the_pool_serves_threads_side_by_side_and_caps_connections(scripted_bot: Bot) -> None:
    expected = {q: [(p.source, p.start) for p in scripted_bot.retrieve(q)] for q in SEED_QUESTIONS}
    results: dict[str, list[tuple[str, int]]] = {}
    errors: list[BaseException] = []

    def ask(question: str) -> None:
        try:
            for _ in range(3):
                results[question] = [(p.source, p.start) for p in scripted_bot.retrieve(question)]
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=ask, args=(q,)) for q in SEED_QUESTIONS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results == expected
    pool = _readers[scripted_bot.index.store.url]
    assert pool.opened <= POOL_SIZE
    # With every connection taken, a query waits for one to come back.
    done = threading.Event()
    held = [pool.connection() for _ in range(POOL_SIZE)]
    conns = [h.__enter__() for h in held]
    waiter = threading.Thread(target=lambda: (pool.run("SELECT 1"), done.set()))
    waiter.start()
    assert not done.wait(0.5) and len(conns) == POOL_SIZE == pool.opened
    held[0].__exit__(None, None, None)
    waiter.join()
    assert done.is_set()
    for h in held[1:]:
        h.__exit__(None, None, None)


def test_a_version_1_index_is_migrated_and_its_articles_cut_again(
    embedded_bot: Bot, corpus: Path, tmp_path: Path
) -> None:
    settings = Settings.resolve(corpus=corpus, data_dir=tmp_path / "data")
    index, _ = ArticleIndex.sync(settings, embedded_bot.embedder)
    store = index.store
    articles = sorted(index.articles.values(), key=lambda a: a.name)
    store.drop()
    with store.writer() as conn, conn.transaction():  # what news-bot with schema version 1 created
        for statement in MIGRATIONS[1](384):
            conn.execute(store.q(statement))
        conn.execute(store.q("UPDATE {s}.schema_version SET version = 1"))
        conn.execute(store.q("INSERT INTO {s}.meta VALUES ('embed_model', %s), ('dimensions', '384')"),
                     (embedded_bot.embedder.model_id,))  # fmt: skip
        # the same versions of the articles, so only the migration's mark makes the ingest cut them again
        conn.execute(store.q("INSERT INTO {s}.articles (name, sha256, title, text, chunking, passages) "
                             "SELECT name, sha, 'x', 'x', '160/40', 0 FROM unnest(%s::text[], %s::text[]) r (name, sha)"),
                     ([a.name for a in articles], [a.sha256 for a in articles]))  # fmt: skip
    with pytest.raises(
        BotError, match=f"schema version 1; this news-bot needs {SCHEMA_VERSION}. Run bot ingest"
    ):
        ArticleIndex.open(settings, embedded_bot.embedder)
    index, report = ArticleIndex.sync(settings, embedded_bot.embedder)
    assert report.changed == [a.name for a in articles] and store.schema_version() == SCHEMA_VERSION
    assert (
        inconsistent_articles(index) == []
        and index.store.read("SELECT count(*) FROM {s}.sentences")[0][0] > 0
    )


def test_a_sentence_offered_by_many_passages_is_cut_into_windows_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A file with no sentence end is one sentence that every passage offers whole: cutting it once per
    # passage made a 5 MB upload take over 20 minutes to index (quadratic); once, it takes under a minute.
    text = "Officials in Lisbon said the line opens in May, after delays " * 200
    passages = [(i, i + 100, text[i : i + 100]) for i in range(0, len(text) - 100, 50)]
    cut: list[str] = []
    real = index_module.clause_windows
    monkeypatch.setattr(index_module, "clause_windows", lambda s: cut.append(s) or real(s))
    windows = evidence_windows(text, passages)
    assert len(cut) == 1 and windows == [(0, len(text.rstrip()), w) for w in real(text.strip())]


def test_an_index_never_takes_or_drops_a_schema_it_did_not_create(embedded_bot: Bot, tmp_path: Path) -> None:
    """BOT_DATABASE_SCHEMA=public made a rebuild drop pgvector with every index's vectors; naming another
    program's schema on a shared server would have dropped its tables."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "port.txt").write_text("Port strike\n\nDock workers in Antwerp went on strike.")
    data = tmp_path / "data"
    index, _ = ArticleIndex.sync(Settings.resolve(corpus=corpus, data_dir=data), embedded_bot.embedder)
    with index.store.writer() as conn:
        conn.execute("CREATE SCHEMA payroll")
        conn.execute("CREATE TABLE payroll.salaries (amount int)")
    payroll = Settings.resolve(corpus=corpus, data_dir=data, database_schema="payroll")
    for rebuild in (False, True):
        with pytest.raises(BotError, match="schema payroll holds tables this tool did not create"):
            ArticleIndex.sync(payroll, embedded_bot.embedder, rebuild=rebuild)
    assert index.store.read(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'payroll'"
    ) == [("salaries",)]
    for name in ("public", "information_schema", "pg_catalog", "news_bot_rebuild"):
        with pytest.raises(BotError, match=f"BOT_DATABASE_SCHEMA '{name}' is taken"):
            Settings.resolve(database_schema=name)
