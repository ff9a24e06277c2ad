from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import Backend, Bot, Settings, register_backend
from bot.paths import bundled_dir

SEEDS = bundled_dir("seeds")


class ScriptedBackend(Backend):
    """A fake model for fast tests, registered through the same plugin registry as the real ones.

    Answers come from `replies`; the grounder's yes/no checks from `verdicts` (then "yes": a test that
    relies on the model's disagreement scripts it)."""

    name = "scripted"
    model = "scripted-1"

    def __init__(self, settings: Settings) -> None:
        self.replies = ["North Korea has a military of approximately 1.2 million personnel [1]."]
        self.verdicts: list[str] = []
        self.prompts: list[list[dict[str, str]]] = []

    def stream_chat(self, messages: list[dict[str, str]], *, max_tokens: int, num_ctx: int) -> Iterator[str]:
        self.prompts.append(messages)
        if messages[-1]["content"].endswith("yes or no."):
            yield self.verdicts.pop(0) if self.verdicts else "yes"
            return
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        yield from (word + " " for word in reply.split(" "))


register_backend("scripted", ScriptedBackend)


@pytest.fixture(scope="session", autouse=True)
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One embedded PostgreSQL for the whole session, shared through BOT_DATABASE_URL (subprocesses
    inherit it); each data dir gets its own schema in it. Tests of the embedded default unset it."""
    from bot.store import embedded_url

    url = os.environ.get("BOT_DATABASE_URL") or embedded_url(tmp_path_factory.mktemp("postgres"))
    previous = os.environ.get("BOT_DATABASE_URL")
    os.environ["BOT_DATABASE_URL"] = url
    yield url
    if previous is None:
        os.environ.pop("BOT_DATABASE_URL", None)


@pytest.fixture(scope="session")
def seed_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("seed-index")


@pytest.fixture(scope="session")
def embedded_bot(seed_data_dir: Path) -> Bot:
    """The real thing: the bundled default model on llama.cpp and the bundled MiniLM embedder, over seeds/."""
    return Bot.load(corpus=SEEDS, data_dir=seed_data_dir, backend="embedded")


@pytest.fixture()
def scripted_bot(embedded_bot: Bot, seed_data_dir: Path) -> Iterator[Bot]:
    """The seed index and real embedder with the scripted model: fast, deterministic drafts."""
    bot = Bot(
        embedded_bot.settings,
        embedded_bot.embedder,
        embedded_bot.index,
        ScriptedBackend(embedded_bot.settings),
    )
    yield bot


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    """A private copy of the seed corpus that a test may change."""
    target = tmp_path / "corpus"
    shutil.copytree(SEEDS, target)
    return target
