"""What only a real server on a real socket shows: body limits, content types, auth challenges."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import aiohttp
import pytest

from tests.support.api import COMMUNE, PROVINCE, Api, document

from .conftest import Server

MIB = 1024 * 1024
PROBLEM = "application/problem+json"


async def _raw_post(
    session: aiohttp.ClientSession, url: str, data: bytes, headers: dict[str, str]
) -> tuple[int, str, Any, dict[str, str]]:
    # A file-like body is streamed; raw bytes this large would be sent from the event loop.
    async with session.post(url, data=io.BytesIO(data), headers=headers) as r:
        body = await r.read()
        return r.status, r.content_type, json.loads(body) if body else None, dict(r.headers)


def _document_with_attachment(size: int) -> bytes:
    """A document body whose one attachment decodes to size bytes."""
    # The base64 text is built from a repeated 3-byte block, without holding size bytes twice.
    text = base64.b64encode(b"%PD").decode() * (size // 3)
    body = document(
        [COMMUNE],
        attachments=[
            {"name": "big.pdf", "content_type": "application/pdf", "content_base64": text}
        ],
    )
    return json.dumps(body).encode()


async def _still_serves(server: Server, api: Api) -> None:
    assert server.running
    status, body = await api.send(PROVINCE, [COMMUNE])
    assert status == 201, body


@pytest.mark.parametrize(
    "size",
    [pytest.param(60 * MIB, id="60MiB-body"), pytest.param(50 * MIB + 3, id="just-over-50MiB")],
)
async def test_an_oversized_document_is_413_and_the_server_keeps_serving(
    sqlite_server: Server, session: aiohttp.ClientSession, size: int
) -> None:
    api = Api(session, sqlite_server.base_url)
    await api.register(PROVINCE, "province")
    await api.register(COMMUNE, "commune", PROVINCE)
    headers = {
        "Authorization": f"Bearer {api.tokens[PROVINCE]}",
        "Content-Type": "application/json",
    }

    status, content_type, body, _ = await _raw_post(
        session, f"{api.base_url}/v1/documents", _document_with_attachment(size), headers
    )

    assert (status, content_type) == (413, PROBLEM), body
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == 413
    await _still_serves(sqlite_server, api)
    _, inbox = await api.call("GET", "/v1/inbox", api.tokens[COMMUNE])
    assert len(inbox["items"]) == 1


async def test_a_body_that_is_not_json_is_refused_with_415(
    sqlite_server: Server, session: aiohttp.ClientSession
) -> None:
    api = Api(session, sqlite_server.base_url)
    await api.register(PROVINCE, "province")
    await api.register(COMMUNE, "commune", PROVINCE)
    url = f"{api.base_url}/v1/documents"
    token = {"Authorization": f"Bearer {api.tokens[PROVINCE]}"}
    body_json = json.dumps(document([COMMUNE])).encode()

    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        status, answer_type, body, _ = await _raw_post(
            session, url, body_json, token | {"Content-Type": content_type}
        )
        assert (status, answer_type) == (415, PROBLEM), (content_type, body)
    _, inbox = await api.call("GET", "/v1/inbox", api.tokens[COMMUNE])
    assert inbox["items"] == []

    status, _, body, _ = await _raw_post(
        session, url, body_json, token | {"Content-Type": "application/json; charset=utf-8"}
    )
    assert status == 201, body


async def test_a_call_without_a_valid_token_is_refused_with_401_and_a_bearer_challenge(
    sqlite_server: Server, session: aiohttp.ClientSession
) -> None:
    url = f"{sqlite_server.base_url}/v1/inbox"
    for headers in (
        {},
        {"Authorization": "Bearer not-a-token-anyone-holds"},
        {"Authorization": "Basic b3BlcmF0b3I6c2VjcmV0"},
    ):
        async with session.get(url, headers=headers) as r:
            assert r.status == 401, headers
            assert r.content_type == PROBLEM
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
            assert (await r.json(content_type=None))["status"] == 401


async def test_every_error_is_problem_json_never_an_html_page(
    sqlite_server: Server, session: aiohttp.ClientSession
) -> None:
    api = Api(session, sqlite_server.base_url)
    token = await api.register(PROVINCE, "province")
    base = sqlite_server.base_url
    auth = {"Authorization": f"Bearer {token}"}
    calls = [
        ("GET", "/v1/no-such-thing", b"", {}, 404),
        ("DELETE", "/v1/inbox", b"", {}, 405),
        ("POST", "/v1/documents", b'{"external_id": ', {"Content-Type": "application/json"}, 400),
        ("POST", "/v1/documents", b"{}", {"Content-Type": "application/json"}, 422),
    ]
    for method, path, data, headers, expected in calls:
        async with session.request(method, base + path, data=data, headers=auth | headers) as r:
            text = await r.text()
            assert (r.status, r.content_type) == (expected, PROBLEM), (method, path, text)
            assert json.loads(text)["status"] == expected
            assert "<html" not in text.lower()
            if expected == 405:
                assert "GET" in r.headers["Allow"]


async def test_a_request_line_too_long_to_parse_is_refused_and_the_server_lives_on(
    sqlite_server: Server, session: aiohttp.ClientSession
) -> None:
    # aiohttp answers errors of its HTTP parser itself, in text/plain, before any middleware
    # runs (docs/api.md lists this exception to problem+json).
    api = Api(session, sqlite_server.base_url)
    token = await api.register(PROVINCE, "province")
    url = f"{sqlite_server.base_url}/v1/inbox?from={'9' * 10_000}"
    async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as r:
        assert 400 <= r.status < 500, await r.text()
    assert sqlite_server.running
    status, _ = await api.call("GET", "/v1/inbox", token)
    assert status == 200
