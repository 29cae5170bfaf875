"""The exchange across four tiers, through the real server on each store."""

from __future__ import annotations

from typing import Any

from tests.support.api import (
    COMMUNE,
    COMMUNE_2,
    DEPARTMENT,
    DISTRICT,
    MINISTRY,
    PROVINCE,
    Api,
)

from .helpers import eventually, every_event, ids_in, new_auditor, outbox_lines

STAFF = {"name": "Lê Văn A", "department": "Văn phòng"}


async def _send(api: Api, sender: str, to: list[str], **fields: Any) -> str:
    status, body = await api.send(sender, to, **fields)
    assert status == 201, body
    assert [(r["agency"], r["route"], r["state"]) for r in body["recipients"]] == [
        (code, "local", "delivered") for code in to
    ]
    document_id: str = body["id"]
    return document_id


async def _inbox(api: Api, agency: str, query: str = "") -> list[str]:
    # One item a page, so that every cursor travels through a real URL.
    return await ids_in(api, "/v1/inbox" + query, api.tokens[agency], limit=1)


async def _check_inbox(api: Api, agency: str, want: list[str], query: str = "") -> None:
    """Asserts the agency's inbox lists want, newest first, once the views have caught up."""
    seen = await eventually(lambda: _inbox(api, agency, query), lambda got: got == want)
    assert seen == want, (agency, query)


async def _check_outbox_lines(api: Api, sender: str, doc: str, want: dict[str, str]) -> None:
    """Asserts the sender's outbox shows each recipient's status, once the views caught up."""
    lines = await eventually(lambda: outbox_lines(api, sender, doc), lambda got: got == want)
    assert lines == want


async def test_documents_go_down_up_and_sideways_into_each_recipients_inbox(api: Api) -> None:
    await api.province()
    down = await _send(api, MINISTRY, [PROVINCE, DISTRICT, COMMUNE], subject="Xuống các cấp")
    up = await _send(api, COMMUNE, [PROVINCE, MINISTRY], subject="Báo cáo lên trên")
    sideways = await _send(api, COMMUNE, [COMMUNE_2], subject="Phối hợp ngang cấp")

    expected = {
        MINISTRY: [up],
        PROVINCE: [up, down],
        DEPARTMENT: [],
        DISTRICT: [down],
        COMMUNE: [down],
        COMMUNE_2: [sideways],
    }
    for agency, ids in expected.items():
        await _check_inbox(api, agency, ids)

    _, inbox = await api.call("GET", "/v1/inbox", api.tokens[PROVINCE])
    assert [(i["from"], i["subject"], i["status"]) for i in inbox["items"]] == [
        (COMMUNE, "Báo cáo lên trên", "delivered"),
        (MINISTRY, "Xuống các cấp", "delivered"),
    ]
    outbox = await eventually(lambda: _outbox(api, COMMUNE), lambda got: len(got) == 2)
    assert outbox == [sideways, up]

    status, seen_by_district = await api.call("GET", f"/v1/documents/{down}", api.tokens[DISTRICT])
    assert status == 200, seen_by_district
    assert seen_by_district["from"] == MINISTRY
    assert [r["agency"] for r in seen_by_district["recipients"]] == [DISTRICT]
    status, _ = await api.call("GET", f"/v1/documents/{sideways}", api.tokens[DISTRICT])
    assert status == 404


async def _outbox(api: Api, sender: str) -> list[str]:
    return await ids_in(api, "/v1/outbox", api.tokens[sender])


async def test_recipients_report_progress_to_completion_and_the_sender_sees_each_step(
    api: Api,
) -> None:
    await api.province()
    recipients = [PROVINCE, DISTRICT, COMMUNE]
    doc = await _send(api, MINISTRY, recipients)

    for code in ("01", "03", "04", "05", "06"):
        for agency in recipients:
            status, body = await api.report(agency, doc, code, by=STAFF)
            assert status == 201, (agency, code, body)
            assert body["state"] == code
        await _check_outbox_lines(api, MINISTRY, doc, dict.fromkeys(recipients, code))
        await _check_inbox(api, COMMUNE, [doc], f"?status={code}")

    status, body = await api.report(COMMUNE, doc, "05")
    assert status == 409, body
    status, seen = await api.call("GET", f"/v1/documents/{doc}", api.tokens[MINISTRY])
    assert status == 200
    for line in seen["recipients"]:
        assert line["status"] == "06"
        assert [h["status"] for h in line["history"]] == ["delivered", "01", "03", "04", "05", "06"]
        assert line["history"][-1]["by"] == STAFF


async def test_a_refusal_needs_a_note_and_is_final(api: Api) -> None:
    await api.province()
    doc = await _send(api, COMMUNE, [PROVINCE, MINISTRY])

    status, body = await api.report(PROVINCE, doc, "02")
    assert status == 422, body
    assert [e["field"] for e in body["errors"]] == ["note"]
    assert (await api.report(PROVINCE, doc, "01"))[0] == 201
    note = "Không thuộc thẩm quyền giải quyết của tỉnh"
    status, body = await api.report(PROVINCE, doc, "02", note=note, by=STAFF)
    assert status == 201, body
    status, body = await api.report(PROVINCE, doc, "03")
    assert status == 409, body

    await _check_outbox_lines(api, COMMUNE, doc, {PROVINCE: "02", MINISTRY: "delivered"})
    _, seen = await api.call("GET", f"/v1/documents/{doc}", api.tokens[COMMUNE])
    province_line = next(r for r in seen["recipients"] if r["agency"] == PROVINCE)
    assert [(h["status"], h["note"]) for h in province_line["history"]] == [
        ("delivered", None),
        ("01", None),
        ("02", note),
    ]
    await _check_inbox(api, PROVINCE, [doc], "?status=02")


