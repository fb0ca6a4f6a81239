"""``featurestore training-set --out``: the service's rule for what an output may
replace (a training set only, with --overwrite), one-line errors for a
feature table that lacks a column its view names, and which entity column is
the rows' time.

A real project: a contract-stamped Delta feature table written with delta-rs,
``feast apply`` through FeatureStore.apply, the real CLI through ``main``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import CommitProperties, DeltaTable, write_deltalake

from featurestore.services.cli import main
from featurestore.services.offline.training_sets import (
    MARKER,
    PARQUET_KEY,
    training_set_kind,
)
from tests.delta_repo import delta_repo
from tests.full_disk import full_tmpfs

pytestmark = pytest.mark.integration  # feast apply

NOW = datetime(2026, 11, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")
STAMP = json.dumps({"contract": "customer_purchases@1.0.0"})

DEFINITIONS = """
from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.data_format import DeltaFormat
from feast.types import Float64, Int64

customer = Entity(name="customer", join_keys=["customer_id"],
                  value_type=ValueType.INT64)
purchases = FeatureView(
    name="customer_purchases", entities=[customer], ttl=timedelta(days=30),
    schema=[Field(name="purchase_count_1d", dtype=Int64),
            Field(name="amount_1d", dtype=Float64)],
    source=FileSource(name="customer_purchases",
                      path="data/features/customer_purchases",
                      file_format=DeltaFormat(), timestamp_field="event_timestamp",
                      created_timestamp_column="created_timestamp"),
)
# The same table, its created column mistyped: the table has no created_at.
typo = FeatureView(
    name="typo", entities=[customer], ttl=timedelta(days=30),
    schema=[Field(name="amount_1d", dtype=Float64)],
    source=FileSource(name="typo", path="data/features/customer_purchases",
                      file_format=DeltaFormat(), timestamp_field="event_timestamp",
                      created_timestamp_column="created_at"),
)
"""


FEATURES = "customer_purchases:amount_1d"


@dataclass(frozen=True)
class Project:
    repo: Path
    table: Path
    entities: Path


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    """A fresh project per test: a refusal that failed must not spoil the next."""
    root = tmp_path / "project"
    repo = root / "repo"
    delta_repo(repo, "ts_out", DEFINITIONS, state=root)
    table = repo / "data" / "features" / "customer_purchases"
    times = pa.array([NOW - timedelta(days=1)] * 2, TS)
    write_deltalake(
        str(table),
        pa.table(
            {
                "customer_id": pa.array([1, 2], pa.int64()),
                "event_timestamp": times,
                "created_timestamp": times,
                "purchase_count_1d": pa.array([3, 4], pa.int64()),
                "amount_1d": [30.0, 40.0],
            }
        ),
        commit_properties=CommitProperties(custom_metadata={"userMetadata": STAMP}),
    )
    entities = root / "entities.parquet"
    rows = {"customer_id": [1, 2], "event_timestamp": pa.array([NOW, NOW], TS)}
    pq.write_table(pa.table(rows), entities)
    yield Project(repo, table, entities)


@pytest.fixture
def outs(tmp_path: Path) -> Path:
    """Where the tests' outputs go, apart from the project."""
    folder = tmp_path / "outs"
    folder.mkdir()
    return folder


