"""`lienthong serve --workers 2`: two processes on one port and one store act as one router."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.api import DISTRICT, PROVINCE, Api, document

from .conftest import Servers
from .helpers import AGENCIES, NEXT, caught_up, eventually, every_event, ids_in, new_auditor, ready

PER_SENDER = 40
RETRIES = 8


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(c) for c in task.read_text().split()]
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} is not in /metrics"
    return float(match.group(1))


async def test_workers_share_the_port_and_the_store(
    store: list[str], servers: Servers, session: aiohttp.ClientSession
) -> None:
    server = await servers.start([*store, "--workers", "2"])
    assert server.process is not None
    workers = _children(server.process.pid)
    assert len(workers) == 2, workers
    api = Api(session, server.base_url)
    for code, tier, parent in AGENCIES:
        await api.register(code, tier, parent)
    auditor = await new_auditor(api)
    received: dict[str, list[str]] = {code: [] for code in NEXT}

    async def send(sender: str, i: int) -> None:
        body = document([NEXT[sender]], external_id=f"W-{sender}-{i}")
        status, answer = await api.call("POST", "/v1/documents", api.tokens[sender], json=body)
        assert status == 201, answer
        received[NEXT[sender]].append(answer["id"])

    # Each call opens its own connection, so the kernel spreads them over both workers; the
    # retries of one document race each other across the workers too.
    retry = document([DISTRICT], external_id="SAME")
    answers: list[tuple[int, Any]] = await asyncio.gather(
        *(send(sender, i) for sender in NEXT for i in range(PER_SENDER)),
        *(
            api.call("POST", "/v1/documents", api.tokens[PROVINCE], json=retry)
            for _ in range(RETRIES)
        ),
    )
    statuses = Counter(a[0] for a in answers if a is not None)
    assert statuses == {201: 1, 200: RETRIES - 1}, answers
    received[DISTRICT].append(next(a[1]["id"] for a in answers if a is not None))

    for agency, ids in received.items():
        want = sorted(ids)
        inbox = await ids_in(api, "/v1/inbox", api.tokens[agency], 100)
        assert sorted(inbox) == want, agency
    events = await every_event(api, auditor, limit=500)
    sent = Counter(e["stream"] for e in events if e["type"] == "DocumentSent")
    assert sent == Counter(doc for ids in received.values() for doc in ids)
    readiness = await eventually(lambda: ready(api), caught_up)
    assert caught_up(readiness), readiness

    # Whichever worker answers /metrics counts what both of them did.
    for _ in range(4):
        async with session.get(server.base_url + "/metrics") as r:
            text = await r.text()
        assert _metric(text, "lienthong_store_events_committed_total") == len(events)
        assert _metric(text, "lienthong_event_store_position") == events[-1]["position"]


async def test_a_dead_worker_stops_the_set_so_a_supervisor_restarts_it(
    tmp_path: Path, servers: Servers
) -> None:
    server = await servers.start(["--data", str(tmp_path / "data"), "--workers", "2"])
    assert server.process is not None
    first, second = _children(server.process.pid)
    os.kill(first, signal.SIGKILL)
    assert server.process.wait(timeout=30) != 0
    assert not _alive(second)


async def test_sigterm_stops_every_worker(tmp_path: Path, servers: Servers) -> None:
    server = await servers.start(["--data", str(tmp_path / "data"), "--workers", "2"])
    assert server.process is not None
    children = _children(server.process.pid)
    server.stop()
    assert server.process.returncode == 0
    assert not any(_alive(c) for c in children)
