"""The evidence bundle of one document: a ZIP that anyone can check offline, and its checker.

The bundle holds the document's events as `/v1/events` items (with `hash` and `leaf_index`),
an RFC 9162 inclusion proof of each against one signed checkpoint, the receipts, the
attachments with their digests, the router certificate and the sender's signing certificate.
`verify` needs nothing but the ZIP and, to know who signed, a router certificate obtained
independently.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

import msgspec
from cryptography import x509

from adapters import merkle
from adapters.canonical import canonical
from adapters.routerkey import BadSignature, verify_jws

EVENTS, RECEIPTS, CHECKPOINT, PROOFS = (
    "events.jsonl",
    "receipts.json",
    "checkpoint.json",
    "proofs.json",
)
ATTACHMENTS, MANIFEST, ROUTER_CERT = "attachments.json", "bundle.json", "router-certificate.pem"
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


@dataclass
class Parts:
    """What a bundle holds, gathered from the store."""

    document_id: str
    created_at: str
    events: list[dict[str, Any]]
    receipts: list[dict[str, Any]]
    checkpoint: dict[str, Any]
    proofs: list[dict[str, Any]]
    attachments: list[tuple[dict[str, Any], bytes]]
    router_certificate: str
    agency_certificates: dict[str, str] = field(default_factory=dict)


def attachment_path(index: int, name: str) -> str:
    """Returns the ZIP member of an attachment: its index and its name made safe for a path."""
    safe = re.sub(r"[^\w.\-]+", "_", name).lstrip(".") or "attachment"
    return f"attachments/{index}-{safe[:120]}"


def build(parts: Parts, readme: str) -> bytes:
    """Returns the ZIP bytes of a bundle."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(README, readme)
        z.writestr(
            MANIFEST,
            _encode({"document_id": parts.document_id, "created_at": parts.created_at}),
        )
        z.writestr(EVENTS, b"".join(_encode(e) + b"\n" for e in parts.events))
        z.writestr(RECEIPTS, _encode(parts.receipts))
        z.writestr(CHECKPOINT, _encode(parts.checkpoint))
        z.writestr(PROOFS, _encode(parts.proofs))
        listed = []
        for i, (meta, data) in enumerate(parts.attachments):
            path = attachment_path(i, meta["name"])
            listed.append({"index": i, "file": path} | meta)
            z.writestr(path, data)
        z.writestr(ATTACHMENTS, _encode(listed))
        z.writestr(ROUTER_CERT, parts.router_certificate)
        for fingerprint, pem in parts.agency_certificates.items():
            z.writestr(f"agency-certificates/{fingerprint}.pem", pem)
    return out.getvalue()


README = "README.txt"


class Unreadable(Exception):
    """The file is not a bundle: not a ZIP, a missing member, or malformed JSON."""


class Failed(Exception):
    """A check failed; the message names the piece and what differs."""


@dataclass
class Summary:
    """What a successful verification checked."""

    document_id: str
    events: int
    redacted: int
    receipts: int
    attachments: int
    checkpoint_size: int
    root: str


def _member(z: zipfile.ZipFile, name: str) -> bytes:
    try:
        return z.read(name)
    except KeyError:
        raise Unreadable(f"the bundle has no {name}") from None


def _json(z: zipfile.ZipFile, name: str) -> Any:
    try:
        return _decode(_member(z, name))
    except msgspec.DecodeError as e:
        raise Unreadable(f"{name} is not JSON: {e}") from None


def _events(z: zipfile.ZipFile) -> list[dict[str, Any]]:
    try:
        return [_decode(line) for line in _member(z, EVENTS).splitlines() if line.strip()]
    except msgspec.DecodeError as e:
        raise Unreadable(f"{EVENTS} is not JSON Lines: {e}") from None


def leaf_of(item: dict[str, Any]) -> bytes:
    """Recomputes an event's leaf hash from its item (without hash, leaf_index, redacted)."""
    bare = {k: v for k, v in item.items() if k not in ("hash", "leaf_index", "redacted")}
    return merkle.leaf_hash(canonical(bare))


def open_bundle(data: bytes) -> zipfile.ZipFile:
    """Opens the ZIP, or raises Unreadable."""
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as e:
        raise Unreadable(f"not a ZIP file: {e}") from None


def bundled_certificate(data: bytes) -> x509.Certificate:
    """Returns the router certificate the bundle carries."""
    try:
        return x509.load_pem_x509_certificate(_member(open_bundle(data), ROUTER_CERT))
    except ValueError as e:
        raise Unreadable(f"{ROUTER_CERT} is not a PEM certificate: {e}") from None


