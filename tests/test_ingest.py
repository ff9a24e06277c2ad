"""Incremental ingest, skipped files, metadata, and the embedding-model guard."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import Bot, BotError
from bot.articles import read_corpus
from bot.index import ArticleIndex
from bot.settings import Settings


def sync(bot: Bot, corpus: Path, data_dir: Path):  # type: ignore[no-untyped-def]
    settings = Settings.resolve(corpus=corpus, data_dir=data_dir)
    return ArticleIndex.sync(settings, bot.embedder)


def test_reingest_embeds_only_what_changed(embedded_bot: Bot, corpus: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    index, first = sync(embedded_bot, corpus, data)
    assert len(first.added) == 2 and first.chunks_embedded == index.passage_count()

    _, again = sync(embedded_bot, corpus, data)
    assert again.chunks_embedded == 0 and not again.touched

    names = sorted(p.name for p in corpus.glob("*.txt"))
    (corpus / names[0]).write_text((corpus / names[0]).read_text() + "\nA new closing sentence about Seoul.")
    (corpus / names[1]).unlink()
    (corpus / "extra.md").write_text(
        "# Port strike\n\nDock workers in Antwerp went on strike on 2026-05-02.\n"
    )
    index, report = sync(embedded_bot, corpus, data)
    assert (report.changed, report.removed, report.added) == ([names[0]], [names[1]], ["extra.md"])
    assert report.chunks_embedded == index.articles[names[0]].chunks + index.articles["extra.md"].chunks
    assert sorted(index.articles) == sorted([names[0], "extra.md"])
    assert {p.source for p in index.passages()} == {names[0], "extra.md"}
    assert (
        index.articles["extra.md"].title == "Port strike" and index.articles["extra.md"].date == "2026-05-02"
    )

    reopened = ArticleIndex.open(Settings.resolve(corpus=corpus, data_dir=data), embedded_bot.embedder)
    assert reopened is not None and sorted(reopened.articles) == sorted(index.articles)


def test_bad_files_are_skipped_with_one_warning_each(tmp_path: Path) -> None:
    (tmp_path / "good.html").write_text(
        "<html><head><title>Rail deal signed</title><meta property='article:published_time' content='2026-01-09'>"
        "<style>p{}</style></head><body><p>The rail deal was signed.</p><script>x()</script></body></html>"
    )
    (tmp_path / "empty.txt").write_text("  \n")
    (tmp_path / "latin1.txt").write_bytes("Caf\xe9 opens".encode("latin-1"))
    (tmp_path / "blob.md").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "notes.pdf").write_bytes(b"%PDF")
    articles, warnings = read_corpus(tmp_path)
    assert [a.name for a in articles] == ["good.html"]
    assert articles[0].title == "Rail deal signed" and articles[0].date == "2026-01-09"
    assert articles[0].text == "The rail deal was signed."
    assert sorted(w.split(":")[0] for w in warnings) == [
        "skipped blob.md",
        "skipped empty.txt",
        "skipped latin1.txt",
    ]
    assert any("not UTF-8" in w for w in warnings)


def test_an_index_built_with_another_embedding_model_is_refused(
    embedded_bot: Bot, corpus: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    sync(embedded_bot, corpus, data)
    other = Settings.resolve(corpus=corpus, data_dir=data, embed_model="/models/some-other-embedder")
    from bot.embedding import Embedder

    with pytest.raises(BotError, match="re-ingest|Re-ingest"):
        ArticleIndex.open(other, Embedder(other.embed_model))
