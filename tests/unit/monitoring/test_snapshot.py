"""DuckDB profiles of pinned snapshots against a numpy oracle."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from featurestore.services.contracts import parse_contract
from featurestore.services.monitoring.errors import TableNotFoundError
from featurestore.services.monitoring.scores import EPSILON, psi
from featurestore.services.monitoring.snapshot import (
    open_features,
    open_snapshot,
    profile_dataset,
    reference_from_snapshot,
    table_versions,
)
from tests.unit.monitoring._support import (
    CONTRACT_YAML,
    contract,
    rows,
    write_versions,
)


@pytest.fixture
def location(tmp_path):
    where = str(tmp_path / "features" / "shop")
    write_versions(where, rows(2000), rows(1500, shift=1.0, seed=1))
    return where


def _values(table, name):
    values = np.array(
        [np.nan if v is None else v for v in table.column(name).to_pylist()], float
    )
    return values[~np.isnan(values)]


def test_reference_edges_are_equal_frequency_and_counts_match_numpy(location):
    settings = contract().drift
    ref = reference_from_snapshot(open_snapshot(location, 0), 0, settings)
    base = rows(2000)
    amount = ref.columns["amount"]
    present = _values(base, "amount")
    assert len(amount.edges) == 9
    assert set(amount.edges) <= set(present.tolist())  # cut points are values
    # numpy's own bucketing of the same values on the same edges.
    oracle = np.bincount(
        np.searchsorted(amount.edges, present, side="right"), minlength=10
    )
    nulls = base.num_rows - present.size
    assert amount.counts == (*oracle.tolist(), nulls)
    # Continuous values: every bucket holds a tenth, give or take one row.
    assert all(abs(c - present.size / 10) <= 1 for c in oracle)


def test_categorical_reference_is_top_k_plus_other_and_nulls(location):
    base = rows(2000)
    settings = contract(
        "customProperties:\n  - {property: drift, value: {top_k: 2}}\n"
    ).drift
    ref = reference_from_snapshot(open_snapshot(location, 0), 0, settings)
    city = ref.columns["city"]
    values = [v for v in base.column("city").to_pylist() if v is not None]
    assert city.categories == ("ams", "ber")
    expected = (
        values.count("ams"),
        values.count("ber"),
        len(values) - values.count("ams") - values.count("ber"),
        base.num_rows - len(values),
    )
    assert city.counts == expected


def test_profile_of_a_later_version_uses_the_reference_buckets(location):
    settings = contract().drift
    ref = reference_from_snapshot(open_snapshot(location, 0), 0, settings)
    later = rows(1500, shift=1.0, seed=1)
    profiles = {
        c.feature: c for c in profile_dataset(open_snapshot(location, 1), settings, ref)
    }
    amount = profiles["amount"]
    present = _values(later, "amount")
    oracle = np.bincount(
        np.searchsorted(ref.columns["amount"].edges, present, side="right"),
        minlength=10,
    )
    assert amount.counts == (*oracle.tolist(), later.num_rows - present.size)
    assert amount.row_count == 1500
    assert amount.mean == pytest.approx(present.mean())
    assert amount.std == pytest.approx(present.std(ddof=1))
    assert (amount.min, amount.max) == (present.min(), present.max())
    visits = np.array(later.column("visits").to_pylist())
    assert profiles["visits"].mean == pytest.approx(visits.mean())
    assert profiles["visits"].null_count == 0
    assert sum(profiles["city"].counts) == 1500


def test_versions_and_missing_snapshots(location, tmp_path):
    assert table_versions(location) == [0, 1]
    with pytest.raises(TableNotFoundError):
        open_snapshot(location, 7)
    with pytest.raises(TableNotFoundError):
        open_snapshot(str(tmp_path / "nope"), 0)


def _without_file_statistics(where):
    # Statistics are optional in a Delta log (a writer may not collect them).
    log = Path(where) / "_delta_log" / "00000000000000000000.json"
    actions = [json.loads(line) for line in log.read_text().splitlines()]
    for action in actions:
        action.get("add", {}).pop("stats", None)
    log.write_text("".join(json.dumps(a) + "\n" for a in actions))


@pytest.mark.parametrize("statistics", [True, False])
def test_a_version_lacking_every_feature_asked_for_still_counts_its_rows(
    tmp_path, statistics
):
    where = str(tmp_path / "shop")
    write_versions(where, rows(50))
    if not statistics:
        _without_file_statistics(where)
    added = parse_contract(
        CONTRACT_YAML + "  - {name: extra, type: float64, nullable: true}\n",
        "shop/1.1.0.yaml",
    )
    only_extra = {"extra": added.drift["extra"]}
    snapshot = open_features(where, 0, added, only_extra)
    assert (snapshot.settings, snapshot.rows.num_columns) == ({}, 0)
    assert snapshot.row_count == 50


def _amounts(values):
    """shop rows whose `amount` column is `values`."""
    table = rows(len(values))
    index = table.schema.get_field_index("amount")
    return table.set_column(index, "amount", pa.array(values, pa.float64()))


def _oracle_psi(base, current, edges):
    """PSI on `edges` by numpy's own bucketing (ε-smoothed as scores.psi)."""

    def shares(values):
        counts = np.bincount(
            np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1
        )
        counts = np.append(counts, 0)  # the null bucket: no nulls here
        return (counts / counts.sum() + EPSILON) / (1 + counts.size * EPSILON)

    p, q = shares(np.asarray(base, float)), shares(np.asarray(current, float))
    return float(np.sum((q - p) * np.log(q / p)))


