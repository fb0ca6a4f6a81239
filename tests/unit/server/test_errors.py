"""The one mapping to gRPC status: only domain errors reach clients as such."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from featurestore.services.contracts.errors import (
    ContractErrorReason,
    ContractNotFoundError,
)
from featurestore.services.offline.errors import (
    FeatureColumnMissingError,
    FeatureColumnTypeError,
    InvalidRequestError,
    InvalidTimestampError,
    RequestCancelledError,
)
from featurestore.services.online.errors import OnlineStoreUnavailableError
from featurestore.services.server.errors import (
    FailedPreconditionError,
    NotFoundError,
    PermissionDeniedError,
    RequestError,
    RequestTooLargeError,
    ResourceExhaustedError,
    to_status,
)


class _Lookalike(ValueError):
    """Not ours, though it has a reason."""

    reason = "LOOKS_DOMAIN"


@pytest.mark.parametrize(
    "exc",
    [
        KeyError("customer_id"),
        IndexError(3),
        OSError(28, "No space left on device", "/srv/data/training_sets/x"),
        PermissionError(13, "Permission denied", "/srv/data/x"),
        ValueError("bad"),
        _Lookalike("x"),
        ConnectionError("reset"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_stray_exceptions_are_internal_with_a_generic_message(
    exc: Exception,
) -> None:
    code, status = to_status(exc)
    assert code is grpc.StatusCode.INTERNAL
    assert status.message == "internal error"
    assert "/srv" not in str(status)


@pytest.mark.parametrize(
    ("exc", "code", "reason"),
    [
        (RequestError("f", "m"), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_FIELD"),
        (NotFoundError("view", "v"), grpc.StatusCode.NOT_FOUND, "VIEW_NOT_FOUND"),
        (
            RequestTooLargeError("m", limit="5"),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "REQUEST_TOO_LARGE",
        ),
        (
            ResourceExhaustedError("m", "TOO_MANY_STREAMS"),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "TOO_MANY_STREAMS",
        ),
        (
            PermissionDeniedError("m", "PATH_OUTSIDE_ROOT", setting="entity_roots"),
            grpc.StatusCode.PERMISSION_DENIED,
            "PATH_OUTSIDE_ROOT",
        ),
        (
            FailedPreconditionError("m", "OUTPUT_EXISTS", subject="output_path"),
            grpc.StatusCode.FAILED_PRECONDITION,
            "OUTPUT_EXISTS",
        ),
        (
            ContractNotFoundError("m", reason=ContractErrorReason.CONTRACT_NOT_FOUND),
            grpc.StatusCode.NOT_FOUND,
            "CONTRACT_NOT_FOUND",
        ),
        (
            InvalidRequestError("m"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_REQUEST",
        ),
        (  # the caller left (cancelled, deadline): no INTERNAL, no traceback
            RequestCancelledError(),
            grpc.StatusCode.CANCELLED,
            "CANCELLED",
        ),
        (  # the server's table, not the request: FAILED_PRECONDITION
            FeatureColumnMissingError("created_at", "v", path="/t"),
            grpc.StatusCode.FAILED_PRECONDITION,
            "FEATURE_COLUMN_MISSING",
        ),
        (
            FeatureColumnTypeError("ts", "string", "timestamp", path="/t", view="v"),
            grpc.StatusCode.FAILED_PRECONDITION,
            "FEATURE_COLUMN_TYPE_MISMATCH",
        ),
        (  # the entity rows' timestamp: the client's
            InvalidTimestampError("event_timestamp", "string"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_TIMESTAMP",
        ),
        (
            OnlineStoreUnavailableError("redis", "down"),
            grpc.StatusCode.UNAVAILABLE,
            "ONLINE_STORE_UNAVAILABLE",
        ),
    ],
    ids=lambda v: getattr(v, "name", None) or type(v).__name__,
)
def test_domain_errors_map_to_their_code_and_reason(
    exc: Exception, code: grpc.StatusCode, reason: str
) -> None:
    got, status = to_status(exc)
    assert got is code
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.reason == reason


def test_failed_precondition_carries_a_precondition_failure() -> None:
    exc = FailedPreconditionError("m", "OUTPUT_EXISTS", subject="output_path")
    _, status = to_status(exc)
    failure = error_details_pb2.PreconditionFailure()
    assert status.details[1].Unpack(failure)
    assert [(v.type, v.subject) for v in failure.violations] == [
        ("OUTPUT_EXISTS", "output_path")
    ]


@pytest.mark.parametrize("char", ["x", "\u00e9", "\U0001f600"])
def test_echoed_client_strings_are_clipped_to_fit_any_trailer(char: str) -> None:
    name = char * 5000
    _, status = to_status(NotFoundError("feature service", name))
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert len(status.message.encode()) <= 512
    assert all(len(v.encode()) <= 128 for v in info.metadata.values())
    assert len(status.SerializeToString()) < 2048
