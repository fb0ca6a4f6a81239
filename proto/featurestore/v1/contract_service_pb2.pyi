from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Contract(_message.Message):
    __slots__ = ("name", "version", "owner", "description", "yaml")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    YAML_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    owner: str
    description: str
    yaml: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., owner: _Optional[str] = ..., description: _Optional[str] = ..., yaml: _Optional[str] = ...) -> None: ...

class ListContractsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListContractsResponse(_message.Message):
    __slots__ = ("contracts", "next_page_token")
    CONTRACTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    contracts: _containers.RepeatedCompositeFieldContainer[Contract]
    next_page_token: str
    def __init__(self, contracts: _Optional[_Iterable[_Union[Contract, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

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
