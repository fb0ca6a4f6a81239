"""The contract's `min_rows`: parsing, the per-batch rule and its compatibility."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from featurestore.services.contracts import (
    ContractErrorReason,
    ContractFormatError,
    parse_contract,
)
from featurestore.services.contracts.compat import (
    BumpProblem,
    ChangeKind,
    check_version_bump,
    compare,
)
from tests.unit.contracts._support import REPO_CONTRACTS, base_data

_ABSENT = object()


def _contract(min_rows: Any = _ABSENT, version: str = "1.0.0") -> Any:
    data = base_data()
    data["version"] = version
    if min_rows is not _ABSENT:
        data["min_rows"] = min_rows
    return parse_contract(yaml.safe_dump(data), "spend/1.0.0.yaml")


def test_absent_means_no_minimum_and_is_not_written_back():
    contract = _contract()
    assert contract.min_rows is None
    assert "min_rows" not in contract.to_yaml_obj()
    assert not contract.too_few_rows(0)
    for path in sorted(REPO_CONTRACTS.glob("*/*.yaml")):
        assert parse_contract(path.read_text(), path.name).min_rows is None


@pytest.mark.parametrize("value", [0, 1, 1000])
def test_a_non_negative_integer_parses_and_round_trips(value):
    contract = _contract(value)
    assert contract.min_rows == value
    assert contract.to_yaml_obj()["min_rows"] == value
    assert parse_contract(contract.to_yaml(), "again.yaml") == contract


@pytest.mark.parametrize(
    ("bad", "good"),
    [(-1, 0), (1.0, 1), (2.5, 2), (True, 1), (False, 0), ("10", 10), ([1], 1)],
)
def test_a_bad_value_is_an_invalid_field_naming_min_rows(bad, good):
    # The value next to it parses: the field is known, the value is wrong.
    assert _contract(good).min_rows == good
    with pytest.raises(ContractFormatError) as info:
        _contract(bad)
    err = info.value
    assert err.reason is ContractErrorReason.INVALID_FIELD
    assert err.metadata["field"] == "min_rows"
    assert err.metadata["file"] == "spend/1.0.0.yaml"
    assert "\n" not in str(err)


@pytest.mark.parametrize(
    ("min_rows", "rows", "too_few"),
    [(None, 0, False), (0, 0, False), (3, 2, True), (3, 3, False), (3, 4, False)],
)
def test_a_batch_is_too_small_only_below_min_rows(min_rows, rows, too_few):
    assert _contract(min_rows).too_few_rows(rows) is too_few


@pytest.mark.parametrize(
    ("before", "after", "detail"),
    [
        (_ABSENT, 1, "min_rows none -> 1"),
        (1, 100, "min_rows 1 -> 100"),
        (100, 1, "min_rows 100 -> 1"),
        (100, _ABSENT, "min_rows 100 -> none"),
    ],
)
def test_changing_min_rows_is_compatible_a_minor_bump(before, after, detail):
    old = _contract(before)
    changes = compare(old, _contract(after, "1.1.0"))
    assert [(c.kind, c.column, c.detail, c.breaking) for c in changes] == [
        (ChangeKind.MIN_ROWS_CHANGED, "", detail, False)
    ]
    assert changes[0].severity == "non-breaking"
    assert check_version_bump(old, _contract(after, "1.1.0")) == []
    same = check_version_bump(old, _contract(after, "1.0.0"))
    assert [p.problem for p in same] == [BumpProblem.VERSION_NOT_INCREASED]


def test_an_equal_min_rows_is_no_change():
    assert compare(_contract(5), _contract(5, "1.0.1")) == []
    assert compare(_contract(), _contract(None, "1.0.1")) == []
