"""A thin Python client for the featurestore.v1 gRPC API (pandas and Arrow in/out)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pandas as pd
import pyarrow as pa

from featurestore.services.server.arrow_ipc import write_ipc
from featurestore.services.server.transport import is_loopback
from featurestore.services.server.values import from_python, to_python
from featurestore.v1 import common_pb2, contract_service_pb2, contract_service_pb2_grpc
from featurestore.v1 import feature_store_service_pb2 as fs_pb
from featurestore.v1 import feature_store_service_pb2_grpc as fs_grpc

PEM = str | os.PathLike[str] | bytes
"""A PEM file's path, or its contents as bytes."""

STATUS_NAMES = {
    fs_pb.FEATURE_STATUS_PRESENT: "PRESENT",
    fs_pb.FEATURE_STATUS_NOT_FOUND: "NOT_FOUND",
    fs_pb.FEATURE_STATUS_OUTSIDE_MAX_AGE: "OUTSIDE_MAX_AGE",
}


@dataclass(frozen=True)
class TrainingSet:
    """A point-in-time-correct training set and the manifest that replays it."""

    table: pa.Table
    manifest: dict[str, Any]

    def to_pandas(self) -> pd.DataFrame:
        """The rows as a pandas DataFrame.

        An integer column with a missing value is pandas' nullable ``Int64``
        (missing: ``pd.NA``), as online features are: as float64 an id-like
        9007199254740993 would come back changed.
        """
        frame = self.table.to_pandas()
        for i, column in enumerate(self.table.columns):
            if pa.types.is_signed_integer(column.type) and column.null_count:
                frame.isetitem(i, _column(column.to_pylist()))
        return frame

    @property
    def pins(self) -> dict[str, int]:
        """The Delta version each view was read at: ``pins=`` to replay it."""
        return _manifest_pins(self.manifest)


def _manifest_pins(manifest: Mapping[str, Any]) -> dict[str, int]:
    return {str(t["view"]): int(t["version"]) for t in manifest.get("tables", ())}


