"""The Delta version each view's materialisation read, kept in its online store."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import redis

from featurestore.services.online._redis_writer import redis_client
from featurestore.services.online._sqlite_writer import open_sqlite, sqlite_path
from featurestore.services.online.errors import OnlineStoreUnavailableError
from featurestore.services.online.writer import store_kind

if TYPE_CHECKING:
    from collections.abc import Iterator

    from feast.repo_config import RepoConfig

# No Feast table: Feast names its own "<project>_<view>", and a project name
# cannot start with an underscore.
_SQLITE_TABLE = "_featurestore_read_versions"
# No Feast hash: Feast's keys are serialised entity keys (binary, starting
# with a key count) followed by the project name.
_REDIS_KEY = "_featurestore:read_versions:{project}"


@dataclass(frozen=True, slots=True)
class ReadVersion:
    """The Delta snapshot a view's online rows reflect.

    Attributes:
        table_id: The Delta table's id (its metaData id): a table deleted and
            created again at the same place gets another one.
        version: The Delta version read.
    """

    table_id: str
    version: int

    def _text(self) -> str:
        return f"{self.version}:{self.table_id}"

    @classmethod
    def _parse(cls, text: str) -> ReadVersion | None:
        version, _, table_id = text.partition(":")
        return cls(table_id, int(version)) if version.isdigit() and table_id else None


def read_versions(config: RepoConfig) -> dict[str, ReadVersion]:
    """The recorded version per view of ``config``'s project (none: empty).

    Raises:
        OnlineStoreUnavailableError: The store cannot be reached.
        UnsupportedOnlineStoreError: Another store type than sqlite or redis.
    """
    if store_kind(config) == "sqlite":
        path = sqlite_path(config)
        try:
            with _sqlite(config) as conn:
                rows = conn.execute(
                    f"SELECT view, version FROM {_SQLITE_TABLE} WHERE project = ?",
                    (config.project,),
                ).fetchall()
        except sqlite3.Error as exc:
            raise OnlineStoreUnavailableError(f"sqlite:{path}", str(exc)) from exc
        texts = {str(view): str(text) for view, text in rows}
    else:
        client, where = redis_client(config)
        try:
            key = _REDIS_KEY.format(project=config.project)
            stored = cast("dict[bytes, bytes]", client.hgetall(key))
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise OnlineStoreUnavailableError(where, str(exc)) from exc
        finally:
            client.close()
        texts = {k.decode(): v.decode() for k, v in stored.items()}
    parsed = {view: ReadVersion._parse(text) for view, text in texts.items()}
    return {view: read for view, read in parsed.items() if read is not None}


def record_version(config: RepoConfig, view: str, read: ReadVersion | None) -> None:
    """Record ``read`` as ``view``'s version; None forgets it.

    Raises:
        OnlineStoreUnavailableError: The store cannot be reached.
        UnsupportedOnlineStoreError: Another store type than sqlite or redis.
    """
    if store_kind(config) == "sqlite":
        path = sqlite_path(config)
        try:
            with _sqlite(config) as conn:
                conn.execute(
                    f"DELETE FROM {_SQLITE_TABLE} WHERE project = ? AND view = ?",
                    (config.project, view),
                )
                if read is not None:
                    conn.execute(
                        f"INSERT INTO {_SQLITE_TABLE} VALUES (?, ?, ?)",
                        (config.project, view, read._text()),
                    )
        except sqlite3.Error as exc:
            raise OnlineStoreUnavailableError(f"sqlite:{path}", str(exc)) from exc
        return
    client, where = redis_client(config)
    key = _REDIS_KEY.format(project=config.project)
    try:
        if read is None:
            client.hdel(key, view)
        else:
            client.hset(key, view, read._text())
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise OnlineStoreUnavailableError(where, str(exc)) from exc
    finally:
        client.close()


@contextmanager
def _sqlite(config: RepoConfig) -> Iterator[sqlite3.Connection]:
    """A connection with the versions table, committed and closed after."""
    conn = open_sqlite(config)
    try:
        with conn:  # one transaction: committed, or rolled back on an error
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {_SQLITE_TABLE} (project TEXT NOT "
                "NULL, view TEXT NOT NULL, version TEXT NOT NULL, "
                "PRIMARY KEY (project, view))"
            )
            yield conn
    finally:
        conn.close()
