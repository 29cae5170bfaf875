"""Fixtures shared by every test tier: stores (SQLite and PostgreSQL) and configs."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from router.config import Config

OPERATOR_TOKEN = "operator-" + "x" * 40
PG_URL = os.environ.get("LIENTHONG_TEST_DATABASE_URL")
REQUIRE_PG = os.environ.get("LIENTHONG_REQUIRE_POSTGRES") == "1"


def _admin_url() -> str:
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("LIENTHONG_TEST_DATABASE_URL is not set but PostgreSQL is required")
        pytest.skip("no PostgreSQL: set LIENTHONG_TEST_DATABASE_URL (make test starts one)")
    return PG_URL


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database; dropped afterwards."""
    admin = _admin_url()
    name = f"lt_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    yield urlsplit(admin)._replace(path=f"/{name}").geturl()
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def store_config(request: pytest.FixtureRequest, tmp_path: Path) -> Config:
    """The same scenario against each store: a data directory, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return Config(data_dir=tmp_path / "data", operator_token=OPERATOR_TOKEN, poll_interval=0.05)
    url = request.getfixturevalue("pg_database")
    return Config(database_url=url, operator_token=OPERATOR_TOKEN, poll_interval=0.05)
