"""Unit fixtures: the exchange on the in-memory event store, with a small province."""

from __future__ import annotations

from typing import Any

import pytest

from domain.codes import Tier
from domain.commands import RegisterAgency, SendDocument
from domain.document import Document
from domain.exchange import Exchange

PROVINCE = "000.00.00.H41"
DISTRICT = "000.01.00.H41"
COMMUNE = "000.01.01.H41"
COMMUNE_2 = "000.01.02.H41"
MINISTRY = "000.00.00.G22"


@pytest.fixture
def exchange() -> Exchange:
    """An exchange on the in-memory store holding a province, a district, two communes and a
    remote ministry."""
    x = Exchange(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    for code, tier, parent, remote in [
        (PROVINCE, Tier.PROVINCE, None, False),
        (DISTRICT, Tier.DISTRICT, PROVINCE, False),
        (COMMUNE, Tier.COMMUNE, DISTRICT, False),
        (COMMUNE_2, Tier.COMMUNE, DISTRICT, False),
        (MINISTRY, Tier.CENTRAL, None, True),
    ]:
        x.execute(RegisterAgency(code, f"Cơ quan {code}", tier, parent, remote, f"hash-{code}"))
    return x


def send_command(to: list[str], sender: str = PROVINCE, **fields: Any) -> SendDocument:
    """Returns a valid send command, overridden by fields."""
    values: dict[str, Any] = {
        "sender": sender,
        "external_id": "VP-1",
        "content_sha256": "c1",
        "to": to,
        "code_number": "123",
        "code_notation": "UBND-VX",
        "document_type": "cong-van",
        "subject": "Về việc chuyển đổi số",
        "promulgated_on": "2026-11-24",
        "place": "Nghệ An",
        "priority": "normal",
    }
    values.update(fields)
    return SendDocument(**values)


def sent(exchange: Exchange, to: list[str], **fields: Any) -> Document:
    """Sends a document and returns it."""
    document: Document = exchange.execute(send_command(to, **fields)).aggregate
    return document


def event_count(exchange: Exchange) -> int:
    """Returns how many events the store holds."""
    return len(exchange.recorder.select_notifications(start=1, limit=10_000))
