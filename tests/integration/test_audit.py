"""Auditors on each store: a document as of past instants equals the replay of the whole history
at those instants, and the history search filters, folds accents and pages without gaps."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import datetime
from typing import Any

from rich.progress import Progress

from router.config import Config
from router.replay import replay
from tests.conftest import OPERATOR_TOKEN
from tests.support.api import COMMUNE, COMMUNE_2, DISTRICT, PROVINCE, REMOTE_MINISTRY, Api

EARLY = "2000-01-01T00:00:00Z"


async def auditor(api: Api) -> str:
    """Registers an auditor; returns its token."""
    status, body = await api.call(
        "POST", "/v1/auditors", OPERATOR_TOKEN, json={"name": "Thanh tra tỉnh"}
    )
    assert status == 201, body
    return str(body["token"])


async def history(api: Api) -> list[str]:
    """Sends, reports on, revokes and answers documents; returns their ids."""
    await api.province()
    ids = []
    for to in ([DISTRICT, COMMUNE], [COMMUNE, REMOTE_MINISTRY], [COMMUNE_2]):
        status, sent = await api.send(PROVINCE, to)
        assert status == 201, sent
        ids.append(sent["id"])
    for code in ("01", "03", "04"):
        assert (await api.report(COMMUNE, ids[0], code))[0] == 201
    assert (await api.report(DISTRICT, ids[0], "02", note="Không thuộc thẩm quyền"))[0] == 201
    assert (await api.report(COMMUNE, ids[1], "03"))[0] == 201
    revoke = {"reason": "Ban hành nhầm"}
    status, _ = await api.call(
        "POST", f"/v1/documents/{ids[1]}/revoke", api.tokens[PROVINCE], revoke
    )
    assert status == 200
    assert (await api.report(COMMUNE, ids[1], "16", note="Đã triển khai"))[0] == 201
    assert (await api.report(COMMUNE_2, ids[2], "01"))[0] == 201
    return ids


async def replayed(config: Config, until: str) -> list[dict[str, Any]]:
    """The JSON Lines of `lienthong audit replay --until`, run in-process on the store."""
    out = io.BytesIO()
    moment = datetime.fromisoformat(until)
    await asyncio.to_thread(replay, config, moment, None, out, Progress(disable=True))
    return [json.loads(line) for line in out.getvalue().splitlines()]


def inboxes(lines: list[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
    """The inbox lines of a replay, by agency."""
    return {line["agency"]: line["documents"] for line in lines if line["kind"] == "inbox"}


async def test_a_document_as_of_each_instant_equals_the_replay_then(
    api: Api, store_config: Config
) -> None:
    ids = await history(api)
    token = await auditor(api)
    status, events = await api.call("GET", "/v1/events", token, params={"limit": 500})
    assert status == 200
    instants = [EARLY] + [e["recorded_at"] for e in events["items"]]
    for until in instants:
        lines = await replayed(store_config, until)
        documents = {line["id"]: line for line in lines if line.pop("kind") == "document"}
        for doc in ids:
            status, body = await api.call(
                "GET", f"/v1/documents/{doc}", token, params={"as_of": until}
            )
            if doc in documents:
                assert (status, body) == (200, documents[doc]), until
            else:
                assert status == 404, (until, body)
    # At the last instant, both equal the document as the live views give it now.
    for doc in ids:
        status, now = await api.call("GET", f"/v1/documents/{doc}", token)
        assert status == 200
        assert documents[doc] == now


async def test_the_replay_lists_each_local_inbox_as_it_stood(
    api: Api, store_config: Config
) -> None:
    ids = await history(api)
    token = await auditor(api)
    _, events = await api.call("GET", "/v1/events", token, params={"limit": 500})
    revoked_at = next(e for e in events["items"] if e["type"] == "DocumentRevoked")["recorded_at"]
    before = inboxes(await replayed(store_config, revoked_at))
    assert before[COMMUNE] == [{"id": ids[1], "status": "13"}, {"id": ids[0], "status": "04"}]
    assert REMOTE_MINISTRY not in before  # reached through the axis: no inbox on this router
    now = inboxes(await replayed(store_config, events["items"][-1]["recorded_at"]))
    assert now[COMMUNE] == [{"id": ids[1], "status": "03"}, {"id": ids[0], "status": "04"}]
    status, inbox = await api.call("GET", "/v1/inbox", api.tokens[COMMUNE])
    assert status == 200
    assert [{"id": i["id"], "status": i["status"]} for i in inbox["items"]] == now[COMMUNE]


async def test_as_of_is_for_auditors_and_checks_its_time(api: Api) -> None:
    ids = await history(api)
    token = await auditor(api)
    path = f"/v1/documents/{ids[0]}"
    for caller in (api.tokens[PROVINCE], api.tokens[COMMUNE], OPERATOR_TOKEN):
        status, body = await api.call("GET", path, caller, params={"as_of": "2030-01-01T00:00:00Z"})
        assert status == 403, body
    for bad in ("yesterday", "2026-11-24T17:00:00", "2026-13-01T00:00:00Z", ""):
        status, body = await api.call("GET", path, token, params={"as_of": bad})
        assert status == 422, body
        assert body["errors"][0]["field"] == "as_of"
    unknown = "/v1/documents/00000000-0000-4000-8000-000000000000"
    status, _ = await api.call("GET", unknown, token, params={"as_of": "2030-01-01T00:00:00Z"})
    assert status == 404
