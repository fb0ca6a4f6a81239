"""The README's monitoring commands, run as written on a copy of the served repo
whose server logged every online read."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from featurestore.services.server.app import create_server
from featurestore.services.server.settings import ServerSettings
from featurestore.v1 import common_pb2
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1 import feature_store_service_pb2_grpc as pb_grpc
from tests.integration.server._served import ServedRepo
from tests.integration.server.test_readme_security import _block, _commands

pytestmark = pytest.mark.integration

SCRIPT = Path(sys.executable).parent / "featurestore"


def _log_reads(root: Path) -> None:
    """Serve the copy with every read logged; read customers 1-3 and 99."""
    import grpc

    settings = ServerSettings(
        repo_path=root / "feature_repo",
        data_dir=root / "data",
        serving_log=True,
        serving_log_sample_rate=1.0,
    )
    server = create_server(settings, "127.0.0.1:0")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            pb_grpc.FeatureStoreServiceStub(channel).GetOnlineFeatures(
                pb.GetOnlineFeaturesRequest(
                    features=["customer_spend:spend_1h", "customer_spend:count_7d"],
                    entities={"customer_id": common_pb2.ValueList(values=[
                        common_pb2.Value(int64_value=i) for i in (1, 2, 3, 99)])},
                )
            )  # fmt: skip
    finally:
        server.stop(0)  # writes the queued rows


def test_readme_monitoring_commands_run_as_written(
    served_repo: ServedRepo, tmp_path: Path
) -> None:
    root = tmp_path / "workspace"
    shutil.copytree(served_repo.repo.parent, root)
    _log_reads(root)
    env = {**os.environ, "FS_DATA_DIR": str(root / "data")}
    outputs = []
    commands = _commands(_block("readme-monitoring-freshness"))
    assert len(commands) == 3 and all(c.startswith("featurestore ") for c in commands)
    for command in commands:
        local = str(SCRIPT) + command.removeprefix("featurestore")
        proc = subprocess.run(
            ["bash", "-c", local], cwd=root, env=env, capture_output=True,
            text=True, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 0, f"{command}\n{proc.stdout}\n{proc.stderr}"
        outputs.append(proc.stdout)
    assert "customer_spend" in outputs[0] and "merchant_risk" in outputs[0]
    (fresh,) = json.loads(outputs[1])
    assert (fresh["view"], fresh["verdict"]) == ("customer_spend", "ok")
    skew = {s["feature"]: s for s in json.loads(outputs[2])}
    # Nothing was published since the materialisation: served equals offline.
    assert {f: (s["rows"], s["mismatches"]) for f, s in skew.items()} == {
        "spend_1h": (4, 0),
        "count_7d": (4, 0),
    }
