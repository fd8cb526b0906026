"""examples/observability: the Grafana dashboard and alert rules name real metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from sekret.agent.metrics import AGENT_METRICS
from sekret.metrics import METRICS

ROOT = Path(__file__).resolve().parents[2] / "examples" / "observability"


def _known() -> set[str]:
    names = set()
    for name, (kind, _) in METRICS.items():
        names |= {name + "_total"} if kind == "counter" else {name, name + "_bucket"}
    for name, (kind, _) in AGENT_METRICS.items():
        full = f"sekret_agent_{name}"
        names |= {full, full + "_bucket"} if kind == "histogram" else {full}
    return names


def _used(expr: str) -> set[str]:
    return set(re.findall(r"\bsekret_[a-z_]+", expr))


def test_dashboard_queries_known_metrics() -> None:
    """Every query of the Grafana dashboard uses metric names sekret exports."""
    dashboard = json.loads((ROOT / "grafana-dashboard.json").read_text())
    used = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used |= _used(target["expr"])
    assert used
    assert used <= _known(), used - _known()


def test_alerts_use_known_metrics() -> None:
    """Every alert rule uses metric names sekret exports, and the four asked-for exist."""
    rules = yaml.safe_load((ROOT / "alerts.yml").read_text())["groups"][0]["rules"]
    used = set()
    for rule in rules:
        used |= _used(rule["expr"])
    assert used <= _known(), used - _known()
    names = {rule["alert"] for rule in rules}
    assert {
        "SekretServingStale",
        "SekretBackendErrors",
        "SekretRotationOverdue",
        "SekretAuditSinkFailures",
    } <= names
