"""A feature a newer version no longer has (dropped, retyped) is not shown
with an older version's verdict.

The drift page took each feature's badge from its newest *scored* version:
after v2 dropped `x` the page, showing v2, still said "ok" from v1, and
explained the missing buckets by the baseline (tester 94 saw it for a
dropped and for a retyped column).
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner
from deltalake import DeltaTable, write_deltalake

from featurestore.services.cli import cli
from tests.integration.ui._console import Browserless, start_console
from tests.integration.ui._project import ConsoleProject
from tests.odd_project import CONTRACT, odd_project

pytestmark = pytest.mark.integration


def _badge(page: str) -> str:
    found = re.search(r'<code>x</code> <span class="badge (\w+)"', page)
    assert found, page
    return found.group(1)


def _backfill(repo) -> None:
    done = CliRunner().invoke(cli, ["monitor", "backfill", "odd", "--repo", str(repo)])
    assert done.exit_code == 0, done.output


def test_a_dropped_feature_is_unknown_at_the_version_without_it(tmp_path):
    # v0 and v1 profile and score x; v2 (contract 2.0.0) drops x for y.
    repo, table = odd_project(tmp_path, [(0.0, 7), (0.0, 8)], rows=200, apply=True)
    _backfill(repo)
    (repo / "contracts" / "odd" / "2.0.0.yaml").write_text(
        CONTRACT.replace("version: 1.0.0", "version: 2.0.0").replace(
            "{name: x,", "{name: y,"
        )
    )
    rows = DeltaTable(str(table)).to_pyarrow_table().drop_columns(["x"])
    y = np.random.default_rng(1).normal(0.0, 1.0, rows.num_rows)
    rows = rows.append_column("y", pa.array(y))
    write_deltalake(str(table), rows, mode="overwrite", schema_mode="overwrite")
    _backfill(repo)
    console = start_console(ConsoleProject(repo, repo / "data"))
    try:
        client = Browserless(console)
        newest = client.request("/drift/odd").body
        scored = client.request("/drift/odd?version=1").body
    finally:
        console.stop()
    assert re.search(r"<option[^>]*selected[^>]*>v2<", newest), newest
    assert _badge(newest) == "unknown"  # was "ok", v1's verdict
    assert "v2 has no column <code>x</code>" in newest
    assert _badge(scored) == "ok"  # v1 keeps its own
