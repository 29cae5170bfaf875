"""Structured logs: one JSON object per line on stderr (structlog), request ids bound per call.

Every record, from structlog or from the standard library's `logging`, goes through the same
renderer, so third-party and our own messages share one shape: `timestamp`, `level`, `logger`,
`event`, and the request's `request_id` while a request is being answered. The access line of
each call (`event: "request"`) adds the method, route template, status, duration, the caller's
kind and agency, and the outcome. Tokens, document contents and attachments are never logged.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import msgspec
import structlog

# Replaced by `configure`: the access line of every call skips the standard library's logging
# (a fifth of its cost) and is rendered and written by structlog alone, in the same shape.
access: Any = structlog.stdlib.get_logger("lienthong.access")
_encode = msgspec.json.Encoder().encode


def _serialize(event: dict[str, Any], **_: Any) -> str:
    return _encode(event).decode()


def _access_name(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event["logger"] = "lienthong.access"
    return event


def configure(log_format: str = "json", level: int = logging.INFO) -> None:
    """Routes structlog and `logging` to stderr, as JSON lines or (console) for people."""
    stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        stamp,
    ]
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        if log_format == "console"
        else structlog.processors.JSONRenderer(serializer=_serialize)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    global access
    access = structlog.wrap_logger(
        structlog.PrintLogger(sys.stderr),
        # The request id comes with the call: no context variables to merge.
        processors=[
            structlog.processors.add_log_level,
            _access_name,
            stamp,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def start_request(request_id: str) -> None:
    """Binds a request id to what this task logs from now on (a kept-alive connection answers
    its requests one after another in one task, so the previous binding is dropped first)."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)


def outcome(status: int) -> str:
    """ok (2xx, 3xx), refused (4xx: bad input or not allowed) or failed (5xx)."""
    return "ok" if status < 400 else "refused" if status < 500 else "failed"
