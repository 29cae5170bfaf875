"""End-to-end fixtures: the real `lienthong serve` as a subprocess on loopback, over real HTTP."""

from __future__ import annotations

import asyncio
import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import OPERATOR_TOKEN
from tests.support.api import Api

LIENTHONG = Path(sys.executable).with_name("lienthong")
STARTUP_SECONDS = 30.0
STOP_SECONDS = 15.0
_ports_in_use: set[int] = set()
_EXCEPTION_LINE = re.compile(r"[A-Za-z_][\w.]*(Error|Exception|Violation)\b")


def free_port() -> int:
    """Returns a loopback port nobody listens on, never one handed out before in this run."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port not in _ports_in_use:
            _ports_in_use.add(port)
            return port


_LIBC = ctypes.CDLL(None) if sys.platform == "linux" else None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Asks Linux to SIGKILL the server if pytest itself dies, so no server outlives the run."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Server:
    """One `lienthong serve` process on 127.0.0.1, restartable on the same store and port."""

    def __init__(self, store_args: list[str], logs: Path, name: str) -> None:
        self.store_args = store_args
        self.logs = logs
        self.name = name
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def stderr_path(self) -> Path:
        """The stderr file of the latest start."""
        return self.logs / f"{self.name}-{self.starts}.stderr"

    def stderr(self, last: int = 4000) -> str:
        """Returns the end of the latest start's stderr."""
        try:
            return self.stderr_path.read_text(errors="replace")[-last:]
        except FileNotFoundError:
            return ""

    def stderr_end(self) -> str:
        """Returns the verdict of the latest start's stderr: its last exception line and the next,
        or else its last lines."""
        lines = self.stderr().splitlines()
        for i in reversed(range(len(lines))):
            if _EXCEPTION_LINE.match(lines[i]):
                return "\n".join(lines[i : i + 2])
        return "\n".join(lines[-3:])

    @property
    def running(self) -> bool:
        """Tells whether the process is alive."""
        return self.process is not None and self.process.poll() is None

    async def start(self) -> None:
        """Starts the process and waits until it answers GET /healthz."""
        assert not self.running, f"{self.name} is already running"
        self.spawn()
        await self.wait_until_healthy()

    def spawn(self) -> None:
        """Starts the process without waiting for it."""
        self.starts += 1
        command = [
            str(LIENTHONG),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self.store_args,
        ]
        env = os.environ | {"LIENTHONG_OPERATOR_TOKEN": OPERATOR_TOKEN, "PYTHONUNBUFFERED": "1"}
        env.pop("LIENTHONG_DATABASE_URL", None)
        self.popen(command, env)

    def popen(self, command: list[str], env: dict[str, str]) -> None:
        """Runs the command in the logs directory, its output in this start's log files."""
        stdout = self.logs / f"{self.name}-{self.starts}.stdout"
        with stdout.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=env,
                cwd=self.logs,
                preexec_fn=_die_with_parent,
            )

    async def wait_until_healthy(self) -> None:
        """Polls GET /healthz; fails the test if the process exits or the time is up."""
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_SECONDS
        timeout = aiohttp.ClientTimeout(total=2)
        async with aiohttp.ClientSession(timeout=timeout) as probe:
            while True:
                code = self.process.poll()
                if code is not None:
                    pytest.fail(
                        f"{self.name} exited with {code} before answering /healthz; "
                        f"stderr ends with:\n{self.stderr_end()}"
                    )
                try:
                    async with probe.get(self.base_url + "/healthz") as r:
                        if r.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(
                        f"{self.name} did not answer /healthz within {STARTUP_SECONDS}s; "
                        f"stderr ends with:\n{self.stderr_end()}"
                    )
                await asyncio.sleep(0.05)

    def kill(self) -> int:
        """Sends SIGKILL (kill -9) and reaps the process; returns its exit code. `start()` brings
        it back on the same store and port."""
        assert self.process is not None
        assert self.running, f"{self.name} is not running"
        self.process.send_signal(signal.SIGKILL)
        return self.process.wait(timeout=STOP_SECONDS)

    def stop(self) -> None:
        """Stops the process (SIGTERM, then SIGKILL if it lingers); safe to call at any time."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_SECONDS)


class Servers:
    """The servers of one test: started on demand, every one stopped at teardown."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.all: list[Server] = []

    def _new(self, store_args: list[str], name: str) -> Server:
        if any(s.name == name for s in self.all):
            name = f"{name}-{len(self.all)}"
        server = Server(store_args, self.logs, name)
        self.all.append(server)
        return server

    async def start(self, store_args: list[str], name: str = "server") -> Server:
        """Starts one server and waits until it answers."""
        server = self._new(store_args, name)
        await server.start()
        return server

    async def start_together(self, store_args: list[str], names: list[str]) -> list[Server]:
        """Spawns several servers at the same moment, then waits until each answers."""
        servers = [self._new(store_args, name) for name in names]
        for server in servers:
            server.spawn()
        results = await asyncio.gather(
            *(s.wait_until_healthy() for s in servers), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return servers

    def stop_all(self) -> None:
        """Stops every server this test started."""
        for server in self.all:
            server.stop()


SERVERS = pytest.StashKey[Servers]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Shows the servers' stderr under a failed test."""
    report = yield
    if report.failed and SERVERS in item.stash:
        for server in item.stash[SERVERS].all:
            report.sections.append(
                (f"{server.name} stderr (start {server.starts})", server.stderr())
            )
    return report


@pytest.fixture
def servers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Servers]:
    """Starts servers on demand; every one of them is stopped at teardown, pass or fail."""
    logs = tmp_path / "logs"
    logs.mkdir()
    started = Servers(logs)
    request.node.stash[SERVERS] = started
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> list[str]:
    """Store arguments of `lienthong serve`: a data directory, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return ["--data", str(tmp_path / "data")]
    return ["--database", request.getfixturevalue("pg_database")]


@pytest.fixture
async def server(store: list[str], servers: Servers) -> Server:
    """A fresh router on each store."""
    return await servers.start(store)


@pytest.fixture
async def sqlite_server(tmp_path: Path, servers: Servers) -> Server:
    """A fresh router on SQLite, for checks that do not depend on the store."""
    return await servers.start(["--data", str(tmp_path / "data")])


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A real HTTP client session; no call waits longer than a minute."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as s:
        yield s


@pytest.fixture
def api(server: Server, session: aiohttp.ClientSession) -> Api:
    """An API client of the router on each store."""
    return Api(session, server.base_url)
