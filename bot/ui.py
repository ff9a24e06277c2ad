"""The Gradio chat UI. It only wraps `Bot.stream`: no answering logic lives here.

All conversation state (history, sources, rewritten question) lives in per-session Gradio values, so
two browser sessions never see each other's chats. The corpus itself is shared by everyone using the app.

Limits: an upload is at most MAX_ARTICLE_BYTES per file (Gradio refuses larger ones before they are
stored) and MAX_FILES_PER_UPLOAD files; uploaded files are deleted from Gradio's upload folder once copied
into the corpus. Gradio's analytics are turned off: the app contacts no outside server. Without `auth`
anyone who reaches the port can use the app, which is why `bot chat` warns when it binds beyond loopback.
Answers run one at a time; a waiting user sees their place in the queue.
"""

from __future__ import annotations

import contextlib
import difflib
import html
import ipaddress
import os
import re
import shutil
import socket
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from bot.answer import Answer
from bot.articles import MAX_ARTICLE_BYTES, SUPPORTED_SUFFIXES
from bot.core import Bot
from bot.errors import BotError
from bot.validation import turn_text, validate_question
from bot.wording import count

MAX_FILES_PER_UPLOAD = 20
MAX_NAME_BYTES = 200  # of an uploaded file's name in UTF-8; file systems cap a name at 255 bytes
MAX_SUGGESTIONS = 3  # names offered when an article to remove is not indexed
ERROR_MARK = "⚠️ "  # starts every reply that is an error rather than an answer

EXAMPLES = [
    "How large is North Korea's military?",
    "How many containers has North Korea delivered to Russia?",
    "Who is Carl Schuster?",
]
NO_SOURCES = "<p>Cited passages appear here.</p>"
CSS = """
#chat-row { flex-direction: row-reverse; }
#sources mark { background: #fde68a; padding: 0 2px; }
#sources .passage { border-left: 3px solid #d1d5db; padding: 4px 10px; margin: 8px 0; font-size: 0.92em; }
#rewritten { opacity: 0.7; font-size: 0.85em; }
"""


def header(bot: Bot) -> str:
    backend = bot.backend
    who = (
        backend.label
        if backend.name != "embedded"
        else f"{backend.label} — install Ollama for better answers"
    )
    passages = sum(a.chunks for a in bot.articles)
    return f"### News Q&A\n**{who}** · {count(len(bot.articles), 'article')}, {count(passages, 'passage')} indexed"


def sources_html(answer: Answer, bot: Bot) -> str:
    """Each cited passage with its quote highlighted; for a refusal, the nearest passages."""
    parts: list[str] = []
    if answer.refused:
        parts.append("<p><b>The articles don't say;</b> nearest passages:</p>")
        for p in answer.passages[:3]:
            parts.append(_passage_block(p.number, p.title, p.source, html.escape(p.text)))
        return "".join(parts)
    by_number = {p.number: p for p in answer.passages}
    for c in answer.citations:
        p = by_number[c.number]
        # The quote is a whole sentence of the article; a passage cut inside it is shown widened to it.
        article = bot.index.article_text(c.source)
        before, after = article[min(p.start, c.start) : c.start], article[c.end : max(p.end, c.end)]
        body = html.escape(before) + f"<mark>{html.escape(c.quote)}</mark>" + html.escape(after)
        parts.append(_passage_block(c.number, c.title, c.source, body))
    return "".join(parts) or "<p>No sources.</p>"


def _passage_block(number: int, title: str, source: str, body: str) -> str:
    return (
        f"<div class='passage'><b>[{number}] {html.escape(title)}</b> "
        f"<code>{html.escape(source)}</code><br>{body}</div>"
    )


