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

class ProfileKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROFILE_KIND_UNSPECIFIED: _ClassVar[ProfileKind]
    PROFILE_KIND_NUMERIC: _ClassVar[ProfileKind]
    PROFILE_KIND_CATEGORICAL: _ClassVar[ProfileKind]

class ProfileSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROFILE_SOURCE_UNSPECIFIED: _ClassVar[ProfileSource]
    PROFILE_SOURCE_PUBLISH: _ClassVar[ProfileSource]
    PROFILE_SOURCE_BACKFILL: _ClassVar[ProfileSource]

class DriftMetric(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DRIFT_METRIC_UNSPECIFIED: _ClassVar[DriftMetric]
    DRIFT_METRIC_PSI: _ClassVar[DriftMetric]
    DRIFT_METRIC_JS: _ClassVar[DriftMetric]

class DriftComparison(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DRIFT_COMPARISON_UNSPECIFIED: _ClassVar[DriftComparison]
    DRIFT_COMPARISON_BASELINE: _ClassVar[DriftComparison]
    DRIFT_COMPARISON_PREVIOUS: _ClassVar[DriftComparison]

class DriftVerdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DRIFT_VERDICT_UNSPECIFIED: _ClassVar[DriftVerdict]
    DRIFT_VERDICT_OK: _ClassVar[DriftVerdict]
    DRIFT_VERDICT_WARN: _ClassVar[DriftVerdict]
    DRIFT_VERDICT_FAIL: _ClassVar[DriftVerdict]

class DriftAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DRIFT_ACTION_UNSPECIFIED: _ClassVar[DriftAction]
    DRIFT_ACTION_WARN: _ClassVar[DriftAction]
    DRIFT_ACTION_BLOCK: _ClassVar[DriftAction]
FRESHNESS_VERDICT_UNSPECIFIED: FreshnessVerdict
FRESHNESS_VERDICT_OK: FreshnessVerdict
FRESHNESS_VERDICT_LATE: FreshnessVerdict
FRESHNESS_VERDICT_UNKNOWN: FreshnessVerdict
PROFILE_KIND_UNSPECIFIED: ProfileKind
PROFILE_KIND_NUMERIC: ProfileKind
PROFILE_KIND_CATEGORICAL: ProfileKind
PROFILE_SOURCE_UNSPECIFIED: ProfileSource
PROFILE_SOURCE_PUBLISH: ProfileSource
PROFILE_SOURCE_BACKFILL: ProfileSource
DRIFT_METRIC_UNSPECIFIED: DriftMetric
DRIFT_METRIC_PSI: DriftMetric
DRIFT_METRIC_JS: DriftMetric
DRIFT_COMPARISON_UNSPECIFIED: DriftComparison
DRIFT_COMPARISON_BASELINE: DriftComparison
DRIFT_COMPARISON_PREVIOUS: DriftComparison
DRIFT_VERDICT_UNSPECIFIED: DriftVerdict
DRIFT_VERDICT_OK: DriftVerdict
DRIFT_VERDICT_WARN: DriftVerdict
DRIFT_VERDICT_FAIL: DriftVerdict
DRIFT_ACTION_UNSPECIFIED: DriftAction
DRIFT_ACTION_WARN: DriftAction
DRIFT_ACTION_BLOCK: DriftAction

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

class ColumnProfile(_message.Message):
    __slots__ = ("feature", "kind", "row_count", "null_count", "null_share", "min", "max", "mean", "std", "edges", "categories", "bucket_labels", "counts", "reference_counts")
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    NULL_COUNT_FIELD_NUMBER: _ClassVar[int]
    NULL_SHARE_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    STD_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    BUCKET_LABELS_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_COUNTS_FIELD_NUMBER: _ClassVar[int]
    feature: str
    kind: ProfileKind
    row_count: int
    null_count: int
    null_share: float
    min: float
    max: float
    mean: float
    std: float
    edges: _containers.RepeatedScalarFieldContainer[float]
    categories: _containers.RepeatedScalarFieldContainer[str]
    bucket_labels: _containers.RepeatedScalarFieldContainer[str]
    counts: _containers.RepeatedScalarFieldContainer[int]
    reference_counts: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, feature: _Optional[str] = ..., kind: _Optional[_Union[ProfileKind, str]] = ..., row_count: _Optional[int] = ..., null_count: _Optional[int] = ..., null_share: _Optional[float] = ..., min: _Optional[float] = ..., max: _Optional[float] = ..., mean: _Optional[float] = ..., std: _Optional[float] = ..., edges: _Optional[_Iterable[float]] = ..., categories: _Optional[_Iterable[str]] = ..., bucket_labels: _Optional[_Iterable[str]] = ..., counts: _Optional[_Iterable[int]] = ..., reference_counts: _Optional[_Iterable[int]] = ...) -> None: ...

class VersionProfile(_message.Message):
    __slots__ = ("feature_view", "table", "version", "profile_time", "source", "run_id", "reference_version", "row_count", "columns")
    FEATURE_VIEW_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PROFILE_TIME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    feature_view: str
    table: str
    version: int
    profile_time: _timestamp_pb2.Timestamp
    source: ProfileSource
    run_id: str
    reference_version: int
    row_count: int
    columns: _containers.RepeatedCompositeFieldContainer[ColumnProfile]
    def __init__(self, feature_view: _Optional[str] = ..., table: _Optional[str] = ..., version: _Optional[int] = ..., profile_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source: _Optional[_Union[ProfileSource, str]] = ..., run_id: _Optional[str] = ..., reference_version: _Optional[int] = ..., row_count: _Optional[int] = ..., columns: _Optional[_Iterable[_Union[ColumnProfile, _Mapping]]] = ...) -> None: ...

class ListProfilesRequest(_message.Message):
    __slots__ = ("parent", "version", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    version: int
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., version: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListProfilesResponse(_message.Message):
    __slots__ = ("profiles", "next_page_token")
    PROFILES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    profiles: _containers.RepeatedCompositeFieldContainer[VersionProfile]
    next_page_token: str
    def __init__(self, profiles: _Optional[_Iterable[_Union[VersionProfile, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DriftScore(_message.Message):
    __slots__ = ("feature_view", "table", "version", "feature", "metric", "against", "reference_version", "score", "warn", "fail", "verdict", "on_drift")
    FEATURE_VIEW_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    AGAINST_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    WARN_FIELD_NUMBER: _ClassVar[int]
    FAIL_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    ON_DRIFT_FIELD_NUMBER: _ClassVar[int]
    feature_view: str
    table: str
    version: int
    feature: str
    metric: DriftMetric
    against: DriftComparison
    reference_version: int
    score: float
    warn: float
    fail: float
    verdict: DriftVerdict
    on_drift: DriftAction
    def __init__(self, feature_view: _Optional[str] = ..., table: _Optional[str] = ..., version: _Optional[int] = ..., feature: _Optional[str] = ..., metric: _Optional[_Union[DriftMetric, str]] = ..., against: _Optional[_Union[DriftComparison, str]] = ..., reference_version: _Optional[int] = ..., score: _Optional[float] = ..., warn: _Optional[float] = ..., fail: _Optional[float] = ..., verdict: _Optional[_Union[DriftVerdict, str]] = ..., on_drift: _Optional[_Union[DriftAction, str]] = ...) -> None: ...

class ListDriftScoresRequest(_message.Message):
    __slots__ = ("parent", "version", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    version: int
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., version: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDriftScoresResponse(_message.Message):
    __slots__ = ("drift_scores", "next_page_token")
    DRIFT_SCORES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    drift_scores: _containers.RepeatedCompositeFieldContainer[DriftScore]
    next_page_token: str
    def __init__(self, drift_scores: _Optional[_Iterable[_Union[DriftScore, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
