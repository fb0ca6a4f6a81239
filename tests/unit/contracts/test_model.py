from __future__ import annotations

from datetime import timedelta

import pytest
import yaml

from featurestore.services.contracts import (
    ContractErrorReason,
    ContractFormatError,
    parse_contract,
)
from featurestore.services.contracts._duration import parse_duration
from featurestore.services.contracts._semver import Version
from featurestore.services.contracts.model import InRange
from tests.unit.contracts._support import REPO_CONTRACTS, base_data


@pytest.mark.parametrize("path", sorted(REPO_CONTRACTS.glob("*/*.yaml")), ids=str)
def test_repo_contracts_parse_and_round_trip(path):
    contract = parse_contract(path.read_text(), path.name)
    assert contract.name == path.parent.name
    assert contract.version == path.stem
    assert parse_contract(contract.to_yaml()) == contract


def test_base_contract_fields(base):
    assert base.primary_key == ("customer_id", "event_timestamp")
    assert base.freshness_delta == timedelta(days=7)
    assert base.semver == Version(1, 0, 0)
    amount = base.column("amount")
    assert [c.name for c in amount.checks] == ["in_range", "finite"]
    assert amount.checks[0].args == InRange(
        min_value=0, max_value=100, include_max=False
    )
    assert amount.checks[1].custom
    assert base.row_checks[0].reason_column == "count_1h,count_24h,count_7d"
    assert parse_contract(base.to_yaml()) == base


def _mutate(path: str, value):
    data = base_data()
    node = data
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    last = keys[-1]
    if value is _DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return yaml.safe_dump(data)


_DELETE = object()

