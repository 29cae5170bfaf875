"""The directory as sending sees it: entries, successors, groups and recipient resolution."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application

from domain.agency import Agency
from domain.codes import (
    DELIVERED,
    MAX_RECIPIENTS,
    QUEUED,
    AgencyStatus,
    Route,
    Tier,
    agency_id,
    check_agency_code,
)
from domain.errors import FieldError, Forbidden, Invalid

# Vietnam keeps UTC+7 all year; "today" for effective dates is the Vietnamese calendar day.
VIETNAM = timezone(timedelta(hours=7))


def today_in_vietnam() -> str:
    """Returns today's date in Vietnam as YYYY-MM-DD."""
    return vietnam_day(datetime.now(VIETNAM))


def vietnam_day(moment: datetime) -> str:
    """Returns the date in Vietnam (YYYY-MM-DD) of an aware moment."""
    day = moment.astimezone(VIETNAM)
    return "%04d-%02d-%02d" % (day.year, day.month, day.day)  # noqa: UP031 (faster than isoformat)


@dataclass(frozen=True)
class DirectoryEntry:
    """What sending needs to know of an agency."""

    code: str
    tier: Tier
    parent: str | None
    remote: bool
    status: AgencyStatus
    successor: str | None = None
    ends_on: str | None = None
    signature_required: bool = False

    def status_on(self, day: str) -> str:
        """Returns active, suspended, merged or retired as of a day."""
        return status_on(self.status.value, self.successor, self.ends_on, day)


def status_on(status: str, successor: str | None, ends_on: str | None, day: str) -> str:
    """Returns an agency's status as of a day: a merge or retirement counts from its date."""
    if ends_on is not None and ends_on <= day:
        return "merged" if successor else "retired"
    return status


def check_can_write(entry: DirectoryEntry | None, code: str, day: str) -> None:
    """Raises Forbidden unless the agency is active on that day (it may send and answer)."""
    state = entry.status_on(day) if entry else "unknown"
    if state != "active":
        raise Forbidden(f"agency {code} may not write while {state}")


class Directory(Protocol):
    """Port: looks agencies up by code and by subtree."""

    def lookup(self, codes: Iterable[str]) -> dict[str, DirectoryEntry]:
        """Returns the entries of the known codes among those given."""

    def members(self, tier: Tier, under: str) -> list[DirectoryEntry]:
        """Returns the agencies of a tier in the subtree of an agency, itself included."""

    def certificate_owner(self, fingerprint: str) -> str | None:
        """Returns the code of the agency a signing certificate was registered to, if any."""


@dataclass(frozen=True)
class Group:
    """Every active agency of a tier under an agency."""

    tier: Tier
    under: str


@dataclass(frozen=True)
class _Target:
    field: str
    code: str
    grouped: bool


class RecipientResolver:
    """Turns `to` and `to_groups` into one line per agency actually reached."""

    def __init__(self, directory: Directory, today: str) -> None:
        self.directory = directory
        self.today = today

    def resolve(self, sender: str, to: list[str], groups: list[Group]) -> list[dict[str, Any]]:
        """Returns recipient lines, or raises Invalid naming every bad code."""
        errors: list[FieldError] = []
        targets = self._direct(sender, to, errors) + self._grouped(sender, groups, errors)
        known = self.directory.lookup({sender} | {t.code for t in targets})
        check_can_write(known.get(sender), sender, self.today)
        if not to and not groups:
            errors.append(FieldError("to", "at least one recipient is required"))
        lines: dict[str, dict[str, Any]] = {}
        for target in targets:
            final, problem = self._follow(target.code, known)
            if final is None:
                errors.append(FieldError(target.field, problem))
            elif final.code == sender:
                if not target.grouped:
                    errors.append(FieldError(target.field, f"{target.code} is the sender"))
            elif final.code not in lines or target.code == final.code:
                lines[final.code] = _line(final, target.code, self._ancestors(final))
        if len(lines) > MAX_RECIPIENTS:
            field = "to_groups" if groups else "to"
            message = f"reaches {len(lines)} agencies; a document may reach {MAX_RECIPIENTS}"
            errors.append(FieldError(field, message))
        if errors:
            raise Invalid("; ".join(f"{e.field}: {e.message}" for e in errors), errors)
        return list(lines.values())

    def local_lines(self, to: list[str]) -> list[dict[str, Any]]:
        """Returns the lines of the local agencies among the codes of a package from the axis
        (each followed to its active successor); codes of other provinces are not ours."""
        known = self.directory.lookup([code for code in to if _is_code(code)])
        lines: dict[str, dict[str, Any]] = {}
        for code in known:
            final, _ = self._follow(code, known)
            if final is not None and not final.remote and final.code not in lines:
                lines[final.code] = _line(final, code, self._ancestors(final))
        return list(lines.values())

    def _direct(self, sender: str, to: list[str], errors: list[FieldError]) -> list[_Target]:
        targets, seen = [], set()
        for i, code in enumerate(to):
            field = f"to[{i}]"
            if not _is_code(code):
                # Not echoed: whatever a client put here by mistake stays out of the answer.
                errors.append(FieldError(field, "is not an agency code (DDD.DD.DD.LDD)"))
            elif code in seen:
                errors.append(FieldError(field, f"{code} is listed more than once"))
            elif code == sender:
                errors.append(FieldError(field, "an agency cannot send to itself"))
            else:
                targets.append(_Target(field, code, grouped=False))
            seen.add(code)
        return targets

    def _grouped(self, sender: str, groups: list[Group], errors: list[FieldError]) -> list[_Target]:
        targets = []
        for j, group in enumerate(groups):
            field = f"to_groups[{j}]"
            if not self.directory.lookup([group.under]):
                errors.append(FieldError(f"{field}.under", f"unknown agency {group.under}"))
                continue
            members = [
                m.code
                for m in self.directory.members(group.tier, group.under)
                if m.status_on(self.today) == "active" and m.code != sender
            ]
            if not members:
                errors.append(
                    FieldError(field, f"no active {group.tier} agency under {group.under}")
                )
            targets += [_Target(field, code, grouped=True) for code in members]
        return targets

    def _ancestors(self, entry: DirectoryEntry) -> list[str]:
        """The agencies above one, from the top down, as the directory has them today."""
        chain: list[str] = []
        parent = entry.parent
        while parent is not None and parent not in chain and parent != entry.code:
            chain.append(parent)
            above = self.directory.lookup([parent]).get(parent)
            parent = above.parent if above else None
        return chain[::-1]

    def receiver(self, code: str) -> DirectoryEntry | None:
        """The active agency that receives for code today (itself, or its last successor)."""
        return self._follow(code, self.directory.lookup([code]))[0]

    def _follow(
        self, code: str, known: dict[str, DirectoryEntry]
    ) -> tuple[DirectoryEntry | None, str]:
        """Follows successors from a code to the agency that receives for it."""
        entry, seen = known.get(code), {code}
        while entry is not None:
            state = entry.status_on(self.today)
            if state == "active":
                return entry, ""
            if state != "merged" or entry.successor is None:
                via = "" if entry.code == code else f" (the successor of {code})"
                return None, f"agency {entry.code}{via} is {state}"
            if entry.successor in seen:
                return None, f"the successors of {code} form a cycle"
            seen.add(entry.successor)
            entry = known.get(entry.successor) or self.directory.lookup([entry.successor]).get(
                entry.successor
            )
        return None, f"unknown agency {code}"


