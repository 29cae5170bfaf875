"""Building and parsing edXML packages (QCVN 102:2016).

The container is one XML document, as the axis SDK 2.0 exchanges it::

    <edXML:edXML>
      <edXML:edXMLEnvelope>
        <edXML:edXMLHeader> MessageHeader, TraceHeaderList, Bussiness, ds:Signature </...>
        <edXML:edXMLBody><edXML:edXMLManifest> Reference (ContentId cid:N, ...) </...></...>
      </edXML:edXMLEnvelope>
      <edXML:AttachmentEncoded> Attachment (ContentId, ContentTransferEncoded base64) </...>
    </edXML:edXML>

The signature covers the whole document, attachments included. Input may also be a bare
`edXMLEnvelope`, carry `Bussiness` inside `TraceHeaderList`, and name elements without a namespace.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import date, datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from lxml import etree

from adapters.edxml import dsig
from adapters.edxml.model import (
    NAMESPACE,
    Attachment,
    EdxmlError,
    Organization,
    Package,
    SignerInfo,
    TraceEntry,
)
from adapters.edxml.tree import Builder, envelope_parts, organization, response_for
from adapters.edxml.xmlsafe import (
    MAX_BYTES,
    MAX_DEPTH,
    child,
    children,
    format_date,
    format_time,
    integer,
    parse_date,
    parse_time,
    parse_xml,
    required,
    text,
    verbatim,
)

# libxml2 refuses text nodes over 10,000,000 characters unless huge_tree is on (it stays off).
MAX_ATTACHMENT_BYTES = 7_500_000


def build_package(
    package: Package,
    signing_key: PrivateKeyTypes | None = None,
    signing_cert: x509.Certificate | Sequence[x509.Certificate] | None = None,
) -> bytes:
    """Writes a package as edXML bytes, signed (enveloped XML-DSig) when given a key and cert."""
    b = Builder()
    root = b.root("edXML")
    envelope = b.add(root, "edXMLEnvelope")
    header = b.add(envelope, "edXMLHeader")
    _message_header(b, b.add(header, "MessageHeader"), package)
    trace = b.add(header, "TraceHeaderList")
    for hop in package.trace:
        node = b.add(trace, "TraceHeader")
        b.leaf(node, "OrganId", hop.organ_id)
        b.leaf(node, "Timestamp", format_time(hop.at))
    business = b.add(header, "Bussiness")
    b.leaf(business, "BussinessDocType", str(package.business_type))
    b.leaf(business, "BussinessDocReason", package.business_reason or None)
    if package.business_affected:
        receivers = b.add(b.add(business, "BussinessDocumentInfo"), "ReceiverList")
        for code in package.business_affected:
            b.leaf(b.add(receivers, "Receiver"), "OrganId", code)
    if signing_key is not None:
        header.append(dsig.placeholder())
    manifest = b.add(b.add(envelope, "edXMLBody"), "edXMLManifest")
    encoded = b.add(root, "AttachmentEncoded") if package.attachments else None
    for i, attachment in enumerate(package.attachments, 1):
        if len(attachment.data) > MAX_ATTACHMENT_BYTES:
            raise EdxmlError(
                f"attachment {attachment.name!r} is {len(attachment.data)} bytes; "
                f"edXML carries at most {MAX_ATTACHMENT_BYTES} per attachment"
            )
        reference = b.add(manifest, "Reference")
        b.leaf(reference, "ContentId", f"cid:{i}")
        b.leaf(reference, "ContentType", attachment.content_type)
        b.leaf(reference, "Description", attachment.description or None)
        b.leaf(reference, "AttachmentName", attachment.name)
        assert encoded is not None
        part = b.add(encoded, "Attachment")
        b.leaf(part, "ContentId", f"cid:{i}")
        b.leaf(part, "ContentTransferEncoded", base64.b64encode(attachment.data).decode())
    return b.finish(root, signing_key, signing_cert)


def _message_header(b: Builder, header: etree._Element, p: Package) -> None:
    b.organization(header, "From", p.sender)
    for recipient in p.to:
        b.organization(header, "To", recipient)
    b.leaf(header, "DocumentId", p.document_id)
    code = b.add(header, "Code")
    b.leaf(code, "CodeNumber", p.code_number)
    b.leaf(code, "CodeNotation", p.code_notation)
    promulgation = b.add(header, "PromulgationInfo")
    b.leaf(promulgation, "Place", p.place or None)
    b.leaf(promulgation, "PromulgationDate", format_date(p.promulgated_on))
    kind = b.add(header, "DocumentType")
    b.leaf(kind, "Type", str(p.type_code))
    b.leaf(kind, "TypeName", p.type_name)
    b.leaf(header, "Subject", p.subject)
    b.leaf(header, "Content", p.content or None)
    if p.signer is not None:
        signer = b.add(header, "SignerInfo")
        b.leaf(signer, "Competence", p.signer.competence or None)
        b.leaf(signer, "Position", p.signer.position or None)
        b.leaf(signer, "FullName", p.signer.full_name)
    b.leaf(header, "DueDate", format_date(p.due_on) if p.due_on else None)
    if p.to_places:
        places = b.add(header, "ToPlaces")
        for place in p.to_places:
            b.leaf(places, "Place", place)
    other = b.add(header, "OtherInfo")
    b.leaf(other, "Priority", str(p.priority))
    b.leaf(other, "SphereOfPromulgation", p.sphere_of_promulgation or None)
    b.leaf(other, "TypeNumber", p.type_number or None)
    b.leaf(other, "PageAmount", None if p.page_amount is None else str(p.page_amount))
    if p.appendixes:
        appendixes = b.add(other, "Appendixes")
        for appendix in p.appendixes:
            b.leaf(appendixes, "Appendix", appendix)
    for answered in p.response_for:
        b.response_for(header, answered)
    b.leaf(header, "SteeringType", None if p.steering_type is None else str(p.steering_type))


def parse_package(
    data: bytes,
    trust_anchors: Sequence[x509.Certificate] = (),
    *,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    at: datetime | None = None,
) -> Package:
    """Reads an edXML package, verifying its signature against the trust anchors at a time
    (default now); raises EdxmlError for anything that is not a safe, complete package."""
    root = parse_xml(data, max_bytes, max_depth)
    return package_from_tree(root, trust_anchors, at)


def package_from_tree(
    root: etree._Element, trust_anchors: Sequence[x509.Certificate], at: datetime | None
) -> Package:
    """Reads a package from a parsed, hardened tree."""
    envelope, header = envelope_parts(root)
    message = child(header, "MessageHeader")
    if message is None:
        if child(header, "Status") is not None:
            raise EdxmlError("this is an edXML Status message, not a package")
        raise EdxmlError("edXMLHeader has no MessageHeader")
    recipients = [organization(node, "To") for node in children(message, "To")]
    if not recipients:
        raise EdxmlError("MessageHeader has no To")
    business = child(header, "Bussiness")
    if business is None:
        business = child(child(header, "TraceHeaderList"), "Bussiness")
    return Package(
        sender=_sender(message),
        to=recipients,
        document_id=verbatim(message, "DocumentId"),
        code_number=required(message, "Code", "CodeNumber"),
        code_notation=text(message, "Code", "CodeNotation") or "",
        promulgated_on=parse_date(
            required(message, "PromulgationInfo", "PromulgationDate"), "PromulgationDate"
        ),
        place=text(message, "PromulgationInfo", "Place") or "",
        type_code=integer(text(message, "DocumentType", "Type"), "DocumentType/Type", 0, 99) or 0,
        type_name=text(message, "DocumentType", "TypeName") or "",
        subject=verbatim(message, "Subject"),
        content=text(message, "Content") or "",
        signer=_signer(child(message, "SignerInfo")),
        due_on=_optional_date(text(message, "DueDate"), "DueDate"),
        to_places=[text(p) or "" for p in children(child(message, "ToPlaces"), "Place")],
        priority=integer(text(message, "OtherInfo", "Priority"), "Priority", 0, 4) or 0,
        sphere_of_promulgation=text(message, "OtherInfo", "SphereOfPromulgation") or "",
        type_number=text(message, "OtherInfo", "TypeNumber") or "",
        page_amount=integer(text(message, "OtherInfo", "PageAmount"), "PageAmount", 0, 10**6),
        appendixes=[
            text(a) or ""
            for a in children(child(child(message, "OtherInfo"), "Appendixes"), "Appendix")
        ],
        response_for=[response_for(node) for node in children(message, "ResponseFor")],
        steering_type=integer(text(message, "SteeringType"), "SteeringType", 0, 9),
        trace=_trace(child(header, "TraceHeaderList")),
        business_type=integer(text(business, "BussinessDocType"), "BussinessDocType", 0, 3) or 0,
        business_reason=text(business, "BussinessDocReason") or "",
        business_affected=[
            required(r, "OrganId") for r in business.iter(tag=etree.Element) if _is(r, "Receiver")
        ]
        if business is not None
        else [],
        attachments=_attachments(root, envelope),
        signature=dsig.verify(root, trust_anchors, at),
    )


def _appendixes(message: etree._Element) -> etree._Element | None:
    return child(child(message, "OtherInfo"), "Appendixes")


def _is(element: etree._Element, name: str) -> bool:
    qname = etree.QName(element)
    return qname.localname == name and qname.namespace in (NAMESPACE, None)


def _sender(message: etree._Element) -> Organization:
    node = child(message, "From")
    if node is None:
        raise EdxmlError("MessageHeader has no From")
    return organization(node, "From")


def _signer(node: etree._Element | None) -> SignerInfo | None:
    if node is None:
        return None
    return SignerInfo(
        full_name=text(node, "FullName") or "",
        position=text(node, "Position") or "",
        competence=text(node, "Competence") or "",
    )


def _optional_date(raw: str | None, where: str) -> date | None:
    if raw is None or not raw.strip():
        return None
    return parse_date(raw, where)


def _trace(node: etree._Element | None) -> list[TraceEntry]:
    return [
        TraceEntry(
            organ_id=required(hop, "OrganId"),
            at=parse_time(required(hop, "Timestamp"), "TraceHeader/Timestamp"),
        )
        for hop in children(node, "TraceHeader")
    ]


def _content_id(raw: str) -> str:
    value = raw.strip()
    if value.lower().startswith("cid:"):
        value = value[4:]
    return value.strip("<>")


def _attachments(root: etree._Element, envelope: etree._Element) -> list[Attachment]:
    contents: dict[str, bytes] = {}
    for section in (*children(root, "AttachmentEncoded"), *children(envelope, "AttachmentEncoded")):
        for part in children(section, "Attachment"):
            cid = _content_id(part.get("ContentId") or text(part, "ContentId") or "")
            encoded = text(part, "ContentTransferEncoded")
            if encoded is None:
                raise EdxmlError(f"attachment cid:{cid} has no ContentTransferEncoded")
            try:
                contents[cid] = base64.b64decode("".join(encoded.split()), validate=True)
            except (binascii.Error, ValueError):
                raise EdxmlError(f"attachment cid:{cid} is not valid base64") from None
    manifest = child(child(envelope, "edXMLBody"), "edXMLManifest")
    attachments = []
    for reference in children(manifest, "Reference"):
        cid = _content_id(required(reference, "ContentId"))
        name = text(reference, "AttachmentName") or ""
        if cid not in contents:
            raise EdxmlError(f"attachment {name!r} (cid:{cid}) has no content")
        attachments.append(
            Attachment(
                name=name,
                content_type=(text(reference, "ContentType") or "").strip(),
                data=contents.pop(cid),
                description=text(reference, "Description") or "",
            )
        )
    if contents:
        raise EdxmlError(f"attachment cid:{sorted(contents)[0]} is not in the manifest")
    return attachments
