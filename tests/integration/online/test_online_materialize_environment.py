"""materialize when its environment fails: registry, configuration, store."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from featurestore.services.cli import cli
from tests.integration.online.test_online_materialize import T0, T1, _repo

pytestmark = pytest.mark.integration

SQLITE = "  type: sqlite\n  path: online.db"
WINDOW = [T0.isoformat(), T1.isoformat()]


def _materialize(*args: str):
    return CliRunner().invoke(cli, ["materialize", *args])


def test_a_deleted_sqlite_store_says_what_to_run_and_creates_no_file(tmp_path):
    # Was: "unavailable: no such table" and a new, empty online.db.
    store = _repo(tmp_path, SQLITE)
    online = tmp_path / "online.db"
    online.unlink()
    for args in (WINDOW, ["--incremental"]):
        result = _materialize(*args, "--repo", store.repo_path)
        assert result.exit_code == 1
        [line] = result.stderr.splitlines()
        assert line == (
            f"error: online store sqlite:{online} is unavailable: no such file "
            "(`feast apply` in the repository creates the store's tables)"
        )
        assert not online.exists()
