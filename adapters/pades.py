"""PAdES signatures embedded in PDF attachments, validated with pyHanko against the trust store.

The outcome is recorded, never used to refuse a document. Blocking (pyHanko runs its own event
loop): call it off the router's event loop.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko_certvalidator import ValidationContext

from adapters.trust import TrustStore, subject

log = logging.getLogger(__name__)
VALID, INVALID, UNSIGNED = "valid", "invalid", "unsigned"
# The same rule as for document signatures: either usage will do.
_USAGE = KeyUsageConstraints(
    key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False
)


def is_pdf(content_type: str, data: bytes) -> bool:
    """Tells whether an attachment is a PDF, by its declared type or its first bytes."""
    return content_type.lower() == "application/pdf" or data.startswith(b"%PDF-")


class PadesValidator:
    """Validates the embedded signatures of PDFs against one trust store."""

    def __init__(self, trust: TrustStore) -> None:
        self._roots = [
            asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
            for c in trust.anchors
        ]

    def validate(self, data: bytes) -> dict[str, Any]:
        """Returns `{"pades": valid|invalid|unsigned, "signer": subject or None}`: valid when
        every embedded signature is intact and trusted; a PDF pyHanko cannot read is invalid."""
        try:
            signatures = PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures
        except Exception as e:  # pyHanko raises many kinds on malformed files
            log.info("a PDF attachment could not be read: %s", e)
            return {"pades": INVALID, "signer": None}
        if not signatures:
            return {"pades": UNSIGNED, "signer": None}
        outcome, signer = VALID, None
        for signature in signatures:
            try:
                status = validate_pdf_signature(
                    signature,
                    ValidationContext(trust_roots=self._roots),
                    key_usage_settings=_USAGE,
                )
            except Exception as e:
                log.info("a PDF signature could not be validated: %s", e)
                outcome = INVALID
                continue
            if signer is None and status.signing_cert is not None:
                signer = _subject(status.signing_cert)
            if not status.bottom_line:
                outcome = INVALID
        return {"pades": outcome, "signer": signer}


def _subject(certificate: asn1_x509.Certificate) -> str:
    """Returns an asn1crypto certificate's subject as RFC 4514, like document signers'."""
    return subject(x509.load_der_x509_certificate(certificate.dump()))
