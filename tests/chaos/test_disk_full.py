"""The data directory's disk fills up under load: writes answer 503 problem+json saying so, reads
keep answering, nothing is corrupt, and once space returns writes succeed and the store is whole."""

from __future__ import annotations

import asyncio
import errno
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from adapters.eventstore import DISK_FULL
from tests.e2e.conftest import Servers
from tests.e2e.helpers import new_auditor
from tests.support.api import PROVINCE, Api, attachment, document

from .checks import check_rebuilt_views_answer_the_same, check_store
from .conftest import Chaos
from .load import LOCAL, PROBLEM, Load

pytestmark = pytest.mark.chaos

DISK_MIB = 48
FULL_SECONDS = 3.0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A small filesystem of its own (tmpfs), mounted for the test; needs root."""
    mount = tmp_path / "disk"
    mount.mkdir()
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={DISK_MIB}m", "tmpfs", str(mount)],
            check=True,
            capture_output=True,
            text=True,
        )
    except (OSError, subprocess.CalledProcessError) as e:
        reason = e.stderr.strip() if isinstance(e, subprocess.CalledProcessError) else e
        pytest.skip(f"cannot mount a small filesystem for the data directory (root only): {reason}")
    yield mount
    subprocess.run(["umount", "--lazy", str(mount)], check=True)


def _fill(mount: Path) -> Path:
    """Writes a file until the filesystem has not one byte left; returns the file."""
    filler = mount / "filler"
    with filler.open("wb", buffering=0) as f:
        for size in (1 << 20, 1 << 12, 1):
            block = bytes(size)
            try:
                while f.write(block):
                    pass
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
    return filler


def _integrity(database: Path) -> str:
    with sqlite3.connect(database) as c:
        return str(c.execute("PRAGMA integrity_check").fetchone()[0])


async def test_a_full_disk_answers_503_keeps_reads_and_loses_nothing(
    small_disk: Path, servers: Servers, session: aiohttp.ClientSession, chaos: Chaos
) -> None:
    started = time.monotonic()
    data = small_disk / "data"
    server = await servers.start(["--data", str(data)])
    api = Api(session, server.base_url)
    await api.province()
    auditor = await new_auditor(api)
    rng = chaos.rng("disk-full")
    load = Load(api, auditor, rng, tag=f"D{chaos.seed}")
    async with load.running() as ledger:
        await asyncio.sleep(rng.uniform(*chaos.pause) + 0.5)
        load.check()
        filler = await asyncio.to_thread(_fill, small_disk)
        full = time.monotonic()
        # An attachment needs a new file: a document with one cannot be stored now.
        body = document(LOCAL[1:3], attachments=[attachment("full.pdf", rng.randbytes(5000))])
        answer, _ = await load.call("POST", "/v1/documents", api.tokens[PROVINCE], body)
        assert (answer.status, answer.content_type, answer.detail) == (503, PROBLEM, DISK_FULL)
        await asyncio.sleep(FULL_SECONDS)
        freed = time.monotonic()
        filler.unlink()
        await asyncio.sleep(2.0)

    answers = ledger.answers
    assert {a.status for a in answers} <= {200, 201, 503}, ledger.count()
    refused = [a for a in answers if a.status == 503]
    for a in refused:
        assert (a.content_type, a.detail) == (PROBLEM, DISK_FULL), a.describe()
    while_full = [a for a in answers if a.started >= full and a.ended <= freed]
    reads = [a for a in while_full if a.method == "GET"]
    assert reads, "no read was made while the disk was full"
    assert {a.status for a in reads} == {200}, [a.describe() for a in reads if a.status != 200]
    assert any(a.method == "POST" and a.status == 503 for a in while_full)
    assert any(a.status in (200, 201) and a.method == "POST" for a in answers if a.started > freed)

    shown = await check_store(api, auditor, ledger)
    server.stop()
    assert _integrity(data / "events.sqlite") == "ok"
    assert _integrity(data / "views.sqlite") == "ok"
    await check_rebuilt_views_answer_the_same(server, api, auditor, ledger, shown)
    writes_while_full = [a for a in while_full if a.method == "POST"]
    chaos.report(
        f"disk full for {FULL_SECONDS:g} s ({DISK_MIB} MiB tmpfs): "
        f"{sum(a.status == 503 for a in writes_while_full)} of {len(writes_while_full)} writes "
        f"answered 503, {len(reads)} reads answered 200, {len(refused)} 503s in all, "
        f"{ledger.writes()} acknowledged writes checked exactly once, both databases "
        f"pass integrity_check, {time.monotonic() - started:.0f} s"
    )
