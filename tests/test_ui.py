"""The chat UI over real HTTP (gradio_client) and in a real browser (Debian's Chromium via Playwright)."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from bot import Bot
from bot.ui import launch, safe_name

CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ui_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("ui") / "corpus"
    shutil.copytree(Path(__file__).parent.parent / "seeds", target)
    return target


@pytest.fixture(scope="module")
def app_url(embedded_bot: Bot, ui_corpus: Path) -> Iterator[str]:
    bot = embedded_bot.for_corpus(ui_corpus, ui_corpus.parent / "data")
    port = free_port()
    app = launch(bot, "127.0.0.1", port, block=False)
    yield f"http://127.0.0.1:{port}/"
    app.close()


def test_api_streams_a_cited_answer_and_keeps_sessions_apart(app_url: str) -> None:
    first = Client(app_url, verbose=False)
    job = first.submit("How large is North Korea's military?", api_name="/ask")
    updates = list(job)
    text, sources, _ = job.result()
    assert len(updates) > 2  # streamed: draft updates before the verified answer
    assert "1.2 million" in text and ("[1]" in text or "[2]" in text)
    assert "<mark>" in sources and ".txt" in sources

    first.predict("Who confirmed in Rome that North Korea has dispatched troops to Russia?", api_name="/ask")
    _, _, rewritten_first = first.predict("When did he confirm it?", api_name="/ask")
    second = Client(app_url, verbose=False)
    _, _, rewritten_second = second.predict("When did he confirm it?", api_name="/ask")
    assert rewritten_first.startswith("Searched for:")  # the first session's follow-up used its history
    assert rewritten_second == ""  # the second session has no history to draw on


def test_articles_can_be_added_rejected_and_removed(app_url: str, ui_corpus: Path, tmp_path: Path) -> None:
    client = Client(app_url, verbose=False)
    good = tmp_path / "Port strike.md"
    good.write_text("# Port strike\n\nDock workers in Antwerp went on strike on 2026-05-02.\n")
    bad = tmp_path / "notes.pdf"
    bad.write_bytes(b"%PDF-1.4")
    table, status, _ = client.predict([handle_file(good), handle_file(bad)], api_name="/add_articles")
    assert "added Port_strike.md" in status and "rejected: 'notes.pdf'" in status
    assert (ui_corpus / "Port_strike.md").is_file() and not (ui_corpus / "notes.pdf").exists()
    assert "Port_strike.md" in str(table)
    table, status, _ = client.predict("Port_strike.md", api_name="/remove_article")
    assert status == "removed Port_strike.md" and not (ui_corpus / "Port_strike.md").exists()
    assert "Port_strike.md" not in str(table)
    with pytest.raises(Exception, match="not in the list of choices"):  # Gradio checks the dropdown
        client.predict("../../etc/passwd", api_name="/remove_article")


def test_safe_name_keeps_uploads_inside_the_corpus() -> None:
    assert safe_name("../../etc/cron.d/x.txt") == "x.txt"
    assert safe_name("My Story (final).html") == "My_Story_final_.html"
    with pytest.raises(Exception, match="not a .txt"):
        safe_name("payload.exe")
    with pytest.raises(Exception, match="not a .txt"):
        safe_name(".txt")


@pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="apt-get install chromium (CI always runs it)",
)
def test_browser_chat_shows_answer_citation_and_sources(app_url: str, tmp_path: Path) -> None:
    screenshot = Path(os.environ.get("BOT_SCREENSHOT") or tmp_path / "chat.png")  # README's: docs/chat.png
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(app_url)
        page.get_by_text("articles,").first.wait_for()
        box = page.locator("textarea").first
        box.fill("How large is North Korea's military?")
        box.press("Enter")
        page.locator("#sources mark").first.wait_for(timeout=180_000)
        bot_message = page.locator("#chat .bot, #chat [data-testid='bot']").last
        assert "1.2 million" in bot_message.inner_text()
        assert "[1]" in bot_message.inner_text() or "[2]" in bot_message.inner_text()
        assert "1.2 million" in page.locator("#sources mark").first.inner_text()
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
