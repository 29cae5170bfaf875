"""The first /metrics: Prometheus text with bounded labels."""

from __future__ import annotations

from tests.support.api import COMMUNE, DISTRICT, PROVINCE, REMOTE_MINISTRY, Api


async def metrics(api: Api) -> str:
    async with api.session.request("GET", "/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        return str(await r.text())


async def test_sends_and_requests_are_counted_by_route_template(api: Api) -> None:
    await api.province()
    _, sent = await api.send(PROVINCE, [DISTRICT, COMMUNE, REMOTE_MINISTRY])
    await api.report(COMMUNE, sent["id"], "03")
    for i in range(3):
        await api.call("GET", f"/v1/documents/{sent['id']}", api.tokens[PROVINCE])
        await api.call("GET", f"/no/such/path/{i}")
    text = await metrics(api)
    assert 'lienthong_documents_sent_total{route="local"} 2.0' in text
    assert 'lienthong_documents_sent_total{route="axis"} 1.0' in text
    assert 'lienthong_status_reports_total{status="03"} 1.0' in text
    assert (
        'lienthong_http_requests_total{method="GET",route="/v1/documents/{id}",status="200"} 3.0'
        in text
    )
    assert 'route="unmatched",status="404"} 3.0' in text
    assert sent["id"] not in text
    assert "/no/such/path" not in text
    assert "lienthong_store_commit_batch_size_count" in text
