"""Auditors' replay: the exchange at any past instant, rebuilt from the events alone, agrees at
every cut with the document aggregates loaded at the matching version."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from adapters.asof import Replay, scratch_engine
from domain.commands import HandOverLines, MergeAgency, ReportStatus, RevokeDocument
from domain.document import Document
from domain.exchange import Exchange
from tests.unit.conftest import COMMUNE, COMMUNE_2, DISTRICT, MINISTRY, PROVINCE, sent


@contextmanager
def replayed(exchange: Exchange, until: datetime) -> Iterator[Replay]:
    """The exchange's state at an instant, in scratch views thrown away afterwards."""
    engine = scratch_engine()
    try:
        state = Replay(exchange.recorder, exchange.mapper, engine)
        state.run(until, lambda _: None)
        yield state
    finally:
        engine.dispose()


def busy_history(exchange: Exchange) -> tuple[UUID, UUID]:
    """Two documents: sent, reported on, one revoked and answered, one line handed over after
    a merge and then reported on by the successor for both lines it holds."""
    a = sent(exchange, [COMMUNE, MINISTRY], external_id="A").id
    for status in ("01", "03"):
        exchange.execute(ReportStatus(a, COMMUNE, status))
    b = sent(exchange, [COMMUNE, COMMUNE_2], external_id="B", subject="Về việc họp").id
    exchange.execute(ReportStatus(b, COMMUNE_2, "01"))
    exchange.execute(RevokeDocument(a, PROVINCE, "Ban hành nhầm"))
    exchange.execute(ReportStatus(a, COMMUNE, "15"))
    exchange.execute(MergeAgency(COMMUNE_2, COMMUNE))
    exchange.execute(HandOverLines(b))
    exchange.execute(ReportStatus(b, COMMUNE, "03"))
    return a, b


def recorded(exchange: Exchange) -> list[Any]:
    """Every domain event of the history, in commit order."""
    notifications = exchange.recorder.select_notifications(start=1, limit=10_000)
    return [exchange.mapper.to_domain_event(n) for n in notifications]


def lines_then(exchange: Exchange, events: list[Any], doc: UUID, until: datetime) -> Any:
    """Each recipient's state and holder by the document aggregate at the version it had
    reached by `until` (None before it was sent): the domain's own rules."""
    version = sum(1 for e in events if e.originator_id == doc and e.timestamp <= until)
    if version == 0:
        return None
    document: Document = exchange.repository.get(doc, version=version)
    return {a: (line.state, line.held_by) for a, line in document.recipients.items()}


def lines_replayed(document: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {r["agency"]: (r["status"], r["holder"]) for r in document["recipients"]}


def test_every_cut_between_events_agrees_with_the_aggregates_then(exchange: Exchange) -> None:
    docs = busy_history(exchange)
    events = recorded(exchange)
    first = events[0].timestamp - timedelta(microseconds=1)
    for until in [first, *(e.timestamp for e in events)]:
        with replayed(exchange, until) as state:
            found = {UUID(d["id"]): lines_replayed(d) for d in state.documents()}
        expected = {d: lines_then(exchange, events, d, until) for d in docs}
        assert found == {d: lines for d, lines in expected.items() if lines is not None}, until


def test_a_replay_reads_the_whole_history_and_keeps_what_was_recorded_by_then(
    exchange: Exchange,
) -> None:
    busy_history(exchange)
    events = recorded(exchange)
    cut = events[-4].timestamp
    engine = scratch_engine()
    try:
        read, kept = Replay(exchange.recorder, exchange.mapper, engine).run(cut, lambda _: None)
    finally:
        engine.dispose()
    assert (read, kept) == (len(events), sum(1 for e in events if e.timestamp <= cut))


def test_a_revoked_document_shows_the_revocation_and_its_answer_in_history(
    exchange: Exchange,
) -> None:
    a, _ = busy_history(exchange)
    with replayed(exchange, recorded(exchange)[-1].timestamp) as state:
        document = next(d for d in state.documents() if d["id"] == str(a))
    assert document["revoked_at"] is not None
    assert document["revoke_reason"] == "Ban hành nhầm"
    history = {r["agency"]: [h["status"] for h in r["history"]] for r in document["recipients"]}
    assert history == {
        COMMUNE: ["delivered", "01", "03", "13", "15"],
        MINISTRY: ["queued", "revoked"],
    }


def test_an_agency_sees_only_documents_it_sent_received_or_holds(exchange: Exchange) -> None:
    a, b = busy_history(exchange)
    with replayed(exchange, recorded(exchange)[-1].timestamp) as state:
        parties = {
            code: [d["id"] for d in state.documents(code)]
            for code in (PROVINCE, COMMUNE, COMMUNE_2, MINISTRY, DISTRICT)
        }
    assert parties == {
        PROVINCE: [str(a), str(b)],
        COMMUNE: [str(a), str(b)],
        COMMUNE_2: [str(b)],
        MINISTRY: [str(a)],
        DISTRICT: [],
    }


def test_inboxes_list_each_local_agencys_documents_newest_first_as_they_stood(
    exchange: Exchange,
) -> None:
    a, b = busy_history(exchange)
    events = recorded(exchange)
    before_revocation = next(e for e in events if isinstance(e, Document.Revoked)).timestamp
    with replayed(exchange, before_revocation - timedelta(microseconds=1)) as state:
        then = {code: [i for page in state.inbox(code) for i in page] for code in state.agencies()}
    with replayed(exchange, events[-1].timestamp) as state:
        now = {code: [i for page in state.inbox(code) for i in page] for code in state.agencies()}
        assert state.agencies(COMMUNE_2) == [COMMUNE_2]
        assert state.agencies(MINISTRY) == []  # reached through the axis: no inbox here
    assert then[COMMUNE] == [{"id": str(b), "status": "delivered"}, {"id": str(a), "status": "03"}]
    assert then[COMMUNE_2] == [{"id": str(b), "status": "01"}]
    # The successor holds both lines of b and shows it once; the merged agency holds none.
    assert now[COMMUNE] == [{"id": str(b), "status": "03"}, {"id": str(a), "status": "revoked"}]
    assert now[COMMUNE_2] == []
    assert sorted(now) == sorted([PROVINCE, DISTRICT, COMMUNE, COMMUNE_2])


def test_the_history_search_pages_through_sent_received_and_handed_over_documents(
    exchange: Exchange,
) -> None:
    e1 = sent(exchange, [DISTRICT], sender=COMMUNE, external_id="E1").id
    e2 = sent(exchange, [COMMUNE], external_id="E2").id
    e3 = sent(exchange, [COMMUNE_2], external_id="E3").id
    e4 = sent(exchange, [COMMUNE, COMMUNE_2], external_id="E4").id
    exchange.execute(MergeAgency(COMMUNE_2, COMMUNE))
    for doc in (e3, e4):
        exchange.execute(HandOverLines(doc))
    with replayed(exchange, recorded(exchange)[-1].timestamp) as state:
        pages, cursor = [], None
        while True:
            page = state.views.search({"agency": COMMUNE}, cursor, 1)
            pages.append([item["id"] for item in page.items])
            if (cursor := page.next_position) is None:
                break
        two = state.views.search({"agency": COMMUNE_2}, None, 2)
    assert pages == [[str(e4)], [str(e3)], [str(e2)], [str(e1)]]
    assert [item["id"] for item in two.items] == [str(e4), str(e3)]
    assert two.next_position is None
