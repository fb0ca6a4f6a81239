"""A user mistake is one line on stderr and exit 2 (usage) or 1 (a failure):
never a traceback, and never work done (a publish, a registry file) on the way."""

from __future__ import annotations

import json
import math
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from featurestore.services.cli import main
from featurestore.services.cli._rows import read_rows
from featurestore.services.contracts import ContractRegistry
from featurestore.services.project import scaffold
from featurestore.services.storage import StorageOptions
from tests.unit.cli.test_cli import merchant_rows

REPO = Path(__file__).resolve().parents[3]
CONTRACTS = REPO / "feature_repo" / "contracts"
TS = pa.timestamp("us", tz="UTC")
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line(err: str, reason: str) -> None:
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert reason in err


def _project_with_job(tmp_path: Path, package: str, body: str) -> Path:
    """A project whose featurestore.yaml names job ``job`` = ``<package>.job``."""
    repo = tmp_path / "proj"
    (repo / package).mkdir(parents=True)
    (repo / "feature_store.yaml").write_text("project: proj\n")
    (repo / "featurestore.yaml").write_text(f"jobs:\n  job: {package}.job\n")
    (repo / package / "__init__.py").write_text("")
    (repo / package / "job.py").write_text(body)
    return repo


# -- run JOB ---------------------------------------------------------------


def test_run_help_never_runs_a_job_that_ignores_argv(
    tmp_path: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "ran"
    repo = _project_with_job(
        tmp_path,
        "jobs_ignoring_argv",
        '"""Writes a marker: the work a --help must not do."""\n'
        "from pathlib import Path\n\n"
        "def main(argv=None):\n"
        f"    Path({str(marker)!r}).write_text('ran')\n"
        "    return 0\n",
    )
    code, out, _ = _run(capsys, "run", "--repo", str(repo), "job", "--help")
    assert code == 0
    assert not marker.exists()
    assert "takes no documented flags" in out and "Writes a marker" in out
    assert _run(capsys, "run", "--repo", str(repo), "job")[0] == 0
    assert marker.read_text() == "ran"  # without --help it does run


@pytest.mark.parametrize(
    ("package", "body", "reason"),
    [
        # spark-submit runs the file as a script: main is never called, exit 0.
        ("jobs_unguarded", "def main(argv=None):\n    return 0\n",
         "JOB_NOT_SUBMITTABLE"),
        ("jobs_mainless", "VALUE = 1\n", "has no main(argv)"),
    ],
)  # fmt: skip
def test_print_submit_refuses_a_job_spark_submit_would_not_run(
    tmp_path: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str],
    package: str, body: str, reason: str,
) -> None:  # fmt: skip
    repo = _project_with_job(tmp_path, package, body)
    code, out, err = _run(capsys, "run", "--repo", str(repo), "--print-submit", "job")
    assert (code, out) == (2, "")
    _one_line(err, reason)


