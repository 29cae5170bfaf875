"""`lienthong agencies import` and `export` in-process, on each store."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from rich.progress import Progress

from adapters import views as v
from adapters.views import Views
from domain.codes import Tier
from domain.exchange import Exchange
from ops.bench_catalogue import province, write_csv
from router import catalogue
from router.config import Config
from router.directory_file import Row, write
from router.services import open_exchange

AGENCIES = 1_200  # more than two batches of communes, in three depths
PROVINCE = "000.00.00.H41"
DISTRICT = "001.01.00.H41"
DISTRICT_2 = "001.02.00.H41"
COMMUNE = "001.01.01.H41"


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "province.csv"
    write_csv(path, AGENCIES)
    return path


def run_import(config: Config, path: Path, *, dry_run: bool = False) -> int:
    return catalogue.import_file(config, path, dry_run=dry_run, progress=Progress(disable=True))


def exported(config: Config, kind: str = "csv") -> str:
    out = io.StringIO()
    catalogue.export(config, kind, out)
    return out.getvalue()


class Store:
    """The event log and the directory view of a store, each read afresh."""

    def __init__(self, config: Config) -> None:
        self.config = config

    @contextmanager
    def opened(self) -> Iterator[tuple[Exchange, Views]]:
        exchange, views = open_exchange(self.config)
        try:
            yield exchange, views
        finally:
            exchange.close()
            views.engine.dispose()

    def event_types(self) -> list[str]:
        with self.opened() as (exchange, _):
            return [n.topic for n in exchange.recorder.select_notifications(1, 100_000)]

    def agencies(self, **filters: Any) -> list[dict[str, Any]]:
        with self.opened() as (_, views):
            return views.agencies(limit=100_000, **filters)

    def principals(self) -> int:
        with self.opened() as (_, views), views.engine.connect() as c:
            return int(c.execute(sa.select(sa.func.count()).select_from(v.principals)).scalar())


@pytest.fixture
def store(store_config: Config) -> Store:
    return Store(store_config)


def lines(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_province_is_imported_parents_first_without_tokens(
    store_config: Config, store: Store, csv_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_import(store_config, csv_file) == 0
    out = capsys.readouterr().out
    assert f"{AGENCIES} added, 0 renamed, 0 moved, 0 unchanged" in out
    assert f"+ {COMMUNE} " in out
    assert store.event_types() == ["AgencyRegistered"] * AGENCIES
    expected = {code: (name, tier, parent) for code, name, tier, parent in province(AGENCIES)}
    assert {a["code"]: (a["name"], a["tier"], a["parent"]) for a in store.agencies()} == expected
    assert store.principals() == 0


def test_importing_the_same_file_again_records_nothing(
    store_config: Config, store: Store, csv_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_import(store_config, csv_file) == 0
    capsys.readouterr()
    assert run_import(store_config, csv_file) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"0 added, 0 renamed, 0 moved, {AGENCIES} unchanged"
    ]
    assert len(store.event_types()) == AGENCIES


def test_a_renamed_and_a_moved_agency_are_recorded_as_such(
    store_config: Config, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = "code,name,tier,parent,remote\n"
    first = (
        f"{PROVINCE},Ủy ban nhân dân tỉnh Nghệ An,province,,false\n"
        f"{DISTRICT},Ủy ban nhân dân huyện Nghi Lộc,district,{PROVINCE},false\n"
        f"{DISTRICT_2},Ủy ban nhân dân huyện Hưng Nguyên,district,{PROVINCE},false\n"
        f"{COMMUNE},Ủy ban nhân dân xã Nghi Phong,commune,{DISTRICT},false\n"
    )
    assert run_import(store_config, lines(tmp_path / "a.csv", head + first)) == 0
    second = first.replace("huyện Nghi Lộc", "thị xã Nghi Lộc").replace(
        f"commune,{DISTRICT}", f"commune,{DISTRICT_2}"
    )
    capsys.readouterr()
    assert run_import(store_config, lines(tmp_path / "b.csv", head + second)) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"~ {DISTRICT} name: Ủy ban nhân dân huyện Nghi Lộc -> Ủy ban nhân dân thị xã Nghi Lộc",
        f"> {COMMUNE} moved: commune under {DISTRICT} -> commune under {DISTRICT_2}",
        "0 added, 1 renamed, 1 moved, 2 unchanged",
        "recorded 2 changes",
    ]
    assert store.event_types()[4:] == ["AgencyRenamed", "AgencyMoved"]
    assert [a["code"] for a in store.agencies(q="thi xa nghi loc")] == [DISTRICT]
    assert store.agencies(q="huyen nghi loc") == []
    assert [a["code"] for a in store.agencies(under=DISTRICT_2)] == [COMMUNE]


def test_a_dry_run_shows_the_diff_and_records_nothing(
    store_config: Config, store: Store, csv_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_import(store_config, csv_file, dry_run=True) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == AGENCIES + 1
    assert out[0] == f"+ {PROVINCE} Ủy ban nhân dân tỉnh Nghệ An"
    assert store.event_types() == []
    assert store.agencies() == []


def test_a_file_with_an_error_records_nothing_and_exits_2(
    store_config: Config, store: Store, csv_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = csv_file.read_text(encoding="utf-8").splitlines()
    text[500] = text[500].replace(",commune,", ",hamlet,")
    text.append("002.01.01.H41,Xã lạc,commune,009.09.00.H41,false")
    path = lines(csv_file, "\n".join(text) + "\n")
    assert run_import(store_config, path) == 2
    assert capsys.readouterr().err.splitlines() == [
        "line 501: tier: must be one of central, province, district, commune, not 'hamlet'"
    ]
    text[500] = text[500].replace(",hamlet,", ",commune,")
    assert run_import(store_config, lines(csv_file, "\n".join(text) + "\n")) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"line {AGENCIES + 2}: parent 009.09.00.H41 is neither in the file nor the directory"
    ]
    assert store.event_types() == []


def test_a_refused_command_stops_the_import_naming_its_row(
    store_config: Config, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Valid once both moves are done, but the first is decided while the second district still
    # sits under it: the domain refuses it, and the batch records nothing.
    head = "code,name,tier,parent,remote\n"
    first = (
        f"{PROVINCE},Tỉnh,province,,false\n"
        f"{DISTRICT},Huyện,district,{PROVINCE},false\n"
        f"{DISTRICT_2},Huyện 2,district,{DISTRICT},false\n"
    )
    assert run_import(store_config, lines(tmp_path / "a.csv", head + first)) == 0
    second = (
        f"{PROVINCE},Tỉnh,province,,false\n"
        f"{DISTRICT},Huyện,commune,{PROVINCE},false\n"
        f"{DISTRICT_2},Huyện 2,district,{PROVINCE},false\n"
    )
    assert run_import(store_config, lines(tmp_path / "b.csv", head + second)) == 2
    error = capsys.readouterr().err.splitlines()[0]
    assert error.startswith(f"line 3: {DISTRICT}: tier: {DISTRICT_2} (district) sits under it")
    assert len(store.event_types()) == 3


@pytest.mark.parametrize("kind", ["csv", "json"])
def test_an_exported_directory_imports_unchanged_and_exports_the_same(
    store_config: Config, tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        Row(code, name, Tier(tier), parent, False) for code, name, tier, parent in province(300)
    ]
    rows.append(Row("000.00.00.G22", "Bộ Nội vụ", Tier.CENTRAL, None, True))
    canonical = io.StringIO()
    write(sorted(rows, key=lambda r: r.code), kind, canonical)
    path = lines(tmp_path / f"directory.{kind}", canonical.getvalue())
    assert run_import(store_config, path) == 0
    assert exported(store_config, kind) == canonical.getvalue()
    capsys.readouterr()
    assert run_import(store_config, lines(path, exported(store_config, kind))) == 0
    assert capsys.readouterr().out.splitlines() == ["0 added, 0 renamed, 0 moved, 301 unchanged"]
