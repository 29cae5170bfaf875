"""The views engine on PostgreSQL: idle pooled connections are pinged before use, busy ones are
not; projection transactions commit without waiting for their WAL flush."""

from __future__ import annotations

import time

import psycopg
import pytest
import sqlalchemy as sa

from adapters import views as v
from adapters.eventstore import views_url
from adapters.sql import claim_tracking, run
from router.config import Config
from router.services import open_exchange
from tests.conftest import OPERATOR_TOKEN


def _backend(engine: sa.Engine) -> int:
    with engine.connect() as c:
        return int(c.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def _terminate(url: str, pid: int) -> None:
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    time.sleep(0.2)  # the backend is gone before the pool hands its connection out again


def test_an_idle_connection_that_died_is_replaced_before_use(
    pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(v, "IDLE_PING_SECONDS", 0.1)
    engine = v.create_engine(views_url(pg_database, None))
    try:
        first = _backend(engine)
        _terminate(pg_database, first)  # sleeps past the idle bound
        assert _backend(engine) != first
        assert engine.pool.checkedout() == 0
    finally:
        engine.dispose()


def test_a_busy_connection_is_not_pinged_and_a_dead_one_fails_once(pg_database: str) -> None:
    engine = v.create_engine(views_url(pg_database, None))
    try:
        first = _backend(engine)
        _terminate(pg_database, first)  # within IDLE_PING_SECONDS: used without a ping
        with pytest.raises(sa.exc.OperationalError) as failed:
            _backend(engine)
        assert failed.value.connection_invalidated
        assert _backend(engine) != first  # the pool was dropped: a new connection
    finally:
        engine.dispose()


def test_projection_transactions_commit_without_waiting_for_the_flush(pg_database: str) -> None:
    exchange, views = open_exchange(Config(database_url=pg_database, operator_token=OPERATOR_TOKEN))
    try:
        with views.engine.begin() as c:
            assert run(c, "SHOW synchronous_commit") == [("on",)]
            assert claim_tracking(c, v.tracking.name, "exchange-views", "position") == (0,)
            assert run(c, "SHOW synchronous_commit") == [("off",)]
        with views.engine.connect() as c:  # SET LOCAL: the next transaction waits again
            assert run(c, "SHOW synchronous_commit") == [("on",)]
    finally:
        exchange.close()
        views.engine.dispose()
