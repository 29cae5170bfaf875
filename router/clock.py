"""The directory clock: applies what the calendar brings, in every router process.

A merge or a move may be recorded ahead of its date. On the day, sending already follows the
merge (recipients resolve as of today), but two things need a command of their own: a scheduled
move becomes an `AgencyMoved` event, and the open lines of a merged agency pass to its successor
(`DocumentHandedOver`), so that they leave its inbox for the successor's. The clock looks for both
at start and then every `clock_interval` seconds. Several processes may tick at once: a command
that finds nothing left to do records nothing, and the writer settles conflicts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from uuid import UUID

from aiohttp import web

from domain.commands import ApplyDueChanges, Command, HandOverLines
from domain.errors import DomainError
from router.services import SERVICES, Services

log = logging.getLogger(__name__)
_PAGE = 200


async def tick(services: Services) -> int:
    """Applies every due move and hands over every due line; returns how many recorded."""
    today = services.exchange.today()
    codes = await services.call(services.views.due_moves, today)
    recorded = await _run(services, [ApplyDueChanges(code) for code in codes])
    after = ""
    while ids := await services.call(services.views.lines_to_hand_over, today, after, _PAGE):
        recorded += await _run(services, [HandOverLines(UUID(i)) for i in ids])
        after = ids[-1]
    return recorded


async def _run(services: Services, commands: list[Command]) -> int:
    # Submitted together, they share commits (group commit).
    outcomes = await asyncio.gather(
        *(services.writer.execute(c) for c in commands), return_exceptions=True
    )
    recorded = 0
    for command, outcome in zip(commands, outcomes, strict=True):
        if isinstance(outcome, DomainError):
            log.warning("directory clock: %s refused: %s", command, outcome)
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            recorded += outcome.recorded
    return recorded


async def clock_ctx(app: web.Application) -> AsyncIterator[None]:
    """Runs the clock for the application's lifetime (aiohttp cleanup context)."""
    services = app[SERVICES]

    async def loop() -> None:
        while True:
            try:
                await tick(services)
            except Exception:
                log.exception("directory clock failed; it will try again")
            await asyncio.sleep(services.config.clock_interval)

    task = asyncio.create_task(loop(), name="directory-clock")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
