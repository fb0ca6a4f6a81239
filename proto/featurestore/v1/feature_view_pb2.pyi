import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FeatureView(_message.Message):
    __slots__ = ("name", "join_keys", "features", "ttl", "source_path", "contract", "description", "join_key_types")
    NAME_FIELD_NUMBER: _ClassVar[int]
    JOIN_KEYS_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_PATH_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    JOIN_KEY_TYPES_FIELD_NUMBER: _ClassVar[int]
    name: str
    join_keys: _containers.RepeatedScalarFieldContainer[str]
    features: _containers.RepeatedCompositeFieldContainer[Feature]
    ttl: _duration_pb2.Duration
    source_path: str
    contract: str
    description: str
    join_key_types: _containers.RepeatedCompositeFieldContainer[JoinKey]
    def __init__(self, name: _Optional[str] = ..., join_keys: _Optional[_Iterable[str]] = ..., features: _Optional[_Iterable[_Union[Feature, _Mapping]]] = ..., ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., source_path: _Optional[str] = ..., contract: _Optional[str] = ..., description: _Optional[str] = ..., join_key_types: _Optional[_Iterable[_Union[JoinKey, _Mapping]]] = ...) -> None: ...

class JoinKey(_message.Message):
    __slots__ = ("name", "dtype", "value_field")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_FIELD_NUMBER: _ClassVar[int]
    name: str
    dtype: str
    value_field: str
    def __init__(self, name: _Optional[str] = ..., dtype: _Optional[str] = ..., value_field: _Optional[str] = ...) -> None: ...

class Feature(_message.Message):
    __slots__ = ("name", "dtype")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    dtype: str
    def __init__(self, name: _Optional[str] = ..., dtype: _Optional[str] = ...) -> None: ...
