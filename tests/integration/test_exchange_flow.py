"""The core exchange over HTTP on each store: register, send, inbox, status, outbox, history."""

from __future__ import annotations

import contextlib

import aiohttp
import psycopg
import pytest

from router.config import Config
from tests.conftest import OPERATOR_TOKEN
from tests.support.api import (
    COMMUNE,
    COMMUNE_2,
    DEPARTMENT,
    DISTRICT,
    MINISTRY,
    PROVINCE,
    REMOTE_MINISTRY,
    Api,
    attachment,
)


async def test_a_document_travels_down_four_tiers_and_its_status_comes_back(api: Api) -> None:
    await api.province()
    status, sent = await api.send(MINISTRY, [PROVINCE, DISTRICT, COMMUNE])
    assert status == 201, sent
    assert [r["route"] for r in sent["recipients"]] == ["local"] * 3
    doc = sent["id"]

    for agency in (PROVINCE, DISTRICT, COMMUNE):
        status, inbox = await api.call("GET", "/v1/inbox", api.tokens[agency])
        assert status == 200
        assert [i["id"] for i in inbox["items"]] == [doc]
        assert inbox["items"][0]["status"] == "delivered"

    for code in ("01", "03", "04", "05", "06"):
        status, body = await api.report(COMMUNE, doc, code, by={"name": "Lê Văn A"})
        assert status == 201, body

    status, outbox = await api.call("GET", "/v1/outbox", api.tokens[MINISTRY])
    assert status == 200
    lines = {r["agency"]: r["status"] for r in outbox["items"][0]["recipients"]}
    assert lines == {PROVINCE: "delivered", DISTRICT: "delivered", COMMUNE: "06"}

    status, history = await api.call("GET", f"/v1/documents/{doc}/history", api.tokens[MINISTRY])
    assert status == 200
    assert [e["type"] for e in history["items"]] == ["DocumentSent"] + [
        "DocumentStatusReported"
    ] * 5


async def test_documents_go_up_and_sideways(api: Api) -> None:
    await api.province()
    status, up = await api.send(COMMUNE, [PROVINCE, MINISTRY])
    assert status == 201
    status, sideways = await api.send(COMMUNE, [COMMUNE_2])
    assert status == 201
    status, inbox = await api.call("GET", "/v1/inbox", api.tokens[COMMUNE_2])
    assert [i["id"] for i in inbox["items"]] == [sideways["id"]]
    status, inbox = await api.call("GET", "/v1/inbox", api.tokens[MINISTRY])
    assert [i["id"] for i in inbox["items"]] == [up["id"]]


async def test_a_remote_recipient_is_queued_for_the_axis(api: Api) -> None:
    await api.province()
    status, sent = await api.send(PROVINCE, [DEPARTMENT, REMOTE_MINISTRY])
    assert status == 201
    assert sent["recipients"] == [
        {"agency": DEPARTMENT, "delivered_to": None, "route": "local", "state": "delivered"},
        {"agency": REMOTE_MINISTRY, "delivered_to": None, "route": "axis", "state": "queued"},
    ]


async def test_a_retry_with_the_same_content_records_nothing(api: Api) -> None:
    await api.province()
    status, first = await api.send(PROVINCE, [COMMUNE], external_id="VP-1")
    assert status == 201
    status, again = await api.send(PROVINCE, [COMMUNE], external_id="VP-1")
    assert status == 200
    assert again["id"] == first["id"]
    status, other = await api.send(PROVINCE, [COMMUNE], external_id="VP-1", subject="Khác")
    assert status == 409, other
    status, inbox = await api.call("GET", "/v1/inbox", api.tokens[COMMUNE])
    assert len(inbox["items"]) == 1


async def test_the_sender_sees_every_line_and_a_recipient_only_its_own(api: Api) -> None:
    await api.province()
    _, sent = await api.send(PROVINCE, [DISTRICT, COMMUNE])
    path = f"/v1/documents/{sent['id']}"
    _, full = await api.call("GET", path, api.tokens[PROVINCE])
    assert [r["agency"] for r in full["recipients"]] == [DISTRICT, COMMUNE]
    _, own = await api.call("GET", path, api.tokens[COMMUNE])
    assert [r["agency"] for r in own["recipients"]] == [COMMUNE]
    status, body = await api.call("GET", path, api.tokens[COMMUNE_2])
    assert status == 404, body


