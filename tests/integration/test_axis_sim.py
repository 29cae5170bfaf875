"""The national axis simulator in-process on a loopback port, driven by the real AxisClient."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from adapters.axis.client import AxisAdmin, AxisClient
from adapters.axis.errors import AxisPermanent, AxisTransient
from adapters.axis.signing import sign
from adapters.axis.simulator import create_simulator
from adapters.axis.wire import CatalogueEntry, Faults
from tests.support.axis import ADMIN_TOKEN, package, status

H41, H29 = "000.00.00.H41", "000.00.01.H29"
H41_DEPT, H29_DEPT = "000.00.02.H41", "000.00.02.H29"
SECRETS = {"h41": "secret-of-nghe-an-" + "1" * 20, "h29": "secret-of-ha-noi-" + "2" * 20}


def doc_id(n: int, sender: str = H41) -> str:
    """A national document id of `sender`."""
    return f"{sender},2026/11/24,{n}/UBND-VX"


class Axis:
    """A simulator on a data directory, restartable, with one client per connected province."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.server: TestServer | None = None
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def start(self, faults: Faults | None = None) -> None:
        """Starts the simulator on its data directory."""
        self.server = TestServer(create_simulator(self.data, ADMIN_TOKEN, faults))
        await self.server.start_server()
        self.admin = AxisAdmin(self.url, ADMIN_TOKEN, session=self.session)
        self.h41 = self.client("h41")
        self.h29 = self.client("h29")

    async def stop(self) -> None:
        """Stops the simulator."""
        assert self.server is not None
        await self.server.close()

    @property
    def url(self) -> str:
        """The simulator's base URL."""
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    def client(self, system: str, secret: str | None = None, timeout: float = 10) -> AxisClient:
        """A client of a connected system on the shared session."""
        return AxisClient(
            self.url, system, secret or SECRETS[system], session=self.session, timeout=timeout
        )

    async def totals(self) -> dict[str, Any]:
        """The store's durable totals."""
        totals: dict[str, Any] = (await self.admin.stats())["totals"]
        return totals

    async def faults(self, **probabilities: Any) -> None:
        """Sets the faults (seed 7 unless given)."""
        await self.admin.set_faults(Faults(**({"seed": 7} | probabilities)))


@pytest.fixture
async def axis(tmp_path: Path) -> AsyncIterator[Axis]:
    """A simulator with two connected provinces, each owning two catalogued agencies."""
    sim = Axis(tmp_path / "axis")
    await sim.start()
    for system, secret in SECRETS.items():
        await sim.admin.add_system(system, secret)
    await sim.h41.register_agencies(
        [
            CatalogueEntry(H41, "Ủy ban nhân dân tỉnh Nghệ An", "province"),
            CatalogueEntry(H41_DEPT, "Sở Nội vụ tỉnh Nghệ An", "province"),
        ]
    )
    await sim.h29.register_agencies(
        [
            CatalogueEntry(H29, "Văn phòng UBND thành phố Hà Nội", "province"),
            CatalogueEntry(H29_DEPT, "Sở Tư pháp thành phố Hà Nội", "province"),
        ]
    )
    yield sim
    await sim.stop()
    await sim.session.close()


async def test_a_package_crosses_to_every_recipient_and_leaves_once_acknowledged(
    axis: Axis,
) -> None:
    body = package(H41, [H29, H29_DEPT], doc_id(1))
    sent = await axis.h41.send_package(body)
    assert (sent.created, sent.sender, sent.recipients) == (True, H41, [H29, H29_DEPT])
    for agency in (H29, H29_DEPT):
        [pending] = await axis.h29.pending_packages(agency)
        assert (pending.id, pending.document_id, pending.sender) == (sent.id, doc_id(1), H41)
    assert await axis.h29.fetch_package(sent.id) == body
    acked = await axis.h29.ack_package(sent.id, H29)
    assert (acked.state, acked.agency) == ("done", H29)
    assert await axis.h29.pending_packages(H29) == []
    assert len(await axis.h29.pending_packages(H29_DEPT)) == 1
    lines = (await axis.h41.deliveries(sent.id)).deliveries
    assert [(d.agency, d.state) for d in lines] == [(H29, "done"), (H29_DEPT, "pending")]


async def test_a_resend_of_the_same_document_id_answers_the_first_package(axis: Axis) -> None:
    first = await axis.h41.send_package(package(H41, [H29], doc_id(2)))
    again = await axis.h41.send_package(package(H41, [H29], doc_id(2), subject="gửi lại"))
    assert (again.id, again.sent_at, again.created) == (first.id, first.sent_at, False)
    assert len(await axis.h29.pending_packages(H29)) == 1
    assert (await axis.totals())["packages"] == 1


