"""The shipped alert rules and Grafana dashboard name only metrics Axiom exposes, and the rules in
docs/operations.md are the file's."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import axiom.metrics  # noqa: F401 - registers every counted metric
from api.scrape import FAMILIES

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "axiom-dashboard.json"
NAME = re.compile(r"\baxiom_[a-z0-9_]+")
SUFFIXES = ("", "_total", "_bucket", "_sum", "_count", "_created")


def exposed() -> set[str]:
    families = {family.name for family in REGISTRY.collect() if family.name.startswith("axiom_")}
    return {name + suffix for name in (*families, *FAMILIES) for suffix in SUFFIXES}


def test_every_alert_names_exposed_metrics() -> None:
    rules = yaml.safe_load(ALERTS.read_text())["groups"][0]["rules"]
    assert len(rules) >= 10
    known = exposed()
    for rule in rules:
        assert {"alert", "expr", "labels", "annotations"} <= rule.keys(), rule
        assert rule["labels"]["severity"] in ("critical", "warning", "info")
        names = set(NAME.findall(rule["expr"]))
        assert names or "up{" in rule["expr"], rule
        assert names <= known, f"{rule['alert']}: {sorted(names - known)} are not Axiom metrics"
    # The on-call's gauges each have a rule.
    used = {n for rule in rules for n in NAME.findall(rule["expr"])}
    assert set(FAMILIES) - {"axiom_queue_depth"} <= used | {"axiom_spool_files"}


def test_the_dashboard_names_exposed_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    known = exposed()
    assert len(exprs) >= 10
    for expr in exprs:
        names = set(NAME.findall(expr))
        assert names and names <= known, f"{expr}: {sorted(names - known)} are not Axiom metrics"


def test_the_docs_show_the_shipped_rules() -> None:
    docs = (ROOT / "docs" / "operations.md").read_text()
    section = docs.split("### Alerts and dashboard", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert yaml.safe_load(block) == yaml.safe_load(ALERTS.read_text())


def test_the_check_catches_an_unknown_metric() -> None:
    assert "axiom_deliveries_total" in exposed() and "axiom_delivery_seconds_bucket" in exposed()
    assert "axiom_queue_lenght" not in exposed()
