"""Server-side paths: reads under entity_roots, writes under training_set_root,
only training sets this service wrote are replaced; refusals leave nothing."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake
from grpc_status import rpc_status

from featurestore.services.offline.training_sets import stored_manifest
from featurestore.services.server.app import create_server
from featurestore.services.server.arrow_ipc import write_ipc
from featurestore.services.server.settings import ServerSettings
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1 import feature_store_service_pb2_grpc as pb_grpc
from tests.full_disk import full_tmpfs
from tests.integration.server._served import NOW, REPO, TS, ServedRepo

pytestmark = pytest.mark.integration

FEATURES = ["customer_spend:spend_1h"]
PARQUET, DELTA = pb.OUTPUT_FORMAT_PARQUET, pb.OUTPUT_FORMAT_DELTA


def _entities(rows: int = 2) -> pa.Table:
    return pa.table(
        {
            "customer_id": pa.array(
                [1, 3] * (rows // 2) + [1] * (rows % 2), pa.int64()
            ),
            "event_timestamp": pa.array([NOW] * rows, TS),
        }
    )


def _request(**fields: object) -> pb.GetHistoricalFeaturesRequest:
    if "entity_rows_path" not in fields and "entity_rows_arrow" not in fields:
        fields["entity_rows_arrow"] = write_ipc(_entities())
    return pb.GetHistoricalFeaturesRequest(features=FEATURES, **fields)


def _call(
    channel: grpc.Channel, request: pb.GetHistoricalFeaturesRequest
) -> list[pb.GetHistoricalFeaturesResponse]:
    stub = pb_grpc.FeatureStoreServiceStub(channel)
    return list(stub.GetHistoricalFeatures(request, timeout=30))


def _refused(
    channel: grpc.Channel, request: pb.GetHistoricalFeaturesRequest
) -> tuple[grpc.StatusCode, str, dict[str, str], str]:
    """Code, ErrorInfo reason and metadata, and the message of a refused call."""
    with pytest.raises(grpc.RpcError) as caught:
        _call(channel, request)
    return _decoded(caught.value)


def _decoded(
    error: grpc.RpcError,
) -> tuple[grpc.StatusCode, str, dict[str, str], str]:
    status = rpc_status.from_call(error)
    assert status is not None
    from google.rpc import error_details_pb2

    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return error.code(), info.reason, dict(info.metadata), status.message


def _tree(root: Path) -> dict[str, int]:
    """Every file under ``root`` with its size: equal before and after = untouched."""
    return {
        str(p.relative_to(root)): p.stat().st_size
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@contextmanager
def _server(
    served: ServedRepo,
    options: list[tuple[str, int]] | None = None,
    **overrides: object,
) -> Iterator[grpc.Channel]:
    """A second server on the same repo with other settings (channel options)."""
    settings = ServerSettings(
        repo_path=served.repo,
        contracts_dir=REPO / "feature_repo" / "contracts",
        data_dir=served.data,
        **overrides,  # type: ignore[arg-type]
    )
    running = create_server(settings, "127.0.0.1:0")
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}", options=options)
    try:
        yield channel
    finally:
        channel.close()
        running.stop(0)


def _outside_reads(data: Path) -> list[str]:
    (data / "entities").mkdir(exist_ok=True)
    link = data / "entities" / "link_to_features"
    if not link.exists():
        os.symlink(data / "features", link)
    return [
        str(data / "features" / "customer_spend"),
        "../features/customer_spend",
        "link_to_features/customer_spend",
        str(data / "entities") + "2",
        "/etc/passwd",
        "file:///etc/passwd",
    ]


def test_entity_paths_outside_the_entity_roots_are_denied(
    served_repo: ServedRepo,
) -> None:
    data = served_repo.data.resolve()
    for given in _outside_reads(served_repo.data):
        code, reason, metadata, message = _refused(
            served_repo.channel, _request(entity_rows_path=given)
        )
        assert (code, reason) == (
            grpc.StatusCode.PERMISSION_DENIED,
            "PATH_OUTSIDE_ROOT",
        )
        assert metadata["setting"] == "entity_roots"
        assert str(data) not in message


def test_files_a_folder_links_to_outside_the_roots_are_denied(
    served_repo: ServedRepo, tmp_path: Path
) -> None:
    # The folder asked for is inside entity_roots; what it holds may not be.
    secret = tmp_path / "secret"
    secret.mkdir()
    pq.write_table(_entities(4), secret / "rows.parquet")
    write_deltalake(str(secret / "table"), _entities(4))
    root = served_repo.data / "entities" / "linked"
    try:
        _read_through_links(served_repo, secret, root)
    finally:
        # The served data is shared (and copied by later tests): no links
        # into this test's tmp_path may outlive it.
        shutil.rmtree(root)


def _log_naming(table: Path, add_path: str, file: Path) -> None:
    """A Delta table at ``table`` whose one data file the log names as
    ``add_path`` (its own file removed)."""
    write_deltalake(str(table), _entities())
    (log,) = (table / "_delta_log").glob("*.json")
    lines = []
    for line in log.read_text().splitlines():
        action = json.loads(line)
        if "add" in action:
            (table / action["add"]["path"]).unlink()
            action["add"].update(path=add_path, size=file.stat().st_size)
        lines.append(json.dumps(action))
    log.write_text("\n".join(lines) + "\n")


def _read_through_links(served_repo: ServedRepo, secret: Path, root: Path) -> None:
    for folder in ("file_link", "dir_link", "delta_link", "inside_link"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    pq.write_table(_entities(), root / "file_link" / "own.parquet")
    os.symlink(secret / "rows.parquet", root / "file_link" / "other.parquet")
    os.symlink(secret, root / "dir_link" / "sub")
    write_deltalake(str(root / "delta_link"), _entities())
    (part,) = (Path(u).name for u in DeltaTable(str(root / "delta_link")).file_uris())
    os.remove(root / "delta_link" / part)
    (outside,) = DeltaTable(str(secret / "table")).file_uris()
    os.symlink(Path(outside.removeprefix("file://")), root / "delta_link" / part)
    # Logs that name the outside file themselves: delta-rs reads an absolute
    # add path or a file:// URI where it points, and its file_uris() showed
    # both under the table's root. A relative path up and out, plain or
    # percent-encoded, is no better.
    named = {
        "absolute": str(secret / "rows.parquet"),
        "file_uri": f"file://{secret / 'rows.parquet'}",
        "dot_dot": os.path.relpath(secret / "rows.parquet", root / "x"),
        "encoded": "%2E%2E/" * 12 + str(secret / "rows.parquet").lstrip("/"),
    }
    for folder, add_path in named.items():
        _log_naming(root / folder, add_path, secret / "rows.parquet")
    for given in ("linked/file_link", "linked/dir_link", "linked/delta_link", "linked",
                  *(f"linked/{folder}" for folder in named)):  # fmt: skip
        code, reason, metadata, message = _refused(
            served_repo.channel, _request(entity_rows_path=given)
        )
        assert (code, reason) == (
            grpc.StatusCode.PERMISSION_DENIED,
            "PATH_OUTSIDE_ROOT",
        ), given
        assert metadata["setting"] == "entity_roots"
        assert str(secret) not in message
    # A link that stays inside the roots is read as before.
    pq.write_table(_entities(), root / "inside_link" / "own.parquet")
    os.symlink(root / "file_link" / "own.parquet", root / "inside_link" / "too.parquet")
    *_, last = _call(
        served_repo.channel, _request(entity_rows_path="linked/inside_link")
    )
    assert last.manifest.row_count == 4
    # A partitioned table inside the roots (percent-encoded add paths) reads.
    partitioned = _entities().append_column("tag", pa.array(["a b", "c%d"]))
    write_deltalake(str(root / "partitioned"), partitioned, partition_by=["tag"])
    *_, last = _call(
        served_repo.channel, _request(entity_rows_path="linked/partitioned")
    )
    assert last.manifest.row_count == 2


def test_outputs_outside_the_root_or_onto_tables_are_denied_and_write_nothing(
    served_repo: ServedRepo,
) -> None:
    data = served_repo.data.resolve()
    feature_table = data / "features" / "customer_spend"
    version = DeltaTable(str(feature_table)).version()
    before = _tree(data)
    (data / "training_sets").mkdir(exist_ok=True)
    link = data / "training_sets" / "link_to_features"
    if not link.exists():
        os.symlink(data / "features", link)
    targets = [
        str(feature_table),
        "../features/customer_spend",
        "link_to_features/customer_spend",
        str(served_repo.repo / "data" / "registry.db"),
        str(data / "quarantine" / "customer_spend"),
        str(data / "training_sets") + "2/out",
        ".",
    ]
    for given in targets:
        for fmt in (PARQUET, DELTA):
            request = _request(output_path=given, output_format=fmt, overwrite=True)
            code, reason, metadata, message = _refused(served_repo.channel, request)
            assert code == grpc.StatusCode.PERMISSION_DENIED, given
            assert reason == "PATH_OUTSIDE_ROOT"
            assert metadata["setting"] == "training_set_root"
            assert str(data) not in message
    assert DeltaTable(str(feature_table)).version() == version
    assert {k: v for k, v in _tree(data).items() if "link_to" not in k} == before


def test_only_a_training_set_this_service_wrote_is_replaced_with_overwrite(
    served_repo: ServedRepo,
) -> None:
    root = served_repo.data / "training_sets" / "replace"
    channel = served_repo.channel
    for fmt, name in ((PARQUET, "out.parquet"), (DELTA, "out_delta")):
        given = f"replace/{name}"
        _call(channel, _request(output_path=given, output_format=fmt))
        written = _tree(root)
        code, reason, _, _ = _refused(
            channel, _request(output_path=given, output_format=fmt)
        )
        assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "OUTPUT_EXISTS")
        assert _tree(root) == written
        other = DELTA if fmt == PARQUET else PARQUET
        code, reason, _, _ = _refused(
            channel, _request(output_path=given, output_format=other, overwrite=True)
        )
        assert reason == "OUTPUT_FORMAT_CHANGED"
        _call(channel, _request(output_path=given, output_format=fmt, overwrite=True))
    assert DeltaTable(str(root / "out_delta")).version() == 1
    assert pq.read_table(root / "out.parquet").num_rows == 2


def _race(channel: grpc.Channel, output: str, fmt: int) -> dict[int, object]:
    """Two calls writing ``output`` at once, of 2 and 3 entity rows: each
    one's answered manifest, or its refusal's code and reason."""
    started = threading.Barrier(2)
    outcomes: dict[int, object] = {}

    def call(rows: int) -> None:
        request = _request(
            output_path=output,
            output_format=fmt,
            entity_rows_arrow=write_ipc(_entities(rows)),
        )
        started.wait(timeout=30)
        try:
            outcomes[rows] = _call(channel, request)[-1].manifest
        except grpc.RpcError as exc:
            outcomes[rows] = _decoded(exc)[:2]

    threads = [threading.Thread(target=call, args=(n,)) for n in (2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.parametrize(
    ("fmt", "name", "kind"),
    [(PARQUET, "out.parquet", "parquet"), (DELTA, "out", "delta")],
)
def test_two_calls_writing_one_new_path_publish_one_set(
    served_repo: ServedRepo, fmt: int, name: str, kind: str
) -> None:
    # Tester 95 saw both calls succeed: a Delta table holding both sets (the
    # manifest describing one), a Parquet file silently replaced.
    root = served_repo.data / "training_sets" / f"race_{kind}"
    outcomes = _race(served_repo.channel, f"race_{kind}/{name}", fmt)
    won = {n: o for n, o in outcomes.items() if isinstance(o, pb.Manifest)}
    assert len(won) == 1, outcomes
    [(entity_rows, manifest)] = won.items()
    lost = outcomes[5 - entity_rows]
    assert lost == (grpc.StatusCode.FAILED_PRECONDITION, "OUTPUT_EXISTS")
    out = root / name
    if kind == "parquet":
        table = pq.read_table(out)
    else:
        table = DeltaTable(out).to_pyarrow_table()
    assert table.num_rows == manifest.row_count
    assert json.loads(stored_manifest(out, kind))["entity_rows"] == entity_rows
    assert not [p for p in root.iterdir() if p.name.startswith(".fs-")]


def test_files_and_tables_not_written_as_training_sets_are_never_replaced(
    served_repo: ServedRepo,
) -> None:
    root = served_repo.data / "training_sets" / "foreign"
    root.mkdir(parents=True)
    pq.write_table(_entities(), root / "someone.parquet")
    (root / "notes.txt").write_text("keep me")
    write_deltalake(str(root / "a_table"), _entities())
    (root / "a_file").write_text("not a folder")
    before = _tree(root)
    cases = [
        ("foreign/someone.parquet", PARQUET, "OUTPUT_NOT_A_TRAINING_SET"),
        ("foreign/notes.txt", PARQUET, "OUTPUT_NOT_A_TRAINING_SET"),
        ("foreign/a_table", DELTA, "OUTPUT_NOT_A_TRAINING_SET"),
        ("foreign/a_table", PARQUET, "OUTPUT_NOT_A_TRAINING_SET"),
        ("foreign/a_table/inside.parquet", PARQUET, "OUTPUT_INSIDE_FILE"),
        ("foreign/a_file/out.parquet", PARQUET, "OUTPUT_INSIDE_FILE"),
    ]
    for given, fmt, expected in cases:
        request = _request(output_path=given, output_format=fmt, overwrite=True)
        code, reason, metadata, _ = _refused(served_repo.channel, request)
        assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, expected), given
        assert metadata["setting"] == "training_set_root"
    assert _tree(root) == before
    assert DeltaTable(str(root / "a_table")).version() == 0


def test_server_paths_off_refuses_both_fields(served_repo: ServedRepo) -> None:
    with _server(served_repo, server_paths=False) as channel:
        for request in (
            _request(entity_rows_path="x.parquet"),
            _request(output_path="off/out.parquet", output_format=PARQUET),
        ):
            code, reason, metadata, _ = _refused(channel, request)
            assert code == grpc.StatusCode.PERMISSION_DENIED
            assert (reason, metadata["setting"]) == (
                "SERVER_PATHS_DISABLED",
                "server_paths",
            )
        assert (
            _call(channel, _request())[-1].manifest.row_count == 2
        )  # inline rows still served
    assert not (served_repo.data / "training_sets" / "off").exists()


def test_a_root_whose_parent_is_missing_is_a_precondition_and_creates_nothing(
    served_repo: ServedRepo,
) -> None:
    missing = served_repo.data / "no_such_parent"
    with _server(served_repo, training_set_root=str(missing / "ts")) as channel:
        request = _request(output_path="a/b/out.parquet", output_format=PARQUET)
        code, reason, metadata, message = _refused(channel, request)
    assert (code, reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "OUTPUT_ROOT_MISSING",
    )
    assert metadata["setting"] == "training_set_root"
    assert str(missing) not in message
    assert not missing.exists()


def test_entity_rows_over_the_limit_are_resource_exhausted(
    served_repo: ServedRepo,
) -> None:
    folder = served_repo.data / "entities" / "limit"
    folder.mkdir(parents=True)
    pq.write_table(_entities(5), folder / "five.parquet")
    with _server(served_repo, max_historical_entity_rows=4) as channel:
        for request in (
            pb.GetHistoricalFeaturesRequest(
                features=FEATURES, entity_rows_arrow=write_ipc(_entities(5))
            ),
            _request(entity_rows_path="limit/five.parquet"),
        ):
            code, _, metadata, _ = _refused(channel, request)
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert metadata["setting"] == "max_historical_entity_rows"
        assert _call(channel, _request())[-1].manifest.row_count == 2


def test_streams_over_the_limit_are_resource_exhausted(
    served_repo: ServedRepo,
) -> None:
    stub_request = pb.GetHistoricalFeaturesRequest(
        features=FEATURES, entity_rows_arrow=write_ipc(_entities(50_000)), batch_size=1
    )
    # Without BDP probing the client's receive window stays at 64 KiB, so the
    # server cannot send 50,000 messages (~13 MB) until the client reads them:
    # the first stream holds its slot while the client reads no further.
    no_bdp = [("grpc.http2.bdp_probe", 0)]
    with _server(served_repo, no_bdp, max_historical_streams=1) as channel:
        stub = pb_grpc.FeatureStoreServiceStub(channel)
        first = stub.GetHistoricalFeatures(stub_request, timeout=60)
        next(first)
        code, reason, metadata, _ = _refused(channel, _request())
        assert (code, reason) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "TOO_MANY_STREAMS",
        )
        assert metadata["setting"] == "max_historical_streams"
        assert sum(1 for _ in first) == 50_001  # the rest, then the manifest
        # The stream has ended, so its slot is free again.
        assert _call(channel, _request())[-1].manifest.row_count == 2


@pytest.mark.parametrize(
    ("root", "output", "fmt"),
    [
        ("/proc/self/fs_training_sets", "run/out.parquet", PARQUET),  # no mkdir
        ("/proc/self", "out.parquet", PARQUET),  # no file
        ("/proc/self", "out_delta", DELTA),
    ],
    ids=["folder", "parquet", "delta"],
)
def test_an_unwritable_root_is_a_precondition_naming_the_setting(
    served_repo: ServedRepo, root: str, output: str, fmt: int
) -> None:
    # /proc refuses new files and folders even to root, so this holds for any uid.
    with _server(served_repo, training_set_root=root) as channel:
        request = _request(output_path=output, output_format=fmt)
        code, reason, metadata, message = _refused(channel, request)
        assert (code, reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "OUTPUT_NOT_WRITABLE",
        )
        assert metadata["setting"] == "training_set_root"
        assert "/proc" not in message
        assert _call(channel, _request())[-1].manifest.row_count == 2


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    with full_tmpfs(tmp_path / "small") as mount:
        yield mount


@pytest.mark.parametrize("fmt", [PARQUET, DELTA], ids=["parquet", "delta"])
def test_an_output_on_a_full_disk_is_resource_exhausted_naming_enospc(
    served_repo: ServedRepo, full_disk: Path, fmt: int
) -> None:
    before = _tree(full_disk)
    with _server(served_repo, training_set_root=str(full_disk)) as channel:
        request = _request(output_path="run/out", output_format=fmt)
        code, reason, metadata, message = _refused(channel, request)
        assert (code, reason) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "OUTPUT_NO_SPACE",
        )
        assert metadata["errno"] == "ENOSPC"
        assert metadata["setting"] == "training_set_root"
        assert "ENOSPC" in message
        assert str(full_disk) not in message
    assert _tree(full_disk) == before  # nothing of the output remains
    assert [p.name for p in full_disk.iterdir()] == ["filler"]


def test_a_cancelled_call_writes_no_output(
    served_repo: ServedRepo,
) -> None:
    # A call its caller cancelled or whose deadline passed (its cancellation
    # set by gRPC's end-of-call callback) must not leave a training set
    # behind. The same request not cancelled writes it (the control).
    from feast import FeatureStore

    from featurestore.services.offline import Cancellation, RequestCancelledError
    from featurestore.services.server.catalog import Catalog
    from featurestore.services.server.historical import (
        HistoricalPolicy,
        stream_historical_features,
    )
    from featurestore.services.server.paths import PathPolicy

    settings = ServerSettings(
        repo_path=served_repo.repo,
        contracts_dir=REPO / "feature_repo" / "contracts",
        data_dir=served_repo.data,
    )
    store = FeatureStore(repo_path=str(served_repo.repo))
    policy = HistoricalPolicy(PathPolicy.from_settings(settings), 1000)
    root = served_repo.data / "training_sets" / "abandoned"
    cancelled = Cancellation()
    cancelled.cancel()
    for name, cancellation in (("cancelled", cancelled), ("live", Cancellation())):
        request = _request(
            output_path=f"abandoned/{name}.parquet", output_format=PARQUET
        )
        answers = stream_historical_features(
            request, store, Catalog(store), policy, cancellation
        )
        if cancellation.cancelled:
            with pytest.raises(RequestCancelledError):
                list(answers)
        else:
            assert list(answers)
    assert [p.name for p in root.iterdir()] == ["live.parquet"]


def test_a_parquet_output_named_as_a_folder_is_invalid_and_writes_nothing(
    served_repo: ServedRepo,
) -> None:
    root = served_repo.data / "training_sets"
    before = _tree(root) if root.exists() else {}
    code, reason, metadata, message = _refused(
        served_repo.channel, _request(output_path="tslash/", output_format=PARQUET)
    )
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_FIELD")
    assert metadata["field"] == "output_path" and "trailing '/'" in message
    assert (_tree(root) if root.exists() else {}) == before
