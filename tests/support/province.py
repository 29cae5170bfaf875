"""A seeded province with a principal of every kind, for tests that aim at real resources.

The owner (the province) sends and receives documents and has rotated its token once; the outsider
(a commune) is party to none of them; the suspended agency (a department) neither.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.pki import pem
from tests.conftest import OPERATOR_TOKEN
from tests.support.api import (
    COMMUNE,
    COMMUNE_2,
    DEPARTMENT,
    DISTRICT,
    PROVINCE,
    REMOTE_MINISTRY,
    Api,
    attachment,
)
from tests.support.pki import session_ca

OWNER, OUTSIDER, SUSPENDED = PROVINCE, COMMUNE_2, DEPARTMENT
# The owner's registered signing certificate, and one registered to nobody.
OWNER_CERTIFICATE = session_ca().issue("Văn phòng UBND tỉnh")[0]
NEW_CERTIFICATE = session_ca().issue("Chánh Văn phòng")[0]
PRINCIPALS = ("operator", "owner", "outsider", "auditor", "none", "rotated", "suspended")
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 4
UNKNOWN_DOCUMENT = "00000000-0000-4000-8000-000000000000"


@dataclass(frozen=True)
class Province:
    """Tokens by principal (None for no token) and the seeded documents' ids."""

    tokens: dict[str, str | None]
    agencies: dict[str, str]  # local agencies' tokens by code
    sent: str  # owner -> district, commune; one attachment; the commune accepted it (03)
    received: str  # district -> owner
    elsewhere: str  # district -> commune: the owner is no party
    revoked: str  # owner -> district, revoked
    abroad: str  # owner -> a ministry over the axis: its package waits in the bridge's queue

    @property
    def documents(self) -> dict[str, str]:
        """Every seeded document id by name, and one that names no document."""
        return {
            "sent": self.sent,
            "received": self.received,
            "elsewhere": self.elsewhere,
            "revoked": self.revoked,
            "axis-item": f"{self.abroad}:document",
            "unknown": UNKNOWN_DOCUMENT,
        }


async def _sent(api: Api, sender: str, to: list[str], external_id: str, **fields: object) -> str:
    status, body = await api.send(sender, to, external_id=external_id, **fields)
    assert status == 201, body
    return str(body["id"])


async def seed(api: Api) -> Province:
    """Registers the province, an auditor and four documents at different stages."""
    await api.province()
    rotated = api.tokens[OWNER]
    status, body = await api.call("POST", f"/v1/agencies/{OWNER}/token", OPERATOR_TOKEN)
    assert status == 200, body
    api.tokens[OWNER] = body["token"]
    status, auditor = await api.call("POST", "/v1/auditors", OPERATOR_TOKEN, json={"name": "Soát"})
    assert status == 201, auditor
    sent = await _sent(
        api, OWNER, [DISTRICT, COMMUNE], "SEED-1", attachments=[attachment("cv.pdf", PDF)]
    )
    status, body = await api.report(COMMUNE, sent, "03")
    assert status == 201, body
    revoked = await _sent(api, OWNER, [DISTRICT], "SEED-2")
    status, body = await api.call(
        "POST", f"/v1/documents/{revoked}/revoke", api.tokens[OWNER], json={"reason": "Nhầm"}
    )
    assert status == 200, body
    province = Province(
        tokens={
            "operator": OPERATOR_TOKEN,
            "owner": api.tokens[OWNER],
            "outsider": api.tokens[OUTSIDER],
            "auditor": auditor["token"],
            "none": None,
            "rotated": rotated,
            "suspended": api.tokens[SUSPENDED],
        },
        agencies=dict(api.tokens),
        sent=sent,
        received=await _sent(api, DISTRICT, [OWNER], "SEED-3"),
        elsewhere=await _sent(api, DISTRICT, [COMMUNE], "SEED-4"),
        revoked=revoked,
        abroad=await _sent(api, OWNER, [REMOTE_MINISTRY], "SEED-5"),
    )
    status, body = await api.register_certificate(OWNER, pem(OWNER_CERTIFICATE))
    assert status == 201, body
    status, body = await api.call("POST", f"/v1/agencies/{SUSPENDED}/suspend", OPERATOR_TOKEN)
    assert status == 200, body
    return province
