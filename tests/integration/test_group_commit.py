"""Group commit on each store: many requests in one transaction, each answered on its own."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.projection import ExchangeProjection
from adapters.runner import ProjectionRunner
from domain.codes import Tier, agency_id
from domain.commands import (
    Command,
    RegisterAgency,
    RegisterCertificate,
    ReportStatus,
    SendDocument,
)
from domain.document import Document
from domain.errors import Conflict, Invalid
from ops.metrics import Metrics
from router.config import Config
from router.services import open_exchange
from router.writer import GroupCommitWriter

PROVINCE, COMMUNE, COMMUNE_2 = "000.00.00.H41", "000.01.01.H41", "000.01.02.H41"


def send(external_id: str, to: list[str], subject: str = "Về việc A") -> SendDocument:
    return SendDocument(
        sender=PROVINCE,
        external_id=external_id,
        content_sha256=f"{to}{subject}",
        to=to,
        code_number="1",
        code_notation="UBND-VX",
        document_type="cong-van",
        subject=subject,
        promulgated_on="2026-11-24",
        place="Nghệ An",
        priority="normal",
    )


class Harness:
    """A writer whose thread starts only when asked, so tests choose what one batch holds."""

    def __init__(self, config: Config) -> None:
        self.exchange, self.views = open_exchange(config)
        self.metrics = Metrics()
        projection = ExchangeProjection(
            self.views.engine, self.exchange.recorder, self.exchange.mapper
        )
        self.runner = ProjectionRunner(projection, poll_interval=0.05)
        self.runner.start()
        self.writer = GroupCommitWriter(self.exchange, self.runner, self.metrics)

    async def batch(self, commands: list[Command]) -> list[Any]:
        """Queues every command, then starts the writer: they commit as one batch."""
        tasks = [asyncio.ensure_future(self.writer.execute(c)) for c in commands]
        await asyncio.sleep(0)
        self.writer.start()
        return await asyncio.gather(*tasks, return_exceptions=True)

    def batches(self) -> tuple[float, float]:
        """Returns (number of commits, commands committed) from the batch histogram."""
        samples = {s.name: s.value for s in self.metrics.commit_batch.collect()[0].samples}
        return samples["lienthong_store_commit_batch_size_count"], samples[
            "lienthong_store_commit_batch_size_sum"
        ]

    def close(self) -> None:
        self.writer.stop()
        self.runner.stop()
        self.exchange.close()
        self.views.engine.dispose()


@pytest.fixture
def harness(store_config: Config) -> Iterator[Harness]:
    h = Harness(store_config)
    try:
        for code, tier, parent in [
            (PROVINCE, Tier.PROVINCE, None),
            (COMMUNE, Tier.COMMUNE, PROVINCE),
            (COMMUNE_2, Tier.COMMUNE, PROVINCE),
        ]:
            h.exchange.execute(RegisterAgency(code, code, tier, parent, False, f"h-{code}"))
            h.runner.projection.run_once()
        yield h
    finally:
        h.close()


async def test_one_transaction_answers_each_request_on_its_own(harness: Harness) -> None:
    commands: list[Command] = [send(f"B-{i}", [COMMUNE]) for i in range(20)]
    commands += [
        send("BAD-1", ["000.09.09.H41"]),  # unknown recipient
        send("B-0", [COMMUNE]),  # the same document again: no new record
        send("B-1", [COMMUNE], subject="khác"),  # the same external id, other content
    ]
    results = await harness.batch(commands)
    documents = results[:20]
    assert all(isinstance(r.aggregate, Document) and r.recorded for r in documents)
    assert isinstance(results[20], Invalid)
    assert results[21].aggregate.id == documents[0].aggregate.id
    assert not results[21].recorded
    assert isinstance(results[22], Conflict)
    assert harness.batches() == (1.0, 23.0)
    page = harness.views.inbox(COMMUNE, {}, None, 100)
    assert len(page.items) == 20


async def test_commands_in_one_batch_see_each_other(harness: Harness) -> None:
    first = await harness.batch([send("S-1", [COMMUNE, COMMUNE_2])])
    doc = first[0].aggregate.id
    harness.writer = GroupCommitWriter(harness.exchange, harness.runner, harness.metrics)
    results = await harness.batch(
        [
            ReportStatus(doc, COMMUNE, "03"),
            ReportStatus(doc, COMMUNE, "04", note="Phòng VX"),
            ReportStatus(doc, COMMUNE_2, "02", note="sai"),
            ReportStatus(doc, COMMUNE_2, "03"),
        ]
    )
    assert [getattr(r, "recorded", type(r).__name__) for r in results] == [
        True,
        True,
        True,
        "Conflict",
    ]
    stored: Document = harness.exchange.repository.get(doc)
    assert stored.version == 4
    assert {a: r.state for a, r in stored.recipients.items()} == {COMMUNE: "04", COMMUNE_2: "02"}


class RacingExchange:
    """Another router process that reports status on the same document mid-decision."""

    def __init__(self, config: Config, target: Any) -> None:
        self.other, self.views = open_exchange(config)
        self.target = target
        self.raced = False

    def lookup(self, codes: Any) -> Any:
        if not self.raced:
            self.raced = True
            self.other.execute(ReportStatus(self.target, COMMUNE_2, "03"))
        return self.other.directory.lookup(codes)


async def test_a_concurrent_writer_is_retried_not_lost(
    harness: Harness, store_config: Config
) -> None:
    doc = (await harness.batch([send("R-1", [COMMUNE, COMMUNE_2])]))[0].aggregate.id
    harness.writer = GroupCommitWriter(harness.exchange, harness.runner, harness.metrics)
    racing = RacingExchange(store_config, doc)
    harness.exchange.directory = racing
    try:
        results = await harness.batch([ReportStatus(doc, COMMUNE, "03"), send("R-2", [COMMUNE])])
    finally:
        racing.other.close()
        racing.views.engine.dispose()
    assert racing.raced
    assert all(getattr(r, "recorded", False) for r in results), results
    stored: Document = harness.exchange.repository.get(doc)
    assert {a: r.state for a, r in stored.recipients.items()} == {COMMUNE: "03", COMMUNE_2: "03"}
    assert stored.version == 3


def register_certificate(code: str) -> RegisterCertificate:
    return RegisterCertificate(
        code,
        "ab" * 32,
        "CN=Test",
        "2026-01-01T00:00:00.000000Z",
        "2027-01-01T00:00:00.000000Z",
        "-",
    )


class RacingRegistration:
    """Another router process that registers the certificate to another agency mid-decision,
    before this process's views show it."""

    def __init__(self, config: Config, inner: Any) -> None:
        self.other, self.views = open_exchange(config)
        self.inner = inner
        self.raced = False

    def certificate_owner(self, fingerprint: str) -> str | None:
        if not self.raced:
            self.raced = True
            assert self.other.execute(register_certificate(COMMUNE_2)).recorded
            return None
        return self.inner.certificate_owner(fingerprint)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_two_processes_cannot_both_register_a_certificate_to_two_agencies(
    harness: Harness, store_config: Config
) -> None:
    racing = RacingRegistration(store_config, harness.exchange.directory)
    harness.exchange.directory = racing
    try:
        [result] = await harness.batch([register_certificate(COMMUNE)])
    finally:
        racing.other.close()
        racing.views.engine.dispose()
    assert racing.raced
    assert isinstance(result, Invalid), result
    assert f"belongs to agency {COMMUNE_2}" in str(result)
    owners = [
        code
        for code in (COMMUNE, COMMUNE_2)
        if "ab" * 32 in harness.exchange.repository.get(agency_id(code)).certificates
    ]
    assert owners == [COMMUNE_2]


async def test_the_writer_tells_each_batch_it_committed_once_projected(harness: Harness) -> None:
    told: list[tuple[list[int], int]] = []

    def projected(recordings: Any) -> None:
        told.append(([r.notification.id for r in recordings], harness.runner.position))

    harness.writer = GroupCommitWriter(
        harness.exchange, harness.runner, harness.metrics, on_projected=projected
    )
    results = await harness.batch([send(f"T-{i}", [COMMUNE]) for i in range(3)])
    assert all(r.recorded for r in results)
    await harness.writer.execute(send("T-0", [COMMUNE]))  # nothing new: nothing to tell
    [(positions, projected_to)] = told
    assert len(positions) == 3
    assert projected_to == positions[-1]
