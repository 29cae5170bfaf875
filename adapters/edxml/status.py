"""Building and parsing edXML Status messages, and telling them apart from packages.

A Status message is `edXML > edXMLEnvelope > edXMLHeader > Status` holding ResponseFor (the
document's national id), From, StatusCode, Description, Timestamp and StaffInfo, optionally
signed like a package.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from adapters.edxml import dsig
from adapters.edxml.model import (
    STATUS_CODES,
    EdxmlError,
    Package,
    ResponseFor,
    StaffInfo,
    StatusMessage,
)
from adapters.edxml.package import package_from_tree
from adapters.edxml.tree import Builder, envelope_parts, organization
from adapters.edxml.xmlsafe import (
    MAX_BYTES,
    MAX_DEPTH,
    child,
    format_time,
    parse_time,
    parse_xml,
    required,
    text,
    verbatim,
)


def build_status(
    status: StatusMessage,
    signing_key: PrivateKeyTypes | None = None,
    signing_cert: x509.Certificate | Sequence[x509.Certificate] | None = None,
) -> bytes:
    """Writes a Status message as edXML bytes, signed when a key and cert are given."""
    if status.status not in STATUS_CODES:
        raise EdxmlError(f"StatusCode must be 01..16, not {status.status!r}")
    b = Builder()
    root = b.root("edXML")
    header = b.add(b.add(root, "edXMLEnvelope"), "edXMLHeader")
    node = b.add(header, "Status")
    b.response_for(node, ResponseFor(document_id=status.document_id))
    b.organization(node, "From", status.sender)
    b.leaf(node, "StatusCode", status.status)
    b.leaf(node, "Description", status.note)
    b.leaf(node, "Timestamp", format_time(status.at))
    if status.by is not None:
        staff = b.add(node, "StaffInfo")
        b.leaf(staff, "Department", status.by.department or None)
        b.leaf(staff, "Staff", status.by.name)
    if signing_key is not None:
        header.append(dsig.placeholder())
    return b.finish(root, signing_key, signing_cert)


def parse_status(
    data: bytes,
    trust_anchors: Sequence[x509.Certificate] = (),
    *,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    at: datetime | None = None,
) -> StatusMessage:
    """Reads an edXML Status message; raises EdxmlError for anything else."""
    message = parse(data, trust_anchors, max_bytes=max_bytes, max_depth=max_depth, at=at)
    if not isinstance(message, StatusMessage):
        raise EdxmlError("this is an edXML package, not a Status message")
    return message


def parse(
    data: bytes,
    trust_anchors: Sequence[x509.Certificate] = (),
    *,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    at: datetime | None = None,
) -> Package | StatusMessage:
    """Reads any edXML message: a package or a Status message, by what its header holds."""
    root = parse_xml(data, max_bytes, max_depth)
    _, header = envelope_parts(root)
    node = child(header, "Status")
    if node is None:
        return package_from_tree(root, trust_anchors, at)
    sender = child(node, "From")
    if sender is None:
        raise EdxmlError("Status has no From")
    code = required(node, "StatusCode")
    if code not in STATUS_CODES:
        raise EdxmlError(f"StatusCode must be 01..16, not {code!r}")
    note = text(node, "Description")
    staff = child(node, "StaffInfo")
    return StatusMessage(
        sender=organization(sender, "From"),
        document_id=verbatim(node, "ResponseFor", "DocumentId"),
        status=code,
        at=parse_time(required(node, "Timestamp"), "Timestamp"),
        note=note if note else None,
        by=None
        if staff is None
        else StaffInfo(name=text(staff, "Staff") or "", department=text(staff, "Department") or ""),
        signature=dsig.verify(root, trust_anchors, at),
    )
