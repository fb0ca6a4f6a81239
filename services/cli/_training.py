"""``featurestore training-set``: a point-in-time training set and its manifest."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

import click

from featurestore.services.cli._common import (
    announce_found_project,
    default_repo,
    echo_json,
    json_option,
    project_of,
    repo_option,
    spinner,
    usage_error,
)
from featurestore.services.cli._rows import project_storage, read_rows

if TYPE_CHECKING:
    import pyarrow as pa

    from featurestore.services.offline import (
        HistoricalResult,
        Manifest,
        OfflineStoreError,
    )
    from featurestore.services.offline.training_sets import Naming
    from featurestore.services.project import Project
    from featurestore.services.storage import StorageOptions

Format = Literal["parquet", "delta"]
_BATCH_ROWS = 65_536


def manifest_path(out: str) -> str:
    """Where the manifest of the training set at ``out`` (path or URI) goes."""
    return out.rstrip("/") + ".manifest.json"


@click.command("training-set")
@click.option(
    "--entities",
    required=True,
    help="entity rows: Parquet or .csv with join keys and a tz-aware timestamp; "
    "a path or URI (s3://..., with the project's storage_options)",
)
@click.option("--features", default=None, help="feature refs view:feature,...")
@click.option("--feature-service", default=None, help="a feature service name")
@click.option(
    "--out",
    required=True,
    help="output path or URI (s3://bucket/p/x, with the project's storage_options); "
    "never a feature table or a file other than a training set",
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
    default=None,
    help="rebuild from a manifest (the same Delta versions), no registry needed; "
    "a path or URI (s3://..., with the project's storage_options); with --repo "
    "its tables are read in that project (moved or copied), else where recorded",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="replace the training set at OUT (Parquet or Delta, as written by this "
    "command or the server); without it an existing OUT is refused",
)
@click.option("--full-feature-names", is_flag=True, help="name columns view__feature")
@click.option(
    "--as-known-at", is_flag=True, help="only feature rows created by each row's time"
)
@click.option(
    "--timestamp-column",
    default=None,
    help="the entity rows' time column [default: event_timestamp, else the rows' "
    "only timestamp column]",
)
@repo_option()
@json_option
def training_set(
    entities: str, features: str | None, feature_service: str | None, out: str,
    fmt: Format, replay: str | None, overwrite: bool, full_feature_names: bool,
    as_known_at: bool, timestamp_column: str | None, repo: Path | None,
    as_json: bool,
) -> None:  # fmt: skip
    """Join features onto entity rows as of each row's time; write the rows to
    OUT and the manifest (Delta versions read) to OUT.manifest.json.

    In this process, through the Delta offline store: no server needed. The
    manifest also goes inside OUT (the Parquet footer, or a file in the Delta
    folder), as the server writes training sets. OUT is only ever a new path or
    a training set of the same format, replaced with --overwrite: a feature
    table, any other file or folder, or a path inside one is refused before
    any work (exit 2), as GetHistoricalFeatures refuses such an output_path.
    """
    from featurestore.services.offline import OfflineStoreError
    from featurestore.services.offline.training_sets import OutputRefusedError
    from featurestore.services.storage import absolute

    if replay is not None and (features or feature_service or timestamp_column):
        raise click.UsageError(
            "--replay takes no --features/--feature-service/--timestamp-column "
            "(the manifest names them)"
        )
    out = absolute(out)
    storage = project_storage(repo)
    try:
        # A CSV keeps as text the join keys the join will compare with text:
        # a replay reads the CSV as its build did, without the registry.
        replayed = _manifest(replay, storage, repo) if replay is not None else None
        project = _replay_project(repo) if replayed is not None else None
        keys = KeyColumns(set(), set())
        if entities.lower().endswith(".csv"):
            keys = (
                _key_columns(repo, features, feature_service)
                if replayed is None
                else _replay_key_columns(replayed, storage, project)
            )
        entity = read_rows(
            entities, storage, named=f"--entities {entities}",
            text=keys.text, integers=keys.integers,
        )  # fmt: skip
    except OfflineStoreError as exc:  # STORAGE_UNAVAILABLE
        raise usage_error(_said(exc)) from exc
    if entity.num_rows == 0:  # as GetHistoricalFeatures refuses them
        raise usage_error(f"--entities {entities} has no rows: nothing to join")
    _check_out(out, fmt, overwrite, storage)
    announce_found_project(repo)  # once the arguments hold: the work starts
    try:
        if replayed is not None:
            manifest = replayed
            with spinner("replaying"):
                from featurestore.services.offline import replay as replay_rows

                _warn_unreferenced(manifest, repo)
                table = replay_rows(manifest, entity, storage, project)
                reader = table.to_reader(_BATCH_ROWS)
                _write(reader, out, fmt, manifest, storage, overwrite)
            rows = table.num_rows
        else:
            result = _join(
                entity, features, feature_service, repo or default_repo(),
                full_feature_names=full_feature_names, as_known_at=as_known_at,
                timestamp_column=timestamp_column,
            )  # fmt: skip
            manifest, rows = result.manifest, result.rows.num_rows
            with spinner(f"writing {rows} rows"):
                reader = result.rows.reader(_BATCH_ROWS)
                _write(reader, out, fmt, manifest, storage, overwrite)
        _write_text(manifest_path(out), manifest.to_json() + "\n", storage)
    except OfflineStoreError as exc:
        hint = _replay_hint(exc, replay, repo)
        raise usage_error(_said(exc) + hint) from exc
    except OutputRefusedError as exc:
        raise usage_error(f"{exc.reason}: cannot write {out}: {exc}") from exc
    except OSError as exc:  # --out in a folder that cannot be made or written
        raise usage_error(f"cannot write {out}: {exc}") from exc
    summary = {
        "rows": rows,
        "out": out,
        "format": fmt,
        "manifest": manifest_path(out),
        "tables": {t.view: t.version for t in manifest.tables},
    }
    if as_json:
        echo_json(summary)
    else:
        click.echo(f"wrote {rows} rows to {out}; manifest {summary['manifest']}")


def _replay_project(repo: Path | None) -> Project | None:
    """The project a replay reads the manifest's table references in: the one
    --repo names (a moved or copied project); without --repo the tables are
    read where the manifest recorded them."""
    return None if repo is None else project_of(repo)


def _replay_hint(exc: OfflineStoreError, replay: str | None, repo: Path | None) -> str:
    """What to do when a replay without --repo finds no table where the
    manifest recorded it (the project moved)."""
    if replay is None or repo is not None or exc.reason.value != "TABLE_NOT_FOUND":
        return ""
    return ": pass --repo DIR of the project holding the tables now"


def _warn_unreferenced(manifest: Manifest, repo: Path | None) -> None:
    """Say once that --repo moves none of a manifest's plain-path tables."""
    if repo is None:
        return
    for read in manifest.tables:
        if read.table is None:
            click.echo(
                f"warning: the manifest names feature view {read.view!r}'s table "
                f"by its location, not a table reference (written before they "
                f"were recorded, or a plain-path source): read at {read.path}, "
                f"not in --repo {repo}",
                err=True,
            )