MALFORMED = {
    "missing_owner": ("owner", _DELETE, "owner"),
    "extra_field": ("surprise", 1, "surprise"),
    "bad_semver": ("version", "1.0", "version"),
    "float_version": ("version", 1.0, "version"),
    "bad_freshness": ("freshness", "7 days", "freshness"),
    "zero_freshness": ("freshness", "0h", "freshness"),
    # timedelta() raised OverflowError, no ValueError: a traceback, not one line.
    "huge_freshness": ("freshness", "99999999999999d", "freshness"),
    # Fits a timedelta, not a protobuf Duration (GetContract sends one).
    "freshness_past_10000_years": ("freshness", "999999999d", "freshness"),
    "ratio_above_one": ("max_failure_ratio", 1.5, "max_failure_ratio"),
    "unknown_type": ("columns.1.type", "datetime", "columns[event_timestamp].type"),
    "nullable_not_bool": ("columns.3.nullable", "yes", "columns[amount].nullable"),
    "unknown_check": (
        "columns.4.checks",
        [{"greater_thn": 0}],
        "columns[count_1h].checks[0]",
    ),
    "unknown_custom": ("columns.4.checks", [{"custom": "nope"}], "columns[count_1h]"),
    "check_two_keys": (
        "columns.4.checks",
        [{"greater_than": 0, "less_than": 3}],
        "columns[count_1h].checks[0]",
    ),
    "check_wrong_value_type": (
        "columns.4.checks",
        [{"greater_than": "zero"}],
        "columns[count_1h]",
    ),
    "str_check_on_int": (
        "columns.4.checks",
        [{"str_matches": "^a"}],
        "columns[count_1h]",
    ),
    "bad_regex": ("columns.7.checks", [{"str_matches": "("}], "columns[code]"),
    "in_range_reversed": (
        "columns.3.checks",
        [{"in_range": {"min_value": 5, "max_value": 1}}],
        "columns[amount].checks[0]",
    ),
    # NaN compares false with everything: every non-null value failed.
    "nan_bound": (
        "columns.4.checks",
        [{"greater_than": float("nan")}],
        "columns[count_1h].checks[0]",
    ),
    "nan_in_range": (
        "columns.3.checks",
        [{"in_range": {"min_value": float("nan"), "max_value": 1}}],
        "columns[amount].checks[0]",
    ),
    "nan_in_isin": (
        "columns.3.checks",
        [{"isin": [1.0, float("nan")]}],
        "columns[amount].checks[0]",
    ),
    "nan_equal_to": (
        "columns.3.checks",
        [{"equal_to": float("nan")}],
        "columns[amount].checks[0]",
    ),
    # A bound no finite value passes.
    "infinite_lower_bound": (
        "columns.3.checks",
        [{"greater_than_or_equal_to": float("inf")}],
        "columns[amount].checks[0]",
    ),
    "infinite_upper_bound": (
        "columns.3.checks",
        [{"less_than": float("-inf")}],
        "columns[amount].checks[0]",
    ),
    "infinite_in_range": (
        "columns.3.checks",
        [{"in_range": {"min_value": float("inf"), "max_value": float("inf")}}],
        "columns[amount].checks[0]",
    ),
    "duplicate_check": (
        "columns.4.checks",
        [{"greater_than": 0}, {"greater_than": 1}],
        "columns[count_1h]",
    ),
    "key_missing": ("entity_keys", ["nope"], "<root>"),
    "key_nullable": ("columns.0.nullable", True, "<root>"),
    "unknown_row_check": (
        "row_checks",
        [{"sorted": ["count_1h", "count_7d"]}],
        "row_checks",
    ),
    "row_check_unknown_column": (
        "row_checks",
        [{"windows_nested": ["count_1h", "nope"]}],
        "<root>",
    ),
    "row_check_mixed_types": (
        "row_checks",
        [{"windows_nested": ["count_1h", "event_timestamp"]}],
        "<root>",
    ),
    "empty_columns": ("columns", [], "columns"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_contract_names_file_and_field(case):
    path, value, field = MALFORMED[case]
    with pytest.raises(ContractFormatError) as info:
        parse_contract(_mutate(path, value), "spend/1.0.0.yaml")
    err = info.value
    assert err.reason is ContractErrorReason.INVALID_FIELD
    assert err.metadata["file"] == "spend/1.0.0.yaml"
    assert err.metadata["field"].startswith(field)
    assert "\n" not in str(err)
    assert str(err).startswith("spend/1.0.0.yaml: ")


@pytest.mark.parametrize(
    "text",
    [
        "name: [unclosed",
        "- a list",
        "name: a\nname: b\n",
        "",
        "'just text'",
        # PyYAML's composer recursed into a RecursionError (no YAMLError).
        "a: " + "[" * 2000 + "]" * 2000,
        # Loaded, but deeper than anything downstream should have to recurse.
        "a: " + "[" * 65 + "]" * 65,
        "a: &loop [*loop]",
    ],
)
def test_invalid_yaml(text):
    with pytest.raises(ContractFormatError) as info:
        parse_contract(text, "x.yaml")
    assert info.value.reason is ContractErrorReason.INVALID_YAML
    assert "\n" not in str(info.value)


def test_semver_precedence():
    order = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0",
        "1.2.0",
        "1.10.0",
        "2.0.0",
    ]
    parsed = [Version.parse(v) for v in order]
    assert sorted(reversed(parsed)) == parsed
    assert str(Version.parse("1.2.3-rc.1+b5")) == "1.2.3-rc.1+b5"
    with pytest.raises(ValueError):
        Version.parse("01.0.0")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", timedelta(days=7)),
        ("36h", timedelta(hours=36)),
        ("90m", timedelta(minutes=90)),
        ("1d12h", timedelta(hours=36)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "check",
    [
        {"greater_than": float("-inf")},  # fails -inf only
        {"less_than_or_equal_to": float("inf")},
        {"in_range": {"min_value": 0, "max_value": float("inf")}},
    ],
)
def test_infinite_bounds_that_finite_values_pass_are_kept(check):
    data = base_data()
    data["columns"][3]["checks"] = [check]
    contract = parse_contract(yaml.safe_dump(data))
    assert parse_contract(contract.to_yaml()) == contract


def test_durations_reach_10000_years_and_no_further():
    assert parse_duration("3652500d") == timedelta(days=3652500)
    with pytest.raises(ValueError, match="at most 10000 years"):
        parse_duration("3652500d1s")
