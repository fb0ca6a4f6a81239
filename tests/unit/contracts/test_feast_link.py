"""Tests for feast_link: feature views checked against contracts, and check-feast."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from featurestore.services.contracts import ContractRegistry
from featurestore.services.contracts._cli import main
from featurestore.services.contracts.feast_link import (
    Problem,
    ProblemCode,
    check_feature_views,
)

ROOT = Path(__file__).resolve().parents[3]
REPO = ROOT / "feature_repo"
REGISTRY = ContractRegistry(REPO / "contracts")


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """The project's Feast repo definitions, copied (no data, no contracts)."""
    copy = tmp_path / "repo"
    copy.mkdir()
    for path in [*REPO.glob("*.py"), REPO / "feature_store.yaml"]:
        shutil.copy(path, copy / path.name)
    return copy


def _edit(repo: Path, file: str, old: str, new: str) -> None:
    path = repo / file
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def _codes(problems: list[Problem]) -> list[tuple[str, ProblemCode, dict[str, str]]]:
    return [(p.view, p.code, p.metadata) for p in problems]


def test_project_repo_agrees_with_contracts():
    assert check_feature_views(REPO, REGISTRY) == []


def test_unchanged_copy_passes(repo_copy):
    assert check_feature_views(repo_copy, REGISTRY) == []


def test_feature_type_mismatch(repo_copy):
    _edit(
        repo_copy,
        "feature_views.py",
        'Field(name="count_1h", dtype=Int64)',
        'Field(name="count_1h", dtype=Float64)',
    )
    assert _codes(check_feature_views(repo_copy, REGISTRY)) == [
        (
            "customer_spend",
            ProblemCode.TYPE_MISMATCH,
            {"column": "count_1h", "expected": "int64", "actual": "float64"},
        )
    ]


def test_feast_type_without_contract_type_is_a_mismatch(repo_copy):
    _edit(
        repo_copy,
        "feature_views.py",
        "from feast.types import Float64, Int64",
        "from feast.types import Float32, Float64, Int64",
    )
    _edit(
        repo_copy,
        "feature_views.py",
        'Field(name="fraud_rate_30d", dtype=Float64)',
        'Field(name="fraud_rate_30d", dtype=Float32)',
    )
    (problem,) = check_feature_views(repo_copy, REGISTRY)
    assert (problem.view, problem.code) == ("merchant_risk", ProblemCode.TYPE_MISMATCH)
    assert problem.metadata["expected"] == "float64"


def test_missing_contract_tag(repo_copy):
    _edit(
        repo_copy,
        "feature_views.py",
        'tags={"contract": "merchant_risk", "team": "risk"}',
        'tags={"team": "risk"}',
    )
    assert _codes(check_feature_views(repo_copy, REGISTRY)) == [
        ("merchant_risk", ProblemCode.MISSING_CONTRACT_TAG, {})
    ]


def test_unknown_contract(repo_copy):
    _edit(
        repo_copy, "feature_views.py", '"contract": "merchant_risk"', '"contract": "x"'
    )
    assert _codes(check_feature_views(repo_copy, REGISTRY)) == [
        ("merchant_risk", ProblemCode.UNKNOWN_CONTRACT, {"contract": "x"})
    ]


def test_unknown_column(repo_copy):
    _edit(
        repo_copy,
        "feature_views.py",
        'Field(name="spend_7d", dtype=Float64),',
        'Field(name="spend_7d", dtype=Float64),\n        '
        'Field(name="spend_30d", dtype=Float64),',
    )
    assert _codes(check_feature_views(repo_copy, REGISTRY)) == [
        (
            "customer_spend",
            ProblemCode.UNKNOWN_COLUMN,
            {"column": "spend_30d", "contract": "customer_spend"},
        )
    ]


def test_entity_key_type_and_name(repo_copy):
    _edit(
        repo_copy,
        "entities.py",
        "value_type=ValueType.INT64",
        "value_type=ValueType.STRING",
    )
    _edit(
        repo_copy, "entities.py", 'join_keys=["merchant_id"]', 'join_keys=["merchant"]'
    )
    assert _codes(check_feature_views(repo_copy, REGISTRY)) == [
        (
            "customer_spend",
            ProblemCode.TYPE_MISMATCH,
            {"column": "customer_id", "expected": "int64", "actual": "string"},
        ),
        (
            "merchant_risk",
            ProblemCode.ENTITY_KEY_MISMATCH,
            {"expected": "merchant_id", "actual": "merchant"},
        ),
    ]


