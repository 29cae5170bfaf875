"""The directory as a CSV or JSON file: its rows, their checks, and the diff that turns the
directory into what the file says (registrations, renames and moves, parents first)."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from domain.codes import Tier, check_agency_code
from domain.commands import Command, MoveAgency, RegisterAgency, RenameAgency
from domain.directory import status_on
from domain.errors import Invalid

FIELDS = ("code", "name", "tier", "parent", "remote")
FORMATS = ("csv", "json")
_TIERS = tuple(tier.value for tier in Tier)
_BOOLEANS = {"true": True, "false": False}


@dataclass(frozen=True)
class Row:
    """One agency as a file states it; `place` says where (`line 7`, `item 3`)."""

    code: str
    name: str
    tier: Tier
    parent: str | None
    remote: bool
    place: str = ""

    @classmethod
    def stored(cls, agency: dict[str, Any]) -> Row:
        """Returns the row of an agency of the directory view."""
        code, name, tier, parent, remote = (agency[f] for f in FIELDS)
        return cls(code, name, Tier(tier), parent, remote)

    def fields(self) -> dict[str, Any]:
        """Returns the row as the file's fields."""
        return {
            "code": self.code,
            "name": self.name,
            "tier": self.tier.value,
            "parent": self.parent,
            "remote": self.remote,
        }


@dataclass
class Plan:
    """What importing a file changes: commands in recording order, the diff, and the errors."""

    steps: list[tuple[int, Row, Command]] = field(default_factory=list)
    diff: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    untouched: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """Returns the counts in one line."""
        kinds = ("added", "renamed", "moved", "unchanged")
        left = f"; {self.untouched} in the directory but not in the file, left alone"
        return ", ".join(f"{self.counts[k]} {k}" for k in kinds) + (left if self.untouched else "")


def read(path: Path) -> tuple[list[Row], list[str]]:
    """Reads a .csv or .json file; returns its valid rows and an error for each other row."""
    kind = path.suffix.lower().removeprefix(".")
    if kind not in FORMATS:
        return [], [f"{path}: the file name must end in .csv or .json"]
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        return [], [f"{path}: {e}"]
    records = _csv_records(text) if kind == "csv" else _json_records(text)
    rows, errors = [], []
    for place, record in records:
        try:
            if isinstance(record, str):
                raise Invalid(record)
            rows.append(_row(place, record))
        except Invalid as e:
            errors.append(f"{place}: {e.detail}")
    return rows, errors


def _csv_records(text: str) -> Iterator[tuple[str, dict[str, Any] | str]]:
    """Yields each line's fields, or what is wrong with the line."""
    reader = csv.reader(text.splitlines())
    if next(reader, None) != list(FIELDS):
        yield "line 1", f"the header must be {','.join(FIELDS)}"
        return
    for values in reader:
        place = f"line {reader.line_num}"
        if values and len(values) != len(FIELDS):
            yield place, f"expected {len(FIELDS)} fields, found {len(values)}"
        elif values:
            code, name, tier, parent, remote = values
            yield (
                place,
                {
                    "code": code,
                    "name": name,
                    "tier": tier,
                    "parent": parent or None,
                    "remote": _BOOLEANS.get(remote, remote),
                },
            )


def _json_records(text: str) -> Iterator[tuple[str, dict[str, Any] | str]]:
    """Yields each item of the list, or what is wrong with it."""
    try:
        items = json.loads(text)
    except ValueError as e:
        yield "the file", f"not JSON: {e}"
        return
    if not isinstance(items, list):
        yield "the file", "must hold a list of agencies"
        return
    for n, item in enumerate(items, 1):
        yield f"item {n}", item if isinstance(item, dict) else "must be an object"


def _row(place: str, record: dict[str, Any]) -> Row:
    """Checks one record's fields; raises Invalid naming the first bad one."""
    if set(record) != set(FIELDS):
        missing = ", ".join(f for f in FIELDS if f not in record) or "none"
        unknown = ", ".join(f for f in record if f not in FIELDS) or "none"
        fields = ", ".join(FIELDS)
        raise Invalid(f"the fields are {fields} (missing: {missing}; unknown: {unknown})")
    code, name, tier, parent, remote = (record[f] for f in FIELDS)
    check_agency_code(code if isinstance(code, str) else repr(code))
    if not isinstance(name, str) or not name.strip():
        raise Invalid.field("name", "must be text, not blank")
    if tier not in _TIERS:
        raise Invalid.field("tier", f"must be one of {', '.join(_TIERS)}, not {tier!r}")
    if parent is not None:
        check_agency_code(parent if isinstance(parent, str) else repr(parent), "parent")
    if not isinstance(remote, bool):
        raise Invalid.field("remote", f"must be true or false, not {remote!r}")
    return Row(code, name, Tier(tier), parent, remote, place)


