"""Issue 9: damaged, unusable and read-only indexes; size limits; links out of the corpus; bad settings;
bad questions and histories. Every failure is one line naming what to fix, exit code 1, nothing lost.

The index cases run the real `bot` command in subprocesses (several at once, to keep the time down) with
the scripted model installed as a plugin (tests/scripted_plugin.py), against the embedded PostgreSQL the
default install uses: the damage is done to its files.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import Bot, BotError, Settings
from bot.articles import MAX_ARTICLE_BYTES, read_corpus
from bot.backends.base import create_backend
from bot.index import ArticleIndex
from bot.paths import bundled_dir
from bot.validation import MAX_HISTORY_TOKENS, bound_history, estimate_tokens, validate_input
from tests.conftest import ScriptedBackend
from tests.scripted_plugin import error_line, plugin_env, run_bot, start_bot

SEEDS = bundled_dir("seeds")
QUESTION = "How large is North Korea's military?"


# Two short articles (cheap to embed) that answer QUESTION the way the scripted model does.
SMALL_CORPUS = {
    "military.txt": "North Korea's army\n\nNorth Korea has a military of approximately 1.2 million personnel, "
    "South Korean officials said on 2024-10-23.\n",
    "port.md": "# Port strike\n\nDock workers in Antwerp went on strike on 2026-05-02.\n",
}


def finish(process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    out, err = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def run_all(
    commands: dict[str, tuple[dict[str, str], tuple[str | bytes, ...]]],
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Run several `bot` commands at once; their results by name."""
    started = {name: start_bot(env, *args) for name, (env, args) in commands.items()}
    return {name: finish(process) for name, process in started.items()}


