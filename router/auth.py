"""Bearer tokens: random 256-bit secrets, stored and compared only as SHA-256 hashes."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import date, timedelta

from aiohttp import web

from adapters.views import Views
from domain.errors import Forbidden
from ops.metrics import Metrics
from router.config import Config
from router.http import Handler, Unauthorized

OPERATOR = "operator"
AGENCY = "agency"
AUDITOR = "auditor"
PUBLIC_PATHS = frozenset({"/v1/openapi.json", "/v1/router/certificate"})


@dataclass(frozen=True)
class Principal:
    """The caller: the operator, an agency (by code) or an auditor (by name)."""

    kind: str
    subject: str

    def require(self, *kinds: str) -> None:
        """Raises Forbidden unless the principal is one of these kinds."""
        if self.kind not in kinds:
            raise Forbidden(f"the {self.kind} may not do this")


PRINCIPAL = web.RequestKey("principal", Principal)


def new_token() -> tuple[str, str]:
    """Returns a fresh token and the hash to record."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    """Returns the lowercase hex SHA-256 of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


class Authenticator:
    """Resolves tokens to principals, caching answers briefly (rotation clears the cache)."""

    def __init__(self, views: Views, config: Config, executor: Executor, metrics: Metrics) -> None:
        self._views = views
        self._config = config
        token = config.operator_token
        self._operator = token_hash(token) if token else None
        self._executor = executor
        self._metrics = metrics
        self._cache: dict[str, tuple[Principal | None, str | None, float]] = {}

    def forget(self) -> None:
        """Drops cached answers after a token or agency changed."""
        self._cache.clear()

    async def principal(self, token: str) -> Principal:
        """Returns the token's principal; raises Unauthorized for a token nobody holds, or that
        of an agency merged or retired longer ago than the grace period."""
        digest = token_hash(token)
        if self._operator is not None and hmac.compare_digest(digest, self._operator):
            return Principal(OPERATOR, "operator")
        cached = self._cache.get(digest)
        now = time.monotonic()
        if cached is None or cached[2] <= now:
            loop = asyncio.get_running_loop()
            found = await loop.run_in_executor(self._executor, self._views.principal, digest)
            principal = Principal(found[0], found[1]) if found else None
            ends_on = found[2] if found else None
            if len(self._cache) > 100_000:
                self._cache.clear()
            cached = (principal, ends_on, now + self._config.auth_cache_seconds)
            self._cache[digest] = cached
        principal, ends_on, _ = cached
        if principal is None:
            raise Unauthorized("the token is not valid")
        if ends_on is not None:
            last = date.fromisoformat(ends_on) + timedelta(days=self._config.grace_days)
            if self._config.today() >= last.isoformat():
                raise Unauthorized(
                    f"agency {principal.subject} ended on {ends_on}; its token could read its "
                    f"history for {self._config.grace_days} days, until {last - timedelta(1)}"
                )
        return principal

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Requires a known bearer token on every /v1 call."""
        if request.path.startswith("/v1/") and request.path not in PUBLIC_PATHS:
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                self._metrics.auth_failures.inc()
                raise Unauthorized("an 'Authorization: Bearer <token>' header is required")
            try:
                request[PRINCIPAL] = await self.principal(token.strip())
            except Unauthorized:
                self._metrics.auth_failures.inc()
                raise
        return await handler(request)