def test_source_timestamp_columns(repo_copy):
    _edit(
        repo_copy,
        "sources.py",
        'timestamp_field="event_timestamp"',
        'timestamp_field="ts"',
    )
    _edit(
        repo_copy,
        "sources.py",
        'created_timestamp_column="created_timestamp"',
        'created_timestamp_column=""',
    )
    assert _codes(check_feature_views(repo_copy, REGISTRY)) == [
        (
            "customer_spend",
            ProblemCode.TIMESTAMP_FIELD_MISMATCH,
            {"expected": "event_timestamp", "actual": "ts"},
        ),
        (
            "customer_spend",
            ProblemCode.CREATED_TIMESTAMP_MISMATCH,
            {"expected": "created_timestamp", "actual": ""},
        ),
    ]


def test_unloadable_repo_is_one_problem(tmp_path, repo_copy):
    (repo_copy / "broken.py").write_text("raise RuntimeError('boom')\n")
    (problem,) = check_feature_views(repo_copy, REGISTRY)
    assert problem.code is ProblemCode.REPO_LOAD_FAILED
    (missing,) = check_feature_views(tmp_path / "none", REGISTRY)
    assert missing.code is ProblemCode.REPO_LOAD_FAILED


def test_cli_check_feast(repo_copy, capsys):
    root = ["--root", str(REPO / "contracts")]
    assert main([*root, "check-feast", "--repo", str(repo_copy)]) == 0
    assert "agree" in capsys.readouterr().out
    _edit(repo_copy, "feature_views.py", '"contract": "customer_spend", ', "")
    _edit(
        repo_copy,
        "feature_views.py",
        'Field(name="fraud_count_30d", dtype=Int64)',
        'Field(name="fraud_count_30d", dtype=Float64)',
    )
    assert main([*root, "check-feast", "--repo", str(repo_copy)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("PROBLEM customer_spend: MISSING_CONTRACT_TAG")
    assert lines[1].startswith("PROBLEM merchant_risk: TYPE_MISMATCH")


MAPPED_VIEW = """
from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.data_format import DeltaFormat
from feast.types import Float64
customer = Entity(name="customer", join_keys=["customer_id"],
                  value_type=ValueType.INT64)
mapped_view = FeatureView(
    name="mapped", entities=[customer], ttl=timedelta(days=30),
    schema=[Field(name="amount_mapped", dtype=Float64)],
    source=FileSource(name="mapped", path="data/mapped", file_format=DeltaFormat(),
                      timestamp_field="ts", created_timestamp_column="cts",
                      field_mapping=MAPPING),
    tags={"contract": "mapped"},
)
"""

MAPPED_CONTRACT = """name: mapped
version: 1.0.0
owner: you@example.com
description: mapped source
entity_keys: [cid]
keys: [cid]
freshness: 2d
max_failure_ratio: 0.05
event_timestamp: ts
created_timestamp: cts
columns:
  - {name: cid, type: int64, nullable: false}
  - {name: ts, type: timestamp, nullable: false}
  - {name: cts, type: timestamp, nullable: false}
  - {name: amt_raw, type: float64, nullable: false}
"""


def _mapped_repo(tmp_path: Path, mapping: str) -> tuple[Path, ContractRegistry]:
    repo = tmp_path / "repo"
    (repo / "contracts" / "mapped").mkdir(parents=True)
    (repo / "feature_store.yaml").write_text(
        "project: mapped\nprovider: local\nregistry: data/registry.db\n"
        "online_store:\n  type: sqlite\n  path: data/online.db\n"
        "entity_key_serialization_version: 3\n"
    )
    (repo / "views.py").write_text(MAPPED_VIEW.replace("MAPPING", mapping))
    (repo / "contracts" / "mapped" / "1.0.0.yaml").write_text(MAPPED_CONTRACT)
    return repo, ContractRegistry(repo / "contracts")


def test_a_field_mapped_view_is_checked_by_its_source_columns(tmp_path, capsys):
    # The view reads exactly the contract's columns (cid, amt_raw) under other
    # names; it was ENTITY_KEY_MISMATCH and UNKNOWN_COLUMN, exit 1.
    mapping = '{"cid": "customer_id", "amt_raw": "amount_mapped"}'
    repo, registry = _mapped_repo(tmp_path, mapping)
    assert check_feature_views(repo, registry) == []
    root = ["--root", str(repo / "contracts")]
    assert main([*root, "check-feast", "--repo", str(repo)]) == 0
    assert "agree" in capsys.readouterr().out


def test_a_field_mapped_to_a_column_the_contract_lacks_names_the_column(tmp_path):
    mapping = '{"cid": "customer_id", "amount": "amount_mapped"}'
    repo, registry = _mapped_repo(tmp_path, mapping)
    [problem] = check_feature_views(repo, registry)
    assert (problem.code, problem.metadata) == (
        ProblemCode.UNKNOWN_COLUMN,
        {"column": "amount", "contract": "mapped", "field": "amount_mapped"},
    )
