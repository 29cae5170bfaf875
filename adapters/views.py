"""SQL read models (views) of the exchange and the queries that read them."""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from domain.document import CLOSED

metadata = sa.MetaData()

# Bump when a view table changes shape: views of another version are dropped and rebuilt.
SCHEMA_VERSION = 9

meta = sa.Table(
    "view_meta",
    metadata,
    sa.Column("key", sa.String(32), primary_key=True),
    sa.Column("value", sa.String(64), nullable=False),
)

tracking = sa.Table(
    "view_tracking",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

agencies = sa.Table(
    "view_agencies",
    metadata,
    sa.Column("code", sa.String(16), primary_key=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("folded_name", sa.Text, nullable=False, index=True),
    sa.Column("tier", sa.String(16), nullable=False),
    sa.Column("parent", sa.String(16), index=True),
    sa.Column("remote", sa.Boolean, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("successor", sa.String(16)),
    sa.Column("ends_on", sa.String(10)),
    # A move scheduled for a later date, applied by the directory clock.
    sa.Column("pending_parent", sa.String(16)),
    sa.Column("pending_tier", sa.String(16)),
    sa.Column("pending_on", sa.String(10), index=True),
    sa.Column("signature_required", sa.Boolean, nullable=False),
)

certificates = sa.Table(
    "view_certificates",
    metadata,
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    sa.Column("agency", sa.String(16), nullable=False, index=True),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("not_before", sa.String(32), nullable=False),
    sa.Column("not_after", sa.String(32), nullable=False),
    sa.Column("pem", sa.Text, nullable=False),
    sa.Column("registered_at", sa.String(32), nullable=False),
    sa.Column("retired_at", sa.String(32)),
)

principals = sa.Table(
    "view_principals",
    metadata,
    sa.Column("token_sha256", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("subject", sa.Text, nullable=False, index=True),
)

documents = sa.Table(
    "view_documents",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False, unique=True),
    sa.Column("sender", sa.String(16), nullable=False),
    sa.Column("external_id", sa.Text, nullable=False),
    sa.Column("code_number", sa.Text, nullable=False),
    sa.Column("code_notation", sa.Text, nullable=False),
    sa.Column("document_type", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    # The subject as the auditors' search compares it (see fold).
    sa.Column("folded_subject", sa.Text, nullable=False),
    sa.Column("promulgated_on", sa.String(10), nullable=False),
    sa.Column("place", sa.Text),
    sa.Column("priority", sa.String(16), nullable=False),
    sa.Column("due_on", sa.String(10)),
    sa.Column("signer", sa.JSON),
    sa.Column("in_reply_to", sa.String(36)),
    sa.Column("attachments", sa.JSON, nullable=False),
    sa.Column("sent_at", sa.String(32), nullable=False),
    sa.Column("revoked_at", sa.String(32)),
    sa.Column("revoke_reason", sa.Text),
    # Documents from the axis: national_id, business_type, sender_name and the edXML extras.
    sa.Column("axis", sa.JSON),
    # The verified agency signature: signer, certificate, alg, value, signed_sha256, verified_at.
    sa.Column("signature", sa.JSON),
    sa.Index("ix_view_documents_sender_position", "sender", "position"),
    # The auditors' history search: by notation (newest first) and by time sent.
    sa.Index("ix_view_documents_code_notation_position", "code_notation", "position"),
    sa.Index("ix_view_documents_sent_at", "sent_at"),
)

recipients = sa.Table(
    "view_recipients",
    metadata,
    sa.Column("document_id", sa.String(36), primary_key=True),
    sa.Column("agency", sa.String(16), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("sender", sa.String(16), nullable=False),
    sa.Column("priority", sa.String(16), nullable=False),
    sa.Column("sent_at", sa.String(32), nullable=False),
    sa.Column("route", sa.String(8), nullable=False),
    sa.Column("addressed_as", sa.String(16)),
    # Who answers for the line: the recipient, or its successor after a merge (its inbox).
    sa.Column("holder", sa.String(16), nullable=False),
    # For on-time statistics: the recipient's tier and ancestors ("/A/B/") on the day of sending,
    # the document's due date, and the Vietnam days it was sent and closed (02, 06 or revoked).
    sa.Column("tier", sa.String(16)),
    sa.Column("ancestors", sa.Text, nullable=False),
    sa.Column("due_on", sa.String(10)),
    sa.Column("sent_on", sa.String(10), nullable=False),
    sa.Column("closed_on", sa.String(10)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("before_revocation", sa.String(16)),
    sa.Column("updated_at", sa.String(32), nullable=False),
    sa.Index("ix_view_recipients_holder_position", "holder", "position"),
    # The auditors' history search by recipient (a holder may differ after a merge).
    sa.Index("ix_view_recipients_agency_position", "agency", "position"),
    sa.Index("ix_view_recipients_sent_on", "sent_on"),
    # Open lines with a due date, for the overdue gauge (closed lines are most of the table).
    sa.Index(
        "ix_view_recipients_open_due",
        "due_on",
        sqlite_where=sa.text("status NOT IN ('02', '06', 'revoked') AND due_on IS NOT NULL"),
        postgresql_where=sa.text("status NOT IN ('02', '06', 'revoked') AND due_on IS NOT NULL"),
    ),
)

recipient_history = sa.Table(
    "view_recipient_history",
    metadata,
    sa.Column("position", sa.BigInteger, primary_key=True),
    sa.Column("agency", sa.String(16), primary_key=True),
    sa.Column("document_id", sa.String(36), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("note", sa.Text),
    sa.Column("by", sa.JSON),
    sa.Column("at", sa.String(32), nullable=False),
)


# What the axis bridge has to carry, item by item (a document's package, its revocation, a local
# recipient's report on a document from the axis), and where each stands.
axis_queue = sa.Table(
    "view_axis_queue",
    metadata,
    sa.Column("document_id", sa.String(36), primary_key=True),
    sa.Column("item", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("report", sa.JSON),
    # The document's edXML DocumentId on the axis (how statuses coming back find it).
    sa.Column("national_id", sa.Text, nullable=False, index=True),
    # The position of the event that queued the item (the queue's order) and of the last change.
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
    sa.Index("ix_view_axis_queue_state_position", "state", "position"),
)

# The combining diacritical marks (U+034F, the grapheme joiner, is not one): every accent of
# Vietnamese, removed in C; marks of other scripts are left to the slower general test.
_MARKS = re.compile("[\u0300-\u034e\u0350-\u036f]")


def folded(text: str) -> str:
    """The reference of `fold`: decomposes, drops every combining mark, casefolds."""
    bare = _MARKS.sub("", unicodedata.normalize("NFD", text)).replace("đ", "d").replace("Đ", "d")
    if not bare.isascii():
        bare = "".join(c for c in bare if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


# The marks of Vietnamese after decomposition: five tones, circumflex, breve and horn.
_VIETNAMESE_MARKS = "\u0300\u0301\u0303\u0309\u0323\u0302\u0306\u031b"


def fold(text: str) -> str:
    """Returns text as name search compares it: no accents, đ as d, casefolded, single spaces.
    Vietnamese (and ASCII) text takes the fast way: every character outside ASCII a mark of
    Vietnamese, dropped by one encode; anything else goes to `folded`."""
    bare = unicodedata.normalize("NFD", text).replace("đ", "d").replace("Đ", "d")
    plain = bare.encode("ascii", "ignore")
    if len(bare) - len(plain) != sum(map(bare.count, _VIETNAMESE_MARKS)):
        return folded(text)
    lowered = plain.decode().lower()
    # Printable ASCII has no whitespace but the space: single spaces inside are already so.
    if lowered.isprintable() and "  " not in lowered and " " not in (lowered[:1], lowered[-1:]):
        return lowered
    return " ".join(lowered.split())


def subtree(under: str) -> sa.CTE:
    """Returns the codes of an agency and of every agency below it, following `parent`."""
    top = sa.select(agencies.c.code).where(agencies.c.code == under).cte(recursive=True)
    return top.union(sa.select(agencies.c.code).where(agencies.c.parent == top.c.code))


VIEW_TABLES = (
    agencies,
    principals,
    certificates,
    documents,
    recipients,
    recipient_history,
    axis_queue,
)


# A pooled PostgreSQL connection used within this many seconds is taken as alive; one idle for
# longer is pinged before use (after a server restart, say).
IDLE_PING_SECONDS = 1.0
# SQLite reads the views through a memory map: an inbox page of a million-document store reads
# its pages from the OS cache without a system call each (about a third less CPU an answer).
_SQLITE_MMAP_BYTES = 1 << 30


def create_engine(url: str, sqlite_pragmas: Sequence[str] = ()) -> Engine:
    """Creates the views engine; SQLite views use WAL, relaxed sync (they can be rebuilt) and
    a memory map, then the pragmas given."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        pragmas = (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",
            f"PRAGMA mmap_size={_SQLITE_MMAP_BYTES}",
            *sqlite_pragmas,
        )

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            for pragma in pragmas:
                cursor.execute(pragma)
            cursor.close()

        return engine
    engine = sa.create_engine(url, pool_size=8, max_overflow=8)
    _ping_when_idle(engine, IDLE_PING_SECONDS)
    return engine


def _ping_when_idle(engine: Engine, seconds: float) -> None:
    """Pings a pooled connection before use only if it sat idle for longer than seconds.

    `pool_pre_ping` pings at every checkout: one more round trip for each of the writer's
    queries and each request's. A connection that fails in use anyway (the server restarted
    within the second) makes SQLAlchemy drop the whole pool; that call answers 503."""

    @sa.event.listens_for(engine, "checkin")
    def _idle(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since <= seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as e:
            # The pool discards the connection and checks out another (a new one if need be).
            raise sa.exc.DisconnectionError(str(e)) from e


def create_views(engine: Engine) -> None:
    """Creates the view tables, rebuilding them from scratch if their schema version changed."""
    metadata.create_all(engine)
    with engine.begin() as c:
        version = c.execute(sa.select(meta.c.value).where(meta.c.key == "schema")).scalar()
    if version == str(SCHEMA_VERSION):
        return
    metadata.drop_all(engine)
    metadata.create_all(engine)
    with engine.begin() as c:
        c.execute(meta.insert().values(key="schema", value=str(SCHEMA_VERSION)))
        c.execute(meta.insert().values(key="directory", value="0"))


@contextmanager
def bulk_load(engine: Engine) -> Iterator[None]:
    """Drops the views' secondary indexes for a rebuild and creates them again afterwards:
    building an index once over a full table is faster than keeping it sorted row by row."""
    indexes = [index for table in VIEW_TABLES for index in table.indexes]
    with engine.begin() as c:
        for index in indexes:
            index.drop(c, checkfirst=True)
    yield
    with engine.begin() as c:
        for index in indexes:
            index.create(c, checkfirst=True)


def drop_views(engine: Engine) -> None:
    """Drops every view table and the tracking table, for a rebuild."""
    metadata.drop_all(engine)


@dataclass(frozen=True)
class Page:
    """One page of a keyset-paginated list."""

    items: list[dict[str, Any]]
    next_position: int | None


class Views:
    """Read queries over the views."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def principal(self, token_sha256: str) -> tuple[str, str, str | None] | None:
        """Returns the kind and subject of the principal holding the token with this hash, and
        for an agency the day it was merged or retired (None if it was not)."""
        query = (
            sa.select(principals.c.kind, principals.c.subject, agencies.c.ends_on)
            .outerjoin(
                agencies,
                (principals.c.kind == "agency") & (agencies.c.code == principals.c.subject),
            )
            .where(principals.c.token_sha256 == token_sha256)
        )
        with self.engine.connect() as c:
            row = c.execute(query).first()
        return (row.kind, row.subject, row.ends_on) if row else None

    def agency(self, code: str) -> dict[str, Any] | None:
        """Returns one agency of the directory."""
        with self.engine.connect() as c:
            row = c.execute(sa.select(agencies).where(agencies.c.code == code)).first()
        return dict(row._mapping) if row else None

    def certificates(self, code: str) -> list[dict[str, Any]]:
        """Lists an agency's signing certificates, retired ones too, oldest first."""
        query = (
            sa.select(certificates)
            .where(certificates.c.agency == code)
            .order_by(certificates.c.registered_at, certificates.c.fingerprint)
        )
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(query)]

    def certificate(self, fingerprint: str) -> dict[str, Any] | None:
        """Returns one signing certificate by its fingerprint."""
        query = sa.select(certificates).where(certificates.c.fingerprint == fingerprint)
        with self.engine.connect() as c:
            row = c.execute(query).first()
        return dict(row._mapping) if row else None

    def agencies(
        self,
        *,
        tier: str | None = None,
        parent: str | None = None,
        under: str | None = None,
        q: str | None = None,
        after: str | None = None,
        remote: bool | None = None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """Lists agencies in code order after a code: of a tier, children of a parent, anywhere
        below `under`, with every word of `q` in their name (accents and case aside), only the
        remote or only the local ones."""
        query = sa.select(agencies).order_by(agencies.c.code).limit(limit)
        if remote is not None:
            query = query.where(agencies.c.remote == remote)
        if tier:
            query = query.where(agencies.c.tier == tier)
        if parent:
            query = query.where(agencies.c.parent == parent)
        if under:
            below = sa.select(subtree(under).c.code)
            query = query.where(agencies.c.code.in_(below), agencies.c.code != under)
        for word in fold(q or "").split():
            query = query.where(agencies.c.folded_name.contains(word, autoescape=True))
        if after:
            query = query.where(agencies.c.code > after)
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(query)]

    def document(self, document_id: str) -> dict[str, Any] | None:
        """Returns a document with each recipient's line and status history."""
        found = self.documents([document_id])
        return found[0] if found else None

    def documents(self, ids: list[str]) -> list[dict[str, Any]]:
        """Returns the documents with these ids (those that exist, in position order), each
        with its recipients' lines and status history."""
        with self.engine.connect() as c:
            rows = c.execute(
                sa.select(documents).where(documents.c.id.in_(ids)).order_by(documents.c.position)
            ).all()
            lines = c.execute(
                sa.select(recipients)
                .where(recipients.c.document_id.in_(ids))
                .order_by(recipients.c.document_id, recipients.c.agency)
            ).all()
            history = c.execute(
                sa.select(recipient_history)
                .where(recipient_history.c.document_id.in_(ids))
                .order_by(recipient_history.c.position, recipient_history.c.agency)
            ).all()
        found = {row.id: dict(row._mapping) | {"recipients": []} for row in rows}
        # A recipient's history starts with its state at sending, which the view derives
        # instead of storing a row for every recipient of every document.
        for r in lines:
            first = {"status": _FIRST[r.route], "note": None, "by": None, "at": r.sent_at}
            found[r.document_id]["recipients"].append(dict(r._mapping) | {"history": [first]})
        by_line = {
            (r["document_id"], r["agency"]): r for d in found.values() for r in d["recipients"]
        }
        for h in history:
            by_line[h.document_id, h.agency]["history"].append(
                {"status": h.status, "note": h.note, "by": h.by, "at": h.at}
            )
        return list(found.values())

    def axis_items(self, state: str | None, after: int | None, limit: int) -> Page:
        """Returns axis items in the order they were queued (one item per event, so the
        queuing event's position is the cursor), optionally in one state."""
        query = sa.select(axis_queue)
        if state is not None:
            query = query.where(axis_queue.c.state == state)
        if after is not None:
            query = query.where(axis_queue.c.position > after)
        query = query.order_by(axis_queue.c.position).limit(limit + 1)
        with self.engine.connect() as c:
            rows = [dict(r._mapping) for r in c.execute(query)]
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, rows[-1]["position"] if more else None)

    def axis_item(self, document_id: str, item: str) -> dict[str, Any] | None:
        """Returns one axis item."""
        query = sa.select(axis_queue).where(
            (axis_queue.c.document_id == document_id) & (axis_queue.c.item == item)
        )
        with self.engine.connect() as c:
            row = c.execute(query).first()
        return dict(row._mapping) if row else None

    def directory_version(self) -> str | None:
        """The position of the last directory event the views hold (changes with the directory)."""
        query = sa.select(meta.c.value).where(meta.c.key == "directory")
        with self.engine.connect() as c:
            return c.execute(query).scalar()

    def axis_document(self, national_id: str) -> str | None:
        """Returns the id of the local document whose package goes out with a national id (the
        first one sent, should two documents share one)."""
        query = (
            sa.select(axis_queue.c.document_id)
            .where((axis_queue.c.national_id == national_id) & (axis_queue.c.item == "document"))
            .order_by(axis_queue.c.position)
            .limit(1)
        )
        with self.engine.connect() as c:
            return c.execute(query).scalar()

    def axis_depth(self) -> dict[str, int]:
        """Counts axis items by state."""
        query = sa.select(axis_queue.c.state, sa.func.count()).group_by(axis_queue.c.state)
        with self.engine.connect() as c:
            return {row[0]: row[1] for row in c.execute(query).all()}

    def due_moves(self, today: str) -> list[str]:
        """Codes of agencies whose scheduled move is due."""
        query = sa.select(agencies.c.code).where(agencies.c.pending_on <= today)
        with self.engine.connect() as c:
            return list(c.execute(query).scalars())

    def lines_to_hand_over(self, today: str, after: str, limit: int) -> list[str]:
        """Ids (after a given one, in order) of documents with an open line held by an agency
        merged as of today."""
        merged = sa.select(agencies.c.code).where(
            agencies.c.successor.is_not(None), agencies.c.ends_on <= today
        )
        with self.engine.connect() as c:
            # The merged agencies first: joined in one query, the planner walks every line in
            # document order (seconds at a million documents, at every clock tick).
            holders = list(c.execute(merged).scalars())
            if not holders:
                return []
            query = (
                sa.select(recipients.c.document_id)
                .where(
                    recipients.c.holder.in_(holders),
                    recipients.c.status.not_in(CLOSED),
                    recipients.c.document_id > after,
                )
                .distinct()
                .order_by(recipients.c.document_id)
                .limit(limit)
            )
            return list(c.execute(query).scalars())

    def stats(
        self, *, root: str | None, tier: str | None, since: str, until: str, today: str
    ) -> list[dict[str, Any]]:
        """On-time figures per recipient agency for documents sent between two Vietnam days
        (inclusive): of root and its subtree as it was when each was sent (all when None)."""
        r = recipients

        def count(condition: Any) -> Any:
            return sa.func.sum(sa.case((condition, 1), else_=0))

        undue = r.c.due_on.is_(None)
        done, unfinished = r.c.status == "06", r.c.status.not_in(CLOSED)
        query = (
            sa.select(
                r.c.agency.label("code"),
                agencies.c.name,
                agencies.c.tier,
                sa.func.count().label("received"),
                count(done & (undue | (r.c.closed_on <= r.c.due_on))).label("completed_on_time"),
                count(done & (r.c.closed_on > r.c.due_on)).label("completed_late"),
                count(r.c.status == "02").label("refused"),
                count(r.c.status == "revoked").label("revoked"),
                count(unfinished & (undue | (r.c.due_on >= today))).label("open"),
                count(unfinished & (r.c.due_on < today)).label("open_overdue"),
            )
            .join(agencies, agencies.c.code == r.c.agency)
            .where(r.c.sent_on >= since, r.c.sent_on <= until)
            .group_by(r.c.agency, agencies.c.name, agencies.c.tier)
            .order_by(r.c.agency)
        )
        if root is not None:
            query = query.where((r.c.agency == root) | r.c.ancestors.contains(f"/{root}/"))
        if tier is not None:
            query = query.where(r.c.tier == tier)
        with self.engine.connect() as c:
            return [
                {k: int(v) if isinstance(v, Decimal) else v for k, v in row._mapping.items()}
                for row in c.execute(query)
            ]

    def overdue(self, today: str) -> dict[str, int]:
        """Open lines past their due date, by the agency that holds them."""
        r = recipients
        query = (
            sa.select(r.c.holder, sa.func.count())
            .where(
                sa.text("status NOT IN ('02', '06', 'revoked') AND due_on IS NOT NULL"),
                r.c.due_on < today,
            )
            .group_by(r.c.holder)
        )
        with self.engine.connect() as c:
            return {holder: int(n) for holder, n in c.execute(query)}

    def ancestors(self, code: str) -> list[str] | None:
        """The agencies above one today, nearest first; None for an unknown code."""
        chain: list[str] = []
        with self.engine.connect() as c:
            current: str | None = code
            while current is not None and current not in chain:
                row = c.execute(sa.select(agencies.c.parent).where(agencies.c.code == current))
                found = row.first()
                if found is None:
                    return None if current == code else chain
                if current != code:
                    chain.append(current)
                current = found.parent
        return chain

    def inbox(self, agency: str, filters: dict[str, str], before: int | None, limit: int) -> Page:
        """Lists documents addressed to an agency, newest first."""
        sql, params = inbox_sql(agency, filters, before, limit)
        with self.engine.connect() as c:
            rows = _fetch(c, sql, params)
        return _page(rows, limit)

    def outbox(self, sender: str, before: int | None, limit: int) -> Page:
        """Lists documents an agency sent, newest first, with each recipient's status."""
        d = documents
        return self._listing([_newest(d, d.c.position, before, limit, d.c.sender == sender)], limit)

    def search(self, filters: dict[str, str], before: int | None, limit: int) -> Page:
        """Lists documents ever sent, newest first, with each recipient's status: of an agency
        (the sender, a recipient or the holder of a line), sent in [since, until), of a code
        notation, with every word of q in the subject (accents and case aside)."""
        d, r = documents, recipients
        conditions: list[Any] = []
        if "since" in filters:
            conditions.append(d.c.sent_at >= filters["since"])
        if "until" in filters:
            conditions.append(d.c.sent_at < filters["until"])
        if "code_notation" in filters:
            conditions.append(d.c.code_notation == filters["code_notation"])
        for word in fold(filters.get("q", "")).split():
            conditions.append(d.c.folded_subject.contains(word, autoescape=True))
        if "agency" not in filters:
            return self._listing([_newest(d, d.c.position, before, limit, *conditions)], limit)
        # One query per index (sender, recipient, holder), each walking it newest first and
        # stopping after a page: the page is the newest of their union. (One query with OR
        # would list every document of a large agency for each page.)
        code, lines = filters["agency"], r.join(d, d.c.id == r.c.document_id)
        queries = [
            _newest(d, d.c.position, before, limit, d.c.sender == code, *conditions),
            _newest(lines, r.c.position, before, limit, r.c.agency == code, *conditions),
            # Its lines and those handed over to it (a successor may hold two of a document).
            _newest(lines, r.c.position, before, limit, r.c.holder == code, *conditions).distinct(),
        ]
        return self._listing(queries, limit)

    def _listing(self, queries: list[Any], limit: int) -> Page:
        """The newest page of the documents the queries find, with their lines."""
        with self.engine.connect() as c:
            found: dict[str, dict[str, Any]] = {}
            for query in queries:
                for row in c.execute(query):
                    found.setdefault(row.id, dict(row._mapping))
            newest = sorted(found.values(), key=lambda row: row["position"], reverse=True)
            page = _page(newest[: limit + 1], limit)
            ids = [row["id"] for row in page.items]
            lines = (
                c.execute(
                    sa.select(
                        recipients.c.document_id,
                        recipients.c.agency,
                        recipients.c.addressed_as,
                        recipients.c.holder,
                        recipients.c.status,
                    )
                    .where(recipients.c.document_id.in_(ids))
                    .order_by(recipients.c.agency)
                ).all()
                if ids
                else []
            )
        by_document: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        for line in lines:
            by_document[line.document_id].append(dict(line._mapping))
        for item in page.items:
            item["recipients"] = by_document[item["id"]]
        return page


_FIRST = {"local": "delivered", "axis": "queued"}


def _newest(source: Any, position: Any, before: int | None, limit: int, *conditions: Any) -> Any:
    """Selects a page and one more of documents meeting conditions, newest first by a
    position column (of the documents, or of their lines), below a cursor if given."""
    d = documents
    query = (
        sa.select(
            d.c.id,
            d.c.sender,
            d.c.subject,
            d.c.code_number,
            d.c.code_notation,
            d.c.priority,
            d.c.sent_at,
            d.c.due_on,
            d.c.revoked_at,
            position.label("position"),
        )
        .select_from(source)
        .where(*conditions)
        .order_by(position.desc())
        .limit(limit + 1)
    )
    return query if before is None else query.where(position < before)


def _progress(line: str) -> str:
    """SQL ranking a line's status by how much work it still needs (least progress first)."""
    return (
        f"CASE {line}.status WHEN '13' THEN 0 WHEN 'queued' THEN 1 WHEN 'delivered' THEN 1 "
        f"WHEN '01' THEN 2 WHEN '03' THEN 3 WHEN '04' THEN 4 WHEN '05' THEN 5 ELSE 6 END"
    )


# An agency that took over a merged agency's line may hold two lines of one document; its inbox
# shows the document once, by the line that needs the most work (a report reaches both).
# (`o.holder || ''` keeps SQLite's planner on the primary key, a document's few lines, instead of
# the holder index, all of the agency's lines.)
_ONE_LINE_PER_DOCUMENT = (
    "NOT EXISTS (SELECT 1 FROM view_recipients o WHERE o.document_id = r.document_id "
    f"AND o.holder || '' = r.holder AND o.agency <> r.agency "
    f"AND ({_progress('o')} < {_progress('r')} "
    f"OR ({_progress('o')} = {_progress('r')} AND o.agency < r.agency)))"
)


def inbox_sql(
    agency: str, filters: dict[str, str], before: int | None, limit: int
) -> tuple[str, list[Any]]:
    """The inbox query, written with ? marks: the hottest read runs as plain SQL on the driver,
    a few times faster than building and processing it through SQLAlchemy Core."""
    where: list[str] = ["r.holder = ?", _ONE_LINE_PER_DOCUMENT]
    params: list[Any] = [agency]
    for condition, value in (
        ("r.position < ?", before),
        ("r.status = ?", filters.get("status")),
        ("r.priority = ?", filters.get("priority")),
        ("r.sender = ?", filters.get("from")),
        ("r.sent_at >= ?", filters.get("since")),
        ("r.sent_at < ?", filters.get("until")),
    ):
        if value is not None:
            where.append(condition)
            params.append(value)
    sql = (
        "SELECT d.id, d.sender, d.subject, d.code_number, d.code_notation, d.priority, "
        "d.sent_at, d.due_on, r.status, r.position "
        "FROM view_recipients r JOIN view_documents d ON d.id = r.document_id "
        f"WHERE {' AND '.join(where)} ORDER BY r.position DESC LIMIT ?"
    )
    return sql, [*params, limit + 1]


def _fetch(c: Connection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    """Runs SQL written with ? marks on the driver and returns the rows as dicts."""
    if c.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    cursor = c.exec_driver_sql(sql, tuple(params)).cursor
    assert cursor is not None
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _page(rows: list[dict[str, Any]], limit: int) -> Page:
    if len(rows) > limit:
        return Page(rows[:limit], rows[limit - 1]["position"])
    return Page(rows, None)
