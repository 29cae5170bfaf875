"""The simulator's state shared by its middlewares and handlers, and its JSON helpers."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from adapters.axis.errors import Refusal
from adapters.axis.faults import Draw, FaultInjector
from adapters.axis.store import AxisStore
from adapters.axis.wire import encode

log = logging.getLogger("lienthong.axis")
T = TypeVar("T")
_DECODERS: dict[type, msgspec.json.Decoder[Any]] = {}


@dataclass
class Simulator:
    """The store, the fault injector, the connected systems' secrets and the counters."""

    store: AxisStore
    injector: FaultInjector
    admin_token: str | None
    secrets: dict[str, str]
    max_package_bytes: int
    requests: Counter[str] = field(default_factory=Counter)
    faults_injected: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    calls: Counter[str] = field(default_factory=Counter)

    def note(self, draw: Draw, request: web.Request) -> None:
        """Counts and logs the faults drawn for one call."""
        kinds = draw.kinds()
        if kinds:
            self.faults_injected.update(kinds)
            log.info("axis faults %s on %s %s", ",".join(kinds), request.method, request.path)


SIMULATOR = web.AppKey("axis_simulator", Simulator)
# Per-request values set by the middlewares.
DRAW = web.RequestKey("axis_draw", Draw)
SYSTEM_ID = web.RequestKey("axis_system", str)
SIGNED = web.RequestKey("axis_signed", tuple[str, int])
BODY = web.RequestKey("axis_body", bytes)


def json_body(body: bytes, request: web.Request, kind: type[T]) -> T:
    """Decodes a JSON body into a wire Struct; 415, 400 (malformed) or 422 (invalid) otherwise."""
    if request.content_type != "application/json":
        raise Refusal(415, "unsupported_media_type", "expected application/json")
    decoder = _DECODERS.get(kind)
    if decoder is None:
        decoder = _DECODERS[kind] = msgspec.json.Decoder(kind)
    try:
        result: T = decoder.decode(body)
        return result
    except msgspec.ValidationError as e:
        raise Refusal(422, "invalid", str(e)) from None
    except msgspec.DecodeError as e:
        raise Refusal(400, "malformed", f"malformed JSON: {e}") from None


def json_response(body: Any, status: int = 200) -> web.Response:
    """Encodes a JSON answer."""
    return web.Response(status=status, body=encode(body), content_type="application/json")