def conversation(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chat as the bot should see it: without turns that ended in an error and the questions that
    caused them. Gradio keeps a refused question in the chat; sent again with every later question, one
    100,000-character question would break the rest of the session."""
    kept: list[dict[str, Any]] = []
    for message in history:
        if message.get("role") == "assistant":
            with contextlib.suppress(BotError):
                if turn_text(message.get("content")).startswith(ERROR_MARK):
                    if kept and kept[-1].get("role") == "user":
                        kept.pop()
                    continue
        kept.append(message)
    return kept


def respond(bot: Bot, message: str, history: list[dict[str, Any]]) -> Iterator[tuple[str, str, str]]:
    """Stream the draft, then replace it with the verified answer and fill the sources panel."""
    draft = ""
    try:
        for event in bot.stream(message, conversation(history)):
            if isinstance(event, str):
                draft += event
                yield draft + " ▍", "<p><i>Checking the answer against the articles…</i></p>", ""
                continue
            text = event.text
            if (note := event.verifier_note()) and not event.refused:
                text += f"\n\n*{note}*"
            rewritten = (
                f"Searched for: {event.rewritten_query}" if event.rewritten_query != message.strip() else ""
            )
            yield text, sources_html(event, bot), rewritten
    except BotError as err:
        yield f"{ERROR_MARK}{err}", "", ""
    except Exception as err:  # noqa: BLE001 - the app must keep serving; the user sees what happened
        yield f"{ERROR_MARK}Something went wrong: {err}. Try again; if it persists, run `bot doctor`.", "", ""


def safe_name(name: str) -> str:
    """A plain file name: no folders, no dot-files, only letters and digits (of any script, so that
    `Новости.md` keeps its name), '-', '_' and '.', and at most MAX_NAME_BYTES long.

    NFC first: macOS sends `é` as `e` plus a combining accent, which is not a letter and would become `_`."""
    plain = unicodedata.normalize("NFC", Path(name).name)
    base = re.sub(r"[^\w.-]+", "_", plain).lstrip("._")
    suffix = Path(base).suffix
    if not base or suffix.lower() not in SUPPORTED_SUFFIXES:
        raise BotError(f"{plain!r} is not a .txt, .md or .html file.")
    stem = base[: -len(suffix)]
    while len((stem + suffix).encode()) > MAX_NAME_BYTES:
        stem = stem[:-1]
    return stem + suffix


def missing_article_message(name: str, names: list[str]) -> str:
    """Short, whatever the corpus size: Gradio's own check of a dropdown value lists every choice, which
    for a real archive is hundreds of names. At most MAX_SUGGESTIONS close names are offered."""
    shown = name if len(name) <= 80 else name[:79] + "…"
    close = difflib.get_close_matches(name[:200], names, n=MAX_SUGGESTIONS, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else " Pick one from the list."
    return f"Not removed: no article named {shown!r} is indexed.{hint}"


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach a server bound to `host` (127.0.0.0/8, ::1, localhost)."""
    host = host.strip().strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name, which may resolve to any address: assume it is reachable


def listen_address(host: str, port: int) -> str:
    """`host` as Gradio takes it (an IPv6 address in brackets), once this machine can listen there: a busy
    port or a name that resolves to no address of this machine is one line now, not a traceback after
    the model has loaded."""
    bare = host.strip().strip("[]")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(bare, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as err:
        raise BotError(
            f"--host {host}: {getattr(err, 'strerror', None) or err}; give a name or address of this machine."
        ) from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server itself will
        try:
            probe.bind(address)
        except OSError as err:
            raise BotError(
                f"Cannot listen on {host} port {port} ({err.strerror}): pass another --port or --host."
            ) from None
    return f"[{bare}]" if ":" in bare else bare


def exposure_warning(host: str, port: int, *, login: bool) -> str | None:
    """What `bot chat --host` exposes when it binds beyond loopback, or None when it does not: the UI lets
    anyone who reaches it ask, upload and remove articles, and Gradio has no login unless given one."""
    if is_loopback(host):
        return None
    reach = f"--host {host} makes the chat UI reachable from other machines on port {port}"
    if login:
        return (
            f"{reach}; it asks for the --auth login, which travels unencrypted over plain HTTP: "
            "outside a trusted network, put it behind an HTTPS proxy."
        )
    return (
        f"{reach}, with no login: anyone who can reach it can ask, upload and remove articles. "
        "Pass --auth user:pass (or set BOT_AUTH=user:pass) to require one."
    )


def articles_table(bot: Bot) -> list[list[Any]]:
    return [[a.title, a.name, a.date or "", a.chunks] for a in bot.articles]


def discard_upload(path: Path) -> None:
    """Delete an uploaded file from Gradio's upload folder (and its folder, if now empty): Gradio keeps
    uploads forever otherwise. Paths outside that folder are never touched."""
    uploads = Path(get_upload_folder()).resolve()
    path = path.resolve()
    if uploads not in path.parents:
        return
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        if path.parent != uploads:
            path.parent.rmdir()


def build_app(bot: Bot) -> gr.Blocks:
    # Every Blocks reads this when it is created, the ones ChatInterface makes inside too.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

    def add_files(files: list[Any] | None) -> tuple[list[list[Any]], str, Any]:
        messages = []
        corpus = bot.settings.corpus.resolve()
        paths = [Path(getattr(f, "name", f)) for f in files or []]
        if len(paths) > MAX_FILES_PER_UPLOAD:
            for path in paths:
                discard_upload(path)
            message = f"rejected: {len(paths)} files at once; upload at most {MAX_FILES_PER_UPLOAD} at a time"
            return articles_table(bot), message, gr.update(choices=_names(bot))
        added: list[str] = []
        for path in paths:
            try:
                target = corpus / safe_name(path.name)
                if target.exists() or target.is_symlink():  # never overwrite, nor write through a link
                    raise BotError(f"{target.name} is already in the corpus; remove it first to replace it.")
                if path.stat().st_size > MAX_ARTICLE_BYTES:
                    raise BotError(f"{path.name} is over {MAX_ARTICLE_BYTES // 1024 // 1024} MB.")
                shutil.copyfile(path, target)
                added.append(target.name)
                messages.append(f"added {target.name}")
            except BotError as err:
                messages.append(f"rejected: {err}")
            finally:
                discard_upload(path)
        report = bot.reindex()
        # An upload the index cannot read (binary, not UTF-8, empty) leaves the corpus again: kept, it could
        # be neither removed here (it is not indexed) nor replaced (its name is taken).
        reasons = {s.name: s.reason for s in report.skipped}
        for name in (n for n in added if n not in bot.index.articles):
            (corpus / name).unlink(missing_ok=True)
            reason = reasons.pop(name, "it cannot be read")
            messages[messages.index(f"added {name}")] = f"rejected: {name}: {reason}"
        messages += [f"skipped {name}: {reason}" for name, reason in reasons.items()] + report.warnings
        return articles_table(bot), "; ".join(messages) or "nothing uploaded", gr.update(choices=_names(bot))

    def remove(name: str | None) -> tuple[list[list[Any]], str, Any]:
        names = _names(bot)
        if not name:
            return articles_table(bot), "Pick an indexed article to remove.", gr.update(choices=names)
        if name not in names:  # typed, or from a list another session has changed since
            return articles_table(bot), missing_article_message(name, names), gr.update(choices=names)
        corpus = bot.settings.corpus.resolve()
        path = corpus / name
        if corpus not in path.resolve().parents:
            return articles_table(bot), missing_article_message(name, []), gr.update(choices=names)
        path.unlink(missing_ok=True)  # the link itself for a link; already gone if removed on disk
        bot.reindex(removing=True)
        return articles_table(bot), f"removed {name}", gr.update(choices=_names(bot), value=None)

    def refresh() -> tuple[str, list[list[Any]], Any]:
        """Counts, table and remove list as the index has them now. The page itself is rendered once, at
        start-up: without this a browser session opened after an upload (or after `bot ingest` in another
        process) would show the start-up counts and could not remove the new articles."""
        return header(bot), articles_table(bot), gr.update(choices=_names(bot), value=None)

    def check_question(message: str) -> dict[str, Any]:
        """Refused in the browser before it is sent, so a bad question never enters the chat."""
        try:
            validate_question(message, bot.settings.max_question_chars)
        except BotError as err:
            return gr.validate(False, str(err))
        return gr.validate(True, "")

    with gr.Blocks(title="News Q&A", analytics_enabled=False) as app:
        top = gr.Markdown(header(bot))
        with gr.Tab("Chat"), gr.Row(elem_id="chat-row"):
            # Rendered before the chat so ChatInterface can stream into it; CSS puts it on the right.
            with gr.Column(scale=2):
                gr.Markdown("#### Sources")
                sources = gr.HTML(NO_SOURCES, elem_id="sources")
            with gr.Column(scale=3):
                rewritten = gr.Markdown(elem_id="rewritten")
                chatbot = gr.Chatbot(elem_id="chat", height=520, label="Answers cite passages as [n]")
                gr.ChatInterface(
                    fn=lambda message, history: (yield from respond(bot, message, history)),
                    chatbot=chatbot,
                    # Its label names the box for screen readers (Gradio's own is "Textbox"); not shown. A
                    # textbox given here has none of ChatInterface's defaults: send, stop and focus are ours.
                    textbox=gr.Textbox(
                        label="Question",
                        placeholder="Ask about the articles",
                        scale=7,
                        submit_btn=True,
                        stop_btn=True,
                        autofocus=True,
                    ),
                    additional_outputs=[sources, rewritten],
                    examples=EXAMPLES,
                    api_name="ask",
                    analytics_enabled=False,
                    validator=check_question,
                    # One answer at a time (the bundled model runs one generation at a time anyway), in
                    # Gradio's queue rather than behind a lock: a waiting user's chat then shows
                    # "queue: N/M" (its default "minimal" progress shows it; "full" would also cover the
                    # chat with a spinner).
                    concurrency_limit=1,
                )
                # A cleared chat clears the sources of its last answer and its "Searched for" line too.
                chatbot.clear(
                    lambda: (NO_SOURCES, ""),
                    None,
                    [sources, rewritten],
                    api_visibility="private",
                    queue=False,
                )
        with gr.Tab("Articles"):
            table = gr.Dataframe(
                value=articles_table(bot), headers=["title", "file", "date", "passages"], interactive=False
            )
            upload = gr.File(
                label=f"Add .txt, .md or .html articles (up to {MAX_FILES_PER_UPLOAD} files of "
                f"{MAX_ARTICLE_BYTES // 1024 // 1024} MB each)",
                file_count="multiple",
                elem_id="upload",
            )
            with gr.Row():
                # Custom values reach `remove`, whose error is short; Gradio's would list every article.
                choice = gr.Dropdown(choices=_names(bot), label="Article to remove", allow_custom_value=True)
                remove_btn = gr.Button("Remove article", variant="stop")
            status = gr.Markdown(elem_id="articles-status")
            # Then the upload box is emptied: its links point at the uploaded copies, deleted once copied
            # into the corpus, so they would answer 403.
            upload.upload(add_files, upload, [table, status, choice], api_name="add_articles").then(
                lambda: (header(bot), None), None, [top, upload], api_visibility="private"
            )
            remove_btn.click(remove, choice, [table, status, choice], api_name="remove_article").then(
                lambda: header(bot), None, top, api_visibility="private"
            )
        app.load(refresh, None, [top, table, choice], api_visibility="private", queue=False)
    return app


def _names(bot: Bot) -> list[str]:
    return [a.name for a in bot.articles]


def launch(
    bot: Bot,
    host: str = "127.0.0.1",
    port: int = 7860,
    *,
    auth: tuple[str, str] | None = None,
    block: bool = True,
) -> gr.Blocks:
    """Serve the app; with `auth`, Gradio asks for that user and password before the page or the API."""
    app = build_app(bot).queue()
    app.launch(
        server_name=host,
        server_port=port,
        css=CSS,
        show_error=True,
        prevent_thread_lock=not block,
        max_file_size=MAX_ARTICLE_BYTES,
        auth=auth,
    )
    return app
