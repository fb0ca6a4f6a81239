"""Built-in jobs under `featurestore run` name themselves `featurestore run JOB`."""

from __future__ import annotations

from pathlib import Path

import pytest

from featurestore.services.cli import main


@pytest.mark.parametrize(
    "job",
    [
        "generate_raw_events",
        "build_customer_spend",
        "build_merchant_risk",
        "build_training_set",
    ],
)
def test_usage_and_errors_name_featurestore_run(
    elsewhere: Path, capsys: pytest.CaptureFixture[str], job: str
) -> None:
    # They read `python -m featurestore.spark_jobs.jobs.<job>: error ...`.
    assert main(["run", job, "--bogus"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: featurestore run {job} ")
    assert err.splitlines()[-1].startswith(f"featurestore run {job}: error: ")
    assert "python -m" not in err
