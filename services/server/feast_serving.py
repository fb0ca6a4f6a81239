"""Feast's ServingService over our catalog and online readers (Feast SDK not used)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import grpc
from feast.protos.feast.serving import ServingService_pb2 as serving_pb
from feast.protos.feast.serving import ServingService_pb2_grpc as serving_grpc
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.types import PrimitiveFeastType
from feast.version import get_version
from google.protobuf.timestamp_pb2 import Timestamp

from featurestore.services.online import (
    FeatureStatus,
    OnlineReader,
    PackedDoubles,
    ViewResult,
)
from featurestore.services.server.catalog import Catalog, ViewRequest
from featurestore.services.server.errors import RequestError, entity_row_count
from featurestore.services.server.online_features import (
    check_column_names,
    key_columns,
    read_views,
)
from featurestore.services.server.values import (
    framed_columns,
    length_delimited,
    timestamp_body,
)

__all__ = ["SERVICE_NAME", "FeastServingServicer", "online_features_wire"]

SERVICE_NAME: str = serving_pb.DESCRIPTOR.services_by_name["ServingService"].full_name

# ValueProto fields accepted for each join-key type; ints widen like Feast's.
_KEY_FIELDS: dict[object, tuple[str, ...]] = {
    PrimitiveFeastType.INT64: ("int64_val", "int32_val"),
    PrimitiveFeastType.INT32: ("int32_val", "int64_val"),
    PrimitiveFeastType.STRING: ("string_val",),
    PrimitiveFeastType.BYTES: ("bytes_val",),
    PrimitiveFeastType.UNIX_TIMESTAMP: ("unix_timestamp_val",),  # epoch seconds
}
_NO_TIME = Timestamp()
_PRESENT = serving_pb.FieldStatus.PRESENT
_NOT_FOUND = int(FeatureStatus.NOT_FOUND)


class FeastServingServicer(serving_grpc.ServingServiceServicer):
    """``feast.serving.ServingService`` for Feast's generated clients."""

    def __init__(
        self, catalog: Catalog, reader: OnlineReader, *, project: str, max_rows: int
    ) -> None:
        self.catalog, self.reader = catalog, reader
        self.project, self.max_rows = project, max_rows

    def GetFeastServingInfo(
        self,
        request: serving_pb.GetFeastServingInfoRequest,
        context: grpc.ServicerContext,
    ) -> serving_pb.GetFeastServingInfoResponse:
        """The Feast version whose wire format this server speaks."""
        return serving_pb.GetFeastServingInfoResponse(version=get_version())  # type: ignore[no-untyped-call]

    def GetOnlineFeatures(
        self,
        request: serving_pb.GetOnlineFeaturesRequest,
        context: grpc.ServicerContext,
    ) -> bytes:
        """Latest values in Feast's layout: join keys first, then the features."""
        return online_features_wire(
            request, self.catalog, self.reader, project=self.project,
            max_rows=self.max_rows,
        )  # fmt: skip


def online_features_wire(
    request: serving_pb.GetOnlineFeaturesRequest,
    catalog: Catalog,
    reader: OnlineReader,
    *,
    project: str,
    max_rows: int,
    wanted: Sequence[ViewRequest] | None = None,
) -> bytes:
    """Serve one Feast GetOnlineFeatures request through our reader, serialised.

    The layout follows Feast's Python server: the join keys the requested views
    use come first (PRESENT, unset timestamps; other entity columns are dropped
    as Feast does), then one vector per feature. Two deliberate differences:
    the order is deterministic (join keys in view order, features in request
    order; Feast orders features within a view by set iteration, which varies
    between processes), and values older than the view's TTL are
    OUTSIDE_MAX_AGE (Feast's Python server never checks the TTL online).
    ``wanted``: the request's selection already resolved (by the guard);
    resolved here when None.

    Raises:
        RequestError: no entity rows, uneven columns, a missing or mistyped key,
            request_context (on-demand views are not served).
        NotFoundError: unknown view, feature or feature service.
        RequestTooLargeError: more entity rows than the server allows.
    """
    if request.request_context:
        raise RequestError(
            "request_context", "on-demand feature views are not served",
            reason="REQUEST_CONTEXT_UNSUPPORTED",
        )  # fmt: skip
    if wanted is None:
        wanted = catalog.resolve(list(request.features.val), request.feature_service)
    rows = entity_row_count(
        {name: len(v.val) for name, v in request.entities.items()}, max_rows
    )
    entity_rows = key_columns(
        wanted, lambda name, dtype, _: _key_column(name, dtype, request.entities)
    )
    # Two columns of one name: Feast raises FeatureNameCollisionError; ours is
    # the featurestore.v1 answer (INVALID_ARGUMENT, DUPLICATE_COLUMN).
    check_column_names(entity_rows, wanted, request.full_feature_names)
    now = datetime.now(UTC)
    results = read_views(reader, project, wanted, entity_rows, now, rows=rows)
    response = serving_pb.GetOnlineFeaturesResponse()
    names = response.metadata.feature_names.val
    empty_times = [_NO_TIME] * rows
    for name in entity_rows:
        names.append(name)
        response.results.add(
            values=request.entities[name].val,
            statuses=[_PRESENT] * rows,
            event_timestamps=empty_times,
        )
    # Feature vectors go out as wire bytes: the stored ValueProto bytes are
    # already Feast's layout. Repeated fields append after the key vectors.
    blobs = []
    for item, result in zip(wanted, results, strict=True):
        names.extend(item.column_names(request.full_feature_names))
        blobs.extend(_feature_vectors(result))
    head: bytes = response.SerializeToString()
    return head + b"".join(blobs)


