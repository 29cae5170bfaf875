"""Group commit: one writer thread decides many requests' commands and commits them together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from eventsourcing.persistence import RecordConflictError, Recording

from adapters.eventstore import unavailable
from adapters.runner import ProjectionRunner
from domain.commands import Command, Outcome
from domain.errors import Conflict, DomainError
from domain.exchange import Exchange, UnitOfWork
from ops.metrics import Metrics

log = logging.getLogger(__name__)

_STOP = object()
COMMIT_FAILED = "the event store cannot commit now; retry later"


class StoreUnavailable(Exception):
    """The event store could not commit (disk, database or connection failure); the message
    tells the caller why."""


class GroupCommitWriter:
    """Serialises all writes of this process through one thread, batching commits."""

    def __init__(
        self,
        exchange: Exchange,
        runner: ProjectionRunner,
        metrics: Metrics,
        max_batch: int = 256,
        prepare: Callable[[Sequence[Command]], UnitOfWork] | None = None,
        commit_lock: AbstractContextManager[Any] | None = None,
        followers: Sequence[ProjectionRunner] = (),
        on_projected: Callable[[Sequence[Recording[Any]]], None] | None = None,
    ) -> None:
        self.exchange = exchange
        self.commit_lock = commit_lock or contextlib.nullcontext()
        self.prepare = prepare or (lambda _: exchange.unit_of_work())
        self.runner = runner
        # Further projections (the evidence) that a 2xx must include too.
        self.followers = followers
        # Told each batch's recordings once the projections include them (the evidence keeps
        # the receipts of events it did not sign itself: another process projected them).
        self.on_projected = on_projected
        self._recorded: list[Recording[Any]] = []
        self.metrics = metrics
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="writer", daemon=True)

    def start(self) -> None:
        """Starts the writer thread."""
        self._thread.start()

    def stop(self) -> None:
        """Commits what is queued, then stops."""
        if not self._thread.is_alive():
            return
        self._queue.put(_STOP)
        self._thread.join(timeout=30)

    async def execute(self, command: Command) -> Outcome:
        """Commits one command; answers once the views include it too."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.put((command, future))
        return await future

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            batch = [item]
            stopping = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            started = time.perf_counter()
            self._recorded = []
            results = self._commit([command for command, _ in batch])
            self.metrics.commit_duration.observe(time.perf_counter() - started)
            self.metrics.commit_batch.observe(len(batch))
            # Project in this thread before answering, so a 2xx read-your-write holds; a failed
            # projection still answers (the events are committed) and is retried by the poller.
            if self._recorded:
                committed = self._recorded
                # The views' lock (the evidence shares it, and both take it again: reentrant)
                # held across the batch's projections: another process's cannot come between.
                with self.runner.projection.lock:
                    projected = self.runner.catch_up(checked=False, committed=committed)
                    for follower in self.followers:
                        projected = (
                            follower.catch_up(checked=False, committed=committed) and projected
                        )
                if projected and self.on_projected is not None:
                    self._tell_projected()
            _deliver([future for _, future in batch], results)
            if stopping:
                return

    def _commit(self, commands: Sequence[Command]) -> list[Outcome | BaseException]:
        decided: list[Outcome | BaseException] = []
        try:
            uow = self.prepare(commands)
            for command in commands:
                try:
                    decided.append(self.exchange.handle(command, uow))
                except DomainError as e:
                    decided.append(e)
            with self.commit_lock:
                recordings = self.exchange.commit(uow)
        except RecordConflictError:
            # Another process wrote first, or a retry raced its original: decide each again alone.
            return [self._commit_one(command) for command in commands]
        except Exception as e:
            # One command alone may have failed the batch; an unavailable store fails them all.
            if unavailable(e) is None and len(commands) > 1:
                return [self._commit_one(command) for command in commands]
            detail = _failure(e)
            return [StoreUnavailable(detail) for _ in commands]
        self._count(recordings)
        return decided

    def _commit_one(self, command: Command) -> Outcome | BaseException:
        for _ in range(3):
            uow = self.exchange.unit_of_work()
            try:
                outcome = self.exchange.handle(command, uow)
                with self.commit_lock:
                    recordings = self.exchange.commit(uow)
            except DomainError as e:
                return e
            except RecordConflictError:
                continue
            except Exception as e:
                return StoreUnavailable(_failure(e))
            self._count(recordings)
            return outcome
        return Conflict("the resource changed concurrently; try again")

    def _tell_projected(self) -> None:
        assert self.on_projected is not None
        try:
            self.on_projected(self._recorded)
        except Exception:
            # Only a cache is at stake: the answers read what they miss from the store.
            log.exception("after-projection hook failed")

    def _count(self, recordings: Sequence[Any]) -> None:
        self._recorded.extend(recordings)
        if recordings:
            self.metrics.events_committed.inc(len(recordings))
            self.metrics.store_position.set(recordings[-1].notification.id)


def _failure(error: Exception) -> str:
    """Logs a failed commit (a known outage in one line) and returns what to tell the caller."""
    reason = unavailable(error)
    if reason is None:
        log.exception("commit failed")
        return COMMIT_FAILED
    log.warning("commit failed: %s (%s)", reason, error)
    return reason


def _deliver(futures: list[asyncio.Future[Outcome]], results: list[Any]) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Outcome], Any]]] = {}
    for future, result in zip(futures, results, strict=True):
        by_loop.setdefault(future.get_loop(), []).append((future, result))
    for loop, pairs in by_loop.items():
        if not loop.is_closed():
            loop.call_soon_threadsafe(_settle, pairs)


def _settle(pairs: list[tuple[asyncio.Future[Outcome], Any]]) -> None:
    for future, result in pairs:
        if future.done():
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
