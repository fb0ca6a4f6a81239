"""Spark that cannot start (no usable Java, jars that cannot be resolved): one
line saying what to fix, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration]

FEATURESTORE = str(Path(sys.executable).parent / "featurestore")
CONTRACTS = Path(__file__).resolve().parents[3] / "feature_repo" / "contracts"


def _run_with_java_home(home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FEATURESTORE, "run", "build_customer_spend", "--data-dir",
         str(cwd / "data"), "--contracts-dir", str(CONTRACTS)],
        cwd=cwd, env={**os.environ, "JAVA_HOME": str(home)}, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip


def test_no_java_at_java_home_is_one_line_exit_2(tmp_path: Path) -> None:
    # It was the launcher's shell errors and a PySparkRuntimeError
    # [JAVA_GATEWAY_EXITED] traceback, exit 1.
    proc = _run_with_java_home(tmp_path / "nonexistent", tmp_path)
    assert proc.returncode == 2
    [line] = proc.stderr.splitlines()
    assert "build_customer_spend: error [JAVA_UNAVAILABLE]" in line
    assert "Java 17" in line and f"JAVA_HOME={tmp_path / 'nonexistent'}" in line


def test_a_java_that_exits_at_once_is_one_line_exit_2(tmp_path: Path) -> None:
    # A Java older than 17 exits at once (UnsupportedClassVersionError).
    java = tmp_path / "old-java" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\necho 'old java' >&2\nexit 1\n")
    java.chmod(0o755)
    proc = _run_with_java_home(java.parent.parent, tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    last = proc.stderr.splitlines()[-1]  # the launcher's own lines come first
    assert "[JAVA_UNAVAILABLE]" in last and "Java 17" in last


def test_jars_that_cannot_be_resolved_are_not_called_a_java_problem(
    tmp_path: Path,
) -> None:
    # A first start whose jars Ivy cannot resolve (Maven Central unreachable;
    # here an artifact it does not have) made the JVM exit, and the user was
    # told to install Java 17. Java is fine: the line names the jars and the
    # Ivy folder. A fresh Ivy folder, so no recorded jars are used.
    script = (
        "import sys\n"
        "import featurestore.spark_jobs.session as session\n"
        "session.DELTA_PACKAGE = 'io.delta:featurestore-no-such-artifact_2.13:0.0.1'\n"
        "from featurestore.services.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    ivy = tmp_path / "ivy"
    proc = subprocess.run(
        [sys.executable, "-c", script, "run", "build_customer_spend", "--data-dir",
         str(tmp_path / "data"), "--contracts-dir", str(CONTRACTS)],
        cwd=tmp_path, env={**os.environ, "FS_IVY_DIR": str(ivy)},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    *shown, last = proc.stderr.splitlines()
    assert "build_customer_spend: error [JARS_UNAVAILABLE]" in last
    assert str(ivy) in last and "Maven Central" in last
    assert "Java 17" not in last
    assert "Traceback" not in proc.stderr
    # Ivy's output goes to a log file, named in the line; its reason is shown
    # above it (its stack frames are not).
    [log] = ivy.glob("featurestore-jars-*.log")
    assert str(log) in last
    assert any("unresolved dependency" in line for line in shown)
    assert not any(line.startswith("\tat ") for line in shown)
