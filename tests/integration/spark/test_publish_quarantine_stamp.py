"""The quarantine commit of a publish says what was known when it was made.

A refused batch (failure ratio or ``on_drift: block``) stamps its quarantine
commit ``published: 0`` with the refusal's reason; a batch let through stamps
the rows it judged (``passed``), not rows published: the feature commit comes
after it and may yet fail.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable

from featurestore.services.lineage import table_history
from featurestore.spark_jobs import ContractViolationError, Reason, publish
from tests.unit.monitoring._support import contract, project, rows

pytestmark = [pytest.mark.spark, pytest.mark.integration]

BLOCK = """customProperties:
  - property: drift
    value: {on_drift: block, bins: 5, top_k: 3}
"""


def _with_a_failing_row(batch: pa.Table) -> pa.Table:
    """``batch`` plus one row of a new shop whose non-nullable ``visits`` is null."""
    bad = batch.slice(0, 1)
    for name, value in (("shop_id", 99_999), ("visits", None)):
        column = pa.array([value], pa.int64())
        bad = bad.set_column(bad.schema.get_field_index(name), name, column)
    return pa.concat_tables([batch, bad])


def _quarantine_validation(location: str) -> dict[str, object]:
    commit = DeltaTable(f"{location}_quarantine").history(1)[0]
    validation: dict[str, object] = json.loads(commit["userMetadata"])["validation"]
    return validation


def test_a_drift_refusal_stamps_its_quarantine_commit_as_refused(spark, tmp_path):
    location = project(tmp_path).table_uri("shop")
    first = spark.createDataFrame(rows(300, seed=3))
    publish(first, contract(BLOCK), location, job="t")

    drifted = _with_a_failing_row(rows(300, shift=2.0, seed=5))
    with pytest.raises(ContractViolationError) as info:
        publish(
            spark.createDataFrame(drifted), contract(BLOCK), location, job="t",
            run_id="drifted",
        )  # fmt: skip

    assert info.value.reason is Reason.DRIFT
    assert DeltaTable(location).version() == 0
    quarantined = DeltaTable(f"{location}_quarantine").to_pyarrow_table()
    assert pc.unique(quarantined["run_id"]).to_pylist() == ["drifted"]
    validation = _quarantine_validation(location)
    assert (validation["rows_in"], validation["quarantined"]) == (301, 1)
    assert (validation["published"], validation["refused"]) == (0, "DRIFT")
    (record,) = table_history(f"{location}_quarantine")
    assert record.validation is not None and record.validation["published"] == 0


def test_a_batch_let_through_stamps_its_quarantine_with_rows_judged(spark, tmp_path):
    # The feature commit comes after the quarantine commit: if it never lands
    # (a conflict for good, a kill), "published: 300" would be false there.
    location = project(tmp_path).table_uri("shop")
    batch = _with_a_failing_row(rows(300, seed=3))
    report = publish(spark.createDataFrame(batch), contract(), location, job="t")

    assert report.validation.rows_failed == 1
    validation = _quarantine_validation(location)
    assert "published" not in validation and "refused" not in validation
    assert (validation["rows_in"], validation["passed"]) == (301, 300)
    assert validation["quarantined"] == 1
    feature = json.loads(DeltaTable(location).history(1)[0]["userMetadata"])
    assert feature["validation"]["published"] == 300
