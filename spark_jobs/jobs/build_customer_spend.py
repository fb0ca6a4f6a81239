"""Build the customer_spend feature table from raw transactions."""

from __future__ import annotations

import argparse
import sys

from featurestore.spark_jobs.io import read_parquet
from featurestore.spark_jobs.jobs._cli import TRANSACTION_COLUMNS, run_job
from featurestore.spark_jobs.paths import DataPaths
from featurestore.spark_jobs.publish import PublishReport, publish
from featurestore.spark_jobs.session import build_spark_session
from featurestore.spark_jobs.transforms.clean import (
    approved_payments,
    deduplicate_transactions,
)
from featurestore.spark_jobs.transforms.customer_spend import add_spend_windows

JOB = "build_customer_spend"


def _run(args: argparse.Namespace, paths: DataPaths, run_id: str) -> PublishReport:
    spark = build_spark_session(JOB, args.master)
    raw = read_parquet(spark, paths.raw_transactions, TRANSACTION_COLUMNS)
    payments = approved_payments(deduplicate_transactions(raw))
    features = add_spend_windows(payments)
    return publish(
        features, args.contract, paths, mode=args.mode, job=JOB, run_id=run_id,
        contracts=args.contracts,
    )  # fmt: skip


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Run the job; returns the process exit code.

    Args:
        argv: The job's arguments (default: the process's).
        prog: The command named in usage and errors (default: ``python -m
            featurestore.spark_jobs.jobs.<job>``).
    """
    return run_job(
        argv,
        prog=prog or f"python -m featurestore.spark_jobs.jobs.{JOB}",
        description=__doc__,
        contract_name="customer_spend",
        body=_run,
    )


if __name__ == "__main__":
    sys.exit(main())
