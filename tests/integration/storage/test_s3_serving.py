"""The serving side on a real S3-compatible server: reads, manifests, lineage.

The project's data root is ``s3://bucket/prefix`` on the moto server the
harness starts; featurestore.yaml names the endpoint and reads the secret key
from an environment variable. Every answer is compared with the same request
over a local copy of the same tables (the local path is the reference).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import grpc
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from deltalake import CommitProperties, DeltaTable, write_deltalake

from featurestore.services.cli import cli
from featurestore.services.client import FeatureStoreClient
from featurestore.services.lineage import StorageUnavailableError as LineageDown
from featurestore.services.lineage import table_history
from featurestore.services.offline import (
    HistoricalRequest,
    Manifest,
    get_historical_features,
    replay,
)
from featurestore.services.offline.errors import StorageUnavailableError
from featurestore.services.offline.snapshot import read_snapshot
from featurestore.services.project import Project, ProjectConfigError
from featurestore.services.server.app import create_server
from featurestore.services.server.settings import ServerSettings
from featurestore.services.storage import StorageOptions
from tests.integration.serving._repo import NOW, TS
from tests.integration.storage._project import (
    SECRET_VARIABLE,
    apply,
    featurestore_yaml,
    write_project,
    write_tables,
)
from tests.s3_harness import SECRET_KEY, S3Server

pytestmark = [pytest.mark.integration]


@dataclass
class Side:
    """One project: its repo, data root and Feast store."""

    project: Project
    store: object


def _entities() -> pa.Table:
    customers = [3, 7, 21, 999, 3]
    merchants = ["M1", "M9", "M2", "M1", "M3"]
    times = [NOW, NOW, NOW, NOW, NOW - timedelta(minutes=90)]
    return pa.table(
        {
            "customer_id": pa.array(customers, pa.int64()),
            "merchant_id": pa.array(merchants, pa.string()),
            "event_timestamp": pa.array(times, TS),
        }
    )


@pytest.fixture
def s3_side(
    tmp_path: Path, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> Side:
    monkeypatch.delenv("FS_DATA_DIR", raising=False)
    monkeypatch.setenv(SECRET_VARIABLE, SECRET_KEY)
    root = s3_server.prefix("serving")
    repo = write_project(tmp_path / "s3", root, s3_server.options(inline_secret=False))
    project = Project.load(repo)
    write_tables(project)
    return Side(project, apply(repo))


@pytest.fixture
def local_side(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Side:
    monkeypatch.delenv("FS_DATA_DIR", raising=False)
    repo = write_project(tmp_path / "local", str(tmp_path / "local-data"))
    project = Project.load(repo)
    write_tables(project)
    return Side(project, apply(repo))


def _sorted(table: pa.Table) -> pa.Table:
    keys = [("customer_id", "ascending"), ("merchant_id", "ascending")]
    return table.sort_by([*keys, ("event_timestamp", "ascending")])


def test_the_registry_keeps_table_references_not_locations(s3_side: Side) -> None:
    view = s3_side.store.get_feature_view("customer_stats")  # type: ignore[attr-defined]
    assert view.batch_source.path == "featurestore://customer_stats"
    location = s3_side.project.resolve_source(view.batch_source.path)
    assert location == f"{s3_side.project.data_dir}/features/customer_stats"


def test_historical_join_over_s3_equals_the_local_one(
    s3_side: Side, local_side: Side
) -> None:
    request = HistoricalRequest(entity=_entities(), features="scoring")
    remote = get_historical_features(s3_side.store, request)  # type: ignore[arg-type]
    local = get_historical_features(local_side.store, request)  # type: ignore[arg-type]
    assert _sorted(remote.table).equals(_sorted(local.table))
    assert remote.table.column("spend").null_count < remote.table.num_rows
    paths = {t.view: t.path for t in remote.manifest.tables}
    assert paths["customer_stats"].startswith("s3://")
    assert [t.version for t in remote.manifest.tables] == [0, 0]


@pytest.mark.spark
def test_spark_training_set_over_s3a_equals_the_duckdb_join(
    spark, s3_side: Side
) -> None:
    from featurestore.spark_jobs.pit.training_set import build_training_set_spark

    entity = spark.createDataFrame(_entities())
    built = build_training_set_spark(spark, s3_side.store, entity, "scoring")
    assert [t.path.startswith("s3://") for t in built.tables] == [True, True]
    joined = pa.Table.from_pylist(built.df.toArrow().to_pylist())
    request = HistoricalRequest(entity=_entities(), features="scoring")
    reference = get_historical_features(s3_side.store, request)  # type: ignore[arg-type]
    expected = reference.table.select(joined.column_names)
    assert _sorted(joined).to_pylist() == _sorted(expected).to_pylist()
    assert [t.version for t in built.tables] == [0, 0]


@pytest.mark.spark
def test_spark_training_set_job_writes_an_s3_output_whole_or_not_at_all(
    spark, s3_side: Side, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --output was a pathlib.Path, which folds s3://b into s3:/b: the job wrote
    # a local folder named s3: instead. Now an s3:// output is written there,
    # and a first write that fails leaves no data files under its prefix.
    from py4j.protocol import Py4JJavaError

    from featurestore.services.offline.training_sets import MARKER
    from featurestore.spark_jobs.jobs import build_training_set

    monkeypatch.chdir(tmp_path)  # where a folded path would land
    monkeypatch.setenv("FS_REPO_PATH", str(s3_side.project.repo))
    entity = tmp_path / "entity"
    entity.mkdir()
    pq.write_table(_entities(), entity / "part-0.parquet")
    # Spark takes the schema from one file: this one fails in the write's tasks.
    bad = _entities().set_column(0, "customer_id", pa.array(["x"] * 5))
    pq.write_table(bad, entity / "part-1.parquet")
    output = f"{s3_side.project.data_dir}/training_sets/spark_job"
    argv = [
        *("--entity-path", str(entity), "--feature-service", "scoring"),
        *("--feature-repo", str(s3_side.project.repo), "--output", output),
    ]
    storage = s3_side.project.storage_options
    fs, key = storage.filesystem(output)

    with pytest.raises(Py4JJavaError, match="FAILED_READ_FILE"):
        build_training_set.main(argv)
    assert fs.get_file_info(key).type == pafs.FileType.NotFound

    (entity / "part-1.parquet").unlink()
    assert build_training_set.main(argv) == 0
    assert fs.get_file_info(f"{key}/{MARKER}").type == pafs.FileType.File
    written = read_snapshot(output, storage=storage).table
    expected = get_historical_features(
        s3_side.store,  # type: ignore[arg-type]
        HistoricalRequest(entity=_entities(), features="scoring"),
    ).table
    assert sorted(written.column_names) == sorted(expected.column_names)
    expected = expected.select(written.column_names)
    assert _sorted(written).to_pylist() == _sorted(expected).to_pylist()
    assert not (tmp_path / "s3:").exists()  # nothing written locally


@pytest.fixture
def s3_server_running(s3_side: Side) -> Iterator[tuple[FeatureStoreClient, str]]:
    settings = ServerSettings(
        repo_path=s3_side.project.repo, registry_refresh_seconds=0.2
    )
    running = create_server(settings, "127.0.0.1:0")
    client = FeatureStoreClient(f"127.0.0.1:{running.port}", timeout=60)
    yield client, s3_side.project.data_dir
    client.close()
    running.stop(0)


def test_server_writes_training_sets_with_manifests_to_s3_and_replays_them(
    s3_side: Side,
    s3_server: S3Server,
    s3_server_running: tuple[FeatureStoreClient, str],
) -> None:
    client, root = s3_server_running
    streamed = client.get_historical_features(
        _entities(),
        feature_service="scoring",
        output_path=f"{root}/training_sets/run1.parquet",
        output_format="parquet",
    )
    # The object holds the rows and the manifest in its footer.
    storage = s3_side.project.storage_options
    fs, key = storage.filesystem(f"{root}/training_sets/run1.parquet")
    with fs.open_input_file(key) as handle:
        written = pq.read_table(handle)
    assert written.equals(
        streamed.table.replace_schema_metadata(written.schema.metadata)
    )
    manifest = Manifest.from_json(
        written.schema.metadata[b"featurestore.training_set"].decode()
    )
    assert {t.path for t in manifest.tables} == {
        f"{root}/features/customer_stats",
        f"{root}/features/merchant_risk",
    }
    replayed = replay(manifest, _entities(), storage)
    assert _sorted(replayed).equals(_sorted(streamed.table))
    # A second write needs overwrite; the Delta format writes a table + marker.
    with pytest.raises(grpc.RpcError) as refused:
        client.get_historical_features(
            _entities(),
            feature_service="scoring",
            output_path=f"{root}/training_sets/run1.parquet",
            output_format="parquet",
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    client.get_historical_features(
        _entities(),
        feature_service="scoring",
        output_path=f"{root}/training_sets/run2",
        output_format="delta",
    )
    prefix = root.removeprefix(f"s3://{s3_server.bucket}/")
    keys = s3_server.keys(f"{prefix}/training_sets/run2")
    assert f"{prefix}/training_sets/run2/_featurestore_training_set.json" in keys
    assert any(k.endswith(".parquet") for k in keys)
    delta = DeltaTable(
        f"{root}/training_sets/run2", storage_options=storage.for_location(root)
    ).to_pyarrow_table()
    assert _sorted(delta).equals(_sorted(streamed.table))


def test_server_reads_entity_rows_from_s3_and_confines_them_by_prefix(
    s3_side: Side, s3_server_running: tuple[FeatureStoreClient, str]
) -> None:
    client, root = s3_server_running
    storage = s3_side.project.storage_options
    for where in (f"{root}/entities/labels", f"{root}2/entities/labels"):
        write_deltalake(where, _entities(), storage_options=storage.for_location(root))
    inside = client.get_historical_features(
        f"{root}/entities/labels", feature_service="scoring"
    )
    inline = client.get_historical_features(_entities(), feature_service="scoring")
    assert _sorted(inside.table).equals(_sorted(inline.table))
    for outside in (
        f"{root}2/entities/labels",  # a sibling prefix sharing the root's text
        f"{root}/entities/../../elsewhere",  # object stores keep ".." literally
    ):
        with pytest.raises(grpc.RpcError) as denied:
            client.get_historical_features(outside, feature_service="scoring")
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    for outside in (
        f"{root}/training_sets2/x.parquet",
        f"{root}/training_sets/../features/customer_stats",
        f"{root}/features/customer_stats",
    ):
        with pytest.raises(grpc.RpcError) as denied:
            client.get_historical_features(
                _entities(),
                feature_service="scoring",
                output_path=outside,
                output_format="delta",
            )
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED, outside


def test_lineage_of_an_s3_table_from_the_cli(
    s3_side: Side, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = s3_side.project
    location = project.table_uri("customer_stats")
    stamp = {"job": "nightly", "run_id": "r42", "contract": "customer_stats@1.2.0"}
    write_deltalake(
        location,
        pa.table({"customer_id": pa.array([1], pa.int64())}),
        mode="overwrite",
        schema_mode="overwrite",
        storage_options=project.storage_options.for_location(location),
        commit_properties=CommitProperties(
            custom_metadata={"userMetadata": json.dumps(stamp)}
        ),
    )
    monkeypatch.chdir(project.repo)
    result = CliRunner().invoke(cli, ["lineage", "customer_stats", "--json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    assert [r["version"] for r in records] == [1, 0]
    assert (records[0]["job"], records[0]["run_id"]) == ("nightly", "r42")
    assert records[0]["contract"] == "customer_stats@1.2.0"
    text = CliRunner().invoke(cli, ["lineage", location])
    assert text.exit_code == 0 and text.output.startswith("v1\t")


def test_no_message_or_log_holds_the_secret_key(
    s3_side: Side, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    project = s3_side.project
    storage = project.storage_options
    assert SECRET_KEY in storage.values()  # expanded from the environment
    assert SECRET_KEY not in repr(storage) and SECRET_KEY not in repr(project)
    missing = f"{project.data_dir}/features/nothing_here"
    messages = []
    with pytest.raises(LookupError) as no_table:
        read_snapshot(missing, storage=storage)
    messages.append(str(no_table.value))
    # An endpoint that does not answer: the error names the table, no option.
    dead = StorageOptions(
        {**storage, "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "max_retries": "0"}
    )
    with pytest.raises(StorageUnavailableError) as down:
        read_snapshot(project.table_uri("customer_stats"), storage=dead)
    messages.append(str(down.value))
    with pytest.raises(LineageDown) as lineage_down:
        table_history(project.table_uri("customer_stats"), storage=dead)
    messages.append(str(lineage_down.value))
    monkeypatch.delenv(SECRET_VARIABLE)
    with pytest.raises(ProjectConfigError) as unset:
        Project.load(project.repo)
    messages.append(str(unset.value))
    assert SECRET_VARIABLE in messages[-1]
    monkeypatch.chdir(project.repo)
    monkeypatch.setenv(SECRET_VARIABLE, SECRET_KEY)
    cli_run = CliRunner().invoke(cli, ["lineage", "nothing_here"])
    assert cli_run.exit_code == 2
    messages.append(cli_run.output)
    for text in [*messages, caplog.text]:
        assert SECRET_KEY not in text


def test_materialize_from_s3_then_online_reads_equal_the_local_ones(
    s3_side: Side, local_side: Side, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = []
    for side in (s3_side, local_side):
        monkeypatch.chdir(side.project.repo)
        done = CliRunner().invoke(cli, ["materialize", "--incremental", "--json"])
        assert done.exit_code == 0, done.output
        assert json.loads(done.output)["customer_stats"] > 0
        running = create_server(
            ServerSettings(repo_path=side.project.repo), "127.0.0.1:0"
        )
        try:
            with FeatureStoreClient(f"127.0.0.1:{running.port}") as client:
                reads.append(
                    client.get_online_features(
                        {"customer_id": [3, 21, 999], "merchant_id": ["M1"] * 3},
                        feature_service="scoring",
                        with_status=True,
                    )
                )
        finally:
            running.stop(0)
    remote, local = reads
    assert remote.equals(local)
    assert remote["spend__status"].tolist()[0] == "PRESENT"


def test_an_unreachable_object_store_is_unavailable_and_names_no_secret(
    s3_side: Side, s3_server: S3Server
) -> None:
    repo = s3_side.project.repo
    dead = {
        **s3_server.options(inline_secret=False),
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "max_retries": "0",
    }
    (repo / "featurestore.yaml").write_text(
        featurestore_yaml(s3_side.project.data_dir, dead)
    )
    running = create_server(ServerSettings(repo_path=repo), "127.0.0.1:0")
    try:
        client = FeatureStoreClient(f"127.0.0.1:{running.port}", timeout=60)
        with client, pytest.raises(grpc.RpcError) as down:
            client.get_historical_features(_entities(), feature_service="scoring")
    finally:
        running.stop(0)
    assert down.value.code() == grpc.StatusCode.UNAVAILABLE
    trailers = str(down.value.trailing_metadata())
    assert "STORAGE_UNAVAILABLE" in trailers or "object store" in down.value.details()
    for text in (down.value.details(), trailers):
        assert SECRET_KEY not in text


def test_cli_training_set_writes_rows_and_manifest_to_s3(
    s3_side: Side, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entities = tmp_path / "entities.parquet"
    pq.write_table(_entities(), entities)
    monkeypatch.chdir(s3_side.project.repo)
    root = s3_side.project.data_dir
    storage = s3_side.project.storage_options
    for fmt, out in (("parquet", f"{root}/cli/ts.parquet"), ("delta", f"{root}/cli/d")):
        done = CliRunner().invoke(
            cli,
            ["training-set", "--entities", str(entities), "--feature-service",
             "scoring", "--out", out, "--format", fmt, "--json"],
        )  # fmt: skip
        assert done.exit_code == 0, done.output
        summary = json.loads(done.stdout)
        assert summary["manifest"] == f"{out}.manifest.json"
        fs, key = storage.filesystem(summary["manifest"])
        with fs.open_input_stream(key) as handle:
            manifest = Manifest.from_json(handle.read().decode())
        if fmt == "parquet":
            with fs.open_input_file(storage.filesystem(out)[1]) as handle:
                written = written_parquet = pq.read_table(handle)
        else:
            written = DeltaTable(
                out, storage_options=storage.for_location(out)
            ).to_pyarrow_table()
        replayed = replay(manifest, _entities(), storage)
        assert _sorted(written).equals(_sorted(replayed))
        assert written.num_rows == _entities().num_rows
    # --replay reads the manifest where the command wrote it (it took only a
    # local file: "File 's3://...' does not exist").
    again = f"{root}/cli/again.parquet"
    done = CliRunner().invoke(
        cli,
        ["training-set", "--entities", str(entities), "--replay",
         f"{root}/cli/ts.parquet.manifest.json", "--out", again, "--json"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    with storage.filesystem(again)[0].open_input_file(
        storage.filesystem(again)[1]
    ) as f:
        assert _sorted(pq.read_table(f)).equals(_sorted(written_parquet))
    missing = CliRunner().invoke(
        cli,
        ["training-set", "--entities", str(entities), "--replay",
         f"{root}/cli/none.manifest.json", "--out", f"{root}/cli/x.parquet"],
    )  # fmt: skip
    assert missing.exit_code == 2
    assert missing.stderr.endswith("none.manifest.json: no such manifest file\n")
    # --entities on the store too (it took local files only).
    remote = f"{root}/cli/entities.parquet"
    fs, key = storage.filesystem(remote)
    with fs.open_output_stream(key) as handle:
        pq.write_table(_entities(), handle)
    from_s3 = f"{root}/cli/from_s3.parquet"
    done = CliRunner().invoke(
        cli,
        ["training-set", "--entities", remote, "--feature-service", "scoring",
         "--out", from_s3, "--json"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    with fs.open_input_file(storage.filesystem(from_s3)[1]) as f:
        assert _sorted(pq.read_table(f)).equals(_sorted(written_parquet))
    # Entity rows as Spark writes them (INT96 times, UTC): the same training set
    # (Arrow alone reads INT96 without a time zone: NAIVE_TIMESTAMP before).
    spark_like = f"{root}/cli/entities_int96.parquet"
    with fs.open_output_stream(storage.filesystem(spark_like)[1]) as handle:
        pq.write_table(_entities(), handle, use_deprecated_int96_timestamps=True)
    from_int96 = f"{root}/cli/from_int96.parquet"
    done = CliRunner().invoke(
        cli,
        ["training-set", "--entities", spark_like, "--feature-service", "scoring",
         "--out", from_int96, "--json"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    with fs.open_input_file(storage.filesystem(from_int96)[1]) as f:
        assert _sorted(pq.read_table(f)).equals(_sorted(written_parquet))
    gone = CliRunner().invoke(
        cli,
        ["training-set", "--entities", f"{root}/cli/none.parquet", "--feature-service",
         "scoring", "--out", f"{root}/cli/y.parquet"],
    )  # fmt: skip
    assert gone.exit_code == 2
    assert gone.stderr.endswith("none.parquet: no such file or folder\n")


def test_training_set_refuses_object_uris_with_empty_or_dot_segments(
    s3_side: Side, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --out/--entities with // were an ArrowInvalid traceback, exit 1; --out
    # with .. was OUTPUT_INSIDE_FILE, which was false.
    entities = tmp_path / "entities.parquet"
    pq.write_table(_entities(), entities)
    monkeypatch.chdir(s3_side.project.repo)
    root = s3_side.project.data_dir
    service = ["--feature-service", "scoring"]
    cases = [
        (["--entities", str(entities), *service, "--out", f"{root}/ts//dbl.parquet"],
         f"{root}/ts//dbl.parquet", "an empty path segment (//)"),
        (["--entities", f"{root}//e.parquet", *service, "--out", f"{root}/a.parquet"],
         f"{root}//e.parquet", "an empty path segment (//)"),
        (["--entities", str(entities), *service, "--out",
          f"{root}/ts/../ts2/a.parquet"],
         f"{root}/ts/../ts2/a.parquet", "a '..' path segment"),
        (["--entities", str(entities), *service, "--format", "delta", "--out",
          f"{root}/ts//d"],
         f"{root}/ts//d", "an empty path segment (//)"),
    ]  # fmt: skip
    for args, uri, problem in cases:
        done = CliRunner().invoke(cli, ["training-set", *args])
        assert done.exit_code == 2, (args, done.output)
        assert done.stdout == ""
        assert done.stderr == f"error: INVALID_URI: {uri} has {problem}, " + (
            "which object-store URIs may not hold (a key is taken as written, "
            "nothing is collapsed): remove it\n"
        )
    lineage = CliRunner().invoke(cli, ["lineage", f"{root}/features//customer_stats"])
    assert lineage.exit_code == 2
    assert lineage.stderr.startswith("error: INVALID_URI: ")
    replay = CliRunner().invoke(
        cli,
        ["training-set", "--entities", str(entities), "--replay",
         f"{root}/ts//a.parquet.manifest.json", "--out", f"{root}/b.parquet"],
    )  # fmt: skip
    assert replay.exit_code == 2
    # It said so inside "... is not a training-set manifest (...)".
    assert replay.stderr.startswith(
        f"error: INVALID_URI: {root}/ts//a.parquet.manifest.json has an empty path"
    )
    assert replay.stderr.count("\n") == 1
    prefix = root.removeprefix("s3://")
    fs, _ = s3_side.project.storage_options.filesystem(root)
    written = fs.get_file_info(pafs.FileSelector(f"{prefix}/ts", allow_not_found=True))
    assert written == []  # nothing written under a refused --out


def test_the_console_shows_an_unreachable_store_as_unknown_not_an_error_page(
    s3_side: Side, s3_server: S3Server
) -> None:
    # The home page and /drift read each table's drift scores from the store:
    # a store that does not answer made them fail whole instead of saying so.
    from tests.integration.ui._console import Browserless, start_console
    from tests.integration.ui._project import ConsoleProject

    repo = s3_side.project.repo
    dead = {
        **s3_server.options(inline_secret=False),
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "max_retries": "0",
    }
    (repo / "featurestore.yaml").write_text(
        featurestore_yaml(s3_side.project.data_dir, dead)
    )
    console = start_console(ConsoleProject(repo, s3_side.project.data_dir))
    try:
        client = Browserless(console)
        pages = {path: client.request(path) for path in ("/", "/drift")}
        detail = client.request("/drift/customer_stats")
    finally:
        console.stop()
    assert detail.status == 503 and "STORAGE_UNAVAILABLE" in detail.body
    assert SECRET_KEY not in detail.body
    for path, answer in pages.items():
        assert answer.status == 200, (path, answer.body[-500:])
        assert "STORAGE_UNAVAILABLE" in answer.body, path
        assert SECRET_KEY not in answer.body


def test_the_console_reads_history_and_quarantine_from_the_object_store(
    s3_side: Side,
) -> None:
    # The table and quality pages opened the Delta tables without the
    # project's storage_options: a 500 (quarantine) or an empty page.
    from tests.integration.ui._console import Browserless, start_console
    from tests.integration.ui._project import ConsoleProject

    project = s3_side.project
    where = project.table_uri("customer_stats") + "_quarantine"
    reason = pa.struct([("column", pa.string()), ("check", pa.string())])
    quarantined = pa.table(
        {
            "customer_id": pa.array([5], pa.int64()),
            "run_id": ["run-s3"],
            "reasons": pa.array(
                [[{"column": "total", "check": "ge"}]], pa.list_(reason)
            ),
        }
    )
    options = project.storage_options.for_location(where)
    write_deltalake(where, quarantined, storage_options=options)
    console = start_console(ConsoleProject(project.repo, project.data_dir))
    try:
        client = Browserless(console)
        table = client.request("/tables/customer_stats")
        quality = client.request("/tables/customer_stats/quality")
        csv = client.request("/tables/customer_stats/quarantine.csv")
    finally:
        console.stop()
    assert table.status == 200 and '<tr id="v0">' in table.body, table.body[-800:]
    assert quality.status == 200 and "run-s3" in quality.body, quality.body[-800:]
    assert csv.status == 200 and "total:ge" in csv.body and "run-s3" in csv.body
    assert all(SECRET_KEY not in a.body for a in (table, quality, csv))


CUSTOMER_STATS_CONTRACT = """\
name: customer_stats
version: 1.0.0
owner: test@example.com
entity_keys: [customer_id]
event_timestamp: event_timestamp
created_timestamp: created_timestamp
freshness: 2d
max_failure_ratio: 0.05
columns:
  - {name: customer_id, type: int64, nullable: false}
  - {name: spend, type: float64, nullable: false}
  - name: count
    type: int64
    nullable: false
    checks:
      - less_than_or_equal_to: 20
  - {name: tier, type: string, nullable: true}
  - {name: event_timestamp, type: timestamp, nullable: false}
  - {name: created_timestamp, type: timestamp, nullable: false}
