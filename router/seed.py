"""`lienthong seed`: fills a store with synthetic documents, for benchmarks and demonstrations.

The documents are decided and committed through the exchange like any other (events in the
store, in batches of 1,000 under the writers' lock), but the views are not updated: they catch
up when `lienthong serve` starts, or with `lienthong views rebuild`, which is what a benchmark of
rebuilding wants to time.
"""

from __future__ import annotations

import secrets

from rich.progress import Progress

from adapters.projection import ExchangeProjection
from domain.codes import Tier, agency_id, document_id
from domain.commands import RegisterAgency, SendDocument
from domain.exchange import Exchange
from router.catalogue import catch_up
from router.config import Config
from router.services import open_exchange, write_lock

BATCH = 1000


def _ensure(
    exchange: Exchange, projection: ExchangeProjection, sender: str, recipient: str
) -> None:
    """Registers the sender (a province committee) and the recipient (under it) if missing, and
    brings the views' directory up to date (sending looks recipients up there)."""
    for code, parent in ((sender, None), (recipient, sender)):
        if exchange.unit_of_work().find(agency_id(code)) is None:
            name = f"Cơ quan {code}"
            exchange.execute(RegisterAgency(code, name, Tier.PROVINCE, parent, False, None))
        catch_up(projection)


def _document(sender: str, recipient: str, external_id: str, n: int) -> SendDocument:
    return SendDocument(
        sender=sender,
        external_id=external_id,
        content_sha256=f"seed-{external_id}",
        to=[recipient],
        code_number=str(n),
        code_notation="UBND-VX",
        document_type="cong-van",
        subject=f"Về việc triển khai nhiệm vụ chuyển đổi số năm 2026 (số {n})",
        promulgated_on="2026-11-24",
        place="Nghệ An",
        priority="normal",
        due_on="2026-12-31",
    )


def seed(config: Config, documents: int, sender: str, recipient: str, progress: Progress) -> int:
    """Sends `documents` documents from sender to recipient; returns the store's last position."""
    exchange, views = open_exchange(config)
    lock = write_lock(config, "events")
    projection = ExchangeProjection(
        views.engine, exchange.recorder, exchange.mapper, write_lock(config, "views")
    )
    run = secrets.token_hex(4)
    try:
        _ensure(exchange, projection, sender, recipient)
        with progress:
            task = progress.add_task(f"seeding {documents:,} documents", total=documents)
            for start in range(0, documents, BATCH):
                commands: list[SendDocument] = [
                    _document(sender, recipient, f"SEED-{run}-{n}", n)
                    for n in range(start, min(start + BATCH, documents))
                ]
                uow = exchange.unit_of_work(
                    absent=[document_id(sender, c.external_id) for c in commands]
                )
                for command in commands:
                    exchange.handle(command, uow)
                with lock:
                    exchange.commit(uow)
                progress.advance(task, len(commands))
        return exchange.recorder.max_notification_id() or 0
    finally:
        exchange.close()
        views.engine.dispose()
        lock.close()
