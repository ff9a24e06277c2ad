"""The `bot` command line. Every command is a thin shell over `Bot`; errors print as one line."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import click

from bot.errors import BotError


def corpus_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--corpus, --data-dir, --database-url, --backend and --model, the same on every command."""
    from bot.models import EMBEDDED_MODELS

    command = click.option(
        "--model",
        "embedded_model",
        type=click.Choice(list(EMBEDDED_MODELS)),
        default=None,
        help="Bundled model for the embedded backend (env BOT_EMBEDDED_MODEL; default qwen2.5-1.5b).",
    )(command)
    command = click.option(
        "--backend",
        type=click.Choice(["auto", "ollama", "embedded"]),
        default=None,
        help="LLM backend (env BOT_BACKEND; default auto: Ollama if it answers, else the bundled model).",
    )(command)
    command = click.option(
        "--database-url",
        default=None,
        metavar="URL",
        help="postgresql://… of a PostgreSQL with pgvector to keep the index in (env BOT_DATABASE_URL; "
        "default a private PostgreSQL in the data dir).",
    )(command)
    command = click.option(
        "--data-dir",
        type=click.Path(file_okay=False),
        default=None,
        help="Where the index is kept (env BOT_DATA_DIR; default a per-corpus folder in ~/.local/share/news-bot).",
    )(command)
    command = click.option(
        "--corpus",
        type=click.Path(),
        default=None,
        help="Folder of .txt, .md and .html articles (env BOT_CORPUS; default the bundled seeds/).",
    )(command)
    return command


def friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except BotError as err:
            click.echo(f"Error: {err}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            sys.exit(130)

    return wrapper


def _load(corpus: str | None, data_dir: str | None, backend: str | None, **overrides: Any) -> Any:
    from bot.core import Bot

    bot = Bot.load(corpus, data_dir, backend, progress=sys.stderr.isatty(), **overrides)
    for warning in bot.last_sync.warnings:
        click.echo(f"Warning: {warning}", err=True)
    return bot


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="news-bot")
def cli() -> None:
    """Ask questions about a folder of news articles; every answer cites the passage it rests on."""


@cli.command()
@corpus_options
@click.option("--rebuild", is_flag=True, help="Re-embed every article instead of only new or changed ones.")
@friendly_errors
def ingest(
    corpus: str | None,
    data_dir: str | None,
    database_url: str | None,
    backend: str | None,
    embedded_model: str | None,
    rebuild: bool,
) -> None:
    """Index the corpus: embed new or changed articles, drop deleted ones."""
    from bot.embedding import Embedder
    from bot.index import ArticleIndex
    from bot.settings import Settings

    settings = Settings.resolve(
        corpus=corpus,
        data_dir=data_dir,
        database_url=database_url,
        backend=backend,
        embedded_model=embedded_model,
    )
    _, report = ArticleIndex.sync(settings, Embedder(settings.embed_model), rebuild=rebuild, progress=True)
    for warning in report.warnings:
        click.echo(f"Warning: {warning}", err=True)
    click.echo(f"Indexed {settings.corpus} into {settings.data_dir}: {report.summary()}")


@cli.command()
@click.argument("question")
@corpus_options
@click.option("--json", "as_json", is_flag=True, help="Print the whole Answer as JSON.")
@click.option("--lenient", is_flag=True, help="Mark unsupported sentences instead of removing them.")
@click.option(
    "--top-k", type=click.IntRange(1, 20), default=None, help="Passages to retrieve (env BOT_TOP_K)."
)
@friendly_errors
def ask(
    question: str,
    corpus: str | None,
    data_dir: str | None,
    database_url: str | None,
    backend: str | None,
    embedded_model: str | None,
    as_json: bool,
    lenient: bool,
    top_k: int | None,
) -> None:
    """Answer QUESTION from the articles, with cited verbatim quotes."""
    bot = _load(
        corpus,
        data_dir,
        backend,
        embedded_model=embedded_model,
        database_url=database_url,
        grounding="lenient" if lenient else None,
        top_k=top_k,
    )
    answer = bot.ask(question)
    if as_json:
        click.echo(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return
    click.echo(answer.text)
    for c in answer.citations:
        click.echo(f"\n[{c.number}] {c.source} (chars {c.start}-{c.end})\n    “{c.quote}”")
    if answer.refused and answer.passages:
        click.echo("\nNearest passages:")
        for p in answer.passages[:3]:
            click.echo(f"  [{p.number}] {p.source}: {p.text[:160]}…")
    if answer.removed_sentences:
        click.echo(f"\n({len(answer.removed_sentences)} unsupported sentence(s) removed by the verifier.)")
    click.echo(f"\n— {answer.backend} · {answer.model} · {answer.timings['total']:.1f}s", err=True)


@cli.command()
@corpus_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=7860, show_default=True, type=int, help="Port to listen on.")
@friendly_errors
def chat(
    corpus: str | None,
    data_dir: str | None,
    database_url: str | None,
    backend: str | None,
    embedded_model: str | None,
    host: str,
    port: int,
) -> None:
    """Start the chat UI in the browser (Gradio)."""
    from bot.ui import launch

    launch(
        _load(corpus, data_dir, backend, embedded_model=embedded_model, database_url=database_url),
        host=host,
        port=port,
    )


