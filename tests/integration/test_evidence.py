"""Receipts, checkpoints and proofs over HTTP, on both stores, checked the way a third party would:
from `/v1/events`, the served certificate and the RFC 9162 verifiers only."""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography import x509

from adapters import merkle
from adapters.canonical import canonical
from adapters.routerkey import verify_jws
from router.services import SERVICES
from tests.conftest import OPERATOR_TOKEN
from tests.support.api import COMMUNE, DISTRICT, PROVINCE, Api


async def _certificate(api: Api) -> x509.Certificate:
    async with api.session.request("GET", "/v1/router/certificate") as r:
        assert r.status == 200
        assert r.content_type == "application/pem-certificate-chain"
        return x509.load_pem_x509_certificate(await r.read())


async def _auditor(api: Api) -> str:
    status, body = await api.call("POST", "/v1/auditors", OPERATOR_TOKEN, json={"name": "Soát"})
    assert status == 201, body
    return str(body["token"])


async def _all_events(api: Api, auditor: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after = 0
    while True:
        status, body = await api.call("GET", f"/v1/events?after={after}&limit=7", auditor)
        assert status == 200, body
        if not body["items"]:
            return items
        items += body["items"]
        after = body["next_after"]


async def _checkpoint(api: Api) -> dict[str, Any]:
    """Signs a checkpoint of the whole tree now (unless the background signer just did)."""
    services = api.session.app[SERVICES]  # type: ignore[attr-defined]
    signed = await services.call(services.evidence.checkpoint)
    signed = signed or await services.call(services.evidence.latest_checkpoint)
    _, size = await services.call(services.evidence.head)
    assert signed["size"] == size
    return dict(signed)


def _leaf(item: dict[str, Any]) -> bytes:
    bare = {k: v for k, v in item.items() if k not in ("hash", "leaf_index")}
    return hashlib.sha256(b"\x00" + canonical(bare)).digest()


async def _exchange(api: Api) -> tuple[str, list[str]]:
    """Sends a document, reports on it and revokes it; returns its id and the three receipts."""
    await api.province()
    status, sent = await api.send(PROVINCE, [DISTRICT, COMMUNE])
    assert status == 201, sent
    doc = sent["id"]
    status, report = await api.report(COMMUNE, doc, "03")
    assert status == 201, report
    status, revoked = await api.call(
        "POST", f"/v1/documents/{doc}/revoke", api.tokens[PROVINCE], json={"reason": "Nhầm"}
    )
    assert status == 200, revoked
    return doc, [sent["receipt"], report["receipt"], revoked["receipt"]]


async def test_receipts_verify_with_the_served_certificate_and_match_the_history(
    api: Api,
) -> None:
    doc, tokens = await _exchange(api)
    certificate = await _certificate(api)
    auditor = await _auditor(api)
    events = {e["position"]: e for e in await _all_events(api, auditor)}
    payloads = [verify_jws(t, certificate) for t in tokens]
    assert [p["kind"] for p in payloads] == ["sent", "status", "revoked"]
    assert [p["agency"] for p in payloads] == [PROVINCE, COMMUNE, PROVINCE]
    assert [p["status"] for p in payloads] == [None, "03", None]
    for p in payloads:
        event = events[p["event_position"]]
        assert p["document_id"] == doc == event["stream"]
        assert p["event_hash"] == event["hash"] == _leaf(event).hex()
        assert p["recorded_at"] == event["recorded_at"]
    status, listed = await api.call("GET", f"/v1/documents/{doc}/receipts", api.tokens[PROVINCE])
    assert status == 200, listed
    assert [r["jws"] for r in listed["items"]] == tokens


async def test_a_replayed_send_answers_the_first_receipt(api: Api) -> None:
    await api.province()
    status, first = await api.send(PROVINCE, [DISTRICT], external_id="VP-1")
    assert status == 201, first
    status, again = await api.send(PROVINCE, [DISTRICT], external_id="VP-1")
    assert status == 200, again
    assert again["receipt"] == first["receipt"]


async def test_recipients_see_the_sent_receipt_and_their_own_reports_only(api: Api) -> None:
    doc, tokens = await _exchange(api)
    status, body = await api.report(COMMUNE, doc, "15")
    assert status == 201, body
    status, listed = await api.call("GET", f"/v1/documents/{doc}/receipts", api.tokens[COMMUNE])
    assert status == 200, listed
    assert [r["jws"] for r in listed["items"]] == [*tokens, body["receipt"]]
    status, listed = await api.call("GET", f"/v1/documents/{doc}/receipts", api.tokens[DISTRICT])
    assert [(r["kind"], r["agency"]) for r in listed["items"]] == [
        ("sent", PROVINCE),
        ("revoked", PROVINCE),
    ]
    await api.register("000.01.03.H41", "commune", "000.01.00.H41")
    status, body = await api.call(
        "GET", f"/v1/documents/{doc}/receipts", api.tokens["000.01.03.H41"]
    )
    assert status == 404, body
    auditor = await _auditor(api)
    status, listed = await api.call("GET", f"/v1/documents/{doc}/receipts", auditor)
    assert status == 200, listed
    assert len(listed["items"]) == 4, listed


async def test_the_root_recomputed_from_the_events_is_the_signed_checkpoints(api: Api) -> None:
    await _exchange(api)
    certificate = await _certificate(api)
    auditor = await _auditor(api)
    first = await _checkpoint(api)
    for _ in range(3):
        status, body = await api.send(PROVINCE, [DISTRICT])
        assert status == 201, body
    second = await _checkpoint(api)
    events = await _all_events(api, auditor)
    assert [e["leaf_index"] for e in events] == list(range(len(events)))
    leaves = [_leaf(e) for e in events]
    assert [bytes.fromhex(e["hash"]) for e in events] == leaves
    for signed in (first, second):
        payload = verify_jws(signed["jws"], certificate)
        assert payload == {k: signed[k] for k in ("size", "root", "recorded_at")}
        frontier = merkle.Frontier()
        for leaf in leaves[: signed["size"]]:
            frontier.append(leaf)
        assert frontier.root().hex() == signed["root"]
    status, latest = await api.call("GET", "/v1/checkpoints/latest", api.tokens[PROVINCE])
    assert status == 200, latest
    assert latest == second
    status, listed = await api.call("GET", "/v1/checkpoints?after=0", auditor)
    assert status == 200, listed
    ours = [c for c in listed["items"] if c["size"] in (first["size"], second["size"])]
    assert ours == [first, second]


async def test_inclusion_and_consistency_proofs_verify_against_the_checkpoints(api: Api) -> None:
    await _exchange(api)
    auditor = await _auditor(api)
    first = await _checkpoint(api)
    status, body = await api.send(PROVINCE, [DISTRICT])
    assert status == 201, body
    second = await _checkpoint(api)
    root = bytes.fromhex(second["root"])
    for event in await _all_events(api, auditor):
        status, proof = await api.call("GET", f"/v1/events/{event['position']}/proof", auditor)
        assert status == 200, proof
        assert proof["tree_size"] == second["size"]
        path = [bytes.fromhex(h) for h in proof["audit_path"]]
        leaf = bytes.fromhex(event["hash"])
        assert merkle.verify_inclusion(proof["leaf_index"], second["size"], leaf, path, root)
    query = f"from={first['size']}&to={second['size']}"
    status, proof = await api.call("GET", f"/v1/checkpoints/consistency?{query}", auditor)
    assert status == 200, proof
    path = [bytes.fromhex(h) for h in proof["consistency_path"]]
    old = bytes.fromhex(first["root"])
    assert merkle.verify_consistency(first["size"], second["size"], old, root, path)
    status, body = await api.call("GET", f"/v1/checkpoints/consistency?from=1&to={10**6}", auditor)
    assert status == 422, body
    status, body = await api.call("GET", "/v1/events/999999/proof", auditor)
    assert status == 404, body