def _feature_vectors(result: ViewResult) -> list[bytes]:
    """Serialised ``results`` entries (field 2) of one view's features."""
    rows = result.raw_values
    nf = len(result.features)
    stamps: dict[datetime | None, bytes] = {}
    for moment in result.event_times:
        if moment not in stamps:
            stamps[moment] = length_delimited(b"\x1a", timestamp_body(moment))
    times = b"".join([stamps[moment] for moment in result.event_times])
    codes = [int(s) for s in result.row_statuses]
    statuses = length_delimited(b"\x12", bytes(codes))
    if isinstance(rows, PackedDoubles):
        fields = framed_columns(rows.cells, rows.present, b"\x0a\x09", b"\x0a\x00")
        return [length_delimited(b"\x12", f + statuses + times) for f in fields]
    # Stored rows lacking some feature: those cells are NOT_FOUND.
    gaps = [i for i, raw in enumerate(rows) if raw is not None and None in raw]
    missing = (None,) * nf
    columns = zip(*[missing if raw is None else raw for raw in rows], strict=True)
    out = []
    for j, values in enumerate(columns):
        column_statuses = statuses
        if gaps:
            fixed = codes.copy()
            for i in gaps:
                if rows[i][j] is None:  # type: ignore[index]
                    fixed[i] = _NOT_FOUND
            column_statuses = length_delimited(b"\x12", bytes(fixed))
        body = b"".join((_values_field(values), column_statuses, times))
        out.append(length_delimited(b"\x12", body))
    return out


def _values_field(raws: tuple[bytes | None, ...]) -> bytes:
    """``values`` entries (field 1): each stored ValueProto as is, null if unset."""
    if None not in raws:
        lengths = set(map(len, raws))  # type: ignore[arg-type]
        if len(lengths) == 1 and (size := lengths.pop()) < 0x80:
            # Equal sizes (doubles, ints of a range...): one join for the column.
            prefix = bytes((0x0A, size))
            return prefix + prefix.join(raws)  # type: ignore[arg-type]
    return b"".join([length_delimited(b"\x0a", raw or b"") for raw in raws])


def _key_column(name: str, dtype: object, entities: Any) -> list[Any]:
    if name not in entities:
        raise RequestError(
            "entities", f"a requested feature view needs join key {name!r}",
            reason="JOIN_KEY_MISSING", join_key=name,
        )  # fmt: skip
    values: Sequence[ValueProto] = entities[name].val
    accepted = _KEY_FIELDS.get(dtype, ())
    out: list[Any] = []
    for i, value in enumerate(values):
        kind = value.WhichOneof("val")
        if kind not in accepted:
            got = kind or "null"
            raise RequestError(
                f"entities[{name}]",
                f"join key {name!r} row {i}: expected one of {accepted}, got {got}",
                reason="JOIN_KEY_TYPE_MISMATCH",
                expected=accepted[0] if accepted else str(dtype),
                got=got,
            )
        out.append(getattr(value, kind))
    return out
