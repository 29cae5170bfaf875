"""`lienthong audit replay`: every document and inbox as of an instant, as JSON Lines.

One line per document (`"kind": "document"`, in the order sent, shaped as an auditor's
`GET /v1/documents/{id}`), then one line per local agency's inbox (`"kind": "inbox"`, its
documents newest first with their status then), all rebuilt from the events recorded by then.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from rich.progress import Progress

from adapters.asof import Replay, scratch_engine
from adapters.eventstore import schema_lock, store_env
from domain.exchange import Exchange
from router.config import Config
from router.documents import present
from router.wire import encode


@dataclass(frozen=True)
class Figures:
    """What a replay read and wrote, and how long it took."""

    events_read: int
    events_kept: int
    documents: int
    inboxes: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        """Events read (and projected when recorded by the instant) per second, output included."""
        return self.events_read / self.seconds if self.seconds else 0.0


def replay(
    config: Config, until: datetime, agency: str | None, out: BinaryIO, progress: Progress
) -> Figures:
    """Rebuilds the exchange as of `until` from the event store alone and writes it to out."""
    started = time.perf_counter()
    with schema_lock(config.database_url):
        exchange = Exchange(env=store_env(config.database_url, config.data_dir))
    try:
        with tempfile.TemporaryDirectory(prefix="lienthong-replay-") as scratch:
            engine = scratch_engine(Path(scratch) / "views.sqlite")
            try:
                state = Replay(exchange.recorder, exchange.mapper, engine)
                with progress:
                    head = exchange.recorder.max_notification_id() or 0
                    task = progress.add_task("replaying events", total=head)
                    read, kept = state.run(
                        until, lambda position: progress.update(task, completed=position)
                    )
                    written = progress.add_task("writing documents", total=None)
                    documents = 0
                    for document in state.documents(agency):
                        out.write(encode({"kind": "document"} | present(document)) + b"\n")
                        documents += 1
                        progress.advance(written)
                    codes = state.agencies(agency)
                    for code in codes:
                        _write_inbox(out, code, state.inbox(code))
            finally:
                engine.dispose()
    finally:
        exchange.close()
    return Figures(read, kept, documents, len(codes), time.perf_counter() - started)


def _write_inbox(out: BinaryIO, agency: str, pages: Iterable[list[dict[str, Any]]]) -> None:
    """Writes one inbox line page by page: an agency's inbox may hold a million documents."""
    head = encode({"kind": "inbox", "agency": agency, "documents": []})
    out.write(head[:-2])  # the object without its closing "]}"
    separator = b""
    for page in pages:
        if page:
            out.write(separator + encode(page)[1:-1])  # the items without their brackets
            separator = b","
    out.write(b"]}\n")
