"""`views rebuild` on two cores: processes decode the history into rows, one process inserts.

Each decoding process reads its share of the history (chunks of positions, dealt in turn) and
runs the live projection's own handlers on every event against a buffer that cannot reach the
views: an event whose handler only inserts rows (a document sent or received, an agency or
auditor registered) travels as its rows, ready for executemany; an event whose handler reads or
updates the views travels as the stored event, and the inserting process applies it with the
same handler, after the rows of every event before it. The inserting process takes the chunks
in order, so the views see the history in order, and writes its tracking position with each
transaction, like `ExchangeProjection.run_once`.
"""

from __future__ import annotations

import functools
import multiprocessing
from collections.abc import Callable, Iterable, Sequence
from multiprocessing.connection import Connection as Pipe
from multiprocessing.process import BaseProcess
from typing import Any, NamedTuple, NoReturn, cast
from uuid import UUID

import msgspec
from eventsourcing.persistence import Notification
from sqlalchemy.engine import Connection, Engine

from adapters import views as v
from adapters.auditread import Reader, Source
from adapters.evidence import stream_text
from adapters.projection import ExchangeProjection, Writes
from domain.exchange import Exchange

# Events a decoding process sends at a time, and chunks the inserting process commits together:
# few commits, since a commit writes every page it changed to the WAL, and rows keyed by random
# document ids change most pages of the primary-key indexes in any large transaction.
CHUNK = 2_000
CHUNKS_PER_TRANSACTION = 100

# For the rebuild's own connection only (closed afterwards, so serving connections keep theirs):
# a crash during a rebuild means running it again, so no sync; a cache that holds the indexes
# being filled at random (UUID keys); sorts for CREATE INDEX in memory and on two threads.
SQLITE_PRAGMAS = (
    "PRAGMA synchronous=OFF",
    "PRAGMA cache_size=-262144",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA threads=2",
)


class _Rows(msgspec.Struct, array_like=True, tag=0):
    """Rows to insert, by table name, in the order the events added them."""

    rows: dict[str, list[tuple[Any, ...]]]
    directory_changed_at: int | None


class _Stored(msgspec.Struct, array_like=True, tag=1):
    """A stored event whose handler needs the views."""

    position: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(tuple[int, list[_Rows | _Stored]]).decode


class _ViewsNeeded(Exception):
    """An event's handler reads or updates the views: the inserting process applies it."""


class _NoViews:
    """Stands for the connection in a decoding process; any use of it raises _ViewsNeeded."""

    def __getattr__(self, name: str) -> NoReturn:
        raise _ViewsNeeded(name)


def rebuild_engine(url: str) -> Engine:
    """Creates an engine for the rebuild alone: on SQLite, its connections skip syncing."""
    return v.create_engine(url, SQLITE_PRAGMAS)


