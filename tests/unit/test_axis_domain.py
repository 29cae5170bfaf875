"""The axis bridge's domain rules: items to carry, attempts, parking, retries, and packages
received from outside the province."""

from __future__ import annotations

from typing import Any

import pytest

from domain.codes import FORWARDED, PARKED, QUEUED, REVOKED, axis_document_id
from domain.commands import (
    MergeAgency,
    ParkAxisItem,
    ReceiveFromAxis,
    RecordAxisAttempt,
    ReportStatus,
    RequeueAxisItem,
    RevokeDocument,
)
from domain.document import AXIS_DOCUMENT, AXIS_REVOKE, CANCELLED, Document
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from domain.exchange import Exchange
from tests.unit.conftest import COMMUNE, COMMUNE_2, DISTRICT, MINISTRY, PROVINCE, sent

NATIONAL_ID = "000.00.00.G22,2026/11/24,7816/VPCP-TTĐT"


def attempt(exchange: Exchange, doc: Document, item: str = AXIS_DOCUMENT, **kw: Any) -> bool:
    """Records one attempt and returns whether anything was recorded."""
    return exchange.execute(RecordAxisAttempt(doc.id, item, **kw)).recorded


def fresh(exchange: Exchange, doc: Document) -> Document:
    """Reloads a document from the store."""
    document: Document = exchange.repository.get(doc.id)
    return document


def received(exchange: Exchange, **fields: Any) -> Document:
    """Records a package from the ministry and returns its document."""
    values: dict[str, Any] = {
        "national_id": NATIONAL_ID,
        "business_type": 0,
        "sender": MINISTRY,
        "sender_name": "Văn phòng Chính phủ",
        "to": [PROVINCE, COMMUNE, "000.00.00.H29"],
        "code_number": "7816",
        "code_notation": "VPCP-TTĐT",
        "document_type": "cong-van",
        "subject": "Về việc triển khai trục liên thông",
        "promulgated_on": "2026-11-24",
        "place": "Hà Nội",
        "priority": "urgent",
    }
    values.update(fields)
    document: Document = exchange.execute(ReceiveFromAxis(**values)).aggregate
    return document


def test_only_a_document_with_axis_recipients_has_something_to_carry(exchange: Exchange) -> None:
    assert sent(exchange, [COMMUNE]).axis == {}
    doc = sent(exchange, [COMMUNE, MINISTRY], external_id="VP-2")
    assert doc.axis[AXIS_DOCUMENT].state == QUEUED
    assert doc.recipients[MINISTRY].state == QUEUED


def test_a_forwarded_package_moves_its_axis_lines_only(exchange: Exchange) -> None:
    doc = sent(exchange, [COMMUNE, MINISTRY])
    assert attempt(exchange, doc, ok=False, reason="503 from the axis")
    assert attempt(exchange, doc, ok=True)
    doc = fresh(exchange, doc)
    assert doc.axis[AXIS_DOCUMENT].state == FORWARDED
    assert doc.axis[AXIS_DOCUMENT].attempts == 2
    assert doc.recipients[MINISTRY].state == FORWARDED
    assert doc.recipients[COMMUNE].state == "delivered"
    # A late retry of a delivered item records nothing.
    assert not attempt(exchange, doc, ok=True)


def test_a_remote_recipient_reports_after_forwarding(exchange: Exchange) -> None:
    doc = sent(exchange, [MINISTRY])
    with pytest.raises(Conflict):
        exchange.execute(ReportStatus(doc.id, MINISTRY, "01"))
    attempt(exchange, doc, ok=True)
    for status in ("01", "03", "06"):
        exchange.execute(ReportStatus(doc.id, MINISTRY, status))
    assert fresh(exchange, doc).recipients[MINISTRY].state == "06"


def test_a_permanent_refusal_parks_at_once(exchange: Exchange) -> None:
    doc = sent(exchange, [MINISTRY])
    attempt(exchange, doc, ok=False, reason="unknown_recipient", permanent=True)
    doc = fresh(exchange, doc)
    assert doc.axis[AXIS_DOCUMENT].state == PARKED
    assert doc.axis[AXIS_DOCUMENT].reason == "unknown_recipient"
    assert doc.recipients[MINISTRY].state == PARKED
    assert not attempt(exchange, doc, ok=False, reason="again")
    # A status coming back proves the package reached the axis after all.
    assert attempt(exchange, doc, ok=True, reason="a status came back")
    assert fresh(exchange, doc).recipients[MINISTRY].state == FORWARDED


def test_transient_failures_park_after_the_last_allowed_attempt(exchange: Exchange) -> None:
    doc = sent(exchange, [MINISTRY])
    for _ in range(2):
        attempt(exchange, doc, ok=False, reason="timeout", max_attempts=3)
    assert fresh(exchange, doc).axis[AXIS_DOCUMENT].state == QUEUED
    attempt(exchange, doc, ok=False, reason="timeout", max_attempts=3)
    item = fresh(exchange, doc).axis[AXIS_DOCUMENT]
    assert (item.state, item.reason) == (PARKED, "3 failed attempts; the last: timeout")


