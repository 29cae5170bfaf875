"""A small certificate authority for the demo, the tests and the benchmarks (never production)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
_NO_USAGE = dict.fromkeys(
    (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    ),
    False,
)


def new_key(kind: str = "ec") -> PrivateKey:
    """Returns a new P-256 key ("ec") or a 2048-bit RSA key ("rsa")."""
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def name(common_name: str, organization: str = "lienthong demo") -> x509.Name:
    """Returns a subject name with a common name and an organisation."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def pem(certificate: x509.Certificate) -> str:
    """Returns a certificate as PEM text."""
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key: PrivateKey) -> bytes:
    """Returns a private key as unencrypted PKCS#8 PEM (what `openssl dgst -sign` reads)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA certificate and its key, issuing intermediate CAs and signing certificates."""

    certificate: x509.Certificate
    key: PrivateKey

    @classmethod
    def create(cls, common_name: str, days: int = 3650) -> CertificateAuthority:
        """Creates a self-signed root CA valid from yesterday for `days` days."""
        key = new_key()
        subject = name(common_name)
        now = datetime.now(UTC)
        builder = _ca_extensions(
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=days))
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
        )
        return cls(builder.sign(key, hashes.SHA256()), key)

    def intermediate(self, common_name: str, days: int = 1825) -> CertificateAuthority:
        """Issues a subordinate CA."""
        key = new_key()
        now = datetime.now(UTC)
        builder = _ca_extensions(
            self._builder(
                name(common_name), key, now - timedelta(days=1), now + timedelta(days=days)
            )
        )
        return CertificateAuthority(builder.sign(self.key, hashes.SHA256()), key)

    def issue(
        self,
        common_name: str,
        key: PrivateKey | None = None,
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        digital_signature: bool = True,
        non_repudiation: bool = True,
    ) -> tuple[x509.Certificate, PrivateKey]:
        """Issues an end-entity signing certificate (valid for a year from yesterday unless
        told otherwise) and returns it with its key."""
        key = key or new_key()
        now = datetime.now(UTC)
        usage = _NO_USAGE | {
            "digital_signature": digital_signature,
            "content_commitment": non_repudiation,
            # Some usage must be present for the extension to be valid at all.
            "key_encipherment": not (digital_signature or non_repudiation),
        }
        builder = (
            self._builder(
                name(common_name),
                key,
                not_before or now - timedelta(days=1),
                not_after or now + timedelta(days=365),
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(**usage), critical=True)
        )
        return builder.sign(self.key, hashes.SHA256()), key

    def _builder(
        self, subject: x509.Name, key: PrivateKey, not_before: datetime, not_after: datetime
    ) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
        )


def _ca_extensions(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    return builder.add_extension(
        x509.BasicConstraints(ca=True, path_length=None), critical=True
    ).add_extension(
        x509.KeyUsage(**(_NO_USAGE | {"key_cert_sign": True, "crl_sign": True})), critical=True
    )
