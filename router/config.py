"""Configuration of one router process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from domain.directory import today_in_vietnam

MIB = 1024 * 1024


@dataclass(frozen=True)
class Config:
    """Where the store lives and the limits the router enforces."""

    data_dir: Path | None = None
    database_url: str | None = None
    operator_token: str | None = None
    max_document_bytes: int = 50 * MIB
    max_attachment_bytes: int = 50 * MIB
    max_batch: int = 256
    poll_interval: float = 0.2
    ready_max_lag_events: int = 10_000
    auth_cache_seconds: float = 1.0
    # How long a merged or retired agency's token may still read its history.
    grace_days: int = 90
    # How often the directory clock looks for due moves and hand-overs.
    clock_interval: float = 60.0
    # How long a client may take to send its request headers, or pause while sending a body,
    # before the router closes the connection (slow or stalled clients hold nothing for long).
    read_timeout: float = 60.0
    # The national axis: its URL, this province's system id and secret (none: no bridge), how
    # often to poll it, and when a failing item is parked: after this many attempts, or on the
    # first failure once it has waited this many seconds; retries back off from this delay.
    axis_url: str | None = None
    axis_system_id: str | None = None
    axis_secret: str | None = None
    axis_poll_interval: float = 10.0
    axis_max_attempts: int = 12
    axis_retry_deadline: float = 24 * 3600.0
    axis_backoff_seconds: float = 1.0
    # PEM bundle of the CA certificates agency signing certificates must chain to.
    trust_store: Path | None = None
    # The router's signing key and certificate (PEM files); without them, a key kept in the
    # data directory or the database, made on first start.
    router_key: Path | None = None
    router_cert: Path | None = None
    # A signed checkpoint of the history's Merkle tree at least this often, or this many events.
    checkpoint_seconds: float = 10.0
    checkpoint_events: int = 1000
    # Today's date in Vietnam (YYYY-MM-DD); tests pass a fixed calendar.
    today: Callable[[], str] = today_in_vietnam

    @property
    def max_body_bytes(self) -> int:
        """Largest request body: base64 of the largest document plus room for its header."""
        return self.max_document_bytes * 4 // 3 + MIB
