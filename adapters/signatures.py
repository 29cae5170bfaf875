"""Verification of agency signatures on entry, over the certificates view and the trust store."""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from datetime import UTC, datetime

from cryptography import x509

from adapters.eventlog import rfc3339
from adapters.signing import verify
from adapters.trust import TrustStore, load_chain, subject
from adapters.views import Views
from domain.errors import Invalid

# How long a certificate's chain verdict is reused; validity dates are checked on every send.
CHAIN_CACHE_SECONDS = 60.0
_FIELD = "signature"


class SignatureVerifier:
    """Checks a document signature: a certificate registered to the sender, valid now and
    chaining to the trust store, whose key signed the document's signed bytes."""

    def __init__(self, trust: TrustStore, views: Views) -> None:
        self.trust = trust
        self.views = views
        # A fingerprint names one certificate forever, and a certificate one agency: both are
        # kept once read. Retirement is not cached: the exchange checks it when it records.
        self._certificates: dict[str, tuple[str, list[x509.Certificate]]] = {}
        self._chains: dict[str, tuple[float, str | None]] = {}

    def verify(
        self, sender: str, fingerprint: str, alg: str, value: str, signed: bytes
    ) -> dict[str, str]:
        """Returns the verification record of the DocumentSent event, or raises Invalid."""
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise Invalid.field(f"{_FIELD}.value", "not valid base64") from None
        found = self._certificate(fingerprint)
        if found is None:
            raise Invalid.field(f"{_FIELD}.certificate", f"unknown certificate {fingerprint}")
        owner, chain = found
        if owner != sender:
            raise Invalid.field(
                f"{_FIELD}.certificate",
                f"certificate {fingerprint} is not registered to agency {sender}",
            )
        now = datetime.now(UTC)
        reason = self._chain_problem(fingerprint, chain, now)
        if reason is not None:
            raise Invalid.field(f"{_FIELD}.certificate", f"certificate {fingerprint} {reason}")
        problem = verify(chain[0], alg, raw, signed)
        if problem is not None:
            raise Invalid.field(f"{_FIELD}.value", problem)
        return {
            "signer": subject(chain[0]),
            "certificate": fingerprint,
            "alg": alg,
            "value": value,
            "signed_sha256": hashlib.sha256(signed).hexdigest(),
            "verified_at": rfc3339(now),
        }

    def _certificate(self, fingerprint: str) -> tuple[str, list[x509.Certificate]] | None:
        found = self._certificates.get(fingerprint)
        if found is None:
            row = self.views.certificate(fingerprint)
            if row is None:
                return None
            found = self._certificates[fingerprint] = (row["agency"], load_chain(row["pem"]))
        return found

    def _chain_problem(
        self, fingerprint: str, chain: list[x509.Certificate], now: datetime
    ) -> str | None:
        leaf = chain[0]
        if now < leaf.not_valid_before_utc:
            return f"is not valid before {rfc3339(leaf.not_valid_before_utc)}"
        if now > leaf.not_valid_after_utc:
            return f"expired on {rfc3339(leaf.not_valid_after_utc)}"
        checked = self._chains.get(fingerprint)
        if checked is None or time.monotonic() - checked[0] > CHAIN_CACHE_SECONDS:
            checked = self._chains[fingerprint] = (
                time.monotonic(),
                self.trust.validate(leaf, chain[1:], now),
            )
        return checked[1]
