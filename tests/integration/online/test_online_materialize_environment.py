"""materialize when its environment fails: registry, configuration, store."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from featurestore.services.cli import cli
from tests.integration.online.test_online_materialize import T0, T1, _repo
from tests.redis_harness import start_redis_process

pytestmark = pytest.mark.integration

SQLITE = "  type: sqlite\n  path: online.db"
WINDOW = [T0.isoformat(), T1.isoformat()]


def _materialize(*args: str):
    return CliRunner().invoke(cli, ["materialize", *args])


def _as_a_user_file_modes_bind(command: list[str]) -> list[str]:
    """``command`` run so that a file's mode applies (root: without
    CAP_DAC_OVERRIDE, which would write a read-only file anyway)."""
    if os.geteuid() != 0:
        return command
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("root without setpriv: a read-only file stays writable")
    return [setpriv, "--bounding-set", "-all", "--inh-caps", "-all", "--", *command]


def test_a_read_only_registry_is_one_line_saying_the_rows_were_written(tmp_path):
    # Was: the rows written, then a 40-line PermissionError traceback.
    store = _repo(tmp_path, SQLITE)
    registry = tmp_path / "registry.db"
    before = registry.read_bytes()
    registry.chmod(0o444)
    command = [sys.executable, "-m", "featurestore.services.cli", "materialize"]
    done = subprocess.run(
        _as_a_user_file_modes_bind([*command, *WINDOW, "--repo", store.repo_path]),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout == "stats: 30 entities\n"
    [line] = done.stderr.splitlines()
    assert line.startswith(f"error: registry {registry} cannot be written (")
    assert "Permission denied" in line
    assert "'stats'" in line and "interval was not recorded" in line
    assert registry.read_bytes() == before


def test_a_malformed_featurestore_yaml_is_one_invalid_config_line(tmp_path):
    # Was: exit 1, "unexpected ProjectConfigError" once per view.
    store = _repo(tmp_path, SQLITE)
    (tmp_path / "featurestore.yaml").write_text("data_dir: [1\n")
    result = _materialize("--incremental", "--repo", store.repo_path)
    assert result.exit_code == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: INVALID_CONFIG: {tmp_path / 'featurestore.yaml'}")


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


def test_incremental_with_nothing_new_still_asks_the_unreachable_store(tmp_path):
    server = start_redis_process(tmp_path / "redis")
    try:
        online = f"  type: redis\n  connection_string: {server.host}:{server.port}"
        store = _repo(tmp_path / "repo", online)
        assert _materialize(*WINDOW, "--repo", store.repo_path).exit_code == 0
    finally:
        server.stop()
    result = _materialize("--incremental", T1.isoformat(), "--repo", store.repo_path)
    assert result.exit_code == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: online store redis:{server.host}:{server.port} ")
