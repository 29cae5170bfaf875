"""Agency registration rules: code shape, uniqueness, tiers and parents, tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.agency import Agency
from domain.codes import AgencyStatus, Tier, agency_id, check_agency_code
from domain.commands import RegisterAgency, ResumeAgency, RotateToken, SuspendAgency
from domain.directory import VIETNAM, vietnam_day
from domain.errors import Conflict, Invalid, NotFound
from domain.exchange import Exchange
from tests.unit.conftest import COMMUNE, DISTRICT, MINISTRY, PROVINCE, event_count


@pytest.mark.parametrize(
    "code", ["000.00.00.H41", "000.01.01.H41", "123.45.67.G22", "000.00.00.A01"]
)
def test_qcvn_102_codes_are_accepted(code: str) -> None:
    assert check_agency_code(code) == code


@pytest.mark.parametrize(
    "code",
    [
        "",
        "000.00.00.h41",
        "00.00.00.H41",
        "000.00.00.H4",
        "000-00-00-H41",
        "000.00.00.H41 ",
        "000.00.00.141",
        "\uff1000.00.00.H41",
        "000.00.00.H41\n",
    ],
)
def test_malformed_codes_are_refused(code: str) -> None:
    with pytest.raises(Invalid):
        check_agency_code(code)


def test_a_code_registers_once(exchange: Exchange) -> None:
    before = event_count(exchange)
    with pytest.raises(Conflict):
        exchange.execute(RegisterAgency(PROVINCE, "again", Tier.PROVINCE, None, False, "h"))
    assert event_count(exchange) == before


def test_a_parent_must_exist(exchange: Exchange) -> None:
    with pytest.raises(Invalid) as e:
        exchange.execute(
            RegisterAgency("000.02.00.H41", "x", Tier.DISTRICT, "000.09.00.H41", False, "h")
        )
    assert e.value.errors[0].field == "parent"


def test_a_parent_cannot_sit_at_a_lower_tier(exchange: Exchange) -> None:
    with pytest.raises(Invalid) as e:
        exchange.execute(RegisterAgency("000.02.00.H41", "x", Tier.DISTRICT, COMMUNE, False, "h"))
    assert "commune" in e.value.detail


def test_a_department_may_sit_under_a_committee_of_its_own_tier(exchange: Exchange) -> None:
    outcome = exchange.execute(
        RegisterAgency("000.00.11.H41", "Sở Nội vụ", Tier.PROVINCE, PROVINCE, False, "h")
    )
    assert outcome.aggregate.parent == PROVINCE


def test_a_remote_agency_keeps_no_token(exchange: Exchange) -> None:
    agency: Agency = exchange.repository.get(agency_id(MINISTRY))
    assert agency.remote
    assert agency.token_sha256 is None
    with pytest.raises(Conflict):
        exchange.execute(RotateToken(MINISTRY, "new"))


def test_rotation_records_only_the_new_hash(exchange: Exchange) -> None:
    exchange.execute(RotateToken(DISTRICT, "new-hash"))
    agency: Agency = exchange.repository.get(agency_id(DISTRICT))
    assert agency.token_sha256 == "new-hash"


def test_suspension_and_resumption_alternate(exchange: Exchange) -> None:
    exchange.execute(SuspendAgency(COMMUNE))
    with pytest.raises(Conflict):
        exchange.execute(SuspendAgency(COMMUNE))
    exchange.execute(ResumeAgency(COMMUNE))
    with pytest.raises(Conflict):
        exchange.execute(ResumeAgency(COMMUNE))
    agency: Agency = exchange.repository.get(agency_id(COMMUNE))
    assert agency.status is AgencyStatus.ACTIVE


def test_changing_an_unknown_agency_is_not_found(exchange: Exchange) -> None:
    with pytest.raises(NotFound):
        exchange.execute(SuspendAgency("000.09.09.H41"))


def test_events_carry_explicit_topics(exchange: Exchange) -> None:
    topics = {n.topic for n in exchange.recorder.select_notifications(start=1, limit=100)}
    assert topics == {"AgencyRegistered"}


@given(
    st.datetimes(
        min_value=datetime(1976, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.just(UTC) | st.just(VIETNAM),
    )
)
def test_the_day_in_vietnam_is_the_date_at_utc_plus_seven(moment: datetime) -> None:
    assert vietnam_day(moment) == (moment.astimezone(UTC) + timedelta(hours=7)).date().isoformat()
