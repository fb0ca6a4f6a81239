"""Publishing holds a table's contract history to what ``contracts check`` says.

A contract version new to a table that keeps its rows has the checks it added
or tightened judged on the stored rows; an older version than the table's is
refused where rows are kept; and a version bump too small for its change in
the registry is refused as ``contracts check`` reports it. Each refusal
leaves the table at its version.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from deltalake import DeltaTable

from featurestore.services.contracts import ContractRegistry
from featurestore.services.contracts._cli import _check_all
from featurestore.services.contracts.registry import CONTRACTS_DIR_ENV
from featurestore.spark_jobs import ContractViolationError, Reason, publish
from featurestore.spark_jobs.io import write_delta
from tests.integration.spark.test_publish_modes import (
    CONTRACT_YAML,
    DAY1,
    DAY2,
    _frame,
    _row,
)

pytestmark = [pytest.mark.spark, pytest.mark.integration]

KEEPING = ["append", "merge", "replace_partitions"]
SALES = "checks: [{greater_than_or_equal_to: 0}]}"


def _yaml(version: str, sales_checks: str = SALES) -> str:
    return CONTRACT_YAML.replace("version: 1.0.0", f"version: {version}").replace(
        SALES, sales_checks
    )


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Makes the default registry (``$FS_CONTRACTS_DIR``, as a project's
    contracts_dir is found) a folder holding store_sales at each version
    given (``v1_1_0=...``), as a job reading it publishes from."""

    def make(**versions: str) -> ContractRegistry:
        folder = tmp_path / "contracts" / "store_sales"
        folder.mkdir(parents=True)
        for name, text in versions.items():
            version = name.removeprefix("v").replace("_", ".")
            (folder / f"{version}.yaml").write_text(text)
        monkeypatch.setenv(CONTRACTS_DIR_ENV, str(tmp_path / "contracts"))
        return ContractRegistry()

    return make


def _publish(spark, rows, contract, location, mode, **kwargs):
    return publish(
        _frame(spark, rows), contract, location, mode=mode, job="j",
        profile=False, **kwargs,
    )  # fmt: skip


# 2.0.0 tightens sales <= 100 to <= 20 (CHECK_TIGHTENED, BREAKING).
LOOSE = _yaml("1.0.0", SALES.replace("0}]", "0}, {less_than_or_equal_to: 100}]"))
TIGHT = _yaml("2.0.0", SALES.replace("0}]", "0}, {less_than_or_equal_to: 20}]"))


def _stamp(version: str) -> dict[str, str]:
    """What publish stamps, for a commit another writer makes."""
    return {"contract_name": "store_sales", "contract_version": version}


@pytest.mark.parametrize("mode", KEEPING)
def test_a_tightened_check_is_judged_on_the_rows_the_publish_keeps(
    spark, tmp_path: Path, registry, mode
):
    contracts = registry(v1_0_0=LOOSE, v2_0_0=TIGHT)
    loose, tight = (contracts.get("store_sales", v) for v in ("1.0.0", "2.0.0"))
    location = str(tmp_path / "store_sales")
    stored = [_row(1, DAY1, 10.0), _row(2, DAY1, 30.0), _row(3, DAY1, 60.0)]
    _publish(spark, stored, loose, location, "overwrite")
    with pytest.raises(ContractViolationError) as info:
        _publish(spark, [_row(4, DAY2, 5.0)], tight, location, mode)
    assert info.value.reason == Reason.SCHEMA_MISMATCH
    assert info.value.metadata["checks_failed"] == "sales:less_than_or_equal_to=2"
    assert DeltaTable(location).version() == 0

    # Overwrite replaces the stored rows: nothing of them to judge.
    report = _publish(spark, [_row(4, DAY2, 5.0)], tight, location, "overwrite")
    assert report.version == 1


