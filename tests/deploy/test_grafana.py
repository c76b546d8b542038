"""The Grafana dashboard in deploy/ only charts metrics the app really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import vibes.app  # noqa: F401 - every module that defines metrics is imported

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "vibes-dashboard.json"


def test_every_query_of_the_dashboard_names_an_exported_metric() -> None:
    board = json.loads(DASHBOARD.read_text())
    exported: set[str] = set()
    for family in REGISTRY.collect():
        exported.update(sample.name for sample in family.samples)
        exported.add(family.name)
        exported.update(f"{family.name}{suffix}" for suffix in ("_total", "_bucket", "_count"))
    names = {
        name
        for panel in board["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\b(vibes_[a-z_]+)", target["expr"])
    }
    assert len(board["panels"]) >= 12
    assert names - exported == set()
