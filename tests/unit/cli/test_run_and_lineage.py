"""`featurestore lineage` and `featurestore run` through the real CLI, on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import CommitProperties, write_deltalake

from tests.unit.cli.test_user_mistakes import _run

# -- lineage -------------------------------------------------------------------


def test_lineage_shows_the_publish_mode(
    tmp_path: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The stamp spark_jobs.publish writes for `featurestore run example` (a
    # merge), then a commit without one: lineage shows the mode, "-" when none.
    repo = tmp_path / "proj"
    repo.mkdir()
    (repo / "feature_store.yaml").write_text("project: proj\n")
    table = repo / "data" / "features" / "customer_purchases"
    stamp = {
        "job": "example",
        "run_id": "bb22df076f61",
        "mode": "merge",
        "contract": "customer_purchases@1.0.0",
        "contract_name": "customer_purchases",
        "contract_version": "1.0.0",
        "validation": {"rows_in": 2, "published": 2, "quarantined": 0},
    }
    write_deltalake(
        table,
        pa.table({"x": [1, 2]}),
        commit_properties=CommitProperties(
            custom_metadata={"userMetadata": json.dumps(stamp, sort_keys=True)}
        ),
    )
    write_deltalake(table, pa.table({"x": [3]}), mode="append")

    code, out, err = _run(
        capsys, "lineage", "customer_purchases", "--repo", str(repo), "--json"
    )
    assert code == 0, err
    records = json.loads(out)
    assert [(r["version"], r["mode"]) for r in records] == [(1, None), (0, "merge")]

    code, out, err = _run(capsys, "lineage", "customer_purchases", "--repo", str(repo))
    assert code == 0, err
    newest, oldest = (line.split("\t") for line in out.splitlines())
    assert "mode=-" in newest
    assert oldest[3:7] == [
        "job=example",
        "run=bb22df076f61",
        "mode=merge",
        "contract=customer_purchases@1.0.0",
    ]


# -- run JOB ---------------------------------------------------------------------


@pytest.mark.parametrize("job", ["example", "build_customer_spend"])
def test_run_with_a_repo_that_is_no_project_names_it(
    tmp_path: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str], job: str
) -> None:
    # A project's own job (example) said "unknown job 'example'" here: the
    # missing project was taken for one without jobs. A built-in said why.
    missing = tmp_path / "nonexist"
    code, out, err = _run(capsys, "run", "--repo", str(missing), job)
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"error: PROJECT_NOT_FOUND: no feature_store.yaml in {missing}: run in a "
        "project folder, pass --repo, or create one with `featurestore init`"
    ]


@pytest.mark.parametrize("there", [False, True])
def test_run_with_fs_repo_path_naming_no_project_names_the_variable(
    tmp_path: Path,
    elsewhere: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    there: bool,
) -> None:
    # A project's job said "unknown job 'example'" when $FS_REPO_PATH was
    # stale: the missing project was taken for no project at all.
    stale = tmp_path / "moved"
    if there:
        stale.mkdir()  # a folder, but no feature_store.yaml in it
    monkeypatch.setenv("FS_REPO_PATH", str(stale))
    code, out, err = _run(capsys, "run", "example")
    what = "holds no feature_store.yaml" if there else "does not exist"
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"error: PROJECT_NOT_FOUND: project folder {stale} from $FS_REPO_PATH "
        f"{what}: fix or unset FS_REPO_PATH, or pass --repo"
    ]
    # A built-in job needs no project: a stale $FS_REPO_PATH does not stop it.
    code, out, err = _run(capsys, "run", "--print-submit", "build_customer_spend")
    assert code == 0, err
    assert "build_customer_spend.py" in out
