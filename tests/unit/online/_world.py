"""Real Feast objects and helpers shared by the online-store tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from feast import Entity, FeatureView, Field, FileSource
from feast.infra.online_stores.redis import RedisOnlineStoreConfig
from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig
from feast.types import Bool, Float32, Float64, Int64, String
from feast.value_type import ValueType

PROJECT = "proj"
NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)

driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.STRING)
item = Entity(name="item", join_keys=["item_id"], value_type=ValueType.INT64)
_source = FileSource(
    name="src", path="unused.parquet", timestamp_field="event_timestamp"
)

driver_stats_view = FeatureView(
    name="driver_stats",
    entities=[driver],
    ttl=timedelta(hours=2),
    schema=[
        Field(name="driver_id", dtype=Int64),
        Field(name="conv_rate", dtype=Float32),
        Field(name="acc_rate", dtype=Float64),
        Field(name="trips", dtype=Int64),
        Field(name="label", dtype=String),
    ],
    source=_source,
)
user_item_view = FeatureView(
    name="user_item",
    entities=[user, item],
    ttl=timedelta(0),
    schema=[
        Field(name="user_id", dtype=String),
        Field(name="item_id", dtype=Int64),
        Field(name="score", dtype=Float64),
        Field(name="clicked", dtype=Bool),
    ],
    source=_source,
)
user_profile_view = FeatureView(
    name="user_profile",
    entities=[user],
    ttl=timedelta(days=1),
    schema=[
        Field(name="user_id", dtype=String),
        Field(name="age", dtype=Int64),
        Field(name="country", dtype=String),
    ],
    source=_source,
)
# All Float64: what the SQLite reader reads as one block of doubles.
driver_doubles_view = FeatureView(
    name="driver_doubles",
    entities=[driver],
    ttl=timedelta(hours=2),
    schema=[
        Field(name="driver_id", dtype=Int64),
        Field(name="speed", dtype=Float64),
        Field(name="rating", dtype=Float64),
        Field(name="distance", dtype=Float64),
    ],
    source=_source,
)
VIEWS = [driver_stats_view, user_item_view, user_profile_view, driver_doubles_view]
# Rows of driver_doubles whose stored value is not what the view declares:
# a 9-byte int64 (same length as a double, other tag), a 5-byte float and a
# 13-byte string.
ODD_DOUBLES = {
    7: ("rating", ValueProto(int64_val=2**50)),
    9: ("distance", ValueProto(float_val=0.25)),
    13: ("speed", ValueProto(string_val="fast driver")),
}


def sqlite_config(tmp_path: Path) -> RepoConfig:
    """A RepoConfig with the embedded SQLite online store under tmp_path."""
    return RepoConfig(
        project=PROJECT,
        provider="local",
        registry=str(tmp_path / "registry.db"),
        online_store=SqliteOnlineStoreConfig(path=str(tmp_path / "online.db")),
        repo_path=tmp_path,
        entity_key_serialization_version=3,
    )


def redis_config(tmp_path: Path, host: str, port: int) -> RepoConfig:
    """A RepoConfig with the Redis online store at host:port."""
    return RepoConfig(
        project=PROJECT,
        provider="local",
        registry=str(tmp_path / "registry.db"),
        online_store=RedisOnlineStoreConfig(connection_string=f"{host}:{port}"),
        repo_path=tmp_path,
        entity_key_serialization_version=3,
    )


def _val(v: Any) -> ValueProto:
    if isinstance(v, bool):
        return ValueProto(bool_val=v)
    if isinstance(v, int):
        return ValueProto(int64_val=v)
    if isinstance(v, float):
        return ValueProto(double_val=v)
    return ValueProto(string_val=v)


def entity_key(view: FeatureView, values: Sequence[Any]) -> EntityKeyProto:
    """The Feast entity key proto of a view for join key values (view order)."""
    names = [c.name for c in view.entity_columns]
    return EntityKeyProto(join_keys=names, entity_values=[_val(v) for v in values])


def driver_rows(ids: Sequence[int], ts: datetime) -> list[tuple[Any, ...]]:
    """Rows for driver_stats: (entity key, values, event ts, created ts)."""
    return [
        (
            entity_key(driver_stats_view, [i]),
            {
                "conv_rate": ValueProto(float_val=i / 7),
                "acc_rate": ValueProto(double_val=i * 1.5),
                "trips": ValueProto(int64_val=i * 10),
                "label": ValueProto(string_val=f"d{i}"),
            },
            ts,
            ts,
        )
        for i in ids
    ]


def driver_double_rows(ids: Sequence[int], ts: datetime) -> list[tuple[Any, ...]]:
    """Rows for driver_doubles: doubles, except the rows of ``ODD_DOUBLES``."""
    rows = []
    for i in ids:
        values = {
            "speed": ValueProto(double_val=i * 0.5),
            "rating": ValueProto(double_val=-float(i)),
            "distance": ValueProto(double_val=i / 3),
        }
        if i in ODD_DOUBLES:
            name, odd = ODD_DOUBLES[i]
            values[name] = odd
        rows.append((entity_key(driver_doubles_view, [i]), values, ts, ts))
    return rows


def user_item_rows(
    pairs: Sequence[tuple[str, int]], ts: datetime
) -> list[tuple[Any, ...]]:
    """Rows for user_item keyed by (user_id, item_id)."""
    return [
        (
            entity_key(user_item_view, [u, i]),
            {
                "score": ValueProto(double_val=i + len(u)),
                "clicked": ValueProto(bool_val=i % 2 == 0),
            },
            ts,
            None,
        )
        for u, i in pairs
    ]


def user_profile_rows(users: Sequence[str], ts: datetime) -> list[tuple[Any, ...]]:
    """Rows for user_profile keyed by user_id."""
    return [
        (
            entity_key(user_profile_view, [u]),
            {
                "age": ValueProto(int64_val=len(u) + 20),
                "country": ValueProto(string_val=u[:2]),
            },
            ts,
            None,
        )
        for u in users
    ]


def feast_read_normalised(
    store: Any,
    config: RepoConfig,
    view: FeatureView,
    keys: list[EntityKeyProto],
    features: Sequence[str],
) -> list[tuple[datetime | None, list[ValueProto | None]]]:
    """Feast's own ``online_read``, normalised: missing rows/fields become None.

    Redis returns empty ValueProtos and an epoch timestamp for unknown keys,
    SQLite returns (None, None); both mean "not stored".
    """
    out = []
    for ts, vals in store.online_read(config, view, keys, list(features)):
        if not vals or all(v.WhichOneof("val") is None for v in vals.values()):
            out.append((None, [None] * len(features)))
            continue
        row = [vals.get(f) for f in features]
        out.append(
            (ts, [v if v is not None and v.WhichOneof("val") else None for v in row])
        )
    return out
