"""Agencies and auditors: the principals of the exchange."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import AggregateCreated, AggregateEvent, BaseAggregate

from domain.codes import AgencyStatus, Tier, agency_id, auditor_id, certificate_id
from domain.errors import Conflict, Invalid, NotFound


@dataclass
class SigningCertificate:
    """What an agency's aggregate keeps of one of its signing certificates."""

    fingerprint: str
    subject: str
    not_before: str
    not_after: str
    retired_at: str | None = None


class Agency(BaseAggregate[UUID]):
    """An agency in the directory, local (holds a token) or remote (reached over the axis)."""

    TOPIC = "Agency"

    if TYPE_CHECKING:
        code: str
        name: str
        tier: Tier
        parent: str | None
        remote: bool
        status: AgencyStatus
        token_sha256: str | None
        successor: str | None
        ends_on: str | None
        pending_move: dict[str, Any] | None
        certificates: dict[str, SigningCertificate]
        signature_required: bool

    class Event(AggregateEvent):
        """Base of agency events."""

    class Registered(Event, AggregateCreated):
        """An agency was added to the directory."""

        TOPIC = "AgencyRegistered"
        code: str
        name: str
        tier: str
        parent: str | None
        remote: bool
        token_sha256: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate.code = self.code
            aggregate.name = self.name
            aggregate.tier = Tier(self.tier)
            aggregate.parent = self.parent
            aggregate.remote = self.remote
            aggregate.status = AgencyStatus.ACTIVE
            aggregate.token_sha256 = self.token_sha256
            aggregate.successor = None
            aggregate.ends_on = None
            aggregate.pending_move = None
            aggregate.certificates = {}
            aggregate.signature_required = False

    class Renamed(Event):
        """The agency has a new official name."""

        TOPIC = "AgencyRenamed"
        name: str

        def apply(self, aggregate: Any) -> None:
            aggregate.name = self.name

    class MoveScheduled(Event):
        """The agency will move under another parent (and tier) on a later date."""

        TOPIC = "AgencyMoveScheduled"
        parent: str | None
        tier: str
        effective: str

        def apply(self, aggregate: Any) -> None:
            aggregate.pending_move = {
                "parent": self.parent,
                "tier": self.tier,
                "effective": self.effective,
            }

    class Moved(Event):
        """From its effective date the agency sits under another parent, in a tier; history
        before that date keeps the old place."""

        TOPIC = "AgencyMoved"
        parent: str | None
        tier: str
        effective: str

        def apply(self, aggregate: Any) -> None:
            aggregate.parent = self.parent
            aggregate.tier = Tier(self.tier)
            aggregate.pending_move = None

    class TokenRotated(Event):
        """The agency's token was replaced; only its hash is recorded."""

        TOPIC = "AgencyTokenRotated"
        token_sha256: str

        def apply(self, aggregate: Any) -> None:
            aggregate.token_sha256 = self.token_sha256

    class Suspended(Event):
        """The agency may read but no longer send or receive."""

        TOPIC = "AgencySuspended"

        def apply(self, aggregate: Any) -> None:
            aggregate.status = AgencyStatus.SUSPENDED

    class Resumed(Event):
        """A suspended agency is active again."""

        TOPIC = "AgencyResumed"

        def apply(self, aggregate: Any) -> None:
            aggregate.status = AgencyStatus.ACTIVE

    class Merged(Event):
        """From its effective date the agency's documents go to its successor."""

        TOPIC = "AgencyMerged"
        into: str
        effective: str

        def apply(self, aggregate: Any) -> None:
            aggregate.successor = self.into
            aggregate.ends_on = self.effective

    class Retired(Event):
        """From its effective date the agency receives nothing; no successor takes over."""

        TOPIC = "AgencyRetired"
        effective: str

        def apply(self, aggregate: Any) -> None:
            aggregate.ends_on = self.effective

    class CertificateRegistered(Event):
        """A signing certificate of the agency was registered; it chained to the trust store,
        was valid and had a signing key usage when it was."""

        TOPIC = "AgencyCertificateRegistered"
        fingerprint: str
        subject: str
        not_before: str
        not_after: str
        pem: str

        def apply(self, aggregate: Any) -> None:
            aggregate.certificates[self.fingerprint] = SigningCertificate(
                self.fingerprint, self.subject, self.not_before, self.not_after
            )

    class CertificateRetired(Event):
        """The certificate signs none of the agency's documents from now on."""

        TOPIC = "AgencyCertificateRetired"
        fingerprint: str

        def apply(self, aggregate: Any) -> None:
            aggregate.certificates[self.fingerprint].retired_at = self.timestamp.isoformat()

    class SignatureRequirementChanged(Event):
        """The agency's documents must (or need no longer) be signed."""

        TOPIC = "AgencySignatureRequirementChanged"
        required: bool

        def apply(self, aggregate: Any) -> None:
            aggregate.signature_required = self.required

    @classmethod
    def register(
        cls,
        *,
        code: str,
        name: str,
        tier: Tier,
        parent: str | None,
        remote: bool,
        token_sha256: str | None,
    ) -> Agency:
        """Creates the agency; the caller has checked code, tier and parent."""
        return cls._create(
            cls.Registered,
            id=agency_id(code),
            code=code,
            name=name,
            tier=tier.value,
            parent=parent,
            remote=remote,
            token_sha256=token_sha256,
        )

    def rotate_token(self, token_sha256: str) -> None:
        """Replaces the token hash; the old token stops working."""
        if self.remote:
            raise Conflict(f"agency {self.code} is remote and has no token")
        self.trigger_event(self.TokenRotated, token_sha256=token_sha256)

    def rename(self, name: str) -> bool:
        """Renames the agency; False when the name is already this one."""
        if name == self.name:
            return False
        self.trigger_event(self.Renamed, name=name)
        return True

    def move(self, parent: str | None, tier: Tier, effective: str, today: str) -> bool:
        """Moves the agency now, or schedules the move for a later date; False when nothing
        changes (the same place, or the same move already scheduled)."""
        self._check_not_ended()
        wanted = {"parent": parent, "tier": tier.value, "effective": effective}
        if effective > today:
            if self.pending_move == wanted:
                return False
            self.trigger_event(self.MoveScheduled, **wanted)
            return True
        if (parent, tier) == (self.parent, self.tier) and self.pending_move is None:
            return False
        self.trigger_event(self.Moved, **wanted)
        return True

    def merge(self, into: str, effective: str) -> None:
        """Hands the agency over to its successor from the effective date."""
        self._check_not_ended()
        self.trigger_event(self.Merged, into=into, effective=effective)

    def retire(self, effective: str) -> None:
        """Closes the agency from the effective date."""
        self._check_not_ended()
        self.trigger_event(self.Retired, effective=effective)

    def _check_not_ended(self) -> None:
        if self.ends_on is not None:
            what = f"merged into {self.successor}" if self.successor else "retired"
            raise Conflict(f"agency {self.code} is already {what} from {self.ends_on}")

    def register_certificate(
        self, fingerprint: str, subject: str, not_before: str, not_after: str, pem: str
    ) -> bool:
        """Adds a signing certificate; False when it is already this agency's."""
        known = self.certificates.get(fingerprint)
        if known is not None:
            if known.retired_at is not None:
                raise Conflict(f"certificate {fingerprint} was retired on {known.retired_at}")
            return False
        self.trigger_event(
            self.CertificateRegistered,
            fingerprint=fingerprint,
            subject=subject,
            not_before=not_before,
            not_after=not_after,
            pem=pem,
        )
        return True

    def retire_certificate(self, fingerprint: str) -> None:
        """Stops a certificate from signing the agency's documents."""
        known = self.certificates.get(fingerprint)
        if known is None:
            raise NotFound(f"certificate {fingerprint} of agency {self.code} not found")
        if known.retired_at is not None:
            raise Conflict(f"certificate {fingerprint} was already retired on {known.retired_at}")
        self.trigger_event(self.CertificateRetired, fingerprint=fingerprint)

    def require_signature(self, required: bool) -> bool:
        """Makes signatures mandatory (or optional); False when nothing changes."""
        if self.signature_required == required:
            return False
        self.trigger_event(self.SignatureRequirementChanged, required=required)
        return True

    def check_may_sign(self, fingerprint: str) -> SigningCertificate:
        """Returns the certificate if it may sign this agency's documents, else raises Invalid."""
        known = self.certificates.get(fingerprint)
        if known is None:
            raise Invalid.field(
                "signature.certificate",
                f"certificate {fingerprint} is not registered to agency {self.code}",
            )
        if known.retired_at is not None:
            raise Invalid.field(
                "signature.certificate",
                f"certificate {fingerprint} was retired on {known.retired_at}",
            )
        return known

    def suspend(self) -> None:
        """Suspends an active agency."""
        if self.status is AgencyStatus.SUSPENDED:
            raise Conflict(f"agency {self.code} is already suspended")
        self.trigger_event(self.Suspended)

    def resume(self) -> None:
        """Resumes a suspended agency."""
        if self.status is AgencyStatus.ACTIVE:
            raise Conflict(f"agency {self.code} is not suspended")
        self.trigger_event(self.Resumed)


