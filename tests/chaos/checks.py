"""What must hold after any fault, read over HTTP: the history holds every acknowledged write
exactly once and nothing else, the views show exactly the history (no event without its rows, no
row without its event), and views rebuilt from the history answer the same."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections import Counter
from typing import Any

from tests.e2e.conftest import LIENTHONG, Server
from tests.e2e.helpers import caught_up, eventually, every_event, every_item, ready
from tests.support.api import Api, auth

from .load import LOCAL, Ledger

Snapshot = dict[str, Any]
KNOWN_EVENTS = {"AgencyRegistered", "AuditorRegistered", "DocumentSent", "DocumentStatusReported"}


async def check_store(api: Api, auditor: str, ledger: Ledger) -> Snapshot:
    """Checks the history and the views against the ledger; returns what the views showed."""
    readiness = await eventually(lambda: ready(api), caught_up, seconds=60)
    assert caught_up(readiness), f"the views never caught up: {readiness}"
    await check_history(api, auditor, ledger)
    return await check_views(api, auditor, ledger)


async def check_history(api: Api, auditor: str, ledger: Ledger) -> None:
    """Every acknowledged write is in GET /v1/events exactly once, and nothing else is."""
    events = await every_event(api, auditor, limit=500)
    assert {e["type"] for e in events} <= KNOWN_EVENTS, Counter(e["type"] for e in events)
    sent = [e for e in events if e["type"] == "DocumentSent"]
    _exactly_once("documents", Counter(e["stream"] for e in sent), Counter(list(ledger.documents)))
    for event in sent:
        document = ledger.documents[event["stream"]]
        data = event["data"]
        assert (data["sender"], data["external_id"]) == (
            document.sender,
            document.body["external_id"],
        )
        assert sorted(r["agency"] for r in data["recipients"]) == sorted(document.recipients)
    reports = Counter(
        (e["stream"], e["data"]["agency"], e["data"]["status"])
        for e in events
        if e["type"] == "DocumentStatusReported"
    )
    _exactly_once("status reports", reports, Counter(ledger.reports))


def _exactly_once(what: str, recorded: Counter[Any], acknowledged: Counter[Any]) -> None:
    lost = list(acknowledged - recorded)
    twice = [key for key, n in recorded.items() if n > 1]
    unacknowledged = list(recorded - acknowledged)
    assert not lost, f"{len(lost)} acknowledged {what} are missing from the history: {lost[:5]}"
    assert not twice, f"{len(twice)} {what} are recorded more than once: {twice[:5]}"
    assert not unacknowledged, (
        f"{len(unacknowledged)} {what} are recorded but were never acknowledged: "
        f"{unacknowledged[:5]}"
    )


async def check_views(api: Api, auditor: str, ledger: Ledger) -> Snapshot:
    """Each document reads back whole (its sender's fields, every recipient's line with every
    report, its attachments' bytes), and each inbox and outbox holds exactly its documents."""
    documents = {}
    for doc_id in ledger.documents:
        documents[doc_id] = await _check_document(api, auditor, ledger, doc_id)
    boxes = {}
    for agency in LOCAL:
        inbox = await every_item(api, "/v1/inbox", api.tokens[agency], limit=500)
        expected = {
            doc_id: _state(ledger, doc_id, agency)
            for doc_id, sent in ledger.documents.items()
            if agency in sent.recipients
        }
        assert len(inbox) == len(expected), (agency, len(inbox), len(expected))
        assert {item["id"]: item["status"] for item in inbox} == expected, agency
        outbox = await every_item(api, "/v1/outbox", api.tokens[agency], limit=500)
        expected_lines = {
            doc_id: {r: _state(ledger, doc_id, r) for r in sent.recipients}
            for doc_id, sent in ledger.documents.items()
            if sent.sender == agency
        }
        assert len(outbox) == len(expected_lines), (agency, len(outbox), len(expected_lines))
        shown = {i["id"]: {r["agency"]: r["status"] for r in i["recipients"]} for i in outbox}
        assert shown == expected_lines, agency
        boxes[agency] = {"inbox": inbox, "outbox": outbox}
    return {"documents": documents, "boxes": boxes}


def _state(ledger: Ledger, doc_id: str, agency: str) -> str:
    return (ledger.statuses(doc_id, agency) or ["delivered"])[-1]


async def _check_document(api: Api, auditor: str, ledger: Ledger, doc_id: str) -> Any:
    sent = ledger.documents[doc_id]
    status, doc = await api.call("GET", f"/v1/documents/{doc_id}", auditor)
    assert status == 200, (doc_id, doc)
    assert (doc["from"], doc["external_id"], doc["subject"]) == (
        sent.sender,
        sent.body["external_id"],
        sent.body["subject"],
    )
    lines = {r["agency"]: [h["status"] for h in r["history"]] for r in doc["recipients"]}
    assert lines == {a: ["delivered", *ledger.statuses(doc_id, a)] for a in sent.recipients}
    attachments = [base64.b64decode(a["content_base64"]) for a in sent.body.get("attachments", [])]
    assert [a["sha256"] for a in doc["attachments"]] == [
        hashlib.sha256(data).hexdigest() for data in attachments
    ]
    for i, data in enumerate(attachments):
        url = f"{api.base_url}/v1/documents/{doc_id}/attachments/{i}"
        async with api.session.request("GET", url, headers=auth(auditor)) as r:
            assert (r.status, await r.read()) == (200, data), (doc_id, i)
    return doc


async def check_rebuilt_views_answer_the_same(
    server: Server, api: Api, auditor: str, ledger: Ledger, before: Snapshot
) -> None:
    """Stops the router, rebuilds the views from the history (`lienthong views rebuild`), starts
    it again, and compares every answer of the views with what they showed before."""
    server.stop()
    env = os.environ.copy()
    env.pop("LIENTHONG_DATABASE_URL", None)
    rebuild = await asyncio.create_subprocess_exec(
        str(LIENTHONG),
        "views",
        "rebuild",
        *server.store_args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(rebuild.communicate(), 300)
    assert rebuild.returncode == 0, output.decode(errors="replace")[-2000:]
    await server.start()
    after = await check_store(api, auditor, ledger)
    changed = [
        f"document {key}"
        for key, doc in before["documents"].items()
        if after["documents"][key] != doc
    ]
    changed += [
        f"boxes of {key}" for key, boxes in before["boxes"].items() if after["boxes"][key] != boxes
    ]
    assert not changed, f"the rebuilt views answer differently from the live ones: {changed[:5]}"
