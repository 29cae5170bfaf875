"""A kill -9 loses nothing the router acknowledged, on each store."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import signal
from typing import Any

import aiohttp

from tests.support.api import (
    COMMUNE,
    COMMUNE_2,
    DISTRICT,
    MINISTRY,
    PROVINCE,
    Api,
    attachment,
    document,
)

from .conftest import Server
from .helpers import caught_up, eventually, ids_in, ready

SENDERS = [MINISTRY, PROVINCE, DISTRICT, COMMUNE_2]
RECIPIENT = COMMUNE
TOTAL = 50
CONCURRENT_SENDERS = 4

Sent = tuple[str, dict[str, Any]]


def _documents() -> list[Sent]:
    """TOTAL distinct documents to RECIPIENT, each from one of SENDERS with its own attachment."""
    return [
        (
            SENDERS[i % len(SENDERS)],
            document(
                [RECIPIENT],
                subject=f"Văn bản số {i} về phòng chống thiên tai",
                code_number=str(i),
                priority=("normal", "urgent", "very_urgent", "flash")[i % 4],
                attachments=[attachment(f"vb-{i}.pdf", b"%PDF-1.7\n" + str(i).encode() * 3000)],
            ),
        )
        for i in range(TOTAL)
    ]


_SENT_FIELDS = (
    "external_id",
    "code_number",
    "code_notation",
    "document_type",
    "subject",
    "promulgated_on",
    "place",
    "priority",
    "due_on",
    "signer",
)


def _as_sent(sender: str, body: dict[str, Any]) -> dict[str, Any]:
    """What GET /v1/documents/{id} must show of a document sent with this body."""
    shown = {k: body[k] for k in _SENT_FIELDS}
    attachments = []
    for a in body["attachments"]:
        data = base64.b64decode(a["content_base64"])
        attachments.append(
            {
                "name": a["name"],
                "content_type": a["content_type"],
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    return shown | {"from": sender, "attachments": attachments}


def _as_shown(doc: dict[str, Any]) -> dict[str, Any]:
    shown = {k: doc[k] for k in (*_SENT_FIELDS, "from")}
    attachments = [
        {k: a[k] for k in ("name", "content_type", "size", "sha256")} for a in doc["attachments"]
    ]
    return shown | {"attachments": attachments}


async def _post(api: Api, sender: str, body: dict[str, Any]) -> tuple[int, Any]:
    return await api.call("POST", "/v1/documents", api.tokens[sender], json=body)


async def _check_each_document_reads_back(api: Api, documents: dict[str, Sent]) -> None:
    token = api.tokens[RECIPIENT]
    for doc_id, (sender, body) in documents.items():
        status, doc = await api.call("GET", f"/v1/documents/{doc_id}", token)
        assert status == 200, (doc_id, doc)
        assert _as_shown(doc) == _as_sent(sender, body)
        async with api.session.request(
            "GET",
            f"{api.base_url}/v1/documents/{doc_id}/attachments/0",
            headers={"Authorization": f"Bearer {token}"},
        ) as r:
            assert r.status == 200
            assert await r.read() == base64.b64decode(body["attachments"][0]["content_base64"])


async def _check_the_inbox_holds_exactly(api: Api, documents: dict[str, Sent]) -> None:
    want = sorted(documents)
    inbox = await eventually(
        lambda: ids_in(api, "/v1/inbox", api.tokens[RECIPIENT], limit=7),
        lambda got: sorted(got) == want,
    )
    assert sorted(inbox) == want
    readiness = await eventually(lambda: ready(api), caught_up)
    assert caught_up(readiness), readiness


async def test_every_acknowledged_document_survives_a_kill_9(server: Server, api: Api) -> None:
    await api.province()
    pending = _documents()
    answers: list[tuple[int, Any, str, dict[str, Any]]] = []
    exit_codes: list[int] = []

    async def sender() -> None:
        while pending:
            agency, body = pending.pop(0)
            status, answer = await _post(api, agency, body)
            answers.append((status, answer, agency, body))
            if len(answers) == TOTAL:
                exit_codes.append(server.kill())  # no await in between: nothing else runs first

    await asyncio.gather(*(sender() for _ in range(CONCURRENT_SENDERS)))
    assert exit_codes == [-signal.SIGKILL]
    assert [status for status, *_ in answers] == [201] * TOTAL, answers
    acknowledged = {answer["id"]: (agency, body) for _, answer, agency, body in answers}
    assert len(acknowledged) == TOTAL

    await server.start()
    await _check_each_document_reads_back(api, acknowledged)
    await _check_the_inbox_holds_exactly(api, acknowledged)


async def test_documents_in_flight_at_a_kill_9_are_settled_by_sending_them_again(
    server: Server, api: Api
) -> None:
    await api.province()
    pending = _documents()
    acknowledged: dict[str, Sent] = {}
    unanswered: list[Sent] = []

    async def sender() -> None:
        while pending and server.running:
            agency, body = pending.pop(0)
            try:
                status, answer = await _post(api, agency, body)
            except aiohttp.ClientError:
                unanswered.append((agency, body))
                continue
            assert status == 201, answer
            acknowledged[answer["id"]] = (agency, body)
            if len(acknowledged) == TOTAL // 2:
                server.kill()

    await asyncio.gather(*(sender() for _ in range(2 * CONCURRENT_SENDERS)))
    unanswered += pending
    assert not server.running
    assert len(acknowledged) >= TOTAL // 2
    assert len(acknowledged) + len(unanswered) == TOTAL

    await server.start()
    settled = dict(acknowledged)
    for agency, body in unanswered:
        status, answer = await _post(api, agency, body)
        assert status in (200, 201), answer
        settled[answer["id"]] = (agency, body)
    assert len(settled) == TOTAL
    await _check_each_document_reads_back(api, settled)
    await _check_the_inbox_holds_exactly(api, settled)
