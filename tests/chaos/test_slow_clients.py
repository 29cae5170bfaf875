"""Slow and stalled clients (slowloris): hundreds of connections that send their headers byte by
byte, stop halfway through a body, or say nothing at all neither starve a normal client nor keep
their connections longer than the read timeout."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.conftest import Servers
from tests.support.api import COMMUNE, PROVINCE, Api, document

from .conftest import Chaos

pytestmark = pytest.mark.chaos

READ_TIMEOUT = 2.0
# A normal call takes milliseconds; this only tells an answer from starvation.
PROMPT_SECONDS = 3.0
# How late the router may drop a stalled connection, beyond the read timeout (a busy loop).
SLACK_SECONDS = 3.0
KINDS = ("headers", "body", "silent")


def _request(token: str) -> tuple[bytes, bytes]:
    body = json.dumps(document([COMMUNE])).encode()
    head = (
        "POST /v1/documents HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head, body


async def _slow_connection(port: int, kind: str, token: str) -> tuple[float, bytes]:
    """Opens one slow connection of a kind; returns how long the router kept it and what it
    answered before closing it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    opened = time.monotonic()
    head, body = _request(token)
    try:
        if kind == "body":  # whole headers, a tenth of the body, then nothing
            writer.write(head + body[: len(body) // 10])
        elif kind == "headers":  # a byte every 0.1 s, never the blank line that ends them
            for byte in head[:-2]:
                if reader.at_eof():
                    break
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.1)
        answer = await asyncio.wait_for(reader.read(), READ_TIMEOUT + SLACK_SECONDS + 60)
    except ConnectionError:  # closed while the client was still writing
        answer = b""
    finally:
        writer.close()
    return time.monotonic() - opened, answer


async def _slowloris(port: int, kind: str, token: str, until: float) -> list[tuple[float, bytes]]:
    """Keeps one slow connection of a kind open until a moment, opening a new one whenever the
    router drops the last, as an attacker would."""
    endings = []
    while time.monotonic() < until:
        endings.append(await _slow_connection(port, kind, token))
    return endings


async def test_slow_clients_neither_starve_a_normal_client_nor_keep_their_connections(
    tmp_path: Path, servers: Servers, session: aiohttp.ClientSession, chaos: Chaos
) -> None:
    started = time.monotonic()
    server = await servers.start(
        ["--data", str(tmp_path / "data"), "--read-timeout", str(READ_TIMEOUT)]
    )
    api = Api(session, server.base_url)
    await api.province()
    until = time.monotonic() + chaos.slow_seconds
    slow = {
        kind: [
            asyncio.create_task(_slowloris(server.port, kind, api.tokens[PROVINCE], until))
            for _ in range(chaos.slow_clients)
        ]
        for kind in KINDS
    }
    latencies = []
    # A normal client: a new connection for each call, as new clients arrive.
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as fresh:
        normal = Api(fresh, server.base_url)
        normal.tokens = api.tokens
        while time.monotonic() < until:
            began = time.monotonic()
            status, answer = await asyncio.wait_for(normal.send(PROVINCE, [COMMUNE]), 30)
            assert status == 201, answer
            status, answer = await asyncio.wait_for(
                normal.call("GET", "/v1/inbox?limit=5", api.tokens[COMMUNE]), 30
            )
            assert status == 200, answer
            latencies.append(time.monotonic() - began)

    assert len(latencies) >= 10, latencies
    assert max(latencies) < PROMPT_SECONDS, sorted(latencies)[-5:]
    figures = []
    for kind, tasks in slow.items():
        endings = [ending for result in await asyncio.gather(*tasks) for ending in result]
        held = max(seconds for seconds, _ in endings)
        assert held < READ_TIMEOUT + SLACK_SECONDS, f"a {kind} connection was kept {held:.1f} s"
        answers = {answer.split(b"\r\n", 1)[0] for _, answer in endings}
        assert answers == ({b"HTTP/1.1 408 Request Timeout"} if kind == "body" else {b""}), kind
        figures.append(f"{len(endings)} {kind} (dropped after {held:.1f} s at most)")
    assert server.running
    chaos.report(
        f"slow clients: {', '.join(figures)}; a normal client made {len(latencies)} "
        f"send-and-read rounds meanwhile, slowest {max(latencies) * 1000:.0f} ms, "
        f"{time.monotonic() - started:.0f} s"
    )
