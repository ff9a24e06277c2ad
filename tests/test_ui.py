"""The chat UI over real HTTP (gradio_client) and in a real browser (Debian's Chromium via Playwright)."""

from __future__ import annotations

import contextlib
import html
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client, handle_file

from bot import Bot, BotError, Settings
from bot.answer import Answer, Citation, Passage
from bot.grounding import passage_sentences
from bot.ui import (
    MAX_NAME_BYTES,
    MAX_SUGGESTIONS,
    exposure_warning,
    launch,
    missing_article_message,
    safe_name,
    sources_html,
)
from tests.conftest import ScriptedBackend
from tests.scripted_plugin import error_line, plugin_env, run_bot, start_bot

CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(bot: Bot) -> Iterator[str]:
    """The chat app for `bot` on a free loopback port, closed afterwards; yields its URL."""
    port = free_port()
    app = launch(bot, "127.0.0.1", port, block=False)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()


@pytest.fixture(scope="module")
def ui_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("ui") / "corpus"
    shutil.copytree(Path(__file__).parent.parent / "seeds", target)
    return target


@pytest.fixture(scope="module")
def app_url(embedded_bot: Bot, ui_corpus: Path) -> Iterator[str]:
    with served(embedded_bot.for_corpus(ui_corpus, ui_corpus.parent / "data")) as url:
        yield url


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
    table, status, _ = client.predict("../../etc/passwd", api_name="/remove_article")
    assert status.startswith("Not removed: no article named '../../etc/passwd' is indexed.")


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
        box = page.get_by_role("textbox", name="Question")
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


# -- UI edges with the scripted model (tests/conftest.py): no language model is loaded -------------------

UI_CORPUS = {
    "military.txt": "North Korea's army\n\nNorth Korea has a military of approximately 1.2 million personnel, "
    "South Korean officials said on 2024-10-23.\n",
    "port.md": "# Port strike\n\nDock workers in Antwerp went on strike on 2026-05-02.\n",
}
QUESTION = "How large is North Korea's military?"


class GatedBackend(ScriptedBackend):
    """The scripted model, held before its answer while `gate` is clear: a long answer on demand."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.gate = threading.Event()
        self.gate.set()

    def stream_chat(self, messages: list[dict[str, str]], *, max_tokens: int, num_ctx: int) -> Iterator[str]:
        if not messages[-1]["content"].endswith("yes or no."):
            assert self.gate.wait(120), "the test never opened the gate"
        yield from super().stream_chat(messages, max_tokens=max_tokens, num_ctx=num_ctx)


@pytest.fixture(scope="module")
def scripted_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Bot, Path]]:
    corpus = tmp_path_factory.mktemp("ui-edges") / "corpus"
    corpus.mkdir()
    for name, text in UI_CORPUS.items():
        (corpus / name).write_text(text)
    loaded = Bot.load(corpus, corpus.parent / "data", backend="scripted")
    bot = Bot(loaded.settings, loaded.embedder, loaded.index, GatedBackend(loaded.settings))
    with served(bot) as url:
        yield url, bot, corpus


def test_removing_an_article_not_in_the_list_is_a_short_error(scripted_ui: tuple[str, Bot, Path]) -> None:
    url, _, corpus = scripted_ui
    client = Client(url, verbose=False)
    _, status, _ = client.predict("prt.md", api_name="/remove_article")
    assert status == "Not removed: no article named 'prt.md' is indexed. Did you mean port.md?"
    _, status, _ = client.predict("../../etc/passwd", api_name="/remove_article")
    assert status == "Not removed: no article named '../../etc/passwd' is indexed. Pick one from the list."
    _, status, _ = client.predict("x" * 5000 + ".md", api_name="/remove_article")
    assert len(status) < 200
    assert sorted(p.name for p in corpus.iterdir()) == sorted(UI_CORPUS)  # nothing removed


def test_the_last_article_can_be_removed(tmp_path: Path) -> None:
    """Removing it empties the index on purpose, which a sync of an emptied folder refuses otherwise."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "port.md").write_text(UI_CORPUS["port.md"])
    with served(Bot.load(corpus, tmp_path / "data", backend="scripted")) as url:
        table, status, _ = Client(url, verbose=False).predict("port.md", api_name="/remove_article")
    assert status == "removed port.md" and table["data"] == [], status
    assert not (corpus / "port.md").exists()


