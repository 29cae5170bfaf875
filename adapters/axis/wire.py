"""JSON wire types of the axis simulator's API, shared by the simulator and the client."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

AgencyCode = Annotated[str, Meta(pattern=r"^[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}$")]
Tier = Literal["central", "province", "district", "commune"]
Result = Literal["done", "fail"]
Probability = Annotated[float, Meta(ge=0.0, le=1.0)]
SystemId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
Reason = Annotated[str, Meta(max_length=2000)]


class Sent(Struct, frozen=True, forbid_unknown_fields=True):
    """The axis's answer to a package or Status message it accepted (201) or already had (200)."""

    id: str
    document_id: str
    sender: str
    recipients: list[str]
    sent_at: str
    created: bool


class Pending(Struct, frozen=True, forbid_unknown_fields=True):
    """One package or Status message waiting for an agency."""

    id: str
    document_id: str
    sender: str
    sent_at: str


class PendingList(Struct, frozen=True, forbid_unknown_fields=True):
    """What is waiting for an agency, oldest first (unless the reorder fault shuffles it)."""

    items: list[Pending]


class Ack(Struct, frozen=True, forbid_unknown_fields=True):
    """A recipient's acknowledgement of a package or Status message."""

    agency: AgencyCode
    result: Result = "done"
    reason: Reason | None = None


class Acked(Struct, frozen=True, forbid_unknown_fields=True):
    """The state of one delivery after an acknowledgement."""

    id: str
    agency: str
    state: Literal["done", "failed"]
    reason: str | None


class DeliveryLine(Struct, frozen=True, forbid_unknown_fields=True):
    """One recipient's delivery of a package."""

    agency: str
    state: Literal["pending", "done", "failed"]
    reason: str | None
    acked_at: str | None


class Deliveries(Struct, frozen=True, forbid_unknown_fields=True):
    """A package's deliveries: every recipient's to the sender, its own to a recipient."""

    id: str
    document_id: str
    sender: str
    deliveries: list[DeliveryLine]


class CatalogueEntry(Struct, frozen=True, forbid_unknown_fields=True):
    """An agency the axis can route to, as a connected system registers it."""

    code: AgencyCode
    name: Annotated[str, Meta(min_length=1, max_length=2000)]
    tier: Tier


class CatalogueBatch(Struct, frozen=True, forbid_unknown_fields=True):
    """Agencies one connected system registers at once (idempotent)."""

    agencies: Annotated[list[CatalogueEntry], Meta(min_length=1, max_length=1000)]


class Registered(Struct, frozen=True, forbid_unknown_fields=True):
    """How many agencies of a batch were new, changed or already known as given."""

    created: int
    changed: int
    unchanged: int


class CatalogueItem(Struct, frozen=True, forbid_unknown_fields=True):
    """An agency of the axis catalogue, with the system that owns it and its change number."""

    code: str
    name: str
    tier: Tier
    system: str
    seq: int


class CataloguePage(Struct, frozen=True, forbid_unknown_fields=True):
    """A page of the catalogue by code."""

    items: list[CatalogueItem]
    next_cursor: str | None


class CatalogueChanges(Struct, frozen=True, forbid_unknown_fields=True):
    """Agencies created or changed after a change number; ask again with `next_since`."""

    items: list[CatalogueItem]
    next_since: int


class SystemIn(Struct, frozen=True, forbid_unknown_fields=True):
    """A connected province's system id and shared secret (admin)."""

    system_id: SystemId
    secret: Annotated[str, Meta(min_length=16, max_length=512)]


class Faults(Struct, frozen=True, forbid_unknown_fields=True):
    """Fault probabilities (0..1) drawn independently for each call from one seeded generator."""

    seed: int = 0
    drop_request: Probability = 0.0
    drop_response: Probability = 0.0
    duplicate: Probability = 0.0
    error: Probability = 0.0
    delay: Probability = 0.0
    delay_ms: Annotated[int, Meta(ge=0, le=600_000)] = 0
    reorder: Probability = 0.0


class Problem(Struct, frozen=True):
    """An RFC 9457 problem with the axis's stable machine-readable `code`."""

    type: str
    title: str
    status: int
    detail: str
    code: str


encode = msgspec.json.Encoder().encode
