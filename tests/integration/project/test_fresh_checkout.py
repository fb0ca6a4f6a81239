"""The plain feast CLI on feature_repo/ of a fresh clone (no data/ yet).

The registry was ../data/feast/registry.db: Feast creates only the registry's
own folder, so with no data/ (git-ignored, absent in a clone) every feast
command failed with FileNotFoundError before anything was generated.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
FEAST = str(Path(sys.executable).parent / "feast")


def test_feast_plan_and_apply_work_in_a_clone_without_data(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    # The checkout's feature_repo as a clone has it: no data/ beside it.
    shutil.copytree(
        REPO / "feature_repo", clone / "feature_repo",
        ignore=shutil.ignore_patterns("__pycache__", "data"),
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("FS_")}
    for command in (["plan"], ["apply"], ["feature-views", "list"]):
        done = subprocess.run(
            [FEAST, *command], cwd=clone / "feature_repo", env=env,
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, (command, done.stderr[-2000:])
        assert "Traceback" not in done.stderr, command
    assert (clone / "data" / "registry.db").is_file()
