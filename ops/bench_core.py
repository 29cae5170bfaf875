"""Shared pieces of ops.bench: options, rows, the run context, request bodies, progress."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import msgspec
from rich.progress import Progress

from ops.bench_load import Result, Spec

T = TypeVar("T")
SENDER, RECIPIENT, OTHER = "000.00.00.H41", "000.00.11.H41", "000.01.00.H41"
AGENCIES = [
    (SENDER, "province", None),
    (RECIPIENT, "province", SENDER),
    (OTHER, "district", SENDER),
]
BODY_BYTES = 2048


@dataclass(frozen=True)
class Options:
    """What to run and for how long."""

    duration: float
    warmup: float
    concurrency: int
    inbox_docs: int
    inbox_seconds: float
    skip_postgres: bool
    workers: int
    large_docs: int
    offered_rate: float


@dataclass(frozen=True)
class Row:
    """One line of the final table; cpu_us is the server's CPU time per answer."""

    label: str
    result: Result
    cpu_us: float | None = None
    ratio: float | None = None
    cpu_ratio: float | None = None
    lag: list[int] | None = None
    target: str = ""


@dataclass
class Context:
    """What every phase needs: options, progress display, scratch directory, HTTP session."""

    opts: Options
    progress: Progress
    workdir: Path
    session: aiohttp.ClientSession


def document_parts(to: list[str], target: int = BODY_BYTES) -> tuple[str, str]:
    """A valid document of about target bytes, split where each request puts its external_id."""
    body: dict[str, Any] = {
        "external_id": "@ID@",
        "to": to,
        "code_number": "123",
        "code_notation": "UBND-VX",
        "document_type": "cong-van",
        "subject": "Về việc đẩy mạnh dịch vụ công trực tuyến mức độ 4.",
        "promulgated_on": "2026-11-24",
        "place": "Nghệ An",
        "priority": "normal",
        "due_on": "2026-12-01",
        "signer": {"name": "Ngô Hùng", "position": "Phó Chủ tịch"},
    }
    filler = " Triển khai thực hiện kế hoạch chuyển đổi số năm 2026 của tỉnh."
    while len(msgspec.json.encode(body)) + len(filler.encode()) + 24 <= target:
        body["subject"] += filler
    head, tail = msgspec.json.encode(body).decode().split("@ID@")
    return head, tail


SEND_BODY = document_parts([RECIPIENT, OTHER])
SEED_BODY = document_parts([RECIPIENT], target=0)


def post_spec(
    ctx: Context,
    url: str,
    token: str,
    seconds: float,
    prefix: str,
    body: tuple[str, str] = SEND_BODY,
) -> Spec:
    """A POST load of unique documents (a fresh external_id prefix per run)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return Spec(
        url=url,
        duration=seconds,
        concurrency=ctx.opts.concurrency,
        headers=headers,
        body_head=body[0],
        body_tail=body[1],
        prefix=f"{prefix}-{uuid.uuid4().hex[:8]}",
    )


async def timed(
    ctx: Context,
    description: str,
    job: Awaitable[T],
    seconds: float,
    status: Callable[[], str] | None = None,
) -> T:
    """Awaits job while a progress bar runs over the expected seconds."""
    task_id = ctx.progress.add_task(description, total=seconds, status="")
    future = asyncio.ensure_future(job)
    started = time.monotonic()
    try:
        while not future.done():
            await asyncio.wait({future}, timeout=0.1)
            ctx.progress.update(
                task_id,
                completed=min(seconds, time.monotonic() - started),
                status=status() if status else "",
            )
    finally:
        if not future.done():
            future.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await future
    ctx.progress.update(task_id, completed=seconds)
    return future.result()


async def call(ctx: Context, method: str, url: str, token: str, body: Any = None) -> Any:
    """One API call; raises unless it answers 2xx."""
    headers = {"Authorization": f"Bearer {token}"}
    async with ctx.session.request(method, url, json=body, headers=headers) as r:
        answer = await r.json(content_type=None)
        if not 200 <= r.status < 300:
            msg = f"{method} {url} answered {r.status}: {answer}"
            raise RuntimeError(msg)
        return answer


def verdict(met: bool, target: str) -> str:
    """A target, coloured by whether it was met."""
    return f"[green]{target}: met[/]" if met else f"[red]{target}: not met[/]"
