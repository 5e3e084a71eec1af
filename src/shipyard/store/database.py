"""Engine and transactions for both dialects.

`Database.read()` and `Database.write()` are the only ways domain services touch the store.
Both translate "cannot reach the database" into `StoreUnavailable` (HTTP 503), so a store
outage is a clear message and the pool's pre-ping heals it once the database is back.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from shipyard.errors import InvalidInput, StoreUnavailable

_WRITE_OPTION = "shipyard_write"


class Database:
    """One engine plus session factory; created once per process by `create_database`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._closed = False

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def printable_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reads; rolled back at the end."""
        with self._translate(), self._sessions() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error.

        On SQLite it starts with BEGIN IMMEDIATE, so two writers never deadlock on a lock upgrade.
        """
        with self._translate(), self._sessions() as session:
            session.connection(execution_options={_WRITE_OPTION: True})
            yield session
            session.commit()

    def ping(self) -> None:
        """Raise `StoreUnavailable` unless a round trip to the database works (or after `dispose`)."""
        with self._translate(), self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self, timeout: float = 5.0) -> None:
        """Close the pool once the connections in use come back (up to `timeout` seconds).

        After this the store refuses new sessions (StoreUnavailable): a background thread that
        outlives shutdown would otherwise open a connection in a fresh pool that nobody closes.
        """
        self._closed = True
        pool = self.engine.pool
        deadline = time.monotonic() + timeout
        while getattr(pool, "checkedout", lambda: 0)() and time.monotonic() < deadline:
            time.sleep(0.01)
        self.engine.dispose()

    @contextmanager
    def _translate(self) -> Iterator[None]:
        if self._closed:
            raise StoreUnavailable("the metadata store was closed (the process is shutting down)")
        try:
            yield
        except OperationalError as exc:
            raise StoreUnavailable(f"the metadata store is unreachable ({_reason(exc)})") from exc
        except DataError as exc:
            # A value the column cannot hold (out of range, NUL byte, too long on PostgreSQL):
            # the caller's input is at fault, so it is a 400, not a 500.
            raise InvalidInput(f"a value cannot be stored: {_reason(exc)}") from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise StoreUnavailable(f"the metadata store connection was lost ({_reason(exc)})") from exc
            raise


def _reason(exc: DBAPIError) -> str:
    first_line = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
    return first_line[:200]


def create_database(url: str, *, pool_size: int = 10) -> Database:
    """Build the engine for `url` with the per-dialect settings below."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return Database(_sqlite_engine(parsed))
    engine = create_engine(
        parsed,
        # Detects connections the server dropped (restart, failover) and replaces them,
        # which is how the service recovers from a store outage without a restart.
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=pool_size,
        # Fail fast instead of hanging requests when the server is gone.
        connect_args={"connect_timeout": 5},
    )
    return Database(engine)


def _sqlite_engine(url: URL) -> Engine:
    if url.database and url.database != ":memory:":
        _create_private_file(Path(url.database))
    # check_same_thread off: the pool hands connections to the worker and writer threads.
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself (pysqlite's own is deferred only).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL: readers never block the writer and vice versa.
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across application crashes in WAL mode (only power loss can drop
        # the last commits); FULL costs an fsync per commit.
        cursor.execute("PRAGMA synchronous=NORMAL")
        # SQLite ignores foreign keys unless asked, per connection.
        cursor.execute("PRAGMA foreign_keys=ON")
        # Wait up to 30 s for the write lock instead of failing with "database is locked".
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writes take the write lock up front (IMMEDIATE); reads stay deferred and concurrent.
        immediate = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _create_private_file(path: Path) -> None:
    """Create the database file (and its folder) readable by this user only, before SQLite does:
    it holds API-key hashes and sealed secrets. SQLite gives its -wal and -shm files the same
    mode. An existing file keeps the mode its owner chose."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
