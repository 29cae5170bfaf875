"""Integration fixtures: the real app on a real store, served on loopback in-process."""

from __future__ import annotations

import asyncio
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from router.app import create_app
from router.config import Config
from router.services import SERVICES
from tests.conftest import OPERATOR_TOKEN
from tests.support.api import Api
from tests.support.pki import write_trust_store
from tests.support.province import Province, seed


@pytest.fixture
async def api(store_config: Config, aiohttp_client: Any) -> Api:
    """An API client of a fresh router on SQLite or PostgreSQL."""
    client = await aiohttp_client(create_app(store_config))
    return Api(client)


def _sqlite(data: Path) -> Config:
    # No clock tick after the one at start: answers must not depend on when a test runs long.
    return Config(
        data_dir=data,
        operator_token=OPERATOR_TOKEN,
        poll_interval=0.05,
        clock_interval=3600,
        trust_store=write_trust_store(data.parent),
    )


@pytest.fixture(scope="session")
def seeded_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Province]:
    """A SQLite data directory holding the seeded province: made once, copied for each test."""
    data = tmp_path_factory.mktemp("seeded") / "data"

    async def make() -> Province:
        async with TestClient(TestServer(create_app(_sqlite(data)))) as client:
            province = await seed(Api(client))
            # A signed checkpoint, so that the evidence routes have one to answer with.
            services = client.app[SERVICES]
            await services.call(services.evidence.checkpoint)
            return province

    # Its own thread and event loop, apart from those pytest-asyncio gives each test.
    with ThreadPoolExecutor(1) as thread:
        return data, thread.submit(asyncio.run, make()).result()


@pytest.fixture
async def seeded(
    seeded_store: tuple[Path, Province], tmp_path: Path, aiohttp_client: Any
) -> tuple[Api, Province]:
    """A router on a fresh copy of the seeded province (SQLite)."""
    template, province = seeded_store
    shutil.copytree(template, tmp_path / "data")
    api = Api(await aiohttp_client(create_app(_sqlite(tmp_path / "data"))))
    api.tokens.update(province.agencies)
    return api, province