class Auditor(BaseAggregate[UUID]):
    """A read-only principal that may see all history."""

    TOPIC = "Auditor"

    if TYPE_CHECKING:
        name: str
        token_sha256: str

    class Event(AggregateEvent):
        """Base of auditor events."""

    class Registered(Event, AggregateCreated):
        """An auditor was created by the operator."""

        TOPIC = "AuditorRegistered"
        name: str
        token_sha256: str

        def apply(self, aggregate: Any) -> None:
            aggregate.name = self.name
            aggregate.token_sha256 = self.token_sha256

    @classmethod
    def register(cls, *, name: str, token_sha256: str) -> Auditor:
        """Creates the auditor."""
        return cls._create(
            cls.Registered, id=auditor_id(name), name=name, token_sha256=token_sha256
        )


class CertificateClaim(BaseAggregate[UUID]):
    """The agency a signing certificate belongs to, for good: created with the certificate's
    first registration. Its id comes from the fingerprint, so two registrations of one
    certificate to two agencies, racing in two router processes, cannot both commit: the store
    takes the first claim and refuses the second (the same stream and version)."""

    TOPIC = "CertificateClaim"

    if TYPE_CHECKING:
        fingerprint: str
        agency: str

    class Event(AggregateEvent):
        """Base of claim events."""

    class Claimed(Event, AggregateCreated):
        """A signing certificate was registered to an agency, the only one it may sign for."""

        TOPIC = "CertificateClaimed"
        fingerprint: str
        agency: str

        def apply(self, aggregate: Any) -> None:
            aggregate.fingerprint = self.fingerprint
            aggregate.agency = self.agency

    @classmethod
    def claim(cls, *, fingerprint: str, agency: str) -> CertificateClaim:
        """Creates the claim of an agency on a certificate."""
        return cls._create(
            cls.Claimed, id=certificate_id(fingerprint), fingerprint=fingerprint, agency=agency
        )
