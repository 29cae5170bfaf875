"""A third party checks a receipt of the real server with joserfc and the served PEM only."""

from __future__ import annotations

import json

import aiohttp
from joserfc import jws
from joserfc.jwk import ECKey

from tests.support.api import DISTRICT, PROVINCE, Api

from .conftest import Server


async def test_a_receipt_verifies_with_joserfc_and_the_served_certificate_alone(
    api: Api, server: Server, session: aiohttp.ClientSession
) -> None:
    await api.province()
    status, sent = await api.send(PROVINCE, [DISTRICT])
    assert status == 201, sent
    async with session.get(f"{server.base_url}/v1/router/certificate") as r:
        assert r.status == 200
        pem = await r.read()
    verified = jws.deserialize_compact(sent["receipt"], ECKey.import_key(pem), ["ES256"])
    assert verified.payload is not None
    payload = json.loads(verified.payload)
    assert payload["document_id"] == sent["id"]
    assert payload["kind"] == "sent"
    assert payload["agency"] == PROVINCE
    assert payload["status"] is None
    assert payload["recorded_at"] == sent["sent_at"]