def _line(entry: DirectoryEntry, addressed: str, ancestors: list[str]) -> dict[str, Any]:
    """A recipient line; its tier and ancestors are recorded as they are on the day of sending,
    so statistics by subtree keep the tree of that day after a reform moves the agency."""
    route = Route.AXIS if entry.remote else Route.LOCAL
    line: dict[str, Any] = {
        "agency": entry.code,
        "route": route.value,
        "state": QUEUED if route is Route.AXIS else DELIVERED,
        "tier": entry.tier.value,
        "ancestors": ancestors,
    }
    if addressed != entry.code:
        line["addressed_as"] = addressed
    return line


def _is_code(code: str) -> bool:
    try:
        check_agency_code(code)
    except Invalid:
        return False
    return True


class RepositoryDirectory:
    """Directory read straight from the Agency aggregates: always current, slower."""

    def __init__(self, exchange: Application[UUID]) -> None:
        self._exchange = exchange

    def lookup(self, codes: Iterable[str]) -> dict[str, DirectoryEntry]:
        """Loads each agency's aggregate."""
        found = {}
        for code in codes:
            try:
                agency: Agency = self._exchange.repository.get(agency_id(code))
            except AggregateNotFoundError:
                continue
            found[code] = DirectoryEntry(
                agency.code,
                agency.tier,
                agency.parent,
                agency.remote,
                agency.status,
                agency.successor,
                agency.ends_on,
                agency.signature_required,
            )
        return found

    def certificate_owner(self, fingerprint: str) -> str | None:
        """Walks every certificate registration (from the log)."""
        registered = self._exchange.recorder.select_notifications(
            start=1, limit=1_000_000, topics=[Agency.CertificateRegistered.TOPIC]
        )
        for notification in registered:
            event: Agency.CertificateRegistered = self._exchange.mapper.to_domain_event(  # type: ignore[assignment]
                notification
            )
            if event.fingerprint == fingerprint:
                agency: Agency = self._exchange.repository.get(event.originator_id)
                return agency.code
        return None

    def members(self, tier: Tier, under: str) -> list[DirectoryEntry]:
        """Walks every registered agency (from the log) to find the subtree."""
        registered = self._exchange.recorder.select_notifications(
            start=1, limit=1_000_000, topics=[Agency.Registered.TOPIC]
        )
        everyone = self.lookup(
            self._exchange.mapper.to_domain_event(n).code  # type: ignore[attr-defined]
            for n in registered
        )
        inside, frontier = {under}, [under]
        while frontier:
            parent = frontier.pop()
            for entry in everyone.values():
                if entry.parent == parent and entry.code not in inside:
                    inside.add(entry.code)
                    frontier.append(entry.code)
        return [e for c, e in sorted(everyone.items()) if c in inside and e.tier is tier]
