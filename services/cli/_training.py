"""``featurestore training-set``: a point-in-time training set and its manifest."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import click

from featurestore.services.cli._common import (
    default_repo,
    echo_json,
    json_option,
    repo_option,
    spinner,
    usage_error,
)
from featurestore.services.cli._contracts import _read_rows

if TYPE_CHECKING:
    import pyarrow as pa

    from featurestore.services.offline import HistoricalResult

Format = Literal["parquet", "delta"]
_BATCH_ROWS = 65_536


def manifest_path(out: Path) -> Path:
    """Where the manifest of the training set at ``out`` goes."""
    return out.with_name(out.name + ".manifest.json")


@click.command(
    "training-set", short_help="A point-in-time training set and its manifest."
)
@click.option(
    "--entities",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    required=True,
    help="entity rows: Parquet or .csv with join keys and a tz-aware timestamp",
)
@click.option("--features", default=None, help="feature refs view:feature,...")
@click.option("--feature-service", default=None, help="a feature service name")
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="output path"
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["parquet", "delta"]),
    default="parquet",
    show_default=True,
)
@click.option(
    "--replay",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="rebuild from a manifest (the same Delta versions), no registry needed",
)
@click.option("--full-feature-names", is_flag=True, help="name columns view__feature")
@click.option(
    "--as-known-at", is_flag=True, help="only feature rows created by each row's time"
)
@repo_option()
@json_option
def training_set(
    entities: Path, features: str | None, feature_service: str | None, out: Path,
    fmt: Format, replay: Path | None, full_feature_names: bool, as_known_at: bool,
    repo: Path | None, as_json: bool,
) -> None:  # fmt: skip
    """Join features onto entity rows as of each row's time; write the rows to
    OUT and the manifest (Delta versions read) to OUT.manifest.json.

    In this process, through the Delta offline store: no server needed.
    """
    from featurestore.services.offline import Manifest, OfflineStoreError

    entity = _read_rows(entities)
    try:
        if replay is not None:
            if features or feature_service:
                raise click.UsageError("--replay takes no --features/--feature-service")
            manifest = Manifest.from_json(replay.read_text(encoding="utf-8"))
            with spinner("replaying"):
                from featurestore.services.offline import replay as replay_rows
                from featurestore.services.project import Project

                storage = Project.load(repo or default_repo()).storage_options
                table = replay_rows(manifest, entity, storage)
                _write_table(table, out, fmt)
            rows = table.num_rows
        else:
            result = _join(
                entity, features, feature_service, repo or default_repo(),
                full_feature_names=full_feature_names, as_known_at=as_known_at,
            )  # fmt: skip
            manifest, rows = result.manifest, result.rows.num_rows
            with spinner(f"writing {rows} rows"):
                _write_rows(result, out, fmt)
    except OfflineStoreError as exc:
        raise usage_error(f"{exc.reason.value}: {exc}") from exc
    manifest_path(out).write_text(manifest.to_json() + "\n", encoding="utf-8")
    summary = {
        "rows": rows,
        "out": str(out),
        "format": fmt,
        "manifest": str(manifest_path(out)),
        "tables": {t.view: t.version for t in manifest.tables},
    }
    if as_json:
        echo_json(summary)
    else:
        click.echo(f"wrote {rows} rows to {out}; manifest {summary['manifest']}")


def _join(
    entity: pa.Table,
    features: str | None,
    feature_service: str | None,
    repo: Path,
    *,
    full_feature_names: bool,
    as_known_at: bool,
) -> HistoricalResult:
    if (features is None) == (feature_service is None):
        raise click.UsageError("give --features or --feature-service (one of them)")
    with spinner(f"loading {repo}"):
        from feast import FeatureStore

        from featurestore.services.offline import (
            HistoricalRequest,
            get_historical_features,
        )

        try:
            store = FeatureStore(repo_path=str(repo))
        except Exception as exc:  # Feast raises many types for a bad repo
            raise usage_error(f"cannot load the Feast repo {repo}: {exc}") from exc
    wanted = feature_service or [f for f in (features or "").split(",") if f]
    request = HistoricalRequest(
        entity=entity,
        features=wanted,
        full_feature_names=full_feature_names,
        as_known_at=as_known_at,
    )
    with spinner("joining"):
        return get_historical_features(store, request)


def _write_rows(result: HistoricalResult, out: Path, fmt: Format) -> None:
    import pyarrow.parquet as pq
    from deltalake import write_deltalake

    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "delta":
        write_deltalake(
            str(out), result.rows.reader(_BATCH_ROWS), mode="overwrite",
            schema_mode="overwrite",
        )  # fmt: skip
        return
    with pq.ParquetWriter(out, result.rows.schema) as writer:
        for batch in result.rows.batches(_BATCH_ROWS):
            writer.write_batch(batch)


def _write_table(table: pa.Table, out: Path, fmt: Format) -> None:
    import pyarrow.parquet as pq
    from deltalake import write_deltalake

    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "delta":
        write_deltalake(str(out), table, mode="overwrite", schema_mode="overwrite")
    else:
        pq.write_table(table, out)


COMMANDS = [training_set]
