"""The concrete adapters one router process runs with, built from its Config."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from adapters.blobs import BlobStore, FileBlobStore, PostgresBlobStore
from adapters.eventlog import EventLog
from adapters.eventstore import store_env, views_url
from adapters.projection import ExchangeProjection
from adapters.runner import ProjectionRunner
from adapters.views import SqlDirectory, Views, create_engine
from domain.exchange import Exchange
from ops.metrics import Metrics
from router.auth import Authenticator
from router.config import Config
from router.writer import GroupCommitWriter

T = TypeVar("T")


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
    auth: Authenticator
    executor: ThreadPoolExecutor

    async def call(self, fn: Any, *args: Any) -> Any:
        """Runs a blocking call off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def close(self) -> None:
        """Stops the threads and closes the stores."""
        self.writer.stop()
        self.runner.stop()
        self.executor.shutdown(wait=True)
        self.exchange.close()
        self.views.engine.dispose()


SERVICES = web.AppKey("services", Services)


def open_exchange(config: Config) -> tuple[Exchange, Views]:
    """Opens the event store and the views (used by the server and the CLI)."""
    if config.data_dir is not None:
        config.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(views_url(config.database_url, config.data_dir))
    exchange = Exchange(
        directory=SqlDirectory(engine), env=store_env(config.database_url, config.data_dir)
    )
    return exchange, Views(engine)


def build_services(config: Config) -> Services:
    """Opens the stores and starts the projection and writer threads."""
    metrics = Metrics()
    exchange, views = open_exchange(config)
    projection = ExchangeProjection(views.engine, exchange.recorder, exchange.mapper)
    runner = ProjectionRunner(projection, config.poll_interval, _progress(metrics, projection))
    runner.start()
    writer = GroupCommitWriter(exchange, runner, metrics, config.max_batch)
    writer.start()
    executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="io")
    blobs: BlobStore
    if config.database_url:
        blobs = PostgresBlobStore(views.engine)
    else:
        assert config.data_dir is not None
        blobs = FileBlobStore(config.data_dir / "blobs")
    return Services(
        config=config,
        metrics=metrics,
        exchange=exchange,
        views=views,
        events=EventLog(exchange.recorder, exchange.mapper.transcoder),
        blobs=blobs,
        runner=runner,
        writer=writer,
        auth=Authenticator(
            views, config.operator_token, executor, metrics, config.auth_cache_seconds
        ),
        executor=executor,
    )


def _progress(metrics: Metrics, projection: ExchangeProjection) -> Any:
    def record(position: int, _applied: int) -> None:
        metrics.projection_position.labels(projection.name).set(position)

    return record
