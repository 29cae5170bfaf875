"""Merges, retirements and group addressing over HTTP, on each store."""

from __future__ import annotations

from tests.conftest import OPERATOR_TOKEN
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
    communes = [f"000.03.{i:02d}.H41" for i in range(1, 31)]
    await api.register("000.03.00.H41", "district", PROVINCE)
    for code in communes:
        await api.register(code, "commune", "000.03.00.H41")
    status, sent = await api.send(
        PROVINCE, [COMMUNE], to_groups=[{"tier": "commune", "under": PROVINCE}]
    )
    assert status == 201, sent
    reached = sorted(r["agency"] for r in sent["recipients"])
    assert reached == sorted([COMMUNE, COMMUNE_2, *communes])
    _, inbox = await api.call("GET", "/v1/inbox", api.tokens[communes[-1]])
    assert [i["id"] for i in inbox["items"]] == [sent["id"]]
    status, body = await api.send(PROVINCE, [], to_groups=[{"tier": "central", "under": DISTRICT}])
    assert status == 422, body
    assert body["errors"][0]["field"] == "to_groups[0]"
