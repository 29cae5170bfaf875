"""The official document and what happens to it at each recipient."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import AggregateCreated, AggregateEvent, BaseAggregate

from domain.codes import (
    ACCEPTED,
    ALLOWED_AFTER,
    DELIVERED,
    FINAL,
    FORWARDED,
    NEEDS_NOTE,
    PARKED,
    QUEUED,
    REVOCATION_REQUESTED,
    REVOKED,
    Route,
)
from domain.errors import Conflict, Invalid, NotFound


@dataclass
class RecipientLine:
    """Where one recipient stands with the document."""

    agency: str
    route: Route
    state: str
    addressed_as: str | None = None
    before_revocation: str | None = None
    last_report: tuple[str, str | None, Any] | None = None
    last_report_at: datetime | None = None
    holder: str | None = None
    tier: str | None = None  # on the day of sending (older documents did not record it)

    @property
    def held_by(self) -> str:
        """The agency that answers for this line: the recipient, or the successor it was
        handed over to after a merge."""
        return self.holder or self.agency

    @property
    def open(self) -> bool:
        """Tells whether the recipient still has work to do on the document."""
        return self.state not in CLOSED


CLOSED = FINAL | {REVOKED}


def state_after_report(state: str, before_revocation: str | None, status: str) -> str:
    """Returns a recipient's state after it reports status (15 and 16 answer a revocation)."""
    if status == "15":
        return REVOKED
    if status == "16":
        return before_revocation or state
    return status


def revocation_outcome(states: dict[str, str]) -> tuple[list[str], list[str]]:
    """Splits recipients into those who lose a revoked document and those asked to answer."""
    removed = [a for a, s in states.items() if s in (DELIVERED, QUEUED, FORWARDED, PARKED, "01")]
    asked = [a for a, s in states.items() if s in ACCEPTED]
    return removed, asked


# What the axis bridge carries for a document: the package itself, its revocation (edXML
# BussinessDocType 1), and each local recipient's status report on a document from the axis.
AXIS_DOCUMENT = "document"
AXIS_REVOKE = "revoke"
AXIS_STATUS = "status"
CANCELLED = "cancelled"


@dataclass
class AxisItem:
    """One thing to carry to the national axis, and how far it got."""

    kind: str
    state: str = QUEUED
    attempts: int = 0
    reason: str | None = None
    # A status item's report: the local agency, its code, note, by and time.
    report: dict[str, Any] | None = None


