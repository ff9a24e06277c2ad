"""`bot doctor`: each check returns (passed, what it found or what to do)."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

from bot.articles import check_corpus
from bot.backends.base import check_backend_name
from bot.backends.embedded import EmbeddedBackend
from bot.backends.ollama import LOGPROBS_SINCE, OllamaBackend, gives_logprobs
from bot.embedding import Embedder, check_embed_model
from bot.errors import BotError
from bot.index import ArticleIndex
from bot.models import EMBEDDED_MODELS
from bot.settings import Settings
from bot.wording import count

FIRST_TOKEN_TIMEOUT = 300.0  # seconds to load the model and write one token, however slow the machine
# Run in a child process: a crash inside llama.cpp ends the process it is in, with no Python error.
FIRST_TOKEN_CODE = "import sys; from bot.doctor import first_token; first_token(sys.argv[1])"
# What to do when llama.cpp, compiled by pip for this CPU (-march=native), crashes on it.
REBUILD = (
    'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install --force-reinstall --no-cache-dir --no-deps '
    "llama-cpp-python=={version}"
)


def run_checks(**overrides: str | None) -> Iterator[tuple[bool, str]]:
    settings = Settings.resolve(**overrides)
    try:
        check_backend_name(settings.backend)
    except BotError as err:
        yield False, str(err)
    ollama = OllamaBackend(settings)
    try:
        version = ollama.version(timeout=2.0)
        since = ".".join(map(str, LOGPROBS_SINCE))
        old = (
            ""
            if gives_logprobs(version)
            else f" (older than {since}: yes/no checks read only the reply word)"
        )
        yield True, f"Ollama {version} answers at {ollama.shown}{old}"
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
        if settings.backend != "ollama":
            yield generation_check(settings.embedded_model)
    except BotError as err:
        yield False, str(err)
    try:
        check_corpus(settings.corpus)
        check_embed_model(settings.embed_model)  # before the index, which it would call out of date
    except BotError as err:
        yield False, str(err)
        return
    from bot.index import legacy_index
    from bot.store import SCHEMA_VERSION, Store

    try:
        store = Store.connect(settings, create=False)
        if store is not None:
            pg, vector = store.server_versions()
            version = store.schema_version()
            schema = (
                f"schema {store.schema} v{version}"
                if version is not None
                else f"no schema {store.schema} yet"
            )
            yield (
                vector is not None and (version is None or version == SCHEMA_VERSION),
                f"database {store.label}: PostgreSQL {pg}, "
                + (f"pgvector {vector}" if vector else "pgvector not installed (CREATE EXTENSION vector)")
                + f", {schema} (this news-bot: v{SCHEMA_VERSION})",
            )
        index = ArticleIndex.open(settings, Embedder(settings.embed_model))
    except BotError as err:
        yield False, str(err)
        return
    if legacy_index(settings.data_dir):
        yield False, f"old JSON index in {settings.data_dir}: bot ingest rebuilds it in PostgreSQL"
    if index is None:
        yield False, f"no index in {settings.data_dir} yet: run bot ingest (bot ask also ingests first)"
        return
    from bot.articles import read_corpus

    found, _ = read_corpus(settings.corpus)
    articles = index.articles
    stale = {a.name: a.sha256 for a in found} != {a.name: a.sha256 for a in articles.values()}
    recorded = index.store.meta().get("corpus")  # a corpus that merely moved is not stale
    if index.store.read_only:  # `bot ingest` would refuse: say so instead of advising it
        fix = " — the data dir is read-only: answers come from a temporary copy of its index" + (
            "; the corpus changed since, and it cannot be updated: make it writable, or pass --data-dir"
            if stale
            else ""
        )
    elif stale and recorded and Path(recorded) != settings.corpus.resolve():
        fix = f" — indexed from {recorded}: pass --corpus {recorded}, or replace it with bot ingest --rebuild"
    else:
        fix = " — out of date: run bot ingest" if stale else ""
    yield (
        not stale,
        f"index for {settings.data_dir}: {count(len(articles), 'article')}, {count(index.passage_count(), 'passage')}{fix}",
    )


def generation_check(model: str) -> tuple[bool, str]:
    """The bundled model writes one token in a child process, where a crash of llama.cpp on this CPU
    (every first generation on CPUs with AMX, until the bot stopped using llama.cpp's AMX kernels) is
    reported with what to do instead of ending `bot doctor` too. The model runtime is never imported
    here: doctor itself stays quick."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", FIRST_TOKEN_CODE, model],
            capture_output=True,
            text=True,
            timeout=FIRST_TOKEN_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return False, (
            f"{model}: no token in {FIRST_TOKEN_TIMEOUT:.0f} s: a slow disk, or too little free memory for the "
            "model (see bot doctor's line for it above)"
        )
    if done.returncode < 0:
        crash = next((s.name for s in signal.Signals if s == -done.returncode), f"signal {-done.returncode}")
        rebuild = REBUILD.format(version=metadata.version("llama-cpp-python"))
        return False, (
            f"{model}: llama.cpp crashed on this CPU ({crash}) at its first token: rebuild it for a "
            f"generic CPU with `{rebuild}`, or use Ollama (--backend ollama)"
        )
    if done.returncode != 0:
        return False, f"{model}: {(done.stderr.strip().splitlines() or ['no token'])[-1]}"
    return True, f"{model}: writes on this CPU ({done.stdout.strip()})"


def first_token(model: str) -> None:
    """The child process of `generation_check`."""
    import time

    start = time.perf_counter()
    try:
        backend = EmbeddedBackend(Settings.resolve(embedded_model=model))
        next(backend.stream_chat([{"role": "user", "content": "Say yes."}], max_tokens=1, num_ctx=512), "")
    except BotError as err:
        sys.exit(str(err))
    print(f"loaded and wrote a token in {time.perf_counter() - start:.1f} s")
