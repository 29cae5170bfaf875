"""Operators' view of what the axis bridge carries: list the queue, retry or park an item."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from aiohttp import web

from adapters.views import Page, Views
from domain.codes import FORWARDED, PARKED, QUEUED
from domain.commands import Command, ParkAxisItem, RequeueAxisItem
from domain.document import CANCELLED
from domain.errors import Invalid, NotFound
from router.auth import OPERATOR, PRINCIPAL
from router.http import decode_cursor, encode_cursor, json_response, query_limit, read_json
from router.services import SERVICES
from router.wire import AxisParkIn, decode

STATES = (QUEUED, FORWARDED, PARKED, CANCELLED)


def item_id(row: dict[str, Any]) -> str:
    """An item's id in the API: `<document id>:<item>`."""
    return f"{row['document_id']}:{row['item']}"


def parse_item_id(raw: str) -> tuple[UUID, str]:
    """Splits an item id, or raises NotFound for one the router did not make."""
    document, _, item = raw.partition(":")
    try:
        return UUID(document), item
    except ValueError:
        raise NotFound("axis item not found") from None


def present(row: dict[str, Any]) -> dict[str, Any]:
    """An item as the API shows it."""
    return {
        "id": item_id(row),
        "document_id": row["document_id"],
        "item": row["item"],
        "kind": row["kind"],
        "state": row["state"],
        "attempts": row["attempts"],
        "reason": row["reason"],
        "queued_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def queue_page(views: Views, state: str | None, after: int | None, limit: int) -> Page:
    """One page of the queue, oldest first, optionally in one state."""
    if state is not None and state not in STATES:
        raise Invalid.field("state", f"must be one of {', '.join(STATES)}")
    return views.axis_items(state, after, limit)


def retry_command(raw_id: str, by: str) -> Command:
    """The command that sends a parked item back to the queue."""
    document, item = parse_item_id(raw_id)
    return RequeueAxisItem(document, item, by)


def park_command(raw_id: str, reason: str, by: str) -> Command:
    """The command that parks a queued item."""
    document, item = parse_item_id(raw_id)
    return ParkAxisItem(document, item, reason, by)


async def list_queue(request: web.Request) -> web.Response:
    """GET /v1/axis/queue?state=: the bridge's items, oldest first."""
    request[PRINCIPAL].require(OPERATOR)
    services = request.app[SERVICES]
    page = await services.call(
        queue_page,
        services.views,
        request.query.get("state"),
        decode_cursor(request, int),
        query_limit(request),
    )
    return json_response(
        {
            "items": [present(r) for r in page.items],
            "next_cursor": encode_cursor(page.next_position),
        }
    )


async def _decided(request: web.Request, command: Command) -> web.Response:
    services = request.app[SERVICES]
    await services.writer.execute(command)
    document, item = parse_item_id(request.match_info["id"])
    row = await services.call(services.views.axis_item, str(document), item)
    assert row is not None  # the writer answers once the views hold its events
    return json_response(present(row))


async def retry(request: web.Request) -> web.Response:
    """POST /v1/axis/queue/{id}/retry: a parked item goes back to the queue."""
    request[PRINCIPAL].require(OPERATOR)
    return await _decided(request, retry_command(request.match_info["id"], OPERATOR))


async def park(request: web.Request) -> web.Response:
    """POST /v1/axis/queue/{id}/park {"reason"}: a queued item stops being tried."""
    request[PRINCIPAL].require(OPERATOR)
    body = decode(AxisParkIn, await read_json(request))
    return await _decided(request, park_command(request.match_info["id"], body.reason, OPERATOR))


ROUTES = [
    web.get("/v1/axis/queue", list_queue),
    web.post("/v1/axis/queue/{id}/retry", retry),
    web.post("/v1/axis/queue/{id}/park", park),
]