def _scored(base, current):
    settings = {"amount": contract().drift["amount"]}  # 10 bins, psi
    ref = reference_from_snapshot(_amounts(base), 0, settings)
    (profile,) = profile_dataset(_amounts(current), settings, ref)
    column = ref.columns["amount"]
    return column.edges, psi(column.counts, profile.counts)


def test_a_constant_baseline_still_sees_values_beyond_it():
    edges, score = _scored([5.0] * 200, [50.0] * 200)
    assert edges == (5.0, math.nextafter(5.0, math.inf))
    assert score == pytest.approx(_oracle_psi([5.0] * 200, [50.0] * 200, edges))
    assert score > 0.2  # fail, where one [5, inf) bucket scored 0
    assert _scored([5.0] * 200, [5.0] * 150)[1] == pytest.approx(0.0)


def test_a_low_cardinality_baseline_gets_one_bucket_per_value():
    rng = np.random.default_rng(7)
    base = rng.choice([1.0, 2.0, 3.0, 4.0], size=500, p=[0.9, 0.05, 0.03, 0.02])
    moved = rng.choice([1.0, 2.0, 3.0, 4.0], size=500, p=[0.6, 0.2, 0.1, 0.1])
    edges, score = _scored(base.tolist(), moved.tolist())
    # The documented rule, computed independently: each value, then max⁺.
    assert edges == (*np.unique(base).tolist(), math.nextafter(4.0, math.inf))
    assert score == pytest.approx(_oracle_psi(base, moved, edges), rel=1e-9)
    assert score > 0.2


def test_continuous_values_keep_their_equal_frequency_edges():
    values = np.random.default_rng(3).normal(size=1000)
    edges, _ = _scored(values.tolist(), values.tolist())
    probs = [k / 10 for k in range(1, 10)]
    # quantile_disc: the smallest value whose cumulative share reaches k/10.
    ordered = np.sort(values)
    expected = [ordered[int(np.ceil(p * ordered.size)) - 1] for p in probs]
    assert edges == pytest.approx(expected)


def test_a_contract_without_numeric_features_gets_its_categorical_buckets(location):
    # Only string/bool features: the query of numeric cut points had no
    # aggregate, returned one row per table row, and every backfill or
    # publish of such a table failed: "too many values to unpack".
    settings = contract().drift
    alone = {"city": settings["city"]}
    snapshot = open_snapshot(location, 0)
    ref = reference_from_snapshot(snapshot, 0, alone)
    assert (
        ref.columns["city"]
        == reference_from_snapshot(snapshot, 0, settings).columns["city"]
    )
