"""A party downloads the evidence bundle of a signed document from the real server and checks it
offline with `lienthong audit verify-bundle` and the served certificate."""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path

import aiohttp

from adapters.pki import new_key, pem
from adapters.signing import sign_document
from adapters.trust import fingerprint
from tests.support.api import COMMUNE, PROVINCE, Api, attachment, auth, document
from tests.support.pki import session_ca, write_trust_store

from .conftest import Servers
from .helpers import lienthong


async def _verify_bundle(*args: str) -> tuple[int, str]:
    code, out, err = await lienthong("audit", "verify-bundle", *args)
    return code, out + err


async def test_a_downloaded_bundle_verifies_offline_with_the_served_certificate(
    store: list[str], servers: Servers, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    trust = write_trust_store(tmp_path)
    server = await servers.start([*store, "--trust-store", str(trust)])
    api = Api(session, server.base_url)
    await api.province()
    certificate, key = session_ca().issue("Văn phòng UBND tỉnh Nghệ An", new_key("ec"))
    status, body = await api.register_certificate(PROVINCE, pem(certificate))
    assert status == 201, body
    unsigned = document([COMMUNE], attachments=[attachment("cv.pdf", b"%PDF-1.7 t\xe1\xbb\x9d")])
    signed = sign_document(unsigned, key, pem(certificate))
    status, sent = await api.call("POST", "/v1/documents", api.tokens[PROVINCE], json=signed)
    assert status == 201, sent
    status, report = await api.report(COMMUNE, sent["id"], "03")
    assert status == 201, report

    async with session.get(f"{server.base_url}/v1/router/certificate") as r:
        (tmp_path / "router.pem").write_bytes(await r.read())
    url = f"{server.base_url}/v1/documents/{sent['id']}/evidence"
    async with session.get(url, headers=auth(api.tokens[PROVINCE])) as r:
        assert r.status == 200, await r.text()
        assert r.content_type == "application/zip"
        data = await r.read()
    (tmp_path / "bundle.zip").write_bytes(data)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        held = z.read(f"agency-certificates/{fingerprint(certificate)}.pem").decode()
        assert held.startswith(pem(certificate))
        assert "lienthong audit verify-bundle" in z.read("README.txt").decode()

    await asyncio.to_thread(server.stop)  # offline: no router to ask from here on
    code, output = await _verify_bundle(
        str(tmp_path / "bundle.zip"), "--router-cert", str(tmp_path / "router.pem")
    )
    assert code == 0, output
    assert "verify-bundle: OK" in output
    assert "2 events" in output
    assert "2 receipts, 1 attachments" in output

    other = tmp_path / "other.pem"
    other.write_text(pem(session_ca().issue("Không phải router", new_key("ec"))[0]))
    code, output = await _verify_bundle(str(tmp_path / "bundle.zip"), "--router-cert", str(other))
    assert code == 1, output
    assert "checkpoint.json" in output
