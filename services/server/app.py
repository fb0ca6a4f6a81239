"""create_server(): wire the servicers, health, reflection and the interceptor."""

from __future__ import annotations

import logging
import threading
from concurrent import futures
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import grpc
from feast import FeatureStore
from feast.protos.feast.serving import ServingService_pb2, ServingService_pb2_grpc
from grpc_health.v1 import health_pb2_grpc

from featurestore.services.contracts import ContractRegistry
from featurestore.services.monitoring.served import ServedReader
from featurestore.services.monitoring.serving_log import ServingLog
from featurestore.services.online import OnlineReader, build_online_reader
from featurestore.services.project import Project
from featurestore.services.server import feast_serving, monitoring_metrics
from featurestore.services.server.access import (
    Guard,
    build_guard,
    current_request_id,
)
from featurestore.services.server.catalog import Catalog, ViewRequest
from featurestore.services.server.contract_servicer import ContractServicer
from featurestore.services.server.errors import MalformedRequestError, parse_request
from featurestore.services.server.feature_servicer import FeatureStoreServicer
from featurestore.services.server.health import (
    SERVICE_NAME as HEALTH_SERVICE_NAME,
)
from featurestore.services.server.health import (
    HealthMonitor,
    HealthServicer,
)
from featurestore.services.server.interceptors import ErrorAndMetricsInterceptor
from featurestore.services.server.ipc import (
    METHODS,
    REFUSED_METADATA,
    Handler,
    Metadata,
    OnlineSocketServer,
    refused_metadata,
)
from featurestore.services.server.metrics import TimedReader
from featurestore.services.server.monitoring_servicer import (
    Monitor,
    MonitoringServicer,
)
from featurestore.services.server.online_features import online_features_wire
from featurestore.services.server.reflection import enable_reflection
from featurestore.services.server.settings import MAX_SEND_BYTES, ServerSettings
from featurestore.services.server.transport import (
    CertificateReloader,
    bind_failed,
    check_exposure,
    server_credentials,
)
from featurestore.v1 import (
    contract_service_pb2,
    contract_service_pb2_grpc,
    feature_store_service_pb2,
    feature_store_service_pb2_grpc,
    monitoring_service_pb2,
    monitoring_service_pb2_grpc,
)

log = logging.getLogger(__name__)

SERVICE_NAMES = (
    feature_store_service_pb2.DESCRIPTOR.services_by_name[
        "FeatureStoreService"
    ].full_name,
    contract_service_pb2.DESCRIPTOR.services_by_name["ContractService"].full_name,
    monitoring_service_pb2.DESCRIPTOR.services_by_name["MonitoringService"].full_name,
    feast_serving.SERVICE_NAME,
)


@dataclass
class RunningServer:
    """A started server, its bound port and what stops it cleanly."""

    server: grpc.Server
    port: int
    health: HealthServicer
    _stop_background: threading.Event
    online_socket: OnlineSocketServer | None = None
    tls: CertificateReloader | None = None
    guard: Guard | None = None
    serving_log: ServingLog | None = None
    tables: Monitor | None = None

    def reload_certificates(self) -> bool:
        """Re-read the TLS files now (SIGHUP); False when TLS is off or they fail."""
        return self.tls is not None and self.tls.force()

    def stop(self, grace: float | None = None) -> int:
        """Report NOT_SERVING, let in-flight RPCs finish for ``grace`` s, stop;
        the number of audit records that could not be written."""
        self.health.enter_graceful_shutdown()
        self._stop_background.set()
        self.server.stop(grace).wait()
        self.health.close()
        if self.online_socket is not None:
            self.online_socket.close()
        if self.serving_log is not None:
            self.serving_log.close()
        if self.tables is not None:
            monitoring_metrics.detach(self.tables)
        if self.guard is not None and self.guard.audit is not None:
            return self.guard.audit.close()
        return 0


def _feature_store(settings: ServerSettings) -> FeatureStore:
    if settings.feature_store_yaml is not None:
        return FeatureStore(
            repo_path=str(settings.repo_path),
            fs_yaml_file=Path(settings.feature_store_yaml),
        )
    return FeatureStore(repo_path=str(settings.repo_path))


