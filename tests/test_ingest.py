"""Incremental ingest, skipped files, metadata, and the embedding-model guard."""

from __future__ import annotations

import codecs
from datetime import date
from pathlib import Path
from urllib.parse import quote

import pytest

from bot import Bot, BotError
from bot.articles import (
    article_sentences,
    find_date,
    first_line_title,
    parse_date,
    parse_html,
    read_corpus,
)
from bot.index import ArticleIndex
from bot.settings import Settings
from tests.scripted_plugin import plugin_env, run_bot


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


READ_ONLY = "-c default_transaction_read_only=on"


def test_a_better_title_or_date_reader_reaches_an_index_without_embedding_again(
    embedded_bot: Bot, tmp_path: Path
) -> None:
    """An index keeps what the reader of its day read from an unchanged file (here no date and the title
    "---", as older versions read some files); the next sync puts today's reading in place, date filters
    included, and embeds nothing: an archive's first ingest takes hours."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "strike.md").write_text(
        "# Port strike\n\nDock workers in Antwerp went on strike on 2026-05-02.\n"
    )
    data = tmp_path / "data"
    index, _ = sync(embedded_bot, corpus, data)
    store = index.store
    with store.writer() as conn, conn.transaction():
        conn.execute(store.q("UPDATE {s}.articles SET title = '---', date = NULL, published = NULL"))
        conn.execute(store.q("UPDATE {s}.passages SET published = NULL"))

    index, report = sync(embedded_bot, corpus, data)
    assert report.redated == ["strike.md"] and report.chunks_embedded == 0, report
    assert "1 unchanged (1 with a new title or date)" in report.summary()
    assert (index.articles["strike.md"].title, index.articles["strike.md"].date) == (
        "Port strike",
        "2026-05-02",
    )
    assert store.read("SELECT DISTINCT published FROM {s}.passages") == [(date(2026, 5, 2),)]
    _, again = sync(embedded_bot, corpus, data)
    assert not again.touched

    # A read replica (here a read-only session, the same error) keeps answering with what it has.
    with store.writer() as conn, conn.transaction():
        conn.execute(store.q("UPDATE {s}.articles SET date = NULL"))
    replica = Settings.resolve(
        corpus=corpus,
        data_dir=data,
        database_url=store.url + ("&" if "?" in store.url else "?") + "options=" + quote(READ_ONLY),
        database_schema=store.schema,
    )
    index, report = ArticleIndex.sync(replica, embedded_bot.embedder, allow_read_only=True)
    assert not report.redated and "this database is read-only" in report.messages[-1], report.messages
    assert index.articles["strike.md"].date is None


@pytest.mark.parametrize(
    "head",
    [
        "2020-09-14",
        "2020-09-14T08:30:00Z",
        "September 14, 2020",
        "14 September 2020",
        "Sep 14, 2020",
        "Sept. 14, 2020",
    ],
)
def test_every_date_the_reader_finds_is_a_date_the_filters_can_use(head: str) -> None:
    text = f"Storm season\n\nBy Ana Ruiz · {head} · Updated later\n\nThe storm made landfall at dawn."
    assert parse_date(find_date(text)) == date(2020, 9, 14)


def test_html_without_a_closing_head_or_with_an_icon_keeps_its_text_and_title() -> None:
    """HTML5 may leave </head> out: the page was skipped as empty. An icon's <svg><title> joined the title."""
    page = (
        "<html><head><title>Election results</title><body><svg><title>icon</title></svg><p>The mayor won.</p>"
    )
    assert parse_html(page) == ("Election results", "The mayor won.", None)


def test_markdown_front_matter_gives_the_title_not_its_dashes() -> None:
    assert (
        first_line_title('---\ntitle: "Port strike ends"\ndate: 2026-05-02\n---\nText.') == "Port strike ends"
    )
    assert first_line_title("---\nlayout: post\n---\n# Port strike ends\nText.") == "Port strike ends"


def test_the_date_is_the_first_real_one_whatever_its_format() -> None:
    """An ISO date the story mentions was taken over its "March 5, 2026" dateline, and an impossible
    dateline left the article undated; either way --since left it out."""
    assert find_date("Council renews deal\nMarch 5, 2026\nThe deal was first signed on 2019-05-01.") == (
        "March 5, 2026"
    )
    assert find_date("Council renews deal\n2024-02-30\nSigned on March 5, 2026.") == "March 5, 2026"
    assert find_date("No date here, only 2024-13-01.") is None


def test_a_title_date_and_byline_are_never_part_of_the_first_sentence() -> None:
    """A file written one paragraph per line, with no blank line under its headline: quotes and generated
    gold evidence must not start "Ferry service … resumes 5 March 2026 By J. Doe The ferry …"."""
    text = (
        "Ferry service to Marlow Island resumes\n5 March 2026\nBy J. Doe, Staff Writer\n"
        "The ferry resumed on Wednesday, BlueWave said.\nTwo of its four vessels were back in service.\n"
    )
    assert [text[s:e] for s, e in article_sentences(text)] == [
        "Ferry service to Marlow Island resumes",
        "5 March 2026",
        "By J. Doe, Staff Writer",
        "The ferry resumed on Wednesday, BlueWave said.",
        "Two of its four vessels were back in service.",
    ]
    # A first line that is a paragraph is split as any other; prose after it is never cut at its lines.
    text = "Kim met Putin. They signed a pact.\nThe pact covers\ndefense."
    assert [text[s:e] for s, e in article_sentences(text)] == [
        "Kim met Putin.",
        "They signed a pact.",
        "The pact covers\ndefense.",
    ]


