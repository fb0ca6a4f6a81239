"""Profiles and drift written by real publishes; block refuses like a contract."""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable, write_deltalake
from scipy.stats import entropy

from featurestore.services.contracts import parse_contract
from featurestore.services.monitoring import read_drift, read_profiles
from featurestore.services.monitoring.scores import EPSILON
from featurestore.spark_jobs import ContractViolationError, Reason, publish
from tests.unit.monitoring._support import CONTRACT_YAML, contract, project, rows

pytestmark = [pytest.mark.spark, pytest.mark.integration]

BLOCK = """customProperties:
  - property: drift
    value: {on_drift: block, bins: 5, top_k: 3}
"""
WARN = BLOCK.replace("block", "warn")


def _shares(counts):
    n, k = sum(counts), len(counts)
    return [(c / n + EPSILON) / (1 + k * EPSILON) for c in counts]


def _oracle_counts(values, edges, total):
    present = np.array([v for v in values if v is not None and v == v], float)
    counts = np.bincount(
        np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1
    )
    return (*counts.tolist(), total - present.size)


def test_publishes_are_profiled_scored_and_a_blocking_drift_refuses(
    spark, tmp_path, caplog
):
    proj = project(tmp_path)
    location = proj.table_uri("shop")
    first, second = rows(400, seed=3), rows(300, shift=0.3, seed=4)
    report = publish(spark.createDataFrame(first), contract(WARN), location, job="t")
    assert report.version == 0 and report.drift == ()
    (v0,) = read_profiles(proj, "shop")
    amount0 = v0.column("amount")
    present = np.array([v for v in first.column("amount").to_pylist() if v is not None])
    present = present[~np.isnan(present)]
    assert (v0.source, amount0.row_count, amount0.null_count) == (
        "publish",
        400,
        400 - present.size,
    )
    assert amount0.mean == pytest.approx(present.mean())
    assert amount0.std == pytest.approx(present.std(ddof=1))
    assert amount0.counts == ()  # the first version fixes no buckets yet

    report = publish(spark.createDataFrame(second), contract(WARN), location, job="t")
    assert report.version == 1
    (v1,) = read_profiles(proj, "shop", 1)
    assert v1.reference_version == 0
    amount1 = v1.column("amount")
    assert len(amount1.edges) == 4
    assert amount1.counts == _oracle_counts(
        second.column("amount").to_pylist(), amount1.edges, 300
    )
    assert amount1.reference_counts == _oracle_counts(
        first.column("amount").to_pylist(), amount1.edges, 400
    )
    city = v1.column("city")
    values = second.column("city").to_pylist()
    assert city.counts[: len(city.categories)] == tuple(
        values.count(c) for c in city.categories
    )
    assert city.counts[-1] == values.count(None)
    scores = {(s.feature, s.against): s for s in read_drift(proj, "shop", 1)}
    p, q = _shares(amount1.reference_counts), _shares(amount1.counts)
    assert scores["amount", "baseline"].score == pytest.approx(
        entropy(q, p) + entropy(p, q), rel=1e-9
    )
    assert {s.feature for s in report.drift} == {"amount", "visits", "city"}

    # A two-sigma shift under on_drift: block: refused, nothing committed.
    with pytest.raises(ContractViolationError) as info:
        publish(
            spark.createDataFrame(rows(300, shift=2.0, seed=5)),
            contract(BLOCK),
            location,
            job="t",
        )
    err = info.value
    assert err.reason is Reason.DRIFT
    assert "\n" not in str(err) and err.metadata["threshold"] == "0.2"
    assert err.metadata["feature"] in {"amount", "visits"}
    assert float(err.metadata["score"]) >= 0.2
    assert DeltaTable(location).version() == 1
    assert [p.version for p in read_profiles(proj, "shop")] == [0, 1]

    # The same batch under on_drift: warn is published; the warning says so
    # beside "fail" (it read like a failed job after an exit 0).
    with caplog.at_level(logging.WARNING):
        report = publish(
            spark.createDataFrame(rows(300, shift=2.0, seed=5)),
            contract(WARN),
            location,
            job="t",
        )
    failed = [m for m in caplog.messages if m.startswith("[DRIFT fail]")]
    assert report.version == 2 and failed
    assert all(m.endswith("(on_drift: warn, version 2 published)") for m in failed)


