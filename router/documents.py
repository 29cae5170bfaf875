"""Document routes: send, read, attachments, status, revoke, history."""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from typing import Any
from urllib.parse import quote
from uuid import UUID

import msgspec
from aiohttp import web

from adapters.asof import document_as_of
from adapters.blobs import CorruptBlob
from adapters.eventlog import rfc3339
from adapters.pades import is_pdf
from domain.commands import Attachment, ReportStatus, RevokeDocument, SendDocument
from domain.directory import Group
from domain.document import Document
from domain.errors import FieldError, Invalid, NotFound, TooLarge
from router.auth import AGENCY, AUDITOR, PRINCIPAL, Principal
from router.axis_bridge import BRIDGE
from router.http import StoredDataCorrupt, json_response, query_time, read_json
from router.services import SERVICES, Services
from router.signatures import pades_outcomes, verify_document
from router.wire import DocumentIn, RevokeIn, StatusIn, decode, encode

log = logging.getLogger(__name__)
_OFF_LOOP_BYTES = 256 * 1024


def _decode_attachments(body: DocumentIn, services: Services) -> list[bytes]:
    config = services.config
    blobs, errors, total = [], [], 0
    for i, attachment in enumerate(body.attachments):
        try:
            data = base64.b64decode(attachment.content_base64, validate=True)
        except (binascii.Error, ValueError):
            errors.append(FieldError(f"attachments[{i}].content_base64", "not valid base64"))
            continue
        if len(data) > config.max_attachment_bytes:
            raise TooLarge(
                f"attachments[{i}] is {len(data)} bytes; the limit is {config.max_attachment_bytes}"
            )
        total += len(data)
        blobs.append(data)
    if errors:
        raise Invalid("; ".join(f"{e.field}: {e.message}" for e in errors), errors)
    if total > config.max_document_bytes:
        raise TooLarge(f"attachments total {total} bytes; the limit is {config.max_document_bytes}")
    return blobs


def _content_sha256(body: DocumentIn, digests: list[str]) -> str:
    """Digest of what was sent, attachments by digest: equal retries have equal digests."""
    content = msgspec.to_builtins(body)
    if not body.confidential:
        del content["confidential"]  # digests of documents sent before the field existed hold
    # The signature is not content: a retry re-signed (ECDSA signatures differ each time) or
    # sent unsigned is the same document, and digests of documents sent before stay the same.
    del content["signature"]
    content["attachments"] = [
        {"name": a.name, "content_type": a.content_type, "sha256": d}
        for a, d in zip(body.attachments, digests, strict=True)
    ]
    return hashlib.sha256(encode(content)).hexdigest()


def _prepare(raw: bytes, services: Services) -> tuple[DocumentIn, list[bytes]]:
    body = decode(DocumentIn, raw)
    return body, _decode_attachments(body, services)


async def send(request: web.Request) -> web.Response:
    """POST /v1/documents."""
    principal = request[PRINCIPAL]
    principal.require(AGENCY)
    services = request.app[SERVICES]
    raw = await read_json(request)
    if len(raw) > _OFF_LOOP_BYTES:
        body, blobs = await services.call(_prepare, raw, services)
    else:
        body, blobs = _prepare(raw, services)
    digests = []
    for data in blobs:
        digest, new = await services.call(services.blobs.put, data)
        digests.append(digest)
        services.metrics.attachment_bytes.inc(len(data))
        if new:
            services.metrics.attachment_stored_bytes.inc(len(data))
    signature = (
        await services.call(verify_document, services, principal.subject, raw, body, digests)
        if body.signature is not None
        else None
    )
    pades = (
        await services.call(pades_outcomes, services, body, blobs)
        if any(
            is_pdf(a.content_type, data) for a, data in zip(body.attachments, blobs, strict=True)
        )
        else [None] * len(blobs)
    )
    outcome = await services.writer.execute(
        SendDocument(
            sender=principal.subject,
            external_id=body.external_id,
            content_sha256=_content_sha256(body, digests),
            to=body.to,
            to_groups=[Group(g.tier, g.under) for g in body.to_groups],
            code_number=body.code_number,
            code_notation=body.code_notation,
            document_type=body.document_type,
            subject=body.subject,
            promulgated_on=body.promulgated_on.isoformat(),
            place=body.place,
            priority=body.priority.value,
            due_on=body.due_on.isoformat() if body.due_on else None,
            signer=msgspec.to_builtins(body.signer) if body.signer else None,
            in_reply_to=body.in_reply_to,
            attachments=[
                Attachment(a.name, a.content_type, len(data), digest, pdf)
                for a, data, digest, pdf in zip(
                    body.attachments, blobs, digests, pades, strict=True
                )
            ],
            confidential=body.confidential,
            signature=signature,
        )
    )
    document: Document = outcome.aggregate
    if outcome.recorded:
        _count_sent(services, document)
        if document.axis and BRIDGE in request.app:
            request.app[BRIDGE].wake.set()
    # The first event's receipt, for a replay too (None only while the evidence is failing).
    receipt = await _receipt(services, str(document.id), 1)
    return json_response(
        {
            "id": str(document.id),
            "external_id": document.external_id,
            "sent_at": rfc3339(document.created_on),
            "recipients": [
                addressed(line.agency, line.addressed_as, line.holder)
                | {"route": line.route.value, "state": line.state}
                for line in document.recipients.values()
            ],
            "receipt": receipt,
        },
        201 if outcome.recorded else 200,
    )


