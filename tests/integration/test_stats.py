"""On-time statistics over HTTP, on each store: every bucket, the rate, subtrees as they were."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from domain.directory import today_in_vietnam
from tests.conftest import OPERATOR_TOKEN
from tests.e2e.helpers import new_auditor
from tests.support.api import COMMUNE, COMMUNE_2, DISTRICT, PROVINCE, Api

TODAY = date.fromisoformat(today_in_vietnam())
DAY = {n: (TODAY + timedelta(days=n)).isoformat() for n in (-3, -1, 0, 1)}


async def _send(api: Api, to: str, due: str | None) -> str:
    status, body = await api.send(PROVINCE, [to], promulgated_on=DAY[-3], due_on=due)
    assert status == 201, body
    return str(body["id"])


async def _walk(api: Api, agency: str, doc: str, *statuses: str) -> None:
    for status in statuses:
        note = {"note": "không thuộc thẩm quyền"} if status == "02" else {}
        code, body = await api.report(agency, doc, status, **note)
        assert code == 201, body


async def _stats(api: Api, token: str, query: str = "") -> tuple[int, Any]:
    return await api.call("GET", f"/v1/stats?from={DAY[0]}&to={DAY[0]}{query}", token)


def _rows(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["code"]: row for row in body["agencies"]}


def _figures(row: dict[str, Any]) -> tuple[int, ...]:
    keys = ("received", "completed_on_time", "completed_late", "refused", "revoked", "open")
    return (*(row[k] for k in keys), row["open_overdue"])


async def test_every_bucket_and_the_on_time_rate(api: Api) -> None:
    await api.province()
    on_time = await _send(api, COMMUNE, DAY[1])
    await _walk(api, COMMUNE, on_time, "01", "03", "06")
    late = await _send(api, COMMUNE, DAY[-1])
    await _walk(api, COMMUNE, late, "03", "06")
    await _send(api, COMMUNE, DAY[-1])  # open past its due date
    await _send(api, COMMUNE_2, DAY[1])  # open, not yet due
    undated = await _send(api, COMMUNE_2, None)
    await _walk(api, COMMUNE_2, undated, "03", "04", "05", "06")
    refused = await _send(api, COMMUNE_2, DAY[1])
    await _walk(api, COMMUNE_2, refused, "02")
    revoked = await _send(api, DISTRICT, DAY[1])
    status, _ = await api.call(
        "POST", f"/v1/documents/{revoked}/revoke", api.tokens[PROVINCE], json={"reason": "nhầm"}
    )
    assert status == 200

    status, body = await _stats(api, OPERATOR_TOKEN)
    assert status == 200, body
    assert (body["from"], body["to"], body["as_of"], body["agency"]) == (
        DAY[0],
        DAY[0],
        DAY[0],
        None,
    )
    rows = _rows(body)
    assert list(rows) == [DISTRICT, COMMUNE, COMMUNE_2]
    # received, on time, late, refused, revoked, open, open past due
    assert _figures(rows[COMMUNE]) == (3, 1, 1, 0, 0, 0, 1)
    assert rows[COMMUNE]["on_time_rate"] == round(1 / 3, 6)
    assert _figures(rows[COMMUNE_2]) == (3, 1, 0, 1, 0, 1, 0)
    assert rows[COMMUNE_2]["on_time_rate"] == 1.0
    assert _figures(rows[DISTRICT]) == (1, 0, 0, 0, 1, 0, 0)
    assert rows[DISTRICT]["on_time_rate"] is None
    assert (rows[COMMUNE]["name"], rows[COMMUNE]["tier"]) == (f"Cơ quan {COMMUNE}", "commune")
    assert _figures(body["total"]) == (7, 2, 1, 1, 1, 1, 1)
    assert body["total"]["on_time_rate"] == 0.5

    # Another period holds nothing.
    status, body = await api.call("GET", f"/v1/stats?from={DAY[-3]}&to={DAY[-1]}", OPERATOR_TOKEN)
    assert (status, body["agencies"], body["total"]["received"]) == (200, [], 0)


async def test_subtrees_roll_up_as_they_were_when_each_document_was_sent(api: Api) -> None:
    await api.province()
    auditor = await new_auditor(api)
    for to in (COMMUNE, COMMUNE_2, DISTRICT):
        await _send(api, to, DAY[1])
    # A reform lifts the commune from the district to the province.
    status, body = await api.call(
        "POST",
        f"/v1/agencies/{COMMUNE}/move",
        OPERATOR_TOKEN,
        json={"parent": PROVINCE, "tier": "commune"},
    )
    assert status == 200, body
    await _send(api, COMMUNE, DAY[1])

    _, district = await _stats(api, api.tokens[DISTRICT], f"&agency={DISTRICT}")
    assert {c: r["received"] for c, r in _rows(district).items()} == {
        DISTRICT: 1,
        COMMUNE: 1,
        COMMUNE_2: 1,
    }
    assert district["total"]["received"] == 3
    _, province = await _stats(api, api.tokens[PROVINCE])
    assert province["agency"] == PROVINCE
    assert {c: r["received"] for c, r in _rows(province).items()} == {
        DISTRICT: 1,
        COMMUNE: 2,
        COMMUNE_2: 1,
    }
    _, communes = await _stats(api, auditor, f"&agency={PROVINCE}&tier=commune")
    assert list(_rows(communes)) == [COMMUNE, COMMUNE_2]
    assert communes["total"]["received"] == 3


async def test_who_may_see_which_figures(api: Api) -> None:
    await api.province()
    await _send(api, COMMUNE, DAY[1])
    await _send(api, COMMUNE_2, DAY[1])
    _, own = await _stats(api, api.tokens[COMMUNE])
    assert (own["agency"], list(_rows(own))) == (COMMUNE, [COMMUNE])
    assert (await _stats(api, api.tokens[COMMUNE], f"&agency={DISTRICT}"))[0] == 403
    assert (await _stats(api, api.tokens[COMMUNE], f"&agency={COMMUNE_2}"))[0] == 403
    assert (await _stats(api, api.tokens[DISTRICT], f"&agency={COMMUNE_2}"))[0] == 200
    assert (await _stats(api, OPERATOR_TOKEN, "&agency=000.09.09.H41"))[0] == 404
    assert (await api.call("GET", f"/v1/stats?from={DAY[0]}&to={DAY[0]}"))[0] == 401


async def test_bad_periods_tiers_and_agencies_are_refused(api: Api) -> None:
    await api.province()
    for query, field in (
        (f"to={DAY[0]}", "from"),
        (f"from={DAY[0]}", "to"),
        (f"from={DAY[0]}&to={DAY[-1]}", "to"),
        (f"from=25/11/2026&to={DAY[0]}", "from"),
        (f"from={DAY[0]}&to={DAY[0]}&tier=shire", "tier"),
        # Found by the fuzzer: an empty agency was taken for none, though it is no agency code.
        (f"from={DAY[0]}&to={DAY[0]}&agency=", "agency"),
        (f"from={DAY[0]}&to={DAY[0]}&agency=H41", "agency"),
    ):
        status, body = await api.call("GET", f"/v1/stats?{query}", OPERATOR_TOKEN)
        assert status == 422, (query, body)
        assert body["errors"][0]["field"] == field
