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
    NEEDS_NOTE,
    QUEUED,
    REVOCATION_REQUESTED,
    REVOKED,
    Route,
)
from domain.errors import Conflict, Invalid


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
    removed = [a for a, s in states.items() if s in (DELIVERED, QUEUED, "01")]
    asked = [a for a, s in states.items() if s in ACCEPTED]
    return removed, asked


class Document(BaseAggregate[UUID]):
    """An official document sent by one agency to one or more others."""

    TOPIC = "Document"

    if TYPE_CHECKING:
        sender: str
        external_id: str
        content_sha256: str
        recipients: dict[str, RecipientLine]
        revoked: bool

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
        # The verified agency signature (None: unsigned, and for documents sent before).
        signature: dict[str, str] | None = None

        def apply(self, aggregate: Any) -> None:
            aggregate.sender = self.sender
            aggregate.external_id = self.external_id
            aggregate.content_sha256 = self.content_sha256
            aggregate.revoked = False
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

        def apply(self, aggregate: Any) -> None:
            line: RecipientLine = aggregate.recipients[self.agency]
            line.state = state_after_report(line.state, line.before_revocation, self.status)
            line.last_report = (self.status, self.note, self.by)
            line.last_report_at = self.timestamp

    class Revoked(Event):
        """The sender recalled the document (thu hồi)."""

        TOPIC = "DocumentRevoked"
        reason: str
        removed: list[str]
        asked: list[str]

        def apply(self, aggregate: Any) -> None:
            aggregate.revoked = True
            for agency in self.removed:
                aggregate.recipients[agency].state = REVOKED
            for agency in self.asked:
                line = aggregate.recipients[agency]
                line.before_revocation = line.state
                line.state = REVOCATION_REQUESTED

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
            self.trigger_event(
                self.StatusReported, agency=line.agency, status=status, note=note, by=by
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
        self.trigger_event(self.Revoked, reason=reason, removed=removed, asked=asked)
