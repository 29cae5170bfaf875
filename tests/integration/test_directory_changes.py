"""Merges, retirements, moves, renames and group addressing over HTTP, on each store."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from router.app import create_app
from router.config import Config
from router.services import SERVICES
from tests.conftest import OPERATOR_TOKEN
from tests.e2e.helpers import eventually
from tests.support.api import COMMUNE, COMMUNE_2, DISTRICT, PROVINCE, Api


async def test_a_merged_commune_keeps_receiving_through_its_successor(api: Api) -> None:
    await api.province()
    status, merged = await api.call(
        "POST", f"/v1/agencies/{COMMUNE}/merge", OPERATOR_TOKEN, json={"into": COMMUNE_2}
    )
    assert status == 200, merged
    assert (merged["status"], merged["successor"]) == ("merged", COMMUNE_2)
    status, sent = await api.send(PROVINCE, [COMMUNE, DISTRICT])
    assert status == 201, sent
    assert [(r["agency"], r["delivered_to"]) for r in sent["recipients"]] == [
        (COMMUNE, COMMUNE_2),
        (DISTRICT, None),
    ]
    _, inbox = await api.call("GET", "/v1/inbox", api.tokens[COMMUNE_2])
    assert [i["id"] for i in inbox["items"]] == [sent["id"]]
    assert (await api.report(COMMUNE_2, sent["id"], "03"))[0] == 201
    _, outbox = await api.call("GET", "/v1/outbox", api.tokens[PROVINCE])
    assert outbox["items"][0]["recipients"] == [
        {"agency": DISTRICT, "delivered_to": None, "status": "delivered"},
        {"agency": COMMUNE, "delivered_to": COMMUNE_2, "status": "03"},
    ]
    _, listed = await api.call("GET", "/v1/agencies?tier=commune", api.tokens[PROVINCE])
    assert [(a["code"], a["status"]) for a in listed["items"]] == [
        (COMMUNE, "merged"),
        (COMMUNE_2, "active"),
    ]


async def test_merges_are_refused_when_they_would_loop_or_come_twice(api: Api) -> None:
    await api.province()
    path = f"/v1/agencies/{COMMUNE}/merge"
    assert (await api.call("POST", path, OPERATOR_TOKEN, json={"into": COMMUNE_2}))[0] == 200
    status, body = await api.call(
        "POST", f"/v1/agencies/{COMMUNE_2}/merge", OPERATOR_TOKEN, json={"into": COMMUNE}
    )
    assert status == 422, body
    assert body["errors"][0]["field"] == "into"
    assert (await api.call("POST", path, OPERATOR_TOKEN, json={"into": DISTRICT}))[0] == 409
    status, body = await api.call(
        "POST", f"/v1/agencies/{DISTRICT}/retire", OPERATOR_TOKEN, json={"effective": "2020-01-01"}
    )
    assert status == 422, body
    assert (await api.call("POST", path, api.tokens[PROVINCE], json={"into": DISTRICT}))[0] == 403


async def test_a_retired_agency_is_refused_as_a_recipient(api: Api) -> None:
    await api.province()
    status, retired = await api.call(
        "POST", f"/v1/agencies/{COMMUNE_2}/retire", OPERATOR_TOKEN, json={}
    )
    assert (status, retired["status"]) == (200, "retired")
    status, body = await api.send(PROVINCE, [COMMUNE, COMMUNE_2])
    assert status == 422
    assert body["errors"] == [{"field": "to[1]", "message": f"agency {COMMUNE_2} is retired"}]


async def test_a_committee_writes_to_every_commune_of_its_province(api: Api) -> None:
    await api.province()
    # 500 communes under 10 districts (codes DDD.DD.DD: district 03..12, commune 01..50).
    districts = [f"000.{d:02d}.00.H41" for d in range(3, 13)]
    communes = [f"000.{d:02d}.{c:02d}.H41" for d in range(3, 13) for c in range(1, 51)]
    await asyncio.gather(*(api.register(code, "district", PROVINCE) for code in districts))
    await asyncio.gather(*(api.register(code, "commune", code[:7] + "00.H41") for code in communes))
    status, sent = await api.send(
        PROVINCE, [COMMUNE], to_groups=[{"tier": "commune", "under": PROVINCE}]
    )
    assert status == 201, sent
    reached = sorted(r["agency"] for r in sent["recipients"])
    assert reached == sorted([COMMUNE, COMMUNE_2, *communes])
    assert len(reached) == 502
    _, inbox = await api.call("GET", "/v1/inbox", api.tokens[communes[-1]])
    assert [i["id"] for i in inbox["items"]] == [sent["id"]]
    status, body = await api.send(PROVINCE, [], to_groups=[{"tier": "central", "under": DISTRICT}])
    assert status == 422, body
    assert body["errors"][0]["field"] == "to_groups[0]"


class Calendar:
    """Vietnam's date as the router sees it, moved by the test."""

    def __init__(self) -> None:
        self.day = date(2026, 11, 25)

    def __call__(self) -> str:
        return self.day.isoformat()

    def advance(self, days: int) -> None:
        self.day += timedelta(days=days)