"""


def test_contracts_validate_reads_parquet_csv_and_delta_on_the_object_store(
    s3_side: Side, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It took local files only: "Path 's3://...' does not exist", exit 2.
    from tests.integration.serving._repo import customer_rows

    project = s3_side.project
    folder = project.contracts_dir / "customer_stats"
    folder.mkdir(parents=True)
    (folder / "1.0.0.yaml").write_text(CUSTOMER_STATS_CONTRACT)
    monkeypatch.chdir(project.repo)
    rows = customer_rows()
    root, storage = project.data_dir, project.storage_options
    local = tmp_path / "rows.parquet"
    pq.write_table(rows, local)
    local_csv = tmp_path / "rows.csv"
    frame = rows.to_pandas()
    for column in ("event_timestamp", "created_timestamp"):
        frame[column] = frame[column].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    frame.to_csv(local_csv, index=False)
    for name, source in (("rows.parquet", local), ("rows.csv", local_csv)):
        fs, key = storage.filesystem(f"{root}/validate/{name}")
        with fs.open_output_stream(key) as handle:
            handle.write(source.read_bytes())
    validate = ["contracts", "validate", "--contract", "customer_stats", "--json"]
    # The oracle: the rows breaking the one check, counted by hand.
    broken = sum(1 for c in rows.column("count").to_pylist() if c > 20)
    assert 0 < broken < rows.num_rows
    verdicts = {}
    on_store = [f"{root}/validate/rows.parquet", f"{root}/validate/rows.csv"]
    places = [
        str(local),
        str(local_csv),
        *on_store,
        project.table_uri("customer_stats"),
    ]
    for where in places:
        done = CliRunner().invoke(cli, [*validate, where])
        assert done.exit_code == 1, (where, done.output)
        verdicts[where] = json.loads(done.stdout)
        assert (verdicts[where]["rows"], verdicts[where]["failed"]) == (
            rows.num_rows,
            broken,
        ), where
    assert len({json.dumps(v, sort_keys=True) for v in verdicts.values()}) == 1
    gone = CliRunner().invoke(cli, [*validate, f"{root}/validate/none.parquet"])
    assert gone.exit_code == 2
    assert gone.stderr.endswith("none.parquet: no such file or folder\n")
    assert SECRET_KEY not in gone.output


def test_incremental_materialize_writes_a_late_row_of_an_s3_table(
    s3_side: Side, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The rows added since the recorded version are read from the object store
    # with the project's options, as snapshots are.
    from feast import FeatureStore

    from tests.integration.serving._repo import customer_rows

    monkeypatch.chdir(s3_side.project.repo)
    first = CliRunner().invoke(cli, ["materialize", "--incremental", "--json"])
    assert first.exit_code == 0, first.output
    rows = customer_rows()
    customer = rows["customer_id"][0].as_py()
    latest = max(
        r["event_timestamp"] for r in rows.to_pylist() if r["customer_id"] == customer
    )
    late = rows.slice(0, 1).set_column(
        rows.column_names.index("event_timestamp"),
        "event_timestamp",
        pa.array([latest + timedelta(seconds=1)], TS),
    )
    late = late.set_column(
        late.column_names.index("spend"), "spend", pa.array([12345.0])
    )
    location = s3_side.project.table_uri("customer_stats")
    write_deltalake(
        location,
        late,
        mode="append",
        storage_options=s3_side.project.storage_options.for_location(location),
    )
    done = CliRunner().invoke(cli, ["materialize", "--incremental", "--json"])
    assert done.exit_code == 0, done.output
    store = FeatureStore(repo_path=str(s3_side.project.repo))
    got = store.get_online_features(
        ["customer_stats:spend"], [{"customer_id": customer}]
    ).to_dict()
    assert got["spend"] == [12345.0]
    assert json.loads(done.output)["@late_entities"]["customer_stats"] == 1
