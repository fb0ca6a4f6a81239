"""The featurestore CLI in-process (click's CliRunner): output, --json, exit codes."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from deltalake import CommitProperties, write_deltalake

import featurestore.services.cli as cli_package
from featurestore.services.cli import cli, main

REPO = Path(__file__).resolve().parents[3]
CONTRACTS = REPO / "feature_repo" / "contracts"
TS = pa.timestamp("us", tz="UTC")


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), prog_name="featurestore")
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_public_names() -> None:
    assert cli_package.__all__ == ["cli", "main"]


def test_help_lists_every_command_and_the_exit_codes() -> None:
    code, out = _invoke("--help")
    assert code == 0
    for command in (
        "version", "run", "contracts", "lineage", "materialize", "serve",
        "training-set", "auth", "init",
    ):  # fmt: skip
        assert f"  {command} " in out
    assert "0  ok" in out and "1  contract" in out and "2  usage" in out


@pytest.mark.parametrize(
    "command",
    [
        ["version"], ["run"], ["contracts"], ["contracts", "validate"],
        ["lineage"], ["materialize"], ["training-set"], ["auth", "add-key"],
        ["auth", "list-keys"], ["auth", "revoke-key"], ["auth", "rotate-key"],
        ["init"],
    ],
)  # fmt: skip
def test_every_command_has_help(command: list[str]) -> None:
    code, out = _invoke(*command, "--help")
    assert code == 0
    assert out.startswith("Usage: featurestore")


def test_serve_help_is_the_servers_own_flags(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from featurestore.services.server.cli import build_parser

    assert main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: featurestore serve")
    flags = {
        option for action in build_parser()._actions for option in action.option_strings
    }
    for flag in flags:
        assert flag in out
    assert {"--address", "--tls-cert", "--auth", "--front", "--workers"} <= flags
    # serve's own flag, taken out of argv before the server's parser sees it,
    # is listed with them: the option, its value and its variable.
    assert "--ui-address HOST:PORT" in out and "(env FS_UI_ADDRESS)" in out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-command"]) == 2
    assert main(["version", "--no-such-flag"]) == 2
    assert main(["run", "no_such_job"]) == 2
    assert main(["serve", "--no-such-flag"]) == 2
    assert main(["serve", "--workers", "0"]) == 2
    assert main(["materialize"]) == 2
    assert main(["contracts", "--root", str(CONTRACTS), "show", "nope"]) == 2


def test_version_json() -> None:
    code, out = _invoke("version", "--json")
    assert code == 0
    versions = json.loads(out)
    assert set(versions) == {"featurestore", "python", "feast", "pyspark", "deltalake"}
    assert versions["featurestore"] == "0.1.0"


def test_contracts_list_text_and_json() -> None:
    code, out = _invoke("contracts", "--root", str(CONTRACTS), "list")
    assert code == 0
    assert out.splitlines()[0].split("\t")[:2] == ["customer_spend", "1.0.0"]
    code, out = _invoke("contracts", "--root", str(CONTRACTS), "list", "--json")
    assert code == 0
    listed = json.loads(out)
    names = [c["name"] for c in listed["contracts"]]
    assert names == ["customer_spend", "merchant_risk"]
    assert listed["unreachable"] == []


def test_contracts_show_json_is_the_yaml() -> None:
    code, out = _invoke(
        "contracts", "--root", str(CONTRACTS), "show", "merchant_risk", "--json"
    )
    assert code == 0
    document = json.loads(out)
    assert (document["name"], document["version"]) == ("merchant_risk", "1.0.0")
    # freshness: 2d resolves onto the ODCS latency SLA; drift defaults apply.
    resolved = document["resolved"]
    assert resolved["freshness_sla"] == {
        "max_age_seconds": 2 * 86400.0,
        "event_time": "event_timestamp",
        "frequency_seconds": None,
    }
    columns = {c["column"]: c for c in resolved["drift"]["columns"]}
    assert sorted(columns) == ["fraud_count_30d", "fraud_rate_30d", "txn_count_30d"]
    assert columns["fraud_rate_30d"]["metric"] == "psi"
    assert resolved["drift"]["baseline"] is None
    code, text = _invoke("contracts", "--root", str(CONTRACTS), "show", "merchant_risk")
    assert (
        code == 0 and text == (CONTRACTS / "merchant_risk" / "1.0.0.yaml").read_text()
    )


def test_contracts_show_of_an_invalid_contract_is_an_error(tmp_path: Path) -> None:
    # It printed the file and exited 0 while --json, list and the jobs refused it.
    (tmp_path / "merchant_risk").mkdir()
    good = (CONTRACTS / "merchant_risk" / "1.0.0.yaml").read_text()
    (tmp_path / "merchant_risk" / "1.0.0.yaml").write_text(
        good.replace("type: float64", "type: double", 1)
    )
    for extra in ((), ("--json",)):
        code, out = _invoke(
            "contracts", "--root", str(tmp_path), "show", "merchant_risk", *extra
        )
        assert code == 2, out
        assert "INVALID" in out and "type" in out and "owner:" not in out


@pytest.fixture
def two_versions(tmp_path: Path) -> Path:
    """merchant_risk 1.0.0 and a 1.1.0 that drops a column (breaking)."""
    root = tmp_path / "contracts"
    shutil.copytree(CONTRACTS, root)
    text = (root / "merchant_risk" / "1.0.0.yaml").read_text()
    dropped = text.split("  - name: fraud_rate_30d")[0]
    (root / "merchant_risk" / "1.1.0.yaml").write_text(
        dropped.replace("version: 1.0.0", "version: 1.1.0")
    )
    return root


def test_contracts_diff_and_check_exit_1_on_a_wrong_bump(two_versions: Path) -> None:
    root = str(two_versions)
    code, out = _invoke("contracts", "--root", root, "diff", "merchant_risk",
                        "1.0.0", "1.1.0", "--json")  # fmt: skip
    assert code == 1
    verdict = json.loads(out)
    assert verdict["version_bump_ok"] is False
    assert [p["problem"] for p in verdict["problems"]] == ["MAJOR_BUMP_REQUIRED"]
    assert any(c["breaking"] for c in verdict["changes"])
    code, out = _invoke("contracts", "--root", root, "check", "--json")
    assert code == 1
    assert json.loads(out)["ok"] is False
    code, out = _invoke("contracts", "--root", root, "check")
    assert code == 1 and "PROBLEM merchant_risk 1.0.0 -> 1.1.0" in out


def test_contracts_check_reports_bumps_beside_files_that_do_not_parse(
    two_versions: Path,
) -> None:
    # One unparsable file hid every other contract's version-bump problem.
    (two_versions / "broken").mkdir()
    (two_versions / "broken" / "1.0.0.yaml").write_text("name: [broken")
    shutil.copytree(two_versions / "customer_spend", two_versions / "bad name")
    root = str(two_versions)
    code, out = _invoke("contracts", "--root", root, "check", "--json")
    assert code == 1
    verdict = json.loads(out)
    assert verdict["ok"] is False
    assert [f.split(" ")[:2] for f in verdict["findings"]] == [
        ["INVALID", "PATH_MISMATCH"],  # bad name/1.0.0.yaml
        ["INVALID", "INVALID_YAML"],  # broken/1.0.0.yaml
        ["PROBLEM", "merchant_risk"],
    ]
    assert "MAJOR_BUMP_REQUIRED" in verdict["findings"][2]
    code, out = _invoke("contracts", "--root", root, "check")
    assert code == 1
    assert "PROBLEM merchant_risk 1.0.0 -> 1.1.0: MAJOR_BUMP_REQUIRED" in out
    assert "INVALID INVALID_YAML broken/1.0.0.yaml" in out


def test_contracts_check_clean_exits_0() -> None:
    code, out = _invoke("contracts", "--root", str(CONTRACTS), "check", "--json")
    assert code == 0
    assert json.loads(out) == {"findings": [], "ok": True, "root": str(CONTRACTS)}


def merchant_rows(rate: float = 0.0) -> pa.Table:
    """Two merchant_risk rows (the second's rate is ``rate``) and a column the
    contract lacks; test_user_mistakes shares them."""
    now = datetime(2026, 11, 1, tzinfo=UTC)
    return pa.table(
        {
            "merchant_id": ["M0001", "M0002"],
            "event_timestamp": pa.array([now, now], TS),
            "created_timestamp": pa.array([now, now], TS),
            "txn_count_30d": pa.array([40, 3], pa.int64()),
            "fraud_count_30d": pa.array([2, 0], pa.int64()),
            "fraud_rate_30d": [0.05, rate],
            "extra": [1, 2],
        }
    )


def test_contracts_validate_parquet_passes_and_fails(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.parquet", tmp_path / "bad.parquet"
    pq.write_table(merchant_rows(0.0), good)
    pq.write_table(merchant_rows(7.0), bad)
    base = ("contracts", "--root", str(CONTRACTS), "validate", "--contract",
            "merchant_risk")  # fmt: skip
    code, out = _invoke(*base, str(good), "--json")
    assert code == 0
    assert json.loads(out)["failed"] == 0
    code, out = _invoke(*base, str(bad), "--json")
    assert code == 1
    verdict = json.loads(out)
    assert (verdict["rows"], verdict["failed"]) == (2, 1)
    assert verdict["by_reason"] == {"fraud_rate_30d:in_range": 1}
    code, out = _invoke(*base, str(bad))
    assert code == 1 and "FAILED fraud_rate_30d:in_range\t1" in out


@pytest.mark.parametrize(
    "command",
    [("list", "--json"), ("show", "merchant_risk"), ("check",)],
)
def test_contracts_root_works_after_the_subcommand_too(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    # Only merchant_risk in this folder: the default folder would list two.
    shutil.copytree(CONTRACTS / "merchant_risk", tmp_path / "merchant_risk")
    before = _invoke("contracts", "--root", str(tmp_path), *command)
    after = _invoke("contracts", *command, "--root", str(tmp_path))
    assert before[0] == 0 and after == before
    if command[0] == "list":
        listed = json.loads(after[1])["contracts"]
        assert [c["name"] for c in listed] == ["merchant_risk"]


def test_contracts_validate_fails_a_file_below_min_rows(tmp_path: Path) -> None:
    # Two passing rows against min_rows 3: the job's gate would refuse the batch.
    import yaml

    source = yaml.safe_load((CONTRACTS / "merchant_risk" / "1.0.0.yaml").read_text())
    (tmp_path / "contracts" / "merchant_risk").mkdir(parents=True)
    rows = tmp_path / "rows.parquet"
    pq.write_table(merchant_rows(0.0), rows)
    results = {}
    for min_rows in (2, 3):
        contract = tmp_path / "contracts" / "merchant_risk" / "1.0.0.yaml"
        contract.write_text(yaml.safe_dump(source | {"min_rows": min_rows}))
        base = ("contracts", "--root", str(tmp_path / "contracts"), "validate",
                "--contract", "merchant_risk", str(rows))  # fmt: skip
        code, out = _invoke(*base, "--json")
        verdict = json.loads(out)
        assert (verdict["rows"], verdict["failed"]) == (2, 0)
        # The JSON says why, as the text does (it said only publishable false).
        assert verdict["min_rows"] == min_rows
        assert verdict["too_few_rows"] is (min_rows == 3)
        results[min_rows] = (code, verdict["publishable"])
        code, out = _invoke(*base)
        assert code == results[min_rows][0]
        assert ("TOO_FEW_ROWS 2 < min_rows 3" in out) == (min_rows == 3)
    assert results == {2: (0, True), 3: (1, False)}


def test_contracts_validate_csv_and_schema_mismatch(tmp_path: Path) -> None:
    csv = tmp_path / "rows.csv"
    csv.write_text(
        "merchant_id,event_timestamp,created_timestamp,txn_count_30d,"
        "fraud_count_30d,fraud_rate_30d\n"
        "M0001,2026-11-01T00:00:00Z,2026-11-01T00:00:00Z,4,1,0.25\n"
        "bad,2026-11-01T00:00:00Z,2026-11-01T00:00:00Z,4,1,0.25\n"
    )
    base = ("contracts", "--root", str(CONTRACTS), "validate", "--contract",
            "merchant_risk")  # fmt: skip
    code, out = _invoke(*base, str(csv), "--json")
    assert code == 1
    assert json.loads(out)["by_reason"] == {"merchant_id:str_matches": 1}
    narrow = tmp_path / "narrow.parquet"
    pq.write_table(pa.table({"merchant_id": ["M0001"]}), narrow)
    code, out = _invoke(*base, str(narrow), "--json")
    assert code == 1
    assert "txn_count_30d" in json.loads(out)["schema_problems"]["missing"]
    assert _invoke(*base, str(tmp_path / "missing.parquet"))[0] == 2
    # A column the contract lacks is not judged, but named: publish refuses it.
    wide = tmp_path / "wide.csv"
    wide.write_text(
        csv.read_text()
        .replace("fraud_rate_30d\n", "fraud_rate_30d,label\n", 1)
        .replace("0.25\n", "0.25,1\n")
    )
    code, out = _invoke(*base, str(wide), "--json")
    judged = json.loads(out)
    assert (code, judged["extra_columns"], judged["failed"]) == (1, ["label"], 1)
    code, out = _invoke(*base, str(wide))
    assert "EXTRA label\tnot judged; publish refuses" in out


def test_lineage_of_a_delta_table(tmp_path: Path) -> None:
    path = tmp_path / "features" / "customer_spend"
    stamp = {"job": "build_customer_spend", "run_id": "run-a",
             "contract": "customer_spend@1.0.0",
             "validation": {"rows_in": 3, "published": 3}}  # fmt: skip
    for mode in ("error", "overwrite"):
        write_deltalake(
            path, pa.table({"x": [1, 2, 3]}), mode=mode,  # type: ignore[arg-type]
            commit_properties=CommitProperties(
                custom_metadata={"userMetadata": json.dumps(stamp)}
            ),
        )  # fmt: skip
    code, out = _invoke(
        "lineage", "customer_spend", "--data-dir", str(tmp_path), "--json"
    )
    assert code == 0
    records = json.loads(out)
    assert [r["version"] for r in records] == [1, 0]
    assert records[0]["run_id"] == "run-a"
    code, out = _invoke("lineage", str(path), "--limit", "1")
    assert code == 0
    assert out.startswith("v1\t") and "run=run-a" in out
    assert _invoke("lineage", str(tmp_path / "nothing"))[0] == 2
    # --repo: the project's data_dir locates a bare name, from anywhere.
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "feature_store.yaml").write_text("project: p\n")
    (repo / "featurestore.yaml").write_text(f"data_dir: {tmp_path}\n")
    code, out = _invoke("lineage", "customer_spend", "--repo", str(repo), "--json")
    assert code == 0, out
    assert [r["version"] for r in json.loads(out)] == [1, 0]


def _strict_json(text: str) -> object:
    """Parse as JSON.parse does: NaN and Infinity are not JSON."""

    def refuse(constant: str) -> object:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_json_output_has_null_for_nan_and_infinity(tmp_path: Path) -> None:
    from tests.unit.monitoring._support import CONTRACT_YAML, rows, write_versions

    (tmp_path / "contracts" / "shop").mkdir(parents=True)
    (tmp_path / "contracts" / "shop" / "1.0.0.yaml").write_text(CONTRACT_YAML)
    (tmp_path / "featurestore.yaml").write_text("data_dir: data\n")
    table = rows(100, seed=1)
    amount = table.column("amount").to_pylist()
    amount[1] = float("inf")  # max and mean become inf, std NaN
    table = table.set_column(
        table.schema.get_field_index("amount"), "amount", pa.array(amount)
    )
    write_versions(str(tmp_path / "data" / "features" / "shop"), table)
    repo = ("--repo", str(tmp_path))
    assert _invoke("monitor", "backfill", "shop", *repo, "--json")[0] == 0
    code, out = _invoke("monitor", "profiles", "shop", *repo, "--json")
    assert code == 0
    assert "Infinity" not in out and "NaN" not in out
    profile = _strict_json(out)
    assert isinstance(profile, dict)
    column = next(c for c in profile["columns"] if c["feature"] == "amount")
    assert (column["max"], column["mean"], column["std"]) == (None, None, None)
    assert column["min"] < 0  # finite numbers stay numbers


def test_run_print_submit_names_the_delta_package_and_the_job_file() -> None:
    from featurestore.spark_jobs.session import DELTA_PACKAGE, IVY_DIR

    code, out = _invoke("run", "--print-submit", "--master", "local[2]",
                        "build_customer_spend", "--data-dir", "/d")  # fmt: skip
    assert code == 0
    import shlex

    line = shlex.split(out)
    assert line[0].endswith("spark-submit")
    assert line[line.index("--packages") + 1] == DELTA_PACKAGE
    assert f"spark.jars.ivy={IVY_DIR}" in line
    assert line[line.index("--master") + 1] == "local[2]"
    assert line[-3].endswith("spark_jobs/jobs/build_customer_spend.py")
    assert Path(line[-3]).is_file()
    assert line[-2:] == ["--data-dir", "/d"]


def test_run_print_submit_adds_s3a_for_a_project_on_s3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shlex

    from featurestore.spark_jobs.session import (
        DELTA_PACKAGE,
        S3A_EXCLUDES,
        S3A_PACKAGES,
    )

    (tmp_path / "feature_store.yaml").write_text("project: on_s3\n")
    (tmp_path / "featurestore.yaml").write_text(
        "data_dir: s3://bucket/prod\n"
        "storage_options:\n  AWS_SECRET_ACCESS_KEY: ${FS_TEST_SECRET}\n"
    )
    monkeypatch.setenv("FS_REPO_PATH", str(tmp_path))
    monkeypatch.setenv("FS_TEST_SECRET", "s3cr3t-value")
    monkeypatch.delenv("FS_DATA_DIR", raising=False)
    monkeypatch.delenv("FS_SPARK_S3", raising=False)
    code, out = _invoke("run", "--print-submit", "build_customer_spend")
    assert code == 0
    line = shlex.split(out)
    packages = line[line.index("--packages") + 1].split(",")
    assert packages == [DELTA_PACKAGE, *S3A_PACKAGES]
    assert line[line.index("--exclude-packages") + 1] == S3A_EXCLUDES
    assert "s3cr3t-value" not in out  # options reach Spark in the job, not here
    # The same project named by --repo from elsewhere, not by $FS_REPO_PATH.
    monkeypatch.delenv("FS_REPO_PATH")
    monkeypatch.chdir(tmp_path.parent)
    code, out = _invoke("run", "--repo", str(tmp_path), "--print-submit",
                        "build_customer_spend")  # fmt: skip
    assert code == 0, out
    line = shlex.split(out)
    assert line[line.index("--packages") + 1].split(",") == packages
    assert line[line.index("--exclude-packages") + 1] == S3A_EXCLUDES
    monkeypatch.setenv("FS_REPO_PATH", str(tmp_path))
    monkeypatch.setenv("FS_SPARK_S3", "0")
    code, out = _invoke("run", "--print-submit", "build_customer_spend")
    line = shlex.split(out)
    assert line[line.index("--packages") + 1] == DELTA_PACKAGE
    assert "--exclude-packages" not in line


def test_run_passes_help_to_the_job(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "generate_raw_events", "--help"]) == 0
    assert "--transactions" in capsys.readouterr().out
    assert main(["run", "generate_raw_events", "--transactions", "0"]) == 2


def test_auth_add_key(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    code, out = _invoke("auth", "add-key", "--file", str(keys),
                        "--principal", "scorer", "--role", "reader")  # fmt: skip
    assert code == 0
    key = out.splitlines()[0]
    assert key.startswith("fsk_") and key not in keys.read_text()
    assert "scorer" in keys.read_text()


def test_auth_help_lists_the_key_commands() -> None:
    code, out = _invoke("auth", "--help")
    assert code == 0
    for command in ("add-key", "list-keys", "revoke-key", "rotate-key"):
        assert f"  {command} " in out


def _new_key(keys: Path, principal: str, *roles: str) -> str:
    argv = ["auth", "add-key", "--file", str(keys), "--principal", principal]
    code, out = _invoke(*argv, *(arg for role in roles for arg in ("--role", role)))
    assert code == 0
    return out.splitlines()[0]


def test_auth_list_keys_as_a_table_and_as_json(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    scorer = _new_key(keys, "scorer", "reader", "admin")
    batch = _new_key(keys, "batch", "trainer")
    code, out = _invoke("auth", "list-keys", "--file", str(keys))
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["ID", "PRINCIPAL", "ROLES", "CREATED"]
    assert [row.split()[:3] for row in rows] == [
        [scorer.split("_")[1], "scorer", "reader,admin"],
        [batch.split("_")[1], "batch", "trainer"],
    ]
    code, out = _invoke("auth", "list-keys", "--file", str(keys), "--json")
    assert code == 0
    listed = json.loads(out)
    assert [sorted(k) for k in listed] == [["created", "id", "principal", "roles"]] * 2
    assert listed[0]["roles"] == ["reader", "admin"] and listed[1]["id"] in batch
    assert "argon2" not in out and "fsk_" not in out


def test_auth_list_keys_of_an_empty_file_says_so(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text("keys: []\n")
    result = CliRunner().invoke(cli, ["auth", "list-keys", "--file", str(keys)])
    assert result.exit_code == 0
    # output: stderr with click 8.2, stdout and stderr mixed with 8.1 (lowest).
    assert result.output.splitlines() == [f"no API keys in {keys}"]
    result = CliRunner().invoke(
        cli, ["auth", "list-keys", "--file", str(keys), "--json"]
    )
    assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_auth_revoke_and_rotate_keys(tmp_path: Path) -> None:
    from featurestore.services.auth import ApiKeyAuthenticator, AuthenticationError

    keys = tmp_path / "keys.yaml"
    gone, kept = _new_key(keys, "gone", "reader"), _new_key(keys, "kept", "trainer")
    code, out = _invoke("auth", "revoke-key", "--file", str(keys), gone.split("_")[1])
    assert code == 0 and "fsk_" not in out
    code, out = _invoke("auth", "rotate-key", "--file", str(keys), kept.split("_")[1])
    assert code == 0
    new = out.splitlines()[0]
    authenticator = ApiKeyAuthenticator(keys)
    assert authenticator.authenticate(new).roles == {"trainer"}
    for old in (gone, kept):
        with pytest.raises(AuthenticationError):
            authenticator.authenticate(old)


def test_init_scaffolds_a_project(tmp_path: Path) -> None:
    pytest.importorskip(
        "featurestore.services.project",
        reason="featurestore.services.project (scaffold) not there yet",
    )
    code, out = _invoke("init", str(tmp_path / "new"))
    assert code == 0
    assert (tmp_path / "new" / "feature_store.yaml").is_file()
    # It said only "created a project in ...": the steps were in its README.
    readme = (tmp_path / "new" / "README.md").read_text().splitlines()
    block = [line.split("#")[0].split() for line in readme if line.startswith("    ")]
    told = [line.split("#")[0].split() for line in out.splitlines()[1:]]
    assert told == block
    assert [words[:2] for words in told] == [
        ["featurestore", "run"], ["featurestore", "contracts"], ["feast", "apply"],
        ["featurestore", "materialize"], ["featurestore", "serve"],
    ]  # fmt: skip
    assert "the Feast project new in" in out.splitlines()[0]


def test_init_names_the_feast_project_it_writes(tmp_path: Path) -> None:
    code, out = _invoke(
        "init", str(tmp_path / "teamA" / "feat"), "--project-name", "team_a"
    )
    assert code == 0
    assert out.startswith(f"created the Feast project team_a in {tmp_path}")
    yaml = (tmp_path / "teamA" / "feat" / "feature_store.yaml").read_text()
    assert "project: team_a\n" in yaml
    code, out = _invoke("init", str(tmp_path / "b"), "--project-name", "team-b")
    assert code == 2
    assert out.count("\n") == 1 and "INVALID_PROJECT_NAME" in out
    assert not (tmp_path / "b").exists()


def test_no_project_here_is_usage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("FS_CONTRACTS_DIR", "FS_REPO_PATH", "FS_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    assert main(["contracts", "list"]) == 2
    assert main(["contracts", "check-feast"]) == 2


def test_the_cli_loads_no_spark_and_no_feast_until_a_command_needs_them() -> None:
    # services/ starts no JVM on the serving path: only `run` imports spark_jobs.
    import subprocess
    import sys

    probe = (
        "import sys, featurestore.services.cli; "
        "print(sorted(m for m in ('pyspark', 'feast', 'featurestore.spark_jobs') "
        "if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip() == "[]"


def test_run_knows_the_projects_own_jobs(tmp_path: Path) -> None:
    pytest.importorskip(
        "featurestore.services.project",
        reason="featurestore.services.project (user jobs) not there yet",
    )
    project = tmp_path / "shop"
    assert _invoke("init", str(project))[0] == 0
    code, out = _invoke("run", "--repo", str(project), "--print-submit", "example")
    assert code == 0
    assert out.split()[-1] == str(project / "jobs" / "example.py")
    code, _ = _invoke("run", "--repo", str(project), "no_such_job")
    assert code == 2
