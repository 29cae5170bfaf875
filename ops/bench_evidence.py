"""The evidence part of ops.bench: `audit verify` throughput, and the evidence projection's cost.

`lienthong seed` writes documents into a fresh SQLite store; `lienthong audit rebuild` computes
their leaves, subtrees and signed receipts (timed: the evidence projection's time per event, which
each send also pays once, in the writer thread, before its 201); `lienthong audit verify` checks
them again from the events table (timed: events/s, target 100,000; and its CPU per event, the
workers' included, the figure that other load on a shared machine changes least). The cost of
the evidence to a send is shown as the projection's time per event over the send row's CPU per
answer.
"""

from __future__ import annotations

import os
import re

from ops.bench_core import Context, Row, verdict
from ops.bench_large import _cli
from ops.bench_load import Result

VERIFY_TARGET = 100_000
_RATE = re.compile(r"([\d,]+) events/s")
_CPU = re.compile(r"([\d.]+) µs CPU/event")


def _reported(ctx: Context, figure: re.Pattern[str]) -> float:
    """A figure the last command printed, e.g. its events/s (timed by itself: without Python's
    start-up)."""
    found = figure.findall((ctx.workdir / "large.log").read_text(errors="replace"))
    return float(found[-1].replace(",", ""))


async def evidence_phase(ctx: Context, send_cpu_us: float | None) -> list[Row]:
    """Seeds, rebuilds the evidence (timed), verifies it (timed)."""
    docs = 20_000 if ctx.opts.duration < 5 else 200_000
    data = str(ctx.workdir / "data-evidence")
    store = ["--data", data]
    await _cli(ctx, f"seeding {docs:,} documents", ["seed", *store, "--documents", str(docs)], 10)
    events = docs + 2
    await _cli(ctx, "rebuilding the evidence", ["audit", "rebuild", *store], docs / 4000)
    seconds = events / _reported(ctx, _RATE)
    per_event_us = seconds / events * 1e6
    share = f"; {per_event_us / send_cpu_us:.0%} of a send's CPU" if send_cpu_us else ""
    rows = [
        Row(
            f"evidence projection (leaf, subtrees, signed receipt): {per_event_us:,.0f} µs/event"
            f"{share} (events/s)",
            Result(events, 0, 0, seconds, 0.0, 0.0, "lienthong audit rebuild"),
            cpu_us=per_event_us,
        )
    ]
    wall = await _cli(ctx, "verifying the history", ["audit", "verify", *store], docs / 50_000)
    rate = _reported(ctx, _RATE)
    cpu_us = _reported(ctx, _CPU)
    seconds = events / rate
    rows.append(
        Row(
            f"audit verify, SQLite, {events:,} events, a process per CPU ({wall:.1f} s with "
            f"start-up, load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; events/s, CPU "
            "µs/event with its workers)",
            Result(events, 0, 0, seconds, 0.0, 0.0, "lienthong audit verify"),
            cpu_us=cpu_us,
            target=verdict(rate >= VERIFY_TARGET, f"≥ {VERIFY_TARGET:,} events/s"),
        )
    )
    return rows
