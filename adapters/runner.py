"""A thread that keeps a projection caught up and wakes requests waiting for it."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import threading
from collections.abc import Callable

from adapters.projection import ExchangeProjection

log = logging.getLogger(__name__)


class ProjectionRunner:
    """Follows the event store: runs after every local commit and polls for other writers."""

    def __init__(
        self,
        projection: ExchangeProjection,
        poll_interval: float = 0.2,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.projection = projection
        self.poll_interval = poll_interval
        self.on_progress = on_progress
        self.position = 0
        self.healthy = True
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._counter = itertools.count()
        self._thread = threading.Thread(target=self._run, name="projection", daemon=True)

    def start(self) -> None:
        """Catches up, then follows in the background."""
        self.projection.setup()
        self.position = self.projection.tracked_position()
        self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        """Stops following; waiters are released."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._release(all_waiters=True)

    def notify(self) -> None:
        """Says new events were committed."""
        self._wake.set()

    async def wait_for(self, position: int, patience: float = 10.0) -> bool:
        """Waits until the views include position; False if that took longer than patience."""
        if self.position >= position:
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._lock:
            heapq.heappush(self._waiters, (position, next(self._counter), future))
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(future), patience)
        except TimeoutError:
            log.warning("views did not reach position %d within %.1fs", position, patience)
            return False
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_interval)
            self._wake.clear()
            try:
                self._catch_up()
                self.healthy = True
            except Exception:
                self.healthy = False
                log.exception("projection failed; retrying")
                self._stop.wait(1.0)

    def _catch_up(self) -> None:
        while True:
            position, applied = self.projection.run_once()
            self.position = position
            if self.on_progress:
                self.on_progress(position, applied)
            self._release()
            if applied == 0:
                return

    def _release(self, *, all_waiters: bool = False) -> None:
        ready: list[asyncio.Future[None]] = []
        with self._lock:
            while self._waiters and (all_waiters or self._waiters[0][0] <= self.position):
                ready.append(heapq.heappop(self._waiters)[2])
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for future in ready:
            by_loop.setdefault(future.get_loop(), []).append(future)
        for loop, futures in by_loop.items():
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, futures)


def _resolve(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)