def test_the_missing_article_error_stays_short_in_a_big_archive() -> None:
    names = [f"2026-01-{day:02d}-story-{n:03d}.md" for day in range(1, 29) for n in range(20)]
    message = missing_article_message("2026-01-05-stroy-007.md", names)  # a typo
    suggestions = message.split("Did you mean ", 1)[1].rstrip("?").split(", ")
    assert 1 <= len(suggestions) <= MAX_SUGGESTIONS and len(message) < 250  # not 560 names
    assert suggestions[0] == "2026-01-05-story-007.md" and all(s in names for s in suggestions)


def test_an_upload_with_a_non_ascii_name_keeps_its_name(
    scripted_ui: tuple[str, Bot, Path], tmp_path: Path
) -> None:
    url, _, corpus = scripted_ui
    story = tmp_path / "Новости.md"
    story.write_text("# Новости\n\nThe Kyiv metro reopened on 2026-04-01.\n", encoding="utf-8")
    table, status, _ = Client(url, verbose=False).predict([handle_file(story)], api_name="/add_articles")
    try:
        assert status == "added Новости.md"
        assert (corpus / "Новости.md").is_file() and "Новости.md" in str(table)
    finally:
        Client(url, verbose=False).predict("Новости.md", api_name="/remove_article")


def test_safe_name_keeps_letters_of_any_script_and_stays_short() -> None:
    assert safe_name("Новости.md") == "Новости.md"
    assert safe_name("東京 ニュース.txt") == "東京_ニュース.txt"
    assert safe_name("Cafe\u0301.md") == "Caf\u00e9.md"  # macOS's decomposed é, composed
    assert safe_name("a\u202eexe.txt") == "a_exe.txt"  # a right-to-left override is not a letter
    long = safe_name("Я" * 300 + ".html")
    assert long.endswith(".html") and len(long.encode()) <= MAX_NAME_BYTES
    with pytest.raises(BotError, match="'Новости.pdf' is not a .txt"):
        safe_name("Новости.pdf")


@pytest.mark.parametrize(
    ("host", "exposed"),
    [
        ("127.0.0.1", False),
        ("127.0.0.2", False),
        ("localhost", False),
        ("::1", False),
        ("[::1]", False),
        ("0.0.0.0", True),
        ("::", True),
        ("192.168.1.20", True),
        ("news.example.org", True),
    ],
)
def test_binding_beyond_loopback_warns_and_suggests_a_login(host: str, exposed: bool) -> None:
    warning = exposure_warning(host, 7860, login=False)
    assert (warning is not None) == exposed
    if exposed:
        assert warning is not None and "reachable from other machines" in warning
        assert "--auth user:pass" in warning and "BOT_AUTH" in warning
        with_login = exposure_warning(host, 7860, login=True)
        assert with_login is not None and "--auth user:pass" not in with_login


