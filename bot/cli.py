"""The `bot` command line. Every command is a thin shell over `Bot`; errors print as one line."""

from __future__ import annotations

import atexit
import contextlib
import difflib
import errno
import functools
import json
import os
import shlex
import signal
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

from bot import wording
from bot.errors import BotError


class BackendChoice(click.Choice):  # type: ignore[type-arg]
    """`auto` and every backend in the plugin registry (entry points and `register_backend`), read when
    the option is parsed or shown, so a plugin registered after this module is imported is accepted too."""

    def __init__(self) -> None:
        super().__init__(["auto"])

    @property  # type: ignore[override]
    def choices(self) -> tuple[str, ...]:
        from bot.backends import backend_names

        return ("auto", *backend_names())

    @choices.setter
    def choices(self, value: Any) -> None:
        """click.Choice assigns its list once; the registry is the list here."""


CORPUS_OPTIONS = ("corpus", "data_dir", "database_url", "backend", "embedded_model")  # their parameters


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
        type=BackendChoice(),
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


FULL_OR_CLOSED = (errno.ENOSPC, errno.EDQUOT, errno.EPIPE)  # writing output, not a bug


def friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except BotError as err:
            click.echo(f"Error: {err}", err=True)
            sys.exit(1)
        except OSError as err:
            if err.errno not in FULL_OR_CLOSED:
                raise
            # Standard output (or a results file) cannot take more: say so once, and let nothing else try
            # stdout, or the flush at exit fails again with a traceback of its own.
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            why = (
                "the reader of the output stopped reading"
                if err.errno == errno.EPIPE
                else "free some space, or write elsewhere"
            )
            click.echo(f"Error: cannot write the output ({err.strerror}): {why}.", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            interrupted()

    return wrapper


def interrupted() -> NoReturn:
    """How every command ends on Ctrl-C or SIGTERM: exit code 130, after the atexit hooks (pgserver stops
    its PostgreSQL) but without finalizing the interpreter. The thread that pumps the model's stream
    (backends.with_deadlines) may still be inside llama.cpp: the C++ static destructors a normal exit runs
    free what it is computing with, and the process ended with a segmentation fault instead (13 of 22
    interrupted runs)."""
    click.echo("Interrupted.", err=True)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe must not stop the exit
            stream.flush()
    atexit._run_exitfuncs()  # undocumented, but what a normal exit runs first
    os._exit(130)


def empty_corpus_message(corpus: Any, then: str = "run `bot ingest` again") -> str:
    """What to do when nothing was indexed. An empty folder is not an error (exit code 0: a new archive
    starts empty, and uploads in the chat UI fill it), but a silent "0 added" looks like success when the
    user passed the wrong folder or files of an unsupported type."""
    return (
        f"no articles found in {corpus}; add .txt, .md or .html files (UTF-8, or UTF-16 with a byte-order "
        f"mark) and {then}."
    )


def _load(corpus: str | None, data_dir: str | None, backend: str | None, **overrides: Any) -> Any:
    from bot.core import Bot

    bot = Bot.load(corpus, data_dir, backend, progress=sys.stderr.isatty(), **overrides)
    for warning in bot.last_sync.messages:
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
    index, report = ArticleIndex.sync(
        settings, Embedder(settings.embed_model), rebuild=rebuild, progress=True
    )
    for warning in report.messages:
        click.echo(f"Warning: {warning}", err=True)
    if not index.articles:
        click.echo(f"Warning: {empty_corpus_message(settings.corpus)}", err=True)
    click.echo(f"Indexed {settings.corpus} into {settings.data_dir}: {report.summary()}")


@cli.command()
@click.argument("question", required=False)
@corpus_options
@click.option("--json", "as_json", is_flag=True, help="Print the whole Answer as JSON.")
@click.option(
    "--file",
    "questions_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Answer every question in a file instead (- reads stdin): .txt (one per line) or .jsonl ({question, "
    "history?, id?} per line). Prints JSON Lines in input order; a bad line becomes an error record (exit code 1).",
)
@click.option(
    "--jsonl-out",
    type=click.Path(dir_okay=False),
    default=None,
    help="With --file: write the JSON Lines to this file instead of stdout.",
)
@click.option("--force", is_flag=True, help="Replace an existing --jsonl-out file.")
@click.option("--lenient", is_flag=True, help="Mark unsupported sentences instead of removing them.")
@click.option(
    "--top-k",
    type=click.IntRange(1, 20),  # settings.MAX_TOP_K: imported here it would slow every command's start
    default=None,
    help="Passages to retrieve, at least: more when they are short (env BOT_TOP_K).",
)
@click.option(
    "--since", default=None, metavar="YYYY-MM-DD", help="Only articles published on or after this date."
)
@click.option(
    "--until", default=None, metavar="YYYY-MM-DD", help="Only articles published on or before this date."
)
@click.option(
    "--source",
    "sources",
    multiple=True,
    metavar="FILE",
    help="Only this article (file name relative to the corpus); repeat for several.",
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
    questions_file: str | None,
    jsonl_out: str | None,
    force: bool,
    lenient: bool,
    top_k: int | None,
    since: str | None,
    until: str | None,
    sources: tuple[str, ...],
) -> None:
    """Answer QUESTION from the articles, with cited verbatim quotes (or every question of --file).

    With --since/--until, articles without a date are left out."""
    from bot.validation import check_output, validate_question

    if question is not None:
        validate_question(question)  # a bad question fails first, before anything heavy is imported
    from bot.retrieval import Filters

    filters = Filters.make(since, until, sources, cli=True)  # a bad date fails before anything loads
    limits = {"since": filters.since, "until": filters.until, "sources": filters.sources}
    if questions_file is not None:
        from pathlib import Path

        from bot.batch import STDIO, answer_file, read_items

        if question is not None:
            raise BotError("Give a QUESTION or --file FILE, not both.")
        source = None if questions_file == STDIO else Path(questions_file)  # ./- names a file called -
        items = read_items(source)  # a missing or empty file fails before anything loads
        out = Path(jsonl_out) if jsonl_out and jsonl_out != STDIO else None
        if out is not None:
            if source is not None and out.resolve() == source.resolve():
                raise BotError("--jsonl-out is the question file itself: write the answers to another file.")
            if out.exists() and not force:
                raise BotError(
                    f"--jsonl-out {out} exists: choose another file, or pass --force to replace it."
                )
            check_output(out, "--jsonl-out")
        bot = _load(corpus, data_dir, backend, embedded_model=embedded_model, database_url=database_url,
                    grounding="lenient" if lenient else None, top_k=top_k)  # fmt: skip
        tally, errors = answer_file(bot, items, out, **limits)
        click.echo(tally, err=True)
        sys.exit(1 if errors else 0)
    if question is None:
        raise BotError("Give a QUESTION in quotes, or --file FILE with one question per line.")
    if jsonl_out is not None or force:
        raise BotError(f"{'--jsonl-out' if jsonl_out is not None else '--force'} goes with --file FILE.")
    bot = _load(
        corpus,
        data_dir,
        backend,
        embedded_model=embedded_model,
        database_url=database_url,
        grounding="lenient" if lenient else None,
        top_k=top_k,
    )
    answer = bot.ask(question, **limits)
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
    if note := answer.verifier_note():
        click.echo(f"\n({note})")
    click.echo(f"\n— {answer.backend} · {answer.model} · {answer.timings['total']:.1f}s", err=True)


@cli.command()
@corpus_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", default=7860, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on."
)
@click.option(
    "--auth",
    default=None,
    metavar="USER:PASS",
    help="Ask for this user name and password before the UI or its API answers (env BOT_AUTH).",
)
@friendly_errors
def chat(
    corpus: str | None,
    data_dir: str | None,
    database_url: str | None,
    backend: str | None,
    embedded_model: str | None,
    host: str,
    port: int,
    auth: str | None,
) -> None:
    """Start the chat UI in the browser (Gradio)."""
    from bot.settings import Settings
    from bot.ui import exposure_warning, launch, listen_address

    # Checked before anything loads, so a bad BOT_AUTH, host or port fails at once and the warning comes first.
    settings = Settings.resolve(corpus=corpus, data_dir=data_dir, auth=auth)
    host = listen_address(host, port)
    if warning := exposure_warning(host, port, login=settings.auth is not None):
        click.echo(f"Warning: {warning}", err=True)
    bot = _load(
        corpus, data_dir, backend, embedded_model=embedded_model, database_url=database_url, auth=auth
    )
    if not bot.articles:
        then = "upload them in the Articles tab, or run `bot ingest` again"
        click.echo(f"Warning: {empty_corpus_message(bot.settings.corpus, then)}", err=True)
    launch(bot, host=host, port=port, auth=bot.settings.auth_pair())
    interrupted()  # Gradio returns on Ctrl-C (or SIGTERM); an answer may still be computing in one of its threads


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


