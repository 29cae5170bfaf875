"""Agency signing certificates and the signature rule of sending, in the domain."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import RecordConflictError

from domain.commands import RegisterCertificate, RequireSignature, RetireCertificate
from domain.errors import Conflict, Invalid, NotFound
from domain.exchange import Exchange
from tests.unit.conftest import COMMUNE, DISTRICT, MINISTRY, PROVINCE, event_count, send_command

FP = "ab" * 32
OTHER_FP = "cd" * 32


def register(code: str = PROVINCE, fingerprint: str = FP) -> RegisterCertificate:
    """A registration of a certificate the router has validated."""
    return RegisterCertificate(
        code,
        fingerprint,
        "CN=Văn phòng UBND tỉnh",
        "2026-01-01T00:00:00.000000Z",
        "2027-01-01T00:00:00.000000Z",
        "-----BEGIN CERTIFICATE-----\n...",
    )


def signature(fingerprint: str = FP) -> dict[str, str]:
    """A verification record as the router passes it."""
    return {
        "signer": "CN=Văn phòng UBND tỉnh",
        "certificate": fingerprint,
        "alg": "ES256",
        "value": "MEUC",
        "signed_sha256": "00" * 32,
        "verified_at": "2026-11-24T08:00:00.000000Z",
    }


def test_a_certificate_is_registered_once_and_a_repeat_records_nothing(exchange: Exchange) -> None:
    assert exchange.execute(register()).recorded
    before = event_count(exchange)
    assert not exchange.execute(register()).recorded
    assert event_count(exchange) == before


def test_a_certificate_belongs_to_one_agency(exchange: Exchange) -> None:
    exchange.execute(register())
    with pytest.raises(Invalid, match=f"belongs to agency {PROVINCE}"):
        exchange.execute(register(DISTRICT))


def test_a_remote_agency_registers_no_certificate(exchange: Exchange) -> None:
    with pytest.raises(Invalid, match="remote"):
        exchange.execute(register(MINISTRY))


def test_a_retired_certificate_stays_retired(exchange: Exchange) -> None:
    exchange.execute(register())
    exchange.execute(RetireCertificate(PROVINCE, FP))
    with pytest.raises(Conflict, match="already retired"):
        exchange.execute(RetireCertificate(PROVINCE, FP))
    with pytest.raises(Conflict, match="was retired"):
        exchange.execute(register())
    with pytest.raises(NotFound):
        exchange.execute(RetireCertificate(PROVINCE, OTHER_FP))


def test_a_document_signed_with_a_certificate_in_force_is_recorded_with_it(
    exchange: Exchange,
) -> None:
    exchange.execute(register())
    document = exchange.execute(send_command([COMMUNE], signature=signature())).aggregate
    stored = exchange.repository.get(document.id)
    assert stored.version == 1
    sent = exchange.recorder.select_notifications(start=1, limit=100)[-1]
    assert exchange.mapper.to_domain_event(sent).signature == signature()  # type: ignore[attr-defined]


@pytest.mark.parametrize("case", ["unknown", "another agency's", "retired"])
def test_a_document_signed_with_a_certificate_not_in_force_records_nothing(
    exchange: Exchange, case: str
) -> None:
    exchange.execute(register())
    exchange.execute(register(DISTRICT, OTHER_FP))
    if case == "retired":
        exchange.execute(RetireCertificate(PROVINCE, FP))
    fingerprint = {"unknown": "ef" * 32, "another agency's": OTHER_FP, "retired": FP}[case]
    before = event_count(exchange)
    with pytest.raises(Invalid) as refused:
        exchange.execute(send_command([COMMUNE], signature=signature(fingerprint)))
    assert refused.value.errors[0].field == "signature.certificate"
    assert event_count(exchange) == before


def test_an_agency_that_must_sign_cannot_send_unsigned(exchange: Exchange) -> None:
    assert exchange.execute(RequireSignature(PROVINCE, True)).recorded
    assert not exchange.execute(RequireSignature(PROVINCE, True)).recorded
    with pytest.raises(Invalid, match="must sign"):
        exchange.execute(send_command([COMMUNE]))
    exchange.execute(RequireSignature(PROVINCE, False))
    assert exchange.execute(send_command([COMMUNE])).recorded


def test_a_retry_of_a_signed_document_answers_with_the_first(exchange: Exchange) -> None:
    exchange.execute(register())
    first = exchange.execute(send_command([COMMUNE], signature=signature()))
    exchange.execute(RequireSignature(PROVINCE, True))
    again = exchange.execute(send_command([COMMUNE]))
    assert not again.recorded
    assert again.aggregate.id == first.aggregate.id


def test_a_certificate_stays_its_first_agencys_once_retired(exchange: Exchange) -> None:
    exchange.execute(register())
    exchange.execute(RetireCertificate(PROVINCE, FP))
    with pytest.raises(Invalid, match=f"belongs to agency {PROVINCE}"):
        exchange.execute(register(DISTRICT))


def test_one_commit_registering_a_certificate_twice_keeps_the_first_agency(
    exchange: Exchange,
) -> None:
    uow = exchange.unit_of_work()
    exchange.handle(register(), uow)
    with pytest.raises(Invalid, match=f"belongs to agency {PROVINCE}"):
        exchange.handle(register(DISTRICT), uow)


def test_two_decisions_racing_to_claim_a_certificate_cannot_both_commit(
    exchange: Exchange,
) -> None:
    first, second = exchange.unit_of_work(), exchange.unit_of_work()
    exchange.handle(register(), first)
    exchange.handle(register(DISTRICT), second)
    exchange.commit(first)
    with pytest.raises(RecordConflictError):
        exchange.commit(second)
    with pytest.raises(Invalid, match=f"belongs to agency {PROVINCE}"):
        exchange.execute(register(DISTRICT))
