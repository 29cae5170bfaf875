"""`lienthong audit replay` as its own process on the data directory of a running router."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.api import COMMUNE, COMMUNE_2, DISTRICT, PROVINCE, Api

from .conftest import Server
from .helpers import lienthong, new_auditor

REPLAY_SECONDS = 60


async def audit_replay(*args: str) -> tuple[int, str, str]:
    """Runs `lienthong audit replay` with args; returns its exit code, stdout and stderr."""
    async with asyncio.timeout(REPLAY_SECONDS):
        return await lienthong("audit", "replay", *args)


def lines_of(text: str) -> list[dict[str, Any]]:
    """Parses JSON Lines, each line one whole object."""
    return [json.loads(line) for line in text.splitlines()]


async def test_a_replay_beside_a_running_router_prints_the_state_then(
    sqlite_server: Server, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    api = Api(session, sqlite_server.base_url)
    await api.province()
    _, first = await api.send(PROVINCE, [DISTRICT, COMMUNE])
    _, second = await api.send(DISTRICT, [COMMUNE_2])
    assert (await api.report(COMMUNE_2, second["id"], "03"))[0] == 201
    auditor = await new_auditor(api)
    data = str(tmp_path / "data")

    code, out, err = await audit_replay("--data", data, "--until", second["sent_at"])
    assert code == 0, err
    assert "replaying events" in err
    assert "events/s" in err
    lines = lines_of(out)
    documents = [line for line in lines if line.pop("kind") == "document"]
    assert [d["id"] for d in documents] == [first["id"], second["id"]]
    for document in documents:
        status, now = await api.call("GET", f"/v1/documents/{document['id']}", auditor)
        assert status == 200
        as_of = {"as_of": second["sent_at"]}
        status, then = await api.call(
            "GET", f"/v1/documents/{document['id']}", auditor, params=as_of
        )
        assert status == 200
        assert document == then
        if document["id"] == first["id"]:
            assert document == now
    # The status report came after the instant: the replay shows the document as delivered.
    assert [r["status"] for r in documents[1]["recipients"]] == ["delivered"]
    inboxes = {line["agency"]: line["documents"] for line in lines[len(documents) :]}
    assert inboxes[COMMUNE_2] == [{"id": second["id"], "status": "delivered"}]
    assert inboxes[PROVINCE] == []

    output = tmp_path / "commune.jsonl"
    args = ("--data", data, "--until", "2100-01-01T00:00:00Z", "--agency", COMMUNE_2)
    code, out, err = await audit_replay(*args, "--output", str(output))
    assert (code, out) == (0, ""), err
    mine = lines_of(output.read_text(encoding="utf-8"))
    assert [(line["kind"], line.get("id") or line["agency"]) for line in mine] == [
        ("document", second["id"]),
        ("inbox", COMMUNE_2),
    ]
    assert mine[1]["documents"] == [{"id": second["id"], "status": "03"}]

    code, _, err = await audit_replay("--data", data, "--until", "2026-11-24 17:00")
    assert code == 2
    assert "RFC 3339" in err
