"""`lienthong axis-sim` as a real process: a 2xx is on disk, whatever happens next."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from adapters.axis.client import AxisAdmin, AxisClient
from adapters.axis.errors import AxisTransient
from adapters.axis.wire import CatalogueEntry
from tests.e2e.axis import start_axis_sim
from tests.e2e.conftest import Servers
from tests.support.axis import ADMIN_TOKEN, package

H41, H29 = "000.00.00.H41", "000.00.01.H29"
SECRETS = {"h41": "secret-of-nghe-an-" + "1" * 20, "h29": "secret-of-ha-noi-" + "2" * 20}


async def _connect(admin: AxisAdmin, h41: AxisClient, h29: AxisClient) -> None:
    for system, secret in SECRETS.items():
        await admin.add_system(system, secret)
    await h41.register_agencies([CatalogueEntry(H41, "Ủy ban nhân dân tỉnh Nghệ An", "province")])
    await h29.register_agencies([CatalogueEntry(H29, "Văn phòng UBND Hà Nội", "province")])


async def test_a_package_acknowledged_right_before_a_kill_9_is_there_after_the_restart(
    servers: Servers, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    axis = await start_axis_sim(servers, tmp_path / "axis")
    admin = AxisAdmin(axis.base_url, ADMIN_TOKEN, session=session)
    h41 = AxisClient(axis.base_url, "h41", SECRETS["h41"], session=session)
    h29 = AxisClient(axis.base_url, "h29", SECRETS["h29"], session=session)
    await _connect(admin, h41, h29)
    body = package(H41, [H29], f"{H41},2026/11/24,1/UBND-VX")
    sent = await h41.send_package(body)
    assert axis.kill() == -9  # no await in between: nothing else runs first
    await axis.start()
    assert [p.id for p in await h29.pending_packages(H29)] == [sent.id]
    assert await h29.fetch_package(sent.id) == body
    assert not (await h41.send_package(body)).created


async def test_faults_given_at_start_are_in_force_and_admin_routes_answer(
    servers: Servers, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    axis = await start_axis_sim(servers, tmp_path / "axis", faults='{"seed": 5, "error": 1.0}')
    admin = AxisAdmin(axis.base_url, ADMIN_TOKEN, session=session)
    await admin.add_system("h41", SECRETS["h41"])
    with pytest.raises(AxisTransient, match=r"HTTP 50[03]"):
        await AxisClient(axis.base_url, "h41", SECRETS["h41"], session=session).catalogue()
    assert (await admin.stats())["faults"]["error"] == 1
