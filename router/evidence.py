"""Evidence routes: receipts, the router certificate, signed checkpoints and Merkle proofs."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from domain.errors import Invalid, NotFound
from router.auth import AGENCY, AUDITOR, OPERATOR, PRINCIPAL, Principal
from router.documents import visible
from router.http import MAX_POSITION, json_response, query_limit, whole_number
from router.services import SERVICES, Services

PEM = "application/pem-certificate-chain"


async def certificate(request: web.Request) -> web.Response:
    """GET /v1/router/certificate: the PEM that receipts and checkpoints verify against."""
    services = request.app[SERVICES]
    return web.Response(text=services.evidence.key.certificate_pem, content_type=PEM)


async def document_receipts(request: web.Request) -> web.Response:
    """GET /v1/documents/{id}/receipts: the sender and auditors see all; a recipient the sent
    and revoked receipts and the receipts of its own reports."""
    document, principal = await visible(request)
    services = request.app[SERVICES]
    found = await services.call(services.evidence.receipts, document["id"])
    return json_response({"items": receipts_for(document, principal, found)})


def receipts_for(
    document: dict[str, Any], principal: Principal, found: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Shapes a document's receipts, keeping those a principal may see (a recipient: the sent
    and revoked ones and those of its own reports)."""
    if principal.kind == AGENCY and principal.subject != document["sender"]:
        lines = {r["agency"] for r in document["recipients"]}
        found = [r for r in found if r["kind"] != "status" or r["agency"] in lines]
    return [
        {
            "kind": r["kind"],
            "agency": r["agency"],
            "status": r["status"],
            "event_position": r["position"],
            "jws": r["jws"],
        }
        for r in found
    ]


async def latest_checkpoint(request: web.Request) -> web.Response:
    """GET /v1/checkpoints/latest (any principal)."""
    request[PRINCIPAL].require(OPERATOR, AGENCY, AUDITOR)
    services = request.app[SERVICES]
    latest = await services.call(services.evidence.latest_checkpoint)
    if latest is None:
        raise NotFound("no checkpoint has been signed yet")
    return json_response(latest)


async def list_checkpoints(request: web.Request) -> web.Response:
    """GET /v1/checkpoints?after=SIZE&limit= (auditors): oldest first."""
    request[PRINCIPAL].require(AUDITOR)
    after = whole_number(request.query.get("after", "0"), "after", 0)
    limit = query_limit(request)
    services = request.app[SERVICES]
    items = await services.call(services.evidence.checkpoints, after, limit)
    return json_response({"items": items, "next_after": items[-1]["size"] if items else after})


async def _signed_size(services: Services, raw: str | None, field: str) -> int:
    """Parses a tree size that a signed checkpoint covers (default: the latest one's)."""
    latest = await services.call(services.evidence.latest_checkpoint)
    if latest is None:
        raise NotFound("no checkpoint has been signed yet")
    if raw is None:
        return int(latest["size"])
    size = whole_number(raw, field, 1)
    if size > latest["size"]:
        raise Invalid.field(field, f"must be at most {latest['size']}, the latest checkpoint's")
    return size


async def proof(request: web.Request) -> web.Response:
    """GET /v1/events/{position}/proof?size=N (auditors): the event's inclusion proof."""
    request[PRINCIPAL].require(AUDITOR)
    services = request.app[SERVICES]
    raw = request.match_info["position"]
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_POSITION:
        raise NotFound("event not found")
    size = await _signed_size(services, request.query.get("size"), "size")
    found = await services.call(services.evidence.inclusion, int(raw), size)
    if found is None:
        raise NotFound(f"no event at position {raw} among the first {size} leaves")
    return json_response(found)


async def consistency(request: web.Request) -> web.Response:
    """GET /v1/checkpoints/consistency?from=M&to=N (auditors)."""
    request[PRINCIPAL].require(AUDITOR)
    services = request.app[SERVICES]
    query: Any = request.query
    if "from" not in query:
        raise Invalid.field("from", "is required")
    second = await _signed_size(services, query.get("to"), "to")
    first = whole_number(query["from"], "from", 1, second)
    path = await services.call(services.evidence.consistency, first, second)
    return json_response({"first": first, "second": second, "consistency_path": path})


ROUTES = [
    web.get("/v1/router/certificate", certificate),
    web.get("/v1/documents/{id}/receipts", document_receipts),
    web.get("/v1/checkpoints/latest", latest_checkpoint),
    web.get("/v1/checkpoints", list_checkpoints),
    web.get("/v1/checkpoints/consistency", consistency),
    web.get("/v1/events/{position}/proof", proof),
]
