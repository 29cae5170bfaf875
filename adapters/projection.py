"""The projection that keeps the views: one transaction writes rows and tracking together."""

from __future__ import annotations

import contextlib
import functools
import operator
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import msgspec
import sqlalchemy as sa
from eventsourcing.persistence import ApplicationRecorder, Mapper, Recording
from sqlalchemy.engine import Connection, Engine

from adapters import views as v
from adapters.eventlog import rfc3339
from adapters.runner import follows
from adapters.sql import claim_tracking, insert_many, read_tracking, record_tracking
from domain.agency import Agency, Auditor, CertificateClaim
from domain.codes import FORWARDED, PARKED, QUEUED, Route, national_document_id
from domain.directory import vietnam_day
from domain.document import (
    AXIS_DOCUMENT,
    AXIS_REVOKE,
    AXIS_STATUS,
    CANCELLED,
    CLOSED,
    Document,
    state_after_report,
)


class Writes:
    """Rows to insert, flushed with executemany before any update that may touch them."""

    def __init__(self, connection: Connection) -> None:
        self.c = connection
        self.inserts: dict[sa.Table, list[Any]] = {}
        self.directory_changed_at: int | None = None

    def insert(self, table: sa.Table, row: dict[str, Any]) -> None:
        self.inserts.setdefault(table, []).append(_row_values(table)(row))

    def extend(self, table: sa.Table, rows: Iterable[Any]) -> None:
        """Adds rows already turned into their parameters (a rebuild's decoding process)."""
        self.inserts.setdefault(table, []).extend(rows)

    def execute(self, statement: Any) -> None:
        self.flush()
        self.c.execute(statement)

    def flush(self) -> None:
        # The rows' parameters were made as they came (JSON encoded once by msgspec).
        for table in v.VIEW_TABLES:
            rows = self.inserts.pop(table, None)
            if rows:
                insert_many(self.c, table, rows)

    def finish(self) -> None:
        """Flushes the rows and notes the position of the directory's last change."""
        self.flush()
        if self.directory_changed_at is not None:
            self.c.execute(
                v.meta.update()
                .where(v.meta.c.key == "directory")
                .values(value=str(self.directory_changed_at))
            )


def _json(value: Any) -> Any:
    return None if value is None else _encode_json(value).decode()


_encode_json = msgspec.json.Encoder().encode


@functools.cache
def _row_values(table: sa.Table) -> Callable[[dict[str, Any]], Any]:
    """Returns the function that turns a row of a table into its INSERT parameters (picked in C
    by itemgetter; JSON columns encoded by msgspec)."""
    pick = operator.itemgetter(*(c.name for c in table.columns))
    encoded = [i for i, c in enumerate(table.columns) if isinstance(c.type, sa.JSON)]
    if not encoded:
        return pick

    def values(row: dict[str, Any]) -> Any:
        listed = list(pick(row))
        for i in encoded:
            listed[i] = _json(listed[i])
        return tuple(listed)

    return values


