"""GetOnlineFeatures: resolve references, check entity rows, read, assemble."""

from __future__ import annotations

from datetime import UTC, datetime

from featurestore.v1 import feature_store_service_pb2 as pb
from services.online import FeatureStatus, OnlineReader, ViewRequest
from services.server.catalog import Catalog
from services.server.errors import RequestError, RequestTooLargeError
from services.server.values import from_feast, key_column

_STATUS = {
    FeatureStatus.PRESENT: pb.FEATURE_STATUS_PRESENT,
    FeatureStatus.NOT_FOUND: pb.FEATURE_STATUS_NOT_FOUND,
    FeatureStatus.OUTSIDE_MAX_AGE: pb.FEATURE_STATUS_OUTSIDE_MAX_AGE,
}


def get_online_features(
    request: pb.GetOnlineFeaturesRequest,
    catalog: Catalog,
    reader: OnlineReader,
    *,
    project: str,
    max_rows: int,
) -> pb.GetOnlineFeaturesResponse:
    """Serve one GetOnlineFeatures request (see the proto for the contract).

    Raises:
        RequestError: no entity rows, uneven columns, a missing or mistyped key.
        NotFoundError: unknown view, feature or feature service.
        RequestTooLargeError: more entity rows than the server allows.
    """
    wanted = catalog.resolve(list(request.features), request.feature_service)
    rows = _row_count(request, max_rows)
    entity_rows: dict[str, list[object]] = {}
    views = []
    for wanted_view in wanted:
        view = wanted_view.view
        for column in view.entity_columns:
            if column.name not in request.entities:
                raise RequestError(
                    "entities",
                    f"feature view {view.name!r} needs join key {column.name!r}",
                    reason="JOIN_KEY_MISSING",
                    join_key=column.name,
                )
            if column.name not in entity_rows:
                entity_rows[column.name] = key_column(
                    column.name, column.dtype, request.entities[column.name].values
                )
        views.append(ViewRequest.from_feature_view(view, wanted_view.features))
    results = reader.read(project, views, entity_rows, datetime.now(UTC))
    response = pb.GetOnlineFeaturesResponse()
    for name, values in request.entities.items():
        column = response.columns.add(name=name)
        column.values.extend(values.values)
        column.statuses.extend([pb.FEATURE_STATUS_PRESENT] * rows)
    for result in results:
        for j, feature in enumerate(result.features):
            name = (
                f"{result.view}__{feature}" if request.full_feature_names else feature
            )
            column = response.columns.add(name=name)
            column.values.extend(from_feast(row[j]) for row in result.values)
            column.statuses.extend(_STATUS[row[j]] for row in result.statuses)
            for event_time in result.event_times:
                stamp = column.event_times.add()
                if event_time is not None:
                    stamp.FromDatetime(event_time)
    return response


def _row_count(request: pb.GetOnlineFeaturesRequest, max_rows: int) -> int:
    if not request.entities:
        raise RequestError(
            "entities", "no entity rows: send at least one join key column"
        )
    lengths = {name: len(v.values) for name, v in request.entities.items()}
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
            f"{rows} entity rows exceed the limit of {max_rows}; split the request",
            rows=str(rows),
            limit=str(max_rows),
        )
    return rows
