"""Agency document signatures: the signed-bytes rule, signing (a client library) and verifying.

Signed bytes are the RFC 8785 canonical JSON of the request body as sent, without `signature`,
each attachment replaced by `{"name", "content_type", "sha256"}` (lowercase hex of its decoded
bytes). ES256 is ECDSA P-256 SHA-256 (DER value), RS256 RSASSA-PKCS1-v1_5 SHA-256, PS256 RSASSA-PSS
SHA-256 with MGF1 SHA-256 and a 32-byte salt; `value` is padded standard base64.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from adapters.canonical import canonical
from adapters.trust import fingerprint, load_certificate

ALGORITHMS = ("ES256", "RS256", "PS256")
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def signed_bytes(body: Mapping[str, Any], digests: Sequence[str] | None = None) -> bytes:
    """Returns the bytes a document's signature covers; attachment digests are computed from
    `content_base64` unless given (in the order of the attachments)."""
    content = {key: value for key, value in body.items() if key != "signature"}
    attachments = content.get("attachments")
    if isinstance(attachments, list):
        if digests is None:
            digests = [
                hashlib.sha256(base64.b64decode(a["content_base64"])).hexdigest()
                for a in attachments
            ]
        content["attachments"] = [
            {"name": a["name"], "content_type": a["content_type"], "sha256": digest}
            for a, digest in zip(attachments, digests, strict=True)
        ]
    return canonical(content)


def sign(data: bytes, private_key: Any, alg: str) -> bytes:
    """Signs bytes with an EC P-256 key (ES256) or an RSA key (RS256, PS256)."""
    if alg == "ES256":
        if not isinstance(private_key, ec.EllipticCurvePrivateKey):
            raise ValueError("ES256 needs an EC P-256 key")
        return private_key.sign(data, ec.ECDSA(hashes.SHA256()))
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise ValueError(f"{alg} needs an RSA key")
    if alg == "RS256":
        return private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if alg == "PS256":
        return private_key.sign(data, _PSS, hashes.SHA256())
    raise ValueError(f"unknown alg {alg!r}; use one of {', '.join(ALGORITHMS)}")


def sign_document(
    body: Mapping[str, Any], private_key: Any, certificate_pem: str | bytes, alg: str = "ES256"
) -> dict[str, Any]:
    """Returns the document body with its `signature` by the key of the certificate."""
    value = sign(signed_bytes(body), private_key, alg)
    return {key: v for key, v in body.items() if key != "signature"} | {
        "signature": {
            "certificate": fingerprint(load_certificate(certificate_pem)),
            "alg": alg,
            "value": base64.b64encode(value).decode(),
        }
    }


def verify(certificate: x509.Certificate, alg: str, value: bytes, data: bytes) -> str | None:
    """Returns why the signature of data is not the certificate key's, or None if it is."""
    key = certificate.public_key()
    try:
        if alg == "ES256":
            if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
                return "ES256 needs a certificate with an EC P-256 key"
            key.verify(value, data, ec.ECDSA(hashes.SHA256()))
        elif alg in ("RS256", "PS256"):
            if not isinstance(key, rsa.RSAPublicKey):
                return f"{alg} needs a certificate with an RSA key"
            pad = padding.PKCS1v15() if alg == "RS256" else _PSS
            key.verify(value, data, pad, hashes.SHA256())
        else:
            return f"unknown alg {alg!r}"
    except InvalidSignature:
        return "the signature does not match the document and the certificate's key"
    return None


def main(argv: list[str] | None = None) -> None:
    """Signs JSON bodies, one a line on standard input, onto standard output (batch signing:
    `python -m adapters.signing --key KEY --cert CERT [--alg ES256] < bodies > signed`)."""
    import argparse
    import json
    import sys

    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    parser = argparse.ArgumentParser(prog="python -m adapters.signing", description=main.__doc__)
    parser.add_argument("--key", required=True, help="PEM private key")
    parser.add_argument("--cert", required=True, help="PEM certificate of that key")
    parser.add_argument("--alg", choices=ALGORITHMS, default="ES256")
    args = parser.parse_args(argv)
    with open(args.key, "rb") as k, open(args.cert, encoding="utf-8") as c:
        key, certificate = load_pem_private_key(k.read(), None), c.read()
    for line in sys.stdin:
        if line.strip():
            signed = sign_document(json.loads(line), key, certificate, args.alg)
            print(json.dumps(signed, ensure_ascii=False))


if __name__ == "__main__":
    main()
