"""`lienthong serve --workers N`: N router processes on one port and one store.

Python runs one thread of bytecode at a time, so one router process uses one core. With N workers
the parent prepares the store once (schema, views), then starts N `lienthong serve` children that
listen on the same address with SO_REUSEPORT (the kernel spreads connections among them). Each
child is a complete router; they share the store exactly as separate router processes on one
PostgreSQL do (the event store's constraints decide every conflict, the views' tracking row makes
each event projected once). Metrics are collected across the children in prometheus-client's
multiprocess mode, so any child's /metrics answers for all of them.

The parent forwards SIGINT and SIGTERM to the children. If one child dies, the parent stops the
others and exits with an error, so that a supervisor (systemd, Kubernetes) restarts the whole set.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from types import FrameType

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def supervise(child_argv: Sequence[Sequence[str]], env_extra: dict[str, str]) -> int:
    """Runs the children until a signal or until one of them exits; returns the exit status."""
    metrics_dir = tempfile.mkdtemp(prefix="lienthong-metrics-")
    env = {**os.environ, **env_extra, MULTIPROC_ENV: metrics_dir}
    children = [subprocess.Popen(list(argv), env=env) for argv in child_argv]  # noqa: S603
    signalled = False

    def stop_all(signum: int) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    def forward(signum: int, _: FrameType | None) -> None:
        nonlocal signalled
        signalled = True
        stop_all(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        status = _wait_first(children)
        if not signalled:
            print(f"lienthong: a worker exited with status {status}; stopping", file=sys.stderr)
            stop_all(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        return 0 if signalled else (status if status > 0 else 1)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _wait_first(children: Sequence[subprocess.Popen[bytes]]) -> int:
    while True:
        for child in children:
            status = child.poll()
            if status is not None:
                return status
        time.sleep(0.2)
