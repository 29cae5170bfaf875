"""The large-store part of ops.bench: a million documents, the views rebuilt, the inbox read.

`lienthong seed` writes the documents straight into a fresh SQLite store (decided and committed
by the exchange, without the views), `lienthong views rebuild` projects them all (timed),
`lienthong audit rebuild` computes their evidence (timed), and a router on that store serves
the recipient's inbox pages (timed like the 100k rows).
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from pathlib import Path

from ops import bench_procs as procs
from ops.bench_core import RECIPIENT, Context, Row, call, timed, verdict
from ops.bench_inbox import time_page
from ops.bench_load import Result

REBUILD_TARGET_S = 60.0


async def _cli(ctx: Context, label: str, args: list[str], expected: float) -> float:
    """Runs `lienthong ARGS` to its end; returns its wall-clock seconds."""
    log = ctx.workdir / "large.log"
    started = time.perf_counter()
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "router.cli", *args, stdout=out, stderr=out
        )
        status = await timed(ctx, label, proc.wait(), expected)
    if status != 0:
        msg = f"lienthong {' '.join(args)} exited with {status}: see {log}"
        raise RuntimeError(msg)
    return time.perf_counter() - started


async def large_phase(ctx: Context) -> list[Row]:
    """Seeds large_docs documents, rebuilds the views (timed) and the evidence, then reads the
    inbox."""
    docs, data = ctx.opts.large_docs, ctx.workdir / "data-large"
    await _cli(ctx, f"seeding {docs:,} documents", _store("seed", data, docs), docs / 5000)
    events = docs + 2
    seconds = await _cli(ctx, f"rebuilding views ({events:,} events)", _rebuild(data), docs / 8000)
    rebuilt = Row(
        f"views rebuild, {events:,} events ({seconds:.1f} s, events/s)",
        Result(events, 0, 0, seconds, 0.0, 0.0, "lienthong views rebuild"),
        target=verdict(
            seconds < REBUILD_TARGET_S * events / 1_000_000, f"< {REBUILD_TARGET_S:g} s per 1M"
        ),
    )
    # The evidence of the history too, so the router starts at once (it would else build it
    # before it answers: the store was seeded without a router).
    evidence = await _cli(
        ctx,
        f"rebuilding the evidence ({events:,} events)",
        ["audit", "rebuild", "--data", str(data)],
        docs / 5000,
    )
    evidence_row = Row(
        f"audit rebuild (leaves, subtrees, signed receipts), {events:,} events ({evidence:.1f} s,"
        " events/s)",
        Result(events, 0, 0, evidence, 0.0, 0.0, "lienthong audit rebuild"),
    )
    operator, port = secrets.token_urlsafe(32), procs.free_port()
    argv = procs.lienthong_argv(port, data, None)
    async with procs.serve(
        "lienthong-large", argv, port, ctx.workdir, procs.server_env(operator)
    ) as server:
        token = (
            await call(ctx, "POST", f"{server.base_url}/v1/agencies/{RECIPIENT}/token", operator)
        )["token"]
        first = f"{server.base_url}/v1/inbox?limit=50"
        cursor = (await call(ctx, "GET", first, token))["next_cursor"]
        rows = [rebuilt, evidence_row]
        for name, url in (("page 1", first), ("page 2", f"{first}&cursor={cursor}")):
            for concurrency in sorted({1, ctx.opts.concurrency}):
                label = f"GET /v1/inbox?limit=50 {name}, {concurrency} conn., {docs:,} stored"
                rows.append(await time_page(ctx, server, label, url, token, concurrency))
    return rows


def _store(command: str, data: Path, docs: int) -> list[str]:
    return [command, "--data", str(data), "--documents", str(docs)]


def _rebuild(data: Path) -> list[str]:
    return ["views", "rebuild", "--data", str(data)]
