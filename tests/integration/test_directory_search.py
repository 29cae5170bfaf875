"""Name search without accents and subtree listing on GET /v1/agencies, on each store."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import OPERATOR_TOKEN
from tests.support.api import Api

PROVINCE = "000.00.00.H41"
DEPARTMENT = "000.00.11.H41"
NGHI_LOC = "000.01.00.H41"
NGHI_PHONG = "000.01.01.H41"
NGHI_DONG = "000.01.02.H41"
DO_LUONG = "000.02.00.H41"
DANG_SON = "000.02.01.H41"
MINISTRY = "000.00.00.G09"

# code, name, tier, parent: three levels under the province, and a ministry outside it
TREE = [
    (PROVINCE, "Ủy ban nhân dân tỉnh Nghệ An", "province", None),
    (DEPARTMENT, "Sở Tài chính", "province", PROVINCE),
    (NGHI_LOC, "Ủy ban nhân dân huyện Nghi Lộc", "district", PROVINCE),
    (NGHI_PHONG, "Ủy ban nhân dân xã Nghi Phong", "commune", NGHI_LOC),
    (NGHI_DONG, "Ủy  ban nhân dân xã Nghi Đồng", "commune", NGHI_LOC),
    (DO_LUONG, "ỦY BAN NHÂN DÂN HUYỆN ĐÔ LƯƠNG", "district", PROVINCE),
    (DANG_SON, "Ủy ban nhân dân xã Đặng Sơn", "commune", DO_LUONG),
    (MINISTRY, "Bộ Nội vụ", "central", None),
]


@pytest.fixture
async def tree(api: Api) -> Api:
    for code, name, tier, parent in TREE:
        await api.register(code, tier, parent, name=name)
    return api


async def listed(api: Api, **params: str) -> list[str]:
    """Returns the codes of every page of GET /v1/agencies with these parameters."""
    codes: list[str] = []
    cursor = None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        status, page = await api.call("GET", "/v1/agencies", api.tokens[PROVINCE], params=query)
        assert status == 200, page
        codes += [item["code"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return codes


async def refused(api: Api, **params: str) -> tuple[int, Any]:
    return await api.call("GET", "/v1/agencies", api.tokens[PROVINCE], params=params)


async def test_words_without_accents_find_names_with_them(tree: Api) -> None:
    assert await listed(tree, q="uy ban") == [
        PROVINCE,
        NGHI_LOC,
        NGHI_PHONG,
        NGHI_DONG,
        DO_LUONG,
        DANG_SON,
    ]
    assert await listed(tree, q="nghi loc") == [NGHI_LOC]
    assert await listed(tree, q="NGHỆ AN") == [PROVINCE]
    assert await listed(tree, q="  so   tai  ") == [DEPARTMENT]


async def test_an_abbreviation_is_not_a_name(tree: Api) -> None:
    assert await listed(tree, q="UBND") == []
    assert await listed(tree, q="ubnd nghi loc") == []


async def test_d_with_stroke_is_found_as_d(tree: Api) -> None:
    assert await listed(tree, q="do luong") == [DO_LUONG]
    assert await listed(tree, q="Đô Lương") == [DO_LUONG]
    assert await listed(tree, q="dong") == [NGHI_DONG]
    assert await listed(tree, q="đang son") == [DANG_SON]


async def test_every_word_must_appear_in_any_order(tree: Api) -> None:
    assert await listed(tree, q="xa nghi") == [NGHI_PHONG, NGHI_DONG]
    assert await listed(tree, q="phong xa nghi") == [NGHI_PHONG]
    assert await listed(tree, q="nghi luong") == []


async def test_like_wildcards_in_the_query_match_only_themselves(tree: Api) -> None:
    assert await listed(tree, q="%") == []
    assert await listed(tree, q="_") == []
    assert await listed(tree, q="u%ban") == []


async def test_under_lists_the_whole_subtree_without_the_agency_itself(tree: Api) -> None:
    everything_below = [DEPARTMENT, NGHI_LOC, NGHI_PHONG, NGHI_DONG, DO_LUONG, DANG_SON]
    assert await listed(tree, under=PROVINCE) == everything_below
    assert await listed(tree, under=PROVINCE, limit="2") == everything_below
    assert await listed(tree, under=NGHI_LOC) == [NGHI_PHONG, NGHI_DONG]
    assert await listed(tree, under=NGHI_PHONG) == []
    assert await listed(tree, under=MINISTRY) == []


async def test_under_combines_with_tier_name_and_pages(tree: Api) -> None:
    communes = [NGHI_PHONG, NGHI_DONG, DANG_SON]
    assert await listed(tree, under=PROVINCE, tier="commune") == communes
    assert await listed(tree, under=PROVINCE, tier="commune", limit="1") == communes
    assert await listed(tree, under=PROVINCE, tier="district", q="huyen") == [NGHI_LOC, DO_LUONG]
    assert await listed(tree, under=NGHI_LOC, q="xa", limit="1") == [NGHI_PHONG, NGHI_DONG]
    assert await listed(tree, under=DO_LUONG, q="nghi") == []


async def test_an_unknown_under_is_not_found(tree: Api) -> None:
    for code in ("000.09.09.H41", "not-a-code"):
        status, body = await refused(tree, under=code)
        assert status == 404, body
        assert code in body["detail"]


@pytest.mark.parametrize("q", ["", "   ", "\u0301", "x" * 201])
async def test_a_blank_or_long_query_is_refused_naming_q(tree: Api, q: str) -> None:
    status, body = await refused(tree, q=q)
    assert status == 422, body
    assert [e["field"] for e in body["errors"]] == ["q"]


async def test_a_query_of_200_characters_is_accepted(tree: Api) -> None:
    assert await listed(tree, q="a" * 200) == []


async def test_a_renamed_agency_is_found_by_its_new_name_only(tree: Api) -> None:
    status, body = await tree.call(
        "PATCH",
        f"/v1/agencies/{NGHI_DONG}",
        OPERATOR_TOKEN,
        json={"name": "Ủy ban nhân dân phường Nghi Đồng"},
    )
    assert status == 200, body
    assert await listed(tree, q="phuong nghi dong") == [NGHI_DONG]
    assert await listed(tree, q="xa nghi dong") == []
