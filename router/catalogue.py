"""`lienthong agencies export` and `import`: the directory written to a file, and a file
recorded into the directory in batches, beside a running router."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from itertools import groupby
from pathlib import Path
from typing import Any, TextIO

from eventsourcing.persistence import RecordConflictError
from rich.progress import Progress

from adapters.directory import SqlDirectory
from adapters.projection import ExchangeProjection
from adapters.views import Views
from domain.codes import Tier, agency_id
from domain.commands import Command, MoveAgency, RegisterAgency
from domain.directory import DirectoryEntry
from domain.errors import DomainError
from domain.exchange import Exchange
from router.config import Config
from router.directory_file import Row, plan, read, write
from router.services import open_exchange, write_lock

BATCH = 500


class ImportFailed(Exception):
    """A command was refused or could not be committed while recording."""


def directory(views: Views) -> dict[str, dict[str, Any]]:
    """Returns every agency of the directory view by code, in code order."""
    found: dict[str, dict[str, Any]] = {}
    after = None
    while page := views.agencies(after=after, limit=1000):
        found.update((row["code"], row) for row in page)
        after = page[-1]["code"]
    return dict(sorted(found.items()))


class _Unregistered:
    """The directory port during an import: the codes a batch registers are not looked up one
    by one (the plan found them absent; the store's unique ids still refuse a concurrent twin)."""

    def __init__(self, directory: SqlDirectory) -> None:
        self.directory = directory
        self.codes: set[str] = set()

    def lookup(self, codes: Iterable[str]) -> dict[str, DirectoryEntry]:
        """Returns the entries of the known codes among those given."""
        return self.directory.lookup([code for code in codes if code not in self.codes])

    def members(self, tier: Tier, under: str) -> list[DirectoryEntry]:
        """Returns the agencies of a tier in the subtree of an agency, itself included."""
        return self.directory.members(tier, under)

    def certificate_owner(self, fingerprint: str) -> str | None:
        """Returns the code of the agency a signing certificate was registered to, if any."""
        return self.directory.certificate_owner(fingerprint)


def record(
    exchange: Exchange,
    projection: ExchangeProjection,
    steps: Sequence[tuple[int, Row, Command]],
    commit_lock: AbstractContextManager[Any],
    advance: Callable[[int], None],
) -> None:
    """Records the steps depth by depth, in batches; between depths the views and directory
    catch up, since a registration or a move looks its parent up there."""
    sql = exchange.directory
    assert isinstance(sql, SqlDirectory)
    exchange.directory = directory = _Unregistered(sql)
    try:
        for _, wave in groupby(steps, key=lambda step: step[0]):
            ordered = list(wave)
            for start in range(0, len(ordered), BATCH):
                batch = ordered[start : start + BATCH]
                _commit(exchange, directory, batch, commit_lock)
                advance(len(batch))
            catch_up(projection)
            sql.refresh()
    finally:
        exchange.directory = sql


def _commit(
    exchange: Exchange,
    directory: _Unregistered,
    batch: Sequence[tuple[int, Row, Command]],
    commit_lock: AbstractContextManager[Any],
) -> None:
    """Decides a batch in one unit of work and commits it; raises ImportFailed on a refusal."""
    directory.codes = {c.code for _, _, c in batch if isinstance(c, RegisterAgency)}
    moving = (c for _, _, c in batch if isinstance(c, RegisterAgency | MoveAgency))
    directory.lookup({c.parent for c in moving if c.parent})  # every parent in one query
    uow = exchange.unit_of_work(absent=[agency_id(code) for code in directory.codes])
    for _, row, command in batch:
        try:
            exchange.handle(command, uow)
        except DomainError as e:
            raise ImportFailed(f"{row.place}: {row.code}: {e.detail}") from e
    try:
        with commit_lock:
            exchange.commit(uow)
    except RecordConflictError as e:
        raise ImportFailed(f"another writer changed these agencies meanwhile: {e}") from e


def catch_up(projection: ExchangeProjection) -> None:
    """Projects every committed event into the views."""
    more = True
    while more:
        _, more = projection.run_once(limit=5000)


@contextmanager
def opened(config: Config) -> Iterator[tuple[Exchange, Views, ExchangeProjection]]:
    """Opens the store and its views, caught up with every committed event."""
    exchange, views = open_exchange(config)
    lock = write_lock(config, "views")
    projection = ExchangeProjection(views.engine, exchange.recorder, exchange.mapper, lock)
    try:
        catch_up(projection)
        yield exchange, views, projection
    finally:
        exchange.close()
        views.engine.dispose()
        lock.close()


def export(config: Config, kind: str, out: TextIO) -> None:
    """Writes every agency of the directory, in code order."""
    with opened(config) as (_, views, _):
        write(map(Row.stored, directory(views).values()), kind, out)


def import_file(config: Config, path: Path, *, dry_run: bool, progress: Progress) -> int:
    """Prints the diff from the directory to a file and, unless a dry run, records it; returns
    the exit status: 2 when the file has errors (nothing is recorded) or recording failed."""
    rows, errors = read(path)
    if errors:
        return _refuse(errors)
    with opened(config) as (exchange, views, projection):
        change = plan(rows, directory(views), exchange.today())
        if change.errors:
            return _refuse(change.errors)
        print("\n".join([*change.diff, change.summary()]))
        if dry_run or not change.steps:
            return 0
        lock = write_lock(config, "events")
        try:
            with progress:
                task = progress.add_task("recording", total=len(change.steps))
                record(
                    exchange, projection, change.steps, lock, lambda n: progress.advance(task, n)
                )
        except ImportFailed as e:
            kept = "recording stopped there; the batches before it stay recorded"
            return _refuse([str(e), f"{kept}: importing the file again continues from them"])
        finally:
            lock.close()
    print(f"recorded {len(change.steps)} changes")
    return 0


def _refuse(errors: list[str]) -> int:
    print("\n".join(errors), file=sys.stderr)
    return 2
