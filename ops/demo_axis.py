"""Two provinces and the national axis on loopback: H41's commune sends documents to a department
of H29 (and to its own district); H29's department works each one to completion (01, 03, 06);
the run shows progress and ends with figures: documents per second end to end, and the time
from a send to the remote inbox (p50, p99).

    python -m ops.demo_axis [--documents 200] [--faults 0.2] [--poll-interval 10] [--kill]

Every process is real: `lienthong axis-sim` and two `lienthong serve`, each on its own store in a
temporary directory. `--faults P` sets every fault of the simulator to probability P; `--kill`
sends kill -9 to H41's router halfway through the sends and starts it again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from ops.bench_procs import HOST, free_port, serve, server_env

PROVINCE, DISTRICT, COMMUNE = "000.00.00.H41", "000.01.00.H41", "000.01.01.H41"
H29_PROVINCE, DEPARTMENT = "000.00.00.H29", "000.00.11.H29"
ADMIN_TOKEN = secrets.token_urlsafe(24)
OPERATOR_TOKEN = secrets.token_urlsafe(24)
FAULT_KINDS = ("drop_request", "drop_response", "duplicate", "error", "delay", "reorder")


@dataclass
class Province:
    """A router process of one province and the tokens of its agencies."""

    name: str
    base_url: str
    argv: list[str]
    pid: int
    tokens: dict[str, str] = field(default_factory=dict)


@dataclass
class Figures:
    """What one run measured."""

    documents: int
    seconds: float
    to_inbox: list[float]

    @property
    def per_second(self) -> float:
        """Documents carried end to end (sent, received, completed, mirrored) per second."""
        return self.documents / self.seconds

    def percentile(self, p: float) -> float:
        """A percentile of the send-to-remote-inbox times, in seconds."""
        ordered = sorted(self.to_inbox)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    token: str | None = None,
    json: Any = None,
    params: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """One HTTP call; the status and the decoded body."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.request(method, url, json=json, params=params, headers=headers) as r:
        body = await r.json(content_type=None) if r.content_length != 0 else None
        return r.status, body


async def register(session: aiohttp.ClientSession, province: Province, rows: list[Any]) -> None:
    """Registers agencies (code, tier, parent, remote) in a province's directory."""
    for code, tier, parent, remote in rows:
        body = {"code": code, "name": f"Cơ quan {code}", "tier": tier, "parent": parent}
        status, answer = await call(
            session, "POST", province.base_url + "/v1/agencies", OPERATOR_TOKEN,
            body | {"remote": remote},
        )  # fmt: skip
        assert status == 201, answer
        if not remote:
            province.tokens[code] = answer["token"]


