"""YAML reading and writing for contracts, and translation of parse errors."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError

from featurestore.services.contracts.errors import (
    ContractErrorReason,
    ContractFormatError,
)


class RepeatedKeyError(yaml.constructor.ConstructorError):  # type: ignore[misc]
    """A mapping names ``key`` twice (``UniqueKeyLoader``)."""

    def __init__(self, key: Any, mark: yaml.Mark) -> None:
        super().__init__(None, None, f"repeated key {key!r}", mark)
        self.key = key


class UniqueKeyLoader(yaml.SafeLoader):  # type: ignore[misc]
    """Safe loader that rejects repeated mapping keys instead of keeping the last
    (contract files and featurestore.yaml)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise RepeatedKeyError(key, key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


MAX_DEPTH = 64
"""Deepest nesting of mappings and lists a contract file may have (a contract
needs about 6). PyYAML's composer, pydantic, `json.dumps` and `yaml.safe_dump`
all recurse: far deeper input raised RecursionError, no parse error."""


def _invalid(source: str, detail: str) -> ContractFormatError:
    return ContractFormatError(
        f"{source}: invalid YAML: {detail}",
        reason=ContractErrorReason.INVALID_YAML,
        metadata={"file": source, "detail": detail},
    )


def _depth(data: Any) -> int:
    # Iterative: a recursive walk would hit the limit it is there to enforce.
    # A node shared by YAML aliases is walked again only when reached deeper,
    # so aliases (even a cycle) cost at most MAX_DEPTH walks per node.
    deepest, stack = 0, [(data, 1)]
    seen: dict[int, int] = {}
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, dict | list) or seen.get(id(node), 0) >= depth:
            continue
        seen[id(node)] = depth
        deepest = max(deepest, depth)
        if depth <= MAX_DEPTH:
            values = node.values() if isinstance(node, dict) else node
            stack.extend((value, depth + 1) for value in values)
    return deepest


def load_yaml(text: str, source: str) -> dict[str, Any]:
    """Load one YAML mapping; raise `ContractFormatError` (INVALID_YAML) otherwise."""
    too_deep = f"nested deeper than {MAX_DEPTH} levels"
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise _invalid(source, " ".join(str(exc).split())) from None
    except RecursionError:
        raise _invalid(source, too_deep) from None
    if _depth(data) > MAX_DEPTH:
        raise _invalid(source, too_deep)
    if not isinstance(data, dict):
        raise ContractFormatError(
            f"{source}: a contract must be a YAML mapping",
            reason=ContractErrorReason.INVALID_YAML,
            metadata={"file": source, "detail": "not a mapping"},
        )
    return data


def dump_yaml(data: dict[str, Any]) -> str:
    """Dump plain data as block-style YAML, keys in insertion order."""
    return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=88))


def _field_path(loc: tuple[int | str, ...], data: Any) -> str:
    # Replace list indexes by the item's name where it has one: columns[spend_1h].
    parts: list[str] = []
    node = data
    for item in loc:
        name = None
        if isinstance(item, int) and isinstance(node, list) and item < len(node):
            node = node[item]
            if isinstance(node, dict) and isinstance(node.get("name"), str):
                name = node["name"]
            parts[-1:] = [f"{parts[-1]}[{name if name else item}]"] if parts else []
            continue
        node = node.get(item) if isinstance(node, dict) else None
        parts.append(str(item))
    return ".".join(parts) or "<root>"


def format_error(exc: ValidationError, data: Any, source: str) -> ContractFormatError:
    """Turn a pydantic error into a one-line `ContractFormatError` (INVALID_FIELD)."""
    first = exc.errors(include_url=False)[0]
    loc = tuple(p for p in first["loc"] if not str(p).startswith("function-"))
    field = _field_path(loc, data)
    detail = " ".join(str(first["msg"]).split()).removeprefix("Value error, ")
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return ContractFormatError(
        f"{source}: {field}: {detail}{more}",
        reason=ContractErrorReason.INVALID_FIELD,
        metadata={"file": source, "field": field, "detail": detail},
    )
