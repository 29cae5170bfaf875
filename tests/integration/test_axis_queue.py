"""The axis bridge's queue on both stores: what a send to a remote agency queues, what the
bridge's attempts and an operator's retry and park do to it, and packages from outside."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from pathlib import Path
from typing import Any
from unittest.mock import ANY
from uuid import UUID

import pytest

from adapters.axis.client import AxisClient
from adapters.edxml.package import parse_package
from domain.commands import ReceiveFromAxis, RecordAxisAttempt, ReportStatus
from router.app import create_app
from router.axis_bridge import AxisBridge
from router.cli import main
from router.config import Config
from router.services import SERVICES, Services
from tests.conftest import OPERATOR_TOKEN
from tests.support.api import COMMUNE, PROVINCE, REMOTE_MINISTRY, Api

QUEUE = "/v1/axis/queue"
# A package of the Government Office for the commune (and an agency of another province).
FROM_OUTSIDE = ReceiveFromAxis(
    national_id="000.00.00.G22,2026/11/24,7816/VPCP-TTĐT",
    business_type=0,
    sender=REMOTE_MINISTRY,
    sender_name="Văn phòng Chính phủ",
    to=[COMMUNE, "000.00.00.H29"],
    code_number="7816",
    code_notation="VPCP-TTĐT",
    document_type="cong-van",
    subject="Về việc kết nối trục liên thông",
    promulgated_on="2026-11-24",
    place="Hà Nội",
    priority="flash",
    edxml={"steering_type": 1},
)


def services(api: Api) -> Services:
    """The services of the router under test (the bridge's commands have no route)."""
    return api.session.app[SERVICES]  # type: ignore[attr-defined, no-any-return]


async def queue(api: Api, **query: str) -> list[dict[str, Any]]:
    """Every item of the queue (following cursors)."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = dict(query, limit="2") | ({"cursor": cursor} if cursor else {})
        status, body = await api.call("GET", QUEUE, OPERATOR_TOKEN, params=params)
        assert status == 200, body
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


async def test_a_send_across_the_axis_queues_one_item_the_bridge_works_off(api: Api) -> None:
    await api.province()
    status, sent = await api.send(PROVINCE, [COMMUNE, REMOTE_MINISTRY])
    assert status == 201
    lines = {r["agency"]: r["state"] for r in sent["recipients"]}
    assert lines == {COMMUNE: "delivered", REMOTE_MINISTRY: "queued"}
    await api.send(PROVINCE, [COMMUNE], external_id="local-only")
    [item] = await queue(api)
    assert (item["id"], item["kind"], item["state"]) == (
        f"{sent['id']}:document",
        "document",
        "queued",
    )
    writer = services(api).writer
    doc = UUID(sent["id"])
    await writer.execute(RecordAxisAttempt(doc, "document", ok=False, reason="503"))
    await writer.execute(RecordAxisAttempt(doc, "document", ok=True))
    [item] = await queue(api, state="forwarded")
    assert item["attempts"] == 2
    assert await queue(api, state="queued") == []
    # The remote recipient's reports come back through the bridge into the sender's outbox.
    await writer.execute(ReportStatus(doc, REMOTE_MINISTRY, "01"))
    await writer.execute(ReportStatus(doc, REMOTE_MINISTRY, "03"))
    _, document = await api.call("GET", f"/v1/documents/{doc}", api.tokens[PROVINCE])
    ministry = next(r for r in document["recipients"] if r["agency"] == REMOTE_MINISTRY)
    assert [h["status"] for h in ministry["history"]] == ["queued", "forwarded", "01", "03"]
    _, outbox = await api.call("GET", "/v1/outbox", api.tokens[PROVINCE])
    first = next(i for i in outbox["items"] if i["id"] == sent["id"])
    assert {r["agency"]: r["status"] for r in first["recipients"]}[REMOTE_MINISTRY] == "03"


async def test_operators_park_and_retry_items(api: Api) -> None:
    await api.province()
    _, sent = await api.send(PROVINCE, [REMOTE_MINISTRY])
    item = f"{sent['id']}:document"
    status, body = await api.call(
        "POST", f"{QUEUE}/{item}/park", OPERATOR_TOKEN, json={"reason": "chờ Bộ xác nhận"}
    )
    assert status == 200, body
    assert (body["state"], body["reason"]) == ("parked", "chờ Bộ xác nhận")
    _, document = await api.call("GET", f"/v1/documents/{sent['id']}", api.tokens[PROVINCE])
    assert document["recipients"][0]["status"] == "parked"
    status, body = await api.call(
        "POST", f"{QUEUE}/{item}/park", OPERATOR_TOKEN, json={"reason": "x"}
    )
    assert status == 409, body
    status, body = await api.call("POST", f"{QUEUE}/{item}/retry", OPERATOR_TOKEN)
    assert (status, body["state"], body["attempts"]) == (200, "queued", 0)
    status, body = await api.call("POST", f"{QUEUE}/{item}/retry", OPERATOR_TOKEN)
    assert status == 409, body
    for bad in ("nonsense", f"{sent['id']}:status-7"):
        status, body = await api.call("POST", f"{QUEUE}/{bad}/retry", OPERATOR_TOKEN)
        assert status == 404, body
    status, body = await api.call("GET", QUEUE, OPERATOR_TOKEN, params={"state": "lost"})
    assert status == 422, body
    status, body = await api.call("GET", QUEUE, api.tokens[PROVINCE])
    assert status == 403, body


async def test_revoking_a_forwarded_document_queues_its_revocation(api: Api) -> None:
    await api.province()
    _, sent = await api.send(PROVINCE, [REMOTE_MINISTRY])
    await services(api).writer.execute(RecordAxisAttempt(UUID(sent["id"]), "document", ok=True))
    status, _ = await api.call(
        "POST", f"/v1/documents/{sent['id']}/revoke", api.tokens[PROVINCE], json={"reason": "sai"}
    )
    assert status == 200
    assert [(i["item"], i["state"]) for i in await queue(api)] == [
        ("document", "forwarded"),
        ("revoke", "queued"),
    ]


async def test_a_confidential_document_is_refused_for_the_axis(api: Api) -> None:
    await api.province()
    status, body = await api.send(PROVINCE, [COMMUNE, REMOTE_MINISTRY], confidential=True)
    assert status == 422, body
    assert "confidential" in body["detail"]
    status, _ = await api.send(PROVINCE, [COMMUNE], confidential=True)
    assert status == 201
    assert await queue(api) == []


async def test_a_package_from_outside_reaches_the_inbox_and_answers_go_back(api: Api) -> None:
    await api.province()
    package = FROM_OUTSIDE
    writer = services(api).writer
    outcome = await writer.execute(package)
    assert outcome.recorded
    assert not (await writer.execute(package)).recorded
    doc = str(outcome.aggregate.id)
    _, inbox = await api.call("GET", "/v1/inbox", api.tokens[COMMUNE])
    assert [(i["id"], i["from"], i["priority"]) for i in inbox["items"]] == [
        (doc, REMOTE_MINISTRY, "flash")
    ]
    status, document = await api.call("GET", f"/v1/documents/{doc}", api.tokens[COMMUNE])
    assert status == 200
    assert document["external_id"] == package.national_id
    status, _ = await api.report(COMMUNE, doc, "01")
    assert status == 201
    [item] = await queue(api)
    assert (item["kind"], item["item"], item["state"]) == ("status", "status-1", "queued")


async def test_the_cli_lists_parks_and_retries_on_the_store(
    tmp_path: Path, aiohttp_client: Any
) -> None:
    config = Config(data_dir=tmp_path / "data", operator_token=OPERATOR_TOKEN, poll_interval=0.05)
    api = Api(await aiohttp_client(create_app(config)))
    await api.province()
    _, sent = await api.send(PROVINCE, [REMOTE_MINISTRY])
    item = f"{sent['id']}:document"

    def cli(*args: str) -> Any:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            main(["axis", *args, "--data", str(config.data_dir), "--json"])
        return json.loads(out.getvalue())

    loop = asyncio.get_running_loop()
    [listed] = await loop.run_in_executor(None, cli, "queue")
    assert (listed["id"], listed["state"]) == (item, "queued")
    parked = await loop.run_in_executor(None, cli, "park", item, "--reason", "Bộ yêu cầu chờ")
    assert parked == [dict(listed, state="parked", reason="Bộ yêu cầu chờ", updated_at=ANY)]
    assert await loop.run_in_executor(None, cli, "queue", "--state", "queued") == []
    [retried] = await loop.run_in_executor(None, cli, "retry", item)
    assert retried["state"] == "queued"
    # The serving router's views follow what the command recorded.
    for _ in range(100):
        _, body = await api.call("GET", QUEUE, OPERATOR_TOKEN, params={"state": "queued"})
        if body["items"] and body["items"][0]["updated_at"] == retried["updated_at"]:
            break
        await asyncio.sleep(0.05)
    assert [i["id"] for i in body["items"]] == [item]
    with pytest.raises(SystemExit, match="only a parked item can be retried"):
        await loop.run_in_executor(None, cli, "retry", item)


async def test_a_reply_to_a_document_from_outside_names_it_on_the_way_out(api: Api) -> None:
    await api.province()
    national = FROM_OUTSIDE.national_id
    received = await services(api).writer.execute(FROM_OUTSIDE)
    original = str(received.aggregate.id)
    status, reply = await api.send(COMMUNE, [REMOTE_MINISTRY], in_reply_to=original)
    assert status == 201, reply
    status, plain = await api.send(COMMUNE, [REMOTE_MINISTRY], external_id="not-a-reply")
    assert status == 201, plain
    bridge = AxisBridge(services(api), AxisClient("http://127.0.0.1:9", "H41", "unused"))
    answered = {}
    for sent in (reply, plain):
        row = services(api).views.axis_item(sent["id"], "document")
        assert row is not None
        package = parse_package(bridge._package_bytes(row), [])
        answered[sent["id"]] = [
            (r.document_id, r.organ_id, r.code, str(r.promulgated_on)) for r in package.response_for
        ]
    assert answered == {
        reply["id"]: [(national, REMOTE_MINISTRY, "7816/VPCP-TTĐT", "2026-11-24")],
        plain["id"]: [],
    }
