"""GET /v1/documents/{id}/evidence: a document's evidence bundle (ZIP), for its parties and
auditors, checkable offline with `lienthong audit verify-bundle` or standard tools."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from aiohttp import web

from adapters import bundle
from adapters.blobs import CorruptBlob
from adapters.eventlog import rfc3339
from router.auth import AGENCY, Principal
from router.boxes import own_part
from router.documents import visible
from router.evidence import receipts_for
from router.http import StoredDataCorrupt
from router.services import SERVICES, Services
from router.writer import StoreUnavailable

README = """\
Evidence bundle of document {document_id}, made {created_at} by a lienthong router.

Files
  events.jsonl        the document's events, one /v1/events item a line, with `hash` (the
                      Merkle leaf hash, hex) and `leaf_index`. A recipient's bundle holds its own
                      part only: an event trimmed to it carries "redacted": true; its leaf cannot
                      be recomputed, but its hash is still proved to be in the signed tree.
  checkpoint.json     the signed checkpoint {{size, root, recorded_at, jws}} covering every event.
  proofs.json         an RFC 9162 inclusion proof of each event against that checkpoint.
  receipts.json       the router's signed receipts (JWS compact) of the sending, the reports and
                      the revocation that the caller may see.
  attachments.json    name, content_type, size, sha256 and file of each attachment;
  attachments/        the bytes.
  router-certificate.pem        the certificate the router signs with (compare it with one
                                obtained independently, e.g. GET /v1/router/certificate).
  agency-certificates/*.pem     the sender's signing certificate, if the document was signed.

Verify in one step (offline):
  lienthong audit verify-bundle THIS.zip --router-cert ROUTER-CERT-YOU-TRUST.pem

Verify with standard tools:
  1. Attachments: sha256sum attachments/* and compare with attachments.json and with the
     "attachments" of the DocumentSent event in events.jsonl.
  2. Leaves: for each non-redacted line, drop "hash" and "leaf_index", take the RFC 8785 (JCS)
     canonical JSON of the rest, and hash 0x00 followed by those bytes with SHA-256
     (this prints each position and True; a "redacted" line's hash is proved, not recomputed):
python3 - <<'EOF'
import hashlib, json, rfc8785
for line in open("events.jsonl"):
    e = json.loads(line)
    bare = {{k: v for k, v in e.items() if k not in ("hash", "leaf_index")}}
    print(e["position"], hashlib.sha256(b"\\0" + rfc8785.dumps(bare)).hexdigest() == e["hash"])
EOF
     (`jq -cS` sorts keys but is not JCS: it may differ on numbers and non-ASCII escapes.)
  3. Inclusion: for each event, fold its audit_path from proofs.json into its leaf hash as
     RFC 9162 section 2.1.3.2 says (nodes are SHA-256(0x01 || left || right)); the result must
     be the checkpoint's root, with tree_size the checkpoint's size.
  4. Signatures: verify checkpoint.json's jws and each receipt's jws with any JOSE library
     (alg EdDSA or ES256) and the public key of router-certificate.pem; the checkpoint payload
     must equal {{size, root, recorded_at}}, and each receipt's event_hash the hash of the event
     at its event_position.
"""


def _covered(services: Services, items: list[dict[str, Any]]) -> dict[int, tuple[int, str]]:
    """Returns the leaves of the events, bringing the evidence up to date first if needed."""
    positions = [item["position"] for item in items]
    found = services.evidence.leaves_at(positions)
    if len(found) < len(positions):
        services.evidence_runner.catch_up()
        found = services.evidence.leaves_at(positions)
    if len(found) < len(positions):
        raise StoreUnavailable("the evidence of the newest events is not ready; try again shortly")
    return found


def _checkpoint(services: Services, needed: int) -> dict[str, Any]:
    """Returns the newest checkpoint, signing one now if it covers fewer than `needed` leaves."""
    latest = services.evidence.latest_checkpoint()
    if latest is None or latest["size"] < needed:
        latest = services.evidence.checkpoint() or services.evidence.latest_checkpoint()
    if latest is None or latest["size"] < needed:
        raise StoreUnavailable("no checkpoint covers the newest events yet; try again shortly")
    return dict(latest)


def _attachments(
    services: Services, document: dict[str, Any]
) -> list[tuple[dict[str, Any], bytes]]:
    out = []
    for i, a in enumerate(document["attachments"]):
        try:
            data = b"".join(services.blobs.chunks(a["sha256"]))
        except CorruptBlob:
            raise StoredDataCorrupt(f"attachment {i} failed its integrity check") from None
        meta = {k: a[k] for k in ("name", "content_type", "size", "sha256")}
        out.append((meta, data))
    return out


def _certificates(services: Services, document: dict[str, Any]) -> dict[str, str]:
    signature = document["signature"]
    if signature is None:
        return {}
    row = services.views.certificate(signature["certificate"])
    return {signature["certificate"]: row["pem"]} if row else {}


def _proof(services: Services, position: int, size: int) -> dict[str, Any]:
    found = services.evidence.inclusion(position, size)
    assert found is not None, "the checkpoint covers every leaf of the bundle"
    return {"position": position} | found


def gather(services: Services, document: dict[str, Any], principal: Principal) -> bytes:
    """Builds the bundle of a document as the principal may see it (blocking)."""
    items = services.events.stream(UUID(document["id"]))
    leaves = _covered(services, items)
    for item in items:
        item["leaf_index"], item["hash"] = leaves[item["position"]]
    checkpoint = _checkpoint(services, max(index for index, _ in leaves.values()) + 1)
    if principal.kind == AGENCY and principal.subject != document["sender"]:
        lines = {r["agency"] for r in document["recipients"]}
        trimmed = [(own_part(item, lines), item) for item in items]
        items = [t | {"redacted": True} if t != i else t for t, i in trimmed if t is not None]
    proofs = [_proof(services, item["position"], checkpoint["size"]) for item in items]
    found = services.evidence.receipts(document["id"])
    created_at = rfc3339(datetime.now(UTC))
    parts = bundle.Parts(
        document_id=document["id"],
        created_at=created_at,
        events=items,
        receipts=receipts_for(document, principal, found),
        checkpoint=checkpoint,
        proofs=proofs,
        attachments=_attachments(services, document),
        router_certificate=services.evidence.key.certificate_pem,
        agency_certificates=_certificates(services, document),
    )
    return bundle.build(parts, README.format(document_id=document["id"], created_at=created_at))


async def evidence_bundle(request: web.Request) -> web.Response:
    """GET /v1/documents/{id}/evidence: the ZIP (same visibility as the document's history)."""
    document, principal = await visible(request)
    services = request.app[SERVICES]
    body = await services.call(gather, services, document, principal)
    name = f"evidence-{document['id']}.zip"
    return web.Response(
        body=body,
        content_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


ROUTES = [web.get("/v1/documents/{id}/evidence", evidence_bundle)]
