"""A small client of the HTTP API used by integration and end-to-end tests."""

from __future__ import annotations

import base64
import itertools
from typing import Any, Protocol

from aiohttp import web

from tests.conftest import OPERATOR_TOKEN

_external_ids = itertools.count(1)

PROVINCE = "000.00.00.H41"
DEPARTMENT = "000.00.11.H41"
DISTRICT = "000.01.00.H41"
COMMUNE = "000.01.01.H41"
COMMUNE_2 = "000.01.02.H41"
MINISTRY = "000.00.00.G09"
REMOTE_MINISTRY = "000.00.00.G22"

# code, tier, parent, remote
FOUR_TIERS = [
    (MINISTRY, "central", None, False),
    (PROVINCE, "province", None, False),
    (DEPARTMENT, "province", PROVINCE, False),
    (DISTRICT, "district", PROVINCE, False),
    (COMMUNE, "commune", DISTRICT, False),
    (COMMUNE_2, "commune", DISTRICT, False),
    (REMOTE_MINISTRY, "central", None, True),
]


class Response(Protocol):
    status: int

    async def json(self) -> Any: ...


class Session(Protocol):
    def request(self, method: str, url: str, **kwargs: Any) -> Any: ...


def auth(token: str) -> dict[str, str]:
    """Returns the Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}


def document(to: list[str], **fields: Any) -> dict[str, Any]:
    """Returns a valid document body, overridden by fields."""
    body: dict[str, Any] = {
        "external_id": f"EXT-{next(_external_ids)}",
        "to": to,
        "code_number": "123",
        "code_notation": "UBND-VX",
        "document_type": "cong-van",
        "subject": "Về việc đẩy mạnh dịch vụ công trực tuyến mức độ 4",
        "promulgated_on": "2026-11-24",
        "place": "Nghệ An",
        "priority": "normal",
        "due_on": "2026-12-01",
        "signer": {"name": "Ngô Hùng", "position": "Phó Chủ tịch"},
    }
    body.update(fields)
    return body


def attachment(name: str, data: bytes, content_type: str = "application/pdf") -> dict[str, str]:
    """Returns an attachment object carrying data."""
    return {
        "name": name,
        "content_type": content_type,
        "content_base64": base64.b64encode(data).decode(),
    }


def registered_routes(app: web.Application) -> set[tuple[str, str]]:
    """Returns the (method, path template) of every route the app serves, HEAD aside."""
    return {
        (r.method, r.resource.canonical)
        for r in app.router.routes()
        if r.method not in ("HEAD", "OPTIONS") and r.resource is not None
    }


async def position(api: Api) -> int:
    """Returns the event store's head position."""
    status, body = await api.call("GET", "/readyz")
    assert status == 200, body
    return int(body["store_position"])


class Api:
    """Calls the API through any aiohttp-like session (TestClient or ClientSession + base URL)."""

    def __init__(self, session: Session, base_url: str = "") -> None:
        self.session = session
        self.base_url = base_url
        self.tokens: dict[str, str] = {}

    async def call(
        self, method: str, path: str, token: str | None = None, json: Any = None, **kwargs: Any
    ) -> tuple[int, Any]:
        """Makes one call; returns the status and the decoded JSON body (or None)."""
        headers = kwargs.pop("headers", {})
        if token is not None:
            headers |= auth(token)
        async with self.session.request(
            method, self.base_url + path, json=json, headers=headers, **kwargs
        ) as r:
            body = await r.json(content_type=None) if r.content_length != 0 else None
            return r.status, body

    async def register(
        self,
        code: str,
        tier: str,
        parent: str | None = None,
        remote: bool = False,
        name: str | None = None,
    ) -> str | None:
        """Registers an agency as the operator; remembers and returns its token."""
        status, body = await self.call(
            "POST",
            "/v1/agencies",
            OPERATOR_TOKEN,
            json={
                "code": code,
                "name": name or f"Cơ quan {code}",
                "tier": tier,
                "parent": parent,
                "remote": remote,
            },
        )
        assert status == 201, body
        if not remote:
            self.tokens[code] = body["token"]
        return body.get("token")

    async def register_certificate(self, code: str, certificate_pem: str) -> tuple[int, Any]:
        """Registers a signing certificate (PEM) for an agency as the operator."""
        return await self.call(
            "POST",
            f"/v1/agencies/{code}/certificates",
            OPERATOR_TOKEN,
            json={"pem": certificate_pem},
        )

    async def province(self) -> None:
        """Registers a province across the four tiers, with one remote ministry."""
        for code, tier, parent, remote in FOUR_TIERS:
            await self.register(code, tier, parent, remote)

    async def send(self, sender: str, to: list[str], **fields: Any) -> tuple[int, Any]:
        """Sends a document from an agency."""
        return await self.call(
            "POST", "/v1/documents", self.tokens[sender], json=document(to, **fields)
        )

    async def report(
        self, agency: str, document_id: str, status: str, **fields: Any
    ) -> tuple[int, Any]:
        """Reports processing status as a recipient."""
        return await self.call(
            "POST",
            f"/v1/documents/{document_id}/status",
            self.tokens[agency],
            json={"status": status, **fields},
        )