async def test_attachments_are_stored_once_and_served_with_their_digest(api: Api) -> None:
    await api.province()
    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 40
    status, first = await api.send(PROVINCE, [COMMUNE], attachments=[attachment("cv.pdf", pdf)])
    assert status == 201, first
    status, _ = await api.send(PROVINCE, [DISTRICT], attachments=[attachment("cv-copy.pdf", pdf)])
    assert status == 201
    _, doc = await api.call("GET", f"/v1/documents/{first['id']}", api.tokens[COMMUNE])
    meta = doc["attachments"][0]
    assert meta["size"] == len(pdf)
    async with api.session.request(
        "GET",
        f"/v1/documents/{first['id']}/attachments/0",
        headers={
            "Authorization": f"Bearer {api.tokens[COMMUNE]}",
            "X-Request-Id": "req-attachment-1",
        },
    ) as r:
        assert r.status == 200
        assert r.headers["ETag"] == f'"{meta["sha256"]}"'
        assert r.headers["Content-Type"] == "application/pdf"
        assert r.headers["X-Request-Id"] == "req-attachment-1"
        assert await r.read() == pdf
    status, _ = await api.call(
        "GET", f"/v1/documents/{first['id']}/attachments/0", api.tokens[DISTRICT]
    )
    assert status == 404


async def test_revocation_removes_unaccepted_copies_and_asks_the_others(api: Api) -> None:
    await api.province()
    _, sent = await api.send(PROVINCE, [DISTRICT, COMMUNE])
    doc = sent["id"]
    assert (await api.report(COMMUNE, doc, "03"))[0] == 201
    status, revoked = await api.call(
        "POST",
        f"/v1/documents/{doc}/revoke",
        api.tokens[PROVINCE],
        json={"reason": "Ban hành nhầm"},
    )
    assert status == 200, revoked
    assert {r["agency"]: r["status"] for r in revoked["recipients"]} == {
        DISTRICT: "revoked",
        COMMUNE: "13",
    }
    _, inbox = await api.call("GET", "/v1/inbox?status=revoked", api.tokens[DISTRICT])
    assert [i["id"] for i in inbox["items"]] == [doc]
    assert (await api.report(COMMUNE, doc, "05"))[0] == 409
    assert (await api.report(COMMUNE, doc, "16"))[0] == 422
    status, body = await api.report(COMMUNE, doc, "16", note="Đã triển khai")
    assert status == 201, body
    assert body["state"] == "03"
    status, _ = await api.call(
        "POST", f"/v1/documents/{doc}/revoke", api.tokens[PROVINCE], json={"reason": "again"}
    )
    assert status == 409


async def test_an_auditor_reads_the_whole_history_in_commit_order(api: Api) -> None:
    await api.province()
    status, auditor = await api.call(
        "POST", "/v1/auditors", OPERATOR_TOKEN, json={"name": "Thanh tra tỉnh"}
    )
    assert status == 201
    _, sent = await api.send(PROVINCE, [COMMUNE])
    await api.report(COMMUNE, sent["id"], "03")
    status, page = await api.call("GET", "/v1/events?limit=500", auditor["token"])
    assert status == 200
    positions = [e["position"] for e in page["items"]]
    assert positions == sorted(positions)
    assert page["items"][-1]["type"] == "DocumentStatusReported"
    assert page["next_after"] == positions[-1]
    status, rest = await api.call("GET", f"/v1/events?after={positions[-1]}", auditor["token"])
    assert rest["items"] == []
    status, _ = await api.call("GET", "/v1/events", api.tokens[PROVINCE])
    assert status == 403


async def test_a_rotated_token_stops_working_at_once(api: Api) -> None:
    await api.province()
    old = api.tokens[COMMUNE]
    assert (await api.call("GET", "/v1/inbox", old))[0] == 200
    status, body = await api.call("POST", f"/v1/agencies/{COMMUNE}/token", OPERATOR_TOKEN)
    assert status == 200
    assert (await api.call("GET", "/v1/inbox", old))[0] == 401
    assert (await api.call("GET", "/v1/inbox", body["token"]))[0] == 200


