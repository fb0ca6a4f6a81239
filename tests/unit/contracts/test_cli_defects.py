"""Contract mistakes the ``featurestore contracts`` commands must catch: a key
change the diff missed, a contracts folder that is not there, a version with
build metadata. Real files, the real CLI (click's main)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from featurestore.services.cli import main
from featurestore.services.contracts import (
    ARROW_TYPES,
    ContractErrorReason,
    ContractFormatError,
    ContractRegistry,
    SchemaMismatchError,
    load_contract,
    parse_contract,
    table_reasons,
)
from featurestore.services.contracts._cli import main as contracts_main
from featurestore.services.contracts.compat import (
    BumpProblem,
    ChangeKind,
    check_version_bump,
    compare,
)
from tests.unit.contracts._support import (
    REPO_CONTRACTS,
    base_data,
    write_contract,
)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


_EMPTY_LIST_JSON = '{\n  "contracts": [],\n  "unreachable": []\n}\n'
"""What ``contracts list --json`` prints for a folder with no contracts."""


def _version(version: str, **fields: Any) -> dict[str, Any]:
    data = base_data()
    data.update(version=version, **fields)
    return data


# -- entity_keys changes are breaking -------------------------------------------


def test_an_entity_keys_change_under_explicit_keys_is_breaking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `keys` written out and unchanged: the primary key stays, but Feast joins
    # on the entity keys, so a reader loses its join.
    keys = ["customer_id", "code"]
    old = _version("2.0.0", keys=keys)
    new = _version("2.1.0", keys=keys, entity_keys=keys)
    before = parse_contract(write_contract(tmp_path, old).read_text())
    after = parse_contract(write_contract(tmp_path, new).read_text())
    changes = compare(before, after)
    assert [(c.kind, c.column, c.breaking) for c in changes] == [
        (ChangeKind.KEY_CHANGED, "customer_id,code", True)
    ]
    assert "entity_keys customer_id -> customer_id,code" in changes[0].detail
    problems = check_version_bump(before, after, changes)
    assert [p.problem for p in problems] == [BumpProblem.MAJOR_BUMP_REQUIRED]

    code, out, _ = _run(capsys, "contracts", "--root", str(tmp_path), "diff",
                        "spend", "2.0.0", "2.1.0")  # fmt: skip
    assert code == 1
    assert "BREAKING KEY_CHANGED customer_id,code: entity_keys" in out
    assert "PROBLEM MAJOR_BUMP_REQUIRED" in out
    code, out, _ = _run(capsys, "contracts", "--root", str(tmp_path), "check")
    assert code == 1
    assert "PROBLEM spend 2.0.0 -> 2.1.0: MAJOR_BUMP_REQUIRED" in out


def test_an_entity_keys_change_with_default_keys_is_one_key_change() -> None:
    # `keys` defaulted: the primary key change already says it, once.
    before = parse_contract(yaml.safe_dump(_version("1.0.0")))
    after = parse_contract(
        yaml.safe_dump(_version("2.0.0", entity_keys=["customer_id", "code"]))
    )
    assert [(c.kind, c.column) for c in compare(before, after)] == [
        (ChangeKind.KEY_CHANGED, "customer_id,code,event_timestamp")
    ]


# -- a contracts folder that is not there ---------------------------------------


@pytest.mark.parametrize(
    "command", [("check",), ("check", "--json"), ("list",), ("list", "--json")]
)
@pytest.mark.parametrize("via", ["--root", "FS_CONTRACTS_DIR"])
def test_a_contracts_folder_that_is_not_there_is_usage(
    command: tuple[str, ...],
    via: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A typo in a CI gate's root must not pass as "checked 0 files".
    missing = tmp_path / "contracs"
    if via == "--root":
        code, out, err = _run(capsys, "contracts", "--root", str(missing), *command)
    else:
        monkeypatch.setenv("FS_CONTRACTS_DIR", str(missing))
        code, out, err = _run(capsys, "contracts", *command)
    assert (code, out) == (2, "")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"contracts folder {missing} does not exist" in err


@pytest.mark.parametrize("as_json", [(), ("--json",)])
@pytest.mark.parametrize("via", ["--root", "FS_CONTRACTS_DIR"])
def test_check_feast_with_a_contracts_folder_that_is_not_there_is_usage(
    as_json: tuple[str, ...],
    via: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Not every view "lacking a contract" (exit 1): the folder error, as `check`.
    monkeypatch.chdir(REPO_CONTRACTS.parent)  # a project with views
    monkeypatch.delenv("FS_REPO_PATH", raising=False)
    missing = tmp_path / "contracs"
    if via == "--root":
        argv = ["--root", str(missing), "check-feast", *as_json]
    else:
        monkeypatch.setenv("FS_CONTRACTS_DIR", str(missing))
        argv = ["check-feast", *as_json]
    code, out, err = _run(capsys, "contracts", *argv)
    assert (code, out) == (2, "")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"contracts folder {missing} does not exist" in err
    if not as_json:  # python -m featurestore.services.contracts
        assert contracts_main(argv) == 2
        captured = capsys.readouterr()
        assert (captured.out, captured.err.splitlines()) == ("", err.splitlines())


def test_an_empty_contracts_folder_holds_no_contracts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(tmp_path)
    assert _run(capsys, "contracts", "--root", root, "check") == (
        0, "checked 0 files, 0 problems\n", ""
    )  # fmt: skip
    assert _run(capsys, "contracts", "--root", root, "list", "--json") == (
        0, _EMPTY_LIST_JSON,
        f"no contracts under {root} (each is <root>/<name>/<version>.yaml)\n",
    )  # fmt: skip


# -- one unreadable contract hides only itself ----------------------------------


def _folder_with_two_broken_contracts(root: Path) -> None:
    """Two good contracts; one with a typo in a field name (INVALID_FIELD) and
    one whose latest version is not UTF-8 (INVALID_YAML; its 1.0.0 is good)."""
    write_contract(root, _version("1.0.0"))
    write_contract(root, _version("1.0.0", name="other"))
    typo = write_contract(root, _version("1.0.0", name="typo"))
    typo.write_text(typo.read_text().replace("owner:", "ownr:", 1))
    write_contract(root, _version("1.0.0", name="binary"))
    (root / "binary" / "1.1.0.yaml").write_bytes(b"name: binary\nowner: \xff\n")


@pytest.mark.parametrize("via", ["featurestore", "python-m"])
def test_list_names_the_contracts_it_cannot_read_after_the_others(
    via: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # One malformed file failed the listing of every contract (exit 2). Now the
    # others are listed, a warning per unreadable one follows on stderr, and the
    # exit is 1 (a contract failure: CI notices, and stdout stays parseable).
    _folder_with_two_broken_contracts(tmp_path)
    argv = ["--root", str(tmp_path), "list"]
    code = main(["contracts", *argv]) if via == "featurestore" else contracts_main(argv)
    out, err = capsys.readouterr()
    assert code == 1
    assert out == "other\t1.0.0\tteam@example.com\nspend\t1.0.0\tteam@example.com\n"
    warnings = err.splitlines()
    assert [w.split(": ")[:2] for w in warnings] == [
        ["warning", "binary not listed"],
        ["warning", "typo not listed"],
    ]
    assert warnings[0].startswith(
        "warning: binary not listed: INVALID_YAML: binary/1.1.0.yaml: cannot read"
    )
    assert warnings[1].startswith(
        "warning: typo not listed: INVALID_FIELD: typo/1.0.0.yaml"
    )


def test_list_json_has_an_unreachable_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _folder_with_two_broken_contracts(tmp_path)
    code, out, err = _run(
        capsys, "contracts", "--root", str(tmp_path), "list", "--json"
    )
    assert code == 1
    listed = json.loads(out)
    assert [(c["name"], c["version"]) for c in listed["contracts"]] == [
        ("other", "1.0.0"),
        ("spend", "1.0.0"),
    ]
    assert [(u["name"], u["reason"]) for u in listed["unreachable"]] == [
        ("binary", "INVALID_YAML"),
        ("typo", "INVALID_FIELD"),
    ]
    assert listed["unreachable"][0]["message"].startswith("binary/1.1.0.yaml: ")
    assert len(err.splitlines()) == 2  # the same warnings as the text listing
    # Each stays its own clear error where it is asked for by name.
    code, out, err = _run(capsys, "contracts", "--root", str(tmp_path), "show", "typo")
    assert (code, out) == (2, "")
    assert err.startswith("error: INVALID_FIELD: typo/1.0.0.yaml")


# -- build metadata in a version ------------------------------------------------


def test_a_version_with_build_metadata_is_an_invalid_contract(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `--version 1.1.0+build.7` can never address it (+ is no safe name), and
    # semver gives build metadata no precedence: refuse it where it is loaded.
    write_contract(tmp_path, _version("1.0.0"))
    bad = write_contract(tmp_path, _version("1.1.0+build.7"))
    with pytest.raises(ContractFormatError, match=r"build metadata \(\+build.7\)"):
        load_contract(bad)
    root = str(tmp_path)
    code, out, _ = _run(capsys, "contracts", "--root", root, "check")
    assert code == 1
    assert out.splitlines() == [
        "INVALID INVALID_FIELD spend/1.1.0+build.7.yaml: version: build metadata "
        "(+build.7) is not allowed: semver gives it no precedence, so versions "
        "differing only in it are ambiguous; use 1.1.0",
        # Every finding, then the count (0d1495f: it stopped at the first).
        "checked 2 files, 1 problems",
    ]
    code, out, _ = _run(capsys, "contracts", "--root", root, "check", "--json")
    assert code == 1 and "build metadata" in out
    # Listing shows the latest version: this one, so spend is named unreadable.
    code, out, err = _run(capsys, "contracts", "--root", root, "list")
    assert (code, out) == (1, "")
    assert err.startswith(
        "warning: spend not listed: INVALID_FIELD: spend/1.1.0+build.7.yaml: version:"
    )
    assert len(err.strip().splitlines()) == 1


# -- durations past 10000 years -------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"freshness": "99999999999999d"}, "freshness"),
        ({"freshness": "999999999d"}, "freshness"),
        (
            {
                "freshness": None,
                "slaProperties": [
                    {"property": "latency", "value": 99999999999999, "unit": "d"}
                ],
            },
            "slaProperties[0]",
        ),
    ],
)
def test_a_duration_past_10000_years_is_an_invalid_field(
    fields: dict[str, Any],
    field: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # timedelta() raised OverflowError (no ValueError): show, list and check
    # printed a traceback; 999999999d loaded but is no protobuf Duration.
    data = {k: v for k, v in _version("1.0.0", **fields).items() if v is not None}
    write_contract(tmp_path, data)
    root = str(tmp_path)
    # show fails (exit 2); list names the contract it cannot read (exit 1).
    for command, code_, lead in (
        (("show", "spend"), 2, "error:"), (("list",), 1, "warning: spend not listed:")
    ):  # fmt: skip
        code, out, err = _run(capsys, "contracts", "--root", root, *command)
        assert (code, out) == (code_, "")
        assert err.startswith(f"{lead} INVALID_FIELD: spend/1.0.0.yaml: {field}: ")
        assert "at most 10000 years" in err
        assert len(err.strip().splitlines()) == 1
    code, out, _ = _run(capsys, "contracts", "--root", root, "check")
    assert code == 1
    assert out.startswith(f"INVALID INVALID_FIELD spend/1.0.0.yaml: {field}: ")


# -- YAML nested too deep -------------------------------------------------------


def test_yaml_nested_2000_levels_is_invalid_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # PyYAML raised RecursionError (no YAMLError): a traceback on every command.
    folder = tmp_path / "spend"
    folder.mkdir()
    (folder / "1.0.0.yaml").write_text("a: " + "[" * 2000 + "]" * 2000)
    root = str(tmp_path)
    code, out, err = _run(capsys, "contracts", "--root", root, "show", "spend")
    assert (code, out) == (2, "")
    assert err.startswith("error: INVALID_YAML: spend/1.0.0.yaml: invalid YAML: ")
    assert len(err.strip().splitlines()) == 1
    code, out, _ = _run(capsys, "contracts", "--root", root, "check")
    assert code == 1
    assert out.startswith("INVALID INVALID_YAML spend/1.0.0.yaml: invalid YAML: nested")


# -- contracts validate: a check that cannot run on its column ------------------


def _getcwd_contract(root: Path) -> None:
    # os:getcwd loads (it is callable) but takes no argument: it cannot run.
    data = _version("1.0.0")
    data["columns"][4]["checks"] = [{"check": "os:getcwd"}]
    write_contract(root, data)


def _rows(contract: Any, **columns: pa.Array) -> pa.Table:
    stamp = pa.array([datetime(2024, 1, 1, tzinfo=UTC)], pa.timestamp("us", "UTC"))
    values = {c.name: pa.nulls(1, ARROW_TYPES[c.type]) for c in contract.columns} | {
        "customer_id": pa.array([1]),
        "event_timestamp": stamp,
        "created_timestamp": stamp,
        "count_1h": pa.array([1]),
        "code": pa.array(["AB"]),
        "status": pa.array(["new"]),
    }
    return pa.table(values | columns)


def test_validate_with_a_check_that_cannot_run_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It printed a traceback (SchemaMismatchError from table_reasons), exit 1.
    root = tmp_path / "contracts"
    _getcwd_contract(root)
    contract = ContractRegistry(root).get("spend")
    with pytest.raises(SchemaMismatchError) as info:
        table_reasons(contract, _rows(contract))
    assert info.value.reason is ContractErrorReason.CHECK_NOT_RUNNABLE
    assert info.value.metadata["check"] == "os:getcwd"
    file = tmp_path / "rows.parquet"
    pq.write_table(_rows(contract), file)
    for as_json in ((), ("--json",)):
        code, out, err = _run(
            capsys, "contracts", "--root", str(root), "validate", str(file),
            "--contract", "spend", *as_json,
        )  # fmt: skip
        assert (code, out) == (2, "")
        assert err.startswith("error: CHECK_NOT_RUNNABLE: ")
        assert "os:getcwd" in err and len(err.strip().splitlines()) == 1


# -- contracts validate: a date past year 9999 ----------------------------------


def test_validate_a_date_past_year_9999_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A valid date32 that datetime.date cannot hold: OverflowError, traceback.
    root = tmp_path / "contracts"
    write_contract(root, _version("1.0.0"))
    contract = ContractRegistry(root).get("spend")
    day = pa.array([3_000_000], pa.int32()).cast(pa.date32())
    file = tmp_path / "rows.parquet"
    pq.write_table(_rows(contract, day=day), file)
    for as_json in ((), ("--json",)):
        code, out, err = _run(
            capsys, "contracts", "--root", str(root), "validate", str(file),
            "--contract", "spend", *as_json,
        )  # fmt: skip
        assert (code, out) == (2, "")
        assert err.startswith("error: SCHEMA_MISMATCH: column day holds a date ")
        assert "0001-01-01..9999-12-31" in err
        assert len(err.strip().splitlines()) == 1


# -- check: every version against the one before --------------------------------


def test_check_finds_a_wrong_bump_below_a_newer_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Only the latest was compared with the one before: adding an unchanged
    # 2.0.0-rc.1 hid the breaking change 1.9.0 -> 1.10.0 ("0 problems").
    write_contract(tmp_path, _version("1.9.0"))
    breaking = _version("1.10.0")
    breaking["columns"][6]["type"] = "float64"  # count_7d: int64 -> float64
    write_contract(tmp_path, breaking)
    write_contract(tmp_path, {**breaking, "version": "2.0.0-rc.1"})
    code, out, _ = _run(capsys, "contracts", "--root", str(tmp_path), "check")
    assert code == 1
    assert out.splitlines() == [
        "PROBLEM spend 1.9.0 -> 1.10.0: MAJOR_BUMP_REQUIRED: 1.9.0 -> 1.10.0 "
        "with breaking changes TYPE_CHANGED",
        "checked 3 files, 1 problems",
    ]
    code, out, _ = _run(capsys, "contracts", "--root", str(tmp_path), "check", "--json")
    assert code == 1 and "MAJOR_BUMP_REQUIRED" in out
    assert contracts_main(["--root", str(tmp_path), "check-all"]) == 1
