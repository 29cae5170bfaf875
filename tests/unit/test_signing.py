"""The signed-bytes rule, the three algorithms, forgeries, and PAdES outcomes of PDFs."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from adapters.pades import PadesValidator
from adapters.pki import CertificateAuthority, new_key, pem
from adapters.signing import sign, sign_document, signed_bytes, verify
from adapters.trust import TrustStore, fingerprint
from tests.support.pki import plain_pdf, session_ca, signed_pdf, tampered

PDF = b"%PDF-1.7 not really"


def body(**fields: Any) -> dict[str, Any]:
    """A document body as a client sends it."""
    return {
        "external_id": "VP-1",
        "to": ["000.01.01.H41"],
        "subject": "Về việc đẩy mạnh dịch vụ công trực tuyến",
        "attachments": [
            {"name": "cv.pdf", "content_type": "application/pdf", "content_base64": "JVBERg=="}
        ],
    } | fields


def test_signed_bytes_replace_each_attachment_by_its_digest() -> None:
    signed = json.loads(signed_bytes(body()))
    assert signed["attachments"] == [
        {
            "name": "cv.pdf",
            "content_type": "application/pdf",
            "sha256": hashlib.sha256(b"%PDF").hexdigest(),
        }
    ]


def test_signed_bytes_are_canonical_whatever_the_key_order() -> None:
    forward = body()
    backward = dict(reversed(list(forward.items())))
    assert signed_bytes(forward) == signed_bytes(backward)
    assert signed_bytes(forward).startswith(b'{"attachments":[{"content_type":')


def test_signed_bytes_keep_vietnamese_text_as_utf8() -> None:
    assert "dịch vụ công".encode() in signed_bytes(body())


def test_signed_bytes_leave_the_signature_out_and_keep_absent_fields_absent() -> None:
    unsigned = body()
    assert signed_bytes(unsigned | {"signature": {"value": "x"}}) == signed_bytes(unsigned)
    assert b"due_on" not in signed_bytes(unsigned)
    assert b'"due_on":null' in signed_bytes(unsigned | {"due_on": None})


def test_given_digests_stand_for_the_attachments_bytes() -> None:
    digest = hashlib.sha256(b"%PDF").hexdigest()
    assert signed_bytes(body(), [digest]) == signed_bytes(body())


@pytest.mark.parametrize(("alg", "kind"), [("ES256", "ec"), ("RS256", "rsa"), ("PS256", "rsa")])
def test_each_algorithm_verifies_and_each_forgery_fails(alg: str, kind: str) -> None:
    certificate, key = session_ca().issue("Sở Nội vụ", new_key(kind))
    data = signed_bytes(body())
    value = sign(data, key, alg)
    assert verify(certificate, alg, value, data) is None
    assert verify(certificate, alg, value, data.replace(b"VP-1", b"VP-2")) is not None
    assert verify(certificate, alg, value[:-1], data) is not None
    assert verify(certificate, alg, bytes([value[0] ^ 1]) + value[1:], data) is not None
    other, _ = session_ca().issue("Sở Tài chính", new_key(kind))
    assert verify(other, alg, value, data) is not None


def test_an_algorithm_that_does_not_fit_the_key_fails() -> None:
    certificate, key = session_ca().issue("Sở Nội vụ", new_key("rsa"))
    data = signed_bytes(body())
    assert "EC P-256" in (verify(certificate, "ES256", sign(data, key, "RS256"), data) or "")
    with pytest.raises(ValueError, match="RSA key"):
        sign(data, new_key("ec"), "PS256")


def test_pss_uses_a_32_byte_salt() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    certificate, key = session_ca().issue("Sở Nội vụ", new_key("rsa"))
    data = signed_bytes(body())
    other_salt = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=20)
    assert verify(certificate, "PS256", key.sign(data, other_salt, hashes.SHA256()), data)  # type: ignore[union-attr, call-arg]
    assert verify(certificate, "PS256", sign(data, key, "PS256"), data) is None


def test_sign_document_names_the_certificate_and_verifies() -> None:
    certificate, key = session_ca().issue("Sở Nội vụ")
    signed = sign_document(body(), key, pem(certificate))
    signature = signed["signature"]
    assert signature["certificate"] == fingerprint(certificate)
    assert signature["alg"] == "ES256"
    value = base64.b64decode(signature["value"], validate=True)
    assert verify(certificate, "ES256", value, signed_bytes(signed)) is None


@pytest.fixture(scope="module")
def pades() -> PadesValidator:
    """A PAdES validator trusting the test CA."""
    return PadesValidator(TrustStore([session_ca().certificate]))


def test_a_pdf_signed_under_the_trust_store_is_valid(pades: PadesValidator) -> None:
    certificate, key = session_ca().issue("Ngô Hùng")
    assert pades.validate(signed_pdf(certificate, key)) == {
        "pades": "valid",
        "signer": "CN=Ngô Hùng,O=lienthong demo,C=VN",
    }


def test_a_tampered_or_untrusted_signed_pdf_is_invalid(pades: PadesValidator) -> None:
    certificate, key = session_ca().issue("Ngô Hùng")
    assert pades.validate(tampered(signed_pdf(certificate, key)))["pades"] == "invalid"
    other = CertificateAuthority.create("Other CA")
    outsider, outsider_key = other.issue("Người lạ")
    assert pades.validate(signed_pdf(outsider, outsider_key, other))["pades"] == "invalid"


def test_an_unsigned_or_unreadable_pdf_never_raises(pades: PadesValidator) -> None:
    assert pades.validate(plain_pdf()) == {"pades": "unsigned", "signer": None}
    assert pades.validate(PDF) == {"pades": "invalid", "signer": None}
    assert pades.validate(b"") == {"pades": "invalid", "signer": None}