def test_run_help_calls_parse_args_never_main(
    tmp_path: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    marker = tmp_path / "ran"
    # main only logs argv: it reads it, and would publish on --help.
    repo = _project_with_job(
        tmp_path,
        "jobs_logging_argv",
        '"""Logs its argv, then works."""\n'
        "from pathlib import Path\n\n"
        "def main(argv=None):\n"
        "    print('args:', argv)\n"
        f"    Path({str(marker)!r}).write_text('ran')\n"
        "    return 0\n",
    )
    monkeypatch.setattr(
        "featurestore.services.cli._jobs.subprocess.call",
        lambda *a, **k: pytest.fail("submitted on --help"),
    )
    for before in ([], ["--print-submit"], ["--submit"]):
        code, out, _ = _run(capsys, "run", "--repo", str(repo), *before, "job", "-h")
        assert code == 0 and "takes no documented flags" in out, before
        assert "spark-submit" not in out
    assert not marker.exists()
    # A job that parses sys.argv through a helper still shows its own help.
    repo = _project_with_job(
        tmp_path / "b",
        "jobs_with_parse_args",
        "import argparse, sys\n\n"
        "def _parser():\n"
        "    parser = argparse.ArgumentParser(prog='featurestore run job')\n"
        "    parser.add_argument('--day')\n"
        "    return parser\n\n"
        "def parse_args(argv):\n"
        "    return _parser().parse_args(argv)\n\n"
        "def main(argv=None):\n"
        "    parse_args(sys.argv[1:])\n"
        f"    open({str(marker)!r}, 'w').write('ran')\n"
        "    return 0\n",
    )
    code, out, _ = _run(capsys, "run", "--repo", str(repo), "job", "--help")
    assert code == 0 and "--day" in out and not marker.exists()


def test_scaffolded_job_parses_its_arguments(
    tmp_path: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    for name in ("jobs", "jobs.example"):  # another project's, imported earlier
        monkeypatch.delitem(sys.modules, name, raising=False)
    scaffold(tmp_path / "p")
    code, out, _ = _run(capsys, "run", "--repo", str(tmp_path / "p"), "example", "-h")
    assert code == 0
    assert out.startswith("usage: featurestore run example")
    assert "--master" in out and "--run-id" in out
    assert not (tmp_path / "p" / "data" / "features").exists()  # nothing published
    code, _, err = _run(capsys, "run", "--repo", str(tmp_path / "p"), "example", "--x")
    assert code == 2 and "unrecognized arguments: --x" in err
    text = (tmp_path / "p" / "jobs" / "example.py").read_text()
    assert "leaves the table as it was" not in text  # created_timestamp changes


def test_a_job_failure_the_job_did_not_catch_is_one_line_exit_1(
    tmp_path: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _project_with_job(
        tmp_path,
        "jobs_raising",
        "from featurestore.spark_jobs.errors import ConfigError\n\n"
        "def main(argv):\n"
        "    raise ConfigError('mode merge needs keys', mode='merge')\n",
    )
    code, _, err = _run(capsys, "run", "--repo", str(repo), "job")
    assert code == 1
    _one_line(err, "[CONFIG_INVALID] mode merge needs keys")


def test_a_job_module_that_is_not_there_is_usage(
    tmp_path: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _project_with_job(tmp_path, "jobs_present", "def main(argv):\n  return 0\n")
    (repo / "featurestore.yaml").write_text("jobs:\n  gone: no_such_pkg.gone\n")
    code, _, err = _run(capsys, "run", "--repo", str(repo), "gone")
    assert code == 2
    _one_line(err, "JOB_NOT_FOUND")
    code, _, err = _run(capsys, "run", "--repo", str(repo), "--print-submit", "gone")
    assert code == 2
    _one_line(err, "JOB_NOT_FOUND")


def test_print_submit_and_submit_together_is_usage(
    tmp_path: Path,
    elsewhere: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = _project_with_job(
        tmp_path,
        "jobs_either",
        "def main(argv):\n  return 0\n\n"
        "if __name__ == '__main__':\n  raise SystemExit(main())\n",
    )
    monkeypatch.setattr(
        "featurestore.services.cli._jobs.subprocess.call",
        lambda *a, **k: pytest.fail("submitted with --print-submit"),
    )
    code, out, err = _run(
        capsys, "run", "--repo", str(repo), "--print-submit", "--submit", "job"
    )
    assert code == 2 and out == ""
    assert "--print-submit prints the spark-submit line, --submit runs it" in err


@pytest.mark.parametrize(
    ("body", "code", "said"),
    [
        ("sys.exit('input folder is empty')", 1, "job: input folder is empty\n"),
        ("sys.exit()", 0, ""),
        ("sys.exit(3)", 3, ""),
        ("return 'failed'", 1, "job: failed\n"),
        ("return None", 0, ""),
    ],
)
def test_a_jobs_exit_is_what_python_makes_of_it(
    tmp_path: Path,
    elsewhere: Path,
    capsys: pytest.CaptureFixture[str],
    body: str,
    code: int,
    said: str,
) -> None:
    # sys.exit("message") was exit 2 (usage) with the message lost, and
    # sys.exit() exit 2 instead of 0.
    package = f"jobs_exit_{abs(hash(body))}"
    repo = _project_with_job(
        tmp_path, package, f"import sys\n\ndef main(argv):\n    {body}\n"
    )
    assert _run(capsys, "run", "--repo", str(repo), "job") == (code, "", said)


def test_a_project_job_named_like_a_built_in_is_refused(
    tmp_path: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The built-in ran instead, on the project's data_dir.
    repo = _project_with_job(
        tmp_path, "jobs_shadowing", "def main(argv):\n  return 0\n"
    )
    (repo / "featurestore.yaml").write_text(
        "jobs:\n  generate_raw_events: jobs_shadowing.job\n"
    )
    for argv in (["generate_raw_events"], ["--print-submit", "generate_raw_events"]):
        code, out, err = _run(capsys, "run", "--repo", str(repo), *argv)
        assert (code, out) == (2, "")
        _one_line(err, "CONFIG_INVALID")
        assert "generate_raw_events, a built-in job" in err
    assert not (repo / "data").exists()


def test_run_without_a_job_lists_the_projects_jobs_too(
    tmp_path: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _project_with_job(tmp_path, "jobs_listed", "def main(argv):\n  return 0\n")
    code, out, err = _run(capsys, "run", "--repo", str(repo))
    assert (code, out) == (2, "")
    assert "Missing argument 'JOB': one of generate_raw_events," in err
    assert err.rstrip().endswith(", build_training_set, job")


def test_an_unknown_job_outside_a_project_says_there_is_no_project_here(
    tmp_path: Path,
    elsewhere: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Run from the project's jobs/ folder, a project job was only "unknown":
    # nothing said that no project had been found there.
    repo = _project_with_job(tmp_path, "jobs_here", "def main(argv):\n  return 0\n")
    monkeypatch.chdir(repo / "jobs_here")
    code, _, err = _run(capsys, "run", "job")
    assert code == 2
    assert "unknown job 'job'" in err and "no project here" in err
    assert "give --repo" in err
    monkeypatch.chdir(repo)  # in the project: no such hint for a typo
    code, _, err = _run(capsys, "run", "jbo")
    assert code == 2 and "unknown job 'jbo'" in err and "no project here" not in err


def test_a_job_whose_own_import_fails_names_that_module(
    tmp_path: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _project_with_job(
        tmp_path, "jobs_importing", "import no_such_third_party_pkg\n"
    )
    code, _, err = _run(capsys, "run", "--repo", str(repo), "job")
    assert code == 2
    _one_line(err, "JOB_IMPORT_FAILED")
    assert "no_such_third_party_pkg" in err and "featurestore.yaml" not in err


def test_run_repo_reaches_the_job(
    tmp_path: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    found = tmp_path / "found"
    repo = _project_with_job(
        tmp_path,
        "jobs_discovering",
        "from pathlib import Path\n"
        "from featurestore.services.project import Project\n\n"
        "def main(argv):\n"
        f"    Path({str(found)!r}).write_text(str(Project.discover().repo))\n"
        "    return 0\n\n"
        "if __name__ == '__main__':\n"
        "    import sys\n"
        "    raise SystemExit(main(sys.argv[1:]))\n",
    )
    code, _, err = _run(capsys, "run", "--repo", str(repo), "job")
    assert code == 0, err
    assert found.read_text() == str(repo.resolve())
    import os

    assert "FS_REPO_PATH" not in os.environ  # set for the job only
    code, out, _ = _run(capsys, "run", "--repo", str(repo), "--print-submit", "job")
    assert code == 0
    assert out.startswith(f"env FS_REPO_PATH={repo.resolve()} ")


# -- contracts ---------------------------------------------------------------


@pytest.mark.parametrize(
    "sub", ["list", "show", "diff", "check", "check-feast", "validate"]
)
def test_contracts_help_works_outside_a_project(
    sub: str, elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "contracts", sub, "--help")
    assert code == 0, err
    assert out.startswith(f"Usage: featurestore contracts {sub}")
    assert "--repo" in out


def test_contracts_take_repo_as_the_hint_says(
    tmp_path: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, "contracts", "list")
    assert code == 2
    _one_line(err, "pass --repo")
    scaffold(tmp_path / "p")
    repo = str(tmp_path / "p")
    for argv in (("--repo", repo, "list"), ("list", "--repo", repo)):
        code, out, _ = _run(capsys, "contracts", *argv)
        assert code == 0
        assert out.startswith("customer_purchases\t1.0.0")
    code, out, _ = _run(capsys, "contracts", "check-feast", "--repo", repo, "--json")
    assert code == 0 and json.loads(out)["problems"] == []


def _merchant_csv(tmp_path: Path, rate: str, count: str) -> Path:
    csv = tmp_path / "rows.csv"
    csv.write_text(
        "merchant_id,event_timestamp,created_timestamp,txn_count_30d,"
        "fraud_count_30d,fraud_rate_30d\n"
        f"M0001,2026-11-01T00:00:00Z,2026-11-01T00:00:00Z,{count},0,{rate}\n"
        f"M0002,2026-11-01T00:00:00Z,2026-11-01T00:00:00Z,{count},1,{rate}\n"
    )
    return csv


def _validate(capsys: pytest.CaptureFixture[str], path: Path, contract: str) -> tuple[
    int, dict[str, object]
]:  # fmt: skip
    code, out, err = _run(
        capsys, "contracts", "--root", str(CONTRACTS), "validate", str(path),
        "--contract", contract, "--json",
    )  # fmt: skip
    assert "Traceback" not in err
    return code, json.loads(out)


def test_validate_csv_reads_the_contracts_types(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 0 in a float64 column is a float, not a reason to fail the whole file.
    code, verdict = _validate(
        capsys, _merchant_csv(tmp_path, "0", "4"), "merchant_risk"
    )
    assert (code, verdict["schema_problems"], verdict["failed"]) == (0, {}, 0)
    # A blank value is a null: its row fails not_nullable, not the whole file
    # (a column of blanks only was inferred as type null).
    code, verdict = _validate(
        capsys, _merchant_csv(tmp_path, "0.5", ""), "merchant_risk"
    )
    assert code == 1
    assert verdict["schema_problems"] == {}
    assert (verdict["rows"], verdict["failed"]) == (2, 2)
    assert verdict["by_reason"] == {"txn_count_30d:not_nullable": 2}


def _csv(tmp_path: Path, *rows: str) -> Path:
    csv = tmp_path / "rows.csv"
    header = (
        "merchant_id,event_timestamp,created_timestamp,txn_count_30d,"
        "fraud_count_30d,fraud_rate_30d"
    )
    csv.write_text("\n".join([header, *rows]) + "\n")
    return csv


def test_validate_csv_nulls_only_blanks_as_spark_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Spark's nullValue is "": "NA" is a string (fails the id pattern, it is
    # not missing), "NaN" a float; a quoted "" is null too (Spark compares
    # the unquoted cell with nullValue), so that id is missing.
    csv = _csv(
        tmp_path,
        "NA,2026-11-01T00:00:00Z,2026-11-01T00:00:00Z,4,0,0.5",
        '"",2026-11-01T00:00:00Z,2026-11-01T00:00:00Z,4,0,0.5',
        "M0001,2026-11-01T00:00:00Z,2026-11-01T00:00:00Z,4,0,NaN",
        "M0002,2026-11-01T00:00:00Z,2026-11-01T00:00:00Z,4,0,",
    )
    code, verdict = _validate(capsys, csv, "merchant_risk")
    assert code == 1 and verdict["schema_problems"] == {}
    assert verdict["by_reason"] == {
        "merchant_id:str_matches": 1,
        "merchant_id:not_nullable": 1,
    }
    assert (verdict["rows"], verdict["failed"]) == (4, 2)
    contract = ContractRegistry(CONTRACTS).get("merchant_risk")
    rates = read_rows(
        str(csv), StorageOptions(), named=str(csv), contract=contract
    ).column("fraud_rate_30d")
    assert rates.null_count == 1 and math.isnan(rates[2].as_py())


def test_validate_csv_naive_times_are_utc_and_bad_cells_fail_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The jobs' Spark session is UTC: a time without an offset is a UTC time.
    code, verdict = _validate(
        capsys,
        _csv(
            tmp_path,
            "M0001,2026-11-01T00:00:00,2026-11-01 00:00:00,4,0,0.5",
            "M0002,2026-11-01T00:00:00Z,2026-11-01T01:00:00+01:00,4,0,0.5",
        ),
        "merchant_risk",
    )
    assert (code, verdict["schema_problems"], verdict["passed"]) == (0, {}, 2)
    # A cell that is not of its type is null (Spark's PERMISSIVE reading): that
    # row fails, the others are judged; the file is not unreadable.
    code, verdict = _validate(
        capsys,
        _csv(
            tmp_path,
            "M0001,2026-11-01T00:00:00,2026-11-01T00:00:00,four,0,0.5",
            "M0002,yesterday,2026-11-01T00:00:00,4,0,0.5",
            "M0003,2026-11-01T00:00:00,2026-11-01T00:00:00,4,0,0.5",
        ),
        "merchant_risk",
    )
    assert code == 1 and verdict["schema_problems"] == {}
    assert verdict["by_reason"] == {
        "txn_count_30d:not_nullable": 1,
        "event_timestamp:not_nullable": 1,
    }
    assert (verdict["rows"], verdict["passed"]) == (3, 1)


def test_validate_reads_int96_timestamps_as_utc(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Spark writes timestamps as INT96 (UTC instants, read without a zone).
    path = tmp_path / "part-00000.parquet"
    pq.write_table(merchant_rows(), path, use_deprecated_int96_timestamps=True)
    assert pq.ParquetFile(path).schema.column(1).physical_type == "INT96"
    code, verdict = _validate(capsys, path, "merchant_risk")
    assert (code, verdict["schema_problems"], verdict["passed"]) == (0, {}, 2)


def test_validate_reads_a_delta_table_as_its_snapshot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "merchant_risk"
    bad = merchant_rows().set_column(5, "fraud_rate_30d", pa.array([9.0, 9.0]))
    write_deltalake(table, bad)
    write_deltalake(table, merchant_rows(), mode="overwrite")  # removes v0's file
    assert len(list(table.glob("*.parquet"))) == 2
    code, verdict = _validate(capsys, table, "merchant_risk")
    assert (code, verdict["rows"], verdict["failed"]) == (0, 2, 0)


# -- lineage -------------------------------------------------------------------


def test_lineage_of_a_file_or_a_name_without_project(
    tmp_path: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "part-00000.parquet"
    pq.write_table(merchant_rows(), path)
    code, _, err = _run(capsys, "lineage", str(path))
    assert code == 2
    _one_line(err, "TABLE_NOT_FOUND")
    code, _, err = _run(capsys, "lineage", "customer_spend")
    assert code == 2
    _one_line(err, "PROJECT_NOT_FOUND")
    assert "--data-dir" in err and "--repo" in err  # what lineage takes
    code, _, err = _run(capsys, "lineage", "customer_spend", "--repo", str(tmp_path))
    assert code == 2
    _one_line(err, "PROJECT_NOT_FOUND")


# -- auth add-key ----------------------------------------------------------------


def test_add_key_creates_the_file_and_refuses_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Not its folder: a missing one is refused (auth/test_key_file_folder.py).
    (tmp_path / "keys").mkdir()
    keys = tmp_path / "keys" / "k.yaml"
    code, out, _ = _run(capsys, "auth", "add-key", "--file", str(keys),
                        "--principal", "scorer")  # fmt: skip
    assert code == 0 and out.startswith("fsk_") and "scorer" in keys.read_text()
    before = keys.read_text()
    code, _, err = _run(capsys, "auth", "add-key", "--file", str(keys),
                        "--principal", "")  # fmt: skip
    assert code == 2
    _one_line(err, "AUTH_CONFIG")
    assert keys.read_text() == before
    broken = tmp_path / "broken.yaml"
    broken.write_text("keys: [1, 2\n")
    code, _, err = _run(capsys, "auth", "add-key", "--file", str(broken),
                        "--principal", "scorer")  # fmt: skip
    assert code == 2
    _one_line(err, "AUTH_CONFIG")


@pytest.mark.parametrize("command", ["revoke-key", "rotate-key"])
def test_an_unknown_key_id_is_usage_naming_it_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    keys = tmp_path / "keys.yaml"
    code, key, _ = _run(capsys, "auth", "add-key", "--file", str(keys),
                        "--principal", "scorer")  # fmt: skip
    before = keys.read_text()
    code, out, err = _run(capsys, "auth", command, "--file", str(keys), "feedc0ffee00")
    assert code == 2 and out == ""
    _one_line(err, "KEY_NOT_FOUND")
    assert "'feedc0ffee00'" in err
    assert keys.read_text() == before
    # The whole key where its id belongs: refused, and not echoed.
    code, out, err = _run(capsys, "auth", command, "--file", str(keys), key.strip())
    assert code == 2 and out == ""
    _one_line(err, "AUTH_CONFIG")
    assert key.strip().split("_", 2)[2] not in err
    assert keys.read_text() == before


@pytest.mark.parametrize("command", ["list-keys", "revoke-key", "rotate-key"])
def test_key_commands_on_a_missing_file_are_usage_and_create_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    keys = tmp_path / "keys" / "k.yaml"
    argv = ["auth", command, "--file", str(keys)]
    code, out, err = _run(capsys, *argv, *([] if command == "list-keys" else ["ab"]))
    assert code == 2 and out == ""
    _one_line(err, "AUTH_CONFIG")
    assert "no API key file" in err
    assert list(tmp_path.iterdir()) == []


# -- init, monitor, training-set -------------------------------------------------


def test_init_where_no_folder_can_be_made_is_usage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("")
    code, _, err = _run(capsys, "init", str(tmp_path / "a-file" / "p"))
    assert code == 2
    _one_line(err, "cannot create a project")


def test_monitor_before_feast_apply_is_usage_and_creates_nothing(
    tmp_path: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scaffold(tmp_path / "p")
    registry = tmp_path / "p" / "data" / "feast" / "registry.db"
    code, _, err = _run(capsys, "monitor", "freshness", "--repo", str(tmp_path / "p"))
    assert code == 2
    _one_line(err, "REGISTRY_NOT_FOUND")
    assert "feast apply" in err
    assert not registry.parent.exists()


@pytest.mark.parametrize(
    "command",
    [("freshness",), ("skew", "odd"), ("profiles", "odd"), ("drift", "odd"),
     ("backfill", "odd")],
)  # fmt: skip
def test_monitor_where_there_is_no_project_says_so(
    command: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Not "no profile for odd; run backfill" nor "contract 'odd' not found":
    # the folder is not a project at all, and nothing is created in it.
    code, _, err = _run(capsys, "monitor", *command, "--repo", str(tmp_path))
    assert code == 2
    _one_line(err, "PROJECT_NOT_FOUND")
    assert str(tmp_path) in err
    assert list(tmp_path.iterdir()) == []


def _entities(tmp_path: Path) -> Path:
    entities = tmp_path / "entities.parquet"
    rows = {"customer_id": [1], "event_timestamp": pa.array([NOW], TS)}
    pq.write_table(pa.table(rows), entities)
    return entities


_MANIFEST_FIELDS = dict.fromkeys(
    ["project", "feature_refs", "feature_service", "timestamp_column",
     "as_known_at", "full_feature_names", "entity_rows", "created_at"]
)  # fmt: skip


@pytest.mark.parametrize(
    ("manifest", "said"),
    [
        (b"{not json", "not JSON: Expecting property name"),
        (b"{}", "the manifest lacks as_known_at, created_at, entity_rows"),
        (b"[]", "the manifest is not a JSON object"),
        (b'{"tables": [1]}', "the manifest lacks"),
        (json.dumps({**_MANIFEST_FIELDS, "tables": [1]}).encode(),
         "tables[0] is not a JSON object"),
        (json.dumps({**_MANIFEST_FIELDS, "tables": [], "extra": 1}).encode(),
         "the manifest has unknown fields extra"),
        (b"[" * 100_000, "nested too deeply"),
        (b"PAR1\x89\xff\x00", "can't decode byte 0x89"),
    ],
)  # fmt: skip
def test_training_set_replay_of_a_non_manifest_is_usage(
    manifest: bytes, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entities = _entities(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_bytes(manifest)
    out = str(tmp_path / "o.parquet")
    code, _, err = _run(capsys, "training-set", "--entities", str(entities),
                        "--replay", str(bad), "--out", out)  # fmt: skip
    assert code == 2
    _one_line(err, "not a training-set manifest")
    assert said in err
    assert "Error" not in err  # what is wrong with the file, not Python's name for it
    assert not (tmp_path / "o.parquet").exists()


def test_training_set_features_naming_nothing_or_out_a_folder_is_usage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entities = _entities(tmp_path)
    base = ("training-set", "--entities", str(entities), "--repo", str(tmp_path))
    code, _, err = _run(capsys, *base, "--features", ",", "--out", str(tmp_path / "o"))
    assert code == 2 and "--features names no feature" in err
    assert not (tmp_path / "o").exists()
    code, _, err = _run(capsys, *base, "--features", "v:f", "--out", str(tmp_path))
    assert code == 2
    _one_line(err, "is a folder")


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("2026-02-01", "2026-01-01"), "is after END"),
        (("--feature-store-yaml", "missing.yaml", "2026-02-01"), "does not exist"),
        (("2026-01-01", "2026-02-01"), "REGISTRY_NOT_FOUND"),
        (("--incremental",), "REGISTRY_NOT_FOUND"),
        # A file that is no YAML mapping (it said RepoConfig() argument after
        # ** must be a mapping, not str).
        (("--feature-store-yaml", "env.sh", "--incremental"),
         "not a YAML mapping of settings"),
    ],
)  # fmt: skip
def test_materialize_mistakes_are_usage_and_create_no_registry(
    args: tuple[str, ...], reason: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    scaffold(tmp_path / "p")
    (tmp_path / "env.sh").write_text("export FS_DATA_DIR=/tmp/x\n")
    monkeypatch.chdir(tmp_path)
    registry = tmp_path / "p" / "data" / "feast" / "registry.db"
    code, out, err = _run(capsys, "materialize", "--repo", str(tmp_path / "p"), *args)
    assert (code, out) == (2, "")
    assert reason in err and "Traceback" not in err
    assert not registry.parent.exists()


# -- contracts validate: an unreadable Delta table --------------------------------


def test_validate_a_delta_table_with_a_corrupt_commit_is_one_line_usage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # delta-rs raises a bare DeltaError for a log it cannot parse: validate
    # says TABLE_UNREADABLE in one line, exit 2, as `featurestore lineage` does.
    table = tmp_path / "merchant_risk"
    write_deltalake(table, merchant_rows())
    (table / "_delta_log" / "00000000000000000001.json").write_text("garbage{")
    code, out, err = _run(
        capsys, "contracts", "--root", str(CONTRACTS), "validate", str(table),
        "--contract", "merchant_risk",
    )  # fmt: skip
    assert (code, out) == (2, "")
    _one_line(err, "TABLE_UNREADABLE")
    assert str(table) in err
    code, _, lineage_err = _run(capsys, "lineage", str(table))
    assert code == 2
    _one_line(lineage_err, "TABLE_UNREADABLE")


@pytest.mark.parametrize("command", ["profiles", "drift"])
def test_a_missing_feature_table_is_named_with_where_it_was_looked_for(
    tmp_path: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # It said "no feature table customer_spend": with a wrong data root
    # (FS_DATA_DIR, data_dir) nothing told where the command had looked.
    repo = tmp_path / "proj"
    repo.mkdir()
    (repo / "feature_store.yaml").write_text("project: proj\n")
    (repo / "featurestore.yaml").write_text("data_dir: elsewhere_data\n")
    code, _, err = _run(
        capsys, "monitor", command, "customer_spend", "--repo", str(repo)
    )
    assert code == 2
    _one_line(err, "TABLE_NOT_FOUND")
    where = "elsewhere_data/features/customer_spend (under the project folder; "
    assert f"customer_spend at {where}" in err