def _count_sent(services: Services, document: Document) -> None:
    """Counts a new document by sender and by recipient (codes from the directory only)."""
    metrics, sender = services.metrics, document.sender
    entry = services.exchange.directory.lookup([sender]).get(sender)
    tier = entry.tier.value if entry else "unknown"
    for route in sorted({line.route.value for line in document.recipients.values()}):
        metrics.sent_by(sender, tier, route).inc()
    for line in document.recipients.values():
        metrics.received_by(line.agency, line.tier or "unknown", line.route.value).inc()


def addressed(
    agency: str, addressed_as: str | None, holder: str | None = None
) -> dict[str, str | None]:
    """Names a recipient as the sender addressed it, and who receives for it if that differs:
    the successor it was delivered to, or the one its line passed to after a merge."""
    shown = addressed_as or agency
    receiver = holder or agency
    return {"agency": shown, "delivered_to": None if receiver == shown else receiver}


def _document_id(request: web.Request) -> UUID:
    try:
        return UUID(request.match_info["id"])
    except ValueError:
        raise NotFound("document not found") from None


async def visible(request: web.Request) -> tuple[dict[str, Any], Principal]:
    """Loads a document the caller may see, trimmed to the caller's part."""
    principal = request[PRINCIPAL]
    principal.require(AGENCY, AUDITOR)
    services = request.app[SERVICES]
    document = await services.call(services.views.document, str(_document_id(request)))
    if document is None:
        raise NotFound("document not found")
    if principal.kind == AGENCY and principal.subject != document["sender"]:
        me = principal.subject
        own = [r for r in document["recipients"] if me in (r["agency"], r["holder"])]
        if not own:
            raise NotFound("document not found")
        document["recipients"] = own
    return document, principal


def present(document: dict[str, Any]) -> dict[str, Any]:
    """Shapes a document of the views as GET /v1/documents/{id} answers it."""
    return {
        "id": document["id"],
        "external_id": document["external_id"],
        "from": document["sender"],
        "code_number": document["code_number"],
        "code_notation": document["code_notation"],
        "document_type": document["document_type"],
        "subject": document["subject"],
        "promulgated_on": document["promulgated_on"],
        "place": document["place"],
        "priority": document["priority"],
        "due_on": document["due_on"],
        "signer": document["signer"],
        "in_reply_to": document["in_reply_to"],
        "sent_at": document["sent_at"],
        "revoked": document["revoked_at"] is not None,
        "revoked_at": document["revoked_at"],
        "revoke_reason": document["revoke_reason"],
        "attachments": [
            {
                "index": i,
                "name": a["name"],
                "content_type": a["content_type"],
                "size": a["size"],
                "sha256": a["sha256"],
                "signature": a.get("signature"),
            }
            for i, a in enumerate(document["attachments"])
        ],
        "signature": _signature(document["signature"]),
        "recipients": [
            addressed(r["agency"], r["addressed_as"], r["holder"])
            | {
                "route": r["route"],
                "status": r["status"],
                "updated_at": r["updated_at"],
                "history": r["history"],
            }
            for r in document["recipients"]
        ],
    }


def _signature(record: dict[str, str] | None) -> dict[str, str] | None:
    """Shows the verified agency signature of a document (None when it was unsigned)."""
    if record is None:
        return None
    return {key: record[key] for key in ("signer", "certificate", "alg", "verified_at")}


async def get_document(request: web.Request) -> web.Response:
    """GET /v1/documents/{id}, or with ?as_of= (auditors) as it stood then."""
    if "as_of" in request.query:
        return await _document_as_of(request)
    document, _ = await visible(request)
    return json_response(present(document))


async def _document_as_of(request: web.Request) -> web.Response:
    """The document rebuilt from its own events recorded at or before as_of."""
    request[PRINCIPAL].require(AUDITOR)
    moment = query_time("as_of", request.query["as_of"])
    services = request.app[SERVICES]
    document = await services.call(
        document_as_of, services.events, services.exchange.mapper, _document_id(request), moment
    )
    if document is None:
        raise NotFound("document not found (not yet sent at that time)")
    return json_response(present(document))


