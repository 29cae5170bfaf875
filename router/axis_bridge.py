"""The bridge to the national axis: forwards what the queue holds, polls what waits for the
province's agencies, and keeps the axis catalogue in step with the directory.

Exactly one router process bridges at a time (a PostgreSQL advisory lock, or a lock file beside
a SQLite store), taken over by another process when its holder dies. Every decision is an
event committed before the axis hears of it (attempts, parking) or before the axis is told that
a delivery is safe (a package or status is acknowledged only after its commit).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Coroutine, Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
import psycopg
from aiohttp import web

from adapters.axis.client import AxisClient
from adapters.axis.errors import AxisError, AxisPermanent, AxisTransient
from adapters.axis.wire import CatalogueEntry
from adapters.edxml.mapping import (
    ApiAttachment,
    answered,
    document_from_package,
    package_from_document,
    stored_document,
)
from adapters.edxml.model import EdxmlError, Organization, Package, StaffInfo, StatusMessage
from adapters.edxml.package import build_package, parse_package
from adapters.edxml.status import build_status, parse_status
from adapters.eventstore import unavailable
from domain.commands import Attachment, ReceiveFromAxis, RecordAxisAttempt, ReportStatus
from domain.document import AXIS_DOCUMENT, AXIS_REVOKE, AXIS_STATUS
from domain.errors import Conflict, DomainError, NotFound
from router.config import Config
from router.services import SERVICES, Services

log = logging.getLogger(__name__)

_BRIDGE_LOCK = 0x6C74617869730001  # "ltaxis" + 1: one bridge per database
BUSINESS_REVOKE = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The longest wait between two attempts of an item: a minute keeps a province close behind an
# axis that comes back, at a few calls a minute per waiting item.
MAX_BACKOFF_SECONDS = 60.0
# How many documents the bridge works on at once, and how many queued items one round looks at.
CONCURRENCY = 8
FORWARD_BATCH = 500
_KNOWN_CODES = frozenset({"unknown_recipient", "bad_signature", "malformed", "not_owner"})


class Leadership:
    """Who bridges: the process holding a PostgreSQL advisory lock (held by a connection, so
    it passes on when that process dies) or an exclusive lock on a file in the data directory."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._connection: psycopg.Connection[Any] | None = None
        self._fd: int | None = None

    def hold(self) -> bool:
        """Takes the lock if free (or checks it is still held); never waits."""
        if self.config.database_url:
            return self._hold_advisory(self.config.database_url)
        assert self.config.data_dir is not None
        if self._fd is None:
            fd = os.open(self.config.data_dir / "axis-bridge.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            self._fd = fd
        return True

    def _hold_advisory(self, url: str) -> bool:
        try:
            if self._connection is not None:
                self._connection.execute("SELECT 1")
                return True
            connection = psycopg.connect(url, autocommit=True, connect_timeout=5)
            row = connection.execute("SELECT pg_try_advisory_lock(%s)", (_BRIDGE_LOCK,)).fetchone()
            if not (row and row[0]):
                connection.close()
                return False
            self._connection = connection
            return True
        except psycopg.Error:
            self.release()
            return False

    def release(self) -> None:
        """Lets another process bridge."""
        if self._connection is not None:
            with contextlib.suppress(psycopg.Error):
                self._connection.close()
            self._connection = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def backoff(attempts: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait after a number of failed attempts: doubling from base up to cap, with
    full jitter (a uniform draw up to the delay, so retries of many items spread out)."""
    if attempts <= 0:
        return 0.0
    return rng.uniform(0, min(cap, base * 2 ** (attempts - 1)))


class AxisBridge:
    """One router process's side of the axis: forwarding, polling and the catalogue."""

    def __init__(self, services: Services, client: AxisClient) -> None:
        self.services = services
        self.config = services.config
        self.client = client
        self.leadership = Leadership(self.config)
        self.wake = asyncio.Event()
        self._rng = random.Random()  # noqa: S311 (jitter of retries, not a secret)
        self._not_before: dict[tuple[str, str], float] = {}
        self._announced: str | None = None
        self._last_poll = 0.0

    async def run(self) -> None:
        """Bridges while this process holds the lead; wakes for new items or every second."""
        while True:
            try:
                if await self.services.call(self.leadership.hold):
                    await self.cycle()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # one failed cycle must not stop the bridge
                if isinstance(e, AxisError) or unavailable(e) is not None:
                    log.warning("axis bridge cycle failed: %s", e)
                else:
                    log.exception("axis bridge cycle failed")
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), min(1.0, self.config.axis_poll_interval))

    async def cycle(self) -> None:
        """One round: announce the directory if it changed, forward what is due, poll when due."""
        await self.announce()
        await self.forward()
        if time.monotonic() - self._last_poll >= self.config.axis_poll_interval:
            await self.poll()
            self._last_poll = time.monotonic()
            self.services.metrics.axis_last_contact.set(time.time())

    # The catalogue

    async def announce(self) -> None:
        """Registers every local agency in the axis catalogue when the directory changed."""
        views = self.services.views
        version = await self.services.call(views.directory_version)
        if version == self._announced:
            return
        entries = [CatalogueEntry(r["code"], r["name"], r["tier"]) for r in await self._local()]
        for start in range(0, len(entries), 1000):
            await self.client.register_agencies(entries[start : start + 1000])
        self._announced = version

    async def _local(self) -> list[dict[str, Any]]:
        """The province's own agencies (not those reached over the axis)."""
        views = self.services.views
        rows: list[dict[str, Any]] = await self.services.call(
            lambda: views.agencies(remote=False, limit=1_000_000)
        )
        return rows

    # Forwarding

    async def forward(self) -> None:
        """Carries the oldest queued items whose backoff has passed, several documents at a
        time. A document's items leave in the order they were queued: while one waits, the
        later ones wait too (a recipient's 06 must not reach the sender before its 03)."""
        views = self.services.views
        page = await self.services.call(views.axis_items, "queued", None, FORWARD_BATCH)
        chains: dict[str, list[dict[str, Any]]] = {}
        for row in page.items:
            chains.setdefault(row["document_id"], []).append(row)
        await self._concurrently(self._carry_in_order(rows) for rows in chains.values())

    async def _carry_in_order(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            due = self._not_before.get((row["document_id"], row["item"]), 0.0)
            if due > time.monotonic() or not await self._carry(row):
                return

    async def _concurrently(self, calls: Iterable[Coroutine[Any, Any, None]]) -> None:
        """Runs calls, a few at a time; a transient axis failure costs only its own call, any
        other error is raised once every call has ended."""
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(call: Coroutine[Any, Any, None]) -> None:
            async with limit:
                await self._transiently(call)

        results = await asyncio.gather(*(one(c) for c in calls), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _carry(self, row: dict[str, Any]) -> bool:
        """Tries to carry one item; True when the axis has it."""
        key = (row["document_id"], row["item"])
        metrics = self.services.metrics
        if row["kind"] == AXIS_DOCUMENT:
            owner = await self.services.call(self.services.views.axis_document, row["national_id"])
            if owner != row["document_id"]:
                # The axis knows a document by its DocumentId (sender, date, number and
                # notation): it would take this one for a resend of the other and drop it.
                reason = f"document {owner} already went out as {row['national_id']}"
                await self._attempted(row, ok=False, reason=reason, permanent=True)
                metrics.axis_failures.labels("duplicate_number").inc()
                return False
        try:
            if row["kind"] == AXIS_STATUS:
                await self.client.send_status(await self.services.call(self._status_bytes, row))
            else:
                await self.client.send_package(await self.services.call(self._package_bytes, row))
        except AxisTransient as e:
            await self._attempted(row, ok=False, reason=e.reason, permanent=False)
            self._not_before[key] = time.monotonic() + backoff(
                row["attempts"] + 1,
                self.config.axis_backoff_seconds,
                MAX_BACKOFF_SECONDS,
                self._rng,
            )
            metrics.axis_failures.labels("transient").inc()
            return False
        except AxisPermanent as e:
            await self._attempted(row, ok=False, reason=f"{e.code}: {e.reason}", permanent=True)
            metrics.axis_failures.labels(e.code if e.code in _KNOWN_CODES else "refused").inc()
            return False
        except EdxmlError as e:
            await self._attempted(row, ok=False, reason=f"edxml: {e}", permanent=True)
            metrics.axis_failures.labels("edxml").inc()
            return False
        await self._attempted(row, ok=True, reason=None, permanent=False)
        self._not_before.pop(key, None)
        return True

    async def _attempted(
        self, row: dict[str, Any], *, ok: bool, reason: str | None, permanent: bool
    ) -> None:
        queued_at = datetime.fromisoformat(row["created_at"]).timestamp()
        overdue = time.time() - queued_at > self.config.axis_retry_deadline
        limit = 1 if overdue and not ok else self.config.axis_max_attempts
        self.services.metrics.axis_attempts.labels(row["kind"], "ok" if ok else "failed").inc()
        await self.services.writer.execute(
            RecordAxisAttempt(
                UUID(row["document_id"]), row["item"], ok, reason, permanent, max_attempts=limit
            )
        )

    def _package_bytes(self, row: dict[str, Any]) -> bytes:
        """The edXML package of a local document (or of its revocation), signed by the router."""
        document = self.services.views.document(row["document_id"])
        assert document is not None
        revoking = row["item"] == AXIS_REVOKE
        attachments = (
            []
            if revoking
            else [
                ApiAttachment(a["name"], a["content_type"], self._blob(a["sha256"]))
                for a in document["attachments"]
            ]
        )
        to = [r["agency"] for r in document["recipients"] if r["route"] == "axis"]
        api = stored_document(document, to, attachments)
        replied = document["in_reply_to"] and self.services.views.document(document["in_reply_to"])
        package = package_from_document(
            api,
            document_id=row["national_id"],
            names=self._names([api.sender, *api.to]),
            response_for=[answered(replied)] if replied else [],
            sent_at=datetime.fromisoformat(document["sent_at"]),
        )
        if revoking:
            package = msgspec.structs.replace(
                package,
                business_type=BUSINESS_REVOKE,
                business_reason=document["revoke_reason"] or "",
                business_affected=list(api.to),
            )
        return build_package(package, *(self.services.xml_signer or ()))

    def _status_bytes(self, row: dict[str, Any]) -> bytes:
        """The edXML Status message of a local recipient's report on a document from the axis."""
        report = row["report"]
        agency = report["agency"]
        by = report.get("by") or None
        message = StatusMessage(
            sender=Organization(agency, self._names([agency]).get(agency, "")),
            document_id=row["national_id"],
            status=report["status"],
            at=datetime.fromisoformat(report["at"]),
            note=report.get("note"),
            by=StaffInfo(by["name"], by.get("department") or "") if by else None,
        )
        return build_status(message, *(self.services.xml_signer or ()))

    def _blob(self, digest: str) -> bytes:
        return b"".join(self.services.blobs.chunks(digest))

    def _names(self, codes: list[str]) -> dict[str, str]:
        return {
            code: row["name"]
            for code in codes
            if (row := self.services.views.agency(code)) is not None
        }

    # Polling

    async def poll(self) -> None:
        """Takes in what waits on the axis for each local agency: packages, then statuses. A
        failed call costs only its own item (or agency): the rest of the round goes on, and
        what was not acknowledged is offered again at the next round."""
        started = time.monotonic()
        for code in [r["code"] for r in await self._local()]:
            try:
                packages = await self.client.pending_packages(code)
            except AxisTransient as e:
                log.info("axis: listing packages for %s failed: %s", code, e.reason)
                packages = []
            await self._concurrently(self._take_package(code, p.id) for p in packages)
            await self._transiently(self._take_statuses(code))
        self.services.metrics.axis_poll_seconds.observe(time.monotonic() - started)

    async def _transiently(self, call: Awaitable[None]) -> None:
        try:
            await call
        except AxisTransient as e:
            self.services.metrics.axis_failures.labels("transient").inc()
            log.info("axis call failed, to be tried again: %s", e.reason)

    async def _take_statuses(self, agency: str) -> None:
        """Records the statuses waiting for an agency, each document's in the order they were
        made; a document whose statuses could not all be fetched waits for the next round, so
        a later status never overtakes an earlier one."""
        by_document: dict[str, list[str]] = {}
        for pending in await self.client.pending_statuses(agency):
            by_document.setdefault(pending.document_id, []).append(pending.id)
        await self._concurrently(
            self._take_document_statuses(agency, list(dict.fromkeys(ids)))
            for ids in by_document.values()
        )

    async def _take_document_statuses(self, agency: str, ids: list[str]) -> None:
        fetched = [(i, await self.client.fetch_status(i)) for i in ids]
        read = [(i, await self.services.call(self._read_status, data)) for i, data in fetched]
        # edXML times are whole seconds: within one, the codes' own order (01 < 03 < 06).
        read.sort(key=_made)
        for status_id, message in read:
            await self._take_status(agency, status_id, message)

    async def _take_package(self, agency: str, package_id: str) -> None:
        data = await self.client.fetch_package(package_id)
        try:
            command, made = await self.services.call(self._receive_command, data)
        except EdxmlError as e:
            await self._refuse_package(package_id, agency, str(e))
            return
        try:
            await self.services.writer.execute(command)
        except NotFound as e:
            # A revocation listed before the document it revokes: left on the axis for the
            # next round (the document comes first then), for an hour at most.
            if command.business_type != BUSINESS_REVOKE or _stale(made):
                await self._refuse_package(package_id, agency, e.detail)
            return
        except DomainError as e:
            await self._refuse_package(package_id, agency, e.detail)
            return
        await self.client.ack_package(package_id, agency, "done")
        self.services.metrics.axis_received.labels("package").inc()

    async def _refuse_package(self, package_id: str, agency: str, reason: str) -> None:
        """Refused for good: tells the axis why; nothing was recorded."""
        await self.client.ack_package(package_id, agency, "fail", reason[:2000])
        self.services.metrics.axis_failures.labels("refused_incoming").inc()

    def _receive_command(self, data: bytes) -> tuple[ReceiveFromAxis, datetime]:
        """The command that records a package, and when the package was sent (its last hop)."""
        package: Package = parse_package(data, self.services.trust.anchors)
        made = package.trace[-1].at if package.trace else datetime.now(UTC)
        api = document_from_package(package)
        attachments = []
        for a in package.attachments:
            digest, _ = self.services.blobs.put(a.data)
            attachments.append(Attachment(a.name, a.content_type, len(a.data), digest))
        check = package.signature
        command = ReceiveFromAxis(
            national_id=package.document_id,
            business_type=package.business_type,
            sender=package.sender.code,
            sender_name=package.sender.name or None,
            to=[o.code for o in package.to],
            code_number=api.code_number,
            code_notation=api.code_notation,
            document_type=api.document_type,
            subject=api.subject,
            promulgated_on=api.promulgated_on,
            place=api.place or None,
            priority=api.priority,
            due_on=api.due_on,
            signer={"name": api.signer.name, "position": api.signer.position}
            if api.signer
            else None,
            attachments=attachments,
            edxml={
                "business_reason": package.business_reason or None,
                "steering_type": package.steering_type,
                "priority": package.priority,
                "trace": [{"organ_id": t.organ_id, "at": t.at.isoformat()} for t in package.trace],
                "signature": {
                    "present": check.present,
                    "verified": check.verified,
                    "reason": check.reason,
                    "signer": check.signer_subject,
                },
            },
            content_sha256=hashlib.sha256(data).hexdigest(),
        )
        return command, made

    def _read_status(self, data: bytes) -> StatusMessage | EdxmlError:
        try:
            return parse_status(data, self.services.trust.anchors)
        except EdxmlError as e:
            return e

    async def _take_status(
        self, agency: str, status_id: str, message: StatusMessage | EdxmlError
    ) -> None:
        views, writer = self.services.views, self.services.writer
        document: str | None = None
        if isinstance(message, StatusMessage):
            document = await self.services.call(views.axis_document, message.document_id)
            if document is None:
                message = EdxmlError(f"no document {message.document_id!r} went out from here")
        if isinstance(message, EdxmlError) or document is None:
            await self.client.ack_status(status_id, agency, "fail", str(message)[:2000])
            self.services.metrics.axis_failures.labels("refused_incoming").inc()
            return
        by = {"name": message.by.name} if message.by else None
        if by is not None and message.by is not None and message.by.department:
            by["department"] = message.by.department
        report = ReportStatus(UUID(document), message.sender.code, message.status, message.note, by)
        try:
            try:
                await writer.execute(report)
            except Conflict:
                # The package reached the axis though its answer was lost on the way back (the
                # item still waits for a retry): the status proves it; record that, then it.
                confirmed = RecordAxisAttempt(
                    UUID(document), AXIS_DOCUMENT, ok=True, reason="a status about it came back"
                )
                if not (await writer.execute(confirmed)).recorded:
                    raise
                await writer.execute(report)
        except Conflict as e:
            state = await self.services.call(self._line_state, document, message.sender.code)
            if _ahead(message.status, state) and not _stale(message.at):
                # An earlier status has not come yet (the axis lists a part of what waits, in
                # any order): leave this one on the axis, to be offered again after it.
                log.info("status %s (%s) waits for an earlier one", status_id, message.status)
                return
            if _behind(message.status, state):
                # A duplicate of a status already recorded: the history has it.
                await self.client.ack_status(status_id, agency, "done")
                return
            await self.client.ack_status(status_id, agency, "fail", e.detail[:2000])
            self.services.metrics.axis_failures.labels("refused_incoming").inc()
            return
        except DomainError as e:
            await self.client.ack_status(status_id, agency, "fail", e.detail[:2000])
            self.services.metrics.axis_failures.labels("refused_incoming").inc()
            return
        await self.client.ack_status(status_id, agency, "done")
        self.services.metrics.axis_received.labels("status").inc()

    def _line_state(self, document: str, agency: str) -> str | None:
        shown = self.services.views.document(document)
        lines = shown["recipients"] if shown else []
        return next((r["status"] for r in lines if r["agency"] == agency), None)


# How far along a recipient's work each status is: a status may be ahead of the line's state
# (its predecessor is still on the way) or behind it (a duplicate of one already recorded).
_PROGRESS = {"queued": 0, "parked": 0, "forwarded": 0, "01": 1, "03": 3, "04": 4, "05": 5}
_FINAL_PROGRESS = 6
# How long a status that is ahead may wait on the axis for the one before it.
AHEAD_WAIT_SECONDS = 3600.0


def _ahead(status: str, state: str | None) -> bool:
    """Tells whether a refused status could follow once the statuses before it arrive."""
    if state is None or status not in ("03", "04", "05", "06"):
        return False
    return _PROGRESS.get(status, _FINAL_PROGRESS) > _PROGRESS.get(state, _FINAL_PROGRESS)


def _behind(status: str, state: str | None) -> bool:
    """Tells whether a refused status is one the line has already passed."""
    progress = _PROGRESS.get(status, _FINAL_PROGRESS)
    return state is not None and progress < _PROGRESS.get(state, _FINAL_PROGRESS)


def _stale(made: datetime) -> bool:
    return time.time() - made.timestamp() > AHEAD_WAIT_SECONDS


def _made(read: tuple[str, StatusMessage | EdxmlError]) -> tuple[datetime, str]:
    message = read[1]
    return (message.at, message.status) if isinstance(message, StatusMessage) else (_EPOCH, "")


BRIDGE = web.AppKey("axis_bridge", AxisBridge)


async def bridge_ctx(app: web.Application) -> AsyncIterator[None]:
    """Runs the bridge for the application's lifetime when an axis is configured."""
    services = app[SERVICES]
    config = services.config
    if not config.axis_url:
        yield
        return
    client = AxisClient(config.axis_url, config.axis_system_id or "", config.axis_secret or "")
    bridge = AxisBridge(services, client)
    app[BRIDGE] = bridge
    task = asyncio.create_task(bridge.run(), name="axis-bridge")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await client.close()
    await services.call(bridge.leadership.release)
