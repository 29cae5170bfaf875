"""Agency signing certificates (register, list, retire) and signature checks on sending."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web
from cryptography.hazmat.primitives.serialization import Encoding

from adapters.eventlog import rfc3339
from adapters.pades import is_pdf
from adapters.signing import signed_bytes
from adapters.trust import CertificateFacts, UnreadableCertificate, load_chain
from domain.commands import RegisterCertificate, RetireCertificate
from domain.errors import Forbidden, Invalid, NotFound
from router.auth import AGENCY, OPERATOR, PRINCIPAL
from router.http import json_response, read_json
from router.services import SERVICES, Services
from router.wire import CertificateIn, DocumentIn, decode

_SHOWN = ("fingerprint", "subject", "not_before", "not_after", "registered_at", "retired_at")


def _facts(pem: str, services: Services) -> tuple[CertificateFacts, list[Any]]:
    """Parses and validates a certificate (and the intermediates after it) against the trust
    store now; raises Invalid with the reason."""
    try:
        chain = load_chain(pem)
    except UnreadableCertificate as e:
        raise Invalid.field("pem", str(e)) from None
    reason = services.trust.validate(chain[0], chain[1:])
    if reason is not None:
        raise Invalid.field("pem", f"the certificate {reason}")
    return CertificateFacts.of(chain[0]), chain


async def register_certificate(request: web.Request) -> web.Response:
    """POST /v1/agencies/{code}/certificates: 201, or 200 when it is already the agency's."""
    request[PRINCIPAL].require(OPERATOR)
    services = request.app[SERVICES]
    body = decode(CertificateIn, await read_json(request))
    facts, chain = await services.call(_facts, body.pem, services)
    outcome = await services.writer.execute(
        RegisterCertificate(
            code=request.match_info["code"],
            fingerprint=facts.fingerprint,
            subject=facts.subject,
            not_before=rfc3339(facts.not_before),
            not_after=rfc3339(facts.not_after),
            # The leaf first, then the intermediates it was validated with.
            pem="".join(c.public_bytes(Encoding.PEM).decode() for c in chain),
        )
    )
    row = await services.call(services.views.certificate, facts.fingerprint)
    return json_response(_present(row), 201 if outcome.recorded else 200)


def _present(row: dict[str, Any]) -> dict[str, Any]:
    return {key: row[key] for key in _SHOWN} | {"agency": row["agency"], "pem": row["pem"]}


async def list_certificates(request: web.Request) -> web.Response:
    """GET /v1/agencies/{code}/certificates: operator, auditors and the agency itself."""
    principal = request[PRINCIPAL]
    code = request.match_info["code"]
    if principal.kind == AGENCY and principal.subject != code:
        raise Forbidden("an agency sees only its own certificates")
    services = request.app[SERVICES]
    if await services.call(services.views.agency, code) is None:
        raise NotFound("agency not found")
    rows = await services.call(services.views.certificates, code)
    return json_response({"items": [_present(r) for r in rows], "next_cursor": None})


async def retire_certificate(request: web.Request) -> web.Response:
    """DELETE /v1/agencies/{code}/certificates/{fingerprint}: a new event; history keeps it."""
    request[PRINCIPAL].require(OPERATOR)
    services = request.app[SERVICES]
    code, fingerprint = request.match_info["code"], request.match_info["fingerprint"]
    await services.writer.execute(RetireCertificate(code, fingerprint))
    row = await services.call(services.views.certificate, fingerprint)
    return json_response(_present(row))


def verify_document(
    services: Services, sender: str, raw: bytes, body: DocumentIn, digests: list[str]
) -> dict[str, str] | None:
    """Verifies a document's signature over its signed bytes (blocking: run it off the loop);
    returns the verification record, None for an unsigned document, or raises Invalid."""
    if body.signature is None:
        return None
    # The bytes as sent, not the decoded Struct: fields left out stay out of the signed bytes.
    signed = signed_bytes(msgspec.json.decode(raw), digests)
    sig = body.signature
    return services.signatures.verify(sender, sig.certificate, sig.alg, sig.value, signed)


def pades_outcomes(
    services: Services, body: DocumentIn, blobs: list[bytes]
) -> list[dict[str, str | None] | None]:
    """Validates the PAdES signatures of the PDF attachments (blocking: run it off the loop)."""
    return [
        services.pades.validate(data) if is_pdf(a.content_type, data) else None
        for a, data in zip(body.attachments, blobs, strict=True)
    ]


ROUTES = [
    web.post("/v1/agencies/{code}/certificates", register_certificate),
    web.get("/v1/agencies/{code}/certificates", list_certificates),
    web.delete("/v1/agencies/{code}/certificates/{fingerprint}", retire_certificate),
]
