"""The reference of a table whose contract changed since its baseline version."""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner
from deltalake import DeltaTable, write_deltalake
from scipy.stats import entropy

from featurestore.services.cli import cli
from featurestore.services.contracts import ContractRegistry, parse_contract
from featurestore.services.monitoring import read_drift, read_profiles
from featurestore.services.monitoring._schema import profile_location
from featurestore.services.monitoring.assess import Assessment
from featurestore.services.monitoring.backfill import backfill, profile_version
from featurestore.services.monitoring.errors import BaselineNotFoundError
from featurestore.services.monitoring.model import VersionProfile
from featurestore.services.monitoring.reference import resolve_reference
from featurestore.services.monitoring.scores import EPSILON
from featurestore.services.monitoring.snapshot import (
    open_snapshot,
    profile_dataset,
    reference_from_snapshot,
)
from featurestore.services.monitoring.store import read_profile_rows
from tests.unit.monitoring._support import (
    CONTRACT_YAML,
    contract,
    project,
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


# --- Buckets follow the contract's bins and top_k ------------------------------

OLD_DRIFT = "customProperties:\n  - {property: drift, value: {bins: 4, top_k: 3}}\n"
NEW_DRIFT = OLD_DRIFT.replace("bins: 4, top_k: 3", "bins: 10, top_k: 5")


def _cli(*args: str) -> dict:
    result = CliRunner().invoke(cli, list(args), prog_name="featurestore")
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def _write_contract(repo: Path, version: str, drift: str) -> None:
    text = CONTRACT_YAML.replace("version: 1.0.0", f"version: {version}") + drift
    folder = repo / "contracts" / "shop"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{version}.yaml").write_text(text)


def _contract(repo: Path, version: str, drift: str):
    _write_contract(repo, version, drift)
    return ContractRegistry(repo / "contracts").get("shop", version)


def _present(table: pa.Table, name: str) -> np.ndarray:
    values = np.array(
        [np.nan if v is None else v for v in table.column(name).to_pylist()], float
    )
    return values[~np.isnan(values)]


def _oracle_edges(values: np.ndarray, bins: int) -> list[float]:
    """The equal-frequency rule straight from the rows (numpy, not DuckDB):
    the smallest values whose empirical CDF reaches k/bins; when ties merge
    them, every distinct value (at most `bins`) and one just above the max."""
    probs = [k / bins for k in range(1, bins)]
    edges = {float(v) for v in np.quantile(values, probs, method="inverted_cdf")}
    if len(edges) >= bins - 1:
        return sorted(edges)
    distinct = np.unique(values)
    if distinct.size <= bins:
        edges |= {float(v) for v in distinct}
    edges.add(float(np.nextafter(values.max(), np.inf)))
    return sorted(edges)


def _oracle_numeric(table: pa.Table, name: str, edges: list[float]) -> list[int]:
    present = _present(table, name)
    counts = np.bincount(
        np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1
    )
    return [*counts.tolist(), table.num_rows - present.size]


def _oracle_top(table: pa.Table, k: int) -> list[str]:
    counted = Counter(v for v in table.column("city").to_pylist() if v is not None)
    return [c for c, _ in sorted(counted.items(), key=lambda kv: (-kv[1], kv[0]))][:k]


def _oracle_categorical(table: pa.Table, categories: list[str]) -> list[int]:
    values = table.column("city").to_pylist()
    hits = [values.count(c) for c in categories]
    nulls = values.count(None)
    return [*hits, len(values) - nulls - sum(hits), nulls]


def _shares(counts) -> np.ndarray:
    c = np.asarray(counts, float)
    return (c / c.sum() + EPSILON) / (1 + c.size * EPSILON)


def _psi(reference, current) -> float:
    p, q = _shares(reference), _shares(current)
    return float(entropy(q, p) + entropy(p, q))  # PSI = KL(q||p) + KL(p||q)


def _assert_profiled_for(profile: dict, data: pa.Table, base: pa.Table, bins, top_k):
    columns = {c["feature"]: c for c in profile["columns"]}
    assert profile["reference_version"] == 0
    for name in ("amount", "visits"):
        edges = _oracle_edges(_present(base, name), bins)
        assert columns[name]["edges"] == edges, name
        assert columns[name]["counts"] == _oracle_numeric(data, name, edges)
        assert columns[name]["reference_counts"] == _oracle_numeric(base, name, edges)
    top = _oracle_top(base, top_k)
    assert columns["city"]["categories"] == top
    assert columns["city"]["counts"] == _oracle_categorical(data, top)
    assert columns["city"]["reference_counts"] == _oracle_categorical(base, top)


@pytest.fixture
def shop_repo(tmp_path):
    """A project: contract shop 1.0.0 with bins 4, top_k 3; versions 0-2."""
    _write_contract(tmp_path, "1.0.0", OLD_DRIFT)
    (tmp_path / "featurestore.yaml").write_text("data_dir: data\n")
    data = [rows(600, seed=1), rows(500, seed=2), rows(500, shift=0.8, seed=3)]
    write_versions(str(tmp_path / "data" / "features" / "shop"), *data)
    return tmp_path, data


def test_backfill_force_makes_buckets_for_the_new_bins_and_top_k(shop_repo):
    repo, data = shop_repo
    at = ("--repo", str(repo), "--json")
    assert _cli("monitor", "backfill", "shop", *at)["profiled"] == [0, 1, 2]
    before = _cli("monitor", "profiles", "shop", "--version", "2", *at)
    _assert_profiled_for(before, data[2], data[0], bins=4, top_k=3)

    _write_contract(repo, "1.1.0", NEW_DRIFT)  # same contract, bins 10, top_k 5
    current = ContractRegistry(repo / "contracts").get("shop")
    assert current.version == "1.1.0"
    assert {s.bins for s in current.drift.values()} == {10}
    forced = _cli("monitor", "backfill", "shop", "--force", *at)
    assert forced["profiled"] == [0, 1, 2]
    for version in (0, 1, 2):
        profile = _cli("monitor", "profiles", "shop", "--version", str(version), *at)
        _assert_profiled_for(profile, data[version], data[0], bins=10, top_k=5)
    # Every score is on the new buckets, the previous version's included.
    drift = _cli("monitor", "drift", "shop", *at)["scores"]
    scores = {(s["feature"], s["against"]): s for s in drift}
    for name in ("amount", "visits"):
        edges = _oracle_edges(_present(data[0], name), 10)
        now = _oracle_numeric(data[2], name, edges)
        baseline = scores[name, "baseline"]["score"]
        assert baseline == pytest.approx(
            _psi(_oracle_numeric(data[0], name, edges), now)
        )
        previous = scores[name, "previous"]
        assert previous["reference_version"] == 1
        assert previous["score"] == pytest.approx(
            _psi(_oracle_numeric(data[1], name, edges), now)
        )


def test_a_version_after_the_change_is_counted_on_new_buckets(shop_repo, caplog):
    # A publish after the contract change (here its backfill: the same
    # Assessment) uses the new buckets; the version before it was counted on
    # the old ones, so there is no score against it, and the log says why.
    repo, data = shop_repo
    location = str(repo / "data" / "features" / "shop")
    backfill(project(repo), _contract(repo, "1.0.0", OLD_DRIFT))
    _write_contract(repo, "1.1.0", NEW_DRIFT)
    later = [rows(500, shift=0.2, seed=4), rows(500, shift=0.2, seed=5)]
    write_versions(location, later[0])
    with caplog.at_level(logging.WARNING):
        report = backfill(project(repo), _contract(repo, "1.1.0", NEW_DRIFT))
    assert report.profiled == (3,)
    (v3,) = read_profiles(project(repo), "shop", 3)
    _assert_profiled_for(v3.to_json_obj(), later[0], data[0], bins=10, top_k=5)
    scores = read_drift(project(repo), "shop", 3)
    assert {s.against for s in scores} == {"baseline"}
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "no score against version 2" in said and "--force" in said
    # The next version has a previous one on the same buckets again.
    write_versions(location, later[1])
    backfill(project(repo), _contract(repo, "1.1.0", NEW_DRIFT))
    previous = [
        s for s in read_drift(project(repo), "shop", 4) if s.against != "baseline"
    ]
    assert {(s.feature, s.reference_version) for s in previous} == {
        (n, 3) for n in ("amount", "visits", "city")
    }
    edges = _oracle_edges(_present(data[0], "amount"), 10)
    amount = next(s for s in previous if s.feature == "amount")
    assert amount.score == pytest.approx(
        _psi(
            _oracle_numeric(later[0], "amount", edges),
            _oracle_numeric(later[1], "amount", edges),
        )
    )


def test_buckets_of_a_table_profiled_before_settings_were_recorded(shop_repo):
    # A profile table written by the code before this change has no `bins`
    # or `top_k`: its buckets are checked once against the baseline, and the
    # first write adds the two columns.
    repo, data = shop_repo
    location = str(repo / "data" / "features" / "shop")
    backfill(project(repo), _contract(repo, "1.0.0", OLD_DRIFT))
    profiles = profile_location(location)
    written = DeltaTable(profiles).to_pyarrow_table()
    recorded = [c for c in ("bins", "top_k") if c in written.column_names]
    legacy = written.drop_columns(recorded)
    write_deltalake(profiles, legacy, mode="overwrite", schema_mode="overwrite")
    _write_contract(repo, "1.1.0", NEW_DRIFT)
    report = backfill(project(repo), _contract(repo, "1.1.0", NEW_DRIFT), force=True)
    assert report.profiled == (0, 1, 2)
    assert {"bins", "top_k"} <= set(DeltaTable(profiles).schema().to_arrow().names)
    for version in (0, 1, 2):
        (profile,) = read_profiles(project(repo), "shop", version)
        _assert_profiled_for(profile.to_json_obj(), data[version], data[0], 10, 5)


def test_new_settings_on_a_baseline_that_cannot_be_read_are_refused(shop_repo):
    repo, _ = shop_repo
    location = str(repo / "data" / "features" / "shop")
    backfill(project(repo), _contract(repo, "1.0.0", OLD_DRIFT))
    rows_so_far = read_profile_rows(location)
    gone = str(repo / "nothing" / "here")
    # The old settings: the rows settle every feature, nothing is read.
    same = resolve_reference(
        _contract(repo, "1.0.0", OLD_DRIFT), gone, rows_so_far, repo=repo
    )
    assert same is not None and len(same.columns["amount"].edges) == 3
    with pytest.raises(BaselineNotFoundError) as caught:
        resolve_reference(
            _contract(repo, "1.1.0", NEW_DRIFT), gone, rows_so_far, repo=repo
        )
    assert "amount (bins 10)" in str(caught.value)
    assert "city (top_k 5)" in str(caught.value)


def test_no_score_against_a_previous_version_counted_on_other_buckets(location):
    # As many buckets, other edges (a reference made under other settings):
    # the previous score compared the counts bucket by bucket all the same.
    settings = contract(OLD_DRIFT).drift
    ref = reference_from_snapshot(open_snapshot(location, 0), 0, settings)
    other = reference_from_snapshot(open_snapshot(location, 1), 0, settings)
    assert len(other.columns["amount"].edges) == len(ref.columns["amount"].edges)
    assert other.columns["amount"].edges != ref.columns["amount"].edges
    then = profile_dataset(open_snapshot(location, 1), settings, other)
    previous = VersionProfile("shop", 1, datetime.now(UTC), "publish", "r", 0, then)
    now = profile_dataset(rows(100, seed=7), settings, ref)
    scored = Assessment("shop", now, settings, ref, previous).scores(2)
    # city's top 3 are the same in both: same buckets, still scored.
    assert other.columns["city"].categories == ref.columns["city"].categories
    assert [s.feature for s in scored if s.against == "previous"] == ["city"]
    assert {s.feature for s in scored} == {"amount", "visits", "city"}
