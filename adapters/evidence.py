"""The evidence projection: every event a Merkle leaf, every send, report and revocation a
signed receipt, in tables that `views rebuild` never drops.

For each new event, in commit order, one transaction appends its leaf (gapless 0-based index,
position, hash), the perfect subtrees the leaf completes (so that any root or proof needs only
O(log n) rows), the receipts of the event, and the tracking row, like the views' projection: an
event is applied exactly once, whichever router process gets to it first.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any
from uuid import UUID

import msgspec
import rfc8785
import sqlalchemy as sa
from eventsourcing.persistence import ApplicationRecorder, Notification, Recording
from sqlalchemy.engine import Connection, Engine

from adapters import merkle
from adapters.canonical import decode_without_floats, encode_sorted, may_sort_differently
from adapters.eventlog import event_item
from adapters.routerkey import RouterKey
from adapters.runner import follows
from adapters.sql import claim_tracking, insert_many, read_tracking, record_tracking, run

metadata = sa.MetaData()

tracking = sa.Table(
    "evidence_tracking",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

leaves = sa.Table(
    "evidence_leaves",
    metadata,
    sa.Column("leaf_index", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("position", sa.BigInteger, nullable=False, unique=True),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
)

# Completed perfect subtrees above the leaves: 2**level leaves from leaf idx * 2**level.
nodes = sa.Table(
    "evidence_nodes",
    metadata,
    sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
)

receipts = sa.Table(
    "evidence_receipts",
    metadata,
    sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("document_id", sa.String(36), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("agency", sa.String(16), nullable=False),
    sa.Column("status", sa.String(4)),
    sa.Column("jws", sa.Text, nullable=False),
    sa.Index("ix_evidence_receipts_document", "document_id", "version"),
)

checkpoints = sa.Table(
    "evidence_checkpoints",
    metadata,
    sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root", sa.LargeBinary(32), nullable=False),
    sa.Column("recorded_at", sa.String(32), nullable=False),
    sa.Column("jws", sa.Text, nullable=False),
)


RECEIPT_KINDS = {
    "DocumentSent": "sent",
    "DocumentStatusReported": "status",
    "DocumentRevoked": "revoked",
}
_decode = msgspec.json.Decoder().decode


def stream_text(originator_id: Any) -> str:
    """Returns a stored stream id (a UUID, or SQLite's 32 hex digits) in the API's form."""
    if isinstance(originator_id, str) and len(originator_id) == 32:
        h = originator_id  # SQLite's stored form is the hex: formatted without a UUID object
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return str(originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id)))


def canonical_item(
    position: int, originator_id: Any, version: int, topic: str, state: bytes
) -> tuple[dict[str, Any], bytes]:
    """Returns an event's events-API item and its RFC 8785 bytes (what its leaf hashes), from
    the stored row; `adapters.canonical.canonical(item)` gives the same bytes, more slowly."""
    try:
        data = decode_without_floats(state)
    except ValueError:
        item = event_item(position, stream_text(originator_id), version, topic, _decode(state))
        return item, rfc8785.dumps(item)
    item = event_item(position, stream_text(originator_id), version, topic, data)
    encoded = encode_sorted(item)
    # Keys with these UTF-8 lead bytes may sort differently in UTF-16 (JCS): the reference.
    if may_sort_differently(encoded):
        return item, rfc8785.dumps(item)
    return item, encoded


def fetch_nodes(c: Connection, wanted: Iterable[merkle.Node]) -> dict[merkle.Node, bytes]:
    """Reads stored subtrees (level 0: the leaves) in at most two queries."""
    wanted = set(wanted)
    found: dict[merkle.Node, bytes] = {}
    at_leaves = [i for level, i in wanted if level == 0]
    if at_leaves:
        marks = ", ".join("?" for _ in at_leaves)
        sql = f"SELECT leaf_index, hash FROM {leaves.name} WHERE leaf_index IN ({marks})"
        found.update({(0, i): bytes(h) for i, h in run(c, sql, at_leaves)})
    above = [(level, i) for level, i in wanted if level > 0]
    if above:
        pairs = ", ".join("(?, ?)" for _ in above)
        sql = f"SELECT level, idx, hash FROM {nodes.name} WHERE (level, idx) IN (VALUES {pairs})"
        found.update({(lv, i): bytes(h) for lv, i, h in run(c, sql, [x for n in above for x in n])})
    return found


def create_tables(engine: Engine, name: str = "evidence") -> None:
    """Creates the evidence tables and the projection's tracking row if missing (never dropped:
    checkpoints are signed history)."""
    metadata.create_all(engine)
    with engine.begin() as c:
        if c.execute(sa.select(tracking.c.name).where(tracking.c.name == name)).first() is None:
            c.execute(tracking.insert().values(name=name, position=0, size=0, updated_at=0.0))


class RecentReceipts:
    """The receipts this process signed last, by (document id, version): the answer to the
    write that caused them, without reading them back from the table."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._jws: OrderedDict[tuple[str, int], str] = OrderedDict()

    def add(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Keeps committed receipt rows (position, document_id, version, ..., jws)."""
        for row in rows:
            self._jws[(row[1], row[2])] = row[-1]
        while len(self._jws) > self.size:
            self._jws.popitem(last=False)

    def get(self, document_id: str, version: int) -> str | None:
        """Returns a receipt signed here lately, else None."""
        return self._jws.get((document_id, version))

    def missing(self, notifications: Iterable[Notification]) -> list[int]:
        """Returns the positions of the events with a receipt that is not kept here."""
        return [
            n.id
            for n in notifications
            if n.topic in RECEIPT_KINDS
            and (stream_text(n.originator_id), n.originator_version) not in self._jws
        ]


class EvidenceProjection:
    """Appends the Merkle leaves, subtrees and receipts of new events."""

    name = "evidence"

    def __init__(
        self,
        engine: Engine,
        recorder: ApplicationRecorder,
        key: RouterKey,
        lock: AbstractContextManager[Any] | None = None,
    ) -> None:
        self.engine = engine
        self.recorder = recorder
        self.key = key
        self.lock = lock or contextlib.nullcontext()
        self.recent = RecentReceipts()
        self._edge: tuple[int, list[bytes]] = (-1, [])

    def recall(self, notifications: Iterable[Notification]) -> None:
        """Keeps the receipts of events projected already, that another process signed (one
        query for a batch, instead of one for each answer that needs its receipt)."""
        positions = self.recent.missing(notifications)
        if positions:
            marks = ", ".join("?" for _ in positions)
            columns = ", ".join(c.name for c in receipts.columns)
            sql = f"SELECT {columns} FROM {receipts.name} WHERE position IN ({marks})"
            with self.engine.connect() as c:
                self.recent.add(run(c, sql, positions))

    def tracked_position(self) -> int:
        """Returns the position the evidence includes."""
        with self.engine.connect() as c:
            return int(read_tracking(c, tracking.name, self.name, "position")[0])

    def run_once(
        self,
        limit: int = 1000,
        *,
        checked: bool = True,
        committed: Sequence[Recording[Any]] = (),
    ) -> tuple[int, bool]:
        """Appends up to limit next events in one transaction (the recordings committed, if
        they are the next events); returns the position reached and whether more events may
        follow."""
        if checked:
            tracked = self.tracked_position()
            if (self.recorder.max_notification_id() or 0) <= tracked:
                return tracked, False
        with self.lock, self.engine.begin() as c:
            # The tracking row is written first: it locks out other processes' projections.
            tracked, size = claim_tracking(c, tracking.name, self.name, "position, size")
            if follows(tracked, committed):
                notifications: Sequence[Notification] = [r.notification for r in committed]
                more = False
            else:
                notifications = self.recorder.select_notifications(start=tracked + 1, limit=limit)
                more = len(notifications) == limit
            if not notifications:
                return tracked, False
            frontier = self._frontier_at(c, size)
            signed = self._append(c, frontier, notifications)
            position = notifications[-1].id
            record_tracking(c, tracking.name, self.name, position=position, size=frontier.size)
        self.recent.add(signed)
        self._edge = (frontier.size, list(frontier.edge))
        return position, more

    def _frontier_at(self, c: Connection, size: int) -> merkle.Frontier:
        """The right edge of the tree of this size: kept from this process's last append, else
        read from the stored subtrees (another process appended since)."""
        if self._edge[0] == size:
            return merkle.Frontier(size, list(self._edge[1]))
        edge = fetch_nodes(c, merkle.pieces(0, size))
        return merkle.Frontier(size, [edge[p] for p in merkle.pieces(0, size)])

    def _append(
        self, c: Connection, frontier: merkle.Frontier, notifications: Iterable[Notification]
    ) -> list[tuple[Any, ...]]:
        """Inserts the leaves, subtrees and receipts of the events; returns the receipts."""
        new_leaves: list[tuple[Any, ...]] = []
        new_nodes: list[tuple[Any, ...]] = []
        new_receipts: list[tuple[Any, ...]] = []
        senders: dict[str, str] = {}
        for n in notifications:
            item, encoded = canonical_item(
                n.id, n.originator_id, n.originator_version, n.topic, n.state
            )
            leaf = merkle.leaf_hash(encoded)
            new_leaves.append((frontier.size, n.id, leaf))
            new_nodes += frontier.append(leaf)
            kind = RECEIPT_KINDS.get(n.topic)
            if kind is not None:
                new_receipts.append(self._receipt(c, kind, item, leaf, senders))
        for table, rows in ((leaves, new_leaves), (nodes, new_nodes), (receipts, new_receipts)):
            if rows:
                insert_many(c, table, rows)
        return new_receipts

    def _receipt(
        self, c: Connection, kind: str, item: dict[str, Any], leaf: bytes, senders: dict[str, str]
    ) -> tuple[Any, ...]:
        document_id, data = item["stream"], item["data"]
        if kind == "sent":
            agency = senders[document_id] = data["sender"]
        elif kind == "status":
            agency = data["agency"]
        else:
            agency = (
                senders.get(document_id)
                or c.execute(
                    sa.select(receipts.c.agency).where(
                        (receipts.c.document_id == document_id) & (receipts.c.kind == "sent")
                    )
                ).scalar_one()
            )
        status = data["status"] if kind == "status" else None
        payload = {
            "document_id": document_id,
            "kind": kind,
            "agency": agency,
            "status": status,
            "event_position": item["position"],
            "event_hash": leaf.hex(),
            "recorded_at": item["recorded_at"],
        }
        jws = self.key.sign(payload)
        return (item["position"], document_id, item["version"], kind, agency, status, jws)
