"""The inbox part of ops.bench: seed the recipient's inbox through the API, then time its pages.

Seeding goes through POST /v1/documents with the same load generator: the documents are real
events and reach the views the ordinary way. (Writing straight into the event store would be
faster but needs router/adapters code, which the layer contract forbids ops to import.)
"""

from __future__ import annotations

import asyncio
import re
import time

from rich.progress import TaskID

from ops import bench_procs as procs
from ops.bench_core import (
    AGENCIES,
    RECIPIENT,
    SEED_BODY,
    SENDER,
    Context,
    Row,
    call,
    post_spec,
    timed,
    verdict,
)
from ops.bench_load import Result, Spec, run

INBOX_P99_TARGET_MS = 10.0


async def store_position(ctx: Context, base_url: str) -> int:
    """The highest committed event position, from /metrics."""
    async with ctx.session.get(base_url + "/metrics") as r:
        text = await r.text()
    found = re.search(r"^lienthong_event_store_position (\S+)$", text, re.MULTILINE)
    return int(float(found.group(1))) if found else 0


async def seed(ctx: Context, server: procs.Server, token: str) -> Row | None:
    """Sends documents until the store holds inbox_docs of them; None if it already does."""
    want = ctx.opts.inbox_docs + len(AGENCIES)  # one event per agency and per document
    base_url, cpu = server.base_url, procs.cpu_seconds(server.pid)
    have = await store_position(ctx, base_url)
    if have >= want:
        return None
    stop = asyncio.Event()
    task_id = ctx.progress.add_task(
        f"seeding {ctx.opts.inbox_docs:,} documents", total=want, completed=have, status=""
    )
    spec = post_spec(ctx, base_url + "/v1/documents", token, 24 * 3600, "seed", SEED_BODY)
    job = asyncio.ensure_future(run(spec, stop))
    try:
        await _watch(ctx, base_url, want, task_id, job)
    finally:
        stop.set()
    result = await job
    if result.ok == 0:
        msg = f"seeding failed: {result.bad:,} non-2xx answers, {result.errors:,} errors"
        raise RuntimeError(msg)
    size = len(f"{SEED_BODY[0]}seed-0123abcd-0-12345{SEED_BODY[1]}".encode())
    label = f"seeding {ctx.opts.inbox_docs:,} docs (~{size} B, 1 recipient)"
    return Row(label, result, procs.cpu_per_answer(server.pid, cpu, result))


async def _watch(
    ctx: Context,
    base_url: str,
    want: int,
    task_id: TaskID,
    job: asyncio.Future[Result],
    stall: float = 60.0,
) -> None:
    """Shows the store's progress until it holds want events, the job ends, or nothing moves."""
    have, moved = 0, time.monotonic()
    while not job.done() and have < want and time.monotonic() - moved < stall:
        await asyncio.wait({job}, timeout=0.25)
        now = await store_position(ctx, base_url)
        if now > have:
            have, moved = now, time.monotonic()
        ctx.progress.update(task_id, completed=min(have, want), status=f"{have:,} events")


async def caught_up(ctx: Context, base_url: str, within: float = 600.0) -> int:
    """Waits until /readyz says the views include every stored event."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        async with ctx.session.get(base_url + "/readyz") as r:
            body = await r.json(content_type=None)
        if r.status == 200 and body["views_position"] >= body["store_position"]:
            return int(body["views_position"])
        await asyncio.sleep(0.2)
    msg = "the views did not catch up with the store"
    raise RuntimeError(msg)


async def time_page(
    ctx: Context, server: procs.Server, label: str, url: str, token: str, concurrency: int
) -> Row:
    """GETs one inbox page over and over for inbox_seconds, after a warm-up as long as the send
    runs' (a router just started reads its first pages from a cold cache and catches up)."""
    headers = {"Authorization": f"Bearer {token}"}
    warm = Spec(url=url, duration=ctx.opts.warmup, concurrency=concurrency, headers=headers)
    await timed(ctx, f"{label}: warm-up", run(warm), ctx.opts.warmup)
    spec = Spec(url=url, duration=ctx.opts.inbox_seconds, concurrency=concurrency, headers=headers)
    cpu = procs.cpu_seconds(server.pid)
    result = await timed(ctx, label, run(spec), ctx.opts.inbox_seconds)
    met = result.p99_ms <= INBOX_P99_TARGET_MS
    return Row(
        label,
        result,
        procs.cpu_per_answer(server.pid, cpu, result),
        target=verdict(met, f"p99 ≤ {INBOX_P99_TARGET_MS:g} ms"),
    )


async def inbox_phase(ctx: Context, server: procs.Server, tokens: dict[str, str]) -> list[Row]:
    """Seeds the recipient's inbox, then times its first page and the next one."""
    seeded = await seed(ctx, server, tokens[SENDER])
    position = await caught_up(ctx, server.base_url)
    token, first = tokens[RECIPIENT], f"{server.base_url}/v1/inbox?limit=50"
    page = await call(ctx, "GET", first, token)
    ctx.progress.console.log(
        f"views include {position:,} events; the first inbox page holds "
        f"{len(page['items'])} documents"
    )
    cursor = page["next_cursor"]
    pages = [("page 1", first)] + ([("page 2", f"{first}&cursor={cursor}")] if cursor else [])
    rows = [seeded] if seeded else []
    for name, url in pages:
        for concurrency in sorted({1, ctx.opts.concurrency}):
            label = f"GET /v1/inbox?limit=50 {name}, {concurrency} conn."
            rows.append(await time_page(ctx, server, label, url, token, concurrency))
    return rows
