"""Assess a version, write its rows with delta-rs, read them back through the API."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from deltalake import write_deltalake
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy

from featurestore.services.monitoring import (
    InvalidTableNameError,
    ProfileNotFoundError,
    TableNotFoundError,
    read_drift,
    read_profiles,
)
from featurestore.services.monitoring._schema import profile_location, to_table
from featurestore.services.monitoring.assess import Assessment
from featurestore.services.monitoring.scores import EPSILON
from featurestore.services.monitoring.snapshot import (
    open_snapshot,
    profile_dataset,
    reference_from_snapshot,
)
from tests.unit.monitoring._support import contract, project, rows, write_versions

DRIFT = """customProperties:
  - property: drift
    value:
      on_drift: block
      columns:
        city: {metric: js, warn: 0.01, fail: 0.9}
"""


def _shares(counts):
    n, k = sum(counts), len(counts)
    return [(c / n + EPSILON) / (1 + k * EPSILON) for c in counts]


@pytest.fixture
def published(tmp_path):
    """shop versions 0 and 1 (shifted), both profiled as a publish would."""
    proj = project(tmp_path)
    location = proj.table_uri("shop")
    write_versions(location, rows(3000), rows(3000, shift=1.0, seed=2))
    shop = contract(DRIFT)
    settings = shop.drift
    ref = reference_from_snapshot(open_snapshot(location, 0), 0, settings)
    at = datetime(2026, 2, 1, tzinfo=UTC)
    first = Assessment(
        "shop",
        profile_dataset(open_snapshot(location, 0), settings, ref),
        settings,
        ref,
    )
    write_deltalake(
        profile_location(location),
        to_table(first.rows(0, source="backfill", run_id="r0", at=at)),
    )
    previous = read_profiles(proj, "shop", 0)[0]
    second = Assessment(
        "shop",
        profile_dataset(open_snapshot(location, 1), settings, ref),
        settings,
        ref,
        previous,
    )
    write_deltalake(
        profile_location(location),
        to_table(second.rows(1, source="publish", run_id="r1", at=at)),
        mode="append",
    )
    return proj, second


def test_profiles_read_back_per_version(published):
    proj, _ = published
    profiles = read_profiles(proj, "shop")
    assert [p.version for p in profiles] == [0, 1]
    latest = profiles[1]
    assert (latest.source, latest.run_id, latest.reference_version) == (
        "publish",
        "r1",
        0,
    )
    assert [c.feature for c in latest.columns] == ["amount", "visits", "city"]
    amount = latest.column("amount")
    assert sum(amount.counts) == amount.row_count == 3000
    assert amount.bucket_labels[0].startswith("[-inf, ")
    assert amount.bucket_labels[-1] == "null"
    assert amount.reference_counts == profiles[0].column("amount").counts


def test_drift_scores_equal_an_independent_computation(published):
    proj, _ = published
    scores = read_drift(proj, "shop", 1)
    by = {(s.feature, s.against): s for s in scores}
    assert set(by) == {
        (f, a) for f in ("amount", "visits", "city") for a in ("baseline", "previous")
    }
    amount = read_profiles(proj, "shop", 1)[0].column("amount")
    p, q = _shares(amount.reference_counts), _shares(amount.counts)
    expected = entropy(q, p) + entropy(p, q)
    assert by["amount", "baseline"].score == pytest.approx(expected, rel=1e-9)
    # Version 0 is the reference, so "previous" compares with the same counts.
    assert by["amount", "previous"].score == by["amount", "baseline"].score
    assert by["amount", "baseline"].verdict == "fail"  # a one-sigma shift
    assert by["amount", "baseline"].blocks
    city = read_profiles(proj, "shop", 1)[0].column("city")
    expected_js = jensenshannon(
        _shares(city.reference_counts), _shares(city.counts), base=2
    )
    assert by["city", "baseline"].metric == "js"
    assert by["city", "baseline"].score == pytest.approx(expected_js, rel=1e-9)
    # The reference itself scores zero against itself.
    zero = [s for s in read_drift(proj, "shop", 0) if s.against == "baseline"]
    assert zero and all(s.score == pytest.approx(0.0, abs=1e-12) for s in zero)


def test_blocking_scores_name_feature_score_and_threshold(published):
    _, second = published
    blocked = second.blocking(1)
    assert {s.feature for s in blocked} >= {"amount"}
    line = next(s for s in blocked if s.feature == "amount").reason()
    assert line.startswith("shop.amount: psi ") and ">= 0.2 against baseline" in line


def test_unknown_and_hostile_names(published, tmp_path):
    proj, _ = published
    # No such table, no such version: not a backfill's to profile.
    with pytest.raises(TableNotFoundError):
        read_profiles(proj, "other")
    with pytest.raises(TableNotFoundError):
        read_drift(proj, "shop", 9)
    # A table nothing profiled yet: a backfill helps when a contract is named
    # as the table (it finds the contract so), and only then is advised.
    write_versions(proj.table_uri("bare"), rows(5))
    with pytest.raises(ProfileNotFoundError, match="there is no contract bare"):
        read_profiles(proj, "bare")
    (proj.contracts_dir / "bare").mkdir(parents=True)
    (proj.contracts_dir / "bare" / "1.0.0.yaml").write_text("name: bare\n")
    with pytest.raises(ProfileNotFoundError, match="monitor backfill bare"):
        read_profiles(proj, "bare")
    for name in ("../shop", "shop/x", "", "a.b", "x" * 200, "9a"):
        with pytest.raises(InvalidTableNameError):
            read_profiles(proj, name)
    # It said "letters", and "données" (letters all) was refused unexplained.
    with pytest.raises(InvalidTableNameError, match="1 to 128 ASCII letters"):
        read_profiles(proj, "données")
