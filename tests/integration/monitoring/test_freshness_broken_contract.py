"""A broken latest contract version is never taken for no contract.

view_freshness caught every ContractError and judged the view without its
SLA: `monitor freshness` said unknown, "no contract", exit 0, and every list
of views (ListFreshness, metrics, console) lost the SLA, so alerts never fired.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from feast import FeatureStore

from featurestore.services.cli import cli
from featurestore.services.contracts import ContractRegistry
from featurestore.services.monitoring.freshness import view_freshness
from tests.odd_project import odd_project

pytestmark = pytest.mark.integration

BROKEN = "name: odd\nversion: 1.0.1\nowner: x\ncolumns: [oops\n"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("broken-contract")
    repo, _ = odd_project(root, [(seed, seed) for seed in range(3)], apply=True)
    first = repo / "contracts" / "odd" / "1.0.0.yaml"
    first.write_text(first.read_text().replace("freshness: 2h", "freshness: 1m"))
    return repo


def _freshness(repo: Path) -> tuple[int, str]:
    args = ["monitor", "freshness", "odd", "--repo", str(repo), "--json"]
    done = CliRunner().invoke(cli, args)
    return done.exit_code, done.output


def test_the_cli_names_a_broken_contract_and_exits_2(repo: Path) -> None:
    code, output = _freshness(repo)
    assert code == 1 and json.loads(output)[0]["verdict"] == "late"
    broken = repo / "contracts" / "odd" / "1.0.1.yaml"
    broken.write_text(BROKEN)
    try:
        code, output = _freshness(repo)
    finally:
        broken.unlink()
    assert code == 2, output
    assert "INVALID_YAML" in output
    assert len(output.strip().splitlines()) == 1


def test_a_list_of_views_judges_it_unknown_naming_the_contract(repo: Path) -> None:
    broken = repo / "contracts" / "odd" / "1.0.1.yaml"
    broken.write_text(BROKEN)
    try:
        store = FeatureStore(repo_path=str(repo))
        judged = view_freshness(
            store.get_feature_view("odd"),
            repo,
            ContractRegistry(repo / "contracts"),
        )
    finally:
        broken.unlink()
    assert judged.verdict == "unknown"
    assert "INVALID_YAML" in judged.reason
    assert "no contract" not in judged.reason


def test_a_view_naming_a_contract_that_does_not_exist_says_so(
    repo: Path, tmp_path: Path
) -> None:
    (tmp_path / "contracts").mkdir()  # no contract "odd" in it
    store = FeatureStore(repo_path=str(repo))
    judged = view_freshness(
        store.get_feature_view("odd"), repo, ContractRegistry(tmp_path / "contracts")
    )
    assert judged.verdict == "unknown"
    assert judged.reason == "the view's contract 'odd' does not exist: no SLA"


def test_a_tag_that_is_no_contract_name_is_unknown_and_the_others_judged(
    repo: Path,
) -> None:
    # `monitor freshness` failed as a whole on one view tagged "t v2": only
    # "error: INVALID_NAME: contract name must be ...", exit 2, naming neither
    # view nor tag, and no other view shown.
    store = FeatureStore(repo_path=str(repo))
    wrong = copy.deepcopy(store.get_feature_view("odd"))
    wrong.name, wrong.tags = "wrongtag", {"contract": "t v2"}
    store.apply([wrong])
    try:
        listed = CliRunner().invoke(
            cli, ["monitor", "freshness", "--repo", str(repo), "--json"]
        )
        text = CliRunner().invoke(
            cli, ["monitor", "freshness", "wrongtag", "odd", "--repo", str(repo)]
        )
    finally:
        store.delete_feature_view("wrongtag")
    assert listed.exit_code == 1, listed.output  # odd is late (max age 1m)
    judged = {f["view"]: f for f in json.loads(listed.stdout)}
    assert judged["odd"]["verdict"] == "late"
    assert judged["wrongtag"]["verdict"] == "unknown"
    reason = judged["wrongtag"]["reason"]
    assert "'t v2'" in reason and "no contract name" in reason, reason
    assert text.exit_code == 1, text.output
    assert "wrongtag" in text.stdout and "odd" in text.stdout
