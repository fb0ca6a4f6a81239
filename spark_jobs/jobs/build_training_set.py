"""Build a point-in-time training set on Spark from a Feast repo's Delta views."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from deltalake import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from featurestore.services.offline.training_sets import (
    MARKER,
    OutputRefusedError,
    check_output,
)
from featurestore.services.storage import StorageOptions, absolute
from featurestore.spark_jobs.errors import SparkJobError
from featurestore.spark_jobs.io import read_parquet, write_delta
from featurestore.spark_jobs.pit.training_set import build_training_set_spark
from featurestore.spark_jobs.session import build_spark_session

JOB = "build_training_set"


def _parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or f"python -m featurestore.spark_jobs.jobs.{JOB}",
        description=__doc__,
    )
    parser.add_argument(
        "--entity-path",
        type=Path,
        required=True,
        help="entity rows: a parquet dataset or a Delta table",
    )
    parser.add_argument(
        "--feature-repo",
        type=Path,
        required=True,
        help="Feast repo folder (feature_store.yaml)",
    )
    wanted = parser.add_mutually_exclusive_group(required=True)
    wanted.add_argument("--features", help="comma-separated view:feature refs")
    wanted.add_argument("--feature-service", help="a feature service name")
    parser.add_argument(
        "--output", type=Path, required=True, help="Delta table to write (overwritten)"
    )
    parser.add_argument(
        "--as-known-at",
        action="store_true",
        help="only count feature rows created at or before t",
    )
    parser.add_argument("--full-feature-names", action="store_true")
    parser.add_argument("--timestamp-column", default=None)
    parser.add_argument(
        "--master",
        default=None,
        help="Spark master with python -m; spark-submit's wins",
    )
    return parser


def _read_entity(spark: SparkSession, path: Path) -> DataFrame:
    if (path / "_delta_log").is_dir():
        return spark.read.format("delta").load(str(path))
    return read_parquet(spark, path)


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Run the job, print the manifest JSON; returns the process exit code.

    Args:
        argv: The job's arguments (default: the process's).
        prog: The command named in usage and errors (default: ``python -m
            featurestore.spark_jobs.jobs.build_training_set``).
    """
    from feast import FeatureStore

    parser = _parser(prog)
    name = parser.prog
    args = parser.parse_args(argv)
    output, storage = absolute(str(args.output)), _storage(args.feature_repo)
    try:  # before any work: a feature table or any other data is never replaced
        check_output(output, "delta", True, None, storage)
    except OutputRefusedError as exc:
        print(
            f"{name}: error [{exc.reason}] cannot write {output}: {exc}",
            file=sys.stderr,
        )
        return 2
    spark = build_spark_session(JOB, args.master)
    try:
        store = FeatureStore(repo_path=str(args.feature_repo))
        features = args.feature_service or [
            f.strip() for f in args.features.split(",") if f.strip()
        ]
        result = build_training_set_spark(
            spark,
            store,
            _read_entity(spark, args.entity_path),
            features,
            as_known_at=args.as_known_at,
            full_feature_names=args.full_feature_names,
            timestamp_column=args.timestamp_column,
        )
        tables = {t.view: {"path": t.path, "version": t.version} for t in result.tables}
        metadata = {"job": JOB, "as_known_at": args.as_known_at, "tables": tables}
        write_delta(result.df, args.output, mode="overwrite", metadata=metadata)
    except SparkJobError as exc:
        print(f"{name}: error [{exc.reason}] {exc} {exc.metadata}", file=sys.stderr)
        return 1
    manifest = {
        "output": {
            "path": str(args.output),
            "version": DeltaTable(str(args.output)).version(),
        },
        "timestamp_column": result.timestamp_column,
        "as_known_at": args.as_known_at,
        "tables": tables,
    }
    text = json.dumps(manifest, sort_keys=True)
    # Marked as a training set (as the service marks its outputs): the next
    # run may replace it, and nothing else may.
    fs, where = storage.filesystem(output)
    with fs.open_output_stream(f"{where}/{MARKER}") as sink:
        sink.write(text.encode())
    print(text)
    return 0


def _storage(repo: Path) -> StorageOptions:
    """The project's object-storage options (none outside a project)."""
    from featurestore.services.project import Project, ProjectError

    try:
        return Project.load(repo).storage_options
    except ProjectError:
        return StorageOptions()


if __name__ == "__main__":
    sys.exit(main())
