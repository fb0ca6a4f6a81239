"""generate_raw_events refuses counts and seeds numpy cannot take: usage, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from featurestore.spark_jobs.jobs import generate_raw_events


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--days", "0"),
        ("--days", "-3"),
        ("--customers", "0"),
        ("--customers", "-2"),
        ("--merchants", "0"),
        ("--transactions", "-5"),
        ("--seed", "-1"),
        ("--seed", str(2**32)),
    ],
)
def test_a_count_or_seed_out_of_range_is_one_usage_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    # It was a numpy ValueError traceback, exit 1 (only --transactions was checked).
    with pytest.raises(SystemExit) as info:
        generate_raw_events.main([flag, value, "--data-dir", str(tmp_path)])
    assert info.value.code == 2
    line = capsys.readouterr().err.splitlines()[-1]
    assert f"error: {flag} must be" in line
    assert not (tmp_path / "raw").exists()
