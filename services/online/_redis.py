"""Read Feast's Redis online store (``RedisOnlineStore`` hash layout) directly."""

from __future__ import annotations

import logging
import struct
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import mmh3
import redis
from google.protobuf.timestamp_pb2 import Timestamp
from redis.backoff import NoBackoff
from redis.retry import Retry

from featurestore.services.online._assemble import StoredRow, assemble
from featurestore.services.online._keys import encode_entity_keys
from featurestore.services.online.errors import OnlineStoreUnavailableError
from featurestore.services.online.model import ViewRequest, ViewResult

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_parse_ts = Timestamp.FromString


@lru_cache(maxsize=4096)
def feature_field(view: str, feature: str) -> bytes:
    """Hash field of a feature: murmur3_32 of ``view:feature``, little endian."""
    return struct.pack("<I", mmh3.hash(f"{view}:{feature}", signed=False))


@lru_cache(maxsize=1024)
def view_fields(view: str, features: tuple[str, ...]) -> tuple[bytes, ...]:
    """Hash fields for the features of a view, then its ``_ts:<view>`` field."""
    return (*(feature_field(view, f) for f in features), f"_ts:{view}".encode())


@lru_cache(maxsize=1024)
def _fields_frame(fields: tuple[bytes, ...]) -> bytes:
    """RESP framing of a view's field arguments (framed once per view)."""
    return b"".join([b"$%d\r\n%s\r\n" % (len(f), f) for f in fields])


def _hmget_command(key: bytes, n_fields: int, frames: list[bytes]) -> bytes:
    """``HMGET key fields...`` as RESP bytes, the fields already framed."""
    # bytes.join hands back a lone bytes item itself: no copy for one view.
    return b"*%d\r\n$5\r\nHMGET\r\n$%d\r\n%s\r\n%s" % (
        n_fields + 2, len(key), key, b"".join(frames),
    )  # fmt: skip


def _redis_ts(raw: bytes) -> datetime:
    ts = _parse_ts(raw)
    return _EPOCH + timedelta(seconds=ts.seconds, microseconds=ts.nanos // 1000)


class RedisOnlineReader:
    """Reads feature rows written by Feast's ``RedisOnlineStore``.

    All views and entity rows of a request go out as one pipeline of HMGETs,
    one per distinct Redis key (views sharing an entity share the HMGET).
    The client never retries and every socket operation is bounded by
    ``timeout_s``; a broken connection is dropped and re-opened on next use.
    """

    def __init__(
        self, client: redis.Redis, name: str, entity_key_version: int = 3
    ) -> None:
        """Wrap a configured client; prefer ``RedisOnlineReader.connect``.

        Args:
            client: A redis-py client with bounded timeouts and no retries.
            name: ``redis:host:port``, for the server log (a client is
                told only that the store is Redis).
            entity_key_version: Feast ``entity_key_serialization_version``.
        """
        self._client = client
        self._name = name
        self._version = entity_key_version
        self._failing = False  # logged once per outage, not per read

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        timeout_s: float = 0.5,
        entity_key_version: int = 3,
        **kwargs: Any,
    ) -> RedisOnlineReader:
        """Create a reader for a Redis server; connects lazily.

        Args:
            host: Server host.
            port: Server port.
            timeout_s: Deadline of one read (split between connect and reply).
            entity_key_version: Feast ``entity_key_serialization_version``.
            **kwargs: More redis-py ``Redis`` options (db, password, ssl, ...).

        Returns:
            The reader.
        """
        # Connect and reply each get half, so a read fails within timeout_s
        # whether the server is gone (connect) or hung (reply).
        half = timeout_s / 2
        client = redis.Redis(
            host=host,
            port=port,
            socket_timeout=half,
            socket_connect_timeout=half,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
            **kwargs,
        )
        return cls(client, f"redis:{host}:{port}", entity_key_version)

    def read(
        self,
        project: str,
        views: Sequence[ViewRequest],
        entity_rows: Mapping[str, Sequence[object]],
        now: datetime,
    ) -> list[ViewResult]:
        """Read the requested features of every view for every entity row.

        See ``OnlineReader.read``.
        """
        suffix = project.encode()
        plans = []
        # Per Redis key: how many fields it asks for, and their framed
        # arguments (one block per view using the key; views sharing an
        # entity share the HMGET).
        counts: dict[bytes, int] = {}
        frames: dict[bytes, list[bytes]] = {}
        for view in views:
            keys = [
                k + suffix
                for k in encode_entity_keys(
                    view.join_keys, view.join_key_types, entity_rows, self._version
                )
            ]
            fields = view_fields(view.name, view.features)
            frame = _fields_frame(fields)
            offsets: dict[bytes, int] = {}
            for key in keys:
                if key not in offsets:
                    offsets[key] = counts.get(key, 0)
                    counts[key] = offsets[key] + len(fields)
                    frames.setdefault(key, []).append(frame)
            plans.append((view, keys, offsets))
        replies = dict(zip(counts, self._hmget_all(counts, frames), strict=True))
        results = []
        for view, keys, offsets in plans:
            nf = len(view.features)
            stored: dict[bytes, StoredRow] = {}
            for key, off in offsets.items():
                reply = replies[key]
                raw_ts = reply[off + nf]
                if raw_ts is not None:
                    stored[key] = (_redis_ts(raw_ts), reply[off : off + nf])
            results.append(assemble(view, keys, stored, now))
        return results

    def _hmget_all(
        self, counts: dict[bytes, int], frames: dict[bytes, list[bytes]]
    ) -> list[list[bytes | None]]:
        """One HMGET per key, sent as one buffer; replies in key order.

        The RESP request is framed here rather than through redis-py's
        pipeline, which encodes every argument of every command in Python:
        100 keys x 51 fields took 2.9 ms that way and 2.0 ms framed here
        (replies are still parsed by redis-py's hiredis reader).
        """
        if not counts:
            return []
        request = b"".join(
            [_hmget_command(key, n, frames[key]) for key, n in counts.items()]
        )
        pool = self._client.connection_pool
        try:
            # Checks out a pooled connection (reconnecting a dropped one).
            conn: Any = pool.get_connection()  # redis-py leaves it untyped
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise self._unavailable(exc) from exc
        try:
            conn.send_packed_command([request], check_health=False)
            replies = [conn.read_response() for _ in counts]
            self._failing = False
            return replies
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            conn.disconnect()
            raise self._unavailable(exc) from exc
        except BaseException:
            # Replies after a failing one are still unread: never reuse it.
            conn.disconnect()
            raise
        finally:
            pool.release(conn)

    def _unavailable(self, exc: BaseException) -> OnlineStoreUnavailableError:
        """The domain error for a failed round trip; drops idle connections.

        The caller is told the store's kind only (errors never say where
        things live on the server); its address goes to the server log, once
        per outage.
        """
        self._client.connection_pool.disconnect(inuse_connections=False)
        if not self._failing:
            self._failing = True
            log.warning("online store %s is unavailable: %r", self._name, exc)
        return OnlineStoreUnavailableError("redis", type(exc).__name__)

    def ping(self) -> bool:
        """Return True when the server answers PING within the timeout."""
        try:
            return bool(self._client.ping())
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            self._client.connection_pool.disconnect(inuse_connections=False)
            return False

    def close(self) -> None:
        """Close the client's connections."""
        self._client.close()