async def test_a_revocation_of_a_sent_document_is_a_package_of_its_own(axis: Axis) -> None:
    first = await axis.h41.send_package(package(H41, [H29], doc_id(3)))
    revoke = await axis.h41.send_package(package(H41, [H29], doc_id(3), business_type=1))
    assert revoke.created
    assert revoke.id != first.id
    assert [p.id for p in await axis.h29.pending_packages(H29)] == [first.id, revoke.id]


async def test_concurrent_sends_share_commits_without_mixing_their_outcomes(axis: Axis) -> None:
    async def send(n: int) -> str | bool:
        # Every third one is refused; the others repeat ten national ids.
        to, number = ([H29], 100 + n % 10) if n % 3 else ([H29, "000.00.09.H29"], 200 + n)
        try:
            return (await axis.h41.send_package(package(H41, to, doc_id(number)))).created
        except AxisPermanent as e:
            return e.code

    outcomes = await asyncio.gather(*(send(n) for n in range(30)))
    accepted = {100 + n % 10 for n in range(30) if n % 3}
    assert outcomes.count(True) == len(accepted)  # one package per national id
    assert outcomes.count("unknown_recipient") == 10
    assert outcomes.count(False) == 20 - len(accepted)
    assert len(await axis.h29.pending_packages(H29)) == len(accepted)
    assert (await axis.totals())["packages"] == len(accepted)


async def test_a_package_to_an_agency_missing_from_the_catalogue_is_a_permanent_refusal(
    axis: Axis,
) -> None:
    with pytest.raises(AxisPermanent) as refused:
        await axis.h41.send_package(package(H41, [H29, "000.00.09.H29"], doc_id(4)))
    assert (refused.value.code, refused.value.status) == ("unknown_recipient", 422)
    assert "000.00.09.H29" in refused.value.reason
    assert (await axis.totals())["packages"] == 0


@pytest.mark.parametrize(
    "body",
    [
        b"not xml at all",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
        package(H41, [], doc_id(5)),
        package(H41, ["H29"], doc_id(5)),
        package(H41, [H29], ""),
        package(H41, [H29], doc_id(5), business_type=7),
        status(H29, doc_id(5), H41),
    ],
    ids=["not-xml", "doctype", "no-recipient", "bad-code", "no-id", "bad-business", "a-status"],
)
async def test_a_malformed_package_is_a_permanent_refusal(axis: Axis, body: bytes) -> None:
    with pytest.raises(AxisPermanent) as refused:
        await axis.h41.send_package(body)
    assert (refused.value.code, refused.value.status) == ("malformed", 400)
    assert (await axis.totals())["packages"] == 0


async def test_a_system_acts_only_for_its_own_agencies(axis: Axis) -> None:
    with pytest.raises(AxisPermanent, match="not_owner"):
        await axis.h29.send_package(package(H41, [H29], doc_id(6)))
    with pytest.raises(AxisPermanent, match="not_owner"):
        await axis.h41.pending_packages(H29)
    sent = await axis.h41.send_package(package(H41, [H29], doc_id(6)))
    stranger = axis.client("h29")
    with pytest.raises(AxisPermanent, match="not_owner"):
        await stranger.ack_package(sent.id, H41)
    await axis.admin.add_system("h30", "secret-of-ha-tinh-" + "3" * 20)
    outsider = axis.client("h30", "secret-of-ha-tinh-" + "3" * 20)
    with pytest.raises(AxisPermanent, match="not_found"):
        await outsider.fetch_package(sent.id)


async def test_acknowledgements_are_idempotent_and_a_failure_keeps_its_reason(axis: Axis) -> None:
    sent = await axis.h41.send_package(package(H41, [H29, H29_DEPT], doc_id(7)))
    await axis.h29.ack_package(sent.id, H29_DEPT, "fail", "chữ ký không hợp lệ")
    again = await axis.h29.ack_package(sent.id, H29_DEPT, "fail", "chữ ký không hợp lệ")
    assert (again.state, again.reason) == ("failed", "chữ ký không hợp lệ")
    with pytest.raises(AxisPermanent, match="already_acknowledged"):
        await axis.h29.ack_package(sent.id, H29_DEPT, "done")
    lines = (await axis.h41.deliveries(sent.id)).deliveries
    assert [(d.agency, d.state, d.reason) for d in lines] == [
        (H29, "pending", None),
        (H29_DEPT, "failed", "chữ ký không hợp lệ"),
    ]
    assert [d.agency for d in (await axis.h29.deliveries(sent.id)).deliveries] == [H29, H29_DEPT]


