"""HTTP plumbing: problem+json errors, request ids, metrics, cursors and query parsing."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import msgspec
from aiohttp import web

from adapters.eventstore import unavailable
from domain.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, TooLarge
from router.wire import MalformedJson, encode
from router.writer import StoreUnavailable

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PROBLEM = "application/problem+json"
MAX_POSITION = 2**63 - 1
# Typed, so that nesting is refused at once (an untyped decode of deep arrays overflows the stack).
_CURSOR = msgspec.json.Decoder(dict[str, int | str])
RETRY_LATER = {"Retry-After": "5"}
READ_TIMEOUT = web.AppKey("read_timeout", float)
_STATUS = {Invalid: 422, Conflict: 409, NotFound: 404, Forbidden: 403, TooLarge: 413}


class Unauthorized(Exception):
    """No token, or a token nobody holds (HTTP 401)."""


class StoredDataCorrupt(Exception):
    """Stored bytes no longer match their recorded digest (HTTP 500, and an operator alarm)."""


class UnsupportedMediaType(Exception):
    """A body that is not application/json (HTTP 415)."""


class BodyStalled(Exception):
    """A client stopped sending its request body (HTTP 408)."""


def problem(
    status: int,
    detail: str,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """Builds an RFC 9457 problem response."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return web.Response(status=status, body=encode(body), content_type=PROBLEM, headers=headers)


def json_response(body: Any, status: int = 200) -> web.Response:
    """Encodes a JSON answer with the shared msgspec encoder."""
    return web.Response(status=status, body=encode(body), content_type="application/json")


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turns every error into problem+json; never an HTML page or a stack trace."""
    try:
        return await handler(request)
    except Invalid as e:
        errors = [{"field": f.field, "message": f.message} for f in e.errors]
        return problem(422, e.detail, errors)
    except DomainError as e:
        return problem(_STATUS.get(type(e), 400), e.detail)
    except MalformedJson as e:
        return problem(400, f"malformed JSON: {e}")
    except Unauthorized as e:
        return problem(401, str(e), headers={"WWW-Authenticate": "Bearer"})
    except UnsupportedMediaType as e:
        return problem(415, str(e))
    except BodyStalled as e:
        # Answered and closed here: aiohttp would otherwise wait 10 s more ("lingering") for
        # the rest of a body that is not coming.
        response = problem(408, str(e))
        await response.prepare(request)
        await response.write_eof()
        if request.transport is not None:
            request.transport.close()
        return response
    except StoredDataCorrupt as e:
        return problem(500, f"{e}; the operator has been alerted by the log")
    except StoreUnavailable as e:
        return problem(503, str(e), headers=RETRY_LATER)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        return problem(
            e.status,
            e.text if e.text and "<" not in e.text else e.reason,
            headers={k: v for k, v in e.headers.items() if k == "Allow"},
        )
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception as e:
        reason = unavailable(e)
        if reason is not None:
            log.warning("store unavailable on %s %s: %s", request.method, request.path, e)
            return problem(503, reason, headers=RETRY_LATER)
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem(
            500,
            "the router failed to answer; nothing was recorded unless a later read shows it",
        )


def route_template(request: web.Request) -> str:
    """Returns the route template, so raw paths never become metric labels."""
    route = request.match_info.route
    return route.resource.canonical if route.resource is not None else "unmatched"


async def read_json(request: web.Request) -> bytes:
    """Reads a JSON body, refusing other content types with 415 and a body that stops arriving
    for the read timeout with 408."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            f"expected application/json, got {request.content_type or 'nothing'}"
        )
    if request.content.is_eof():  # the whole body came with the headers (most requests)
        return await request.read()
    idle = request.app[READ_TIMEOUT]
    reading = asyncio.ensure_future(request.read())
    try:
        received = -1
        while received != request.content.total_bytes:  # something arrived since last time
            received = request.content.total_bytes
            done, _ = await asyncio.wait([reading], timeout=idle)
            if done:
                return reading.result()
    finally:
        reading.cancel()
    raise BodyStalled(f"the request body stopped arriving for {idle:g} s")


def query_limit(request: web.Request) -> int:
    """Parses ?limit= (1..500, default 50)."""
    raw = request.query.get("limit", "50")
    return whole_number(raw, "limit", 1, 500)


def whole_number(raw: str, field: str, low: int, high: int = MAX_POSITION) -> int:
    """Parses an ASCII whole number within [low, high], else a 422 naming the field."""
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise Invalid.field(field, f"must be a whole number from {low} to {high}")
    return int(raw)


def query_time(name: str, raw: str) -> datetime:
    """Parses an RFC 3339 time with a zone (Z or an offset), else a 422 naming the field."""
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise Invalid.field(name, "must be an RFC 3339 time such as 2026-11-24T08:00:00Z") from None
    if moment.tzinfo is None:
        raise Invalid.field(name, "must carry a time zone (Z or an offset)")
    return moment.astimezone(UTC)


def encode_cursor(value: Any) -> str | None:
    """Makes an opaque cursor."""
    if value is None:
        return None
    return base64.urlsafe_b64encode(encode({"k": value})).decode().rstrip("=")


def decode_cursor(request: web.Request, kind: type) -> Any:
    """Reads ?cursor= back; a cursor the router did not make is a 422."""
    raw = request.query.get("cursor")
    if raw is None:
        return None
    try:
        data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        value = _CURSOR.decode(data)["k"]
    except (binascii.Error, ValueError, KeyError, msgspec.DecodeError):
        value = None
    if (
        not isinstance(value, kind)
        or isinstance(value, bool)
        or (isinstance(value, int) and not 0 <= value <= MAX_POSITION)
    ):
        raise Invalid.field("cursor", "not a cursor this router issued")
    return value
