"""The Delta offline store behind a real Feast repo: retrieval and materialize."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from deltalake import DeltaTable, write_deltalake

from tests.integration.offline.conftest import T0, txn_rows

pytestmark = pytest.mark.integration

REFS = ["card_merchant:amount"]


def _entity(rows, tz="UTC"):
    return pd.DataFrame(
        {
            "card_id": [r[0] for r in rows],
            "merchant_id": [r[1] for r in rows],
            "event_timestamp": [
                (pd.Timestamp(T0) + timedelta(minutes=r[2])).tz_convert(tz)
                for r in rows
            ],
        }
    )


def test_historical_features_point_in_time(feast_repo):
    store, _ = feast_repo
    entity = _entity(
        [(1, 12, 15, None), (11, 2, 15, None), (1, 12, -5, None), (1, 12, 45, None),
         (11, 2, 45, None), (1, 12, 15, None), (112, 0, 15, None)],
        tz="America/New_York",
    )  # fmt: skip

    df = store.get_historical_features(entity_df=entity, features=REFS).to_df()

    assert type(store._get_provider().offline_store).__name__ == "DeltaOfflineStore"
    assert list(df.columns) == ["card_id", "merchant_id", "event_timestamp", "amount"]
    assert df["card_id"].tolist() == entity["card_id"].tolist()
    # (1,12)@15 -> e=10 tie broken by c=20; (1,12) and (11,2) never mix;
    # @-5 precedes history; @45 is past the 30 min TTL for (1,12).
    expected = [4.0, 2.0, None, None, 5.0, 4.0, None]
    assert [None if pd.isna(v) else v for v in df["amount"]] == expected


def test_as_known_at_ignores_late_rows(feast_repo):
    store, _ = feast_repo
    entity = _entity([(1, 12, 15, None)])

    df = store.get_historical_features(
        entity_df=entity, features=REFS, filter_by_created_timestamp=True
    ).to_df()

    assert df["amount"].tolist() == [3.0]  # the c=20 row was not known at 15


def test_full_feature_names(feast_repo):
    store, _ = feast_repo
    df = store.get_historical_features(
        entity_df=_entity([(11, 2, 1, None)]), features=REFS, full_feature_names=True
    ).to_df()
    assert df["card_merchant__amount"].tolist() == [2.0]


def test_deleted_rows_never_returned(feast_repo):
    store, repo = feast_repo
    DeltaTable(str(repo / "data" / "card_merchant")).delete("amount = 4.0")
    df = store.get_historical_features(
        entity_df=_entity([(1, 12, 15, None)]), features=REFS
    ).to_df()
    assert df["amount"].tolist() == [3.0]


@pytest.mark.parametrize("feast_repo", [True, False], indirect=True)
def test_materialize_fills_online_store(feast_repo):
    store, repo = feast_repo
    store.materialize(T0 - timedelta(hours=1), T0 + timedelta(minutes=30))
    online = store.get_online_features(
        features=REFS,
        entity_rows=[
            {"card_id": 1, "merchant_id": 12},
            {"card_id": 11, "merchant_id": 2},
        ],
    ).to_dict()
    assert online["amount"] == [4.0, 2.0]

    write_deltalake(
        str(repo / "data" / "card_merchant"),
        txn_rows([(1, 12, 50, 50, 6.0)]),
        mode="append",
    )
    store.materialize_incremental(T0 + timedelta(minutes=55))
    online = store.get_online_features(
        features=REFS,
        entity_rows=[
            {"card_id": 1, "merchant_id": 12},
            {"card_id": 11, "merchant_id": 2},
        ],
    ).to_dict()
    assert online["amount"] == [6.0, 5.0]


def test_sql_entity_df_rejected(feast_repo):
    from featurestore.services.offline import InvalidRequestError, Reason

    store, _ = feast_repo
    with pytest.raises(InvalidRequestError) as err:
        store.get_historical_features(entity_df="SELECT 1", features=REFS).to_df()
    assert err.value.reason is Reason.INVALID_REQUEST
