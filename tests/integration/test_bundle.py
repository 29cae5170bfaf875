"""The evidence bundle on both stores: what each caller gets, and that the offline checker
accepts a fresh bundle and names each tampered piece."""

from __future__ import annotations

import asyncio
import hashlib
import io
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from adapters import bundle
from adapters.routerkey import generate
from router.verify_bundle import run
from tests.conftest import OPERATOR_TOKEN
from tests.support.api import COMMUNE, DISTRICT, PROVINCE, Api, attachment, auth

PDF = b"%PDF-1.4 cong van 123\n" + bytes(range(256))


async def _exchange(api: Api) -> str:
    """Sends a document with two attachments to two recipients, who each report."""
    await api.province()
    files = [attachment("cv 123.pdf", PDF), attachment("..phụ lục.txt", b"Phu luc", "text/plain")]
    status, sent = await api.send(PROVINCE, [DISTRICT, COMMUNE], attachments=files)
    assert status == 201, sent
    for agency, code in ((COMMUNE, "03"), (DISTRICT, "01")):
        status, body = await api.report(agency, sent["id"], code)
        assert status == 201, body
    return str(sent["id"])


async def _download(api: Api, doc: str, token: str) -> tuple[int, bytes, str]:
    url = f"{api.base_url}/v1/documents/{doc}/evidence"
    async with api.session.request("GET", url, headers=auth(token)) as r:
        return r.status, await r.read(), r.content_type


async def _bundle(api: Api, doc: str, token: str) -> bytes:
    status, body, content_type = await _download(api, doc, token)
    assert status == 200, body
    assert content_type == "application/zip"
    return body


async def _certificate(api: Api) -> x509.Certificate:
    async with api.session.request("GET", f"{api.base_url}/v1/router/certificate") as r:
        return x509.load_pem_x509_certificate(await r.read())


async def _auditor(api: Api) -> str:
    status, body = await api.call("POST", "/v1/auditors", OPERATOR_TOKEN, json={"name": "Soát"})
    assert status == 201, body
    return str(body["token"])


def _events(data: bytes) -> list[dict[str, Any]]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [msgspec.json.decode(line) for line in z.read("events.jsonl").splitlines()]


def _json(data: bytes, name: str) -> Any:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return msgspec.json.decode(z.read(name))


async def test_the_senders_bundle_holds_every_piece_and_verifies(api: Api) -> None:
    doc = await _exchange(api)
    data = await _bundle(api, doc, api.tokens[PROVINCE])
    certificate = await _certificate(api)
    summary = bundle.verify(data, certificate)
    status, history = await api.call("GET", f"/v1/documents/{doc}/history", api.tokens[PROVINCE])
    assert status == 200, history
    events = _events(data)
    assert [e["position"] for e in events] == [e["position"] for e in history["items"]]
    assert summary.events == 3
    assert summary.redacted == 0
    assert summary.receipts == 3
    assert summary.attachments == 2
    assert summary.document_id == doc
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = set(z.namelist())
        assert {"README.txt", "checkpoint.json", "proofs.json", "router-certificate.pem"} <= names
        assert z.read("attachments/0-cv_123.pdf") == PDF
        assert z.read("attachments/1-phụ_lục.txt") == b"Phu luc"
        assert z.read("router-certificate.pem").decode().startswith("-----BEGIN CERTIFICATE")
    checkpoint = _json(data, "checkpoint.json")
    assert checkpoint["size"] > max(e["leaf_index"] for e in events)


async def test_the_readme_recipe_recomputes_every_leaf(api: Api, tmp_path: Path) -> None:
    doc = await _exchange(api)
    with zipfile.ZipFile(io.BytesIO(await _bundle(api, doc, api.tokens[PROVINCE]))) as z:
        z.extractall(tmp_path)
    readme = (tmp_path / "README.txt").read_text()
    recipe = readme.split("python3 - <<'EOF'\n", 1)[1].split("\nEOF\n", 1)[0]
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", recipe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert len(lines) == 3
    assert all(line.endswith(" True") for line in lines), done.stdout


async def test_a_recipient_gets_only_its_part_and_an_auditor_everything(api: Api) -> None:
    doc = await _exchange(api)
    certificate = await _certificate(api)
    data = await _bundle(api, doc, api.tokens[COMMUNE])
    events = _events(data)
    assert [e["type"] for e in events] == ["DocumentSent", "DocumentStatusReported"]
    assert events[0]["redacted"] is True
    assert [r["agency"] for r in events[0]["data"]["recipients"]] == [COMMUNE]
    assert events[1]["data"]["agency"] == COMMUNE
    assert "redacted" not in events[1]
    receipts = _json(data, "receipts.json")
    assert [(r["kind"], r["agency"]) for r in receipts] == [("sent", PROVINCE), ("status", COMMUNE)]
    summary = bundle.verify(data, certificate)
    assert summary.redacted == 1
    assert summary.attachments == 2
    everything = await _bundle(api, doc, await _auditor(api))
    assert len(_events(everything)) == 3
    assert bundle.verify(everything, certificate).receipts == 3


