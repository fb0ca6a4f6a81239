"""A small contract and Delta tables written with delta-rs for the monitoring tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
from deltalake import write_deltalake

from featurestore.services.contracts import Contract, parse_contract
from featurestore.services.project import Project
from featurestore.services.project.config import ProjectConfig

CONTRACT_YAML = """
name: shop
version: 1.0.0
owner: team@example.com
entity_keys: [shop_id]
event_timestamp: event_timestamp
created_timestamp: created_timestamp
freshness: 1d
max_failure_ratio: 0.5
columns:
  - {name: shop_id, type: int64, nullable: false}
  - {name: event_timestamp, type: timestamp, nullable: false}
  - {name: created_timestamp, type: timestamp, nullable: false}
  - {name: amount, type: float64, nullable: true}
  - {name: visits, type: int64, nullable: false}
  - {name: city, type: string, nullable: true}
"""


def contract(extra: str = "") -> Contract:
    """The shop contract, with `extra` YAML appended (e.g. a drift block)."""
    return parse_contract(CONTRACT_YAML + extra, "shop/1.0.0.yaml")


def rows(n: int, *, shift: float = 0.0, seed: int = 0) -> pa.Table:
    """`n` rows: amount ~ N(shift, 1) with some NaN and nulls, skewed cities."""
    rng = np.random.default_rng(seed)
    amount = rng.normal(shift, 1.0, n)
    amount[::17] = np.nan
    amount_list: list[float | None] = amount.tolist()
    for i in range(0, n, 23):
        amount_list[i] = None
    cities = rng.choice(
        ["ams", "ber", "cph", "dub", "edi"], n, p=[0.4, 0.3, 0.2, 0.07, 0.03]
    )
    city: list[str | None] = cities.tolist()
    for i in range(0, n, 31):
        city[i] = None
    start = datetime(2026, 1, 1, tzinfo=UTC)
    times = [start + timedelta(minutes=i) for i in range(n)]
    ts = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "shop_id": pa.array(range(n), pa.int64()),
            "event_timestamp": pa.array(times, ts),
            "created_timestamp": pa.array(times, ts),
            "amount": pa.array(amount_list, pa.float64()),
            "visits": pa.array(rng.poisson(3 + shift, n), pa.int64()),
            "city": pa.array(city, pa.string()),
        }
    )


def project(tmp_path: Path) -> Project:
    """A project whose data root is `tmp_path / data`."""
    return Project(tmp_path, ProjectConfig(), str(tmp_path / "data"))


def write_versions(location: str, *tables: pa.Table) -> None:
    """Overwrite the Delta table at `location` once per table: versions 0, 1, ..."""
    for table in tables:
        write_deltalake(location, table, mode="overwrite")
