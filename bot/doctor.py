"""`bot doctor`: each check returns (passed, what it found or what to do)."""

from __future__ import annotations

from collections.abc import Iterator

from bot.backends.embedded import EmbeddedBackend
from bot.backends.ollama import OllamaBackend
from bot.embedding import Embedder
from bot.errors import BotError
from bot.index import ArticleIndex
from bot.models import EMBEDDED_MODELS
from bot.settings import Settings


def run_checks(**overrides: str | None) -> Iterator[tuple[bool, str]]:
    settings = Settings.resolve(**overrides)
    ollama = OllamaBackend(settings)
    try:
        version = ollama.version(timeout=2.0)
        yield True, f"Ollama {version} answers at {settings.ollama_host}"
        models = ollama.pulled_models(timeout=5.0)
        ollama.check()
        yield True, f"Ollama has {settings.ollama_model} (pulled: {', '.join(models)})"
    except BotError as err:
        needed = settings.backend == "ollama"
        yield not needed, f"{err}{'' if needed else ' (the bundled model answers meanwhile)'}"
    for name, spec in EMBEDDED_MODELS.items():
        chosen = name == settings.embedded_model
        try:
            spec.locate()
            yield True, f"{name}: {spec.about}{' (selected)' if chosen else ''}"
        except BotError as err:
            yield not chosen, f"{name}: {err}"
    try:
        EmbeddedBackend(settings).check()
    except BotError as err:
        yield False, str(err)
    if not settings.corpus.is_dir():
        yield False, f"corpus folder {settings.corpus} does not exist: pass --corpus DIR"
        return
    try:
        index = ArticleIndex.open(settings, Embedder(settings.embed_model))
    except BotError as err:
        yield False, str(err)
        return
    if index is None:
        yield False, f"no index in {settings.data_dir} yet: run bot ingest (bot ask also ingests first)"
        return
    from bot.articles import read_corpus

    found, _ = read_corpus(settings.corpus)
    stale = {a.name: a.sha256 for a in found} != {a.name: a.sha256 for a in index.articles.values()}
    yield (
        not stale,
        (
            f"index in {settings.data_dir}: {len(index.articles)} articles, {len(index.nodes)} passages"
            + (" — out of date: run bot ingest" if stale else "")
        ),
    )