def test_bad_files_are_skipped_with_one_warning_each(tmp_path: Path) -> None:
    (tmp_path / "good.html").write_text(
        "<html><head><title>Rail deal signed</title><meta property='article:published_time' content='2026-01-09'>"
        "<style>p{}</style></head><body><p>The rail deal was signed.</p><script>x()</script></body></html>"
    )
    (tmp_path / "empty.txt").write_text("  \n")
    (tmp_path / "latin1.txt").write_bytes("Caf\xe9 opens".encode("latin-1"))
    (tmp_path / "blob.md").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "notes.pdf").write_bytes(b"%PDF")
    articles, skipped = read_corpus(tmp_path)
    warnings = [str(s) for s in skipped]
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


def test_articles_with_a_byte_order_mark_are_decoded_not_called_binary(tmp_path: Path) -> None:
    """Windows "Unicode" (UTF-16 with a BOM, either byte order) and Notepad's UTF-8 with a BOM are text."""
    story = "# Новости дня\n\nThe café in Kyiv reopened on 2026-03-01.\n"
    (tmp_path / "utf8-bom.md").write_bytes(codecs.BOM_UTF8 + story.encode("utf-8"))
    (tmp_path / "utf16-le.md").write_bytes(codecs.BOM_UTF16_LE + story.encode("utf-16-le"))
    (tmp_path / "utf16-be.md").write_bytes(codecs.BOM_UTF16_BE + story.encode("utf-16-be"))
    page = "<html><head><title>Café reopens</title></head><body><p>It reopened.</p></body></html>"
    (tmp_path / "utf16.html").write_bytes(codecs.BOM_UTF16_LE + page.encode("utf-16-le"))
    (tmp_path / "utf16-no-bom.txt").write_bytes(story.encode("utf-16-le"))  # no mark: cannot be told apart
    articles, skipped = read_corpus(tmp_path)
    by_name = {a.name: a for a in articles}
    assert sorted(by_name) == ["utf16-be.md", "utf16-le.md", "utf16.html", "utf8-bom.md"]
    for name in ("utf8-bom.md", "utf16-le.md", "utf16-be.md"):
        assert by_name[name].text == story, name  # the mark is gone: quotes and offsets start at "#"
        assert by_name[name].title == "Новости дня" and by_name[name].date == "2026-03-01"
    assert by_name["utf16.html"].title == "Café reopens" and by_name["utf16.html"].text == "It reopened."
    assert [str(s) for s in skipped] == [
        "skipped utf16-no-bom.txt: it looks binary, not text (UTF-16 text needs a byte-order mark; "
        "re-save it as UTF-8)"
    ]


def test_a_broken_file_behind_a_byte_order_mark_is_one_warning(tmp_path: Path) -> None:
    (tmp_path / "odd.txt").write_bytes(codecs.BOM_UTF16_LE + b"A\x00B")  # half a UTF-16 character
    (tmp_path / "bad.md").write_bytes(codecs.BOM_UTF8 + b"caf\xe9")
    articles, skipped = read_corpus(tmp_path)
    assert articles == []
    assert sorted(map(str, skipped)) == [
        "skipped bad.md: it starts with a UTF-8 byte-order mark but is not valid UTF-8 text (re-save it as UTF-8)",
        "skipped odd.txt: it starts with a UTF-16 byte-order mark but is not valid UTF-16 text (re-save it as "
        "UTF-8)",
    ]


def test_ingest_of_an_empty_corpus_succeeds_with_a_warning_saying_what_to_add(tmp_path: Path) -> None:
    """`bot ingest` itself (a subprocess; it loads the embedder, never a language model). Exit code 0: an
    empty archive is a valid start (uploads fill it), but the user is told nothing was indexed and why."""
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "scan.pdf").write_bytes(b"%PDF-1.4")  # not an article type: still nothing to index
    env = plugin_env(tmp_path / "plugin")
    result = run_bot(env, "ingest", "--corpus", str(empty), "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 0, result.stderr
    assert f"Warning: no articles found in {empty}; add .txt, .md or .html files" in result.stderr
    assert "Traceback" not in result.stderr and "0 added" in result.stdout

    (empty / "story.md").write_bytes(
        codecs.BOM_UTF16_LE + "# Port strike\n\nDock workers struck.".encode("utf-16-le")
    )
    result = run_bot(env, "ingest", "--corpus", str(empty), "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 0 and "1 added" in result.stdout, result.stderr
    assert "Warning" not in result.stderr  # a UTF-16 article is indexed, and no longer "empty"


def test_a_long_title_or_file_name_leaves_passages_whole(embedded_bot: Bot, tmp_path: Path) -> None:
    """Metadata counts against a passage's size: a long Japanese file name cut a 130-character article
    into 104 passages of 6 characters, and a title longer than a passage stopped the ingest."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    story = "東京都議会は来年度の予算案を可決した。" * 5
    (corpus / ("東京都議会予算案可決" * 6 + ".txt")).write_text(f"予算\n\n{story}\n")
    (corpus / "long.html").write_text(
        f"<html><head><title>{'Budget ' * 400}</title></head><body><p>The council passed the budget.</p></body></html>"
    )
    (corpus / "short.txt").write_text(
        "Port strike\n\nDock workers in Antwerp went on strike on 2026-05-02.\n"
    )
    index, report = sync(embedded_bot, corpus, tmp_path / "data")
    assert sorted(report.added) == sorted(p.name for p in corpus.iterdir())
    assert {a.name: a.chunks for a in index.articles.values()} == {name: 1 for name in report.added}
    assert index.articles["long.html"].title == ("Budget " * 12).strip() + "…"  # cut at a word, for display
