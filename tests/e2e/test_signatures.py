"""A document signed with the openssl recipe of docs/signatures.md, sent to the real server."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from pathlib import Path

import aiohttp
import pytest

from adapters.pki import key_pem, new_key, pem
from adapters.trust import fingerprint
from tests.support.api import COMMUNE, PROVINCE, Api, attachment, document
from tests.support.pki import session_ca, write_trust_store

from .conftest import Servers

DOCS = Path(__file__).parents[2] / "docs" / "signatures.md"


def openssl_recipe() -> str:
    """Returns the shell block of the section 'With openssl', exactly as the docs show it."""
    section = DOCS.read_text().split("## With openssl", 1)[1]
    found = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize(("alg", "kind"), [("ES256", "ec"), ("PS256", "rsa"), ("RS256", "rsa")])
async def test_a_document_signed_with_openssl_is_verified_and_recorded(
    store: list[str],
    servers: Servers,
    session: aiohttp.ClientSession,
    tmp_path: Path,
    alg: str,
    kind: str,
) -> None:
    trust = write_trust_store(tmp_path)
    server = await servers.start([*store, "--trust-store", str(trust)])
    api = Api(session, server.base_url)
    await api.province()
    certificate, key = session_ca().issue("Văn phòng UBND tỉnh Nghệ An", new_key(kind))
    (tmp_path / "key.pem").write_bytes(key_pem(key))
    (tmp_path / "cert.pem").write_text(pem(certificate))
    status, body = await api.register_certificate(PROVINCE, pem(certificate))
    assert status == 201, body
    sent = document([COMMUNE], attachments=[attachment("cv.pdf", b"%PDF-1.7 t\xe1\xbb\x9d")])
    (tmp_path / "body.json").write_text(json.dumps(sent, ensure_ascii=False), encoding="utf-8")

    done = await asyncio.to_thread(
        subprocess.run,
        ["bash", "-euo", "pipefail", "-c", openssl_recipe()],
        cwd=tmp_path,
        env={
            "PATH": os.environ["PATH"],
            "BODY": "body.json",
            "KEY": "key.pem",
            "CERT": "cert.pem",
            "ALG": alg,
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    signed = json.loads((tmp_path / "signed.json").read_text(encoding="utf-8"))
    assert signed["signature"]["certificate"] == fingerprint(certificate)

    status, answer = await api.call("POST", "/v1/documents", api.tokens[PROVINCE], json=signed)
    assert status == 201, answer
    status, shown = await api.call("GET", f"/v1/documents/{answer['id']}", api.tokens[COMMUNE])
    assert status == 200
    assert shown["signature"]["alg"] == alg
    assert shown["signature"]["certificate"] == fingerprint(certificate)
    assert shown["signature"]["signer"].startswith("CN=Văn phòng UBND tỉnh Nghệ An")
    forged = signed | {"subject": signed["subject"] + " (sửa)"}
    status, refused = await api.call("POST", "/v1/documents", api.tokens[PROVINCE], json=forged)
    assert status == 422, refused