async def test_status_messages_travel_both_ways(axis: Axis) -> None:
    # H29 reports on H41's document (addressee from ResponseFor/OrganId) ...
    report = status(H29_DEPT, doc_id(8), H41, "03")
    sent = await axis.h29.send_status(report)
    assert (sent.recipients, sent.created) == ([H41], True)
    assert (await axis.h29.send_status(report)).id == sent.id  # a resend changes nothing
    [pending] = await axis.h41.pending_statuses(H41)
    assert (pending.id, pending.document_id, pending.sender) == (sent.id, doc_id(8), H29_DEPT)
    assert await axis.h41.fetch_status(sent.id) == report
    assert (await axis.h41.ack_status(sent.id, H41)).state == "done"
    assert await axis.h41.pending_statuses(H41) == []
    # ... and H41 on H29's (addressee from the DocumentId's issuer, OrganId left out).
    back = await axis.h41.send_status(status(H41_DEPT, doc_id(9, H29), None, "01"))
    assert back.recipients == [H29]
    assert [s.id for s in await axis.h29.pending_statuses(H29)] == [back.id]
    with pytest.raises(AxisPermanent, match="unknown_recipient"):
        await axis.h41.send_status(status(H41, doc_id(9, "000.00.09.H29"), None))
    with pytest.raises(AxisPermanent, match="malformed"):
        await axis.h41.send_status(package(H41, [H29], doc_id(10)))


async def test_the_catalogue_registers_idempotently_pages_and_syncs_by_change_number(
    axis: Axis,
) -> None:
    before = await axis.h41.catalogue_changes()
    assert [i.code for i in before.items] == [H41, H41_DEPT, H29, H29_DEPT]
    again = await axis.h41.register_agencies(
        [CatalogueEntry(H41, "Ủy ban nhân dân tỉnh Nghệ An", "province")]
    )
    assert (again.created, again.changed, again.unchanged) == (0, 0, 1)
    renamed = await axis.h41.register_agencies(
        [
            CatalogueEntry(H41_DEPT, "Sở Nội vụ (mới)", "province"),
            CatalogueEntry("001.00.00.H41", "Xã", "commune"),
        ]
    )
    assert (renamed.created, renamed.changed) == (1, 1)
    changes = await axis.h29.catalogue_changes(before.next_since)
    assert [(i.code, i.name, i.system) for i in changes.items] == [
        (H41_DEPT, "Sở Nội vụ (mới)", "h41"),
        ("001.00.00.H41", "Xã", "h41"),
    ]
    assert (await axis.h29.catalogue_changes(changes.next_since)).items == []
    codes, cursor = [], None
    while True:
        page = await axis.h29.catalogue(limit=2, cursor=cursor)
        codes += [i.code for i in page.items]
        if (cursor := page.next_cursor) is None:
            break
    assert codes == sorted([H41, H41_DEPT, H29, H29_DEPT, "001.00.00.H41"])
    with pytest.raises(AxisPermanent, match="owned_elsewhere"):
        await axis.h29.register_agencies([CatalogueEntry(H41, "Chiếm", "province")])


async def _raw(
    axis: Axis, headers: dict[str, str], path: str = "/v1/catalogue"
) -> tuple[int, dict[str, Any]]:
    async with axis.session.get(axis.url + path, headers=headers) as r:
        return r.status, await r.json(content_type=None)


def _signed(stamp: int, system: str = "h41", secret: str = SECRETS["h41"]) -> dict[str, str]:
    signature = sign(secret, "GET", "/v1/catalogue", str(stamp), b"")
    return {"X-Axis-System": system, "X-Axis-Timestamp": str(stamp), "X-Axis-Signature": signature}


