"""Two communes merge while documents are being sent to them and status reports come in:
nothing is lost or misdelivered, and an auditor reads the history of both codes."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import aiohttp

from tests.conftest import OPERATOR_TOKEN
from tests.support.api import COMMUNE, COMMUNE_2, PROVINCE, Api, document

from .conftest import Servers
from .helpers import caught_up, eventually, every_event, every_item, new_auditor, ready

DOCUMENTS = 60
MERGE_AFTER = 20


async def test_a_merge_in_flight_loses_and_misdelivers_nothing(
    store: list[str], servers: Servers, session: aiohttp.ClientSession
) -> None:
    server = await servers.start([*store, "--clock-seconds", "0.2"])
    api = Api(session, server.base_url)
    await api.province()
    auditor = await new_auditor(api)
    sent: list[str] = []
    reports: Counter[str] = Counter()
    merged = asyncio.Event()
    finished = asyncio.Event()

    async def send_all() -> None:
        for i in range(DOCUMENTS):
            to = [COMMUNE] if i % 2 else [COMMUNE, COMMUNE_2]
            status, body = await api.call(
                "POST",
                "/v1/documents",
                api.tokens[PROVINCE],
                json=document(to, external_id=f"MERGE-{i}"),
            )
            assert status == 201, body
            sent.append(body["id"])
            if len(sent) == MERGE_AFTER:
                status, body = await api.call(
                    "POST",
                    f"/v1/agencies/{COMMUNE}/merge",
                    OPERATOR_TOKEN,
                    json={"into": COMMUNE_2},
                )
                assert (status, body["status"]) == (200, "merged"), body
                merged.set()

    async def acknowledge(agency: str) -> None:
        """Reports 01 on whatever the agency's inbox holds that is still delivered."""
        for item in await every_item(api, "/v1/inbox?status=delivered", api.tokens[agency]):
            status, body = await api.report(agency, item["id"], "01")
            if agency == COMMUNE and status == 403:
                continue  # merged meanwhile: its successor answers for it now
            assert status in (200, 201), (agency, body)
            reports[agency] += status == 201

    async def report_while_sending() -> None:
        while not finished.is_set():
            await acknowledge(COMMUNE)
            await acknowledge(COMMUNE_2)
            await asyncio.sleep(0.01)

    reporter = asyncio.create_task(report_while_sending())
    await send_all()
    finished.set()
    await reporter
    assert merged.is_set()

    # Every document reaches the successor once, whichever side of the merge it was sent on.
    async def inbox(agency: str) -> list[dict[str, Any]]:
        return await every_item(api, "/v1/inbox", api.tokens[agency])

    held = await eventually(lambda: inbox(COMMUNE_2), lambda items: len(items) == DOCUMENTS)
    assert sorted(i["id"] for i in held) == sorted(sent)
    assert await inbox(COMMUNE) == []
    await acknowledge(COMMUNE_2)
    assert {i["status"] for i in await inbox(COMMUNE_2)} == {"01"}

    for doc_id in sent:
        status, seen = await api.call("GET", f"/v1/documents/{doc_id}", auditor)
        assert status == 200, seen
        for line in seen["recipients"]:
            assert (line["delivered_to"] or line["agency"]) == COMMUNE_2, seen
            assert line["status"] == "01", seen

    # The auditor's history: each document sent once, each recorded report once, and the
    # hand-overs of the merged commune's lines.
    events = await every_event(api, auditor, limit=500)
    assert Counter(e["stream"] for e in events if e["type"] == "DocumentSent") == Counter(sent)
    reported = [e for e in events if e["type"] == "DocumentStatusReported"]
    assert len({(e["stream"], e["data"]["agency"]) for e in reported}) == len(reported)
    lines = sum(
        1
        for e in events
        if e["type"] == "DocumentSent"
        for r in e["data"]["recipients"]
        if r["agency"] in (COMMUNE, COMMUNE_2)
    )
    assert len(reported) == lines
    handed = [e["data"] for e in events if e["type"] == "DocumentHandedOver"]
    assert all(h == {"agency": COMMUNE, "to": COMMUNE_2} for h in handed)
    assert len(handed) == sum(
        1
        for e in events
        if e["type"] == "DocumentSent"
        for r in e["data"]["recipients"]
        if r["agency"] == COMMUNE
    )
    # The merged commune still reads what it received before the merge (grace period), and
    # nothing sent after it.
    for e in events:
        if e["type"] == "DocumentSent":
            before = any(r["agency"] == COMMUNE for r in e["data"]["recipients"])
            status, _ = await api.call("GET", f"/v1/documents/{e['stream']}", api.tokens[COMMUNE])
            assert status == (200 if before else 404), e
    readiness = await eventually(lambda: ready(api), caught_up)
    assert caught_up(readiness), readiness
