"""lineage outside a project finds a table by name under $FS_DATA_DIR."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from featurestore.services.cli import main


def test_fs_data_dir_outside_a_project_is_the_root(
    tmp_path: Path,
    elsewhere: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # It was PROJECT_NOT_FOUND, exit 2, while --data-dir worked; the help
    # says "$FS_DATA_DIR wins".
    data = tmp_path / "data"
    write_deltalake(data / "features" / "store_sales", pa.table({"x": [1]}))
    monkeypatch.setenv("FS_DATA_DIR", str(data))
    assert main(["lineage", "store_sales", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["version"] for r in records] == [0]
    # An explicit --data-dir is still the flag's.
    monkeypatch.setenv("FS_DATA_DIR", str(tmp_path / "elsewhere-data"))
    assert main(["lineage", "store_sales", "--data-dir", str(data), "--json"]) == 0
