"""Structured logs of the real server: one JSON line per call with its request id, agency, route
and outcome; never a token, document content or attachment."""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp

from tests.conftest import OPERATOR_TOKEN
from tests.support.api import COMMUNE, PROVINCE, Api, attachment, auth, document

from .conftest import Server


def _lines(server: Server) -> list[dict[str, Any]]:
    text = server.stderr_path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


async def test_each_call_logs_one_json_line_without_secrets(
    sqlite_server: Server, session: aiohttp.ClientSession
) -> None:
    api = Api(session, sqlite_server.base_url)
    await api.province()
    secret_subject = "Về việc bí mật nhà nước XYZ-7431"
    secret_bytes = b"attachment-bytes-QWERTY-9911"
    body = document(
        [COMMUNE], subject=secret_subject, attachments=[attachment("a.pdf", secret_bytes)]
    )
    headers = auth(api.tokens[PROVINCE]) | {"X-Request-Id": "trace-123"}
    async with session.post(
        sqlite_server.base_url + "/v1/documents", json=body, headers=headers
    ) as r:
        assert r.status == 201
        assert r.headers["X-Request-Id"] == "trace-123"
    bad = document([COMMUNE], due_on="nope")
    assert (await api.call("POST", "/v1/documents", api.tokens[PROVINCE], json=bad))[0] == 422
    assert (await api.call("GET", "/v1/inbox", "forged-token-secret-000"))[0] == 401
    async with session.get(sqlite_server.base_url + "/healthz") as r:
        generated = r.headers["X-Request-Id"]

    sqlite_server.stop()
    lines = _lines(sqlite_server)
    assert all({"timestamp", "level", "event"} <= line.keys() for line in lines)
    calls = [line for line in lines if line["event"] == "request"]
    sent = [c for c in calls if c["request_id"] == "trace-123"]
    assert len(sent) == 1
    assert sent[0] | {"duration_ms": 0, "timestamp": ""} == {
        "event": "request",
        "level": "info",
        "logger": "lienthong.access",
        "timestamp": "",
        "request_id": "trace-123",
        "method": "POST",
        "route": "/v1/documents",
        "status": 201,
        "duration_ms": 0,
        "principal": "agency",
        "agency": PROVINCE,
        "outcome": "ok",
    }
    outcomes = {(c["route"], c["status"], c["outcome"]) for c in calls}
    assert ("/v1/documents", 422, "refused") in outcomes
    assert ("/v1/inbox", 401, "refused") in outcomes
    assert [c["route"] for c in calls if c["request_id"] == generated] == ["/healthz"]
    assert len({c["request_id"] for c in calls}) == len(calls)

    text = sqlite_server.stderr_path.read_text(encoding="utf-8")
    for secret in (
        *api.tokens.values(),
        OPERATOR_TOKEN,
        "forged-token-secret-000",
        secret_subject,
        "XYZ-7431",
        secret_bytes.decode(),
        base64.b64encode(secret_bytes).decode(),
    ):
        assert secret not in text, secret
