"""The auditors' history search on each store: every filter alone and combined, Vietnamese
accents folded, keyset pages without gaps or duplicates, and only auditors may search."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import OPERATOR_TOKEN
from tests.support.api import (
    COMMUNE,
    COMMUNE_2,
    DEPARTMENT,
    DISTRICT,
    MINISTRY,
    PROVINCE,
    Api,
)

# sender, recipients, subject, code notation
DOCUMENTS = [
    (PROVINCE, [DISTRICT], "Về việc đẩy mạnh dịch vụ công trực tuyến mức độ 4", "UBND-VX"),
    (DISTRICT, [COMMUNE], "Kế hoạch chuyển đổi số năm 2026", "UBND-KT"),
    (COMMUNE, [PROVINCE, DEPARTMENT], "Báo cáo tình hình đê điều mùa lũ", "BC-UBND"),
    (PROVINCE, [COMMUNE_2, COMMUNE], "ĐẨY MẠNH cải cách hành chính", "UBND-VX"),
    (DEPARTMENT, [DISTRICT], "Về việc chuyển đổi số trong giáo dục", "SGDĐT-VP"),
    (MINISTRY, [PROVINCE], "Thông báo kết luận của Bộ trưởng", "UBND-VX"),
    (COMMUNE_2, [DISTRICT], "Đề nghị hỗ trợ kinh phí", "UBND"),
]


class Sent:
    """The documents sent, in order: ids and sent_at."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.sent_at: list[str] = []

    def newest_first(self, *indexes: int) -> list[str]:
        """The ids of some documents, newest first."""
        return [self.ids[i] for i in sorted(indexes, reverse=True)]


@pytest.fixture
async def sent(api: Api) -> Sent:
    await api.province()
    documents = Sent()
    for sender, to, subject, notation in DOCUMENTS:
        status, body = await api.send(sender, to, subject=subject, code_notation=notation)
        assert status == 201, body
        documents.ids.append(body["id"])
        documents.sent_at.append(body["sent_at"])
    status, body = await api.call(
        "POST", "/v1/auditors", OPERATOR_TOKEN, json={"name": "Kiểm toán nhà nước"}
    )
    assert status == 201, body
    api.tokens["auditor"] = body["token"]
    return documents


async def search(api: Api, **params: Any) -> list[str]:
    """Every id the search finds, page after page."""
    ids, cursor = [], None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        status, page = await api.call(
            "GET", "/v1/audit/documents", api.tokens["auditor"], params=query
        )
        assert status == 200, page
        ids += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


async def test_each_filter_alone(api: Api, sent: Sent) -> None:
    assert await search(api) == sent.newest_first(*range(len(DOCUMENTS)))
    assert await search(api, agency=COMMUNE) == sent.newest_first(1, 2, 3)
    assert await search(api, agency=MINISTRY) == sent.newest_first(5)
    assert await search(api, since=sent.sent_at[4]) == sent.newest_first(4, 5, 6)
    assert await search(api, until=sent.sent_at[2]) == sent.newest_first(0, 1)
    assert await search(api, code_notation="UBND-VX") == sent.newest_first(0, 3, 5)
    assert await search(api, code_notation="SGDĐT-VP") == sent.newest_first(4)
    assert await search(api, code_notation="ubnd-vx") == []


@pytest.mark.parametrize(
    ("q", "found"),
    [
        ("day manh", (0, 3)),
        ("ĐẨY mạnh", (0, 3)),
        ("đẩy  MẠNH", (0, 3)),
        ("de dieu", (2,)),
        ("Đê Điều", (2,)),
        ("chuyen doi so", (1, 4)),
        ("chuyển đổi số giáo dục", (4,)),
        ("giao duc chuyen", (4,)),
        ("chuyen doi so y te", ()),
        ("100%_", ()),
    ],
)
async def test_subject_search_ignores_accents_and_case_and_needs_every_word(
    api: Api, sent: Sent, q: str, found: tuple[int, ...]
) -> None:
    assert await search(api, q=q) == sent.newest_first(*found)


async def test_filters_combine(api: Api, sent: Sent) -> None:
    assert await search(api, agency=PROVINCE, code_notation="UBND-VX") == sent.newest_first(0, 3, 5)
    assert await search(api, agency=DISTRICT, q="chuyen doi so") == sent.newest_first(1, 4)
    window = {"since": sent.sent_at[2], "until": sent.sent_at[3]}
    assert await search(api, agency=COMMUNE, **window) == sent.newest_first(2)
    assert await search(
        api, q="day manh", code_notation="UBND-VX", since=sent.sent_at[1]
    ) == sent.newest_first(3)
    assert await search(api, agency=COMMUNE_2, q="kinh phi", until=sent.sent_at[6]) == []


async def test_pages_have_no_gaps_or_duplicates_while_documents_arrive(
    api: Api, sent: Sent
) -> None:
    token = api.tokens["auditor"]
    status, first = await api.call("GET", "/v1/audit/documents", token, params={"limit": 3})
    assert status == 200
    status, body = await api.send(PROVINCE, [COMMUNE], subject="Giấy mời họp")
    assert status == 201, body
    ids, cursor = [item["id"] for item in first["items"]], first["next_cursor"]
    while cursor is not None:
        params = {"limit": 3, "cursor": cursor}
        status, page = await api.call("GET", "/v1/audit/documents", token, params=params)
        assert status == 200, page
        assert len(page["items"]) <= 3
        ids += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
    assert ids == sent.newest_first(*range(len(DOCUMENTS)))
    assert await search(api, limit=1) == [body["id"], *ids]


async def test_items_carry_the_sender_and_every_recipients_status(api: Api, sent: Sent) -> None:
    assert (await api.report(COMMUNE, sent.ids[3], "03"))[0] == 201
    status, page = await api.call(
        "GET", "/v1/audit/documents", api.tokens["auditor"], params={"q": "cai cach"}
    )
    assert status == 200
    assert page == {
        "items": [
            {
                "id": sent.ids[3],
                "from": PROVINCE,
                "subject": "ĐẨY MẠNH cải cách hành chính",
                "code_number": "123",
                "code_notation": "UBND-VX",
                "priority": "normal",
                "sent_at": sent.sent_at[3],
                "due_on": "2026-12-01",
                "revoked": False,
                "recipients": [
                    {"agency": COMMUNE, "delivered_to": None, "status": "03"},
                    {"agency": COMMUNE_2, "delivered_to": None, "status": "delivered"},
                ],
            }
        ],
        "next_cursor": None,
    }


async def test_only_auditors_search_and_bad_filters_are_named(api: Api, sent: Sent) -> None:
    for token in (api.tokens[PROVINCE], api.tokens[COMMUNE], OPERATOR_TOKEN):
        status, body = await api.call("GET", "/v1/audit/documents", token)
        assert status == 403, body
    status, _ = await api.call("GET", "/v1/audit/documents")
    assert status == 401
    for field, value in [
        ("agency", "H41"),
        ("since", "2026-11-24"),
        ("until", "2026-11-24T08:00:00"),
        ("q", "  "),
        ("q", "x" * 201),
        ("code_notation", ""),
        ("cursor", "not-a-cursor"),
        ("limit", "0"),
    ]:
        status, body = await api.call(
            "GET", "/v1/audit/documents", api.tokens["auditor"], params={field: value}
        )
        assert status == 422, (field, value, body)
        assert body["errors"][0]["field"] == field
