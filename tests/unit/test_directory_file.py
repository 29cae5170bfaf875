"""The directory file: reading CSV and JSON, checking rows, and the diff against the directory."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from domain.codes import Tier
from domain.commands import MoveAgency, RegisterAgency, RenameAgency
from router.directory_file import Row, plan, read, write

PROVINCE = "000.00.00.H41"
DISTRICT = "000.01.00.H41"
DISTRICT_2 = "000.02.00.H41"
COMMUNE = "000.01.01.H41"
MINISTRY = "000.00.00.G22"
TODAY = "2026-11-25"

CSV = (
    "code,name,tier,parent,remote\n"
    f"{PROVINCE},Ủy ban nhân dân tỉnh Nghệ An,province,,false\n"
    "\n"
    f'{DISTRICT},"Ủy ban nhân dân huyện Nghi Lộc, Nghệ An",district,{PROVINCE},false\n'
    f"{MINISTRY},Bộ Nội vụ,central,,true\n"
)
ROWS = [
    Row(PROVINCE, "Ủy ban nhân dân tỉnh Nghệ An", Tier.PROVINCE, None, False),
    Row(DISTRICT, "Ủy ban nhân dân huyện Nghi Lộc, Nghệ An", Tier.DISTRICT, PROVINCE, False),
    Row(MINISTRY, "Bộ Nội vụ", Tier.CENTRAL, None, True),
]


def file(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def parsed(path: Path) -> list[Row]:
    rows, errors = read(path)
    assert errors == []
    return rows


def same(rows: list[Row]) -> list[tuple[Any, ...]]:
    """The rows without where they were read."""
    return [(r.code, r.name, r.tier, r.parent, r.remote) for r in rows]


def stored(
    code: str, tier: str, parent: str | None = None, name: str | None = None, **extra: Any
) -> dict[str, Any]:
    """An agency as the directory view holds it."""
    return {
        "code": code,
        "name": name or f"Cơ quan {code}",
        "tier": tier,
        "parent": parent,
        "remote": False,
        "status": "active",
        "successor": None,
        "ends_on": None,
    } | extra


def directory(*agencies: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["code"]: a for a in agencies}


def row(
    code: str, tier: str, parent: str | None = None, name: str | None = None, line: int = 2
) -> Row:
    return Row(code, name or f"Cơ quan {code}", Tier(tier), parent, False, f"line {line}")


def test_a_csv_file_reads_into_rows_with_their_lines(tmp_path: Path) -> None:
    rows = parsed(file(tmp_path, "a.csv", CSV))
    assert same(rows) == same(ROWS)
    assert [r.place for r in rows] == ["line 2", "line 4", "line 5"]


def test_a_csv_file_with_a_byte_order_mark_and_crlf_reads_the_same(tmp_path: Path) -> None:
    path = file(tmp_path, "a.CSV", CSV.replace("\n", "\r\n"), encoding="utf-8-sig")
    assert same(parsed(path)) == same(ROWS)


def test_a_json_file_reads_into_the_same_rows_by_item(tmp_path: Path) -> None:
    out = io.StringIO()
    write(ROWS, "json", out)
    rows = parsed(file(tmp_path, "a.json", out.getvalue()))
    assert same(rows) == same(ROWS)
    assert [r.place for r in rows] == ["item 1", "item 2", "item 3"]


@pytest.mark.parametrize("kind", ["csv", "json"])
def test_writing_then_reading_gives_the_rows_back(tmp_path: Path, kind: str) -> None:
    out = io.StringIO()
    write(ROWS, kind, out)
    assert same(parsed(file(tmp_path, f"a.{kind}", out.getvalue()))) == same(ROWS)


def test_csv_is_written_with_a_header_and_remote_as_true_or_false() -> None:
    out = io.StringIO()
    write(ROWS, "csv", out)
    assert out.getvalue() == CSV.replace("\n\n", "\n")


def test_every_bad_csv_line_is_reported_and_the_good_ones_kept(tmp_path: Path) -> None:
    text = (
        "code,name,tier,parent,remote\n"
        f"{PROVINCE},Tỉnh,province,,false\n"
        "000.1.00.H41,Huyện,district,,false\n"
        f"{DISTRICT},Huyện,county,{PROVINCE},false\n"
        f"{DISTRICT_2},  ,district,{PROVINCE},false\n"
        f"{COMMUNE},Xã,commune,01.00.H41,false\n"
        f"{MINISTRY},Bộ,central,,yes\n"
        f"{MINISTRY},Bộ,central\n"
    )
    rows, errors = read(file(tmp_path, "a.csv", text))
    assert [r.code for r in rows] == [PROVINCE]
    assert [e.split(":")[0] for e in errors] == [f"line {n}" for n in range(3, 9)]
    assert "000.1.00.H41" in errors[0]
    assert "tier" in errors[1]
    assert "name" in errors[2]
    assert "parent" in errors[3]
    assert "remote" in errors[4]
    assert "expected 5 fields, found 3" in errors[5]


def test_every_bad_json_item_is_reported(tmp_path: Path) -> None:
    text = (
        f'[{{"code": "{PROVINCE}", "name": 3, "tier": "province", "parent": null, '
        '"remote": false}, 4, {"code": "000.00.00.H41", "town": "x"}, '
        f'{{"code": "{MINISTRY}", "name": "Bộ", "tier": "central", "parent": null, "remote": 1}}]'
    )
    rows, errors = read(file(tmp_path, "a.json", text))
    assert rows == []
    assert errors == [
        "item 1: name: must be text, not blank",
        "item 2: must be an object",
        "item 3: the fields are code, name, tier, parent, remote "
        "(missing: name, tier, parent, remote; unknown: town)",
        "item 4: remote: must be true or false, not 1",
    ]


@pytest.mark.parametrize(
    ("name", "text", "error"),
    [
        ("a.csv", "code;name;tier;parent;remote\n", "line 1: the header must be"),
        ("a.csv", "", "line 1: the header must be"),
        ("a.json", "{", "the file: not JSON"),
        ("a.json", "{}", "the file: must hold a list"),
        ("a.txt", "", "must end in .csv or .json"),
    ],
)
def test_a_file_that_is_not_a_directory_file_is_one_error(
    tmp_path: Path, name: str, text: str, error: str
) -> None:
    rows, errors = read(file(tmp_path, name, text))
    assert rows == []
    assert len(errors) == 1
    assert error in errors[0]


def test_a_file_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes("code,name,tier,parent,remote\nỦy".encode("utf-16"))
    assert read(path)[1] != []


def test_new_agencies_are_registered_without_a_token_parents_first() -> None:
    change = plan(
        [row(COMMUNE, "commune", DISTRICT), row(DISTRICT, "district", PROVINCE)],
        directory(stored(PROVINCE, "province")),
        TODAY,
    )
    assert change.errors == []
    assert [(depth, command) for depth, _, command in change.steps] == [
        (1, RegisterAgency(DISTRICT, f"Cơ quan {DISTRICT}", Tier.DISTRICT, PROVINCE, False, None)),
        (2, RegisterAgency(COMMUNE, f"Cơ quan {COMMUNE}", Tier.COMMUNE, DISTRICT, False, None)),
    ]
    assert change.diff == [f"+ {COMMUNE} Cơ quan {COMMUNE}", f"+ {DISTRICT} Cơ quan {DISTRICT}"]
    assert change.summary() == (
        "2 added, 0 renamed, 0 moved, 0 unchanged; "
        "1 in the directory but not in the file, left alone"
    )


def test_a_new_name_is_a_rename_and_a_new_parent_or_tier_a_move() -> None:
    now = directory(
        stored(PROVINCE, "province"),
        stored(DISTRICT, "district", PROVINCE),
        stored(DISTRICT_2, "district", PROVINCE),
        stored(COMMUNE, "commune", DISTRICT, name="Xã Nghi Phong"),
    )
    change = plan(
        [
            row(PROVINCE, "province"),
            row(DISTRICT, "province", PROVINCE),
            row(DISTRICT_2, "district", PROVINCE, name="Thị xã Hoàng Mai"),
            row(COMMUNE, "commune", DISTRICT_2, name="Phường Nghi Phong"),
        ],
        now,
        TODAY,
    )
    assert change.errors == []
    assert [command for _, _, command in change.steps] == [
        MoveAgency(DISTRICT, PROVINCE, Tier.PROVINCE),
        RenameAgency(DISTRICT_2, "Thị xã Hoàng Mai"),
        RenameAgency(COMMUNE, "Phường Nghi Phong"),
        MoveAgency(COMMUNE, DISTRICT_2, Tier.COMMUNE),
    ]
    assert change.diff == [
        f"> {DISTRICT} moved: district under {PROVINCE} -> province under {PROVINCE}",
        f"~ {DISTRICT_2} name: Cơ quan {DISTRICT_2} -> Thị xã Hoàng Mai",
        f"~ {COMMUNE} name: Xã Nghi Phong -> Phường Nghi Phong",
        f"> {COMMUNE} moved: commune under {DISTRICT} -> commune under {DISTRICT_2}",
    ]
    assert change.summary() == "0 added, 2 renamed, 2 moved, 1 unchanged"


def test_the_directory_as_it_is_plans_nothing() -> None:
    now = directory(stored(PROVINCE, "province"), stored(DISTRICT, "district", PROVINCE))
    change = plan([Row.stored(a) for a in now.values()], now, TODAY)
    assert (change.steps, change.diff, change.errors) == ([], [], [])
    assert change.summary() == "0 added, 0 renamed, 0 moved, 2 unchanged"


def test_a_code_twice_in_the_file_is_an_error_naming_both_lines() -> None:
    change = plan([row(PROVINCE, "province"), row(PROVINCE, "province", line=7)], {}, TODAY)
    assert change.errors == [f"line 7: {PROVINCE} is also on line 2"]


def test_a_parent_in_neither_the_file_nor_the_directory_is_an_error() -> None:
    change = plan(
        [row(COMMUNE, "commune", DISTRICT)], directory(stored(PROVINCE, "province")), TODAY
    )
    assert change.errors == [f"line 2: parent {DISTRICT} is neither in the file nor the directory"]


def test_a_parent_of_a_lower_tier_is_an_error() -> None:
    now = directory(stored(PROVINCE, "province"), stored(DISTRICT, "district", PROVINCE))
    change = plan([row(DISTRICT_2, "province", DISTRICT)], now, TODAY)
    assert change.errors == [
        f"line 2: {DISTRICT} (district) cannot be the parent of {DISTRICT_2} (province)"
    ]


def test_a_move_below_the_tier_of_a_child_left_in_place_is_an_error() -> None:
    now = directory(
        stored(PROVINCE, "province"),
        stored(DISTRICT, "district", PROVINCE),
        stored(DISTRICT_2, "district", DISTRICT),
    )
    change = plan([row(DISTRICT, "commune", PROVINCE)], now, TODAY)
    assert change.errors == [
        f"line 2: {DISTRICT} (commune) cannot be the parent of {DISTRICT_2} (district)"
    ]


def test_a_remote_agency_may_sit_under_any_tier() -> None:
    remote = Row(MINISTRY, "Bộ", Tier.CENTRAL, DISTRICT, True, "line 9")
    now = directory(stored(PROVINCE, "province"), stored(DISTRICT, "district", PROVINCE))
    assert plan([remote], now, TODAY).errors == []


def test_a_cycle_is_reported_once_whether_in_the_file_or_through_the_directory() -> None:
    in_file = plan(
        [row(DISTRICT, "district", DISTRICT_2, line=4), row(DISTRICT_2, "district", DISTRICT)],
        {},
        TODAY,
    )
    assert in_file.errors == [
        f"line 4: the parents form a cycle: {DISTRICT} -> {DISTRICT_2} -> {DISTRICT}"
    ]
    now = directory(stored(DISTRICT, "district"), stored(COMMUNE, "district", DISTRICT))
    through = plan([row(DISTRICT, "district", COMMUNE)], now, TODAY)
    assert through.errors == [
        f"line 2: the parents form a cycle: {DISTRICT} -> {COMMUNE} -> {DISTRICT}"
    ]


def test_changing_remote_is_an_error() -> None:
    local = Row(MINISTRY, "Bộ", Tier.CENTRAL, None, False, "line 3")
    assert plan([local], directory(stored(MINISTRY, "central", remote=True)), TODAY).errors == [
        f"line 3: {MINISTRY} has remote true in the directory; changing remote is not supported"
    ]


def test_moving_a_merged_agency_is_an_error_but_renaming_it_is_not() -> None:
    now = directory(
        stored(PROVINCE, "province"),
        stored(DISTRICT, "district", PROVINCE, successor=DISTRICT_2, ends_on="2026-01-01"),
        stored(DISTRICT_2, "district", PROVINCE),
    )
    assert plan([row(DISTRICT, "district", PROVINCE, name="Mới")], now, TODAY).errors == []
    assert plan([row(DISTRICT, "district", DISTRICT_2)], now, TODAY).errors == [
        f"line 2: {DISTRICT} is merged into {DISTRICT_2} from 2026-01-01; it cannot move"
    ]


def test_moving_under_a_parent_merged_or_retired_as_of_today_is_an_error() -> None:
    now = directory(
        stored(PROVINCE, "province"),
        stored(DISTRICT, "district", PROVINCE, successor=DISTRICT_2, ends_on=TODAY),
        stored(DISTRICT_2, "district", PROVINCE, ends_on="2026-12-31"),
        stored(COMMUNE, "commune", PROVINCE),
    )
    assert plan([row(COMMUNE, "commune", DISTRICT)], now, TODAY).errors == [
        f"line 2: {COMMUNE} cannot move under {DISTRICT}: it is merged"
    ]
    assert plan([row(COMMUNE, "commune", DISTRICT_2)], now, TODAY).errors == []
    assert plan([row(COMMUNE, "commune", DISTRICT_2)], now, "2026-12-31").errors == [
        f"line 2: {COMMUNE} cannot move under {DISTRICT_2}: it is retired"
    ]