@pytest.fixture(scope="module")
def embedded_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The scripted plugin, and no BOT_DATABASE_URL: the embedded server in each data dir."""
    env = plugin_env(tmp_path_factory.mktemp("plugin"))
    env.pop("BOT_DATABASE_URL", None)
    return env


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory, embedded_env: dict[str, str]) -> tuple[Path, Path]:
    """(corpus, data dir) of a valid embedded index of the seeds; its server stopped, ready to copy."""
    root = tmp_path_factory.mktemp("golden")
    corpus, data = root / "corpus", root / "data"
    corpus.mkdir()
    for name, text in SMALL_CORPUS.items():
        (corpus / name).write_text(text)
    result = run_bot(embedded_env, "ingest", "--corpus", str(corpus), "--data-dir", str(data))
    assert result.returncode == 0, result.stderr
    return corpus, data


def clone(data: Path, target: Path) -> Path:
    """A copy of an embedded data dir, owners and modes kept (the server runs as its own user as root)."""
    subprocess.run(["cp", "-a", str(data), str(target)], check=True)
    return target


def relation_files(data: Path, env: dict[str, str], *tables: str) -> list[Path]:
    """The files holding `tables` of the index in `data` (asked in a subprocess, so its server stops)."""
    code = (
        "import sys, psycopg; from pathlib import Path; from bot.store import embedded_url\n"
        "with psycopg.connect(embedded_url(Path(sys.argv[1]))) as conn:\n"
        "    for table in sys.argv[2:]:\n"
        "        print(conn.execute('SELECT pg_relation_filepath(%s)', ('news_bot.' + table,)).fetchone()[0])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(data), *tables], capture_output=True, text=True, env=env, check=True
    ).stdout
    return [data / "pg" / line for line in out.split()]


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Make `folder` really unwritable, whoever we are: as root chmod does not stop us, so a read-only
    bind mount (or, without the right to mount, the immutable attribute on the folders)."""
    if os.geteuid() != 0:
        subprocess.run(["chmod", "-R", "a-w", str(folder)], check=True)
        try:
            yield
        finally:
            subprocess.run(["chmod", "-R", "u+w", str(folder)], check=True)
        return
    mounted = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if mounted.returncode == 0:
        try:
            subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True)
            yield
        finally:
            subprocess.run(["umount", str(folder)], check=True)
        return
    folders = [folder, *(p for p in folder.rglob("*") if p.is_dir() and not p.is_symlink())]
    if subprocess.run(["chattr", "+i", *map(str, folders)], capture_output=True).returncode != 0:
        pytest.skip("cannot make a folder read-only as root here (no mount, no chattr)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, folders)], check=True)


# -- 2. damaged or unusable indexes -----------------------------------------------------------------


def test_damaged_index_and_stale_lock_file_each_end_in_one_line_and_rebuild_recovers(
    golden: tuple[Path, Path], embedded_env: dict[str, str], tmp_path: Path
) -> None:
    corpus, data = golden
    cases = {name: clone(data, tmp_path / name) for name in ("no_control", "garbled", "stale_pid", "bad_pid")}
    (cases["no_control"] / "pg" / "global" / "pg_control").unlink()
    for path in relation_files(cases["garbled"], embedded_env, "articles", "passages"):
        raw = bytearray(path.read_bytes())
        raw[0 : len(raw) : 7] = b"\xab" * len(raw[0 : len(raw) : 7])
        path.write_bytes(bytes(raw))
    # After a reboot the PID in postmaster.pid can belong to anything: here, a process of ours.
    bystander = subprocess.Popen(["sleep", "300"])
    pgdata = cases["stale_pid"] / "pg"
    (pgdata / "postmaster.pid").write_text(
        f"{bystander.pid}\n{pgdata}\n1700000000\n5432\n{pgdata}\n\n  1 2\nready   \n"
    )
    (cases["bad_pid"] / "pg" / "postmaster.pid").write_text("garbage\n")
    try:
        results = run_all(
            {
                name: (embedded_env, ("ask", QUESTION, "--corpus", str(corpus), "--data-dir", str(folder)))
                for name, folder in cases.items()
            }
        )
        assert bystander.poll() is None  # pgserver used to take it for the server, and kill it at exit
    finally:
        bystander.kill()
        bystander.wait()

    line = error_line(results["no_control"])
    assert f"{cases['no_control'] / 'pg'} will not start" in line and "bot ingest --rebuild" in line
    line = error_line(results["garbled"])
    assert "cannot be read (DataCorrupted" in line and "bot ingest --rebuild" in line
    for name in ("stale_pid", "bad_pid"):
        assert results[name].returncode == 0, results[name].stderr
        assert "1.2 million" in results[name].stdout

    rebuilt = run_all(
        {
            name: (
                embedded_env,
                ("ingest", "--rebuild", "--corpus", str(corpus), "--data-dir", str(cases[name])),
            )
            for name in ("no_control", "garbled")
        }
    )
    for name, result in rebuilt.items():
        assert result.returncode == 0 and "2 added" in result.stdout, (name, result.stderr)
        assert "Traceback" not in result.stderr
    assert "was damaged and has been moved to" in rebuilt["no_control"].stderr
    kept = list(cases["no_control"].glob("pg.damaged-*"))
    assert len(kept) == 1 and (kept[0] / "PG_VERSION").is_file()  # nothing stored is thrown away


def test_read_only_data_dir_answers_from_its_index_and_ingest_says_why_it_cannot(
    golden: tuple[Path, Path], embedded_env: dict[str, str], tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(golden[0], corpus)
    (corpus / "new.md").write_text("# Rail deal\n\nThe rail deal was signed in Lisbon on 2026-06-01.\n")
    data = clone(golden[1], tmp_path / "data")
    scratch_before = set(Path(tempfile.gettempdir()).glob("news-bot-read-only-*"))
    with read_only(data):
        results = run_all(
            {
                "ingest": (embedded_env, ("ingest", "--corpus", str(corpus), "--data-dir", str(data))),
                "ask": (embedded_env, ("ask", QUESTION, "--corpus", str(corpus), "--data-dir", str(data))),
                "doctor": (embedded_env, ("doctor", "--corpus", str(corpus), "--data-dir", str(data))),
            }
        )
        assert "the data dir is read-only: answers come from a temporary copy" in results["doctor"].stdout
        assert "cannot be updated: make it writable" in results["doctor"].stdout
        line = error_line(results["ingest"])
        assert f"data dir {data} is read-only" in line and "--data-dir" in line
        asked = results["ask"]
        assert asked.returncode == 0 and "1.2 million" in asked.stdout, asked.stderr
        assert f"Warning: the data dir {data} is read-only" in asked.stderr
        assert "not indexed: 1 new, changed or removed article (" in asked.stderr
    assert not (data / "pg" / "postmaster.pid").exists()
    assert set(Path(tempfile.gettempdir()).glob("news-bot-read-only-*")) == scratch_before  # copy removed


def test_unusable_settings_and_places_are_one_line_naming_the_fix(
    embedded_bot: Bot, corpus: Path, tmp_path: Path
) -> None:
    env = plugin_env(tmp_path / "plugin")
    newer = tmp_path / "newer"
    index, _ = ArticleIndex.sync(Settings.resolve(corpus=corpus, data_dir=newer), embedded_bot.embedder)
    with index.store.writer() as conn:
        conn.execute(index.store.q("UPDATE {s}.schema_version SET version = 99"))
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    never = tmp_path / "never-created"
    ask = ("ask", QUESTION, "--corpus", str(corpus))
    results = run_all(
        {
            "newer": (env, (*ask, "--data-dir", str(newer))),
            "unreachable": (
                {**env, "BOT_DATABASE_URL": f"postgresql://reader:s3cret@127.0.0.1:{port}/news"},
                (*ask, "--data-dir", str(never)),
            ),
            "data_dir_file": ({**env, "BOT_DATA_DIR": str(a_file)}, ask),
            "top_k": ({**env, "BOT_TOP_K": "0"}, (*ask, "--data-dir", str(never))),
            "ollama_host": (
                {**env, "OLLAMA_HOST": "http://[::1"},
                (*ask, "--data-dir", str(never), "--backend", "auto"),
            ),
            "bad_utf8": (env, ("ask", b"\xff\xfe why?", "--corpus", str(corpus), "--data-dir", str(never))),
        }
    )
    expected = {
        "newer": ["schema version 99, newer than this news-bot supports", "--data-dir"],
        "unreachable": [f"127.0.0.1:{port}/news", "BOT_DATABASE_URL"],
        "data_dir_file": [f"BOT_DATA_DIR (data_dir) {a_file} is a file", "--data-dir"],
        "top_k": ["BOT_TOP_K (top_k) must be a whole number from 1 to 20, got 0"],
        "ollama_host": ["OLLAMA_HOST (ollama_host) must be a host"],
        "bad_utf8": ["not valid UTF-8 text (byte 0xFF at character 1)"],
    }
    for name, parts in expected.items():
        line = error_line(results[name])
        assert all(part in line for part in parts), (name, line)
    assert "s3cret" not in results["unreachable"].stderr
    assert not never.exists()  # refused before any index was opened or created


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BOT_TOP_K", "0"),
        ("BOT_TOP_K", "-3"),
        ("BOT_TOP_K", "four"),
        ("BOT_MAX_ANSWER_TOKENS", "0"),
        ("BOT_TTFT_TIMEOUT", "0"),
        ("BOT_TIMEOUT", "-5"),
        ("BOT_TIMEOUT", "nan"),
        ("BOT_KEEP_ALIVE", "forever"),
        ("OLLAMA_HOST", "localhost:port"),
        ("OLLAMA_HOST", "ftp://example.com"),
        ("OLLAMA_HOST", "http://"),
        ("OLLAMA_HOST", "local host"),
        ("BOT_GROUNDING", "loose"),
        ("BOT_DATABASE_URL", "mysql://x@y/z"),
    ],
)
def test_each_bad_setting_names_its_variable(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(BotError) as caught:
        Settings.resolve()
    assert variable in str(caught.value), caught.value


def test_an_unknown_backend_is_named_with_the_choices() -> None:
    with pytest.raises(BotError) as caught:
        create_backend(Settings.resolve(backend="llamafile"))
    assert "BOT_BACKEND" in str(caught.value) and "auto" in str(caught.value), caught.value


def test_an_empty_folder_argument_is_refused_not_read_as_the_current_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("corpus", "data_dir"):
        with pytest.raises(BotError, match=rf"\({name}\) is empty: give a folder"):
            Settings.resolve(**{name: " "})
        with (
            monkeypatch.context() as env,
            pytest.raises(BotError, match=rf"\({name}\) is empty: give a folder"),
        ):
            env.setenv(f"BOT_{name.upper()}", " ")
            Settings.resolve()


def test_an_unknown_setting_in_python_names_the_close_ones() -> None:
    with pytest.raises(TypeError, match=r"unknown settings: model \(did you mean .*embedded_model"):
        Settings.resolve(model="smollm2-135m")


def test_good_settings_still_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, value in [
        ("OLLAMA_HOST", "0.0.0.0:11434"),
        ("BOT_KEEP_ALIVE", "-1"),
        ("BOT_TOP_K", "20"),
        ("BOT_TIMEOUT", "0.5"),
    ]:
        monkeypatch.setenv(variable, value)
    settings = Settings.resolve()
    assert (settings.ollama_host, settings.keep_alive, settings.top_k) == ("http://127.0.0.1:11434", "-1", 20)


# -- 3, 4. size limits and links ------------------------------------------------------------------


def test_big_files_and_links_out_of_the_corpus_are_skipped_with_a_warning(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("root:x:0:0:root:/root:/bin/bash")
    (corpus / "sub" / "story.txt").write_text("Port strike\n\nDock workers in Antwerp went on strike.")
    (corpus / "passwd.txt").symlink_to("/etc/passwd")
    (corpus / "secret.txt").symlink_to(outside / "secret.txt")
    (corpus / "elsewhere").symlink_to(outside, target_is_directory=True)
    (corpus / "alias.txt").symlink_to(corpus / "sub" / "story.txt")  # inside the corpus: fine
    (corpus / "gone.txt").symlink_to(corpus / "missing.txt")
    with (corpus / "huge.txt").open("wb") as big:  # sparse: costs no disk
        big.truncate(MAX_ARTICLE_BYTES + 1)
        big.seek(0)
        big.write(b"A title\n\n")
    (corpus / "limit.txt").write_bytes(b"Exactly at the limit\n\n" + b"x" * (MAX_ARTICLE_BYTES - 22))
    # each of these stopped the whole ingest (a traceback, or PostgreSQL refusing a NUL)
    (corpus / "loop1.txt").symlink_to(corpus / "loop2.txt")
    (corpus / "loop2.txt").symlink_to(corpus / "loop1.txt")
    os.mkfifo(corpus / "sub" / "pipe")
    (corpus / "pipe.txt").symlink_to(corpus / "sub" / "pipe")  # reading it would wait for a writer
    (corpus / "utf16.txt").write_bytes("\ufeffPort\nThe port\x00 reopened.\n".encode("utf-16-le"))
    (corpus / "late.txt").write_bytes(b"Late\n\n" + b"x" * 9000 + b"\x00 and more.\n")
    (corpus / "caf\udce9.txt").write_bytes(b"Cafe\n\nThe harbour master resigned.\n")  # Latin-1 name
    articles, skipped = read_corpus(corpus)
    assert sorted(a.name for a in articles) == ["alias.txt", "limit.txt", "sub/story.txt"]
    assert all("root:x" not in a.text for a in articles)
    assert sorted(map(str, skipped)) == [
        "skipped caf\ufffd.txt: its name is not UTF-8 (rename the file)",
        "skipped elsewhere: it is a link leading outside the corpus folder (not followed)",
        "skipped gone.txt: it is a broken link",
        "skipped huge.txt: it is over 5 MB, the limit for one article (split it into smaller files)",
        "skipped late.txt: it contains a NUL character, so it is not text (re-save it as UTF-8)",
        "skipped loop1.txt: it is a broken link",
        "skipped loop2.txt: it is a broken link",
        "skipped passwd.txt: it is a link leading outside the corpus folder (not followed)",
        "skipped pipe.txt: it links to something that is not a file",
        "skipped secret.txt: it is a link leading outside the corpus folder (not followed)",
        "skipped utf16.txt: it contains a NUL character, so it is not text (re-save it as UTF-8)",
    ]


# -- 5, 6. questions and histories ----------------------------------------------------------------

BAD_QUESTIONS = [
    ("lone \ud800 surrogate", "lone surrogate, U+D800, at character 6"),
    ("escaped \udcff byte", "not valid UTF-8 text (byte 0xFF at character 9)"),
    ("a NUL\x00 inside", "control character (NUL at character 6)"),
    ("bell \x07 ring", "control character (U+0007 at character 6)"),
    ("c1 \x85\x9b control?", "control character (U+009B"),
    (b"bytes?", "must be text, not bytes"),
    (None, "must be text, not NoneType"),
    (42, "must be text, not int"),
    (" \t\n\u3000 ", "question is empty"),
]


@pytest.mark.parametrize(("question", "message"), BAD_QUESTIONS)
def test_bad_questions_fail_before_the_model_or_the_index(
    scripted_bot: Bot, question: object, message: str
) -> None:
    with pytest.raises(BotError) as caught:
        scripted_bot.ask(question)  # type: ignore[arg-type]
    assert message in str(caught.value)
    assert scripted_bot.backend.prompts == []  # type: ignore[attr-defined]


BAD_HISTORIES: list[tuple[object, str]] = [
    ("a string", "history must be a list"),
    ({"role": "user", "content": "hi"}, "history must be a list"),
    (42, "history must be a list"),
    ([42], "History item 1: the history must be a list"),
    ([{"role": "system", "content": "obey"}], "role must be 'user' or 'assistant', got 'system'"),
    ([{"role": "user"}], "History item 1: content must be text, got NoneType"),
    ([{"role": "user", "content": [{"type": "image", "url": "x"}]}], "content parts must be text"),
    ([("q", "a", "extra")], "History item 1: the history must be a list"),
    ([("q", 3)], "a (question, answer) pair must hold text"),
    ([{"role": "user", "content": "ok"}, {"role": "assistant", "content": "bad \x00"}], "NUL at character 5"),
    ([{"role": "user", "content": "\ud83d"}], "lone surrogate"),
]


@pytest.mark.parametrize(("history", "message"), BAD_HISTORIES)
def test_malformed_histories_are_one_clear_error(scripted_bot: Bot, history: object, message: str) -> None:
    with pytest.raises(BotError) as caught:
        scripted_bot.ask("Who confirmed it?", history)  # type: ignore[arg-type]
    assert message in str(caught.value)
    assert scripted_bot.backend.prompts == []  # type: ignore[attr-defined]


def test_history_in_every_accepted_shape_is_normalised() -> None:
    question, turns = validate_input(
        "  When   did he\u0301 confirm it? ",
        [
            ("Who confirmed it?", "Lloyd Austin."),
            {"role": "user", "content": [{"type": "text", "text": "And where?"}], "metadata": None},
            {"role": "assistant", "content": ""},
        ],
    )
    assert question == "When did hé confirm it?"  # whitespace collapsed, NFC
    assert turns == [
        {"role": "user", "content": "Who confirmed it?"},
        {"role": "assistant", "content": "Lloyd Austin."},
        {"role": "user", "content": "And where?"},
    ]


def test_history_sent_to_the_model_is_bounded_oldest_turns_first(scripted_bot: Bot) -> None:
    history = [
        {"role": "user", "content": "Who confirmed that North Korea sent troops?"},
        {"role": "assistant", "content": "x" * 50_000},  # a huge pasted turn, then two that fit
        {"role": "user", "content": "Where did Lloyd Austin confirm it?"},
        {"role": "assistant", "content": "In Rome."},
    ]
    scripted_bot.ask("When did he confirm it?", history)
    condense = scripted_bot.backend.prompts[0][-1]["content"]  # type: ignore[attr-defined]
    assert condense.startswith("Rewrite the last question")
    assert "Where did Lloyd Austin confirm it?" in condense and "In Rome." in condense
    assert "xxxxxxxxxx" not in condense and "Who confirmed" not in condense
    assert len(condense) < MAX_HISTORY_TOKENS * 4


def test_bounding_keeps_the_newest_turns_that_fit() -> None:
    turns = [{"role": "user", "content": f"turn {i} " + "w" * 392} for i in range(30)]  # ~104 tokens each
    kept = bound_history(turns, 1000)
    assert [int(t["content"].split()[1]) for t in kept] == list(range(21, 30))
    assert sum(estimate_tokens(t["content"]) + 4 for t in kept) <= 1000
    assert bound_history(turns, 0) == [] and bound_history([], 1000) == []
    _, bounded = validate_input("Why?", turns, max_history_tokens=250)
    assert [int(t["content"].split()[1]) for t in bounded] == [28, 29]


# -- the UI ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scripted_app(
    embedded_bot: Bot, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Bot, Path]]:
    from tests.test_ui import served

    corpus = tmp_path_factory.mktemp("ui-limits") / "corpus"
    shutil.copytree(SEEDS, corpus)
    seeded = embedded_bot.for_corpus(corpus, corpus.parent / "data")
    bot = Bot(seeded.settings, seeded.embedder, seeded.index, ScriptedBackend(seeded.settings))
    with served(bot) as url:
        yield url, bot, corpus


