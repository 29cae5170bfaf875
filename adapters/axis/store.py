"""The simulator's durable store: SQLite in WAL mode with synchronous=FULL, one connection.

Every function is blocking and runs on the store's single thread (see `AxisStore.call`), so calls
are serialised and never block the event loop; the calls waiting together share one commit. A
signed call records its signature with its effect, so a replay is refused even after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from adapters.axis.errors import Refusal
from adapters.axis.signing import MAX_SKEW

T = TypeVar("T")
_PURGE_EVERY = 1000
MAX_BATCH = 64

SCHEMA = """
CREATE TABLE IF NOT EXISTS systems (id TEXT PRIMARY KEY, secret TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS catalogue (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, tier TEXT NOT NULL,
    system TEXT NOT NULL REFERENCES systems (id), seq INTEGER NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS packages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, document_id TEXT NOT NULL,
    sender TEXT NOT NULL, business_type INTEGER NOT NULL, recipients TEXT NOT NULL,
    body BLOB NOT NULL, sent_at TEXT NOT NULL, system TEXT NOT NULL,
    UNIQUE (sender, document_id, business_type));
CREATE TABLE IF NOT EXISTS deliveries (
    package INTEGER NOT NULL REFERENCES packages (seq), recipient TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')), reason TEXT,
    acked_at TEXT, PRIMARY KEY (package, recipient));
CREATE INDEX IF NOT EXISTS deliveries_by_recipient ON deliveries (recipient, state, package);
CREATE TABLE IF NOT EXISTS statuses (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, document_id TEXT NOT NULL,
    sender TEXT NOT NULL, recipient TEXT NOT NULL, digest TEXT NOT NULL, body BLOB NOT NULL,
    sent_at TEXT NOT NULL, system TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')), reason TEXT,
    acked_at TEXT, UNIQUE (sender, digest));
CREATE INDEX IF NOT EXISTS statuses_by_recipient ON statuses (recipient, state, seq);
CREATE TABLE IF NOT EXISTS signatures (signature TEXT PRIMARY KEY, seen_at INTEGER NOT NULL);
"""


def now_text() -> str:
    """Returns the current UTC time as RFC 3339 with microseconds."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id() -> str:
    """Returns a fresh id for a package or a Status message."""
    return str(uuid.uuid4())


@dataclass(frozen=True)
class _Job:
    """One call waiting for the store's thread, and where its answer goes."""

    durable: bool
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]

    def settle(self, ok: bool, value: Any) -> None:
        """Hands the outcome to the waiting coroutine on its own loop."""

        def settle() -> None:
            if self.future.done():
                return
            if ok:
                self.future.set_result(value)
            else:
                self.future.set_exception(value)

        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            self.loop.call_soon_threadsafe(settle)


