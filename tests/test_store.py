"""The PostgreSQL index: retrieval, concurrency, crashes, schema versions, connection errors, old data dirs.

Most tests use the session's shared server (BOT_DATABASE_URL, set in conftest.py); the crash test runs
the embedded default: a private server in the data dir that outlives a process killed with -9.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from bot import Bot, BotError
from bot.index import ArticleIndex
from bot.paths import bundled_dir
from bot.retrieval import TEXT_PER_PASSAGE, HybridRetriever
from bot.settings import Settings
from bot.store import SCHEMA_VERSION
from tests.scripted_plugin import PRELOAD, bot_main_in_child, plugin_env, run_bot

SEEDS = bundled_dir("seeds")


def settings_for(corpus: Path, data_dir: Path, **overrides: object) -> Settings:
    return Settings.resolve(corpus=corpus, data_dir=data_dir, **overrides)


def big_corpus(folder: Path, count: int) -> Path:
    """`count` articles made of the seed articles' paragraphs, each with its own made-up name."""
    folder.mkdir(parents=True, exist_ok=True)
    paragraphs = [p for f in sorted(SEEDS.glob("*.txt")) for p in f.read_text().split("\n\n") if p.strip()]
    for i in range(count):
        body = "\n\n".join(paragraphs[(i + j) % len(paragraphs)] for j in range(3))
        (folder / f"art{i:03d}.txt").write_text(
            f"Report {i} on Zorblat{i}\n\nZorblat{i} was named today.\n\n{body}"
        )
    return folder


def inconsistent_articles(index: ArticleIndex) -> list[str]:
    """Articles whose stored passage count is not the number of their passages, or with no sentences."""
    rows = index.store.read(
        """SELECT a.name FROM {s}.articles a
           LEFT JOIN (SELECT article, count(*) AS n FROM {s}.passages GROUP BY article) p ON p.article = a.name
           LEFT JOIN (SELECT article, count(*) AS n FROM {s}.sentences GROUP BY article) t ON t.article = a.name
           WHERE coalesce(p.n, 0) <> a.passages OR coalesce(t.n, 0) = 0"""
    )
    return [r[0] for r in rows]


def assert_passages_match_texts(index: ArticleIndex, passages: list) -> None:  # type: ignore[type-arg]
    for p in passages:
        assert index.texts[p.source][p.start : p.end] == p.text


def test_hybrid_retrieval_on_the_seeds(scripted_bot: Bot) -> None:
    passages = scripted_bot.retrieve("How large is North Korea's military?")
    assert len(passages) == scripted_bot.settings.top_k
    assert [p.number for p in passages] == [1, 2, 3, 4]
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)
    top = passages[0]
    assert "1.2 million" in " ".join(p.text for p in passages)
    assert top.bm25_rank is not None and top.dense_rank is not None and 0 < (top.dense_score or 0) <= 1
    assert_passages_match_texts(scripted_bot.index, passages)
    # Nothing in common with any passage: the keyword side finds nothing, dense still ranks.
    odd = scripted_bot.retrieve("qwzx vbnm")
    assert odd and all(p.bm25_rank is None and p.dense_rank for p in odd)


def test_ingest_stores_sentences_and_drops_them_with_the_article(
    embedded_bot: Bot, corpus: Path, tmp_path: Path
) -> None:
    settings = settings_for(corpus, tmp_path / "data")
    index, _ = ArticleIndex.sync(settings, embedded_bot.embedder)
    counts = dict(index.store.read("SELECT article, count(*) FROM {s}.sentences GROUP BY article"))
    assert sorted(counts) == sorted(index.articles) and min(counts.values()) > 5
    spans = index.store.read("SELECT article, start_char, end_char FROM {s}.sentences")
    assert all(index.texts[a][s:e].strip() == index.texts[a][s:e] != "" for a, s, e in spans)
    gone = sorted(counts)[0]
    (corpus / gone).unlink()
    index, report = ArticleIndex.sync(settings, embedded_bot.embedder)
    assert report.removed == [gone] and not index.store.read(
        "SELECT 1 FROM {s}.sentences WHERE article = %s", (gone,)
    )
    assert inconsistent_articles(index) == []


def test_short_articles_are_retrieved_until_they_hold_top_k_passages_worth_of_text(
    embedded_bot: Bot, tmp_path: Path
) -> None:
    """Briefs or search snippets of a sentence or two are each a fraction of a passage: the top four of
    RGB's snippets held the answer to 82 of its 100 questions, the top eight to 96."""
    corpus = tmp_path / "briefs"
    corpus.mkdir()
    towns = ["Elmsworth", "Dunmore", "Carrick", "Ballina", "Westport", "Kinsale", "Youghal", "Tramore"]
    for i, town in enumerate(towns):
        (corpus / f"{town.lower()}.txt").write_text(
            f"The {town} harbour bridge reopened on Monday after eleven weeks of repairs costing {i + 2} million "
            "euros, the town council said; the ferry that carried commuters across the estuary meanwhile "
            "stops running next week.\n"
        )
    bot = embedded_bot.for_corpus(corpus, tmp_path / "data")
    passages = bot.retrieve("How much did the harbour bridge repairs cost?")
    budget = bot.settings.top_k * TEXT_PER_PASSAGE
    held = sum(len(p.text) for p in passages)
    assert len(passages) > bot.settings.top_k and held >= budget > held - len(passages[-1].text), passages
    assert [p.number for p in passages] == list(range(1, len(passages) + 1))


