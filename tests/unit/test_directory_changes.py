"""Merges, retirements and group addressing, with a fixed clock on the in-memory store."""

from __future__ import annotations

import pytest

from domain.codes import Tier
from domain.commands import MergeAgency, RegisterAgency, RetireAgency, SuspendAgency
from domain.directory import Group
from domain.document import Document
from domain.errors import Conflict, Invalid
from domain.exchange import Exchange
from tests.unit.conftest import event_count, send_command

PROVINCE = "000.00.00.H41"
DEPARTMENT = "000.00.11.H41"
DISTRICT = "000.01.00.H41"
COMMUNES = ["000.01.01.H41", "000.01.02.H41", "000.01.03.H41"]
OTHER_DISTRICT = "000.02.00.H41"
OTHER_COMMUNE = "000.02.01.H41"
TODAY = "2026-11-25"


class Clock:
    """Today's date, moved by the test."""

    def __init__(self) -> None:
        self.day = TODAY

    def __call__(self) -> str:
        return self.day


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def exchange(clock: Clock) -> Exchange:
    x = Exchange(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, today=clock)
    rows = [
        (PROVINCE, Tier.PROVINCE, None),
        (DEPARTMENT, Tier.PROVINCE, PROVINCE),
        (DISTRICT, Tier.DISTRICT, PROVINCE),
        *[(c, Tier.COMMUNE, DISTRICT) for c in COMMUNES],
        (OTHER_DISTRICT, Tier.DISTRICT, PROVINCE),
        (OTHER_COMMUNE, Tier.COMMUNE, OTHER_DISTRICT),
    ]
    for code, tier, parent in rows:
        x.execute(RegisterAgency(code, code, tier, parent, False, f"h-{code}"))
    return x


def lines(document: Document) -> dict[str, str | None]:
    return {a: r.addressed_as for a, r in document.recipients.items()}


def test_a_merged_code_delivers_to_its_successor(exchange: Exchange) -> None:
    exchange.execute(MergeAgency(COMMUNES[0], COMMUNES[1]))
    document = exchange.execute(send_command([COMMUNES[0]])).aggregate
    assert lines(document) == {COMMUNES[1]: COMMUNES[0]}


def test_chains_of_merges_resolve_to_the_last_successor(exchange: Exchange) -> None:
    exchange.execute(MergeAgency(COMMUNES[0], COMMUNES[1]))
    exchange.execute(MergeAgency(COMMUNES[1], COMMUNES[2]))
    document = exchange.execute(send_command([COMMUNES[0]])).aggregate
    assert lines(document) == {COMMUNES[2]: COMMUNES[0]}


def test_an_old_code_and_its_successor_together_are_delivered_once(exchange: Exchange) -> None:
    exchange.execute(MergeAgency(COMMUNES[0], COMMUNES[1]))
    document = exchange.execute(send_command([COMMUNES[0], COMMUNES[1]])).aggregate
    assert lines(document) == {COMMUNES[1]: None}


def test_a_merge_that_would_make_a_cycle_is_refused(exchange: Exchange) -> None:
    exchange.execute(MergeAgency(COMMUNES[0], COMMUNES[1]))
    exchange.execute(MergeAgency(COMMUNES[1], COMMUNES[2]))
    before = event_count(exchange)
    with pytest.raises(Invalid) as e:
        exchange.execute(MergeAgency(COMMUNES[2], COMMUNES[0]))
    assert "cycle" in e.value.detail
    with pytest.raises(Invalid):
        exchange.execute(MergeAgency(COMMUNES[2], COMMUNES[2]))
    assert event_count(exchange) == before


def test_a_merge_or_retirement_happens_once(exchange: Exchange) -> None:
    exchange.execute(RetireAgency(COMMUNES[0]))
    with pytest.raises(Conflict):
        exchange.execute(MergeAgency(COMMUNES[0], COMMUNES[1]))
    with pytest.raises(Invalid):
        exchange.execute(MergeAgency(COMMUNES[1], COMMUNES[0]))


