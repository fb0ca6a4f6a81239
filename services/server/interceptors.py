"""One server interceptor: access (auth, permissions, audit), error translation
to rich status, and RPC metrics."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import grpc
from google.rpc import status_pb2
from grpc_status import rpc_status
from prometheus_client import Counter, Histogram

from featurestore.services.server.access import UNGUARDED_PREFIX
from featurestore.services.server.errors import (
    MalformedRequestError,
    MethodNotFoundError,
    parse_request,
    to_status,
)

if TYPE_CHECKING:
    from featurestore.services.server.access import Call, Guard

log = logging.getLogger(__name__)

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


def _unary(
    method: str,
    behaviour: Callable[..., Any],
    parse: _Parse | None,
    admission: _Admission | None,
) -> Callable[..., Any]:
    def handle(data: Any, context: grpc.ServicerContext) -> Any:
        started = time.perf_counter()
        try:
            request = _read(parse, data, admission)
            if admission is None:
                return behaviour(request, context)
            with admission.call(request):
                return behaviour(request, context)
        except Exception as exc:
            if isinstance(exc, grpc.RpcError) or _already_aborted(context):
                raise
            _abort(context, method, exc)
        finally:
            RPC_LATENCY.labels(method).observe(time.perf_counter() - started)

    return handle


def _stream(
    method: str,
    behaviour: Callable[..., Iterator[Any]],
    parse: _Parse | None,
    admission: _Admission | None,
    stopping: threading.Event | None = None,
) -> Callable[..., Any]:
    def handle(data: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        started = time.perf_counter()
        request_id = ""
        try:
            request = _read(parse, data, admission)
            if admission is None:
                yield from behaviour(request, context)
            else:
                with admission.call(request) as call:
                    request_id = call.request_id
                    yield from behaviour(request, context)
        except GeneratorExit:
            _stream_closed(
                method, request_id, stopping is not None and stopping.is_set()
            )
            raise
        except Exception as exc:
            if isinstance(exc, grpc.RpcError) or _already_aborted(context):
                raise
            _abort(context, method, exc)
        finally:
            RPC_LATENCY.labels(method).observe(time.perf_counter() - started)

    return handle


def _stream_closed(method: str, request_id: str, server_stopping: bool) -> None:
    """Count and log a response stream gRPC closed before its end.

    grpc-python closes the handler's generator (``GeneratorExit`` at its
    ``yield``) when the call ended while it still had messages to send: the
    client cancelled, its deadline passed, it went away or refused a message
    (its receive limit), or a send failed. The server sees all of these as a
    cancelled call, so they count as CANCELLED, as the audit records them
    (``grpc_code``); before, they counted as successes, and nothing was logged.
    When the server is stopping, its shutdown grace ending cancels the calls
    still running: the log says so rather than blame the client.
    """
    RPC_ERRORS.labels(method, grpc.StatusCode.CANCELLED.name).inc()
    why = (
        "the server was stopping and its shutdown grace (grace_seconds) ended"
        if server_stopping
        else "the client cancelled, its deadline passed, or the response could "
        "not be delivered"
    )
    log.info(
        "%s%s ended before its last response: %s (CANCELLED)",
        method,
        f" (request id {request_id})" if request_id else "",
        why,
    )


def _read(parse: _Parse | None, data: Any, admission: _Admission | None) -> Any:
    """The request from its bytes; unreadable bytes are INVALID_ARGUMENT,
    audited (and refused UNAUTHENTICATED first without valid credentials)."""
    if parse is None:
        return data
    try:
        return parse_request(parse, data)
    except MalformedRequestError as exc:
        if admission is not None:
            admission.refuse(exc)
        raise


def _each_read(parse: _Parse | None) -> Callable[[Iterator[Any]], Iterator[Any]]:
    """A request stream's messages read from their bytes (``parse_request``)."""

    def read(messages: Iterator[Any]) -> Iterator[Any]:
        for data in messages:
            yield data if parse is None else parse_request(parse, data)

    return read


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


