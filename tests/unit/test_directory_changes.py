"""Merges, retirements, group addressing, renames, moves and the hand-over of open lines after a
merge, with a fixed clock on the in-memory store."""

from __future__ import annotations

from uuid import UUID

import pytest

from domain.agency import Agency
from domain.codes import Tier, agency_id
from domain.commands import (
    ApplyDueChanges,
    HandOverLines,
    MergeAgency,
    MoveAgency,
    RegisterAgency,
    RenameAgency,
    ReportStatus,
    RetireAgency,
    RevokeDocument,
    SuspendAgency,
)
from domain.directory import Group
from domain.document import Document
from domain.errors import Conflict, Forbidden, Invalid
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


TOMORROW = "2026-11-26"


def agency(exchange: Exchange, code: str) -> Agency:
    found: Agency = exchange.repository.get(agency_id(code))
    return found


def send(exchange: Exchange, to: list[str], external_id: str = "VP-1") -> Document:
    document: Document = exchange.execute(send_command(to, external_id=external_id)).aggregate
    return document


def report(exchange: Exchange, document_id: UUID, agency: str, status: str) -> bool:
    note = "lý do" if status in ("02", "16") else None
    return exchange.execute(ReportStatus(document_id, agency, status, note)).recorded


def document(exchange: Exchange, document_id: UUID) -> Document:
    found: Document = exchange.repository.get(document_id)
    return found


# Renames


def test_a_rename_changes_the_name_once(exchange: Exchange) -> None:
    assert exchange.execute(RenameAgency(DISTRICT, "Ủy ban nhân dân thị xã Nghi Lộc")).recorded
    assert agency(exchange, DISTRICT).name == "Ủy ban nhân dân thị xã Nghi Lộc"
    assert not exchange.execute(RenameAgency(DISTRICT, "Ủy ban nhân dân thị xã Nghi Lộc")).recorded


def test_a_blank_name_is_refused(exchange: Exchange) -> None:
    before = event_count(exchange)
    with pytest.raises(Invalid, match="name"):
        exchange.execute(RenameAgency(DISTRICT, "  "))
    assert event_count(exchange) == before


# Moves


def test_a_commune_moves_from_its_district_to_the_province_today(exchange: Exchange) -> None:
    assert exchange.execute(MoveAgency(COMMUNES[0], PROVINCE, Tier.COMMUNE)).recorded
    moved = agency(exchange, COMMUNES[0])
    assert (moved.parent, moved.tier, moved.pending_move) == (PROVINCE, Tier.COMMUNE, None)
    assert not exchange.execute(MoveAgency(COMMUNES[0], PROVINCE, Tier.COMMUNE)).recorded


def test_a_later_move_waits_for_its_date(exchange: Exchange, clock: Clock) -> None:
    exchange.execute(MoveAgency(OTHER_COMMUNE, DISTRICT, Tier.COMMUNE, TOMORROW))
    waiting = agency(exchange, OTHER_COMMUNE)
    assert waiting.parent == OTHER_DISTRICT
    assert waiting.pending_move == {"parent": DISTRICT, "tier": "commune", "effective": TOMORROW}
    assert not exchange.execute(ApplyDueChanges(OTHER_COMMUNE)).recorded
    clock.day = TOMORROW
    assert exchange.execute(ApplyDueChanges(OTHER_COMMUNE)).recorded
    moved = agency(exchange, OTHER_COMMUNE)
    assert (moved.parent, moved.pending_move) == (DISTRICT, None)
    assert not exchange.execute(ApplyDueChanges(OTHER_COMMUNE)).recorded


def test_a_district_abolished_by_the_reform_lifts_its_communes(exchange: Exchange) -> None:
    """1 July 2025: districts were abolished; a commune becomes a direct child of the province."""
    for commune in COMMUNES:
        exchange.execute(MoveAgency(commune, PROVINCE, Tier.COMMUNE))
    exchange.execute(MoveAgency(DISTRICT, PROVINCE, Tier.COMMUNE))
    assert agency(exchange, DISTRICT).tier is Tier.COMMUNE


@pytest.mark.parametrize(
    ("code", "parent", "tier", "field", "message"),
    [
        (DISTRICT, COMMUNES[0], Tier.DISTRICT, "parent", "inside the subtree"),
        (DISTRICT, DISTRICT, Tier.DISTRICT, "parent", "inside the subtree"),
        (PROVINCE, None, Tier.DISTRICT, "tier", "sits under it"),
        (COMMUNES[0], OTHER_COMMUNE, Tier.DISTRICT, "parent", "cannot be the parent"),
        (COMMUNES[0], "000.09.00.H41", Tier.COMMUNE, "parent", "unknown agency"),
        (COMMUNES[0], "nope", Tier.COMMUNE, "parent", "not a QCVN"),
    ],
)
def test_a_move_that_breaks_the_tree_is_refused(
    exchange: Exchange, code: str, parent: str | None, tier: Tier, field: str, message: str
) -> None:
    before = event_count(exchange)
    with pytest.raises(Invalid, match=message) as refused:
        exchange.execute(MoveAgency(code, parent, tier))
    assert refused.value.errors[0].field == field
    assert event_count(exchange) == before


def test_a_move_into_the_past_is_refused(exchange: Exchange) -> None:
    with pytest.raises(Invalid, match="effective"):
        exchange.execute(MoveAgency(COMMUNES[0], PROVINCE, Tier.COMMUNE, "2026-11-24"))


def test_a_scheduled_move_is_checked_again_on_its_date(exchange: Exchange, clock: Clock) -> None:
    exchange.execute(MoveAgency(OTHER_COMMUNE, DISTRICT, Tier.COMMUNE, TOMORROW))
    exchange.execute(MergeAgency(DISTRICT, OTHER_DISTRICT))
    clock.day = TOMORROW
    with pytest.raises(Invalid, match="is merged"):
        exchange.execute(ApplyDueChanges(OTHER_COMMUNE))


