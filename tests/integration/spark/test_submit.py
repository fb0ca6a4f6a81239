"""`featurestore run --submit`: a project job through a real spark-submit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.spark, pytest.mark.integration]

FEATURESTORE = str(Path(sys.executable).parent / "featurestore")


def test_a_project_job_importing_its_own_package_runs_under_spark_submit(
    tmp_path: Path,
) -> None:
    # spark-submit runs the job's file as a script: `import jobs.helpers` failed
    # (ModuleNotFoundError) where `featurestore run` worked, the project folder
    # being on the path only in-process.
    project = tmp_path / "shop"
    (project / "jobs").mkdir(parents=True)
    (project / "feature_store.yaml").write_text("project: shop\n")
    (project / "featurestore.yaml").write_text("jobs:\n  greet: jobs.greet\n")
    (project / "jobs" / "__init__.py").write_text("")
    (project / "jobs" / "helpers.py").write_text("def greet():\n    return 'hi'\n")
    (project / "jobs" / "greet.py").write_text(
        "import sys\n\nfrom jobs.helpers import greet\n\n"
        "def main(argv):\n    print(greet(), *argv)\n    return 0\n\n"
        "if __name__ == '__main__':\n    sys.exit(main(sys.argv[1:]))\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    ran = subprocess.run(
        [FEATURESTORE, "run", "--repo", str(project), "--submit", "greet", "there"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "hi there" in ran.stdout.splitlines()