def _said(exc: OfflineStoreError) -> str:
    """The error as the command prints it: the message names a feature view's
    table by the view (as the server does); this user reads the data
    directly, so the table's location is added."""
    where = f" (table {exc.location})" if exc.location else ""
    return f"{exc.reason.value}: {exc}{where}"


def _join(
    entity: pa.Table,
    features: str | None,
    feature_service: str | None,
    repo: Path,
    *,
    full_feature_names: bool,
    as_known_at: bool,
    timestamp_column: str | None,
) -> HistoricalResult:
    if (features is None) == (feature_service is None):
        raise click.UsageError("give --features or --feature-service (one of them)")
    refs = [f.strip() for f in (features or "").split(",") if f.strip()]
    if features is not None and not refs:
        raise click.UsageError("--features names no feature (view:feature,...)")
    from featurestore.services.cli._feast import feature_store
    from featurestore.services.offline import (
        HistoricalRequest,
        get_historical_features,
    )

    store = feature_store(repo)
    wanted = feature_service or refs
    request = HistoricalRequest(
        entity=entity,
        features=wanted,
        full_feature_names=full_feature_names,
        as_known_at=as_known_at,
        timestamp_column=timestamp_column,
    )
    with spinner("joining"):
        return get_historical_features(store, request)


class KeyColumns(NamedTuple):
    """The entity columns of a CSV read by their join keys' types."""

    text: set[str]
    """String join keys: kept as text (``007`` is not 7)."""
    integers: set[str]
    """Integer join keys: read as int64, a cell that is none named (a value
    past int64 was read as a double, then refused as the wrong key type)."""


def _key_columns(
    repo: Path | None, features: str | None, feature_service: str | None
) -> KeyColumns:
    """The entity columns a CSV must read by their join key's type: those
    holding a join key of a view read (its name under a feature service's
    join-key map). An unknown view or service, or a repo that does not load,
    gives none here: the join says what is wrong, after the other arguments
    are checked."""
    from feast import ValueType

    from featurestore.services.cli._feast import feature_store
    from featurestore.services.offline import OfflineStoreError
    from featurestore.services.offline.refs import resolve_views

    wanted = feature_service or [f.strip() for f in (features or "").split(",")]
    try:
        _, views = resolve_views(feature_store(repo or default_repo()), wanted)
    except (OfflineStoreError, click.ClickException):  # reported by the join
        return KeyColumns(set(), set())
    keys = KeyColumns(set(), set())
    for fv, _ in views.values():
        for c in fv.entity_columns:
            name = fv.projection.join_key_map.get(c.name, c.name)
            kind = c.dtype.to_value_type()
            if kind == ValueType.STRING:
                keys.text.add(name)
            elif kind in (ValueType.INT64, ValueType.INT32):
                keys.integers.add(name)
    return keys


