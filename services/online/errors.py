"""Errors raised by the online store readers and writers, with stable reasons."""

from __future__ import annotations

import enum


class Reason(enum.StrEnum):
    """Stable, machine-readable reasons for online-store failures."""

    ONLINE_STORE_UNAVAILABLE = "ONLINE_STORE_UNAVAILABLE"
    ONLINE_TABLE_NOT_FOUND = "ONLINE_TABLE_NOT_FOUND"
    UNSUPPORTED_ONLINE_STORE = "UNSUPPORTED_ONLINE_STORE"
    UNSUPPORTED_JOIN_KEY_TYPE = "UNSUPPORTED_JOIN_KEY_TYPE"
    INVALID_ENTITY_ROWS = "INVALID_ENTITY_ROWS"
    VIEWS_NOT_MATERIALIZED = "VIEWS_NOT_MATERIALIZED"
    INTERVAL_NOT_RECORDED = "INTERVAL_NOT_RECORDED"


class OnlineStoreError(Exception):
    """Base class: an online-store failure a caller can act on.

    Attributes:
        reason: Stable UPPER_SNAKE reason, safe to branch on.
        metadata: The dynamic values quoted in the message.
    """

    def __init__(self, reason: Reason, message: str, **metadata: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.metadata: dict[str, str] = metadata


class OnlineStoreUnavailableError(OnlineStoreError, ConnectionError):
    """The online store cannot be reached (down, refused, timed out); retryable.

    ``store`` is in the message: on the serving path the store's kind only
    (``redis``), as a client may read it; an operator's command may name
    where it is (``redis:host:port``, never the connection string).
    """

    def __init__(self, store: str, detail: str) -> None:
        super().__init__(
            Reason.ONLINE_STORE_UNAVAILABLE,
            f"online store {store} is unavailable: {detail}",
            store=store,
            detail=detail,
        )


class OnlineTableNotFoundError(OnlineStoreError, LookupError):
    """The store has no table for a feature view (never applied / materialised)."""

    def __init__(self, table: str) -> None:
        super().__init__(
            Reason.ONLINE_TABLE_NOT_FOUND,
            f"online store has no table {table!r}",
            table=table,
        )


class UnsupportedOnlineStoreError(OnlineStoreError, ValueError):
    """The RepoConfig names an online store or option this package cannot read."""

    def __init__(self, store: str, detail: str) -> None:
        super().__init__(
            Reason.UNSUPPORTED_ONLINE_STORE,
            f"online store {store!r} is not supported: {detail}",
            store=store,
            detail=detail,
        )


class UnsupportedJoinKeyTypeError(OnlineStoreError, TypeError):
    """A join key value has a type Feast cannot serialise into an entity key."""

    def __init__(self, join_key: str, type_name: str) -> None:
        super().__init__(
            Reason.UNSUPPORTED_JOIN_KEY_TYPE,
            f"join key {join_key!r} has unsupported type {type_name}",
            join_key=join_key,
            type=type_name,
        )


class InvalidEntityRowsError(OnlineStoreError, ValueError):
    """Entity rows are malformed: a join key column is missing or lengths differ."""

    def __init__(self, message: str, **metadata: str) -> None:
        super().__init__(Reason.INVALID_ENTITY_ROWS, message, **metadata)


class ViewsNotMaterializedError(OnlineStoreError):
    """Some feature views could not be read or written; the others were written.

    Attributes:
        written: Entities written per view that was materialised.
        failed: One line per view that was not (why its table could not be
            read or its rows written); its interval is not recorded, so the
            next incremental run starts where it did.
    """

    def __init__(self, written: dict[str, int], failed: dict[str, str]) -> None:
        views = ", ".join(failed)
        super().__init__(
            Reason.VIEWS_NOT_MATERIALIZED,
            f"{len(failed)} feature view(s) not materialised: {views}",
            views=views,
        )
        self.written = written
        self.failed = failed

    def lines(self) -> list[str]:
        """One line per view not materialised, saying why (for a command's stderr)."""
        return [
            f"feature view {name!r} not materialised: {why}"
            for name, why in self.failed.items()
        ]


class IntervalNotRecordedError(OnlineStoreError):
    """A view's rows were written, but the registry refused its interval.

    Attributes:
        written: Entities written per view, this one's included; the views
            after it were not materialised.
    """

    def __init__(
        self, registry: str, detail: str, view: str, written: dict[str, int]
    ) -> None:
        super().__init__(
            Reason.INTERVAL_NOT_RECORDED,
            f"registry {registry} cannot be written ({detail}): feature view "
            f"{view!r}'s online rows were written but its interval was not "
            "recorded, so the next run writes them again; make the registry "
            "writable for this user",
            registry=registry,
            detail=detail,
            view=view,
        )
        self.written = written
