"""Which store failures the router answers with 503 (a full disk, an unreachable database), told
apart by their cause however the layers above wrapped it, and which it does not mistake for one."""

from __future__ import annotations

import socket

import psycopg
import pytest

from adapters.eventstore import DISK_FULL, UNREACHABLE, unavailable


def test_a_full_disk_is_told_apart_through_the_errors_that_wrap_it() -> None:
    with pytest.raises(OSError, match="No space left") as caught, open("/dev/full", "wb") as full:
        full.write(b"x")
    wrapped = RuntimeError("the attachment store failed")
    wrapped.__cause__ = caught.value
    assert unavailable(wrapped) == DISK_FULL


def test_a_database_that_refuses_connections_is_unreachable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(psycopg.OperationalError) as caught:
        psycopg.connect(f"postgresql://nobody@127.0.0.1:{port}/none", connect_timeout=5)
    assert unavailable(caught.value) == UNREACHABLE


def test_an_error_of_another_kind_is_not_an_outage() -> None:
    assert unavailable(ValueError("a bug")) is None


@pytest.mark.postgres
def test_a_lock_timeout_is_not_an_unreachable_database(pg_database: str) -> None:
    with (
        psycopg.connect(pg_database, autocommit=True) as holder,
        psycopg.connect(pg_database, autocommit=True) as waiter,
    ):
        holder.execute("CREATE TABLE line (id int PRIMARY KEY)")
        holder.execute("INSERT INTO line VALUES (1)")
        waiter.execute("SET lock_timeout = '50ms'")
        with holder.transaction():
            holder.execute("SELECT id FROM line FOR UPDATE")
            with pytest.raises(psycopg.errors.LockNotAvailable) as caught:
                waiter.execute("SELECT id FROM line FOR UPDATE")
    assert unavailable(caught.value) is None