@pytest.fixture
def calendar() -> Calendar:
    return Calendar()


@pytest.fixture
async def dated(store_config: Config, calendar: Calendar, aiohttp_client: Any) -> Api:
    """A router on each store whose calendar the test moves, with a fast directory clock."""
    config = replace(store_config, today=calendar, clock_interval=0.05, grace_days=30)
    return Api(await aiohttp_client(create_app(config)))


async def _inbox(api: Api, agency: str) -> list[str]:
    status, page = await api.call("GET", "/v1/inbox", api.tokens[agency])
    assert status == 200, page
    return [item["id"] for item in page["items"]]


async def test_open_inbox_items_pass_to_the_successor_on_the_merge_date(
    dated: Api, calendar: Calendar
) -> None:
    api = dated
    await api.province()
    _, open_doc = await api.send(PROVINCE, [COMMUNE, DISTRICT], external_id="OPEN")
    _, refused = await api.send(PROVINCE, [COMMUNE], external_id="REFUSED")
    assert (await api.report(COMMUNE, refused["id"], "02", note="không thuộc thẩm quyền"))[0] == 201
    assert (await api.report(COMMUNE, open_doc["id"], "01"))[0] == 201
    tomorrow = (calendar.day + timedelta(days=1)).isoformat()
    status, merged = await api.call(
        "POST",
        f"/v1/agencies/{COMMUNE}/merge",
        OPERATOR_TOKEN,
        json={"into": COMMUNE_2, "effective": tomorrow},
    )
    assert (status, merged["status"]) == (200, "active")
    await asyncio.sleep(0.2)
    assert await _inbox(api, COMMUNE) == [refused["id"], open_doc["id"]]

    calendar.advance(1)
    moved = await eventually(lambda: _inbox(api, COMMUNE_2), lambda ids: ids == [open_doc["id"]])
    assert moved == [open_doc["id"]]
    assert await _inbox(api, COMMUNE) == [refused["id"]]
    status, body = await api.report(COMMUNE, open_doc["id"], "03")
    assert status == 403, body
    assert (await api.report(COMMUNE_2, open_doc["id"], "03"))[0] == 201
    _, outbox = await api.call("GET", "/v1/outbox", api.tokens[PROVINCE])
    lines = {item["id"]: item["recipients"] for item in outbox["items"]}
    assert lines[open_doc["id"]] == [
        {"agency": DISTRICT, "delivered_to": None, "status": "delivered"},
        {"agency": COMMUNE, "delivered_to": COMMUNE_2, "status": "03"},
    ]
    assert lines[refused["id"]] == [{"agency": COMMUNE, "delivered_to": None, "status": "02"}]

    # The successor reads the document and its part of the history, hand-over included.
    status, seen = await api.call("GET", f"/v1/documents/{open_doc['id']}", api.tokens[COMMUNE_2])
    assert status == 200, seen
    assert [r["status"] for r in seen["recipients"][0]["history"]] == ["delivered", "01", "03"]
    _, history = await api.call(
        "GET", f"/v1/documents/{open_doc['id']}/history", api.tokens[COMMUNE_2]
    )
    assert [e["type"] for e in history["items"]] == [
        "DocumentSent",
        "DocumentStatusReported",
        "DocumentHandedOver",
        "DocumentStatusReported",
    ]
    # The merged commune still reads its history during the grace period, then no longer.
    for doc in (open_doc, refused):
        status, _ = await api.call("GET", f"/v1/documents/{doc['id']}", api.tokens[COMMUNE])
        assert status == 200
    calendar.advance(30)
    await asyncio.sleep(1.1)  # the authenticator caches answers for a second
    status, body = await api.call("GET", f"/v1/documents/{refused['id']}", api.tokens[COMMUNE])
    assert status == 401, body
    assert f"agency {COMMUNE} ended on" in body["detail"]
    assert "for 30 days" in body["detail"]


async def test_a_scheduled_move_takes_effect_on_its_date(dated: Api, calendar: Calendar) -> None:
    api = dated
    await api.province()
    tomorrow = (calendar.day + timedelta(days=1)).isoformat()
    status, agency = await api.call(
        "POST",
        f"/v1/agencies/{COMMUNE}/move",
        OPERATOR_TOKEN,
        json={"parent": PROVINCE, "tier": "commune", "effective": tomorrow},
    )
    assert status == 200, agency
    assert agency["parent"] == DISTRICT
    assert agency["pending_move"] == {"parent": PROVINCE, "tier": "commune", "effective": tomorrow}
    group = [{"tier": "commune", "under": DISTRICT}]
    _, earlier = await api.send(PROVINCE, [], to_groups=group, external_id="BEFORE")
    assert sorted(r["agency"] for r in earlier["recipients"]) == [COMMUNE, COMMUNE_2]

    calendar.advance(1)

    async def parent() -> Any:
        return (await api.call("GET", f"/v1/agencies/{COMMUNE}", api.tokens[PROVINCE]))[1]

    after = await eventually(parent, lambda a: a["parent"] == PROVINCE)
    assert (after["parent"], after["pending_move"]) == (PROVINCE, None)
    _, sent = await api.send(PROVINCE, [], to_groups=group, external_id="AFTER")
    assert [r["agency"] for r in sent["recipients"]] == [COMMUNE_2]
    # The document sent before the move keeps the recipients it had.
    _, before = await api.call("GET", f"/v1/documents/{earlier['id']}", api.tokens[PROVINCE])
    assert sorted(r["agency"] for r in before["recipients"]) == [COMMUNE, COMMUNE_2]


