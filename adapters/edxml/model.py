"""The edXML messages as values: a package (one official document) and a Status message."""

from __future__ import annotations

from datetime import date, datetime

from msgspec import Struct

NAMESPACE = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DSIG = "http://www.w3.org/2000/09/xmldsig#"

# edXML OtherInfo/Priority: 4 is flash with a set time (hỏa tốc hẹn giờ).
FLASH_AT_SET_TIME = 4
BUSINESS_NEW, BUSINESS_REVOKE, BUSINESS_UPDATE, BUSINESS_REPLACE = 0, 1, 2, 3
STATUS_CODES = frozenset(
    {"01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14", "15", "16"}
)


class EdxmlError(Exception):
    """The input is refused: not a safe, well-formed edXML message (the message is one line)."""


class Organization(Struct, frozen=True, forbid_unknown_fields=True):
    """An organisation named in From, To or a Status: its agency code and contact."""

    code: str
    name: str = ""
    in_charge: str = ""
    address: str = ""
    email: str = ""
    telephone: str = ""


class SignerInfo(Struct, frozen=True, forbid_unknown_fields=True):
    """Who signed the document: competence (e.g. "KT. CHỦ TỊCH"), position and full name."""

    full_name: str
    position: str = ""
    competence: str = ""


class ResponseFor(Struct, frozen=True, forbid_unknown_fields=True):
    """A document this one answers, by its national id."""

    document_id: str
    organ_id: str = ""
    code: str = ""
    promulgated_on: date | None = None


class TraceEntry(Struct, frozen=True, forbid_unknown_fields=True):
    """One hop of the route a package took (TraceHeader), at a whole second."""

    organ_id: str
    at: datetime


class Attachment(Struct, frozen=True, forbid_unknown_fields=True):
    """An attached file with its bytes."""

    name: str
    content_type: str
    data: bytes
    description: str = ""


class SignatureCheck(Struct, frozen=True, forbid_unknown_fields=True):
    """What the XML-DSig signature of a message proves; verified only with a trusted chain."""

    present: bool
    verified: bool
    reason: str
    signer_subject: str | None = None
    certificate_sha256: str | None = None


UNSIGNED = SignatureCheck(present=False, verified=False, reason="the message is not signed")


class Package(Struct, frozen=True, forbid_unknown_fields=True):
    """An edXML package: the MessageHeader, route, business info, attachments and signature."""

    sender: Organization
    to: list[Organization]
    document_id: str
    code_number: str
    code_notation: str
    promulgated_on: date
    subject: str
    type_name: str
    type_code: int = 2
    place: str = ""
    content: str = ""
    signer: SignerInfo | None = None
    due_on: date | None = None
    to_places: list[str] = []
    priority: int = 0
    sphere_of_promulgation: str = ""
    type_number: str = ""
    page_amount: int | None = None
    appendixes: list[str] = []
    response_for: list[ResponseFor] = []
    steering_type: int | None = None
    trace: list[TraceEntry] = []
    business_type: int = BUSINESS_NEW
    business_reason: str = ""
    business_affected: list[str] = []
    attachments: list[Attachment] = []
    signature: SignatureCheck = UNSIGNED


class StaffInfo(Struct, frozen=True, forbid_unknown_fields=True):
    """The officer who reported a status, and their department."""

    name: str
    department: str = ""


class StatusMessage(Struct, frozen=True, forbid_unknown_fields=True):
    """An edXML Status message: a recipient's processing status of a document."""

    sender: Organization
    document_id: str
    status: str
    at: datetime
    note: str | None = None
    by: StaffInfo | None = None
    signature: SignatureCheck = UNSIGNED
