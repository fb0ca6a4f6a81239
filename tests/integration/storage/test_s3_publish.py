"""publish() to s3:// on a real S3-compatible server, step for step like a local table.

Two writers: Spark's own Delta writer over Hadoop's S3A file system (the test
session loads the S3A jars, as a job's session does for a project on S3),
and delta-rs, which commits the rows that passed the contract when Spark has
no file system for the scheme (a cluster without hadoop-aws; selected here
by marking s3a unavailable, as ``spark_can_open`` would find it). Each step
runs the same batch into a local table (Spark's writer, the reference) and
into the bucket; after each step both tables, their quarantine tables and
their commit stamps must agree, and the commits name the writer's engine.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from featurestore.services.contracts import Contract, parse_contract
from featurestore.services.project import Project
from featurestore.services.storage import StorageOptions
from featurestore.spark_jobs import (
    ConfigError,
    ContractViolationError,
    Reason,
    StorageUnavailableError,
    publish,
)
from featurestore.spark_jobs.io import _uri, read_parquet, spark_can_open
from featurestore.spark_jobs.publish import PublishMode
from tests.integration.spark.test_publish_modes import (
    CONTRACT_YAML,
    DAY1,
    DAY2,
    DAY3,
    SORT,
    _frame,
    _row,
)
from tests.integration.storage._project import SECRET_VARIABLE, featurestore_yaml
from tests.s3_harness import SECRET_KEY, S3Server

pytestmark = [pytest.mark.spark, pytest.mark.integration]

MERGE_BATCH = [
    _row(1, DAY1, 10.0, created_s=60),  # a newer computation: updates
    _row(2, DAY1, 99.0, created_s=-60),  # an older one: ignored
    _row(6, DAY3),  # a new key: inserted
    _row(9, DAY1, -1.0),  # fails the contract: quarantined
]
STEPS: list[tuple[PublishMode, str, list[dict[str, Any]]]] = [
    ("overwrite", "s1", [_row(1, DAY1), _row(2, DAY1), _row(0, DAY1), _row(3, DAY2)]),
    ("append", "s2", [_row(4, DAY2), _row(5, DAY3)]),
    ("merge", "s3", MERGE_BATCH),
    ("merge", "s3", MERGE_BATCH),
    ("replace_partitions", "s4", [_row(7, DAY2, 7.0), _row(8, DAY3, 8.0)]),
]
"""(mode, run id, rows): a quarantined row, an upsert, its re-run with the
same run id (the quarantine must not grow twice) and a partition swap."""


@pytest.fixture(params=["spark", "delta-rs"])
def writer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which engine commits to the bucket."""
    if request.param == "delta-rs":
        monkeypatch.setitem(_uri._FILE_SYSTEMS, "s3a", False)
    return str(request.param)


ENGINES = {"spark": "Apache-Spark/", "delta-rs": "delta-rs"}
"""How each writer names itself in a commit (engineInfo / clientVersion)."""


@pytest.fixture(scope="module")
def contract() -> Contract:
    return parse_contract(CONTRACT_YAML, "store_sales/1.0.0.yaml")


