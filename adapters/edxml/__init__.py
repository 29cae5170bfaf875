"""The edXML codec (QCVN 102:2016): packages, Status messages, XML-DSig, and the API mapping."""

from adapters.edxml.mapping import (
    ApiAttachment,
    ApiDocument,
    ApiSigner,
    document_from_package,
    package_from_document,
)
from adapters.edxml.model import (
    Attachment,
    EdxmlError,
    Organization,
    Package,
    ResponseFor,
    SignatureCheck,
    SignerInfo,
    StaffInfo,
    StatusMessage,
    TraceEntry,
)
from adapters.edxml.package import build_package, parse_package
from adapters.edxml.status import build_status, parse, parse_status

__all__ = [
    "ApiAttachment",
    "ApiDocument",
    "ApiSigner",
    "Attachment",
    "EdxmlError",
    "Organization",
    "Package",
    "ResponseFor",
    "SignatureCheck",
    "SignerInfo",
    "StaffInfo",
    "StatusMessage",
    "TraceEntry",
    "build_package",
    "build_status",
    "document_from_package",
    "package_from_document",
    "parse",
    "parse_package",
    "parse_status",
]
