"""The national axis simulator: an aiohttp service with its own SQLite store, signed requests
from connected systems, an admin API and fault injection (see docs/axis-sim.md)."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from http import HTTPStatus
from pathlib import Path

import msgspec
from aiohttp import web

from adapters.axis import handlers
from adapters.axis.errors import Refusal
from adapters.axis.faults import KINDS, FaultInjector
from adapters.axis.signing import MAX_SKEW, SIGNATURE, SYSTEM, TIMESTAMP, matches
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
from adapters.axis.store import AxisStore
from adapters.axis.wire import Faults, Problem, SystemIn, encode

log = logging.getLogger("lienthong.axis")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PROBLEM = "application/problem+json"
MAX_PACKAGE_BYTES = 64 * 1024 * 1024


def problem(status: int, code: str, detail: str) -> web.Response:
    """Builds a problem+json answer with the axis's stable `code`."""
    body = Problem("about:blank", HTTPStatus(status).phrase, status, detail, code)
    return web.Response(status=status, body=encode(body), content_type=PROBLEM)


_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turns every refusal and error into problem+json, never an HTML page or a traceback."""
    try:
        return await handler(request)
    except Refusal as e:
        request.app[SIMULATOR].refusals[e.code] += 1
        return problem(e.status, e.code, e.detail)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        return problem(e.status, _HTTP_CODES.get(e.status, "http_error"), e.reason)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem(500, "internal_error", "the simulator failed; nothing was recorded")


def _faultless(request: web.Request) -> bool:
    return request.path == "/healthz" or request.path.startswith("/admin/")


def _abort(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()


@web.middleware
async def faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Counts each call by route and injects the faults drawn for it (never on admin routes)."""
    sim = request.app[SIMULATOR]
    resource = request.match_info.route.resource
    sim.requests[f"{request.method} {resource.canonical if resource else 'unmatched'}"] += 1
    if _faultless(request):
        return await handler(request)
    draw = sim.injector.draw()
    request[DRAW] = draw
    sim.note(draw, request)
    if draw.drop_request:
        _abort(request)
        return problem(503, "dropped", "the request was dropped")
    if draw.delay_ms:
        await asyncio.sleep(draw.delay_ms / 1000)
    if draw.error is not None:
        return problem(draw.error, "injected_error", "an injected failure; nothing was done")
    response = await handler(request)
    if draw.drop_response:
        _abort(request)  # committed, but the caller never hears it: the lost acknowledgement
    return response


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Checks the admin token on /admin/*, and the HMAC signature of every /v1 call."""
    sim = request.app[SIMULATOR]
    if request.path.startswith("/admin/"):
        given = request.headers.get("Authorization", "").encode()
        expected = f"Bearer {sim.admin_token}".encode()
        if sim.admin_token is None or not hmac.compare_digest(given, expected):
            raise Refusal(401, "unauthorized", "the admin token is missing or wrong")
    elif request.path.startswith("/v1/"):
        body = await request.read()
        request[SYSTEM_ID], request[SIGNED] = _verify(sim, request, body)
        request[BODY] = body
    return await handler(request)


def _verify(sim: Simulator, request: web.Request, body: bytes) -> tuple[str, tuple[str, int]]:
    system, stamp = request.headers.get(SYSTEM), request.headers.get(TIMESTAMP)
    signature = request.headers.get(SIGNATURE)
    if not system or not stamp or not signature:
        raise Refusal(401, "unsigned", f"{SYSTEM}, {TIMESTAMP} and {SIGNATURE} are required")
    secret = sim.secrets.get(system)
    if secret is None:
        raise Refusal(401, "unknown_system", f"no connected system {system[:64]!r}")
    if not (stamp.isascii() and stamp.isdigit()) or abs(time.time() - int(stamp)) > MAX_SKEW:
        raise Refusal(401, "stale_request", f"the timestamp is more than {MAX_SKEW} s off")
    if not matches(secret, request.method, request.raw_path, stamp, body, signature):
        raise Refusal(401, "bad_signature", "the signature does not match the request")
    return system, (signature, int(stamp))


async def healthz(request: web.Request) -> web.Response:
    """Answers 200 while the process is up."""
    return json_response({"status": "ok"})


async def add_system(request: web.Request) -> web.Response:
    """Adds a connected system (201) or replaces its secret (200)."""
    sim = request.app[SIMULATOR]
    system = json_body(await request.read(), request, SystemIn)
    created = await sim.store.call(sim.store.put_system, system.system_id, system.secret)
    sim.secrets[system.system_id] = system.secret
    return json_response(
        {"system_id": system.system_id, "created": created}, 201 if created else 200
    )


async def put_faults(request: web.Request) -> web.Response:
    """Sets the fault probabilities and reseeds the generator."""
    sim = request.app[SIMULATOR]
    sim.injector.set(json_body(await request.read(), request, Faults))
    log.info("axis faults set: %s", msgspec.json.encode(sim.injector.faults).decode())
    return json_response(sim.injector.faults)


async def get_faults(request: web.Request) -> web.Response:
    """Shows the current fault probabilities."""
    return json_response(request.app[SIMULATOR].injector.faults)


async def stats(request: web.Request) -> web.Response:
    """Counts what the simulator did since it started, beside the store's durable totals."""
    sim = request.app[SIMULATOR]
    totals = await sim.store.read(sim.store.counts)
    return json_response(
        {
            "requests": dict(sorted(sim.requests.items())),
            "faults": {kind: sim.faults_injected[kind] for kind in KINDS},
            "refusals": dict(sorted(sim.refusals.items())),
            "calls": dict(sorted(sim.calls.items())),
            "totals": totals,
        }
    )


def create_simulator(
    data_dir: Path,
    admin_token: str | None,
    initial_faults: Faults | None = None,
    max_package_bytes: int = MAX_PACKAGE_BYTES,
) -> web.Application:
    """Builds the simulator's app on a data directory (its store is opened at startup)."""
    app = web.Application(
        middlewares=[problems, faults, authenticate], client_max_size=max_package_bytes
    )

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        store = await asyncio.to_thread(AxisStore, data_dir)
        secrets = await store.read(store.systems)
        app[SIMULATOR] = Simulator(
            store, FaultInjector(initial_faults), admin_token, secrets, max_package_bytes
        )
        yield
        store.close()

    app.cleanup_ctx.append(lifetime)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/admin/systems", add_system)
    app.router.add_put("/admin/faults", put_faults)
    app.router.add_get("/admin/faults", get_faults)
    app.router.add_get("/admin/stats", stats)
    handlers.add_routes(app)
    return app
