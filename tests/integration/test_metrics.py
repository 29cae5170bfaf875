"""/metrics: Prometheus text, counters by agency from the directory only, bounded labels."""

from __future__ import annotations

import re

from tests.support.api import COMMUNE, DISTRICT, PROVINCE, REMOTE_MINISTRY, Api, attachment


async def metrics(api: Api) -> str:
    async with api.session.request("GET", "/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        return str(await r.text())


def series(text: str) -> set[str]:
    return {line.rsplit(" ", 1)[0] for line in text.splitlines() if line and line[0] != "#"}


async def test_sends_and_requests_are_counted_by_agency_and_route_template(api: Api) -> None:
    await api.province()
    status, sent = await api.send(
        PROVINCE,
        [DISTRICT, COMMUNE, REMOTE_MINISTRY],
        due_on="2020-01-02",
        promulgated_on="2020-01-01",
        attachments=[attachment("a.pdf", b"%PDF" * 10), attachment("b.pdf", b"%PDF" * 10)],
    )
    assert status == 201, sent
    await api.report(COMMUNE, sent["id"], "03")
    for i in range(3):
        await api.call("GET", f"/v1/documents/{sent['id']}", api.tokens[PROVINCE])
        await api.call("GET", f"/no/such/path/{i}")
    await api.call(
        "POST",
        "/v1/documents",
        api.tokens[PROVINCE],
        data=b"{",
        headers={"Content-Type": "application/json"},
    )
    text = await metrics(api)
    # Prometheus' text format sorts the labels.
    sent_by = f'lienthong_documents_sent_total{{agency="{PROVINCE}",route='
    assert sent_by + '"local",tier="province"} 1.0' in text
    assert sent_by + '"axis",tier="province"} 1.0' in text
    received = "lienthong_documents_received_total"
    assert f'{received}{{agency="{COMMUNE}",route="local",tier="commune"}} 1.0' in text
    assert f'{received}{{agency="{REMOTE_MINISTRY}",route="axis",tier="central"}} 1.0' in text
    assert 'lienthong_status_reports_total{status="03"} 1.0' in text
    assert (
        'lienthong_http_requests_total{method="GET",route="/v1/documents/{id}",status="200"} 3.0'
        in text
    )
    assert (
        'lienthong_http_request_duration_seconds_count{method="GET",'
        'route="/v1/documents/{id}",status_class="2xx"} 3.0' in text
    )
    assert 'lienthong_bad_requests_total{reason="not_found"} 3.0' in text
    assert 'lienthong_bad_requests_total{reason="malformed"} 1.0' in text
    assert "lienthong_attachment_received_bytes_total 80.0" in text
    assert "lienthong_attachment_stored_bytes_total 40.0" in text  # the same file twice
    # Due in 2020 and still open: overdue for the two local recipients that hold it.
    assert f'lienthong_documents_overdue{{agency="{DISTRICT}"}} 1.0' in text
    assert f'lienthong_documents_overdue{{agency="{COMMUNE}"}} 1.0' in text
    assert 'lienthong_projection_lag_seconds{projection="exchange-views"} 0.0' in text
    assert 'route="unmatched",status="404"} 3.0' in text
    assert sent["id"] not in text
    assert "/no/such/path" not in text
    assert "lienthong_store_commit_batch_size_count" in text
    await api.report(COMMUNE, sent["id"], "06")
    assert f'lienthong_documents_overdue{{agency="{COMMUNE}"}} 0.0' in await metrics(api)


async def test_unknown_input_creates_no_new_series(api: Api) -> None:
    await api.province()
    await api.send(PROVINCE, [COMMUNE])
    await metrics(api)
    before = series(await metrics(api))
    # Refused sends to codes nobody registered, forged tokens, odd paths and methods.
    for i in range(5):
        code = f"999.{i:02d}.00.Z99"
        await api.send(PROVINCE, [code], external_id=f"X-{i}")
        await api.call("GET", f"/v1/agencies/{code}", f"forged-{i}")
        await api.call("GET", f"/v1/documents/{code}", api.tokens[COMMUNE])
        await api.call("PURGE", f"/v1/inbox/{i}")
    after = series(await metrics(api))
    new = after - before
    names = {re.sub(r"\{.*", "", s) for s in new}
    # Only the first sight of each refusal's own fixed labels may appear; no agency or path.
    assert not any("999." in s or "forged" in s or "/v1/inbox/" in s for s in after)
    assert names <= {
        "lienthong_bad_requests_total",
        "lienthong_bad_requests_created",
        "lienthong_http_requests_total",
        "lienthong_http_requests_created",
        "lienthong_http_request_duration_seconds_bucket",
        "lienthong_http_request_duration_seconds_count",
        "lienthong_http_request_duration_seconds_sum",
        "lienthong_http_request_duration_seconds_created",
    }, new
