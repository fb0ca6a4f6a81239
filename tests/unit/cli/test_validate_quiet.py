"""contracts validate prints no library warnings on a normal run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CONTRACTS = Path(__file__).resolve().parents[3] / "feature_repo" / "contracts"
_HEADER = (
    "customer_id,event_timestamp,created_timestamp,spend_1h,count_1h,"
    "spend_24h,count_24h,spend_7d,count_7d\n"
)
_T = "2026-01-01T00:00:00Z"


def test_failing_rows_print_no_pandera_future_warning(tmp_path: Path) -> None:
    # pandera's lazy report concatenated all-NA failure frames and pandas
    # printed a FutureWarning (error_formatters.py:314) on stderr. The
    # process runs with Python's default warning filters, not pytest's.
    rows = tmp_path / "v.csv"
    rows.write_text(
        _HEADER
        + f"1,{_T},{_T},-5,1,1,1,1,1\n"
        + f",{_T},{_T},5,1,1,1,1,1\n"
        + f"1,{_T},{_T},-5,1,1,1,1,1\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    proc = subprocess.run(
        [sys.executable, "-m", "featurestore.services.cli", "contracts",
         "validate", str(rows), "--contract", "customer_spend", "--root",
         str(CONTRACTS)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "FAILED spend_1h:greater_than_or_equal_to\t2" in proc.stdout
    assert proc.stderr == ""
