"""The OpenAPI document: valid, in step with the routes and wire types, and true of real answers."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Any

import msgspec
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from adapters.pki import pem
from adapters.signing import sign_document
from adapters.trust import fingerprint
from domain.directory import today_in_vietnam
from router import wire
from router.app import create_app
from router.config import Config
from tests.conftest import OPERATOR_TOKEN
from tests.support.api import (
    COMMUNE,
    COMMUNE_2,
    DEPARTMENT,
    DISTRICT,
    MINISTRY,
    PROVINCE,
    REMOTE_MINISTRY,
    Api,
    attachment,
    auth,
    document,
    registered_routes,
)
from tests.support.pki import session_ca, signed_pdf, write_trust_store

SPEC: dict[str, Any] = json.loads(files("router").joinpath("openapi.json").read_bytes())
SPEC_URI = "urn:lienthong:openapi"
REGISTRY: Registry[Any] = Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(SPEC))
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
REQUEST_BODIES = {
    ("post", "/v1/agencies"): wire.AgencyIn,
    ("post", "/v1/auditors"): wire.AuditorIn,
    ("post", "/v1/documents"): wire.DocumentIn,
    ("post", "/v1/documents/{id}/status"): wire.StatusIn,
    ("post", "/v1/documents/{id}/revoke"): wire.RevokeIn,
    ("post", "/v1/agencies/{code}/merge"): wire.MergeIn,
    ("post", "/v1/agencies/{code}/retire"): wire.RetireIn,
    ("post", "/v1/agencies/{code}/move"): wire.MoveIn,
    ("patch", "/v1/agencies/{code}"): wire.AgencyPatch,
    ("post", "/v1/axis/queue/{id}/park"): wire.AxisParkIn,
    ("post", "/v1/agencies/{code}/certificates"): wire.CertificateIn,
}
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 4
UNKNOWN_DOCUMENT = {"id": "00000000-0000-4000-8000-000000000000"}


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def _at(pointer: str) -> Any:
    node: Any = SPEC
    for segment in pointer.removeprefix("/").split("/"):
        node = node[segment.replace("~1", "/").replace("~0", "~")]
    return node


def documented(method: str, template: str, status: int) -> tuple[str, dict[str, Any]]:
    """Returns the JSON pointer to the spec's response for a route and status, and the response."""
    pointer = f"/paths/{_escape(template)}/{method.lower()}/responses/{status}"
    try:
        response = _at(pointer)
    except KeyError:
        raise AssertionError(f"the spec has no {status} answer for {method} {template}") from None
    if "$ref" in response:
        pointer = response["$ref"].removeprefix("#")
        response = _at(pointer)
    return pointer, response


def conforms(body: Any, schema_pointer: str) -> None:
    """Validates a value against the spec's schema at a JSON pointer, formats included."""
    Draft202012Validator(
        {"$ref": f"{SPEC_URI}#{schema_pointer}"},
        registry=REGISTRY,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    ).validate(body)


async def answer(
    api: Api,
    method: str,
    template: str,
    status: int,
    token: str | None = None,
    at: dict[str, Any] | None = None,
    **request: Any,
) -> Any:
    """Calls the real app; checks status, media type, required headers and body against the spec."""
    pointer, response = documented(method, template, status)
    headers = request.pop("headers", {}) | (auth(token) if token else {})
    path = template.format_map(at or {})
    async with api.session.request(method, api.base_url + path, headers=headers, **request) as r:
        raw = await r.read()
        assert r.status == status, raw
        [(media, _)] = response["content"].items()
        assert media in ("*/*", r.content_type), r.content_type
        for name, header in response.get("headers", {}).items():
            assert not header.get("required") or name in r.headers, name
    if not media.endswith("json"):
        return raw
    body = json.loads(raw)
    conforms(body, f"{pointer}/content/{_escape(media)}/schema")
    return body