@pytest.mark.parametrize("value", ["s3cretpassword", ":s3cret", "alice:", "  :x"])
def test_a_bot_auth_without_user_and_password_names_the_variable_not_the_secret(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOT_AUTH", value)
    with pytest.raises(BotError) as caught:
        Settings.resolve()
    assert "BOT_AUTH" in str(caught.value) and "USER:PASSWORD" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_auth_splits_at_the_first_colon_and_stays_out_of_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_AUTH", "alice:pa:ss")
    settings = Settings.resolve()
    assert settings.auth_pair() == ("alice", "pa:ss") and "pa:ss" not in repr(settings)
    assert Settings.resolve(auth="bob:x").auth_pair() == ("bob", "x")  # --auth wins over BOT_AUTH
    monkeypatch.delenv("BOT_AUTH")
    assert Settings.resolve().auth_pair() is None


def wait_until_serving(url: str, process: Any, seconds: float = 300) -> int:
    """The status of `url`config once the `bot chat` process serves it; fails if the process ends first."""
    import httpx

    deadline = time.monotonic() + seconds
    while True:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "bot chat did not start"
        with contextlib.suppress(httpx.TransportError):
            return httpx.get(f"{url}config", timeout=5).status_code
        time.sleep(1)


def test_bot_chat_on_all_interfaces_warns_and_asks_for_the_auth_login(tmp_path: Path) -> None:
    """The real `bot chat` (scripted model as a plugin): the warning, then Gradio refusing the API until
    the --auth login is given."""
    import httpx

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "port.md").write_text(UI_CORPUS["port.md"])
    env = plugin_env(tmp_path / "plugin")
    bad = run_bot(env, "chat", "--corpus", str(corpus), "--auth", "nocolon-s3cret", timeout=120)
    line = error_line(bad)
    assert "BOT_AUTH (--auth) must be USER:PASSWORD" in line and "s3cret" not in line

    port = free_port()
    args = ["chat", "--corpus", str(corpus), "--data-dir", str(tmp_path / "data"), "--host", "0.0.0.0"]
    chat = start_bot(env, *args, "--port", str(port), "--auth", "alice:pa:ss")
    url = f"http://127.0.0.1:{port}/"
    try:
        assert wait_until_serving(url, chat) == 401  # nothing without the login
        with httpx.Client(base_url=url, timeout=10) as browser:
            assert browser.post("login", data={"username": "alice", "password": "wrong"}).status_code == 400
            assert browser.post("login", data={"username": "alice", "password": "pa:ss"}).status_code == 200
            assert browser.get("config").status_code == 200
    finally:
        chat.terminate()  # SIGTERM, as a service manager stops it
        _, stderr = chat.communicate(timeout=60)
    assert chat.returncode == 130, stderr[-800:]
    # It stopped its PostgreSQL on the way out (killed outright, it left the server running).
    assert not (tmp_path / "data" / "pg" / "postmaster.pid").exists()
    assert f"Warning: --host 0.0.0.0 makes the chat UI reachable from other machines on port {port}" in stderr
    assert "--auth user:pass" not in stderr  # a login was given: the warning is about HTTP, not its absence


def test_bot_chat_stopped_mid_answer_exits_130_and_stops_its_database(tmp_path: Path) -> None:
    """SIGTERM while the bundled model computes an answer in a Gradio thread: exit 130, no crash (a native
    exit then ran C++ destructors under the running llama.cpp call), and the embedded PostgreSQL stops."""

    corpus = tmp_path / "corpus"
    shutil.copytree(Path(__file__).parent.parent / "seeds", corpus)
    port = free_port()
    env = {**os.environ, "BOT_BACKEND": "embedded", "BOT_EMBEDDED_MODEL": "smollm2-135m"}
    args = ["chat", "--corpus", str(corpus), "--data-dir", str(tmp_path / "data"), "--port", str(port)]
    chat = start_bot(env, *args)
    url = f"http://127.0.0.1:{port}/"
    try:
        assert wait_until_serving(url, chat) == 200
        job = Client(url, verbose=False).submit("How large is North Korea's military?", api_name="/ask")
        while not job.outputs():  # the first streamed piece of the draft: the model is computing
            assert not job.done(), job.result()
            time.sleep(0.05)
    finally:
        chat.terminate()
        _, stderr = chat.communicate(timeout=120)
    assert chat.returncode == 130, stderr[-800:]
    assert "Interrupted." in stderr and "Traceback" not in stderr
    assert not (tmp_path / "data" / "pg" / "postmaster.pid").exists()


def chromium_page(p: Any) -> Any:
    """A new browser, so each page is a new Gradio session (its own cookies and state)."""
    return p.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    )


needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="apt-get install chromium (CI always runs it)",
)


