"""PostgreSQL itself stops and starts again under load: every call answers promptly (never a 500,
never a hang), with 503 problem+json while it stays down, calls succeed again once it is back,
and nothing acknowledged is lost or doubled."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from adapters.eventstore import UNREACHABLE
from tests.e2e.conftest import Servers
from tests.e2e.helpers import new_auditor
from tests.support.api import Api

from .checks import check_rebuilt_views_answer_the_same, check_store
from .conftest import Chaos
from .load import PROBLEM, Answer, Load

pytestmark = [pytest.mark.chaos, pytest.mark.postgres]

CLUSTER = Path(__file__).resolve().parents[2] / "ops" / "pg-test-cluster.sh"
# A call to the event store may wait for a connection ten times while the database is down
# (eventsourcing's retries, about 7 s in all, see adapters/eventstore.py), then it must answer:
# 503 if the database is still down, else what it asked for (a short outage is ridden through).
PROMPT_SECONDS = 10.0
# Outages alternate: short ones, ridden through or answered 503, and ones longer than the promise,
# during which every call made while the database is down must be answered while it still is.
OUTAGE_SECONDS = (2.0, PROMPT_SECONDS + 2.0)


@pytest.fixture
def cluster(pg_database: str) -> Iterator[str]:
    """The directory of the test cluster (ops/run-tests.sh); its server runs again afterwards,
    before the test's database is dropped."""
    directory = os.environ.get("LIENTHONG_TEST_PG_DIR")
    if not directory:
        pytest.skip(
            "restarting PostgreSQL needs the throwaway cluster of ops/run-tests.sh "
            "(LIENTHONG_TEST_PG_DIR), not a server of your own"
        )
    yield directory
    subprocess.run([str(CLUSTER), "up", directory], check=True, timeout=120)


async def _cluster(action: str, directory: str) -> None:
    process = await asyncio.create_subprocess_exec(
        str(CLUSTER),
        action,
        directory,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, f"pg-test-cluster.sh {action}: {output.decode()}"


def _during(answers: list[Answer], start: float, end: float) -> list[Answer]:
    return [a for a in answers if a.started >= start and a.ended <= end]


async def test_while_postgresql_restarts_calls_answer_503_and_nothing_acknowledged_is_lost(
    pg_database: str,
    cluster: str,
    servers: Servers,
    session: aiohttp.ClientSession,
    chaos: Chaos,
) -> None:
    started = time.monotonic()
    server = await servers.start(["--database", pg_database])
    api = Api(session, server.base_url)
    await api.province()
    auditor = await new_auditor(api)
    rng = chaos.rng("postgres-restart")
    load = Load(api, auditor, rng, tag=f"P{chaos.seed}")
    outages: list[tuple[float, float]] = []
    async with load.running() as ledger:
        for i in range(chaos.outages):
            await asyncio.sleep(rng.uniform(*chaos.pause) + 0.5)
            load.check()
            await _cluster("down", cluster)
            down = time.monotonic()
            await asyncio.sleep(OUTAGE_SECONDS[i % 2])
            outages.append((down, time.monotonic()))
            await _cluster("up", cluster)
        back = time.monotonic()
        await asyncio.sleep(2.0)

    answers = ledger.answers
    assert {a.status for a in answers} <= {200, 201, 503}, ledger.count()
    failed = [a for a in answers if a.status == 503]
    for answer in failed:
        assert (answer.content_type, answer.detail) == (PROBLEM, UNREACHABLE), answer.describe()
    slowest = max(answers, key=lambda a: a.seconds)
    assert slowest.seconds < PROMPT_SECONDS, slowest.describe()
    for down, up in outages:
        while_down = _during(answers, down, up)
        assert {a.status for a in while_down} <= {503}, [a.describe() for a in while_down]
        if up - down > PROMPT_SECONDS:  # long enough that calls cannot just wait it out
            assert len(while_down) >= 10, f"{len(while_down)} calls while PostgreSQL was down"
    recovered = [a.ended - back for a in answers if a.status in (200, 201) and a.started > back]
    assert recovered, "no call succeeded after PostgreSQL came back"

    shown = await check_store(api, auditor, ledger)
    await check_rebuilt_views_answer_the_same(server, api, auditor, ledger, shown)
    median = statistics.median(a.seconds for a in failed)
    lengths = " or ".join(f"{seconds:g}" for seconds in OUTAGE_SECONDS)
    chaos.report(
        f"PostgreSQL restarted {len(outages)} times (down {lengths} s): "
        f"{len(failed)} calls answered 503 (median {median:.3f} s, "
        f"slowest call {slowest.seconds:.2f} s), first success {min(recovered):.2f} s after "
        f"it was back, {ledger.writes()} acknowledged writes checked exactly once, "
        f"{ledger.found_recorded} unanswered writes found recorded when sent again, "
        f"{time.monotonic() - started:.0f} s"
    )
