"""GetHistoricalFeatures: a cancelled call stops its join and frees its slot at once."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import grpc
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from featurestore.services.server.app import create_server
from featurestore.services.server.arrow_ipc import write_ipc
from featurestore.services.server.settings import ServerSettings
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1 import feature_store_service_pb2_grpc as pb_grpc
from tests.integration.server._served import NOW, REPO, TS, ServedRepo

pytestmark = pytest.mark.integration

FEATURES = ["customer_spend:spend_1h", "merchant_risk:fraud_rate_30d"]
ENTITY_ROWS = 3_000_000
"""The cancelled call's entity rows: its join (two views) takes seconds, so it
is running when cancelled; the witness joins half of them."""
KEYS = 10_000


def _times(rng: np.random.Generator, n: int) -> pa.Array:
    start = int((NOW - timedelta(days=30)).timestamp() * 1_000_000)
    span = 30 * 24 * 3600 * 1_000_000
    return pa.array(start + rng.integers(0, span, n), TS)


def _merchants(rng: np.random.Generator, n: int) -> pa.Array:
    numbers = pc.cast(pa.array(rng.integers(0, KEYS, n)), pa.string())
    return pc.binary_join_element_wise("M", numbers, "")


def _big_project(served: ServedRepo, root: Path) -> tuple[Path, pa.Table]:
    """A copy of the served project with 100,000-row feature tables, and
    3,000,000 entity rows, the first half of them in ``cancel/half.parquet``."""
    shutil.copytree(served.repo.parent, root, symlinks=True)
    data, rng, n = root / "data", np.random.default_rng(11), 100_000
    e = _times(rng, n)
    write_deltalake(
        str(data / "features" / "customer_spend"),
        pa.table(
            {
                "customer_id": rng.integers(0, KEYS, n),
                "event_timestamp": e,
                "created_timestamp": e,
                **{f"spend_{w}": rng.random(n) for w in ("1h", "24h", "7d")},
                **{f"count_{w}": np.ones(n, int) for w in ("1h", "24h", "7d")},
            }
        ),
        mode="overwrite",
    )
    write_deltalake(
        str(data / "features" / "merchant_risk"),
        pa.table(
            {
                "merchant_id": _merchants(rng, n),
                "event_timestamp": e,
                "created_timestamp": e,
                "txn_count_30d": np.ones(n, int),
                "fraud_count_30d": np.zeros(n, int),
                "fraud_rate_30d": rng.random(n),
            }
        ),
        mode="overwrite",
    )
    entities = pa.table(
        {
            "customer_id": rng.integers(0, KEYS, ENTITY_ROWS),
            "merchant_id": _merchants(rng, ENTITY_ROWS),
            "event_timestamp": _times(rng, ENTITY_ROWS),
        }
    )
    (data / "entities" / "cancel").mkdir(parents=True)
    half = entities.slice(0, ENTITY_ROWS // 2)
    pq.write_table(half, data / "entities" / "cancel" / "half.parquet")
    return root / "feature_repo", entities


@contextmanager
def _server(repo: Path, **overrides: object) -> Iterator[grpc.Channel]:
    settings = ServerSettings(
        repo_path=repo,
        contracts_dir=REPO / "feature_repo" / "contracts",
        data_dir=repo.parent / "data",
        **overrides,  # type: ignore[arg-type]
    )
    running = create_server(settings, "127.0.0.1:0")
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        yield channel
    finally:
        channel.close()
        running.stop(0)


def _slot_taken(channel: grpc.Channel) -> bool:
    """Whether the one stream slot is held: a probe the server refuses at once,
    with INVALID_ARGUMENT once admitted (batch_size < 0), else TOO_MANY_STREAMS."""
    stub = pb_grpc.FeatureStoreServiceStub(channel)
    probe = pb.GetHistoricalFeaturesRequest(features=FEATURES, batch_size=-1)
    with pytest.raises(grpc.RpcError) as refused:
        list(stub.GetHistoricalFeatures(probe, timeout=30))
    code = refused.value.code()
    assert code in {
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.INVALID_ARGUMENT,
    }
    return code is grpc.StatusCode.RESOURCE_EXHAUSTED


def _start_holding(channel: grpc.Channel, request: pb.GetHistoricalFeaturesRequest):
    """Start ``request`` and return its call once it holds the slot."""
    stub = pb_grpc.FeatureStoreServiceStub(channel)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        call = stub.GetHistoricalFeatures(request, timeout=300)
        while not call.done():
            if _slot_taken(channel):
                return call
            time.sleep(0.005)
        # Refused because a probe held the slot at that instant: start again.
        assert call.code() is grpc.StatusCode.RESOURCE_EXHAUSTED, call.code()
    pytest.fail("the call never took the stream slot")


def _first_response_event(call) -> threading.Event:
    """Set when ``call`` sends its first piece: its join is over."""
    arrived = threading.Event()

    def read() -> None:
        try:
            next(call)
            arrived.set()
        except grpc.RpcError:
            pass

    threading.Thread(target=read, daemon=True).start()
    return arrived


def _small_call(channel: grpc.Channel) -> list[pb.GetHistoricalFeaturesResponse]:
    entity = pa.table(
        {
            "customer_id": pa.array([1, 2], pa.int64()),
            "merchant_id": ["M1", "M2"],
            "event_timestamp": pa.array([NOW, NOW], TS),
        }
    )
    stub = pb_grpc.FeatureStoreServiceStub(channel)
    request = pb.GetHistoricalFeaturesRequest(
        features=FEATURES, entity_rows_arrow=write_ipc(entity)
    )
    return list(stub.GetHistoricalFeatures(request, timeout=30))


def _wait_until_free(channel: grpc.Channel) -> None:
    """Probe until a GetHistoricalFeatures call is admitted again."""
    deadline = time.monotonic() + 120
    while _slot_taken(channel):
        if time.monotonic() > deadline:
            pytest.fail("the stream slot was never freed")
        time.sleep(0.005)


def test_a_cancelled_join_frees_its_slot_while_a_smaller_join_still_runs(
    served_repo: ServedRepo,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The first call's work, were it not stopped, outlasts the witness's: a
    join of half its rows on a second server, started once the first call was
    cancelled. The slot must come free before the witness has finished: no
    timing threshold, the witness's own work is the clock (here the slot came
    free in tens of milliseconds, the witness took one to three seconds). On
    the old code the join ran on to its end, so the slot came free only after
    the witness had answered."""
    caplog.set_level(logging.INFO)
    repo, entities = _big_project(served_repo, tmp_path / "big")
    # The first call's rows come in the request, so its work once it holds
    # the slot is the join (a path would add a Parquet read, which no cancel
    # stops: reads are checked between, not interrupted).
    with (
        _server(repo, max_historical_streams=1, max_request_bytes=2**28) as channel,
        _server(repo) as witness_channel,
    ):
        first = _start_holding(
            channel,
            pb.GetHistoricalFeaturesRequest(
                features=FEATURES, entity_rows_arrow=write_ipc(entities)
            ),
        )
        first.cancel()
        witness = pb_grpc.FeatureStoreServiceStub(
            witness_channel
        ).GetHistoricalFeatures(
            pb.GetHistoricalFeaturesRequest(
                features=FEATURES, entity_rows_path="cancel/half.parquet"
            ),
            timeout=300,
        )
        witness_done = _first_response_event(witness)

        _wait_until_free(channel)
        witness_finished_first = witness_done.is_set()
        witness.cancel()

        assert not witness_finished_first, (
            "the slot came free only after a join of half the rows had finished"
        )
        # The server keeps serving: a whole call, admitted and answered.
        assert _small_call(channel)[-1].manifest.row_count == 2
    assert first.code() is grpc.StatusCode.CANCELLED
    stopped = [
        r
        for r in caplog.records
        if r.name == "featurestore.services.server.feature_servicer"
    ]
    assert stopped and all(r.levelno == logging.INFO for r in stopped)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
