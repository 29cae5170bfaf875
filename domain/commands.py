"""Commands: what principals ask the exchange to do, already decoded and typed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from domain.codes import Tier
from domain.directory import Group


@dataclass(frozen=True)
class RegisterAgency:
    """Adds an agency to the directory."""

    code: str
    name: str
    tier: Tier
    parent: str | None
    remote: bool
    token_sha256: str | None


@dataclass(frozen=True)
class RotateToken:
    """Replaces an agency's token."""

    code: str
    token_sha256: str


@dataclass(frozen=True)
class SuspendAgency:
    """Stops an agency from sending and receiving."""

    code: str


@dataclass(frozen=True)
class ResumeAgency:
    """Lets a suspended agency send and receive again."""

    code: str


@dataclass(frozen=True)
class MergeAgency:
    """Merges an agency into its successor from a date (today when None)."""

    code: str
    into: str
    effective: str | None = None


@dataclass(frozen=True)
class RetireAgency:
    """Retires an agency from a date (today when None)."""

    code: str
    effective: str | None = None


@dataclass(frozen=True)
class RenameAgency:
    """Gives an agency its new official name."""

    code: str
    name: str


@dataclass(frozen=True)
class MoveAgency:
    """Re-parents an agency (a reform moves a commune from a district to the province), from a
    date (today when None); a later date is scheduled and applied by the directory clock."""

    code: str
    parent: str | None
    tier: Tier
    effective: str | None = None


@dataclass(frozen=True)
class ApplyDueChanges:
    """The directory clock: applies scheduled moves whose date has come."""

    code: str


@dataclass(frozen=True)
class RegisterCertificate:
    """Adds a signing certificate to an agency; the router has validated it against the trust
    store and passes its facts (times are RFC 3339 UTC)."""

    code: str
    fingerprint: str
    subject: str
    not_before: str
    not_after: str
    pem: str


@dataclass(frozen=True)
class RetireCertificate:
    """Stops a certificate from signing an agency's documents."""

    code: str
    fingerprint: str


@dataclass(frozen=True)
class RequireSignature:
    """Makes signatures mandatory (or optional) for an agency's documents."""

    code: str
    required: bool


@dataclass(frozen=True)
class RegisterAuditor:
    """Creates a read-only auditor."""

    name: str
    token_sha256: str


@dataclass(frozen=True)
class Attachment:
    """An attachment already stored by digest."""

    name: str
    content_type: str
    size: int
    sha256: str
    # PDFs only: their embedded PAdES signatures, {"pades": valid|invalid|unsigned, "signer"}.
    signature: dict[str, str | None] | None = None


@dataclass(frozen=True)
class SendDocument:
    """Sends one official document from the sender's agency."""

    sender: str
    external_id: str
    content_sha256: str
    to: list[str]
    code_number: str
    code_notation: str
    document_type: str
    subject: str
    promulgated_on: str
    place: str | None
    priority: str
    due_on: str | None = None
    signer: dict[str, str] | None = None
    in_reply_to: UUID | None = None
    attachments: list[Attachment] = field(default_factory=list)
    to_groups: list[Group] = field(default_factory=list)
    # Văn bản mật: never carried over the public axis.
    confidential: bool = False
    # The router verified it: {"signer", "certificate", "alg", "value", "signed_sha256",
    # "verified_at"}; the exchange checks that the certificate is the sender's and in force.
    signature: dict[str, str] | None = None


@dataclass(frozen=True)
class ReportStatus:
    """A recipient reports processing status on a document."""

    document_id: UUID
    agency: str
    status: str
    note: str | None = None
    by: dict[str, str] | None = None


@dataclass(frozen=True)
class ReceiveFromAxis:
    """The axis bridge records a package from outside the province: a new document (business
    type 0), its revocation (1), an update (2) or a replacement (3)."""

    national_id: str
    business_type: int
    sender: str
    sender_name: str | None
    to: list[str]
    code_number: str
    code_notation: str
    document_type: str
    subject: str
    promulgated_on: str
    place: str | None
    priority: str
    due_on: str | None = None
    signer: dict[str, str] | None = None
    attachments: list[Attachment] = field(default_factory=list)
    # The package's edXML extras (business reason, steering type, trace, signature check).
    edxml: dict[str, Any] = field(default_factory=dict)
    # Tells updates and replacements of one document apart (a digest of the package's content).
    content_sha256: str = ""


@dataclass(frozen=True)
class RecordAxisAttempt:
    """The axis bridge tried to carry one of a document's items to the axis."""

    document_id: UUID
    item: str
    ok: bool
    reason: str | None = None
    permanent: bool = False
    max_attempts: int = 10


@dataclass(frozen=True)
class ParkAxisItem:
    """An operator stops an axis item from being tried again."""

    document_id: UUID
    item: str
    reason: str
    by: str


@dataclass(frozen=True)
class RequeueAxisItem:
    """An operator sends a parked axis item back to the queue."""

    document_id: UUID
    item: str
    by: str


@dataclass(frozen=True)
class HandOverLines:
    """The directory clock: passes a document's open lines of merged recipients to their
    successors."""

    document_id: UUID


@dataclass(frozen=True)
class RevokeDocument:
    """The sender recalls a document."""

    document_id: UUID
    agency: str
    reason: str


Command = (
    RegisterAgency
    | RotateToken
    | SuspendAgency
    | ResumeAgency
    | MergeAgency
    | RetireAgency
    | RenameAgency
    | MoveAgency
    | ApplyDueChanges
    | RegisterCertificate
    | RetireCertificate
    | RequireSignature
    | RegisterAuditor
    | SendDocument
    | ReportStatus
    | HandOverLines
    | RevokeDocument
    | ReceiveFromAxis
    | RecordAxisAttempt
    | ParkAxisItem
    | RequeueAxisItem
)


@dataclass(frozen=True)
class Outcome:
    """What a command did: the aggregate it touched and whether it recorded anything."""

    aggregate: Any
    recorded: bool = True