def verify(data: bytes, certificate: x509.Certificate) -> Summary:
    """Checks every piece of a bundle against the router certificate; raises Failed naming the
    first piece that does not hold, or Unreadable."""
    with open_bundle(data) as z:
        try:
            manifest = _json(z, MANIFEST)
            events = _events(z)
            checkpoint = _json(z, CHECKPOINT)
            size, root = int(checkpoint["size"]), bytes.fromhex(checkpoint["root"])
            _check_checkpoint(checkpoint, certificate)
            attachments = _check_attachments(z, events)
            _check_events(events, size)
            _check_proofs(_json(z, PROOFS), events, size, root)
            receipts = _json(z, RECEIPTS)
            _check_receipts(receipts, events, manifest["document_id"], certificate)
        except (KeyError, TypeError, ValueError) as e:
            raise Unreadable(f"a member lacks a field or has a wrong one: {e!r}") from None
    return Summary(
        document_id=manifest["document_id"],
        events=len(events),
        redacted=sum(1 for e in events if e.get("redacted")),
        receipts=len(receipts),
        attachments=attachments,
        checkpoint_size=size,
        root=checkpoint["root"],
    )


def _check_checkpoint(checkpoint: dict[str, Any], certificate: x509.Certificate) -> None:
    try:
        payload = verify_jws(checkpoint["jws"], certificate)
    except BadSignature as e:
        raise Failed(f"{CHECKPOINT}: the checkpoint's JWS does not verify: {e}") from None
    for key in ("size", "root", "recorded_at"):
        if payload.get(key) != checkpoint[key]:
            raise Failed(f"{CHECKPOINT}: {key} {checkpoint[key]!r} is not the signed one")


def _check_attachments(z: zipfile.ZipFile, events: list[dict[str, Any]]) -> int:
    """Checks each attachment's bytes against attachments.json and the DocumentSent event."""
    listed = _json(z, ATTACHMENTS)
    sent = next((e for e in events if e["type"] == "DocumentSent"), None)
    recorded = [a["sha256"] for a in sent["data"].get("attachments", [])] if sent else None
    if recorded is not None and [a["sha256"] for a in listed] != recorded:
        raise Failed(f"{ATTACHMENTS}: the digests differ from the DocumentSent event's")
    for a in listed:
        body = _member(z, a["file"])
        digest = hashlib.sha256(body).hexdigest()
        if digest != a["sha256"] or len(body) != a["size"]:
            raise Failed(
                f"{a['file']}: sha256 {digest} ({len(body)} bytes) is not the recorded one"
            )
    return len(listed)


def _check_events(events: list[dict[str, Any]], size: int) -> None:
    for n, event in enumerate(events, 1):
        where = f"{EVENTS} line {n} (position {event['position']})"
        if event["leaf_index"] >= size:
            raise Failed(f"{where}: leaf {event['leaf_index']} is beyond the checkpoint's size")
        if event.get("redacted"):
            continue  # trimmed to the caller's part: its leaf cannot be recomputed, only proved
        if leaf_of(event).hex() != event["hash"]:
            raise Failed(f"{where}: the leaf hash recomputed from the item is not its hash")


def _check_proofs(
    proofs: list[dict[str, Any]], events: list[dict[str, Any]], size: int, root: bytes
) -> None:
    by_position = {p["position"]: p for p in proofs}
    for event in events:
        proof = by_position.get(event["position"])
        where = f"{PROOFS}: the proof of position {event['position']}"
        if proof is None:
            raise Failed(f"{where} is missing")
        path = [bytes.fromhex(h) for h in proof["audit_path"]]
        leaf = bytes.fromhex(event["hash"])
        if proof["tree_size"] != size or proof["leaf_index"] != event["leaf_index"]:
            raise Failed(f"{where} is for another leaf or tree size")
        if not merkle.verify_inclusion(event["leaf_index"], size, leaf, path, root):
            raise Failed(f"{where} does not lead to the checkpoint's root")


def _check_receipts(
    receipts: list[dict[str, Any]],
    events: list[dict[str, Any]],
    document_id: str,
    certificate: x509.Certificate,
) -> None:
    by_position = {e["position"]: e for e in events}
    for n, receipt in enumerate(receipts):
        where = f"{RECEIPTS} item {n} (position {receipt['event_position']})"
        try:
            payload = verify_jws(receipt["jws"], certificate)
        except BadSignature as e:
            raise Failed(f"{where}: the JWS does not verify: {e}") from None
        if payload["event_position"] != receipt["event_position"]:
            raise Failed(f"{where}: the listed event_position is not the signed one")
        event = by_position.get(payload["event_position"])
        if event is None or payload["document_id"] != document_id:
            raise Failed(f"{where}: the receipt is for an event the bundle does not hold")
        if payload["event_hash"] != event["hash"]:
            raise Failed(f"{where}: event_hash differs from the event's hash")