def decode_chunk(
    projection: ExchangeProjection, notifications: Sequence[Notification]
) -> list[_Rows | _Stored]:
    """Returns a chunk's events as segments, in order: runs of rows to insert, and the stored
    events whose handlers need the views."""
    segments: list[_Rows | _Stored] = []
    rows: dict[str, list[tuple[Any, ...]]] = {}
    changed: int | None = None
    to_domain_event = projection.mapper.to_domain_event
    for n in notifications:
        writes = Writes(cast(Connection, _NoViews()))
        try:
            projection.handle(writes, n.id, to_domain_event(n))
        except _ViewsNeeded:
            if rows or changed is not None:
                segments.append(_Rows(rows, changed))
                rows, changed = {}, None
            stored = _Stored(n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
            segments.append(stored)
            continue
        for table, values in writes.inserts.items():
            rows.setdefault(table.name, []).extend(values)
        if writes.directory_changed_at is not None:
            changed = writes.directory_changed_at
    if rows or changed is not None:
        segments.append(_Rows(rows, changed))
    return segments


def _decoder(
    env: dict[str, str],
    views_url: str,
    source: Source,
    pipe: Pipe,
    k: int,
    n: int,
    head: int,
    chunk: int,
) -> None:
    """A decoding process: sends chunks k, k + n, k + 2n... of positions 1 to head."""
    exchange = Exchange(env=env | {"CREATE_TABLE": "no"})
    engine = v.create_engine(views_url)
    projection = ExchangeProjection(engine, exchange.recorder, exchange.mapper)
    reader = Reader(source)
    try:
        for start in range(1 + k * chunk, head + 1, n * chunk):
            stop = min(start + chunk - 1, head)
            notifications = _notifications(reader.rows(start - 1, stop))
            pipe.send_bytes(_encode((stop, decode_chunk(projection, notifications))))
    finally:
        pipe.close()
        reader.close()
        exchange.close()
        engine.dispose()


class _StreamText(str):
    """A stream id as text with dashes, which the mapper passes to the event as it is (it turns
    a plain str into a UUID): the handlers only take its text."""

    __slots__ = ()


class _Row(NamedTuple):
    """What the mapper and `decode_chunk` read of a notification, made as a tuple: the frozen
    dataclass costs ~1.5 µs more to make, a million times in a rebuild."""

    id: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes


def _notifications(rows: Iterable[tuple[Any, ...]]) -> list[Notification]:
    """Notifications of rows read straight from the events table, without a UUID per row."""
    made = [
        _Row(position, _StreamText(stream_text(stream)), version, topic, bytes(state))
        for position, stream, version, topic, state in rows
    ]
    return cast(list[Notification], made)


def _apply_chunk(
    projection: ExchangeProjection, writes: Writes, segments: list[_Rows | _Stored]
) -> None:
    """Adds a chunk's rows and applies its stored events, in order."""
    tables = {table.name: table for table in v.VIEW_TABLES}
    for segment in segments:
        if isinstance(segment, _Rows):
            for name, rows in segment.rows.items():
                writes.extend(tables[name], rows)
            if segment.directory_changed_at is not None:
                writes.directory_changed_at = segment.directory_changed_at
            continue
        stored = Notification(
            id=segment.position,
            originator_id=UUID(segment.originator_id),
            originator_version=segment.originator_version,
            topic=segment.topic,
            state=segment.state,
        )
        event = projection.mapper.to_domain_event(stored)
        projection.handle(writes, segment.position, event)


class Decoders:
    """The decoding processes of a rebuild, each with the pipe it sends its chunks on."""

    def __init__(
        self,
        env: dict[str, str],
        views_url: str,
        source: Source,
        head: int,
        workers: int,
        chunk: int,
    ) -> None:
        if workers < 1:
            msg = f"a rebuild needs at least one decoding process, not {workers}"
            raise ValueError(msg)
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Pipe] = []
        self.processes: list[BaseProcess] = []
        for k in range(workers):
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(
                target=_decoder,
                args=(env, views_url, source, sender, k, workers, head, chunk),
                daemon=True,
            )
            process.start()
            sender.close()
            self.pipes.append(receiver)
            self.processes.append(process)
        self.received = 0

    def next_chunk(self) -> tuple[int, list[_Rows | _Stored]]:
        """Returns the next chunk in the history's order and the last position it covers."""
        try:
            data = self.pipes[self.received % len(self.pipes)].recv_bytes()
        except EOFError as e:
            msg = "a decoding process of the rebuild stopped (its error, if any, is above)"
            raise RuntimeError(msg) from e
        self.received += 1
        return _decode(data)

    def close(self, *, finished: bool) -> None:
        """Waits for the processes to end, or ends them if the rebuild did not finish."""
        for process in self.processes:
            if not finished:
                process.terminate()
            process.join()
        for pipe in self.pipes:
            pipe.close()


def project_history(
    projection: ExchangeProjection,
    decoders: Decoders,
    head: int,
    progress: Callable[[int], None] = lambda _: None,
) -> int:
    """Projects positions 1 to head, as the decoders send them, into empty views; returns the
    position reached (less if a router's projection took over)."""
    position = 0
    with projection.engine.connect() as c:
        while position < head:
            with c.begin():
                tracked = projection.claim(c)
                if tracked != position:
                    # A router projected meanwhile: run_once finishes, exactly once.
                    return tracked
                writes = Writes(c)
                for _ in range(CHUNKS_PER_TRANSACTION):
                    if position >= head:
                        break
                    position, segments = decoders.next_chunk()
                    _apply_chunk(projection, writes, segments)
                    writes.flush()
                writes.finish()
                projection.track(c, position)
            progress(position)
    return position


def rebuild_views(
    exchange: Exchange,
    env: dict[str, str],
    views_url: str,
    source: Source,
    *,
    workers: int = 2,
    chunk: int = CHUNK,
    progress: Callable[[str, int, int], None] = lambda *_: None,
) -> int:
    """Drops the views and projects the whole history into them, the secondary indexes built
    at the end; calls progress(stage, position, head) as it goes; returns the position reached."""
    head = exchange.recorder.max_notification_id() or 0
    # Started first, the processes import and connect while the old views are dropped.
    decoders = Decoders(env, views_url, source, head, workers, chunk)
    engine = rebuild_engine(views_url)
    projection = ExchangeProjection(engine, exchange.recorder, exchange.mapper)
    finished = False
    try:
        v.drop_views(engine)
        projection.setup()
        with v.bulk_load(engine):
            report = functools.partial(progress, "rebuilding views")
            position = project_history(projection, decoders, head, lambda p: report(p, head))
            decoders.close(finished=position == head)
            finished = True
            more = True
            while more:  # the events recorded since the rebuild started
                position, more = projection.run_once(limit=CHUNK * CHUNKS_PER_TRANSACTION)
            progress("indexing views", position, max(head, position))
    finally:
        if not finished:
            decoders.close(finished=False)
        engine.dispose()
    return position
