"""The local CSV reader of `contracts validate`; the oracle test runs Spark
(tests/integration/spark/test_validate_csv_like_spark.py), these pin its answers."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from featurestore.services.cli import _spark_csv as spark_csv
from featurestore.services.cli import cli

CONTRACTS = Path(__file__).resolve().parents[3] / "feature_repo" / "contracts"
HEADER = (
    "merchant_id,event_timestamp,created_timestamp,txn_count_30d,"
    "fraud_count_30d,fraud_rate_30d"
)


@pytest.mark.parametrize(
    ("parse", "cell", "spark"),
    [
        (spark_csv.parse_long, "+5", 5),
        (spark_csv.parse_long, "0x10", None),
        (spark_csv.parse_long, "9223372036854775808", None),
        (spark_csv.parse_double, "1.5d", 1.5),
        (spark_csv.parse_double, " 1.5 ", 1.5),
        (spark_csv.parse_double, "Inf", math.inf),
        (spark_csv.parse_double, "inf", None),
        (spark_csv.parse_double, "0x1p3", 8.0),
        (spark_csv.parse_bool, "TRUE", True),
        (spark_csv.parse_bool, "1", None),
        (spark_csv.parse_bool, "yes", None),
        (spark_csv.parse_date, "2026-1-5", 20458),
        (spark_csv.parse_date, "2026-11-01T10:00:00", 20758),
        (spark_csv.parse_date, "10000-01-01", 2932897),
        (spark_csv.parse_date, "2026/11/01", None),
        (spark_csv.parse_timestamp, "2026-11-01T00:00:00.1234567Z", 1793491200123456),
        (spark_csv.parse_timestamp, "2026-11-01T00:00Z", None),
        (spark_csv.parse_timestamp, "2026-11-01 00:00:00 +01:00", 1793487600000000),
        (spark_csv.parse_timestamp, "2026-11-01T00:00:00+19:00", None),
        (
            spark_csv.parse_timestamp,
            "2026-11-01T00:00:00America/New_York",
            1793505600000000,
        ),
    ],
)
def test_cells_parse_as_spark_read_them(parse, cell, spark) -> None:
    # Answers taken from Spark 4.2 (spark.read.csv with the contract's schema).
    assert parse(cell) == spark


def test_naive_times_are_utc_whatever_the_process_time_zone() -> None:
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Kolkata"
    time.tzset()
    try:
        assert spark_csv.parse_timestamp("2026-11-01 00:00:00") == 1793491200000000
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


@pytest.mark.parametrize(
    "cell", ['"a""b"', '"a\\"b"', '"a"b', '"multi\nline"'], ids=repr
)
def test_validate_refuses_what_spark_reads_otherwise(tmp_path: Path, cell) -> None:
    csv = tmp_path / "rows.csv"
    row = f"{cell},2026-11-01T00:00:00Z,2026-11-01T00:00:00Z,4,0,0.5"
    csv.write_text(
        f"{HEADER}\nM0001,2026-11-01T00:00:00Z,2026-11-01T00:00:00Z,4,0,0.5\n{row}\n"
    )
    args = ["contracts", "--root", str(CONTRACTS), "validate", str(csv)]
    result = CliRunner().invoke(cli, [*args, "--contract", "merchant_risk"])
    assert result.exit_code == 2
    # output: stderr with click 8.2, stdout and stderr mixed with 8.1 (lowest).
    assert "CSV_NOT_LIKE_SPARK" in result.output
    assert "line 3" in result.output


def test_a_quoted_blank_is_null_as_spark_reads_it(tmp_path: Path) -> None:
    from featurestore.services.contracts import ContractRegistry

    csv = tmp_path / "rows.csv"
    csv.write_text(f'{HEADER}\n"",2026-11-01T00:00:00Z,2026-11-01,"",0,""\n')
    contract = ContractRegistry(CONTRACTS).get("merchant_risk")
    table = spark_csv.read_csv(csv, contract)
    assert table.to_pylist()[0] == {
        "merchant_id": None,
        "event_timestamp": table.column(1)[0].as_py(),
        "created_timestamp": table.column(2)[0].as_py(),
        "txn_count_30d": None,
        "fraud_count_30d": 0,
        "fraud_rate_30d": None,
    }
    assert table.column(1).equals(table.column(2))