@needs_chromium
def test_a_session_opened_after_an_upload_sees_the_new_counts_and_remove_list(
    scripted_ui: tuple[str, Bot, Path], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, bot, corpus = scripted_ui
    before = len(bot.articles)
    story = tmp_path / "Rail deal.md"
    story.write_text("# Rail deal\n\nThe rail deal was signed in Lisbon on 2026-06-01.\n")
    with sync_playwright() as p:
        first = chromium_page(p)
        page = first.new_page()
        page.goto(url)
        page.get_by_text(f"{before} articles,").first.wait_for()
        page.get_by_role("tab", name="Articles").click()
        page.locator("input[type=file][multiple]").set_input_files(str(story))
        page.locator("#articles-status").get_by_text("added Rail_deal.md").wait_for(timeout=60_000)
        # the upload box is emptied: its link to the deleted upload would answer 403
        expect(page.locator("#upload a")).to_have_count(0)
        page.get_by_text(f"{before + 1} articles,").first.wait_for()  # this session's own header

        second = chromium_page(p)
        fresh = second.new_page()
        fresh.goto(url)
        fresh.get_by_text(f"{before + 1} articles,").first.wait_for(timeout=30_000)
        fresh.get_by_role("tab", name="Articles").click()
        expect(fresh.get_by_role("grid", name="Dataframe")).to_contain_text("Rail_deal.md")
        fresh.get_by_label("Article to remove").click()
        fresh.get_by_role("option", name="Rail_deal.md").click()
        fresh.get_by_role("button", name="Remove article").click()
        fresh.locator("#articles-status").get_by_text("removed Rail_deal.md").wait_for(timeout=60_000)
        assert not (corpus / "Rail_deal.md").exists()
        first.close()
        second.close()


@needs_chromium
def test_a_waiting_user_sees_their_place_in_the_queue(scripted_ui: tuple[str, Bot, Path]) -> None:
    from playwright.sync_api import sync_playwright

    url, bot, _ = scripted_ui
    gate: threading.Event = bot.backend.gate  # type: ignore[attr-defined]
    with sync_playwright() as p:
        browsers = [chromium_page(p), chromium_page(p)]
        pages = [b.new_page() for b in browsers]
        try:
            gate.clear()  # the first answer holds the model
            for page in pages:
                page.goto(url)
                box = page.locator("textarea").first
                box.fill(QUESTION)
                box.press("Enter")
                page.locator("#chat [data-testid='user']").first.wait_for()
            pages[1].get_by_text(re.compile(r"queue: 1/\d")).first.wait_for(timeout=30_000)
            # the answering session can stop its answer (a textbox of our own has no stop button by default)
            pages[0].locator("#chat-row button.stop-button").wait_for(timeout=30_000)  # Gradio names it not
        finally:
            gate.set()
        for page in pages:
            page.locator("#sources mark").first.wait_for(timeout=60_000)
            assert "1.2 million" in page.locator("#chat [data-testid='bot']").last.inner_text()
        for b in browsers:
            b.close()


@needs_chromium
def test_clearing_the_chat_clears_its_sources_too(scripted_ui: tuple[str, Bot, Path]) -> None:
    """The sources panel of the last answer outlived a cleared chat, beside an empty conversation."""
    from playwright.sync_api import expect, sync_playwright

    url, _, _ = scripted_ui
    with sync_playwright() as p:
        browser = chromium_page(p)
        page = browser.new_page()
        page.goto(url)
        box = page.get_by_role("textbox", name="Question")
        box.fill(QUESTION)
        box.press("Enter")
        page.locator("#sources mark").first.wait_for(timeout=60_000)
        page.get_by_role("button", name="Clear").click()
        expect(page.locator("#chat [data-testid='bot']")).to_have_count(0)
        expect(page.locator("#sources")).to_have_text("Cited passages appear here.")
        browser.close()


def test_a_quote_wider_than_its_passage_is_shown_whole(scripted_bot: Bot) -> None:
    """A passage cut inside a sentence cites the whole sentence: the sources panel widens to show it."""
    index = scripted_bot.index
    cut, (start, end) = next(
        (p, first)
        for p in index.passages()
        if (first := passage_sentences(index.texts[p.source], p.start, p.end, p.text)[0])[0] < p.start
    )  # a passage that begins inside a sentence (chunks overlap)
    article = index.texts[cut.source]
    passage = Passage(1, cut.source, "t", None, cut.text, cut.start, cut.end, 1.0)
    citation = Citation(1, cut.source, "t", article[start:end], start, end)
    answer = Answer("q", "a [1].", False, [citation], [passage], "q", "scripted", "scripted-1")
    shown = sources_html(answer, scripted_bot)
    assert f"<mark>{html.escape(article[start:end])}</mark>" in shown
    assert html.escape(article[end : cut.end]) in shown  # the rest of the passage follows, once
    assert shown.count(html.escape(article[cut.start : end])) == 1