def test_stored_rows_are_judged_once_per_contract_version(
    spark, tmp_path: Path, registry, monkeypatch
):
    contracts = registry(v1_0_0=LOOSE, v2_0_0=TIGHT)
    loose, tight = (contracts.get("store_sales", v) for v in ("1.0.0", "2.0.0"))
    # The registry given to publish, not found by default.
    monkeypatch.setenv(CONTRACTS_DIR_ENV, str(tmp_path / "elsewhere"))
    location = str(tmp_path / "store_sales")
    _publish(spark, [_row(1, DAY1, 10.0)], loose, location, "overwrite",
             contracts=contracts)  # fmt: skip
    _publish(spark, [_row(2, DAY1, 15.0)], tight, location, "append",
             contracts=contracts)  # fmt: skip
    # A row the stamped 2.0.0 would fail, slipped in by another writer with
    # 2.0.0's stamp: the next 2.0.0 publish does not judge the stored rows again.
    frame = _frame(spark, [_row(3, DAY2, 90.0)])
    write_delta(frame, location, mode="append", metadata=_stamp("2.0.0"))
    report = _publish(spark, [_row(4, DAY2, 5.0)], tight, location, "append",
                      contracts=contracts)  # fmt: skip
    assert report.version == 3


def test_only_the_checks_the_diff_names_are_judged_when_the_earlier_is_known(
    spark, tmp_path: Path, registry, monkeypatch
):
    # Rows written under 1.0.0's stamp that fail 1.0.0's own store_id >= 1:
    # not a check 2.0.0 changed, so they are not what refuses it.
    tight = registry(v1_0_0=LOOSE, v2_0_0=TIGHT).get("store_sales", "2.0.0")
    location = str(tmp_path / "store_sales")
    frame = _frame(spark, [_row(0, DAY1, 10.0), _row(2, DAY1, 30.0)])
    write_delta(frame, location, mode="overwrite", partition_by=["day"],
                metadata=_stamp("1.0.0"))  # fmt: skip
    with pytest.raises(ContractViolationError) as info:
        _publish(spark, [_row(4, DAY2, 5.0)], tight, location, "append")
    assert info.value.metadata["checks_failed"] == "sales:less_than_or_equal_to=1"

    # No registry holds 2.0.0: the earlier contract is unknown, every check judges.
    monkeypatch.setenv(CONTRACTS_DIR_ENV, str(tmp_path / "elsewhere"))
    with pytest.raises(ContractViolationError) as info:
        _publish(spark, [_row(4, DAY2, 5.0)], tight, location, "append")
    assert info.value.metadata["checks_failed"] == (
        "store_id:greater_than_or_equal_to=1,sales:less_than_or_equal_to=1"
    )
    assert DeltaTable(location).version() == 0


@pytest.mark.parametrize("mode", KEEPING)
def test_an_older_contract_version_is_refused_where_rows_are_kept(
    spark, tmp_path: Path, registry, mode
):
    contracts = registry(v1_0_0=_yaml("1.0.0"), v1_1_0=_yaml("1.1.0"))
    older, newer = (contracts.get("store_sales", v) for v in ("1.0.0", "1.1.0"))
    location = str(tmp_path / "store_sales")
    _publish(spark, [_row(1, DAY1)], newer, location, "overwrite")
    with pytest.raises(ContractViolationError) as info:
        _publish(spark, [_row(2, DAY2)], older, location, mode)
    assert info.value.reason == Reason.CONTRACT_VERSION_OLDER
    assert info.value.metadata["contract"] == "store_sales@1.0.0"
    assert info.value.metadata["table_contract"] == "store_sales@1.1.0"
    assert DeltaTable(location).version() == 0

    # Overwrite rolls the table back to the older contract.
    report = _publish(spark, [_row(2, DAY1)], older, location, "overwrite")
    assert report.version == 1


@pytest.mark.parametrize("mode", ["overwrite", "append"])
def test_a_version_bump_too_small_for_its_change_is_refused_as_check_does(
    spark, tmp_path: Path, registry, mode
):
    # 1.1.0 adds a check (CHECK_ADDED, breaking) without a major bump.
    added = SALES.replace("0}]", "0}, {less_than: 1000}]")
    contracts = registry(v1_0_0=_yaml("1.0.0"), v1_1_0=_yaml("1.1.0", added))
    checked = io.StringIO()
    assert _check_all(contracts, checked) == 1
    assert "MAJOR_BUMP_REQUIRED" in checked.getvalue()
    location = str(tmp_path / "store_sales")
    first = contracts.get("store_sales", "1.0.0")
    _publish(spark, [_row(1, DAY1)], first, location, "overwrite")
    with pytest.raises(ContractViolationError) as info:
        _publish(spark, [_row(2, DAY2)], contracts.get("store_sales", "1.1.0"),
                 location, mode)  # fmt: skip
    assert info.value.reason == Reason.MAJOR_BUMP_REQUIRED
    assert info.value.metadata["previous"] == "store_sales@1.0.0"
    assert DeltaTable(location).version() == 0