async def inbox_ids(
    session: aiohttp.ClientSession, province: Province, agency: str
) -> list[tuple[str, str]]:
    """Every document in an agency's inbox: its id and number."""
    ids: list[tuple[str, str]] = []
    cursor = None
    while True:
        params = {"limit": "500"} | ({"cursor": cursor} if cursor else {})
        try:
            status, body = await call(
                session, "GET", province.base_url + "/v1/inbox", province.tokens[agency],
                params=params,
            )  # fmt: skip
        except aiohttp.ClientError:
            return ids
        if status != 200:
            return ids
        ids += [(item["id"], item["code_number"]) for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return ids


async def completed(session: aiohttp.ClientSession, province: Province) -> int:
    """How many of the commune's documents show the department's 06."""
    count, cursor = 0, None
    while True:
        params = {"limit": "500"} | ({"cursor": cursor} if cursor else {})
        try:
            status, body = await call(
                session, "GET", province.base_url + "/v1/outbox", province.tokens[COMMUNE],
                params=params,
            )  # fmt: skip
        except aiohttp.ClientError:
            return 0
        if status != 200:
            return 0
        for item in body["items"]:
            lines = {r["agency"]: r["status"] for r in item["recipients"]}
            count += lines.get(DEPARTMENT) == "06"
        cursor = body["next_cursor"]
        if cursor is None:
            return count


async def bridged(session: aiohttp.ClientSession, province: Province, since: float) -> bool:
    """Tells whether the province's bridge has been through a round since a time (so it has
    announced its agencies to the axis catalogue)."""
    async with session.get(province.base_url + "/metrics") as r:
        text = await r.text()
    for line in text.splitlines():
        if line.startswith("lienthong_axis_last_contact_timestamp_seconds "):
            return float(line.split()[1]) > since
    return False


async def until_bridged(session: aiohttp.ClientSession, province: Province, since: float) -> None:
    """Waits for a province's bridge to go through a round after a time (2 minutes at most)."""
    for _ in range(1200):
        if await bridged(session, province, since):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{province.name}'s bridge did not reach the axis")


@contextlib.asynccontextmanager
async def provinces(
    work: Path, poll_interval: float, faults: float
) -> AsyncIterator[tuple[Province, Province, dict[str, Any]]]:
    """Starts the simulator and both routers; yields them ready (catalogue announced)."""
    env = server_env(OPERATOR_TOKEN) | {"LIENTHONG_AXIS_ADMIN_TOKEN": ADMIN_TOKEN}
    sim_port = free_port()
    sim_argv = [
        sys.executable, "-m", "router.cli", "axis-sim", "--host", HOST, "--port", str(sim_port),
        "--data", str(work / "axis"),
    ]  # fmt: skip
    async with contextlib.AsyncExitStack() as stack:
        sim = await stack.enter_async_context(serve("axis-sim", sim_argv, sim_port, work, env))
        made: list[Province] = []
        async with aiohttp.ClientSession() as session:
            for system in ("H41", "H29"):
                secret = secrets.token_hex(16)
                (work / f"{system}.secret").write_text(secret)
                status, body = await call(
                    session, "POST", sim.base_url + "/admin/systems", ADMIN_TOKEN,
                    {"system_id": system, "secret": secret},
                )  # fmt: skip
                assert status in (200, 201, 204), body
                port = free_port()
                argv = [
                    sys.executable, "-m", "router.cli", "serve", "--host", HOST,
                    "--port", str(port), "--data", str(work / system),
                    "--axis-url", sim.base_url, "--axis-system-id", system,
                    "--axis-secret-file", str(work / f"{system}.secret"),
                    "--axis-poll-interval", str(poll_interval), "--axis-max-attempts", "40",
                ]  # fmt: skip
                server = await stack.enter_async_context(serve(system, argv, port, work, env))
                made.append(Province(system, server.base_url, argv, server.pid))
            h41, h29 = made
            registered = time.time()
            await register(
                session, h41,
                [(PROVINCE, "province", None, False), (DISTRICT, "district", PROVINCE, False),
                 (COMMUNE, "commune", DISTRICT, False), (DEPARTMENT, "province", None, True)],
            )  # fmt: skip
            await register(
                session, h29,
                [(H29_PROVINCE, "province", None, False),
                 (DEPARTMENT, "province", H29_PROVINCE, False)],
            )  # fmt: skip
            for province in (h41, h29):
                await until_bridged(session, province, registered)
            if faults:
                chosen = dict.fromkeys(FAULT_KINDS, faults) | {"seed": 7, "delay_ms": 50}
                status, body = await call(
                    session, "PUT", sim.base_url + "/admin/faults", ADMIN_TOKEN, chosen
                )
                assert status in (200, 204), body
        yield h41, h29, {"sim": sim.base_url}


async def run(
    documents: int, faults: float, poll_interval: float, kill: bool, rate: float
) -> Figures:
    """One scenario; returns its figures."""
    console = Console(stderr=True)
    with tempfile.TemporaryDirectory(prefix="lienthong-axis-") as tmp:
        work = Path(tmp)
        async with (
            provinces(work, poll_interval, faults) as (h41, h29, _),
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
        ):
            sent_at: dict[str, float] = {}
            seen_at: dict[str, float] = {}
            restarted: list[asyncio.subprocess.Process] = []
            columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            with Progress(*columns, console=console) as progress:
                sending = progress.add_task("sent by H41's commune", total=documents)
                arriving = progress.add_task("in H29's inbox", total=documents)
                completing = progress.add_task("06 back in H41's outbox", total=documents)
                started = time.monotonic()
                worker = asyncio.create_task(
                    department(session, h29, seen_at, progress, arriving, documents)
                )
                for n in range(documents):
                    if kill and n == documents // 2:
                        restarted.append(await restart(h41, work))
                    body = document(n)
                    status, answer = await call(
                        session, "POST", h41.base_url + "/v1/documents", h41.tokens[COMMUNE], body
                    )
                    assert status == 201, answer
                    sent_at[body["code_number"]] = time.monotonic()
                    progress.advance(sending)
                    if rate:
                        await asyncio.sleep(max(0.0, started + (n + 1) / rate - time.monotonic()))
                while (done := await completed(session, h41)) < documents:
                    progress.update(completing, completed=done)
                    await asyncio.sleep(0.2)
                progress.update(completing, completed=documents)
                seconds = time.monotonic() - started
                await worker
            for process in restarted:
                process.send_signal(signal.SIGINT)
                await process.wait()
    return Figures(documents, seconds, [seen_at[k] - sent_at[k] for k in sent_at])


def document(n: int) -> dict[str, Any]:
    """The n-th document: to H29's department over the axis and to the local district."""
    return {
        "external_id": f"DEMO-{n}",
        "to": [DEPARTMENT, DISTRICT],
        "code_number": str(10_000 + n),
        "code_notation": "UBND-VP",
        "document_type": "cong-van",
        "subject": f"Về việc phối hợp liên tỉnh, số {n}",
        "promulgated_on": time.strftime("%Y-%m-%d"),
        "place": "Nghệ An",
        "priority": "normal",
    }


async def department(
    session: aiohttp.ClientSession,
    h29: Province,
    seen_at: dict[str, float],
    progress: Progress,
    task: Any,
    documents: int,
) -> None:
    """H29: notes when each document (by its number) reaches the department's inbox (looking
    every 50 ms) while the department works them, four at a time, to completion: 01, 03, 06."""
    arrived: asyncio.Queue[str] = asyncio.Queue()

    async def watch() -> None:
        noticed: set[str] = set()
        while len(noticed) < documents:
            for document_id, number in await inbox_ids(session, h29, DEPARTMENT):
                if document_id not in noticed:
                    noticed.add(document_id)
                    seen_at[number] = time.monotonic()
                    arrived.put_nowait(document_id)
                    progress.advance(task)
            await asyncio.sleep(0.05)

    async def work() -> None:
        while True:
            document_id = await arrived.get()
            for code in ("01", "03", "06"):
                status, body = await call(
                    session, "POST", f"{h29.base_url}/v1/documents/{document_id}/status",
                    h29.tokens[DEPARTMENT], {"status": code},
                )  # fmt: skip
                assert status in (200, 201), body
            arrived.task_done()

    workers = [asyncio.create_task(work()) for _ in range(4)]
    await watch()
    await arrived.join()
    for worker in workers:
        worker.cancel()


async def restart(province: Province, work: Path) -> asyncio.subprocess.Process:
    """kill -9 of a router, then the same command again on the same store and port."""
    os.kill(province.pid, signal.SIGKILL)
    await asyncio.sleep(0.2)
    with (work / f"{province.name}-restarted.log").open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            *province.argv, stdout=log, stderr=log, env=server_env(OPERATOR_TOKEN),
            start_new_session=True,
        )  # fmt: skip
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(province.base_url + "/healthz") as r:
                    if r.status == 200:
                        return process
            await asyncio.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{province.name} did not come back")


def main() -> None:
    """Runs the scenario and prints its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--faults", type=float, default=0.0, help="probability of every fault")
    parser.add_argument("--poll-interval", type=float, default=10.0, help="seconds (router)")
    parser.add_argument("--kill", action="store_true", help="kill -9 H41 halfway, restart it")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="documents sent per second (0: all at once)"
    )
    args = parser.parse_args()
    figures = asyncio.run(
        run(args.documents, args.faults, args.poll_interval, args.kill, args.rate)
    )
    table = Table(
        "documents", "sent at", "faults", "poll", "seconds", "docs/s", "to inbox p50", "p99"
    )
    table.add_row(
        str(figures.documents),
        f"{args.rate:g}/s" if args.rate else "once",
        f"{args.faults:.0%}",
        f"{args.poll_interval:g} s",
        f"{figures.seconds:.1f}",
        f"{figures.per_second:.1f}",
        f"{statistics.median(figures.to_inbox):.2f} s",
        f"{figures.percentile(99):.2f} s",
    )
    Console().print(table)


if __name__ == "__main__":
    main()