def test_a_retired_code_is_refused_by_name(exchange: Exchange) -> None:
    exchange.execute(RetireAgency(COMMUNES[0]))
    with pytest.raises(Invalid) as e:
        exchange.execute(send_command([COMMUNES[1], COMMUNES[0]]))
    assert [(x.field, x.message) for x in e.value.errors] == [
        ("to[1]", f"agency {COMMUNES[0]} is retired")
    ]


def test_a_successor_that_is_suspended_is_refused(exchange: Exchange) -> None:
    exchange.execute(MergeAgency(COMMUNES[0], COMMUNES[1]))
    exchange.execute(SuspendAgency(COMMUNES[1]))
    with pytest.raises(Invalid) as e:
        exchange.execute(send_command([COMMUNES[0]]))
    assert e.value.errors[0].message == (
        f"agency {COMMUNES[1]} (the successor of {COMMUNES[0]}) is suspended"
    )


def test_changes_take_effect_on_their_date_never_before_today(
    exchange: Exchange, clock: Clock
) -> None:
    with pytest.raises(Invalid):
        exchange.execute(MergeAgency(COMMUNES[0], COMMUNES[1], effective="2026-11-24"))
    exchange.execute(MergeAgency(COMMUNES[0], COMMUNES[1], effective="2026-12-01"))
    exchange.execute(RetireAgency(COMMUNES[2], effective="2026-12-01"))
    early = exchange.execute(send_command([COMMUNES[0], COMMUNES[2]])).aggregate
    assert lines(early) == {COMMUNES[0]: None, COMMUNES[2]: None}
    clock.day = "2026-12-01"
    late = exchange.execute(send_command([COMMUNES[0]], external_id="VP-2")).aggregate
    assert lines(late) == {COMMUNES[1]: COMMUNES[0]}
    with pytest.raises(Invalid):
        exchange.execute(send_command([COMMUNES[2]], external_id="VP-3"))


def test_a_group_expands_to_the_active_agencies_of_a_tier_in_a_subtree(
    exchange: Exchange,
) -> None:
    exchange.execute(SuspendAgency(COMMUNES[2]))
    document = exchange.execute(
        send_command([], to_groups=[Group(Tier.COMMUNE, DISTRICT)])
    ).aggregate
    assert lines(document) == {COMMUNES[0]: None, COMMUNES[1]: None}
    everyone = exchange.execute(
        send_command([], external_id="ALL", to_groups=[Group(Tier.COMMUNE, PROVINCE)])
    ).aggregate
    assert set(everyone.recipients) == {COMMUNES[0], COMMUNES[1], OTHER_COMMUNE}


def test_groups_and_explicit_recipients_overlap_once_and_skip_the_sender(
    exchange: Exchange,
) -> None:
    document = exchange.execute(
        send_command(
            [COMMUNES[0]], to_groups=[Group(Tier.COMMUNE, DISTRICT), Group(Tier.PROVINCE, PROVINCE)]
        )
    ).aggregate
    assert set(document.recipients) == {*COMMUNES, DEPARTMENT}


def test_a_group_of_nobody_is_refused(exchange: Exchange) -> None:
    before = event_count(exchange)
    with pytest.raises(Invalid) as e:
        exchange.execute(
            send_command(
                [],
                to_groups=[
                    Group(Tier.DISTRICT, OTHER_COMMUNE),
                    Group(Tier.DISTRICT, "000.09.00.H41"),
                ],
            )
        )
    assert [x.field for x in e.value.errors] == ["to_groups[0]", "to_groups[1].under"]
    assert event_count(exchange) == before


def test_merges_decided_in_one_commit_see_each_other(exchange: Exchange) -> None:
    uow = exchange.unit_of_work()
    exchange.handle(MergeAgency(COMMUNES[0], COMMUNES[1]), uow)
    with pytest.raises(Invalid):
        exchange.handle(MergeAgency(COMMUNES[1], COMMUNES[0]), uow)
    exchange.handle(RetireAgency(COMMUNES[2]), uow)
    with pytest.raises(Invalid):
        exchange.handle(MergeAgency(DEPARTMENT, COMMUNES[2]), uow)