def test_an_operator_retries_a_parked_item_and_parks_a_queued_one(exchange: Exchange) -> None:
    doc = sent(exchange, [MINISTRY])
    with pytest.raises(Conflict):
        exchange.execute(RequeueAxisItem(doc.id, AXIS_DOCUMENT, "operator"))
    exchange.execute(
        ParkAxisItem(doc.id, AXIS_DOCUMENT, "the ministry asked us to wait", "operator")
    )
    with pytest.raises(Conflict):
        exchange.execute(ParkAxisItem(doc.id, AXIS_DOCUMENT, "again", "operator"))
    exchange.execute(RequeueAxisItem(doc.id, AXIS_DOCUMENT, "operator"))
    doc = fresh(exchange, doc)
    assert (doc.axis[AXIS_DOCUMENT].state, doc.axis[AXIS_DOCUMENT].attempts) == (QUEUED, 0)
    assert doc.recipients[MINISTRY].state == QUEUED
    with pytest.raises(Invalid):
        exchange.execute(ParkAxisItem(doc.id, AXIS_DOCUMENT, " ", "operator"))
    with pytest.raises(NotFound):
        exchange.execute(ParkAxisItem(doc.id, "status-9", "no such", "operator"))


def test_revoking_a_forwarded_document_queues_its_revocation(exchange: Exchange) -> None:
    doc = sent(exchange, [MINISTRY])
    attempt(exchange, doc, ok=True)
    exchange.execute(RevokeDocument(doc.id, PROVINCE, "sai số hiệu"))
    doc = fresh(exchange, doc)
    assert doc.axis[AXIS_REVOKE].state == QUEUED
    assert doc.recipients[MINISTRY].state == REVOKED


def test_revoking_a_document_that_never_reached_the_axis_cancels_it(exchange: Exchange) -> None:
    doc = sent(exchange, [MINISTRY])
    exchange.execute(RevokeDocument(doc.id, PROVINCE, "sai số hiệu"))
    doc = fresh(exchange, doc)
    assert doc.axis[AXIS_DOCUMENT].state == CANCELLED
    assert AXIS_REVOKE not in doc.axis
    assert not attempt(exchange, doc, ok=True)


def test_confidential_documents_never_take_the_axis(exchange: Exchange) -> None:
    with pytest.raises(Invalid, match="confidential"):
        sent(exchange, [COMMUNE, MINISTRY], confidential=True)
    assert sent(exchange, [COMMUNE], confidential=True).recipients[COMMUNE].state == "delivered"


def test_a_package_reaches_the_local_recipients_once(exchange: Exchange) -> None:
    doc = received(exchange)
    assert doc.id == axis_document_id(NATIONAL_ID)
    assert sorted(doc.recipients) == [PROVINCE, COMMUNE]
    assert doc.national_id == NATIONAL_ID
    again = exchange.execute(ReceiveFromAxis(**_package_fields()))
    assert not again.recorded


def _package_fields() -> dict[str, Any]:
    return {
        "national_id": NATIONAL_ID,
        "business_type": 0,
        "sender": MINISTRY,
        "sender_name": None,
        "to": [PROVINCE, COMMUNE],
        "code_number": "7816",
        "code_notation": "VPCP-TTĐT",
        "document_type": "cong-van",
        "subject": "other text: a duplicate is known by its DocumentId alone",
        "promulgated_on": "2026-11-24",
        "place": None,
        "priority": "urgent",
    }


def test_a_package_for_no_local_agency_is_refused(exchange: Exchange) -> None:
    with pytest.raises(Invalid, match="no recipient"):
        received(exchange, to=["000.00.00.H29", "not a code"])


def test_local_answers_to_a_package_go_back_over_the_axis(exchange: Exchange) -> None:
    doc = received(exchange)
    exchange.execute(ReportStatus(doc.id, COMMUNE, "01"))
    exchange.execute(ReportStatus(doc.id, COMMUNE, "03", by={"name": "Lê Văn A"}))
    items = fresh(exchange, doc).axis
    assert [(n, i.report and i.report["status"]) for n, i in items.items()] == [
        ("status-1", "01"),
        ("status-2", "03"),
    ]
    assert items["status-2"].report is not None
    assert items["status-2"].report["by"] == {"name": "Lê Văn A"}
    assert items["status-2"].report["agency"] == COMMUNE


def test_the_sender_revokes_a_package_over_the_axis(exchange: Exchange) -> None:
    doc = received(exchange)
    exchange.execute(ReportStatus(doc.id, COMMUNE, "03"))
    revoke = dict(_package_fields(), business_type=1, edxml={"business_reason": "thu hồi"})
    assert exchange.execute(ReceiveFromAxis(**revoke)).recorded
    doc = fresh(exchange, doc)
    assert doc.revoked
    assert doc.recipients[PROVINCE].state == REVOKED
    assert doc.recipients[COMMUNE].state == "13"
    assert list(doc.axis) == ["status-1"]  # the 03; a revocation from outside goes nowhere
    assert not exchange.execute(ReceiveFromAxis(**revoke)).recorded
    with pytest.raises(Forbidden):
        exchange.execute(ReceiveFromAxis(**dict(revoke, sender="000.00.00.H29")))
    with pytest.raises(NotFound):
        exchange.execute(ReceiveFromAxis(**dict(revoke, national_id="x,2026/11/24,1/A")))


def test_updates_are_new_documents_linked_to_the_original(exchange: Exchange) -> None:
    original = received(exchange)
    update = dict(_package_fields(), business_type=2, content_sha256="d1")
    first = exchange.execute(ReceiveFromAxis(**update)).aggregate
    assert first.id != original.id
    assert not exchange.execute(ReceiveFromAxis(**update)).recorded
    second = exchange.execute(ReceiveFromAxis(**dict(update, content_sha256="d2"))).aggregate
    assert second.id != first.id


def test_merged_local_recipients_receive_through_their_successor(exchange: Exchange) -> None:
    exchange.execute(MergeAgency(COMMUNE_2, COMMUNE, None))
    doc = received(exchange, to=[COMMUNE_2, DISTRICT])
    assert sorted(doc.recipients) == [DISTRICT, COMMUNE]
