"""The views are a pure function of the history: dropping and rebuilding them changes nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from itertools import pairwise
from typing import Any

import sqlalchemy as sa

from adapters import views as v
from adapters.auditread import Source
from adapters.eventstore import store_env
from adapters.projection import ExchangeProjection
from adapters.rebuild import CHUNKS_PER_TRANSACTION, _Rows, _Stored, decode_chunk, rebuild_views
from router.config import Config
from router.services import SERVICES, open_exchange
from tests.conftest import OPERATOR_TOKEN
from tests.support.api import COMMUNE, COMMUNE_2, DISTRICT, MINISTRY, PROVINCE, Api


def snapshot(config: Config) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every view, in a stable order."""
    exchange, views = open_exchange(config)
    projection = ExchangeProjection(views.engine, exchange.recorder, exchange.mapper)
    try:
        with views.engine.connect() as c:
            return {
                table.name: sorted(tuple(map(repr, row)) for row in c.execute(sa.select(table)))
                for table in v.VIEW_TABLES
            } | {"position": [(projection.tracked_position(),)]}
    finally:
        exchange.close()
        views.engine.dispose()


def rebuild(config: Config) -> int:
    """Drops and rebuilds the views in-process; returns the position reached."""
    exchange, views = open_exchange(config)
    try:
        projection = ExchangeProjection(views.engine, exchange.recorder, exchange.mapper)
        v.drop_views(views.engine)
        projection.setup()
        while projection.run_once(limit=7)[1]:
            pass
        return projection.tracked_position()
    finally:
        exchange.close()
        views.engine.dispose()


async def busy_history(api: Api) -> None:
    await api.province()
    for i in range(5):
        _, sent = await api.send(PROVINCE, [DISTRICT, COMMUNE, COMMUNE_2])
        await api.report(COMMUNE, sent["id"], "03")
        if i % 2:
            await api.report(COMMUNE_2, sent["id"], "02", note="Không thuộc thẩm quyền")
        if i == 3:
            await api.call(
                "POST",
                f"/v1/documents/{sent['id']}/revoke",
                api.tokens[PROVINCE],
                json={"reason": "nhầm"},
            )
            await api.report(COMMUNE, sent["id"], "15")
    await api.call("POST", f"/v1/agencies/{COMMUNE_2}/token", OPERATOR_TOKEN)
    await api.call("POST", f"/v1/agencies/{DISTRICT}/suspend", OPERATOR_TOKEN)
    await api.send(COMMUNE, [MINISTRY])


async def test_rebuilt_views_equal_the_views_kept_live(api: Api, store_config: Config) -> None:
    await busy_history(api)
    live = snapshot(store_config)
    assert len(live["view_documents"]) == 6
    position = rebuild(store_config)
    assert position == live["position"][0][0]
    assert snapshot(store_config) == live


async def test_a_rebuild_by_decoding_processes_equals_the_views_kept_live(
    api: Api, store_config: Config
) -> None:
    """Small chunks dealt to two processes interleave inserted rows with events applied by the
    inserting process (reports, revocations, token and status changes) across messages."""
    await busy_history(api)
    live = snapshot(store_config)
    # The router's own projection would otherwise catch up between the rebuild's transactions
    # (which the rebuild allows: it hands over to run_once), and the processes would not be tested.
    api.session.app[SERVICES].runner.stop()
    exchange, views = open_exchange(store_config)
    url = str(views.engine.url.render_as_string(hide_password=False))
    views.engine.dispose()
    stages: list[tuple[str, int, int]] = []
    try:
        position = await asyncio.to_thread(
            rebuild_views,
            exchange,
            store_env(store_config.database_url, store_config.data_dir),
            url,
            Source.of(exchange.recorder, store_config.database_url, store_config.data_dir),
            workers=2,
            chunk=3,
            progress=lambda *stage: stages.append(stage),
        )
    finally:
        exchange.close()
    assert position == live["position"][0][0]
    assert snapshot(store_config) == live
    assert stages[-1] == ("indexing views", position, position)
    step = 3 * CHUNKS_PER_TRANSACTION
    assert [p for stage, p, _ in stages if stage == "rebuilding views"] == sorted(
        {min(p, position) for p in range(step, position + step, step)}
    )


async def test_decoding_ships_rows_of_inserts_and_the_stored_events_that_need_the_views(
    api: Api, store_config: Config
) -> None:
    await busy_history(api)
    exchange, views = open_exchange(store_config)
    try:
        projection = ExchangeProjection(views.engine, exchange.recorder, exchange.mapper)
        notifications = exchange.recorder.select_notifications(1, 1000)
        segments = decode_chunk(projection, notifications)
    finally:
        exchange.close()
        views.engine.dispose()
    topics = [n.topic for n in notifications]
    stored = [s.topic for s in segments if isinstance(s, _Stored)]
    rows = [s.rows for s in segments if isinstance(s, _Rows)]
    # Registrations and sends only insert; every other event here reads or updates the views.
    assert stored == [t for t in topics if t not in ("AgencyRegistered", "DocumentSent")]
    assert "DocumentStatusReported" in stored
    assert "AgencyTokenRotated" in stored
    for table, topic in (("view_agencies", "AgencyRegistered"), ("view_documents", "DocumentSent")):
        assert sum(len(r.get(table, ())) for r in rows) == topics.count(topic)
    # A run of rows is cut by each stored event, so the inserter keeps the history's order.
    assert not any(isinstance(a, _Rows) and isinstance(b, _Rows) for a, b in pairwise(segments))


async def test_the_rebuild_command_reports_progress_and_position(
    api: Api, store_config: Config
) -> None:
    await busy_history(api)
    store = (
        ["--database", store_config.database_url]
        if store_config.database_url
        else ["--data", str(store_config.data_dir)]
    )
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "router.cli", "views", "rebuild", *store],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=os.environ | {"COLUMNS": "100"},
    )
    assert result.returncode == 0, result.stderr
    assert "views rebuilt up to event" in result.stdout
    status, inbox = await api.call("GET", "/v1/inbox", api.tokens[COMMUNE])
    assert status == 200
    assert len(inbox["items"]) == 5


async def test_the_inbox_query_reads_indexes_only(tmp_path: Any) -> None:
    """The hottest read must never scan: an agency's lines by the holder index, and for each the
    document's other lines by primary key (SQLite picks plans without statistics; a plan that
    walked the agency's lines once per line made a 100k inbox 1,000 times slower)."""
    config = Config(data_dir=tmp_path / "data", operator_token=OPERATOR_TOKEN)
    exchange, views = open_exchange(config)
    try:
        sql, params = v.inbox_sql(COMMUNE, {"status": "01", "since": "2026"}, 1000, 50)
        with views.engine.connect() as c:
            plan = [
                row[-1] for row in c.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, tuple(params))
            ]
    finally:
        exchange.close()
    assert not [step for step in plan if step.startswith("SCAN")], plan
    searches = [step for step in plan if step.startswith("SEARCH")]
    assert searches[0].startswith("SEARCH r USING INDEX ix_view_recipients_holder_position"), plan
    assert any(
        s.startswith("SEARCH o USING INDEX sqlite_autoindex_view_recipients_1") for s in searches
    ), plan
