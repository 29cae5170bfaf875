"""Directory routes: agencies, their tokens and auditors."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from adapters.views import fold
from domain.agency import Agency, Auditor
from domain.commands import (
    Command,
    MergeAgency,
    MoveAgency,
    RegisterAgency,
    RegisterAuditor,
    RenameAgency,
    RequireSignature,
    ResumeAgency,
    RetireAgency,
    RotateToken,
    SuspendAgency,
)
from domain.directory import status_on
from domain.errors import FieldError, Invalid, NotFound
from router import clock
from router.auth import OPERATOR, PRINCIPAL, new_token
from router.http import decode_cursor, encode_cursor, json_response, query_limit, read_json
from router.services import SERVICES
from router.wire import AgencyIn, AgencyPatch, AuditorIn, MergeIn, MoveIn, RetireIn, decode

_PUBLIC = ("code", "name", "tier", "parent", "remote")
MAX_QUERY = 200


def present(row: dict[str, Any], today: str) -> dict[str, Any]:
    """Shows an agency from the directory view, its status as of today."""
    answer = {key: row[key] for key in _PUBLIC}
    status = status_on(row["status"], row["successor"], row["ends_on"], today)
    pending = (
        {
            "parent": row["pending_parent"],
            "tier": row["pending_tier"],
            "effective": row["pending_on"],
        }
        if row["pending_on"]
        else None
    )
    return answer | {
        "signature_required": row["signature_required"],
        "status": status,
        "successor": row["successor"],
        "ends_on": row["ends_on"],
        "pending_move": pending,
    }


def present_aggregate(agency: Agency, today: str) -> dict[str, Any]:
    """Shows an agency from its aggregate, right after a write."""
    return present(
        {
            "code": agency.code,
            "name": agency.name,
            "tier": agency.tier.value,
            "parent": agency.parent,
            "remote": agency.remote,
            "status": agency.status.value,
            "successor": agency.successor,
            "ends_on": agency.ends_on,
            "pending_parent": (agency.pending_move or {}).get("parent"),
            "pending_tier": (agency.pending_move or {}).get("tier"),
            "pending_on": (agency.pending_move or {}).get("effective"),
            "signature_required": agency.signature_required,
        },
        today,
    )


def _today(request: web.Request) -> str:
    return request.app[SERVICES].exchange.today()


async def register_agency(request: web.Request) -> web.Response:
    """POST /v1/agencies."""
    request[PRINCIPAL].require(OPERATOR)
    body = decode(AgencyIn, await read_json(request))
    token, digest = new_token()
    outcome = await request.app[SERVICES].writer.execute(
        RegisterAgency(
            code=body.code,
            name=body.name,
            tier=body.tier,
            parent=body.parent,
            remote=body.remote,
            token_sha256=None if body.remote else digest,
        )
    )
    answer = present_aggregate(outcome.aggregate, _today(request))
    if not body.remote:
        answer["token"] = token
    return json_response(answer, 201)


async def list_agencies(request: web.Request) -> web.Response:
    """GET /v1/agencies."""
    services = request.app[SERVICES]
    limit = query_limit(request)
    tier = request.query.get("tier")
    if tier is not None and tier not in ("central", "province", "district", "commune"):
        raise Invalid.field("tier", "must be central, province, district or commune")
    q = request.query.get("q")
    if q is not None and len(q) > MAX_QUERY:
        raise Invalid.field("q", f"must be at most {MAX_QUERY} characters")
    if q is not None and not fold(q):
        raise Invalid.field("q", "must not be blank")
    under = request.query.get("under")
    after = decode_cursor(request, str)

    def page() -> list[dict[str, Any]] | None:
        if under is not None and services.views.agency(under) is None:
            return None
        return services.views.agencies(
            tier=tier,
            parent=request.query.get("parent"),
            under=under,
            q=q,
            after=after,
            limit=limit + 1,
        )

    rows = await services.call(page)
    if rows is None:
        raise NotFound(f"agency {under} not found")
    next_cursor = encode_cursor(rows[limit - 1]["code"]) if len(rows) > limit else None
    return json_response(
        {"items": [present(r, _today(request)) for r in rows[:limit]], "next_cursor": next_cursor}
    )


async def get_agency(request: web.Request) -> web.Response:
    """GET /v1/agencies/{code}."""
    services = request.app[SERVICES]
    row = await services.call(services.views.agency, request.match_info["code"])
    if row is None:
        raise NotFound("agency not found")
    return json_response(present(row, _today(request)))


async def rotate_token(request: web.Request) -> web.Response:
    """POST /v1/agencies/{code}/token: the old token stops working at once."""
    request[PRINCIPAL].require(OPERATOR)
    token, digest = new_token()
    answer = await _change(request, RotateToken(request.match_info["code"], digest))
    return json_response(answer | {"token": token})


async def suspend(request: web.Request) -> web.Response:
    """POST /v1/agencies/{code}/suspend."""
    request[PRINCIPAL].require(OPERATOR)
    return json_response(await _change(request, SuspendAgency(request.match_info["code"])))


async def resume(request: web.Request) -> web.Response:
    """POST /v1/agencies/{code}/resume."""
    request[PRINCIPAL].require(OPERATOR)
    return json_response(await _change(request, ResumeAgency(request.match_info["code"])))


async def merge(request: web.Request) -> web.Response:
    """POST /v1/agencies/{code}/merge: from `effective` on, documents go to `into`."""
    request[PRINCIPAL].require(OPERATOR)
    body = decode(MergeIn, await read_json(request))
    effective = body.effective.isoformat() if body.effective else None
    command = MergeAgency(request.match_info["code"], body.into, effective)
    answer = await _change(request, command)
    if answer["status"] == "merged":
        # Effective today: its open lines pass to the successor now, not at the clock's next tick.
        await clock.tick(request.app[SERVICES])
    return json_response(answer)


async def retire(request: web.Request) -> web.Response:
    """POST /v1/agencies/{code}/retire: from `effective` on, the agency receives nothing."""
    request[PRINCIPAL].require(OPERATOR)
    body = decode(RetireIn, await read_json(request))
    effective = body.effective.isoformat() if body.effective else None
    command = RetireAgency(request.match_info["code"], effective)
    return json_response(await _change(request, command))


async def move(request: web.Request) -> web.Response:
    """POST /v1/agencies/{code}/move: a new parent and tier from `effective` (today) on."""
    request[PRINCIPAL].require(OPERATOR)
    body = decode(MoveIn, await read_json(request))
    effective = body.effective.isoformat() if body.effective else None
    command = MoveAgency(request.match_info["code"], body.parent, body.tier, effective)
    return json_response(await _change(request, command))


async def patch(request: web.Request) -> web.Response:
    """PATCH /v1/agencies/{code}: a new official name, whether its documents must be signed."""
    request[PRINCIPAL].require(OPERATOR)
    body = decode(AgencyPatch, await read_json(request))
    code = request.match_info["code"]
    commands: list[Command] = []
    if body.name is not None:
        commands.append(RenameAgency(code, body.name))
    if body.signature_required is not None:
        commands.append(RequireSignature(code, body.signature_required))
    if not commands:
        raise Invalid("give name or signature_required", [FieldError("$", "nothing to change")])
    for command in commands:
        answer = await _change(request, command)
    return json_response(answer)


async def _change(request: web.Request, command: Command) -> dict[str, Any]:
    """Commits a change to an agency and shows the agency afterwards."""
    services = request.app[SERVICES]
    outcome = await services.writer.execute(command)
    services.auth.forget()
    return present_aggregate(outcome.aggregate, _today(request))


async def register_auditor(request: web.Request) -> web.Response:
    """POST /v1/auditors."""
    request[PRINCIPAL].require(OPERATOR)
    body = decode(AuditorIn, await read_json(request))
    token, digest = new_token()
    outcome = await request.app[SERVICES].writer.execute(RegisterAuditor(body.name, digest))
    auditor: Auditor = outcome.aggregate
    return json_response({"name": auditor.name, "token": token}, 201)


ROUTES = [
    web.post("/v1/agencies", register_agency),
    web.get("/v1/agencies", list_agencies),
    web.get("/v1/agencies/{code}", get_agency),
    web.post("/v1/agencies/{code}/token", rotate_token),
    web.post("/v1/agencies/{code}/suspend", suspend),
    web.post("/v1/agencies/{code}/resume", resume),
    web.post("/v1/agencies/{code}/merge", merge),
    web.post("/v1/agencies/{code}/retire", retire),
    web.post("/v1/agencies/{code}/move", move),
    web.patch("/v1/agencies/{code}", patch),
    web.post("/v1/auditors", register_auditor),
]