def test_a_baseline_pinned_to_version_0_lets_the_first_version_publish(spark, tmp_path):
    # The README's drift block pins {version: 0}: on a new table that version
    # is the one being published, and publish refused it (BASELINE_INVALID:
    # version 0 cannot be read), so the table could never start.
    pinned = contract(BLOCK.replace("top_k: 3}", "top_k: 3, baseline: {version: 0}}"))
    proj = project(tmp_path)
    location = proj.table_uri("shop")
    first = publish(spark.createDataFrame(rows(300, seed=3)), pinned, location, job="t")
    assert first.version == 0 and first.drift == ()
    second = publish(
        spark.createDataFrame(rows(300, shift=0.1, seed=4)), pinned, location, job="t"
    )
    assert second.version == 1
    assert {s.reference_version for s in second.drift if s.against == "baseline"} == {0}
    with pytest.raises(ContractViolationError) as info:  # and it still blocks
        publish(
            spark.createDataFrame(rows(300, shift=2.0, seed=5)),
            pinned, location, job="t",
        )  # fmt: skip
    assert info.value.reason is Reason.DRIFT


def _contract_with(version: str, *, drop: str = "", retype: str = "", extra=True):
    text = CONTRACT_YAML.replace("version: 1.0.0", f"version: {version}")
    if drop:
        text = "\n".join(line for line in text.splitlines() if drop not in line)
        text += "\n"
    if retype:
        text = text.replace("{name: visits, type: int64", "{name: visits, type: string")
    if extra:
        text += "  - {name: extra, type: float64, nullable: true}\n"
    return parse_contract(text, f"shop/{version}.yaml")


def _batch(n, *, seed, extra=False, bad=1):
    """`n` shop rows; the first `bad` have a null `visits` (quarantined)."""
    table = rows(n, seed=seed)
    visits = table.column("visits").to_pylist()
    table = table.set_column(
        table.schema.get_field_index("visits"),
        pa.field("visits", pa.int64()),
        pa.array([None] * bad + visits[bad:], pa.int64()),
    )
    if extra:
        table = table.append_column("extra", pa.array(range(n), pa.float64()))
    return table


@pytest.mark.parametrize("mode", ["merge", "append"])
def test_a_column_added_by_the_contract_publishes_without_a_baseline_score(
    spark, tmp_path, mode
):
    proj = project(tmp_path)
    location = proj.table_uri("shop")
    publish(spark.createDataFrame(_batch(40, seed=1)), contract(), location, job="t")
    added = _contract_with("1.1.0")
    batch = spark.createDataFrame(_batch(30, seed=2, extra=True))
    report = publish(batch, added, location, mode=mode, job="t")
    assert report.version == 1 and DeltaTable(location).version() == 1
    assert "extra" in DeltaTable(location).schema().to_arrow().names
    quarantine = DeltaTable(report.quarantine).to_pyarrow_table()
    assert quarantine.num_rows == 2 and "extra" in quarantine.column_names
    # The baseline (version 0) has no `extra`: profiled, no buckets, no score.
    extra = read_profiles(proj, "shop", 1)[0].column("extra")
    assert (extra.row_count, extra.counts, extra.reference_counts) == (29, (), ())
    assert extra.mean == pytest.approx(sum(range(1, 30)) / 29)
    scored = {s.feature for s in read_drift(proj, "shop", 1)}
    assert scored == {"amount", "visits", "city"}
    assert {s.feature for s in report.drift} == scored

    # The next publish too, and its reference is still version 0's.
    batch = spark.createDataFrame(_batch(30, seed=3, extra=True))
    report = publish(batch, added, location, mode=mode, job="t")
    assert report.version == 2
    assert {s.feature for s in read_drift(proj, "shop", 2)} == scored
    assert read_profiles(proj, "shop", 2)[0].reference_version == 0


