"""The in-memory directory of a router stays current when another router changes the directory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.directory import SqlDirectory
from adapters.projection import ExchangeProjection
from domain.codes import AgencyStatus, Tier
from domain.commands import MergeAgency, RegisterAgency, SuspendAgency
from router.config import Config
from router.services import open_exchange

PROVINCE, COMMUNE, COMMUNE_2 = "000.00.00.H41", "000.01.01.H41", "000.01.02.H41"


class Router:
    """One router's exchange and projection, as `lienthong serve` wires them."""

    def __init__(self, config: Config) -> None:
        self.exchange, self.views = open_exchange(config)
        self.projection = ExchangeProjection(
            self.views.engine, self.exchange.recorder, self.exchange.mapper
        )
        assert isinstance(self.exchange.directory, SqlDirectory)
        self.directory: SqlDirectory = self.exchange.directory

    def do(self, *commands: RegisterAgency | SuspendAgency | MergeAgency) -> None:
        for command in commands:
            self.exchange.execute(command)
            self.projection.run_once()

    def close(self) -> None:
        self.exchange.close()
        self.views.engine.dispose()


@pytest.fixture
def routers(store_config: Config) -> Iterator[tuple[Router, Router]]:
    a = Router(store_config)
    b = Router(store_config)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def test_a_change_made_by_another_router_is_seen_after_refresh(
    routers: tuple[Router, Router],
) -> None:
    a, b = routers
    a.do(
        RegisterAgency(PROVINCE, "Tỉnh", Tier.PROVINCE, None, False, "h1"),
        RegisterAgency(COMMUNE, "Xã 1", Tier.COMMUNE, PROVINCE, False, "h2"),
        RegisterAgency(COMMUNE_2, "Xã 2", Tier.COMMUNE, PROVINCE, False, "h3"),
    )
    a.directory.refresh()
    assert a.directory.lookup([COMMUNE])[COMMUNE].status is AgencyStatus.ACTIVE

    b.do(SuspendAgency(COMMUNE), MergeAgency(COMMUNE_2, PROVINCE))
    assert a.directory.lookup([COMMUNE])[COMMUNE].status is AgencyStatus.ACTIVE  # cached
    a.directory.refresh()
    assert a.directory.lookup([COMMUNE])[COMMUNE].status is AgencyStatus.SUSPENDED
    assert a.directory.lookup([COMMUNE_2])[COMMUNE_2].successor == PROVINCE


def test_an_agency_registered_elsewhere_is_found_without_refresh(
    routers: tuple[Router, Router],
) -> None:
    a, b = routers
    a.do(RegisterAgency(PROVINCE, "Tỉnh", Tier.PROVINCE, None, False, "h1"))
    assert a.directory.lookup([COMMUNE]) == {}
    b.do(RegisterAgency(COMMUNE, "Xã 1", Tier.COMMUNE, PROVINCE, False, "h2"))
    assert a.directory.lookup([COMMUNE])[COMMUNE].tier is Tier.COMMUNE
