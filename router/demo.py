"""A small demo province for `make run`: registers it once, then rotates its tokens each start."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from adapters.eventlog import rfc3339
from adapters.pki import CertificateAuthority, key_pem, pem
from adapters.signing import sign_document
from adapters.trust import CertificateFacts
from domain.codes import Tier
from domain.commands import RegisterAgency, RegisterCertificate, RotateToken
from domain.errors import Conflict
from router.auth import new_token
from router.services import SERVICES, Services

PKI_DIR = "demo-pki"

PROVINCE = [
    ("000.00.00.H41", "Ủy ban nhân dân tỉnh Nghệ An", Tier.PROVINCE, None, False),
    ("000.00.11.H41", "Sở Nội vụ tỉnh Nghệ An", Tier.PROVINCE, "000.00.00.H41", False),
    ("000.00.12.H41", "Sở Tài chính tỉnh Nghệ An", Tier.PROVINCE, "000.00.00.H41", False),
    ("000.01.00.H41", "Ủy ban nhân dân huyện Nghi Lộc", Tier.DISTRICT, "000.00.00.H41", False),
    ("000.01.01.H41", "Ủy ban nhân dân xã Nghi Phong", Tier.COMMUNE, "000.01.00.H41", False),
    ("000.01.02.H41", "Ủy ban nhân dân xã Nghi Thái", Tier.COMMUNE, "000.01.00.H41", False),
    ("000.00.00.G09", "Bộ Nội vụ", Tier.CENTRAL, None, True),
]


async def seed(app: web.Application, base_url: str) -> None:
    """Registers the demo agencies (or rotates their tokens) and prints how to use them."""
    writer = app[SERVICES].writer
    tokens: dict[str, str] = {}
    for code, name, tier, parent, remote in PROVINCE:
        token, digest = new_token()
        try:
            await writer.execute(RegisterAgency(code, name, tier, parent, remote, digest))
        except Conflict:
            if remote:
                continue
            await writer.execute(RotateToken(code, digest))
        if not remote:
            tokens[code] = token
    app[SERVICES].auth.forget()
    signing = await _register_certificates(app[SERVICES])
    lines = ["", "lienthong demo province (tokens are new at every start):"]
    if app[SERVICES].config.operator_token:
        lines.append(f"  operator       {app[SERVICES].config.operator_token}")
    lines += [f"  {code}  {token}" for code, token in tokens.items()]
    body = {
        "external_id": "DEMO-1",
        "to": ["000.01.01.H41"],
        "code_number": "1",
        "code_notation": "UBND-VX",
        "document_type": "cong-van",
        "subject": "Về việc đẩy mạnh dịch vụ công trực tuyến",
        "promulgated_on": "2026-11-24",
        "place": "Nghệ An",
        "priority": "normal",
    }
    curl = (
        f"curl -s -X POST {base_url}/v1/documents "
        f"-H 'Authorization: Bearer {tokens['000.00.00.H41']}' "
        "-H 'Content-Type: application/json' -d "
    )
    lines += [
        "",
        "Send a document from the province to a commune:",
        "  " + curl + shlex.quote(json.dumps(body, ensure_ascii=False)),
    ]
    if signing is not None:
        key_path, cert_path = signing
        key = load_pem_private_key(key_path.read_bytes(), None)
        signed = sign_document(body | {"external_id": "DEMO-SIGNED-1"}, key, cert_path.read_text())
        lines += [
            "",
            f"The same, signed (ES256) with the province's demo key {key_path}:",
            "  " + curl + shlex.quote(json.dumps(signed, ensure_ascii=False)),
            "  How to sign a body yourself, with Python or with openssl: docs/signatures.md",
        ]
    print("\n".join([*lines, ""]), flush=True)


def demo_trust_store(data_dir: Path) -> Path:
    """Creates the demo CA in the data directory once and returns its PEM (the trust store)."""
    pki = data_dir / PKI_DIR
    ca_path = pki / "ca.pem"
    if not ca_path.exists():
        pki.mkdir(parents=True, exist_ok=True)
        ca = CertificateAuthority.create("lienthong demo CA")
        (pki / "ca.key.pem").write_bytes(key_pem(ca.key))
        (pki / "ca.key.pem").chmod(0o600)
        ca_path.write_text(pem(ca.certificate))
    return ca_path


async def _register_certificates(services: Services) -> tuple[Path, Path] | None:
    """Issues (once) and registers a signing certificate for every local demo agency; returns
    the province's key and certificate files, or None without a demo CA."""
    if services.config.data_dir is None:
        return None
    pki = services.config.data_dir / PKI_DIR
    if services.config.trust_store != pki / "ca.pem":
        return None
    ca = CertificateAuthority(
        x509.load_pem_x509_certificate((pki / "ca.pem").read_bytes()),
        load_pem_private_key((pki / "ca.key.pem").read_bytes(), None),  # type: ignore[arg-type]
    )
    for code, name, _, _, remote in PROVINCE:
        if remote:
            continue
        cert_path, key_path = pki / f"{code}.pem", pki / f"{code}.key.pem"
        if not cert_path.exists():
            certificate, key = ca.issue(name)
            key_path.write_bytes(key_pem(key))
            key_path.chmod(0o600)
            cert_path.write_text(pem(certificate))
        facts = CertificateFacts.of(x509.load_pem_x509_certificate(cert_path.read_bytes()))
        await services.writer.execute(_registration(code, facts))
    return pki / "000.00.00.H41.key.pem", pki / "000.00.00.H41.pem"


def _registration(code: str, facts: CertificateFacts) -> RegisterCertificate:
    return RegisterCertificate(
        code,
        facts.fingerprint,
        facts.subject,
        rfc3339(facts.not_before),
        rfc3339(facts.not_after),
        facts.pem,
    )
