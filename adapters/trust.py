"""The trust store: CA certificates that agency signing certificates must chain to.

Path validation is `cryptography`'s (`cryptography.x509.verification`): chain building, CA
constraints and validity at a given time are its own. The end-entity policy here only adds what a
document signature needs: the key usage digitalSignature or nonRepudiation, and not a CA.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

NO_SIGNING_USAGE = "lacks the digitalSignature and nonRepudiation key usages"


class UnreadableCertificate(ValueError):
    """The text is not one PEM X.509 certificate."""


def load_chain(pem: str | bytes) -> list[x509.Certificate]:
    """Parses PEM text holding a certificate, then optionally the intermediate CAs it chains
    through; raises UnreadableCertificate for anything else."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as e:
        raise UnreadableCertificate(f"not a PEM X.509 certificate ({e})") from None


def load_certificate(pem: str | bytes) -> x509.Certificate:
    """Parses PEM text and returns its first certificate."""
    return load_chain(pem)[0]


def fingerprint(certificate: x509.Certificate) -> str:
    """Returns the lowercase hex SHA-256 of the certificate's DER."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def subject(certificate: x509.Certificate) -> str:
    """Returns the certificate's subject as an RFC 4514 string."""
    return certificate.subject.rfc4514_string()


@dataclass(frozen=True)
class CertificateFacts:
    """What the exchange records of a signing certificate."""

    fingerprint: str
    subject: str
    not_before: datetime
    not_after: datetime
    pem: str

    @classmethod
    def of(cls, certificate: x509.Certificate) -> CertificateFacts:
        """Reads the facts of a certificate."""
        return cls(
            fingerprint=fingerprint(certificate),
            subject=subject(certificate),
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        )


def _signing_usage(_: Policy, __: x509.Certificate, usage: x509.KeyUsage) -> None:
    if not (usage.digital_signature or usage.content_commitment):
        raise ValueError(NO_SIGNING_USAGE)


def _not_a_ca(_: Policy, __: x509.Certificate, constraints: x509.BasicConstraints | None) -> None:
    if constraints is not None and constraints.ca:
        raise ValueError("is a CA certificate, not a signing certificate")


_CA_POLICY = ExtensionPolicy.webpki_defaults_ca()
_EE_POLICY = (
    ExtensionPolicy.permit_all()
    .require_present(x509.KeyUsage, Criticality.AGNOSTIC, _signing_usage)
    .may_be_present(x509.BasicConstraints, Criticality.AGNOSTIC, _not_a_ca)
)


class TrustStore:
    """CA certificates trusted a priori, and validation of signing certificates against them."""

    def __init__(self, anchors: Sequence[x509.Certificate] = ()) -> None:
        self.anchors = tuple(anchors)
        self._store = Store(list(self.anchors)) if self.anchors else None

    @classmethod
    def load(cls, pem_path: Path) -> TrustStore:
        """Reads a PEM bundle of CA certificates."""
        return cls(x509.load_pem_x509_certificates(pem_path.read_bytes()))

    def validate(
        self,
        certificate: x509.Certificate,
        intermediates: Sequence[x509.Certificate] = (),
        at: datetime | None = None,
    ) -> str | None:
        """Returns why the certificate may not sign documents at a time (now by default), or
        None: it must chain to the store, be valid then and carry a signing key usage."""
        when = at or datetime.now(UTC)
        if self._store is None:
            return "the router has no trust store (serve --trust-store FILE)"
        # cryptography checks these too; checking first gives the caller a plain answer.
        if when < certificate.not_valid_before_utc:
            return f"is not valid before {certificate.not_valid_before_utc.isoformat()}"
        if when > certificate.not_valid_after_utc:
            return f"expired on {certificate.not_valid_after_utc.isoformat()}"
        verifier = (
            PolicyBuilder()
            .store(self._store)
            .time(when)
            .extension_policies(
                ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=_EE_POLICY
            )
            .build_client_verifier()
        )
        try:
            verifier.verify(certificate, list(intermediates))
        except VerificationError as e:
            if NO_SIGNING_USAGE in str(e):
                return NO_SIGNING_USAGE
            if "missing required extension" in str(e) and "2.5.29.15" in str(e):
                return NO_SIGNING_USAGE
            return f"does not chain to the trust store ({e})"
        return None
