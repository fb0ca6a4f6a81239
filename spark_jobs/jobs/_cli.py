"""Shared command-line plumbing for the jobs: arguments, run ids, exit codes."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import get_args

from featurestore.services.contracts import ContractError, ContractRegistry
from featurestore.services.project import ProjectError
from featurestore.spark_jobs.errors import SparkJobError, SparkUnavailableError
from featurestore.spark_jobs.paths import DataPaths
from featurestore.spark_jobs.publish import PublishMode, PublishReport

# The raw columns the built-in jobs read (transforms/clean.py and the features');
# build_merchant_risk reads merchant_id too.
TRANSACTION_COLUMNS = (
    "transaction_id",
    "customer_id",
    "amount",
    "status",
    "event_time",
    "ingest_time",
)
LABEL_COLUMNS = ("transaction_id", "is_fraud", "label_time")


def job_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """Arguments every feature job takes."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "--data-dir",
        default=None,
        help="data root holding raw/ and features/, a path or URI (default: the "
        "project's data_dir; $FS_DATA_DIR wins)",
    )
    parser.add_argument(
        "--mode",
        choices=get_args(PublishMode),
        default="overwrite",
        help="how the passing rows reach the table (default: overwrite)",
    )
    parser.add_argument(
        "--master",
        default=None,
        help="Spark master when run with python -m (default: $FS_SPARK_MASTER or "
        "local[*]); under spark-submit use its --master instead",
    )
    parser.add_argument("--run-id", default=None, help="run id (default: random)")
    parser.add_argument(
        "--contract-version",
        default=None,
        help="contract version to enforce (default: the latest)",
    )
    parser.add_argument(
        "--contracts-dir",
        type=Path,
        default=None,
        help="contract folder (default: $FS_CONTRACTS_DIR or the project's "
        "contracts_dir)",
    )
    return parser


def run_job(
    argv: list[str] | None,
    *,
    prog: str,
    description: str | None,
    contract_name: str,
    body: Callable[[argparse.Namespace, DataPaths, str], PublishReport],
) -> int:
    """Parse arguments, run ``body``, print a summary; return the exit code.

    Known failures (SparkJobError, ContractError, no project) print one line
    with the reason and exit 1 (2 when Spark cannot start: no Java, no jars);
    anything unexpected propagates with its traceback.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    args = job_parser(prog, description).parse_args(argv)
    run_id = args.run_id or uuid.uuid4().hex[:12]
    started = time.monotonic()
    try:
        paths = DataPaths.from_root(args.data_dir)
        registry = (
            ContractRegistry(args.contracts_dir)
            if args.contracts_dir
            else (ContractRegistry())
        )
        args.contract = registry.get(contract_name, args.contract_version)
        args.contracts = registry  # publish judges version bumps against it
        report = body(args, paths, run_id)
    except SparkUnavailableError as exc:  # an unusable setup, not a failed job
        print(f"{prog}: error [{exc.reason}] {exc}", file=sys.stderr)
        return 2
    except (SparkJobError, ContractError, ProjectError) as exc:
        reason = getattr(exc, "reason", type(exc).__name__)
        print(f"{prog}: error [{reason}] {exc}", file=sys.stderr)
        return 1
    summary = report.validation.summary()
    print(
        f"{contract_name}: published version {report.version} "
        f"(run {run_id}, {time.monotonic() - started:.1f}s): {json.dumps(summary)}"
    )
    return 0