class Document(BaseAggregate[UUID]):
    """An official document sent by one agency to one or more others."""

    TOPIC = "Document"

    if TYPE_CHECKING:
        sender: str
        external_id: str
        content_sha256: str
        recipients: dict[str, RecipientLine]
        revoked: bool
        national_id: str | None
        axis: dict[str, AxisItem]

    class Event(AggregateEvent):
        """Base of document events."""

    class Sent(Event, AggregateCreated):
        """The document was accepted by the exchange for its recipients."""

        TOPIC = "DocumentSent"
        sender: str
        external_id: str
        content_sha256: str
        code_number: str
        code_notation: str
        document_type: str
        subject: str
        promulgated_on: str
        place: str | None
        priority: str
        due_on: str | None
        signer: dict[str, str] | None
        in_reply_to: str | None
        attachments: list[dict[str, Any]]
        recipients: list[dict[str, str]]
        confidential: bool = False
        # The verified agency signature (None: unsigned, and for documents sent before).
        signature: dict[str, str] | None = None

        def apply(self, aggregate: Any) -> None:
            aggregate.sender = self.sender
            aggregate.external_id = self.external_id
            aggregate.content_sha256 = self.content_sha256
            aggregate.revoked = False
            aggregate.national_id = None
            aggregate.axis = {}
            if any(r["route"] == Route.AXIS for r in self.recipients):
                aggregate.axis[AXIS_DOCUMENT] = AxisItem(AXIS_DOCUMENT)
            aggregate.recipients = {
                r["agency"]: RecipientLine(
                    r["agency"],
                    Route(r["route"]),
                    r["state"],
                    r.get("addressed_as"),
                    tier=r.get("tier"),
                )
                for r in self.recipients
            }

    class StatusReported(Event):
        """A recipient reported processing status (edXML StatusCode)."""

        TOPIC = "DocumentStatusReported"
        agency: str
        status: str
        note: str | None
        by: dict[str, str] | None
        # The axis item that carries the report to a document's sender outside the province.
        axis_item: str | None = None

        def apply(self, aggregate: Any) -> None:
            line: RecipientLine = aggregate.recipients[self.agency]
            line.state = state_after_report(line.state, line.before_revocation, self.status)
            line.last_report = (self.status, self.note, self.by)
            line.last_report_at = self.timestamp
            if self.axis_item is not None:
                # A local recipient answered a document from the axis: its sender hears it there.
                report = {
                    "agency": line.held_by,
                    "status": self.status,
                    "note": self.note,
                    "by": self.by,
                    "at": self.timestamp.isoformat(),
                }
                aggregate.axis[self.axis_item] = AxisItem(AXIS_STATUS, report=report)

    class Revoked(Event):
        """The sender recalled the document (thu hồi)."""

        TOPIC = "DocumentRevoked"
        reason: str
        removed: list[str]
        asked: list[str]
        # For a document with recipients over the axis: "revoke" when the package had reached
        # the axis (a revocation follows it there), "cancelled" when it had not.
        axis: str | None = None

        def apply(self, aggregate: Any) -> None:
            aggregate.revoked = True
            for agency in self.removed:
                aggregate.recipients[agency].state = REVOKED
            for agency in self.asked:
                line = aggregate.recipients[agency]
                line.before_revocation = line.state
                line.state = REVOCATION_REQUESTED
            if self.axis == AXIS_REVOKE:
                aggregate.axis[AXIS_REVOKE] = AxisItem(AXIS_REVOKE)
            elif self.axis == CANCELLED:
                aggregate.axis[AXIS_DOCUMENT].state = CANCELLED

    class Received(Event, AggregateCreated):
        """A document from outside the province arrived over the national axis for local
        recipients; `national_id` is the package's edXML DocumentId, kept verbatim."""

        TOPIC = "DocumentReceivedFromAxis"
        national_id: str
        business_type: int
        sender: str
        sender_name: str | None
        code_number: str
        code_notation: str
        document_type: str
        subject: str
        promulgated_on: str
        place: str | None
        priority: str
        due_on: str | None
        signer: dict[str, str] | None
        attachments: list[dict[str, Any]]
        recipients: list[dict[str, str]]
        edxml: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            aggregate.sender = self.sender
            aggregate.external_id = self.national_id
            aggregate.content_sha256 = ""
            aggregate.revoked = False
            aggregate.national_id = self.national_id
            aggregate.axis = {}
            aggregate.recipients = {
                r["agency"]: RecipientLine(r["agency"], Route.LOCAL, DELIVERED, tier=r.get("tier"))
                for r in self.recipients
            }

    class AxisAttempted(Event):
        """The bridge tried to carry an item to the axis (every attempt is recorded)."""

        TOPIC = "DocumentAxisAttempted"
        item: str
        attempt: int
        ok: bool
        reason: str | None

        def apply(self, aggregate: Any) -> None:
            item: AxisItem = aggregate.axis[self.item]
            item.attempts = self.attempt
            item.reason = self.reason
            if self.ok:
                item.state = FORWARDED
                if self.item == AXIS_DOCUMENT:
                    _move_axis_lines(aggregate, (QUEUED, PARKED), FORWARDED)

    class AxisParked(Event):
        """An item stopped retrying: a permanent refusal, too many failures, or an operator."""

        TOPIC = "DocumentAxisParked"
        item: str
        reason: str
        by: str

        def apply(self, aggregate: Any) -> None:
            item: AxisItem = aggregate.axis[self.item]
            item.state = PARKED
            item.reason = self.reason
            if self.item == AXIS_DOCUMENT:
                _move_axis_lines(aggregate, (QUEUED,), PARKED)

    class AxisRequeued(Event):
        """An operator sent a parked item back to the queue for a fresh series of attempts."""

        TOPIC = "DocumentAxisRequeued"
        item: str
        by: str

        def apply(self, aggregate: Any) -> None:
            item: AxisItem = aggregate.axis[self.item]
            item.state = QUEUED
            item.attempts = 0
            if self.item == AXIS_DOCUMENT:
                _move_axis_lines(aggregate, (PARKED,), QUEUED)

    class HandedOver(Event):
        """A recipient merged into a successor; its open line passes to the successor, which
        answers for it from now on. The line keeps its agency and history."""

        TOPIC = "DocumentHandedOver"
        agency: str
        to: str

        def apply(self, aggregate: Any) -> None:
            aggregate.recipients[self.agency].holder = self.to

    @classmethod
    def send(cls, *, id: UUID, **fields: Any) -> Document:
        """Creates the document; the use case has validated every field."""
        return cls._create(cls.Sent, id=id, **fields)

    @classmethod
    def receive(cls, *, id: UUID, **fields: Any) -> Document:
        """Creates a document that arrived over the axis; the use case has validated it."""
        return cls._create(cls.Received, id=id, **fields)

    def axis_item(self, name: str) -> AxisItem:
        """Returns one of the document's axis items, or raises NotFound."""
        item = self.axis.get(name)
        if item is None:
            raise NotFound(f"the document has no axis item {name!r}")
        return item

    def record_axis_attempt(
        self, name: str, ok: bool, reason: str | None, permanent: bool, max_attempts: int
    ) -> bool:
        """Records one attempt to carry an item; parks it after a permanent refusal or the
        last allowed failure. False (nothing recorded) if the item no longer waits. A success
        also counts for a parked item: the bridge learns so when a status about the document
        comes back (its package had reached the axis after all)."""
        item = self.axis_item(name)
        if item.state != QUEUED and not (ok and item.state == PARKED):
            return False
        attempt = item.attempts + 1
        self.trigger_event(self.AxisAttempted, item=name, attempt=attempt, ok=ok, reason=reason)
        if not ok and (permanent or attempt >= max_attempts):
            why = reason if permanent else f"{attempt} failed attempts; the last: {reason}"
            self.trigger_event(self.AxisParked, item=name, reason=why or "refused", by="bridge")
        return True

    def park_axis_item(self, name: str, reason: str, by: str) -> None:
        """Stops a queued item from being tried again (an operator's decision)."""
        item = self.axis_item(name)
        if item.state != QUEUED:
            raise Conflict(f"axis item {name!r} is {item.state}; only a queued item can be parked")
        if not reason.strip():
            raise Invalid.field("reason", "a reason is required")
        self.trigger_event(self.AxisParked, item=name, reason=reason, by=by)

    def requeue_axis_item(self, name: str, by: str) -> None:
        """Sends a parked item back to the queue (an operator's retry)."""
        item = self.axis_item(name)
        if item.state != PARKED:
            raise Conflict(f"axis item {name!r} is {item.state}; only a parked item can be retried")
        self.trigger_event(self.AxisRequeued, item=name, by=by)

    def is_party(self, agency: str) -> bool:
        """Tells whether the agency sent or received this document, or holds a line of it."""
        return (
            agency == self.sender
            or agency in self.recipients
            or any(line.holder == agency for line in self.recipients.values())
        )

    def lines_held_by(self, agency: str) -> list[RecipientLine]:
        """The lines the agency answers for: its own (unless handed over) and those of the
        agencies merged into it."""
        return [line for line in self.recipients.values() if line.held_by == agency]

    def hand_over(self, agency: str, to: str) -> bool:
        """Passes a recipient's open line to its successor; False if there is nothing to do."""
        line = self.recipients.get(agency)
        if line is None or not line.open or line.held_by == to:
            return False
        self.trigger_event(self.HandedOver, agency=agency, to=to)
        return True

    def report_status(
        self, agency: str, status: str, note: str | None, by: dict[str, str] | None
    ) -> bool:
        """Records a report on every line the agency holds that accepts it (one line, or
        more after merges); returns False for an identical retry."""
        fresh = [
            line for line in self.lines_held_by(agency) if line.last_report != (status, note, by)
        ]
        if not fresh:
            return False
        accepting: list[RecipientLine] = []
        refusal: Conflict | None = None
        for line in fresh:
            try:
                self.check_transition(line, status)
            except Conflict as e:
                refusal = refusal or e
            else:
                accepting.append(line)
        if not accepting:
            assert refusal is not None
            raise refusal
        if status in NEEDS_NOTE and not note:
            raise Invalid.field("note", f"a note is required with status {status}")
        for line in accepting:
            axis_item = None
            if self.national_id is not None and line.route is Route.LOCAL:
                axis_item = (
                    f"{AXIS_STATUS}-{1 + sum(i.kind == AXIS_STATUS for i in self.axis.values())}"
                )
            self.trigger_event(
                self.StatusReported,
                agency=line.agency,
                status=status,
                note=note,
                by=by,
                axis_item=axis_item,
            )
        return True

    @staticmethod
    def check_transition(line: RecipientLine, status: str) -> None:
        """Raises Conflict unless status may follow the recipient's current state."""
        if line.state == REVOKED:
            raise Conflict("the document was revoked for this recipient")
        if status in ("15", "16"):
            if line.state != REVOCATION_REQUESTED:
                raise Conflict(f"status {status} answers a revocation, and none is pending")
            return
        if line.state == REVOCATION_REQUESTED:
            raise Conflict("a revocation is pending: answer it with 15 or 16 first")
        if line.state not in ALLOWED_AFTER[status]:
            raise Conflict(f"status {status} cannot follow {line.state}")

    def revoke(self, reason: str) -> None:
        """Recalls the document from every recipient that has not finished with it."""
        if self.revoked:
            raise Conflict("the document is already revoked")
        if not reason.strip():
            raise Invalid.field("reason", "a reason is required")
        removed, asked = revocation_outcome({a: r.state for a, r in self.recipients.items()})
        package = self.axis.get(AXIS_DOCUMENT)
        axis = None
        if package is not None:
            axis = AXIS_REVOKE if package.state == FORWARDED else CANCELLED
        self.trigger_event(self.Revoked, reason=reason, removed=removed, asked=asked, axis=axis)


def _move_axis_lines(aggregate: Any, states: tuple[str, ...], to: str) -> None:
    """Moves the document's axis recipients that are in one of states to another state."""
    for line in aggregate.recipients.values():
        if line.route is Route.AXIS and line.state in states:
            line.state = to
