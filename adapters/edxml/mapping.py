"""Mapping between edXML packages and the API's document shape, losslessly both ways.

API → package → API gives back every field. Package → API → package gives back the package when
the first package is passed as `base`: what the API has no field for (names, competence, content,
priority 4, the type code, ...) is taken from it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import msgspec
from msgspec import Struct

from adapters.edxml.model import (
    FLASH_AT_SET_TIME,
    Attachment,
    Organization,
    Package,
    ResponseFor,
    SignerInfo,
    TraceEntry,
)
from domain.codes import national_document_id

PRIORITIES = ("normal", "urgent", "very_urgent", "flash")

# Decree 30/2020 administrative document types and the commonest legal ones; any other slug
# travels as its own TypeName, and any TypeName comes back through `slug`.
TYPE_NAMES = {
    "nghi-quyet": "Nghị quyết",
    "quyet-dinh": "Quyết định",
    "chi-thi": "Chỉ thị",
    "quy-che": "Quy chế",
    "quy-dinh": "Quy định",
    "thong-cao": "Thông cáo",
    "thong-bao": "Thông báo",
    "huong-dan": "Hướng dẫn",
    "chuong-trinh": "Chương trình",
    "ke-hoach": "Kế hoạch",
    "phuong-an": "Phương án",
    "de-an": "Đề án",
    "du-an": "Dự án",
    "bao-cao": "Báo cáo",
    "bien-ban": "Biên bản",
    "to-trinh": "Tờ trình",
    "hop-dong": "Hợp đồng",
    "cong-van": "Công văn",
    "cong-dien": "Công điện",
    "ban-ghi-nho": "Bản ghi nhớ",
    "ban-thoa-thuan": "Bản thỏa thuận",
    "giay-uy-quyen": "Giấy ủy quyền",
    "giay-moi": "Giấy mời",
    "giay-gioi-thieu": "Giấy giới thiệu",
    "giay-nghi-phep": "Giấy nghỉ phép",
    "phieu-gui": "Phiếu gửi",
    "phieu-chuyen": "Phiếu chuyển",
    "phieu-bao": "Phiếu báo",
    "thu-cong": "Thư công",
    "luat": "Luật",
    "nghi-dinh": "Nghị định",
    "thong-tu": "Thông tư",
}
# edXML DocumentType/Type: 1 legal normative document, 2 administrative document.
LEGAL_TYPES = frozenset({"luat", "nghi-dinh", "thong-tu"})


class ApiSigner(Struct, frozen=True, forbid_unknown_fields=True):
    """The API's signer object."""

    name: str
    position: str


class ApiAttachment(Struct, frozen=True, forbid_unknown_fields=True):
    """An API attachment; the bytes are base64 on the wire (msgspec encodes bytes so)."""

    name: str
    content_type: str
    content_base64: bytes


class ApiDocument(Struct, frozen=True, forbid_unknown_fields=True):
    """The body `POST /v1/documents` takes, plus `from`. From a package, external_id is its
    national DocumentId (unique per sender, so it keeps imports idempotent)."""

    sender: str = msgspec.field(name="from")
    external_id: str = ""
    to: list[str] = []
    code_number: str = ""
    code_notation: str = ""
    document_type: str = ""
    subject: str = ""
    promulgated_on: str = ""
    place: str = ""
    priority: str = "normal"
    due_on: str | None = None
    signer: ApiSigner | None = None
    in_reply_to: str | None = None
    attachments: list[ApiAttachment] = []


def stored_document(
    data: Mapping[str, Any], to: list[str], attachments: list[ApiAttachment]
) -> ApiDocument:
    """The API shape of a document as the router stores it (its view, or its DocumentSent
    event), addressed to `to`, with attachments the caller read from the blob store."""
    return ApiDocument(
        sender=data["sender"],
        external_id=data["external_id"],
        to=to,
        code_number=data["code_number"],
        code_notation=data["code_notation"],
        document_type=data["document_type"],
        subject=data["subject"],
        promulgated_on=data["promulgated_on"],
        place=data["place"] or "",
        priority=data["priority"],
        due_on=data["due_on"],
        signer=ApiSigner(data["signer"]["name"], data["signer"]["position"])
        if data["signer"]
        else None,
        in_reply_to=data["in_reply_to"],
        attachments=attachments,
    )


def slug(type_name: str) -> str:
    """Returns the API document_type of an edXML TypeName ("Công văn" → "cong-van")."""
    plain = unicodedata.normalize("NFKD", type_name.replace("Đ", "D").replace("đ", "d"))
    ascii_only = plain.encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_only).strip("-")


def _no_local_id(_national_id: str) -> str | None:
    return None