def test_a_column_added_after_scored_versions_leaves_the_others_scored(spark, tmp_path):
    # Versions 0 and 1 under 1.0.0: the rows of 1 carry version 0's buckets,
    # so a 1.1.0 publish has only `extra` left to look up in version 0, which
    # lacks it. That is no reason to drop the reference for every feature.
    proj = project(tmp_path)
    location = proj.table_uri("shop")
    for seed in (1, 2):
        publish(
            spark.createDataFrame(_batch(40, seed=seed)), contract(), location, job="t"
        )
    old = {"amount", "visits", "city"}
    pairs = {(f, a) for f in old for a in ("baseline", "previous")}
    report = publish(
        spark.createDataFrame(_batch(30, seed=3, extra=True)),
        _contract_with("1.1.0"), location, job="t",
    )  # fmt: skip
    assert report.version == 2
    (v2,) = read_profiles(proj, "shop", 2)
    assert v2.reference_version == 0
    assert all(v2.column(f).reference_counts for f in old)
    assert v2.column("extra").reference_counts == ()
    assert {(s.feature, s.against) for s in read_drift(proj, "shop", 2)} == pairs

    # Pinned at version 0, which has rows (but no `extra`): publishes, scored alike.
    report = publish(
        spark.createDataFrame(_batch(30, seed=4, extra=True)),
        _pinned_at_zero(), location, job="t",
    )  # fmt: skip
    assert report.version == 3
    assert {(s.feature, s.against) for s in read_drift(proj, "shop", 3)} == pairs


def _pinned_at_zero():
    text = CONTRACT_YAML.replace("version: 1.0.0", "version: 1.2.0")
    text += "  - {name: extra, type: float64, nullable: true}\n"
    text += (
        "customProperties:\n  - property: drift\n    value: {baseline: {version: 0}}\n"
    )
    return parse_contract(text, "shop/1.2.0.yaml")


def test_a_dropped_or_retyped_column_publishes_without_a_made_up_score(spark, tmp_path):
    proj = project(tmp_path)
    location = proj.table_uri("shop")
    publish(spark.createDataFrame(_batch(40, seed=1)), contract(), location, job="t")
    changed = _contract_with("2.0.0", drop="name: city", retype="visits")
    frame = _batch(30, seed=2, extra=True, bad=0).drop_columns(["city"])
    visits = pa.array([f"v{v % 3}" for v in range(30)], pa.string())
    frame = frame.set_column(frame.schema.get_field_index("visits"), "visits", visits)
    report = publish(spark.createDataFrame(frame), changed, location, job="t")
    assert report.version == 1
    (v1,) = read_profiles(proj, "shop", 1)
    assert {c.feature for c in v1.columns} == {"amount", "visits", "extra"}
    # visits was int64 in the baseline: its numbers are no buckets for strings.
    assert v1.column("visits").counts == () and v1.column("visits").kind == (
        "categorical"
    )
    assert {s.feature for s in read_drift(proj, "shop", 1)} == {"amount"}


