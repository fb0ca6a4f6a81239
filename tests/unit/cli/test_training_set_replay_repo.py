"""``training-set --replay M --repo DIR``: a manifest names its tables by
reference and commit, so a replay reads them in a moved or copied project and
refuses another project's table.

The manifest pinned absolute table paths and --replay ignored --repo: after
``mv proj moved`` the replay failed TABLE_NOT_FOUND with no way to point it at
the new place, and with --repo of another project it silently read the
manifest's tables. Real projects (delta-rs tables, FeatureStore.apply), the
CLI through ``main``; the oracle is the amount each project's table holds.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from featurestore.services.cli import main
from tests.delta_repo import delta_repo

pytestmark = pytest.mark.integration  # feast apply

NOW = datetime(2026, 11, 1, tzinfo=UTC)
DEFINITIONS = """
from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.data_format import DeltaFormat
from feast.types import Float64
from featurestore.services.project import table_ref

customer = Entity(name="customer", join_keys=["customer_id"],
                  value_type=ValueType.INT64)
spend = FeatureView(
    name="spend", entities=[customer], ttl=timedelta(days=30),
    schema=[Field(name="amount", dtype=Float64)],
    source=FileSource(name="spend", path=table_ref("spend"),
                      file_format=DeltaFormat(), timestamp_field="event_timestamp"),
)
"""


def _project(root: Path, name: str, amounts: list[float]) -> Path:
    """A project whose spend table has one version per amount (customer 1)."""
    repo = root / name
    delta_repo(repo, name, DEFINITIONS, state=root / f"{name}-state")
    for amount in amounts:
        rows = {
            "customer_id": pa.array([1], pa.int64()),
            "amount": [amount],
            "event_timestamp": pa.array(
                [NOW - timedelta(days=1)], pa.timestamp("us", tz="UTC")
            ),
        }
        table = str(repo / "data" / "features" / "spend")
        write_deltalake(table, pa.table(rows), mode="overwrite")
    return repo


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Project ``proj`` (spend versions 0 and 1), a training set built from
    it (pinning version 1) and the entity file."""
    proj = _project(tmp_path, "proj", [5.0, 10.0])
    entities = tmp_path / "entities.parquet"
    rows = {"customer_id": pa.array([1], pa.int64()), "event_timestamp": [NOW]}
    pq.write_table(pa.table(rows), entities)
    out = tmp_path / "built.parquet"
    argv = ["training-set", "--repo", str(proj), "--entities", str(entities),
            "--features", "spend:amount", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert pq.read_table(out)["amount"].to_pylist() == [10.0]
    return proj, out, entities


def _replay(manifest: Path, entities: Path, out: Path, *repo: str) -> int:
    return main(["training-set", "--replay", str(manifest), "--entities",
                 str(entities), "--out", str(out), *repo])  # fmt: skip


def test_the_manifest_names_the_table_by_reference_and_commit(
    built: tuple[Path, Path, Path],
) -> None:
    _, out, _ = built
    [table] = json.loads(Path(f"{out}.manifest.json").read_text())["tables"]
    assert table["table"] == "featurestore://spend"
    assert table["version"] == 1 and isinstance(table["committed_at"], int)


def test_a_moved_project_replays_with_its_repo(
    built: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, out, entities = built
    manifest = Path(f"{out}.manifest.json")
    moved = proj.rename(tmp_path / "moved")
    assert _replay(manifest, entities, tmp_path / "r1.parquet") == 2
    err = capsys.readouterr().err
    assert "TABLE_NOT_FOUND" in err and "pass --repo DIR" in err
    again = tmp_path / "r2.parquet"
    assert _replay(manifest, entities, again, "--repo", str(moved)) == 0
    assert pq.read_table(again).to_pylist() == pq.read_table(out).to_pylist()


def test_a_copied_project_replays_with_its_repo(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    proj, out, entities = built
    copy = tmp_path / "copy"
    shutil.copytree(proj, copy)  # the Delta log keeps its commit times
    shutil.rmtree(proj)
    again = tmp_path / "again.parquet"
    manifest = Path(f"{out}.manifest.json")
    assert _replay(manifest, entities, again, "--repo", str(copy)) == 0
    assert pq.read_table(again)["amount"].to_pylist() == [10.0]


def test_another_projects_table_is_refused(
    built: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, entities = built
    manifest = Path(f"{out}.manifest.json")
    other = _project(tmp_path, "other", [99.0])  # version 0 only
    capsys.readouterr()
    assert (
        _replay(manifest, entities, tmp_path / "a.parquet", "--repo", str(other)) == 2
    )
    err = capsys.readouterr().err
    assert "VERSION_NOT_FOUND" in err and "no snapshot for version 1" in err
    _project(tmp_path, "other", [98.0])  # now a version 1, another commit
    capsys.readouterr()
    assert (
        _replay(manifest, entities, tmp_path / "b.parquet", "--repo", str(other)) == 2
    )
    err = capsys.readouterr().err
    assert "VERSION_NOT_FOUND" in err and "is another commit" in err
    assert not (tmp_path / "a.parquet").exists()
    assert not (tmp_path / "b.parquet").exists()


def test_an_old_manifest_replays_where_it_was_and_says_repo_moves_nothing(
    built: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, out, entities = built
    document = json.loads(Path(f"{out}.manifest.json").read_text())
    for table in document["tables"]:  # as written before references were kept
        del table["table"], table["committed_at"]
    old = tmp_path / "old.manifest.json"
    old.write_text(json.dumps(document))
    assert _replay(old, entities, tmp_path / "o1.parquet") == 0
    assert pq.read_table(tmp_path / "o1.parquet")["amount"].to_pylist() == [10.0]
    other = _project(tmp_path, "other", [99.0, 98.0])
    capsys.readouterr()
    assert _replay(old, entities, tmp_path / "o2.parquet", "--repo", str(other)) == 0
    assert pq.read_table(tmp_path / "o2.parquet")["amount"].to_pylist() == [10.0]
    err = capsys.readouterr().err
    assert (
        "warning:" in err and f"read at {proj / 'data' / 'features' / 'spend'}" in err
    )


def test_a_manifest_without_locations_replays_with_a_repo(
    built: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # As GetHistoricalFeatures answers it and the console downloads it.
    from featurestore.services.offline import Manifest

    proj, out, entities = built
    written = Manifest.from_json(Path(f"{out}.manifest.json").read_text())
    answered = tmp_path / "answered.manifest.json"
    answered.write_text(written.without_locations().to_json())
    capsys.readouterr()
    assert _replay(answered, entities, tmp_path / "a.parquet") == 2
    assert "pass --repo DIR" in capsys.readouterr().err
    again = tmp_path / "b.parquet"
    assert _replay(answered, entities, again, "--repo", str(proj)) == 0
    assert pq.read_table(again).to_pylist() == pq.read_table(out).to_pylist()
