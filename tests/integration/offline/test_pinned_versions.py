"""Pins of older versions: a feature added since, files removed by VACUUM."""

from __future__ import annotations

import os
from datetime import timedelta

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from featurestore.services.offline import (
    FeatureColumnMissingError,
    HistoricalRequest,
    Reason,
    VersionNotFoundError,
    get_historical_features,
)
from featurestore.services.offline.errors import StorageUnavailableError
from tests.integration.offline.conftest import REPO_PY, T0, txn_rows

pytestmark = pytest.mark.integration


def _entity() -> pa.Table:
    times = [T0 + timedelta(minutes=m) for m in (15, 45, 15)]
    return pa.table(
        {
            "card_id": pa.array([1, 11, 1], pa.int64()),
            "merchant_id": pa.array([12, 2, 12], pa.int64()),
            "event_timestamp": pa.array(times, pa.timestamp("us", tz="UTC")),
        }
    )


def _amounts(store, pins, features=("card_merchant:amount",)):
    request = HistoricalRequest(entity=_entity(), features=list(features), pins=pins)
    return get_historical_features(store, request).table


def _add_count_feature(store, repo) -> None:
    """Version 1 adds a nullable column ``count``; the view then names it."""
    rows = txn_rows([(1, 12, 50, 50, 6.0)])
    rows = rows.append_column("count", pa.array([3], pa.int64()))
    path = str(repo / "data" / "card_merchant")
    write_deltalake(path, rows, mode="append", schema_mode="merge")
    source = REPO_PY.replace(
        "from feast.types import Float64", "from feast.types import Float64, Int64"
    ).replace(
        'schema=[Field(name="amount", dtype=Float64)]',
        'schema=[Field(name="amount", dtype=Float64), '
        'Field(name="count", dtype=Int64)]',
    )
    ns: dict = {}
    exec(compile(source, str(repo / "definitions.py"), "exec"), ns)
    store.apply([ns["card"], ns["merchant"], ns["card_merchant_view"]])
    assert [f.name for f in store.get_feature_view("card_merchant").features] == [
        "amount",
        "count",
    ]


def test_a_pin_before_a_feature_was_added_reads_the_features_it_has(feast_repo):
    # It failed FEATURE_COLUMN_MISSING for 'count', a feature not asked for.
    store, repo = feast_repo
    before = _amounts(store, {})
    _add_count_feature(store, repo)

    pinned = _amounts(store, {"card_merchant": 0})
    current = _amounts(store, {}, ["card_merchant:amount", "card_merchant:count"])

    assert pinned.equals(before)
    assert pinned.column("amount").to_pylist() == [4.0, 5.0, 4.0]
    assert current.column("count").to_pylist() == [None, None, None]


def test_a_requested_feature_added_after_the_pinned_version_names_the_version(
    feast_repo,
):
    store, repo = feast_repo
    _add_count_feature(store, repo)
    with pytest.raises(FeatureColumnMissingError) as err:
        _amounts(store, {"card_merchant": 0}, ["card_merchant:count"])
    assert err.value.reason is Reason.FEATURE_COLUMN_MISSING
    assert err.value.metadata == {
        "column": "count",
        "view": "card_merchant",
        "version": "0",
    }


def test_a_feature_the_current_version_lacks_is_still_the_tables_fault(feast_repo):
    store, repo = feast_repo
    _add_count_feature(store, repo)
    path = str(repo / "data" / "card_merchant")
    write_deltalake(path, txn_rows([(1, 12, 0, 0, 1.0)]), mode="overwrite",
                    schema_mode="overwrite")  # fmt: skip
    with pytest.raises(FeatureColumnMissingError) as err:
        _amounts(store, {}, ["card_merchant:count"])
    assert "version" not in err.value.metadata


def test_a_pinned_version_whose_files_were_vacuumed_is_not_found(feast_repo):
    # It was STORAGE_UNAVAILABLE ("removed outside Delta"), which clients retry.
    store, repo = feast_repo
    path = str(repo / "data" / "card_merchant")
    write_deltalake(path, txn_rows([(1, 12, 0, 0, 1.0)]), mode="overwrite")
    removed = DeltaTable(path).vacuum(
        retention_hours=0, enforce_retention_duration=False, dry_run=False
    )
    assert removed  # version 0's file
    with pytest.raises(VersionNotFoundError) as err:
        _amounts(store, {"card_merchant": 0})
    assert err.value.reason is Reason.VERSION_NOT_FOUND
    assert err.value.vacuumed
    assert err.value.metadata == {"pin": "version 0", "view": "card_merchant"}
    kept = _amounts(store, {"card_merchant": 1})
    assert kept.column("amount").to_pylist() == [1.0, None, 1.0]


def test_a_current_version_missing_a_file_stays_storage_unavailable(feast_repo):
    store, repo = feast_repo
    path = repo / "data" / "card_merchant"
    (data_file,) = DeltaTable(str(path)).file_uris()
    os.remove(data_file.removeprefix("file://"))
    with pytest.raises(StorageUnavailableError) as err:
        _amounts(store, {"card_merchant": 0})
    assert err.value.reason is Reason.STORAGE_UNAVAILABLE