def document_from_package(
    package: Package, local_id: Callable[[str], str | None] = _no_local_id
) -> ApiDocument:
    """Returns the API shape of a package; local_id maps an answered national id to our id."""
    answered = package.response_for[0].document_id if package.response_for else None
    signer = package.signer
    return ApiDocument(
        sender=package.sender.code,
        external_id=package.document_id,
        to=[o.code for o in package.to],
        code_number=package.code_number,
        code_notation=package.code_notation,
        document_type=slug(package.type_name),
        subject=package.subject,
        promulgated_on=package.promulgated_on.isoformat(),
        place=package.place,
        priority=PRIORITIES[min(package.priority, 3)],
        due_on=package.due_on.isoformat() if package.due_on else None,
        signer=ApiSigner(signer.full_name, signer.position) if signer else None,
        in_reply_to=local_id(answered) if answered else None,
        attachments=[ApiAttachment(a.name, a.content_type, a.data) for a in package.attachments],
    )


def answered(document: Mapping[str, Any]) -> ResponseFor:
    """The ResponseFor of a reply: names the stored document it answers (a row of the views or
    the data of its event) by its national id, as the axis gave it for a document from outside,
    else built from its sender, date, number and notation."""
    axis = document.get("axis") or {}
    return ResponseFor(
        document_id=axis.get("national_id")
        or national_document_id(
            document["sender"],
            document["promulgated_on"],
            document["code_number"],
            document["code_notation"],
        ),
        organ_id=document["sender"],
        code=f"{document['code_number']}/{document['code_notation']}",
        promulgated_on=date.fromisoformat(document["promulgated_on"]),
    )


def package_from_document(
    document: ApiDocument,
    base: Package | None = None,
    *,
    document_id: str | None = None,
    names: Mapping[str, str] | None = None,
    response_for: Sequence[ResponseFor] | None = None,
    trace: Sequence[TraceEntry] | None = None,
    sent_at: datetime | None = None,
) -> Package:
    """Returns the package of an API document. Fields the API lacks come from base when given,
    else: the national id built from the document (never external_id, the sender's own key),
    agency names from `names`, one trace hop (the sender at sent_at), and response_for as the
    caller resolved in_reply_to."""
    names = names or {}
    orgs = {o.code: o for o in ([base.sender, *base.to] if base else [])}

    def org(code: str) -> Organization:
        return orgs.get(code) or Organization(code=code, name=names.get(code, ""))

    kind = document.document_type
    type_name = TYPE_NAMES.get(kind, kind)
    type_code = 1 if kind in LEGAL_TYPES else 2
    if base is not None and slug(base.type_name) == kind:
        type_name, type_code = base.type_name, base.type_code
    priority = PRIORITIES.index(document.priority)
    if base is not None and base.priority == FLASH_AT_SET_TIME and priority == 3:
        priority = FLASH_AT_SET_TIME
    if trace is None:
        trace = base.trace if base else ([TraceEntry(document.sender, sent_at)] if sent_at else [])
    if response_for is None:
        response_for = base.response_for if base else []
    fresh = Package(
        sender=org(document.sender),
        to=[org(code) for code in document.to],
        document_id=document_id
        or (base.document_id if base else None)
        or national_document_id(
            document.sender, document.promulgated_on, document.code_number, document.code_notation
        ),
        code_number=document.code_number,
        code_notation=document.code_notation,
        promulgated_on=date.fromisoformat(document.promulgated_on),
        subject=document.subject,
        type_name=type_name,
        type_code=type_code,
        place=document.place,
        signer=_signer(document.signer, base.signer if base else None),
        due_on=date.fromisoformat(document.due_on) if document.due_on else None,
        priority=priority,
        response_for=list(response_for),
        trace=list(trace),
        attachments=_attachments(document.attachments, base.attachments if base else []),
    )
    if base is None:
        return fresh
    return msgspec.structs.replace(base, **{name: getattr(fresh, name) for name in _MAPPED})


_MAPPED = (
    "sender",
    "to",
    "document_id",
    "code_number",
    "code_notation",
    "promulgated_on",
    "subject",
    "type_name",
    "type_code",
    "place",
    "signer",
    "due_on",
    "priority",
    "response_for",
    "trace",
    "attachments",
)


def _signer(signer: ApiSigner | None, base: SignerInfo | None) -> SignerInfo | None:
    if signer is None:
        return None
    competence = base.competence if base else ""
    return SignerInfo(full_name=signer.name, position=signer.position, competence=competence)


def _attachments(
    attachments: Sequence[ApiAttachment], base: Sequence[Attachment]
) -> list[Attachment]:
    described = {(a.name, a.data): a.description for a in base}
    return [
        Attachment(
            name=a.name,
            content_type=a.content_type,
            data=a.content_base64,
            description=described.get((a.name, a.content_base64), ""),
        )
        for a in attachments
    ]
