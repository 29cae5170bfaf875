"""Two router processes on one PostgreSQL database: nothing lost, nothing recorded twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import aiohttp
import pytest

from domain.directory import today_in_vietnam
from tests.support.api import COMMUNE, COMMUNE_2, DISTRICT, PROVINCE, Api, document

from .conftest import Server, Servers
from .helpers import (
    AGENCIES,
    NEXT,
    caught_up,
    eventually,
    every_event,
    every_item,
    ids_in,
    new_auditor,
    ready,
)

pytestmark = pytest.mark.postgres

PER_SENDER = 50
SAME_ON_BOTH = 20
WORKERS_PER_SENDER = 3


@pytest.fixture
async def pair(pg_database: str, servers: Servers) -> tuple[Server, Server]:
    """Two routers, one after the other, on the same fresh PostgreSQL database."""
    a = await servers.start(["--database", pg_database], "a")
    b = await servers.start(["--database", pg_database], "b")
    return a, b


async def _post(api: Api, sender: str, body: dict[str, Any]) -> tuple[int, Any]:
    return await api.call("POST", "/v1/documents", api.tokens[sender], json=body)


async def test_two_processes_sending_at_once_record_each_document_exactly_once(
    pair: tuple[Server, Server], session: aiohttp.ClientSession
) -> None:
    api_a, api_b = (Api(session, server.base_url) for server in pair)
    for code, tier, parent in AGENCIES:
        await api_a.register(code, tier, parent)
    api_b.tokens = api_a.tokens
    auditor = await new_auditor(api_b)
    process_of = {PROVINCE: api_a, DISTRICT: api_a, COMMUNE: api_b, COMMUNE_2: api_b}
    received: dict[str, list[str]] = {code: [] for code in NEXT}

    async def send_alone(sender: str, bodies: list[dict[str, Any]]) -> None:
        while bodies:
            status, answer = await _post(process_of[sender], sender, bodies.pop())
            assert status == 201, answer
            received[NEXT[sender]].append(answer["id"])

    both_answers: list[tuple[tuple[int, Any], tuple[int, Any]]] = []

    async def send_each_to_both() -> None:
        senders = list(NEXT)
        for i in range(SAME_ON_BOTH):
            sender = senders[i % len(senders)]
            body = document([NEXT[sender]], external_id=f"BOTH-{sender}-{i}")
            first, second = await asyncio.gather(
                _post(api_a, sender, body), _post(api_b, sender, body)
            )
            both_answers.append((first, second))
            assert first[0] in (200, 201), first
            received[NEXT[sender]].append(first[1]["id"])

    queues = {
        sender: [
            document([NEXT[sender]], external_id=f"ALONE-{sender}-{i}") for i in range(PER_SENDER)
        ]
        for sender in NEXT
    }
    await asyncio.gather(
        send_each_to_both(),
        *(
            send_alone(sender, queue)
            for sender, queue in queues.items()
            for _ in range(WORKERS_PER_SENDER)
        ),
    )

    for (status_a, body_a), (status_b, body_b) in both_answers:
        assert sorted([status_a, status_b]) == [200, 201], (body_a, body_b)
        assert body_a["id"] == body_b["id"]
    every_id = [doc for ids in received.values() for doc in ids]
    assert len(every_id) == len(set(every_id)) == len(NEXT) * PER_SENDER + SAME_ON_BOTH

    for api in (api_a, api_b):
        for agency, ids in received.items():
            want = sorted(ids)
            inbox = await eventually(
                lambda api=api, agency=agency: ids_in(api, "/v1/inbox", api.tokens[agency], 100),
                lambda got, want=want: sorted(got) == want,
            )
            assert sorted(inbox) == want, (api.base_url, agency)

    events = await every_event(api_a, auditor, limit=500)
    assert events == await every_event(api_b, auditor, limit=500)
    # Every view reads the same in both processes: directory, boxes, documents, statistics.
    today = today_in_vietnam()
    for agency in NEXT:
        token = api_a.tokens[agency]
        for path in ("/v1/inbox", "/v1/outbox", f"/v1/agencies?under={PROVINCE}"):
            same = await every_item(api_a, path, token) == await every_item(api_b, path, token)
            assert same, (agency, path)
        stats = f"/v1/stats?from={today}&to={today}"
        assert await api_a.call("GET", stats, token) == await api_b.call("GET", stats, token)
    for doc in every_id[:10]:
        path = f"/v1/documents/{doc}"
        assert await api_a.call("GET", path, auditor) == await api_b.call("GET", path, auditor)
    sent = Counter(e["stream"] for e in events if e["type"] == "DocumentSent")
    assert sent == Counter(every_id)
    for api in (api_a, api_b):
        readiness = await eventually(lambda api=api: ready(api), caught_up)
        assert caught_up(readiness), (api.base_url, readiness)


# The start-up race shows only some of the time: two attempts, each on a fresh database, catch
# it far more often than one.
@pytest.mark.parametrize("attempt", [1, 2])
async def test_routers_starting_together_on_an_empty_database_all_come_up(
    pg_database: str, servers: Servers, session: aiohttp.ClientSession, attempt: int
) -> None:
    started = await servers.start_together(["--database", pg_database], ["a", "b", "c"])
    apis = [Api(session, server.base_url) for server in started]
    await apis[0].register(PROVINCE, "province")
    for api in apis:
        status, body = await api.call("GET", f"/v1/agencies/{PROVINCE}", apis[0].tokens[PROVINCE])
        assert status == 200, (api.base_url, body)
        readiness = await eventually(lambda api=api: ready(api), caught_up)
        assert caught_up(readiness), (api.base_url, readiness)
