"""The console's drift verdict agrees with `featurestore monitor drift`.

A table whose newest version is back to its baseline's data but far from the
previous version: against the baseline it is ok, against the previous version
it fails, and `monitor drift` exits 1. The console showed "ok" (it read only
the scores against the baseline).
"""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from featurestore.services.cli import cli
from tests.integration.ui._console import Browserless, start_console
from tests.integration.ui._project import ConsoleProject
from tests.odd_project import odd_project

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def drifted(tmp_path_factory: pytest.TempPathFactory) -> ConsoleProject:
    root = tmp_path_factory.mktemp("drift-verdict")
    # v2 holds v0's data again, v1 is shifted by three standard deviations.
    repo, _ = odd_project(root, [(0.0, 7), (3.0, 7), (0.0, 7)], rows=200, apply=True)
    backfill = CliRunner().invoke(
        cli, ["monitor", "backfill", "odd", "--repo", str(repo)]
    )
    assert backfill.exit_code == 0, backfill.output
    return ConsoleProject(repo, repo / "data")


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
    for body in (home, overview, page):
        # The table's badge (its title names the version; freshness ones do not).
        [(level, title)] = re.findall(
            r'class="badge (\w+)" title="(v\d+: [^"]*)"', body
        )
        assert (level, title.split(":")[0]) == ("fail", "v2"), title
        assert "previous version 1" in title, title
    # The page's own header badge and each feature's verdict.
    feature = re.search(r'<code>x</code> <span class="badge (\w+)"', page)
    assert feature and feature.group(1) == "fail", page
    # A version never profiled is not silently swapped for the newest.
    assert missing.status == 404 and "no profiled version 99" in missing.body
    assert shown.status == 200 and re.search(
        r"<option[^>]*selected[^>]*>v1<", shown.body
    )
