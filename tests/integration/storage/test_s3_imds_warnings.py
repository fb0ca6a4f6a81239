"""An s3:// table read with no AWS region or keys: our one-line error, without
the AWS SDK's instance-metadata (IMDS) WARN lines that delta-rs logs first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import free_port

pytestmark = [pytest.mark.integration]

TABLE = "s3://featurestore-test/imds/table"


def _lineage(folder: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`featurestore lineage TABLE` in ``folder`` (no project), off EC2: no
    AWS_* configuration, and the metadata service a port nothing listens on
    (refused at once, as an unreachable one fails after its timeouts)."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "FS_")) and k != "RUST_LOG"
    }
    no_profiles = folder / "empty-aws-profiles"  # not the user's ~/.aws
    no_profiles.write_text("")
    clean.update(
        AWS_EC2_METADATA_SERVICE_ENDPOINT=f"http://127.0.0.1:{free_port()}",
        AWS_CONFIG_FILE=str(no_profiles),
        AWS_SHARED_CREDENTIALS_FILE=str(no_profiles),
        **env,
    )
    return subprocess.run(
        [sys.executable, "-m", "featurestore.services.cli", "lineage", TABLE],
        cwd=folder,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_no_imds_warnings_before_our_error(tmp_path: Path) -> None:
    proc = _lineage(tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"error: STORAGE_UNAVAILABLE: cannot read {TABLE}: the object store did "
        "not answer or refused (check storage_options in featurestore.yaml)"
    ]


def test_a_rust_log_of_the_users_own_is_kept(tmp_path: Path) -> None:
    # The probe itself still runs (IMDS stays usable on EC2): asked for
    # warnings, the user sees its failures.
    proc = _lineage(tmp_path, RUST_LOG="warn")
    assert proc.returncode == 2
    assert any("aws_config::imds" in line for line in proc.stderr.splitlines())
    assert "STORAGE_UNAVAILABLE" in proc.stderr.splitlines()[-1]
