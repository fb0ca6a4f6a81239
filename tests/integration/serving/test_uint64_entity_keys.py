"""A uint64 join-key column in training-set entity rows is compared exactly."""

from __future__ import annotations

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from featurestore.services.client import FeatureStoreClient
from tests.integration.serving._repo import NOW, TS, customer_rows

pytestmark = pytest.mark.integration


def test_keys_above_int64_max_match_no_wrapped_negative_key(sqlite_served):
    # Settled question: is 2**64 - 1 read as the INT64 key -1 (two's
    # complement)? No: the join compares the uint64 column with the table's
    # int64 keys by value, so it matches nothing, and comes back unchanged.
    table = f"{sqlite_served.store.repo_path}/data/customer_stats"
    wrapped = customer_rows().slice(0, 1)
    wrapped = wrapped.set_column(0, "customer_id", pa.array([-1], pa.int64()))
    wrapped = wrapped.set_column(1, "spend", pa.array([-123.0]))
    write_deltalake(table, wrapped, mode="append")
    keys = [2**64 - 1, 2**63, 3]
    with FeatureStoreClient(sqlite_served.address) as client:
        as_int64 = client.get_historical_features(
            pa.table({"customer_id": pa.array([-1]), "event_timestamp": [NOW]}),
            ["customer_stats:spend"],
        )
        as_uint64 = client.get_historical_features(
            pa.table(
                {
                    "customer_id": pa.array(keys, pa.uint64()),
                    "event_timestamp": pa.array([NOW] * 3, TS),
                }
            ),
            ["customer_stats:spend"],
        )
    assert as_int64.table["spend"].to_pylist() == [-123.0]  # the row is there
    assert as_uint64.table["customer_id"].to_pylist() == keys
    assert as_uint64.table["spend"].to_pylist() == [None, None, 30.5]