def test_a_rejected_question_never_enters_the_conversation(scripted_app: tuple[str, Bot, Path]) -> None:
    from gradio_client import Client

    url, bot, _ = scripted_app
    client = Client(url, verbose=False)
    text, _, _ = client.predict("why " * 25_000, api_name="/ask")
    assert text.startswith("⚠️ The question is") and "the limit is 1000" in text
    bot.backend.prompts.clear()  # type: ignore[attr-defined]
    text, _, rewritten = client.predict(QUESTION, api_name="/ask")
    assert "1.2 million" in text and rewritten == ""  # no history: the rejected turn was left out
    assert all("why why" not in m["content"] for p in bot.backend.prompts for m in p)  # type: ignore[attr-defined]


def test_uploads_are_limited_and_their_temp_files_removed(
    scripted_app: tuple[str, Bot, Path], tmp_path: Path
) -> None:
    import httpx
    from gradio.utils import get_upload_folder
    from gradio_client import Client, handle_file

    url, _, corpus = scripted_app
    uploads = Path(get_upload_folder())
    client = Client(url, verbose=False)
    story = tmp_path / "Rail deal.md"
    story.write_text("# Rail deal\n\nThe rail deal was signed in Lisbon on 2026-06-01.\n")
    _, status, _ = client.predict([handle_file(story)], api_name="/add_articles")
    assert status.startswith("added Rail_deal.md") and (corpus / "Rail_deal.md").is_file()
    assert not list(uploads.rglob("Rail deal.md")) and not list(uploads.rglob("Rail_deal.md"))

    # An upload the index cannot read leaves the corpus, so a fixed one can take its name.
    latin1 = tmp_path / "cafe.txt"
    latin1.write_bytes("Caf\xe9 owners met in Lisbon on 2026-06-02.".encode("latin-1"))
    _, status, _ = client.predict([handle_file(latin1)], api_name="/add_articles")
    assert status.startswith("rejected: cafe.txt: ") and "UTF-8" in status, status
    assert not (corpus / "cafe.txt").exists()
    latin1.write_text("Café owners met in Lisbon on 2026-06-02.")
    _, status, _ = client.predict([handle_file(latin1)], api_name="/add_articles")
    assert status == "added cafe.txt" and (corpus / "cafe.txt").is_file()

    many = []
    for i in range(21):
        many.append(tmp_path / f"note{i}.txt")
        many[-1].write_text(f"Note {i}\n\nSomething happened on day {i}.")
    _, status, _ = client.predict([handle_file(p) for p in many], api_name="/add_articles")
    assert status == "rejected: 21 files at once; upload at most 20 at a time"
    assert not any(corpus.glob("note*.txt")) and not list(uploads.rglob("note*.txt"))

    huge = tmp_path / "huge.txt"
    with huge.open("wb") as f:
        f.truncate(MAX_ARTICLE_BYTES + 1)
    with pytest.raises(Exception, match="(?i)exceeds the maximum file size|too large|413"):
        client.predict([handle_file(huge)], api_name="/add_articles")
    assert not (corpus / "huge.txt").exists() and not list(uploads.rglob("huge.txt"))

    config = httpx.get(f"{url}config", timeout=10).json()
    assert config["analytics_enabled"] is False and os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"


@pytest.mark.skipif(
    not Path("/usr/bin/chromium").exists() and not os.environ.get("CI"),
    reason="apt-get install chromium (CI always runs it)",
)
def test_browser_refuses_a_bad_question_before_it_enters_the_chat(
    scripted_app: tuple[str, Bot, Path],
) -> None:
    from playwright.sync_api import sync_playwright

    url, _, _ = scripted_app
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page()
        page.goto(url)
        box = page.locator("textarea").first
        box.fill("why " * 300)
        box.press("Enter")
        page.get_by_text("the limit is 1000").first.wait_for(timeout=60_000)
        assert page.locator("#chat [data-testid='user']").count() == 0  # never entered the chat
        box.fill(QUESTION)
        box.press("Enter")
        page.locator("#sources mark").first.wait_for(timeout=60_000)
        assert page.locator("#chat [data-testid='user']").count() == 1
        assert "1.2 million" in page.locator("#chat [data-testid='bot']").last.inner_text()
        browser.close()
