"""The freshness verdict gauge names every view, unknown ones included.

``feature_sla_ok`` has no sample for a view that cannot be judged (no table,
no contract), so an alert on it alone never fires for a table that was never
published or whose contract broke: ``feature_freshness_verdict`` says so.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from feast import FeatureStore
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from featurestore.services.contracts import ContractRegistry
from featurestore.services.monitoring.freshness import view_freshness
from featurestore.services.project import Project
from featurestore.services.server import monitoring_metrics
from featurestore.services.server.catalog import Catalog
from featurestore.services.server.monitoring_servicer import Monitor
from tests.odd_project import odd_project

pytestmark = pytest.mark.integration


def _verdicts() -> dict[str, dict[str, float]]:
    text = generate_latest(REGISTRY).decode()
    out: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "feature_freshness_verdict":
                view = out.setdefault(sample.labels["view"], {})
                view[sample.labels["verdict"]] = sample.value
    return out


def test_each_view_has_exactly_its_verdict(tmp_path: Path) -> None:
    repo, _ = odd_project(tmp_path, [(0.0, 1)], apply=True)
    store = FeatureStore(repo_path=str(repo))
    project = Project.load(repo)
    contracts = ContractRegistry(repo / "contracts")
    monitor = Monitor(Catalog(store), project, contracts)
    monitoring_metrics.attach(monitor)
    try:
        got = _verdicts()
    finally:
        monitoring_metrics.detach(monitor)
    # The oracle: each view judged on its own, as GetFreshness does.
    expected = {
        view.name: view_freshness(view, project, contracts).verdict
        for view in store.list_feature_views()
    }
    assert expected["odd"] == "ok"
    assert "unknown" in expected.values()  # the scaffold's views have no table yet
    # (Servers of other tests in this process may report views of their own.)
    assert {view: got.get(view) for view in expected} == {
        view: {v: float(v == verdict) for v in ("ok", "late", "unknown")}
        for view, verdict in expected.items()
    }
    assert "odd" not in _verdicts()  # detached: its samples are gone
