"""Reading the evidence: receipts, leaves, signed checkpoints, inclusion and consistency proofs.

Each function answers from the stored subtrees in a few queries; the evidence bundle of an
auditor (issue 6, part 4) reuses them as they are.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from adapters import merkle
from adapters.eventlog import rfc3339
from adapters.evidence import (
    RecentReceipts,
    checkpoints,
    fetch_nodes,
    leaves,
    receipts,
    tracking,
)
from adapters.routerkey import RouterKey


def _checkpoint(row: Any) -> dict[str, Any]:
    return {
        "size": row.size,
        "root": bytes(row.root).hex(),
        "recorded_at": row.recorded_at,
        "jws": row.jws,
    }


class SqlEvidence:
    """The evidence tables, read (and checkpoints signed) for the HTTP routes and the bundle."""

    def __init__(
        self,
        engine: Engine,
        key: RouterKey,
        name: str = "evidence",
        recent: RecentReceipts | None = None,
    ) -> None:
        self.engine = engine
        self.recent = recent or RecentReceipts(0)
        self.key = key
        self.name = name

    def head(self) -> tuple[int, int]:
        """Returns the position the evidence includes and the tree's size."""
        with self.engine.connect() as c:
            row = c.execute(
                sa.select(tracking.c.position, tracking.c.size).where(tracking.c.name == self.name)
            ).one()
        return int(row.position), int(row.size)

    def receipt(self, document_id: str, version: int) -> str | None:
        """Returns the receipt of a document's event, by the event's version in its stream."""
        where = (receipts.c.document_id == document_id) & (receipts.c.version == version)
        with self.engine.connect() as c:
            return c.execute(sa.select(receipts.c.jws).where(where)).scalar()

    def status_receipt(self, document_id: str, agency: str, status: str) -> str | None:
        """Returns the receipt of an agency's latest report of a status on a document."""
        where = (
            (receipts.c.document_id == document_id)
            & (receipts.c.kind == "status")
            & (receipts.c.agency == agency)
            & (receipts.c.status == status)
        )
        query = sa.select(receipts.c.jws).where(where).order_by(receipts.c.position.desc()).limit(1)
        with self.engine.connect() as c:
            return c.execute(query).scalar()

    def receipts(self, document_id: str) -> list[dict[str, Any]]:
        """Returns every receipt of a document in commit order."""
        columns = (
            receipts.c.position,
            receipts.c.kind,
            receipts.c.agency,
            receipts.c.status,
            receipts.c.jws,
        )
        query = (
            sa.select(*columns)
            .where(receipts.c.document_id == document_id)
            .order_by(receipts.c.position)
        )
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(query)]

    def leaves(self, first: int, last: int) -> dict[int, tuple[int, str]]:
        """Returns (leaf_index, hex hash) by position for the positions first..last."""
        return self._leaves(leaves.c.position.between(first, last))

    def leaves_at(self, positions: list[int]) -> dict[int, tuple[int, str]]:
        """Returns (leaf_index, hex hash) by position for the given positions that have a leaf."""
        return self._leaves(leaves.c.position.in_(positions)) if positions else {}

    def _leaves(self, where: Any) -> dict[int, tuple[int, str]]:
        query = sa.select(leaves.c.position, leaves.c.leaf_index, leaves.c.hash).where(where)
        with self.engine.connect() as c:
            return {r.position: (r.leaf_index, bytes(r.hash).hex()) for r in c.execute(query)}

    def latest_checkpoint(self) -> dict[str, Any] | None:
        """Returns the newest signed checkpoint, or None before the first."""
        with self.engine.connect() as c:
            row = c.execute(
                sa.select(checkpoints).order_by(checkpoints.c.size.desc()).limit(1)
            ).first()
        return _checkpoint(row) if row else None

    def checkpoints(self, after: int, limit: int) -> list[dict[str, Any]]:
        """Returns signed checkpoints of sizes above `after`, oldest first."""
        query = (
            sa.select(checkpoints)
            .where(checkpoints.c.size > after)
            .order_by(checkpoints.c.size)
            .limit(limit)
        )
        with self.engine.connect() as c:
            return [_checkpoint(r) for r in c.execute(query)]

    def inclusion(self, position: int, size: int) -> dict[str, Any] | None:
        """Returns the inclusion proof of an event in the tree of `size` leaves, or None if the
        event is not among them."""
        with self.engine.connect() as c:
            index = c.execute(
                sa.select(leaves.c.leaf_index).where(leaves.c.position == position)
            ).scalar()
            if index is None or index >= size:
                return None
            ranges = merkle.inclusion_ranges(index, size)
            found = fetch_nodes(c, merkle.needed(ranges))
        path = merkle.hashes(ranges, found)
        return {"leaf_index": index, "tree_size": size, "audit_path": [h.hex() for h in path]}

    def consistency(self, first: int, second: int) -> list[str]:
        """Returns the consistency proof between trees of sizes first <= second (both stored)."""
        ranges = merkle.consistency_ranges(first, second)
        with self.engine.connect() as c:
            found = fetch_nodes(c, merkle.needed(ranges))
        return [h.hex() for h in merkle.hashes(ranges, found)]

    def root(self, size: int) -> bytes:
        """Returns the root of the tree of `size` leaves (all stored)."""
        with self.engine.connect() as c:
            return merkle.root(size, fetch_nodes(c, merkle.pieces(0, size)))

    def checkpoint(self, now: datetime | None = None) -> dict[str, Any] | None:
        """Signs and stores a checkpoint of the whole tree if it grew since the newest one;
        returns it, or None if there was nothing new. Processes may race: the first wins."""
        _, size = self.head()
        latest = self.latest_checkpoint()
        if size == 0 or (latest is not None and latest["size"] >= size):
            return None
        root = self.root(size)
        recorded_at = rfc3339(now or datetime.now(UTC))
        jws = self.key.sign({"size": size, "root": root.hex(), "recorded_at": recorded_at})
        row = {"size": size, "root": root, "recorded_at": recorded_at, "jws": jws}
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        with self.engine.begin() as c:
            c.execute(dialect.insert(checkpoints).values(**row).on_conflict_do_nothing())
            stored = c.execute(sa.select(checkpoints).where(checkpoints.c.size == size)).one()
        return _checkpoint(stored)