class FeatureStoreClient:
    """Calls FeatureStoreService and ContractService on one channel.

    Plaintext by default (a loopback ``make serve``). TLS is on when ``tls``
    is True or any of ``ca_cert``/``client_cert`` is given; ``api_key`` or
    ``token`` travels as ``authorization: Bearer ...`` on every call, only
    over TLS or to a loopback address.

    Args:
        address: host:port of the server (or of fs-front).
        timeout: Seconds each call may take.
        tls: Force TLS on (system roots unless ``ca_cert``) or off.
        ca_cert: CA certificate(s) to trust instead of the system roots.
        client_cert: Client certificate chain, for servers requiring mTLS.
        client_key: The private key of ``client_cert``.
        server_name: Name to verify the server's certificate against, when
            it differs from the host in ``address``.
        api_key: An API key (``python -m featurestore.services.auth add-key``).
        token: A bearer token (OIDC), or a function returning the current
            one, called before each call.

    Raises:
        ValueError: contradictory options, or credentials that would travel
            in plaintext to a non-loopback address.
    """

    def __init__(
        self,
        address: str = "127.0.0.1:6566",
        timeout: float = 30.0,
        *,
        tls: bool | None = None,
        ca_cert: PEM | None = None,
        client_cert: PEM | None = None,
        client_key: PEM | None = None,
        server_name: str | None = None,
        api_key: str | None = None,
        token: str | Callable[[], str] | None = None,
    ) -> None:
        if api_key is not None and token is not None:
            raise ValueError("give api_key or token, not both")
        if (client_cert is None) != (client_key is None):
            raise ValueError("client_cert and client_key go together")
        wants_tls = ca_cert is not None or client_cert is not None
        if tls is False and (wants_tls or server_name is not None):
            raise ValueError("tls=False contradicts ca_cert/client_cert/server_name")
        self.address = address
        self.tls = bool(tls or wants_tls or server_name is not None)
        secret = api_key if api_key is not None else token
        if secret is not None and not self.tls and not is_loopback(address):
            raise ValueError(
                f"refusing to send credentials in plaintext to {address}: use TLS"
            )
        options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", 256 * 1024 * 1024)
        ]
        if server_name is not None:
            options.append(("grpc.ssl_target_name_override", server_name))
        tls_files = (ca_cert, client_cert, client_key) if self.tls else None
        self.channel = _channel(address, options, secret, tls_files)
        self._credentials = "none" if secret is None else "bearer"
        self.features = fs_grpc.FeatureStoreServiceStub(self.channel)
        self.contracts = contract_service_pb2_grpc.ContractServiceStub(self.channel)
        self.timeout = timeout

    def __repr__(self) -> str:
        # Never the token or key: only whether one is set.
        return (
            f"FeatureStoreClient(address={self.address!r}, tls={self.tls}, "
            f"credentials={self._credentials!r})"
        )

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()

    def __enter__(self) -> FeatureStoreClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_online_features(
        self,
        entities: Mapping[str, Sequence[Any]],
        features: Sequence[str] = (),
        feature_service: str = "",
        *,
        full_feature_names: bool = False,
        with_status: bool = False,
        expired_as_missing: bool = False,
    ) -> pd.DataFrame:
        """Latest feature values, one row per entity row.

        The server sends a value older than its view's TTL with the status
        OUTSIDE_MAX_AGE (as Feast's does); without ``with_status`` nothing
        tells it from a fresh one, so a model that must not see stale inputs
        passes ``expired_as_missing=True``.

        An integer column with a missing value is pandas' nullable ``Int64``
        (missing: ``pd.NA``), not float64: a float holds integers exactly only
        up to 2**53, so an id-like 9007199254740993 would come back changed.

        A list feature (``Array(...)``) gives a Python list per row: ``[]``
        for an empty list, None for a null one (or none stored); a null
        inside a timestamp list is None. Float32 values arrive widened to
        float, as scalars do.

        Args:
            entities: join key -> values (one per row).
            features: A list of "view:feature" references (or give
                feature_service).
            feature_service: A Feast feature service name.
            full_feature_names: Name columns "view__feature".
            with_status: Add "<feature>__status" and "<feature>__event_time" columns.
            expired_as_missing: Give OUTSIDE_MAX_AGE values as None, as
                NOT_FOUND ones are (their status and event time columns, with
                ``with_status``, still say what was found).

        Join keys of a timestamp entity are aware datetimes (or pandas
        Timestamps) or numpy datetime64 values, which count from the epoch
        in UTC; a naive datetime is refused, as in training sets.

        Raises:
            TypeError: ``features`` is one string, not a list.
            ValueError: a join key value is a naive datetime.
        """
        request = fs_pb.GetOnlineFeaturesRequest(
            features=_references(features),
            feature_service=feature_service,
            full_feature_names=full_feature_names,
        )
        for name, values in entities.items():
            request.entities[name].CopyFrom(_entity_values(name, values))
        response = self.features.GetOnlineFeatures(request, timeout=self.timeout)
        data: dict[str, list[Any]] = {}
        expired = fs_pb.FEATURE_STATUS_OUTSIDE_MAX_AGE
        not_found = fs_pb.FEATURE_STATUS_NOT_FOUND
        for column in response.columns:
            values = [to_python(v) for v in column.values]
            if expired_as_missing and column.statuses:
                values = [
                    None if status == expired else value
                    for value, status in zip(values, column.statuses, strict=True)
                ]
            data[column.name] = values
            if with_status and column.name not in entities:
                data[f"{column.name}__status"] = [
                    STATUS_NAMES.get(s, "?") for s in column.statuses
                ]
                # The status says whether there is one: a value's event time
                # may be the epoch, which is also what NOT_FOUND carries.
                data[f"{column.name}__event_time"] = [
                    None if status == not_found else t.ToDatetime(tzinfo=UTC)
                    for t, status in zip(
                        column.event_times, column.statuses, strict=True
                    )
                ]
        return pd.DataFrame({name: _column(values) for name, values in data.items()})

    def get_historical_features(
        self,
        entity_rows: pa.Table | pd.DataFrame | str,
        features: Sequence[str] = (),
        feature_service: str = "",
        *,
        timestamp_column: str = "",
        full_feature_names: bool = False,
        as_known_at: bool = False,
        pins: Mapping[str, Any] | None = None,
        output_path: str = "",
        output_format: str = "",
        overwrite: bool = False,
    ) -> TrainingSet:
        """A point-in-time-correct training set, streamed as Arrow.

        Args:
            entity_rows: Entity rows (join keys, timestamp, labels), or a
                Parquet/Delta path the server can read.
            features: A list of "view:feature" references (or give
                feature_service).
            feature_service: A Feast feature service name.
            timestamp_column: The entity timestamp column (default: the
                server picks "event_timestamp", else the only timestamp column).
            full_feature_names: Name columns "view__feature".
            as_known_at: Only count feature rows created by the entity time.
            pins: view -> Delta version or timestamp to read; or a training
                set's manifest (``training.manifest``), read at its versions.
            output_path: Also write the result there (server side).
            output_format: "parquet" or "delta" with output_path.
            overwrite: Replace the training set already at output_path.

        Raises:
            TypeError: ``features`` is one string, not a list.
        """
        request = fs_pb.GetHistoricalFeaturesRequest(
            features=_references(features),
            feature_service=feature_service,
            timestamp_column=timestamp_column,
            full_feature_names=full_feature_names,
            as_known_at=as_known_at,
            output_path=output_path,
            output_format=_output_format(output_format),
            overwrite=overwrite,
        )
        if isinstance(entity_rows, str):
            request.entity_rows_path = entity_rows
        else:
            table = (
                pa.Table.from_pandas(entity_rows, preserve_index=False)
                if isinstance(entity_rows, pd.DataFrame)
                else entity_rows
            )
            request.entity_rows_arrow = write_ipc(table)
        if pins is not None and isinstance(pins.get("tables"), list):  # a manifest
            pins = _manifest_pins(pins)
        for view, pin in (pins or {}).items():
            if isinstance(pin, datetime):
                request.pins[view].timestamp.FromDatetime(pin)
            else:
                request.pins[view].version = int(pin)
        chunks: list[bytes] = []
        manifest: dict[str, Any] = {}
        for message in self.features.GetHistoricalFeatures(
            request, timeout=self.timeout
        ):
            if message.HasField("manifest"):
                manifest = json.loads(message.manifest.manifest_json)
            else:
                chunks.append(message.arrow_ipc)
        table = pa.ipc.open_stream(pa.py_buffer(b"".join(chunks))).read_all()
        return TrainingSet(table, manifest)

    def list_feature_views(self) -> list[str]:
        """Names of all registered feature views (follows every page)."""
        names, token = [], ""
        while True:
            response = self.features.ListFeatureViews(
                fs_pb.ListFeatureViewsRequest(page_token=token), timeout=self.timeout
            )
            names += [v.name for v in response.feature_views]
            token = response.next_page_token
            if not token:
                return names

    def get_contract(
        self, name: str, version: str = ""
    ) -> contract_service_pb2.Contract:
        """One contract, verbatim YAML included."""
        response: contract_service_pb2.GetContractResponse = self.contracts.GetContract(
            contract_service_pb2.GetContractRequest(name=name, version=version),
            timeout=self.timeout,
        )
        return response.contract

    def validate_rows(
        self, contract: str, rows: pa.Table | pd.DataFrame, version: str = ""
    ) -> contract_service_pb2.ValidateRowsResponse:
        """Per-row verdicts for ``rows`` against a contract."""
        table = (
            pa.Table.from_pandas(rows, preserve_index=False)
            if isinstance(rows, pd.DataFrame)
            else rows
        )
        response: contract_service_pb2.ValidateRowsResponse = (
            self.contracts.ValidateRows(
                contract_service_pb2.ValidateRowsRequest(
                    contract=contract, version=version, arrow_ipc=write_ipc(table)
                ),
                timeout=self.timeout,
            )
        )
        return response


