"""A CSV that is not UTF-8 is refused (CSV_NOT_LIKE_SPARK) with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from featurestore.services.cli import main

CONTRACTS = Path(__file__).resolve().parents[3] / "feature_repo" / "contracts"
HEADER = b"merchant_id,event_timestamp,created_timestamp,txn_count_30d"
ROW = b"M1,2026-11-01T00:00:00Z,2026-11-01T00:00:00Z,1"


@pytest.mark.parametrize(
    ("rows", "line"),
    [
        # In a column the contract lacks it was read as U+FFFD, unnoticed.
        ([HEADER + b",note", ROW + b",ok", ROW + b",caf\xe9"], 3),
        # In a contract column: "cannot read ... as CSV: invalid UTF8 data".
        ([HEADER, ROW, ROW, b"M\xff," + ROW.split(b",", 1)[1]], 4),
        ([HEADER, b"M\xe9" + ROW[2:]], 2),
    ],
)
def test_a_byte_that_is_not_utf8_is_refused_naming_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: list[bytes], line: int
) -> None:
    csv = tmp_path / "rows.csv"
    csv.write_bytes(b"\r\n".join(rows) + b"\n")
    code = main(["contracts", "validate", str(csv), "--contract", "merchant_risk",
                 "--root", str(CONTRACTS)])  # fmt: skip
    assert code == 2
    [err] = capsys.readouterr().err.splitlines()
    assert "CSV_NOT_LIKE_SPARK" in err and f"line {line} " in err
