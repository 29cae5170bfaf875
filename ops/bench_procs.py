"""Child processes and stores of ops.bench: servers on loopback, throwaway PostgreSQL databases."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from asyncio.subprocess import Process
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import psycopg
from psycopg import sql

from ops.bench_load import Result

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Server:
    """A server process the benchmark started."""

    name: str
    pid: int
    base_url: str
    log: Path


def free_port() -> int:
    """Returns a loopback port nobody listens on (now)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def hello_argv(port: int) -> list[str]:
    """The command of the plain aiohttp server."""
    return [sys.executable, "-m", "ops.bench_hello", "--host", HOST, "--port", str(port)]


def lienthong_argv(
    port: int, data: Path | None, database: str | None, workers: int = 1
) -> list[str]:
    """The command of `lienthong serve` on a data directory or a PostgreSQL database."""
    store = ["--database", database] if database else ["--data", str(data)]
    return [
        sys.executable,
        "-m",
        "router.cli",
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        *store,
        "--workers",
        str(workers),
    ]


@contextlib.asynccontextmanager
async def serve(
    name: str,
    argv: list[str],
    port: int,
    logdir: Path,
    env: dict[str, str] | None = None,
    within: float = 120.0,
) -> AsyncIterator[Server]:
    """Starts a server, waits for its /healthz, and stops it (SIGINT, then SIGKILL) on exit."""
    log = logdir / f"{name}.log"
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    server = Server(name, proc.pid, f"http://{HOST}:{port}", log)
    try:
        await _wait_healthy(proc, server, within)
        yield server
    finally:
        await _stop(proc)


async def _wait_healthy(proc: Process, server: Server, within: float) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                tail = server.log.read_text(errors="replace")[-3000:]
                msg = f"{server.name} exited with {proc.returncode}:\n{tail}"
                raise RuntimeError(msg)
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(server.base_url + "/healthz") as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.1)
    msg = f"{server.name} did not answer /healthz within {within:.0f}s"
    raise RuntimeError(msg)


async def _stop(proc: Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def server_env(operator_token: str) -> dict[str, str]:
    """The environment of a router: the operator token, and no database URL from outside."""
    env = {k: v for k, v in os.environ.items() if k != "LIENTHONG_DATABASE_URL"}
    env["LIENTHONG_OPERATOR_TOKEN"] = operator_token
    return env


@contextlib.contextmanager
def pg_database(admin_url: str) -> Iterator[str]:
    """Creates a fresh database on the server of admin_url; drops it afterwards."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlsplit(admin_url)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as c:
            c.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def filesystem(path: Path) -> str:
    """The type of the file system holding path (tmpfs makes fsync free), from /proc/mounts."""
    best, kind = "", "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            fields = line.split()
            if (
                len(fields) > 2
                and path.resolve().is_relative_to(fields[1])
                and len(fields[1]) > len(best)
            ):
                best, kind = fields[1], fields[2]
    return kind


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process, its threads and its live child processes (the
    workers of `serve --workers N`); None off Linux."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            children.update(int(c) for c in task.read_text().split())
    return own + sum((cpu_seconds(c) or 0.0) for c in children)


def cpu_per_answer(pid: int, before: float | None, result: Result) -> float | None:
    """Microseconds of server CPU per answer since before."""
    after = cpu_seconds(pid)
    answers = result.ok + result.bad
    if before is None or after is None or not answers:
        return None
    return (after - before) / answers * 1e6
