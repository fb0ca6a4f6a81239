"""Request errors raised by the servicers, and the one mapping to gRPC status."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, error_details_pb2, status_pb2

from featurestore.services.auth.errors import AuditUnavailableError, AuthenticationError
from featurestore.services.auth.errors import PermissionDeniedError as AccessDeniedError
from featurestore.services.contracts.errors import ContractError
from featurestore.services.lineage.errors import LineageError
from featurestore.services.monitoring.errors import MonitoringError
from featurestore.services.offline.errors import (
    OfflineStoreError,
    RequestCancelledError,
)
from featurestore.services.online.errors import OnlineStoreError
from featurestore.services.project.errors import RegistryUnavailableError

log = logging.getLogger(__name__)

DOMAIN = "featurestore.v1"
M = TypeVar("M")


class RequestError(ValueError):
    """A request field is missing or wrong: INVALID_ARGUMENT with a BadRequest."""

    def __init__(
        self, field: str, message: str, reason: str = "INVALID_FIELD", **metadata: str
    ) -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason
        self.metadata = {"field": field, **metadata}


class MalformedRequestError(RequestError):
    """The request's bytes are not the method's message: INVALID_ARGUMENT."""


def parse_request(parse: Callable[[bytes], M], data: bytes) -> M:
    """The request message ``parse`` (a generated ``Message.FromString``) reads
    from ``data``.

    Raises:
        MalformedRequestError: not that message in protobuf's wire format
            (truncated, garbage, a string field that is not UTF-8).
    """
    try:
        return parse(data)
    except DecodeError:
        message = getattr(getattr(parse, "__self__", None), "DESCRIPTOR", None)
        name = message.full_name if message is not None else "request message"
        raise MalformedRequestError(
            "request",
            f"the request is not a valid {name} (protobuf wire format); check "
            "that the client's stubs come from this server's protos",
            reason="MALFORMED_REQUEST",
        ) from None


def required(value: str, field: str, what: str) -> str:
    """``value`` when set; else RequestError (INVALID_ARGUMENT) naming ``field``."""
    if not value:
        raise RequestError(field, f"{field} is required: {what}")
    return value


class NotFoundError(LookupError):
    """A named resource (view, feature, service, path) does not exist."""

    def __init__(self, kind: str, name: str, message: str | None = None) -> None:
        super().__init__(message or f"unknown {kind}: {name!r}")
        self.reason = f"{kind.upper().replace(' ', '_')}_NOT_FOUND"
        self.metadata = {kind.replace(" ", "_"): name}


class ResourceExhaustedError(Exception):
    """A server limit is reached: RESOURCE_EXHAUSTED; metadata names the limit."""

    def __init__(
        self, message: str, reason: str = "RESOURCE_EXHAUSTED", **metadata: str
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.metadata = metadata


class RequestTooLargeError(ResourceExhaustedError):
    """The request asks for more than the server allows: RESOURCE_EXHAUSTED."""

    def __init__(self, message: str, **metadata: str) -> None:
        super().__init__(message, "REQUEST_TOO_LARGE", **metadata)


class PermissionDeniedError(Exception):
    """The caller may not do this (a path outside its root, a role): PERMISSION_DENIED.

    Messages name the setting or rule that refused, never a resolved server path.
    """

    def __init__(
        self, message: str, reason: str = "PERMISSION_DENIED", **metadata: str
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.metadata = metadata


class MethodNotFoundError(Exception):
    """No such method on this server: UNIMPLEMENTED (METHOD_NOT_FOUND)."""

    reason = "METHOD_NOT_FOUND"

    def __init__(self, method: str) -> None:
        super().__init__(f"no method {method} on this server")
        self.metadata = {"method": method}


class FailedPreconditionError(Exception):
    """The server's state forbids the call as sent (an output exists, a folder is
    not writable): FAILED_PRECONDITION with a PreconditionFailure on ``subject``.
    """

    def __init__(
        self,
        message: str,
        reason: str = "FAILED_PRECONDITION",
        subject: str = "",
        **metadata: str,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.subject = subject
        self.metadata = metadata


ONLINE_ROWS_LIMIT = "max_online_entity_rows"
"""The setting a too-large online request is told about (as the historical
one names ``max_historical_entity_rows``)."""


def entity_row_count(lengths: dict[str, int], max_rows: int) -> int:
    """Rows in a columnar entity request: every column equally long, 1..max_rows.

    Both online APIs (featurestore.v1 and Feast's ServingService) apply this rule.

    Raises:
        RequestError: no columns, empty columns, or columns of different length.
        RequestTooLargeError: more than ``max_rows`` rows.
    """
    if not lengths:
        raise RequestError(
            "entities", "no entity rows: send at least one join key column"
        )
    counts = set(lengths.values())
    if len(counts) != 1:
        raise RequestError(
            "entities",
            f"entity columns differ in length: {lengths}",
            reason="UNEVEN_ENTITY_COLUMNS",
        )
    rows = counts.pop()
    if rows == 0:
        raise RequestError("entities", "no entity rows: the entity columns are empty")
    if rows > max_rows:
        raise RequestTooLargeError(
            f"{rows} entity rows exceed the limit of {max_rows} (setting "
            f"{ONLINE_ROWS_LIMIT}); split the request",
            rows=str(rows),
            limit=str(max_rows),
            setting=ONLINE_ROWS_LIMIT,
        )
    return rows


DOMAIN_ERRORS: tuple[type[Exception], ...] = (
    RequestError,
    NotFoundError,
    ResourceExhaustedError,
    PermissionDeniedError,
    FailedPreconditionError,
    MethodNotFoundError,
    ContractError,
    LineageError,
    MonitoringError,
    OfflineStoreError,
    OnlineStoreError,
    RegistryUnavailableError,
)
"""Errors raised on purpose, with a reason: only these reach clients as such."""

SERVER_STATE_REASONS = frozenset(
    {
        "FEATURE_COLUMN_MISSING",
        "FEATURE_COLUMN_TYPE_MISMATCH",
        "ON_DEMAND_VIEW_NOT_SERVED",
    }
)
"""Reasons of domain errors about the server's own data (a feature table lacks a
column its view names, or holds it with the wrong type; a view is on-demand,
which this server does not compute), not a malformed request:
FAILED_PRECONDITION, whatever builtin the error derives from (ValueError or
TypeError for callers of the library)."""

CONTRACT_FILE_REASONS = frozenset(
    {
        "INVALID_YAML",
        "INVALID_FIELD",
        "PATH_MISMATCH",
        "CHECK_NOT_RUNNABLE",
        "CONTRACTS_UNREADABLE",
    }
)
"""Reasons of contract errors about a contract file on the server (malformed,
misplaced, or a check that cannot run): no RPC takes a contract from the
caller, so these are FAILED_PRECONDITION too (the caller cannot fix them by
changing the request), though they are ValueErrors to the library's callers."""


