"""Wire types of the HTTP API: msgspec Structs that refuse unknown fields, and shared codecs."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal, TypeVar
from uuid import UUID

import msgspec
from msgspec import Meta, Struct

from domain.codes import MAX_RECIPIENTS, Priority, Tier
from domain.errors import FieldError, Invalid

Text = Annotated[str, Meta(min_length=1, max_length=2000)]
ShortText = Annotated[str, Meta(min_length=1, max_length=200)]
AgencyCode = Annotated[str, Meta(pattern=r"^[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}$")]
DocumentType = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9-]{1,39}$")]
ContentType = Annotated[
    str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*/[A-Za-z0-9][A-Za-z0-9_.+-]*$", max_length=127)
]
FileName = Annotated[str, Meta(min_length=1, max_length=255, pattern=r"^[^/\\\x00-\x1f]+$")]
T = TypeVar("T")
StatusCode = Literal["01", "02", "03", "04", "05", "06", "15", "16"]


class AgencyIn(Struct, frozen=True, forbid_unknown_fields=True):
    code: AgencyCode
    name: Text
    tier: Tier
    parent: AgencyCode | None = None
    remote: bool = False


class AuditorIn(Struct, frozen=True, forbid_unknown_fields=True):
    name: ShortText


class SignerIn(Struct, frozen=True, forbid_unknown_fields=True):
    name: ShortText
    position: ShortText


class AttachmentIn(Struct, frozen=True, forbid_unknown_fields=True):
    name: FileName
    content_type: ContentType
    content_base64: str


class GroupIn(Struct, frozen=True, forbid_unknown_fields=True):
    tier: Tier
    under: AgencyCode


class SignatureIn(Struct, frozen=True, forbid_unknown_fields=True):
    certificate: Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]
    alg: Literal["ES256", "RS256", "PS256"]
    value: Annotated[str, Meta(min_length=1, max_length=2048)]


class DocumentIn(Struct, frozen=True, forbid_unknown_fields=True):
    external_id: ShortText
    code_number: Annotated[str, Meta(min_length=1, max_length=50)]
    code_notation: Annotated[str, Meta(min_length=1, max_length=100)]
    document_type: DocumentType
    subject: Text
    promulgated_on: date
    place: ShortText
    priority: Priority
    due_on: date | None = None
    signer: SignerIn | None = None
    in_reply_to: UUID | None = None
    attachments: Annotated[list[AttachmentIn], Meta(max_length=100)] = []
    to: Annotated[list[str], Meta(max_length=MAX_RECIPIENTS)] = []
    to_groups: Annotated[list[GroupIn], Meta(max_length=20)] = []
    confidential: bool = False
    signature: SignatureIn | None = None


class AxisParkIn(Struct, frozen=True, forbid_unknown_fields=True):
    reason: Text


class MergeIn(Struct, frozen=True, forbid_unknown_fields=True):
    into: AgencyCode
    effective: date | None = None


class RetireIn(Struct, frozen=True, forbid_unknown_fields=True):
    effective: date | None = None


class MoveIn(Struct, frozen=True, forbid_unknown_fields=True):
    parent: AgencyCode | None
    tier: Tier
    effective: date | None = None


class AgencyPatch(Struct, frozen=True, forbid_unknown_fields=True):
    name: Text | None = None
    signature_required: bool | None = None


class CertificateIn(Struct, frozen=True, forbid_unknown_fields=True):
    pem: Annotated[str, Meta(min_length=1, max_length=65536)]


class StaffIn(Struct, frozen=True, forbid_unknown_fields=True):
    name: ShortText
    department: ShortText | None = None


class StatusIn(Struct, frozen=True, forbid_unknown_fields=True):
    status: StatusCode
    note: Annotated[str, Meta(max_length=2000)] | None = None
    by: StaffIn | None = None


class RevokeIn(Struct, frozen=True, forbid_unknown_fields=True):
    reason: Text


encode = msgspec.json.Encoder().encode
DECODERS: dict[type, msgspec.json.Decoder[Any]] = {
    t: msgspec.json.Decoder(t)
    for t in (
        AgencyIn,
        AuditorIn,
        DocumentIn,
        StatusIn,
        RevokeIn,
        AxisParkIn,
        MergeIn,
        RetireIn,
        MoveIn,
        AgencyPatch,
        CertificateIn,
    )
}

_PATH = re.compile(r"at `\$\.?([^`]*)`")
# msgspec quotes a wrong enum value; the answer names the field only, never what was sent in it.
_ENUM_VALUE = re.compile(r"(?s)(Invalid enum value) (['\"]).*\2(?= - at `|$)")
_NAMED = re.compile(r"field `([^`]+)`")


class MalformedJson(Exception):
    """The body is not JSON at all (HTTP 400)."""


def decode(kind: type[T], body: bytes) -> T:
    """Decodes a request body, turning msgspec errors into 400 or a 422 naming the field."""
    try:
        value: T = DECODERS[kind].decode(body)
    except msgspec.ValidationError as e:
        message = _ENUM_VALUE.sub(r"\1", str(e))
        path = _PATH.search(message)
        named = _NAMED.search(message)
        field = path.group(1) if path else ""
        if named:
            field = f"{field}.{named.group(1)}" if field else named.group(1)
        text = message.split(" - at ")[0]
        raise Invalid(message, [FieldError(field or "$", text)]) from None
    except msgspec.DecodeError as e:
        raise MalformedJson(str(e)) from None
    return value
