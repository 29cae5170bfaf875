"""Benchmarks lienthong against the HTTP ceiling of its own stack; prints figures, never asserts.

    make bench BENCH_ARGS=--quick
    ops/run-tests.sh .venv/bin/python -m ops.bench [--duration S] [--concurrency N]
        [--inbox-docs N] [--skip-postgres] [--quick]

Starts a plain aiohttp "hello" server and `lienthong serve` (SQLite, fsync on) as child processes,
drives both with the same load generator (wrk, else aiohttp in a separate process) and the same
~2 KB documents, samples /readyz every 100 ms for the projection lag meanwhile, seeds the
recipient's inbox through the API and times inbox pages (each after the send runs' warm-up);
then the send run again on PostgreSQL when LIENTHONG_TEST_DATABASE_URL is set (a fresh
database, dropped afterwards).

Machines are shared and noisy: compare figures within one run. "CPU µs/answer" is the server
process's own CPU time per answer (all its threads; not PostgreSQL's), which neighbours disturb
less than wall-clock rates; "÷ hello CPU" is hello's CPU per answer over the row's, the send ratio
a CPU-bound server would reach. Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import msgspec
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ops import bench_procs as procs
from ops.bench_core import (
    AGENCIES,
    SEND_BODY,
    SENDER,
    Context,
    Options,
    Row,
    call,
    post_spec,
    timed,
    verdict,
)
from ops.bench_evidence import evidence_phase
from ops.bench_inbox import inbox_phase
from ops.bench_large import large_phase
from ops.bench_load import percentile, run
from ops.bench_signatures import signature_phase

RATIO_TARGET = 0.25
console = Console(width=None if sys.stdout.isatty() else 180)
_BEHIND = re.compile(r"views are (-?\d+) events behind")


async def register(ctx: Context, base_url: str, operator: str) -> dict[str, str]:
    """Registers the sender and both recipients; returns their tokens by code."""
    tokens = {}
    for code, tier, parent in AGENCIES:
        body = {
            "code": code,
            "name": f"Cơ quan {code}",
            "tier": tier,
            "parent": parent,
            "remote": False,
        }
        tokens[code] = (await call(ctx, "POST", base_url + "/v1/agencies", operator, body))["token"]
    return tokens


async def sample_lag(ctx: Context, base_url: str, stop: asyncio.Event, lags: list[int]) -> None:
    """Reads /readyz every 100 ms until stop; appends the lag in events."""
    tick = time.monotonic()
    while not stop.is_set():
        with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError, KeyError):
            async with ctx.session.get(base_url + "/readyz") as r:
                body = await r.json(content_type=None)
            if r.status == 200:
                lags.append(max(0, body["store_position"] - body["views_position"]))
            elif found := _BEHIND.search(body.get("detail", "")):
                lags.append(int(found.group(1)))
        tick += 0.1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, tick - time.monotonic()))


async def measure_sends(
    ctx: Context, label: str, server: procs.Server, path: str, token: str, lag: bool
) -> tuple[Row, list[int]]:
    """Warms up, then measures (sampling the projection lag if asked)."""
    opts, url = ctx.opts, server.base_url + path
    await timed(
        ctx, f"{label}: warm-up", run(post_spec(ctx, url, token, opts.warmup, "warm")), opts.warmup
    )
    lags: list[int] = []
    stop = asyncio.Event()
    sampler = asyncio.ensure_future(
        sample_lag(ctx, server.base_url, stop, lags) if lag else stop.wait()
    )
    cpu = procs.cpu_seconds(server.pid)
    try:
        result = await timed(
            ctx,
            f"{label}: measuring",
            run(post_spec(ctx, url, token, opts.duration, "send")),
            opts.duration,
            lambda: f"views {lags[-1]} events behind" if lags else "",
        )
    finally:
        stop.set()
        await sampler
    return Row(label, result, procs.cpu_per_answer(server.pid, cpu, result)), lags


async def hello_phase(ctx: Context) -> Row:
    """The ceiling: the plain aiohttp server under the same load."""
    port = procs.free_port()
    async with procs.serve("hello", procs.hello_argv(port), port, ctx.workdir) as server:
        row, _ = await measure_sends(
            ctx, "hello POST (aiohttp+uvloop+msgspec)", server, "/hello", "none", lag=False
        )
    return row


def compared(row: Row, hello: Row, lags: list[int]) -> Row:
    """The send row with its ratios to the ceiling and its lag samples."""
    ratio = row.result.rate / hello.result.rate if hello.result.rate else 0.0
    cpu_ratio = hello.cpu_us / row.cpu_us if hello.cpu_us and row.cpu_us else None
    return Row(
        row.label,
        row.result,
        row.cpu_us,
        ratio,
        cpu_ratio,
        lags,
        verdict(ratio >= RATIO_TARGET, f"ratio ≥ {RATIO_TARGET}"),
    )


async def router_phase(
    ctx: Context, store: str, database: str | None, hello: Row, workers: int, inbox: bool
) -> list[Row]:
    """Sends (and on request the inbox) against one lienthong server on a fresh store."""
    operator, port = secrets.token_urlsafe(32), procs.free_port()
    name = f"{store}-{workers}w"
    argv = procs.lienthong_argv(port, ctx.workdir / f"data-{name}", database, workers)
    env = procs.server_env(operator)
    async with procs.serve(f"lienthong-{name}", argv, port, ctx.workdir, env) as server:
        console.log(f"lienthong on {store}, {workers} workers: pid {server.pid}, {server.base_url}")
        tokens = await register(ctx, server.base_url, operator)
        processes = "1 process" if workers == 1 else f"{workers} processes"
        row, lags = await measure_sends(
            ctx,
            f"lienthong {store}, {processes}: POST /v1/documents",
            server,
            "/v1/documents",
            tokens[SENDER],
            lag=True,
        )
        rows = [compared(row, hello, lags)]
        rows.append(
            await offered_load(ctx, server, tokens[SENDER], f"lienthong {store}, {processes}")
        )
        if inbox:
            rows += await inbox_phase(ctx, server, tokens)
    return rows


async def offered_load(ctx: Context, server: procs.Server, token: str, label: str) -> Row:
    """Latency at a fixed offered load, each request timed from its scheduled start."""
    rate, url = ctx.opts.offered_rate, server.base_url + "/v1/documents"
    spec = msgspec.structs.replace(
        post_spec(ctx, url, token, ctx.opts.duration, "offered"), rate=rate, concurrency=512
    )
    cpu = procs.cpu_seconds(server.pid)
    result = await timed(ctx, f"{label}: {rate:,.0f} sends/s offered", run(spec), ctx.opts.duration)
    return Row(
        f"{label}: {rate:,.0f} sends/s offered (open loop)",
        result,
        procs.cpu_per_answer(server.pid, cpu, result),
    )


def _cells(row: Row) -> list[str]:
    r, lag = row.result, row.lag
    lags = f"{max(lag)} / {percentile([float(x) for x in lag], 99):.0f} ({len(lag)})" if lag else ""
    return [
        row.label,
        f"{r.rate:,.0f}",
        f"{r.bad:,}",
        f"{r.errors:,}",
        f"{r.p50_ms:.2f}",
        f"{r.p99_ms:.2f}",
        f"{row.cpu_us:,.0f}" if row.cpu_us is not None else "",
        f"{row.ratio:.3f}" if row.ratio is not None else "",
        f"{row.cpu_ratio:.3f}" if row.cpu_ratio is not None else "",
        lags,
        row.target,
    ]


def table(rows: list[Row], opts: Options, tool: str) -> Table:
    """The final figures."""
    out = Table(
        title=f"lienthong benchmark ({tool}, {opts.concurrency} connections, "
        f"{opts.duration:g} s send runs, {opts.inbox_docs:,} inbox documents)"
    )
    for name in (
        "benchmark",
        "2xx/s",
        "non-2xx",
        "errors",
        "p50 ms",
        "p99 ms",
        "CPU µs/answer",
        "÷ hello req/s",
        "÷ hello CPU",
        "lag max/p99 (n)",
        "target",
    ):
        left = name in ("benchmark", "target")
        # Labels wrap (at 72 columns) rather than squeeze the figures out of a narrow table.
        out.add_column(
            name,
            justify="left" if left else "right",
            max_width=72 if name == "benchmark" else None,
            no_wrap=not left,
        )
    for row in rows:
        out.add_row(*_cells(row))
    return out


async def bench(opts: Options) -> list[Row]:
    """Runs every phase; returns the rows of the table."""
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
    )
    workdir = Path(tempfile.mkdtemp(prefix="lienthong-bench-"))
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            with Progress(*columns, console=console) as progress:
                return await phases(Context(opts, progress, workdir, session))
    except Exception:
        _show_logs(workdir)
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def phases(ctx: Context) -> list[Row]:
    """hello, lienthong on SQLite with the inbox, lienthong on PostgreSQL."""
    size = len(f"{SEND_BODY[0]}send-0123abcd-0-12345{SEND_BODY[1]}".encode())
    console.log(
        f"load generator: {shutil.which('wrk') or 'ops.bench_load (apt-get install wrk for wrk)'}; "
        f"send bodies ~{size} B; scratch {ctx.workdir} on {procs.filesystem(ctx.workdir)}; "
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )
    hello = await hello_phase(ctx)
    many = ctx.opts.workers
    rows = [hello, *await router_phase(ctx, "sqlite", None, hello, 1, inbox=many == 1)]
    rows += await signature_phase(ctx, rows[1].result.rate)
    if many > 1:
        rows += await router_phase(ctx, "sqlite", None, hello, many, inbox=True)
    admin = os.environ.get("LIENTHONG_TEST_DATABASE_URL")
    if admin and not ctx.opts.skip_postgres:
        for workers in sorted({1, many}):
            with procs.pg_database(admin) as database:
                rows += await router_phase(ctx, "postgresql", database, hello, workers, False)
    elif not ctx.opts.skip_postgres:
        console.log("LIENTHONG_TEST_DATABASE_URL is not set: no PostgreSQL run")
    if ctx.opts.large_docs:
        rows += await large_phase(ctx)
    rows += await evidence_phase(ctx, rows[1].cpu_us)
    console.log(f"load average at the end {os.getloadavg()[0]:.2f}")
    return rows


def _show_logs(workdir: Path) -> None:
    for log in sorted(workdir.glob("*.log")):
        console.rule(f"last lines of {log.name}")
        console.print(log.read_text(errors="replace")[-2000:], markup=False, highlight=False)


def parse_args(argv: list[str] | None = None) -> Options:
    """Reads the command line."""
    p = argparse.ArgumentParser(
        prog="python -m ops.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--duration", type=float, help="seconds of each measured send run (10)")
    p.add_argument("--concurrency", type=int, default=32, help="connections (32)")
    p.add_argument("--inbox-docs", type=int, help="documents in the inbox (100000)")
    p.add_argument("--skip-postgres", action="store_true", help="no PostgreSQL run")
    p.add_argument(
        "--large-docs",
        type=int,
        help="documents of the large store: seeded, views rebuilt (timed), inbox read "
        "(1,000,000; --quick 20,000; 0 skips)",
    )
    p.add_argument(
        "--offered-rate",
        type=float,
        default=1000.0,
        help="sends/s of the fixed-load latency rows (1000)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="router processes of the scale-out rows (serve --workers; default: one per CPU)",
    )
    p.add_argument("--quick", action="store_true", help="3 s runs and 5,000 inbox documents")
    a = p.parse_args(argv)
    if a.concurrency < 1 or (a.duration is not None and a.duration <= 0):
        p.error("--concurrency and --duration must be positive")
    quick = a.quick
    return Options(
        duration=a.duration or (3.0 if quick else 10.0),
        warmup=1.0 if quick else 2.0,
        concurrency=a.concurrency,
        inbox_docs=a.inbox_docs if a.inbox_docs is not None else 5000 if quick else 100_000,
        inbox_seconds=2.0 if quick else 5.0,
        skip_postgres=a.skip_postgres,
        workers=max(1, a.workers),
        large_docs=a.large_docs if a.large_docs is not None else 20_000 if quick else 1_000_000,
        offered_rate=a.offered_rate,
    )


async def interruptible(opts: Options) -> list[Row]:
    """Runs the benchmark; SIGINT and SIGTERM cancel it, so every cleanup still runs."""
    task, loop = asyncio.current_task(), asyncio.get_running_loop()
    assert task is not None
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    return await bench(opts)


def main(argv: list[str] | None = None) -> None:
    """Entry point: python -m ops.bench."""
    opts = parse_args(argv)
    try:
        rows = asyncio.run(interruptible(opts))
    except asyncio.CancelledError:
        console.print("interrupted: servers stopped, scratch files and databases removed")
        sys.exit(130)
    tools = {row.result.tool for row in rows}
    console.print(table(rows, opts, "/".join(sorted(tools))))


if __name__ == "__main__":
    main()