def test_a_publish_after_bins_and_top_k_change_counts_on_new_buckets(spark, tmp_path):
    # Versions 0-1 under bins 5 / top_k 3, profiled by the code before the
    # settings were recorded (the profile table lacks `bins` and `top_k`);
    # 1.1.0 asks for bins 10 / top_k 5: the publish makes the buckets anew
    # from version 0, adds the two columns, and has no score against version
    # 1 (counted on the old buckets).
    proj = project(tmp_path)
    location = proj.table_uri("shop")
    batches = [rows(400, seed=11), rows(300, seed=12), rows(300, shift=0.4, seed=13)]
    for batch in batches[:2]:
        publish(spark.createDataFrame(batch), contract(WARN), location, job="t")
    profiles = location + "_profile"
    written = DeltaTable(profiles).to_pyarrow_table()
    recorded = [c for c in ("bins", "top_k") if c in written.column_names]
    write_deltalake(
        profiles, written.drop_columns(recorded), mode="overwrite",
        schema_mode="overwrite",
    )  # fmt: skip
    newer = parse_contract(
        CONTRACT_YAML.replace("version: 1.0.0", "version: 1.1.0")
        + WARN.replace("bins: 5, top_k: 3", "bins: 10, top_k: 5"),
        "shop/1.1.0.yaml",
    )
    report = publish(spark.createDataFrame(batches[2]), newer, location, job="t")
    assert report.version == 2
    (v2,) = read_profiles(proj, "shop", 2)
    base = batches[0].column("amount").to_pylist()
    present = np.array([v for v in base if v is not None and v == v], float)
    edges = np.quantile(present, [k / 10 for k in range(1, 10)], method="inverted_cdf")
    amount = v2.column("amount")
    assert amount.edges == tuple(edges.tolist())
    assert amount.counts == _oracle_counts(
        batches[2].column("amount").to_pylist(), amount.edges, 300
    )
    cities = [c for c in batches[0].column("city").to_pylist() if c is not None]
    top = sorted(set(cities), key=lambda c: (-cities.count(c), c))[:5]
    assert v2.column("city").categories == tuple(top)
    scores = read_drift(proj, "shop", 2)
    assert {s.against for s in scores} == {"baseline"}
    assert {"bins", "top_k"} <= set(DeltaTable(profiles).schema().to_arrow().names)


def test_a_maintenance_commit_is_neither_profiled_nor_the_previous_version(
    spark, tmp_path, caplog
):
    # Table properties, OPTIMIZE and VACUUM commit a version holding the rows
    # of the publish before it. The next publish healed (profiled) such a
    # commit as if a publish had lost its profile, and scored against it.
    proj = project(tmp_path)
    location = proj.table_uri("shop")
    first, second = rows(400, seed=3), rows(300, shift=1.5, seed=4)

    def append(batch):
        return publish(
            spark.createDataFrame(batch), contract(WARN), location, mode="append",
            job="t",
        )  # fmt: skip

    append(first)
    append(second)
    table = DeltaTable(location)
    table.alter.set_table_properties({"delta.logRetentionDuration": "interval 31 days"})
    table.optimize.compact()
    table.vacuum(retention_hours=0, dry_run=False, enforce_retention_duration=False)
    operations = [c["operation"] for c in DeltaTable(location).history(4)]
    assert operations == ["VACUUM END", "VACUUM START", "OPTIMIZE", "SET TBLPROPERTIES"]
    with caplog.at_level(logging.WARNING):
        report = append(second)
    assert report.version == 6
    assert not [m for m in caplog.messages if "had no profile" in m]
    assert [p.version for p in read_profiles(proj, "shop")] == [0, 1, 6]
    previous = [s for s in read_drift(proj, "shop", 6) if s.against == "previous"]
    assert previous and {s.reference_version for s in previous} == {1}
    assert all(s.score == pytest.approx(0.0, abs=1e-9) for s in previous)

    # A publish that lost its profile, then a maintenance commit: the publish
    # is healed (not the maintenance commit) and is the previous version.
    profiles = location + "_profile"
    kept = DeltaTable(profiles).to_pyarrow_table()
    kept = kept.filter(pc.not_equal(kept["table_version"], 6))
    write_deltalake(profiles, kept, mode="overwrite")
    DeltaTable(location).alter.set_table_properties({"delta.appendOnly": "false"})
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        report = append(second)
    assert report.version == 8
    healed = [m for m in caplog.messages if "had no profile" in m]
    assert len(healed) == 1 and "version 6 had no profile" in healed[0]
    assert [p.version for p in read_profiles(proj, "shop")] == [0, 1, 6, 8]
    previous = [s for s in read_drift(proj, "shop", 8) if s.against == "previous"]
    assert previous and {s.reference_version for s in previous} == {6}
