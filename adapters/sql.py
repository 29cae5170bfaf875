"""Plain driver statements for the write path's per-batch bookkeeping.

A SQLAlchemy Core statement costs about ten times its SQLite execution here (building the cache
key, compiling, processing the result): 100-300 µs against 10-30 µs. The statements that every
commit batch runs (tracking rows, the directory version, Merkle edges) go to the driver (sqlite3
or psycopg) of the SQLAlchemy connection instead, inside its transaction.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


@functools.cache
def _marked(sql: str, paramstyle: str) -> str:
    return sql if paramstyle == "qmark" else sql.replace("?", "%s")


def run(c: Connection, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Executes one statement written with `?` marks on the connection's driver, inside its
    transaction; returns the rows (none for a statement without result)."""
    cursor = c.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(_marked(sql, c.dialect.paramstyle), params)
        return list(cursor.fetchall()) if cursor.description else []
    finally:
        cursor.close()


@functools.cache
def _insert_sql(table: sa.Table, paramstyle: str) -> str:
    names = [c.name for c in table.columns]
    marks = ", ".join("?" if paramstyle == "qmark" else "%s" for _ in names)
    return f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})"


def insert_many(c: Connection, table: sa.Table, rows: Sequence[Any]) -> None:
    """Inserts rows (each its values in the table's column order) with one executemany on the
    driver: SQLAlchemy's per-row parameter handling costs more than the inserts themselves."""
    c.exec_driver_sql(_insert_sql(table, c.dialect.paramstyle), rows)


def claim_tracking(c: Connection, table: str, name: str, columns: str) -> tuple[Any, ...]:
    """Touches a projection's tracking row first in its transaction, which takes the write lock
    (a row lock in PostgreSQL, the database's in SQLite) that keeps other processes' runners
    out, and returns the row's columns.

    A projection's transaction commits without waiting for its flush to disk (PostgreSQL's
    `synchronous_commit` off; SQLite's views run with `synchronous=NORMAL` for the same
    reason): what it writes is derived from events already durable, and its tracking row goes
    with it, so a crash can only take the last few transactions back whole, which the next
    catch-up projects again. The row lock is let go at once instead of after the flush."""
    # PostgreSQL: set_config(..., true) is SET LOCAL, in the same round trip as the claim.
    relaxed = (
        " FROM (SELECT set_config('synchronous_commit', 'off', true)) AS relaxed"
        if c.dialect.name == "postgresql"
        else ""
    )
    return run(
        c,
        f"UPDATE {table} SET updated_at = ?{relaxed} WHERE name = ? RETURNING {columns}",
        (time.time(), name),
    )[0]


def record_tracking(c: Connection, table: str, name: str, **columns: Any) -> None:
    """Sets a projection's tracking columns (its position...) in its transaction."""
    assigned = "".join(f"{column} = ?, " for column in columns)
    sql = f"UPDATE {table} SET {assigned}updated_at = ? WHERE name = ?"
    run(c, sql, (*columns.values(), time.time(), name))


def read_tracking(c: Connection, table: str, name: str, columns: str) -> tuple[Any, ...]:
    """Returns a projection's tracking columns without locking."""
    return run(c, f"SELECT {columns} FROM {table} WHERE name = ?", (name,))[0]
