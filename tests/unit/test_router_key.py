"""The router's JWS: a third party verifies it with joserfc and the certificate PEM alone."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from joserfc import jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import ECKey, OKPKey

from adapters.routerkey import (
    BadSignature,
    RouterKey,
    b64url,
    generate,
    in_directory,
    verify_jws,
)

RECEIPT = {
    "document_id": "0b6f1c3e-2d6a-4f55-9a57-0d1f2c9b7e11",
    "kind": "sent",
    "agency": "000.00.00.H41",
    "status": None,
    "event_position": 42,
    "event_hash": "ab" * 32,
    "recorded_at": "2026-11-24T08:00:00.000000Z",
}
# RFC 9864 deprecates "EdDSA" for "Ed25519"; the issue names EdDSA, which more libraries know.
EDDSA_WARNING = "ignore:EdDSA is deprecated"


def _es256_key() -> RouterKey:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "router (P-256)")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return RouterKey(key, certificate)


def _tampered(token: str) -> str:
    header, _, signature = token.split(".")
    return ".".join([header, b64url(b'{"kind":"revoked"}'), signature])


@pytest.mark.filterwarnings(EDDSA_WARNING)
def test_an_eddsa_receipt_verifies_with_joserfc_and_the_pem_alone() -> None:
    key_pem, cert_pem = generate("ed25519")
    token = RouterKey.from_pem(key_pem, cert_pem).sign(RECEIPT)
    verified = jws.deserialize_compact(token, OKPKey.import_key(cert_pem), algorithms=["EdDSA"])
    assert verified.headers()["alg"] == "EdDSA"
    assert verified.payload is not None
    with pytest.raises(BadSignatureError):
        jws.deserialize_compact(_tampered(token), OKPKey.import_key(cert_pem), algorithms=["EdDSA"])


def test_an_es256_receipt_verifies_with_joserfc_and_the_pem_alone() -> None:
    router = _es256_key()
    token = router.sign(RECEIPT)
    pem = router.certificate_pem
    verified = jws.deserialize_compact(token, ECKey.import_key(pem), algorithms=["ES256"])
    assert verified.headers() == {"alg": "ES256", "kid": router.kid, "x5t#S256": router.kid}
    with pytest.raises(BadSignatureError):
        jws.deserialize_compact(_tampered(token), ECKey.import_key(pem), algorithms=["ES256"])


def test_the_header_names_the_certificate_by_its_sha256() -> None:
    router = RouterKey.from_pem(*generate())
    der = router.certificate.public_bytes(serialization.Encoding.DER)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    assert router.kid == b64url(digest.finalize())


def test_eddsa_signatures_are_deterministic_and_verify_here_too() -> None:
    router = RouterKey.from_pem(*generate("ed25519"))
    token = router.sign(RECEIPT)
    assert router.sign(dict(reversed(RECEIPT.items()))) == token
    assert verify_jws(token, router.certificate) == RECEIPT
    with pytest.raises(BadSignature):
        verify_jws(_tampered(token), router.certificate)
    other = RouterKey.from_pem(*generate("ed25519"))
    with pytest.raises(BadSignature):
        verify_jws(token, other.certificate)


def test_a_data_directory_keeps_one_key_readable_by_its_owner_only(tmp_path: Path) -> None:
    first = in_directory(tmp_path)
    assert (tmp_path / "router-key.pem").stat().st_mode & 0o777 == 0o600
    assert in_directory(tmp_path).kid == first.kid


def test_a_key_that_does_not_match_the_certificate_is_refused() -> None:
    key_pem, _ = generate()
    _, cert_pem = generate()
    with pytest.raises(ValueError, match="does not match"):
        RouterKey.from_pem(key_pem, cert_pem)
