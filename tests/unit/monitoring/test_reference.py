"""The reference of a table whose contract changed since its baseline version."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from featurestore.services.contracts import parse_contract
from featurestore.services.monitoring.assess import Assessment
from featurestore.services.monitoring.backfill import profile_version
from featurestore.services.monitoring.errors import BaselineNotFoundError
from featurestore.services.monitoring.reference import resolve_reference
from featurestore.services.monitoring.snapshot import (
    open_snapshot,
    profile_dataset,
    reference_from_snapshot,
)
from tests.unit.monitoring._support import (
    CONTRACT_YAML,
    contract,
    rows,
    write_versions,
)

EXTRA = "  - {name: extra, type: float64, nullable: true}\n"


def _added(drift: str = ""):
    """Contract 1.1.0: the shop contract plus a nullable float column `extra`."""
    text = CONTRACT_YAML.replace("version: 1.0.0", "version: 1.1.0") + EXTRA
    return parse_contract(text + drift, "shop/1.1.0.yaml")


def _retyped(column: str, old: str, new: str):
    """Contract 2.0.0: `column` of type `new` where 1.0.0 said `old`."""
    text = CONTRACT_YAML.replace("version: 1.0.0", "version: 2.0.0").replace(
        f"{{name: {column}, type: {old}", f"{{name: {column}, type: {new}"
    )
    return parse_contract(text, "shop/2.0.0.yaml")


@pytest.fixture
def location(tmp_path):
    where = str(tmp_path / "features" / "shop")
    write_versions(where, rows(300), rows(200, shift=0.5, seed=1))
    return where


def test_a_column_the_baseline_lacks_gets_no_buckets(location, tmp_path):
    ref = resolve_reference(_added(), location, [], repo=tmp_path, fallback=0)
    assert ref is not None and ref.version == 0
    assert set(ref.columns) == {"amount", "visits", "city"}
    # The columns the baseline has: as if the contract had not changed.
    same = reference_from_snapshot(open_snapshot(location, 0), 0, contract().drift)
    assert ref.columns == same.columns


def test_a_training_set_baseline_lacking_the_column_gets_no_buckets(location, tmp_path):
    manifest = {"tables": [{"contract": "shop@1.0.0", "path": location, "version": 1}]}
    (tmp_path / "set.manifest.json").write_text(json.dumps(manifest))
    pinned = _added(
        "customProperties:\n  - property: drift\n    value:\n"
        "      baseline: {training_set: set.manifest.json}\n"
    )
    ref = resolve_reference(pinned, location, [], repo=tmp_path)
    assert ref is not None and ref.version == 1
    assert set(ref.columns) == {"amount", "visits", "city"}


@pytest.mark.parametrize(
    ("column", "old", "new"),
    [("city", "string", "float64"), ("visits", "int64", "string")],
)
def test_a_column_of_another_type_in_the_baseline_gets_no_buckets(
    location, tmp_path, column, old, new
):
    # string -> float64 made DuckDB fail to cast 'ams'; int64 -> string made
    # categories of the old numbers, and a score of new strings against them.
    retyped = _retyped(column, old, new)
    ref = resolve_reference(retyped, location, [], repo=tmp_path, fallback=0)
    assert ref is not None
    assert column not in ref.columns
    assert set(ref.columns) == set(retyped.drift) - {column}


def test_int_in_the_baseline_is_bucketed_for_a_float_column(location, tmp_path):
    widened = _retyped("visits", "int64", "float64")
    ref = resolve_reference(widened, location, [], repo=tmp_path, fallback=0)
    assert ref is not None
    same = reference_from_snapshot(open_snapshot(location, 0), 0, contract().drift)
    assert ref.columns["visits"] == same.columns["visits"]


def test_the_record_of_a_missing_column_spares_reading_the_baseline(location, tmp_path):
    added = _added()
    ref = resolve_reference(added, location, [], repo=tmp_path, fallback=0)
    snapshot = rows(200, shift=0.5, seed=1).append_column(
        "extra", pa.array([1.0] * 200, pa.float64())
    )
    columns = profile_dataset(snapshot, added.drift, ref)
    written = Assessment("shop", columns, added.drift, ref).rows(
        1, source="publish", run_id="r", at=datetime.now(UTC)
    )
    extra = next(r for r in written if r["feature"] == "extra")
    # What the drift record says: the baseline version, no buckets, no score.
    assert (extra["reference_version"], extra["reference_counts"]) == (0, [])
    assert (extra["counts"], extra["baseline_score"], extra["previous_score"]) == (
        [],
        None,
        None,
    )
    assert extra["row_count"] == 200 and extra["mean"] == pytest.approx(1.0)
    # Every feature is settled by the rows: the baseline is not opened again
    # (here it cannot be: nothing is at that location).
    gone = str(tmp_path / "nothing" / "here")
    again = resolve_reference(added, gone, written, repo=tmp_path, fallback=0)
    assert again == ref
    with pytest.raises(BaselineNotFoundError):
        resolve_reference(added, gone, [], repo=tmp_path, fallback=0)


def test_backfill_profiles_only_the_columns_a_version_has(location):
    added = _added()
    ref = resolve_reference(added, location, [], repo=location, fallback=0)
    new = profile_version(added, location, 1, ref, [], run_id="b")
    assert {r["feature"] for r in new} == {"amount", "visits", "city"}
    retyped = _retyped("city", "string", "float64")
    new = profile_version(retyped, location, 1, ref, [], run_id="b")
    assert {r["feature"] for r in new} == {"amount", "visits"}