def grpc_code(exc: BaseException) -> grpc.StatusCode:
    """The canonical status code for a domain error (AIP-193 mapping).

    A stream closed before its end (``GeneratorExit``: the caller cancelled
    or went away) or work stopped for that reason (``RequestCancelledError``)
    is CANCELLED. Anything else (a stray ``KeyError``, an
    ``OSError`` from a write, a bug) is INTERNAL, whatever builtin it derives
    from.
    """
    if isinstance(exc, GeneratorExit | RequestCancelledError):
        return grpc.StatusCode.CANCELLED
    if isinstance(exc, AuthenticationError):
        return grpc.StatusCode.UNAUTHENTICATED
    if isinstance(exc, AccessDeniedError):
        return grpc.StatusCode.PERMISSION_DENIED
    if isinstance(exc, AuditUnavailableError):
        return grpc.StatusCode.UNAVAILABLE
    if not isinstance(exc, DOMAIN_ERRORS):
        return grpc.StatusCode.INTERNAL
    if isinstance(exc, PermissionDeniedError):
        return grpc.StatusCode.PERMISSION_DENIED
    if isinstance(exc, ResourceExhaustedError):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if isinstance(exc, MethodNotFoundError):
        return grpc.StatusCode.UNIMPLEMENTED
    reason = str(getattr(exc, "reason", ""))
    if (
        isinstance(exc, FailedPreconditionError)
        or reason in SERVER_STATE_REASONS
        or (isinstance(exc, ContractError) and reason in CONTRACT_FILE_REASONS)
    ):
        return grpc.StatusCode.FAILED_PRECONDITION
    if isinstance(exc, ConnectionError) or reason.endswith("UNAVAILABLE"):
        return grpc.StatusCode.UNAVAILABLE
    if isinstance(exc, LookupError):
        return grpc.StatusCode.NOT_FOUND
    if isinstance(exc, ValueError | TypeError):
        return grpc.StatusCode.INVALID_ARGUMENT
    return grpc.StatusCode.INTERNAL


MAX_MESSAGE_BYTES = 512
MAX_METADATA_BYTES = 128
"""UTF-8 bytes: the message is sent twice (grpc-message, percent-encoded, and
in the details), so a status stays a few KiB, under any hop's 8 KiB limit."""


def _clip(text: str, limit: int) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode(errors="ignore") + "\u2026"


def to_status(exc: BaseException) -> tuple[grpc.StatusCode, status_pb2.Status]:
    """Build the rich ``google.rpc.Status`` (ErrorInfo, BadRequest) for ``exc``.

    Unknown exceptions become INTERNAL with a generic message; their traceback
    goes to the log only.
    """
    code = grpc_code(exc)
    if code is grpc.StatusCode.INTERNAL:
        log.exception("internal error", exc_info=exc)
        message, reason, metadata = "internal error", "INTERNAL", {}
    else:
        # Client strings echoed back (a 5,000-character name) are clipped so
        # the status fits in the trailers of every hop (fs-front included).
        message = _clip(str(exc), MAX_MESSAGE_BYTES)
        reason = str(getattr(exc, "reason", type(exc).__name__))
        metadata = {
            str(k): _clip(str(v), MAX_METADATA_BYTES)
            for k, v in getattr(exc, "metadata", {}).items()
        }
    details = [
        error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN, metadata=metadata)
    ]
    field = getattr(exc, "field", None)
    if code is grpc.StatusCode.INVALID_ARGUMENT and field:
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=field, description=message
                    )
                ]
            )
        )
    if code is grpc.StatusCode.FAILED_PRECONDITION:
        details.append(
            error_details_pb2.PreconditionFailure(
                violations=[
                    error_details_pb2.PreconditionFailure.Violation(
                        type=reason,
                        subject=str(getattr(exc, "subject", "")),
                        description=message,
                    )
                ]
            )
        )
    packed = []
    for detail in details:
        any_detail = any_pb2.Any()
        any_detail.Pack(detail)
        packed.append(any_detail)
    status = status_pb2.Status(
        code=getattr(code_pb2, code.name), message=message, details=packed
    )
    return code, status
