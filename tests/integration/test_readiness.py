"""/readyz tells when the views or the evidence lag behind the store, and when the store cannot
be reached."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import psycopg
import pytest

from domain.codes import Tier
from domain.commands import RegisterAgency
from router.app import create_app
from router.config import Config
from router.services import SERVICES, open_exchange
from tests.conftest import OPERATOR_TOKEN
from tests.support.api import Api


async def test_readyz_fails_while_the_views_lag_and_recovers(
    store_config: Config, aiohttp_client: Any
) -> None:
    # No polling: the views follow only this router's own commits, so another writer's
    # events stay unprojected until this router commits something itself.
    config = dataclasses.replace(store_config, poll_interval=3600, ready_max_lag_events=2)
    api = Api(await aiohttp_client(create_app(config)))
    assert (await api.call("GET", "/readyz"))[0] == 200

    other, views = open_exchange(config)
    try:
        for i in range(3):
            code = f"000.0{i}.00.H41"
            other.execute(RegisterAgency(code, code, Tier.PROVINCE, None, False, f"h{i}"))
    finally:
        other.close()
        views.engine.dispose()
    status, body = await api.call("GET", "/readyz")
    assert status == 503, body
    assert body["detail"] == "views are 3 events behind the store"

    # The views catch up; the evidence (receipts, Merkle leaves) still lags.
    assert await asyncio.to_thread(api.session.app[SERVICES].runner.catch_up)
    status, body = await api.call("GET", "/readyz")
    assert status == 503, body
    assert body["detail"] == "the evidence is 3 events behind the store"

    status, _ = await api.call("POST", "/v1/auditors", OPERATOR_TOKEN, json={"name": "A"})
    assert status == 201
    status, body = await api.call("GET", "/readyz")
    assert status == 200, body
    assert body["store_position"] == body["views_position"] == body["evidence_position"] == 4


@pytest.mark.postgres
async def test_readyz_fails_while_the_store_is_unreachable(
    pg_database: str, aiohttp_client: Any
) -> None:
    config = Config(database_url=pg_database, operator_token=OPERATOR_TOKEN)
    api = Api(await aiohttp_client(create_app(config)))
    assert (await api.call("GET", "/readyz"))[0] == 200
    name = pg_database.rsplit("/", 1)[1]
    admin = pg_database.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        c.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
    try:
        status, body = await api.call("GET", "/readyz")
        assert status == 503, body
        assert body["detail"].startswith("event store unreachable")
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    # Ready again once the projections' next poll finds the store back (a fraction of a second;
    # ten seconds at most here, for a loaded machine).
    for _ in range(100):
        status, body = await api.call("GET", "/readyz")
        if status == 200:
            break
        await asyncio.sleep(0.1)
    assert status == 200, body
