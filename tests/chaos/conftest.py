"""Chaos fixtures: the seed and size of a run, and its figures printed at the end of pytest.

The bounded run (in `make test`) kills each server 20 times, restarts PostgreSQL twice and holds
100 slow connections of each kind for 6 s; `LIENTHONG_CHAOS=long` (`make chaos`) kills it 150
times under longer load, restarts PostgreSQL 10 times and holds 250 slow connections of each kind
(within the usual limit of 1,024 open files) for a minute. `LIENTHONG_CHAOS_SEED` replays a run:
every random delay and choice comes from the seed.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import pytest

from tests.e2e.conftest import (  # noqa: F401 (fixtures and the report hook of the e2e tests)
    pytest_runtest_makereport,
    servers,
    session,
    store,
)

DEFAULT_SEED = 20261125
_FIGURES = pytest.StashKey[list[str]]()


@dataclass(frozen=True)
class Chaos:
    """How hard one run shakes the router, and where its randomness comes from."""

    seed: int
    long: bool
    kills: int
    # Seconds of load between two faults: drawn uniformly from this range.
    pause: tuple[float, float]
    outages: int
    # Slow connections of each kind held open at once, and for how long.
    slow_clients: int
    slow_seconds: float
    figures: list[str]

    def rng(self, purpose: str) -> random.Random:
        """Returns a generator for one purpose, the same on every run with this seed."""
        return random.Random(f"{self.seed}/{purpose}")

    def report(self, line: str) -> None:
        """Adds a line to the chaos figures printed after the tests."""
        self.figures.append(line)


@pytest.fixture
def chaos(request: pytest.FixtureRequest) -> Chaos:
    """The run's settings (bounded by default, long with LIENTHONG_CHAOS=long)."""
    long = os.environ.get("LIENTHONG_CHAOS") == "long"
    seed = int(os.environ.get("LIENTHONG_CHAOS_SEED") or DEFAULT_SEED)
    figures = request.config.stash.setdefault(_FIGURES, [])
    mode = "long" if long else "bounded"
    request.node.add_report_section("setup", "chaos", f"seed {seed} ({mode} run)")
    if long:
        return Chaos(seed, long, 150, (0.1, 3.0), 10, 250, 60.0, figures)
    return Chaos(seed, long, 20, (0.05, 1.0), 2, 100, 6.0, figures)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Prints the seed and the figures of the chaos tests that ran."""
    figures = config.stash.get(_FIGURES, [])
    if figures:
        seed = int(os.environ.get("LIENTHONG_CHAOS_SEED") or DEFAULT_SEED)
        terminalreporter.section("chaos")
        terminalreporter.write_line(f"seed {seed} (LIENTHONG_CHAOS_SEED replays it)")
        for line in figures:
            terminalreporter.write_line(line)
