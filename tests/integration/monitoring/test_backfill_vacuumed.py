"""Backfill leaves vacuumed versions unprofiled instead of failing.

After VACUUM a version's log entry stays while its data files are gone, so the
log loads and the data read fails with the OSError of a store that does not
answer: backfill called every vacuumed table STORAGE_UNAVAILABLE (before
93c8f38: a traceback). A store that does not answer is still
STORAGE_UNAVAILABLE (tests/integration/monitoring/test_storage_unavailable.py).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner
from deltalake import DeltaTable, write_deltalake

from featurestore.services.cli import cli

pytestmark = pytest.mark.integration

CONTRACT = """\
name: odd
version: 1.0.0
owner: t@example.com
entity_keys: [customer_id]
event_timestamp: event_timestamp
created_timestamp: created_timestamp
freshness: 2h
max_failure_ratio: 1
columns:
  - {name: customer_id, type: int64, nullable: false}
  - {name: event_timestamp, type: timestamp, nullable: false}
  - {name: created_timestamp, type: timestamp, nullable: false}
  - {name: x, type: float64, nullable: true}
"""


def _project(root: Path) -> tuple[Path, Path]:
    assert CliRunner().invoke(cli, ["init", str(root / "p")]).exit_code == 0
    repo = root / "p"
    (repo / "contracts" / "odd").mkdir(parents=True)
    (repo / "contracts" / "odd" / "1.0.0.yaml").write_text(CONTRACT)
    table = repo / "data" / "features" / "odd"
    now, rows = datetime.now(UTC), 50
    when = pa.array([now - timedelta(minutes=30)] * rows, pa.timestamp("us", tz="UTC"))
    for seed in range(3):
        x = np.random.default_rng(seed).normal(seed, 1.0, rows)
        batch = pa.table(
            {
                "customer_id": pa.array(range(1, rows + 1), pa.int64()),
                "event_timestamp": when,
                "created_timestamp": when,
                "x": pa.array(x, pa.float64()),
            }
        )
        write_deltalake(str(table), batch, mode="overwrite")
    return repo, table


def _vacuum(table: Path) -> None:
    DeltaTable(str(table)).vacuum(
        retention_hours=0, enforce_retention_duration=False, dry_run=False
    )


def _backfill(repo: Path, *flags: str) -> dict[str, list[int]]:
    args = ["monitor", "backfill", "odd", "--repo", str(repo), "--json", *flags]
    done = CliRunner().invoke(cli, args)
    assert done.exit_code == 0, done.output
    return json.loads(done.output)  # type: ignore[no-any-return]


def test_vacuumed_versions_are_left_unprofiled(tmp_path: Path) -> None:
    repo, table = _project(tmp_path)
    _vacuum(table)
    report = _backfill(repo)
    assert report["skipped"] == [0, 1]
    assert report["profiled"][0] == 2  # the vacuum's own commits follow


def test_force_after_a_vacuum_leaves_the_vacuumed_versions(tmp_path: Path) -> None:
    repo, table = _project(tmp_path)
    assert _backfill(repo)["profiled"] == [0, 1, 2]
    _vacuum(table)
    report = _backfill(repo, "--force")
    assert report["skipped"] == [0, 1]
    assert report["profiled"][0] == 2


def test_the_table_text_names_the_vacuumed_versions(tmp_path: Path) -> None:
    repo, table = _project(tmp_path)
    _vacuum(table)
    done = CliRunner().invoke(cli, ["monitor", "backfill", "odd", "--repo", str(repo)])
    assert done.exit_code == 0, done.output
    assert "odd: versions 0, 1 are vacuumed; left unprofiled" in done.output