async def test_a_revocation_removes_unaccepted_copies_and_accepted_recipients_answer_it(
    api: Api,
) -> None:
    await api.province()
    doc = await _send(api, PROVINCE, [DEPARTMENT, DISTRICT, COMMUNE, COMMUNE_2])
    assert (await api.report(DISTRICT, doc, "01"))[0] == 201
    for agency, codes in ((COMMUNE, ["03"]), (COMMUNE_2, ["03", "04"])):
        for code in codes:
            assert (await api.report(agency, doc, code))[0] == 201

    reason = "Ban hành nhầm đối tượng"
    status, revoked = await api.call(
        "POST", f"/v1/documents/{doc}/revoke", api.tokens[PROVINCE], json={"reason": reason}
    )
    assert status == 200, revoked
    assert {r["agency"]: r["status"] for r in revoked["recipients"]} == {
        DEPARTMENT: "revoked",
        DISTRICT: "revoked",
        COMMUNE: "13",
        COMMUNE_2: "13",
    }
    for agency in (DEPARTMENT, DISTRICT):
        await _check_inbox(api, agency, [doc], "?status=revoked")
        await _check_inbox(api, agency, [], "?status=delivered")
        assert (await api.report(agency, doc, "03"))[0] == 409

    assert (await api.report(COMMUNE, doc, "05"))[0] == 409
    status, body = await api.report(COMMUNE_2, doc, "16")
    assert status == 422, body
    status, body = await api.report(COMMUNE, doc, "15", by=STAFF)
    assert status == 201, body
    assert body["state"] == "revoked"
    status, body = await api.report(COMMUNE_2, doc, "16", note="Đã triển khai thực hiện")
    assert status == 201, body
    assert body["state"] == "04"

    want = {DEPARTMENT: "revoked", DISTRICT: "revoked", COMMUNE: "revoked", COMMUNE_2: "04"}
    await _check_outbox_lines(api, PROVINCE, doc, want)
    status, seen = await api.call("GET", f"/v1/documents/{doc}", api.tokens[COMMUNE_2])
    assert status == 200
    assert (seen["revoked"], seen["revoke_reason"]) == (True, reason)
    assert [h["status"] for h in seen["recipients"][0]["history"]] == [
        "delivered",
        "03",
        "04",
        "13",
        "16",
    ]
    status, _ = await api.call(
        "POST",
        f"/v1/documents/{doc}/revoke",
        api.tokens[PROVINCE],
        json={"reason": "Thu hồi lần hai"},
    )
    assert status == 409


async def test_an_auditor_reads_every_event_in_commit_order_and_each_documents_history(
    api: Api,
) -> None:
    await api.province()
    auditor = await new_auditor(api)
    first = await _send(api, MINISTRY, [PROVINCE, COMMUNE])
    for agency, code, note in (
        (COMMUNE, "01", None),
        (COMMUNE, "03", None),
        (PROVINCE, "02", "Gửi nhầm cấp"),
    ):
        assert (await api.report(agency, first, code, note=note))[0] == 201
    status, _ = await api.call(
        "POST",
        f"/v1/documents/{first}/revoke",
        api.tokens[MINISTRY],
        json={"reason": "Thay thế bằng văn bản khác"},
    )
    assert status == 200
    assert (await api.report(COMMUNE, first, "16", note="Đã xử lý xong"))[0] == 201
    second = await _send(api, COMMUNE, [COMMUNE_2])

    events = await every_event(api, auditor, limit=4)
    positions = [e["position"] for e in events]
    assert positions == sorted(set(positions))
    assert [e["type"] for e in events] == ["AgencyRegistered"] * 7 + ["AuditorRegistered"] + [
        "DocumentSent",
        "DocumentStatusReported",
        "DocumentStatusReported",
        "DocumentStatusReported",
        "DocumentRevoked",
        "DocumentStatusReported",
        "DocumentSent",
    ]
    sent = [(e["stream"], e["data"]["sender"]) for e in events if e["type"] == "DocumentSent"]
    assert sent == [(first, MINISTRY), (second, COMMUNE)]
    assert [e["data"]["status"] for e in events if e["type"] == "DocumentStatusReported"] == [
        "01",
        "03",
        "02",
        "16",
    ]

    status, history = await api.call("GET", f"/v1/documents/{first}/history", auditor)
    assert status == 200, history
    # The events API adds each event's Merkle leaf (hash, leaf_index); the history does not.
    leaves = ("hash", "leaf_index")
    assert history["items"] == [
        {k: v for k, v in e.items() if k not in leaves} for e in events if e["stream"] == first
    ]
    assert [e["version"] for e in history["items"]] == [1, 2, 3, 4, 5, 6]

    status, own = await api.call("GET", f"/v1/documents/{first}/history", api.tokens[PROVINCE])
    assert status == 200
    assert [e["type"] for e in own["items"]] == [
        "DocumentSent",
        "DocumentStatusReported",
        "DocumentRevoked",
    ]
    assert [r["agency"] for r in own["items"][0]["data"]["recipients"]] == [PROVINCE]
    status, _ = await api.call("GET", f"/v1/documents/{first}/history", api.tokens[COMMUNE_2])
    assert status == 404
    status, _ = await api.call("GET", "/v1/events", api.tokens[MINISTRY])
    assert status == 403
