import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Contract(_message.Message):
    __slots__ = ("name", "version", "owner", "description", "yaml", "freshness_sla", "drift")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    YAML_FIELD_NUMBER: _ClassVar[int]
    FRESHNESS_SLA_FIELD_NUMBER: _ClassVar[int]
    DRIFT_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    owner: str
    description: str
    yaml: str
    freshness_sla: FreshnessSla
    drift: DriftPolicy
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., owner: _Optional[str] = ..., description: _Optional[str] = ..., yaml: _Optional[str] = ..., freshness_sla: _Optional[_Union[FreshnessSla, _Mapping]] = ..., drift: _Optional[_Union[DriftPolicy, _Mapping]] = ...) -> None: ...

class FreshnessSla(_message.Message):
    __slots__ = ("max_age", "event_time_column", "frequency")
    MAX_AGE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_COLUMN_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_FIELD_NUMBER: _ClassVar[int]
    max_age: _duration_pb2.Duration
    event_time_column: str
    frequency: _duration_pb2.Duration
    def __init__(self, max_age: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., event_time_column: _Optional[str] = ..., frequency: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class DriftPolicy(_message.Message):
    __slots__ = ("baseline_version", "baseline_training_set", "columns")
    BASELINE_VERSION_FIELD_NUMBER: _ClassVar[int]
    BASELINE_TRAINING_SET_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    baseline_version: int
    baseline_training_set: str
    columns: _containers.RepeatedCompositeFieldContainer[DriftSetting]
    def __init__(self, baseline_version: _Optional[int] = ..., baseline_training_set: _Optional[str] = ..., columns: _Optional[_Iterable[_Union[DriftSetting, _Mapping]]] = ...) -> None: ...

class DriftSetting(_message.Message):
    __slots__ = ("column", "kind", "metric", "warn", "fail", "bins", "top_k", "on_drift", "enabled")
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    WARN_FIELD_NUMBER: _ClassVar[int]
    FAIL_FIELD_NUMBER: _ClassVar[int]
    BINS_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    ON_DRIFT_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    column: str
    kind: str
    metric: str
    warn: float
    fail: float
    bins: int
    top_k: int
    on_drift: str
    enabled: bool
    def __init__(self, column: _Optional[str] = ..., kind: _Optional[str] = ..., metric: _Optional[str] = ..., warn: _Optional[float] = ..., fail: _Optional[float] = ..., bins: _Optional[int] = ..., top_k: _Optional[int] = ..., on_drift: _Optional[str] = ..., enabled: _Optional[bool] = ...) -> None: ...

class ListContractsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "return_partial_success")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    RETURN_PARTIAL_SUCCESS_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    return_partial_success: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., return_partial_success: _Optional[bool] = ...) -> None: ...

class ListContractsResponse(_message.Message):
    __slots__ = ("contracts", "next_page_token", "unreachable")
    CONTRACTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    UNREACHABLE_FIELD_NUMBER: _ClassVar[int]
    contracts: _containers.RepeatedCompositeFieldContainer[Contract]
    next_page_token: str
    unreachable: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, contracts: _Optional[_Iterable[_Union[Contract, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., unreachable: _Optional[_Iterable[str]] = ...) -> None: ...

class GetContractRequest(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class GetContractResponse(_message.Message):
    __slots__ = ("contract",)
    CONTRACT_FIELD_NUMBER: _ClassVar[int]
    contract: Contract
    def __init__(self, contract: _Optional[_Union[Contract, _Mapping]] = ...) -> None: ...

class ValidateRowsRequest(_message.Message):
    __slots__ = ("contract", "version", "arrow_ipc")
    CONTRACT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ARROW_IPC_FIELD_NUMBER: _ClassVar[int]
    contract: str
    version: str
    arrow_ipc: bytes
    def __init__(self, contract: _Optional[str] = ..., version: _Optional[str] = ..., arrow_ipc: _Optional[bytes] = ...) -> None: ...

class RowReason(_message.Message):
    __slots__ = ("column", "check")
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    CHECK_FIELD_NUMBER: _ClassVar[int]
    column: str
    check: str
    def __init__(self, column: _Optional[str] = ..., check: _Optional[str] = ...) -> None: ...

class RowVerdict(_message.Message):
    __slots__ = ("row", "passed", "reasons")
    ROW_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    row: int
    passed: bool
    reasons: _containers.RepeatedCompositeFieldContainer[RowReason]
    def __init__(self, row: _Optional[int] = ..., passed: _Optional[bool] = ..., reasons: _Optional[_Iterable[_Union[RowReason, _Mapping]]] = ...) -> None: ...

class ValidateRowsResponse(_message.Message):
    __slots__ = ("verdicts", "rows", "failed_rows", "failures_by_reason", "publishable")
    class FailuresByReasonEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    VERDICTS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    FAILED_ROWS_FIELD_NUMBER: _ClassVar[int]
    FAILURES_BY_REASON_FIELD_NUMBER: _ClassVar[int]
    PUBLISHABLE_FIELD_NUMBER: _ClassVar[int]
    verdicts: _containers.RepeatedCompositeFieldContainer[RowVerdict]
    rows: int
    failed_rows: int
    failures_by_reason: _containers.ScalarMap[str, int]
    publishable: bool
    def __init__(self, verdicts: _Optional[_Iterable[_Union[RowVerdict, _Mapping]]] = ..., rows: _Optional[int] = ..., failed_rows: _Optional[int] = ..., failures_by_reason: _Optional[_Mapping[str, int]] = ..., publishable: _Optional[bool] = ...) -> None: ...

class CheckCompatibilityRequest(_message.Message):
    __slots__ = ("name", "old_version", "new_version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OLD_VERSION_FIELD_NUMBER: _ClassVar[int]
    NEW_VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    old_version: str
    new_version: str
    def __init__(self, name: _Optional[str] = ..., old_version: _Optional[str] = ..., new_version: _Optional[str] = ...) -> None: ...

class ContractChange(_message.Message):
    __slots__ = ("kind", "breaking", "column", "detail")
    KIND_FIELD_NUMBER: _ClassVar[int]
    BREAKING_FIELD_NUMBER: _ClassVar[int]
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    kind: str
    breaking: bool
    column: str
    detail: str
    def __init__(self, kind: _Optional[str] = ..., breaking: _Optional[bool] = ..., column: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class CheckCompatibilityResponse(_message.Message):
    __slots__ = ("changes", "version_bump_ok", "problems")
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    VERSION_BUMP_OK_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[ContractChange]
    version_bump_ok: bool
    problems: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, changes: _Optional[_Iterable[_Union[ContractChange, _Mapping]]] = ..., version_bump_ok: _Optional[bool] = ..., problems: _Optional[_Iterable[str]] = ...) -> None: ...
