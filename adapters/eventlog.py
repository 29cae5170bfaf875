"""Reading the event history as auditors see it: positions, streams, types and data."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Transcoder
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

# Token hashes stay in the store (they prove rotations) but are not shown, even to auditors.
_HIDDEN = ("timestamp", "originator_topic", "token_sha256")


def rfc3339(moment: datetime) -> str:
    """Formats an aware datetime as an RFC 3339 UTC string with microseconds."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


class EventLog:
    """The append-only history in commit order, and each stream with its positions."""

    def __init__(self, recorder: ApplicationRecorder, transcoder: Transcoder) -> None:
        self.recorder = recorder
        self.transcoder = transcoder

    def _item(
        self, position: int, stream: Any, version: int, topic: str, state: bytes
    ) -> dict[str, Any]:
        data = self.transcoder.decode(state)
        recorded_at = rfc3339(data["timestamp"])
        for key in _HIDDEN:
            data.pop(key, None)
        return {
            "position": position,
            "recorded_at": recorded_at,
            "stream": str(stream),
            "version": version,
            "type": topic,
            "data": data,
        }

    def after(self, position: int, limit: int) -> list[dict[str, Any]]:
        """Returns up to limit events after position."""
        notifications = self.recorder.select_notifications(
            start=position, limit=limit, inclusive_of_start=False
        )
        return [
            self._item(n.id, n.originator_id, n.originator_version, n.topic, n.state)
            for n in notifications
        ]

    def stream(self, stream_id: UUID) -> list[dict[str, Any]]:
        """Returns every event of one aggregate with its position in the history."""
        recorder = self.recorder
        if isinstance(recorder, SQLiteApplicationRecorder):
            sql = (
                f"SELECT rowid AS position, originator_version, topic, state "
                f"FROM {recorder.events_table_name} WHERE originator_id=? "
                "ORDER BY originator_version"
            )
            key: Any = stream_id.hex
        elif isinstance(recorder, PostgresApplicationRecorder):
            sql = (
                f"SELECT notification_id AS position, originator_version, topic, state "
                f"FROM {recorder.datastore.schema}.{recorder.events_table_name} "
                "WHERE originator_id=%s ORDER BY originator_version"
            )
            key = stream_id
        else:
            return [
                self._item(0, stream_id, e.originator_version, e.topic, e.state)
                for e in recorder.select_events(stream_id)
            ]
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(sql, (key,))
            rows = cursor.fetchall()
        return [
            self._item(
                r["position"], stream_id, r["originator_version"], r["topic"], bytes(r["state"])
            )
            for r in rows
        ]

    def existing(self, stream_ids: list[UUID]) -> set[UUID]:
        """Returns which of the given streams have events, in one query."""
        recorder = self.recorder
        if not stream_ids:
            return set()
        if isinstance(recorder, SQLiteApplicationRecorder):
            marks = ",".join("?" * len(stream_ids))
            sql = (
                f"SELECT originator_id FROM {recorder.events_table_name} "
                f"WHERE originator_version=1 AND originator_id IN ({marks})"
            )
            keys: list[Any] = [s.hex for s in stream_ids]
        elif isinstance(recorder, PostgresApplicationRecorder):
            sql = (
                f"SELECT originator_id FROM {recorder.datastore.schema}."
                f"{recorder.events_table_name} "
                "WHERE originator_version=1 AND originator_id = ANY(%s)"
            )
            keys = [stream_ids]
        else:
            return {s for s in stream_ids if recorder.select_events(s, limit=1)}
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(sql, keys)
            return {UUID(str(row["originator_id"])) for row in cursor.fetchall()}

    def max_position(self) -> int:
        """Returns the position of the newest event (0 when empty)."""
        return self.recorder.max_notification_id() or 0
