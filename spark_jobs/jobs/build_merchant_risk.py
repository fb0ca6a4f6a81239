"""Build the merchant_risk feature table from raw transactions and fraud labels."""

from __future__ import annotations

import argparse
import sys

from featurestore.spark_jobs.io import read_parquet
from featurestore.spark_jobs.jobs._cli import (
    LABEL_COLUMNS,
    TRANSACTION_COLUMNS,
    run_job,
)
from featurestore.spark_jobs.paths import DataPaths
from featurestore.spark_jobs.publish import PublishReport, publish
from featurestore.spark_jobs.session import build_spark_session
from featurestore.spark_jobs.transforms.clean import (
    approved_payments,
    deduplicate_transactions,
)
from featurestore.spark_jobs.transforms.merchant_risk import add_merchant_risk

JOB = "build_merchant_risk"


def _run(args: argparse.Namespace, paths: DataPaths, run_id: str) -> PublishReport:
    spark = build_spark_session(JOB, args.master)
    raw = read_parquet(
        spark, paths.raw_transactions, (*TRANSACTION_COLUMNS, "merchant_id")
    )
    labels = read_parquet(spark, paths.raw_labels, LABEL_COLUMNS)
    payments = approved_payments(deduplicate_transactions(raw))
    features = add_merchant_risk(payments, labels)
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
        contract_name="merchant_risk",
        body=_run,
    )


if __name__ == "__main__":
    sys.exit(main())
