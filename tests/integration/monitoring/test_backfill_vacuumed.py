"""Backfill leaves vacuumed versions unprofiled instead of failing.

After VACUUM a version's log entry stays while its data files are gone, so the
log loads and the data read fails with the OSError of a store that does not
answer: backfill called every vacuumed table STORAGE_UNAVAILABLE (before
93c8f38: a traceback). A store that does not answer is still
STORAGE_UNAVAILABLE (tests/integration/monitoring/test_storage_unavailable.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from deltalake import DeltaTable

from featurestore.services.cli import cli
from tests.odd_project import odd_project

pytestmark = pytest.mark.integration


def _project(root: Path) -> tuple[Path, Path]:
    return odd_project(root, [(seed, seed) for seed in range(3)])


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
    # The vacuum's own commits (3, 4) hold version 2's rows: not profiled again.
    assert [c["operation"] for c in DeltaTable(str(table)).history(2)] == [
        "VACUUM END", "VACUUM START",
    ]  # fmt: skip
    assert report["profiled"] == [2]


def test_force_after_a_vacuum_leaves_the_vacuumed_versions(tmp_path: Path) -> None:
    repo, table = _project(tmp_path)
    assert _backfill(repo)["profiled"] == [0, 1, 2]
    _vacuum(table)
    report = _backfill(repo, "--force")
    assert report["skipped"] == [0, 1]
    assert report["profiled"] == [2]


def test_the_table_text_names_the_vacuumed_versions(tmp_path: Path) -> None:
    repo, table = _project(tmp_path)
    _vacuum(table)
    done = CliRunner().invoke(cli, ["monitor", "backfill", "odd", "--repo", str(repo)])
    assert done.exit_code == 0, done.output
    assert "odd: versions 0, 1 are vacuumed; left unprofiled" in done.output
