"""Bad input gets a clear problem+json answer and records nothing."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
from typing import Any

import pytest

from router.app import create_app
from router.config import Config
from tests.conftest import OPERATOR_TOKEN
from tests.support.api import (
    COMMUNE,
    COMMUNE_2,
    DISTRICT,
    PROVINCE,
    Api,
    attachment,
    auth,
    document,
    position,
)

PROBLEM = "application/problem+json"


@pytest.fixture
async def small(store_config: Config, aiohttp_client: Any) -> Api:
    """A router whose documents may carry at most 1 KiB, attachments 512 bytes."""
    config = dataclasses.replace(store_config, max_document_bytes=1024, max_attachment_bytes=512)
    api = Api(await aiohttp_client(create_app(config)))
    await api.province()
    return api


async def raw_post(
    api: Api, path: str, token: str, data: bytes, content_type: str = "application/json"
) -> tuple[int, str, Any]:
    headers = auth(token) | {"Content-Type": content_type}
    async with api.session.request("POST", path, data=io.BytesIO(data), headers=headers) as r:
        return r.status, r.headers.get("Content-Type", ""), await r.json(content_type=None)


async def test_malformed_json_is_400(small: Api) -> None:
    before = await position(small)
    status, ctype, body = await raw_post(
        small, "/v1/documents", small.tokens[PROVINCE], b'{"external_id": '
    )
    assert (status, ctype) == (400, PROBLEM)
    assert (body["title"], body["status"]) == ("Bad Request", 400)
    assert body["detail"].startswith("malformed JSON")
    assert await position(small) == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"colour": "red"}, "colour"),
        ({"subject": None}, "subject"),
        ({"priority": "whenever"}, "priority"),
        ({"promulgated_on": "24/11/2026"}, "promulgated_on"),
        ({"document_type": "Công văn"}, "document_type"),
        ({"signer": {"name": "A"}}, "signer.position"),
    ],
)
async def test_unknown_missing_and_bad_fields_are_422_naming_the_field(
    small: Api, change: dict[str, Any], field: str
) -> None:
    before = await position(small)
    body = document([COMMUNE]) | change
    if change.get("subject", "") is None:
        del body["subject"]
    status, answer = await small.call("POST", "/v1/documents", small.tokens[PROVINCE], json=body)
    assert status == 422, answer
    assert [e["field"] for e in answer["errors"]] == [field]
    assert await position(small) == before


async def test_a_body_over_the_limit_is_413(small: Api) -> None:
    before = await position(small)
    huge = b'{"external_id": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    status, ctype, body = await raw_post(small, "/v1/documents", small.tokens[PROVINCE], huge)
    assert (status, ctype) == (413, PROBLEM), body
    assert await position(small) == before


async def test_an_attachment_over_the_limit_is_413(small: Api) -> None:
    before = await position(small)
    status, body = await small.send(
        PROVINCE, [COMMUNE], attachments=[attachment("big.pdf", b"x" * 600)]
    )
    assert status == 413, body
    status, body = await small.send(
        PROVINCE,
        [COMMUNE],
        attachments=[
            attachment("a.pdf", b"x" * 500),
            attachment("b.pdf", b"y" * 500),
            attachment("c.pdf", b"z" * 500),
        ],
    )
    assert status == 413, body
    assert await position(small) == before


async def test_a_wrong_content_type_is_415(small: Api) -> None:
    before = await position(small)
    status, ctype, _ = await raw_post(
        small,
        "/v1/documents",
        small.tokens[PROVINCE],
        b"external_id=1",
        "application/x-www-form-urlencoded",
    )
    assert (status, ctype) == (415, PROBLEM)
    assert await position(small) == before


@pytest.mark.parametrize(
    ("to", "fields"),
    [
        (["000.09.09.H41"], ["to[0]"]),
        ([COMMUNE, COMMUNE], ["to[1]"]),
        ([PROVINCE], ["to[0]"]),
        ([COMMUNE, "000.09.09.H41", "nonsense"], ["to[1]", "to[2]"]),
    ],
)
async def test_unknown_duplicate_and_self_recipients_are_422(
    small: Api, to: list[str], fields: list[str]
) -> None:
    before = await position(small)
    status, body = await small.send(PROVINCE, to)
    assert status == 422, body
    assert sorted(e["field"] for e in body["errors"]) == fields
    assert await position(small) == before


async def test_a_suspended_recipient_is_422(small: Api) -> None:
    await small.call("POST", f"/v1/agencies/{COMMUNE_2}/suspend", OPERATOR_TOKEN)
    before = await position(small)
    status, body = await small.send(PROVINCE, [COMMUNE, COMMUNE_2])
    assert status == 422, body
    assert body["errors"] == [{"field": "to[1]", "message": f"agency {COMMUNE_2} is suspended"}]
    assert await position(small) == before


async def test_an_illegal_status_transition_is_409(small: Api) -> None:
    _, sent = await small.send(PROVINCE, [COMMUNE])
    before = await position(small)
    status, body = await small.report(COMMUNE, sent["id"], "06")
    assert status == 409, body
    status, body = await small.report(COMMUNE, sent["id"], "15")
    assert status == 409, body
    status, body = await small.report(COMMUNE, sent["id"], "09")
    assert status == 422, body
    assert await position(small) == before


async def test_a_reused_external_id_with_other_content_is_409(small: Api) -> None:
    await small.send(PROVINCE, [COMMUNE], external_id="CV-9")
    before = await position(small)
    status, body = await small.send(PROVINCE, [COMMUNE, DISTRICT], external_id="CV-9")
    assert status == 409, body
    assert await position(small) == before


async def test_base64_that_does_not_decode_is_422(small: Api) -> None:
    before = await position(small)
    bad = {"name": "a.pdf", "content_type": "application/pdf", "content_base64": "%%%not base64"}
    status, body = await small.send(PROVINCE, [COMMUNE], attachments=[bad])
    assert status == 422, body
    assert body["errors"][0]["field"] == "attachments[0].content_base64"
    assert await position(small) == before


async def test_another_agencys_document_is_404_and_writes_to_it_change_nothing(
    small: Api,
) -> None:
    _, sent = await small.send(PROVINCE, [COMMUNE])
    doc = sent["id"]
    outsider = small.tokens[COMMUNE_2]
    before = await position(small)
    for path in (
        f"/v1/documents/{doc}",
        f"/v1/documents/{doc}/attachments/0",
        f"/v1/documents/{doc}/history",
    ):
        status, body = await small.call("GET", path, outsider)
        assert status == 404, (path, body)
    assert (
        await small.call("POST", f"/v1/documents/{doc}/status", outsider, json={"status": "03"})
    )[0] == 404
    assert (
        await small.call("POST", f"/v1/documents/{doc}/revoke", outsider, json={"reason": "x"})
    )[0] == 404
    assert (await small.call("GET", "/v1/documents/not-a-uuid", outsider))[0] == 404
    assert await position(small) == before


async def test_no_token_or_an_unknown_token_is_401(small: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer nobody-has-this"}, {"Authorization": "Basic x"}):
        async with small.session.request("GET", "/v1/inbox", headers=headers) as r:
            assert r.status == 401
            assert r.headers["Content-Type"] == PROBLEM
            assert r.headers["WWW-Authenticate"] == "Bearer"


async def test_roles_are_kept_apart(small: Api) -> None:
    status, _ = await small.call(
        "POST",
        "/v1/agencies",
        small.tokens[PROVINCE],
        json={"code": "000.05.00.H41", "name": "x", "tier": "district"},
    )
    assert status == 403
    assert (await small.call("POST", "/v1/documents", OPERATOR_TOKEN, json=document([COMMUNE])))[
        0
    ] == 403
    assert (await small.call("GET", "/v1/inbox", OPERATOR_TOKEN))[0] == 403


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=501",
        "limit=x",
        "cursor=garbage",
        "status=9",
        "since=yesterday",
        "priority=low",
        "from=H41",
    ],
)
async def test_bad_list_parameters_are_422(small: Api, query: str) -> None:
    status, body = await small.call("GET", f"/v1/inbox?{query}", small.tokens[COMMUNE])
    assert status == 422, body
    assert body["errors"][0]["field"] == query.split("=")[0]


def _cursor(value: object) -> str:
    raw = json.dumps({"k": value}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "query",
    [
        "limit=²",
        "limit=99999999999999999999999",
        f"cursor={_cursor(True)}",
        f"cursor={_cursor(2**70)}",
        f"cursor={_cursor(-1)}",
        f"cursor={_cursor('x')}",
    ],
)
async def test_numbers_the_router_did_not_issue_are_422_not_500(small: Api, query: str) -> None:
    status, body = await small.call("GET", f"/v1/inbox?{query}", small.tokens[COMMUNE])
    assert status == 422, body


@pytest.mark.parametrize("after", ["²", "-1", "99999999999999999999999"])
async def test_event_positions_out_of_range_are_422(small: Api, after: str) -> None:
    _, auditor = await small.call("POST", "/v1/auditors", OPERATOR_TOKEN, json={"name": "A"})
    status, body = await small.call("GET", f"/v1/events?after={after}", auditor["token"])
    assert status == 422, body
    assert body["errors"][0]["field"] == "after"


async def test_token_hashes_are_never_shown_in_the_history(small: Api) -> None:
    await small.call("POST", f"/v1/agencies/{COMMUNE}/token", OPERATOR_TOKEN)
    _, auditor = await small.call("POST", "/v1/auditors", OPERATOR_TOKEN, json={"name": "A"})
    status, page = await small.call("GET", "/v1/events?limit=500", auditor["token"])
    assert status == 200
    types = {e["type"] for e in page["items"]}
    assert {"AgencyRegistered", "AgencyTokenRotated", "AuditorRegistered"} <= types
    assert all("token_sha256" not in e["data"] for e in page["items"])
