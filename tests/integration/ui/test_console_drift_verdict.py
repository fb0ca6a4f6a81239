"""The console's drift verdict agrees with `featurestore monitor drift`.

A table whose newest version is back to its baseline's data but far from the
previous version: against the baseline it is ok, against the previous version
it fails, and `monitor drift` exits 1. The console showed "ok" (it read only
the scores against the baseline).
"""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner
from deltalake import write_deltalake

from featurestore.services.cli import cli
from tests.integration.ui._console import Browserless, start_console
from tests.integration.ui._project import FEAST, ConsoleProject

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

VIEW = """

odd_view = FeatureView(name="odd", entities=[customer], ttl=timedelta(days=1),
    schema=[Field(name="x", dtype=Float64)], online=True, tags={"contract": "odd"},
    source=FileSource(name="odd", path=table_ref("odd"), file_format=DeltaFormat(),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp"))
"""


def _version(table: Path, mean: float, seed: int) -> None:
    now, rows = datetime.now(UTC), 200
    when = pa.array([now - timedelta(minutes=30)] * rows, pa.timestamp("us", tz="UTC"))
    x = np.random.default_rng(seed).normal(mean, 1.0, rows)
    batch = pa.table(
        {
            "customer_id": pa.array(range(1, rows + 1), pa.int64()),
            "event_timestamp": when,
            "created_timestamp": when,
            "x": pa.array(x, pa.float64()),
        }
    )
    write_deltalake(str(table), batch, mode="overwrite")


@pytest.fixture(scope="module")
def drifted(tmp_path_factory: pytest.TempPathFactory) -> ConsoleProject:
    root = tmp_path_factory.mktemp("drift-verdict")
    assert CliRunner().invoke(cli, ["init", str(root / "p")]).exit_code == 0
    repo = root / "p"
    (repo / "contracts" / "odd").mkdir(parents=True)
    (repo / "contracts" / "odd" / "1.0.0.yaml").write_text(CONTRACT)
    with (repo / "feature_views.py").open("a") as views:
        views.write(VIEW)
    project = ConsoleProject(repo, repo / "data")
    done = subprocess.run(
        [FEAST, "apply"], cwd=repo, env=project.env(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    table = repo / "data" / "features" / "odd"
    for mean in (0.0, 3.0, 0.0):  # v2 holds v0's data again
        _version(table, mean, seed=7)
    backfill = CliRunner().invoke(
        cli, ["monitor", "backfill", "odd", "--repo", str(repo)]
    )
    assert backfill.exit_code == 0, backfill.output
    return project


def test_the_verdict_is_the_worst_against_baseline_or_previous(drifted):
    drift = CliRunner().invoke(
        cli, ["monitor", "drift", "odd", "--repo", str(drifted.repo), "--json"]
    )
    scores = {s["against"]: s["verdict"] for s in json.loads(drift.stdout)["scores"]}
    assert (drift.exit_code, scores) == (1, {"baseline": "ok", "previous": "fail"})
    console = start_console(drifted)
    try:
        client = Browserless(console)
        home = client.request("/").body
        overview = client.request("/drift").body
        page = client.request("/drift/odd").body
        missing = client.request("/drift/odd?version=99")
        shown = client.request("/drift/odd?version=1")
    finally:
        console.stop()
    for body in (home, overview):
        # The table's badge (its title names the version; freshness ones do not).
        [(level, title)] = re.findall(
            r'class="badge (\w+)" title="(v\d+: [^"]*)"', body
        )
        assert (level, title.split(":")[0]) == ("fail", "v2"), title
        assert "previous version 1" in title, title
    feature = re.search(r'<code>x</code> <span class="badge (\w+)"', page)
    assert feature and feature.group(1) == "fail", page
    # A version never profiled is not silently swapped for the newest.
    assert missing.status == 404 and "no profiled version 99" in missing.body
    assert shown.status == 200 and re.search(
        r"<option[^>]*selected[^>]*>v1<", shown.body
    )
