"""`lienthong audit verify`: recomputes the Merkle tree from the events table itself and checks it
against every signed checkpoint and every recorded leaf.

The events are read straight from the store's table in commit order (not through the router, not
from the leaves table); each one's leaf is recomputed the way `/v1/events` shows it. The first
difference is named by position: an event whose content changed (altered, or two swapped), one
missing from where its leaf says it was (deleted), one the history never had (inserted), or, if
the evidence tables were rewritten to match, the checkpoint whose signed root no longer holds.
Leaves are computed by one process per core over ranges of positions; this one walks the tree.
The workers hash a fast text of each event (`adapters.auditread`, `adapters.leafhash`: always a
JSON text of the item, the canonical one for what this router writes); wherever a hash differs
from the recorded leaf, this process recomputes it from the canonical text before it names a
difference.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from adapters import merkle
from adapters.auditread import Chunk, Source, leaves_of, recomputed
from adapters.routerkey import BadSignature, verify_jws

CHUNK = 25_000


@dataclass
class Outcome:
    """What the verification found."""

    events: int = 0
    checkpoints: int = 0
    size: int = 0
    root: str = ""
    uncovered: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process's and its workers'
    failure: str | None = None
    bad_position: int | None = None
    notes: list[str] = field(default_factory=list)


def _computed(source: Source, head: int, workers: int) -> Iterator[Chunk]:
    """Yields chunks of (positions, leaf hashes) of every event in commit order, computed by
    `workers` processes; then the rows above the head read at the start."""
    bounds = [(a, min(a + CHUNK, head)) for a in range(0, head, CHUNK)]
    if workers <= 1:
        yield from (leaves_of(source, a, b) for a, b in bounds)
    else:
        with ProcessPoolExecutor(workers) as pool:
            yield from pool.map(leaves_of, *zip(*[(source, a, b) for a, b in bounds], strict=True))
    # Committed since the start, or inserted out of sequence above the head.
    yield leaves_of(source, head, None)


Take = Callable[[int], tuple[list[int], bytes]]


@dataclass(frozen=True)
class Recorded:
    """What the evidence tables hold: `take(n)` gives the next n leaves in index order
    (positions, hashes concatenated); checkpoints by size."""

    take: Take
    checkpoints: list[dict[str, Any]]


class _Walk:
    """The tree being rebuilt, checked against the signed checkpoints as it grows."""

    def __init__(self, checkpoints: list[dict[str, Any]]) -> None:
        self.frontier = merkle.Frontier()
        self.due = list(reversed(checkpoints))
        self.verified = 0

    def extend(self, hashes: bytes) -> str | None:
        leaves = [hashes[i : i + 32] for i in range(0, len(hashes), 32)]
        done = 0
        while self.due and self.due[-1]["size"] <= self.frontier.size + len(leaves) - done:
            checkpoint = self.due.pop()
            upto = checkpoint["size"] - self.frontier.size + done
            self.frontier.extend(leaves[done:upto])
            done = upto
            if self.frontier.root().hex() != checkpoint["root"]:
                return (
                    f"the root of the first {self.frontier.size:,} events differs from the signed "
                    "checkpoint's: an event among them was altered, and the evidence tables "
                    "with it"
                )
            self.verified += 1
        self.frontier.extend(leaves[done:])
        return None


def verify(
    source: Source,
    head: int,
    recorded: Recorded,
    certificate: x509.Certificate,
    progress: Callable[[int], None] = lambda _: None,
    workers: int | None = None,
) -> Outcome:
    """Recomputes every leaf and root; stops at the first difference."""
    started, cpu_started = time.perf_counter(), _cpu()
    outcome = Outcome()
    for checkpoint in recorded.checkpoints:
        failure = _bad_checkpoint(checkpoint, certificate)
        if failure:
            outcome.failure = failure
            return outcome
    walk = _Walk(recorded.checkpoints)
    for chunk in _computed(source, head, workers or os.cpu_count() or 1):
        positions = chunk.positions
        stored_positions, stored_hashes = recorded.take(len(positions))
        if chunk.unreadable or not chunk.hashes.startswith(stored_hashes):
            chunk = recomputed(source, chunk, stored_positions, stored_hashes)
        covered = positions[: len(stored_positions)]
        if (
            covered != stored_positions
            or not chunk.hashes.startswith(stored_hashes)
            or any(p in chunk.unreadable for p in covered)
        ):
            return _difference(outcome, walk.frontier.size, chunk, stored_positions, stored_hashes)
        outcome.events += len(positions)
        outcome.uncovered += len(positions) - len(stored_positions)
        failure = walk.extend(stored_hashes)
        if failure:
            return _fail(outcome, None, failure)
        progress(outcome.events)
    missing_positions, _ = recorded.take(1)
    if missing_positions:
        return _fail(
            outcome,
            missing_positions[0],
            f"the event at position {missing_positions[0]} (leaf {walk.frontier.size}) is "
            "missing: an event was deleted",
        )
    if walk.due:
        size = walk.due[-1]["size"]
        return _fail(
            outcome,
            None,
            f"the checkpoint of size {size} covers more events than the store holds "
            f"({walk.frontier.size})",
        )
    outcome.checkpoints = walk.verified
    outcome.size, outcome.root = walk.frontier.size, walk.frontier.root().hex()
    outcome.seconds = time.perf_counter() - started
    outcome.cpu_seconds = _cpu() - cpu_started
    return outcome


def _cpu() -> float:
    """CPU seconds of this process and of its children waited for (the pool's workers)."""
    own, children = (
        resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _difference(
    outcome: Outcome,
    first_index: int,
    chunk: Chunk,
    stored_positions: list[int],
    stored_hashes: bytes,
) -> Outcome:
    """Names the first event of a chunk that differs from the recorded leaves."""
    positions, hashes = chunk.positions, chunk.hashes
    for i, stored in enumerate(stored_positions):
        index = first_index + i
        if i >= len(positions) or positions[i] > stored:
            why = f"the event at position {stored} (leaf {index}) is missing: an event was deleted"
            return _fail(outcome, stored, why)
        position = positions[i]
        if position < stored:
            why = (
                f"the event at position {position} is not in the recorded history (leaf {index} "
                f"is position {stored}): an event was inserted"
            )
            return _fail(outcome, position, why)
        if position in chunk.unreadable:
            why = (
                f"the event at position {position} (leaf {index}) cannot be read as an event "
                f"({chunk.unreadable[position]}): altered"
            )
            return _fail(outcome, position, why)
        if hashes[32 * i : 32 * i + 32] != stored_hashes[32 * i : 32 * i + 32]:
            # A leaf covers the position too: rows renumbered to make room for an inserted
            # event, or to close the gap of a deleted one, differ from here on as well.
            why = (
                f"the event at position {position} (leaf {index}) differs from its recorded leaf "
                "hash: altered, swapped with another, or an event inserted or deleted here "
                "and the later ones renumbered"
            )
            return _fail(outcome, position, why)
    raise AssertionError("no difference in a chunk that differs")


def _bad_checkpoint(checkpoint: dict[str, Any], certificate: x509.Certificate) -> str | None:
    try:
        payload = verify_jws(checkpoint["jws"], certificate)
    except BadSignature as e:
        return f"the checkpoint of size {checkpoint['size']} does not verify: {e}"
    if payload != {k: checkpoint[k] for k in ("size", "root", "recorded_at")}:
        return f"the checkpoint of size {checkpoint['size']} differs from what its signature says"
    return None


def _fail(outcome: Outcome, position: int | None, why: str) -> Outcome:
    outcome.failure, outcome.bad_position = why, position
    return outcome
