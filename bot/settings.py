"""One typed settings object: explicit argument, then environment variable, then default."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from bot.errors import BotError
from bot.models import DEFAULT_EMBEDDED_MODEL, embedded_model
from bot.paths import bundled_dir

GroundingMode = Literal["strict", "lenient"]

BUNDLED_EMBED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def default_data_dir(corpus: Path) -> Path:
    """A per-corpus folder in the user's data dir, so indexing never writes next to someone's articles."""
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "news-bot"
    digest = hashlib.sha256(str(corpus.resolve()).encode()).hexdigest()[:10]
    return base / f"{corpus.resolve().name}-{digest}"


def normalize_host(host: str) -> str:
    """Accept what OLLAMA_HOST accepts (`localhost`, `0.0.0.0:11434`, a URL) and return a base URL."""
    host = host.strip().rstrip("/")
    if "://" not in host:
        host = "http://" + host
    scheme, rest = host.split("://", 1)
    hostport = rest.split("/", 1)[0]
    if scheme == "http" and ":" not in hostport.rsplit("]", 1)[-1]:
        rest = rest.replace(hostport, hostport + ":11434", 1)
    if rest.startswith("0.0.0.0"):
        rest = "127.0.0.1" + rest[len("0.0.0.0") :]
    return f"{scheme}://{rest}"


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
    max_question_chars: int = 1000
    chunk_size: int = 160
    chunk_overlap: int = 40
    # Calibrated on the calibration half of eval/ by eval/calibrate.py; see eval/README.md.
    support_threshold: float = 0.54
    topic_threshold: float = 0.37
    # None: a private PostgreSQL in <data_dir>/pg (bot/store.py); else any PostgreSQL with pgvector.
    database_url: str | None = None
    # The index's Postgres schema; None: `news_bot` embedded, one per data dir in a shared server.
    database_schema: str | None = None

    @classmethod
    def resolve(cls, **overrides: Any) -> Settings:
        """Build settings from keyword arguments (None means "not given"), then BOT_* env vars, then defaults."""
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = overrides.get(f.name)
            if value is None and f.name in _ENV:
                value = os.environ.get(_ENV[f.name]) or None
            if value is not None:
                values[f.name] = _coerce(f.name, value, f.type)
        corpus = Path(values.pop("corpus", bundled_dir("seeds"))).expanduser()
        data_dir = values.pop("data_dir", None)
        data_dir = Path(data_dir).expanduser() if data_dir else default_data_dir(corpus)
        if "ollama_host" in values:
            values["ollama_host"] = normalize_host(values["ollama_host"])
        return cls(corpus=corpus, data_dir=data_dir, **values)


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    text = str(annotation)
    try:
        if text == "int":
            return int(value)
        if text == "float":
            return float(value)
    except ValueError:
        raise BotError(f"Setting {name} must be a number, got {value!r}.") from None
    if name == "embedded_model":
        embedded_model(value)  # raises with the list of names
    if name == "grounding" and value not in ("strict", "lenient"):
        raise BotError(f"Unknown grounding mode {value!r}: use strict or lenient.")
    if name == "database_url" and not re.match(r"postgres(?:ql)?://", str(value)):
        raise BotError(
            "BOT_DATABASE_URL (--database-url) must be a postgresql://USER:PASSWORD@HOST:PORT/DBNAME URL; "
            "leave it unset for the embedded PostgreSQL in the data dir."
        )
    if name == "database_schema" and not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", str(value)):
        raise BotError(
            f"BOT_DATABASE_SCHEMA must be a lower-case Postgres name (letters, digits, _), got {value!r}."
        )
    return value
