"""One typed settings object: explicit argument, then environment variable, then default."""

from __future__ import annotations

import difflib
import hashlib
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from bot.errors import BotError
from bot.models import DEFAULT_EMBEDDED_MODEL, embedded_model
from bot.paths import bundled_dir
from bot.validation import MAX_HISTORY_TOKENS, MAX_QUESTION_CHARS

GroundingMode = Literal["strict", "lenient"]

BUNDLED_EMBED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


OLLAMA_PORT = 11434


def default_data_dir(corpus: Path) -> Path:
    """A per-corpus folder in the user's data dir, so indexing never writes next to someone's articles."""
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "news-bot"
    digest = hashlib.sha256(str(corpus.resolve()).encode()).hexdigest()[:10]
    return base / f"{corpus.resolve().name}-{digest}"


def normalize_host(host: str) -> str:
    """OLLAMA_HOST read as Ollama and its Python client read it, as a base URL: no scheme means http on
    port 11434, `http://` or `https://` without a port means 80 or 443 (a proxy), and no host or a
    listen-everywhere address (0.0.0.0, ::) means this machine. What cannot be read is returned as given,
    for the validator to name."""
    host = host.strip()
    explicit = "://" in host
    url = host if explicit else f"http://{host}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    name = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(parts.hostname or "", parts.hostname or "")
    if not name:
        if explicit:
            return url  # "http://" alone names no host
        name = "127.0.0.1"
    default = {"http": 80, "https": 443}.get(parts.scheme, OLLAMA_PORT) if explicit else OLLAMA_PORT
    login = parts.netloc.rpartition("@")[0]
    netloc = f"{login}@" * bool(login) + (f"[{name}]" if ":" in name else name) + f":{port or default}"
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


# field name -> environment variable
_ENV = {
    "corpus": "BOT_CORPUS",
    "data_dir": "BOT_DATA_DIR",
    "backend": "BOT_BACKEND",
    "ollama_host": "OLLAMA_HOST",
    "ollama_model": "BOT_OLLAMA_MODEL",
    "grounding": "BOT_GROUNDING",
    "top_k": "BOT_TOP_K",
    "ttft_timeout": "BOT_TTFT_TIMEOUT",
    "total_timeout": "BOT_TIMEOUT",
    "keep_alive": "BOT_KEEP_ALIVE",
    "embed_model": "BOT_EMBED_MODEL",
    "max_answer_tokens": "BOT_MAX_ANSWER_TOKENS",
    "embedded_model": "BOT_EMBEDDED_MODEL",
    "database_url": "BOT_DATABASE_URL",
    "database_schema": "BOT_DATABASE_SCHEMA",
    "auth": "BOT_AUTH",
}


@dataclass(frozen=True)
class Settings:
    corpus: Path
    data_dir: Path
    backend: str = "auto"  # auto, ollama, embedded, or a registered plugin
    embedded_model: str = DEFAULT_EMBEDDED_MODEL
    ollama_host: str = "http://127.0.0.1:11434"
    ollama_model: str = "qwen2.5:7b"
    grounding: GroundingMode = "strict"
    top_k: int = 4
    ttft_timeout: float = 60.0
    total_timeout: float = 300.0
    keep_alive: str = "10m"
    embed_model: str = BUNDLED_EMBED_MODEL
    max_answer_tokens: int = 200
    max_question_chars: int = MAX_QUESTION_CHARS
    max_history_tokens: int = MAX_HISTORY_TOKENS  # conversation sent with a follow-up; oldest turns go first
    chunk_size: int = 160
    chunk_overlap: int = 40
    # Calibrated on the calibration half of eval/ by eval/calibrate.py; see eval/README.md.
    support_threshold: float = 0.54
    topic_threshold: float = 0.37
    # How sure the model must be of "yes" in the grounder's yes/no checks (bot/grounding.py).
    yes_threshold: float = 0.5
    # None: a private PostgreSQL in <data_dir>/pg (bot/store.py); else any PostgreSQL with pgvector.
    database_url: str | None = None
    # The index's Postgres schema; None: `news_bot` embedded, one per data dir in a shared server.
    database_schema: str | None = None
    # USER:PASSWORD the chat UI asks for (`bot chat --auth`); None: no login. Kept out of repr and errors.
    auth: str | None = field(default=None, repr=False)

    @classmethod
    def resolve(cls, **overrides: Any) -> Settings:
        """Build settings from keyword arguments (None means "not given"), then BOT_* env vars, then defaults."""
        names = [f.name for f in fields(cls)]
        if unknown := sorted(set(overrides) - set(names)):
            # A programming error, so a TypeError as for any unknown keyword; it names the right one.
            hints = {n: difflib.get_close_matches(n, names, n=3, cutoff=0.5) for n in unknown}
            raise TypeError(
                "unknown settings: "
                + ", ".join(f"{n} (did you mean {' or '.join(h)}?)" if h else n for n, h in hints.items())
                + f"; the settings are {', '.join(names)}"
            )
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = overrides.get(f.name)
            if value is None and f.name in _ENV:
                value = os.environ.get(_ENV[f.name]) or None
            if f.name in ("corpus", "data_dir") and isinstance(value, str) and not value.strip():
                # Path("") is the current folder: `--corpus ""` would index wherever the command runs
                raise BotError(f"{setting_label(f.name)} is empty: give a folder, or leave it out.")
            if value is not None:
                values[f.name] = _coerce(f.name, value, f.type)
        corpus = Path(values.pop("corpus", bundled_dir("seeds"))).expanduser()
        data_dir = values.pop("data_dir", None)
        data_dir = Path(data_dir).expanduser() if data_dir else default_data_dir(corpus)
        if "ollama_host" in values:
            values["ollama_host"] = normalize_host(values["ollama_host"])
        return cls(corpus=corpus, data_dir=data_dir, **values)

    def __post_init__(self) -> None:
        """Refuse a value that would fail later, far from its cause (a top-k of 0 retrieving nothing, a
        timeout of 0 failing every answer), with a message naming the variable to fix."""
        for name, (valid, expected) in _RULES.items():
            value = getattr(self, name)
            if not valid(value):
                raise BotError(f"{setting_label(name)} must be {expected}, got {value!r}.")
        if self.auth is not None:
            user, colon, password = self.auth.partition(":")
            if not (colon and user.strip() and password):
                # The value is not echoed: without its colon it may well be the password alone.
                raise BotError(
                    "BOT_AUTH (--auth) must be USER:PASSWORD, a user name and a password "
                    "separated by a colon."
                )
        if self.chunk_overlap >= self.chunk_size:
            raise BotError(
                f"Setting chunk_overlap ({self.chunk_overlap}) must be smaller than chunk_size ({self.chunk_size})."
            )
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise BotError(
                f"{setting_label('data_dir')} {self.data_dir} is a file, not a folder: "
                "pass --data-dir with a folder for the index."
            )

    def auth_pair(self) -> tuple[str, str] | None:
        """(user, password) for Gradio's launch(auth=...); the password may itself contain colons."""
        if self.auth is None:
            return None
        user, _, password = self.auth.partition(":")
        return user, password


