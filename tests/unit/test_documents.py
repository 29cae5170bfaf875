"""Sending, status transitions and revocation, decided by the domain on the in-memory store."""

from __future__ import annotations

import itertools
from uuid import uuid4

import pytest

from domain.codes import DELIVERED, REVOKED
from domain.commands import ReportStatus, RevokeDocument, SuspendAgency
from domain.document import Document, RecipientLine
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from domain.exchange import Exchange
from tests.unit.conftest import (
    COMMUNE,
    COMMUNE_2,
    DISTRICT,
    MINISTRY,
    PROVINCE,
    event_count,
    send_command,
    sent,
)


def test_a_document_reaches_local_and_axis_recipients(exchange: Exchange) -> None:
    document = sent(exchange, [COMMUNE, MINISTRY])
    assert {a: (r.route.value, r.state) for a, r in document.recipients.items()} == {
        COMMUNE: ("local", "delivered"),
        MINISTRY: ("axis", "queued"),
    }


def test_the_same_external_id_and_content_answers_with_the_first_document(
    exchange: Exchange,
) -> None:
    first = sent(exchange, [COMMUNE])
    before = event_count(exchange)
    retry = exchange.execute(send_command([COMMUNE]))
    assert retry.aggregate.id == first.id
    assert not retry.recorded
    assert event_count(exchange) == before


def test_the_same_external_id_with_other_content_conflicts(exchange: Exchange) -> None:
    sent(exchange, [COMMUNE])
    with pytest.raises(Conflict):
        exchange.execute(send_command([COMMUNE], content_sha256="other"))


def test_another_sender_may_reuse_an_external_id(exchange: Exchange) -> None:
    first = sent(exchange, [COMMUNE])
    second = sent(exchange, [COMMUNE], sender=DISTRICT)
    assert first.id != second.id


@pytest.mark.parametrize(
    ("to", "field", "words"),
    [
        ([], "to", "at least one"),
        ([COMMUNE, COMMUNE], "to[1]", "more than once"),
        ([PROVINCE], "to[0]", "itself"),
        (["000.09.09.H41"], "to[0]", "unknown"),
        (["not-a-code"], "to[0]", "not an agency code"),
    ],
)
def test_bad_recipients_are_refused_and_nothing_is_recorded(
    exchange: Exchange, to: list[str], field: str, words: str
) -> None:
    before = event_count(exchange)
    with pytest.raises(Invalid) as e:
        exchange.execute(send_command(to))
    assert [(err.field, words in err.message) for err in e.value.errors] == [(field, True)]
    assert event_count(exchange) == before


def test_every_bad_recipient_is_named(exchange: Exchange) -> None:
    exchange.execute(SuspendAgency(COMMUNE_2))
    with pytest.raises(Invalid) as e:
        exchange.execute(send_command([COMMUNE, "000.09.09.H41", COMMUNE_2]))
    assert [err.field for err in e.value.errors] == ["to[1]", "to[2]"]
    assert "suspended" in e.value.errors[1].message


def test_a_suspended_agency_cannot_send(exchange: Exchange) -> None:
    exchange.execute(SuspendAgency(PROVINCE))
    with pytest.raises(Forbidden):
        exchange.execute(send_command([COMMUNE]))


def test_a_due_date_cannot_precede_promulgation(exchange: Exchange) -> None:
    with pytest.raises(Invalid) as e:
        exchange.execute(send_command([COMMUNE], due_on="2026-11-01"))
    assert e.value.errors[0].field == "due_on"


def test_a_reply_must_answer_a_document_of_the_sender(exchange: Exchange) -> None:
    original = sent(exchange, [COMMUNE])
    reply = sent(exchange, [PROVINCE], sender=COMMUNE, external_id="R-1", in_reply_to=original.id)
    assert reply.id != original.id
    with pytest.raises(Invalid):
        exchange.execute(
            send_command([PROVINCE], sender=COMMUNE_2, external_id="R-2", in_reply_to=original.id)
        )
    with pytest.raises(Invalid):
        exchange.execute(
            send_command([PROVINCE], sender=COMMUNE, external_id="R-3", in_reply_to=uuid4())
        )


# The transition table of API.md, written out independently of the domain's own table.
ALLOWED = {
    "01": {"delivered"},
    "02": {"delivered", "01"},
    "03": {"delivered", "01"},
    "04": {"03", "04"},
    "05": {"03", "04", "05"},
    "06": {"03", "04", "05"},
    "15": {"13"},
    "16": {"13"},
}
STATES = ["delivered", "01", "02", "03", "04", "05", "06", "13", "revoked"]


@pytest.mark.parametrize(("state", "status"), list(itertools.product(STATES, sorted(ALLOWED))))
def test_the_transition_table_of_the_contract(state: str, status: str) -> None:
    line = RecipientLine(COMMUNE, route=None, state=state)  # type: ignore[arg-type]
    if state in ALLOWED[status]:
        Document.check_transition(line, status)
    else:
        with pytest.raises(Conflict):
            Document.check_transition(line, status)


def test_a_recipient_walks_a_document_to_completion(exchange: Exchange) -> None:
    document = sent(exchange, [COMMUNE])
    for status in ("01", "03", "04", "04", "05", "05", "06"):
        note = f"bước {status}" if status in ("04", "05") else None
        exchange.execute(ReportStatus(document.id, COMMUNE, status, note=f"{note}{status}"))
    stored: Document = exchange.repository.get(document.id)
    assert stored.recipients[COMMUNE].state == "06"
    with pytest.raises(Conflict):
        exchange.execute(ReportStatus(document.id, COMMUNE, "05"))


