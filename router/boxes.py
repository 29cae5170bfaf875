"""Inbox, outbox, and the event history: all of it for auditors, a document's for its parties."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from aiohttp import web

from adapters.eventlog import rfc3339
from domain.codes import AGENCY_CODE, Priority
from domain.errors import Invalid
from router.auth import AGENCY, AUDITOR, PRINCIPAL
from router.documents import addressed, visible
from router.http import (
    decode_cursor,
    encode_cursor,
    json_response,
    query_limit,
    query_time,
    whole_number,
)
from router.services import SERVICES, Services

INBOX_STATUSES = frozenset({"delivered", "01", "02", "03", "04", "05", "06", "13", "revoked"})
_PRIORITIES = frozenset(p.value for p in Priority)


def _moment(name: str, raw: str) -> str:
    return rfc3339(query_time(name, raw))


def _inbox_filters(request: web.Request) -> dict[str, str]:
    q, filters = request.query, {}
    if "status" in q:
        if q["status"] not in INBOX_STATUSES:
            raise Invalid.field("status", f"must be one of {', '.join(sorted(INBOX_STATUSES))}")
        filters["status"] = q["status"]
    if "priority" in q:
        if q["priority"] not in _PRIORITIES:
            raise Invalid.field("priority", f"must be one of {', '.join(sorted(_PRIORITIES))}")
        filters["priority"] = q["priority"]
    if "from" in q:
        if not AGENCY_CODE.match(q["from"]):
            raise Invalid.field("from", "must be an agency code")
        filters["from"] = q["from"]
    for name in ("since", "until"):
        if name in q:
            filters[name] = _moment(name, q[name])
    return filters


async def inbox(request: web.Request) -> web.Response:
    """GET /v1/inbox: documents addressed to the caller, newest first."""
    principal = request[PRINCIPAL]
    principal.require(AGENCY)
    services = request.app[SERVICES]
    limit, filters = query_limit(request), _inbox_filters(request)
    page = await services.call(
        services.views.inbox, principal.subject, filters, decode_cursor(request, int), limit
    )
    items = [
        {
            "id": r["id"],
            "from": r["sender"],
            "subject": r["subject"],
            "code_number": r["code_number"],
            "code_notation": r["code_notation"],
            "priority": r["priority"],
            "sent_at": r["sent_at"],
            "due_on": r["due_on"],
            "status": r["status"],
        }
        for r in page.items
    ]
    return json_response({"items": items, "next_cursor": encode_cursor(page.next_position)})


async def outbox(request: web.Request) -> web.Response:
    """GET /v1/outbox: documents the caller sent, newest first, with recipients' status."""
    principal = request[PRINCIPAL]
    principal.require(AGENCY)
    services = request.app[SERVICES]
    limit = query_limit(request)
    page = await services.call(
        services.views.outbox, principal.subject, decode_cursor(request, int), limit
    )
    items = [outbox_item(r) for r in page.items]
    return json_response({"items": items, "next_cursor": encode_cursor(page.next_position)})


def outbox_item(r: dict[str, Any]) -> dict[str, Any]:
    """A sent document as the outbox (and the auditors' search) lists it."""
    return {
        "id": r["id"],
        "subject": r["subject"],
        "code_number": r["code_number"],
        "code_notation": r["code_notation"],
        "priority": r["priority"],
        "sent_at": r["sent_at"],
        "due_on": r["due_on"],
        "revoked": r["revoked_at"] is not None,
        "recipients": [
            addressed(line["agency"], line["addressed_as"], line["holder"])
            | {"status": line["status"]}
            for line in r["recipients"]
        ],
    }


async def events(request: web.Request) -> web.Response:
    """GET /v1/events?after=: the append-only history in commit order (auditors)."""
    request[PRINCIPAL].require(AUDITOR)
    after = whole_number(request.query.get("after", "0"), "after", 0)
    limit = query_limit(request)
    services = request.app[SERVICES]
    items = await services.call(_with_leaves, services, after, limit)
    return json_response({"items": items, "next_after": items[-1]["position"] if items else after})


def _with_leaves(services: Services, after: int, limit: int) -> list[dict[str, Any]]:
    """Events after a position, each with its Merkle leaf: only those the evidence includes."""
    included, _ = services.evidence.head()
    items = services.events.after(after, limit, until=included) if included > after else []
    if items:
        found = services.evidence.leaves(items[0]["position"], items[-1]["position"])
        for item in items:
            item["leaf_index"], item["hash"] = found[item["position"]]
    return items


async def history(request: web.Request) -> web.Response:
    """GET /v1/documents/{id}/history: the document's events; a recipient sees its own part."""
    document, principal = await visible(request)
    services = request.app[SERVICES]
    items = await services.call(services.events.stream, UUID(document["id"]))
    if principal.kind == AGENCY and principal.subject != document["sender"]:
        # Its own lines: its own, and those of agencies merged into it (visible trimmed them).
        lines = {r["agency"] for r in document["recipients"]}
        items = [own_part(item, lines) for item in items]
        items = [item for item in items if item is not None]
    return json_response({"items": items})


def own_part(item: dict[str, Any], lines: set[str]) -> dict[str, Any] | None:
    """Trims an event to a recipient's lines; None for another recipient's report."""
    data = item["data"]
    if item["type"] == "DocumentSent":
        data = data | {"recipients": [r for r in data["recipients"] if r["agency"] in lines]}
    elif item["type"] in ("DocumentStatusReported", "DocumentHandedOver"):
        if data["agency"] not in lines:
            return None
    elif item["type"] == "DocumentRevoked":
        data = data | {
            "removed": [a for a in data["removed"] if a in lines],
            "asked": [a for a in data["asked"] if a in lines],
        }
    return item | {"data": data}


ROUTES = [
    web.get("/v1/inbox", inbox),
    web.get("/v1/outbox", outbox),
    web.get("/v1/events", events),
    web.get("/v1/documents/{id}/history", history),
]
