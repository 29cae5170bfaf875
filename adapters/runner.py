"""Keeps a projection caught up: after each local commit, and by polling for other writers."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from eventsourcing.persistence import Recording

log = logging.getLogger(__name__)


class Projection(Protocol):
    """A projection that tracks its own position (the views, the evidence)."""

    name: str
    # Taken around each run (the views' write lock): a runner takes it before its own lock.
    lock: AbstractContextManager[Any]

    def tracked_position(self) -> int:
        """Returns the position the projection includes."""
        ...

    def run_once(
        self,
        limit: int = 1000,
        *,
        checked: bool = True,
        committed: Sequence[Recording[Any]] = (),
    ) -> tuple[int, bool]:
        """Projects up to limit next events (the recordings just committed, as they are, when
        they are the next ones); returns the position reached and whether more may follow."""
        ...


def follows(position: int, committed: Sequence[Recording[Any]]) -> bool:
    """Says whether recordings are the events right after position, without a gap: then a
    projection applies them as they are instead of reading back and decoding what was just
    written."""
    return (
        bool(committed)
        and committed[0].notification.id == position + 1
        and committed[-1].notification.id == position + len(committed)
    )


class ProjectionRunner:
    """Runs the projection on demand (the writer, after each commit) and in a polling thread.

    One lock keeps the two from projecting at once in this process; the projection's own
    tracking lock does the same across processes sharing a database. Each run takes the
    projection's write lock first (the writer holds it across the views and the evidence), then
    the runner's, the one order that cannot deadlock.
    """

    def __init__(
        self,
        projection: Projection,
        poll_interval: float = 0.2,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self.projection = projection
        self.poll_interval = poll_interval
        self.on_progress = on_progress
        self.position = 0
        self.healthy = True
        self._lock = threading.Lock()
        self._ran_at = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="projection", daemon=True)

    def start(self) -> None:
        """Catches up with the history (the views must exist), then polls in the background."""
        self.position = self.projection.tracked_position()
        self.catch_up()
        self._thread.start()

    def stop(self) -> None:
        """Stops polling."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def catch_up(self, *, checked: bool = True, committed: Sequence[Recording[Any]] = ()) -> bool:
        """Projects every committed event; False (and logged) if the projection failed.

        `checked=False` skips the cheap "anything new?" check, and `committed` hands over the
        recordings, for callers that just committed.
        """
        # The projection's lock first, then this runner's: the order the writer takes them in
        # when it holds the views' lock across the projections of a batch.
        with self.projection.lock, self._lock:
            try:
                while True:
                    self.position, more = self.projection.run_once(
                        checked=checked, committed=committed
                    )
                    checked, committed = True, ()
                    if not more:
                        break
            except Exception:
                self.healthy = False
                log.exception("projection failed; it will be retried")
                return False
            self.healthy = True
            self._ran_at = time.monotonic()
            if self.on_progress:
                self.on_progress(self.position)
            return True

    def _poll(self) -> None:
        # A catch-up by the writer's side within the interval read every commit up to then, this
        # process's and others': polling now would only split its next batch.
        while not self._stop.wait(self.poll_interval):
            if time.monotonic() - self._ran_at >= self.poll_interval:
                self.catch_up()
