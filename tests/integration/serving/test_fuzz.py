"""Property-based fuzzing of every RPC, directly and through fs-front.

Structurally valid but hostile messages (paths out of the roots, unsafe
names, bad or extreme Arrow, odd values and enums) must each get a clear
status, never INTERNAL or UNKNOWN; afterwards the server is SERVING, the
feature tables and the registry are unchanged, nothing was written outside
the training-set root, and the server's Python heap did not keep growing.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from feast.protos.feast.serving import ServingService_pb2 as feast_pb
from feast.protos.feast.serving import ServingService_pb2_grpc as feast_grpc
from feast.protos.feast.types import Value_pb2 as feast_value
from google.protobuf import timestamp_pb2
from grpc_health.v1 import health_pb2
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from featurestore.services.server.arrow_ipc import write_ipc
from featurestore.v1 import common_pb2
from featurestore.v1 import contract_service_pb2 as cpb
from featurestore.v1 import contract_service_pb2_grpc as cpb_grpc
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1 import feature_store_service_pb2_grpc as pb_grpc
from featurestore.v1 import monitoring_service_pb2 as mpb
from featurestore.v1 import monitoring_service_pb2_grpc as mpb_grpc
from tests.integration.serving._repo import (
    NOW,
    Served,
    health_status,
    make_repo,
    serve,
    sqlite_online,
    write_online,
)

pytestmark = pytest.mark.integration

EXAMPLES = 80
"""Calls per round; three rounds per transport."""
HEAP_GROWTH_LIMIT = 16 * 1024 * 1024
"""Most the traced heap may grow from the first round to the third."""
REFUSED_CODES = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
INT64 = st.integers(-(2**63), 2**63 - 1)
INT32 = st.integers(-(2**31), 2**31 - 1)
NAMES = ["customer_id", "merchant_id", "event_timestamp", "created_timestamp",
         "spend", "tier", "__row", "__k0", "__t", "", "x" * 300]  # fmt: skip
FEATURES = ["customer_stats:spend", "customer_stats:tier", "merchant_risk:fraud_rate",
            "customer_stats:", ":", "nope:x", "customer_stats:spend:x"]  # fmt: skip


@pytest.fixture
def fuzz_served(tmp_path: Path, transport: bool) -> Iterator[Served]:
    """The serving repo with its data root inside ``tmp_path``."""
    store = make_repo(tmp_path, sqlite_online(tmp_path))
    write_online(store)
    (tmp_path / "data" / "entities").mkdir(parents=True)
    served = serve(
        store,
        transport,
        data_dir=tmp_path / "data",
        max_online_entity_rows=50,
        max_historical_entity_rows=1_000,
        registry_refresh_seconds=60.0,
    )
    yield served
    served.stop()


def _texts(tmp: Path) -> st.SearchStrategy[str]:
    """Short random text, or a string aimed at a path, a name or a parser."""
    repo = tmp / "repo"
    aimed = [
        "../repo/data/customer_stats", str(repo / "data" / "customer_stats"),
        str(tmp / "registry.db"), "../../registry.db", "/etc/passwd", "..", ".",
        "../", "file:///etc/passwd", "s3://bucket/x", "a\x00b", "x" * 5000,
        "/" * 300, "customer_spend", "1.0.0", "customer_stats", "scoring",
        "ok/run.parquet", "ok/run_delta", "%s%n", "\u202e", "*", "[a-z]",
    ]  # fmt: skip
    return st.one_of(st.text(max_size=24), st.sampled_from(aimed))


@st.composite
def _tables(draw: st.DrawFn, min_rows: int = 0) -> pa.Table:
    """Entity-shaped tables (keys, a timestamp) with hostile values, or any."""
    n = draw(st.integers(min_rows, 4))
    columns: dict[str, pa.Array] = {}
    if min_rows or draw(st.booleans()):
        columns["customer_id"] = draw(_arrays(n, keys=True))
        columns["event_timestamp"] = draw(_arrays(n, times=True))
    for name in draw(st.lists(st.sampled_from(NAMES), max_size=3, unique=True)):
        columns[name] = draw(_arrays(n))
    return pa.table(columns or {"customer_id": pa.array([], pa.int64())})


def _arrays(
    n: int, keys: bool = False, times: bool = False
) -> st.SearchStrategy[pa.Array]:
    def values(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
        return st.lists(strategy, min_size=n, max_size=n)

    ts = pa.timestamp("us", tz="UTC")
    key_like = values(st.integers(1, 30)).map(lambda v: pa.array(v, pa.int64()))
    time_like = st.one_of(
        st.just(pa.array([NOW] * n, ts)),
        values(INT64).map(lambda v: pa.array(v, ts)),
        values(INT64).map(lambda v: pa.array(v, pa.timestamp("s", tz="UTC"))),
        values(INT64).map(lambda v: pa.array(v, pa.timestamp("ns", tz="UTC"))),
        values(INT64).map(lambda v: pa.array(v, pa.timestamp("us"))),
    )
    anything = st.one_of(
        values(INT64).map(lambda v: pa.array(v, pa.int64())),
        values(st.floats()).map(lambda v: pa.array(v, pa.float64())),
        values(st.text(max_size=8)).map(pa.array),
        values(st.booleans()).map(pa.array),
        st.just(pa.nulls(n)),
    )
    if keys:
        return key_like | key_like | anything
    if times:
        return time_like
    return key_like | time_like | anything


def _arrow(tmp: Path) -> st.SearchStrategy[bytes]:
    whole = _tables().map(write_ipc)
    return st.one_of(
        whole,
        st.tuples(whole, st.integers(1, 64)).map(lambda p: p[0][: -p[1]]),
        st.binary(max_size=64),
        st.binary(max_size=16).map(lambda b: b"\xff\xff\xff\xff" + b),
    )


def _timestamps() -> st.SearchStrategy[timestamp_pb2.Timestamp]:
    return st.builds(timestamp_pb2.Timestamp, seconds=INT64, nanos=INT32)


def _values() -> st.SearchStrategy[common_pb2.Value]:
    return st.one_of(
        st.builds(common_pb2.Value),
        st.builds(common_pb2.Value, int64_value=INT64),
        st.builds(common_pb2.Value, int64_value=st.integers(1, 30)),
        st.builds(common_pb2.Value, double_value=st.floats()),
        st.builds(common_pb2.Value, string_value=st.text(max_size=8)),
        st.builds(common_pb2.Value, bool_value=st.booleans()),
        st.builds(common_pb2.Value, bytes_value=st.binary(max_size=8)),
        st.builds(common_pb2.Value, timestamp_value=_timestamps()),
    )


def _feast_values() -> st.SearchStrategy[feast_value.Value]:
    V = feast_value.Value
    return st.one_of(
        st.builds(V),
        st.builds(V, int64_val=INT64),
        st.builds(V, int64_val=st.integers(1, 30)),
        st.builds(V, int32_val=INT32),
        st.builds(V, double_val=st.floats()),
        st.builds(V, float_val=st.floats(width=32)),
        st.builds(
            V, string_val=st.sampled_from(["M1", "M9", ""]) | st.text(max_size=8)
        ),
        st.builds(V, bytes_val=st.binary(max_size=8)),
        st.builds(V, bool_val=st.booleans()),
        st.builds(V, unix_timestamp_val=INT64),
        st.builds(V, null_val=st.just(0)),
        st.builds(
            V,
            int64_list_val=st.builds(
                feast_value.Int64List, val=st.lists(INT64, max_size=3)
            ),
        ),
        st.builds(
            V,
            string_list_val=st.builds(
                feast_value.StringList, val=st.lists(st.text(max_size=4), max_size=3)
            ),
        ),
    )


@dataclass(frozen=True)
class Call:
    """One RPC to make: which stub method and its request."""

    service: str
    method: str
    request: Any
    stream: bool = False


def _calls(tmp: Path) -> st.SearchStrategy[Call]:
    text = _texts(tmp)
    feature_refs = st.one_of(
        st.lists(st.sampled_from(FEATURES[:3]), min_size=1, max_size=3),
        st.lists(st.sampled_from(FEATURES) | text, max_size=3),
    )
    names = st.sampled_from(NAMES) | text
    pins = st.dictionaries(
        st.sampled_from(["customer_stats", "merchant_risk", "nope", ""]),
        st.one_of(
            st.builds(common_pb2.TablePin, version=INT64),
            st.builds(common_pb2.TablePin, timestamp=_timestamps()),
            st.builds(common_pb2.TablePin),
        ),
        max_size=2,
    )
    ids = st.builds(common_pb2.Value, int64_value=st.integers(1, 30))
    entities = st.one_of(
        st.builds(dict, customer_id=st.builds(common_pb2.ValueList, values=st.lists(
            ids, min_size=1, max_size=60))),
        st.builds(dict, customer_id=st.builds(common_pb2.ValueList, values=st.lists(
            _values(), min_size=1, max_size=60))),
        st.dictionaries(names, st.builds(common_pb2.ValueList, values=st.lists(
            _values(), max_size=60)), max_size=3),
    )  # fmt: skip
    feast_ids = st.builds(feast_value.Value, int64_val=st.integers(1, 30))
    feast_entities = st.one_of(
        st.builds(dict, customer_id=st.builds(feast_value.RepeatedValue, val=st.lists(
            feast_ids, min_size=1, max_size=60))),
        st.builds(dict, customer_id=st.builds(feast_value.RepeatedValue, val=st.lists(
            _feast_values(), min_size=1, max_size=60))),
        st.dictionaries(names, st.builds(feast_value.RepeatedValue, val=st.lists(
            _feast_values(), max_size=60)), max_size=3),
    )  # fmt: skip
    source = st.one_of(
        st.builds(dict, entity_rows_arrow=_arrow(tmp)),
        st.builds(dict, entity_rows_path=text),
        st.just({}),
    )
    output = st.one_of(
        st.just({}),
        st.builds(dict, output_path=text, output_format=st.sampled_from([1, 2])),
        st.builds(dict, output_path=st.just("") | text, output_format=INT32),
    )
    random_historical = st.builds(
        lambda src, out, **kw: pb.GetHistoricalFeaturesRequest(**src, **out, **kw),
        source,
        output,
        timestamp_column=st.sampled_from(["", "event_timestamp"]) | names,
        features=feature_refs,
        feature_service=st.sampled_from(["", "", "", "scoring"]) | text,
        full_feature_names=st.booleans(),
        pins=st.just({}) | pins,
        as_known_at=st.booleans(),
        batch_size=st.integers(0, 3) | INT32,
        overwrite=st.booleans(),
    )
    # Past the request checks into the join: hostile keys and times only.
    deep_historical = st.builds(
        lambda out, **kw: pb.GetHistoricalFeaturesRequest(**out, **kw),
        st.just({}) | st.builds(
            dict, output_path=text, output_format=st.sampled_from([1, 2])),
        entity_rows_arrow=_tables(min_rows=1).map(write_ipc),
        features=st.lists(st.sampled_from(FEATURES[:2]), min_size=1, max_size=2),
        as_known_at=st.booleans(),
        batch_size=st.integers(0, 3),
    )  # fmt: skip
    historical = deep_historical | random_historical
    feast_online = st.one_of(
        st.builds(
            feast_pb.GetOnlineFeaturesRequest,
            features=st.builds(feast_pb.FeatureList, val=feature_refs),
            entities=feast_entities,
            full_feature_names=st.booleans(),
            request_context=feast_entities,
        ),
        st.builds(
            feast_pb.GetOnlineFeaturesRequest,
            feature_service=st.sampled_from(["scoring"]) | text,
            entities=feast_entities,
        ),
    )
    ours, contracts, feast = "FeatureStoreService", "ContractService", "ServingService"
    monitoring = "MonitoringService"
    return st.one_of(
        st.builds(Call, st.just(ours), st.just("GetOnlineFeatures"), st.builds(
            pb.GetOnlineFeaturesRequest, features=feature_refs,
            feature_service=st.sampled_from(["", "", ""]) | text, entities=entities,
            full_feature_names=st.booleans())),
        st.builds(Call, st.just(ours), st.just("GetHistoricalFeatures"), historical,
                  st.just(True)),
        st.builds(Call, st.just(ours), st.just("ListFeatureViews"), st.builds(
            pb.ListFeatureViewsRequest, page_size=INT32, page_token=text)),
        st.builds(Call, st.just(ours), st.just("GetFeatureView"), st.builds(
            pb.GetFeatureViewRequest, name=names)),
        st.builds(Call, st.just(contracts), st.just("ListContracts"), st.builds(
            cpb.ListContractsRequest, page_size=INT32, page_token=text)),
        st.builds(Call, st.just(contracts), st.just("GetContract"), st.builds(
            cpb.GetContractRequest, name=text, version=text)),
        st.builds(Call, st.just(contracts), st.just("ValidateRows"), st.builds(
            cpb.ValidateRowsRequest, contract=st.just("customer_spend") | text,
            version=st.just("") | text, arrow_ipc=_arrow(tmp))),
        st.builds(Call, st.just(contracts), st.just("CheckCompatibility"), st.builds(
            cpb.CheckCompatibilityRequest, name=st.just("customer_spend") | text,
            old_version=text, new_version=text)),
        st.builds(Call, st.just(feast), st.just("GetFeastServingInfo"),
                  st.just(feast_pb.GetFeastServingInfoRequest())),
        st.builds(Call, st.just(feast), st.just("GetOnlineFeatures"), feast_online),
        st.builds(Call, st.just(monitoring), st.just("GetFreshness"), st.builds(
            mpb.GetFreshnessRequest, name=names | st.sampled_from(
                ["customer_stats", "merchant_risk"]))),
        st.builds(Call, st.just(monitoring), st.just("ListFreshness"), st.builds(
            mpb.ListFreshnessRequest, page_size=INT32, page_token=text)),
        st.builds(Call, st.just(monitoring), st.just("ListProfiles"), st.builds(
            mpb.ListProfilesRequest, parent=names | st.just("customer_stats"),
            version=INT64, page_size=INT32, page_token=text)),
        st.builds(Call, st.just(monitoring), st.just("ListDriftScores"), st.builds(
            mpb.ListDriftScoresRequest, parent=names | st.just("customer_stats"),
            page_size=INT32, page_token=text)),
    )  # fmt: skip


def _stubs(channel: grpc.Channel) -> dict[str, Any]:
    return {
        "FeatureStoreService": pb_grpc.FeatureStoreServiceStub(channel),
        "ContractService": cpb_grpc.ContractServiceStub(channel),
        "ServingService": feast_grpc.ServingServiceStub(channel),
        "MonitoringService": mpb_grpc.MonitoringServiceStub(channel),
    }


def _prober(channel: grpc.Channel, tmp: Path) -> Callable[[], None]:
    stubs = _stubs(channel)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(_calls(tmp))
    def probe(call: Call) -> None:
        method = getattr(stubs[call.service], call.method)
        code = grpc.StatusCode.OK
        try:
            reply = method(call.request, timeout=30)
            if call.stream:
                list(reply)
        except grpc.RpcError as error:
            code = error.code()
            assert code not in REFUSED_CODES, (call, error.details())
            assert code != grpc.StatusCode.DEADLINE_EXCEEDED, call
        event(f"{call.method} {code.name}")  # --hypothesis-show-statistics

    return probe


def _tree(root: Path, skip: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): p.stat().st_size
        for p in sorted(root.rglob("*"))
        if p.is_file() and skip not in p.parents and not p.name.startswith("online.")
    }


def test_hostile_messages_get_clear_statuses_and_leave_nothing_behind(
    fuzz_served: Served, tmp_path: Path
) -> None:
    tables = [
        tmp_path / "repo" / "data" / v for v in ("customer_stats", "merchant_risk")
    ]
    versions = [DeltaTable(str(t)).version() for t in tables]
    training_sets = tmp_path / "data" / "training_sets"
    before = _tree(tmp_path, training_sets)
    probe = _prober(fuzz_served.channel, tmp_path)
    tracemalloc.start()
    try:
        heap = []
        for _ in range(3):
            probe()
            gc.collect()
            heap.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    assert heap[2] - heap[0] < HEAP_GROWTH_LIMIT, heap
    assert health_status(fuzz_served.channel) == health_pb2.HealthCheckResponse.SERVING
    assert [DeltaTable(str(t)).version() for t in tables] == versions
    assert _tree(tmp_path, training_sets) == before
