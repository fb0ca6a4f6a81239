"""Tests for services.lineage: history records from commit userMetadata, and the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import CommitProperties, write_deltalake

import featurestore.services.lineage as lineage
from featurestore.services.lineage import (
    LineageErrorReason,
    TableNotFoundError,
    TableUnreadableError,
    VersionRecord,
    resolve_table,
    table_history,
)
from featurestore.services.lineage._cli import format_record, main
from tests.delta_reads import history_limits

SUMMARY = {
    "rows_in": 10,
    "published": 9,
    "quarantined": 1,
    "by_reason": {"customer_id:greater_than_or_equal_to": 1},
}


def _stamp(run_id: str, mode: str = "overwrite") -> dict[str, object]:
    # The exact shape spark_jobs.publish writes.
    return {
        "job": "build_customer_spend",
        "run_id": run_id,
        "mode": mode,
        "contract": "customer_spend@1.0.0",
        "contract_name": "customer_spend",
        "contract_version": "1.0.0",
        "validation": SUMMARY,
    }


def _write(path: Path, rows: int, user_metadata: str | None, mode: str) -> None:
    custom = None if user_metadata is None else {"userMetadata": user_metadata}
    write_deltalake(
        path,
        pa.table({"x": list(range(rows))}),
        mode=mode,  # type: ignore[arg-type]
        commit_properties=CommitProperties(custom_metadata=custom),
    )


@pytest.fixture
def table(tmp_path: Path) -> Path:
    """A table with v0 and v2 from jobs, v1 without metadata, v3 with junk."""
    path = tmp_path / "features" / "customer_spend"
    _write(path, 3, json.dumps(_stamp("run-a"), sort_keys=True), "error")
    _write(path, 1, None, "append")
    _write(path, 2, json.dumps(_stamp("run-b", "merge"), sort_keys=True), "overwrite")
    _write(path, 1, "not json {", "append")
    return path


def test_records_newest_first_with_job_run_contract_summary(table: Path) -> None:
    before = datetime.now(UTC) - timedelta(minutes=5)
    records = table_history(table)
    assert [r.version for r in records] == [3, 2, 1, 0]
    assert all(isinstance(r, VersionRecord) for r in records)
    assert all(before < r.timestamp <= datetime.now(UTC) for r in records)
    assert all(r.timestamp.tzinfo is not None for r in records)
    v2, v0 = records[1], records[3]
    assert (v2.job, v2.run_id, v2.contract) == (
        "build_customer_spend",
        "run-b",
        "customer_spend@1.0.0",
    )
    assert v2.validation == SUMMARY
    assert v0.run_id == "run-a"
    assert v2.operation == "WRITE"


def test_commits_without_or_with_bad_metadata_are_tolerated(table: Path) -> None:
    records = table_history(table)
    for record in (records[0], records[2]):
        assert (record.job, record.run_id, record.contract, record.validation) == (
            None,
            None,
            None,
            None,
        )


def test_mode_of_each_version_in_record_json_and_text(
    table: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # publish stamps the mode (README: lineage shows it); a commit without a
    # stamp has none, printed as "-".
    assert [r.mode for r in table_history(table)] == [None, "merge", None, "overwrite"]
    assert main(["history", str(table), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["mode"] for r in out] == [None, "merge", None, "overwrite"]
    assert main(["history", str(table)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[5] for line in lines] == [
        "mode=-",
        "mode=merge",
        "mode=-",
        "mode=overwrite",
    ]


def test_contract_from_name_and_version_when_no_label(tmp_path: Path) -> None:
    meta = {"job": "j", "contract_name": "merchant_risk", "contract_version": "2.0.0"}
    _write(tmp_path / "t", 1, json.dumps(meta), "error")
    (record,) = table_history(tmp_path / "t")
    assert record.contract == "merchant_risk@2.0.0"
    assert record.validation is None


def test_limit(table: Path) -> None:
    assert [r.version for r in table_history(table, limit=2)] == [3, 2]


def test_missing_table_raises_table_not_found(tmp_path: Path) -> None:
    with pytest.raises(TableNotFoundError) as info:
        table_history(tmp_path / "nope")
    assert info.value.reason is LineageErrorReason.TABLE_NOT_FOUND
    assert info.value.metadata == {"path": str(tmp_path / "nope")}
    assert isinstance(info.value, LookupError)


def test_resolve_table_name_or_path(tmp_path: Path) -> None:
    assert resolve_table("customer_spend", tmp_path) == str(
        tmp_path / "features" / "customer_spend"
    )
    assert resolve_table(str(tmp_path / "x")) == str(tmp_path / "x")
    assert resolve_table("customer_spend", "s3://b/p/") == (
        "s3://b/p/features/customer_spend"
    )
    assert resolve_table("s3://b/t") == "s3://b/t"


def test_cli_prints_one_line_per_version(
    table: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = table.parent.parent
    assert main(["history", "customer_spend", "--data-dir", str(data_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["v3", "v2", "v1", "v0"]
    fields = lines[1].split("\t")
    assert fields[3:7] == [
        "job=build_customer_spend",
        "run=run-b",
        "mode=merge",
        "contract=customer_spend@1.0.0",
    ]
    assert "rows_in=10 published=9 quarantined=1" in fields[7]
    assert lines[0].endswith("contract=-\t-")


@pytest.mark.parametrize(
    ("validation", "shown"),
    [
        (
            {"rows_in": 10, "passed": 9, "quarantined": 1},
            "rows_in=10 passed=9 quarantined=1",
        ),
        (
            {
                "rows_in": 5,
                "passed": 4,
                "quarantined": 1,
                "published": 0,
                "refused": "DRIFT",
            },
            "rows_in=5 published=0 passed=4 quarantined=1 refused=DRIFT",
        ),
    ],
)
def test_a_quarantine_commit_shows_what_passed_and_why_it_was_refused(
    validation: dict[str, object], shown: str
) -> None:
    # A quarantine commit's stamp says "passed" (7546977); the line showed
    # only rows_in and quarantined, and never the refusal.
    record = lineage.VersionRecord(
        version=1, timestamp=datetime(2026, 12, 7, tzinfo=UTC), operation="MERGE",
        validation=validation,
    )  # fmt: skip
    assert format_record(record).split("\t")[-1] == shown


def test_cli_json(table: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", str(table), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["version"] for r in out] == [3, 2, 1, 0]
    assert out[1]["validation"] == SUMMARY
    assert out[1]["timestamp"].endswith("Z")


def test_cli_missing_table_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["history", "nothing", "--data-dir", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1
    assert "TABLE_NOT_FOUND" in captured.err


def test_cli_corrupt_log_is_unreadable_not_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "t"
    write_deltalake(table, pa.table({"a": [1]}))
    (table / "_delta_log" / "00000000000000000000.json").write_text("{not json\n")
    assert main(["history", str(table)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert "TABLE_UNREADABLE" in err and "TABLE_NOT_FOUND" not in err
    with pytest.raises(TableUnreadableError) as info:
        table_history(table)
    assert info.value.metadata["path"] == str(table)


def test_a_file_is_no_table(tmp_path: Path) -> None:
    path = tmp_path / "part-00000.parquet"
    path.write_bytes(b"PAR1")
    for location in (str(path), path.as_uri()):
        with pytest.raises(TableNotFoundError):
            table_history(location)


def test_public_api_is_pinned() -> None:
    assert sorted(lineage.__all__) == [
        "DataRootNotFoundError",
        "LineageError",
        "LineageErrorReason",
        "PUBLISH_LOOKBACK",
        "PublishSearch",
        "SAME_DATA_OPERATIONS",
        "StorageUnavailableError",
        "TableNotFoundError",
        "TableUnreadableError",
        "VersionRecord",
        "default_data_root",
        "is_publish",
        "last_publish",
        "newest_publish",
        "resolve_table",
        "table_history",
    ]


def test_the_newest_publish_reads_one_commit_when_it_is_one(
    table: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = history_limits(monkeypatch)
    search = lineage.last_publish(table)
    assert search is not None and search.publish is not None
    assert (search.publish.version, search.searched) == (3, 1)
    assert asked == [1]  # not the newest PUBLISH_LOOKBACK commits


def test_the_newest_publish_looks_past_maintenance_commits(
    table: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deltalake import DeltaTable

    DeltaTable(table).optimize.compact()  # v4
    DeltaTable(table).vacuum(
        retention_hours=0, enforce_retention_duration=False, dry_run=False
    )  # v5 VACUUM START, v6 VACUUM END
    asked = history_limits(monkeypatch)
    search = lineage.last_publish(table)
    assert search is not None and search.publish is not None
    assert search.publish.version == 3
    assert asked == [1, lineage.PUBLISH_LOOKBACK]
    # None among the commits searched: the oldest of them bounds the publish.
    monkeypatch.setattr(lineage.history, "PUBLISH_LOOKBACK", 3)
    bounded = lineage.last_publish(table)
    assert bounded is not None and bounded.publish is None
    assert (bounded.oldest.version, bounded.searched) == (4, 3)


def test_the_newest_publish_of_no_table_is_lineage_s_error(tmp_path: Path) -> None:
    with pytest.raises(TableNotFoundError):
        lineage.last_publish(tmp_path / "nothing")


def test_a_bare_name_is_a_table_of_the_project_whatever_the_cwd_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `lineage customer_spend --repo P` from a folder holding a folder of that
    # name read that folder (another project's table, or TABLE_NOT_FOUND).
    from featurestore.services.lineage._cli import history_of

    repo, other = tmp_path / "proj", tmp_path / "other"
    repo.mkdir()
    (repo / "feature_store.yaml").write_text("project: p\n")
    _write(repo / "data" / "features" / "customer_spend", 2, None, "error")
    _write(other / "customer_spend", 1, None, "error")
    _write(other / "customer_spend", 1, None, "append")
    monkeypatch.chdir(other)
    monkeypatch.delenv("FS_DATA_DIR", raising=False)
    assert resolve_table("customer_spend", tmp_path) == str(
        tmp_path / "features" / "customer_spend"
    )
    assert [r.version for r in history_of("customer_spend", repo=repo)] == [0]
    assert resolve_table("./customer_spend") == "./customer_spend"
    assert [r.version for r in history_of("./customer_spend", repo=repo)] == [1, 0]