def _operations() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in SPEC["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def _bare(schema: Any) -> Any:
    """Drops the annotations a person adds (title, description, examples)."""
    if isinstance(schema, dict):
        return {
            k: _bare(v) for k, v in schema.items() if k not in ("title", "description", "examples")
        }
    if isinstance(schema, list):
        return [_bare(v) for v in schema]
    return schema


def test_the_document_is_valid_openapi_3_1() -> None:
    validate(SPEC)
    assert SPEC["openapi"] == "3.1.0"


def test_the_spec_has_exactly_the_routes_the_app_registers(tmp_path: Path) -> None:
    registered = registered_routes(create_app(Config(data_dir=tmp_path)))
    assert registered - _operations() == set(), "routes the spec does not describe"
    assert _operations() - registered == set(), "operations the app does not serve"


def test_request_schemas_mirror_the_wire_structs() -> None:
    bodies = {
        (method, path): item[method]["requestBody"]["content"]["application/json"]
        for path, item in SPEC["paths"].items()
        for method in item
        if method in HTTP_METHODS and "requestBody" in item[method]
    }
    assert {k: v["schema"]["$ref"] for k, v in bodies.items()} == {
        k: f"#/components/schemas/{t.__name__}" for k, t in REQUEST_BODIES.items()
    }
    _, generated = msgspec.json.schema_components(
        list(REQUEST_BODIES.values()), ref_template="#/components/schemas/{name}"
    )
    for name, schema in generated.items():
        assert _bare(SPEC["components"]["schemas"][name]) == _bare(schema), name


def test_every_operation_documents_what_the_plumbing_can_answer() -> None:
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            statuses = set(operation["responses"])
            assert "500" in statuses, (method, path)
            if operation.get("security") != []:
                assert {"401", "503"} <= statuses, (method, path)
            if "requestBody" in operation:
                assert {"400", "408", "413", "415", "422"} <= statuses, (method, path)


def test_the_examples_in_the_spec_are_valid() -> None:
    for name, schema in SPEC["components"]["schemas"].items():
        for example in schema.get("examples", []):
            conforms(example, f"/components/schemas/{name}")


async def test_the_app_serves_this_document_without_a_token(api: Api) -> None:
    assert await answer(api, "GET", "/v1/openapi.json", 200) == SPEC


async def test_operations_answers_match_the_spec(api: Api) -> None:
    await answer(api, "GET", "/healthz", 200)
    await answer(api, "GET", "/readyz", 200)
    assert b"# TYPE" in await answer(api, "GET", "/metrics", 200)


async def test_directory_answers_match_the_spec(api: Api) -> None:
    await api.province()
    local = await answer(
        api,
        "POST",
        "/v1/agencies",
        201,
        OPERATOR_TOKEN,
        json={
            "code": "000.01.03.H41",
            "name": "UBND xã Hưng Lộc",
            "tier": "commune",
            "parent": "000.01.00.H41",
        },
    )
    assert "token" in local
    remote = await answer(
        api,
        "POST",
        "/v1/agencies",
        201,
        OPERATOR_TOKEN,
        json={"code": "000.00.00.G23", "name": "Bộ Tài chính", "tier": "central", "remote": True},
    )
    assert "token" not in remote
    page = await answer(
        api,
        "GET",
        "/v1/agencies",
        200,
        api.tokens[COMMUNE],
        params={"tier": "commune", "limit": "2"},
    )
    await answer(
        api,
        "GET",
        "/v1/agencies",
        200,
        OPERATOR_TOKEN,
        params={"tier": "commune", "cursor": page["next_cursor"]},
    )
    found = await answer(
        api,
        "GET",
        "/v1/agencies",
        200,
        OPERATOR_TOKEN,
        params={"under": PROVINCE, "tier": "commune", "q": "hung loc", "limit": "1"},
    )
    assert [a["code"] for a in found["items"]] == ["000.01.03.H41"]
    at = {"code": COMMUNE}
    await answer(api, "GET", "/v1/agencies/{code}", 200, api.tokens[PROVINCE], at=at)
    await answer(api, "POST", "/v1/agencies/{code}/token", 200, OPERATOR_TOKEN, at=at)
    await answer(api, "POST", "/v1/agencies/{code}/suspend", 200, OPERATOR_TOKEN, at=at)
    await answer(api, "POST", "/v1/agencies/{code}/resume", 200, OPERATOR_TOKEN, at=at)
    await answer(api, "POST", "/v1/auditors", 201, OPERATOR_TOKEN, json={"name": "Thanh tra"})


async def test_document_answers_match_the_spec(api: Api) -> None:
    await api.province()
    _, auditor = await api.call("POST", "/v1/auditors", OPERATOR_TOKEN, json={"name": "Kiểm"})
    sender, recipient = api.tokens[PROVINCE], api.tokens[COMMUNE]
    body = document([COMMUNE, REMOTE_MINISTRY], attachments=[attachment("cv.pdf", PDF)])
    sent = await answer(api, "POST", "/v1/documents", 201, sender, json=body)
    await answer(api, "POST", "/v1/documents", 200, sender, json=body)
    at = {"id": sent["id"]}
    await answer(
        api,
        "POST",
        "/v1/documents/{id}/status",
        201,
        recipient,
        at=at,
        json={"status": "03", "note": "Đã tiếp nhận", "by": {"name": "Lê Văn A"}},
    )
    await answer(
        api,
        "POST",
        "/v1/documents/{id}/revoke",
        200,
        sender,
        at=at,
        json={"reason": "Ban hành nhầm"},
    )
    await answer(
        api,
        "POST",
        "/v1/documents/{id}/status",
        201,
        recipient,
        at=at,
        json={"status": "16", "note": "Đã triển khai"},
    )
    inbox = await answer(api, "GET", "/v1/inbox", 200, recipient, params={"status": "03"})
    outbox = await answer(api, "GET", "/v1/outbox", 200, sender)
    assert [i["id"] for i in inbox["items"]] == [i["id"] for i in outbox["items"]] == [at["id"]]
    for token in (sender, recipient, auditor["token"]):
        await answer(api, "GET", "/v1/documents/{id}", 200, token, at=at)
        await answer(api, "GET", "/v1/documents/{id}/history", 200, token, at=at)
    attachment_at = at | {"n": 0}
    assert (
        await answer(
            api, "GET", "/v1/documents/{id}/attachments/{n}", 200, recipient, at=attachment_at
        )
        == PDF
    )
    events = await answer(api, "GET", "/v1/events", 200, auditor["token"], params={"limit": 500})
    assert events["items"][-1]["type"] == "DocumentStatusReported"


async def test_merge_retire_and_group_answers_match_the_spec(api: Api) -> None:
    await api.province()
    _, auditor = await api.call("POST", "/v1/auditors", OPERATOR_TOKEN, json={"name": "Soát"})
    today = today_in_vietnam()
    merged = await answer(
        api,
        "POST",
        "/v1/agencies/{code}/merge",
        200,
        OPERATOR_TOKEN,
        at={"code": COMMUNE},
        json={"into": COMMUNE_2},
    )
    assert (merged["status"], merged["successor"]) == ("merged", COMMUNE_2)
    assert merged["ends_on"] in (today, today_in_vietnam())
    retired = await answer(
        api,
        "POST",
        "/v1/agencies/{code}/retire",
        200,
        OPERATOR_TOKEN,
        at={"code": DEPARTMENT},
        json={},
    )
    assert (retired["status"], retired["successor"]) == ("retired", None)
    scheduled = await answer(
        api,
        "POST",
        "/v1/agencies/{code}/retire",
        200,
        OPERATOR_TOKEN,
        at={"code": MINISTRY},
        json={"effective": "2099-12-31"},
    )
    assert (scheduled["status"], scheduled["ends_on"]) == ("active", "2099-12-31")
    rotated = await answer(
        api, "POST", "/v1/agencies/{code}/token", 200, OPERATOR_TOKEN, at={"code": COMMUNE}
    )
    api.tokens[COMMUNE] = rotated["token"]
    assert rotated["successor"] == COMMUNE_2

    sender, successor = api.tokens[PROVINCE], api.tokens[COMMUNE_2]
    body = document([COMMUNE, REMOTE_MINISTRY], to_groups=[{"tier": "district", "under": PROVINCE}])
    sent = await answer(api, "POST", "/v1/documents", 201, sender, json=body)
    assert sorted((r["agency"], r["delivered_to"]) for r in sent["recipients"]) == [
        (REMOTE_MINISTRY, None),
        (DISTRICT, None),
        (COMMUNE, COMMUNE_2),
    ]
    await answer(api, "POST", "/v1/documents", 200, sender, json=body)
    only_groups = document([], to_groups=[{"tier": "commune", "under": DISTRICT}])
    del only_groups["to"]
    grouped = await answer(api, "POST", "/v1/documents", 201, sender, json=only_groups)
    assert [(r["agency"], r["delivered_to"]) for r in grouped["recipients"]] == [(COMMUNE_2, None)]
    at = {"id": sent["id"]}
    await answer(
        api, "POST", "/v1/documents/{id}/status", 201, successor, at=at, json={"status": "03"}
    )
    own = await answer(api, "GET", "/v1/documents/{id}", 200, successor, at=at)
    assert [(r["agency"], r["delivered_to"]) for r in own["recipients"]] == [(COMMUNE, COMMUNE_2)]
    for token in (sender, auditor["token"]):
        await answer(api, "GET", "/v1/documents/{id}", 200, token, at=at)
    for token in (sender, successor):
        history = await answer(api, "GET", "/v1/documents/{id}/history", 200, token, at=at)
        lines = history["items"][0]["data"]["recipients"]
        assert {
            "agency": COMMUNE_2,
            "route": "local",
            "state": "delivered",
            "addressed_as": COMMUNE,
            "tier": "commune",
            "ancestors": [PROVINCE, DISTRICT],
        } in lines
    inbox = await answer(api, "GET", "/v1/inbox", 200, successor)
    assert [i["id"] for i in inbox["items"]] == [grouped["id"], sent["id"]]
    await answer(api, "GET", "/v1/inbox", 200, api.tokens[COMMUNE])
    outbox = await answer(api, "GET", "/v1/outbox", 200, sender)
    assert {"agency": COMMUNE, "delivered_to": COMMUNE_2, "status": "03"} in outbox["items"][1][
        "recipients"
    ]
    revoked = await answer(
        api, "POST", "/v1/documents/{id}/revoke", 200, sender, at=at, json={"reason": "Nhầm"}
    )
    assert {"agency": COMMUNE, "delivered_to": COMMUNE_2, "status": "13"} in revoked["recipients"]

    listed = await answer(api, "GET", "/v1/agencies", 200, successor, params={"limit": 500})
    assert {(a["code"], a["status"], a["successor"]) for a in listed["items"]} >= {
        (COMMUNE, "merged", COMMUNE_2),
        (COMMUNE_2, "active", None),
        (DEPARTMENT, "retired", None),
        (MINISTRY, "active", None),
    }
    await answer(api, "GET", "/v1/agencies/{code}", 200, OPERATOR_TOKEN, at={"code": COMMUNE})
    events = await answer(api, "GET", "/v1/events", 200, auditor["token"], params={"limit": 500})
    changes = [
        (e["type"], e["data"])
        for e in events["items"]
        if e["type"] in ("AgencyMerged", "AgencyRetired")
    ]
    assert changes == [
        ("AgencyMerged", {"into": COMMUNE_2, "effective": merged["ends_on"]}),
        ("AgencyRetired", {"effective": retired["ends_on"]}),
        ("AgencyRetired", {"effective": "2099-12-31"}),
    ]


async def test_error_answers_match_the_spec(api: Api) -> None:
    await api.province()
    token = api.tokens[PROVINCE]
    await answer(api, "GET", "/v1/inbox", 401)
    await answer(api, "GET", "/v1/inbox", 401, "not-a-token")
    await answer(api, "GET", "/v1/events", 403, token)
    await answer(api, "GET", "/v1/documents/{id}", 403, OPERATOR_TOKEN, at=UNKNOWN_DOCUMENT)
    await answer(api, "GET", "/v1/documents/{id}", 404, token, at=UNKNOWN_DOCUMENT)
    await answer(api, "GET", "/v1/agencies/{code}", 404, token, at={"code": "000.09.09.H41"})
    await answer(api, "GET", "/v1/agencies", 404, token, params={"under": "000.09.09.H41"})
    await answer(api, "GET", "/v1/agencies", 422, token, params={"q": " "})
    await answer(
        api,
        "POST",
        "/v1/agencies",
        409,
        OPERATOR_TOKEN,
        json={"code": PROVINCE, "name": "Tỉnh", "tier": "province"},
    )
    _, sent = await api.send(PROVINCE, [COMMUNE])
    await answer(
        api,
        "POST",
        "/v1/documents/{id}/status",
        409,
        api.tokens[COMMUNE],
        at={"id": sent["id"]},
        json={"status": "04"},
    )
    invalid = await answer(
        api, "POST", "/v1/documents", 422, token, json=document(["000.09.09.H41", PROVINCE])
    )
    assert {e["field"] for e in invalid["errors"]} == {"to[0]", "to[1]"}
    await answer(api, "POST", "/v1/auditors", 422, OPERATOR_TOKEN, json={"name": "", "x": 1})
    await answer(api, "GET", "/v1/inbox", 422, token, params={"limit": "0"})
    merge, retire = "/v1/agencies/{code}/merge", "/v1/agencies/{code}/retire"
    commune, unknown = {"code": COMMUNE}, {"code": "000.09.09.H41"}
    await answer(api, "POST", merge, 403, token, at=commune, json={"into": COMMUNE_2})
    await answer(api, "POST", merge, 404, OPERATOR_TOKEN, at=unknown, json={"into": COMMUNE_2})
    await answer(api, "POST", retire, 404, OPERATOR_TOKEN, at=unknown, json={})
    for wrong in (
        {"into": COMMUNE},
        {"into": "000.09.09.H41"},
        {"into": COMMUNE_2, "effective": "2020-01-01"},
        {"into": "nope"},
    ):
        await answer(api, "POST", merge, 422, OPERATOR_TOKEN, at=commune, json=wrong)
    await answer(api, "POST", retire, 422, OPERATOR_TOKEN, at=commune, json={"effective": "x"})
    await answer(api, "POST", merge, 200, OPERATOR_TOKEN, at=commune, json={"into": COMMUNE_2})
    await answer(api, "POST", merge, 409, OPERATOR_TOKEN, at=commune, json={"into": DISTRICT})
    await answer(api, "POST", retire, 409, OPERATOR_TOKEN, at=commune, json={})
    cycle = await answer(
        api, "POST", merge, 422, OPERATOR_TOKEN, at={"code": COMMUNE_2}, json={"into": COMMUNE}
    )
    assert [e["field"] for e in cycle["errors"]] == ["into"]
    await answer(api, "POST", retire, 200, OPERATOR_TOKEN, at={"code": DEPARTMENT}, json={})
    await answer(
        api, "POST", merge, 422, OPERATOR_TOKEN, at={"code": DISTRICT}, json={"into": DEPARTMENT}
    )
    await answer(api, "POST", "/v1/documents", 403, api.tokens[COMMUNE], json=document([PROVINCE]))
    refused = await answer(
        api,
        "POST",
        "/v1/documents",
        422,
        token,
        json=document([DEPARTMENT], to_groups=[{"tier": "province", "under": PROVINCE}]),
    )
    assert {e["field"] for e in refused["errors"]} == {"to[0]", "to_groups[0]"}
    await answer(api, "POST", "/v1/documents", 422, token, json=document([]))
    json_type = {"Content-Type": "application/json"}
    await answer(api, "POST", "/v1/documents", 400, token, data=b"{", headers=json_type)
    await answer(
        api, "POST", "/v1/documents", 415, token, data=b"{}", headers={"Content-Type": "text/plain"}
    )
    await answer(api, "POST", retire, 415, OPERATOR_TOKEN, at=commune)
    await answer(api, "POST", merge, 400, OPERATOR_TOKEN, at=commune, data=b"{", headers=json_type)


async def test_too_large_answers_match_the_spec(store_config: Config, aiohttp_client: Any) -> None:
    config = dataclasses.replace(store_config, max_document_bytes=1024, max_attachment_bytes=16)
    api = Api(await aiohttp_client(create_app(config)))
    await api.province()
    token = api.tokens[PROVINCE]
    await answer(
        api,
        "POST",
        "/v1/documents",
        413,
        token,
        json=document([COMMUNE], attachments=[attachment("big.pdf", b"x" * 17)]),
    )
    await answer(
        api,
        "POST",
        "/v1/documents",
        413,
        token,
        data=io.BytesIO(b"[" + b" " * 2 * 1024 * 1024),
        headers={"Content-Type": "application/json"},
    )


async def test_stats_answers_match_the_spec(api: Api) -> None:
    await api.province()
    status, sent = await api.send(PROVINCE, [COMMUNE, DISTRICT])
    assert status == 201, sent
    await api.report(COMMUNE, sent["id"], "02", note="không thuộc thẩm quyền")
    today = date.today().isoformat()
    period = {"from": "2026-01-01", "to": "2030-12-31"}
    everyone = await answer(api, "GET", "/v1/stats", 200, OPERATOR_TOKEN, params=period)
    assert everyone["total"]["received"] == 2
    await answer(
        api, "GET", "/v1/stats", 200, api.tokens[DISTRICT], params=period | {"tier": "commune"}
    )
    await answer(
        api, "GET", "/v1/stats", 403, api.tokens[COMMUNE], params=period | {"agency": DISTRICT}
    )
    await answer(
        api, "GET", "/v1/stats", 404, OPERATOR_TOKEN, params=period | {"agency": "000.09.09.H41"}
    )
    await answer(api, "GET", "/v1/stats", 422, OPERATOR_TOKEN, params={"from": today})
    await answer(api, "GET", "/v1/stats", 401, params=period)


async def test_signature_answers_match_the_spec(
    store_config: Config, tmp_path: Path, aiohttp_client: Any
) -> None:
    config = dataclasses.replace(store_config, trust_store=write_trust_store(tmp_path))
    api = Api(await aiohttp_client(create_app(config)))
    await api.province()
    _, auditor = await api.call("POST", "/v1/auditors", OPERATOR_TOKEN, json={"name": "Kiểm"})
    certificate, key = session_ca().issue("Văn phòng UBND tỉnh")
    at, registration = {"code": PROVINCE}, {"pem": pem(certificate)}
    path = "/v1/agencies/{code}/certificates"
    await answer(api, "POST", path, 201, OPERATOR_TOKEN, at=at, json=registration)
    await answer(api, "POST", path, 200, OPERATOR_TOKEN, at=at, json=registration)
    await answer(api, "POST", path, 422, OPERATOR_TOKEN, at=at, json={"pem": "x"})
    await answer(api, "POST", path, 403, api.tokens[PROVINCE], at=at, json=registration)
    for token in (OPERATOR_TOKEN, api.tokens[PROVINCE], auditor["token"]):
        await answer(api, "GET", path, 200, token, at=at)
    await answer(api, "GET", path, 403, api.tokens[COMMUNE], at=at)
    patch = {"signature_required": True}
    await answer(api, "PATCH", "/v1/agencies/{code}", 200, OPERATOR_TOKEN, at=at, json=patch)
    sender = api.tokens[PROVINCE]
    await answer(api, "POST", "/v1/documents", 422, sender, json=document([COMMUNE]))
    pdf = await asyncio.to_thread(signed_pdf, certificate, key)
    body = document([COMMUNE], attachments=[attachment("cv.pdf", pdf)])
    signed = sign_document(body, key, pem(certificate))
    sent = await answer(api, "POST", "/v1/documents", 201, sender, json=signed)
    shown = await answer(api, "GET", "/v1/documents/{id}", 200, sender, at={"id": sent["id"]})
    assert shown["signature"]["certificate"] == fingerprint(certificate)
    assert shown["attachments"][0]["signature"]["pades"] == "valid"
    retire = at | {"fingerprint": fingerprint(certificate)}
    await answer(api, "DELETE", path + "/{fingerprint}", 200, OPERATOR_TOKEN, at=retire)
    await answer(api, "DELETE", path + "/{fingerprint}", 409, OPERATOR_TOKEN, at=retire)
    events = await answer(api, "GET", "/v1/events", 200, auditor["token"], params={"limit": 500})
    assert {"AgencyCertificateRegistered", "AgencySignatureRequirementChanged"} <= {
        e["type"] for e in events["items"]
    }


async def test_auditor_answers_match_the_spec(api: Api) -> None:
    await api.province()
    _, auditor = await api.call("POST", "/v1/auditors", OPERATOR_TOKEN, json={"name": "Kiểm"})
    token = auditor["token"]
    status, sent = await api.send(PROVINCE, [COMMUNE, REMOTE_MINISTRY])
    assert status == 201, sent
    await api.report(COMMUNE, sent["id"], "03")
    at, later = {"id": sent["id"]}, {"as_of": "2100-01-01T00:00:00Z"}
    then = await answer(api, "GET", "/v1/documents/{id}", 200, token, at=at, params=later)
    assert then == await answer(api, "GET", "/v1/documents/{id}", 200, token, at=at)
    early = {"as_of": "2000-01-01T00:00:00+07:00"}
    await answer(api, "GET", "/v1/documents/{id}", 404, token, at=at, params=early)
    await answer(api, "GET", "/v1/documents/{id}", 403, api.tokens[PROVINCE], at=at, params=later)
    await answer(api, "GET", "/v1/documents/{id}", 422, token, at=at, params={"as_of": "x"})
    found = await answer(
        api, "GET", "/v1/audit/documents", 200, token, params={"agency": COMMUNE, "q": "dich vu"}
    )
    assert [item["id"] for item in found["items"]] == [sent["id"]]
    await answer(api, "GET", "/v1/audit/documents", 403, api.tokens[COMMUNE])
    await answer(api, "GET", "/v1/audit/documents", 422, token, params={"since": "today"})
    await answer(api, "GET", "/v1/audit/documents", 401)
