"""The serving test repo with contracts on its views, for freshness checks."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pyarrow.compute as pc
from feast import FeatureStore
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.serving._repo import (
    customer_rows,
    make_repo,
    merchant_rows,
    sqlite_online,
    write_online,
)

CONTRACT = """name: {name}
version: 1.0.0
owner: monitoring-tests@example.com
entity_keys: [{key}]
event_timestamp: event_timestamp
created_timestamp: created_timestamp
freshness: {freshness}
max_failure_ratio: 0
columns:
  - {{name: {key}, type: {key_type}, nullable: false}}
  - {{name: event_timestamp, type: timestamp, nullable: false}}
  - {{name: created_timestamp, type: timestamp, nullable: false}}
"""
FRESHNESS = {"customer_stats": "2h", "merchant_risk": "5m"}
"""customer_stats' newest event is 1 h old (ok), merchant_risk's 10 min (late)."""


def newest_event(view: str):
    """The largest event time of the view's rows, computed from the rows."""
    rows = customer_rows() if view == "customer_stats" else merchant_rows()
    return pc.max(rows["event_timestamp"]).as_py()


def make_monitored_repo(tmp: Path) -> tuple[FeatureStore, Path]:
    """The serving repo, its views tagged with contracts; the contracts folder."""
    store = make_repo(tmp, sqlite_online(tmp))
    write_online(store)
    contracts = tmp / "contracts"
    keys = {"customer_stats": ("customer_id", "int64"),
            "merchant_risk": ("merchant_id", "string")}  # fmt: skip
    views = []
    for name, freshness in FRESHNESS.items():
        key, key_type = keys[name]
        (contracts / name).mkdir(parents=True)
        (contracts / name / "1.0.0.yaml").write_text(
            CONTRACT.format(name=name, key=key, key_type=key_type, freshness=freshness)
        )
        view = store.get_feature_view(name)
        view.tags["contract"] = name
        views.append(view)
    store.apply(views)
    # The CLI finds the contracts through the project's featurestore.yaml.
    (tmp / "repo" / "featurestore.yaml").write_text("contracts_dir: ../contracts\n")
    return store, contracts


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample on http://127.0.0.1:port/metrics: (name, sorted labels) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
