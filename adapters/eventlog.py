"""Reading the event history as auditors see it: positions, streams, types and data."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, StoredEvent, Transcoder
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

# Token hashes stay in the store (they prove rotations) but are not shown, even to auditors.
HIDDEN = ("timestamp", "originator_topic", "token_sha256")


_UTC_MICROSECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\Z")


def rfc3339(moment: datetime) -> str:
    """Formats an aware datetime as an RFC 3339 UTC string with microseconds."""
    if moment.tzinfo is not UTC:  # what the store gives back is UTC already
        moment = moment.astimezone(UTC)
    # The text of isoformat(timespec="microseconds"), made in half its time: every event the
    # views, the evidence and the events API show goes through here.
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
    )


def recorded_at(stamp: Any) -> str:
    """Returns an event's `recorded_at` from its stored timestamp (a datetime or the ISO string
    the store holds)."""
    if isinstance(stamp, str):
        # msgspec stores UTC with microseconds as exactly this form: no datetime needed.
        if len(stamp) == 27 and stamp[26] == "Z" and _UTC_MICROSECONDS.match(stamp):
            return stamp
        return rfc3339(datetime.fromisoformat(stamp))
    return rfc3339(stamp)


def event_item(
    position: int, stream: Any, version: int, topic: str, state: dict[str, Any]
) -> dict[str, Any]:
    """Returns an event as auditors see it (and as its Merkle leaf covers it), from its decoded
    state, whose timestamp is a datetime or the ISO string the store holds; consumes state."""
    stamp = recorded_at(state.pop("timestamp"))
    for key in HIDDEN:
        state.pop(key, None)
    return {
        "position": position,
        "recorded_at": stamp,
        "stream": str(stream),
        "version": version,
        "type": topic,
        "data": state,
    }


class EventLog:
    """The append-only history in commit order, and each stream with its positions."""

    def __init__(self, recorder: ApplicationRecorder, transcoder: Transcoder) -> None:
        self.recorder = recorder
        self.transcoder = transcoder

    def _item(
        self, position: int, stream: Any, version: int, topic: str, state: bytes
    ) -> dict[str, Any]:
        return event_item(position, stream, version, topic, self.transcoder.decode(state))

    def after(self, position: int, limit: int, until: int | None = None) -> list[dict[str, Any]]:
        """Returns up to limit events after position (and up to `until`, if given)."""
        notifications = self.recorder.select_notifications(
            start=position, limit=limit, stop=until, inclusive_of_start=False
        )
        return [
            self._item(n.id, n.originator_id, n.originator_version, n.topic, n.state)
            for n in notifications
        ]

    def stream(self, stream_id: UUID) -> list[dict[str, Any]]:
        """Returns every event of one aggregate with its position in the history."""
        return [
            self._item(position, stream_id, e.originator_version, e.topic, e.state)
            for position, e in self.stored(stream_id)
        ]

    def stored(self, stream_id: UUID) -> list[tuple[int, StoredEvent]]:
        """Returns every stored event of one aggregate, in order, with its position (0 in a
        store without SQL)."""
        table = _events_table(self.recorder)
        if table is None:
            return [(0, e) for e in self.recorder.select_events(stream_id)]
        name, position, mark, key = table
        sql = (
            f"SELECT {position} AS position, originator_version, topic, state FROM {name} "
            f"WHERE originator_id={mark} ORDER BY originator_version"
        )
        return [
            (
                r["position"],
                StoredEvent(stream_id, r["originator_version"], r["topic"], bytes(r["state"])),
            )
            for r in self._query(sql, [key(stream_id)])
        ]

    def existing(self, stream_ids: list[UUID]) -> set[UUID]:
        """Returns which of the given streams have events, in one query."""
        table = _events_table(self.recorder)
        if not stream_ids:
            return set()
        if table is None:
            return {s for s in stream_ids if self.recorder.select_events(s, limit=1)}
        name, _, mark, key = table
        sql = (
            f"SELECT originator_id FROM {name} WHERE originator_version=1 "
            f"AND originator_id IN ({','.join(mark for _ in stream_ids)})"
        )
        rows = self._query(sql, [key(s) for s in stream_ids])
        return {UUID(str(row["originator_id"])) for row in rows}

    def _query(self, sql: str, params: list[Any]) -> list[Any]:
        with self.recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
            cursor.execute(sql, params)
            return list(cursor.fetchall())

    def max_position(self) -> int:
        """Returns the position of the newest event (0 when empty)."""
        return self.recorder.max_notification_id() or 0


def _events_table(
    recorder: ApplicationRecorder,
) -> tuple[str, str, str, Callable[[UUID], Any]] | None:
    """How to query a recorder's events table directly: its name, position column, parameter
    mark and id form; None for a recorder without SQL (the in-memory one)."""
    if isinstance(recorder, SQLiteApplicationRecorder):
        return recorder.events_table_name, "rowid", "?", lambda s: s.hex
    if isinstance(recorder, PostgresApplicationRecorder):
        name = f"{recorder.datastore.schema}.{recorder.events_table_name}"
        return name, "notification_id", "%s", lambda s: s
    return None
