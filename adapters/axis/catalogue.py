"""The axis catalogue on the store: agencies registered by the systems that own them.

Each agency carries a change number (`seq`) taken afresh whenever it is created or changed, so a
system can sync the catalogue by asking for the changes after the last number it saw.
"""

from __future__ import annotations

from adapters.axis.errors import Refusal
from adapters.axis.mailbox import Signed
from adapters.axis.store import AxisStore
from adapters.axis.wire import CatalogueBatch, CatalogueItem, Registered

_COLUMNS = "code, name, tier, system, seq"


def register(store: AxisStore, signed: Signed, system: str, batch: CatalogueBatch) -> Registered:
    """Creates or renames the system's agencies in one transaction; refuses (409) the whole batch
    if another system owns one of the codes."""
    created = changed = unchanged = 0
    with store.transaction(*signed) as db:
        (seq,) = db.execute("SELECT coalesce(max(seq), 0) FROM catalogue").fetchone()
        for entry in {e.code: e for e in batch.agencies}.values():
            row = db.execute(
                "SELECT name, tier, system FROM catalogue WHERE code = ?", (entry.code,)
            ).fetchone()
            if row is not None and row[2] != system:
                raise Refusal(
                    409, "owned_elsewhere", f"agency {entry.code} belongs to another system"
                )
            if row is not None and (row[0], row[1]) == (entry.name, entry.tier):
                unchanged += 1
                continue
            seq += 1
            db.execute(
                "INSERT INTO catalogue (code, name, tier, system, seq) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (code) DO UPDATE SET name = excluded.name, tier = excluded.tier, "
                "seq = excluded.seq",
                (entry.code, entry.name, entry.tier, system, seq),
            )
            created, changed = (created + 1, changed) if row is None else (created, changed + 1)
    return Registered(created, changed, unchanged)


def page(store: AxisStore, signed: Signed, after: str | None, limit: int) -> list[CatalogueItem]:
    """Returns up to `limit` agencies by code, after the code `after`."""
    with store.transaction(*signed) as db:
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM catalogue WHERE code > ? ORDER BY code LIMIT ?",
            (after or "", limit),
        ).fetchall()
    return [CatalogueItem(*row) for row in rows]


def changes(store: AxisStore, signed: Signed, since: int, limit: int) -> list[CatalogueItem]:
    """Returns up to `limit` agencies created or changed after change number `since`."""
    with store.transaction(*signed) as db:
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM catalogue WHERE seq > ? ORDER BY seq LIMIT ?",
            (since, limit),
        ).fetchall()
    return [CatalogueItem(*row) for row in rows]
