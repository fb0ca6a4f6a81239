"""DuckDB profiles of pinned snapshots against a numpy oracle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from featurestore.services.contracts import parse_contract
from featurestore.services.monitoring.errors import TableNotFoundError
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
