"""The chaos tests' load: agencies sending documents and reporting statuses to each other while
the router is killed, starved or cut from its store, and a ledger of what the router answered.

Each agency's client sends one write at a time and sends it again, unchanged, until the router
acknowledges it (a 2xx): a send is idempotent by its external_id, a report by being identical to
the line's last one. So when the load stops, every write was acknowledged exactly once, and the
history must hold exactly the ledger's writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from random import Random
from typing import Any

import aiohttp

from tests.support.api import FOUR_TIERS, Api, attachment, auth, document

LOCAL = [code for code, _, _, remote in FOUR_TIERS if not remote]
# A recipient moves each line it received along this path, one acknowledged report at a time.
PATH = ("01", "03", "04", "06")
PROBLEM = "application/problem+json"
# Far longer than any honest answer: a call still unanswered by then is a hang.
HANG_SECONDS = 20.0
# How long a client waits before it tries again after a refused connection or a 503.
BACKOFF_SECONDS = 0.05


@dataclass(frozen=True)
class Answer:
    """One call as the client saw it: when, how long, and what came back (status 0: the
    connection failed or was cut, as when the router is killed)."""

    method: str
    path: str
    started: float
    seconds: float
    status: int
    content_type: str = ""
    detail: str = ""

    @property
    def ended(self) -> float:
        """When the answer arrived."""
        return self.started + self.seconds

    def describe(self) -> str:
        """Names the call and its answer, for assertion messages."""
        return f"{self.method} {self.path} -> {self.status} {self.detail!r} in {self.seconds:.2f} s"


@dataclass(frozen=True)
class Sent:
    """A document the router acknowledged."""

    sender: str
    body: dict[str, Any]

    @property
    def recipients(self) -> list[str]:
        """The agencies it was sent to."""
        return list(self.body["to"])


@dataclass
class Ledger:
    """Every acknowledged write, and every answer of the run."""

    documents: dict[str, Sent] = field(default_factory=dict)
    # (document id, recipient agency, status), in the order acknowledged.
    reports: list[tuple[str, str, str]] = field(default_factory=list)
    # The same by line: (document id, recipient agency) -> statuses.
    lines: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)
    # Writes whose first answer was lost (cut connection, 503) and that, sent again, proved to
    # be recorded already (200): the router had committed them without being able to say so.
    found_recorded: int = 0

    def report(self, document_id: str, agency: str, status: str) -> None:
        """Records an acknowledged report."""
        self.reports.append((document_id, agency, status))
        self.lines.setdefault((document_id, agency), []).append(status)

    def statuses(self, document_id: str, agency: str) -> list[str]:
        """The statuses a recipient reported on a document, in order."""
        return self.lines.get((document_id, agency), [])

    def count(self) -> Counter[int]:
        """How many answers of each status (0: no answer)."""
        return Counter(a.status for a in self.answers)

    def writes(self) -> int:
        """How many acknowledged writes the ledger holds."""
        return len(self.documents) + len(self.reports)


@dataclass(frozen=True)
class Write:
    """One write, sent unchanged until acknowledged."""

    agency: str
    path: str
    body: dict[str, Any]


class Load:
    """Runs one client per local agency, plus an auditor reading, against one router."""

    def __init__(self, api: Api, auditor: str, rng: Random, tag: str) -> None:
        self.api = api
        self.auditor = auditor
        self.rng = rng
        self.tag = tag
        self.ledger = Ledger()
        # Lines each agency received and has not finished: [document id, reports made].
        self.lines: dict[str, list[list[Any]]] = {code: [] for code in LOCAL}
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Ledger]:
        """Runs the clients for the body of the `async with`; then lets each finish its write
        in flight (sending it again until acknowledged) and stops them."""
        rngs = {code: Random(self.rng.random()) for code in [*LOCAL, "auditor"]}
        self._tasks = [asyncio.create_task(self._agency(code, rngs[code])) for code in LOCAL]
        self._tasks.append(asyncio.create_task(self._auditor(rngs["auditor"])))
        try:
            yield self.ledger
        except BaseException:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            raise
        self._stop.set()
        done, pending = await asyncio.wait(self._tasks, timeout=2 * HANG_SECONDS)
        for task in pending:
            task.cancel()
        assert not pending, "clients could not settle their last writes"
        for task in done:
            task.result()

    def check(self) -> None:
        """Raises the failure of any client that stopped early (an unexpected answer)."""
        for task in self._tasks:
            if task.done():
                task.result()

    async def call(
        self, method: str, path: str, token: str, body: Any = None
    ) -> tuple[Answer, Any]:
        """Makes one call; a cut connection or a refused one is an answer with status 0."""
        started = time.monotonic()
        url = self.api.base_url + path
        try:
            async with (
                asyncio.timeout(HANG_SECONDS),
                self.api.session.request(method, url, json=body, headers=auth(token)) as r,
            ):
                raw = await r.read()
                status, content_type = r.status, r.content_type
        except (aiohttp.ClientError, ConnectionError):
            answer = Answer(method, path, started, time.monotonic() - started, 0)
            self.ledger.answers.append(answer)
            return answer, None
        except TimeoutError:
            raise AssertionError(f"{method} {path} hung: no answer in {HANG_SECONDS} s") from None
        is_json = content_type.endswith("json")
        payload = json.loads(raw) if raw and is_json else raw.decode(errors="replace")
        detail = payload.get("detail", "") if isinstance(payload, dict) else ""
        answer = Answer(
            method, path, started, time.monotonic() - started, status, content_type, detail
        )
        self.ledger.answers.append(answer)
        return answer, payload

    async def _agency(self, code: str, rng: Random) -> None:
        sent = 0
        while not self._stop.is_set():
            if self.lines[code] and rng.random() < 0.5:
                line = rng.choice(self.lines[code])
                write = Write(
                    code,
                    f"/v1/documents/{line[0]}/status",
                    {"status": PATH[line[1]], "note": f"{self.tag} {code} {PATH[line[1]]}"},
                )
                await self._until_acknowledged(write)
                self.ledger.report(line[0], code, PATH[line[1]])
                line[1] += 1
                if line[1] == len(PATH):
                    self.lines[code].remove(line)
            else:
                sent += 1
                body = self._document(code, sent, rng)
                answer = await self._until_acknowledged(Write(code, "/v1/documents", body))
                self.ledger.documents[answer["id"]] = Sent(code, body)
                for recipient in body["to"]:
                    self.lines[recipient].append([answer["id"], 0])

    def _document(self, sender: str, n: int, rng: Random) -> dict[str, Any]:
        others = [code for code in LOCAL if code != sender]
        fields: dict[str, Any] = {
            "external_id": f"{self.tag}-{sender}-{n}",
            "subject": f"Công văn {n} của {sender} về phòng chống thiên tai",
            "priority": rng.choice(["normal", "urgent", "very_urgent", "flash"]),
        }
        if rng.random() < 0.25:
            data = rng.randbytes(rng.randint(100, 4000))
            fields["attachments"] = [attachment(f"cv-{n}.pdf", data)]
        return document(rng.sample(others, rng.randint(1, 3)), **fields)

    async def _until_acknowledged(self, write: Write) -> Any:
        """Sends a write until a 2xx; returns its body. A refused or cut connection and a 503
        leave its fate unknown, so it is sent again (which records it at most once)."""
        token = self.api.tokens[write.agency]
        in_doubt = False
        while True:
            answer, body = await self.call("POST", write.path, token, write.body)
            if answer.status in (200, 201):
                self.ledger.found_recorded += in_doubt and answer.status == 200
                return body
            if answer.status not in (0, 503):
                raise AssertionError(f"unexpected answer: {answer.describe()}: {body}")
            in_doubt = True
            await asyncio.sleep(BACKOFF_SECONDS)

    async def _auditor(self, rng: Random) -> None:
        """Reads inboxes and the history while the others write; the answers are checked by
        the tests (what is a 200 and what is a 503 depends on the fault)."""
        while not self._stop.is_set():
            agency = rng.choice(LOCAL)
            if rng.random() < 0.5:
                await self.call("GET", "/v1/inbox?limit=20", self.api.tokens[agency])
            else:
                after = rng.randint(0, 10 + 2 * len(self.ledger.documents))
                await self.call("GET", f"/v1/events?after={after}&limit=20", self.auditor)
            await asyncio.sleep(BACKOFF_SECONDS)
