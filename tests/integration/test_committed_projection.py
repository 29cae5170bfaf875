"""The writer hands its recordings to the projections: when they are the next events, the views
and the evidence apply them as they are, without reading them back, and end up exactly as the
same events read from the store would leave them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from eventsourcing.persistence import Recording

from adapters import evidence as ev
from adapters import views as v
from adapters.evidence import EvidenceProjection, create_tables
from adapters.projection import ExchangeProjection
from adapters.routerkey import RouterKey
from domain.codes import document_id
from domain.commands import Command, ReportStatus, RevokeDocument, SendDocument
from ops.bench_core import RECIPIENT, SENDER
from router.config import Config
from router.seed import _document, _ensure
from router.services import open_exchange, router_key


class Store:
    """An exchange, its views and evidence, and a count of the events read back."""

    def __init__(self, config: Config) -> None:
        self.exchange, self.views = open_exchange(config)
        create_tables(self.views.engine)
        self.key = router_key(config, self.views)
        recorder = self.exchange.recorder
        self.projection = ExchangeProjection(self.views.engine, recorder, self.exchange.mapper)
        self.evidence = EvidenceProjection(self.views.engine, recorder, self.key)
        _ensure(self.exchange, self.projection, SENDER, RECIPIENT)
        self.evidence.run_once()
        self.reads = 0
        select = recorder.select_notifications

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.reads += 1
            return select(*args, **kwargs)

        recorder.select_notifications = counted  # type: ignore[method-assign]

    def commit(self, commands: Sequence[Command]) -> list[Recording[Any]]:
        ids = {
            document_id(c.sender, c.external_id) for c in commands if isinstance(c, SendDocument)
        }
        uow = self.exchange.unit_of_work(absent=ids)
        for command in commands:
            self.exchange.handle(command, uow)
        return list(self.exchange.commit(uow))

    def project(self, committed: Sequence[Recording[Any]]) -> tuple[int, int]:
        views, more = self.projection.run_once(checked=False, committed=committed)
        evidence, more_evidence = self.evidence.run_once(checked=False, committed=committed)
        assert not more
        assert not more_evidence
        return views, evidence

    def close(self) -> None:
        self.exchange.close()
        self.views.engine.dispose()


@pytest.fixture
def store(store_config: Config) -> Iterator[Store]:
    s = Store(store_config)
    try:
        yield s
    finally:
        s.close()


def _history(store: Store) -> list[list[Recording[Any]]]:
    """Three batches: sends, then reports and a revocation on them, then one more send."""
    sent = store.commit([_document(SENDER, RECIPIENT, f"C-{i}", i) for i in range(4)])
    ids = [r.notification.originator_id for r in sent]
    later = store.commit(
        [
            ReportStatus(ids[0], RECIPIENT, "01"),
            ReportStatus(ids[0], RECIPIENT, "03"),
            ReportStatus(ids[1], RECIPIENT, "02", note="Sai thẩm quyền"),
            RevokeDocument(ids[2], SENDER, "Ban hành nhầm"),
        ]
    )
    return [sent, later, store.commit([_document(SENDER, RECIPIENT, "C-last", 9)])]


def _rows(engine: sa.Engine, tables: Sequence[sa.Table]) -> dict[str, list[Any]]:
    with engine.connect() as c:
        return {
            t.name: sorted(
                (tuple(map(repr, row)) for row in c.execute(sa.select(t))), key=lambda r: r
            )
            for t in tables
        }


def _reference(store: Store, tmp_path: Path) -> tuple[dict[str, list[Any]], list[Any]]:
    """The views and evidence of the same events, read back from the store into fresh tables."""
    engine = v.create_engine(f"sqlite:///{tmp_path / 'reference.sqlite'}")
    try:
        recorder = store.exchange.recorder
        projection = ExchangeProjection(engine, recorder, store.exchange.mapper)
        projection.setup()
        create_tables(engine)
        evidence = EvidenceProjection(
            engine, recorder, RouterKey(store.key.key, store.key.certificate)
        )
        while projection.run_once()[1]:
            pass
        while evidence.run_once()[1]:
            pass
        return _rows(engine, v.VIEW_TABLES), _evidence(engine)
    finally:
        engine.dispose()


def _evidence(engine: sa.Engine) -> list[Any]:
    """Leaves, subtrees and receipts (each receipt's payload: ECDSA signatures differ)."""
    rows = _rows(engine, [ev.leaves, ev.nodes])
    with engine.connect() as c:
        receipts = [
            (*row[:-1], row[-1].split(".")[1])
            for row in c.execute(sa.select(ev.receipts).order_by(ev.receipts.c.position))
        ]
    return [rows, receipts]


def test_recordings_that_follow_are_applied_without_reading_them_back(
    store: Store, tmp_path: Path
) -> None:
    positions = []
    for batch in _history(store):
        positions.append(store.project(batch))
        assert positions[-1] == (batch[-1].notification.id,) * 2
    assert store.reads == 0
    views, evidence = _reference(store, tmp_path)
    assert _rows(store.views.engine, v.VIEW_TABLES) == views
    assert _evidence(store.views.engine) == evidence


def test_recordings_after_a_gap_are_read_from_the_store(store: Store, tmp_path: Path) -> None:
    _, second, third = _history(store)
    end = third[-1].notification.id
    # The first batch was never projected here (another process's, say): the second does not
    # follow the tracked position, so each projection reads every event after it.
    assert store.project(second) == (end, end)
    assert store.reads == 2
    # The third is in already: each projection looks, finds nothing new, and stays.
    assert store.project(third) == (end, end)
    assert store.reads == 4
    views, evidence = _reference(store, tmp_path)
    assert _rows(store.views.engine, v.VIEW_TABLES) == views
    assert _evidence(store.views.engine) == evidence