WRONG_SECRET = "not-the-secret-" + "0" * 20


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"unsigned": True}, "unsigned"),
        ({"system": "h99"}, "unknown_system"),
        ({"secret": WRONG_SECRET}, "bad_signature"),
        ({"skew": -301}, "stale_request"),
        ({"skew": 301}, "stale_request"),
        ({"stamp": "-1"}, "stale_request"),
    ],
    ids=["unsigned", "unknown-system", "bad-signature", "stale", "future", "garbled-time"],
)
async def test_an_unsigned_stale_or_forged_request_is_refused(
    axis: Axis, change: dict[str, Any], code: str
) -> None:
    headers = _signed(
        int(time.time()) + change.get("skew", 0),
        change.get("system", "h41"),
        change.get("secret", SECRETS["h41"]),
    )
    if "stamp" in change:
        headers["X-Axis-Timestamp"] = change["stamp"]
    status_code, problem = await _raw(axis, {} if change.get("unsigned") else headers)
    assert (status_code, problem["code"]) == (401, code)


async def test_a_replayed_signature_is_refused_even_after_a_restart(axis: Axis) -> None:
    headers = _signed(int(time.time()))
    assert (await _raw(axis, headers))[0] == 200
    status_code, problem = await _raw(axis, headers)
    assert (status_code, problem["code"]) == (401, "replayed_request")
    await axis.stop()
    await axis.start()
    status_code, problem = await _raw(axis, headers)
    assert (status_code, problem["code"]) == (401, "replayed_request")


async def test_the_client_maps_a_wrong_secret_to_a_permanent_failure(axis: Axis) -> None:
    with pytest.raises(AxisPermanent) as refused:
        await axis.client("h41", WRONG_SECRET).pending_packages(H41)
    assert (refused.value.code, refused.value.status) == ("bad_signature", 401)


async def test_an_identical_call_within_one_second_is_signed_afresh(axis: Axis) -> None:
    results = await asyncio.gather(*(axis.h41.pending_packages(H41) for _ in range(5)))
    assert results == [[]] * 5


@pytest.mark.parametrize("token", [None, "Bearer wrong-token-" + "x" * 30, f"Basic {ADMIN_TOKEN}"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/admin/systems"),
        ("PUT", "/admin/faults"),
        ("GET", "/admin/faults"),
        ("GET", "/admin/stats"),
    ],
)
async def test_the_admin_routes_need_the_admin_token(
    axis: Axis, token: str | None, method: str, path: str
) -> None:
    headers = {"Authorization": token} if token else {}
    body = b'{"system_id": "h77", "secret": "0123456789abcdef0123"}'
    if path == "/admin/faults":
        body = b'{"error": 1.0}'
    async with axis.session.request(
        method, axis.url + path, data=body, headers=headers | {"Content-Type": "application/json"}
    ) as r:
        assert (r.status, (await r.json(content_type=None))["code"]) == (401, "unauthorized")
    assert "h77" not in str(await axis.admin.stats())
    assert (await axis.h41.pending_packages(H41)) == []  # no fault was set


async def test_a_dropped_request_does_nothing_and_is_transient(axis: Axis) -> None:
    await axis.faults(drop_request=1.0)
    with pytest.raises(AxisTransient, match="ServerDisconnected"):
        await axis.h41.send_package(package(H41, [H29], doc_id(11)))
    await axis.faults()
    assert (await axis.totals())["packages"] == 0
    assert (await axis.admin.stats())["faults"]["drop_request"] == 1


async def test_a_dropped_response_is_a_lost_acknowledgement_that_a_resend_repairs(
    axis: Axis,
) -> None:
    await axis.faults(drop_response=1.0)
    with pytest.raises(AxisTransient, match="ServerDisconnected"):
        await axis.h41.send_package(package(H41, [H29], doc_id(12)))
    await axis.faults()
    assert (await axis.totals())["packages"] == 1  # committed, though the answer was lost
    again = await axis.h41.send_package(package(H41, [H29], doc_id(12)))
    assert not again.created
    assert [p.id for p in await axis.h29.pending_packages(H29)] == [again.id]


@pytest.mark.parametrize("seed", [1, 2])
async def test_an_injected_error_does_nothing_and_is_transient(axis: Axis, seed: int) -> None:
    await axis.faults(error=1.0, seed=seed)
    with pytest.raises(AxisTransient, match=r"HTTP 50[03]"):
        await axis.h41.send_package(package(H41, [H29], doc_id(13)))
    await axis.faults()
    assert (await axis.totals())["packages"] == 0


async def test_a_delay_slows_the_answer_and_a_short_timeout_makes_it_transient(
    axis: Axis,
) -> None:
    await axis.faults(delay=1.0, delay_ms=400)
    started = time.monotonic()
    assert await axis.h41.pending_packages(H41) == []
    assert time.monotonic() - started >= 0.4
    with pytest.raises(AxisTransient):
        await axis.client("h41", timeout=0.1).pending_packages(H41)


