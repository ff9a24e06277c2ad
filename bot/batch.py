"""Many questions through one loaded bot: the items of `Bot.ask_many` and of `bot ask --file`.

Loading the embedder, the index and the model is most of the cost of a single `bot ask`; a batch pays it
once. A bad item (malformed JSON, no question, a broken history, a question the bot rejects) becomes an
error record in its place, so one bad line never stops a long run and the output lines up with the input.
The JSON shape of every record is bot/schemas/answer.schema.json.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from tqdm import tqdm

from bot.answer import Answer
from bot.errors import BotError
from bot.validation import validate_history
from bot.wording import count

if TYPE_CHECKING:
    from bot.core import Bot

SCHEMA_PATH = Path(__file__).parent / "schemas" / "answer.schema.json"
# "questions.json" written one object a line is JSON Lines too
JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")

ItemId = str | int
STDIO = "-"  # as a question file, standard input; as the answers file, standard output


@dataclass(frozen=True)
class BatchItem:
    """One question to ask, or, when `error` is set, why it cannot be asked."""

    id: ItemId
    question: str | None = None
    history: list[Any] | None = None
    error: str | None = None
    numbered: bool = False  # the id is the item's line number or place, none being given


@dataclass(frozen=True)
class BatchResult:
    """The answer to one batch item, or the error that took its place."""

    id: ItemId
    question: str | None
    answer: Answer | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """`Answer.to_dict()` plus `id`, or `{id, question, error}`: one JSON Lines record."""
        if self.answer is not None:
            return {"id": self.id, **self.answer.to_dict()}
        return {"id": self.id, "question": self.question, "error": self.error}


def to_item(raw: object, position: int) -> BatchItem:
    """A question string or an object `{question, history?, id?}` (other keys are ignored, so an eval file
    works as input); anything else becomes an error item. `position` (1-based) is the id when none is given."""
    if isinstance(raw, BatchItem):
        return raw
    if isinstance(raw, str):
        return BatchItem(position, raw, numbered=True)
    if not isinstance(raw, Mapping):
        return BatchItem(
            position, error=f"expected a question or an object with a question, got {_kind(raw)}"
        )
    item_id = raw.get("id", position)
    if isinstance(item_id, bool) or not isinstance(item_id, str | int):
        return BatchItem(position, error=f'"id" must be a string or a whole number, got {_kind(item_id)}')
    question = raw.get("question")
    if not isinstance(question, str):
        return BatchItem(item_id, error=f'"question" must be text, got {_kind(question)}')
    history = raw.get("history")
    try:
        validate_history(history)  # the shapes `Bot.ask` takes, (question, answer) pairs included
    except BotError as err:
        return BatchItem(item_id, question, error=f'"history": {err}')
    return BatchItem(item_id, question, history or None, numbered="id" not in raw)


def to_items(questions: Iterable[object] | str) -> Iterator[BatchItem]:
    """`to_item` for each of `questions`, lazily; an item whose id an earlier item took becomes an error
    item, since its answer could not be told apart from the earlier one's in the output. A lone question
    (a string or an object) is one item, not one per character or key."""
    if isinstance(questions, str | Mapping):
        questions = [questions]
    seen: set[ItemId] = set()
    for position, raw in enumerate(questions, 1):
        item = to_item(raw, position)
        if item.id in seen and item.error is None:
            whose = " (its number in the input)" if item.numbered else ""
            why = f'"id" {json.dumps(item.id)}{whose} is taken by an earlier question: give each question its own "id"'
            item = BatchItem(item.id, item.question, error=why)
        seen.add(item.id)
        yield item


def read_items(path: Path | None) -> list[BatchItem]:
    """The items of a question file: a JSON Lines file (JSONL_SUFFIXES) holds one JSON object per line,
    any other file one question per line; None is standard input, JSON Lines if it starts with `{`.
    Blank lines are skipped; an item's id defaults to its line number."""
    if path is not None and not path.is_file():
        raise BotError(
            f"Question file not found: {path}. Give a .txt file (one question per line) or a .jsonl file."
        )
    try:
        lines = split_lines(sys.stdin.buffer.read().decode("utf-8-sig")) if path is None else read_lines(path)
    except UnicodeDecodeError:
        raise BotError(f"{path or 'Standard input'} is not UTF-8 text: save it as UTF-8.") from None
    if path is None:
        objects = next((line for line in lines if line.strip()), "").lstrip().startswith("{")
    else:
        objects = path.suffix.lower() in JSONL_SUFFIXES
    items = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if not objects:
            items.append(BatchItem(number, line.strip(), numbered=True))
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as err:
            items.append(BatchItem(number, error=f"line {number} is not valid JSON ({err.msg})"))
            continue
        items.append(to_item(raw, number))
    if not items:
        shape = "one JSON object per line" if objects else "one question per line"
        raise BotError(f"{path or 'Standard input'} holds no questions: write {shape}.")
    return items


def read_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file (a BOM, Notepad's, is no text)."""
    return split_lines(path.read_text(encoding="utf-8-sig"))


def split_lines(text: str) -> list[str]:
    """Only a line feed ends a line (a CR before it goes too): JSON written with ensure_ascii=False may
    hold U+2028 or U+0085 inside a string, which `str.splitlines` splits at."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def answer_file(bot: Bot, items: list[BatchItem], out: Path | None, **options: Any) -> tuple[str, int]:
    """Answer `items` with `bot.ask_many` (`options`, such as the date filters, go to every question),
    writing each record as a JSON line as soon as it is ready (to `out`, else stdout) with a progress
    bar on stderr; returns a one-line tally for stderr and the number of error records."""
    tally = {"answered": 0, "refused": 0, "errors": 0}
    bot.check_filters(**options)  # a bad --source is one error, and an existing output file is kept
    with (
        _output(out) as lines,
        tqdm(total=len(items), desc="Answering", unit="question", file=sys.stderr) as bar,
    ):
        for result in bot.ask_many(items, **options):
            try:
                lines.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
                lines.flush()
            except OSError as err:
                raise _unwritable(out, err) from None
            kind = "errors" if result.answer is None else "refused" if result.answer.refused else "answered"
            tally[kind] += 1
            bar.update()
    where = f" to {out}" if out else ""
    tallied = f"{tally['answered']} answered, {tally['refused']} refused, {count(tally['errors'], 'error')}"
    return f"{count(len(items), 'question')}{where}: {tallied}.", tally["errors"]


@contextlib.contextmanager
def _output(out: Path | None) -> Iterator[TextIO]:
    if out is None:
        yield sys.stdout
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        file = open(out, "w", encoding="utf-8")  # noqa: SIM115 (closed below)
    except OSError as err:
        raise _unwritable(out, err) from None
    try:
        yield file
    except BaseException:
        # A write that failed (and said so) left its record to flush: closing would fail on it again, in
        # place of that one-line error.
        with contextlib.suppress(OSError):
            file.close()
        raise
    try:
        file.close()  # some file systems (NFS, quotas) report a full disk only now
    except OSError as err:
        raise _unwritable(out, err) from None


def _unwritable(out: Path | None, err: OSError) -> BotError:
    where = out or "standard output"
    return BotError(
        f"Cannot write the answers to {where} ({err.strerror or err}): give --jsonl-out a file you can write."
    )


_JSON_KINDS = {
    bool: "true/false",
    int: "a number",
    float: "a number",
    str: "text",
    list: "a list",
    dict: "an object",
}


def _kind(value: object) -> str:
    """What a JSON value is, in the user's terms (an error message names what was found)."""
    return "nothing" if value is None else _JSON_KINDS.get(type(value), type(value).__name__)
