"""Write latest rows into Feast's Redis hashes (``RedisOnlineStore`` bytes)."""

from __future__ import annotations

from collections import deque
from itertools import chain, repeat
from typing import TYPE_CHECKING, Any, Protocol

import redis
from feast.infra.online_stores.redis import RedisOnlineStore
from google.protobuf.timestamp_pb2 import Timestamp

from featurestore.services.online._redis import feature_field
from featurestore.services.online._values import resp_field_values
from featurestore.services.online.errors import (
    OnlineStoreUnavailableError,
    UnsupportedOnlineStoreError,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from feast import FeatureView
    from feast.repo_config import RepoConfig

    from featurestore.services.online._latest import LatestRows

# Entities per batch: bounds the commands held in memory.
_BATCH = 10_000
# Entities per write to the socket. One chunk stays in flight while the next
# is built, so the server applies one while the client encodes the other.
_CHUNK = 1000
# Unless the connection string sets socket_connect_timeout / socket_timeout.
_CONNECT_TIMEOUT_S = 10.0
_REPLY_TIMEOUT_S = 60.0


class _Connection(Protocol):
    """The part of a redis-py connection used here (its own methods are untyped)."""

    def send_packed_command(self, command: list[bytes], check_health: bool) -> None:
        """Write already framed RESP bytes."""

    def read_response(self) -> Any:
        """Read and parse one reply; raise ``ResponseError`` for an error reply."""


def write_redis(config: RepoConfig, view: FeatureView, rows: LatestRows) -> int:
    """HSET each entity's ``_ts:<view>`` and features as Feast does; returns
    the number of entities written (those not skipped for a newer stored time).

    Never overwrites a stored event time that is newer (unless
    ``skip_dedup``); an equal one is written again, so a correction published
    under the same event time (a ``merge``) reaches Redis as it reaches SQLite.
    Feast's own writer skips equal ones too, leaving the old value served.
    Keeps Feast's ``key_ttl_seconds`` EXPIRE. The commands are framed in RESP
    here, a column at a time, and sent on one connection; redis-py connects
    (auth, db) and parses the replies. Without timeouts in the connection
    string, connecting waits at most 10 s and each reply 60 s, so a server
    that stops answering fails the run instead of hanging it.

    Raises:
        UnsupportedOnlineStoreError: A Redis cluster or sentinel store.
        OnlineStoreUnavailableError: The server cannot be reached.
    """
    store = config.online_store
    if str(getattr(store.redis_type, "value", store.redis_type)) != "redis":
        raise UnsupportedOnlineStoreError("redis", f"redis_type {store.redis_type}")
    nodes, params = RedisOnlineStore._parse_connection_string(store.connection_string)
    host, port = nodes[0]["host"], int(nodes[0]["port"])
    params.setdefault("socket_connect_timeout", _CONNECT_TIMEOUT_S)
    params.setdefault("socket_timeout", _REPLY_TIMEOUT_S)
    client = redis.Redis(host=host, port=port, **params)
    ts_field = f"_ts:{view.name}".encode()
    suffix = config.project.encode()
    written = 0
    try:
        # A connection of our own client's pool: close() below disconnects it
        # even when replies are left unread after an error.
        conn: _Connection = client.connection_pool.get_connection()
        for batch in rows.batches(_BATCH):
            keys = [k + suffix for k in batch.keys]
            if not store.skip_dedup:
                fresh = _newer(conn, keys, ts_field, batch.event_us)
                if len(fresh) < len(keys):
                    batch, keys = batch.take(fresh), [keys[i] for i in fresh]
            chunks = (
                _hset_commands(view, batch.slice(s, _CHUNK), keys[s : s + _CHUNK],
                               ts_field, store.key_ttl_seconds)
                for s in range(0, len(keys), _CHUNK)
            )  # fmt: skip
            _pipeline(conn, chunks)
            written += len(keys)
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        # Named as the reader names it: the connection string holds the password.
        raise OnlineStoreUnavailableError(f"redis:{host}:{port}", str(exc)) from exc
    finally:
        client.close()
    return written


def _bulk(arg: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(arg), arg)


def _hset_commands(
    view: FeatureView,
    rows: LatestRows,
    keys: list[bytes],
    ts_field: bytes,
    ttl_seconds: int | None,
) -> tuple[bytes, int]:
    """RESP for ``HSET key _ts:<view> ts f1 v1 ...`` (+ EXPIRE) per entity.

    Fields go in Feast's order (timestamp, then the view's features), so the
    hashes match field for field. Returns the bytes and the reply count.
    """
    head = b"*%d\r\n$4\r\nHSET\r\n" % (4 + 2 * len(view.features))
    ts_head = _bulk(ts_field)
    columns: list[Iterable[bytes]] = [
        repeat(head, len(keys)),
        map(_bulk, keys),
        (ts_head + _bulk(_ts_bytes(us)) for us in rows.event_us),
    ]
    for feature in view.features:
        columns.append(
            resp_field_values(
                rows.table.column(feature.name),
                feature.dtype.to_value_type(),
                feature_field(view.name, feature.name),
            )
        )
    if ttl_seconds:
        expire = b"*3\r\n$6\r\nEXPIRE\r\n"
        ttl = _bulk(str(int(ttl_seconds)).encode())
        columns.append(expire + _bulk(k) + ttl for k in keys)
    payload = b"".join(chain.from_iterable(zip(*columns, strict=True)))
    return payload, len(keys) * (2 if ttl_seconds else 1)


def _newer(
    conn: _Connection, keys: list[bytes], ts_field: bytes, event_us: list[int]
) -> list[int]:
    """Positions whose event time is not older than the stored one."""
    tail = _bulk(ts_field)
    head = b"*3\r\n$4\r\nHGET\r\n"
    stored = _pipeline(
        conn,
        (
            (b"".join(head + _bulk(k) + tail for k in keys[s : s + _CHUNK]),
             len(keys[s : s + _CHUNK]))
            for s in range(0, len(keys), _CHUNK)
        ),
    )  # fmt: skip
    fresh = []
    for i, raw in enumerate(stored):
        if raw:
            ts = Timestamp.FromString(raw)
            old = ts.seconds * 1_000_000_000 + ts.nanos
            # Feast treats a stored epoch (0) as nothing stored.
            if old and event_us[i] * 1000 < old:
                continue
        fresh.append(i)
    return fresh


def _pipeline(conn: _Connection, chunks: Iterable[tuple[bytes, int]]) -> list[Any]:
    """Send (RESP bytes, reply count) chunks, one in flight; replies in order."""
    replies: list[Any] = []
    in_flight: deque[int] = deque()
    for payload, count in chunks:
        conn.send_packed_command([payload], check_health=False)
        in_flight.append(count)
        if len(in_flight) > 1:
            replies.extend(conn.read_response() for _ in range(in_flight.popleft()))
    while in_flight:
        replies.extend(conn.read_response() for _ in range(in_flight.popleft()))
    return replies


def _ts_bytes(us: int) -> bytes:
    secs, rem = divmod(us, 1_000_000)
    raw: bytes = Timestamp(seconds=secs, nanos=rem * 1000).SerializeToString()
    return raw
