"""Build a point-in-time training set on Spark from a Feast repo's Delta views."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pyarrow.fs as pafs
from pyspark.sql import DataFrame, SparkSession

from featurestore.services.offline._publication import (
    publish_staged_folder,
    remove_stale_staging,
    remove_uncommitted_prefix,
    write_text_whole,
)
from featurestore.services.offline.training_sets import (
    DELTA,
    MARKER,
    OutputRefusedError,
    check_output,
)
from featurestore.services.storage import (
    StorageOptions,
    absolute,
    is_local,
    local_path,
)
from featurestore.spark_jobs.errors import SparkJobError
from featurestore.spark_jobs.io import latest_version, read_parquet, write_delta
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
        "--output",
        required=True,
        help="Delta training set to write: a path or an s3:// URI (a string: "
        "a Path folds s3://b into s3:/b); replaces only an earlier one",
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
        return _refused(name, output, exc)
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
        manifest = partial(_manifest, args, result.timestamp_column, tables)
        text = _publish(result.df, _Output(output, metadata, manifest, storage))
    except OutputRefusedError as exc:  # something else appeared there meanwhile
        return _refused(name, output, exc)
    except SparkJobError as exc:
        print(f"{name}: error [{exc.reason}] {exc} {exc.metadata}", file=sys.stderr)
        return 1
    print(text)
    return 0


def _refused(name: str, output: str, exc: OutputRefusedError) -> int:
    print(f"{name}: error [{exc.reason}] cannot write {output}: {exc}", file=sys.stderr)
    return 2


def _manifest(
    args: argparse.Namespace,
    timestamp_column: str,
    tables: Mapping[str, object],
    version: int | None,
) -> str:
    """The manifest JSON the job prints and marks its output with."""
    return json.dumps(
        {
            "output": {"path": str(args.output), "version": version},
            "timestamp_column": timestamp_column,
            "as_known_at": args.as_known_at,
            "tables": tables,
        },
        sort_keys=True,
    )


@dataclass(frozen=True)
class _Output:
    """Where the training set goes, and what its commits and marker carry."""

    location: str
    metadata: Mapping[str, object]
    """The commit's stamp (userMetadata)."""
    manifest: Callable[[int | None], str]
    """The manifest JSON for the output's version."""
    storage: StorageOptions

    def commit(self, df: DataFrame, location: str | None = None) -> str:
        """Commit ``df`` as the table at ``location`` (default: the output);
        the manifest naming the version committed."""
        where = location or self.location
        write_delta(df, where, mode="overwrite", metadata=self.metadata)
        return self.manifest(latest_version(df.sparkSession, where))


def _publish(df: DataFrame, out: _Output) -> str:
    """Write ``df`` as the training set ``out``, returning its manifest.

    The marker (the manifest in the folder) says it is a training set: the
    next run may replace it, and nothing else may. The service's publication
    rule (``services.offline._publication``): a training set already there
    gets a new version in place (a failed commit leaves the previous one);
    a new local output is written under a staging name beside it and
    published whole with its marker, so a failed or killed run leaves
    nothing at the output and no reader sees half of it. An object store has
    no rename: a new output is written in place, and a failed write removes
    its data files (when no table got committed there).
    """
    if not is_local(out.location):
        return _publish_object(df, out)
    target = Path(local_path(out.location))
    if (target / "_delta_log").is_dir():  # a training set: check_output said so
        text = out.commit(df)
        write_text_whole(target / MARKER, text)
        return text
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(target.parent)
    published: list[str] = []

    def write(staged: Path) -> None:
        published.append(out.commit(df, str(staged)))
        write_text_whole(staged / MARKER, published[-1])

    def taken(staged: Path) -> None:
        # A concurrent run published first: replace it as any re-run would
        # (from the staged copy), unless what is there is no training set.
        check_output(out.location, DELTA, True, None)
        published.append(
            out.commit(df.sparkSession.read.format("delta").load(str(staged)))
        )
        write_text_whole(target / MARKER, published[-1])

    publish_staged_folder(target, write, taken)
    return published[-1]


def _publish_object(df: DataFrame, out: _Output) -> str:
    """Write ``df`` as ``out`` on an object store in place, then its marker."""
    fs, key = out.storage.filesystem(out.location)
    new = fs.get_file_info(key).type == pafs.FileType.NotFound
    try:
        text = out.commit(df)
    except BaseException:
        if new:
            remove_uncommitted_prefix(out.location, out.storage)
        raise
    with fs.open_output_stream(f"{key}/{MARKER}") as sink:
        sink.write(text.encode())
    return text


def _storage(repo: Path) -> StorageOptions:
    """The project's object-storage options (none outside a project)."""
    from featurestore.services.project import Project, ProjectError

    try:
        return Project.load(repo).storage_options
    except ProjectError:
        return StorageOptions()


if __name__ == "__main__":
    sys.exit(main())
