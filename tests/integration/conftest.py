"""Integration fixtures: the real app on a real store, served on loopback in-process."""

from __future__ import annotations

from typing import Any

import pytest

from router.app import create_app
from router.config import Config
from tests.support.api import Api


@pytest.fixture
async def api(store_config: Config, aiohttp_client: Any) -> Api:
    """An API client of a fresh router on SQLite or PostgreSQL."""
    client = await aiohttp_client(create_app(store_config))
    return Api(client)
