"""Bad input: one clear line, a non-zero exit, no traceback, and the index left as it was."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot import Bot, BotError


def run_cli(*args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BOT_BACKEND": "embedded", **extra_env}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], capture_output=True, text=True, env=env, timeout=600
    )


def index_files(data_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(data_dir)): p.read_bytes() for p in sorted(data_dir.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    ("question", "message"),
    [("", "question is empty"), ("   \n\t", "question is empty"), ("why " * 400, "limit is 1000")],
)
def test_bad_questions_are_one_clear_error(scripted_bot: Bot, question: str, message: str) -> None:
    with pytest.raises(BotError, match=message):
        scripted_bot.ask(question)


def test_cli_bad_input_exits_non_zero_without_traceback(seed_data_dir: Path, tmp_path: Path) -> None:
    before = index_files(seed_data_dir)
    (a_file := tmp_path / "notes.txt").write_text("not a folder")
    cases = [
        (("ask", "Who?", "--corpus", str(a_file), "--data-dir", str(seed_data_dir)), "is a file"),
        (("ask", "   ", "--data-dir", str(seed_data_dir)), "question is empty"),
        (("ask", "x" * 1001, "--data-dir", str(seed_data_dir)), "limit is 1000"),
        (
            ("ask", "Who?", "--corpus", str(tmp_path / "missing"), "--data-dir", str(seed_data_dir)),
            "Corpus folder not found",
        ),
        (
            ("ingest", "--corpus", str(tmp_path / "missing"), "--data-dir", str(seed_data_dir)),
            "Corpus folder not found",
        ),
    ]
    for args, message in cases:
        result = run_cli(*args)
        assert result.returncode == 1, result
        assert message in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert index_files(seed_data_dir) == before


def test_an_index_is_not_emptied_by_another_corpus(tmp_path: Path) -> None:
    corpus, other, data = tmp_path / "corpus", tmp_path / "other", tmp_path / "data"
    corpus.mkdir()
    other.mkdir()
    (corpus / "metro.txt").write_text("Officials in Lisbon opened a new metro line on 2026-02-01.")
    (other / "port.txt").write_text("The port of Leixoes handled 20 million tonnes of cargo in 2025.")
    assert run_cli("ingest", "--corpus", str(corpus), "--data-dir", str(data)).returncode == 0

    wrong = run_cli("ask", "Who opened the metro?", "--corpus", str(other), "--data-dir", str(data))
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr, wrong
    assert f"holds the articles of {corpus}" in wrong.stderr and len(wrong.stderr.strip().splitlines()) == 1
    doctor = run_cli("doctor", "--corpus", str(other), "--data-dir", str(data))
    assert doctor.returncode == 1 and f"1 article, 1 passage — indexed from {corpus}" in doctor.stdout
    kept = run_cli("ingest", "--corpus", str(corpus), "--data-dir", str(data))
    assert "0 added, 0 changed, 0 removed, 1 unchanged" in kept.stdout + kept.stderr
    # A corpus that moved keeps its index; replacing it with another corpus on purpose works.
    moved = corpus.rename(tmp_path / "moved")
    after_move = run_cli("ingest", "--corpus", str(moved), "--data-dir", str(data))
    assert "0 removed, 1 unchanged" in after_move.stdout + after_move.stderr
    replaced = run_cli("ingest", "--rebuild", "--corpus", str(other), "--data-dir", str(data))
    assert "1 added, 0 changed, 0 removed" in replaced.stdout + replaced.stderr
    # A folder that holds nothing now (a share not mounted) does not empty the index either.
    (other / "port.txt").rename(tmp_path / "port.txt")
    emptied = run_cli("ask", "How much cargo?", "--corpus", str(other), "--data-dir", str(data))
    assert emptied.returncode == 1 and "Traceback" not in emptied.stderr, emptied
    assert "holds no articles now, and syncing would remove the 1 article indexed from it" in emptied.stderr
    (tmp_path / "port.txt").rename(other / "port.txt")
    back = run_cli("ingest", "--corpus", str(other), "--data-dir", str(data))
    assert "0 added, 0 changed, 0 removed, 1 unchanged" in back.stdout + back.stderr


def test_non_utf8_file_is_skipped_and_the_rest_indexed(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "ok.txt").write_text("Officials in Lisbon opened a new metro line on 2026-02-01.")
    (corpus / "bad.txt").write_bytes(b"caf\xe9 au lait, Latin-1 rather than UTF-8")
    result = run_cli("ingest", "--corpus", str(corpus), "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 0, result.stderr
    assert "Warning: skipped bad.txt: it is not UTF-8 text" in result.stderr
    assert "1 added" in result.stdout and "Traceback" not in result.stderr


def test_chat_refuses_a_busy_port_or_an_unknown_host_before_loading_anything(tmp_path: Path) -> None:
    never = tmp_path / "never-created"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cases = [
            (("--port", str(port)), f"Cannot listen on 127.0.0.1 port {port}"),
            (("--host", "nonexistent.invalid"), "--host nonexistent.invalid: "),
        ]
        for options, message in cases:
            result = run_cli("chat", *options, "--data-dir", str(never))
            assert result.returncode == 1 and "Traceback" not in result.stderr, result
            (line,) = result.stderr.strip().splitlines()
            assert line.startswith("Error: ") and message in line, line
    out_of_range = run_cli("chat", "--port", "70000", "--data-dir", str(never))
    assert out_of_range.returncode == 2 and "70000 is not in the range 1<=x<=65535" in out_of_range.stderr
    assert not never.exists()


def test_doctor_names_a_corpus_that_is_a_file_and_an_unknown_backend(tmp_path: Path) -> None:
    """It said a file given as the corpus "does not exist", and passed a BOT_BACKEND every command refuses."""
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    doctor = run_cli(
        "doctor", "--corpus", str(a_file), "--data-dir", str(tmp_path / "data"), BOT_BACKEND="nonesuch"
    )
    assert doctor.returncode == 1 and "Traceback" not in doctor.stderr, doctor
    assert "Unknown backend 'nonesuch' (BOT_BACKEND / --backend)" in doctor.stdout
    assert f"The corpus {a_file} is a file" in doctor.stdout


@pytest.mark.parametrize("broken", ["a file", "a folder of something else"])
def test_doctor_and_ingest_name_a_pg_folder_no_server_can_use(tmp_path: Path, broken: str) -> None:
    """bot doctor advised "run bot ingest", which then refused the folder."""
    data = tmp_path / "data"
    data.mkdir()
    if broken == "a file":
        (data / "pg").write_text("x")
        message = f"{data / 'pg'} should be the index's PostgreSQL folder but is a file"
    else:
        (data / "pg").mkdir()
        (data / "pg" / "notes.txt").write_text("x")
        message = f"{data / 'pg'} is not empty but holds no PostgreSQL data"
    doctor = run_cli("doctor", "--data-dir", str(data), BOT_DATABASE_URL="")
    assert doctor.returncode == 1 and "Traceback" not in doctor.stderr, doctor
    assert f"FIX  {message}" in doctor.stdout and "run bot ingest" not in doctor.stdout, doctor.stdout
    ingest = run_cli("ingest", "--data-dir", str(data), BOT_DATABASE_URL="")
    assert ingest.returncode == 1 and ingest.stderr.strip().splitlines() == [
        f"Error: {message}: move it away, or pass --data-dir."
    ]


def test_doctor_names_an_embedding_model_that_cannot_load_instead_of_advising_a_rebuild(
    embedded_bot: Bot, tmp_path: Path
) -> None:
    """It called the index out of date and advised bot ingest --rebuild, which wipes the index and then
    fails on the same model."""
    missing = tmp_path / "no-such-model"
    data_dir = str(embedded_bot.settings.data_dir)
    doctor = run_cli("doctor", "--data-dir", data_dir, BOT_EMBED_MODEL=str(missing))
    assert doctor.returncode == 1 and "Traceback" not in doctor.stderr, doctor
    assert (
        f"FIX  Embedding model not found at {missing}" in doctor.stdout and "--rebuild" not in doctor.stdout
    )


def test_load_refuses_a_misspelt_backend_before_ingesting_and_a_fractional_top_k(tmp_path: Path) -> None:
    from bot.embedding import Embedder
    from bot.index import ArticleIndex
    from bot.settings import Settings

    corpus, data = tmp_path / "news", tmp_path / "data"
    corpus.mkdir()
    (corpus / "harbour.md").write_text("# Harbour\n\nThe harbour bridge reopened on 2026-03-14.\n")
    with pytest.raises(BotError, match="Unknown backend 'embeded'"):
        Bot.load(corpus, data, backend="embeded")
    settings = Settings.resolve(corpus=corpus, data_dir=data)
    assert ArticleIndex.open(settings, Embedder(settings.embed_model)) is None  # nothing was ingested first
    with pytest.raises(BotError, match=r"BOT_TOP_K \(top_k\) must be a whole number, got 2.9"):
        Bot.load(corpus, data, top_k=2.9)  # it was cut to 2
