"""Any sequence of sends, reports and recalls keeps the exchange's invariants: a model written
from API.md's rules (not the domain's code) predicts every answer and state, and the history
replays to the same documents."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule

from domain.codes import Tier
from domain.commands import RegisterAgency, ReportStatus, RevokeDocument
from domain.document import Document
from domain.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from domain.exchange import Exchange
from tests.unit.conftest import send_command
from tests.unit.test_documents import ALLOWED  # API.md's table, written out apart from the domain's

AGENCIES = ["000.00.00.H41", "000.01.00.H41", "000.01.01.H41", "000.01.02.H41"]


class Line:
    def __init__(self) -> None:
        self.state, self.before, self.last = "delivered", None, None


class Exchanges(RuleBasedStateMachine):
    documents = Bundle("documents")

    def __init__(self) -> None:
        super().__init__()
        self.x = Exchange(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        tiers = [Tier.PROVINCE, Tier.DISTRICT, Tier.COMMUNE, Tier.COMMUNE]
        parents = [None, AGENCIES[0], AGENCIES[1], AGENCIES[1]]
        for code, tier, parent in zip(AGENCIES, tiers, parents, strict=True):
            self.x.execute(RegisterAgency(code, code, tier, parent, False, f"h-{code}"))
        self.sent: dict[tuple[str, str], tuple[UUID, str]] = {}  # (sender, external id)
        self.model: dict[UUID, dict[str, Any]] = {}
        self.events = self._events()

    def _events(self) -> int:
        return len(self.x.recorder.select_notifications(start=1, limit=100_000))

    def _expect_no_change(self) -> None:
        assert self._events() == self.events

    @rule(
        target=documents,
        sender=st.sampled_from(AGENCIES),
        to=st.sets(st.sampled_from(AGENCIES), min_size=1, max_size=3),
        external_id=st.sampled_from(["A", "B", "C", "D"]),
        content=st.sampled_from(["x", "y"]),
    )
    def send(self, sender: str, to: set[str], external_id: str, content: str) -> Any:
        command = send_command(
            sorted(to), sender=sender, external_id=external_id, content_sha256=content
        )
        earlier = self.sent.get((sender, external_id))
        if earlier is not None and earlier[1] != content:
            self._refused(command, Conflict)  # the external id is taken by other content
            return earlier[0]
        if earlier is None and sender in to:
            self._refused(command, Invalid)  # no agency sends to itself
            return None
        outcome = self.x.execute(command)
        document: Document = outcome.aggregate
        if earlier is not None:
            assert (document.id, outcome.recorded) == (earlier[0], False)
            self._expect_no_change()
            return document.id
        self.events += 1
        self.sent[(sender, external_id)] = (document.id, content)
        self.model[document.id] = {
            "sender": sender,
            "revoked": False,
            "lines": {agency: Line() for agency in to},
        }
        return document.id

    @precondition(lambda self: self.model)
    @rule(
        doc=documents,
        data=st.data(),
        status=st.sampled_from(["01", "02", "03", "04", "05", "06", "15", "16"]),
    )
    def report(self, doc: UUID | None, data: st.DataObject, status: str) -> None:
        if doc is None:
            return
        expected = self.model[doc]
        # Mostly a recipient of the document (so that long paths get explored), at times anyone.
        agency = data.draw(
            st.sampled_from(sorted(expected["lines"])) | st.sampled_from(AGENCIES), "agency"
        )
        line: Line | None = expected["lines"].get(agency)
        note = "ghi chú" if status in ("02", "16") else None
        command = ReportStatus(doc, agency, status, note)
        if line is None:
            want: type[DomainError] = Forbidden if agency == expected["sender"] else NotFound
            self._refused(command, want)
            return
        if line.last == (status, note):
            assert not self.x.execute(command).recorded  # an identical retry
            self._expect_no_change()
            return
        if (
            line.state == "revoked"
            or (status in ("15", "16") if line.state != "13" else status not in ("15", "16"))
            or (status not in ("15", "16") and line.state not in ALLOWED[status])
        ):
            self._refused(command, Conflict)
            return
        assert self.x.execute(command).recorded
        self.events += 1
        line.last = (status, note)
        line.state = {"15": "revoked", "16": line.before}.get(status, status)

    @precondition(lambda self: self.model)
    @rule(doc=documents, agency=st.sampled_from(AGENCIES))
    def revoke(self, doc: UUID | None, agency: str) -> None:
        if doc is None:
            return
        expected = self.model[doc]
        command = RevokeDocument(doc, agency, "gửi nhầm")
        if agency != expected["sender"]:
            self._refused(command, Forbidden if agency in expected["lines"] else NotFound)
            return
        if expected["revoked"]:
            self._refused(command, Conflict)
            return
        self.x.execute(command)
        self.events += 1
        expected["revoked"] = True
        for line in expected["lines"].values():
            if line.state in ("delivered", "01"):
                line.state = "revoked"
            elif line.state in ("03", "04", "05", "06"):
                line.before, line.state = line.state, "13"

    def _refused(self, command: Any, kind: type[DomainError]) -> None:
        with pytest.raises(kind):
            self.x.execute(command)
        self._expect_no_change()

    @invariant()
    def the_history_replays_to_the_model(self) -> None:
        for doc, expected in self.model.items():
            replayed: Document = self.x.repository.get(doc)
            states = {a: line.state for a, line in replayed.recipients.items()}
            assert states == {a: line.state for a, line in expected["lines"].items()}
            assert replayed.revoked == expected["revoked"]
        assert self._events() == self.events

    @invariant()
    def one_document_per_external_id(self) -> None:
        ids = [doc for doc, _ in self.sent.values()]
        assert len(ids) == len(set(ids)) == len(self.model)


TestExchanges = Exchanges.TestCase
TestExchanges.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None, derandomize=True
)
