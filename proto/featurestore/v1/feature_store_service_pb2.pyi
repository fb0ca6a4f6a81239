import datetime

from featurestore.v1 import common_pb2 as _common_pb2
from featurestore.v1 import feature_view_pb2 as _feature_view_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FeatureStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FEATURE_STATUS_UNSPECIFIED: _ClassVar[FeatureStatus]
    FEATURE_STATUS_PRESENT: _ClassVar[FeatureStatus]
    FEATURE_STATUS_NOT_FOUND: _ClassVar[FeatureStatus]
    FEATURE_STATUS_OUTSIDE_MAX_AGE: _ClassVar[FeatureStatus]

class OutputFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTPUT_FORMAT_UNSPECIFIED: _ClassVar[OutputFormat]
    OUTPUT_FORMAT_PARQUET: _ClassVar[OutputFormat]
    OUTPUT_FORMAT_DELTA: _ClassVar[OutputFormat]
FEATURE_STATUS_UNSPECIFIED: FeatureStatus
FEATURE_STATUS_PRESENT: FeatureStatus
FEATURE_STATUS_NOT_FOUND: FeatureStatus
FEATURE_STATUS_OUTSIDE_MAX_AGE: FeatureStatus
OUTPUT_FORMAT_UNSPECIFIED: OutputFormat
OUTPUT_FORMAT_PARQUET: OutputFormat
OUTPUT_FORMAT_DELTA: OutputFormat

class GetOnlineFeaturesRequest(_message.Message):
    __slots__ = ("features", "feature_service", "entities", "full_feature_names")
    class EntitiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.ValueList
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.ValueList, _Mapping]] = ...) -> None: ...
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SERVICE_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    FULL_FEATURE_NAMES_FIELD_NUMBER: _ClassVar[int]
    features: _containers.RepeatedScalarFieldContainer[str]
    feature_service: str
    entities: _containers.MessageMap[str, _common_pb2.ValueList]
    full_feature_names: bool
    def __init__(self, features: _Optional[_Iterable[str]] = ..., feature_service: _Optional[str] = ..., entities: _Optional[_Mapping[str, _common_pb2.ValueList]] = ..., full_feature_names: _Optional[bool] = ...) -> None: ...

class FeatureColumn(_message.Message):
    __slots__ = ("name", "values", "statuses", "event_times")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIMES_FIELD_NUMBER: _ClassVar[int]
    name: str
    values: _containers.RepeatedCompositeFieldContainer[_common_pb2.Value]
    statuses: _containers.RepeatedScalarFieldContainer[FeatureStatus]
    event_times: _containers.RepeatedCompositeFieldContainer[_timestamp_pb2.Timestamp]
    def __init__(self, name: _Optional[str] = ..., values: _Optional[_Iterable[_Union[_common_pb2.Value, _Mapping]]] = ..., statuses: _Optional[_Iterable[_Union[FeatureStatus, str]]] = ..., event_times: _Optional[_Iterable[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]]] = ...) -> None: ...

class GetOnlineFeaturesResponse(_message.Message):
    __slots__ = ("columns",)
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    columns: _containers.RepeatedCompositeFieldContainer[FeatureColumn]
    def __init__(self, columns: _Optional[_Iterable[_Union[FeatureColumn, _Mapping]]] = ...) -> None: ...

class GetHistoricalFeaturesRequest(_message.Message):
    __slots__ = ("entity_rows_arrow", "entity_rows_path", "timestamp_column", "features", "feature_service", "full_feature_names", "pins", "as_known_at", "output_path", "output_format", "batch_size", "overwrite")
    class PinsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.TablePin
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.TablePin, _Mapping]] = ...) -> None: ...
    ENTITY_ROWS_ARROW_FIELD_NUMBER: _ClassVar[int]
    ENTITY_ROWS_PATH_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_COLUMN_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SERVICE_FIELD_NUMBER: _ClassVar[int]
    FULL_FEATURE_NAMES_FIELD_NUMBER: _ClassVar[int]
    PINS_FIELD_NUMBER: _ClassVar[int]
    AS_KNOWN_AT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_PATH_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FIELD_NUMBER: _ClassVar[int]
    entity_rows_arrow: bytes
    entity_rows_path: str
    timestamp_column: str
    features: _containers.RepeatedScalarFieldContainer[str]
    feature_service: str
    full_feature_names: bool
    pins: _containers.MessageMap[str, _common_pb2.TablePin]
    as_known_at: bool
    output_path: str
    output_format: OutputFormat
    batch_size: int
    overwrite: bool
    def __init__(self, entity_rows_arrow: _Optional[bytes] = ..., entity_rows_path: _Optional[str] = ..., timestamp_column: _Optional[str] = ..., features: _Optional[_Iterable[str]] = ..., feature_service: _Optional[str] = ..., full_feature_names: _Optional[bool] = ..., pins: _Optional[_Mapping[str, _common_pb2.TablePin]] = ..., as_known_at: _Optional[bool] = ..., output_path: _Optional[str] = ..., output_format: _Optional[_Union[OutputFormat, str]] = ..., batch_size: _Optional[int] = ..., overwrite: _Optional[bool] = ...) -> None: ...

class TableRead(_message.Message):
    __slots__ = ("view", "path", "version", "contract")
    VIEW_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_FIELD_NUMBER: _ClassVar[int]
    view: str
    path: str
    version: int
    contract: str
    def __init__(self, view: _Optional[str] = ..., path: _Optional[str] = ..., version: _Optional[int] = ..., contract: _Optional[str] = ...) -> None: ...

class Manifest(_message.Message):
    __slots__ = ("tables", "row_count", "output_path", "manifest_json", "create_time")
    TABLES_FIELD_NUMBER: _ClassVar[int]
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_PATH_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_JSON_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    tables: _containers.RepeatedCompositeFieldContainer[TableRead]
    row_count: int
    output_path: str
    manifest_json: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, tables: _Optional[_Iterable[_Union[TableRead, _Mapping]]] = ..., row_count: _Optional[int] = ..., output_path: _Optional[str] = ..., manifest_json: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetHistoricalFeaturesResponse(_message.Message):
    __slots__ = ("arrow_ipc", "manifest")
    ARROW_IPC_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    arrow_ipc: bytes
    manifest: Manifest
    def __init__(self, arrow_ipc: _Optional[bytes] = ..., manifest: _Optional[_Union[Manifest, _Mapping]] = ...) -> None: ...

class ListFeatureViewsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListFeatureViewsResponse(_message.Message):
    __slots__ = ("feature_views", "next_page_token")
    FEATURE_VIEWS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    feature_views: _containers.RepeatedCompositeFieldContainer[_feature_view_pb2.FeatureView]
    next_page_token: str
    def __init__(self, feature_views: _Optional[_Iterable[_Union[_feature_view_pb2.FeatureView, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetFeatureViewRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetFeatureViewResponse(_message.Message):
    __slots__ = ("feature_view",)
    FEATURE_VIEW_FIELD_NUMBER: _ClassVar[int]
    feature_view: _feature_view_pb2.FeatureView
    def __init__(self, feature_view: _Optional[_Union[_feature_view_pb2.FeatureView, _Mapping]] = ...) -> None: ...
