"""The scaffolded project's job end to end in-process (Spark), and training-set
mistakes against its applied Feast repo: one line and an exit code, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from featurestore.services.cli import main
from featurestore.services.project import scaffold
from featurestore.services.project.scaffold import write_sample_purchases

pytestmark = [pytest.mark.integration]

FEAST = str(Path(sys.executable).parent / "feast")
TS = pa.timestamp("us", tz="UTC")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line(err: str, reason: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err
    assert lines and reason in lines[-1], err


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scaffolded project with 30 raw rows; the working directory elsewhere."""
    for name in ("jobs", "jobs.example"):  # another project's, imported earlier
        monkeypatch.delitem(sys.modules, name, raising=False)
    for name in ("FS_REPO_PATH", "FS_CONTRACTS_DIR", "FS_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    repo = tmp_path / "p"
    scaffold(repo)
    raw = repo / "data" / "raw" / "purchases"
    (raw / "part-00000.parquet").unlink()
    raw.rmdir()
    write_sample_purchases(raw, rows=30)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    return repo


@pytest.mark.spark
@pytest.mark.slow
def test_scaffolded_job_publishes_validates_and_refuses(
    spark: object, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = project / "data" / "features" / "customer_purchases"
    # --repo reaches the job: it runs from another folder.
    code, out, err = _run(capsys, "run", "--repo", str(project), "example")
    assert code == 0, err
    assert "customer_purchases: version 0" in out
    # What Spark wrote (INT96 timestamps) passes the contract it was judged by;
    # the Delta folder is read as its snapshot.
    base = ("contracts", "--repo", str(project), "validate", "--contract",
            "customer_purchases", "--json")  # fmt: skip
    rows = DeltaTable(str(table)).to_pyarrow_table().num_rows
    (part,) = table.glob("*.parquet")
    code, out, _ = _run(capsys, *base, str(part))
    assert code == 0 and json.loads(out)["schema_problems"] == {}
    code, out, _ = _run(capsys, *base, str(table))
    assert code == 0 and json.loads(out)["rows"] == rows
    # Every amount negative: a contract failure is one line, exit 1, and the
    # table keeps its version.
    raw = project / "data" / "raw" / "purchases" / "part-00000.parquet"
    purchases = pq.read_table(raw)
    index = purchases.schema.get_field_index("amount")
    negated = pc.negate(purchases.column("amount"))
    pq.write_table(purchases.set_column(index, "amount", negated), raw)
    code, _, err = _run(capsys, "run", "--repo", str(project), "example")
    assert code == 1
    _one_line(err, "[FAILURE_RATIO_EXCEEDED]")
    assert DeltaTable(str(table)).version() == 0
    code, out, _ = _run(capsys, *base, str(table))
    assert code == 0 and json.loads(out)["rows"] == rows


@pytest.fixture
def applied(project: Path) -> Path:
    """The project with a customer_purchases Delta table and `feast apply` run."""
    now = datetime.now(UTC).replace(microsecond=0)
    write_deltalake(
        project / "data" / "features" / "customer_purchases",
        pa.table(
            {
                "customer_id": pa.array([1, 2], pa.int64()),
                "event_timestamp": pa.array([now, now], TS),
                "created_timestamp": pa.array([now, now], TS),
                "purchase_count_1d": pa.array([3, 1], pa.int64()),
                "amount_1d": [30.0, 4.5],
            }
        ),
    )
    proc = subprocess.run(
        [FEAST, "apply"], cwd=project, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    entities = project / "entities.parquet"
    pq.write_table(
        pa.table(
            {"customer_id": pa.array([1, 2], pa.int64()),
             "event_timestamp": pa.array([now, now], TS)}
        ),
        entities,
    )  # fmt: skip
    return project


def test_training_set_mistakes_are_usage(
    applied: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("")  # no folder can be made below it
    base = ("training-set", "--repo", str(applied),
            "--entities", str(applied / "entities.parquet"))  # fmt: skip
    code, _, err = _run(capsys, *base, "--feature-service", "nope",
                        "--out", str(tmp_path / "a.parquet"))  # fmt: skip
    assert code == 2
    _one_line(err, "FEATURE_SERVICE_NOT_FOUND")
    assert "example_model_v1" in err
    code, _, err = _run(capsys, *base, "--feature-service", "example_model_v1",
                        "--out", str(tmp_path / "a-file" / "x.parquet"))  # fmt: skip
    assert code == 2
    _one_line(err, "cannot write")
    out = tmp_path / "ok.parquet"
    code, _, err = _run(capsys, *base, "--feature-service", "example_model_v1",
                        "--out", str(out))  # fmt: skip
    assert code == 0, err
    assert pq.read_table(out).num_rows == 2