def _training_set(
    capsys: pytest.CaptureFixture[str], project: Project, out: Path | str, *extra: str
) -> tuple[int, str, str]:
    code = main(
        ["training-set", "--repo", str(project.repo), "--entities",
         str(project.entities), "--out", str(out), *extra]
    )  # fmt: skip
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line(err: str, *expected: str) -> None:
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    for text in expected:
        assert text in err, err


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_out_onto_a_feature_table_is_refused_and_nothing_is_written(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _files(project.table.parent)
    version = DeltaTable(str(project.table)).version()
    cases = [
        (project.table, ("--format", "delta"), "OUTPUT_NOT_A_TRAINING_SET"),
        (project.table, ("--format", "delta", "--overwrite"),
         "OUTPUT_NOT_A_TRAINING_SET"),
        (project.table, ("--overwrite",), "is a folder"),
        (project.table / "x.parquet", ("--overwrite",), "OUTPUT_INSIDE_FILE"),
        (project.table / "x", ("--format", "delta"), "OUTPUT_INSIDE_FILE"),
    ]  # fmt: skip
    for out, extra, expected in cases:
        code, stdout, err = _training_set(capsys, project, out, "--features",
                                          FEATURES, *extra)  # fmt: skip
        assert (code, stdout) == (2, ""), (out, extra, err)
        _one_line(err, expected, str(out))
    # The table, its contract stamp and its folder are as they were: no new
    # version, no manifest beside it, nothing inside it.
    table = DeltaTable(str(project.table))
    assert table.version() == version
    assert table.history(1)[0]["userMetadata"] == STAMP
    assert _files(project.table.parent) == before


def test_a_training_set_is_replaced_only_with_overwrite_and_in_its_format(
    project: Project, outs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for fmt, out in (("parquet", outs / "ts.parquet"), ("delta", outs / "ts")):
        args = ("--features", FEATURES, "--format", fmt)
        code, _, err = _training_set(capsys, project, out, *args)
        assert code == 0, err
        assert training_set_kind(out) == fmt
        written = _files(outs)
        code, stdout, err = _training_set(capsys, project, out, *args)
        assert (code, stdout) == (2, "")
        _one_line(err, "OUTPUT_EXISTS", "--overwrite")
        assert _files(outs) == written
        other = "delta" if fmt == "parquet" else "parquet"
        code, _, err = _training_set(capsys, project, out, "--features", FEATURES,
                                     "--format", other, "--overwrite")  # fmt: skip
        assert code == 2  # a Parquet file is no Delta folder, and back
        _one_line(err, "is a file" if fmt == "parquet" else "is a folder")
        assert _files(outs) == written
        code, _, err = _training_set(capsys, project, out, *args, "--overwrite")
        assert code == 0, err
    assert DeltaTable(str(outs / "ts")).version() == 1
    assert (outs / "ts" / MARKER).is_file()
    manifest = json.loads((outs / "ts.parquet.manifest.json").read_text())
    footer = pq.read_schema(outs / "ts.parquet").metadata[PARQUET_KEY]
    assert json.loads(footer)["tables"] == manifest["tables"]


def test_a_file_that_is_not_a_training_set_is_never_replaced(
    project: Project, outs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    foreign = outs / "someone.parquet"
    pq.write_table(pa.table({"x": [1]}), foreign)
    before = _files(outs)
    for extra in ((), ("--overwrite",)):
        code, _, err = _training_set(capsys, project, foreign, "--features",
                                     FEATURES, *extra)  # fmt: skip
        assert code == 2
        _one_line(err, "OUTPUT_NOT_A_TRAINING_SET")
    assert _files(outs) == before


def test_delta_out_onto_an_existing_file_is_one_line_usage(
    project: Project, outs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = outs / "out" / "ts1.parquet"
    out.parent.mkdir()
    pq.write_table(pa.table({"x": [1]}), out)
    before = _files(outs)
    code, stdout, err = _training_set(capsys, project, out, "--features", FEATURES,
                                      "--format", "delta")  # fmt: skip
    assert (code, stdout) == (2, "")
    _one_line(err, str(out), "is a file")
    assert _files(outs) == before


@pytest.mark.parametrize("fmt", ["parquet", "delta"])
def test_out_on_a_full_disk_names_enospc_and_leaves_nothing(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    with full_tmpfs(tmp_path / "small") as disk:
        before = _files(disk)
        code, stdout, err = _training_set(capsys, project, disk / "ts", "--features",
                                          FEATURES, "--format", fmt)  # fmt: skip
        assert (code, stdout) == (2, "")
        _one_line(err, "OUTPUT_NO_SPACE", "ENOSPC")
        assert _files(disk) == before


def test_help_says_an_existing_out_needs_overwrite(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["training-set", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--overwrite" in text
    assert "without it an existing OUT is refused" in text


def test_a_view_naming_a_column_its_table_lacks_is_one_line_usage(
    project: Project, outs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = outs / "typo.parquet"
    code, stdout, err = _training_set(capsys, project, out, "--features",
                                      "typo:amount_1d")  # fmt: skip
    assert (code, stdout) == (2, "")
    _one_line(err, "FEATURE_COLUMN_MISSING", str(project.table), "'created_at'",
              "created_timestamp_column", "'typo'")  # fmt: skip
    assert not list(outs.iterdir())


@pytest.mark.parametrize(
    "feature",
    ["created_timestamp", "event_timestamp", "customer_id", "nope"],
)
def test_a_reference_to_no_feature_of_its_view_is_one_line_usage(
    project: Project, outs: Path, capsys: pytest.CaptureFixture[str], feature: str
) -> None:
    # customer_purchases:created_timestamp wrote the table's column as a
    # feature; :nope blamed the table (FEATURE_COLUMN_MISSING); :customer_id
    # said the output column appeared twice. The server says NOT_FOUND to all.
    out = outs / "refs.parquet"
    code, stdout, err = _training_set(capsys, project, out, "--features",
                                      f"customer_purchases:{feature}")  # fmt: skip
    assert (code, stdout) == (2, "")
    _one_line(err, "FEATURE_NOT_FOUND", f"unknown feature customer_purchases:{feature}",
              "has: purchase_count_1d, amount_1d")  # fmt: skip
    assert not list(outs.iterdir())


def test_an_entity_file_without_rows_is_one_line_usage(
    project: Project, outs: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # It wrote an empty training set (exit 0); the server refuses no rows.
    empty = tmp_path / "empty.parquet"
    pq.write_table(pq.read_table(project.entities).slice(0, 0), empty)
    code = main(
        ["training-set", "--repo", str(project.repo), "--entities", str(empty),
         "--out", str(outs / "e.parquet"), "--features", FEATURES]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert (code, captured.out) == (2, "")
    _one_line(captured.err, "has no rows")
    assert not list(outs.iterdir())


@pytest.mark.parametrize(
    ("column", "values", "found", "expected"),
    [
        ("event_timestamp", pa.array(["2026-10-31", "2026-10-31"]), "string",
         "a timestamp"),
        ("event_timestamp", pa.array([1, 2], pa.int64()), "int64", "a timestamp"),
        ("customer_id", pa.array(["1", "2"]), "string", "an integer"),
        ("amount_1d", pa.array(["1.5", "2"]), "string", "a number"),
    ],
    ids=["timestamp-string", "timestamp-integer", "key-string", "feature-string"],
)  # fmt: skip
def test_a_table_column_of_the_wrong_type_is_one_line_usage(
    project: Project,
    outs: Path,
    capsys: pytest.CaptureFixture[str],
    column: str,
    values: pa.Array,
    found: str,
    expected: str,
) -> None:
    # A problem of the project's table, not of the entity file: it was
    # INVALID_TIMESTAMP or INVALID_REQUEST naming neither table nor view.
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.data_format import DeltaFormat
    from feast.types import Float64

    table = project.repo / "data" / "features" / "broken"
    rows = DeltaTable(str(project.table)).to_pyarrow_table()
    index = rows.schema.get_field_index(column)
    write_deltalake(str(table), rows.set_column(index, column, values))
    customer = Entity(
        name="customer", join_keys=["customer_id"], value_type=ValueType.INT64
    )
    view = FeatureView(
        name="broken",
        entities=[customer],
        ttl=timedelta(days=30),
        schema=[Field(name="amount_1d", dtype=Float64)],
        source=FileSource(
            name="broken",
            path="data/features/broken",
            file_format=DeltaFormat(),
            timestamp_field="event_timestamp",
        ),
    )
    FeatureStore(repo_path=str(project.repo)).apply([customer, view])
    out = outs / "broken.parquet"
    code, stdout, err = _training_set(capsys, project, out, "--features",
                                      "broken:amount_1d")  # fmt: skip
    assert (code, stdout) == (2, "")
    _one_line(err, "FEATURE_COLUMN_TYPE_MISMATCH", str(table), "'broken'",
              f"'{column}'", f" is {found}, expected {expected}")  # fmt: skip
    assert not list(outs.iterdir())


def test_an_object_store_that_does_not_answer_is_one_line_storage_unavailable(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    # --out on S3 behind an endpoint nobody listens on: the store's failure,
    # one line naming STORAGE_UNAVAILABLE (it printed pyarrow's HeadObject
    # text), never the secret key from featurestore.yaml.
    from tests.processes import free_port

    secret = "fs-test-secret-never-printed"
    (project.repo / "featurestore.yaml").write_text(
        "data_dir: data\nstorage_options:\n"
        f"  AWS_ENDPOINT_URL: 'http://127.0.0.1:{free_port()}'\n"
        "  AWS_REGION: us-east-1\n  AWS_ALLOW_HTTP: 'true'\n"
        f"  AWS_ACCESS_KEY_ID: fs-test\n  AWS_SECRET_ACCESS_KEY: '{secret}'\n"
    )
    for fmt in ("parquet", "delta"):
        out = f"s3://featurestore-test/p/training_sets/a.{fmt}"
        code, stdout, err = _training_set(
            capsys, project, out, "--features", FEATURES, "--format", fmt
        )
        assert (code, stdout) == (2, ""), err
        _one_line(err, "STORAGE_UNAVAILABLE", out)
        assert secret not in err
    # --entities on the same dead store: the store's failure, in one line.
    code = main(
        ["training-set", "--repo", str(project.repo), "--entities",
         "s3://featurestore-test/p/entities/e.parquet", "--out",
         str(project.repo / "x.parquet"), "--features", FEATURES]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert (code, captured.out) == (2, "")
    assert "Traceback" not in captured.err and secret not in captured.err
    _one_line(captured.err, "STORAGE_UNAVAILABLE", "s3://featurestore-test/p/entities")


def test_several_entity_timestamps_are_named_and_one_is_chosen_by_option(
    project: Project, outs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No event_timestamp and two tz-aware columns: it said "entity table has
    # no column 'event_timestamp'" and the command had no way to name one.
    two = project.entities.with_name("two.parquet")
    times = {
        "signup": pa.array([NOW - timedelta(days=10)] * 2, TS),
        "seen": pa.array([NOW] * 2, TS),
    }
    pq.write_table(pa.table({"customer_id": [1, 2], **times}), two)
    args = ["training-set", "--repo", str(project.repo), "--features", FEATURES]
    code = main([*args, "--entities", str(two), "--out", str(outs / "x.parquet")])
    err = capsys.readouterr().err
    assert code == 2
    _one_line(err, "ENTITY_COLUMN_MISSING", "'event_timestamp'", "2 timestamp",
              "'signup', 'seen'", "--timestamp-column")  # fmt: skip
    assert not list(outs.iterdir())
    for column, other in (("seen", "signup"), ("signup", "seen")):
        # The oracle: the same rows with the column named event_timestamp and
        # the other one dropped, joined by the default rule.
        renamed = outs / f"{column}-renamed.parquet"
        pq.write_table(
            pa.table({"customer_id": [1, 2], "event_timestamp": times[column]}),
            renamed,
        )
        chosen, expected = outs / f"{column}.parquet", outs / f"{column}-oracle.parquet"
        assert main([*args, "--entities", str(two), "--out", str(chosen),
                     "--timestamp-column", column]) == 0  # fmt: skip
        assert main([*args, "--entities", str(renamed), "--out", str(expected)]) == 0
        got = pq.read_table(chosen).drop_columns([other])
        want = pq.read_table(expected).rename_columns(
            [column if c == "event_timestamp" else c
             for c in pq.read_table(expected).column_names]
        )  # fmt: skip
        assert got.select(want.column_names).equals(want), (column, got, want)
    assert pq.read_table(outs / "seen.parquet").column("amount_1d").to_pylist() == [
        30.0,
        40.0,
    ]
    assert pq.read_table(outs / "signup.parquet").column("amount_1d").null_count == 2
    manifest = outs / "seen.parquet.manifest.json"
    assert manifest.is_file()
    capsys.readouterr()
    code = main(["training-set", "--repo", str(project.repo), "--entities", str(two),
                 "--out", str(outs / "y.parquet"), "--replay", str(manifest),
                 "--timestamp-column", "seen"])  # fmt: skip
    assert code == 2 and "--timestamp-column" in capsys.readouterr().err
    assert not (outs / "y.parquet").exists()