def _replay_key_columns(
    manifest: Manifest, storage: StorageOptions, project: Project | None
) -> KeyColumns:
    """The entity columns a CSV must read by type for a replay: those whose
    key column holds strings (text) or integers (int64) in the table version
    the manifest read (what the replay's join compares them with), under
    their entity-side names. A table that cannot be opened gives none here:
    the replay says what is wrong."""
    import pyarrow as pa
    from deltalake.exceptions import DeltaError

    from featurestore.services.offline import OfflineStoreError
    from featurestore.services.offline.historical import replay_location
    from featurestore.services.offline.snapshot import open_table

    keys = KeyColumns(set(), set())
    for read in manifest.tables:
        try:
            dt = open_table(replay_location(read, project), storage, read.version)
        except (OfflineStoreError, DeltaError):
            continue
        schema = pa.schema(dt.schema().to_arrow())
        source = {feature: column for column, feature in read.rename.items()}
        for entity_column, key in read.entity_key_map.items():
            column = source.get(key, key)
            kind = schema.field(column).type if column in schema.names else None
            if kind is not None and (
                pa.types.is_string(kind) or pa.types.is_large_string(kind)
            ):
                keys.text.add(entity_column)
            elif kind is not None and pa.types.is_integer(kind):
                keys.integers.add(entity_column)
    return keys


def _manifest(location: str, storage: StorageOptions, repo: Path | None) -> Manifest:
    """The manifest at ``location`` (a path, or a URI read with ``storage``);
    anything else is a usage error, as is one whose tables cannot be located
    (an answered manifest names them by reference only: with ``repo``).

    Raises:
        StorageUnavailableError: the object store did not answer or refused.
    """
    import pyarrow.fs as pafs

    from featurestore.services.offline import Manifest
    from featurestore.services.offline.errors import storage_unavailable
    from featurestore.services.storage import is_local, local_path

    if is_local(location) and not Path(local_path(location)).is_file():
        raise usage_error(f"--replay {location}: no such manifest file")
    fs, where = storage.filesystem(location)  # ObjectUriError: its own line
    try:
        with storage_unavailable(location):
            info = fs.get_file_info(where)
            if info.type != pafs.FileType.File:
                raise usage_error(f"--replay {location}: no such manifest file")
            with fs.open_input_stream(where) as source:
                text = source.read().decode("utf-8")
        manifest = Manifest.from_json(text)
    except ValueError as exc:  # not UTF-8, not JSON, or JSON of another shape
        raise usage_error(
            f"--replay {location} is not a training-set manifest (OUT.manifest.json "
            f"as training-set writes it): {exc}"
        ) from exc
    located = (t.path or (repo is not None and t.table) for t in manifest.tables)
    if not all(located):
        by_name = all(t.table for t in manifest.tables)
        raise usage_error(
            f"--replay {location} names no table locations (the manifest of a "
            "GetHistoricalFeatures answer): "
            + ("pass --repo DIR of the project holding its tables, " if by_name else "")
            + "replay it through the server with its versions as pins, or replay "
            "the manifest written beside the output"
        )
    return manifest


def _check_out(out: str, fmt: Format, overwrite: bool, storage: StorageOptions) -> None:
    """Refuse an --out that may not be written, before any work: the service's
    rule for output_path (services/offline/training_sets.py), anywhere."""
    from featurestore.services.offline import OfflineStoreError
    from featurestore.services.offline.training_sets import (
        OutputRefusedError,
        check_output,
    )
    from featurestore.services.storage import is_local, local_path

    if is_local(out):
        where = Path(local_path(out))
        if fmt == "parquet" and where.is_dir():
            raise usage_error(f"--out {out} is a folder; give a file path for Parquet")
        if fmt == "delta" and where.is_file():
            raise usage_error(
                f"--out {out} is a file; give a folder path for Delta "
                "(a Delta table is a folder)"
            )
        if Path(manifest_path(str(where))).is_dir():
            raise usage_error(f"{manifest_path(out)} (the manifest) is a folder")
    try:
        check_output(out, fmt, overwrite, None, storage, _naming())
    except OutputRefusedError as exc:
        raise usage_error(f"{exc.reason}: cannot write {out}: {exc}") from exc
    except OfflineStoreError as exc:  # STORAGE_UNAVAILABLE: the store's failure
        raise usage_error(_said(exc)) from exc
    except OSError as exc:  # a local folder on the way that cannot be read
        raise usage_error(f"cannot check --out {out}: {exc}") from exc


def _naming() -> Naming:
    from featurestore.services.offline.training_sets import Naming

    return Naming(output="--out", overwrite="pass --overwrite")


def _write(
    reader: pa.RecordBatchReader,
    out: str,
    fmt: Format,
    manifest: Manifest,
    storage: StorageOptions,
    overwrite: bool,
) -> None:
    """Write the batches to ``out`` (a path or an object-store URI) with the
    manifest inside, as the server writes training sets."""
    from featurestore.services.offline.training_sets import write_training_set

    write_training_set(
        out, fmt, reader, manifest.to_json(), None, storage, _naming(),
        overwrite=overwrite,
    )  # fmt: skip


def _write_text(location: str, text: str, storage: StorageOptions) -> None:
    fs, where = storage.filesystem(location)
    with fs.open_output_stream(where) as sink:
        sink.write(text.encode("utf-8"))


COMMANDS = [training_set]
