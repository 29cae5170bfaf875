"""Who may call what: one table of every route against every kind of caller, on a seeded store.

Each row is a route with a request aimed at the seeded province (see tests/support/province.py);
its columns are the status each caller gets. The owner is the agency the request is about (the
sender, or the recipient for a status report, or the agency the path names); the outsider is party
to nothing; the rotated token is the owner's token before its rotation; the suspended agency is
party to nothing either, so its refusals must not reveal that a document exists. Every cell is a
test on a fresh copy of the store, and every refusal records nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from adapters.pki import pem
from adapters.trust import fingerprint
from router.app import create_app
from router.config import Config
from tests.support.api import (
    DISTRICT,
    MINISTRY,
    PROVINCE,
    Api,
    auth,
    document,
    position,
    registered_routes,
)
from tests.support.province import (
    NEW_CERTIFICATE,
    OWNER,
    OWNER_CERTIFICATE,
    PRINCIPALS,
    SUSPENDED,
    Province,
)

PERIOD = {"from": "2026-01-01", "to": "2030-12-31"}


@dataclass(frozen=True)
class Row:
    """A route, a request aimed at the seeded province, and each caller's status."""

    method: str
    template: str
    expected: dict[str, int]
    at: dict[str, str] = field(default_factory=dict)
    json: Any = None
    params: dict[str, str] | None = None

    @property
    def query(self) -> str:
        """The names of the query parameters, to tell rows of one route apart."""
        return f"?{'&'.join(self.params)}" if self.params else ""

    def path(self, province: Province) -> str:
        """The path, its parameters naming agency codes or seeded documents."""
        names = province.documents
        return self.template.format_map({k: names.get(v, v) for k, v in self.at.items()})


def row(route: str, statuses: str, **request: Any) -> Row:
    """Builds a row from 'METHOD /template' and the statuses in the order of PRINCIPALS."""
    method, template = route.split()
    expected = dict(zip(PRINCIPALS, map(int, statuses.split()), strict=True))
    return Row(method, template, expected, **request)