def setting_label(name: str) -> str:
    """How a user sets `name`: its environment variable, or the Python keyword when it has none."""
    return f"{_ENV[name]} ({name})" if name in _ENV else f"Setting {name}"


MAX_TOP_K = 20  # as `bot ask --top-k` allows
# Schemas an index must not take: PostgreSQL's own (a rebuild drops its index's schema whole) and the
# "<name>_rebuild" staging copy that a rebuild of another index fills and drops.
RESERVED_SCHEMAS = r"public|information_schema|pg_\w*|\w*_rebuild"
MAX_ANSWER_TOKENS = 4096  # the embedded backend's whole context window
# Ollama's keep_alive: a Go duration ("10m", "1h30m", "-1m") or a number of seconds ("300", "-1").
_DURATION = re.compile(r"-?(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+|-?\d+")


def _between(low: float, high: float) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int | float) and math.isfinite(v) and low <= v <= high


def _ollama_url(value: Any) -> bool:
    try:
        parts = urlsplit(str(value))
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number or out of range
        return (
            parts.scheme in ("http", "https")
            and bool(parts.hostname)
            and not any(c.isspace() for c in str(value))
        )
    except ValueError:
        return False


# field -> (is the value valid, what it must be): checked by Settings.__post_init__
_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "top_k": (_between(1, MAX_TOP_K), f"a whole number from 1 to {MAX_TOP_K}"),
    "max_answer_tokens": (_between(1, MAX_ANSWER_TOKENS), f"a whole number from 1 to {MAX_ANSWER_TOKENS}"),
    "ttft_timeout": (_between(0.001, 86_400), "a number of seconds above 0 (and at most a day)"),
    "total_timeout": (_between(0.001, 86_400), "a number of seconds above 0 (and at most a day)"),
    "max_question_chars": (_between(1, 1_000_000), "a whole number above 0"),
    "max_history_tokens": (_between(0, 1_000_000), "a whole number, 0 or more"),
    "chunk_size": (_between(16, 100_000), "a whole number of tokens from 16"),
    "chunk_overlap": (_between(0, 100_000), "a whole number, 0 or more"),
    "support_threshold": (_between(0, 1), "a number from 0 to 1"),
    "topic_threshold": (_between(0, 1), "a number from 0 to 1"),
    "yes_threshold": (_between(0, 1), "a number from 0 to 1"),
    "keep_alive": (lambda v: bool(_DURATION.fullmatch(str(v))), 'a duration such as "10m", "1h" or "-1"'),
    "ollama_host": (_ollama_url, "a host, host:port or http(s)://host:port URL"),
    "ollama_model": (lambda v: bool(str(v).strip()), "a model name such as qwen2.5:7b"),
    "backend": (lambda v: bool(re.fullmatch(r"[A-Za-z0-9_.-]+", str(v))), "auto or a backend name"),
}


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    text = str(annotation)
    try:
        if text == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError  # int() would cut 2.9 to 2
            return int(value)
        if text == "float":
            return float(value)
    except (ValueError, TypeError):
        kind = "whole number" if text == "int" else "number"
        raise BotError(f"{setting_label(name)} must be a {kind}, got {value!r}.") from None
    if name == "embedded_model":
        embedded_model(value)  # raises with the list of names
    if name == "grounding" and value not in ("strict", "lenient"):
        raise BotError(f"{setting_label(name)} must be strict or lenient, got {value!r}.")
    if name == "database_url" and not re.match(r"postgres(?:ql)?://", str(value)):
        raise BotError(
            "BOT_DATABASE_URL (--database-url) must be a postgresql://USER:PASSWORD@HOST:PORT/DBNAME URL; "
            "leave it unset for the embedded PostgreSQL in the data dir."
        )
    if name == "database_schema" and not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", str(value)):
        raise BotError(
            f"BOT_DATABASE_SCHEMA must be a lower-case Postgres name (letters, digits, _), got {value!r}."
        )
    if name == "database_schema" and re.fullmatch(RESERVED_SCHEMAS, str(value)):
        raise BotError(
            f"BOT_DATABASE_SCHEMA {value!r} is taken by PostgreSQL or by a rebuild's staging copy: "
            "choose a name of its own, such as news_bot_archive."
        )
    return value