def write(rows: Iterable[Row], kind: str, out: TextIO) -> None:
    """Writes rows as CSV (with a header) or as a JSON list."""
    if kind == "json":
        out.write(json.dumps([r.fields() for r in rows], ensure_ascii=False, indent=2) + "\n")
        return
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    for r in rows:
        writer.writerow((r.code, r.name, r.tier.value, r.parent or "", str(r.remote).lower()))


def plan(rows: Sequence[Row], existing: dict[str, dict[str, Any]], today: str) -> Plan:
    """Compares the rows with the directory as of today: what to record, the diff, and every
    error."""
    result = Plan()
    first: dict[str, Row] = {}
    for row in rows:
        if row.code in first:
            result.errors.append(f"{row.place}: {row.code} is also on {first[row.code].place}")
        else:
            first[row.code] = row
    commands = [(row, c) for row in first.values() for c in _compare(row, existing, today, result)]
    depth = _check_tree(first, existing, result.errors)
    result.steps = sorted(
        ((depth[row.code], row, c) for row, c in commands), key=lambda step: step[0]
    )
    result.untouched = len(existing.keys() - first.keys())
    return result


def _compare(
    row: Row, existing: dict[str, dict[str, Any]], today: str, result: Plan
) -> list[Command]:
    old = existing.get(row.code)
    if old is None:
        result.counts["added"] += 1
        result.diff.append(f"+ {row.code} {row.name}")
        return [RegisterAgency(row.code, row.name, row.tier, row.parent, row.remote, None)]
    if old["remote"] != row.remote:
        result.errors.append(
            f"{row.place}: {row.code} has remote {str(old['remote']).lower()} in the directory; "
            "changing remote is not supported"
        )
        return []
    commands: list[Command] = []
    if old["name"] != row.name:
        result.counts["renamed"] += 1
        result.diff.append(f"~ {row.code} name: {old['name']} -> {row.name}")
        commands.append(RenameAgency(row.code, row.name))
    if (old["parent"], old["tier"]) != (row.parent, row.tier.value):
        result.counts["moved"] += 1
        before, after = _place(old["tier"], old["parent"]), _place(row.tier, row.parent)
        result.diff.append(f"> {row.code} moved: {before} -> {after}")
        commands.append(MoveAgency(row.code, row.parent, row.tier))
        result.errors += _move_errors(row, old, existing, today)
    if not commands:
        result.counts["unchanged"] += 1
    return commands


def _move_errors(
    row: Row, old: dict[str, Any], existing: dict[str, dict[str, Any]], today: str
) -> list[str]:
    """Says why an agency cannot move: it has ended, or the parent it moves under has."""
    errors = []
    if old["ends_on"] is not None:
        ended = f"merged into {old['successor']}" if old["successor"] else "retired"
        errors.append(f"{row.place}: {row.code} is {ended} from {old['ends_on']}; it cannot move")
    parent = existing.get(row.parent or "")
    if parent is not None:
        state = status_on(parent["status"], parent["successor"], parent["ends_on"], today)
        if state in ("merged", "retired"):
            errors.append(f"{row.place}: {row.code} cannot move under {row.parent}: it is {state}")
    return errors


def _place(tier: str, parent: str | None) -> str:
    return f"{tier} under {parent}" if parent else f"{tier}, no parent"


Place = tuple[Tier, str | None, bool]


def _check_tree(
    rows: dict[str, Row], existing: dict[str, dict[str, Any]], errors: list[str]
) -> dict[str, int]:
    """Checks the directory the import would leave (parents known, tiers in order, no cycles)
    and returns each code's depth in it, so that parents are recorded before their children."""
    final: dict[str, Place] = {
        code: (Tier(old["tier"]), old["parent"], old["remote"]) for code, old in existing.items()
    }
    final |= {code: (row.tier, row.parent, row.remote) for code, row in rows.items()}
    for code, (tier, parent, remote) in final.items():
        if parent is None or (code not in rows and parent not in rows):
            continue
        row = rows.get(code) or rows[parent]
        if parent not in final:
            errors.append(f"{row.place}: parent {parent} is neither in the file nor the directory")
        elif not remote and final[parent][0].rank > tier.rank:
            above = final[parent][0]
            errors.append(
                f"{row.place}: {parent} ({above}) cannot be the parent of {code} ({tier})"
            )
    return _depths(final, rows, errors)


def _depths(final: dict[str, Place], rows: dict[str, Row], errors: list[str]) -> dict[str, int]:
    """Returns the depth of each row's agency in the final tree, reporting each cycle once."""
    depth: dict[str, int] = {}
    for start in rows:
        chain: list[str] = []
        up: str | None = start
        while up in final and up not in depth and up not in chain:
            chain.append(up)
            up = final[up][1]
        if up is not None and up in chain:
            cycle = chain[chain.index(up) :]
            row = next(rows[c] for c in rows if c in cycle)
            errors.append(f"{row.place}: the parents form a cycle: {' -> '.join([*cycle, up])}")
        level = depth.get(up, -1) if up else -1
        for code in reversed(chain):
            level += 1
            depth[code] = level
    return depth
