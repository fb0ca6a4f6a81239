"""A small `featurestore init` project with one extra table, "odd", made fast.

No Spark: the contract and view are written beside the scaffold's, each
version of data/features/odd is one delta-rs overwrite of a normal sample
(``(mean, seed)`` per version), and ``feast apply`` runs only when asked.
Monitoring and console tests use it to build the table histories they need.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
from click.testing import CliRunner
from deltalake import write_deltalake

from featurestore.services.cli import cli

CHECKOUT = Path(__file__).resolve().parents[1]
FEAST = str(Path(sys.executable).parent / "feast")

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

VIEW = """

odd_view = FeatureView(name="odd", entities=[customer], ttl=timedelta(days=1),
    schema=[Field(name="x", dtype=Float64)], online=True, tags={"contract": "odd"},
    source=FileSource(name="odd", path=table_ref("odd"), file_format=DeltaFormat(),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp"))
"""


def odd_project(
    root: Path,
    versions: Sequence[tuple[float, int]],
    *,
    rows: int = 50,
    apply: bool = False,
) -> tuple[Path, Path]:
    """``featurestore init root/p``, the odd contract, one Delta version per
    ``(mean, seed)`` of x ~ N(mean, 1) (events 30 minutes old), and with
    ``apply`` the odd view applied; returns the repo and the table folder."""
    repo = root / "p"
    assert CliRunner().invoke(cli, ["init", str(repo)]).exit_code == 0
    (repo / "contracts" / "odd").mkdir(parents=True)
    (repo / "contracts" / "odd" / "1.0.0.yaml").write_text(CONTRACT)
    table = repo / "data" / "features" / "odd"
    when = datetime.now(UTC) - timedelta(minutes=30)
    stamps = pa.array([when] * rows, pa.timestamp("us", tz="UTC"))
    for mean, seed in versions:
        x = np.random.default_rng(seed).normal(mean, 1.0, rows)
        batch = pa.table(
            {
                "customer_id": pa.array(range(1, rows + 1), pa.int64()),
                "event_timestamp": stamps,
                "created_timestamp": stamps,
                "x": pa.array(x, pa.float64()),
            }
        )
        write_deltalake(str(table), batch, mode="overwrite")
    if apply:
        with (repo / "feature_views.py").open("a") as views:
            views.write(VIEW)
        done = subprocess.run(
            [FEAST, "apply"], cwd=repo, env=project_env(repo),
            capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    return repo, table


def project_env(repo: Path) -> dict[str, str]:
    """The environment a feast or console process needs for ``repo``."""
    return {
        **os.environ,
        "FS_DATA_DIR": str(repo / "data"),
        "PYTHONPATH": str(CHECKOUT),
    }