async def test_a_suspended_agency_reads_but_neither_sends_nor_receives(api: Api) -> None:
    await api.province()
    _, sent = await api.send(PROVINCE, [COMMUNE])
    status, _ = await api.call("POST", f"/v1/agencies/{COMMUNE}/suspend", OPERATOR_TOKEN)
    assert status == 200
    assert (await api.call("GET", "/v1/inbox", api.tokens[COMMUNE]))[0] == 200
    assert (await api.send(COMMUNE, [PROVINCE]))[0] == 403
    status, body = await api.send(PROVINCE, [COMMUNE])
    assert status == 422
    assert body["errors"][0]["field"] == "to[0]"
    assert (await api.call("POST", f"/v1/agencies/{COMMUNE}/resume", OPERATOR_TOKEN))[0] == 200
    assert (await api.send(PROVINCE, [COMMUNE]))[0] == 201
    assert sent


async def test_inbox_and_outbox_paginate_newest_first(api: Api) -> None:
    await api.province()
    ids = [(await api.send(PROVINCE, [COMMUNE]))[1]["id"] for _ in range(7)]
    seen, cursor = [], None
    while True:
        path = "/v1/inbox?limit=3" + (f"&cursor={cursor}" if cursor else "")
        status, page = await api.call("GET", path, api.tokens[COMMUNE])
        assert status == 200
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]
    _, page = await api.call("GET", "/v1/outbox?limit=5", api.tokens[PROVINCE])
    assert [i["id"] for i in page["items"]] == ids[::-1][:5]
    assert page["next_cursor"] is not None


async def test_the_directory_lists_and_filters_agencies(api: Api) -> None:
    await api.province()
    _, page = await api.call("GET", "/v1/agencies?tier=commune", api.tokens[PROVINCE])
    assert [a["code"] for a in page["items"]] == [COMMUNE, COMMUNE_2]
    _, page = await api.call("GET", f"/v1/agencies?parent={PROVINCE}", api.tokens[PROVINCE])
    assert {a["code"] for a in page["items"]} == {DEPARTMENT, DISTRICT}
    status, one = await api.call("GET", f"/v1/agencies/{REMOTE_MINISTRY}", api.tokens[COMMUNE])
    assert status == 200
    assert one == {
        "code": REMOTE_MINISTRY,
        "name": f"Cơ quan {REMOTE_MINISTRY}",
        "tier": "central",
        "parent": None,
        "remote": True,
        "status": "active",
        "successor": None,
        "ends_on": None,
        "pending_move": None,
        "signature_required": False,
    }


async def tamper(store_config: Config, sha256: str) -> None:
    """Alters a stored attachment behind the router's back, keeping its length."""
    if store_config.database_url:
        async with await psycopg.AsyncConnection.connect(store_config.database_url) as c:
            await c.execute(
                "UPDATE attachment_blobs SET content = overlay(content placing 'X' from 1) "
                "WHERE sha256 = %s",
                (sha256,),
            )
            await c.commit()
        return
    assert store_config.data_dir is not None
    path = store_config.data_dir / "blobs" / sha256[:2] / sha256
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("size", [100, 600_000])
async def test_an_altered_attachment_is_never_served_whole(
    api: Api, store_config: Config, size: int
) -> None:
    await api.province()
    data = (bytes(range(256)) * (size // 256 + 1))[:size]
    _, sent = await api.send(PROVINCE, [COMMUNE], attachments=[attachment("a.pdf", data)])
    _, doc = await api.call("GET", f"/v1/documents/{sent['id']}", api.tokens[COMMUNE])
    path = f"/v1/documents/{sent['id']}/attachments/0"
    headers = {"Authorization": f"Bearer {api.tokens[COMMUNE]}"}
    async with api.session.request("GET", path, headers=headers) as r:
        assert await r.read() == data
    await tamper(store_config, doc["attachments"][0]["sha256"])
    received = b""
    with contextlib.suppress(aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError):
        async with api.session.request("GET", path, headers=headers) as r:
            if r.status == 500:
                assert r.headers["Content-Type"] == "application/problem+json"
                return
            received = await r.read()
    assert len(received) < len(data)