class ExchangeProjection:
    """Projects the event history into the directory, inbox, outbox and document views."""

    name = "exchange-views"

    def __init__(
        self,
        engine: Engine,
        recorder: ApplicationRecorder,
        mapper: Mapper[Any],
        lock: AbstractContextManager[Any] | None = None,
    ) -> None:
        self.engine = engine
        self.recorder = recorder
        self.mapper = mapper
        self.lock = lock or contextlib.nullcontext()
        self._handlers: dict[type, Callable[[Writes, int, Any], None]] = {
            Agency.Registered: self._agency_registered,
            Agency.TokenRotated: self._token_rotated,
            Agency.Suspended: self._agency_status,
            Agency.Resumed: self._agency_status,
            Agency.Merged: self._agency_ends,
            Agency.Retired: self._agency_ends,
            Agency.Renamed: self._agency_renamed,
            Agency.MoveScheduled: self._move_scheduled,
            Agency.Moved: self._agency_moved,
            Agency.CertificateRegistered: self._certificate_registered,
            Agency.CertificateRetired: self._certificate_retired,
            Agency.SignatureRequirementChanged: self._signature_requirement,
            Auditor.Registered: self._auditor_registered,
            # The views list certificates from the agencies' events.
            CertificateClaim.Claimed: lambda *_: None,
            Document.Sent: self._document_sent,
            Document.StatusReported: self._status_reported,
            Document.Revoked: self._document_revoked,
            Document.HandedOver: self._handed_over,
            Document.Received: self._document_received,
            Document.AxisAttempted: self._axis_attempted,
            Document.AxisParked: self._axis_parked,
            Document.AxisRequeued: self._axis_requeued,
        }

    def setup(self) -> None:
        """Creates the views and this projection's tracking row if missing."""
        v.create_views(self.engine)
        with self.engine.begin() as c:
            exists = c.execute(
                sa.select(v.tracking.c.name).where(v.tracking.c.name == self.name)
            ).first()
            if not exists:
                c.execute(v.tracking.insert().values(name=self.name, position=0, updated_at=0.0))

    def tracked_position(self) -> int:
        """Returns the position the views include."""
        with self.engine.connect() as c:
            return int(read_tracking(c, v.tracking.name, self.name, "position")[0])

    def run_once(
        self,
        limit: int = 1000,
        *,
        checked: bool = True,
        committed: Sequence[Recording[Any]] = (),
    ) -> tuple[int, bool]:
        """Projects up to limit next events in one transaction: the recordings committed, as
        they are, if they are the next events; else the events read from the store.

        Returns the position reached and whether more events may follow. With `checked`, two
        cheap reads first tell whether there is anything to do before any lock is taken.
        """
        if checked:
            tracked = self.tracked_position()
            if (self.recorder.max_notification_id() or 0) <= tracked:
                return tracked, False
        with self.lock, self.engine.begin() as c:
            position = self.claim(c)
            if follows(position, committed):
                events = [(r.notification.id, r.domain_event) for r in committed]
                more = False
            else:
                notifications = self.recorder.select_notifications(start=position + 1, limit=limit)
                if not notifications:
                    return position, False
                to_domain_event = self.mapper.to_domain_event
                events = [(n.id, to_domain_event(n)) for n in notifications]
                more = len(notifications) == limit
            self.apply(c, events)
            position = events[-1][0]
            self.track(c, position)
        return position, more

    def claim(self, c: Connection) -> int:
        """Takes the tracking row in the caller's transaction; returns the position it holds."""
        # Writing the tracking row first takes the lock (a row lock in PostgreSQL, the write
        # lock in SQLite), so concurrent runners apply each event exactly once.
        return int(claim_tracking(c, v.tracking.name, self.name, "position")[0])

    def track(self, c: Connection, position: int) -> None:
        """Records, in the caller's transaction, the position the views now include."""
        record_tracking(c, v.tracking.name, self.name, position=position)

    def apply(self, c: Connection, events: Iterable[tuple[int, Any]]) -> None:
        """Writes into the views what domain events, each with its position, change; the
        caller owns the transaction (and the tracking row, if it keeps one)."""
        writes = Writes(c)
        for position, event in events:
            self.handle(writes, position, event)
        writes.finish()

    def handle(self, writes: Writes, position: int, event: Any) -> None:
        """Adds to writes what one event changes in the views."""
        self._handlers[type(event)](writes, position, event)

    def _agency_registered(self, w: Writes, position: int, e: Agency.Registered) -> None:
        w.directory_changed_at = position
        w.insert(
            v.agencies,
            {
                "id": str(e.originator_id),
                "code": e.code,
                "name": e.name,
                "folded_name": v.fold(e.name),
                "tier": e.tier,
                "parent": e.parent,
                "remote": e.remote,
                "status": "active",
                "successor": None,
                "ends_on": None,
                "pending_parent": None,
                "pending_tier": None,
                "pending_on": None,
                "signature_required": False,
            },
        )
        if e.token_sha256:
            w.insert(
                v.principals, {"token_sha256": e.token_sha256, "kind": "agency", "subject": e.code}
            )

    def _token_rotated(self, w: Writes, _: int, e: Agency.TokenRotated) -> None:
        w.flush()
        code = w.c.execute(
            sa.select(v.agencies.c.code).where(v.agencies.c.id == str(e.originator_id))
        ).scalar_one()
        w.execute(
            v.principals.delete().where(
                (v.principals.c.kind == "agency") & (v.principals.c.subject == code)
            )
        )
        w.insert(v.principals, {"token_sha256": e.token_sha256, "kind": "agency", "subject": code})

    def _agency_status(self, w: Writes, position: int, e: Agency.Event) -> None:
        w.directory_changed_at = position
        status = "suspended" if isinstance(e, Agency.Suspended) else "active"
        w.execute(
            v.agencies.update().where(v.agencies.c.id == str(e.originator_id)).values(status=status)
        )

    def _agency_ends(self, w: Writes, position: int, e: Agency.Merged | Agency.Retired) -> None:
        w.directory_changed_at = position
        successor = e.into if isinstance(e, Agency.Merged) else None
        w.execute(
            v.agencies.update()
            .where(v.agencies.c.id == str(e.originator_id))
            .values(successor=successor, ends_on=e.effective)
        )

    def _agency_renamed(self, w: Writes, position: int, e: Agency.Renamed) -> None:
        w.directory_changed_at = position
        w.execute(
            v.agencies.update()
            .where(v.agencies.c.id == str(e.originator_id))
            .values(name=e.name, folded_name=v.fold(e.name))
        )

    def _move_scheduled(self, w: Writes, position: int, e: Agency.MoveScheduled) -> None:
        w.directory_changed_at = position
        w.execute(
            v.agencies.update()
            .where(v.agencies.c.id == str(e.originator_id))
            .values(pending_parent=e.parent, pending_tier=e.tier, pending_on=e.effective)
        )

    def _agency_moved(self, w: Writes, position: int, e: Agency.Moved) -> None:
        w.directory_changed_at = position
        w.execute(
            v.agencies.update()
            .where(v.agencies.c.id == str(e.originator_id))
            .values(
                parent=e.parent,
                tier=e.tier,
                pending_parent=None,
                pending_tier=None,
                pending_on=None,
            )
        )

    def _document_received(self, w: Writes, position: int, e: Document.Received) -> None:
        axis = {
            "national_id": e.national_id,
            "business_type": e.business_type,
            "sender_name": e.sender_name,
            "edxml": e.edxml,
        }
        self._insert_document(w, position, e, e.national_id, None, axis)

    def _axis_attempted(self, w: Writes, position: int, e: Document.AxisAttempted) -> None:
        doc_id, at = str(e.originator_id), rfc3339(e.timestamp)
        values: dict[str, Any] = {"attempts": e.attempt, "reason": e.reason}
        if e.ok:
            values["state"] = FORWARDED
        w.flush()
        _set_item(w, doc_id, e.item, position, at, **values)
        if e.ok and e.item == AXIS_DOCUMENT:
            _move_axis_lines(w, doc_id, position, at, (QUEUED, PARKED), FORWARDED)

    def _axis_parked(self, w: Writes, position: int, e: Document.AxisParked) -> None:
        doc_id, at = str(e.originator_id), rfc3339(e.timestamp)
        w.flush()
        _set_item(w, doc_id, e.item, position, at, state=PARKED, reason=e.reason)
        if e.item == AXIS_DOCUMENT:
            _move_axis_lines(w, doc_id, position, at, (QUEUED,), PARKED)

    def _axis_requeued(self, w: Writes, position: int, e: Document.AxisRequeued) -> None:
        doc_id, at = str(e.originator_id), rfc3339(e.timestamp)
        w.flush()
        _set_item(w, doc_id, e.item, position, at, state=QUEUED, attempts=0)
        if e.item == AXIS_DOCUMENT:
            _move_axis_lines(w, doc_id, position, at, (PARKED,), QUEUED)

    def _certificate_registered(self, w: Writes, _: int, e: Agency.CertificateRegistered) -> None:
        w.flush()
        code = w.c.execute(
            sa.select(v.agencies.c.code).where(v.agencies.c.id == str(e.originator_id))
        ).scalar_one()
        w.insert(
            v.certificates,
            {
                "fingerprint": e.fingerprint,
                "agency": code,
                "subject": e.subject,
                "not_before": e.not_before,
                "not_after": e.not_after,
                "pem": e.pem,
                "registered_at": rfc3339(e.timestamp),
                "retired_at": None,
            },
        )

    def _certificate_retired(self, w: Writes, _: int, e: Agency.CertificateRetired) -> None:
        w.execute(
            v.certificates.update()
            .where(v.certificates.c.fingerprint == e.fingerprint)
            .values(retired_at=rfc3339(e.timestamp))
        )

    def _signature_requirement(
        self, w: Writes, position: int, e: Agency.SignatureRequirementChanged
    ) -> None:
        w.directory_changed_at = position
        w.execute(
            v.agencies.update()
            .where(v.agencies.c.id == str(e.originator_id))
            .values(signature_required=e.required)
        )

    def _handed_over(self, w: Writes, _: int, e: Document.HandedOver) -> None:
        where = (v.recipients.c.document_id == str(e.originator_id)) & (
            v.recipients.c.agency == e.agency
        )
        w.execute(v.recipients.update().where(where).values(holder=e.to))

    def _auditor_registered(self, w: Writes, _: int, e: Auditor.Registered) -> None:
        w.insert(
            v.principals, {"token_sha256": e.token_sha256, "kind": "auditor", "subject": e.name}
        )

    def _document_sent(self, w: Writes, position: int, e: Document.Sent) -> None:
        self._insert_document(w, position, e, e.external_id, e.in_reply_to, None, e.signature)

    def _insert_document(
        self,
        w: Writes,
        position: int,
        e: Document.Sent | Document.Received,
        external_id: str,
        in_reply_to: str | None,
        axis: dict[str, Any] | None,
        signature: dict[str, str] | None = None,
    ) -> None:
        doc_id, sent_at = str(e.originator_id), rfc3339(e.timestamp)
        sent_on = vietnam_day(e.timestamp)
        w.insert(
            v.documents,
            {
                "id": doc_id,
                "position": position,
                "sender": e.sender,
                "external_id": external_id,
                "code_number": e.code_number,
                "code_notation": e.code_notation,
                "document_type": e.document_type,
                "subject": e.subject,
                "folded_subject": v.fold(e.subject),
                "promulgated_on": e.promulgated_on,
                "place": e.place,
                "priority": e.priority,
                "due_on": e.due_on,
                "signer": e.signer,
                "in_reply_to": in_reply_to,
                "attachments": e.attachments,
                "sent_at": sent_at,
                "revoked_at": None,
                "revoke_reason": None,
                "axis": axis,
                "signature": signature,
            },
        )
        if Route.AXIS in {line["route"] for line in e.recipients}:
            national = national_document_id(
                e.sender, e.promulgated_on, e.code_number, e.code_notation
            )
            _queue(w, doc_id, AXIS_DOCUMENT, AXIS_DOCUMENT, national, position, sent_at)
        for line in e.recipients:
            w.insert(
                v.recipients,
                {
                    "document_id": doc_id,
                    "agency": line["agency"],
                    "position": position,
                    "sender": e.sender,
                    "priority": e.priority,
                    "sent_at": sent_at,
                    "route": line["route"],
                    "addressed_as": line.get("addressed_as"),
                    "holder": line["agency"],
                    # Where the recipient sat in the tree that day (older events lack it).
                    "tier": line.get("tier"),
                    "ancestors": "/".join(("", *line.get("ancestors", ()), "")),
                    "due_on": e.due_on,
                    "sent_on": sent_on,
                    "closed_on": None,
                    "status": line["state"],
                    "before_revocation": None,
                    "updated_at": sent_at,
                },
            )

    def _status_reported(self, w: Writes, position: int, e: Document.StatusReported) -> None:
        doc_id, at = str(e.originator_id), rfc3339(e.timestamp)
        if e.axis_item is not None:
            w.flush()
            report = {"agency": e.agency, "status": e.status, "note": e.note, "by": e.by, "at": at}
            national = w.c.execute(
                sa.select(v.documents.c.external_id).where(v.documents.c.id == doc_id)
            ).scalar_one()
            _queue(w, doc_id, e.axis_item, AXIS_STATUS, national, position, at, report)
        where = (v.recipients.c.document_id == doc_id) & (v.recipients.c.agency == e.agency)
        w.flush()
        line = w.c.execute(
            sa.select(v.recipients.c.status, v.recipients.c.before_revocation).where(where)
        ).one()
        status = state_after_report(line.status, line.before_revocation, e.status)
        closed_on = vietnam_day(e.timestamp) if status in CLOSED else None
        w.execute(
            v.recipients.update()
            .where(where)
            .values(status=status, updated_at=at, closed_on=closed_on)
        )
        w.insert(
            v.recipient_history,
            {
                "position": position,
                "agency": e.agency,
                "document_id": doc_id,
                "status": e.status,
                "note": e.note,
                "by": e.by,
                "at": at,
            },
        )

    def _document_revoked(self, w: Writes, position: int, e: Document.Revoked) -> None:
        doc_id, at = str(e.originator_id), rfc3339(e.timestamp)
        if e.axis == AXIS_REVOKE:
            w.flush()
            national = w.c.execute(
                sa.select(v.axis_queue.c.national_id).where(
                    (v.axis_queue.c.document_id == doc_id) & (v.axis_queue.c.item == AXIS_DOCUMENT)
                )
            ).scalar_one()
            _queue(w, doc_id, AXIS_REVOKE, AXIS_REVOKE, national, position, at)
        elif e.axis == CANCELLED:
            _set_item(w, doc_id, AXIS_DOCUMENT, position, at, state=CANCELLED)
        w.execute(
            v.documents.update()
            .where(v.documents.c.id == doc_id)
            .values(revoked_at=at, revoke_reason=e.reason)
        )
        for agency, status in [(a, "revoked") for a in e.removed] + [(a, "13") for a in e.asked]:
            where = (v.recipients.c.document_id == doc_id) & (v.recipients.c.agency == agency)
            values: dict[str, Any] = {"status": status, "updated_at": at}
            if status == "13":
                values["before_revocation"] = v.recipients.c.status
            else:
                values["closed_on"] = vietnam_day(e.timestamp)
            w.execute(v.recipients.update().where(where).values(**values))
            w.insert(
                v.recipient_history,
                {
                    "position": position,
                    "agency": agency,
                    "document_id": doc_id,
                    "status": status,
                    "note": e.reason,
                    "by": None,
                    "at": at,
                },
            )


