"""Tampering with the real events table (SQLite file, PostgreSQL table): `audit verify` names the
first bad position for every kind of change older than the latest checkpoint, and passes the
untouched history again once each change is undone."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
import psycopg

from adapters.eventlog import _events_table
from adapters.evidence import checkpoints
from router.audit import run_verify
from router.config import Config
from router.services import SERVICES, Services
from tests.support.api import COMMUNE, DISTRICT, PROVINCE, Api

Row = tuple[Any, ...]


class Table:
    """The events table, reached with the driver directly (autocommit), as an intruder would."""

    def __init__(self, config: Config, services: Services) -> None:
        table = _events_table(services.exchange.recorder)
        assert table is not None
        self.name, self.pos, self.mark, _ = table
        if config.data_dir is not None:
            self.c: Any = sqlite3.connect(config.data_dir / "events.sqlite", isolation_level=None)
        else:
            assert config.database_url is not None
            self.c = psycopg.connect(config.database_url, autocommit=True)
        self.columns = "originator_id, originator_version, topic, state"

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *_: object) -> None:
        self.c.close()

    def sql(self, statement: str, *params: Any) -> list[Row]:
        cursor = self.c.execute(statement.replace("?", self.mark), params)
        return list(cursor.fetchall()) if cursor.description else []

    def row(self, position: int) -> Row:
        rows = self.sql(f"SELECT {self.columns} FROM {self.name} WHERE {self.pos} = ?", position)
        return rows[0]

    def put(self, position: int, row: Row) -> None:
        self.sql(
            f"INSERT INTO {self.name} ({self.pos}, {self.columns}) VALUES (?, ?, ?, ?, ?)",
            position,
            *row,
        )

    def delete(self, position: int) -> None:
        self.sql(f"DELETE FROM {self.name} WHERE {self.pos} = ?", position)

    def shift(self, first: int, by: int) -> None:
        """Moves the rows from `first` up by `by` (in two steps: positions are unique)."""
        far = 10**9
        self.sql(
            f"UPDATE {self.name} SET {self.pos} = {self.pos} + ? WHERE {self.pos} >= ?", far, first
        )
        self.sql(
            f"UPDATE {self.name} SET {self.pos} = {self.pos} - ? WHERE {self.pos} >= ?",
            far - by,
            far,
        )


def _altered(row: Row) -> Row:
    state = msgspec.json.decode(bytes(row[3]))
    key = next(k for k in state if k not in ("timestamp", "originator_topic", "token_sha256"))
    state[key] = f"{state[key]}!" if isinstance(state[key], str) else [state[key]]
    return (*row[:3], msgspec.json.encode(state))


@contextmanager
def altered(t: Table, p: int) -> Iterator[int]:
    original = t.row(p)
    t.delete(p)
    t.put(p, _altered(original))
    yield p
    t.delete(p)
    t.put(p, original)


@contextmanager
def deleted(t: Table, p: int) -> Iterator[int]:
    original = t.row(p)
    t.delete(p)
    yield p
    t.put(p, original)


@contextmanager
def inserted(t: Table, p: int) -> Iterator[int]:
    copy = t.row(p)
    stream = uuid.uuid4()
    t.shift(p, 1)
    t.put(p, (stream.hex if isinstance(copy[0], str) else stream, *copy[1:]))
    yield p
    t.delete(p)
    t.shift(p + 1, -1)


@contextmanager
def swapped(t: Table, p: int) -> Iterator[int]:
    q = p + 1
    first, second = t.row(p), t.row(q)
    t.delete(p)
    t.delete(q)
    t.put(p, second)
    t.put(q, first)
    yield p
    t.delete(p)
    t.delete(q)
    t.put(p, first)
    t.put(q, second)


TAMPERS: dict[str, Callable[[Table, int], Any]] = {
    "altered": altered,
    "deleted": deleted,
    "inserted": inserted,
    "swapped": swapped,
}


async def _history(api: Api) -> Services:
    """A province with a dozen documents, statuses and a revocation, checkpointed."""
    await api.province()
    for n in range(12):
        status, sent = await api.send(PROVINCE, [DISTRICT, COMMUNE])
        assert status == 201, sent
        status, body = await api.report(COMMUNE, sent["id"], "03" if n % 2 else "01")
        assert status == 201, body
    status, body = await api.call(
        "POST", f"/v1/documents/{sent['id']}/revoke", api.tokens[PROVINCE], json={"reason": "Nhầm"}
    )
    assert status == 200, body
    services: Services = api.session.app[SERVICES]  # type: ignore[attr-defined]
    await services.call(services.evidence.checkpoint)  # unless the background signer just did
    latest = await services.call(services.evidence.latest_checkpoint)
    assert latest["size"] == (await services.call(services.evidence.head))[1]
    # Nothing may project the intruder's rows: the writer is idle, the pollers are stopped.
    services.runner.stop()
    services.evidence_runner.stop()
    return services


async def _verify(config: Config, workers: int = 1) -> tuple[str | None, int | None]:
    outcome, _ = await asyncio.to_thread(run_verify, config, None, lambda *_: None, workers)
    return outcome.failure, outcome.bad_position


async def _named_altered(config: Config, p: int, *also: str) -> None:
    """Verifies with one and two workers: each names the event at p as altered (and says
    `also`)."""
    for workers in (1, 2):
        failure, position = await _verify(config, workers)
        assert position == p, (p, workers, failure)
        assert failure is not None
        for words in ("altered", *also):
            assert words in failure, (words, failure)


@contextmanager
def rewritten(t: Table, p: int, state: bytes) -> Iterator[None]:
    """Replaces the stored state of the event at p."""
    original = t.row(p)
    t.delete(p)
    t.put(p, (*original[:3], state))
    yield
    t.delete(p)
    t.put(p, original)


async def test_every_kind_of_tamper_is_named_at_its_first_bad_position(
    api: Api, store_config: Config
) -> None:
    services = await _history(api)
    _, size = await services.call(services.evidence.head)
    head = await services.call(services.events.max_position)
    assert await _verify(store_config) == (None, None)
    with Table(store_config, services) as table:
        for name, tamper in TAMPERS.items():
            for p in (2, head // 2, head - 2):
                with tamper(table, p):
                    failure, position = await _verify(store_config)
                    assert position == p, (name, p, failure)
                    assert failure is not None
                    assert name in failure
                assert await _verify(store_config) == (None, None), (name, p)
    assert size == head


async def test_the_command_exits_1_naming_the_position_and_0_when_untouched(
    api: Api, store_config: Config
) -> None:
    services = await _history(api)
    store = (
        ["--data", str(store_config.data_dir)]
        if store_config.data_dir
        else ["--database", str(store_config.database_url)]
    )
    command = [sys.executable, "-m", "router.cli", "audit", "verify", *store, "--workers", "2"]
    done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "audit verify: OK" in done.stdout
    with Table(store_config, services) as table, deleted(table, 7):
        done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("audit verify: FAILED at position 7: "), done.stdout


async def test_a_checkpoint_altered_after_signing_fails_verification(
    api: Api, store_config: Config
) -> None:
    services = await _history(api)
    with services.views.engine.begin() as c:
        c.execute(checkpoints.update().values(root=b"\x00" * 32))
    failure, _ = await _verify(store_config)
    assert failure is not None
    assert "differs from what its signature says" in failure


async def test_a_state_stored_in_another_text_of_the_same_json_verifies_as_the_api_shows_it(
    api: Api, store_config: Config
) -> None:
    services = await _history(api)
    head = await services.call(services.events.max_position)
    with Table(store_config, services) as table:
        for p in (2, head // 2, head - 2):
            shown = services.events.after(p - 1, 1)
            state = msgspec.json.decode(bytes(table.row(p)[3]))
            # Keys in reverse order, blanks, every non-ASCII character escaped: the same JSON.
            other = json.dumps(dict(reversed(state.items())), indent=1).encode()
            with rewritten(table, p, other):
                assert services.events.after(p - 1, 1) == shown
                for workers in (1, 2):
                    assert await _verify(store_config, workers) == (None, None), (p, workers)


async def test_a_duplicate_key_that_changes_a_value_is_named_as_an_alteration(
    api: Api, store_config: Config
) -> None:
    services = await _history(api)
    head = await services.call(services.events.max_position)
    with Table(store_config, services) as table:
        for p in (2, head // 2, head - 2):
            stored = bytes(table.row(p)[3])
            key = next(
                k
                for k, v in msgspec.json.decode(stored).items()
                if k not in ("timestamp", "originator_topic") and isinstance(v, str)
            )
            # Decoders keep the last of two equal keys: the API would show the second value.
            twice = stored[:-1] + b',"%s":"changed"}' % key.encode()
            with rewritten(table, p, twice):
                assert services.events.after(p - 1, 1)[0]["data"][key] == "changed"
                await _named_altered(store_config, p)


async def test_an_alteration_after_a_state_in_another_text_is_named_at_its_position(
    api: Api, store_config: Config
) -> None:
    services = await _history(api)
    head = await services.call(services.events.max_position)
    with Table(store_config, services) as table:
        other = json.dumps(msgspec.json.decode(bytes(table.row(2)[3])), indent=1).encode()
        with rewritten(table, 2, other), altered(table, head // 2):
            await _named_altered(store_config, head // 2)


async def test_a_state_that_is_no_event_is_named_as_an_alteration(
    api: Api, store_config: Config
) -> None:
    services = await _history(api)
    head = await services.call(services.events.max_position)
    with Table(store_config, services) as table:
        for p in (2, head // 2, head - 2):
            stored = bytes(table.row(p)[3])
            for state in (b"not JSON", b"[1, 2]", stored.replace(b'"timestamp"', b'"stamp"')):
                with rewritten(table, p, state):
                    await _named_altered(store_config, p, "cannot be read as an event")