def _answers_by_callback(behaviour: Callable[..., Any]) -> bool:
    """True for a stream grpc-python runs without a thread (health's ``Watch``).

    Such a handler sends through a callback and returns at once; wrapped, it
    would hold one of the server's threads for the life of every stream, so
    a few unauthenticated watchers could stop the server answering anything.
    """
    return bool(getattr(behaviour, "experimental_non_blocking", False))


def _already_aborted(context: grpc.ServicerContext) -> bool:
    # context.abort raises a plain Exception after setting the code.
    return context.code() is not None


_Parse = Callable[[bytes], Any]


class _Admission:
    """The guard's admission of one call (method and metadata known)."""

    __slots__ = ("_guard", "_metadata", "_method")

    def __init__(self, guard: Guard, method: str, metadata: dict[str, str]) -> None:
        self._guard, self._method, self._metadata = guard, method, metadata

    def call(self, request: Any) -> Call:
        return self._guard.call(self._method, request, self._metadata)

    def refuse(self, error: Exception) -> None:
        self._guard.refuse(self._method, self._metadata, error)


class ErrorAndMetricsInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Admits calls through the guard, maps domain errors to status codes with
    details, and times every RPC.

    Every method but health goes through ``guard`` when there is one, unary
    and streaming alike. Requests are read from their bytes here, so a
    malformed one is INVALID_ARGUMENT and audited like any other call (grpc's
    own deserialisation answers INTERNAL before any interceptor code runs).
    Unary handlers may also return their response already serialised (bytes).
    ``stopping`` is set when the server begins to stop (for the log of a
    stream its shutdown cuts).
    """

    def __init__(
        self, guard: Guard | None = None, stopping: threading.Event | None = None
    ) -> None:
        self.guard, self.stopping = guard, stopping

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        full_method = handler_call_details.method
        if handler is None:
            return self._unknown(full_method, handler_call_details)
        method = full_method.rsplit("/", 1)[-1]
        admission = self._admission(full_method, handler_call_details)
        parse = handler.request_deserializer
        if handler.unary_unary is not None:
            return handler._replace(
                request_deserializer=None,
                unary_unary=_unary(method, handler.unary_unary, parse, admission),
                response_serializer=_passing_bytes(handler.response_serializer),
            )
        if handler.unary_stream is not None:
            if admission is None and _answers_by_callback(handler.unary_stream):
                return handler
            return handler._replace(
                request_deserializer=None,
                unary_stream=_stream(
                    method, handler.unary_stream, parse, admission, self.stopping
                ),
            )
        if handler.stream_stream is not None:
            # Reflection's stream-stream: admitted once, before any message.
            read = _each_read(parse)
            behaviour = handler.stream_stream
            return handler._replace(
                request_deserializer=None,
                stream_stream=_stream(
                    method,
                    lambda messages, context: behaviour(read(messages), context),
                    None,
                    admission,
                    self.stopping,
                ),
            )
        return handler

    def _unknown(
        self, full_method: str, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        """A method this server does not have (reflection turned off, a typo,
        a probe): with a guard, authenticated and audited like any call, then
        UNIMPLEMENTED; so a caller without credentials learns nothing of which
        services exist. A stream handler: it reads no message, so it suits a
        call of any shape."""
        admission = self._admission(full_method, details)
        if admission is None:
            return None

        def unimplemented(messages: Any, context: Any) -> Iterator[Any]:
            raise MethodNotFoundError(full_method)
            yield  # a generator: _stream runs it inside the admission

        method = full_method.rsplit("/", 1)[-1]
        return grpc.stream_stream_rpc_method_handler(
            _stream(method, unimplemented, None, admission)
        )

    def _admission(
        self, full_method: str, details: grpc.HandlerCallDetails
    ) -> _Admission | None:
        guard = self.guard
        if guard is None or full_method.startswith(UNGUARDED_PREFIX):
            return None
        metadata = {
            key: value
            for key, value in details.invocation_metadata or ()
            if isinstance(value, str)
        }
        return _Admission(guard, full_method, metadata)