def test_a_merged_agency_does_not_move(exchange: Exchange) -> None:
    exchange.execute(MergeAgency(COMMUNES[0], COMMUNES[1]))
    with pytest.raises(Conflict, match="merged"):
        exchange.execute(MoveAgency(COMMUNES[0], PROVINCE, Tier.COMMUNE))


# Hand-over of open lines after a merge


def test_the_successor_answers_for_an_open_line_of_the_merged_agency(exchange: Exchange) -> None:
    doc = send(exchange, [COMMUNES[0]])
    report(exchange, doc.id, COMMUNES[0], "01")
    exchange.execute(MergeAgency(COMMUNES[0], COMMUNES[1]))
    with pytest.raises(Forbidden, match="merged"):
        report(exchange, doc.id, COMMUNES[0], "03")
    assert report(exchange, doc.id, COMMUNES[1], "03")
    line = document(exchange, doc.id).recipients[COMMUNES[0]]
    assert (line.agency, line.holder, line.state) == (COMMUNES[0], COMMUNES[1], "03")


def test_the_clock_hands_lines_over_once(exchange: Exchange, clock: Clock) -> None:
    doc = send(exchange, [COMMUNES[0], OTHER_COMMUNE])
    exchange.execute(MergeAgency(COMMUNES[0], COMMUNES[1], TOMORROW))
    assert not exchange.execute(HandOverLines(doc.id)).recorded
    clock.day = TOMORROW
    assert exchange.execute(HandOverLines(doc.id)).recorded
    assert not exchange.execute(HandOverLines(doc.id)).recorded
    held = {a: line.held_by for a, line in document(exchange, doc.id).recipients.items()}
    assert held == {COMMUNES[0]: COMMUNES[1], OTHER_COMMUNE: OTHER_COMMUNE}


def test_closed_lines_stay_with_the_merged_agency(exchange: Exchange) -> None:
    doc = send(exchange, [COMMUNES[0]])
    report(exchange, doc.id, COMMUNES[0], "02")
    exchange.execute(MergeAgency(COMMUNES[0], COMMUNES[1]))
    assert not exchange.execute(HandOverLines(doc.id)).recorded
    assert document(exchange, doc.id).recipients[COMMUNES[0]].holder is None


def test_lines_follow_a_chain_of_merges(exchange: Exchange) -> None:
    doc = send(exchange, [COMMUNES[0]])
    exchange.execute(MergeAgency(COMMUNES[0], COMMUNES[1]))
    exchange.execute(HandOverLines(doc.id))
    exchange.execute(MergeAgency(COMMUNES[1], COMMUNES[2]))
    assert report(exchange, doc.id, COMMUNES[2], "01")
    assert document(exchange, doc.id).recipients[COMMUNES[0]].held_by == COMMUNES[2]


def test_a_successor_holding_two_lines_reports_on_each_that_accepts(exchange: Exchange) -> None:
    doc = send(exchange, [COMMUNES[0], COMMUNES[1]])
    report(exchange, doc.id, COMMUNES[1], "01")
    report(exchange, doc.id, COMMUNES[1], "03")
    exchange.execute(MergeAgency(COMMUNES[0], COMMUNES[1]))
    # 03 suits the merged commune's line (still delivered) but not the successor's own (03).
    assert report(exchange, doc.id, COMMUNES[1], "03")
    states = {a: line.state for a, line in document(exchange, doc.id).recipients.items()}
    assert states == {COMMUNES[0]: "03", COMMUNES[1]: "03"}
    assert not report(exchange, doc.id, COMMUNES[1], "03")
    assert report(exchange, doc.id, COMMUNES[1], "06")
    states = {a: line.state for a, line in document(exchange, doc.id).recipients.items()}
    assert states == {COMMUNES[0]: "06", COMMUNES[1]: "06"}
    with pytest.raises(Conflict, match="cannot follow"):
        report(exchange, doc.id, COMMUNES[1], "04")


def test_the_successor_answers_a_recall_for_the_merged_agency(exchange: Exchange) -> None:
    doc = send(exchange, [COMMUNES[0]])
    report(exchange, doc.id, COMMUNES[0], "01")
    report(exchange, doc.id, COMMUNES[0], "03")
    exchange.execute(MergeAgency(COMMUNES[0], COMMUNES[1]))
    exchange.execute(RevokeDocument(doc.id, PROVINCE, "gửi nhầm"))
    assert report(exchange, doc.id, COMMUNES[1], "15")
    assert document(exchange, doc.id).recipients[COMMUNES[0]].state == "revoked"


def test_the_successor_is_a_party_and_the_merged_agency_stays_one(exchange: Exchange) -> None:
    doc = send(exchange, [COMMUNES[0]])
    exchange.execute(MergeAgency(COMMUNES[0], COMMUNES[1]))
    exchange.execute(HandOverLines(doc.id))
    handed = document(exchange, doc.id)
    assert handed.is_party(COMMUNES[1])
    assert handed.is_party(COMMUNES[0])
    assert not handed.is_party(COMMUNES[2])


def test_groups_may_not_reach_more_agencies_than_the_limit(
    exchange: Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("domain.directory.MAX_RECIPIENTS", 2)
    before = event_count(exchange)
    with pytest.raises(Invalid, match="reaches 3 agencies; a document may reach 2") as refused:
        exchange.execute(send_command([], to_groups=[Group(Tier.COMMUNE, DISTRICT)]))
    assert refused.value.errors[0].field == "to_groups"
    assert event_count(exchange) == before
