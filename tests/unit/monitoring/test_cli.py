"""``featurestore monitor backfill|profiles|drift`` on delta-rs tables (no Spark)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner
from deltalake import DeltaTable, write_deltalake
from scipy.stats import entropy

from featurestore.services.cli import cli
from featurestore.services.monitoring.scores import EPSILON
from tests.unit.monitoring._support import CONTRACT_YAML, rows, write_versions

BLOCK = "customProperties:\n  - {property: drift, value: {bins: 4, top_k: 2}}\n"


def _run(*args: str):
    return CliRunner().invoke(cli, list(args), prog_name="featurestore")


@pytest.fixture
def repo(tmp_path):
    """A project with the shop contract and three versions written by delta-rs."""
    (tmp_path / "contracts" / "shop").mkdir(parents=True)
    (tmp_path / "contracts" / "shop" / "1.0.0.yaml").write_text(CONTRACT_YAML + BLOCK)
    (tmp_path / "featurestore.yaml").write_text("data_dir: data\n")
    write_versions(
        str(tmp_path / "data" / "features" / "shop"),
        rows(500, seed=1), rows(500, seed=2), rows(500, shift=1.5, seed=3),
    )  # fmt: skip
    return str(tmp_path)


def _shares(counts):
    n, k = sum(counts), len(counts)
    return [(c / n + EPSILON) / (1 + k * EPSILON) for c in counts]


def test_backfill_then_profiles_and_drift(repo):
    result = _run("monitor", "backfill", "shop", "--repo", repo, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["profiled"] == [0, 1, 2]
    again = _run("monitor", "backfill", "shop", "--repo", repo, "--json")
    assert json.loads(again.stdout) == {
        "table": "shop", "profiled": [], "skipped": [], "already": [0, 1, 2],
    }  # fmt: skip

    shown = _run("monitor", "profiles", "shop", "--repo", repo, "--json")
    assert shown.exit_code == 0, shown.output
    profile = json.loads(shown.stdout)
    assert (profile["version"], profile["reference_version"]) == (2, 0)
    amount = next(c for c in profile["columns"] if c["feature"] == "amount")
    assert len(amount["buckets"]) == len(amount["counts"]) == len(amount["edges"]) + 2
    column = rows(500, shift=1.5, seed=3).column("amount").to_pylist()
    values = np.array([v for v in column if v is not None], float)
    assert amount["mean"] == pytest.approx(values[~np.isnan(values)].mean())

    quiet = _run("monitor", "drift", "shop", "--version", "1", "--repo", repo, "--json")
    assert quiet.exit_code == 0, quiet.output  # same distribution: no fail
    drifted = _run("monitor", "drift", "shop", "--repo", repo, "--json")
    assert drifted.exit_code == 1  # a 1.5-sigma shift fails at the default 0.2
    document = json.loads(drifted.stdout)
    scores = {(s["feature"], s["against"]): s for s in document["scores"]}
    assert document["version"] == 2
    assert scores["amount", "previous"]["reference_version"] == 1
    p, q = _shares(amount["reference_counts"]), _shares(amount["counts"])
    assert scores["amount", "baseline"]["score"] == pytest.approx(
        entropy(q, p) + entropy(p, q), rel=1e-9
    )
    assert scores["amount", "baseline"]["verdict"] == "fail"

    table = _run("monitor", "drift", "shop", "--repo", repo)
    assert "amount" in table.stdout and "fail" in table.stdout
    text = _run("monitor", "profiles", "shop", "--version", "0", "--repo", repo)
    assert text.exit_code == 0 and "[-inf, " in text.stdout


def test_text_output_of_an_empty_first_version_and_a_second_backfill(tmp_path):
    (tmp_path / "contracts" / "shop").mkdir(parents=True)
    (tmp_path / "contracts" / "shop" / "1.0.0.yaml").write_text(CONTRACT_YAML)
    (tmp_path / "featurestore.yaml").write_text("data_dir: data\n")
    location = str(tmp_path / "data" / "features" / "shop")
    write_versions(location, rows(0, seed=1), rows(50, seed=2))
    repo = str(tmp_path)
    first = _run("monitor", "backfill", "shop", "--repo", repo)
    assert first.stdout == "shop: profiled versions 0, 1\n"
    again = _run("monitor", "backfill", "shop", "--repo", repo)
    assert again.stdout == (
        "shop: profiled versions none "
        "(already profiled: 0, 1; --force profiles them again)\n"
    )
    # Version 0 has no rows, so nothing to take bucket edges from.
    empty = _run("monitor", "profiles", "shop", "--version", "0", "--repo", repo)
    assert empty.exit_code == 0, empty.output
    title = " ".join(empty.stdout.split())
    assert "no buckets: profiled before there was a baseline to take them from" in title
    assert "None" not in empty.stdout
    shown = _run("monitor", "profiles", "shop", "--version", "1", "--repo", repo)
    assert "buckets from version 1" in " ".join(shown.stdout.split())


@pytest.mark.parametrize(
    "args",
    [
        ("profiles", "../shop"),
        ("drift", "shop/x"),
        ("profiles", "nope"),
        ("drift", "shop", "--version", "9"),
        ("backfill", "nope"),
        ("profiles", "shop", "--version", "-1"),
    ],
)
def test_bad_names_and_versions_are_usage_errors(repo, args):
    _run("monitor", "backfill", "shop", "--repo", repo)
    result = _run("monitor", *args, "--repo", repo)
    assert result.exit_code == 2, result.output


def test_a_training_set_manifest_pins_the_baseline(tmp_path):
    from featurestore.services.contracts import parse_contract
    from featurestore.services.monitoring import read_drift
    from featurestore.services.monitoring.backfill import backfill
    from tests.unit.monitoring._support import project

    location = str(tmp_path / "data" / "features" / "shop")
    write_versions(location, rows(400, seed=1), rows(400, shift=2.0, seed=2),
                   rows(400, shift=2.0, seed=3))  # fmt: skip
    manifest = {"tables": [{"view": "shop_view", "path": location, "version": 1,
                            "contract": "shop@1.0.0"}]}  # fmt: skip
    (tmp_path / "sets").mkdir()
    (tmp_path / "sets" / "fraud.parquet.manifest.json").write_text(json.dumps(manifest))
    block = (
        "customProperties:\n  - property: drift\n    value:\n"
        "      baseline: {training_set: sets/fraud.parquet.manifest.json}\n"
    )
    shop = parse_contract(CONTRACT_YAML + block, "shop/1.0.0.yaml")
    report = backfill(project(tmp_path), shop)
    assert report.profiled == (0, 1, 2)
    scores = read_drift(project(tmp_path), "shop", 2)
    baseline = [s for s in scores if s.against == "baseline"]
    # Version 2 is drawn like the trained-on version 1: no baseline drift;
    # version 0 (unshifted) is far from it.
    assert {s.reference_version for s in baseline} == {1}
    assert max(s.score for s in baseline if s.feature == "amount") < 0.1
    far = read_drift(project(tmp_path), "shop", 0)
    assert next(s for s in far if s.feature == "amount").verdict == "fail"


def test_a_manifest_without_the_table_is_a_clear_error(tmp_path):
    from featurestore.services.contracts import parse_contract
    from featurestore.services.monitoring import BaselineNotFoundError
    from featurestore.services.monitoring.backfill import backfill
    from tests.unit.monitoring._support import project

    write_versions(str(tmp_path / "data" / "features" / "shop"), rows(50))
    (tmp_path / "m.json").write_text(json.dumps({"tables": []}))
    block = (
        "customProperties:\n  - property: drift\n    value:\n"
        "      baseline: {training_set: m.json}\n"
    )
    shop = parse_contract(CONTRACT_YAML + block, "shop/1.0.0.yaml")
    with pytest.raises(BaselineNotFoundError) as info:
        backfill(project(tmp_path), shop)
    assert "read no shop table" in str(info.value)


@pytest.mark.parametrize(
    ("manifest", "says"),
    [
        ({"tables": "x"}, "'tables' is not a list"),
        ({"tables": ["x"]}, "'tables' is not a list"),
        ({"tables": [{"contract": "shop@1.0.0", "version": None}]}, "is None"),
        ({"tables": [{"contract": "shop@1.0.0", "version": "x"}]}, "is 'x'"),
        ({"tables": [{"contract": "shop@1.0.0", "version": -1}]}, "is -1"),
        ({"tables": [{"contract": "shop@1.0.0", "version": True}]}, "is True"),
        ({"tables": [{"contract": "shop@1.0.0", "version": 1.5}]}, "is 1.5"),
    ],
)
def test_a_manifest_with_a_mistyped_field_is_a_clear_error(tmp_path, manifest, says):
    # Each was a traceback (AttributeError, TypeError, ValueError, OverflowError).
    from featurestore.services.contracts import parse_contract
    from featurestore.services.monitoring import BaselineNotFoundError
    from featurestore.services.monitoring.backfill import backfill
    from tests.unit.monitoring._support import project

    write_versions(str(tmp_path / "data" / "features" / "shop"), rows(50))
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    block = (
        "customProperties:\n  - property: drift\n    value:\n"
        "      baseline: {training_set: m.json}\n"
    )
    shop = parse_contract(CONTRACT_YAML + block, "shop/1.0.0.yaml")
    with pytest.raises(BaselineNotFoundError) as info:
        backfill(project(tmp_path), shop)
    assert "m.json" in str(info.value) and says in str(info.value)


def _project_of(root, *versions):
    (root / "contracts" / "shop").mkdir(parents=True)
    (root / "contracts" / "shop" / "1.0.0.yaml").write_text(CONTRACT_YAML + BLOCK)
    (root / "featurestore.yaml").write_text("data_dir: data\n")
    write_versions(str(root / "data" / "features" / "shop"), *versions)
    backfill = _run("monitor", "backfill", "shop", "--repo", str(root))
    assert backfill.exit_code == 0, backfill.output
    return str(root)


def _scores(repo: str, version: int) -> dict[tuple[str, str], tuple[int, float]]:
    got = _run("monitor", "drift", "shop", "--version", str(version),
               "--repo", repo, "--json")  # fmt: skip
    return {
        (s["feature"], s["against"]): (s["reference_version"], s["score"])
        for s in json.loads(got.stdout)["scores"]
    }


def test_an_empty_first_version_is_not_the_baseline(tmp_path):
    # An empty v0 made the baseline one [-inf, inf) bucket: no baseline score
    # ever, and every score against the previous version 0.0 (drift off, said
    # ok). The oracle: the same history without the empty version.
    a, b = rows(300, seed=1), rows(300, shift=1.5, seed=2)
    led = _project_of(tmp_path / "led", a.slice(0, 0), a, b)
    plain = _project_of(tmp_path / "plain", a, b)
    shifted = _scores(led, 2)
    assert shifted == {
        key: (ref + 1, score) for key, (ref, score) in _scores(plain, 1).items()
    }
    assert shifted[("amount", "baseline")][0] == 1
    assert shifted[("amount", "baseline")][1] > 0.2  # the shift is seen


def test_drift_of_an_empty_version_says_it_has_no_rows(tmp_path):
    a = rows(300, seed=1)
    repo = _project_of(tmp_path, a, a.slice(0, 0))
    said = _run("monitor", "drift", "shop", "--repo", repo)
    assert said.exit_code == 0, said.output
    assert said.output.strip() == "shop version 1: it has no rows, nothing to score"


def test_a_pinned_baseline_without_rows_is_refused(tmp_path):
    a = rows(300, seed=1)
    pinned = BLOCK.replace("top_k: 2}", "top_k: 2, baseline: {version: 0}}")
    (tmp_path / "contracts" / "shop").mkdir(parents=True)
    (tmp_path / "contracts" / "shop" / "1.0.0.yaml").write_text(CONTRACT_YAML + pinned)
    (tmp_path / "featurestore.yaml").write_text("data_dir: data\n")
    write_versions(str(tmp_path / "data" / "features" / "shop"), a.slice(0, 0), a)
    said = _run("monitor", "backfill", "shop", "--repo", str(tmp_path))
    assert said.exit_code == 2
    assert "BASELINE_NOT_FOUND" in said.output and "version 0" in said.output
    assert "has no rows" in said.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("drift", "nope"), "no feature table nope"),
        (("profiles", "nope"), "no feature table nope"),
        (("drift", "shop", "--version", "9"), "no feature table shop version 9"),
        (("drift", "shop"), "no profile for shop; run `featurestore monitor backfill"),
    ],
)
def test_the_backfill_hint_only_where_a_backfill_would_help(repo, args, says):
    result = _run("monitor", *args, "--repo", repo)
    assert result.exit_code == 2, result.output
    assert says in result.output
    if "no feature table" in says:
        assert "backfill" not in result.output


MARKUP = ("[/]", "[bold red]x", "[link=http://e.vil]click[/link]", ":x:")
"""Category values rich read as markup: a crash, a hidden value, a link, an emoji."""


def test_category_values_are_printed_as_they_are(tmp_path):
    # `monitor profiles` printed data as rich markup: "[/]" crashed it with a
    # MarkupError traceback, "[bold red]x" printed as "x", a [link] as "click".
    contract = CONTRACT_YAML.replace("visits, type: int64", "visits, type: string")
    block = "customProperties:\n  - {property: drift, value: {bins: 2, top_k: 4}}\n"
    (tmp_path / "contracts" / "shop").mkdir(parents=True)
    (tmp_path / "contracts" / "shop" / "1.0.0.yaml").write_text(contract + block)
    (tmp_path / "featurestore.yaml").write_text("data_dir: data\n")
    table = rows(40, seed=1).drop_columns(["city"])
    values = [MARKUP[i % 4] for i in range(40)]
    table = table.set_column(
        table.schema.get_field_index("visits"), "visits", pa.array(values)
    ).append_column("city", pa.array(["[red]ams"] * 40))
    write_versions(str(tmp_path / "data" / "features" / "shop"), table, table)
    repo = str(tmp_path)
    assert _run("monitor", "backfill", "shop", "--repo", repo).exit_code == 0

    shown = _run("monitor", "profiles", "shop", "--repo", repo)
    assert shown.exit_code == 0, shown.output
    assert all(f"{value} 10" in shown.stdout for value in MARKUP), shown.stdout
    assert "[red]ams 40" in shown.stdout
    drift = _run("monitor", "drift", "shop", "--repo", repo)
    assert drift.exit_code == 0, drift.output
    assert "visits" in drift.stdout and "ok" in drift.stdout


def test_the_freshness_table_prints_views_and_reasons_as_they_are(capsys):
    from datetime import UTC, datetime

    from featurestore.services.cli._monitor import _freshness_table
    from featurestore.services.monitoring.freshness import Freshness

    judged = Freshness(
        view="v[/]", path="", event_time_column="ts", checked_at=datetime.now(UTC),
        verdict="unknown", reason="the view's contract '[bold red]x' does not exist",
    )  # fmt: skip
    _freshness_table([judged])
    printed = capsys.readouterr().out
    assert "v[/]" in printed and "'[bold red]x' does not exist" in printed


def test_a_spinner_on_a_terminal_names_a_folder_as_it_is(monkeypatch):
    # `spinner(f"loading {folder}")` on a terminal: a folder with "[/]" in its
    # name crashed the command with a MarkupError.
    from featurestore.services.cli._common import spinner

    monkeypatch.setenv("FORCE_COLOR", "1")  # rich: a terminal
    with spinner("loading /tmp/a[/]b"):
        pass


def test_no_profile_advises_a_backfill_only_where_one_profiles_the_version(repo):
    # PROFILE_NOT_FOUND said "run `featurestore monitor backfill TABLE`" for a
    # VACUUM/OPTIMIZE/table-property commit (never profiled by a backfill)
    # and for a table named unlike its contract (the backfill then failed
    # CONTRACT_NOT_FOUND). (.output: click 8.1, the lowest allowed, mixes
    # stderr into it and has no .stderr.)
    assert _run("monitor", "backfill", "shop", "--repo", repo).exit_code == 0
    location = f"{repo}/data/features/shop"
    DeltaTable(location).alter.set_table_properties({"delta.appendOnly": "false"})
    for command in ("profiles", "drift"):
        said = _run("monitor", command, "shop", "--version", "3", "--repo", repo)
        assert said.exit_code == 2, said.output
        assert "no profile for shop version 3: it is a SET TBLPROPERTIES commit" in (
            said.output
        )
        assert "same rows as version 2, the publish before it" in said.output
        assert "backfill" not in said.output

    write_deltalake(location, rows(50, seed=9), mode="overwrite")  # version 4
    said = _run("monitor", "profiles", "shop", "--version", "4", "--repo", repo)
    assert said.exit_code == 2
    assert "run `featurestore monitor backfill shop`" in said.output
    done = _run("monitor", "backfill", "shop", "--repo", repo, "--json")
    assert json.loads(done.stdout)["profiled"] == [4]  # as advised, not 3

    # A table published under another table's contract: no backfill finds one.
    write_versions(f"{repo}/data/features/ghost", rows(50, seed=1))
    said = _run("monitor", "profiles", "ghost", "--repo", repo)
    assert said.exit_code == 2
    assert "no profile for ghost" in said.output
    assert "there is no contract ghost" in said.output
    assert "run `featurestore monitor backfill" not in said.output
    refused = _run("monitor", "backfill", "ghost", "--repo", repo)
    assert refused.exit_code == 2 and "CONTRACT_NOT_FOUND" in refused.output
