"""The `lienthong audit` commands: verify the history against its signed checkpoints."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from cryptography import x509
from sqlalchemy.engine import Engine

from adapters import evidence as ev
from adapters.audit import Outcome, Recorded, Take, verify
from adapters.auditread import Source
from adapters.evidence import EvidenceProjection
from adapters.routerkey import stored_certificate
from router.config import Config
from router.services import open_exchange


@contextmanager
def _leaves(engine: Engine) -> Iterator[Take]:
    """Reads the recorded leaves in index order, n at a time, on the driver's own cursor."""
    raw = engine.raw_connection()
    try:
        sql = f"SELECT position, hash FROM {ev.leaves.name} ORDER BY leaf_index"
        driver = raw.driver_connection
        if isinstance(driver, psycopg.Connection):
            cursor: Any = driver.cursor("leaves", binary=True)  # bytea as bytes, not hex
            cursor.itersize = 20_000
        else:
            cursor = raw.cursor()
        cursor.execute(sql)

        def take(n: int) -> tuple[list[int], bytes]:
            rows = cursor.fetchmany(n)
            return [r[0] for r in rows], b"".join(bytes(r[1]) for r in rows)

        yield take
        cursor.close()
    finally:
        raw.close()


def _checkpoints(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as c:
        rows = c.execute(sa.select(ev.checkpoints).order_by(ev.checkpoints.c.size))
        return [
            {
                "size": r.size,
                "root": bytes(r.root).hex(),
                "recorded_at": r.recorded_at,
                "jws": r.jws,
            }
            for r in rows
        ]


def run_verify(
    config: Config,
    certificate_file: Path | None,
    progress: Callable[[int, int], None],
    workers: int | None = None,
) -> tuple[Outcome, str]:
    """Verifies a store; returns the outcome and where the certificate came from.

    Raises SystemExit when there is no certificate to check the checkpoints with."""
    exchange, views = open_exchange(config)
    try:
        source = Source.of(exchange.recorder, config.database_url, config.data_dir)
        head = exchange.recorder.max_notification_id() or 0
    finally:
        exchange.close()
    if certificate_file is not None:
        certificate = x509.load_pem_x509_certificate(certificate_file.read_bytes())
        origin = str(certificate_file)
    else:
        found = stored_certificate(views.engine, config.data_dir)
        if found is None:
            raise SystemExit("lienthong: the store keeps no router certificate; give --router-cert")
        certificate, origin = (
            found,
            "the certificate the store keeps (give --router-cert to check against one "
            "obtained independently)",
        )
    try:
        with _leaves(views.engine) as take:
            recorded = Recorded(take, _checkpoints(views.engine))
            outcome = verify(
                source, head, recorded, certificate, lambda n: progress(n, head), workers
            )
    finally:
        views.engine.dispose()
    return outcome, origin


def rebuild(config: Config, progress: Callable[[int, int], None]) -> tuple[int, float]:
    """Recomputes the leaves, subtrees and receipts from the events (the signed checkpoints
    stay: `audit verify` checks the new tree against them); returns events and seconds."""
    from router.services import router_key

    exchange, views = open_exchange(config)
    try:
        head = exchange.recorder.max_notification_id() or 0
        projection = EvidenceProjection(views.engine, exchange.recorder, router_key(config, views))
        with views.engine.begin() as c:
            for table in (ev.leaves, ev.nodes, ev.receipts):
                c.execute(table.delete())
            c.execute(
                ev.tracking.update()
                .where(ev.tracking.c.name == projection.name)
                .values(position=0, size=0)
            )
        started, more, position = time.perf_counter(), True, 0
        while more:
            position, more = projection.run_once(limit=20_000, checked=False)
            progress(position, head)
        return head, time.perf_counter() - started
    finally:
        exchange.close()
        views.engine.dispose()