def _entity_values(name: str, values: Sequence[Any]) -> common_pb2.ValueList:
    """One join key's values for the wire.

    Raises:
        ValueError: a value is a naive datetime (naming the key and row).
    """
    out = common_pb2.ValueList()
    for row, value in enumerate(values):
        try:
            out.values.append(from_python(value))
        except ValueError as exc:
            raise ValueError(f"join key {name!r} row {row}: {exc}") from exc
    return out


def _references(features: Sequence[str]) -> list[str]:
    """The references as a list; a lone string is refused, not split into
    characters (a str is a Sequence[str] to Python and to mypy).

    Raises:
        TypeError: ``features`` is a string.
    """
    if isinstance(features, str):
        raise TypeError(
            f"features takes a list of view:feature references: pass "
            f"[{features[:200]!r}]; for a feature service, pass "
            "feature_service=<name>"
        )
    return list(features)


def _output_format(name: str) -> fs_pb.OutputFormat:
    formats: dict[str, fs_pb.OutputFormat] = {
        "": fs_pb.OUTPUT_FORMAT_UNSPECIFIED,
        "parquet": fs_pb.OUTPUT_FORMAT_PARQUET,
        "delta": fs_pb.OUTPUT_FORMAT_DELTA,
    }
    if name not in formats:
        raise ValueError(
            f"output_format must be one of {sorted(formats)}, got {name!r}"
        )
    return formats[name]


