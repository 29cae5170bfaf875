"""On-time statistics: GET /v1/stats and `lienthong stats`.

For each recipient agency and each document sent to it in the period (by the Vietnam day it was
sent): completed (06) on time (on or before `due_on`, or with no due date), completed late,
refused (02), revoked, still open and not yet due, and open past `due_on` (as of today). The
on-time rate is completed on time over everything that has met its deadline: completed on time,
completed late and open past due (null when none has). Refused and revoked documents, and open
ones not yet due, have no deadline outcome and are left out of the rate.

A subtree is taken as it was when each document was sent: a commune moved from a district to the
province by a reform counts under the district for what it received before the move.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from domain.codes import AGENCY_CODE, Tier
from domain.errors import Forbidden, Invalid, NotFound
from router.auth import AGENCY, AUDITOR, OPERATOR, PRINCIPAL
from router.http import json_response
from router.services import SERVICES

BUCKETS = (
    "received",
    "completed_on_time",
    "completed_late",
    "refused",
    "revoked",
    "open",
    "open_overdue",
)


def on_time_rate(figures: dict[str, Any]) -> float | None:
    """Completed on time over everything that met its deadline (None when nothing did)."""
    decided = figures["completed_on_time"] + figures["completed_late"] + figures["open_overdue"]
    return round(figures["completed_on_time"] / decided, 6) if decided else None


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Adds each agency's rate and the total of all rows."""
    total = {bucket: sum(row[bucket] for row in rows) for bucket in BUCKETS}
    return {
        "total": total | {"on_time_rate": on_time_rate(total)},
        "agencies": [row | {"on_time_rate": on_time_rate(row)} for row in rows],
    }


def _day(request: web.Request, name: str) -> str:
    raw = request.query.get(name)
    if raw is None:
        raise Invalid.field(name, "is required (YYYY-MM-DD, a day in Vietnam)")
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        raise Invalid.field(name, "must be a date (YYYY-MM-DD)") from None


async def stats(request: web.Request) -> web.Response:
    """GET /v1/stats?agency=&tier=&from=&to=."""
    principal = request[PRINCIPAL]
    principal.require(OPERATOR, AUDITOR, AGENCY)
    services = request.app[SERVICES]
    since, until = _day(request, "from"), _day(request, "to")
    if until < since:
        raise Invalid.field("to", "must not be before from")
    tier = request.query.get("tier")
    if tier is not None and tier not in set(Tier):
        raise Invalid.field("tier", "must be central, province, district or commune")
    root = request.query.get("agency")
    if root is not None and not AGENCY_CODE.match(root):
        raise Invalid.field("agency", "must be an agency code")
    if root is not None:
        above = await services.call(services.views.ancestors, root)
        if above is None:
            raise NotFound(f"agency {root} not found")
        if principal.kind == AGENCY and principal.subject not in (root, *above):
            raise Forbidden("an agency sees the figures of itself and of the agencies under it")
    elif principal.kind == AGENCY:
        root = principal.subject
    today = services.exchange.today()
    rows = await services.call(
        lambda: services.views.stats(root=root, tier=tier, since=since, until=until, today=today)
    )
    return json_response(
        {"from": since, "to": until, "as_of": today, "agency": root, "tier": tier} | summarize(rows)
    )


ROUTES = [web.get("/v1/stats", stats)]
