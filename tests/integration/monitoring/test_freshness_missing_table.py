"""``monitor freshness VIEW``: a named view whose table is missing fails (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from featurestore.services.cli import cli
from tests.integration.monitoring._monitored import make_monitored_repo

pytestmark = pytest.mark.integration


def test_a_named_view_without_its_table_fails_naming_where(tmp_path: Path) -> None:
    # It exited 0 with verdict "unknown", so CI running `monitor freshness
    # VIEW` passed with a wrong data root, while drift and profiles exit 2.
    store, _ = make_monitored_repo(tmp_path)
    repo = Path(store.repo_path)
    table = repo / "data" / "customer_stats"
    assert table.is_dir()
    table.rename(table.with_name("customer_stats_gone"))
    runner = CliRunner()
    named = runner.invoke(cli, ["monitor", "freshness", "customer_stats",
                                "--repo", str(repo), "--json"])  # fmt: skip
    assert named.exit_code == 2, named.output
    assert named.stdout == ""
    [line] = named.stderr.splitlines()
    assert line.startswith("error: TABLE_NOT_FOUND: feature view 'customer_stats' ")
    assert "no Delta table at data/customer_stats (under the project folder" in line
    # The list of every view still judges the others (and says unknown).
    listed = runner.invoke(cli, ["monitor", "freshness", "--repo", str(repo), "--json"])
    assert listed.exit_code == 1, listed.output  # merchant_risk is late
    verdicts = {f["view"]: f["verdict"] for f in json.loads(listed.stdout)}
    assert verdicts["customer_stats"] == "unknown"
