"""Use cases of the exchange: load, decide, save."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import BaseAggregate
from eventsourcing.persistence import Recording

from domain.agency import Agency, Auditor, CertificateClaim
from domain.codes import (
    Route,
    Tier,
    agency_id,
    auditor_id,
    axis_document_id,
    certificate_id,
    check_agency_code,
    document_id,
)
from domain.commands import (
    ApplyDueChanges,
    Command,
    HandOverLines,
    MergeAgency,
    MoveAgency,
    Outcome,
    ParkAxisItem,
    ReceiveFromAxis,
    RecordAxisAttempt,
    RegisterAgency,
    RegisterAuditor,
    RegisterCertificate,
    RenameAgency,
    ReportStatus,
    RequeueAxisItem,
    RequireSignature,
    ResumeAgency,
    RetireAgency,
    RetireCertificate,
    RevokeDocument,
    RotateToken,
    SendDocument,
    SuspendAgency,
)
from domain.directory import (
    Directory,
    RecipientResolver,
    RepositoryDirectory,
    check_can_write,
    today_in_vietnam,
)
from domain.document import Document
from domain.errors import Conflict, Forbidden, Invalid, NotFound


class UnitOfWork:
    """Aggregates loaded and changed by the commands of one commit."""

    def __init__(self, load: Callable[[UUID], Any], absent: Iterable[UUID] = ()) -> None:
        self._load = load
        self._absent = set(absent)
        self._aggregates: dict[UUID, Any] = {}

    def find(self, aggregate_id: UUID) -> Any | None:
        """Returns the aggregate, from this unit first, or None if it does not exist."""
        try:
            return self._aggregates[aggregate_id]
        except KeyError:
            pass
        if aggregate_id in self._absent:
            return None
        try:
            aggregate = self._load(aggregate_id)
        except AggregateNotFoundError:
            return None
        self._aggregates[aggregate_id] = aggregate
        return aggregate

    def get(self, aggregate_id: UUID, what: str) -> Any:
        """Returns the aggregate or raises NotFound naming what was looked for."""
        aggregate = self.find(aggregate_id)
        if aggregate is None:
            raise NotFound(f"{what} not found")
        return aggregate

    def add(self, aggregate: BaseAggregate[UUID]) -> None:
        """Adds a new aggregate to the unit."""
        self._aggregates[aggregate.id] = aggregate

    def changed(self) -> list[Any]:
        """Returns the aggregates with events not yet saved."""
        return [a for a in self._aggregates.values() if a.pending_events]


class Exchange(Application[UUID]):
    """The exchange's use cases over the event store."""

    name = "lienthong"

    def __init__(
        self,
        directory: Directory | None = None,
        env: dict[str, str] | None = None,
        today: Callable[[], str] = today_in_vietnam,
    ):
        super().__init__(env)
        self.directory: Directory = directory or RepositoryDirectory(self)
        self.today = today

    def unit_of_work(self, absent: Iterable[UUID] = ()) -> UnitOfWork:
        """Starts a unit of work that loads from this exchange's repository; ids known to be
        absent are not looked up (the store's unique ids still guard against a race)."""
        return UnitOfWork(self.repository.get, absent)

    def execute(self, command: Command) -> Outcome:
        """Runs one command and commits what it changed."""
        uow = self.unit_of_work()
        outcome = self.handle(command, uow)
        self.commit(uow)
        return outcome

    def commit(self, uow: UnitOfWork) -> list[Recording[UUID]]:
        """Appends the unit's new events in one transaction and returns their recordings.

        This is `Application.save` without its generic collection step, whose protocol
        `isinstance` checks cost a fifth of a commit; the unit already knows its aggregates.
        """
        events = [event for aggregate in uow.changed() for event in aggregate.collect_events()]
        return self.events.put(events) if events else []

    def handle(self, command: Command, uow: UnitOfWork) -> Outcome:
        """Decides one command against the unit of work, without saving."""
        handler: Callable[[Any, UnitOfWork], Outcome] = getattr(self, _HANDLERS[type(command)])
        return handler(command, uow)

    # Directory

    def register_agency(self, cmd: RegisterAgency, uow: UnitOfWork) -> Outcome:
        """Adds a new agency, checking code shape, uniqueness and parent tier."""
        check_agency_code(cmd.code)
        if not cmd.name.strip():
            raise Invalid.field("name", "must not be blank")
        wanted = [cmd.code] + ([cmd.parent] if cmd.parent else [])
        known = self.directory.lookup(wanted)
        if cmd.code in known or uow.find(agency_id(cmd.code)) is not None:
            raise Conflict(f"agency {cmd.code} already exists")
        if cmd.parent is not None:
            check_agency_code(cmd.parent, "parent")
            parent = known.get(cmd.parent)
            if parent is None:
                raise Invalid.field("parent", f"unknown agency {cmd.parent}")
            if not cmd.remote and parent.tier.rank > cmd.tier.rank:
                raise Invalid.field(
                    "parent", f"a {parent.tier} agency cannot be the parent of a {cmd.tier} agency"
                )
        agency = Agency.register(
            code=cmd.code,
            name=cmd.name,
            tier=cmd.tier,
            parent=cmd.parent,
            remote=cmd.remote,
            token_sha256=None if cmd.remote else cmd.token_sha256,
        )
        uow.add(agency)
        return Outcome(agency)

    def rotate_token(self, cmd: RotateToken, uow: UnitOfWork) -> Outcome:
        """Gives a local agency a new token."""
        agency: Agency = uow.get(agency_id(cmd.code), f"agency {cmd.code}")
        agency.rotate_token(cmd.token_sha256)
        return Outcome(agency)

    def suspend_agency(self, cmd: SuspendAgency, uow: UnitOfWork) -> Outcome:
        """Suspends an agency."""
        agency: Agency = uow.get(agency_id(cmd.code), f"agency {cmd.code}")
        agency.suspend()
        return Outcome(agency)

    def resume_agency(self, cmd: ResumeAgency, uow: UnitOfWork) -> Outcome:
        """Resumes an agency."""
        agency: Agency = uow.get(agency_id(cmd.code), f"agency {cmd.code}")
        agency.resume()
        return Outcome(agency)

    def merge_agency(self, cmd: MergeAgency, uow: UnitOfWork) -> Outcome:
        """Merges an agency into another from a date; chains resolve, cycles are refused."""
        agency: Agency = uow.get(agency_id(cmd.code), f"agency {cmd.code}")
        effective = self._effective(cmd.effective)
        check_agency_code(cmd.into, "into")
        if cmd.into == cmd.code:
            raise Invalid.field("into", "an agency cannot merge into itself")
        # Walk the successors through the unit of work, so merges decided earlier in the
        # same commit count too.
        chain: list[str] = [cmd.code]
        code: str | None = cmd.into
        while code is not None:
            successor: Agency | None = uow.find(agency_id(code))
            if successor is None:
                raise Invalid.field("into", f"unknown agency {code}")
            if successor.successor is None and successor.ends_on is not None:
                raise Invalid.field("into", f"agency {code} is retired")
            if code in chain:
                cycle = " -> ".join([*chain, code])
                raise Invalid.field("into", f"the merge would make a cycle: {cycle}")
            chain.append(code)
            code = successor.successor
        agency.merge(cmd.into, effective)
        return Outcome(agency)

    def retire_agency(self, cmd: RetireAgency, uow: UnitOfWork) -> Outcome:
        """Retires an agency from a date."""
        agency: Agency = uow.get(agency_id(cmd.code), f"agency {cmd.code}")
        agency.retire(self._effective(cmd.effective))
        return Outcome(agency)

    def _effective(self, effective: str | None) -> str:
        today = self.today()
        if effective is None:
            return today
        if effective < today:
            raise Invalid.field("effective", f"must not be before today ({today})")
        return effective

    def rename_agency(self, cmd: RenameAgency, uow: UnitOfWork) -> Outcome:
        """Gives an agency its new name (the code stays: it identifies the agency)."""
        agency: Agency = uow.get(agency_id(cmd.code), f"agency {cmd.code}")
        if not cmd.name.strip():
            raise Invalid.field("name", "must not be blank")
        return Outcome(agency, agency.rename(cmd.name))

    def move_agency(self, cmd: MoveAgency, uow: UnitOfWork) -> Outcome:
        """Re-parents an agency from a date, keeping the tree a tree with tiers in order."""
        agency: Agency = uow.get(agency_id(cmd.code), f"agency {cmd.code}")
        effective = self._effective(cmd.effective)
        self._check_place(agency, cmd.parent, cmd.tier)
        return Outcome(agency, agency.move(cmd.parent, cmd.tier, effective, self.today()))

    def apply_due_changes(self, cmd: ApplyDueChanges, uow: UnitOfWork) -> Outcome:
        """Applies an agency's scheduled move once its date has come (the directory clock)."""
        agency: Agency = uow.get(agency_id(cmd.code), f"agency {cmd.code}")
        move, today = agency.pending_move, self.today()
        if move is None or move["effective"] > today:
            return Outcome(agency, recorded=False)
        tier = Tier(move["tier"])
        self._check_place(agency, move["parent"], tier)
        return Outcome(agency, agency.move(move["parent"], tier, move["effective"], today))

    def _check_place(self, agency: Agency, parent_code: str | None, tier: Tier) -> None:
        """Raises Invalid unless the agency may sit under parent_code in tier."""
        below = {
            entry.code: entry
            for t in Tier
            for entry in self.directory.members(t, agency.code)
            if entry.code != agency.code
        }
        for entry in below.values():
            if entry.parent == agency.code and not entry.remote and entry.tier.rank < tier.rank:
                raise Invalid.field(
                    "tier", f"{entry.code} ({entry.tier}) sits under it and cannot be above it"
                )
        if parent_code is None:
            return
        check_agency_code(parent_code, "parent")
        if parent_code == agency.code or parent_code in below:
            raise Invalid.field("parent", f"{parent_code} is inside the subtree of {agency.code}")
        parent = self.directory.lookup([parent_code]).get(parent_code)
        if parent is None:
            raise Invalid.field("parent", f"unknown agency {parent_code}")
        state = parent.status_on(self.today())
        if state in ("merged", "retired"):
            raise Invalid.field("parent", f"agency {parent_code} is {state}")
        if not agency.remote and parent.tier.rank > tier.rank:
            raise Invalid.field(
                "parent", f"a {parent.tier} agency cannot be the parent of a {tier} agency"
            )

    # Signing certificates

    def register_certificate(self, cmd: RegisterCertificate, uow: UnitOfWork) -> Outcome:
        """Adds a signing certificate to a local agency; a certificate belongs to one agency."""
        agency: Agency = uow.get(agency_id(cmd.code), f"agency {cmd.code}")
        if agency.remote:
            raise Invalid.field("pem", f"agency {cmd.code} is remote: it signs on the axis")
        claim: CertificateClaim | None = uow.find(certificate_id(cmd.fingerprint))
        # A history from before claims were recorded: its registrations tell the owner.
        owner = claim.agency if claim else self.directory.certificate_owner(cmd.fingerprint)
        if owner is not None and owner != cmd.code:
            raise Invalid.field("pem", f"the certificate belongs to agency {owner}")
        recorded = agency.register_certificate(
            cmd.fingerprint, cmd.subject, cmd.not_before, cmd.not_after, cmd.pem
        )
        if recorded and claim is None:
            uow.add(CertificateClaim.claim(fingerprint=cmd.fingerprint, agency=cmd.code))
        return Outcome(agency, recorded)

    def retire_certificate(self, cmd: RetireCertificate, uow: UnitOfWork) -> Outcome:
        """Retires one of an agency's signing certificates (history keeps it)."""
        agency: Agency = uow.get(agency_id(cmd.code), f"agency {cmd.code}")
        agency.retire_certificate(cmd.fingerprint)
        return Outcome(agency)

    def require_signature(self, cmd: RequireSignature, uow: UnitOfWork) -> Outcome:
        """Makes signatures mandatory (or optional) for an agency's documents."""
        agency: Agency = uow.get(agency_id(cmd.code), f"agency {cmd.code}")
        return Outcome(agency, agency.require_signature(cmd.required))

    def _check_signature(self, cmd: SendDocument, uow: UnitOfWork) -> None:
        """Raises Invalid unless the document is signed by a certificate of the sender in force,
        or unsigned by an agency that need not sign."""
        if cmd.signature is None:
            entry = self.directory.lookup([cmd.sender]).get(cmd.sender)
            if entry is not None and entry.signature_required:
                raise Invalid.field("signature", f"agency {cmd.sender} must sign its documents")
            return
        sender: Agency = uow.get(agency_id(cmd.sender), f"agency {cmd.sender}")
        sender.check_may_sign(cmd.signature["certificate"])

    def register_auditor(self, cmd: RegisterAuditor, uow: UnitOfWork) -> Outcome:
        """Creates an auditor with a unique name."""
        if not cmd.name.strip():
            raise Invalid.field("name", "must not be blank")
        if uow.find(auditor_id(cmd.name)) is not None:
            raise Conflict(f"auditor {cmd.name!r} already exists")
        auditor = Auditor.register(name=cmd.name, token_sha256=cmd.token_sha256)
        uow.add(auditor)
        return Outcome(auditor)

    # Documents

    def send_document(self, cmd: SendDocument, uow: UnitOfWork) -> Outcome:
        """Records a document for its recipients; a same-content retry records nothing."""
        doc_id = document_id(cmd.sender, cmd.external_id)
        existing: Document | None = uow.find(doc_id)
        if existing is not None:
            if existing.content_sha256 != cmd.content_sha256:
                raise Conflict(
                    f"external_id {cmd.external_id!r} was already used for a different document"
                )
            return Outcome(existing, recorded=False)
        recipients = RecipientResolver(self.directory, self.today()).resolve(
            cmd.sender, cmd.to, cmd.to_groups
        )
        if cmd.in_reply_to is not None:
            replied: Document | None = uow.find(cmd.in_reply_to)
            if replied is None or not replied.is_party(cmd.sender):
                raise Invalid.field("in_reply_to", "no such document of this agency")
        if cmd.due_on is not None and cmd.due_on < cmd.promulgated_on:
            raise Invalid.field("due_on", "must not be before promulgated_on")
        if cmd.confidential:
            remote = [r["agency"] for r in recipients if r["route"] == Route.AXIS]
            if remote:
                raise Invalid.field(
                    "confidential",
                    "a confidential document never crosses the national axis; "
                    f"remove {', '.join(remote)}",
                )
        self._check_signature(cmd, uow)
        document = Document.send(
            id=doc_id,
            sender=cmd.sender,
            external_id=cmd.external_id,
            content_sha256=cmd.content_sha256,
            code_number=cmd.code_number,
            code_notation=cmd.code_notation,
            document_type=cmd.document_type,
            subject=cmd.subject,
            promulgated_on=cmd.promulgated_on,
            place=cmd.place,
            priority=cmd.priority,
            due_on=cmd.due_on,
            signer=cmd.signer,
            in_reply_to=str(cmd.in_reply_to) if cmd.in_reply_to else None,
            attachments=[vars(a).copy() for a in cmd.attachments],
            recipients=recipients,
            confidential=cmd.confidential,
            signature=cmd.signature,
        )
        uow.add(document)
        return Outcome(document)

    # The national axis bridge

    def receive_from_axis(self, cmd: ReceiveFromAxis, uow: UnitOfWork) -> Outcome:
        """Records a package from the axis once: a duplicate delivery records nothing."""
        original: Document | None = uow.find(axis_document_id(cmd.national_id))
        if cmd.business_type == 1:
            if original is None:
                raise NotFound(f"no document {cmd.national_id!r} came from the axis")
            if original.sender != cmd.sender:
                raise Forbidden("only the sender may revoke a document")
            if original.revoked:
                return Outcome(original, recorded=False)
            original.revoke(str(cmd.edxml.get("business_reason") or "revoked by the sender"))
            return Outcome(original)
        if cmd.business_type not in (0, 2, 3):
            raise Invalid.field("business_type", "must be 0 (new), 1, 2 or 3")
        key = (
            cmd.national_id if cmd.business_type == 0 else f"{cmd.national_id}#{cmd.content_sha256}"
        )
        doc_id = axis_document_id(key, cmd.business_type)
        existing: Document | None = uow.find(doc_id)
        if existing is not None:
            return Outcome(existing, recorded=False)
        check_agency_code(cmd.sender, "from")
        recipients = RecipientResolver(self.directory, self.today()).local_lines(cmd.to)
        if not recipients:
            raise Invalid.field("to", "no recipient of the package is an agency of this province")
        edxml = dict(cmd.edxml)
        if cmd.business_type != 0:
            edxml["updates"] = str(original.id) if original is not None else None
        document = Document.receive(
            id=doc_id,
            national_id=cmd.national_id,
            business_type=cmd.business_type,
            sender=cmd.sender,
            sender_name=cmd.sender_name,
            code_number=cmd.code_number,
            code_notation=cmd.code_notation,
            document_type=cmd.document_type,
            subject=cmd.subject,
            promulgated_on=cmd.promulgated_on,
            place=cmd.place,
            priority=cmd.priority,
            due_on=cmd.due_on,
            signer=cmd.signer,
            attachments=[vars(a).copy() for a in cmd.attachments],
            recipients=recipients,
            edxml=edxml,
        )
        uow.add(document)
        return Outcome(document)

    def record_axis_attempt(self, cmd: RecordAxisAttempt, uow: UnitOfWork) -> Outcome:
        """Records the bridge's attempt to carry an item (and parks it when it must stop)."""
        document: Document = uow.get(cmd.document_id, "document")
        recorded = document.record_axis_attempt(
            cmd.item, cmd.ok, cmd.reason, cmd.permanent, cmd.max_attempts
        )
        return Outcome(document, recorded)

    def park_axis_item(self, cmd: ParkAxisItem, uow: UnitOfWork) -> Outcome:
        """An operator parks a queued axis item."""
        document: Document = uow.get(cmd.document_id, "document")
        document.park_axis_item(cmd.item, cmd.reason, cmd.by)
        return Outcome(document)

    def requeue_axis_item(self, cmd: RequeueAxisItem, uow: UnitOfWork) -> Outcome:
        """An operator retries a parked axis item."""
        document: Document = uow.get(cmd.document_id, "document")
        document.requeue_axis_item(cmd.item, cmd.by)
        return Outcome(document)

    def _check_active(self, code: str) -> None:
        check_can_write(self.directory.lookup([code]).get(code), code, self.today())

    def report_status(self, cmd: ReportStatus, uow: UnitOfWork) -> Outcome:
        """Records a recipient's processing status (a successor's too, on the lines it holds)."""
        document: Document = uow.get(cmd.document_id, "document")
        handed = self._hand_over_due(document)
        if not document.is_party(cmd.agency):
            raise NotFound("document not found")
        # Only a party learns that it may not write: to anyone else the document does not exist.
        self._check_active(cmd.agency)
        if not document.lines_held_by(cmd.agency):
            if document.sender == cmd.agency:
                raise Forbidden("only a recipient reports status on a document")
            holder = document.recipients[cmd.agency].held_by
            raise Forbidden(f"the document passed to {holder}, which answers for it now")
        recorded = document.report_status(cmd.agency, cmd.status, cmd.note, cmd.by)
        return Outcome(document, recorded or handed)

    def hand_over_lines(self, cmd: HandOverLines, uow: UnitOfWork) -> Outcome:
        """Passes the open lines of merged recipients to their successors (directory clock)."""
        document: Document = uow.get(cmd.document_id, "document")
        return Outcome(document, self._hand_over_due(document))

    def _hand_over_due(self, document: Document) -> bool:
        """Hands every open line whose holder has merged (as of today) to the last successor."""
        resolver = RecipientResolver(self.directory, self.today())
        handed = False
        for line in list(document.recipients.values()):
            if not line.open:
                continue
            receiver = resolver.receiver(line.held_by)
            if receiver is not None and receiver.code != line.held_by:
                handed = document.hand_over(line.agency, receiver.code) or handed
        return handed

    def revoke_document(self, cmd: RevokeDocument, uow: UnitOfWork) -> Outcome:
        """Recalls a document on its sender's request."""
        document: Document = uow.get(cmd.document_id, "document")
        if document.sender != cmd.agency:
            if document.is_party(cmd.agency):
                raise Forbidden("only the sender may revoke a document")
            raise NotFound("document not found")
        self._check_active(cmd.agency)
        document.revoke(cmd.reason)
        return Outcome(document)


_HANDLERS: dict[type, str] = {
    RegisterAgency: "register_agency",
    RotateToken: "rotate_token",
    SuspendAgency: "suspend_agency",
    ResumeAgency: "resume_agency",
    MergeAgency: "merge_agency",
    RetireAgency: "retire_agency",
    RenameAgency: "rename_agency",
    MoveAgency: "move_agency",
    ApplyDueChanges: "apply_due_changes",
    RegisterCertificate: "register_certificate",
    RetireCertificate: "retire_certificate",
    RequireSignature: "require_signature",
    RegisterAuditor: "register_auditor",
    SendDocument: "send_document",
    ReportStatus: "report_status",
    HandOverLines: "hand_over_lines",
    RevokeDocument: "revoke_document",
    ReceiveFromAxis: "receive_from_axis",
    RecordAxisAttempt: "record_axis_attempt",
    ParkAxisItem: "park_axis_item",
    RequeueAxisItem: "requeue_axis_item",
}