def test_ingest_in_another_process_while_this_one_retrieves(
    embedded_bot: Bot, tmp_path: Path, database_url: str
) -> None:
    # One article indexed first: a first load into an empty index is one bulk commit, later ones go in
    # article by article, and that is what readers must see (each article wholly there or not).
    corpus = tmp_path / "corpus"
    big_corpus(tmp_path / "first", 1)
    big_corpus(tmp_path / "rest", 13)
    corpus.mkdir()
    (tmp_path / "first" / "art000.txt").rename(corpus / "art000.txt")
    data = tmp_path / "data"
    settings = settings_for(corpus, data)
    ArticleIndex.sync(settings, embedded_bot.embedder)
    for article in sorted((tmp_path / "rest").glob("art*.txt"))[1:]:
        article.rename(corpus / article.name)
    child = subprocess.Popen(
        [sys.executable, "-m", "bot", "ingest", "--corpus", str(corpus), "--data-dir", str(data)],
        env={**os.environ, "BOT_DATABASE_URL": database_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reads_during_ingest, seen = 0, set()
    try:
        while child.poll() is None:
            index = ArticleIndex.open(settings, embedded_bot.embedder)
            if index is not None and index.passage_count():
                passages = HybridRetriever(index, 4).retrieve("Who was named today?")
                assert_passages_match_texts(index, passages)
                assert inconsistent_articles(index) == []
                seen.add(len(index.articles))
                reads_during_ingest += 1
            time.sleep(0.05)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err
    assert "12 added" in out
    assert reads_during_ingest >= 3 and len(seen) >= 2, (reads_during_ingest, seen)  # saw it grow
    index = ArticleIndex.open(settings, embedded_bot.embedder)
    assert index is not None and len(index.articles) == 13 and inconsistent_articles(index) == []


KILLS = 20
KILL_SEED = 9
ARTICLES = 30


def write_versions(corpus: Path, version: int) -> dict[str, str]:
    """Small articles, all changed to `version`, so that an ingest has all of them to re-embed; returns
    each one's sha256 (what the index must hold for it: this version or an earlier one, never a mix)."""
    corpus.mkdir(exist_ok=True)
    shas = {}
    for i in range(ARTICLES):
        raw = f"Report {i} on Zorblat{i}\n\nZorblat{i} was named today in Lisbon. Revision {version}.\n".encode()
        (corpus / f"art{i:03d}.txt").write_bytes(raw)
        shas[f"art{i:03d}.txt"] = hashlib.sha256(raw).hexdigest()
    return shas


def stored_versions(index: ArticleIndex) -> dict[str, str]:
    """Article -> stored sha256, after checking each stored text is the file version that sha names."""
    rows = index.store.read("SELECT name, sha256, text FROM {s}.articles")
    assert all(hashlib.sha256(text.encode()).hexdigest() == sha for _, sha, text in rows)
    assert inconsistent_articles(index) == []
    return {name: sha for name, sha, _ in rows}


def test_kill_9_at_20_seeded_points_of_ingests_leaves_a_consistent_index_then_ask_works(
    embedded_bot: Bot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ingests killed with -9 at seeded random times: the first while it creates the server's folder,
    then 20 re-ingests of changed articles (every fifth a --rebuild), each killed somewhere between its
    start and the time a whole one takes. After every kill the server still runs and each article is
    wholly one version; a rebuild changes nothing until it is complete. Then the real `bot ask` answers,
    and its ingest completes the job."""
    monkeypatch.delenv("BOT_DATABASE_URL")  # the embedded default: a server in the data dir
    corpus, data = tmp_path / "corpus", tmp_path / "data"
    settings = settings_for(corpus, data)
    env = plugin_env(tmp_path / "plugin")
    env.pop("BOT_DATABASE_URL", None)
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    rng = random.Random(KILL_SEED)

    def ingest(rebuild: bool = False) -> multiprocessing.process.BaseProcess:
        args = [
            "ingest",
            "--corpus",
            str(corpus),
            "--data-dir",
            str(data),
            *(["--rebuild"] if rebuild else []),
        ]
        child = context.Process(target=bot_main_in_child, args=(args, env), daemon=True)
        child.start()
        return child

    versions = [write_versions(corpus, 0)]
    first = ingest()
    time.sleep(rng.uniform(0.5, 2.5))  # while it creates the server's folder (initdb takes seconds)
    first.kill()
    first.join()
    killed = [first.pid]
    for _ in range(2):  # then complete ingests: the second, of all articles changed, sets the pace
        versions.append(write_versions(corpus, len(versions)))
        started = time.monotonic()
        whole = ingest()
        whole.join(timeout=300)
        assert whole.exitcode == 0
    duration = time.monotonic() - started
    before = stored_versions(ArticleIndex.open(settings, embedded_bot.embedder))  # type: ignore[arg-type]
    assert before == versions[-1]

    alive_at_kill = 0
    for run in range(KILLS):
        rebuild = run % 5 == 4
        if not rebuild:
            versions.append(write_versions(corpus, len(versions)))
        child = ingest(rebuild)
        time.sleep(rng.uniform(0.05, 0.95) * duration)
        alive_at_kill += child.is_alive()
        child.kill()
        child.join()
        assert child.exitcode in (0, -signal.SIGKILL)  # killed, or done just before: never an error
        killed.append(child.pid)
        postmaster = int((data / "pg" / "postmaster.pid").read_text().split()[0])
        assert psutil.pid_exists(postmaster)  # the server outlived the process that started it
        index = ArticleIndex.open(settings, embedded_bot.embedder)
        assert index is not None
        stored = stored_versions(index)
        assert sorted(stored) == sorted(before)  # nothing lost, nothing doubled
        if rebuild:
            assert stored == before  # an unfinished rebuild is invisible
        for name, sha in stored.items():
            assert sha in {v[name] for v in versions}
        before = stored
    assert alive_at_kill >= 15, alive_at_kill  # nearly every one was really cut off mid-way

    asked = run_bot(
        env, "ask", "Who was named today in Lisbon?", "--corpus", str(corpus), "--data-dir", str(data)
    )
    assert asked.returncode == 0 and "Traceback" not in asked.stderr, asked.stderr
    assert "scripted" in asked.stderr
    index = ArticleIndex.open(settings, embedded_bot.embedder)  # `bot ask` ingested what was left
    assert index is not None and stored_versions(index) == versions[-1]
    assert not index.store.staging().exists()  # what the killed rebuilds left is gone
    passages = HybridRetriever(index, 4).retrieve("Who was named today?")
    assert passages and all(p.source in index.articles for p in passages)
    assert_passages_match_texts(index, passages)
    assert not set(killed) & set(json.loads((data / "pg" / ".handle_pids.json").read_text()))
    assert not (data / "pg.init").exists()


def test_a_schema_version_this_code_does_not_know_is_refused(
    embedded_bot: Bot, corpus: Path, tmp_path: Path
) -> None:
    settings = settings_for(corpus, tmp_path / "data")
    index, _ = ArticleIndex.sync(settings, embedded_bot.embedder)
    with index.store.writer() as conn:
        conn.execute(index.store.q("UPDATE {s}.schema_version SET version = 99"))
    with pytest.raises(BotError, match="schema version 99, newer than this news-bot supports"):
        ArticleIndex.open(settings, embedded_bot.embedder)
    with pytest.raises(BotError, match="schema version 99"):
        ArticleIndex.sync(settings, embedded_bot.embedder)


def test_an_unreachable_database_url_fails_fast_with_a_clear_error(tmp_path: Path) -> None:
    silent = socket.socket()  # accepts connections (the kernel does) but never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    try:
        for target in (port, closed_port):
            url = f"postgresql://reader:s3cret@127.0.0.1:{target}/news"
            settings = settings_for(SEEDS, tmp_path / "data", database_url=url)
            started = time.monotonic()
            with pytest.raises(BotError, match=f"127.0.0.1:{target}/news") as caught:
                ArticleIndex.open(settings, object())  # type: ignore[arg-type]
            assert time.monotonic() - started < 2.5
            assert "s3cret" not in str(caught.value) and "BOT_DATABASE_URL" in str(caught.value)
    finally:
        silent.close()
    with pytest.raises(BotError, match="must be a postgresql://"):
        Settings.resolve(database_url="mysql://x@y/z")


def test_an_old_json_index_is_rebuilt_in_postgres(embedded_bot: Bot, corpus: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    old = data / "v20260101000000-abc123"
    (old / "llama").mkdir(parents=True)
    (old / "manifest.json").write_text('{"format": 1, "articles": []}')
    (old / "texts.json").write_text("{}")
    (data / "CURRENT").write_text(old.name)
    settings = settings_for(corpus, data)
    from bot.doctor import run_checks

    lines = [line for _, line in run_checks(corpus=str(corpus), data_dir=str(data), backend="embedded")]
    assert any("old JSON index" in line for line in lines)
    index, report = ArticleIndex.sync(settings, embedded_bot.embedder)
    assert len(report.added) == 2 and any("old JSON index" in w for w in report.warnings)
    assert not (data / "CURRENT").exists() and not old.exists()
    lines = [line for _, line in run_checks(corpus=str(corpus), data_dir=str(data), backend="embedded")]
    assert any(
        "pgvector 0.8" in line and re.search(rf"schema \S+ v{SCHEMA_VERSION} \(this news-bot", line)
        for line in lines
    ), lines
    assert any("2 articles" in line for line in lines), lines
