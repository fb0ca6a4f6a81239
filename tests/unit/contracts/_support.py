"""Shared contract texts and helpers for the contracts tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_ROOT = Path(__file__).resolve().parents[3]

REPO_CONTRACTS = _ROOT / "feature_repo" / "contracts"

BASE_YAML = """
name: spend
version: 1.0.0
owner: team@example.com
description: Test contract.
entity_keys: [customer_id]
event_timestamp: event_timestamp
created_timestamp: created_timestamp
freshness: 7d
max_failure_ratio: 0.05
columns:
  - {name: customer_id, type: int64, nullable: false,
     checks: [{greater_than_or_equal_to: 1}]}
  - {name: event_timestamp, type: timestamp, nullable: false}
  - {name: created_timestamp, type: timestamp, nullable: false}
  - {name: amount, type: float64, nullable: true,
     checks: [{in_range: {min_value: 0, max_value: 100, include_max: false}},
              {custom: finite}]}
  - {name: count_1h, type: int64, nullable: false,
     checks: [{greater_than: 0}, {less_than: 1000}]}
  - {name: count_24h, type: int64, nullable: true,
     checks: [{less_than_or_equal_to: 5000}]}
  - {name: count_7d, type: int64, nullable: true}
  - {name: code, type: string, nullable: false,
     checks: [{str_matches: "^[A-Z]{2}$"}, {notin: [XX]}]}
  - {name: label, type: string, nullable: true,
     checks: [{str_length: {min_value: 1, max_value: 5}}, {custom: non_blank}]}
  - {name: status, type: string, nullable: false, checks: [{isin: [new, old]}]}
  - {name: kind, type: string, nullable: true, checks: [{not_equal_to: bad}]}
  - {name: flag, type: bool, nullable: true, checks: [{equal_to: true}]}
  - {name: day, type: date, nullable: true,
     checks: [{greater_than_or_equal_to: 2020-01-01}]}
row_checks:
  - windows_nested: [count_1h, count_24h, count_7d]
"""


def base_data() -> dict[str, Any]:
    """Return the base contract as plain data, a fresh copy each call."""
    data: dict[str, Any] = yaml.safe_load(BASE_YAML)
    return data


def write_contract(root: Path, data: dict[str, Any]) -> Path:
    """Write `data` as `<root>/<name>/<version>.yaml` and return the path."""
    path = root / str(data["name"]) / f"{data['version']}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path