def create_server(
    settings: ServerSettings, address: str | None = None
) -> RunningServer:
    """Build and start the server on ``address`` (default settings.address).

    Use ``"127.0.0.1:0"`` in tests: the bound port is returned. Health reports
    NOT_SERVING until the registry has loaded and the online store answers, and
    a background thread keeps both checks (and the registry) fresh.

    Raises:
        ConfigError: a non-loopback address without TLS and auth (unless
            allow_insecure), or unusable TLS files; raised before Feast loads.
    """
    address = address or settings.address
    check_exposure(settings, address)
    tls = server_credentials(settings)
    store = _feature_store(settings)
    catalog = Catalog(store)
    guard = build_guard(settings, catalog)
    timed = TimedReader(
        build_online_reader(store.config, timeout_s=settings.online_timeout_seconds),
        str(store.config.online_store.type),
    )
    project_config = Project.load(settings.repo_path)
    serving_log = _serving_log(settings, catalog, project_config)
    reader = ServedReader(timed, serving_log, settings.serving_log_sample_rate)
    registry = ContractRegistry(settings.contracts_dir)
    # Set when the server begins to stop: background threads end, and the
    # interceptor tells a stream cut by the shutdown grace from a cancel.
    stop = threading.Event()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.max_workers),
        interceptors=[ErrorAndMetricsInterceptor(guard, stop)],
        options=[
            ("grpc.max_receive_message_length", settings.max_request_bytes),
            ("grpc.max_send_message_length", MAX_SEND_BYTES),
            ("grpc.so_reuseport", int(settings.reuse_port)),
        ],
    )
    feature_store_service_pb2_grpc.add_FeatureStoreServiceServicer_to_server(
        FeatureStoreServicer(store, catalog, reader, settings, guard), server
    )
    contract_service_pb2_grpc.add_ContractServiceServicer_to_server(
        ContractServicer(registry), server
    )
    # The server's data_dir (settings, FS_DATA_DIR) locates the tables.
    project = replace(project_config, data_dir=str(settings.data_root))
    tables = Monitor(catalog, project, registry)
    monitoring_service_pb2_grpc.add_MonitoringServiceServicer_to_server(
        MonitoringServicer(tables, guard), server
    )
    monitoring_metrics.attach(tables)
    ServingService_pb2_grpc.add_ServingServiceServicer_to_server(  # type: ignore[no-untyped-call]
        feast_serving.FeastServingServicer(
            catalog,
            reader,
            project=store.project,
            max_rows=settings.max_online_entity_rows,
        ),
        server,
    )
    health_servicer = HealthServicer(settings.max_health_watchers)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if settings.reflection_enabled:
        enable_reflection((*SERVICE_NAMES, HEALTH_SERVICE_NAME), server)
    try:
        port = (
            server.add_insecure_port(address)
            if tls is None
            else server.add_secure_port(address, tls[0])
        )
    except RuntimeError as exc:  # grpc: "Failed to bind to address ..."
        raise bind_failed(address) from exc
    server.start()
    audit = guard.audit if guard else None
    monitor = HealthMonitor(
        health_servicer,
        partial(_ready, catalog, reader),
        SERVICE_NAMES,
        settings.registry_refresh_seconds,
        stop,
        # Not serving while calls are refused for an audit that cannot be
        # written (policy refuse): NOT_SERVING as soon as the audit fails,
        # SERVING again at the monitor's next check after a write succeeded.
        blocked=(lambda: audit.refusing) if audit is not None else lambda: False,
    )
    if audit is not None and settings.audit_on_failure == "refuse":
        audit.on_failing = monitor.not_serving
    monitor.check_once()
    monitor.start()
    online_socket = None
    if settings.online_socket is not None:
        online_socket = OnlineSocketServer(
            settings.online_socket,
            _online_handlers(catalog, reader, store.project, settings, guard),
        )
    return RunningServer(
        server,
        port,
        health_servicer,
        stop,
        online_socket,
        tls[1] if tls else None,
        guard,
        serving_log,
        tables,
    )


def _serving_log(
    settings: ServerSettings, catalog: Catalog, project: Project
) -> ServingLog | None:
    if not settings.serving_log:
        return None
    return ServingLog(
        str(settings.data_root),
        catalog.view,
        current_request_id,
        max_queued=settings.serving_log_queue,
        flush_seconds=settings.serving_log_flush_seconds,
        storage_options=project.storage_options,
    )


def _online_handlers(
    catalog: Catalog,
    reader: OnlineReader,
    project: str,
    settings: ServerSettings,
    guard: Guard | None,
) -> dict[int, Handler]:
    """The online reads the front hands over (``ipc.METHODS``), bytes to bytes.

    The caller's metadata (``ipc.Metadata``) goes through the same guard as a
    direct gRPC call: authentication, permissions and the audit.
    """
    rows = settings.max_online_entity_rows

    def ours(request: Any, wanted: list[ViewRequest] | None = None) -> bytes:
        return online_features_wire(
            request, catalog, reader, project=project, max_rows=rows, wanted=wanted
        )

    def feasts(request: Any, wanted: list[ViewRequest] | None = None) -> bytes:
        return feast_serving.online_features_wire(
            request, catalog, reader, project=project, max_rows=rows, wanted=wanted
        )

    parsers = {
        1: (feature_store_service_pb2.GetOnlineFeaturesRequest.FromString, ours),
        2: (ServingService_pb2.GetOnlineFeaturesRequest.FromString, feasts),
    }

    def handler(number: int) -> Handler:
        parse, answer = parsers[number]
        if guard is None:
            return lambda body, metadata: answer(parse_request(parse, body))

        method = METHODS[number]

        def guarded(body: bytes, metadata: Metadata) -> bytes:
            try:
                request = parse_request(parse, body)
            except MalformedRequestError as exc:
                guard.refuse(method, dict(metadata), exc)
            with guard.call(method, request, dict(metadata)) as call:
                # The guard resolved the selection already: not twice.
                return answer(request, call.wanted)

        return guarded

    def refuse(body: bytes, metadata: Metadata) -> bytes:
        method, error = refused_metadata(body)
        if guard is not None:  # audited, after authentication
            guard.refuse(method, dict(metadata), error)
        raise error

    handlers = {number: handler(number) for number in parsers}
    return {**handlers, REFUSED_METADATA: refuse}


def _ready(catalog: Catalog, reader: OnlineReader) -> bool:
    """Refresh the registry, then ask the online store; True when both answer."""
    catalog.refresh()
    return bool(reader.ping())
