"""Checking a question and its conversation before anything expensive happens.

`Bot.stream` and the CLI call the same functions, so every interface refuses the same input with the same
message, and the CLI can refuse it before it loads a model or opens the index (a bad question should cost
milliseconds, not the ten seconds of start-up). This module imports nothing heavier than the standard
library, for that reason.

What is refused, each with a BotError saying what to fix: non-text, empty or over-long questions; text
that cannot be encoded (lone surrogates, which is also what undecodable bytes on a command line become);
NUL and other control characters; conversation histories of the wrong shape. What is normalised: runs of
whitespace become one space, and the text is put in Unicode NFC form. An output file that cannot be
written is refused here too, before the run whose results it would hold.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path

from bot.errors import BotError

MAX_QUESTION_CHARS = 1000
# The conversation that goes with a follow-up question is cut to about this many tokens, dropping the
# oldest turns first, so a long chat (or one huge pasted turn) can never overflow the model's context.
MAX_HISTORY_TOKENS = 1000
CHARS_PER_TOKEN = 4  # a rough, model-independent estimate; close enough for a budget
TOKENS_PER_TURN = 4  # the role label and separators around each turn in the prompt
ROLES = ("user", "assistant")
# A byte that is not UTF-8 reaches Python as a lone surrogate in this range (PEP 383, surrogateescape).
_ESCAPED_BYTES = range(0xDC80, 0xDD00)

Turn = dict[str, str]


def check_text(text: str, what: str) -> str:
    """`text` in NFC form, or a BotError naming the first character that cannot be used and where."""
    for position, char in enumerate(text):
        code = ord(char)
        if 0xD800 <= code <= 0xDFFF:
            if code in _ESCAPED_BYTES:
                raise BotError(
                    f"The {what} is not valid UTF-8 text (byte 0x{code - 0xDC00:02X} at character {position + 1}). "
                    "Set your terminal to UTF-8, or re-type it."
                )
            raise BotError(
                f"The {what} contains an invalid character (a lone surrogate, U+{code:04X}, at character "
                f"{position + 1}). Send plain text."
            )
        if unicodedata.category(char) == "Cc" and not char.isspace():
            name = "NUL" if code == 0 else f"U+{code:04X}"
            raise BotError(
                f"The {what} contains a control character ({name} at character {position + 1}). "
                "Remove it and send plain text."
            )
    return unicodedata.normalize("NFC", text)


def validate_question(question: object, max_chars: int = MAX_QUESTION_CHARS) -> str:
    """The question with whitespace collapsed, or a BotError saying what to change."""
    if not isinstance(question, str):
        raise BotError(f"The question must be text, not {type(question).__name__}.")
    question = " ".join(check_text(question, "question").split())
    if not question:
        raise BotError("The question is empty: type a question about the articles.")
    if len(question) > max_chars:
        raise BotError(
            f"The question is {len(question)} characters long; the limit is {max_chars}. Ask something shorter."
        )
    return question


def turn_text(content: object, where: str = "History") -> str:
    """A turn's text: a string, or a list of text parts as Gradio and OpenAI-style clients send them."""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence) and not isinstance(content, bytes | bytearray):
        parts: list[str] = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            else:
                raise BotError(f"{where}: content parts must be text, got {type(part).__name__}.")
        return "\n".join(parts)
    raise BotError(f"{where}: content must be text, got {type(content).__name__}.")


_HISTORY_SHAPE = (
    "history must be a list of {'role': 'user' or 'assistant', 'content': text} messages "
    "or of (question, answer) pairs"
)


def validate_history(history: object) -> list[Turn]:
    """The conversation as `{"role", "content"}` turns (empty ones dropped), or a BotError on a wrong shape."""
    if history is None:
        return []
    if isinstance(history, str | bytes | bytearray | Mapping) or not isinstance(history, Sequence):
        raise BotError(f"The {_HISTORY_SHAPE}; got {type(history).__name__}.")
    turns: list[Turn] = []
    for number, item in enumerate(history, 1):
        where = f"History item {number}"
        if isinstance(item, Mapping):
            role = item.get("role")
            if role not in ROLES:
                raise BotError(f"{where}: role must be 'user' or 'assistant', got {role!r}.")
            pairs = [(str(role), turn_text(item.get("content"), where))]
        elif isinstance(item, Sequence) and not isinstance(item, str | bytes | bytearray) and len(item) == 2:
            user, assistant = item
            if not isinstance(user, str) or not (assistant is None or isinstance(assistant, str)):
                raise BotError(f"{where}: a (question, answer) pair must hold text.")
            pairs = [("user", user), ("assistant", assistant or "")]
        else:
            raise BotError(f"{where}: the {_HISTORY_SHAPE}.")
        for role, text in pairs:
            text = " ".join(check_text(text, f"history ({where.lower()})").split())
            if text:
                turns.append({"role": role, "content": text})
    return turns


def estimate_tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


def bound_history(turns: list[Turn], max_tokens: int = MAX_HISTORY_TOKENS) -> list[Turn]:
    """The newest turns that fit in `max_tokens` (estimated), oldest dropped first, order kept."""
    kept: list[Turn] = []
    used = 0
    for turn in reversed(turns):
        used += estimate_tokens(turn["content"]) + TOKENS_PER_TURN
        if used > max_tokens:
            break
        kept.append(turn)
    kept.reverse()
    return kept


def validate_input(
    question: object,
    history: object = None,
    *,
    max_question_chars: int = MAX_QUESTION_CHARS,
    max_history_tokens: int = MAX_HISTORY_TOKENS,
) -> tuple[str, list[Turn]]:
    """The one check every interface runs: the normalised question and the bounded conversation."""
    return (
        validate_question(question, max_question_chars),
        bound_history(validate_history(history), max_history_tokens),
    )


def check_output(path: Path, option: str) -> None:
    """Refuse an output path that cannot be written (a folder, a path under a file, no permission) before
    the work whose results it would hold; a missing parent folder is fine, it is created."""
    if path.is_dir():
        raise BotError(f"{option} {path} is a folder: give a file name.")
    existing = next(p for p in (path.absolute(), *path.absolute().parents) if p.exists())
    if existing != path.absolute() and not existing.is_dir():
        raise BotError(f"{option} {path} cannot be created: {existing} is a file, not a folder.")
    if not os.access(existing, os.W_OK):
        raise BotError(f"{option} {path} cannot be written (no permission): choose another path.")
