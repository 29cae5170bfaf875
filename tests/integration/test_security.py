"""Security checks on a seeded SQLite store: tokens kept only as hashes and compared in constant
time, no token or document text echoed in an error, deep JSON and attachment names that climb out
of a directory refused cleanly, and Vietnamese text kept code point for code point."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OPERATOR_TOKEN
from tests.support.api import COMMUNE, DISTRICT, Api, attachment, auth, document, position
from tests.support.province import OWNER, Province

SECRET = "tok_Zq8xW3vN5mK2pL9rT4yB7cD1fG6hJ0sA"  # shaped like a bearer token
SUBJECT = "Về việc thanh tra quỹ đất công năm 2026"
PROBLEM = "application/problem+json"


def _tree(root: Path, deep: bool = True) -> list[Path]:
    return sorted(root.rglob("*") if deep else root.iterdir())


async def _refused(api: Api, method: str, path: str, token: str | None, **request: Any) -> Any:
    """Makes a call that must fail with a problem and record nothing; returns the problem."""
    before = await position(api)
    headers = request.pop("headers", {}) | (auth(token) if token else {})
    async with api.session.request(method, path, headers=headers, **request) as r:
        text = await r.text()
        assert 400 <= r.status < 500, text
        assert r.content_type == PROBLEM, text
    assert await position(api) == before
    return json.loads(text)


async def test_the_store_holds_token_hashes_never_tokens(
    seeded: tuple[Api, Province], tmp_path: Path
) -> None:
    api, province = seeded
    status, rotated = await api.call("POST", f"/v1/agencies/{COMMUNE}/token", OPERATOR_TOKEN)
    assert status == 200, rotated
    status, auditor = await api.call("POST", "/v1/auditors", OPERATOR_TOKEN, json={"name": "K"})
    assert status == 201, auditor
    issued = {rotated["token"], auditor["token"], OPERATOR_TOKEN} | set(province.agencies.values())
    issued |= {t for t in province.tokens.values() if t}
    stored = b"".join(p.read_bytes() for p in _tree(tmp_path / "data") if p.is_file())
    assert [t for t in issued if t.encode() in stored] == []
    # The hashes are found, so a token stored in clear would have been found too.
    for token in (rotated["token"], auditor["token"]):
        assert hashlib.sha256(token.encode()).hexdigest().encode() in stored


async def test_the_operator_token_is_compared_in_constant_time(
    seeded: tuple[Api, Province], monkeypatch: pytest.MonkeyPatch
) -> None:
    api, _ = seeded
    compared: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    wrong = OPERATOR_TOKEN[:-1] + "y"
    assert (await api.call("GET", "/v1/agencies", OPERATOR_TOKEN))[0] == 200
    assert (await api.call("GET", "/v1/agencies", wrong))[0] == 401
    digest = {t: hashlib.sha256(t.encode()).hexdigest() for t in (OPERATOR_TOKEN, wrong)}
    operator = digest[OPERATOR_TOKEN]
    assert compared == [(operator, operator), (digest[wrong], operator)]


BAD_BASE64 = attachment("cv.pdf", b"") | {"content_base64": f"%{SECRET}"}
ECHO_BAIT = [
    pytest.param("GET", "/v1/inbox", {"token": SECRET}, id="unknown token"),
    pytest.param("POST", "/v1/documents", {"json": document([SECRET])}, id="token in to"),
    pytest.param("POST", "/v1/documents", {"json": document([SECRET] * 2)}, id="token twice in to"),
    pytest.param("POST", "/v1/documents", {"json": document([DISTRICT], priority=SECRET)},
                 id="token as priority"),
    pytest.param("POST", "/v1/documents", {"json": document([DISTRICT], priority=SUBJECT)},
                 id="subject as priority"),
    pytest.param("POST", "/v1/documents", {"json": document([DISTRICT], subject=SUBJECT * 60)},
                 id="subject too long"),
    pytest.param("POST", "/v1/documents", {"json": document([DISTRICT], document_type=SUBJECT)},
                 id="subject as document type"),
    pytest.param("POST", "/v1/documents", {"json": document([DISTRICT], attachments=[BAD_BASE64])},
                 id="attachment not base64"),
    pytest.param("POST", "/v1/documents", {"data": f'{{"subject": "{SUBJECT}", "to": {SECRET}',
                 "headers": {"Content-Type": "application/json"}}, id="malformed JSON"),
    pytest.param("POST", "/v1/agencies", {"token": OPERATOR_TOKEN, "json": {
        "code": "000.02.00.H41", "name": SUBJECT, "tier": SECRET}}, id="token as tier"),
    pytest.param("POST", "/v1/documents/{received}/status", {"json": {"status": SECRET}},
                 id="token as status"),
    pytest.param("POST", "/v1/documents/{received}/status",
                 {"json": {"status": "06", "note": SUBJECT}}, id="illegal transition"),
    pytest.param("POST", "/v1/documents/{sent}/revoke", {"json": {"reason": SUBJECT, "by": SECRET}},
                 id="unknown field"),
    pytest.param("POST", "/v1/documents/{revoked}/revoke", {"json": {"reason": SUBJECT}},
                 id="revoked twice"),
    pytest.param("GET", "/v1/inbox", {"params": {"cursor": SECRET}}, id="token as cursor"),
    pytest.param("GET", "/v1/inbox", {"params": {"since": SECRET, "from": SECRET}},
                 id="token as filters"),
    pytest.param("GET", "/v1/stats", {"params": {"from": "2026-11-01", "to": "2026-12-01",
                 "agency": SECRET}}, id="token as stats agency"),
    pytest.param("GET", "/v1/agencies", {"params": {"q": SUBJECT * 10}}, id="subject as q"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "request_"), ECHO_BAIT)
async def test_errors_never_echo_a_token_or_document_text(
    seeded: tuple[Api, Province], method: str, path: str, request_: dict[str, Any]
) -> None:
    api, province = seeded
    request = dict(request_)
    token = request.pop("token", province.tokens["owner"])
    problem = await _refused(api, method, path.format_map(province.documents), token, **request)
    text = json.dumps(problem, ensure_ascii=False)
    for secret in (SECRET, SUBJECT, OPERATOR_TOKEN):
        assert secret not in text, text


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


DEEP = _nested(10_000)
DOCUMENT = json.dumps(document([DISTRICT]))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(DOCUMENT[:-1] + f', "to_groups": {DEEP}}}', id="in a field"),
        pytest.param(DOCUMENT[:-1] + f', "colour": {DEEP}}}', id="in an unknown field"),
        pytest.param(DOCUMENT[:-1] + f', "signer": {{"name": {DEEP}}}}}', id="in an object"),
        pytest.param(DEEP, id="as the body"),
        pytest.param(_nested(1_000_000), id="a million deep"),
        pytest.param('{"a":' * 10_000 + "1" + "}" * 10_000, id="objects"),
    ],
)
async def test_deeply_nested_json_is_refused_and_records_nothing(
    seeded: tuple[Api, Province], body: str
) -> None:
    api, province = seeded
    problem = await _refused(
        api,
        "POST",
        "/v1/documents",
        province.tokens["owner"],
        data=io.BytesIO(body.encode()),
        headers={"Content-Type": "application/json"},
    )
    assert problem["status"] in (400, 422)


async def test_a_deeply_nested_cursor_is_422_not_500(seeded: tuple[Api, Province]) -> None:
    # Found while writing this test: an untyped decode of the cursor overflowed the stack (500).
    api, province = seeded
    cursor = base64.urlsafe_b64encode(f'{{"k": {_nested(2_000)}}}'.encode()).decode()
    problem = await _refused(
        api, "GET", "/v1/inbox", province.tokens["owner"], params={"cursor": cursor}
    )
    assert problem["errors"] == [{"field": "cursor", "message": "not a cursor this router issued"}]


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "../../../../x.pdf", "..\\..\\x.pdf", "cv\x00.pdf", "/etc/passwd"]
)
async def test_attachment_names_that_leave_a_directory_are_422_and_write_nothing(
    seeded: tuple[Api, Province], tmp_path: Path, name: str
) -> None:
    api, province = seeded
    before = _tree(tmp_path), _tree(tmp_path.parent, deep=False)
    problem = await _refused(
        api,
        "POST",
        "/v1/documents",
        province.tokens["owner"],
        json=document([DISTRICT], attachments=[attachment(name, b"root:x:0:0")]),
    )
    assert [e["field"] for e in problem["errors"]] == ["attachments[0].name"]
    assert (_tree(tmp_path), _tree(tmp_path.parent, deep=False)) == before


@pytest.mark.parametrize("n", ["-1", "..%2F..%2Fetc%2Fpasswd", "%2E%2E", "0x0", "\u0661"])
async def test_attachment_numbers_that_are_no_index_are_404(
    seeded: tuple[Api, Province], n: str
) -> None:
    api, province = seeded
    path = f"/v1/documents/{province.sent}/attachments/{n}"
    await _refused(api, "GET", path, province.tokens["owner"])


VIETNAMESE = "Về việc đẩy mạnh dịch vụ công trực tuyến mức độ 4 ở Nghệ An"
TEXTS = {
    "NFC": unicodedata.normalize("NFC", VIETNAMESE),
    "NFD": unicodedata.normalize("NFD", VIETNAMESE),
    "joiners": "Quyết\u200dđịnh\u200c số 12/QĐ\u2060-UBND",
    "direction marks": "\u200fBáo cáo\u200e \u202bتقرير\u202c \u202eđảo\u202c",
    "stacked combining marks": "Ha\u0300 No\u0302\u0323i: a\u0301\u0323\u0302\u0303\u0309",
    "beyond the BMP": "Công văn \U0001d7d9 😀 \U00020000 \U0010fffd",
    "byte order mark": "\ufeffThông báo khẩn",
}


@pytest.mark.parametrize("text", TEXTS.values(), ids=TEXTS.keys())
async def test_vietnamese_text_comes_back_exactly_as_sent(
    seeded: tuple[Api, Province], text: str
) -> None:
    api, province = seeded
    signer = {"name": text[:200], "position": "Chủ tịch"}
    status, sent = await api.send(OWNER, [DISTRICT], subject=text, place=text[:200], signer=signer)
    assert status == 201, sent
    recipient = province.agencies[DISTRICT]
    for token in (province.tokens["owner"], recipient):
        _, got = await api.call("GET", f"/v1/documents/{sent['id']}", token)
        assert (got["subject"], got["place"], got["signer"]) == (text, text[:200], signer)
    _, inbox = await api.call("GET", "/v1/inbox", recipient)
    _, outbox = await api.call("GET", "/v1/outbox", province.tokens["owner"])
    _, history = await api.call("GET", f"/v1/documents/{sent['id']}/history", recipient)
    assert inbox["items"][0]["subject"] == outbox["items"][0]["subject"] == text
    assert history["items"][0]["data"]["subject"] == text
    note = f"Đã nhận: {text}"
    status, report = await api.report(DISTRICT, sent["id"], "03", note=note)
    assert status == 201, report
    _, got = await api.call("GET", f"/v1/documents/{sent['id']}", recipient)
    assert got["recipients"][0]["history"][-1]["note"] == note