def _channel(
    address: str,
    options: list[tuple[str, Any]],
    secret: str | Callable[[], str] | None,
    tls_files: tuple[PEM | None, PEM | None, PEM | None] | None,
) -> grpc.Channel:
    """The channel: TLS, plaintext, or plaintext loopback carrying credentials.

    gRPC refuses call credentials on an insecure channel; local credentials
    carry them in plaintext and only to a loopback peer.
    """
    if tls_files is not None:
        ca_cert, client_cert, client_key = tls_files
        transport = grpc.ssl_channel_credentials(
            root_certificates=_pem(ca_cert),
            private_key=_pem(client_key),
            certificate_chain=_pem(client_cert),
        )
    elif secret is None:
        return grpc.insecure_channel(address, options=options)
    else:
        transport = grpc.local_channel_credentials(
            grpc.LocalConnectionType.UDS
            if address.startswith("unix")
            else grpc.LocalConnectionType.LOCAL_TCP
        )
    if secret is not None:
        transport = grpc.composite_channel_credentials(
            transport, grpc.metadata_call_credentials(_Bearer(secret))
        )
    return grpc.secure_channel(address, transport, options=options)


class _Bearer(grpc.AuthMetadataPlugin):  # type: ignore[misc]
    """Adds ``authorization: Bearer <token>`` to each call."""

    def __init__(self, token: str | Callable[[], str]) -> None:
        self._token = token if callable(token) else _header_token(token)

    def __call__(
        self,
        context: grpc.AuthMetadataContext,
        callback: grpc.AuthMetadataPluginCallback,
    ) -> None:
        try:
            token = _header_token(
                self._token() if callable(self._token) else self._token
            )
        except Exception as exc:
            callback((), exc)
            return
        callback((("authorization", f"Bearer {token}"),), None)

    def __repr__(self) -> str:
        return "_Bearer(<redacted>)"


def _header_token(token: str) -> str:
    """``token`` without the surrounding whitespace a key file leaves (a final
    newline); ValueError, never naming the token, when it cannot be a header
    value."""
    stripped = token.strip()
    if not stripped or not all("!" <= c <= "~" for c in stripped):
        raise ValueError(
            "the API key or token is empty or holds spaces or characters other "
            "than printable ASCII: check the key file or token source"
        )
    return stripped


def _pem(value: PEM | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return Path(value).read_bytes()


def _column(values: list[Any]) -> Any:
    """``values`` as a frame column: integers with a gap as nullable ``Int64``
    (pandas would make them float64, inexact past 2**53); the rest as pandas
    infers them."""
    present = [v for v in values if v is not None]
    if len(present) < len(values) and present and all(type(v) is int for v in present):
        return pd.array(values, dtype="Int64")
    return values
