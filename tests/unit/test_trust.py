"""The trust store validates signing certificates with cryptography's path validation."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from adapters.pki import CertificateAuthority, pem
from adapters.trust import NO_SIGNING_USAGE, TrustStore, fingerprint, load_certificate
from tests.support.pki import session_ca, write_trust_store

NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def store() -> TrustStore:
    """A trust store holding the test CA only."""
    return TrustStore([session_ca().certificate])


def test_a_certificate_issued_by_the_ca_is_valid(store: TrustStore) -> None:
    certificate, _ = session_ca().issue("Văn phòng UBND tỉnh")
    assert store.validate(certificate) is None


def test_a_certificate_through_an_intermediate_ca_is_valid_with_the_intermediate(
    store: TrustStore,
) -> None:
    intermediate = session_ca().intermediate("CA cấp 2")
    certificate, _ = intermediate.issue("Sở Nội vụ")
    assert store.validate(certificate, [intermediate.certificate]) is None
    reason = store.validate(certificate)
    assert reason is not None
    assert reason.startswith("does not chain to the trust store")


def test_a_certificate_of_another_ca_does_not_chain(store: TrustStore) -> None:
    certificate, _ = CertificateAuthority.create("Other CA").issue("Sở Tài chính")
    reason = store.validate(certificate)
    assert reason is not None
    assert reason.startswith("does not chain to the trust store")


def test_an_expired_certificate_is_refused(store: TrustStore) -> None:
    certificate, _ = session_ca().issue(
        "Hết hạn", not_before=NOW - timedelta(hours=12), not_after=NOW - timedelta(hours=1)
    )
    assert (store.validate(certificate) or "").startswith("expired on")
    assert store.validate(certificate, at=NOW - timedelta(hours=2)) is None


def test_a_certificate_not_yet_valid_is_refused(store: TrustStore) -> None:
    certificate, _ = session_ca().issue(
        "Chưa hiệu lực", not_before=NOW + timedelta(days=1), not_after=NOW + timedelta(days=30)
    )
    assert (store.validate(certificate) or "").startswith("is not valid before")


def test_a_certificate_without_a_signing_key_usage_is_refused(store: TrustStore) -> None:
    certificate, _ = session_ca().issue("Mã hóa", digital_signature=False, non_repudiation=False)
    assert store.validate(certificate) == NO_SIGNING_USAGE


@pytest.mark.parametrize(("digital_signature", "non_repudiation"), [(True, False), (False, True)])
def test_either_signing_key_usage_is_enough(
    store: TrustStore, digital_signature: bool, non_repudiation: bool
) -> None:
    certificate, _ = session_ca().issue(
        "Ký số", digital_signature=digital_signature, non_repudiation=non_repudiation
    )
    assert store.validate(certificate) is None


def test_a_ca_certificate_is_not_a_signing_certificate(store: TrustStore) -> None:
    intermediate = session_ca().intermediate("CA cấp 2")
    reason = store.validate(intermediate.certificate)
    assert reason is not None


def test_an_empty_trust_store_trusts_nothing() -> None:
    certificate, _ = session_ca().issue("Sở Nội vụ")
    assert "no trust store" in (TrustStore().validate(certificate) or "")


def test_a_trust_store_loads_from_a_pem_bundle(tmp_path: Path) -> None:
    other = CertificateAuthority.create("Other CA")
    store = TrustStore.load(write_trust_store(tmp_path, session_ca(), other))
    assert len(store.anchors) == 2
    assert store.validate(other.issue("Sở Y tế")[0]) is None


def test_the_fingerprint_is_the_sha256_of_the_der() -> None:
    certificate, _ = session_ca().issue("Sở Nội vụ")
    digest = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()
    assert fingerprint(load_certificate(pem(certificate))) == digest
