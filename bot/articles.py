"""Reading a corpus folder into articles: text, title, date and a content hash per file.

Files that cannot be read as text (UTF-8, or UTF-8, UTF-16 or UTF-32 with a byte-order mark), files over
MAX_ARTICLE_BYTES and links that lead out of the corpus folder are skipped with a one-line warning each,
so one bad file never stops the rest of the folder from being indexed. Only files inside the corpus folder
are ever read: a link to `/etc/passwd` would otherwise be indexed and quoted to anyone using the chat UI.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from html.parser import HTMLParser
from pathlib import Path

from bot.claims import MONTH_NAMES, sentence_spans
from bot.errors import BotError

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm")
# A news article is tens of kilobytes; a 50 MB file is a mistake (a dump, a log) that would take an hour
# to embed into a hundred thousand passages.
MAX_ARTICLE_BYTES = 5 * 1024 * 1024
TITLE_MAX_CHARS = 90
DATE_LINE_EXTRA_WORDS = 2  # a line "Updated Thursday, 5 March 2026" is a date line; more words make it prose
# "By J. Doe, Staff Writer", "By Dr. Jane Doe"; not "By Wednesday, ferries ran to the U.S."
_BYLINE = re.compile(r"\s*(?i:by)\s+(?=[A-Z])(?:[^.!?]|(?<![a-z])\.|\b(?:Dr|Mrs?|Ms|St|Jr|Sr)\.){1,81}$")

_SHORT_MONTHS = "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"  # a dateline's "Nov 1, 2021"
# How a date is written, and how to read it (after parse_date drops dots and makes "Sept" "Sep").
_DATE_FORMATS = (
    (re.compile(r"\b(\d{4}-\d{2}-\d{2})(?!\d)"), "%Y-%m-%d"),  # also "2025-06-14T10:00:00Z"
    (re.compile(rf"\b((?:{MONTH_NAMES}) \d{{1,2}}, \d{{4}})\b"), "%B %d, %Y"),
    (re.compile(rf"\b(\d{{1,2}} (?:{MONTH_NAMES}) \d{{4}})\b"), "%d %B %Y"),
    (re.compile(rf"\b((?:{_SHORT_MONTHS})\.? \d{{1,2}}, \d{{4}})\b"), "%b %d, %Y"),
)


@dataclass(frozen=True)
class Article:
    """One source file. `text` is what passages and quotes are cut from (for HTML, the visible text)."""

    name: str
    title: str
    date: str | None
    text: str
    sha256: str


def iter_article_files(corpus: Path) -> Iterator[Path]:
    """Article files and links under `corpus`, hidden ones left out. Links to folders are listed but
    never entered (pathlib does not recurse into them), so `read_corpus` can warn about those leaving."""
    for path in sorted(corpus.rglob("*")):
        rel = path.relative_to(corpus)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_symlink() or (path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES):
            yield path


@dataclass(frozen=True)
class Skipped:
    """A corpus file that is not indexed, and why: the upload form names the reason next to the file."""

    name: str
    reason: str

    def __str__(self) -> str:
        return f"skipped {self.name}: {self.reason}"


def check_corpus(corpus: Path) -> None:
    if not corpus.is_dir():
        problem = (
            f"The corpus {corpus} is a file" if corpus.exists() else f"Corpus folder not found: {corpus}"
        )
        raise BotError(f"{problem}. Pass --corpus DIR, a folder of your .txt, .md or .html articles.")


def read_corpus(corpus: Path, max_bytes: int = MAX_ARTICLE_BYTES) -> tuple[list[Article], list[Skipped]]:
    """Return the readable articles and the files skipped."""
    check_corpus(corpus)
    root = corpus.resolve()
    articles: list[Article] = []
    skipped: list[Skipped] = []
    for path in iter_article_files(corpus):
        name = path.relative_to(corpus).as_posix()
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:  # a name written in another encoding (Latin-1 "café.txt" on Linux)
            shown = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            skipped.append(Skipped(shown, "its name is not UTF-8 (rename the file)"))
            continue
        target = path
        if path.is_symlink():
            try:
                target = path.resolve(strict=True)
            except (OSError, RuntimeError):  # a link to nothing, or a loop of links
                if path.suffix.lower() in SUPPORTED_SUFFIXES:
                    skipped.append(Skipped(name, "it is a broken link"))
                continue
            if target != root and root not in target.parents:
                skipped.append(Skipped(name, "it is a link leading outside the corpus folder (not followed)"))
                continue
            if path.suffix.lower() not in SUPPORTED_SUFFIXES or target.is_dir():
                continue  # not an article, or a folder in the corpus whose files are read there
            if not target.is_file():  # a pipe or a device, which reading could block on
                skipped.append(Skipped(name, "it links to something that is not a file"))
                continue
        try:
            articles.append(read_article(target, name, max_bytes))
        except ValueError as err:
            skipped.append(Skipped(name, str(err)))
    return articles, skipped


def read_article(path: Path, name: str, max_bytes: int = MAX_ARTICLE_BYTES) -> Article:
    try:
        with path.open("rb") as file:
            raw = file.read(max_bytes + 1)
    except OSError as err:
        raise ValueError(f"cannot read it ({err.strerror})") from None
    if len(raw) > max_bytes:
        raise ValueError(
            f"it is over {max_bytes / 1024 / 1024:g} MB, the limit for one article (split it into smaller files)"
        )
    source = decode_text(raw)
    if "\x00" in source:  # no text has one, and PostgreSQL refuses to store it
        raise ValueError("it contains a NUL character, so it is not text (re-save it as UTF-8)")
    if path.suffix.lower() in (".html", ".htm"):
        title, text, date = parse_html(source)
    else:
        text, title, date = source, first_line_title(source), None
    if not text.strip():
        raise ValueError("it is empty")
    return Article(
        name=name,
        title=title or first_line_title(text) or name,
        date=date or find_date(text),
        text=text,
        sha256=hashlib.sha256(raw).hexdigest(),
    )


# Byte-order marks, longest first: a UTF-32 LE mark starts with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_text(raw: bytes) -> str:
    """The text of a file, without its byte-order mark. Windows editors save "Unicode" as UTF-16 with a
    BOM and Notepad adds one to UTF-8: both are text, though UTF-16 is full of zero bytes, so the BOM is
    looked at before the zero-byte test that tells binary files apart."""
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            try:
                return raw.decode(codec)  # these codecs read the mark for the byte order and drop it
            except UnicodeDecodeError:
                label = "UTF-8" if codec == "utf-8-sig" else codec.upper()
                raise ValueError(
                    f"it starts with a {label} byte-order mark but is not valid {label} text "
                    "(re-save it as UTF-8)"
                ) from None
    if b"\x00" in raw[:8192]:
        raise ValueError(
            "it looks binary, not text (UTF-16 text needs a byte-order mark; re-save it as UTF-8)"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("it is not UTF-8 text (re-save it as UTF-8)") from None


# Markdown front matter: "---", lines such as "title: Port strike", "---"
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(?P<fields>.*?)\n---[ \t]*(?:\n|\Z)", re.S)
_TITLE_FIELD = re.compile(r"^title:[ \t]*[\"']?(?P<title>.*?)[\"']?[ \t]*$", re.M | re.I)


def first_line_title(text: str) -> str:
    """The first line, without Markdown's "#"; for Markdown with front matter, its `title:` (or the
    first line after it), not "---"."""
    if front := _FRONT_MATTER.match(text):
        named = _TITLE_FIELD.search(front.group("fields"))
        text = named.group("title") if named and named.group("title") else text[front.end() :]
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return shortened(line.lstrip("#").strip())


def shortened(title: str) -> str:
    """At most TITLE_MAX_CHARS, cut at a word: the title heads every source in the chat and the JSON."""
    if len(title) <= TITLE_MAX_CHARS:
        return title
    return title[:TITLE_MAX_CHARS].rsplit(" ", 1)[0] + "…"


def article_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of an article. Its first line (the title) and the date and byline
    lines right under it end where their line ends, so "Ferry service resumes\n5 March 2026\nBy Jane
    Doe\nThe ferry …" is four sentences, never one quote that starts with a headline or a byline."""
    heads: list[tuple[int, int]] = []
    for number, line in enumerate(re.finditer(r"[^\n]*\S[^\n]*", text)):
        found = find_date(line.group(0))
        dated = found and len(line.group(0).replace(found, "").split()) <= DATE_LINE_EXTRA_WORDS
        if number and not (dated or _BYLINE.match(line.group(0))):
            break
        heads += [(line.start() + s, line.start() + e) for s, e in sentence_spans(line.group(0))]
    body = heads[-1][1] if heads else 0
    return heads + [(body + s, body + e) for s, e in sentence_spans(text[body:])]


