import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FreshnessVerdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FRESHNESS_VERDICT_UNSPECIFIED: _ClassVar[FreshnessVerdict]
    FRESHNESS_VERDICT_OK: _ClassVar[FreshnessVerdict]
    FRESHNESS_VERDICT_LATE: _ClassVar[FreshnessVerdict]
    FRESHNESS_VERDICT_UNKNOWN: _ClassVar[FreshnessVerdict]
FRESHNESS_VERDICT_UNSPECIFIED: FreshnessVerdict
FRESHNESS_VERDICT_OK: FreshnessVerdict
FRESHNESS_VERDICT_LATE: FreshnessVerdict
FRESHNESS_VERDICT_UNKNOWN: FreshnessVerdict

class Freshness(_message.Message):
    __slots__ = ("feature_view", "verdict", "reason", "event_time_column", "version", "newest_event_time", "newest_commit_time", "age", "max_age", "frequency", "check_time")
    FEATURE_VIEW_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_COLUMN_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    NEWEST_EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    NEWEST_COMMIT_TIME_FIELD_NUMBER: _ClassVar[int]
    AGE_FIELD_NUMBER: _ClassVar[int]
    MAX_AGE_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_FIELD_NUMBER: _ClassVar[int]
    CHECK_TIME_FIELD_NUMBER: _ClassVar[int]
    feature_view: str
    verdict: FreshnessVerdict
    reason: str
    event_time_column: str
    version: int
    newest_event_time: _timestamp_pb2.Timestamp
    newest_commit_time: _timestamp_pb2.Timestamp
    age: _duration_pb2.Duration
    max_age: _duration_pb2.Duration
    frequency: _duration_pb2.Duration
    check_time: _timestamp_pb2.Timestamp
    def __init__(self, feature_view: _Optional[str] = ..., verdict: _Optional[_Union[FreshnessVerdict, str]] = ..., reason: _Optional[str] = ..., event_time_column: _Optional[str] = ..., version: _Optional[int] = ..., newest_event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., newest_commit_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., age: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_age: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., frequency: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., check_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetFreshnessRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetFreshnessResponse(_message.Message):
    __slots__ = ("freshness",)
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    freshness: Freshness
    def __init__(self, freshness: _Optional[_Union[Freshness, _Mapping]] = ...) -> None: ...

class ListFreshnessRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListFreshnessResponse(_message.Message):
    __slots__ = ("freshness", "next_page_token")
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    freshness: _containers.RepeatedCompositeFieldContainer[Freshness]
    next_page_token: str
    def __init__(self, freshness: _Optional[_Iterable[_Union[Freshness, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
