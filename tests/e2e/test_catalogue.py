"""`lienthong agencies import` as its own process while `lienthong serve` runs on the same store."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from ops.bench_catalogue import PROVINCE, province, write_csv
from tests.conftest import OPERATOR_TOKEN
from tests.support.api import Api

from .conftest import LIENTHONG
from .helpers import every_item

AGENCIES = 2_000
IMPORT_SECONDS = 60


async def test_an_import_beside_a_running_router_is_served_and_usable(
    api: Api, store: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "province.csv"
    write_csv(path, AGENCIES)
    env = {k: v for k, v in os.environ.items() if k != "LIENTHONG_DATABASE_URL"}
    importer = await asyncio.create_subprocess_exec(
        str(LIENTHONG),
        "agencies",
        "import",
        str(path),
        *store,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    finished = asyncio.ensure_future(asyncio.wait_for(importer.communicate(), IMPORT_SECONDS))
    # The router keeps recording its own writes meanwhile.
    ministries: list[str] = []
    while not finished.done() and len(ministries) < 999:
        ministries.append(f"{len(ministries) + 1:03d}.00.00.G09")
        await api.register(ministries[-1], "central", remote=True)
    out, err = await finished
    assert importer.returncode == 0, err.decode()
    assert f"{AGENCIES} added, 0 renamed, 0 moved, 0 unchanged" in out.decode()

    imported = sorted(code for code, *_ in province(AGENCIES))
    below = await every_item(api, f"/v1/agencies?under={PROVINCE}", OPERATOR_TOKEN, limit=500)
    assert [a["code"] for a in below] == [c for c in imported if c != PROVINCE]
    central = await every_item(api, "/v1/agencies?tier=central", OPERATOR_TOKEN, limit=500)
    assert [a["code"] for a in central] == ministries

    district, commune = "001.01.00.H41", "001.01.01.H41"
    for code in (district, commune):
        status, body = await api.call("POST", f"/v1/agencies/{code}/token", OPERATOR_TOKEN)
        assert status == 200, body
        api.tokens[code] = body["token"]
    status, sent = await api.send(district, [commune])
    assert status == 201, sent
    await api.register("001.01.99.H41", "commune", district)
