"""Custom checks by reference (`check: module:function`), imported where they run."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from featurestore.services.contracts import ContractFormatError
from featurestore.services.contracts.errors import ContractErrorReason
from featurestore.services.contracts.model import parse_contract
from featurestore.services.contracts.verdict import row_reasons

CHECKS_PY = """
import pandas as pd

from featurestore.services.contracts.checks import CustomColumnCheck


def positive_amount(values: pd.Series) -> pd.Series:
    return values > 0


short_code = CustomColumnCheck(
    "short_code", lambda v: v.str.len() <= 2, frozenset({"string"})
)


def amount_below_limit(frame: pd.DataFrame, columns) -> pd.Series:
    amount, limit = columns
    return (frame[amount] <= frame[limit]) | frame[amount].isna()


NOT_A_CHECK = 3
"""

CONTRACT = """
name: payments
version: 1.0.0
owner: team@example.com
entity_keys: [customer_id]
event_timestamp: event_timestamp
created_timestamp: created_timestamp
freshness: 7d
max_failure_ratio: 0.5
columns:
  - {{name: customer_id, type: int64, nullable: false}}
  - {{name: event_timestamp, type: timestamp, nullable: false}}
  - {{name: created_timestamp, type: timestamp, nullable: false}}
  - {{name: amount, type: float64, nullable: true, checks: [{amount_check}]}}
  - {{name: limit, type: float64, nullable: false}}
  - {{name: code, type: string, nullable: true,
     checks: [{{check: {module}:short_code}}]}}
row_checks:
  - {module}:amount_below_limit: [amount, limit]
"""


@pytest.fixture
def module(tmp_path, monkeypatch) -> str:
    """A check module importable only through a folder put on sys.path."""
    name = f"user_checks_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(CHECKS_PY))
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def _contract(module: str, amount_check: str | None = None):
    check = amount_check or f"{{check: {module}:positive_amount}}"
    return parse_contract(CONTRACT.format(module=module, amount_check=check))


def test_referenced_checks_judge_rows(module):
    contract = _contract(module)
    stamps = pa.array(
        [datetime(2024, 1, 1, tzinfo=UTC)] * 4, pa.timestamp("us", tz="UTC")
    )
    batch = pa.table(
        {
            "customer_id": pa.array([1, 2, 3, 4], pa.int64()),
            "event_timestamp": stamps,
            "created_timestamp": stamps,
            "amount": pa.array([5.0, -1.0, None, 50.0]),
            "limit": pa.array([10.0, 10.0, 10.0, 10.0]),
            "code": pa.array(["ab", "abc", None, "x"]),
        }
    )
    got = [
        sorted((r["column"], r["check"]) for r in row)
        for row in row_reasons(contract, batch).to_pylist()
    ]
    assert got == [
        [],
        [("amount", f"{module}:positive_amount"), ("code", f"{module}:short_code")],
        [],
        [("amount,limit", f"{module}:amount_below_limit")],
    ]


def test_references_round_trip_through_yaml(module):
    contract = _contract(module)
    assert parse_contract(contract.to_yaml()) == contract
    assert {"check": f"{module}:positive_amount"} in contract.to_yaml_obj()["columns"][
        3
    ]["checks"]


@pytest.mark.parametrize(
    "bad",
    [
        "no_such_module_for_checks:positive_amount",
        "{module}:missing_function",
        "{module}:NOT_A_CHECK",
        "{module}:",
        "{module}:amount_below_limit.x",
    ],
)
def test_a_bad_reference_is_a_contract_error_naming_it(module, bad):
    ref = bad.format(module=module)
    with pytest.raises(ContractFormatError) as err:
        _contract(module, f"{{check: '{ref}'}}")
    assert err.value.reason == ContractErrorReason.INVALID_FIELD
    assert ref in err.value.metadata["detail"]


def test_a_column_check_reference_is_not_a_row_check(module):
    text = CONTRACT.format(
        module=module, amount_check=f"{{check: {module}:positive_amount}}"
    ).replace(
        f"{module}:amount_below_limit: [amount, limit]",
        f"{module}:short_code: [amount, limit]",
    )
    with pytest.raises(ContractFormatError) as err:
        parse_contract(text)
    assert f"{module}:short_code" in err.value.metadata["detail"]


def test_check_without_a_reference_is_refused(module):
    with pytest.raises(ContractFormatError) as err:
        _contract(module, "{check: finite}")
    assert err.value.reason == ContractErrorReason.INVALID_FIELD
