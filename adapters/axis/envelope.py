"""Reads the few edXML fields the axis routes by, from a package or a Status message.

Not the edXML codec: only `From`, `To` and `DocumentId` of a package's `MessageHeader` (and its
`BussinessDocType`), or `From` and `ResponseFor` of a `Status`. Parsing is hardened: no DTD, no
entities, no network, a size limit, and a document type declaration is refused outright.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lxml import etree

from domain.codes import AGENCY_CODE

NAMESPACE = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
MAX_BYTES = 64 * 1024 * 1024
MAX_DOCUMENT_ID = 500
_PROLOG_SCAN = 4096


class MalformedEnvelope(ValueError):
    """The bytes are not an edXML package or Status message the axis can route."""


@dataclass(frozen=True)
class Envelope:
    """What the axis needs to route a message: its kind, national id, sender and addressees."""

    kind: Literal["package", "status"]
    document_id: str
    sender: str
    recipients: tuple[str, ...]
    business_type: int = 0


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _tag(local: str) -> str:
    return f"{{{NAMESPACE}}}{local}"


def _text(element: etree._Element | None, what: str) -> str:
    value = (element.text or "").strip() if element is not None else ""
    if not value:
        raise MalformedEnvelope(f"{what} is missing")
    return value


def _code(element: etree._Element | None, what: str) -> str:
    value = _text(element, what)
    if not AGENCY_CODE.match(value):
        raise MalformedEnvelope(f"{what} {value[:40]!r} is not an agency code (DDD.DD.DD.LDD)")
    return value


def _document_id(element: etree._Element | None, what: str) -> str:
    value = _text(element, what)
    if len(value) > MAX_DOCUMENT_ID:
        raise MalformedEnvelope(f"{what} is longer than {MAX_DOCUMENT_ID} characters")
    return value


def parse(data: bytes, max_bytes: int = MAX_BYTES) -> Envelope:
    """Returns the routing fields of an edXML package or Status message, else MalformedEnvelope."""
    if len(data) > max_bytes:
        raise MalformedEnvelope(f"larger than {max_bytes} bytes")
    if b"<!DOCTYPE" in data[:_PROLOG_SCAN].upper() or b"<!ENTITY" in data[:_PROLOG_SCAN].upper():
        raise MalformedEnvelope("a document type declaration is not allowed")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as e:
        raise MalformedEnvelope(f"not well-formed XML: {e}") from None
    if root.getroottree().docinfo.doctype:
        raise MalformedEnvelope("a document type declaration is not allowed")
    header = next(root.iter(_tag("MessageHeader"), _tag("Status")), None)
    if header is None:
        raise MalformedEnvelope("neither an edXML MessageHeader nor a Status element")
    if header.tag == _tag("Status"):
        return _status(header)
    return _package(root, header)


def _package(root: etree._Element, header: etree._Element) -> Envelope:
    sender = _code(header.find(f"{_tag('From')}/{_tag('OrganId')}"), "MessageHeader/From/OrganId")
    recipients = [
        _code(organ, "MessageHeader/To/OrganId")
        for organ in header.iterfind(f"{_tag('To')}/{_tag('OrganId')}")
    ]
    if not recipients:
        raise MalformedEnvelope("MessageHeader/To/OrganId is missing")
    document_id = _document_id(header.find(_tag("DocumentId")), "MessageHeader/DocumentId")
    # Vendors put Bussiness in MessageHeader, in TraceHeaderList or beside them: look anywhere.
    business = next(root.iter(_tag("BussinessDocType")), None)
    raw = (business.text or "0").strip() if business is not None else "0"
    if raw not in ("0", "1", "2", "3"):
        raise MalformedEnvelope(f"BussinessDocType {raw[:10]!r} is not 0, 1, 2 or 3")
    return Envelope("package", document_id, sender, tuple(dict.fromkeys(recipients)), int(raw))


def _status(status: etree._Element) -> Envelope:
    sender = _code(status.find(f"{_tag('From')}/{_tag('OrganId')}"), "Status/From/OrganId")
    response_for = status.find(_tag("ResponseFor"))
    if response_for is None:
        raise MalformedEnvelope("Status/ResponseFor is missing")
    document_id = _document_id(response_for.find(_tag("DocumentId")), "ResponseFor/DocumentId")
    organ = response_for.find(_tag("OrganId"))
    if organ is not None and (organ.text or "").strip():
        addressee = _code(organ, "ResponseFor/OrganId")
    else:
        # A national document id starts with its issuer's code: `<code>,<date>,<number>`.
        addressee = document_id.split(",", 1)[0].strip()
        if not AGENCY_CODE.match(addressee):
            raise MalformedEnvelope("ResponseFor names no issuing agency (OrganId or DocumentId)")
    return Envelope("status", document_id, sender, (addressee,))
