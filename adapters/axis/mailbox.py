"""The axis's pull model on the store: packages and Status messages, sent, listed, fetched, acked.

Each function runs on the store's thread inside one transaction that also records the request's
signature (see `AxisStore.transaction`).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from typing import Literal

from adapters.axis.envelope import Envelope
from adapters.axis.errors import Refusal
from adapters.axis.store import AxisStore, new_id, now_text
from adapters.axis.wire import Ack, Acked, Deliveries, DeliveryLine, Pending, Sent

Kind = Literal["package", "status"]
Signed = tuple[str, int]  # a request's signature and timestamp


def _check_recipients(store: AxisStore, envelope: Envelope) -> None:
    missing = store.unknown(list(envelope.recipients))
    if missing:
        raise Refusal(422, "unknown_recipient", f"not in the axis catalogue: {', '.join(missing)}")


def send_package(
    store: AxisStore, signed: Signed, system: str, envelope: Envelope, body: bytes
) -> Sent:
    """Records a package and one pending delivery per recipient; a resend of the same national
    document id (and business type) by the same sender answers the first package."""
    with store.transaction(*signed) as db:
        store.check_owner(system, envelope.sender)
        row = db.execute(
            "SELECT id, recipients, sent_at FROM packages "
            "WHERE sender = ? AND document_id = ? AND business_type = ?",
            (envelope.sender, envelope.document_id, envelope.business_type),
        ).fetchone()
        if row is not None:
            return Sent(
                row[0],
                envelope.document_id,
                envelope.sender,
                store.recipients(row[1]),
                row[2],
                False,
            )
        _check_recipients(store, envelope)
        package_id, sent_at, recipients = new_id(), now_text(), list(envelope.recipients)
        seq = db.execute(
            "INSERT INTO packages (id, document_id, sender, business_type, recipients, body, "
            "sent_at, system) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                package_id,
                envelope.document_id,
                envelope.sender,
                envelope.business_type,
                json.dumps(recipients),
                body,
                sent_at,
                system,
            ),
        ).lastrowid
        db.executemany(
            "INSERT INTO deliveries (package, recipient, state) VALUES (?, ?, 'pending')",
            [(seq, code) for code in recipients],
        )
    return Sent(package_id, envelope.document_id, envelope.sender, recipients, sent_at, True)


def send_status(
    store: AxisStore, signed: Signed, system: str, envelope: Envelope, body: bytes
) -> Sent:
    """Records a Status message for its addressee; the same bytes from the same sender again
    answer the first message."""
    digest = hashlib.sha256(body).hexdigest()
    addressee = envelope.recipients[0]
    with store.transaction(*signed) as db:
        store.check_owner(system, envelope.sender)
        row = db.execute(
            "SELECT id, sent_at FROM statuses WHERE sender = ? AND digest = ?",
            (envelope.sender, digest),
        ).fetchone()
        if row is not None:
            return Sent(row[0], envelope.document_id, envelope.sender, [addressee], row[1], False)
        _check_recipients(store, envelope)
        status_id, sent_at = new_id(), now_text()
        db.execute(
            "INSERT INTO statuses (id, document_id, sender, recipient, digest, body, sent_at, "
            "system, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
            (
                status_id,
                envelope.document_id,
                envelope.sender,
                addressee,
                digest,
                body,
                sent_at,
                system,
            ),
        )
    return Sent(status_id, envelope.document_id, envelope.sender, [addressee], sent_at, True)


_PENDING = {
    "package": (
        "SELECT p.id, p.document_id, p.sender, p.sent_at FROM deliveries d "
        "JOIN packages p ON p.seq = d.package WHERE d.recipient = ? AND d.state = ? "
    ),
    "status": (
        "SELECT s.id, s.document_id, s.sender, s.sent_at FROM statuses s "
        "WHERE s.recipient = ? AND s.state = ? "
    ),
}
_ORDER = {"package": "d.package", "status": "s.seq"}


def pending(
    store: AxisStore, signed: Signed, system: str, kind: Kind, agency: str, limit: int
) -> tuple[list[Pending], Pending | None]:
    """Returns what waits for one of the system's agencies, oldest first, and the latest item
    it acknowledged as done (which the duplicate fault may hand out again)."""
    with store.transaction(*signed) as db:
        store.check_owner(system, agency)
        query, order = _PENDING[kind], _ORDER[kind]
        rows = db.execute(f"{query}ORDER BY {order} LIMIT ?", (agency, "pending", limit))
        items = [Pending(*row) for row in rows]
        done = db.execute(f"{query}ORDER BY {order} DESC LIMIT 1", (agency, "done")).fetchone()
    return items, Pending(*done) if done else None


def fetch(
    store: AxisStore, signed: Signed, system: str, kind: Kind, item_id: str
) -> tuple[bytes, Pending]:
    """Returns the bytes of a package or Status message the system sent or may receive."""
    with store.transaction(*signed) as db:
        if kind == "package":
            row = db.execute(
                "SELECT body, id, document_id, sender, sent_at, recipients FROM packages "
                "WHERE id = ?",
                (item_id,),
            ).fetchone()
            parties = [row[3], *store.recipients(row[5])] if row else []
        else:
            row = db.execute(
                "SELECT body, id, document_id, sender, sent_at, recipient FROM statuses "
                "WHERE id = ?",
                (item_id,),
            ).fetchone()
            parties = [row[3], row[5]] if row else []
        if row is None or not any(store.owner(code) == system for code in parties):
            raise Refusal(404, "not_found", f"no {kind} {item_id} for this system")
    return bytes(row[0]), Pending(row[1], row[2], row[3], row[4])


def acknowledge(
    store: AxisStore, signed: Signed, system: str, kind: Kind, item_id: str, ack: Ack
) -> Acked:
    """Marks one delivery done or failed; the same acknowledgement again changes nothing."""
    state: Literal["done", "failed"] = "done" if ack.result == "done" else "failed"
    with store.transaction(*signed) as db:
        store.check_owner(system, ack.agency)
        row = _delivery(db, kind, item_id, ack.agency)
        if row is None:
            raise Refusal(404, "not_found", f"no {kind} {item_id} for agency {ack.agency}")
        key, current, reason = row
        if current == "pending":
            table, where = (
                ("deliveries", "package = ? AND recipient = ?")
                if kind == "package"
                else ("statuses", "seq = ? AND recipient = ?")
            )
            db.execute(
                f"UPDATE {table} SET state = ?, reason = ?, acked_at = ? WHERE {where}",
                (state, ack.reason, now_text(), key, ack.agency),
            )
            current, reason = state, ack.reason
        elif current != state:
            raise Refusal(
                409, "already_acknowledged", f"this {kind} was already acknowledged as {current}"
            )
    return Acked(item_id, ack.agency, state, reason)


def _delivery(
    db: sqlite3.Connection, kind: Kind, item_id: str, agency: str
) -> tuple[int, str, str | None] | None:
    if kind == "package":
        query = (
            "SELECT d.package, d.state, d.reason FROM deliveries d JOIN packages p "
            "ON p.seq = d.package WHERE p.id = ? AND d.recipient = ?"
        )
    else:
        query = "SELECT seq, state, reason FROM statuses WHERE id = ? AND recipient = ?"
    row = db.execute(query, (item_id, agency)).fetchone()
    return (row[0], row[1], row[2]) if row else None


def deliveries(store: AxisStore, signed: Signed, system: str, package_id: str) -> Deliveries:
    """Returns a package's delivery states: all of them to its sender's system, a recipient's
    own lines to a recipient's system."""
    with store.transaction(*signed) as db:
        row = db.execute(
            "SELECT seq, document_id, sender FROM packages WHERE id = ?", (package_id,)
        ).fetchone()
        lines = (
            db.execute(
                "SELECT recipient, state, reason, acked_at FROM deliveries WHERE package = ? "
                "ORDER BY recipient",
                (row[0],),
            ).fetchall()
            if row
            else []
        )
        sender_side = row is not None and store.owner(row[2]) == system
        visible = [line for line in lines if sender_side or store.owner(line[0]) == system]
        if row is None or not visible:
            raise Refusal(404, "not_found", f"no package {package_id} for this system")
    return Deliveries(package_id, row[1], row[2], [DeliveryLine(*line) for line in visible])