@pytest.fixture
def s3_project(
    tmp_path: Path, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> Project:
    """A project on the bucket, found through FS_REPO_PATH as jobs find it."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "feature_store.yaml").write_text("project: s3_publish\n")
    options = s3_server.options(inline_secret=False)
    (repo / "featurestore.yaml").write_text(
        featurestore_yaml(s3_server.prefix("publish"), options)
    )
    monkeypatch.setenv(SECRET_VARIABLE, SECRET_KEY)
    monkeypatch.setenv("FS_REPO_PATH", str(repo))
    monkeypatch.delenv("FS_DATA_DIR", raising=False)
    return Project.discover()


def _rows(
    location: str, storage: StorageOptions, drop: tuple[str, ...] = ()
) -> list[Any]:
    options = storage.for_location(location)
    table = DeltaTable(location, storage_options=options).to_pyarrow_table()
    table = table.drop_columns([c for c in drop if c in table.column_names])
    order = [c for c in (*SORT, "run_id") if c in table.column_names]
    return table.sort_by([(c, "ascending") for c in order]).to_pylist()


def _history(location: str, storage: StorageOptions) -> list[dict[str, Any]]:
    options = storage.for_location(location)
    return list(reversed(DeltaTable(location, storage_options=options).history()))


def _stamps(location: str, storage: StorageOptions) -> list[dict[str, Any]]:
    stamps = [json.loads(c["userMetadata"]) for c in _history(location, storage)]
    return [{k: s[k] for k in ("job", "run_id", "mode", "contract")} for s in stamps]


def _engines(location: str, storage: StorageOptions) -> set[str]:
    return {
        str(c.get("engineInfo") or c.get("clientVersion"))
        for c in _history(location, storage)
    }


QUARANTINE_TIME = ("quarantined_at",)


@dataclass(frozen=True)
class Reference:
    """What STEPS leave in a local table, published by Spark's Delta writer."""

    rows_after: list[list[Any]]
    """The table's rows after each step."""
    stamps: list[dict[str, Any]]
    quarantine: list[Any]


@pytest.fixture(scope="module")
def local_reference(
    spark: Any, contract: Contract, tmp_path_factory: pytest.TempPathFactory
) -> Reference:
    """STEPS published once to a local table: both writers are held to it."""
    local = str(tmp_path_factory.mktemp("local") / "store_sales")
    local_storage = StorageOptions()
    rows_after = []
    for mode, run_id, rows in STEPS:
        frame = _frame(spark, rows)
        publish(frame, contract, local, mode=mode, job="sales_job", run_id=run_id)
        rows_after.append(_rows(local, local_storage))
    quarantine = _rows(f"{local}_quarantine", local_storage, QUARANTINE_TIME)
    return Reference(rows_after, _stamps(local, local_storage), quarantine)


def test_every_mode_on_s3_leaves_what_it_leaves_locally(
    spark,
    s3_project: Project,
    s3_server: S3Server,
    contract,
    writer: str,
    local_reference: Reference,
) -> None:
    remote = s3_project.table_uri("store_sales")
    assert spark_can_open(spark, remote) is (writer == "spark")
    for step, ((mode, run_id, rows), expected) in enumerate(
        zip(STEPS, local_reference.rows_after, strict=True)
    ):
        report = publish(
            _frame(spark, rows), contract, "store_sales", mode=mode,
            job="sales_job", run_id=run_id,
        )  # fmt: skip
        assert report.table == remote
        options = s3_project.storage_options.for_location(remote)
        current = DeltaTable(remote, storage_options=options).version()
        # delta-rs commits nothing for the re-run MERGE that changes nothing
        # (below), and a run that committed nothing has no version (81af640).
        unchanged = writer == "delta-rs" and step == 3
        assert report.version == (None if unchanged else current)
        assert _rows(remote, s3_project.storage_options) == expected, mode
    # A MERGE that changes nothing: Spark still commits an unchanged version,
    # delta-rs commits none. Otherwise the histories are stamped alike.
    local_stamps = local_reference.stamps
    assert local_stamps[2] == local_stamps[3]
    if writer == "delta-rs":
        local_stamps = local_stamps[:3] + local_stamps[4:]
    assert _stamps(remote, s3_project.storage_options) == local_stamps
    for table in (remote, f"{remote}_quarantine"):
        engines = _engines(table, s3_project.storage_options)
        assert engines and all(e.startswith(ENGINES[writer]) for e in engines)
    remote_q = _rows(
        f"{remote}_quarantine", s3_project.storage_options, QUARANTINE_TIME
    )
    assert remote_q == local_reference.quarantine
    assert sorted((r["run_id"], r["store_id"]) for r in remote_q) == [
        ("s1", 0),
        ("s3", 9),
    ]
    options = s3_project.storage_options.for_location(remote)
    assert DeltaTable(remote, storage_options=options).metadata().partition_columns == [
        "day"
    ]
    # Listed without delta-rs: the commits are objects in the bucket.
    prefix = remote.removeprefix(f"s3://{s3_server.bucket}/")
    logs = [k for k in s3_server.keys(prefix) if "/_delta_log/" in k]
    last = len(local_stamps) - 1
    assert f"{prefix}/_delta_log/{last:020d}.json" in logs
    assert f"{prefix}/_delta_log/{last + 1:020d}.json" not in logs


def test_a_batch_over_the_failure_limit_leaves_the_s3_table_as_it_was(
    spark, s3_project: Project, contract, writer: str
) -> None:
    good = [_row(1, DAY1), _row(2, DAY1)]
    publish(_frame(spark, good), contract, "store_sales", job="j", run_id="ok")
    remote = s3_project.table_uri("store_sales")
    bad = [_row(4, DAY2), _row(0, DAY2), _row(6, DAY2, sales=-1.0), _row(5, DATE)]
    with pytest.raises(ContractViolationError):
        publish(_frame(spark, bad), contract, "store_sales", job="j", run_id="bad")
    options = s3_project.storage_options.for_location(remote)
    assert DeltaTable(remote, storage_options=options).version() == 0
    assert [r["store_id"] for r in _rows(remote, s3_project.storage_options)] == [1, 2]


DATE = date(2026, 11, 4)


def test_spark_reads_a_job_input_from_s3(
    spark, s3_project: Project, s3_server: S3Server
) -> None:
    rows = pa.table({"id": [3, 1, 2], "amount": [1.5, -2.0, 0.0]})
    where = f"{s3_project.data_dir}/raw/transactions"
    fs, path = s3_project.storage_options.filesystem(where)
    pq.write_table(rows, f"{path}/part-0.parquet", filesystem=fs)
    read = read_parquet(spark, where).orderBy("id").toArrow()
    assert read.to_pylist() == rows.sort_by("id").to_pylist()


def test_a_job_input_spark_cannot_open_is_a_one_line_config_error(
    spark, s3_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(_uri._FILE_SYSTEMS, "s3a", False)  # no hadoop-aws
    with pytest.raises(ConfigError) as info:
        read_parquet(spark, f"{s3_project.data_dir}/raw/transactions")
    assert info.value.reason is Reason.CONFIG_INVALID
    assert info.value.metadata == {"scheme": "s3a"}


def test_a_job_input_on_a_store_that_does_not_answer_is_one_line(
    spark, s3_project: Project
) -> None:
    # A bucket whose endpoint is a loopback port nobody listens on (Hadoop's
    # per-bucket settings, so no other test's cached file system is touched),
    # retries capped so the test does not wait out S3A's minutes of them.
    # It was a Py4JJavaError with a JVM trace of hundreds of lines.
    from tests.processes import free_port

    bucket = f"unreachable-{uuid.uuid4().hex[:8]}"
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    settings = {
        "endpoint": f"http://127.0.0.1:{free_port()}",
        "attempts.maximum": "1",
        "retry.limit": "0",
        "connection.establish.timeout": "2000",
    }
    for key, value in settings.items():
        conf.set(f"fs.s3a.bucket.{bucket}.{key}", value)
    try:
        with pytest.raises(StorageUnavailableError) as info:
            read_parquet(spark, f"s3://{bucket}/raw/transactions")
    finally:
        for key in settings:
            conf.unset(f"fs.s3a.bucket.{bucket}.{key}")
    error = info.value
    assert error.reason is Reason.STORAGE_UNAVAILABLE
    assert error.metadata["path"] == f"s3://{bucket}/raw/transactions"
    assert error.metadata["error"].startswith(("java.", "org.apache.hadoop."))
    message = str(error)
    assert "check storage_options in featurestore.yaml" in message
    assert "\n" not in message and SECRET_KEY not in message
    assert error.__cause__ is None  # the JVM trace is not chained


@pytest.fixture
def missing_bucket_project(
    tmp_path: Path, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> Project:
    """A project whose data root is in a bucket the server does not have."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "feature_store.yaml").write_text("project: s3_missing\n")
    root = f"s3://nobucket-{uuid.uuid4().hex[:8]}/root"
    options = s3_server.options(inline_secret=False)
    (repo / "featurestore.yaml").write_text(featurestore_yaml(root, options))
    monkeypatch.setenv(SECRET_VARIABLE, SECRET_KEY)
    monkeypatch.setenv("FS_REPO_PATH", str(repo))
    monkeypatch.delenv("FS_DATA_DIR", raising=False)
    return Project.discover()


@pytest.mark.parametrize(
    ("mode", "profile"),
    [("overwrite", True), ("append", False), ("overwrite", False)],
    ids=["profiled", "existing-table-check", "quarantine-and-write"],
)
def test_a_publish_to_a_missing_bucket_is_one_storage_line(
    spark, missing_bucket_project: Project, contract, writer: str, mode, profile
) -> None:
    # It was delta-rs's OSError quoting the server's NoSuchBucket XML with its
    # RequestId, or a Py4JJavaError (S3A's UnknownStoreException, request id,
    # JVM stack), wherever publish first reached the store.
    remote = missing_bucket_project.table_uri("store_sales")
    rows = [_row(1, DAY1), _row(0, DAY1)]  # one fails: a quarantine commit too
    with pytest.raises(StorageUnavailableError) as info:
        publish(
            _frame(spark, rows), contract, "store_sales", mode=mode, job="j",
            run_id="nb", profile=profile,
        )  # fmt: skip
    error = info.value
    assert error.reason is Reason.STORAGE_UNAVAILABLE
    assert error.metadata["path"] in (remote, f"{remote}_quarantine")
    message = str(error)
    assert message.startswith(f"cannot read {remote}")
    assert "check storage_options in featurestore.yaml" in message
    assert "\n" not in message and SECRET_KEY not in message
    assert "RequestId" not in message and "Request ID" not in message
    assert error.__cause__ is None  # neither delta-rs's text nor the JVM's trace


def test_a_publish_to_a_store_that_does_not_answer_is_one_storage_line(
    spark, tmp_path: Path, s3_server: S3Server, contract, writer: str, monkeypatch
) -> None:
    # The S3 server gone mid-run: an endpoint nobody listens on, retries off
    # (delta-rs's max_retries; S3A's per-bucket settings, as above).
    from tests.processes import free_port

    bucket = f"gone-{uuid.uuid4().hex[:8]}"
    dead = {
        **s3_server.options(inline_secret=False),
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "max_retries": "0",
    }
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "feature_store.yaml").write_text("project: s3_gone\n")
    (repo / "featurestore.yaml").write_text(
        featurestore_yaml(f"s3://{bucket}/root", dead)
    )
    monkeypatch.setenv(SECRET_VARIABLE, SECRET_KEY)
    monkeypatch.setenv("FS_REPO_PATH", str(repo))
    monkeypatch.delenv("FS_DATA_DIR", raising=False)
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    settings = {
        "attempts.maximum": "1",
        "retry.limit": "0",
        "connection.establish.timeout": "2000",
    }
    for key, value in settings.items():
        conf.set(f"fs.s3a.bucket.{bucket}.{key}", value)
    try:
        with pytest.raises(StorageUnavailableError) as info:
            publish(
                _frame(spark, [_row(1, DAY1)]), contract, "store_sales", job="j",
                run_id="gone",
            )  # fmt: skip
    finally:
        for key in settings:
            conf.unset(f"fs.s3a.bucket.{bucket}.{key}")
    error = info.value
    assert error.metadata["path"] == f"s3://{bucket}/root/features/store_sales"
    assert "\n" not in str(error) and SECRET_KEY not in str(error)
    assert error.__cause__ is None
