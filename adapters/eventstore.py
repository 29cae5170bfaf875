"""Event store settings: msgspec transcoding, durable SQLite, PostgreSQL by URL."""

from __future__ import annotations

import errno
import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import msgspec
import psycopg
from eventsourcing.persistence import ApplicationRecorder, Transcoder
from eventsourcing.postgres import PostgresFactory
from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool, SQLiteFactory
from eventsourcing.utils import Environment

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode

DISK_FULL = "the store's disk is full; retry once the operator has freed space"
UNREACHABLE = "the database cannot be reached; retry later"


def unavailable(error: BaseException) -> str | None:
    """Says why the store cannot serve now (its disk is full, its database is down), or None
    for any other error. Looks through the chain of causes: every layer wraps the driver's."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if (
            (isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT))
            or (isinstance(cause, sqlite3.Error) and cause.sqlite_errorcode == sqlite3.SQLITE_FULL)
            or isinstance(cause, psycopg.errors.DiskFull)
        ):
            return DISK_FULL
        # No server answered (refused or lost connections, pool timeouts: no SQLSTATE), or one
        # that lost the connection (08) or is shutting down or starting up (57P); not a lock
        # or statement timeout.
        if isinstance(cause, psycopg.OperationalError) and (
            cause.sqlstate is None or cause.sqlstate.startswith(("08", "57P"))
        ):
            return UNREACHABLE
        cause = cause.__cause__ or cause.__context__
    return None


class MsgspecTranscoder(Transcoder):
    """Encodes event state as JSON with msgspec; events hold only JSON values and a timestamp."""

    def encode(self, obj: Any) -> bytes:
        """Encodes an event's state."""
        return _encode(obj)

    def decode(self, data: bytes) -> Any:
        """Decodes an event's state, restoring its timestamp."""
        state = _decode(data)
        state["timestamp"] = datetime.fromisoformat(state["timestamp"])
        return state


class DurableSQLitePool(SQLiteConnectionPool):
    """Connections that fsync every commit (the recorder never sets synchronous itself)."""

    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        connection._sqlite_conn.execute("PRAGMA synchronous=FULL")
        return connection


class DurableSQLiteFactory(SQLiteFactory):
    """The eventsourcing SQLite factory with durable connections."""

    def __init__(self, env: Environment | dict[str, str] | None) -> None:
        super().__init__(env)
        original = self.datastore.pool
        self.datastore.pool = DurableSQLitePool(
            db_name=original.db_name, lock_timeout=original.lock_timeout
        )
        original.close()


class ResilientPostgresFactory(PostgresFactory):
    """The eventsourcing PostgreSQL factory, with a pool that gives up quickly while the
    database is down and reconnects as soon as it is back."""

    def application_recorder(self) -> ApplicationRecorder:
        """Builds the recorder (its first connection may wait as usual), then shortens waits."""
        recorder = super().application_recorder()
        pool = self.datastore.pool
        # eventsourcing tries each recorder call ten times, and each try waits for a pooled
        # connection, 30 s by default: while the database was down, one call held its thread
        # for minutes. Half a second bounds a call to a few seconds (a wait that times out
        # while the database is up, the pool growing, is tried again like any other).
        pool.timeout = 0.5
        # The pool retries a lost connection with a doubling delay for five minutes, so after
        # an outage of a minute it could take another minute to see the database back. Given
        # up sooner, the next call that needs a connection opens one at once.
        pool.reconnect_timeout = 2.0
        return recorder


class WriteLock:
    """Serialises one kind of write among the threads of a process and, given a file, among the
    processes that open the same file (`serve --workers N` on one SQLite data directory).

    SQLite would serialise those writers too, but a writer that finds the database locked sleeps
    and retries (1, 2, 5, 10 ms...), so under load most of a second worker's time went to sleep;
    a blocked flock wakes the moment the holder lets go.

    The thread holding it may take it again (the writer holds the views' lock across both
    projections, each of which takes it too); the file lock goes with the outermost hold.
    """

    def __init__(self, path: Path | None) -> None:
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600) if path else None

    def __enter__(self) -> None:
        self._thread_lock.acquire()
        if self._depth == 0 and self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            except BaseException:
                self._thread_lock.release()
                raise
        self._depth += 1

    def __exit__(self, *_: object) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._thread_lock.release()

    def close(self) -> None:
        """Closes the lock file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


# Any constant will do, as long as every router process uses the same one.
_SCHEMA_LOCK = 0x6C69656E74686F6E  # "lienthon"


@contextmanager
def schema_lock(database_url: str | None) -> Iterator[None]:
    """Serialises table creation among router processes starting on one PostgreSQL."""
    if not database_url:
        yield
        return
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
        try:
            yield
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))


def store_env(database_url: str | None, data_dir: Path | None) -> dict[str, str]:
    """Returns the eventsourcing settings for PostgreSQL (by URL) or SQLite (in data_dir)."""
    env = {
        "TRANSCODER_TOPIC": f"{__name__}:MsgspecTranscoder",
        "SQLITE_LOCK_TIMEOUT": "30",
    }
    if database_url:
        parts = urlsplit(database_url)
        if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
            msg = f"unsupported database URL scheme {parts.scheme!r}"
            raise ValueError(msg)
        env.update(
            PERSISTENCE_MODULE=f"{__name__}:ResilientPostgresFactory",
            POSTGRES_DBNAME=parts.path.lstrip("/"),
            POSTGRES_HOST=parts.hostname or "localhost",
            POSTGRES_PORT=str(parts.port or 5432),
            POSTGRES_USER=unquote(parts.username or ""),
            POSTGRES_PASSWORD=unquote(parts.password or ""),
            POSTGRES_POOL_SIZE="4",
            POSTGRES_LOCK_TIMEOUT="30",
        )
        return env
    if data_dir is None:
        msg = "either a database URL or a data directory is required"
        raise ValueError(msg)
    env.update(
        PERSISTENCE_MODULE=f"{__name__}:DurableSQLiteFactory",
        SQLITE_DBNAME=str(data_dir / "events.sqlite"),
    )
    return env


def views_url(database_url: str | None, data_dir: Path | None) -> str:
    """Returns the SQLAlchemy URL of the views: the same PostgreSQL, or a file beside the events."""
    if database_url:
        parts = urlsplit(database_url)
        return parts._replace(scheme="postgresql+psycopg").geturl()
    assert data_dir is not None
    return f"sqlite:///{data_dir / 'views.sqlite'}"
