"""Prometheus metrics of one router process (its own registry, so tests can build many apps)."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Children:
    """A metric family's labelled children, each looked up once (the label values are bounded:
    route templates, statuses, agency codes from the directory)."""

    def __init__(self, family: Any) -> None:
        self.family = family
        self._made: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        """Returns the child of these label values."""
        child = self._made.get(values)
        if child is None:
            child = self._made[values] = self.family.labels(*values)
        return child


class Metrics:
    """The metric families a router exposes at /metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._overdue_seen: set[str] = set()
        r = self.registry
        self.http_requests = Counter(
            "lienthong_http_requests",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "lienthong_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and status class (2xx...).",
            ["method", "route", "status_class"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.commit_batch = Histogram(
            "lienthong_store_commit_batch_size",
            "Commands committed together in one transaction.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=r,
        )
        self.commit_duration = Histogram(
            "lienthong_store_commit_duration_seconds",
            "Time to decide and commit one batch.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.events_committed = Counter(
            "lienthong_store_events_committed",
            "Events appended to the event store.",
            registry=r,
        )
        self.documents_sent = Counter(
            "lienthong_documents_sent",
            "Documents sent, by sending agency, its tier and each route they took.",
            ["agency", "tier", "route"],
            registry=r,
        )
        self.documents_received = Counter(
            "lienthong_documents_received",
            "Documents received, by recipient agency, its tier and route.",
            ["agency", "tier", "route"],
            registry=r,
        )
        self.bad_requests = Counter(
            "lienthong_bad_requests",
            "Requests refused as bad input, by reason.",
            ["reason"],
            registry=r,
        )
        self.status_reports = Counter(
            "lienthong_status_reports",
            "Status reports recorded, by edXML status code.",
            ["status"],
            registry=r,
        )
        self.revocations = Counter(
            "lienthong_revocations",
            "Documents revoked by their senders.",
            registry=r,
        )
        self.auth_failures = Counter(
            "lienthong_auth_failures",
            "Requests refused for a missing or unknown token.",
            registry=r,
        )
        self.store_position = Gauge(
            "lienthong_event_store_position",
            "Highest committed event position seen.",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.projection_position = Gauge(
            "lienthong_projection_position",
            "Event position the views include.",
            ["projection"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.projection_lag = Gauge(
            "lienthong_projection_lag_events",
            "Events committed but not yet in the views.",
            ["projection"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.attachment_bytes = Counter(
            "lienthong_attachment_received_bytes",
            "Attachment bytes received (before dedup).",
            registry=r,
        )
        self.attachment_stored_bytes = Counter(
            "lienthong_attachment_stored_bytes",
            "Attachment bytes stored (each distinct attachment once).",
            registry=r,
        )
        self.projection_lag_seconds = Gauge(
            "lienthong_projection_lag_seconds",
            "Age of the oldest event not yet in the views (0 when caught up).",
            ["projection"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.documents_overdue = Gauge(
            "lienthong_documents_overdue",
            "Open documents past their due date, by the agency that holds them.",
            ["agency"],
            registry=r,
            multiprocess_mode="livemax",
        )

        self.axis_queue = Gauge(
            "lienthong_axis_queue_items",
            "Items of the axis bridge's queue by state (queued, forwarded, parked, cancelled).",
            ["state"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.axis_attempts = Counter(
            "lienthong_axis_attempts",
            "Attempts to carry an item to the national axis, by kind and outcome.",
            ["kind", "outcome"],
            registry=r,
        )
        self.axis_failures = Counter(
            "lienthong_axis_failures",
            "Failed axis calls by reason (transient, the axis's refusal code, refused_incoming).",
            ["reason"],
            registry=r,
        )
        self.axis_received = Counter(
            "lienthong_axis_received",
            "Packages and status messages taken in from the national axis.",
            ["kind"],
            registry=r,
        )
        self.axis_poll_seconds = Histogram(
            "lienthong_axis_poll_duration_seconds",
            "Time one poll of the axis took for every local agency.",
            registry=r,
        )
        self.axis_last_contact = Gauge(
            "lienthong_axis_last_contact_timestamp_seconds",
            "Unix time of the last poll of the axis that succeeded.",
            registry=r,
            multiprocess_mode="max",
        )
        self.requests_by = Children(self.http_requests)
        self.duration_by = Children(self.http_duration)
        self.sent_by = Children(self.documents_sent)
        self.received_by = Children(self.documents_received)

    def set_overdue(self, counts: dict[str, int]) -> None:
        """Sets the overdue gauge; agencies no longer overdue go to 0 (in multiprocess mode a
        removed series would keep its last value)."""
        for agency in self._overdue_seen - counts.keys():
            self.documents_overdue.labels(agency).set(0)
        for agency, n in counts.items():
            self.documents_overdue.labels(agency).set(n)
        self._overdue_seen |= counts.keys()

    def exposition(self) -> bytes:
        """The text format of /metrics: this process's registry, or every worker's when
        `lienthong serve --workers N` runs the process (prometheus-client's multiprocess mode)."""
        path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if not path:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