@cli.group(name="eval", invoke_without_command=True)
@corpus_options
@click.option(
    "--dataset",
    default="seed",
    show_default=True,
    metavar="seed|rgb|FILE.jsonl",
    help="Question set: the bundled seed set, RGB, or your own .jsonl (format in eval/README.md; "
    "`bot eval generate` drafts one).",
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
    metavar="LABEL",
    default=None,
    help="Only the items with this split: calibrate or report in the seed set (thresholds are calibrated "
    "on calibrate), any label in your own set. Default: all.",
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
@click.pass_context
@friendly_errors
def eval_command(
    ctx: click.Context,
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
    """Run a grounding eval through Bot.ask and write results.jsonl, summary.json and report.html.

    `bot eval generate` drafts a question set from any corpus for `--dataset`."""
    if ctx.invoked_subcommand is not None:
        _pass_on_to_subcommand(ctx)
        return
    import math
    from pathlib import Path

    from bot.evaluation import (
        BUILTIN_DATASETS,
        METRICS,
        RGB_PATH,
        compare,
        dataset_items,
        read_summary,
        rgb_items,
        run_eval,
    )
    from bot.settings import Settings

    where = {name: ctx.params[name] for name in CORPUS_OPTIONS}
    if dataset == "rgb":  # a bad file fails before the model loads
        rgb_items(Path(rgb_path) if rgb_path else RGB_PATH)
    elif dataset not in BUILTIN_DATASETS:
        dataset_items(Path(dataset), Settings.resolve(**where).max_question_chars)
    before = read_summary(Path(compare_dir)) if compare_dir else None
    parsed = {}
    for floor in floors:
        name, _, value = floor.partition("=")
        try:
            parsed[name] = float(value)
        except ValueError:
            raise BotError(f"--min takes METRIC=NUMBER, got {floor!r}.") from None
        if not math.isfinite(parsed[name]):
            raise BotError(f"--min takes METRIC=NUMBER with a finite number, got {floor!r}.")
        if name not in METRICS:
            close = difflib.get_close_matches(name, METRICS, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise BotError(f"--min: no metric named {name!r}; {hint}The metrics: {', '.join(METRICS)}.")
    bot = _load(**where)
    run, summary = run_eval(
        bot, dataset, rgb_path=Path(rgb_path) if rgb_path else None, limit=limit, jobs=jobs,
        out_dir=Path(out), judge=judge, split=split,
    )  # fmt: skip
    click.echo(json.dumps(summary, indent=2))  # stdout is the summary alone: `bot eval > summary.json`
    click.echo(f"Report: {run / 'report.html'}", err=True)
    if before is not None:
        click.echo("\n".join(compare(summary, before)), err=True)
    if summary["errors"] and summary["errors"] == summary["items"]:
        raise BotError(f"every item ended in an error, so nothing was measured: see {run / 'results.jsonl'}.")
    failed = [
        f"{k} = {summary[k]} < {v}" if summary.get(k) is not None else f"{k} measured no item (floor {v})"
        for k, v in parsed.items()
        if summary.get(k) is None or summary[k] < v
    ]
    if failed:
        raise BotError("below the floor: " + "; ".join(failed))


def _pass_on_to_subcommand(ctx: click.Context) -> None:
    """`bot eval --corpus DIR generate …` means the corpus options for generate; an option only `bot eval`
    has is an error there, not silently dropped."""
    from click.core import ParameterSource

    for param in ctx.command.params:
        given = ctx.get_parameter_source(param.name or "") == ParameterSource.COMMANDLINE
        if given and param.name not in CORPUS_OPTIONS:
            raise BotError(
                f"{param.opts[0]} is an option of bot eval, not of bot eval {ctx.invoked_subcommand}."
            )
    ctx.obj = {name: ctx.params[name] for name in CORPUS_OPTIONS}


@eval_command.command(name="generate")
@corpus_options
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False),
    required=True,
    help="The .jsonl file to write; read and fix it before using it with --dataset.",
)
@click.option(
    "--n",
    "count",
    type=click.IntRange(1, 1000),
    default=50,
    show_default=True,
    help="Items to draft: about 70% answerable, the rest unanswerable (fewer if the checks drop many).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Which passages are sampled.")
@click.option("--force", is_flag=True, help="Replace --out if it exists (it may be a set you reviewed).")
@click.pass_context
@friendly_errors
def eval_generate(
    ctx: click.Context,
    corpus: str | None,
    data_dir: str | None,
    database_url: str | None,
    backend: str | None,
    embedded_model: str | None,
    out_file: str,
    count: int,
    seed: int,
    force: bool,
) -> None:
    """Draft an eval set from the corpus with the loaded model, every item marked generated: true."""
    from pathlib import Path

    from bot.generate import generate, write_jsonl
    from bot.validation import check_output

    out = Path(out_file)
    if out.suffix.lower() != ".jsonl":
        raise BotError(f"--out must name a .jsonl file (bot eval --dataset reads JSON Lines), got {out}.")
    if out.exists() and not force:
        raise BotError(f"{out} exists and may be a set you reviewed: choose another --out, or pass --force.")
    check_output(out, "--out")  # before the model's minutes of work, not after
    before = ctx.obj or {}  # given before `generate`: `bot eval --corpus DIR generate`
    where = {
        name: before.get(name) if ctx.params[name] is None else ctx.params[name] for name in CORPUS_OPTIONS
    }
    bot = _load(**where)
    items = generate(bot, count, seed=seed)
    if not items:
        raise BotError(
            f"No drafted item passed the checks, so {out} was not written. Try a larger --n, another "
            "--seed, or the default model (a small one rarely quotes its passage exactly)."
        )
    write_jsonl(items, out)
    answerable = sum(i["answerable"] for i in items)
    fewer = (
        f", fewer than the {count} asked: drafts that failed the checks were dropped"
        if len(items) < count
        else ""
    )
    click.echo(
        f"Wrote {wording.count(len(items), 'item')} ({answerable} answerable, "
        f"{len(items) - answerable} unanswerable{fewer}) to {out}. "
        f"Review them, then: bot eval --dataset {shlex.quote(str(out))} {_same_index(bot, where)}"
    )


def _same_index(bot: Any, given: dict[str, str | None]) -> str:
    """The options that reach the same index and model again, for a command to copy (a database URL,
    which may hold a password, is left to BOT_DATABASE_URL)."""
    options = {"--corpus": str(bot.settings.corpus), "--data-dir": given["data_dir"],
               "--backend": given["backend"], "--model": given["embedded_model"]}  # fmt: skip
    return " ".join(f"{name} {shlex.quote(value)}" for name, value in options.items() if value)


def main() -> None:
    # A service manager's stop (SIGTERM) ends a command as Ctrl-C does: the embedded PostgreSQL stops and
    # no interpreter shutdown races the model's thread (see interrupted). Without this, `kill` on `bot chat`
    # left the PostgreSQL server running.
    signal.signal(signal.SIGTERM, _interrupt)
    cli(prog_name="bot")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
