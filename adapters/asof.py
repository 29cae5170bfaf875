"""The exchange as it stood at a past instant, rebuilt from the events alone.

The events recorded up to the instant are projected by the live views' own projection into
scratch views (a private SQLite database that is thrown away), so a past state follows exactly the
rules of the live views and is read with the same queries. Nothing is taken from the live views.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from eventsourcing.persistence import ApplicationRecorder, Mapper
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool

from adapters import views as v
from adapters.eventlog import EventLog
from adapters.projection import ExchangeProjection
from domain.document import Document

# Events read and projected per transaction while replaying the history.
BATCH = 5000
# Documents (and inbox entries) read from the scratch views per query.
CHUNK = 500


def scratch_engine(path: Path | None = None) -> Engine:
    """Creates empty scratch views: in memory, or in a file that needs no durability."""
    engine = sa.create_engine(f"sqlite:///{path}" if path else "sqlite://", poolclass=StaticPool)

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=OFF")
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()

    v.metadata.create_all(engine)
    return engine


def document_as_of(
    events: EventLog, mapper: Mapper[Any], document_id: UUID, until: datetime
) -> dict[str, Any] | None:
    """Returns a document as the views would have shown it at an instant, from its own events
    recorded by then; None if it did not exist yet (or the id names no document)."""
    kept = []
    for position, stored in events.stored(document_id):
        event = mapper.to_domain_event(stored)
        if isinstance(event, Document.Event) and event.timestamp <= until:
            kept.append((position, event))
    if not kept:
        return None
    engine = scratch_engine()
    try:
        with engine.begin() as c:
            ExchangeProjection(engine, events.recorder, mapper).apply(c, kept)
        return v.Views(engine).document(str(document_id))
    finally:
        engine.dispose()


class Replay:
    """Every document and inbox at an instant, replayed from the whole history into scratch
    views, read back in order and in chunks (memory stays bounded whatever the history's size)."""

    def __init__(self, recorder: ApplicationRecorder, mapper: Mapper[Any], engine: Engine) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.engine = engine
        self.views = v.Views(engine)

    def run(self, until: datetime, progress: Callable[[int], object]) -> tuple[int, int]:
        """Projects every event recorded at or before `until`, reading the history in commit
        order to its end (commit order and recording time may differ slightly between
        processes); calls progress with each position reached. Returns events read and kept."""
        projection = ExchangeProjection(self.engine, self.recorder, self.mapper)
        to_domain_event: Callable[[Any], Any] = self.mapper.to_domain_event
        position = read = kept = 0
        with v.bulk_load(self.engine):
            while notifications := self.recorder.select_notifications(
                start=position + 1, limit=BATCH
            ):
                events = [(n.id, to_domain_event(n)) for n in notifications]
                chosen = [(p, e) for p, e in events if e.timestamp <= until]
                with self.engine.begin() as c:
                    projection.apply(c, chosen)
                position = notifications[-1].id
                read, kept = read + len(events), kept + len(chosen)
                progress(position)
        return read, kept

    def documents(self, party: str | None = None) -> Iterator[dict[str, Any]]:
        """Yields every document in the order sent, or those an agency sent or holds a line of,
        each with its recipients' lines and history as the views give them."""
        d, r = v.documents, v.recipients
        query = sa.select(d.c.id, d.c.position).order_by(d.c.position).limit(CHUNK)
        if party is not None:
            # Correlated, so that the walk in position order checks each document by its
            # primary key once, instead of listing the party's lines again for every chunk.
            held = (r.c.document_id == d.c.id) & ((r.c.agency == party) | (r.c.holder == party))
            query = query.where((d.c.sender == party) | sa.exists().where(held))
        after = -1
        while True:
            with self.engine.connect() as c:
                rows = c.execute(query.where(d.c.position > after)).all()
            if not rows:
                return
            yield from self.views.documents([row.id for row in rows])
            after = rows[-1].position

    def agencies(self, only: str | None = None) -> list[str]:
        """Codes of the local agencies registered by then (or of one of them), in order."""
        a = v.agencies
        query = sa.select(a.c.code).where(a.c.remote.is_(False)).order_by(a.c.code)
        if only is not None:
            query = query.where(a.c.code == only)
        with self.engine.connect() as c:
            return list(c.execute(query).scalars())

    def inbox(self, agency: str) -> Iterator[list[dict[str, Any]]]:
        """Yields an agency's inbox then, newest first, in pages of ids and statuses."""
        before: int | None = None
        while True:
            page = self.views.inbox(agency, {}, before, CHUNK)
            yield [{"id": row["id"], "status": row["status"]} for row in page.items]
            if page.next_position is None:
                return
            before = page.next_position