def test_an_identical_retry_of_a_report_records_nothing(exchange: Exchange) -> None:
    document = sent(exchange, [COMMUNE])
    exchange.execute(ReportStatus(document.id, COMMUNE, "03", by={"name": "A"}))
    before = event_count(exchange)
    outcome = exchange.execute(ReportStatus(document.id, COMMUNE, "03", by={"name": "A"}))
    assert not outcome.recorded
    assert event_count(exchange) == before


def test_a_refusal_needs_a_note(exchange: Exchange) -> None:
    document = sent(exchange, [COMMUNE])
    with pytest.raises(Invalid):
        exchange.execute(ReportStatus(document.id, COMMUNE, "02"))
    exchange.execute(ReportStatus(document.id, COMMUNE, "02", note="Không đúng thẩm quyền"))
    with pytest.raises(Conflict):
        exchange.execute(ReportStatus(document.id, COMMUNE, "03"))


def test_only_recipients_report_and_outsiders_see_nothing(exchange: Exchange) -> None:
    document = sent(exchange, [COMMUNE])
    with pytest.raises(Forbidden):
        exchange.execute(ReportStatus(document.id, PROVINCE, "03"))
    with pytest.raises(NotFound):
        exchange.execute(ReportStatus(document.id, COMMUNE_2, "03"))
    with pytest.raises(NotFound):
        exchange.execute(ReportStatus(uuid4(), COMMUNE, "03"))


def test_revocation_takes_back_unaccepted_copies_and_asks_accepted_ones(
    exchange: Exchange,
) -> None:
    document = sent(exchange, [COMMUNE, COMMUNE_2, DISTRICT, MINISTRY])
    exchange.execute(ReportStatus(document.id, COMMUNE, "03"))
    exchange.execute(ReportStatus(document.id, COMMUNE_2, "01"))
    exchange.execute(ReportStatus(document.id, DISTRICT, "02", note="sai"))
    exchange.execute(RevokeDocument(document.id, PROVINCE, "Ban hành nhầm"))
    stored: Document = exchange.repository.get(document.id)
    assert {a: r.state for a, r in stored.recipients.items()} == {
        COMMUNE: "13",
        COMMUNE_2: REVOKED,
        DISTRICT: "02",
        MINISTRY: REVOKED,
    }
    with pytest.raises(Conflict):
        exchange.execute(RevokeDocument(document.id, PROVINCE, "again"))


def test_answers_to_a_revocation(exchange: Exchange) -> None:
    agree = sent(exchange, [COMMUNE, COMMUNE_2])
    for agency in (COMMUNE, COMMUNE_2):
        exchange.execute(ReportStatus(agree.id, agency, "03"))
    exchange.execute(ReportStatus(agree.id, COMMUNE_2, "05"))
    exchange.execute(RevokeDocument(agree.id, PROVINCE, "nhầm"))
    exchange.execute(ReportStatus(agree.id, COMMUNE, "15"))
    with pytest.raises(Invalid):
        exchange.execute(ReportStatus(agree.id, COMMUNE_2, "16"))
    exchange.execute(ReportStatus(agree.id, COMMUNE_2, "16", note="Đã thực hiện"))
    stored: Document = exchange.repository.get(agree.id)
    assert stored.recipients[COMMUNE].state == REVOKED
    assert stored.recipients[COMMUNE_2].state == "05"
    exchange.execute(ReportStatus(agree.id, COMMUNE_2, "06"))
    with pytest.raises(Conflict):
        exchange.execute(ReportStatus(agree.id, COMMUNE, "03"))


def test_only_the_sender_revokes(exchange: Exchange) -> None:
    document = sent(exchange, [COMMUNE])
    with pytest.raises(Forbidden):
        exchange.execute(RevokeDocument(document.id, COMMUNE, "x"))
    with pytest.raises(NotFound):
        exchange.execute(RevokeDocument(document.id, COMMUNE_2, "x"))
    with pytest.raises(Invalid):
        exchange.execute(RevokeDocument(document.id, PROVINCE, "  "))
    stored: Document = exchange.repository.get(document.id)
    assert stored.recipients[COMMUNE].state == DELIVERED


def test_a_suspended_agency_that_is_no_party_is_told_the_document_does_not_exist(
    exchange: Exchange,
) -> None:
    document = sent(exchange, [COMMUNE])
    exchange.execute(SuspendAgency(COMMUNE_2))
    with pytest.raises(NotFound):
        exchange.execute(ReportStatus(document.id, COMMUNE_2, "03"))
    with pytest.raises(NotFound):
        exchange.execute(RevokeDocument(document.id, COMMUNE_2, "x"))
    exchange.execute(SuspendAgency(COMMUNE))
    with pytest.raises(Forbidden, match="suspended"):
        exchange.execute(ReportStatus(document.id, COMMUNE, "03"))


def test_a_document_replays_to_the_same_state(exchange: Exchange) -> None:
    document = sent(exchange, [COMMUNE, COMMUNE_2])
    exchange.execute(ReportStatus(document.id, COMMUNE, "03"))
    exchange.execute(RevokeDocument(document.id, PROVINCE, "nhầm"))
    live: Document = exchange.repository.get(document.id)
    events = exchange.events.get(document.id)
    replayed = None
    for event in events:
        replayed = event.mutate(replayed)
    assert replayed == live
