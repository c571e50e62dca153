"""Engines for the booking store, created lazily, and programmatic Alembic migrations.

Why lazily: importing the action server must not open a database (tests, `rasa data
validate`, a down database at start-up). Why the SQLite listeners: pysqlite opens its own
deferred transactions, so two writers can both read a counter before either writes; taking
the write lock with `BEGIN IMMEDIATE` at the start of every write transaction serialises
them, and WAL lets readers continue meanwhile (SQLAlchemy's documented pysqlite recipe).

Why short timeouts: WeChat waits 5 s for a reply. A locked SQLite file, a full pool or a busy
in-process write lock each give up after LOCK_TIMEOUT_S (3 s) and become the repository's
"unavailable" result, instead of stalling every other request behind them.
Why check_same_thread=False with a QueuePool: the action server runs actions in a thread pool,
so a pooled connection may be checked out by another thread than the one that opened it; the
pool hands each connection to one thread at a time, which is what pysqlite needs.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator, Optional

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import QueuePool, StaticPool

from bot.settings import get_settings

__all__ = [
    "BookingUnavailable",
    "get_engine",
    "make_engine",
    "dispose_engines",
    "upgrade_schema",
    "alembic_config",
    "READ_ONLY",
    "write_lock",
    "read_connection",
    "write_transaction",
    "LOCK_TIMEOUT_S",
]

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
#: Execution option for read-only work: on SQLite it begins DEFERRED, so reads never queue
#: behind the write lock. Ignored by other databases.
READ_ONLY = {"sqlite_begin": "DEFERRED"}
#: Longest wait for a lock (SQLite busy handler, pool checkout, in-process write lock).
LOCK_TIMEOUT_S = 3.0
_MIGRATION_LOCK_KEY = 4_202_611  # pg_advisory_xact_lock key: one migrator at a time

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()
_write_locks: dict[int, threading.Lock] = {}


class BookingUnavailable(RuntimeError):
    """The booking database cannot be reached. The chat says so with a domain response
    (utter_booking_unavailable and its variants), never with this exception's text."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or "booking database unavailable")


def _install_sqlite_listeners(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy (and our BEGIN below), not to pysqlite.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(LOCK_TIMEOUT_S * 1000)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        if mode not in ("IMMEDIATE", "DEFERRED", "EXCLUSIVE"):
            mode = "IMMEDIATE"
        conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str) -> Engine:
    """A new engine for `url` with the per-dialect settings above; no connection is opened."""
    sa_url = make_url(url)
    backend = sa_url.get_backend_name()
    if backend == "sqlite":
        database = sa_url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            try:
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            except OSError:
                pass  # connecting will fail and be reported as unavailable
        sqlite_args: dict[str, Any] = {"timeout": LOCK_TIMEOUT_S, "check_same_thread": False}
        if not database or database == ":memory:":
            # One in-memory database exists per connection: share the single one (tests only).
            engine = create_engine(url, future=True, poolclass=StaticPool, connect_args=sqlite_args)
        else:
            engine = create_engine(
                url,
                future=True,
                poolclass=QueuePool,
                pool_size=5,
                max_overflow=20,
                pool_timeout=LOCK_TIMEOUT_S,
                connect_args=sqlite_args,
            )
        _install_sqlite_listeners(engine)
        return engine
    connect_args: dict[str, Any] = {}
    if backend == "postgresql":
        connect_args = {"connect_timeout": 5, "application_name": "crj-booking"}
    return create_engine(
        url,
        future=True,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        pool_timeout=30,
        connect_args=connect_args,
    )


def write_lock(engine: Engine) -> ContextManager[Any]:
    """On SQLite, one writer per process at a time; elsewhere a no-op.

    SQLite admits one writer anyway; letting threads queue on a Python lock instead of
    SQLite's sleeping busy handler (which backs off up to 100 ms per retry) cuts the latency
    tail under load. Other processes are still serialised by BEGIN IMMEDIATE + busy_timeout.
    """
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    with _engines_lock:
        lock = _write_locks.setdefault(id(engine), threading.Lock())
    return _held(lock)


@contextlib.contextmanager
def _held(lock: threading.Lock) -> Any:
    """Hold `lock`, waiting at most LOCK_TIMEOUT_S; a timeout is an SQLAlchemy error, so
    every caller already reports it as "unavailable"."""
    if not lock.acquire(timeout=LOCK_TIMEOUT_S):
        raise PoolTimeout("booking write lock busy")
    try:
        yield lock
    finally:
        lock.release()


#: Turns a database error into the store's own "unavailable" exception (and logs it): each
#: store (bookings, grid tickets, the handoff queue) names its outage for its callers.
Fail = Callable[[SQLAlchemyError], Exception]


@contextlib.contextmanager
def read_connection(engine: Engine, fail: Fail) -> Iterator[Connection]:
    """A connection for read-only work (READ_ONLY: DEFERRED on SQLite, so it never queues
    behind the write lock); a database error leaves as `fail(exc)`."""
    try:
        with engine.connect() as conn:
            conn.execution_options(**READ_ONLY)
            yield conn
    except SQLAlchemyError as exc:
        raise fail(exc) from exc


@contextlib.contextmanager
def write_transaction(
    engine: Engine, fail: Fail, *, keep: tuple[type[SQLAlchemyError], ...] = ()
) -> Iterator[Connection]:
    """One write transaction under the in-process write lock (BEGIN IMMEDIATE on SQLite),
    committed when the block ends. A database error leaves as `fail(exc)`, except the kinds
    in `keep`, which pass unchanged (IntegrityError, for callers that retry a collision)."""
    try:
        with write_lock(engine), engine.begin() as conn:
            yield conn
    except keep:
        raise
    except SQLAlchemyError as exc:
        raise fail(exc) from exc


def get_engine(url: Optional[str] = None) -> Engine:
    """The process-wide engine for `url` (default: settings.database_url), made on first use."""
    if url is None:
        url = get_settings().database_url
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = make_engine(url)
            _engines[url] = engine
        return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests, forks)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _write_locks.clear()


def alembic_config(url: Optional[str] = None) -> Any:
    """An Alembic Config that works without a working directory or an ini file on the path."""
    from alembic.config import Config

    ini = HERE / "alembic.ini"
    cfg = Config(str(ini)) if ini.exists() else Config()
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_schema(url: Optional[str] = None) -> None:
    """Upgrade the schema to every head (bot.booking.migrate also syncs the halls afterwards).

    "heads", not "head": features add their tables as sibling revisions (0003_care, …), so
    merging two of them never needs a renumbered chain.

    Runs in one transaction; on PostgreSQL an advisory lock makes concurrent start-ups (Rasa
    and the action server) wait for each other instead of racing on CREATE TABLE.
    Raises BookingUnavailable when the database cannot be reached.
    """
    from alembic import command

    engine = get_engine(url)
    cfg = alembic_config(url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")
    except SQLAlchemyError as exc:
        log.error("booking migration failed: %s", exc.__class__.__name__)
        raise BookingUnavailable(f"migration failed: {exc.__class__.__name__}") from exc