async def test_moves_and_renames_are_checked(api: Api) -> None:
    await api.province()
    path = f"/v1/agencies/{DISTRICT}/move"
    status, body = await api.call(
        "POST", path, OPERATOR_TOKEN, json={"parent": COMMUNE, "tier": "district"}
    )
    assert status == 422, body
    assert body["errors"][0]["field"] == "parent"
    status, body = await api.call(
        "POST", path, OPERATOR_TOKEN, json={"parent": PROVINCE, "tier": "shire"}
    )
    assert (status, body["errors"][0]["field"]) == (422, "tier")
    move = {"parent": PROVINCE, "tier": "commune"}
    assert (await api.call("POST", path, api.tokens[PROVINCE], json=move))[0] == 403
    assert (await api.call("POST", "/v1/agencies/000.09.09.H41/move", OPERATOR_TOKEN, json=move))[
        0
    ] == 404

    name = "Ủy ban nhân dân thị xã Nghi Lộc"
    status, renamed = await api.call(
        "PATCH", f"/v1/agencies/{DISTRICT}", OPERATOR_TOKEN, json={"name": name}
    )
    assert (status, renamed["name"]) == (200, name)
    _, read = await api.call("GET", f"/v1/agencies/{DISTRICT}", api.tokens[COMMUNE])
    assert read["name"] == name
    for body, expected in (({"name": ""}, 422), ({"name": name, "code": "x"}, 422)):
        status, _ = await api.call("PATCH", f"/v1/agencies/{DISTRICT}", OPERATOR_TOKEN, json=body)
        assert status == expected
    status, _ = await api.call(
        "PATCH", f"/v1/agencies/{DISTRICT}", api.tokens[DISTRICT], json={"name": "x"}
    )
    assert status == 403


async def test_a_successor_holding_two_lines_of_a_document_sees_it_once(api: Api) -> None:
    await api.province()
    _, both = await api.send(PROVINCE, [COMMUNE, COMMUNE_2])
    assert (await api.report(COMMUNE_2, both["id"], "01"))[0] == 201
    assert (await api.report(COMMUNE_2, both["id"], "03"))[0] == 201
    # Merged now: the line it took over has seen nothing yet, and its inbox says so.
    await api.call(
        "POST", f"/v1/agencies/{COMMUNE}/merge", OPERATOR_TOKEN, json={"into": COMMUNE_2}
    )
    _, inbox = await api.call("GET", "/v1/inbox?status=delivered", api.tokens[COMMUNE_2])
    assert [(i["id"], i["status"]) for i in inbox["items"]] == [(both["id"], "delivered")]
    assert (await api.report(COMMUNE_2, both["id"], "01"))[0] == 201
    _, inbox = await api.call("GET", "/v1/inbox", api.tokens[COMMUNE_2])
    assert [(i["id"], i["status"]) for i in inbox["items"]] == [(both["id"], "01")]
    assert (await api.report(COMMUNE_2, both["id"], "03"))[0] == 201
    _, seen = await api.call("GET", f"/v1/documents/{both['id']}", api.tokens[COMMUNE_2])
    assert [(r["agency"], r["delivered_to"], r["status"]) for r in seen["recipients"]] == [
        (COMMUNE, COMMUNE_2, "03"),
        (COMMUNE_2, None, "03"),
    ]


async def test_lines_to_hand_over_are_looked_for_only_under_merged_agencies(api: Api) -> None:
    """The directory clock asks at every tick: while no merge is due the question stops at the
    directory (one query joining the lines walked all of them in document order, seconds at a
    million documents); once one is, it finds the merged agency's open lines."""
    views = api.session.app[SERVICES].views  # type: ignore[attr-defined]
    await api.province()
    _, sent = await api.send(PROVINCE, [COMMUNE, DISTRICT], external_id="OPEN")
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    status, _ = await api.call(
        "POST",
        f"/v1/agencies/{COMMUNE}/merge",
        OPERATOR_TOKEN,
        json={"into": COMMUNE_2, "effective": tomorrow},
    )
    assert status == 200
    statements: list[str] = []

    def seen(_c: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    sa.event.listen(views.engine, "before_cursor_execute", seen)
    try:
        assert (
            await asyncio.to_thread(views.lines_to_hand_over, date.today().isoformat(), "", 200)
            == []
        )
        assert statements
        assert not any("view_recipients" in s for s in statements)
        due = await asyncio.to_thread(views.lines_to_hand_over, tomorrow, "", 200)
    finally:
        sa.event.remove(views.engine, "before_cursor_execute", seen)
    assert due == [sent["id"]]
    assert await asyncio.to_thread(views.lines_to_hand_over, tomorrow, sent["id"], 200) == []
