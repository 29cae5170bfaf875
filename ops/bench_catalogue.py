"""Times `lienthong agencies import` of a generated province; prints figures, never asserts.

    ops/run-tests.sh .venv/bin/python -m ops.bench_catalogue [--agencies N] [--skip-postgres]

Imports N agencies (one province, 30 departments, 7% districts, communes for the rest) into a
fresh SQLite data directory (fsync on) and, when LIENTHONG_TEST_DATABASE_URL is set, into a fresh
PostgreSQL database; then imports the same file again, which finds nothing to change. Each time is
the whole command as an operator runs it, process start included.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ops.bench_procs import filesystem, pg_database

PROVINCE = "000.00.00.H41"
DEPARTMENTS = 30


def province(agencies: int) -> list[tuple[str, str, str, str | None]]:
    """Returns (code, name, tier, parent) of a province's agencies, parents first."""
    districts = max(1, agencies * 7 // 100)
    communes = agencies - 1 - DEPARTMENTS - districts
    rows: list[tuple[str, str, str, str | None]] = [
        (PROVINCE, "Ủy ban nhân dân tỉnh Nghệ An", "province", None)
    ]
    rows += [
        (f"000.00.{k:02d}.H41", f"Sở Ngành số {k}", "province", PROVINCE)
        for k in range(1, DEPARTMENTS + 1)
    ]
    district_codes = [f"{i // 99 + 1:03d}.{i % 99 + 1:02d}" for i in range(districts)]
    rows += [
        (f"{d}.00.H41", f"Ủy ban nhân dân huyện số {i + 1}", "district", PROVINCE)
        for i, d in enumerate(district_codes)
    ]
    for n in range(communes):
        d = district_codes[n % districts]
        rows.append(
            (
                f"{d}.{n // districts + 1:02d}.H41",
                f"Ủy ban nhân dân xã số {n + 1}",
                "commune",
                f"{d}.00.H41",
            )
        )
    return rows


def write_csv(path: Path, agencies: int) -> None:
    """Writes the province as an import file."""
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(("code", "name", "tier", "parent", "remote"))
        writer.writerows((*row[:3], row[3] or "", "false") for row in province(agencies))


def timed_import(path: Path, store: list[str]) -> float:
    """Runs `lienthong agencies import` and returns its wall-clock seconds."""
    command = [sys.executable, "-m", "router.cli", "agencies", "import", str(path), *store]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    """Prints the import times."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agencies", type=int, default=10_000)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lienthong-catalogue-") as work:
        path = Path(work) / "province.csv"
        write_csv(path, args.agencies)
        print(f"scratch {work} on {filesystem(Path(work))}", flush=True)
        report("SQLite", path, ["--data", str(Path(work) / "data")], args.agencies)
        admin = os.environ.get("LIENTHONG_TEST_DATABASE_URL")
        if admin and not args.skip_postgres:
            with pg_database(admin) as url:
                report("PostgreSQL", path, ["--database", url], args.agencies)


def report(name: str, path: Path, store: list[str], agencies: int) -> None:
    """Imports the file twice into a store and prints both times."""
    first = timed_import(path, store)
    again = timed_import(path, store)
    print(
        f"{name}: {agencies:,} agencies imported in {first:.1f} s ({agencies / first:,.0f}/s); "
        f"the same file again (no change) in {again:.1f} s",
        flush=True,
    )


if __name__ == "__main__":
    main()
