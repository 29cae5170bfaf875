"""The national axis simulator as a real `lienthong axis-sim` process, for end-to-end tests."""

from __future__ import annotations

import os
from pathlib import Path

from tests.e2e.conftest import LIENTHONG, Server, Servers
from tests.support.axis import ADMIN_TOKEN


class AxisSimServer(Server):
    """One `lienthong axis-sim` process on 127.0.0.1, restartable on the same data and port."""

    def __init__(self, data: Path, logs: Path, name: str, faults: str | None = None) -> None:
        super().__init__(["--data", str(data)], logs, name)
        self.faults = faults

    def spawn(self) -> None:
        """Starts the simulator without waiting for it."""
        self.starts += 1
        faults = ["--faults", self.faults] if self.faults else []
        command = [
            str(LIENTHONG),
            "axis-sim",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self.store_args,
            *faults,
        ]
        env = os.environ | {"LIENTHONG_AXIS_ADMIN_TOKEN": ADMIN_TOKEN, "PYTHONUNBUFFERED": "1"}
        self.popen(command, env)


async def start_axis_sim(
    servers: Servers, data: Path, name: str = "axis-sim", faults: str | None = None
) -> AxisSimServer:
    """Starts a simulator among the test's servers: stopped at teardown, stderr on failure."""
    server = AxisSimServer(data, servers.logs, name, faults)
    servers.all.append(server)
    await server.start()
    return server
