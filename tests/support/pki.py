"""Certificates, keys and signed PDFs for the signature tests (one demo CA per test session)."""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import PdfFileWriter
from pyhanko.sign import signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from adapters.pki import CertificateAuthority, PrivateKey, key_pem, new_key, pem


@functools.cache
def session_ca() -> CertificateAuthority:
    """The root CA the tests' trust stores hold."""
    return CertificateAuthority.create("lienthong test CA")


def write_trust_store(directory: Path, *authorities: CertificateAuthority) -> Path:
    """Writes a PEM bundle of CA certificates (the test CA by default) and returns its path."""
    path = directory / "trust.pem"
    path.write_text("".join(pem(ca.certificate) for ca in authorities or (session_ca(),)))
    return path


def _der(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def plain_pdf() -> bytes:
    """Returns a one-page PDF without signatures."""
    writer = PdfFileWriter()
    page = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Page"),
            generic.NameObject("/MediaBox"): generic.ArrayObject(
                [generic.NumberObject(n) for n in (0, 0, 595, 842)]
            ),
            generic.NameObject("/Resources"): generic.DictionaryObject(),
        }
    )
    writer.insert_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def signed_pdf(
    certificate: x509.Certificate, key: PrivateKey, ca: CertificateAuthority | None = None
) -> bytes:
    """Returns a one-page PDF with a PAdES signature by the key of the certificate."""
    signer = signers.SimpleSigner(
        signing_cert=_der(certificate),
        signing_key=asn1_keys.PrivateKeyInfo.load(
            key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        ),
        cert_registry=SimpleCertificateStore.from_certs([_der((ca or session_ca()).certificate)]),
    )
    out = signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(plain_pdf())),
        signers.PdfSignatureMetadata(field_name="Signature1"),
        signer=signer,
    )
    return bytes(out.getvalue())


def tampered(pdf: bytes) -> bytes:
    """Returns the PDF with one byte of its signed page changed."""
    at = pdf.index(b"/MediaBox [ 0 0 595 842 ]") + len("/MediaBox [ 0 0 ")
    return pdf[:at] + b"6" + pdf[at + 1 :]


@dataclass(frozen=True)
class Signer:
    """A signing key with its certificate, and the CA certificate that issued it (edXML)."""

    key: PrivateKey
    cert: x509.Certificate
    ca: x509.Certificate

    def pem(self) -> tuple[bytes, bytes]:
        """Returns the key (PKCS#8, unencrypted) and the certificate as PEM."""
        return key_pem(self.key), self.cert.public_bytes(serialization.Encoding.PEM)


def make_signer(
    kind: str = "ecdsa", common_name: str = "UBND tỉnh Nghệ An", ca_name: str = "Test Root CA"
) -> Signer:
    """Returns a signing key ("ecdsa" P-256 or "rsa" 2048) certified by a new CA of its own."""
    ca = CertificateAuthority.create(ca_name)
    cert, key = ca.issue(common_name, new_key("rsa" if kind == "rsa" else "ec"))
    return Signer(key, cert, ca.certificate)
