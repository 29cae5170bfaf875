"""Auditors' search over the history of every document ever sent: GET /v1/audit/documents."""

from __future__ import annotations

from aiohttp import web

from adapters.eventlog import rfc3339
from adapters.views import fold
from domain.codes import AGENCY_CODE
from domain.errors import Invalid
from router.agencies import MAX_QUERY
from router.auth import AUDITOR, PRINCIPAL
from router.boxes import outbox_item
from router.http import decode_cursor, encode_cursor, json_response, query_limit, query_time
from router.services import SERVICES


def _filters(request: web.Request) -> dict[str, str]:
    """Reads and checks the search's query parameters."""
    q, filters = request.query, {}
    if "agency" in q:
        if not AGENCY_CODE.match(q["agency"]):
            raise Invalid.field("agency", "must be an agency code")
        filters["agency"] = q["agency"]
    for name in ("since", "until"):
        if name in q:
            filters[name] = rfc3339(query_time(name, q[name]))
    for name in ("code_notation", "q"):
        if name in q:
            if len(q[name]) > MAX_QUERY:
                raise Invalid.field(name, f"must be at most {MAX_QUERY} characters")
            if not fold(q[name]):
                raise Invalid.field(name, "must not be blank")
            filters[name] = q[name]
    return filters


async def search(request: web.Request) -> web.Response:
    """GET /v1/audit/documents: documents ever sent, newest first, with their recipients."""
    request[PRINCIPAL].require(AUDITOR)
    services = request.app[SERVICES]
    limit, filters = query_limit(request), _filters(request)
    page = await services.call(services.views.search, filters, decode_cursor(request, int), limit)
    items = [{"from": r["sender"]} | outbox_item(r) for r in page.items]
    return json_response({"items": items, "next_cursor": encode_cursor(page.next_position)})


ROUTES = [web.get("/v1/audit/documents", search)]
