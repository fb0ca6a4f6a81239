"""FeatureStoreService: online features, training sets, the view catalogue."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import grpc
from feast import FeatureStore, FeatureView

from featurestore.services.offline import Cancellation, RequestCancelledError
from featurestore.services.online import OnlineReader, client_key_fields
from featurestore.services.project import TABLE_SCHEME
from featurestore.services.server.access import Guard
from featurestore.services.server.catalog import Catalog
from featurestore.services.server.errors import required
from featurestore.services.server.historical import (
    HistoricalPolicy,
    StreamSlots,
    stream_historical_features,
)
from featurestore.services.server.online_features import online_features_wire
from featurestore.services.server.paging import page
from featurestore.services.server.paths import PathPolicy
from featurestore.services.server.settings import ServerSettings
from featurestore.services.server.values import key_value_field
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1 import feature_store_service_pb2_grpc as pb_grpc
from featurestore.v1 import feature_view_pb2

log = logging.getLogger(__name__)


class FeatureStoreServicer(pb_grpc.FeatureStoreServiceServicer):  # type: ignore[misc]
    """Servicer over one Feast repository, its online store and its Delta tables."""

    def __init__(
        self,
        store: FeatureStore,
        catalog: Catalog,
        reader: OnlineReader,
        settings: ServerSettings,
        guard: Guard | None = None,
    ) -> None:
        self.store, self.catalog, self.reader = store, catalog, reader
        self.settings, self.guard = settings, guard
        self.historical = HistoricalPolicy(
            PathPolicy.from_settings(settings),
            settings.max_historical_entity_rows,
            settings.max_stream_message_bytes,
        )
        self.streams = StreamSlots(settings.max_historical_streams)

    def GetOnlineFeatures(
        self, request: pb.GetOnlineFeaturesRequest, context: grpc.ServicerContext
    ) -> bytes:
        """Latest values with per-value status (TTL honoured), serialised."""
        return online_features_wire(
            request,
            self.catalog,
            self.reader,
            project=self.store.project,
            max_rows=self.settings.max_online_entity_rows,
        )

    def GetHistoricalFeatures(
        self, request: pb.GetHistoricalFeaturesRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.GetHistoricalFeaturesResponse]:
        """Point-in-time-correct rows as Arrow IPC, then the manifest.

        When the call ends (its caller cancelled, its deadline passed) gRPC
        runs the callback, which stops the work; the slot is then free.
        """
        cancellation = Cancellation()
        if not context.add_callback(cancellation.cancel):
            cancellation.cancel()  # the call had already ended
        with self.streams.hold():
            try:
                yield from stream_historical_features(
                    request, self.store, self.catalog, self.historical, cancellation
                )
            except RequestCancelledError:
                # Not a failure of ours: the caller left. No traceback.
                log.info(
                    "GetHistoricalFeatures stopped: the call was cancelled or "
                    "its deadline passed; its stream slot is free"
                )
                raise

    def ListFeatureViews(
        self, request: pb.ListFeatureViewsRequest, context: grpc.ServicerContext
    ) -> pb.ListFeatureViewsResponse:
        """Registered views the caller may DESCRIBE, by name, paged."""
        views = self.catalog.views()
        if self.guard is not None:
            views = self.guard.describable(views)
        chosen, token = page(
            views, request.page_size, request.page_token, "ListFeatureViews"
        )
        return pb.ListFeatureViewsResponse(
            feature_views=[_view_message(v) for v in chosen], next_page_token=token
        )

    def GetFeatureView(
        self, request: pb.GetFeatureViewRequest, context: grpc.ServicerContext
    ) -> pb.GetFeatureViewResponse:
        """One view by name."""
        name = required(request.name, "name", "the feature view's name")
        return pb.GetFeatureViewResponse(
            feature_view=_view_message(self.catalog.view(name))
        )


def _view_message(view: FeatureView) -> feature_view_pb2.FeatureView:
    keys = client_key_fields(view)
    message = feature_view_pb2.FeatureView(
        name=view.name,
        join_keys=[c.name for c in keys],
        join_key_types=[
            feature_view_pb2.JoinKey(
                name=c.name, dtype=str(c.dtype), value_field=key_value_field(c.dtype)
            )
            for c in keys
        ],
        features=[
            feature_view_pb2.Feature(name=f.name, dtype=str(f.dtype))
            for f in view.features
        ],
        source_path=_table_reference(view),
        contract=view.tags.get("contract", ""),
        description=view.description,
    )
    if view.ttl:
        message.ttl.FromTimedelta(view.ttl)
    return message


def _table_reference(view: FeatureView) -> str:
    """The view's source as a table reference (``featurestore://<table>``);
    empty for any other source path, which is a location on the server's side
    (a folder, a bucket) that clients are never told."""
    path = str(getattr(view.batch_source, "path", ""))
    return path if path.startswith(f"{TABLE_SCHEME}://") else ""
