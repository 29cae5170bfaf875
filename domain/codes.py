"""Value rules of the domain: agency codes, tiers, priorities and status codes."""

from __future__ import annotations

import functools
import re
import uuid
from enum import StrEnum

from domain.errors import Invalid

AGENCY_CODE = re.compile(r"\A[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}\Z")

# Deterministic ids turn uniqueness (one agency per code, one document per
# sender and external_id) into a constraint of the event store itself.
_NAMESPACE = uuid.UUID("6f1c2f0e-3a41-5d5e-9a57-4c1e8f0b7a10")


class Tier(StrEnum):
    """Administrative tier of an agency; stated at registration, never derived."""

    CENTRAL = "central"
    PROVINCE = "province"
    DISTRICT = "district"
    COMMUNE = "commune"

    @property
    def rank(self) -> int:
        """Returns 0 for central down to 3 for commune."""
        return _TIER_RANK[self]


_TIER_RANK = {Tier.CENTRAL: 0, Tier.PROVINCE: 1, Tier.DISTRICT: 2, Tier.COMMUNE: 3}


class Priority(StrEnum):
    """Priority of a document (edXML OtherInfo/Priority 0..3)."""

    NORMAL = "normal"
    URGENT = "urgent"
    VERY_URGENT = "very_urgent"
    FLASH = "flash"


class AgencyStatus(StrEnum):
    """Lifecycle of an agency in the directory."""

    ACTIVE = "active"
    SUSPENDED = "suspended"


class Route(StrEnum):
    """How a recipient is reached."""

    LOCAL = "local"
    AXIS = "axis"


# The most recipients one document may reach, listed in `to` or expanded from `to_groups`.
MAX_RECIPIENTS = 1000

# Recipient states that are not edXML codes.
DELIVERED = "delivered"
QUEUED = "queued"
REVOKED = "revoked"
# Route `axis`: the package reached the national axis; or it could not and waits for an operator.
FORWARDED = "forwarded"
PARKED = "parked"
REVOCATION_REQUESTED = "13"

REPORTABLE = ("01", "02", "03", "04", "05", "06", "15", "16")
NEEDS_NOTE = frozenset({"02", "16"})
FINAL = frozenset({"02", "06"})
ACCEPTED = frozenset({"03", "04", "05", "06"})

# The transition table of API.md: status -> states it may follow.
ALLOWED_AFTER: dict[str, frozenset[str]] = {
    "01": frozenset({DELIVERED, FORWARDED}),
    "02": frozenset({DELIVERED, FORWARDED, "01"}),
    "03": frozenset({DELIVERED, FORWARDED, "01"}),
    "04": frozenset({"03", "04"}),
    "05": frozenset({"03", "04", "05"}),
    "06": frozenset({"03", "04", "05"}),
}


def check_agency_code(code: str, field: str = "code") -> str:
    """Returns the code if it has the QCVN 102:2016 shape, else raises Invalid."""
    if not AGENCY_CODE.match(code):
        raise Invalid.field(field, f"'{code}' is not a QCVN 102:2016 agency code (DDD.DD.DD.LDD)")
    return code


def agency_id(code: str) -> uuid.UUID:
    """Returns the aggregate id of the agency with this code."""
    return uuid.uuid5(_NAMESPACE, f"agency:{code}")


def certificate_id(fingerprint: str) -> uuid.UUID:
    """Returns the aggregate id of the claim on a signing certificate (its SHA-256 fingerprint)."""
    return uuid.uuid5(_NAMESPACE, f"certificate:{fingerprint}")


def auditor_id(name: str) -> uuid.UUID:
    """Returns the aggregate id of the auditor with this name."""
    return uuid.uuid5(_NAMESPACE, f"auditor:{name}")


@functools.lru_cache(maxsize=4096)
def document_id(sender: str, external_id: str) -> uuid.UUID:
    """Returns the document id for a sender's own external id (cached: the writer asks twice)."""
    return uuid.uuid5(_NAMESPACE, f"document:{sender}:{external_id}")


def axis_document_id(national_id: str, business_type: int = 0) -> uuid.UUID:
    """Returns the id of a document received from the axis: one per national DocumentId and
    business type, so a duplicate delivery finds the document it already made."""
    return uuid.uuid5(_NAMESPACE, f"axis:{national_id}:{business_type}")


def national_document_id(sender: str, promulgated_on: str, number: str, notation: str) -> str:
    """Returns the edXML DocumentId of a document: `<sender>,<yyyy/MM/dd>,<number>/<notation>`."""
    return f"{sender},{promulgated_on.replace('-', '/')},{number}/{notation}"
