"""The concrete adapters one router process runs with, built from its Config."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from adapters import routerkey
from adapters.blobs import BlobStore, FileBlobStore, PostgresBlobStore
from adapters.directory import SqlDirectory
from adapters.eventlog import EventLog
from adapters.eventstore import WriteLock, schema_lock, store_env, views_url
from adapters.evidence import EvidenceProjection, create_tables
from adapters.pades import PadesValidator
from adapters.projection import ExchangeProjection
from adapters.proofs import SqlEvidence
from adapters.routerkey import RouterKey
from adapters.runner import ProjectionRunner
from adapters.signatures import SignatureVerifier
from adapters.trust import TrustStore
from adapters.views import Views, create_engine
from domain.codes import document_id
from domain.commands import Command, SendDocument
from domain.exchange import Exchange, UnitOfWork
from ops.metrics import Metrics
from router.auth import Authenticator
from router.config import Config
from router.writer import GroupCommitWriter


@dataclass
class Services:
    """Everything a handler may use."""

    config: Config
    metrics: Metrics
    exchange: Exchange
    views: Views
    events: EventLog
    blobs: BlobStore
    runner: ProjectionRunner
    writer: GroupCommitWriter
    evidence: SqlEvidence
    evidence_runner: ProjectionRunner
    auth: Authenticator
    executor: ThreadPoolExecutor
    trust: TrustStore
    signatures: SignatureVerifier
    pades: PadesValidator
    # What the axis bridge signs outgoing edXML with (none: unsigned).
    xml_signer: tuple[Any, x509.Certificate] | None = None

    async def call(self, fn: Any, *args: Any) -> Any:
        """Runs a blocking call off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def close(self) -> None:
        """Stops the threads and closes the stores."""
        self.writer.stop()
        self.runner.stop()
        self.evidence_runner.stop()
        self.executor.shutdown(wait=True)
        self.exchange.close()
        self.views.engine.dispose()


SERVICES = web.AppKey("services", Services)


def open_exchange(config: Config) -> tuple[Exchange, Views]:
    """Opens the event store and the views (used by the server and the CLI)."""
    if config.data_dir is not None:
        config.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(views_url(config.database_url, config.data_dir))
    with schema_lock(config.database_url):
        exchange = Exchange(
            directory=SqlDirectory(engine),
            env=store_env(config.database_url, config.data_dir),
            today=config.today,
        )
        ExchangeProjection(engine, exchange.recorder, exchange.mapper).setup()
        create_tables(engine)
        if config.database_url:
            PostgresBlobStore.create_table(engine)
    return exchange, Views(engine)


def write_lock(config: Config, kind: str) -> WriteLock:
    """Returns the lock that every process writing `events` or `views` on one SQLite data
    directory takes (on PostgreSQL a thread lock only: the database serialises processes)."""
    return WriteLock(config.data_dir / f"{kind}.lock" if config.data_dir else None)


def router_key(config: Config, views: Views) -> RouterKey:
    """Loads the router's signing key: the files given, else the one the store keeps (made on
    first start: a file in the data directory, a row in the database)."""
    if config.router_key is not None and config.router_cert is not None:
        return RouterKey.from_pem(config.router_key.read_bytes(), config.router_cert.read_bytes())
    if config.data_dir is not None:
        return routerkey.in_directory(config.data_dir)
    with schema_lock(config.database_url):
        return routerkey.in_database(views.engine)


def build_services(config: Config) -> Services:
    """Opens the stores and starts the projection and writer threads."""
    metrics = Metrics()
    exchange, views = open_exchange(config)
    # One lock for both projections: the writer holds the views' across the two.
    views_lock = write_lock(config, "views")
    projection = ExchangeProjection(views.engine, exchange.recorder, exchange.mapper, views_lock)
    runner = ProjectionRunner(projection, config.poll_interval, _progress(metrics, projection))
    runner.start()
    key = router_key(config, views)
    evidence = EvidenceProjection(views.engine, exchange.recorder, key, views_lock)
    evidence_runner = ProjectionRunner(evidence, config.poll_interval, _progress(metrics, evidence))
    evidence_runner.start()
    events = EventLog(exchange.recorder, exchange.mapper.transcoder)
    writer = GroupCommitWriter(
        exchange,
        runner,
        metrics,
        config.max_batch,
        batch_preparer(exchange, events),
        write_lock(config, "events"),
        [evidence_runner],
        lambda recordings: evidence.recall(r.notification for r in recordings),
    )
    writer.start()
    executor = ThreadPoolExecutor(max_workers=3, thread_name_prefix="io")
    blobs: BlobStore
    if config.database_url:
        blobs = PostgresBlobStore(views.engine)
    else:
        assert config.data_dir is not None
        blobs = FileBlobStore(config.data_dir / "blobs")
    trust = TrustStore.load(config.trust_store) if config.trust_store else TrustStore()
    return Services(
        config=config,
        metrics=metrics,
        exchange=exchange,
        views=views,
        events=events,
        blobs=blobs,
        runner=runner,
        writer=writer,
        evidence=SqlEvidence(views.engine, key, recent=evidence.recent),
        evidence_runner=evidence_runner,
        auth=Authenticator(views, config, executor, metrics),
        executor=executor,
        trust=trust,
        signatures=SignatureVerifier(trust, views),
        pades=PadesValidator(trust),
        # XML-DSig has no Ed25519 in signxml: edXML is signed when the router key is P-256.
        xml_signer=(key.key, key.certificate)
        if isinstance(key.key, ec.EllipticCurvePrivateKey)
        else None,
    )


def batch_preparer(
    exchange: Exchange, events: EventLog
) -> Callable[[Sequence[Command]], UnitOfWork]:
    """Prepares a batch with two queries instead of one per command: is the directory still
    current, and which of the documents being sent are new."""

    def prepare(commands: Sequence[Command]) -> UnitOfWork:
        if isinstance(exchange.directory, SqlDirectory):
            exchange.directory.refresh()
        ids = [
            document_id(c.sender, c.external_id) for c in commands if isinstance(c, SendDocument)
        ]
        return exchange.unit_of_work(absent=set(ids) - events.existing(ids))

    return prepare


def _progress(metrics: Metrics, projection: ExchangeProjection | EvidenceProjection) -> Any:
    def record(position: int) -> None:
        metrics.projection_position.labels(projection.name).set(position)

    return record
