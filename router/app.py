"""Composition root: builds the aiohttp application from a Config."""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
import time
from collections.abc import AsyncIterator
from datetime import datetime
from importlib.resources import files

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from router import (
    agencies,
    axis_queue,
    boxes,
    bundle,
    documents,
    evidence,
    logs,
    search,
    signatures,
    stats,
)
from router.auth import AGENCY, PRINCIPAL
from router.axis_bridge import bridge_ctx
from router.checkpoints import checkpoints_ctx
from router.clock import clock_ctx
from router.config import Config
from router.http import READ_TIMEOUT, Handler, json_response, problem, problems, route_template
from router.services import SERVICES, Services, build_services

CONFIG = web.AppKey("config", Config)
OPENAPI = files("router").joinpath("openapi.json").read_bytes()


REQUEST_ID = web.RequestKey("request_id", str)
# A caller's X-Request-Id is kept when it is 1..64 visible ASCII characters; else the router makes
# one: a random prefix per process and a counter (unique, and cheaper than a UUID per request).
_REQUEST_ID_SHAPE = re.compile(r"^[\x21-\x7e]{1,64}$")
_ID_PREFIX = secrets.token_hex(6)
_ids = itertools.count(1)
# Refusals of bad input, by status (401 is counted as an authentication failure instead).
BAD_REQUEST_REASONS = {
    400: "malformed",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
}


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Gives every request an id, then counts, times and logs it by route template."""
    given = request.headers.get("X-Request-Id", "")
    request_id = given if _REQUEST_ID_SHAPE.match(given) else f"{_ID_PREFIX}-{next(_ids):x}"
    request[REQUEST_ID] = request_id
    logs.start_request(request_id)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as e:
        status = e.status
        raise
    finally:
        seconds = time.perf_counter() - started
        metrics = request.app[SERVICES].metrics
        route = route_template(request)
        metrics.requests_by(request.method, route, str(status)).inc()
        metrics.duration_by(request.method, route, f"{status // 100}xx").observe(seconds)
        if status in BAD_REQUEST_REASONS:
            metrics.bad_requests.labels(BAD_REQUEST_REASONS[status]).inc()
        principal = request.get(PRINCIPAL)
        logs.access.info(
            "request",
            request_id=request_id,
            method=request.method,
            route=route,
            status=status,
            duration_ms=round(seconds * 1000, 3),
            principal=principal.kind if principal else None,
            agency=principal.subject if principal and principal.kind == AGENCY else None,
            outcome=logs.outcome(status),
        )


async def echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """Echoes the request id on every answer, streamed ones included."""
    if REQUEST_ID in request:
        response.headers["X-Request-Id"] = request[REQUEST_ID]


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Delegates to the process's Authenticator."""
    return await request.app[SERVICES].auth.middleware(request, handler)


async def healthz(_: web.Request) -> web.Response:
    """GET /healthz: the process answers."""
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """GET /readyz: the store answers and the views and the evidence are caught up within
    bounds."""
    services = request.app[SERVICES]
    try:
        head = await asyncio.wait_for(services.call(services.events.max_position), 5)
    except Exception as e:  # any store failure means not ready
        return problem(503, f"event store unreachable: {type(e).__name__}")
    lag = head - services.runner.position
    services.metrics.store_position.set(head)
    services.metrics.projection_lag.labels("exchange-views").set(max(lag, 0))
    if not services.runner.healthy:
        return problem(503, f"the projection is failing; views stopped {lag} events behind")
    if lag > services.config.ready_max_lag_events:
        return problem(503, f"views are {lag} events behind the store")
    # Sends wait for their receipts, which the evidence projection signs.
    evidence = services.evidence_runner
    behind = head - evidence.position
    if not evidence.healthy:
        return problem(503, f"the evidence projection is failing, {behind} events behind")
    if behind > services.config.ready_max_lag_events:
        return problem(503, f"the evidence is {behind} events behind the store")
    return json_response(
        {
            "status": "ready",
            "store_position": head,
            "views_position": services.runner.position,
            "evidence_position": evidence.position,
        }
    )


async def metrics(request: web.Request) -> web.Response:
    """GET /metrics in the Prometheus text format; the gauges that need the store are read now."""
    services = request.app[SERVICES]
    await services.call(_read_gauges, services)
    body = services.metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _read_gauges(services: Services) -> None:
    """Store position, view lag (events and seconds) and overdue documents by agency."""
    m, name = services.metrics, services.runner.projection.name
    head, position = services.events.max_position(), services.runner.position
    m.store_position.set(head)
    m.projection_lag.labels(name).set(max(head - position, 0))
    oldest = services.events.after(position, 1) if head > position else []
    age = (
        time.time() - datetime.fromisoformat(oldest[0]["recorded_at"]).timestamp() if oldest else 0
    )
    m.projection_lag_seconds.labels(name).set(max(age, 0.0))
    m.set_overdue(services.views.overdue(services.exchange.today()))
    depth = services.views.axis_depth()
    for state in axis_queue.STATES:
        m.axis_queue.labels(state).set(depth.get(state, 0))


async def openapi(_: web.Request) -> web.Response:
    """GET /v1/openapi.json."""
    return web.Response(body=OPENAPI, content_type="application/json")


def create_app(config: Config) -> web.Application:
    """Builds the router application; stores and threads live in its cleanup context."""
    app = web.Application(
        client_max_size=config.max_body_bytes,
        middlewares=[observe, problems, authenticate],
    )
    app[CONFIG] = config
    app[READ_TIMEOUT] = config.read_timeout
    app.on_response_prepare.append(echo_request_id)

    async def services_ctx(app: web.Application) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        app[SERVICES] = await loop.run_in_executor(None, build_services, config)
        yield
        await loop.run_in_executor(None, app[SERVICES].close)

    app.cleanup_ctx.append(services_ctx)
    app.cleanup_ctx.append(clock_ctx)
    app.cleanup_ctx.append(bridge_ctx)
    app.cleanup_ctx.append(checkpoints_ctx)
    app.add_routes(
        [
            web.get("/healthz", healthz),
            web.get("/readyz", readyz),
            web.get("/metrics", metrics),
            web.get("/v1/openapi.json", openapi),
            *agencies.ROUTES,
            *signatures.ROUTES,
            *documents.ROUTES,
            *boxes.ROUTES,
            *stats.ROUTES,
            *axis_queue.ROUTES,
            *search.ROUTES,
            *evidence.ROUTES,
            *bundle.ROUTES,
        ]
    )
    return app
