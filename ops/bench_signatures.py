"""The signing part of ops.bench: sends/s of ES256-signed documents against unsigned ones.

A router started with `--demo` makes a demo CA and registers a signing certificate for each demo
agency; the province's documents are signed in a separate process with the client library
(`python -m adapters.signing`, as an agency system would), then the same closed-loop client posts
unsigned and signed documents in turn. The ratio signed/unsigned is the send-rate cost of
verification (canonical JSON, certificate lookup, ECDSA verify, the sender's aggregate loaded).
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import msgspec

from ops import bench_procs as procs
from ops.bench_core import Context, Row, call, timed
from ops.bench_load import Result, percentile

SENDER, RECIPIENT = "000.00.00.H41", "000.01.01.H41"


def _bodies(count: int, prefix: str) -> list[dict[str, object]]:
    return [
        {
            "external_id": f"{prefix}-{i}",
            "to": [RECIPIENT],
            "code_number": "123",
            "code_notation": "UBND-VX",
            "document_type": "cong-van",
            "subject": "Về việc đẩy mạnh dịch vụ công trực tuyến mức độ 4.",
            "promulgated_on": "2026-11-24",
            "place": "Nghệ An",
            "priority": "normal",
            "signer": {"name": "Ngô Hùng", "position": "Phó Chủ tịch"},
        }
        for i in range(count)
    ]


async def _sign(bodies: list[bytes], pki: Path) -> list[bytes]:
    """Signs the bodies in a child process with the client library."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "adapters.signing",
        "--key",
        str(pki / f"{SENDER}.key.pem"),
        "--cert",
        str(pki / f"{SENDER}.pem"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate(b"\n".join(bodies))
    if proc.returncode != 0:
        msg = f"python -m adapters.signing exited with {proc.returncode}"
        raise RuntimeError(msg)
    return out.splitlines()


async def _drive(ctx: Context, url: str, token: str, bodies: list[bytes]) -> Result:
    """Posts the bodies with ctx.opts.concurrency connections until they or the time run out."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    latencies: list[float] = []
    tally = {"ok": 0, "bad": 0, "errors": 0}
    queue = iter(bodies)
    deadline = time.perf_counter() + ctx.opts.duration
    connector = aiohttp.TCPConnector(limit=ctx.opts.concurrency)

    async def worker(session: aiohttp.ClientSession) -> None:
        for body in queue:
            if time.perf_counter() >= deadline:
                return
            started = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as r:
                    await r.read()
                    tally["ok" if r.status == 201 else "bad"] += 1
            except aiohttp.ClientError:
                tally["errors"] += 1
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(ctx.opts.concurrency)))
    seconds = time.perf_counter() - started
    return Result(
        tally["ok"],
        tally["bad"],
        tally["errors"],
        seconds,
        percentile(latencies, 50),
        percentile(latencies, 99),
        "python",
    )


async def signature_phase(ctx: Context, expected_rate: float) -> list[Row]:
    """Unsigned, then ES256-signed sends on one demo router (SQLite); the ratio of the two."""
    operator, port = secrets.token_urlsafe(32), procs.free_port()
    data = ctx.workdir / "data-signatures"
    argv = [*procs.lienthong_argv(port, data, None), "--demo"]
    count = int(expected_rate * ctx.opts.duration * 1.5) + 1000
    async with procs.serve(
        "lienthong-signatures", argv, port, ctx.workdir, procs.server_env(operator)
    ) as server:
        url = f"{server.base_url}/v1/agencies/{SENDER}/token"
        token = (await call(ctx, "POST", url, operator))["token"]
        encode = msgspec.json.encode
        plain = [encode(b) for b in _bodies(count, f"plain-{uuid.uuid4().hex[:8]}")]
        signed = await timed(
            ctx,
            f"signing {count:,} documents (ES256)",
            _sign(
                [encode(b) for b in _bodies(count, f"signed-{uuid.uuid4().hex[:8]}")],
                data / "demo-pki",
            ),
            count / 5000,
        )
        send = server.base_url + "/v1/documents"
        rows = []
        for label, bodies in (("unsigned", plain), ("signed ES256", signed)):
            cpu = procs.cpu_seconds(server.pid)
            result = await timed(
                ctx,
                f"signatures: {label} sends",
                _drive(ctx, send, token, bodies),
                ctx.opts.duration,
            )
            rows.append(
                Row(
                    f"lienthong sqlite, 1 process: POST /v1/documents, {label}",
                    result,
                    procs.cpu_per_answer(server.pid, cpu, result),
                )
            )
    unsigned, signed_row = rows
    ratio = signed_row.result.rate / unsigned.result.rate if unsigned.result.rate else 0.0
    rows[1] = dataclasses.replace(signed_row, target=f"signed ÷ unsigned sends/s: {ratio:.3f}")
    return rows