def _queue(
    w: Writes,
    doc_id: str,
    item: str,
    kind: str,
    national_id: str,
    position: int,
    at: str,
    report: dict[str, Any] | None = None,
) -> None:
    """Adds an item for the axis bridge to carry."""
    w.insert(
        v.axis_queue,
        {
            "document_id": doc_id,
            "item": item,
            "kind": kind,
            "state": QUEUED,
            "attempts": 0,
            "reason": None,
            "report": report,
            "national_id": national_id,
            "position": position,
            "created_at": at,
            "updated_at": at,
        },
    )


def _set_item(w: Writes, doc_id: str, item: str, position: int, at: str, **values: Any) -> None:
    """Changes an axis item's state, attempts or reason."""
    where = (v.axis_queue.c.document_id == doc_id) & (v.axis_queue.c.item == item)
    w.execute(v.axis_queue.update().where(where).values(updated_at=at, **values))


def _move_axis_lines(
    w: Writes, doc_id: str, position: int, at: str, states: tuple[str, ...], to: str
) -> None:
    """Moves a document's axis recipients from states to another, with a history row each."""
    where = (
        (v.recipients.c.document_id == doc_id)
        & (v.recipients.c.route == Route.AXIS.value)
        & v.recipients.c.status.in_(states)
    )
    moved = w.c.execute(sa.select(v.recipients.c.agency).where(where)).scalars().all()
    if not moved:
        return
    w.execute(v.recipients.update().where(where).values(status=to, updated_at=at))
    for agency in moved:
        w.insert(
            v.recipient_history,
            {
                "position": position,
                "agency": agency,
                "document_id": doc_id,
                "status": to,
                "note": None,
                "by": None,
                "at": at,
            },
        )
