"""Commands that need no model must not load one: `bot --help`, a rejected question, `bot doctor`.

Checked on the real command in a subprocess through `python -X importtime`, which names every module the
process imported; how fast that is gets measured by eval/benchmark.py, not asserted here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.embedding import Embedder
from bot.index import ArticleIndex
from bot.paths import bundled_dir
from bot.settings import BUNDLED_EMBED_MODEL, Settings

ROOT = Path(__file__).resolve().parents[1]
MODEL_RUNTIMES = {"llama_cpp", "onnxruntime", "tokenizers", "torch", "transformers", "sentence_transformers"}
# Not models, but seconds of import that a command which only prints has no use for.
FRAMEWORKS = {"llama_index.core", "gradio", "psycopg", "numpy"}


def imported_by(
    *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bot", *args],
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    modules = {
        line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")
    }
    assert "bot.cli" in modules, done.stderr[-2000:]  # the report is there, so an absence means something
    return done, modules


def test_help_loads_nothing_heavy() -> None:
    done, modules = imported_by("--help")
    assert done.returncode == 0 and "Usage: bot" in done.stdout
    assert not modules & (MODEL_RUNTIMES | FRAMEWORKS)


def test_an_empty_question_is_refused_before_anything_loads() -> None:
    done, modules = imported_by("ask", "")
    assert done.returncode == 1
    assert [line for line in done.stderr.splitlines() if not line.startswith("import time:")] == [
        "Error: The question is empty: type a question about the articles."
    ]
    assert not modules & (MODEL_RUNTIMES | FRAMEWORKS)


@pytest.fixture(scope="module")
def seed_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("startup") / "data"
    ArticleIndex.sync(
        Settings.resolve(corpus=bundled_dir("seeds"), data_dir=data_dir), Embedder(BUNDLED_EMBED_MODEL)
    )
    return data_dir


def test_doctor_checks_an_index_without_loading_a_model(seed_index: Path) -> None:
    done, modules = imported_by(
        "doctor",
        "--corpus",
        str(bundled_dir("seeds")),
        "--data-dir",
        str(seed_index),
        "--backend",
        "embedded",
    )
    assert "index for" in done.stdout and "2 articles" in done.stdout, done.stdout + done.stderr[-2000:]
    assert not modules & MODEL_RUNTIMES