async def get_attachment(request: web.Request) -> web.StreamResponse:
    """GET /v1/documents/{id}/attachments/{n}: the bytes, verified against their digest."""
    document, _ = await visible(request)
    n = request.match_info["n"]
    if not (n.isascii() and n.isdigit()) or int(n) >= len(document["attachments"]):
        raise NotFound("attachment not found")
    attachment = document["attachments"][int(n)]
    services = request.app[SERVICES]
    sha256 = attachment["sha256"]
    chunks = services.blobs.chunks(sha256)
    response = web.StreamResponse(
        headers={
            "Content-Type": attachment["content_type"],
            "Content-Length": str(attachment["size"]),
            "ETag": f'"{sha256}"',
            "Content-Disposition": "attachment; filename*=UTF-8''"
            + quote(attachment["name"], safe=""),
        }
    )
    # Each chunk is sent only once the next one is read, and the last only once the digest is
    # verified: altered bytes end the download short (or, for one chunk, answer 500) instead of
    # reaching the caller whole.
    try:
        held = await services.call(next, chunks, None)
        ahead = await services.call(next, chunks, None) if held is not None else None
        await response.prepare(request)
        while held is not None:
            await response.write(held)
            if ahead is None:
                break
            held, ahead = ahead, await services.call(next, chunks, None)
    except CorruptBlob:
        log.error("attachment %s failed verification; the download is refused", sha256)
        if not response.prepared:
            raise StoredDataCorrupt(f"attachment {n} failed its integrity check") from None
        if request.transport is not None:
            request.transport.close()  # the caller sees a short body, never the altered end
        raise ConnectionResetError("attachment failed its integrity check") from None
    await response.write_eof()
    return response


async def report_status(request: web.Request) -> web.Response:
    """POST /v1/documents/{id}/status."""
    principal = request[PRINCIPAL]
    principal.require(AGENCY)
    body = decode(StatusIn, await read_json(request))
    services = request.app[SERVICES]
    outcome = await services.writer.execute(
        ReportStatus(
            document_id=_document_id(request),
            agency=principal.subject,
            status=body.status,
            note=body.note,
            by=msgspec.to_builtins(body.by) if body.by else None,
        )
    )
    document: Document = outcome.aggregate
    if outcome.recorded:
        services.metrics.status_reports.labels(body.status).inc()
    # Its own line first; else the line of an agency merged into it that it answers for.
    held = document.lines_held_by(principal.subject)
    line = next((x for x in held if x.agency == principal.subject), held[0])
    if outcome.recorded:
        receipt = await _receipt(services, str(document.id), document.version)
    else:
        receipt = await services.call(
            services.evidence.status_receipt, str(document.id), line.agency, body.status
        )
    return json_response(
        {
            "document_id": str(document.id),
            "agency": principal.subject,
            "status": body.status,
            "state": line.state,
            "note": body.note,
            "by": msgspec.to_builtins(body.by) if body.by else None,
            "reported_at": rfc3339(line.last_report_at or document.modified_on),
            "receipt": receipt,
        },
        201 if outcome.recorded else 200,
    )


async def revoke(request: web.Request) -> web.Response:
    """POST /v1/documents/{id}/revoke."""
    principal = request[PRINCIPAL]
    principal.require(AGENCY)
    body = decode(RevokeIn, await read_json(request))
    services = request.app[SERVICES]
    outcome = await services.writer.execute(
        RevokeDocument(
            document_id=_document_id(request),
            agency=principal.subject,
            reason=body.reason,
        )
    )
    services.metrics.revocations.inc()
    document: Document = outcome.aggregate
    receipt = await _receipt(services, str(document.id), document.version)
    return json_response(
        {
            "id": str(document.id),
            "revoked_at": rfc3339(document.modified_on),
            "reason": body.reason,
            "recipients": [
                addressed(a, line.addressed_as, line.holder) | {"status": line.state}
                for a, line in document.recipients.items()
            ],
            "receipt": receipt,
        }
    )


async def _receipt(services: Services, document_id: str, version: int) -> str | None:
    """The receipt of a document's event: the one this process just signed, else the stored one."""
    return services.evidence.recent.get(document_id, version) or await services.call(
        services.evidence.receipt, document_id, version
    )


ROUTES = [
    web.post("/v1/documents", send),
    web.get("/v1/documents/{id}", get_document),
    web.get("/v1/documents/{id}/attachments/{n}", get_attachment),
    web.post("/v1/documents/{id}/status", report_status),
    web.post("/v1/documents/{id}/revoke", revoke),
]
