"""The simulator's signed /v1 routes: packages, Status messages and the catalogue."""

from __future__ import annotations

import base64
import binascii
from typing import Literal

from aiohttp import web

from adapters.axis import catalogue, mailbox
from adapters.axis.envelope import Envelope, MalformedEnvelope, parse
from adapters.axis.errors import Refusal
from adapters.axis.faults import Draw
from adapters.axis.state import (
    BODY,
    DRAW,
    SIGNED,
    SIMULATOR,
    SYSTEM_ID,
    Simulator,
    json_body,
    json_response,
)
from adapters.axis.wire import (
    Ack,
    CatalogueBatch,
    CatalogueChanges,
    CataloguePage,
    Pending,
    PendingList,
)
from domain.codes import AGENCY_CODE

XML_TYPES = ("application/xml", "text/xml")
MAX_LIMIT = 500
PLURAL = {"package": "packages", "status": "statuses"}


def _limit(request: web.Request, default: int = 100) -> int:
    raw = request.query.get("limit", str(default))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise Refusal(422, "invalid", f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def _envelope(request: web.Request, kind: Literal["package", "status"]) -> Envelope:
    if request.content_type not in XML_TYPES:
        raise Refusal(415, "unsupported_media_type", "expected application/xml")
    sim = request.app[SIMULATOR]
    try:
        envelope = parse(request[BODY], sim.max_package_bytes)
    except MalformedEnvelope as e:
        raise Refusal(400, "malformed", str(e)) from None
    if envelope.kind != kind:
        other = "/v1/statuses" if envelope.kind == "status" else "/v1/packages"
        raise Refusal(400, "malformed", f"this is an edXML {envelope.kind}: post it to {other}")
    return envelope


async def _send(request: web.Request, kind: Literal["package", "status"]) -> web.Response:
    sim = request.app[SIMULATOR]
    envelope = _envelope(request, kind)
    send = mailbox.send_package if kind == "package" else mailbox.send_status
    sent = await sim.store.call(
        send, sim.store, request[SIGNED], request[SYSTEM_ID], envelope, request[BODY]
    )
    sim.calls[f"{PLURAL[kind]}_{'sent' if sent.created else 'resent'}"] += 1
    return json_response(sent, 201 if sent.created else 200)


async def send_package(request: web.Request) -> web.Response:
    """Accepts an edXML package (201), or answers the first one for a resend (200)."""
    return await _send(request, "package")


async def send_status(request: web.Request) -> web.Response:
    """Accepts an edXML Status message (201), or answers the first one for a resend (200)."""
    return await _send(request, "status")


def _faulted(sim: Simulator, draw: Draw, items: list[Pending], done: Pending | None) -> None:
    if draw.duplicate:
        # An acknowledged item comes back, or else one item shows twice.
        again = done if done is not None else (items[0] if items else None)
        if again is not None:
            items.append(again)
    if draw.reorder:
        sim.injector.shuffle(items)


async def _pending(request: web.Request, kind: Literal["package", "status"]) -> web.Response:
    sim = request.app[SIMULATOR]
    agency, limit = request.match_info["code"], _limit(request)
    items, done = await sim.store.read(
        mailbox.pending, sim.store, request[SIGNED], request[SYSTEM_ID], kind, agency, limit
    )
    _faulted(sim, request[DRAW], items, done)
    return json_response(PendingList(items))


async def pending_packages(request: web.Request) -> web.Response:
    """Lists the packages waiting for one of the caller's agencies, oldest first."""
    return await _pending(request, "package")


async def pending_statuses(request: web.Request) -> web.Response:
    """Lists the Status messages waiting for one of the caller's agencies, oldest first."""
    return await _pending(request, "status")


async def _fetch(request: web.Request, kind: Literal["package", "status"]) -> web.Response:
    sim = request.app[SIMULATOR]
    body, _ = await sim.store.read(
        mailbox.fetch,
        sim.store,
        request[SIGNED],
        request[SYSTEM_ID],
        kind,
        request.match_info["id"],
    )
    sim.calls[f"{PLURAL[kind]}_fetched"] += 1
    return web.Response(body=body, content_type="application/xml")


async def fetch_package(request: web.Request) -> web.Response:
    """Answers the bytes of a package the caller sent or may receive."""
    return await _fetch(request, "package")


async def fetch_status(request: web.Request) -> web.Response:
    """Answers the bytes of a Status message the caller sent or may receive."""
    return await _fetch(request, "status")


async def _ack(request: web.Request, kind: Literal["package", "status"]) -> web.Response:
    sim = request.app[SIMULATOR]
    ack = json_body(request[BODY], request, Ack)
    acked = await sim.store.call(
        mailbox.acknowledge,
        sim.store,
        request[SIGNED],
        request[SYSTEM_ID],
        kind,
        request.match_info["id"],
        ack,
    )
    sim.calls[f"{PLURAL[kind]}_acked_{ack.result}"] += 1
    return json_response(acked)


async def ack_package(request: web.Request) -> web.Response:
    """Records a recipient's acknowledgement (done or fail, with a reason) of a package."""
    return await _ack(request, "package")


async def ack_status(request: web.Request) -> web.Response:
    """Records the addressee's acknowledgement (done or fail, with a reason) of a Status message."""
    return await _ack(request, "status")


async def deliveries(request: web.Request) -> web.Response:
    """Shows a package's delivery states (all to the sender, its own to a recipient)."""
    sim = request.app[SIMULATOR]
    answer = await sim.store.read(
        mailbox.deliveries, sim.store, request[SIGNED], request[SYSTEM_ID], request.match_info["id"]
    )
    return json_response(answer)


async def register(request: web.Request) -> web.Response:
    """Registers a batch of the caller's agencies in the catalogue (idempotent)."""
    sim = request.app[SIMULATOR]
    batch = json_body(request[BODY], request, CatalogueBatch)
    registered = await sim.store.call(
        catalogue.register, sim.store, request[SIGNED], request[SYSTEM_ID], batch
    )
    return json_response(registered)


def _cursor(request: web.Request) -> str | None:
    raw = request.query.get("cursor")
    if raw is None:
        return None
    try:
        code = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        code = ""
    if not AGENCY_CODE.match(code):
        raise Refusal(422, "invalid", "not a cursor this simulator issued")
    return code


async def list_catalogue(request: web.Request) -> web.Response:
    """Lists the catalogue by agency code, a page at a time."""
    sim = request.app[SIMULATOR]
    after, limit = _cursor(request), _limit(request)
    items = await sim.store.read(catalogue.page, sim.store, request[SIGNED], after, limit)
    cursor = None
    if len(items) == limit:
        cursor = base64.urlsafe_b64encode(items[-1].code.encode()).decode().rstrip("=")
    return json_response(CataloguePage(items, cursor))


async def catalogue_changes(request: web.Request) -> web.Response:
    """Lists the agencies created or changed after a change number (`since`, default 0)."""
    sim = request.app[SIMULATOR]
    raw, limit = request.query.get("since", "0"), _limit(request)
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise Refusal(422, "invalid", "since must be a whole number")
    items = await sim.store.read(catalogue.changes, sim.store, request[SIGNED], int(raw), limit)
    return json_response(CatalogueChanges(items, items[-1].seq if items else int(raw)))


def add_routes(app: web.Application) -> None:
    """Adds the signed /v1 routes to the simulator's app."""
    app.router.add_routes(
        [
            web.post("/v1/packages", send_package),
            web.get("/v1/agencies/{code}/packages", pending_packages),
            web.get("/v1/packages/{id}", fetch_package),
            web.post("/v1/packages/{id}/ack", ack_package),
            web.get("/v1/packages/{id}/deliveries", deliveries),
            web.post("/v1/statuses", send_status),
            web.get("/v1/agencies/{code}/statuses", pending_statuses),
            web.get("/v1/statuses/{id}", fetch_status),
            web.post("/v1/statuses/{id}/ack", ack_status),
            web.post("/v1/catalogue", register),
            web.get("/v1/catalogue", list_catalogue),
            web.get("/v1/catalogue/changes", catalogue_changes),
        ]
    )