async def test_a_duplicate_shows_an_acknowledged_package_again_or_one_twice(axis: Axis) -> None:
    first = await axis.h41.send_package(package(H41, [H29], doc_id(14)))
    await axis.faults(duplicate=1.0)
    assert [p.id for p in await axis.h29.pending_packages(H29)] == [first.id, first.id]
    await axis.h29.ack_package(first.id, H29)
    assert [p.id for p in await axis.h29.pending_packages(H29)] == [first.id]
    assert (await axis.h29.ack_package(first.id, H29)).state == "done"  # harmless


async def test_a_reorder_shuffles_the_pending_list(axis: Axis) -> None:
    sent = [(await axis.h41.send_package(package(H41, [H29], doc_id(n)))).id for n in range(20, 25)]
    await axis.faults(reorder=1.0)
    listed = [p.id for p in await axis.h29.pending_packages(H29)]
    assert sorted(listed) == sorted(sent)
    assert listed != sent


async def test_faults_are_reproducible_from_their_seed(axis: Axis) -> None:
    async def outcomes() -> list[bool]:
        await axis.faults(error=0.5, seed=42)
        results = []
        for _ in range(16):
            try:
                await axis.h41.pending_packages(H41)
                results.append(True)
            except AxisTransient:
                results.append(False)
        return results

    first = await outcomes()
    assert True in first
    assert False in first
    assert await outcomes() == first


async def test_admin_and_health_routes_are_never_faulted(axis: Axis) -> None:
    await axis.faults(drop_request=1.0, drop_response=1.0, error=1.0)
    async with axis.session.get(axis.url + "/healthz") as r:
        assert r.status == 200
    assert (await axis.admin.stats())["faults"]["drop_request"] == 0


async def test_the_stats_count_requests_faults_and_what_was_stored(axis: Axis) -> None:
    sent = await axis.h41.send_package(package(H41, [H29, H29_DEPT], doc_id(30)))
    await axis.h29.ack_package(sent.id, H29)
    await axis.h29.send_status(status(H29, doc_id(30), H41))
    await axis.faults(error=1.0)
    with pytest.raises(AxisTransient):
        await axis.h29.pending_packages(H29_DEPT)
    stats = await axis.admin.stats()
    assert stats["requests"]["POST /v1/packages"] == 1
    assert stats["requests"]["GET /v1/agencies/{code}/packages"] >= 1
    assert stats["faults"]["error"] >= 1
    assert stats["calls"]["packages_acked_done"] == 1
    assert stats["totals"] == {
        "systems": 2,
        "agencies": 4,
        "packages": 1,
        "deliveries": {"pending": 1, "done": 1, "failed": 0},
        "statuses": {"pending": 1, "done": 0, "failed": 0},
    }


async def test_a_restart_on_the_same_data_directory_keeps_everything(axis: Axis) -> None:
    sent = await axis.h41.send_package(package(H41, [H29, H29_DEPT], doc_id(40)))
    await axis.h29.ack_package(sent.id, H29)
    report = await axis.h29.send_status(status(H29, doc_id(40), H41))
    await axis.stop()
    await axis.start(Faults(seed=3))
    assert await axis.h29.pending_packages(H29) == []
    assert [p.id for p in await axis.h29.pending_packages(H29_DEPT)] == [sent.id]
    assert [s.id for s in await axis.h41.pending_statuses(H41)] == [report.id]
    assert not (await axis.h41.send_package(package(H41, [H29], doc_id(40)))).created
    assert len((await axis.h29.catalogue()).items) == 4


@pytest.mark.parametrize(
    ("path", "content_type", "body", "code"),
    [
        ("/v1/packages", "application/json", b"{}", "unsupported_media_type"),
        ("/v1/catalogue", "application/xml", b"<x/>", "unsupported_media_type"),
        ("/v1/catalogue", "application/json", b"{not json", "malformed"),
        ("/v1/catalogue", "application/json", b'{"agencies": []}', "invalid"),
    ],
)
async def test_a_body_of_the_wrong_kind_is_a_clear_refusal(
    axis: Axis, path: str, content_type: str, body: bytes, code: str
) -> None:
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": content_type,
        "X-Axis-System": "h41",
        "X-Axis-Timestamp": stamp,
        "X-Axis-Signature": sign(SECRETS["h41"], "POST", path, stamp, body),
    }
    async with axis.session.post(axis.url + path, data=body, headers=headers) as r:
        assert r.content_type == "application/problem+json"
        assert (await r.json(content_type=None))["code"] == code