class AxisStore:
    """One SQLite database in the data directory, used from one dedicated thread that commits
    the calls waiting for it together (group commit: one fsync for a batch)."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._db = self._open(data_dir / "axis.db")
        self._signed = 0
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._run, name="axis-store", daemon=True)
        self._worker.start()

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # a 2xx means the commit is on disk
        db.execute("PRAGMA foreign_keys=ON")
        db.executescript(SCHEMA)
        return db

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Runs a blocking store function on the store's thread; answers once it is committed."""
        return await self._submit(True, fn, args)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Runs a store function that writes nothing but the request's signature: a batch of
        such calls alone commits without waiting for the disk (the next durable commit or
        checkpoint syncs it; only a power cut could forget such a signature)."""
        return await self._submit(False, fn, args)

    async def _submit(self, durable: bool, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put(_Job(durable, fn, args, loop, future))
        return await future

    def close(self) -> None:
        """Finishes the waiting calls, stops the store's thread and closes the database."""
        self._jobs.put(None)
        self._worker.join()
        self._db.close()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._jobs.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                batch.append(job)
            self._execute(batch)

    def _execute(self, batch: list[_Job]) -> None:
        db = self._db
        durable = any(job.durable for job in batch)
        outcomes: list[tuple[bool, Any]] = []
        try:
            db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            db.execute("BEGIN IMMEDIATE")
            for job in batch:
                try:
                    outcomes.append((True, job.fn(*job.args)))
                except Exception as e:  # the caller's answer, e.g. a Refusal
                    outcomes.append((False, e))
            db.execute("COMMIT")
        except sqlite3.Error as e:
            if db.in_transaction:
                db.execute("ROLLBACK")
            outcomes = [(False, e)] * len(batch)
        for job, (ok, value) in zip(batch, outcomes, strict=True):
            job.settle(ok, value)

    @contextmanager
    def transaction(self, signature: str | None, timestamp: int) -> Iterator[sqlite3.Connection]:
        """Runs a block of one call, recording the request's signature with it; a refusal undoes
        the block's writes but keeps the signature (savepoints inside the batch's commit)."""
        db = self._db
        db.execute("SAVEPOINT call")
        try:
            if signature is not None:
                self._use_signature(signature, timestamp)
        except BaseException:
            db.execute("ROLLBACK TO call")
            db.execute("RELEASE call")
            raise
        db.execute("SAVEPOINT work")
        try:
            yield db
        except Refusal:
            db.execute("ROLLBACK TO work")
            db.execute("RELEASE call")
            raise
        except BaseException:
            db.execute("ROLLBACK TO call")
            db.execute("RELEASE call")
            raise
        db.execute("RELEASE call")

    def _use_signature(self, signature: str, timestamp: int) -> None:
        try:
            self._db.execute(
                "INSERT INTO signatures (signature, seen_at) VALUES (?, ?)", (signature, timestamp)
            )
        except sqlite3.IntegrityError:
            raise Refusal(401, "replayed_request", "this signature was used before") from None
        self._signed += 1
        if self._signed % _PURGE_EVERY == 0:
            # Older signatures are refused by their timestamp alone.
            self._db.execute(
                "DELETE FROM signatures WHERE seen_at < ?", (timestamp - 2 * MAX_SKEW - 60,)
            )

    # Systems

    def systems(self) -> dict[str, str]:
        """Returns every connected system's secret by system id."""
        return dict(self._db.execute("SELECT id, secret FROM systems").fetchall())

    def put_system(self, system_id: str, secret: str) -> bool:
        """Adds a connected system or replaces its secret; tells whether it was new."""
        with self.transaction(None, 0) as db:
            new = db.execute("SELECT 1 FROM systems WHERE id = ?", (system_id,)).fetchone() is None
            db.execute(
                "INSERT INTO systems (id, secret) VALUES (?, ?) "
                "ON CONFLICT (id) DO UPDATE SET secret = excluded.secret",
                (system_id, secret),
            )
        return new

    # Ownership, shared by the mailbox and the catalogue

    def owner(self, code: str) -> str | None:
        """Returns the system that owns an agency code, or None when it is not catalogued."""
        row = self._db.execute("SELECT system FROM catalogue WHERE code = ?", (code,)).fetchone()
        return row[0] if row else None

    def check_owner(self, system: str, code: str) -> None:
        """Refuses (403) an agency code the calling system does not own."""
        if self.owner(code) != system:
            raise Refusal(403, "not_owner", f"agency {code} is not one of this system's agencies")

    def unknown(self, codes: list[str]) -> list[str]:
        """Returns the codes missing from the catalogue."""
        marks = ",".join("?" * len(codes))
        known = {
            r[0]
            for r in self._db.execute(f"SELECT code FROM catalogue WHERE code IN ({marks})", codes)
        }
        return [c for c in codes if c not in known]

    def counts(self) -> dict[str, Any]:
        """Returns durable totals: systems, agencies, packages, deliveries and statuses by state."""
        db = self._db

        def by_state(table: str) -> dict[str, int]:
            rows = db.execute(f"SELECT state, count(*) FROM {table} GROUP BY state").fetchall()
            return {"pending": 0, "done": 0, "failed": 0} | dict(rows)

        def count(table: str) -> int:
            return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

        return {
            "systems": count("systems"),
            "agencies": count("catalogue"),
            "packages": count("packages"),
            "deliveries": by_state("deliveries"),
            "statuses": by_state("statuses"),
        }

    @staticmethod
    def recipients(raw: str) -> list[str]:
        """Decodes a package's stored recipient list."""
        codes: list[str] = json.loads(raw)
        return codes
