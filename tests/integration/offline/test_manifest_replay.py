"""A manifest pins the Delta versions read, so a replay gives identical rows."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from featurestore.services.offline import (
    FeatureViewNotFoundError,
    HistoricalRequest,
    Manifest,
    Reason,
    VersionNotFoundError,
    get_historical_features,
    replay,
)
from tests.integration.offline.conftest import T0, txn_rows

pytestmark = pytest.mark.integration


def _entity():
    times = [T0 + timedelta(minutes=m) for m in (15, 45, 15, 70)]
    return pa.table(
        {
            "card_id": pa.array([1, 11, 1, 1], pa.int64()),
            "merchant_id": pa.array([12, 2, 12, 12], pa.int64()),
            "event_timestamp": pa.array(times, pa.timestamp("us", tz="Asia/Tokyo")),
            "label": pa.array([0, 1, 0, 1], pa.int8()),
        }
    )


def test_replay_after_append_returns_identical_rows(feast_repo):
    store, repo = feast_repo
    path = str(repo / "data" / "card_merchant")
    request = HistoricalRequest(
        entity=_entity(), features=["card_merchant:amount"], full_feature_names=True
    )
    first = get_historical_features(store, request)
    manifest = Manifest.from_json(first.manifest.to_json())

    write_deltalake(path, txn_rows([(1, 12, 14, 14, 9.0), (1, 12, 60, 60, 8.0)]),
                    mode="append")  # fmt: skip
    DeltaTable(path).delete("amount = 4.0")
    fresh = get_historical_features(store, request).table
    replayed = replay(manifest, _entity())

    assert replayed.equals(first.table)
    assert first.table.column("card_merchant__amount").to_pylist() == [
        4.0, 5.0, 4.0, None,
    ]  # fmt: skip
    assert fresh.column("card_merchant__amount").to_pylist() == [9.0, 5.0, 9.0, 8.0]
    (read,) = manifest.tables
    assert (read.view, read.path, read.version) == ("card_merchant", path, 0)
    assert read.contract == "card_merchant@2"
    assert manifest.feature_refs == ["card_merchant:amount"]
    assert manifest.timestamp_column == "event_timestamp"


def test_pins_by_version_and_time(feast_repo):
    store, repo = feast_repo
    path = str(repo / "data" / "card_merchant")
    between = datetime.now(UTC)
    write_deltalake(path, txn_rows([(1, 12, 14, 14, 9.0)]), mode="append")
    refs = ["card_merchant:amount"]

    def amounts(pins):
        req = HistoricalRequest(entity=_entity(), features=refs, pins=pins)
        result = get_historical_features(store, req)
        return result.table.column("amount").to_pylist(), result.manifest

    assert amounts({})[0][0] == 9.0
    old, manifest = amounts({"card_merchant": 0})
    assert old[0] == 4.0 and manifest.tables[0].version == 0
    assert amounts({"card_merchant": between})[0][0] == 4.0
    with pytest.raises(VersionNotFoundError) as err:
        amounts({"card_merchant": 5})
    assert err.value.reason is Reason.VERSION_NOT_FOUND
    with pytest.raises(FeatureViewNotFoundError):
        amounts({"nope": 0})


def test_a_time_pin_holds_after_the_table_is_copied_back_in_place(feast_repo):
    # Versions 0, 1, 2 a second apart; then the table is copied away and back
    # (a restore, cp -r, a sync), so every log file is newer than the pin.
    store, repo = feast_repo
    path = repo / "data" / "card_merchant"
    for amount in (9.0, 7.0):
        time.sleep(1)
        write_deltalake(str(path), txn_rows([(1, 12, 14, 14, amount)]), mode="append")
    committed = {h["version"]: h["timestamp"] for h in DeltaTable(str(path)).history()}
    pin = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=committed[1] + 500)
    time.sleep(1.5)
    shutil.copytree(path, repo / "backup", copy_function=shutil.copy)
    shutil.rmtree(path)
    shutil.copytree(repo / "backup", path, copy_function=shutil.copy)

    request = HistoricalRequest(
        entity=_entity(), features=["card_merchant:amount"], pins={"card_merchant": pin}
    )
    result = get_historical_features(store, request)
    assert result.manifest.tables[0].version == 1
    assert result.table.column("amount").to_pylist()[0] == 9.0
