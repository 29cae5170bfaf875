"""Two processes' evidence projections taking turns on one store grow one tree: the right edge
a projection keeps in memory from its own last append is used only while nobody appended since."""

from __future__ import annotations

from adapters import merkle
from adapters.evidence import EvidenceProjection, canonical_item, create_tables
from adapters.projection import ExchangeProjection
from adapters.proofs import SqlEvidence
from domain.codes import document_id
from ops.bench_core import RECIPIENT, SENDER
from router.config import Config
from router.seed import _document, _ensure
from router.services import open_exchange, router_key


def test_projections_taking_turns_record_the_tree_of_every_event(store_config: Config) -> None:
    exchange, views = open_exchange(store_config)
    try:
        create_tables(views.engine)
        key = router_key(store_config, views)
        ours, theirs = (EvidenceProjection(views.engine, exchange.recorder, key) for _ in range(2))
        evidence = SqlEvidence(views.engine, key)

        def commit(n: int, turn: int) -> None:
            commands = [_document(SENDER, RECIPIENT, f"turn-{turn}-{i}", i) for i in range(n)]
            uow = exchange.unit_of_work(
                absent={document_id(SENDER, c.external_id) for c in commands}
            )
            for command in commands:
                exchange.handle(command, uow)
            exchange.commit(uow)

        _ensure(
            exchange,
            ExchangeProjection(views.engine, exchange.recorder, exchange.mapper),
            SENDER,
            RECIPIENT,
        )
        fetched = 0
        original = ours._frontier_at

        def counting(c, size):  # type: ignore[no-untyped-def]
            nonlocal fetched
            fetched += ours._edge[0] != size
            return original(c, size)

        ours._frontier_at = counting  # type: ignore[method-assign]
        # Ours, ours again (its edge reused), theirs, ours (must read the edge theirs left), ...
        for turn, (n, projection) in enumerate(
            [(3, ours), (2, ours), (5, theirs), (1, ours), (4, theirs), (7, theirs), (2, ours)]
        ):
            commit(n, turn)
            projection.run_once()
            signed = evidence.checkpoint()
            assert signed is not None
            notifications = exchange.recorder.select_notifications(start=1, limit=1000)
            frontier = merkle.Frontier()
            for x in notifications:
                encoded = canonical_item(
                    x.id, x.originator_id, x.originator_version, x.topic, x.state
                )
                frontier.append(merkle.leaf_hash(encoded[1]))
            assert (signed["size"], signed["root"]) == (len(notifications), frontier.root().hex())
        # The first run and the three after the other projection appended read the stored edge.
        assert fetched == 3
    finally:
        exchange.close()
        views.engine.dispose()


def test_a_projection_recalls_the_receipts_another_signed_in_one_query(
    store_config: Config,
) -> None:
    exchange, views = open_exchange(store_config)
    try:
        create_tables(views.engine)
        key = router_key(store_config, views)
        ours, theirs = (EvidenceProjection(views.engine, exchange.recorder, key) for _ in range(2))
        _ensure(
            exchange,
            ExchangeProjection(views.engine, exchange.recorder, exchange.mapper),
            SENDER,
            RECIPIENT,
        )
        commands = [_document(SENDER, RECIPIENT, f"recall-{i}", i) for i in range(4)]
        uow = exchange.unit_of_work(absent={document_id(SENDER, c.external_id) for c in commands})
        for command in commands:
            exchange.handle(command, uow)
        committed = [r.notification for r in exchange.commit(uow)]
        theirs.run_once()
        sent = [(str(n.originator_id), n.originator_version) for n in committed]
        assert [ours.recent.get(*s) for s in sent] == [None] * 4
        assert ours.recent.missing(committed) == [n.id for n in committed]

        ours.recall(committed)

        stored = SqlEvidence(views.engine, key)
        assert [ours.recent.get(*s) for s in sent] == [stored.receipt(*s) for s in sent]
        assert all(ours.recent.get(*s) for s in sent)
        assert ours.recent.missing(committed) == []
    finally:
        exchange.close()
        views.engine.dispose()
