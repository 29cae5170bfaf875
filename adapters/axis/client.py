"""Clients of the national axis (its simulator's API, docs/axis-sim.md): `AxisClient` for a
connected province's system, signing every call, and `AxisAdmin` for the simulator's operator.

Every failure is one of two kinds: `AxisTransient` (no connection, a timeout, a dropped
connection, 5xx, 408, 429: retry later) or `AxisPermanent` (the axis refused the content, 4xx:
retrying the same call cannot succeed; its `code` says why, e.g. `unknown_recipient`).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import urlencode

import aiohttp
import msgspec
from yarl import URL

from adapters.axis.errors import AxisPermanent, AxisTransient
from adapters.axis.signing import MAX_SKEW, SIGNATURE, SYSTEM, TIMESTAMP, sign
from adapters.axis.wire import (
    Ack,
    Acked,
    CatalogueBatch,
    CatalogueChanges,
    CatalogueEntry,
    CataloguePage,
    Deliveries,
    Faults,
    Pending,
    PendingList,
    Registered,
    Sent,
    SystemIn,
)

T = TypeVar("T")
Signer = Callable[[], dict[str, str]]
XML = "application/xml"
JSON = "application/json"
_TRANSIENT_STATUS = frozenset({408, 429})
_problem = msgspec.json.Decoder(dict[str, Any])
_decoders: dict[type, msgspec.json.Decoder[Any]] = {}


def _decode(kind: type[T], body: bytes) -> T:
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    try:
        result: T = decoder.decode(body)
    except msgspec.DecodeError as e:
        raise AxisTransient(f"the axis answered something unreadable: {e}") from None
    return result


def _refusal(status: int, body: bytes) -> AxisPermanent | AxisTransient:
    try:
        problem = _problem.decode(body)
    except msgspec.DecodeError:
        problem = {}
    detail = str(problem.get("detail") or body[:200].decode(errors="replace") or "no detail")
    if status >= 500 or status in _TRANSIENT_STATUS:
        return AxisTransient(f"HTTP {status}: {detail}")
    return AxisPermanent(str(problem.get("code") or f"http_{status}"), detail, status)


class _Http:
    """A reused aiohttp session (the caller's or our own) and the mapping of failures."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession | None, timeout: float):
        self.base_url = base_url.rstrip("/")
        self._own = session is None
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    @property
    def session(self) -> aiohttp.ClientSession:
        """The session, created on first use when the caller gave none."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        """Closes the session if this client made it."""
        if self._own and self._session is not None:
            await self._session.close()

    async def exchange(
        self, method: str, target: str, body: bytes, headers: dict[str, str], signer: Signer
    ) -> tuple[int, bytes]:
        """Sends one request; answers its status and body, or raises AxisTransient."""
        url = URL(self.base_url + target, encoded=True)

        async def signed(
            request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
        ) -> aiohttp.ClientResponse:
            # Each attempt is signed afresh: aiohttp itself resends an idempotent request once
            # when a kept-alive connection drops, and the axis refuses a reused signature.
            request.headers.update(signer())
            return await handler(request)

        try:
            async with self.session.request(
                method,
                url,
                data=body or None,
                headers=headers,
                timeout=self._timeout,
                middlewares=(signed,),
            ) as response:
                return response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as e:
            raise AxisTransient(f"{type(e).__name__}: {e}".rstrip(": ")) from None

    async def call(
        self,
        method: str,
        target: str,
        body: bytes,
        headers: dict[str, str],
        signer: Signer = dict,
    ) -> tuple[int, bytes]:
        """Sends one request; answers a 2xx, or raises AxisTransient or AxisPermanent."""
        status, answer = await self.exchange(method, target, body, headers, signer)
        if status >= 300:
            raise _refusal(status, answer)
        return status, answer


class AxisClient:
    """A connected province's system on the axis: one method per operation, each call signed."""

    def __init__(
        self,
        base_url: str,
        system_id: str,
        secret: str,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._http = _Http(base_url, session, timeout)
        self.system_id = system_id
        self._secret = secret
        self._used: dict[str, float] = {}

    async def __aenter__(self) -> AxisClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Closes the HTTP session if the client made it."""
        await self._http.close()

    def _headers(self, method: str, target: str, body: bytes) -> dict[str, str]:
        """Signs a request; never reuses a signature (the axis refuses replays). Every call's
        target carries its own nonce, so only aiohttp's own resend of an attempt could repeat
        one within a second: that one is stamped a second later."""
        now = time.monotonic()
        self._used = {s: t for s, t in self._used.items() if now - t < 2 * MAX_SKEW + 60}
        stamp = int(time.time())
        signature = sign(self._secret, method, target, str(stamp), body)
        while signature in self._used:
            stamp += 1
            signature = sign(self._secret, method, target, str(stamp), body)
        self._used[signature] = now
        return {SYSTEM: self.system_id, TIMESTAMP: str(stamp), SIGNATURE: signature}

    async def _call(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str | int] | None = None,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> tuple[int, bytes]:
        # A nonce keeps identical calls apart (a poll of the same list twice in one second
        # would otherwise carry a signature the axis already saw).
        target = f"{path}?{urlencode({**(query or {}), 'nonce': secrets.token_hex(8)})}"
        headers = {"Content-Type": content_type} if content_type is not None else {}

        def signer() -> dict[str, str]:
            return self._headers(method, target, body)

        return await self._http.call(method, target, body, headers, signer)

    async def _pending(self, kind: str, agency: str, limit: int) -> list[Pending]:
        """What waits for an agency: `packages` or `statuses`."""
        path = f"/v1/agencies/{agency}/{kind}"
        _, answer = await self._call("GET", path, query={"limit": limit})
        return _decode(PendingList, answer).items

    async def _ack(self, kind: str, item_id: str, ack: Ack) -> Acked:
        """Acknowledges one of the `packages` or `statuses`."""
        body = msgspec.json.encode(ack)
        _, answer = await self._call(
            "POST", f"/v1/{kind}/{item_id}/ack", body=body, content_type=JSON
        )
        return _decode(Acked, answer)

    async def send_package(self, package: bytes) -> Sent:
        """Sends an edXML package (routed by its From, To and DocumentId); a resend of the same
        DocumentId answers the first package with `created` false."""
        _, answer = await self._call("POST", "/v1/packages", body=package, content_type=XML)
        return _decode(Sent, answer)

    async def pending_packages(self, agency: str, limit: int = 100) -> list[Pending]:
        """Lists the packages waiting for one of this system's agencies, oldest first; the same
        package may show up again (duplicates) or out of order, as on the real axis."""
        return await self._pending("packages", agency, limit)

    async def fetch_package(self, package_id: str) -> bytes:
        """Fetches the bytes of a package this system sent or may receive."""
        _, answer = await self._call("GET", f"/v1/packages/{package_id}")
        return answer

    async def ack_package(
        self,
        package_id: str,
        agency: str,
        result: Literal["done", "fail"] = "done",
        reason: str | None = None,
    ) -> Acked:
        """Acknowledges a package for one of this system's agencies: `done` once it is safely
        recorded, `fail` with a reason when it is refused; acknowledging again is harmless."""
        return await self._ack("packages", package_id, Ack(agency, result, reason))

    async def deliveries(self, package_id: str) -> Deliveries:
        """Shows a package's delivery states (every recipient's to the sender's system)."""
        _, answer = await self._call("GET", f"/v1/packages/{package_id}/deliveries")
        return _decode(Deliveries, answer)

    async def send_status(self, status: bytes) -> Sent:
        """Sends an edXML Status message to the issuer of the document it answers; the same
        bytes again answer the first message with `created` false."""
        _, answer = await self._call("POST", "/v1/statuses", body=status, content_type=XML)
        return _decode(Sent, answer)

    async def pending_statuses(self, agency: str, limit: int = 100) -> list[Pending]:
        """Lists the Status messages waiting for one of this system's agencies, oldest first."""
        return await self._pending("statuses", agency, limit)

    async def fetch_status(self, status_id: str) -> bytes:
        """Fetches the bytes of a Status message this system sent or may receive."""
        _, answer = await self._call("GET", f"/v1/statuses/{status_id}")
        return answer

    async def ack_status(
        self,
        status_id: str,
        agency: str,
        result: Literal["done", "fail"] = "done",
        reason: str | None = None,
    ) -> Acked:
        """Acknowledges a Status message addressed to one of this system's agencies."""
        return await self._ack("statuses", status_id, Ack(agency, result, reason))

    async def register_agencies(self, agencies: Sequence[CatalogueEntry]) -> Registered:
        """Registers this system's agencies in the axis catalogue (idempotent; up to 1000)."""
        body = msgspec.json.encode(CatalogueBatch(list(agencies)))
        _, answer = await self._call("POST", "/v1/catalogue", body=body, content_type=JSON)
        return _decode(Registered, answer)

    async def catalogue(self, limit: int = 500, cursor: str | None = None) -> CataloguePage:
        """Lists a page of the axis catalogue by agency code."""
        query: dict[str, str | int] = {"limit": limit}
        if cursor is not None:
            query["cursor"] = cursor
        _, answer = await self._call("GET", "/v1/catalogue", query=query)
        return _decode(CataloguePage, answer)

    async def catalogue_changes(self, since: int = 0, limit: int = 500) -> CatalogueChanges:
        """Lists the catalogue's agencies created or changed after change number `since`."""
        query: dict[str, str | int] = {"since": since, "limit": limit}
        _, answer = await self._call("GET", "/v1/catalogue/changes", query=query)
        return _decode(CatalogueChanges, answer)


class AxisAdmin:
    """The simulator's operator: connected systems, faults and counters (admin token)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._http = _Http(base_url, session, timeout)
        self._auth = {"Authorization": f"Bearer {token}"}

    async def close(self) -> None:
        """Closes the HTTP session if the client made it."""
        await self._http.close()

    async def add_system(self, system_id: str, secret: str) -> None:
        """Connects a province's system (or replaces its secret)."""
        body = msgspec.json.encode(SystemIn(system_id, secret))
        await self._http.call("POST", "/admin/systems", body, self._auth | {"Content-Type": JSON})

    async def set_faults(self, faults: Faults) -> None:
        """Sets the fault probabilities and reseeds the simulator's generator."""
        body = msgspec.json.encode(faults)
        await self._http.call("PUT", "/admin/faults", body, self._auth | {"Content-Type": JSON})

    async def stats(self) -> dict[str, Any]:
        """Returns the simulator's counters and totals."""
        _, answer = await self._http.call("GET", "/admin/stats", b"", self._auth)
        return _decode(dict[str, Any], answer)
