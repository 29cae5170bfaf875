"""Two provinces and the national axis as real processes on loopback: documents cross the axis
exactly once in effect and every status comes back, with faults and a router killed mid-way."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.axis.client import AxisAdmin, AxisClient
from adapters.axis.wire import Faults
from tests.conftest import OPERATOR_TOKEN
from tests.e2e.axis import start_axis_sim
from tests.e2e.conftest import Server, Servers
from tests.support.api import Api
from tests.support.axis import ADMIN_TOKEN

H41_PROVINCE, H41_DISTRICT, H41_COMMUNE = "000.00.00.H41", "000.01.00.H41", "000.01.01.H41"
H29_PROVINCE, H29_DEPARTMENT = "000.00.00.H29", "000.00.11.H29"
POLL_SECONDS = 0.3


class Province:
    """One province: its router, its API client and its system's secret on the axis."""

    def __init__(self, server: Server, api: Api, system: str, secret: str) -> None:
        self.server, self.api, self.system, self.secret = server, api, system, secret


async def eventually(
    check: Callable[[], Awaitable[bool]],
    seconds: float = 60.0,
    state: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """Waits until check() holds, or fails the test saying what state() shows then."""
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            seen = await state() if state else ""
            pytest.fail(f"not true within {seconds} s: {seen}")
        await asyncio.sleep(0.1)


async def _province(
    servers: Servers,
    session: aiohttp.ClientSession,
    tmp_path: Path,
    axis_url: str,
    system: str,
    store: list[str] | None = None,
    name: str | None = None,
) -> Province:
    secret = f"{system}-secret-0123456789abcdef"
    secret_file = tmp_path / f"{system}.secret"
    secret_file.write_text(secret + "\n")
    server = await servers.start(
        [
            *(store or ["--data", str(tmp_path / system)]),
            "--axis-url", axis_url,
            "--axis-system-id", system,
            "--axis-secret-file", str(secret_file),
            "--axis-poll-interval", str(POLL_SECONDS),
            "--axis-max-attempts", "40",
        ],
        name or system,
    )  # fmt: skip
    return Province(server, Api(session, server.base_url), system, secret)


@pytest.fixture
async def provinces(
    servers: Servers, session: aiohttp.ClientSession, tmp_path: Path
) -> tuple[Province, Province, str]:
    """H41 and H29, each on its own store, both connected to one simulator (no faults yet)."""
    sim = await start_axis_sim(servers, tmp_path / "axis")
    admin = AxisAdmin(sim.base_url, ADMIN_TOKEN)
    try:
        for system in ("H41", "H29"):
            await admin.add_system(system, f"{system}-secret-0123456789abcdef")
    finally:
        await admin.close()
    h41 = await _province(servers, session, tmp_path, sim.base_url, "H41")
    h29 = await _province(servers, session, tmp_path, sim.base_url, "H29")
    await h41.api.register(H41_PROVINCE, "province")
    await h41.api.register(H41_DISTRICT, "district", H41_PROVINCE)
    await h41.api.register(H41_COMMUNE, "commune", H41_DISTRICT)
    await h41.api.register(H29_DEPARTMENT, "province", None, remote=True)
    await h29.api.register(H29_PROVINCE, "province")
    await h29.api.register(H29_DEPARTMENT, "province", H29_PROVINCE)
    await _catalogued(h41, sim.base_url, {H41_COMMUNE, H29_DEPARTMENT})
    return h41, h29, sim.base_url


async def _catalogued(province: Province, axis_url: str, codes: set[str]) -> None:
    """Waits until the routers have announced these agencies to the axis catalogue (by
    themselves: at start and when the directory changes)."""
    client = AxisClient(axis_url, province.system, province.secret)

    async def listed() -> bool:
        return codes <= {item.code for item in (await client.catalogue()).items}

    try:
        await eventually(listed)
    finally:
        await client.close()


async def _inbox(api: Api, agency: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": "500"} | ({"cursor": cursor} if cursor else {})
        status, body = await api.call("GET", "/v1/inbox", api.tokens[agency], params=params)
        assert status == 200, body
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


async def _statuses(api: Api, sender: str, document: str) -> dict[str, list[str]]:
    status, body = await api.call("GET", f"/v1/documents/{document}", api.tokens[sender])
    assert status == 200, body
    return {r["agency"]: [h["status"] for h in r["history"]] for r in body["recipients"]}


async def test_a_commune_reaches_a_department_of_another_province_and_hears_back(
    provinces: tuple[Province, Province, str],
) -> None:
    h41, h29, _ = provinces
    status, sent = await h41.api.send(
        H41_COMMUNE, [H41_DISTRICT, H29_DEPARTMENT], subject="Về việc phối hợp liên tỉnh"
    )
    assert status == 201, sent
    routes = {r["agency"]: (r["route"], r["state"]) for r in sent["recipients"]}
    assert routes == {H41_DISTRICT: ("local", "delivered"), H29_DEPARTMENT: ("axis", "queued")}
    [local] = await _inbox(h41.api, H41_DISTRICT)
    assert local["id"] == sent["id"]

    async def arrived() -> bool:
        return len(await _inbox(h29.api, H29_DEPARTMENT)) == 1

    await eventually(arrived)
    [remote] = await _inbox(h29.api, H29_DEPARTMENT)
    assert (remote["from"], remote["subject"]) == (H41_COMMUNE, "Về việc phối hợp liên tỉnh")
    for code in ("01", "03", "06"):
        status, body = await h29.api.report(H29_DEPARTMENT, remote["id"], code)
        assert status == 201, body

    async def mirrored() -> bool:
        lines = await _statuses(h41.api, H41_COMMUNE, sent["id"])
        return lines[H29_DEPARTMENT][-1] == "06"

    await eventually(mirrored)
    lines = await _statuses(h41.api, H41_COMMUNE, sent["id"])
    assert lines[H29_DEPARTMENT] == ["queued", "forwarded", "01", "03", "06"]
    status, outbox = await h41.api.call("GET", "/v1/outbox", h41.api.tokens[H41_COMMUNE])
    assert {r["agency"]: r["status"] for r in outbox["items"][0]["recipients"]} == {
        H41_DISTRICT: "delivered",
        H29_DEPARTMENT: "06",
    }
    status, queue = await h41.api.call("GET", "/v1/axis/queue", OPERATOR_TOKEN)
    assert [(i["kind"], i["state"]) for i in queue["items"]] == [("document", "forwarded")]


FAULTS = Faults(
    seed=41,
    drop_request=0.2,
    drop_response=0.2,
    duplicate=0.2,
    error=0.2,
    delay=0.2,
    delay_ms=50,
    reorder=0.2,
)
DOCUMENTS = int(os.environ.get("LIENTHONG_AXIS_DOCUMENTS", "200"))


async def _report_all(h29: Province, session: aiohttp.ClientSession, ids: list[str]) -> None:
    """The department works each document to completion, four documents at a time."""
    semaphore = asyncio.Semaphore(4)

    async def work(document: str) -> None:
        async with semaphore:
            for code in ("01", "03", "06"):
                for _ in range(600):  # the router may be down for a moment (killed, restarting)
                    try:
                        status, body = await h29.api.report(H29_DEPARTMENT, document, code)
                    except aiohttp.ClientError:
                        await asyncio.sleep(0.1)
                        continue
                    assert status in (200, 201), body
                    break

    await asyncio.gather(*(work(i) for i in ids))


async def test_every_document_crosses_once_and_every_status_returns_despite_faults(
    provinces: tuple[Province, Province, str], session: aiohttp.ClientSession
) -> None:
    h41, h29, axis_url = provinces
    admin = AxisAdmin(axis_url, ADMIN_TOKEN)
    try:
        await admin.set_faults(FAULTS)
    finally:
        await admin.close()
    sent: list[str] = []
    for n in range(DOCUMENTS):
        if n == DOCUMENTS // 2:
            # kill -9 in the middle of forwarding: the queue is in the store, not in memory.
            h41.server.kill()
            await h41.server.start()
        status, body = await h41.api.send(
            H41_COMMUNE, [H29_DEPARTMENT], external_id=f"LT-{n}", code_number=str(1000 + n)
        )
        assert status == 201, body
        sent.append(body["id"])

    async def all_arrived() -> bool:
        return len(await _inbox(h29.api, H29_DEPARTMENT)) >= DOCUMENTS

    started = time.monotonic()
    await eventually(all_arrived, 240)
    print(f"arrived after {time.monotonic() - started:.1f} s")
    received = [item["id"] for item in await _inbox(h29.api, H29_DEPARTMENT)]
    assert len(received) == len(set(received)) == DOCUMENTS
    reporting = asyncio.create_task(_report_all(h29, session, received))
    await asyncio.sleep(2)
    h29.server.kill()  # kill -9 while statuses are being reported and forwarded
    await h29.server.start()
    await reporting

    async def all_completed() -> bool:
        _, outbox = await h41.api.call(
            "GET", "/v1/outbox", h41.api.tokens[H41_COMMUNE], params={"limit": "500"}
        )
        return all(i["recipients"][0]["status"] == "06" for i in outbox["items"])

    async def where() -> object:
        _, outbox = await h41.api.call(
            "GET", "/v1/outbox", h41.api.tokens[H41_COMMUNE], params={"limit": "500"}
        )
        queues = [
            (await p.api.call("GET", "/v1/axis/queue", OPERATOR_TOKEN, params={"state": state}))[1]
            for p in (h41, h29)
            for state in ("queued", "parked")
        ]
        stuck = [i["id"][:8] for i in outbox["items"] if i["recipients"][0]["status"] != "06"]
        return (
            Counter(i["recipients"][0]["status"] for i in outbox["items"]),
            [[(i["item"], i["attempts"], i["reason"]) for i in q["items"][:5]] for q in queues],
            stuck[:5],
        )

    await eventually(all_completed, 300, where)
    print(f"completed after {time.monotonic() - started:.1f} s")
    for document in sent[:: DOCUMENTS // 20]:
        history = (await _statuses(h41.api, H41_COMMUNE, document))[H29_DEPARTMENT]
        assert history[-3:] == ["01", "03", "06"], history
    # Nothing was parked: every failure was transient and retried.
    for province in (h41, h29):
        _, parked = await province.api.call(
            "GET", "/v1/axis/queue", OPERATOR_TOKEN, params={"state": "parked"}
        )
        assert parked["items"] == []
    # Exactly once in effect: one DocumentReceivedFromAxis per document in H29's history.
    _, auditor = await h29.api.call(
        "POST", "/v1/auditors", OPERATOR_TOKEN, json={"name": "Thanh tra H29"}
    )
    received_events, after = 0, 0
    while True:
        _, page = await h29.api.call(
            "GET", "/v1/events", auditor["token"], params={"after": str(after), "limit": "500"}
        )
        received_events += sum(e["type"] == "DocumentReceivedFromAxis" for e in page["items"])
        if page["next_after"] is None or not page["items"]:
            break
        after = page["next_after"]
    assert received_events == DOCUMENTS


async def _bridging(province: Province) -> bool:
    """Tells whether this router process holds the bridge (it has polled the axis)."""
    async with (
        aiohttp.ClientSession() as probe,
        probe.get(province.server.base_url + "/metrics") as r,
    ):
        text = await r.text()
    for line in text.splitlines():
        if line.startswith("lienthong_axis_last_contact_timestamp_seconds "):
            return float(line.split()[1]) > 0
    return False


@pytest.mark.postgres
async def test_one_of_two_routers_on_postgresql_bridges_and_the_other_takes_over(
    servers: Servers, session: aiohttp.ClientSession, tmp_path: Path, pg_database: str
) -> None:
    sim = await start_axis_sim(servers, tmp_path / "axis")
    admin = AxisAdmin(sim.base_url, ADMIN_TOKEN)
    try:
        for system in ("H41", "H29"):
            await admin.add_system(system, f"{system}-secret-0123456789abcdef")
    finally:
        await admin.close()
    store = ["--database", pg_database]
    first = await _province(servers, session, tmp_path, sim.base_url, "H41", store, "H41-a")
    second = await _province(servers, session, tmp_path, sim.base_url, "H41", store, "H41-b")
    h29 = await _province(servers, session, tmp_path, sim.base_url, "H29")
    await first.api.register(H41_PROVINCE, "province")
    await first.api.register(H41_COMMUNE, "commune", H41_PROVINCE)
    await first.api.register(H29_DEPARTMENT, "province", None, remote=True)
    second.api.tokens.update(first.api.tokens)
    await h29.api.register(H29_PROVINCE, "province")
    await h29.api.register(H29_DEPARTMENT, "province", H29_PROVINCE)

    await _catalogued(first, sim.base_url, {H41_COMMUNE, H29_DEPARTMENT})

    async def one_bridges() -> bool:
        return [await _bridging(first), await _bridging(second)].count(True) == 1

    await eventually(one_bridges)
    leader, other = (first, second) if await _bridging(first) else (second, first)
    sent = []
    for n in range(10):
        # Both take sends; after the fifth the leader dies (its advisory lock goes with its
        # connection) and the other serves alone.
        via = (first, second)[n % 2] if n < 5 else other
        status, body = await via.api.send(
            H41_COMMUNE, [H29_DEPARTMENT], external_id=f"PG-{n}", code_number=str(500 + n)
        )
        assert status == 201, body
        sent.append(body["id"])
        if n == 4:
            leader.server.kill()

    async def all_arrived() -> bool:
        return len(await _inbox(h29.api, H29_DEPARTMENT)) == len(sent)

    async def where() -> object:
        _, queue = await other.api.call("GET", "/v1/axis/queue", OPERATOR_TOKEN)
        arrived = len(await _inbox(h29.api, H29_DEPARTMENT))
        return arrived, [(i["state"], i["attempts"], i["reason"]) for i in queue["items"]]

    await eventually(all_arrived, 60, where)
    assert await _bridging(other)
    for item in await _inbox(h29.api, H29_DEPARTMENT):
        status, body = await h29.api.report(H29_DEPARTMENT, item["id"], "01")
        assert status == 201, body

    async def all_arrived_back() -> bool:
        _, outbox = await other.api.call(
            "GET", "/v1/outbox", other.api.tokens[H41_COMMUNE], params={"limit": "50"}
        )
        return [i["recipients"][0]["status"] for i in outbox["items"]] == ["01"] * len(sent)

    await eventually(all_arrived_back)


async def test_a_second_document_with_the_same_number_is_parked_not_lost(
    provinces: tuple[Province, Province, str],
) -> None:
    h41, h29, _ = provinces
    _, first = await h41.api.send(H41_COMMUNE, [H29_DEPARTMENT], external_id="A")
    _, second = await h41.api.send(H41_COMMUNE, [H29_DEPARTMENT], external_id="B")

    async def settled() -> bool:
        _, queue = await h41.api.call("GET", "/v1/axis/queue", OPERATOR_TOKEN)
        return all(i["state"] != "queued" for i in queue["items"])

    await eventually(settled)
    _, queue = await h41.api.call("GET", "/v1/axis/queue", OPERATOR_TOKEN)
    states = {i["document_id"]: (i["state"], i["reason"]) for i in queue["items"]}
    assert states[first["id"]] == ("forwarded", None)
    state, reason = states[second["id"]]
    assert state == "parked"
    assert f"document {first['id']} already went out as {H41_COMMUNE}," in reason

    async def arrived() -> bool:
        return len(await _inbox(h29.api, H29_DEPARTMENT)) == 1

    await eventually(arrived)


async def test_a_revocation_follows_its_document_across_the_axis(
    provinces: tuple[Province, Province, str],
) -> None:
    h41, h29, _ = provinces
    _, sent = await h41.api.send(H41_COMMUNE, [H29_DEPARTMENT], external_id="R-1")

    async def arrived() -> bool:
        return len(await _inbox(h29.api, H29_DEPARTMENT)) == 1

    await eventually(arrived)
    [remote] = await _inbox(h29.api, H29_DEPARTMENT)
    status, body = await h29.api.report(H29_DEPARTMENT, remote["id"], "03")
    assert status == 201, body

    async def accepted() -> bool:
        lines = await _statuses(h41.api, H41_COMMUNE, sent["id"])
        return lines[H29_DEPARTMENT][-1] == "03"

    await eventually(accepted)
    status, body = await h41.api.call(
        "POST", f"/v1/documents/{sent['id']}/revoke", h41.api.tokens[H41_COMMUNE],
        json={"reason": "Ban hành nhầm"},
    )  # fmt: skip
    assert status == 200, body

    async def asked() -> bool:
        _, document = await h29.api.call(
            "GET", f"/v1/documents/{remote['id']}", h29.api.tokens[H29_DEPARTMENT]
        )
        return bool(document["revoked"]) and document["recipients"][0]["status"] == "13"

    await eventually(asked)
    status, body = await h29.api.report(H29_DEPARTMENT, remote["id"], "15")
    assert status == 201, body

    async def agreed() -> bool:
        lines = await _statuses(h41.api, H41_COMMUNE, sent["id"])
        return lines[H29_DEPARTMENT][-1] == "15"

    await eventually(agreed)
    _, queue = await h41.api.call("GET", "/v1/axis/queue", OPERATOR_TOKEN)
    assert [(i["item"], i["state"]) for i in queue["items"]] == [
        ("document", "forwarded"),
        ("revoke", "forwarded"),
    ]
