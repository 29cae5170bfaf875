"""Reading helpers for end-to-end tests: whole paginated lists, the event history, bounded polls."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tests.conftest import OPERATOR_TOKEN
from tests.support.api import COMMUNE, COMMUNE_2, DISTRICT, PROVINCE, Api

from .conftest import LIENTHONG

T = TypeVar("T")
# A small province for tests with several writers: each agency sends to the next one, so every
# agency both sends and receives.
AGENCIES = [
    (PROVINCE, "province", None),
    (DISTRICT, "district", PROVINCE),
    (COMMUNE, "commune", DISTRICT),
    (COMMUNE_2, "commune", DISTRICT),
]
NEXT = {PROVINCE: DISTRICT, DISTRICT: COMMUNE, COMMUNE: COMMUNE_2, COMMUNE_2: PROVINCE}
PATIENCE = 15.0


async def eventually(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], seconds: float = PATIENCE
) -> T:
    """Polls probe until done(value) or the time is up; returns the last value for asserting."""
    deadline = time.monotonic() + seconds
    while True:
        value = await probe()
        if done(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.05)


async def every_item(api: Api, path: str, token: str, limit: int = 50) -> list[dict[str, Any]]:
    """Follows next_cursor through a paginated list and returns all its items in order."""
    items: list[dict[str, Any]] = []
    separator = "&" if "?" in path else "?"
    cursor: str | None = None
    for _ in range(10_000):
        page_path = f"{path}{separator}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        status, page = await api.call("GET", page_path, token)
        assert status == 200, page
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError(f"{path} never stopped paginating")


async def ids_in(api: Api, path: str, token: str, limit: int = 50) -> list[str]:
    """Returns the ids of every item of a paginated list, in the order served."""
    return [item["id"] for item in await every_item(api, path, token, limit)]


async def every_event(api: Api, token: str, limit: int = 100) -> list[dict[str, Any]]:
    """Reads the whole event history through GET /v1/events?after=, page by page."""
    events: list[dict[str, Any]] = []
    after = 0
    for _ in range(10_000):
        status, page = await api.call("GET", f"/v1/events?after={after}&limit={limit}", token)
        assert status == 200, page
        if not page["items"]:
            assert page["next_after"] == after
            return events
        assert page["next_after"] == page["items"][-1]["position"]
        events += page["items"]
        after = page["next_after"]
    raise AssertionError("the event history never ended")


async def new_auditor(api: Api, name: str = "Thanh tra tỉnh") -> str:
    """Registers an auditor as the operator and returns its token."""
    status, body = await api.call("POST", "/v1/auditors", OPERATOR_TOKEN, json={"name": name})
    assert status == 201, body
    token: str = body["token"]
    return token


async def outbox_lines(api: Api, sender: str, document_id: str) -> dict[str, str]:
    """Returns {recipient: status} of one document in its sender's outbox."""
    items = await every_item(api, "/v1/outbox", api.tokens[sender])
    for item in items:
        if item["id"] == document_id:
            return {line["agency"]: line["status"] for line in item["recipients"]}
    return {}


async def ready(api: Api) -> tuple[int, Any]:
    """Calls GET /readyz."""
    return await api.call("GET", "/readyz")


def caught_up(answer: tuple[int, Any]) -> bool:
    """Tells whether a /readyz answer says the views include every stored event."""
    status, body = answer
    return status == 200 and body["views_position"] == body["store_position"]


async def lienthong(*args: str) -> tuple[int, str, str]:
    """Runs the `lienthong` command to its end; returns its exit code, stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        str(LIENTHONG), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