async def test_outsiders_do_not_find_it_and_the_operator_may_not(api: Api) -> None:
    doc = await _exchange(api)
    await api.register("000.01.03.H41", "commune", DISTRICT)
    status, body, _ = await _download(api, doc, api.tokens["000.01.03.H41"])
    assert status == 404, body
    status, body, content_type = await _download(api, doc, OPERATOR_TOKEN)
    assert status == 403, body
    assert content_type == "application/problem+json"
    status, body, _ = await _download(api, "6f0c7c55-0000-4000-8000-000000000000", OPERATOR_TOKEN)
    assert status == 403, body


def _replace(data: bytes, name: str, change: Callable[[bytes], bytes]) -> bytes:
    """Returns the bundle with one member changed."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as z, zipfile.ZipFile(out, "w") as w:
        for info in z.infolist():
            body = z.read(info.filename)
            w.writestr(info.filename, change(body) if info.filename == name else body)
    return out.getvalue()


def _edit_json(edit: Callable[[Any], None]) -> Callable[[bytes], bytes]:
    def change(body: bytes) -> bytes:
        value = msgspec.json.decode(body)
        edit(value)
        return msgspec.json.encode(value)

    return change


def _flip_hex(h: str) -> str:
    return ("0" if h[0] != "0" else "1") + h[1:]


def _edit_event(body: bytes) -> bytes:
    lines = body.splitlines()
    event = msgspec.json.decode(lines[0])
    event["data"]["subject"] += "!"
    return b"\n".join([msgspec.json.encode(event), *lines[1:]])


def _edit_receipt(receipts: list[dict[str, Any]]) -> None:
    head, payload, signature = receipts[0]["jws"].split(".")
    receipts[0]["jws"] = (
        f"{head}.{payload[:-2]}{'AA' if payload[-2:] != 'AA' else 'BB'}.{signature}"
    )


TAMPERS: list[tuple[str, Callable[[bytes], bytes], str]] = [
    ("attachments/0-cv_123.pdf", lambda b: b[:-1] + bytes([b[-1] ^ 1]), "attachments/0-cv_123.pdf"),
    ("events.jsonl", _edit_event, "events.jsonl line 1"),
    (
        "proofs.json",
        _edit_json(lambda p: p[0]["audit_path"].__setitem__(0, _flip_hex(p[0]["audit_path"][0]))),
        "proofs.json",
    ),
    (
        "checkpoint.json",
        _edit_json(lambda c: c.__setitem__("root", _flip_hex(c["root"]))),
        "checkpoint.json: root",
    ),
    ("receipts.json", _edit_json(_edit_receipt), "receipts.json item 0"),
]


async def test_each_tampered_piece_fails_verification_naming_it(api: Api, tmp_path: Path) -> None:
    doc = await _exchange(api)
    data = await _bundle(api, doc, api.tokens[PROVINCE])
    certificate = await _certificate(api)
    for member, change, named in TAMPERS:
        tampered = _replace(data, member, change)
        with pytest.raises(bundle.Failed, match=named.replace(".", r"\.")):
            bundle.verify(tampered, certificate)
    # New bytes with a matching listing still differ from what the DocumentSent event recorded.
    other = b"%PDF-1.4 mot van ban khac"
    both = _replace(data, "attachments/0-cv_123.pdf", lambda _: other)
    both = _replace(
        both,
        "attachments.json",
        _edit_json(
            lambda a: a[0].update(sha256=hashlib.sha256(other).hexdigest(), size=len(other))
        ),
    )
    with pytest.raises(bundle.Failed, match="the DocumentSent event's"):
        bundle.verify(both, certificate)
    _, other_pem = generate()
    with pytest.raises(bundle.Failed, match=r"checkpoint\.json: the checkpoint's JWS"):
        bundle.verify(data, x509.load_pem_x509_certificate(other_pem))


async def test_the_command_exits_0_1_or_2_and_says_what_it_trusted(
    api: Api, tmp_path: Path
) -> None:
    doc = await _exchange(api)
    data = await _bundle(api, doc, api.tokens[PROVINCE])
    (tmp_path / "b.zip").write_bytes(data)
    cert = tmp_path / "router.pem"
    cert.write_bytes((await _certificate(api)).public_bytes(Encoding.PEM))
    code, message = run(tmp_path / "b.zip", cert)
    assert code == 0, message
    assert f"against the router certificate {cert}" in message
    code, message = run(tmp_path / "b.zip", None)
    assert code == 0, message
    assert "internal consistency only" in message
    (tmp_path / "t.zip").write_bytes(_replace(data, "events.jsonl", _edit_event))
    code, message = run(tmp_path / "t.zip", cert)
    assert code == 1, message
    assert "FAILED: events.jsonl line 1" in message
    (tmp_path / "x.zip").write_bytes(b"not a zip")
    code, message = run(tmp_path / "x.zip", cert)
    assert code == 2, message
    assert "not a ZIP" in message
    code, message = run(tmp_path / "missing.zip", cert)
    assert code == 2, message
