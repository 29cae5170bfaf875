"""Agency signatures verified on entry, on each store: certificates, signed documents, PDFs."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.pki import CertificateAuthority, PrivateKey, new_key, pem
from adapters.signing import sign_document
from adapters.trust import fingerprint
from router.app import create_app
from router.config import Config
from tests.conftest import OPERATOR_TOKEN
from tests.support.api import COMMUNE, DISTRICT, PROVINCE, Api, attachment, document, position
from tests.support.pki import plain_pdf, session_ca, signed_pdf, tampered, write_trust_store

NOW = datetime.now(UTC)


@pytest.fixture
async def api(store_config: Config, tmp_path: Path, aiohttp_client: Any) -> Api:
    """A router trusting the test CA, with the four-tier province registered."""
    config = dataclasses.replace(store_config, trust_store=write_trust_store(tmp_path))
    api = Api(await aiohttp_client(create_app(config)))
    await api.province()
    return api


async def register(api: Api, code: str, certificate: Any) -> tuple[int, Any]:
    """Registers a certificate for an agency as the operator."""
    return await api.register_certificate(code, pem(certificate))


async def signer(api: Api, code: str = PROVINCE, kind: str = "ec") -> tuple[Any, PrivateKey]:
    """Issues and registers a signing certificate for an agency; returns it with its key."""
    certificate, key = session_ca().issue(f"Người ký {code}", new_key(kind))
    status, body = await register(api, code, certificate)
    assert status == 201, body
    return certificate, key


async def send_signed(
    api: Api, body: dict[str, Any], key: PrivateKey, certificate: Any, alg: str = "ES256"
) -> tuple[int, Any]:
    """Signs a body and sends it from the province."""
    signed = sign_document(body, key, pem(certificate), alg)
    return await api.call("POST", "/v1/documents", api.tokens[PROVINCE], json=signed)


async def test_a_certificate_is_registered_listed_and_retired(api: Api) -> None:
    certificate, _ = session_ca().issue("Văn phòng UBND tỉnh Nghệ An")
    status, body = await register(api, PROVINCE, certificate)
    assert status == 201, body
    assert body["fingerprint"] == fingerprint(certificate)
    assert body["subject"] == "CN=Văn phòng UBND tỉnh Nghệ An,O=lienthong demo,C=VN"
    assert body["not_before"].startswith(certificate.not_valid_before_utc.date().isoformat())
    assert body["not_after"].startswith(certificate.not_valid_after_utc.date().isoformat())
    assert body["retired_at"] is None
    before = await position(api)
    status, again = await register(api, PROVINCE, certificate)
    assert (status, again["fingerprint"]) == (200, body["fingerprint"])
    assert await position(api) == before

    path = f"/v1/agencies/{PROVINCE}/certificates"
    for token in (OPERATOR_TOKEN, api.tokens[PROVINCE]):
        status, listed = await api.call("GET", path, token)
        assert status == 200
        assert [c["fingerprint"] for c in listed["items"]] == [body["fingerprint"]]
    status, _ = await api.call("GET", path, api.tokens[DISTRICT])
    assert status == 403

    status, retired = await api.call("DELETE", f"{path}/{body['fingerprint']}", OPERATOR_TOKEN)
    assert status == 200
    assert retired["retired_at"] is not None
    status, listed = await api.call("GET", path, OPERATOR_TOKEN)
    assert listed["items"][0]["retired_at"] == retired["retired_at"]
    status, _ = await api.call("DELETE", f"{path}/{body['fingerprint']}", OPERATOR_TOKEN)
    assert status == 409
    status, _ = await api.call("DELETE", f"{path}/{'0' * 64}", OPERATOR_TOKEN)
    assert status == 404


def _refused_certificates() -> dict[str, tuple[Any, str]]:
    other = CertificateAuthority.create("Other CA")
    ca = session_ca()
    return {
        "another CA": (other.issue("Sở Tài chính")[0], "does not chain to the trust store"),
        "expired": (
            ca.issue(
                "Hết hạn", not_before=NOW - timedelta(days=9), not_after=NOW - timedelta(hours=1)
            )[0],
            "expired on",
        ),
        "not yet valid": (
            ca.issue("Chưa hiệu lực", not_before=NOW + timedelta(days=1))[0],
            "is not valid before",
        ),
        "no signing usage": (
            ca.issue("Mã hóa", digital_signature=False, non_repudiation=False)[0],
            "key usage",
        ),
    }


@pytest.mark.parametrize("case", ["another CA", "expired", "not yet valid", "no signing usage"])
async def test_a_certificate_that_may_not_sign_is_refused(api: Api, case: str) -> None:
    certificate, message = _refused_certificates()[case]
    before = await position(api)
    status, body = await register(api, PROVINCE, certificate)
    assert status == 422, body
    assert body["errors"][0]["field"] == "pem"
    assert message in body["detail"]
    assert await position(api) == before


async def test_a_certificate_belongs_to_one_agency_and_text_must_be_pem(api: Api) -> None:
    certificate, _ = await signer(api, PROVINCE)
    before = await position(api)
    status, body = await register(api, DISTRICT, certificate)
    assert status == 422
    assert f"belongs to agency {PROVINCE}" in body["detail"]
    path = f"/v1/agencies/{PROVINCE}/certificates"
    status, body = await api.call("POST", path, OPERATOR_TOKEN, json={"pem": "not a certificate"})
    assert status == 422
    assert "PEM" in body["detail"]
    assert await position(api) == before


@pytest.mark.parametrize(("alg", "kind"), [("ES256", "ec"), ("RS256", "rsa"), ("PS256", "rsa")])
async def test_a_signed_document_shows_its_verified_signature(
    api: Api, alg: str, kind: str
) -> None:
    certificate, key = await signer(api, PROVINCE, kind)
    status, sent = await send_signed(api, document([COMMUNE]), key, certificate, alg)
    assert status == 201, sent
    status, shown = await api.call("GET", f"/v1/documents/{sent['id']}", api.tokens[COMMUNE])
    assert status == 200
    assert shown["signature"] == {
        "signer": f"CN=Người ký {PROVINCE},O=lienthong demo,C=VN",
        "certificate": fingerprint(certificate),
        "alg": alg,
        "verified_at": shown["signature"]["verified_at"],
    }
    status, unsigned = await api.send(PROVINCE, [COMMUNE])
    _, shown = await api.call("GET", f"/v1/documents/{unsigned['id']}", api.tokens[PROVINCE])
    assert shown["signature"] is None


async def test_a_retry_re_signed_or_unsigned_answers_with_the_first_document(api: Api) -> None:
    certificate, key = await signer(api)
    body = document([COMMUNE], attachments=[attachment("cv.txt", b"x", "text/plain")])
    status, first = await send_signed(api, body, key, certificate)
    assert status == 201
    before = await position(api)
    status, again = await send_signed(api, body, key, certificate)
    assert (status, again["id"]) == (200, first["id"])
    status, again = await api.call("POST", "/v1/documents", api.tokens[PROVINCE], json=body)
    assert (status, again["id"]) == (200, first["id"])
    assert await position(api) == before


def _forge(signed: dict[str, Any], how: str, other_key: PrivateKey) -> dict[str, Any]:
    signature = dict(signed["signature"])
    value = base64.b64decode(signature["value"])
    if how == "altered subject":
        return signed | {"subject": signed["subject"] + "."}
    if how == "truncated":
        signature["value"] = base64.b64encode(value[:-3]).decode()
    elif how == "wrong key":
        signature["value"] = sign_document(signed, other_key, pem(session_ca().certificate))[
            "signature"
        ]["value"]
    elif how == "not base64":
        signature["value"] = "***"
    elif how == "unknown certificate":
        signature["certificate"] = "0" * 64
    return signed | {"signature": signature}


@pytest.mark.parametrize(
    "how", ["altered subject", "truncated", "wrong key", "not base64", "unknown certificate"]
)
async def test_a_forged_signature_is_refused_and_nothing_recorded(api: Api, how: str) -> None:
    certificate, key = await signer(api)
    signed = sign_document(document([COMMUNE]), key, pem(certificate))
    before = await position(api)
    forged = _forge(signed, how, new_key())
    status, body = await api.call("POST", "/v1/documents", api.tokens[PROVINCE], json=forged)
    assert status == 422, body
    assert body["errors"][0]["field"].startswith("signature")
    assert await position(api) == before
    _, outbox = await api.call("GET", "/v1/outbox", api.tokens[PROVINCE])
    assert outbox["items"] == []


async def test_another_agencys_or_a_retired_certificate_is_refused(api: Api) -> None:
    theirs, their_key = await signer(api, DISTRICT)
    mine, my_key = await signer(api, PROVINCE)
    path = f"/v1/agencies/{PROVINCE}/certificates/{fingerprint(mine)}"
    status, _ = await api.call("DELETE", path, OPERATOR_TOKEN)
    assert status == 200
    before = await position(api)
    status, body = await send_signed(api, document([COMMUNE]), their_key, theirs)
    assert status == 422
    assert f"not registered to agency {PROVINCE}" in body["detail"]
    status, body = await send_signed(api, document([COMMUNE]), my_key, mine)
    assert status == 422
    assert "retired" in body["detail"]
    assert await position(api) == before


async def test_a_certificate_no_longer_valid_signs_nothing(api: Api) -> None:
    certificate, key = session_ca().issue(
        "Sắp hết hạn", not_after=datetime.now(UTC) + timedelta(seconds=2)
    )
    status, body = await register(api, PROVINCE, certificate)
    assert status == 201, body
    await asyncio.sleep(2.5)
    before = await position(api)
    status, body = await send_signed(api, document([COMMUNE]), key, certificate)
    assert status == 422
    assert "expired on" in body["detail"]
    assert await position(api) == before


async def test_an_agency_that_must_sign_sends_only_signed_documents(api: Api) -> None:
    certificate, key = await signer(api)
    status, agency = await api.call(
        "PATCH", f"/v1/agencies/{PROVINCE}", OPERATOR_TOKEN, json={"signature_required": True}
    )
    assert status == 200
    assert agency["signature_required"] is True
    before = await position(api)
    status, body = await api.send(PROVINCE, [COMMUNE])
    assert status == 422
    assert body["errors"] == [
        {"field": "signature", "message": f"agency {PROVINCE} must sign its documents"}
    ]
    assert await position(api) == before
    status, _ = await send_signed(api, document([COMMUNE]), key, certificate)
    assert status == 201
    status, body = await api.call("PATCH", f"/v1/agencies/{PROVINCE}", OPERATOR_TOKEN, json={})
    assert status == 422


async def test_pdf_signatures_are_recorded_never_refused(api: Api) -> None:
    certificate, key = session_ca().issue("Ngô Hùng")
    # pyHanko runs its own event loop: off this one, as the router runs it.
    pdf = await asyncio.to_thread(signed_pdf, certificate, key)
    attachments = [
        attachment("signed.pdf", pdf),
        attachment("unsigned.pdf", plain_pdf()),
        attachment("tampered.pdf", tampered(pdf)),
        attachment("broken.pdf", b"%PDF-1.7 broken"),
        attachment("note.txt", b"text", "text/plain"),
    ]
    status, sent = await api.send(PROVINCE, [COMMUNE], attachments=attachments)
    assert status == 201, sent
    _, shown = await api.call("GET", f"/v1/documents/{sent['id']}", api.tokens[COMMUNE])
    signer_name = "CN=Ngô Hùng,O=lienthong demo,C=VN"
    assert [a["signature"] for a in shown["attachments"]] == [
        {"pades": "valid", "signer": signer_name},
        {"pades": "unsigned", "signer": None},
        {"pades": "invalid", "signer": signer_name},
        {"pades": "invalid", "signer": None},
        None,
    ]
    status, history = await api.call(
        "GET", f"/v1/documents/{sent['id']}/history", api.tokens[PROVINCE]
    )
    recorded = history["items"][0]["data"]["attachments"]
    assert recorded[0]["signature"] == {"pades": "valid", "signer": signer_name}
