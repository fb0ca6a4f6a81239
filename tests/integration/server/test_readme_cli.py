"""Every `featurestore` command in the README's code blocks, run as written.

The security walk-through (a server with TLS and keys) and the key rotation
block are run by test_readme_security.py; this test runs every other block that
calls the CLI, in README order, in a copy of the served repo (so `--repo`
defaults to its feature_repo/ as in this checkout), and requires exit 0 from
each.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from tests.integration.server._served import NOW, REPO, TS, ServedRepo
from tests.integration.server.test_readme_security import _commands

pytestmark = [pytest.mark.integration, pytest.mark.spark, pytest.mark.slow]

SCRIPT = Path(sys.executable).parent / "featurestore"


def _cli_blocks() -> list[str]:
    """The bash blocks that call .venv/bin/featurestore, the security blocks
    (walk-through, key rotation: run by test_readme_security.py) excluded."""
    text = (REPO / "README.md").read_text()
    text = re.sub(
        r"<!-- (readme-security|readme-key-rotation):begin -->.*?<!-- \1:end -->",
        "", text, flags=re.S,
    )  # fmt: skip
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    return [b for b in blocks if ".venv/bin/featurestore" in b]


def _workspace(served_repo: ServedRepo, root: Path) -> dict[str, str]:
    """A copy of the served repo with a customer_spend 1.1.0 and input files."""
    shutil.copytree(served_repo.repo.parent, root, dirs_exist_ok=True)
    shutil.rmtree(root / "data" / "features")  # the README's jobs publish here
    contracts = root / "feature_repo" / "contracts"
    first = (contracts / "customer_spend" / "1.0.0.yaml").read_text()
    (contracts / "customer_spend" / "1.1.0.yaml").write_text(
        first.replace("version: 1.0.0", "version: 1.1.0", 1)
    )
    now = datetime(2026, 11, 1, tzinfo=UTC)
    pq.write_table(
        pa.table(
            {
                "merchant_id": ["M0001"],
                "event_timestamp": pa.array([now], TS),
                "created_timestamp": pa.array([now], TS),
                "txn_count_30d": pa.array([40], pa.int64()),
                "fraud_count_30d": pa.array([2], pa.int64()),
                "fraud_rate_30d": [0.05],
            }
        ),
        root / "merchant_risk.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "customer_id": pa.array([1, 3], pa.int64()),
                "merchant_id": ["M0001", "M0001"],
                "event_timestamp": pa.array([NOW, NOW], TS),
            }
        ),
        root / "entities.parquet",
    )
    return {
        **os.environ,
        "FS_DATA_DIR": str(root / "data"),
        "FS_CONTRACTS_DIR": str(contracts),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "FS_DRIVER_MEMORY": "1g",
    }


def test_readme_cli_commands_run_as_written(
    served_repo: ServedRepo, tmp_path: Path
) -> None:
    # Long-running servers (`ui`, `serve`) are started by the console and
    # server tests (tests/integration/ui, test_exposure.py); not here.
    commands = [
        c
        for block in _cli_blocks()
        for c in _commands(block)
        if c.split()[1] not in {"ui", "serve"}
    ]
    assert len(commands) >= 15, commands
    # The workspace starts without feature tables: the README's jobs publish
    # them (a reader has run `make demo` before the first block), so the job
    # commands go first and everything else keeps README order.
    commands.sort(key=lambda c: not c.startswith(".venv/bin/featurestore run "))
    assert all(c.startswith(".venv/bin/featurestore ") for c in commands), commands
    root = tmp_path / "workspace"
    env = _workspace(served_repo, root)
    for command in commands:
        local = command.replace(".venv/bin/featurestore", shlex.quote(str(SCRIPT)))
        proc = subprocess.run(
            ["bash", "-c", local], cwd=root, env=env, capture_output=True,
            text=True, timeout=900,
        )  # fmt: skip
        assert proc.returncode == 0, f"{command}\n{proc.stdout}\n{proc.stderr[-3000:]}"
    history = DeltaTable(str(root / "data" / "features" / "customer_spend")).history()
    assert '"job": "build_customer_spend"' in history[0]["userMetadata"].replace(
        '":"', '": "'
    )
    assert (root / "training" / "fraud.parquet.manifest.json").is_file()
    assert DeltaTable(str(root / "training" / "again")).version() == 0
