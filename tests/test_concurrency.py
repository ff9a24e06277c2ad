"""Issue 9, item 1: writers at the same time as readers.

Two `bot ingest` processes (one of them a `--rebuild`) and the chat UI's re-index after an upload all
write one index while this process keeps asking questions through `Bot.ask` and the UI's API. Every
question is answered from a consistent index that never shrinks (a rebuild is swapped in whole), every
writer succeeds, and the end state holds every article once. Kills at random points are in test_store.py.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client, handle_file

from bot import Bot
from bot.index import ArticleIndex
from bot.ui import launch
from tests.conftest import ScriptedBackend
from tests.scripted_plugin import plugin_env, start_bot
from tests.test_store import assert_passages_match_texts, inconsistent_articles
from tests.test_ui import free_port

FIRST, LATER, UPLOADED = 4, 8, 2
ASK_PAUSE = 0.05  # seconds between questions: leave the writers some of the two cores


def write_articles(corpus: Path, numbers: range) -> None:
    """Small made-up articles (cheap to embed), each with a name found in no other."""
    corpus.mkdir(exist_ok=True)
    for i in numbers:
        (corpus / f"art{i:03d}.txt").write_text(
            f"Report {i} on Zorblat{i}\n\nZorblat{i} was named today in Lisbon, officials said on 2026-05-{i + 1:02d}.\n"
        )


def test_two_cli_ingests_and_a_ui_reindex_while_asking(embedded_bot: Bot, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write_articles(corpus, range(FIRST))
    data = tmp_path / "data"
    seeded = embedded_bot.for_corpus(corpus, data)
    bot = Bot(seeded.settings, seeded.embedder, seeded.index, ScriptedBackend(seeded.settings))
    port = free_port()
    app = launch(bot, "127.0.0.1", port, block=False)
    write_articles(corpus, range(FIRST, FIRST + LATER))
    uploads = []
    for i in range(UPLOADED):
        uploads.append(tmp_path / f"upload{i}.md")
        uploads[-1].write_text(
            f"# Upload {i}\n\nThe Quexal{i} bridge in Lisbon opened on 2026-06-0{i + 1}.\n"
        )

    env = plugin_env(tmp_path / "plugin")  # inherits this session's BOT_DATABASE_URL
    args = ("--corpus", str(corpus), "--data-dir", str(data))
    writers = [start_bot(env, "ingest", *args), start_bot(env, "ingest", "--rebuild", *args)]
    ui: dict[str, str] = {}

    def upload_and_ask() -> None:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        _, ui["status"], _ = client.predict([handle_file(p) for p in uploads], api_name="/add_articles")
        ui["answer"], _, _ = client.predict("When did the Quexal1 bridge open?", api_name="/ask")

    uploader = threading.Thread(target=upload_and_ask)
    uploader.start()
    seen: list[int] = []
    try:
        while any(w.poll() is None for w in writers) or uploader.is_alive():
            answer = bot.ask("Who was named today?")  # any failure here fails the test
            assert answer.passages and inconsistent_articles(bot.index) == []
            assert_passages_match_texts(bot.index, answer.passages)
            seen.append(len(bot.index.texts))
            time.sleep(ASK_PAUSE)
        results = [w.communicate(timeout=300) for w in writers]
        uploader.join(timeout=300)
    finally:
        for w in writers:
            if w.poll() is None:
                w.kill()
        app.close()

    for writer, (out, err) in zip(writers, results, strict=True):
        assert writer.returncode == 0 and "Traceback" not in err, err
        assert out.startswith("Indexed "), out
    assert ui["status"].startswith("added upload0.md; added upload1.md"), ui
    assert not ui["answer"].startswith("⚠️"), ui
    assert len(seen) >= 3 and min(seen) >= FIRST, seen  # asked throughout; never a shrunken index
    total = FIRST + LATER + UPLOADED
    assert sorted(seen) == seen and seen[-1] <= total
    assert len(bot.articles) == total and inconsistent_articles(bot.index) == []
    assert not bot.index.store.staging().exists()


@pytest.mark.parametrize("stored", [0, FIRST], ids=["bulk load", "one by one"])
def test_two_ingests_started_together_do_not_both_add_the_same_articles(
    embedded_bot: Bot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stored: int
) -> None:
    """The second ingest reads the corpus, then the first writes every article before it does: the second
    says they were unchanged, not "added" as the first did (deterministic: the first runs inside the
    second's write)."""
    corpus = tmp_path / "corpus"
    write_articles(corpus, range(stored))
    settings = replace(
        embedded_bot.settings,
        corpus=corpus,
        data_dir=tmp_path / "data",
        database_url=embedded_bot.settings.database_url or embedded_bot.index.store.url,
        database_schema=None,
    )
    if stored:
        ArticleIndex.sync(settings, embedded_bot.embedder)
    write_articles(corpus, range(stored, stored + LATER))
    new = sorted(f"art{i:03d}.txt" for i in range(stored, stored + LATER))
    original, first = ArticleIndex.write, {}

    def first_ingest_writes_meanwhile(self: ArticleIndex, *args: Any, **kwargs: Any) -> set[str]:
        if "started" not in first:  # the first ingest's own write goes straight through
            first["started"] = True
            first["report"] = ArticleIndex.sync(settings, embedded_bot.embedder)[1]
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ArticleIndex, "write", first_ingest_writes_meanwhile)
    monkeypatch.setattr("bot.index.BULK_COMMIT_PASSAGES", 1)  # a bulk load's groups on both connections
    index, second = ArticleIndex.sync(settings, embedded_bot.embedder)
    assert sorted(first["report"].added) == new, first["report"].summary()
    assert second.added == [] and len(second.unchanged) == stored + LATER, second.summary()
    assert index.store.read("SELECT count(*) FROM {s}.articles")[0][0] == stored + LATER
