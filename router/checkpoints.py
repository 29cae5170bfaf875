"""The checkpoint signer: every router process signs the Merkle tree's head now and then.

A checkpoint is signed once `checkpoint_seconds` have passed since the newest one, or as soon as
`checkpoint_events` new leaves exist, whichever comes first, and only if the tree grew. Processes
sharing a store race harmlessly: a checkpoint's size is its key, and the first insert wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web

from router.services import SERVICES, Services

log = logging.getLogger(__name__)
# How often the signer looks at the tree's size, at most (cheap: one indexed read).
_LOOK_SECONDS = 0.5


async def tick(services: Services, last_signed: float) -> float:
    """Signs a checkpoint if one is due; returns when the newest one was signed here."""
    _, size = await services.call(services.evidence.head)
    latest = await services.call(services.evidence.latest_checkpoint)
    signed = latest["size"] if latest else 0
    config = services.config
    due = time.monotonic() - last_signed >= config.checkpoint_seconds
    if size > signed and (due or size - signed >= config.checkpoint_events):
        await services.call(services.evidence.checkpoint)
        return time.monotonic()
    return last_signed


async def checkpoints_ctx(app: web.Application) -> AsyncIterator[None]:
    """Runs the signer for the application's lifetime (aiohttp cleanup context)."""
    services = app[SERVICES]
    look = min(_LOOK_SECONDS, services.config.checkpoint_seconds)

    async def loop() -> None:
        last_signed = 0.0
        while True:
            try:
                last_signed = await tick(services, last_signed)
            except Exception:
                log.exception("checkpoint signing failed; it will try again")
            await asyncio.sleep(look)

    task = asyncio.create_task(loop(), name="checkpoint-signer")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
