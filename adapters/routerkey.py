"""The router's own signing key and certificate, and the JWS (RFC 7515) it signs receipts and
checkpoints with.

ECDSA P-256 by default (JOSE `ES256`, raw r‖s as JOSE requires): the same key signs edXML
packages with XML-DSig, which has no Ed25519 in signxml. An Ed25519 key given by the operator
signs as `EdDSA` (the same payload then always gives the same JWS; edXML then goes unsigned).
The header names the certificate: `kid` and `x5t#S256` are both the base64url SHA-256 of its
DER, so a third party needs only the PEM from `GET /v1/router/certificate` and any JOSE library.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import os
from pathlib import Path
from typing import Any

import msgspec
import sqlalchemy as sa
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.x509.oid import NameOID
from sqlalchemy.engine import Engine

from adapters.canonical import canonical
from adapters.eventstore import WriteLock

KEY_FILE, CERT_FILE = "router-key.pem", "router-cert.pem"
SigningKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey

identity = sa.Table(
    "evidence_router_identity",
    sa.MetaData(),
    sa.Column("name", sa.String(16), primary_key=True),
    sa.Column("key_pem", sa.Text, nullable=False),
    sa.Column("cert_pem", sa.Text, nullable=False),
)


class BadSignature(Exception):
    """A JWS that is malformed, names another certificate, or whose signature does not verify."""


def b64url(data: bytes) -> str:
    """Encodes bytes as unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise BadSignature("not base64url") from None


def thumbprint(certificate: x509.Certificate) -> str:
    """Returns the base64url SHA-256 of a certificate's DER (JOSE x5t#S256)."""
    return b64url(certificate.fingerprint(hashes.SHA256()))


class RouterKey:
    """Signs compact JWS with the router's key; names its certificate in every header."""

    def __init__(self, key: SigningKey, certificate: x509.Certificate) -> None:
        if key.public_key() != certificate.public_key():
            raise ValueError("the router key does not match the router certificate")
        if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name != "secp256r1":
            raise ValueError("an ECDSA router key must be on P-256 (ES256)")
        self.key = key
        self.certificate = certificate
        self.alg = "EdDSA" if isinstance(key, ed25519.Ed25519PrivateKey) else "ES256"
        self.kid = thumbprint(certificate)
        header = {"alg": self.alg, "kid": self.kid, "x5t#S256": self.kid}
        self._header = b64url(canonical(header))

    @property
    def certificate_pem(self) -> str:
        """Returns the certificate in PEM."""
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def sign(self, payload: dict[str, Any]) -> str:
        """Returns the compact JWS of a JSON payload (its RFC 8785 bytes)."""
        signing_input = f"{self._header}.{b64url(canonical(payload))}".encode()
        if isinstance(self.key, ed25519.Ed25519PrivateKey):
            signature = self.key.sign(signing_input)
        else:
            r, s = decode_dss_signature(self.key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{signing_input.decode()}.{b64url(signature)}"

    @classmethod
    def from_pem(cls, key_pem: bytes, cert_pem: bytes) -> RouterKey:
        """Loads a key and its certificate from PEM."""
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError("the router key must be Ed25519 or ECDSA P-256")
        return cls(key, x509.load_pem_x509_certificate(cert_pem))


def verify_jws(token: str, certificate: x509.Certificate) -> dict[str, Any]:
    """Checks a compact JWS against a certificate; returns its payload or raises BadSignature."""
    parts = token.split(".")
    if len(parts) != 3:
        raise BadSignature("a compact JWS has three parts")
    try:
        header = msgspec.json.decode(_unb64url(parts[0]))
        payload = msgspec.json.decode(_unb64url(parts[1]))
    except msgspec.DecodeError:
        raise BadSignature("the header or payload is not JSON") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise BadSignature("the header and payload must be JSON objects")
    if header.get("x5t#S256") != thumbprint(certificate):
        raise BadSignature("the JWS names another certificate")
    signing_input, signature = f"{parts[0]}.{parts[1]}".encode(), _unb64url(parts[2])
    public = certificate.public_key()
    try:
        if header.get("alg") == "EdDSA" and isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature, signing_input)
        elif header.get("alg") == "ES256" and isinstance(public, ec.EllipticCurvePublicKey):
            if len(signature) != 64:
                raise BadSignature("an ES256 signature is 64 bytes")
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            public.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
        else:
            raise BadSignature(f"alg {header.get('alg')!r} does not fit the certificate's key")
    except InvalidSignature:
        raise BadSignature("the signature does not verify") from None
    return payload


def generate(kind: str = "p256") -> tuple[bytes, bytes]:
    """Makes a new key, ECDSA P-256 (the default) or "ed25519", and a self-signed certificate
    for it (PEM, PEM)."""
    key: SigningKey = (
        ed25519.Ed25519PrivateKey.generate()
        if kind == "ed25519"
        else ec.generate_private_key(ec.SECP256R1())
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lienthong router")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, None if kind == "ed25519" else hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM)


def in_directory(data_dir: Path) -> RouterKey:
    """Loads the key kept in a data directory, creating it (mode 0600) on first use."""
    key_path, cert_path = data_dir / KEY_FILE, data_dir / CERT_FILE
    lock = WriteLock(data_dir / "router-key.lock")
    try:
        with lock:
            if not key_path.exists():
                key_pem, cert_pem = generate()
                fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(key_pem)
                cert_path.write_bytes(cert_pem)
    finally:
        lock.close()
    return RouterKey.from_pem(key_path.read_bytes(), cert_path.read_bytes())


def in_database(engine: Engine) -> RouterKey:
    """Loads the key kept in the database, creating it on first use (call under the schema
    lock, so that every router process on one database signs with the same key)."""
    identity.create(engine, checkfirst=True)
    with engine.begin() as c:
        row = c.execute(sa.select(identity).where(identity.c.name == "router")).first()
        if row is None:
            key_pem, cert_pem = generate()
            c.execute(
                identity.insert().values(
                    name="router", key_pem=key_pem.decode(), cert_pem=cert_pem.decode()
                )
            )
            return RouterKey.from_pem(key_pem, cert_pem)
    return RouterKey.from_pem(row.key_pem.encode(), row.cert_pem.encode())


def stored_certificate(engine: Engine | None, data_dir: Path | None) -> x509.Certificate | None:
    """Returns the certificate a store keeps (the directory's file, or the database row)."""
    if data_dir is not None:
        path = data_dir / CERT_FILE
        return x509.load_pem_x509_certificate(path.read_bytes()) if path.exists() else None
    assert engine is not None
    if not sa.inspect(engine).has_table(identity.name):
        return None
    with engine.connect() as c:
        pem = c.execute(sa.select(identity.c.cert_pem).where(identity.c.name == "router")).scalar()
    return x509.load_pem_x509_certificate(pem.encode()) if pem else None
