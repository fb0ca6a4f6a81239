"""One server interceptor: error translation to rich status, and RPC metrics."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.rpc import status_pb2
from grpc_status import rpc_status
from prometheus_client import Counter, Histogram

from services.server.errors import to_status

RPC_LATENCY = Histogram(
    "featurestore_rpc_latency_seconds",
    "Server-side latency per RPC.",
    ["method"],
    buckets=(
        0.0002,
        0.0005,
        0.001,
        0.002,
        0.005,
        0.01,
        0.025,
        0.05,
        0.1,
        0.5,
        1,
        5,
        30,
    ),
)
RPC_ERRORS = Counter(
    "featurestore_rpc_errors_total", "RPCs that ended in an error.", ["method", "code"]
)


def failure_status(
    method: str, exc: BaseException
) -> tuple[grpc.StatusCode, status_pb2.Status]:
    """The status a failed call answers with (``to_status``), counted in RPC_ERRORS."""
    code, status = to_status(exc)
    RPC_ERRORS.labels(method, code.name).inc()
    return code, status


def _abort(context: grpc.ServicerContext, method: str, exc: BaseException) -> None:
    _, status = failure_status(method, exc)
    context.abort_with_status(rpc_status.to_status(status))


def _unary(method: str, behaviour: Callable[..., Any]) -> Callable[..., Any]:
    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        started = time.perf_counter()
        try:
            return behaviour(request, context)
        except Exception as exc:
            if isinstance(exc, grpc.RpcError) or _already_aborted(context):
                raise
            _abort(context, method, exc)
        finally:
            RPC_LATENCY.labels(method).observe(time.perf_counter() - started)

    return handle


def _stream(method: str, behaviour: Callable[..., Iterator[Any]]) -> Callable[..., Any]:
    def handle(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        started = time.perf_counter()
        try:
            yield from behaviour(request, context)
        except Exception as exc:
            if isinstance(exc, grpc.RpcError) or _already_aborted(context):
                raise
            _abort(context, method, exc)
        finally:
            RPC_LATENCY.labels(method).observe(time.perf_counter() - started)

    return handle


def _passing_bytes(
    serializer: Callable[[Any], bytes] | None,
) -> Callable[[Any], bytes] | None:
    """A serializer that sends a handler's ``bytes`` result as they are.

    Handlers that build the response's wire format themselves (the online
    reads) return bytes; every other handler returns a message as usual.
    """
    if serializer is None:
        return None

    def serialize(response: Any) -> bytes:
        return response if type(response) is bytes else serializer(response)

    return serialize


def _already_aborted(context: grpc.ServicerContext) -> bool:
    # context.abort raises a plain Exception after setting the code.
    return context.code() is not None


class ErrorAndMetricsInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Maps domain errors to status codes with details, and times every RPC.

    Unary handlers may also return their response already serialised (bytes).
    """

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method.rsplit("/", 1)[-1]
        if handler.unary_unary is not None:
            return handler._replace(
                unary_unary=_unary(method, handler.unary_unary),
                response_serializer=_passing_bytes(handler.response_serializer),
            )
        if handler.unary_stream is not None:
            return handler._replace(unary_stream=_stream(method, handler.unary_stream))
        return handler
