"""`lienthong edxml parse|export` as integrators run it, on documents sent through a real store."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from router.config import Config
from tests.support.api import COMMUNE, DISTRICT, REMOTE_MINISTRY, Api, attachment
from tests.support.pki import make_signer

FIXTURES = Path(__file__).parent.parent / "fixtures" / "edxml"


async def lienthong(*args: str) -> tuple[int, bytes, str]:
    """Runs the CLI in a child process; returns its exit code, stdout and stderr."""
    env = dict(os.environ)
    env.pop("LIENTHONG_DATABASE_URL", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "router.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out, err.decode()


def _store(config: Config) -> list[str]:
    if config.database_url:
        return ["--database", config.database_url]
    return ["--data", str(config.data_dir)]


async def parsed(path: Path, *extra: str) -> dict[str, Any]:
    """Parses an edXML file with the CLI; returns its JSON."""
    code, out, err = await lienthong("edxml", "parse", str(path), *extra)
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


async def test_parse_prints_a_vendor_package_in_the_api_shape() -> None:
    shown = await parsed(FIXTURES / "vendor-messy.xml")
    assert shown["kind"] == "document"
    assert shown["from"] == "000.00.00.G22"
    assert shown["priority"] == "flash"
    assert shown["edxml"]["document_id"] == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    assert shown["edxml"]["business_type"] == 2
    assert shown["signature"] == {
        "present": False,
        "verified": False,
        "reason": "the message is not signed",
        "signer_subject": None,
        "certificate_sha256": None,
    }


async def test_parse_prints_a_status_message() -> None:
    shown = await parsed(FIXTURES / "vendor-status.xml")
    assert {k: shown[k] for k in ("kind", "from", "status", "at")} == {
        "kind": "status",
        "from": "000.00.00.H41",
        "status": "03",
        "at": "2015-10-01T01:05:00.000000Z",
    }
    assert shown["by"] == {"name": "Trần Thị Hồng", "department": "Văn phòng UBND tỉnh"}


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not xml at all",
        b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><edXML>&e;</edXML>',
        b"<edXML>" + b"<a>" * 200 + b"</a>" * 200 + b"</edXML>",
    ],
)
async def test_parse_refuses_bad_input_with_one_line_and_exit_2(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "bad.xml"
    path.write_bytes(content)
    code, out, err = await lienthong("edxml", "parse", str(path))
    assert (code, out) == (2, b"")
    assert err.count("\n") == 1, err
    assert err.startswith("lienthong edxml parse: "), err
    assert "Traceback" not in err


async def test_an_exported_document_parses_back_to_what_was_sent(
    api: Api, store_config: Config, tmp_path: Path
) -> None:
    await api.province()
    status, first = await api.send(DISTRICT, [COMMUNE], code_number="45", code_notation="UBND")
    assert status == 201, first
    pdf, annex = b"%PDF-1.7 " + os.urandom(2000), "Phụ lục: đ, ữ".encode()
    sent = {
        "subject": "Ủy ban nhân dân huyện, Thượng khẩn: đề nghị báo cáo",
        "priority": "very_urgent",
        "in_reply_to": first["id"],
        "attachments": [attachment("cv.pdf", pdf), attachment("pl.txt", annex, "text/plain")],
    }
    status, body = await api.send(COMMUNE, [DISTRICT, REMOTE_MINISTRY], **sent)
    assert status == 201, body
    code, package, err = await lienthong("edxml", "export", body["id"], *_store(store_config))
    assert code == 0, err
    (tmp_path / "out.xml").write_bytes(package)

    shown = await parsed(tmp_path / "out.xml")
    assert shown["from"] == COMMUNE
    assert shown["to"] == [DISTRICT, REMOTE_MINISTRY]
    assert shown["subject"] == sent["subject"]
    assert shown["priority"] == "very_urgent"
    assert {k: shown[k] for k in ("code_number", "code_notation", "document_type")} == {
        "code_number": "123",
        "code_notation": "UBND-VX",
        "document_type": "cong-van",
    }
    assert (shown["promulgated_on"], shown["due_on"], shown["place"]) == (
        "2026-11-24",
        "2026-12-01",
        "Nghệ An",
    )
    assert shown["signer"] == {"name": "Ngô Hùng", "position": "Phó Chủ tịch"}
    assert shown["attachments"] == [
        {
            "name": a["name"],
            "content_type": a["content_type"],
            "size": len(base64.b64decode(a["content_base64"])),
            "sha256": hashlib.sha256(base64.b64decode(a["content_base64"])).hexdigest(),
        }
        for a in sent["attachments"]
    ]
    assert shown["edxml"]["document_id"] == f"{COMMUNE},2026/11/24,123/UBND-VX"
    assert shown["edxml"]["response_for"] == [f"{DISTRICT},2026/11/24,45/UBND"]
    assert [hop["organ_id"] for hop in shown["edxml"]["trace"]] == [COMMUNE]


async def test_a_signed_export_verifies_against_the_trust_store(
    api: Api, store_config: Config, tmp_path: Path
) -> None:
    await api.province()
    status, body = await api.send(COMMUNE, [DISTRICT])
    assert status == 201, body
    signer = make_signer("ecdsa")
    key, cert = signer.pem()
    (tmp_path / "key.pem").write_bytes(key)
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "ca.pem").write_bytes(signer.ca.public_bytes(Encoding.PEM))
    args = ["--sign-key", str(tmp_path / "key.pem"), "--sign-cert", str(tmp_path / "cert.pem")]
    code, package, err = await lienthong(
        "edxml", "export", body["id"], *_store(store_config), *args
    )
    assert code == 0, err
    (tmp_path / "signed.xml").write_bytes(package)
    trusted = await parsed(tmp_path / "signed.xml", "--trust-store", str(tmp_path / "ca.pem"))
    assert trusted["signature"]["verified"], trusted["signature"]
    untrusted = await parsed(tmp_path / "signed.xml")
    assert (untrusted["signature"]["present"], untrusted["signature"]["verified"]) == (True, False)


async def test_export_of_an_unknown_document_exits_2(store_config: Config) -> None:
    code, out, err = await lienthong(
        "edxml", "export", "6f1c2f0e-3a41-5d5e-9a57-4c1e8f0b7a10", *_store(store_config)
    )
    assert (code, out) == (2, b"")
    assert err.startswith("lienthong edxml export: no document"), err
