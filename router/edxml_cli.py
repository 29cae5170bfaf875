"""`lienthong edxml parse|export`: edXML for integrators, from a file or from the store."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn
from uuid import UUID

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from adapters.blobs import BlobStore, FileBlobStore, PostgresBlobStore
from adapters.edxml import (
    ApiAttachment,
    EdxmlError,
    Package,
    SignatureCheck,
    StatusMessage,
    build_package,
    document_from_package,
    package_from_document,
    parse,
)
from adapters.edxml.mapping import answered, stored_document
from adapters.edxml.xmlsafe import MAX_BYTES
from adapters.eventlog import EventLog, rfc3339
from router.config import Config


def _refuse(command: str, message: str) -> NoReturn:
    print(f"lienthong edxml {command}: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(2)


def _signature(check: SignatureCheck) -> dict[str, Any]:
    return {
        "present": check.present,
        "verified": check.verified,
        "reason": check.reason,
        "signer_subject": check.signer_subject,
        "certificate_sha256": check.certificate_sha256,
    }


def package_json(package: Package) -> dict[str, Any]:
    """The API's document shape of a package, with its edXML extras and signature check."""
    document = document_from_package(package)
    return {
        "kind": "document",
        "from": document.sender,
        "to": document.to,
        "code_number": document.code_number,
        "code_notation": document.code_notation,
        "document_type": document.document_type,
        "subject": document.subject,
        "promulgated_on": document.promulgated_on,
        "place": document.place,
        "priority": document.priority,
        "due_on": document.due_on,
        "signer": None
        if document.signer is None
        else {"name": document.signer.name, "position": document.signer.position},
        "attachments": [
            {
                "name": a.name,
                "content_type": a.content_type,
                "size": len(a.data),
                "sha256": hashlib.sha256(a.data).hexdigest(),
            }
            for a in package.attachments
        ],
        "edxml": {
            "document_id": package.document_id,
            "priority": package.priority,
            "business_type": package.business_type,
            "business_reason": package.business_reason,
            "business_affected": package.business_affected,
            "steering_type": package.steering_type,
            "response_for": [r.document_id for r in package.response_for],
            "trace": [{"organ_id": t.organ_id, "at": rfc3339(t.at)} for t in package.trace],
        },
        "signature": _signature(package.signature),
    }


def status_json(status: StatusMessage) -> dict[str, Any]:
    """A Status message as JSON."""
    return {
        "kind": "status",
        "from": status.sender.code,
        "document_id": status.document_id,
        "status": status.status,
        "note": status.note,
        "at": rfc3339(status.at),
        "by": None
        if status.by is None
        else {"name": status.by.name, "department": status.by.department or None},
        "signature": _signature(status.signature),
    }


def _read(path: Path, command: str, limit: int) -> bytes:
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        _refuse(command, f"cannot read {path}: {e.strerror}")
    return data


def _anchors(path: Path | None) -> list[x509.Certificate]:
    if path is None:
        return []
    try:
        return x509.load_pem_x509_certificates(_read(path, "parse", MAX_BYTES))
    except ValueError:
        _refuse("parse", f"{path} holds no PEM certificates")


def parse_file(args: argparse.Namespace) -> None:
    """Prints an edXML file as JSON; refused input gives one line on stderr and exit 2."""
    anchors = _anchors(args.trust_store)
    try:
        message = parse(_read(args.file, "parse", MAX_BYTES), anchors)
    except EdxmlError as e:
        _refuse("parse", str(e))
    shown = status_json(message) if isinstance(message, StatusMessage) else package_json(message)
    print(json.dumps(shown, ensure_ascii=False, indent=2))


def _sent(events: EventLog, stream: UUID) -> tuple[dict[str, Any], datetime] | None:
    for event in events.stream(stream):
        if event["type"] == "DocumentSent":
            at = datetime.fromisoformat(event["recorded_at"].replace("Z", "+00:00"))
            return event["data"], at
    return None


def export_document(args: argparse.Namespace, config: Config) -> None:
    """Prints a stored document as an edXML package, signed when given a key and certificate."""
    from router.services import open_exchange

    try:
        stream = UUID(args.document_id)
    except ValueError:
        _refuse("export", f"not a document id: {args.document_id!r}")
    key, certs = _signing(args)
    exchange, views = open_exchange(config)
    try:
        events = EventLog(exchange.recorder, exchange.mapper.transcoder)
        found = _sent(events, stream)
        if found is None:
            _refuse("export", f"no document {stream}")
        data, sent_at = found
        blobs: BlobStore = (
            PostgresBlobStore(views.engine)
            if config.database_url
            else FileBlobStore(Path(str(config.data_dir)) / "blobs")
        )
        codes = [
            data["sender"],
            *(r.get("addressed_as") or r["agency"] for r in data["recipients"]),
        ]
        names = {code: (views.agency(code) or {}).get("name", "") for code in codes}
        document = stored_document(
            data,
            codes[1:],
            [
                ApiAttachment(a["name"], a["content_type"], b"".join(blobs.chunks(a["sha256"])))
                for a in data["attachments"]
            ],
        )
        package = package_from_document(
            document,
            names=names,
            response_for=[answered(replied)]
            if data["in_reply_to"] and (replied := views.document(data["in_reply_to"]))
            else [],
            sent_at=sent_at,
        )
        sys.stdout.buffer.write(build_package(package, key, certs))
    except EdxmlError as e:
        _refuse("export", str(e))
    finally:
        exchange.close()
        views.engine.dispose()


def _signing(args: argparse.Namespace) -> tuple[Any, list[x509.Certificate] | None]:
    if (args.sign_key is None) != (args.sign_cert is None):
        _refuse("export", "give both --sign-key and --sign-cert, or neither")
    if args.sign_key is None:
        return None, None
    try:
        key = load_pem_private_key(_read(args.sign_key, "export", MAX_BYTES), password=None)
        certs = x509.load_pem_x509_certificates(_read(args.sign_cert, "export", MAX_BYTES))
    except (ValueError, TypeError) as e:
        _refuse("export", f"cannot load the signing key or certificate: {e}")
    return key, certs


def register(
    commands: Any,
    store_args: Callable[[argparse.ArgumentParser], None],
    config: Callable[[argparse.Namespace], Config],
) -> None:
    """Adds `edxml parse` and `edxml export` to the command line."""
    edxml = commands.add_parser(
        "edxml", help="read and write edXML (QCVN 102:2016) packages"
    ).add_subparsers(dest="action", required=True)
    p = edxml.add_parser("parse", help="print an edXML package or Status message as JSON")
    p.add_argument("file", type=Path)
    p.add_argument("--trust-store", type=Path, help="PEM file of trusted CA certificates")
    p.set_defaults(func=parse_file)
    p = edxml.add_parser("export", help="print a stored document as an edXML package")
    p.add_argument("document_id")
    store_args(p)
    p.add_argument("--sign-key", type=Path, help="PEM private key (RSA or ECDSA) to sign with")
    p.add_argument("--sign-cert", type=Path, help="PEM certificate (and chain) of that key")
    p.set_defaults(func=lambda args: export_document(args, config(args)))
