"""Reading the events table for `audit verify`: the rows of a range of positions in commit
order, their leaf hashes from the fast texts (`adapters.leafhash`), and the exact path
(`canonical_item`) for the hashes that differ from the recorded leaves."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
from eventsourcing.persistence import ApplicationRecorder

from adapters.eventlog import _events_table
from adapters.evidence import canonical_item
from adapters.leafhash import Leaves

# Events recomputed on the exact path per query, where the fast texts differ from the leaves.
EXACT_BATCH = 500


@dataclass(frozen=True)
class Source:
    """Where the events table is: a SQLite file or a PostgreSQL database, and its names."""

    sqlite_path: Path | None
    database_url: str | None
    table: str
    position: str

    @classmethod
    def of(
        cls, recorder: ApplicationRecorder, database_url: str | None, data_dir: Path | None
    ) -> Source:
        """The events table of a store opened with this URL or data directory."""
        table = _events_table(recorder)
        assert table is not None, "an in-memory store has no events table"
        name, position, _, _ = table
        if database_url:
            return cls(None, database_url, name, position)
        assert data_dir is not None
        return cls(data_dir / "events.sqlite", None, name, position)


class Reader:
    """Reads stored events straight from the table, read-only, on a connection of its own:
    (position, stream, version, topic, state) in commit order, the stream as stored in SQLite
    (32 hex digits) and as text (with dashes) in PostgreSQL."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self._lite: sqlite3.Connection | None = None
        self._pg: psycopg.Connection[Any] | None = None
        if source.sqlite_path is not None:
            self._lite = sqlite3.connect(f"file:{source.sqlite_path}?mode=ro", uri=True)
        else:
            assert source.database_url is not None
            self._pg = psycopg.connect(source.database_url)

    def rows(
        self, after: int, upto: int | None, only: list[int] | None = None
    ) -> Iterator[tuple[Any, ...]]:
        """The events after..upto (or at the positions `only`), in commit order."""
        source = self.source
        bound = "" if upto is None else f" AND {source.position} <= {int(upto)}"
        if only is not None:
            bound += f" AND {source.position} IN ({','.join(str(int(p)) for p in only)})"
        # PostgreSQL's text of a uuid is the events API's stream: no UUID object on either side.
        stream = "originator_id" if self._lite is not None else "originator_id::text"
        sql = (
            f"SELECT {source.position}, {stream}, originator_version, topic, state "
            f"FROM {source.table} WHERE {source.position} > {int(after)}{bound} "
            f"ORDER BY {source.position}"
        )
        if self._lite is not None:
            yield from self._lite.execute(sql)
            return
        assert self._pg is not None
        # Binary: bytea travels as bytes, not as hex text the server writes and the client
        # parses. A named cursor streams; its transaction ends with it.
        with self._pg.transaction(), self._pg.cursor("events", binary=True) as cursor:
            cursor.itersize = 20_000
            cursor.execute(sql.encode())
            yield from cursor

    def close(self) -> None:
        if self._lite is not None:
            self._lite.close()
        if self._pg is not None:
            self._pg.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _rows(
    source: Source, after: int, upto: int | None, only: list[int] | None = None
) -> Iterator[tuple[Any, ...]]:
    with Reader(source) as reader:
        yield from reader.rows(after, upto, only)


class Chunk(NamedTuple):
    """Positions in commit order, their leaf hashes concatenated, and the rows that cannot be
    read as events (position: why; their hashes are placeholders)."""

    positions: list[int]
    hashes: bytes
    unreadable: dict[int, str]


_READ_ERRORS = (ValueError, TypeError, KeyError, AttributeError)
_PLACEHOLDER = bytes(32)


def leaves_of(source: Source, after: int, upto: int | None) -> Chunk:
    """Returns the events after..upto with their leaf hashes, from texts that are faithful but
    not necessarily canonical (`adapters.leafhash`): each hash that differs from the recorded
    leaf is to be recomputed by `exact_leaves` before it is trusted."""
    positions, hashes, unreadable = [], [], {}
    sha256, leaf = hashlib.sha256, Leaves().leaf
    for row in _rows(source, after, upto):
        positions.append(row[0])
        try:
            hashes.append(sha256(b"\x00" + leaf(*row)).digest())
        except _READ_ERRORS:
            # A row the fast path cannot read: the exact path decides.
            exact = _exact(row)
            if isinstance(exact, str):
                unreadable[row[0]], exact = exact, _PLACEHOLDER
            hashes.append(exact)
    return Chunk(positions, b"".join(hashes), unreadable)


def _exact(row: tuple[Any, ...]) -> bytes | str:
    """Returns the leaf hash of a row from its canonical text, or why it is no event."""
    position, originator_id, version, topic, state = row
    try:
        _, encoded = canonical_item(position, originator_id, version, topic, bytes(state))
    except _READ_ERRORS as e:
        return f"{type(e).__name__}: {e}"
    return hashlib.sha256(b"\x00" + encoded).digest()


def exact_leaves(source: Source, positions: list[int]) -> dict[int, bytes | str]:
    """Returns the leaf hashes of the events at these positions from their canonical texts (or
    why a row is no event)."""
    if not positions:
        return {}
    return {row[0]: _exact(row) for row in _rows(source, 0, None, positions)}


def recomputed(source: Source, chunk: Chunk, stored_positions: list[int], stored: bytes) -> Chunk:
    """Returns the chunk with every hash that differs from its recorded leaf (before the first
    position that differs) recomputed on the exact path, in batches, up to the first batch that
    still differs."""
    positions, hashes = chunk.positions, chunk.hashes
    differ = []
    for i, position in enumerate(stored_positions):
        if i >= len(positions) or positions[i] != position:
            break
        if hashes[32 * i : 32 * i + 32] != stored[32 * i : 32 * i + 32]:
            differ.append(i)
    patched, unreadable = bytearray(hashes), dict(chunk.unreadable)
    for start in range(0, len(differ), EXACT_BATCH):
        batch = [i for i in differ[start : start + EXACT_BATCH] if positions[i] not in unreadable]
        exact = exact_leaves(source, [positions[i] for i in batch])
        for i in batch:
            # A row gone since the first read keeps its fast hash (which differs already).
            found = exact.get(positions[i], hashes[32 * i : 32 * i + 32])
            if isinstance(found, str):
                unreadable[positions[i]] = found
            else:
                patched[32 * i : 32 * i + 32] = found
        if any(patched[32 * i : 32 * i + 32] != stored[32 * i : 32 * i + 32] for i in batch):
            break
    return Chunk(positions, bytes(patched), unreadable)
