"""The Grafana dashboard and the Prometheus alert rules only use metrics the router exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from ops.metrics import Metrics

OPS = Path(__file__).parents[2] / "ops"
# Exported by the axis bridge (issue 7); the dashboard panel and the alert wait for it.
FUTURE = {"lienthong_axis_queue_items"}
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
}


def exported() -> set[str]:
    names = set()
    for family in Metrics().registry.collect():
        names |= {family.name + suffix for suffix in _SUFFIXES[family.type]}
    return names


def used(expr: str) -> set[str]:
    return set(re.findall(r"\blienthong_[a-z_]+", expr))


def test_the_dashboard_queries_exported_metrics() -> None:
    dashboard = json.loads((OPS / "grafana" / "lienthong.json").read_text())
    assert dashboard["uid"] == "lienthong"
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    exprs = [t["expr"] for p in panels for t in p["targets"]]
    assert exprs
    names = set().union(*map(used, exprs))
    assert names - FUTURE <= exported(), names - FUTURE - exported()
    assert {"lienthong_documents_received_total", "lienthong_documents_overdue"} <= names


def test_every_alert_uses_exported_metrics_and_has_a_unit_test() -> None:
    rules = yaml.safe_load((OPS / "prometheus" / "alerts.yml").read_text())
    alerts = [r for group in rules["groups"] for r in group["rules"]]
    names = set().union(*(used(r["expr"]) for r in alerts))
    assert names - FUTURE <= exported(), names - FUTURE - exported()
    tests = yaml.safe_load((OPS / "prometheus" / "alerts_test.yml").read_text())
    tested = {
        case["alertname"]
        for test in tests["tests"]
        for case in test["alert_rule_test"]
        if case.get("exp_alerts")
    }
    assert {r["alert"] for r in alerts} == tested
