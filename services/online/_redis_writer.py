"""Write latest rows into Feast's Redis hashes (``RedisOnlineStore`` bytes)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from itertools import repeat
from typing import TYPE_CHECKING, Any, Protocol

import redis
from feast.infra.online_stores.redis import RedisOnlineStore
from google.protobuf.timestamp_pb2 import Timestamp

from featurestore.services.online._redis import feature_field
from featurestore.services.online._redis_script import EVALSHA, as_eval
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
# Entities per compare-and-write script call: amortises a call's own cost
# while keeping each call short (Redis serves no one else during it).
_KEYS_PER_SCRIPT = 16
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


@dataclass(frozen=True, slots=True)
class _Chunk:
    """Commands written to the socket at once, and the replies each gets."""

    commands: list[bytes]
    replies_each: int


def write_redis(config: RepoConfig, view: FeatureView, rows: LatestRows) -> int:
    """HSET each entity's ``_ts:<view>`` and features as Feast does; returns
    the number of entities written (those not skipped for a newer stored time).

    Never overwrites a stored event time that is newer (unless
    ``skip_dedup``); an equal one is written again, so a correction published
    under the same event time (a ``merge``) reaches Redis as it reaches SQLite.
    Feast's own writer skips equal ones too, leaving the old value served.
    Each entity's comparison and write run in one Lua script call on the
    server (``_redis_script``, a few entities per call), so a newer row that
    another writer stores meanwhile is kept. Keeps Feast's
    ``key_ttl_seconds`` EXPIRE. The commands are framed in RESP here, a
    column at a time, and sent on one connection; redis-py connects (auth,
    db) and parses the replies. Without timeouts in the
    connection string, connecting waits at most 10 s and each reply 60 s, so
    a server that stops answering fails the run instead of hanging it.

    Raises:
        UnsupportedOnlineStoreError: A Redis cluster or sentinel store.
        OnlineStoreUnavailableError: The server cannot be reached.
    """
    store = config.online_store
    client, where = redis_client(config)
    ts_field = f"_ts:{view.name}".encode()
    suffix = config.project.encode()
    guarded = not store.skip_dedup
    written = 0
    try:
        # A connection of our own client's pool: close() below disconnects it
        # even when replies are left unread after an error.
        conn: _Connection = client.connection_pool.get_connection()
        for batch in rows.batches(_BATCH):
            keys = [k + suffix for k in batch.keys]
            chunks = (
                _commands(view, batch.slice(s, _CHUNK), keys[s : s + _CHUNK],
                          ts_field, store.key_ttl_seconds, guarded)
                for s in range(0, len(keys), _CHUNK)
            )  # fmt: skip
            replies = _pipeline(conn, chunks)
            written += sum(replies) if guarded else len(keys)
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        # Named as the reader names it: the connection string holds the password.
        raise OnlineStoreUnavailableError(where, str(exc)) from exc
    finally:
        client.close()
    return written


def redis_client(config: RepoConfig) -> tuple[redis.Redis, str]:
    """A client of the plain Redis online store, and ``redis:host:port`` to name
    it in errors (never the connection string: it holds the password).

    Without timeouts in the connection string, connecting waits at most 10 s
    and each reply 60 s.

    Raises:
        UnsupportedOnlineStoreError: A Redis cluster or sentinel store.
    """
    store = config.online_store
    if str(getattr(store.redis_type, "value", store.redis_type)) != "redis":
        raise UnsupportedOnlineStoreError("redis", f"redis_type {store.redis_type}")
    nodes, params = RedisOnlineStore._parse_connection_string(store.connection_string)
    host, port = nodes[0]["host"], int(nodes[0]["port"])
    params.setdefault("socket_connect_timeout", _CONNECT_TIMEOUT_S)
    params.setdefault("socket_timeout", _REPLY_TIMEOUT_S)
    return redis.Redis(host=host, port=port, **params), f"redis:{host}:{port}"


def _bulk(arg: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(arg), arg)


def _commands(
    view: FeatureView,
    rows: LatestRows,
    keys: list[bytes],
    ts_field: bytes,
    ttl_seconds: int | None,
    guarded: bool,
) -> _Chunk:
    """RESP for the entities' writes, built a column at a time.

    Guarded: ``EVALSHA <script> n key... ttl width _ts:<view> ts f1 v1 ...``
    for every ``_KEYS_PER_SCRIPT`` entities, the first as EVAL so the server
    has the script. Else Feast's ``HSET key _ts:<view> ts f1 v1 ...`` (+
    ``EXPIRE key ttl``) per entity. Fields go in Feast's order (timestamp,
    then the view's features), so the hashes match field for field.
    """
    ts_head = _bulk(ts_field)
    columns: list[Iterable[bytes]] = [
        (ts_head + _bulk(_ts_bytes(us)) for us in rows.event_us)
    ]
    for feature in view.features:
        columns.append(
            resp_field_values(
                rows.table.column(feature.name),
                feature.dtype.to_value_type(),
                feature_field(view.name, feature.name),
            )
        )
    width = 2 * len(columns)
    if guarded:
        pairs = [b"".join(parts) for parts in zip(*columns, strict=True)]
        return _script_calls(keys, pairs, width, ttl_seconds)
    head = b"*%d\r\n$4\r\nHSET\r\n" % (2 + width)
    columns[:0] = [repeat(head, len(keys)), map(_bulk, keys)]
    if ttl_seconds:
        expire = b"*3\r\n$6\r\nEXPIRE\r\n"
        ttl = _bulk(str(int(ttl_seconds)).encode())
        columns.append(expire + _bulk(k) + ttl for k in keys)
    commands = [b"".join(parts) for parts in zip(*columns, strict=True)]
    return _Chunk(commands, 2 if ttl_seconds else 1)


def _script_calls(
    keys: list[bytes], pairs: list[bytes], width: int, ttl_seconds: int | None
) -> _Chunk:
    """EVALSHA of the compare-and-write script per ``_KEYS_PER_SCRIPT`` keys.

    ``pairs`` holds each key's HSET arguments in RESP, ``width`` of them.
    """
    tail = _bulk(str(int(ttl_seconds or 0)).encode()) + _bulk(b"%d" % width)
    commands = []
    for s in range(0, len(keys), _KEYS_PER_SCRIPT):
        group = keys[s : s + _KEYS_PER_SCRIPT]
        n = len(group)
        head = b"*%d\r\n%s%s" % (5 + n + n * width, EVALSHA, _bulk(b"%d" % n))
        group_pairs = b"".join(pairs[s : s + _KEYS_PER_SCRIPT])
        commands.append(b"".join((head, *map(_bulk, group), tail, group_pairs)))
    if commands:
        commands[0] = as_eval(commands[0])
    return _Chunk(commands, 1)


def _pipeline(conn: _Connection, chunks: Iterable[_Chunk]) -> list[Any]:
    """Send the chunks, one in flight while the next is built; return the replies.

    An EVALSHA the server answers NOSCRIPT (its script cache was flushed
    after the chunk's EVAL) is sent again, the first as EVAL, after the
    chunks in flight; replies of those come last.
    """
    replies: list[Any] = []
    in_flight: deque[_Chunk] = deque()

    def send(chunk: _Chunk) -> None:
        conn.send_packed_command([b"".join(chunk.commands)], check_health=False)
        in_flight.append(chunk)

    def settle(chunk: _Chunk) -> None:
        refused = []
        for command in chunk.commands:
            for _ in range(chunk.replies_each):
                try:
                    replies.append(conn.read_response())
                except redis.exceptions.NoScriptError:
                    refused.append(command)
        if refused:
            send(_Chunk([as_eval(refused[0]), *refused[1:]], chunk.replies_each))

    for chunk in chunks:
        send(chunk)
        if len(in_flight) > 1:
            settle(in_flight.popleft())
    while in_flight:
        settle(in_flight.popleft())
    return replies


def _ts_bytes(us: int) -> bytes:
    secs, rem = divmod(us, 1_000_000)
    raw: bytes = Timestamp(seconds=secs, nanos=rem * 1000).SerializeToString()
    return raw