@cli.command()
@corpus_options
@friendly_errors
def doctor(
    corpus: str | None,
    data_dir: str | None,
    database_url: str | None,
    backend: str | None,
    embedded_model: str | None,
) -> None:
    """Check Ollama, the bundled model and the index, and say what to fix."""
    from bot.doctor import run_checks

    ok = True
    for passed, line in run_checks(
        corpus=corpus,
        data_dir=data_dir,
        database_url=database_url,
        backend=backend,
        embedded_model=embedded_model,
    ):
        ok &= passed
        click.echo(f"{'ok  ' if passed else 'FIX '} {line}")
    sys.exit(0 if ok else 1)


@cli.command(name="eval")
@corpus_options
@click.option(
    "--dataset", type=click.Choice(["seed", "rgb"]), default="seed", show_default=True, help="Question set."
)
@click.option(
    "--rgb-path",
    type=click.Path(dir_okay=False),
    default=None,
    help="RGB en_fact.json (not bundled: licence).",
)
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the first N questions.")
@click.option(
    "--split",
    type=click.Choice(["calibrate", "report"]),
    default=None,
    help="Only one half of the seed set (default both; thresholds are calibrated on calibrate).",
)
@click.option(
    "--judge",
    type=click.Choice(["auto", "embedded", "ollama", "none"]),
    default="auto",
    show_default=True,
    help="Who judges faithfulness and relevance: auto = Ollama if it answers, else the bundled model.",
)
@click.option(
    "--jobs", type=click.IntRange(1, 16), default=1, show_default=True, help="Questions in parallel."
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="eval/runs",
    show_default=True,
    help="Where run folders go.",
)
@click.option(
    "--compare",
    "compare_dir",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    help="An earlier run folder to diff against.",
)
@click.option(
    "--min",
    "floors",
    multiple=True,
    metavar="METRIC=VALUE",
    help="Exit non-zero if METRIC falls below VALUE.",
)
@friendly_errors
def eval_command(
    corpus: str | None,
    data_dir: str | None,
    database_url: str | None,
    backend: str | None,
    embedded_model: str | None,
    dataset: str,
    rgb_path: str | None,
    limit: int | None,
    split: str | None,
    judge: str,
    jobs: int,
    out: str,
    compare_dir: str | None,
    floors: tuple[str, ...],
) -> None:
    """Run a grounding eval through Bot.ask and write results.jsonl, summary.json and report.html."""
    from pathlib import Path

    from bot.evaluation import compare, run_eval

    parsed = {}
    for floor in floors:
        name, _, value = floor.partition("=")
        try:
            parsed[name] = float(value)
        except ValueError:
            raise BotError(f"--min takes METRIC=NUMBER, got {floor!r}.") from None
    bot = _load(corpus, data_dir, backend, embedded_model=embedded_model, database_url=database_url)
    run, summary = run_eval(
        bot, dataset, rgb_path=Path(rgb_path) if rgb_path else None, limit=limit, jobs=jobs,
        out_dir=Path(out), judge=judge, split=split,
    )  # fmt: skip
    click.echo(json.dumps(summary, indent=2))
    click.echo(f"Report: {run / 'report.html'}")
    if compare_dir:
        click.echo("\n".join(compare(summary, Path(compare_dir))))
    failed = [
        f"{k} = {summary.get(k)} < {v}" for k, v in parsed.items() if summary.get(k) is None or summary[k] < v
    ]
    if failed:
        raise BotError("below the floor: " + "; ".join(failed))


def main() -> None:
    cli(prog_name="bot")
