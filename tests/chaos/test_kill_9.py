"""kill -9 at random moments under load, on each store: nothing acknowledged is lost or doubled,
nothing unacknowledged is half there, and the views are what a full replay gives."""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp
import pytest

from tests.e2e.conftest import Server, Servers
from tests.e2e.helpers import new_auditor
from tests.support.api import Api

from .checks import check_rebuilt_views_answer_the_same, check_store
from .conftest import Chaos
from .load import Load

pytestmark = pytest.mark.chaos

# A quarter of the kills land while the router starts (catching up, creating its tables).
DURING_STARTUP = 0.25


async def _kill_while_starting(server: Server, delay: float) -> bool:
    """Starts the router and kills it `delay` seconds later if it has not answered yet; tells
    whether the kill landed during startup."""
    server.spawn()
    await asyncio.sleep(delay)
    assert server.running, f"the router exited by itself while starting:\n{server.stderr_end()}"
    if await _answers(server):
        return False
    server.kill()
    return True


async def _answers(server: Server) -> bool:
    try:
        async with (
            aiohttp.ClientSession() as probe,
            probe.get(server.base_url + "/healthz", timeout=aiohttp.ClientTimeout(total=1)) as r,
        ):
            return r.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


async def test_kill_9_at_random_moments_loses_and_doubles_nothing(
    store: list[str], servers: Servers, session: aiohttp.ClientSession, chaos: Chaos
) -> None:
    started = time.monotonic()
    server = await servers.start(store)
    api = Api(session, server.base_url)
    await api.province()
    auditor = await new_auditor(api)
    rng = chaos.rng(f"kill-9/{store[0]}")
    load = Load(api, auditor, rng, tag=f"K{chaos.seed}")
    kills = while_starting = 0
    async with load.running() as ledger:
        while kills < chaos.kills:
            await asyncio.sleep(rng.uniform(*chaos.pause))
            load.check()
            assert server.kill() == -signal.SIGKILL
            kills += 1
            starting = kills < chaos.kills and rng.random() < DURING_STARTUP
            if starting and await _kill_while_starting(server, rng.uniform(0.0, 0.8)):
                kills += 1
                while_starting += 1
            if not server.running:
                await server.start()
        await asyncio.sleep(rng.uniform(*chaos.pause))
    # A kill cuts calls; it never makes the router answer an error.
    assert set(ledger.count()) <= {0, 200, 201}, ledger.count()
    cut = ledger.count()[0]

    shown = await check_store(api, auditor, ledger)
    await check_rebuilt_views_answer_the_same(server, api, auditor, ledger, shown)
    name = "SQLite" if store[0] == "--data" else "PostgreSQL"
    chaos.report(
        f"kill -9 on {name}: {kills} kills ({while_starting} while starting), "
        f"{ledger.writes()} acknowledged writes ({len(ledger.documents)} documents, "
        f"{len(ledger.reports)} reports) checked exactly once, {cut} calls refused or cut, "
        f"{ledger.found_recorded} unanswered writes found recorded when sent again, "
        f"{time.monotonic() - started:.0f} s"
    )
