"""The directory port over the agencies view, cached in memory between directory changes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adapters.sql import run
from adapters.views import agencies, certificates, meta, subtree
from domain.codes import AgencyStatus, Tier
from domain.directory import DirectoryEntry

_ENTRY = (
    agencies.c.code,
    agencies.c.tier,
    agencies.c.parent,
    agencies.c.remote,
    agencies.c.status,
    agencies.c.successor,
    agencies.c.ends_on,
    agencies.c.signature_required,
)
_BY_CODES = sa.select(*_ENTRY).where(agencies.c.code.in_(sa.bindparam("codes", expanding=True)))


def _entry(row: Any) -> DirectoryEntry:
    return DirectoryEntry(
        row.code,
        Tier(row.tier),
        row.parent,
        row.remote,
        AgencyStatus(row.status),
        row.successor,
        row.ends_on,
        row.signature_required,
    )


class SqlDirectory:
    """Answers lookups from memory; `refresh` drops the memory when the directory changed.

    The projection records the position of the last directory event it applied; comparing that
    one value once per commit batch keeps every router process sharing a database current.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._version: str | None = None
        self._entries: dict[str, DirectoryEntry] = {}

    def refresh(self) -> None:
        """Forgets what was cached if any directory event was projected since."""
        with self.engine.connect() as c:
            rows = run(c, f"SELECT value FROM {meta.name} WHERE key = 'directory'")
        version = rows[0][0] if rows else None
        if version != self._version:
            self._entries.clear()
            self._version = version

    def lookup(self, codes: Iterable[str]) -> dict[str, DirectoryEntry]:
        """Returns the entries of the known codes among those given."""
        wanted = set(codes)
        missing = [code for code in wanted if code not in self._entries]
        if missing:
            with self.engine.connect() as c:
                rows = c.execute(_BY_CODES, {"codes": missing}).all()
            # Only agencies that exist are kept: a code unknown now may be registered next.
            self._entries.update((r.code, _entry(r)) for r in rows)
        return {code: self._entries[code] for code in wanted if code in self._entries}

    def members(self, tier: Tier, under: str) -> list[DirectoryEntry]:
        """Returns the agencies of a tier in the subtree of an agency, itself included."""
        query = (
            sa.select(*_ENTRY)
            .where(
                agencies.c.code.in_(sa.select(subtree(under).c.code)),
                agencies.c.tier == tier.value,
            )
            .order_by(agencies.c.code)
        )
        with self.engine.connect() as c:
            return [_entry(r) for r in c.execute(query)]

    def certificate_owner(self, fingerprint: str) -> str | None:
        """Returns the code of the agency a signing certificate was registered to, if any."""
        query = sa.select(certificates.c.agency).where(certificates.c.fingerprint == fingerprint)
        with self.engine.connect() as c:
            owner: str | None = c.execute(query).scalar()
        return owner