def find_date(text: str) -> str | None:
    """The first real date in the text's first 2,000 characters, in whichever format: the dateline
    ("March 5, 2026"), not a date the story mentions later ("first signed on 2019-05-01")."""
    head = text[:2000]
    found = sorted((m.start(), m.group(1)) for pattern, _ in _DATE_FORMATS for m in pattern.finditer(head))
    return next((written for _, written in found if parse_date(written)), None)


def parse_date(found: str | None) -> date | None:
    """The date find_date found, or None: date filters leave out articles without one."""
    if not found:
        return None
    found = found.replace(".", "").replace("Sept ", "Sep ")
    for _, pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(found, pattern).date()
        except ValueError:
            continue
    return None


class _HTMLText(HTMLParser):
    _BLOCKS = {
        "p",
        "div",
        "br",
        "li",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "tr",
        "article",
        "section",
        "header",
    }
    _HIDDEN = {"script", "style", "noscript", "template", "head", "svg"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self.date: str | None = None
        self._hidden = 0
        self._in_title = False
        self._in_head = False
        self._in_svg = 0  # an icon's <svg><title> is no title of the page

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body" and self._in_head:  # HTML5 may leave </head> out
            self.handle_endtag("head")
        if tag == "svg":
            self._in_svg += 1
        if tag == "title":
            self._in_title = not self._in_svg
        elif tag in self._HIDDEN:
            self._in_head = self._in_head or tag == "head"
            self._hidden += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")
        if tag in ("meta", "time"):
            values = dict(attrs)
            key = (values.get("property") or values.get("name") or "").lower()
            stamp = values.get("datetime") or (
                values.get("content") if "date" in key or "time" in key else None
            )
            if stamp and not self.date and (found := find_date(stamp)):
                self.date = found

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._in_svg = max(0, self._in_svg - 1)
        if tag == "title":
            self._in_title = False
        elif tag in self._HIDDEN:
            if tag == "head":
                if not self._in_head:
                    return
                self._in_head = False
            self._hidden = max(0, self._hidden - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._hidden:
            self.parts.append(data)


def parse_html(source: str) -> tuple[str, str, str | None]:
    """Return (title, visible text, date) of an HTML page."""
    parser = _HTMLText()
    parser.feed(source)
    parser.close()
    text = re.sub(r"[ \t]+", " ", "".join(parser.parts))
    text = re.sub(r"\s*\n\s*", "\n\n", text).strip()
    return shortened(" ".join(parser.title.split())), text, parser.date