# fmt: off
# statuses by caller: operator, owner, outsider, auditor, none (no token), rotated, suspended
#                                                op  own out aud non rot sus
TABLE = [
    row("GET /healthz",                         "200 200 200 200 200 200 200"),
    row("GET /readyz",                          "200 200 200 200 200 200 200"),
    row("GET /metrics",                         "200 200 200 200 200 200 200"),
    row("GET /v1/openapi.json",                 "200 200 200 200 200 200 200"),
    row("POST /v1/agencies",                    "201 403 403 403 401 401 403", json={
        "code": "000.02.00.H41", "name": "UBND huyện Nam Đàn", "tier": "district",
        "parent": PROVINCE}),
    row("GET /v1/agencies",                     "200 200 200 200 401 401 200"),
    row("GET /v1/agencies/{code}",              "200 200 200 200 401 401 200", at={"code": OWNER}),
    row("PATCH /v1/agencies/{code}",            "200 403 403 403 401 401 403", at={"code": OWNER},
        json={"name": "Ủy ban nhân dân tỉnh Nghệ An"}),
    row("POST /v1/agencies/{code}/token",       "200 403 403 403 401 401 403", at={"code": OWNER}),
    row("POST /v1/agencies/{code}/suspend",     "200 403 403 403 401 401 403", at={"code": OWNER}),
    row("POST /v1/agencies/{code}/resume",      "200 403 403 403 401 401 403",
        at={"code": SUSPENDED}),
    row("POST /v1/agencies/{code}/merge",       "200 403 403 403 401 401 403", at={"code": OWNER},
        json={"into": MINISTRY}),
    row("POST /v1/agencies/{code}/retire",      "200 403 403 403 401 401 403", at={"code": OWNER},
        json={}),
    row("POST /v1/agencies/{code}/move",        "200 403 403 403 401 401 403", at={"code": OWNER},
        json={"parent": MINISTRY, "tier": "province"}),
    row("POST /v1/agencies/{code}/certificates", "201 403 403 403 401 401 403",
        at={"code": OWNER}, json={"pem": pem(NEW_CERTIFICATE)}),
    row("GET /v1/agencies/{code}/certificates", "200 200 403 200 401 401 403",
        at={"code": OWNER}),
    row("DELETE /v1/agencies/{code}/certificates/{fingerprint}",
                                                "200 403 403 403 401 401 403",
        at={"code": OWNER, "fingerprint": fingerprint(OWNER_CERTIFICATE)}),
    row("POST /v1/auditors",                    "201 403 403 403 401 401 403",
        json={"name": "Thanh tra tỉnh"}),
    row("POST /v1/documents",                   "403 201 201 403 401 401 403",
        json=document([DISTRICT])),
    row("GET /v1/documents/{id}",               "403 200 404 200 401 401 404", at={"id": "sent"}),
    row("GET /v1/documents/{id}",               "403 403 403 200 401 401 403", at={"id": "sent"},
        params={"as_of": "2030-01-01T00:00:00Z"}),
    row("GET /v1/documents/{id}/attachments/{n}", "403 200 404 200 401 401 404",
        at={"id": "sent", "n": "0"}),
    row("GET /v1/documents/{id}/history",       "403 200 404 200 401 401 404", at={"id": "sent"}),
    row("POST /v1/documents/{id}/status",       "403 201 404 403 401 401 404",
        at={"id": "received"}, json={"status": "01"}),
    row("POST /v1/documents/{id}/revoke",       "403 200 404 403 401 401 404", at={"id": "sent"},
        json={"reason": "Ban hành nhầm"}),
    row("GET /v1/inbox",                        "403 200 200 403 401 401 200"),
    row("GET /v1/outbox",                       "403 200 200 403 401 401 200"),
    row("GET /v1/events",                       "403 403 403 200 401 401 403"),
    row("GET /v1/router/certificate",           "200 200 200 200 200 200 200"),
    row("GET /v1/documents/{id}/receipts",      "403 200 404 200 401 401 404", at={"id": "sent"}),
    row("GET /v1/documents/{id}/evidence",      "403 200 404 200 401 401 404", at={"id": "sent"}),
    row("GET /v1/checkpoints/latest",           "200 200 200 200 401 401 200"),
    row("GET /v1/checkpoints",                  "403 403 403 200 401 401 403"),
    row("GET /v1/checkpoints/consistency",      "403 403 403 200 401 401 403",
        params={"from": "1"}),
    row("GET /v1/events/{position}/proof",      "403 403 403 200 401 401 403",
        at={"position": "1"}),
    row("GET /v1/stats",                        "200 200 403 200 401 401 403",
        params=PERIOD | {"agency": OWNER}),
    row("GET /v1/axis/queue",                   "200 403 403 403 401 401 403"),
    row("POST /v1/axis/queue/{id}/park",        "200 403 403 403 401 401 403",
        at={"id": "axis-item"}, json={"reason": "Bộ yêu cầu tạm dừng"}),
    row("POST /v1/axis/queue/{id}/retry",       "409 403 403 403 401 401 403",
        at={"id": "axis-item"}),
    row("GET /v1/audit/documents",              "403 403 403 200 401 401 403"),
]
# fmt: on
CELLS = [
    pytest.param(r, p, id=f"{r.method} {r.template}{r.query} as {p}")
    for r in TABLE
    for p in PRINCIPALS
]


def test_the_table_has_a_row_for_every_route_the_app_registers(tmp_path: Path) -> None:
    registered = registered_routes(create_app(Config(data_dir=tmp_path)))
    assert {(r.method, r.template) for r in TABLE} == registered


@pytest.mark.parametrize(("route", "principal"), CELLS)
async def test_each_caller_gets_the_status_the_table_gives(
    seeded: tuple[Api, Province], route: Row, principal: str
) -> None:
    api, province = seeded
    before = await position(api)
    async with api.session.request(
        route.method,
        route.path(province),
        json=route.json,
        params=route.params,
        headers=auth(token) if (token := province.tokens[principal]) else {},
    ) as r:
        body = await r.read()
        assert r.status == route.expected[principal], body
        if r.status >= 400:
            assert r.content_type == "application/problem+json", body
    if r.status >= 400:
        assert await position(api) == before, "a refused request recorded events"
